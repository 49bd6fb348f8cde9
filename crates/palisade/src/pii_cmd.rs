//! `palisade pii scan|redact FILE|-`: the server's PII engine over plain text, JSON Lines
//! (chosen fields or every string) and CSV (chosen columns).
//!
//! Offsets are bytes from the start of the input, with the line they fall in. JSON Lines and
//! CSV are read by `palisade_pii::records`: each selected value is decoded (JSON escapes, CSV
//! quoting, cells over several lines) and scanned as decoded; redaction re-encodes only the
//! values that changed, so the output stays valid JSON Lines / CSV.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use palisade_pii::records::{CsvRecords, Field, FieldKind, JsonLines, Record, RecordError};
use palisade_pii::{Action, Engine, Entity, Keys, Outcome, Policy, Span};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputKind {
    Text,
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Source {
    /// A file, or `-` for standard input.
    input: String,
    /// How to read it (default: from the extension; `.jsonl`/`.ndjson`, `.csv`, else text).
    #[arg(long, value_enum)]
    kind: Option<InputKind>,
    /// JSON Lines: dotted field paths to scan (default: every string); CSV: column names or
    /// 1-based numbers (default: every column).
    #[arg(long, value_delimiter = ',')]
    fields: Vec<String>,
    /// Spans scoring below this are ignored.
    #[arg(long, default_value_t = 0.5)]
    min_score: f32,
}

#[derive(Subcommand)]
pub enum PiiCommand {
    /// List the personal data found (exit 1 when there is some, 0 when none, 2 on errors).
    Scan {
        #[command(flatten)]
        source: Source,
        #[arg(long, value_enum, default_value = "text")]
        format: OutFormat,
    },
    /// Re-identify: write the input with every `<TYPE:enc:...>` token made by `encrypt`
    /// replaced by its value (tokens that do not decrypt under the key stay as they are).
    Reveal {
        /// A file, or `-` for standard input.
        input: String,
        /// 64 hex digits: the key `encrypt` used.
        #[arg(long)]
        encrypt_key: PathBuf,
    },
    /// Write the input with personal data minimized to standard output.
    Redact {
        #[command(flatten)]
        source: Source,
        /// Action for every entity type: redact, mask, hash, encrypt, allow.
        #[arg(long, default_value = "redact")]
        action: String,
        /// Per-type actions, e.g. `EMAIL_ADDRESS=hash,US_SSN=mask`.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// 64 hex digits: the key of `hash` pseudonyms.
        #[arg(long)]
        hash_key: Option<PathBuf>,
        /// 64 hex digits: the key of `encrypt`.
        #[arg(long)]
        encrypt_key: Option<PathBuf>,
        /// CSV: leave cells that start with `=`, `+`, `-`, `@` as they are. By default they
        /// are prefixed with `'`, so a spreadsheet shows them instead of running them.
        #[arg(long)]
        dangerous_keep_formulas: bool,
    },
}

pub fn run(command: PiiCommand) -> Result<ExitCode> {
    let engine = |min: f32| -> Result<Engine> { Ok(Engine::new()?.with_min_score(min)) };
    match command {
        PiiCommand::Scan { source, format } => {
            // Exit 1 means "found something": errors get 2, so a failed scan never looks clean.
            let scanned = (|| -> Result<bool> {
                let engine = engine(source.min_score)?;
                let stdout = std::io::stdout();
                let mut sink = Findings::new(format, std::io::BufWriter::new(stdout.lock()))?;
                let bytes = if kind(&source) == InputKind::Text {
                    scan_text_stream(&source, &engine, &mut sink)?
                } else {
                    each_record(&source, &engine, |record, found| {
                        for FieldSpans { field, spans } in found {
                            for s in spans {
                                let (start, end) = field.raw_span(s.start, s.end);
                                let line = record.line_at(start);
                                let at = Span { start, end, ..s };
                                sink.push(line, record.offset, &at)?;
                            }
                        }
                        Ok(())
                    })?
                };
                sink.finish(bytes)
            })();
            match scanned {
                Ok(true) => Ok(ExitCode::from(1)),
                Ok(false) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        PiiCommand::Reveal { input, encrypt_key } => reveal(&input, &encrypt_key),
        PiiCommand::Redact {
            source,
            action,
            only,
            hash_key,
            encrypt_key,
            dangerous_keep_formulas,
        } => {
            let mut policy = Policy::uniform(parse_action(&action)?);
            for pair in &only {
                let (entity, action) = pair
                    .split_once('=')
                    .with_context(|| format!("--only {pair}: write TYPE=ACTION"))?;
                let e = Entity::parse(entity)
                    .with_context(|| format!("--only {pair}: '{entity}' is not an entity type"))?;
                policy.per_entity.insert(e, parse_action(action)?);
            }
            let key = |p: &Option<PathBuf>, flag: &str| -> Result<Option<[u8; 32]>> {
                p.as_deref()
                    .map(palisade_pii::actions::read_key_file)
                    .transpose()
                    .with_context(|| flag.to_string())
            };
            let keys = Keys::new(
                key(&hash_key, "--hash-key")?.as_ref(),
                key(&encrypt_key, "--encrypt-key")?.as_ref(),
            )?;
            let engine = engine(source.min_score)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if kind(&source) == InputKind::Text && source.input != "-" {
                redact_text_file(Path::new(&source.input), &engine, &policy, &keys, &mut out)?;
                out.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            if kind(&source) == InputKind::Text {
                let text = read_text(&source)?;
                let text = std::str::from_utf8(&text).context("input is not UTF-8 text")?;
                let spans = engine.scan_str(text)?;
                out.write_all(minimize(text, &spans, &policy, &keys, 1)?.as_bytes())?;
                out.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            let neutralize = !dangerous_keep_formulas;
            each_record(&source, &engine, |record, found| {
                let mut new_values = std::collections::HashMap::new();
                for FieldSpans { field, spans } in found {
                    let line = record.line_at(field.raw.0);
                    let minimized = minimize(&field.value, &spans, &policy, &keys, line)?;
                    if field.kind != FieldKind::JsonKey {
                        new_values.insert(field.raw.0, minimized);
                    } else if minimized != field.value {
                        bail!("line {line}: an object key holds {}; keys are not rewritten, so the record cannot be minimized", spans[0].entity);
                    }
                }
                out.write_all(&record.rewrite(|f| new_values.remove(&f.raw.0), neutralize))?;
                Ok(())
            })?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `text` with `policy` applied to `spans`; a `reject` entity is an error naming the line.
fn minimize(text: &str, spans: &[Span], policy: &Policy, keys: &Keys, line: u64) -> Result<String> {
    match palisade_pii::actions::apply(text, spans, policy, keys)? {
        Outcome::Minimized { text, .. } => Ok(text),
        Outcome::Rejected { entity, .. } => bail!("line {line}: {entity} found"),
    }
}

/// The longest line `reveal` holds (tokens never span lines).
const MAX_REVEAL_LINE: u64 = 64 << 20;

fn reveal(input: &str, key: &Path) -> Result<ExitCode> {
    let key = palisade_pii::actions::read_key_file(key).context("--encrypt-key")?;
    let keys = Keys::new(None, Some(&key))?;
    let mut reader = std::io::BufReader::new(open(input)?);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        let n = (&mut reader)
            .take(MAX_REVEAL_LINE + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if n as u64 > MAX_REVEAL_LINE {
            bail!("{input}: line {number} is over {MAX_REVEAL_LINE} bytes");
        }
        let text = std::str::from_utf8(&line)
            .with_context(|| format!("{input}: line {number} is not UTF-8 text"))?;
        out.write_all(palisade_pii::actions::reveal(text, &keys)?.as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Plain text from a file, in constant memory whatever its size: a streamed pass finds the
/// spans, a second copies the file with each one replaced. (Entities such as key blocks span
/// lines, so the text cannot be redacted a line at a time.) A file that changes between the
/// passes is an error: the offsets would no longer point at what was found.
fn redact_text_file(
    path: &Path,
    engine: &Engine,
    policy: &Policy,
    keys: &Keys,
    out: &mut impl Write,
) -> Result<()> {
    let shown = path.display().to_string();
    let stamp = |f: &std::fs::File| -> Result<(u64, Option<std::time::SystemTime>)> {
        let m = f.metadata().with_context(|| shown.clone())?;
        Ok((m.len(), m.modified().ok()))
    };
    let mut file = std::fs::File::open(path).with_context(|| shown.clone())?;
    let before = stamp(&file)?;
    let mut spans = Vec::new();
    engine.scan_reader(&file, |s| spans.push(s))?;
    std::io::Seek::rewind(&mut file)?;
    let mut reader = std::io::BufReader::new(&file);
    let (mut at, mut value) = (0u64, Vec::new());
    for s in spans {
        let (start, end) = (s.start as u64, s.end as u64);
        if start < at {
            continue;
        }
        std::io::copy(&mut (&mut reader).take(start - at), out)?;
        value.clear();
        (&mut reader).take(end - start).read_to_end(&mut value)?;
        let text = std::str::from_utf8(&value)
            .with_context(|| format!("{shown}: changed while being redacted"))?;
        let whole = Span {
            start: 0,
            end: value.len(),
            ..s
        };
        match palisade_pii::actions::apply(text, &[whole], policy, keys)? {
            Outcome::Minimized { text, .. } => out.write_all(text.as_bytes())?,
            Outcome::Rejected { entity, .. } => bail!("{shown}: {entity} found"),
        }
        at = end;
    }
    std::io::copy(&mut reader, out)?;
    if stamp(&file)? != before {
        bail!("{shown}: changed while being redacted; the output cannot be trusted");
    }
    Ok(())
}

fn parse_action(s: &str) -> Result<Action> {
    match Action::parse(s) {
        Some(Action::Reject) | None => {
            bail!("'{s}' is not an action here; use redact, mask, hash, encrypt or allow")
        }
        Some(a) => Ok(a),
    }
}

fn open(input: &str) -> Result<Box<dyn Read>> {
    if input == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    Ok(Box::new(
        std::fs::File::open(input).with_context(|| input.to_string())?,
    ))
}

fn kind(source: &Source) -> InputKind {
    source.kind.unwrap_or_else(|| {
        match Path::new(&source.input)
            .extension()
            .and_then(|e| e.to_str())
        {
            Some("jsonl" | "ndjson") => InputKind::Jsonl,
            Some("csv") => InputKind::Csv,
            _ => InputKind::Text,
        }
    })
}

/// Plain text read whole (entities such as key blocks span lines), bounded.
fn read_text(source: &Source) -> Result<Vec<u8>> {
    let mut text = Vec::new();
    open(&source.input)?
        .take(MAX_REDACT_BYTES + 1)
        .read_to_end(&mut text)?;
    if text.len() as u64 > MAX_REDACT_BYTES {
        bail!("{}: over {MAX_REDACT_BYTES} bytes; split it (scan streams any size, redact holds the text in memory)", source.input);
    }
    Ok(text)
}

/// A field of a record and what was found in its decoded value.
struct FieldSpans<'a> {
    field: &'a Field,
    spans: Vec<Span>,
}

/// Feed every JSON Lines / CSV record of the input to `f`, with the spans found in each
/// selected field's decoded value; returns the bytes read.
fn each_record(
    source: &Source,
    engine: &Engine,
    mut f: impl FnMut(&Record, Vec<FieldSpans>) -> Result<()>,
) -> Result<u64> {
    let shown = &source.input;
    let input = open(shown)?;
    let mut records: Box<dyn Iterator<Item = Result<Record, RecordError>>> = match kind(source) {
        InputKind::Jsonl => Box::new(JsonLines::new(std::io::BufReader::new(input))),
        _ => Box::new(CsvRecords::new(input)),
    };
    let mut csv_columns: Option<Vec<usize>> = None;
    let mut bytes = 0;
    for record in &mut records {
        let record = record.with_context(|| shown.clone())?;
        bytes = record.offset + record.raw.len() as u64;
        if kind(source) == InputKind::Csv && csv_columns.is_none() {
            // The header row names the columns; it is scanned like the rest.
            csv_columns = Some(csv_selection(&source.fields, &record)?);
        }
        let wanted = |field: &Field| -> bool {
            match field.kind {
                FieldKind::CsvCell => csv_columns
                    .as_deref()
                    .is_some_and(|w| w.is_empty() || w.contains(&field.column)),
                _ => source.fields.is_empty() || source.fields.contains(&field.name),
            }
        };
        let mut found: Vec<FieldSpans> = Vec::new();
        for field in record.fields.iter().filter(|field| wanted(field)) {
            let spans = engine.scan_str(&field.value).with_context(|| {
                format!(
                    "line {}, field `{}`",
                    record.line_at(field.raw.0),
                    field.name
                )
            })?;
            if !spans.is_empty() {
                found.push(FieldSpans { field, spans });
            }
        }
        f(&record, found)?;
    }
    Ok(bytes)
}

/// The columns `--fields` names (names from the header row, or 1-based numbers).
fn csv_selection(fields: &[String], header: &Record) -> Result<Vec<usize>> {
    let names: Vec<&str> = header.fields.iter().map(|f| f.value.as_str()).collect();
    fields
        .iter()
        .map(|f| match f.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n - 1),
            _ => names.iter().position(|n| n.trim() == f).with_context(|| {
                format!(
                    "--fields {f}: no such column (the header has {})",
                    names.join(", ")
                )
            }),
        })
        .collect()
}

/// Largest plain text `redact` holds in memory.
const MAX_REDACT_BYTES: u64 = 1 << 30;

/// Remembers where newlines were as bytes stream past, until the spans before them are out.
struct NewlineTee<R> {
    inner: R,
    at: u64,
    newlines: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u64>>>,
}

impl<R: Read> Read for NewlineTee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut q = self.newlines.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                q.push_back(self.at + i as u64);
            }
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// Plain text of any size: streamed through the engine, lines counted on the way.
fn scan_text_stream(
    source: &Source,
    engine: &Engine,
    sink: &mut Findings<impl Write>,
) -> Result<u64> {
    let newlines = std::rc::Rc::new(std::cell::RefCell::new(std::collections::VecDeque::new()));
    let tee = NewlineTee {
        inner: open(&source.input)?,
        at: 0,
        newlines: newlines.clone(),
    };
    let mut line = 1u64;
    let mut failed = None;
    let bytes = engine.scan_reader(tee, |span| {
        let mut q = newlines.borrow_mut();
        while q.front().is_some_and(|&nl| nl < span.start as u64) {
            q.pop_front();
            line += 1;
        }
        if failed.is_none() {
            failed = sink.push(line, 0, &span).err();
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(bytes),
    }
}

/// The scan report, written as spans are found (a dense file has millions; none is held):
/// a line per span as text, or one JSON object whose `spans` array is written span by span,
/// with `bytes` and `counts` after it.
struct Findings<W: Write> {
    out: W,
    format: OutFormat,
    counts: BTreeMap<&'static str, u64>,
    total: u64,
}

impl<W: Write> Findings<W> {
    fn new(format: OutFormat, mut out: W) -> Result<Self> {
        if format == OutFormat::Json {
            out.write_all(b"{\"spans\": [")?;
        }
        Ok(Findings {
            out,
            format,
            counts: BTreeMap::new(),
            total: 0,
        })
    }

    fn push(&mut self, line: u64, offset: u64, s: &Span) -> Result<()> {
        let (start, end) = (offset + s.start as u64, offset + s.end as u64);
        let name = s.entity.as_str();
        match self.format {
            OutFormat::Json => write!(
                self.out,
                "{}\n  {{\"start\": {start}, \"end\": {end}, \"type\": \"{name}\", \"score\": {:?}, \"recognizer\": {}, \"line\": {line}}}",
                if self.total == 0 { "" } else { "," },
                (s.score * 100.0).round() / 100.0,
                serde_json::to_string(s.recognizer)?,
            )?,
            OutFormat::Text => writeln!(
                self.out,
                "line {line}  {start}..{end}  {name:<22} {:.2}  {}",
                s.score, s.recognizer
            )?,
        }
        *self.counts.entry(name).or_insert(0) += 1;
        self.total += 1;
        Ok(())
    }

    /// Close the report; whether anything was found.
    fn finish(mut self, bytes: u64) -> Result<bool> {
        match self.format {
            OutFormat::Json => writeln!(
                self.out,
                "\n], \"bytes\": {bytes}, \"counts\": {}}}",
                serde_json::to_string(&self.counts)?
            )?,
            OutFormat::Text => writeln!(
                self.out,
                "{bytes} bytes, {} findings {:?}",
                self.total, self.counts
            )?,
        }
        self.out.flush()?;
        Ok(self.total > 0)
    }
}
