//! `palisade data anonymize|synthesize`: the dataset tools of `palisade_pii::dataset`, with
//! the report on standard error (and as JSON with `--report`), so OUT can be `-`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use palisade_pii::dataset::{
    self, anonymize::Measure, synthesize::SynthesisReport, DatasetError, Format, Formulas, Limits,
    Rules, SynthesisOptions, Table,
};
use palisade_pii::{Engine, Keys};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Csv,
    Jsonl,
}

#[derive(clap::Args)]
pub struct Files {
    /// The dataset to read (`.csv` with a header row, or `.jsonl` objects); `-` for stdin.
    input: PathBuf,
    /// Where to write the result (replaced only once complete); `-` for stdout.
    output: PathBuf,
    /// The input's format when its name does not say.
    #[arg(long, value_enum)]
    format: Option<TableFormat>,
    /// Write the report as JSON to this file too.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The largest input read (the tools hold it in memory).
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_bytes: u64,
    /// Write CSV cells that start like a spreadsheet formula (`=`, `+`, `-`, `@`) as they
    /// are; by default they get a leading `'` so a spreadsheet shows them as text.
    #[arg(long)]
    dangerous_keep_formulas: bool,
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Drop, hash, generalize or PII-redact each column, then check k-anonymity and
    /// l-diversity over the quasi-identifiers (exit 1 when refused, 2 on errors).
    Anonymize {
        #[command(flatten)]
        files: Files,
        /// The rules file: TOML ([columns], [privacy]; see docs/pii.md), or the same as a JSON
        /// object when it is named `.json`.
        #[arg(long)]
        rules: PathBuf,
        /// 64 hex digits: the key of `hash` pseudonyms (overrides the rules' hash_key).
        #[arg(long)]
        hash_key: Option<PathBuf>,
    },
    /// Fit a Gaussian copula to the input and write synthetic rows, with a fidelity report
    /// and a privacy check.
    Synthesize {
        #[command(flatten)]
        files: Files,
        /// How many rows to write.
        #[arg(long)]
        rows: usize,
        /// For a reproducible run (the seed used is always reported).
        #[arg(long)]
        seed: Option<u64>,
        /// Only these columns (default: every column that can be synthesized).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Text columns with more distinct values are left out (they would copy real values).
        #[arg(long, default_value_t = 50)]
        max_categories: usize,
        /// Categories seen fewer times are pooled into `(other)`.
        #[arg(long, default_value_t = 5)]
        min_category_count: usize,
    },
}

pub fn run(command: DataCommand) -> Result<ExitCode> {
    let outcome = match command {
        DataCommand::Anonymize {
            files,
            rules,
            hash_key,
        } => anonymize(&files, &rules, hash_key.as_deref()),
        DataCommand::Synthesize {
            files,
            rows,
            seed,
            columns,
            max_categories,
            min_category_count,
        } => synthesize(
            &files,
            SynthesisOptions {
                rows,
                seed,
                columns,
                max_categories,
                min_category_count,
                ..SynthesisOptions::default()
            },
        ),
    };
    match outcome {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn read(files: &Files) -> Result<(Table, Format)> {
    let input_format = match files.format {
        Some(TableFormat::Csv) => Format::Csv,
        Some(TableFormat::Jsonl) => Format::JsonLines,
        None => Format::from_path(&files.input).with_context(|| {
            format!(
                "{}: name it .csv or .jsonl, or pass --format csv|jsonl",
                files.input.display()
            )
        })?,
    };
    if files.input != Path::new("-") && files.output != Path::new("-") {
        let same = match (files.input.canonicalize(), files.output.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            bail!(
                "{}: OUT is the input; write the result to another file",
                files.output.display()
            );
        }
    }
    let limits = Limits {
        max_bytes: files.max_bytes,
        ..Limits::default()
    };
    let table = Table::read(&files.input, input_format, limits)?;
    let output_format = if files.output == Path::new("-") {
        input_format
    } else {
        Format::from_path(&files.output).unwrap_or(input_format)
    };
    Ok((table, output_format))
}

fn write(table: &Table, files: &Files, format: Format) -> Result<()> {
    let formulas = if files.dangerous_keep_formulas {
        Formulas::DangerousKeep
    } else {
        Formulas::Neutralize
    };
    if files.output == Path::new("-") {
        let stdout = std::io::stdout();
        table.write_to(&mut stdout.lock(), format, formulas)?;
        return Ok(());
    }
    table.write(&files.output, format, formulas)?;
    Ok(())
}

fn save_report(files: &Files, report: &impl serde::Serialize) -> Result<()> {
    if let Some(path) = &files.report {
        let json = serde_json::to_vec_pretty(report)?;
        std::fs::write(path, json).with_context(|| path.display().to_string())?;
    }
    Ok(())
}

fn anonymize(files: &Files, rules_path: &Path, hash_key: Option<&Path>) -> Result<ExitCode> {
    let rules = Rules::read(rules_path)?;
    let key_path = hash_key.map(Path::to_path_buf).or(rules.hash_key.clone());
    let key = match &key_path {
        Some(p) => Some(palisade_pii::actions::read_key_file(p)?),
        None if rules.needs_hash_key() => bail!(
            "{}: a column is hashed, so a key is needed: set hash_key in the rules or pass \
             --hash-key (make one with `openssl rand -hex 32 > pii-hash.key`)",
            rules_path.display()
        ),
        None => None,
    };
    let keys = Keys::new(key.as_ref(), None)?;
    let (table, format) = read(files)?;
    let engine = Engine::new()?;
    match dataset::anonymize(table, &rules, &engine, &keys) {
        Ok(out) => {
            write(&out.table, files, format)?;
            print_anonymized(&out.report, false);
            save_report(files, &out.report)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(DatasetError::BelowTarget { why, report }) => {
            print_anonymized(&report, true);
            save_report(files, &report)?;
            eprintln!("refused: {why}; nothing was written");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_anonymized(r: &dataset::Report, refused: bool) {
    let n = |x: Option<usize>| x.map_or("-".to_string(), |x| x.to_string());
    let line = |label: &str, m: &Measure| {
        eprintln!(
            "  {label:<7} {:>8} groups   k = {:<6} l = {:<6} {} group(s) / {} row(s) below target",
            m.classes,
            n(m.k),
            n(m.l),
            m.classes_below_target,
            m.rows_below_target
        );
    };
    if refused {
        eprintln!("anonymizing {} rows: refused, nothing written", r.rows_in);
    } else {
        eprintln!(
            "anonymized {} rows -> {} written ({} suppressed)",
            r.rows_in, r.rows_out, r.suppressed
        );
    }
    for (column, action) in &r.columns {
        eprintln!("  {column:<24} {action}");
    }
    eprintln!(
        "quasi-identifiers: {}; sensitive: {}; target k = {}, l = {}",
        r.quasi_identifiers.join(", "),
        if r.sensitive.is_empty() {
            "none".to_string()
        } else {
            r.sensitive.join(", ")
        },
        r.k_target,
        r.l_target
    );
    line("before", &r.before);
    if !refused {
        line("after", &r.after);
    }
    if !r.pii_redacted.is_empty() {
        eprintln!("PII redacted: {}", by_type(&r.pii_redacted));
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
}

/// `US_SSN 3, PHONE_NUMBER 1`.
fn by_type(counts: &std::collections::BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(entity, n)| format!("{entity} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn synthesize(files: &Files, options: SynthesisOptions) -> Result<ExitCode> {
    let (table, format) = read(files)?;
    let out = dataset::synthesize(&table, &options, &Engine::new()?)?;
    write(&out.table, files, format)?;
    print_synthesized(&out.report);
    save_report(files, &out.report)?;
    Ok(ExitCode::SUCCESS)
}

fn print_synthesized(r: &SynthesisReport) {
    eprintln!(
        "synthesized {} rows from {} real ones (seed {})",
        r.rows_synthetic, r.rows_real, r.seed
    );
    eprintln!("fidelity (0 = same distribution, 1 = disjoint):");
    for c in &r.columns {
        let pooled = if c.pooled > 0 {
            format!(", {} rare categories pooled", c.pooled)
        } else {
            String::new()
        };
        eprintln!(
            "  {:<24} {:<11} {} {:.3}   missing {:.1}% / {:.1}%{pooled}",
            c.name,
            c.kind,
            c.metric,
            c.distance,
            c.missing_real * 100.0,
            c.missing_synthetic * 100.0
        );
    }
    for (column, why) in &r.left_out {
        eprintln!("  {column:<24} left out: {why}");
    }
    if !r.pii_redacted.is_empty() {
        eprintln!(
            "  PII redacted in category labels: {}",
            by_type(&r.pii_redacted)
        );
    }
    if let Some(c) = &r.correlation {
        eprintln!(
            "  correlation difference: mean {:.3}, largest {:.3} ({} ~ {})",
            c.mean_abs_difference, c.max_abs_difference, c.worst_pair.0, c.worst_pair.1
        );
    }
    let p = &r.privacy;
    eprintln!(
        "privacy: {} synthetic rows equal a real one ({} redrawn, {} given up)",
        p.exact_matches, p.resampled, p.dropped
    );
    eprintln!(
        "  over {} rows        closest record (p5 / median)   nearest-neighbour ratio (p5 / median)",
        p.sample
    );
    for (label, c) in [
        ("synthetic->real", &p.synthetic_to_real),
        ("real->real", &p.real_to_real),
    ] {
        eprintln!(
            "  {label:<18} {:.4} / {:.4}                {:.3} / {:.3}",
            c.dcr_p5, c.dcr_median, c.nndr_p5, c.nndr_median
        );
    }
    if p.synthetic_to_real.dcr_p5 < p.real_to_real.dcr_p5 {
        eprintln!(
            "  warning: the closest 5% of synthetic rows sit nearer to real rows than real rows \
             sit to each other; check them before sharing"
        );
    }
}
