//! `palisade audit verify|prove|check-proof|tail|search|export`: thin shells over
//! `palisade-audit`, which the server uses too.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use palisade_audit::note::VerifierKey;
use palisade_audit::{
    verify_dir, ConsistencyProof, Filter, InclusionProof, LogReader, VerifyOptions,
};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the Merkle tree, check every signed checkpoint against it, and name the
    /// first entry and segment at fault.
    Verify {
        /// The audit folder, or a state folder holding `audit/`.
        path: PathBuf,
        /// The log's verifier key (`name+hash+base64`), from a copy kept elsewhere. Without
        /// it, the log's own `log.pub` is used (and a warning printed).
        #[arg(long)]
        pubkey: Option<PathBuf>,
        /// A signed checkpoint kept elsewhere (repeatable): the log must still match it.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// A witness file (`[audit] witness_file`, repeatable): every checkpoint the server
        /// published outside the folder. A log rolled back past any of them fails.
        #[arg(long)]
        witness: Vec<PathBuf>,
    },
    /// List the signed checkpoints (their sizes are what `prove --size/--from/--to` take).
    Checkpoints { path: PathBuf },
    /// Print a proof as JSON: inclusion (`--index`) or consistency (`--from`).
    Prove {
        path: PathBuf,
        /// Prove that entry INDEX is in the log ...
        #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present = "from")]
        index: Option<u64>,
        /// ... as of the signed checkpoint of SIZE entries (default: the latest).
        #[arg(long, requires = "index")]
        size: Option<u64>,
        /// Prove that the checkpoint of FROM entries is a prefix of ...
        #[arg(long)]
        from: Option<u64>,
        /// ... the checkpoint of TO entries (default: the latest).
        #[arg(long, requires = "from")]
        to: Option<u64>,
    },
    /// Check a proof printed by `audit prove` (or the admin API) with the verifier key alone.
    CheckProof {
        /// The proof (JSON).
        proof: PathBuf,
        #[arg(long)]
        pubkey: PathBuf,
    },
    /// Open the payload sealed into entry INDEX (when capture was on) with the capture key.
    Payload {
        path: PathBuf,
        #[arg(long)]
        index: u64,
        /// The capture key file (`[audit] capture_key`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Print the last entries (JSON Lines), newest last.
    Tail {
        path: PathBuf,
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print every matching entry (JSON Lines).
    Search {
        path: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// Stop after this many matches.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Write matching entries to a JSON Lines file (only what signed checkpoints cover).
    Export {
        path: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

#[derive(Args)]
pub struct FilterArgs {
    /// From this time on: RFC 3339, a date (2026-11-26, UTC), a duration back from now
    /// (5m, 2h, 7d), `today` or `yesterday`. Anything else is refused (exit 2).
    #[arg(long, value_parser = since_bound)]
    since: Option<String>,
    /// Before this time (the same forms).
    #[arg(long, value_parser = until_bound)]
    until: Option<String>,
    /// Exactly this principal (`key:<id>`, `user:<sub>`, `service:<id>`).
    #[arg(long)]
    principal: Option<String>,
    /// A model (`name`, every version) or `name@version`.
    #[arg(long)]
    model: Option<String>,
    /// `allow` or `deny`.
    #[arg(long, value_parser = ["allow", "deny"])]
    decision: Option<String>,
    /// HTTP status.
    #[arg(long)]
    status: Option<u16>,
}

fn since_bound(text: &str) -> Result<String, palisade_audit::BadTime> {
    palisade_audit::time_bound("--since", text, time::OffsetDateTime::now_utc())
}

fn until_bound(text: &str) -> Result<String, palisade_audit::BadTime> {
    palisade_audit::time_bound("--until", text, time::OffsetDateTime::now_utc())
}

impl From<FilterArgs> for Filter {
    fn from(a: FilterArgs) -> Filter {
        Filter {
            since: a.since,
            until: a.until,
            principal: a.principal,
            model: a.model,
            decision: a.decision,
            status: a.status,
        }
    }
}

pub fn run(command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            path,
            pubkey,
            checkpoint,
            witness,
        } => verify(&path, pubkey.as_deref(), &checkpoint, witness),
        AuditCommand::Checkpoints { path } => {
            let reader = LogReader::open(&audit_dir(&path)?)?;
            let checkpoints = reader.checkpoints()?;
            println!("size\troot");
            for cp in &checkpoints {
                println!("{}\t{}", cp.size, hex::encode(cp.root));
            }
            println!(
                "{} signed checkpoints (unverified here; `audit verify` checks them)",
                checkpoints.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prove {
            path,
            index,
            size,
            from,
            to,
        } => {
            let reader = LogReader::open(&audit_dir(&path)?)?;
            let json = match (index, from) {
                (Some(index), _) => {
                    serde_json::to_string_pretty(&reader.prove_inclusion(index, size)?)?
                }
                (None, Some(from)) => {
                    serde_json::to_string_pretty(&reader.prove_consistency(from, to)?)?
                }
                (None, None) => bail!("say what to prove: --index I, or --from M"),
            };
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::CheckProof { proof, pubkey } => check_proof(&proof, &pubkey),
        AuditCommand::Payload { path, index, key } => open_payload(&path, index, &key),
        AuditCommand::Tail {
            path,
            lines,
            filter,
        } => {
            let filter = Filter::from(filter);
            let mut last = VecDeque::with_capacity(lines.min(10_000));
            // Tail shows what is on disk, signed or not yet: it is for watching.
            LogReader::open(&audit_dir(&path)?)?.scan(0, None, true, |_, line| {
                if lines > 0 && filter.matches(line) {
                    if last.len() == lines {
                        last.pop_front();
                    }
                    last.push_back(line.to_vec());
                }
                true
            })?;
            let mut out = std::io::stdout().lock();
            for line in last {
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Search {
            path,
            filter,
            limit,
        } => {
            let filter = Filter::from(filter);
            let mut out = std::io::stdout().lock();
            let mut found = 0usize;
            let mut failed = None;
            LogReader::open(&audit_dir(&path)?)?.scan(0, None, true, |_, line| {
                if filter.matches(line) {
                    if let Err(e) = out.write_all(line).and_then(|()| out.write_all(b"\n")) {
                        failed = Some(e);
                        return false;
                    }
                    found += 1;
                }
                limit.is_none_or(|l| found < l)
            })?;
            match failed {
                // A closed pipe (`| head`) is a normal way to stop reading.
                Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        AuditCommand::Export { path, out, filter } => {
            let filter = Filter::from(filter);
            let reader = LogReader::open(&audit_dir(&path)?)?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let mut count = 0u64;
            let mut failed = None;
            reader.scan(0, None, false, |_, line| {
                if filter.matches(line) {
                    if let Err(e) = w.write_all(line).and_then(|()| w.write_all(b"\n")) {
                        failed = Some(e);
                        return false;
                    }
                    count += 1;
                }
                true
            })?;
            if let Some(e) = failed {
                return Err(e).with_context(|| format!("writing {}", out.display()));
            }
            w.flush()?;
            eprintln!(
                "exported {count} entries to {} (of {} covered by the signed checkpoint)",
                out.display(),
                reader.size()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The audit folder itself, or `audit/` inside a state folder.
fn audit_dir(path: &Path) -> Result<PathBuf> {
    for dir in [path.to_path_buf(), path.join("audit")] {
        if dir.join(palisade_audit::SEGMENTS_DIR).is_dir() {
            return Ok(dir);
        }
    }
    bail!(
        "no audit log at {} (looked for {}/ there and in audit/)",
        path.display(),
        palisade_audit::SEGMENTS_DIR
    )
}

fn read_pubkey(path: &Path) -> Result<VerifierKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the verifier key {}", path.display()))?;
    VerifierKey::parse(text.trim()).with_context(|| {
        format!(
            "{}: not a verifier key; expected one line `<name>+<hash>+<base64>` (the log's log.pub)",
            path.display()
        )
    })
}

fn verify(
    path: &Path,
    pubkey: Option<&Path>,
    checkpoints: &[PathBuf],
    witnesses: Vec<PathBuf>,
) -> Result<ExitCode> {
    let dir = audit_dir(path)?;
    let pubkey = pubkey.map(read_pubkey).transpose()?;
    let checkpoints = checkpoints
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read checkpoint {}", p.display()))
                .map(|note| (p.display().to_string(), note))
        })
        .collect::<Result<Vec<_>>>()?;
    match verify_dir(
        &dir,
        VerifyOptions {
            pubkey,
            checkpoints,
            witnesses,
        },
    ) {
        Ok(report) => {
            for w in &report.warnings {
                println!("warning: {w}");
            }
            println!(
                "ok: {}: {} entries in {} segments; {} signed checkpoints match, the latest of {} entries (root {})",
                dir.display(),
                report.entries,
                report.segments,
                report.checkpoints,
                report.signed_size,
                hex::encode(report.root)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {}: {e}", dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn check_proof(proof: &Path, pubkey: &Path) -> Result<ExitCode> {
    let key = read_pubkey(pubkey)?;
    let meta =
        std::fs::metadata(proof).with_context(|| format!("cannot read {}", proof.display()))?;
    if meta.len() > 1 << 20 {
        bail!("{}: over 1 MiB, not a proof", proof.display());
    }
    let text = std::fs::read_to_string(proof)
        .with_context(|| format!("cannot read {}", proof.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", proof.display()))?;
    let outcome = if value.get("index").is_some() {
        let p: InclusionProof = serde_json::from_value(value)
            .with_context(|| format!("{}: not an inclusion proof", proof.display()))?;
        p.verify(&key).map(|cp| {
            format!(
                "entry {} is in the log of {} entries signed by {} (root {})",
                p.index,
                cp.size,
                cp.origin,
                hex::encode(cp.root)
            )
        })
    } else {
        let p: ConsistencyProof = serde_json::from_value(value)
            .with_context(|| format!("{}: not a consistency proof", proof.display()))?;
        p.verify(&key).map(|(old, new)| {
            format!(
                "the log of {} entries extends the log of {} entries unchanged (signed by {})",
                new.size, old.size, new.origin
            )
        })
    };
    match outcome {
        Ok(message) => {
            println!("ok: {message}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {}: {e}", proof.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn open_payload(path: &Path, index: u64, key: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
    let sealer = palisade_audit::capture::PayloadSealer::from_key_file_bytes(&bytes, usize::MAX)
        .with_context(|| key.display().to_string())?;
    let mut line = None;
    LogReader::open(&audit_dir(path)?)?.scan(index, Some(index + 1), true, |_, l| {
        line = Some(l.to_vec());
        false
    })?;
    let Some(line) = line else {
        bail!("there is no entry {index}");
    };
    let entry: palisade_audit::AuditEvent = serde_json::from_slice(&line)
        .with_context(|| format!("entry {index} is not an audit event"))?;
    let Some(sealed) = entry.payload else {
        bail!("entry {index} holds no captured payload (capture was off, or the call had no body)");
    };
    let (request, response) = sealer
        .open(&entry.request_id, &sealed)
        .with_context(|| format!("entry {index}"))?;
    let show = |b: Vec<u8>| match String::from_utf8(b) {
        Ok(text) => serde_json::Value::String(text),
        Err(e) => serde_json::json!({ "base64": base64_encode(e.as_bytes()) }),
    };
    println!(
        "{}",
        serde_json::json!({
            "index": index,
            "request_id": entry.request_id,
            "request": show(request),
            "response": show(response),
            "omitted": sealed.omitted,
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
