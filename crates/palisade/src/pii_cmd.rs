//! `palisade pii scan|redact FILE|-`: the server's PII engine over plain text, JSON Lines
//! (chosen fields or every string) and CSV (chosen columns).
//!
//! Offsets are bytes from the start of the input, with the line they fall in, so a file of
//! many records is one scan. JSON and CSV are scanned as written (not re-serialized): a span
//! counts when it lies inside a selected string or column, and redaction edits the line in
//! place with replacements that need no escaping, so the output stays valid JSON / CSV.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
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
                    each_record(&source, &engine, |record| {
                        for s in &record.spans {
                            sink.push(record.line, record.offset, s)?;
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
            each_record(&source, &engine, |record| {
                let text = std::str::from_utf8(record.text).context("input is not UTF-8 text")?;
                match palisade_pii::actions::apply(text, &record.spans, &policy, &keys)? {
                    Outcome::Minimized { text, .. } => out.write_all(text.as_bytes())?,
                    Outcome::Rejected { entity, .. } => {
                        bail!("line {}: {entity} found", record.line)
                    }
                }
                Ok(())
            })?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
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

/// One unit of input and what was found in it (offsets relative to `text`).
struct Record<'a> {
    /// 1-based line of the record's first byte.
    line: u64,
    /// Offset of `text` from the start of the input.
    offset: u64,
    text: &'a [u8],
    spans: Vec<Span>,
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

/// Feed every record of the input to `f`; returns the bytes read.
fn each_record(
    source: &Source,
    engine: &Engine,
    mut f: impl FnMut(Record) -> Result<()>,
) -> Result<u64> {
    let kind = kind(source);
    if kind == InputKind::Text {
        // Redacting plain text: whole (entities such as key blocks span lines), bounded.
        let mut text = Vec::new();
        open(&source.input)?
            .take(MAX_REDACT_BYTES + 1)
            .read_to_end(&mut text)?;
        if text.len() as u64 > MAX_REDACT_BYTES {
            bail!("{}: over {MAX_REDACT_BYTES} bytes; split it (scan streams any size, redact holds the text in memory)", source.input);
        }
        let spans = engine.scan(&text);
        f(Record {
            line: 1,
            offset: 0,
            text: &text,
            spans,
        })?;
        return Ok(text.len() as u64);
    }
    let mut reader = std::io::BufReader::new(open(&source.input)?);
    let mut line = Vec::new();
    let (mut offset, mut number) = (0u64, 0u64);
    let mut csv_columns: Option<Vec<usize>> = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(offset);
        }
        number += 1;
        let spans = engine.scan(&line);
        let selected = match kind {
            InputKind::Jsonl => {
                let strings = json_strings(&line);
                select(&spans, &strings, |path| {
                    source.fields.is_empty() || source.fields.iter().any(|f| f == path)
                })
            }
            _ => {
                let cells = csv_cells(&line);
                if csv_columns.is_none() {
                    // The header row names the columns; it is scanned like the rest.
                    let names: Vec<String> = cells.iter().map(|(_, _, t)| t.clone()).collect();
                    let mut wanted = Vec::new();
                    for f in &source.fields {
                        let ix = match f.parse::<usize>() {
                            Ok(n) if n >= 1 => n - 1,
                            _ => names.iter().position(|n| n == f).with_context(|| {
                                format!(
                                    "--fields {f}: no such column (the header has {})",
                                    names.join(", ")
                                )
                            })?,
                        };
                        wanted.push(ix);
                    }
                    csv_columns = Some(wanted);
                }
                let wanted = csv_columns.as_deref().unwrap_or_default();
                let cells: Vec<(usize, usize, String)> = cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, (s, e, _))| (s, e, i.to_string()))
                    .collect();
                select(&spans, &cells, |col| {
                    wanted.is_empty() || col.parse::<usize>().is_ok_and(|c| wanted.contains(&c))
                })
            }
        };
        f(Record {
            line: number,
            offset,
            text: &line,
            spans: selected,
        })?;
        offset += n as u64;
    }
}

/// Spans that lie inside a region whose label `keep` accepts.
fn select(
    spans: &[Span],
    regions: &[(usize, usize, String)],
    keep: impl Fn(&str) -> bool,
) -> Vec<Span> {
    spans
        .iter()
        .filter(|s| {
            regions
                .iter()
                .any(|(a, b, label)| s.start >= *a && s.end <= *b && keep(label))
        })
        .copied()
        .collect()
}

/// Byte ranges of the string *values* of a JSON line, each with its dotted path (array
/// indices omitted). A hand lexer: the line is scanned as written, never re-serialized.
fn json_strings(line: &[u8]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    // For each open container: is it an object, and is the next string a key?
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut pending_key: Option<String> = None;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'{' => {
                if let Some(k) = pending_key.take() {
                    path.push(k);
                } else if stack.last().is_some_and(|(obj, _)| !obj) {
                    path.push(path.last().cloned().unwrap_or_default());
                } else if !stack.is_empty() {
                    path.push(String::new());
                }
                stack.push((true, true));
            }
            b'[' => {
                if let Some(k) = pending_key.take() {
                    path.push(k);
                } else if !stack.is_empty() {
                    path.push(path.last().cloned().unwrap_or_default());
                }
                stack.push((false, false));
            }
            b'}' | b']' => {
                stack.pop();
                if !stack.is_empty() {
                    path.pop();
                }
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = top.0;
                }
                pending_key = None;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < line.len() && line[j] != b'"' {
                    j += if line[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(line.len());
                let is_key = stack.last().is_some_and(|t| t.0 && t.1);
                if is_key {
                    pending_key = Some(String::from_utf8_lossy(&line[start..end]).into_owned());
                    if let Some(top) = stack.last_mut() {
                        top.1 = false;
                    }
                } else {
                    let mut full: Vec<&str> = path
                        .iter()
                        .map(String::as_str)
                        .filter(|p| !p.is_empty())
                        .collect();
                    let key = pending_key.take();
                    if let Some(k) = &key {
                        full.push(k);
                    }
                    out.push((start, end, full.join(".")));
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Byte ranges of the cells of a CSV line (RFC 4180 quoting), with their text.
fn csv_cells(line: &[u8]) -> Vec<(usize, usize, String)> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push((start, i, cell_text(&body[start..i])));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, body.len(), cell_text(&body[start..])));
    out
}

fn cell_text(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.trim().trim_matches('"').replace("\"\"", "\"")
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
