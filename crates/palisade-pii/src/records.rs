//! JSON Lines and CSV read as records of fields, each field's *decoded* value with where it
//! sits in the input, and written back with only the fields that changed re-encoded.
//!
//! Why not scan the raw text: `bob\u0040example.com` in JSON and a quoted CSV cell that runs
//! over several lines are PII that a scan of the bytes as written misses (or, redacted in
//! place, turns into invalid JSON). So each record is checked by a real parser first
//! (`serde_json`, the `csv` crate), its string values are decoded, the engine runs on the
//! decoded text, and spans map back to input offsets through an [`OffsetMap`]. Untouched
//! fields are copied byte for byte; a changed one is re-encoded, so the output is always
//! valid JSON Lines / CSV.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{BufRead, Read};
use std::rc::Rc;

use crate::fold::OffsetMap;

/// Longest record (a JSON line, a CSV record) read into memory.
pub const MAX_RECORD: usize = 64 << 20;
/// Most fields in one record.
pub const MAX_FIELDS: usize = 1 << 20;
/// Deepest nesting of JSON arrays and objects (serde_json's own limit).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("line {line}: record over {MAX_RECORD} bytes; split it")]
    TooLong { line: u64 },
    #[error("line {line}: over {MAX_FIELDS} fields in one record")]
    TooManyFields { line: u64 },
    #[error("line {line}: not valid JSON ({reason}); fix or remove the line")]
    Json { line: u64, reason: String },
    #[error("line {line}: not valid CSV ({reason})")]
    Csv { line: u64, reason: String },
    #[error("line {line}: nested over {MAX_DEPTH} levels deep")]
    TooDeep { line: u64 },
    #[error("line {line}: not UTF-8 text")]
    NotUtf8 { line: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    JsonString,
    /// A JSON number, as written (a card number can be one).
    JsonNumber,
    /// An object key: scanned, but never rewritten (that could merge two keys).
    JsonKey,
    CsvCell,
}

/// One value of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// JSON: the dotted path of object keys (array indices left out); CSV: the 0-based column.
    pub name: String,
    pub column: usize,
    pub kind: FieldKind,
    /// Where the whole encoded field sits in the record (quotes included).
    pub raw: (usize, usize),
    /// Where the decoded value's first byte comes from (inside the quotes).
    content_start: usize,
    /// The decoded value.
    pub value: String,
    map: OffsetMap,
}

impl Field {
    /// The record range behind `start..end` of the decoded value.
    pub fn raw_span(&self, start: usize, end: usize) -> (usize, usize) {
        let (s, e) = self.map.original(start, end);
        (self.content_start + s, self.content_start + e)
    }
}

/// One record: its bytes as read and its fields.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based line of its first byte.
    pub line: u64,
    /// Offset of its first byte in the input.
    pub offset: u64,
    pub raw: Vec<u8>,
    pub fields: Vec<Field>,
}

impl Record {
    /// The line byte `at` of the record falls on (CSV cells can hold newlines).
    pub fn line_at(&self, at: usize) -> u64 {
        self.line + self.raw[..at].iter().filter(|&&b| b == b'\n').count() as u64
    }

    /// The record with some fields given new values (`None`: unchanged), each re-encoded the
    /// way its format needs. With `neutralize`, CSV cells a spreadsheet would run as a formula
    /// are neutralized too (see [`neutralize_formula`]).
    pub fn rewrite(
        &self,
        mut new_value: impl FnMut(&Field) -> Option<String>,
        neutralize: bool,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len());
        let mut at = 0;
        for f in &self.fields {
            let changed = match f.kind {
                FieldKind::JsonKey => None,
                _ => new_value(f),
            };
            let value = if neutralize && f.kind == FieldKind::CsvCell {
                let current = changed.as_deref().unwrap_or(&f.value);
                match neutralize_formula(current) {
                    Cow::Owned(v) => Some(v),
                    Cow::Borrowed(_) => changed,
                }
            } else {
                changed
            };
            let Some(value) = value else { continue };
            out.extend_from_slice(&self.raw[at..f.raw.0]);
            match f.kind {
                FieldKind::CsvCell => encode_csv(&value, &mut out),
                _ => out.extend_from_slice(json_string(&value).as_bytes()),
            }
            at = f.raw.1;
        }
        out.extend_from_slice(&self.raw[at..]);
        out
    }
}

fn json_string(value: &str) -> String {
    // A String always serializes.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("\"\""))
}

fn encode_csv(value: &str, out: &mut Vec<u8>) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return; OWASP's CSV injection list), prefixed with `'` so it is shown as text.
/// Plain numbers such as `-12.5` or `+33 1 23` digits-only phone numbers are left alone.
pub fn neutralize_formula(cell: &str) -> Cow<'_, str> {
    let risky = matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if !risky || is_plain_number(cell) {
        return Cow::Borrowed(cell);
    }
    Cow::Owned(format!("'{cell}"))
}

/// `-12.5`, `+44 20 7946 0958`, `-1e-3`; also a lone sign, which no spreadsheet runs.
fn is_plain_number(cell: &str) -> bool {
    let body = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    if body.is_empty() {
        return cell.len() == 1;
    }
    body.starts_with(|c: char| c.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b' ' | b'e' | b'E' | b'-'))
}

// ---------------------------------------------------------------------------------------
// JSON Lines

/// Reads JSON Lines: one JSON value per line (blank lines are kept as they are, with no
/// fields). Each line is validated by `serde_json` (its depth limit included) before its
/// strings are located.
pub struct JsonLines<R> {
    reader: R,
    line: u64,
    offset: u64,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R) -> Self {
        JsonLines {
            reader,
            line: 0,
            offset: 0,
        }
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, RecordError> {
        let mut raw = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_RECORD as u64 + 1)
            .read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let line = self.line;
        if n > MAX_RECORD {
            return Err(RecordError::TooLong { line });
        }
        let offset = self.offset;
        self.offset += n as u64;
        let fields = json_fields(&raw, line)?;
        Ok(Some(Record {
            line,
            offset,
            raw,
            fields,
        }))
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<Record, RecordError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// The strings, numbers and keys of one JSON line, in order.
pub fn json_fields(raw: &[u8], line: u64) -> Result<Vec<Field>, RecordError> {
    let text = std::str::from_utf8(raw).map_err(|_| RecordError::NotUtf8 { line })?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Parsed whole (not only skimmed): strings are decoded, so a lone surrogate is refused,
    // and serde_json's depth limit applies.
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
        // serde_json's messages name what it expected, never the text; the line is ours.
        let message = e.to_string();
        let what = message.split(" at line ").next().unwrap_or("syntax error");
        RecordError::Json {
            line,
            reason: format!("{what} at column {}", e.column()),
        }
    })?;
    // The line is valid JSON: a lexer that follows only strings, brackets, colons and commas
    // cannot be misled.
    let b = raw;
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    // Per open container: is it an object, and does a key come next?
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut key: Option<String> = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                let object = b[i] == b'{';
                let name = key.take().unwrap_or_else(|| {
                    // An array's elements keep the array's name.
                    path.last().cloned().unwrap_or_default()
                });
                if stack.len() >= MAX_DEPTH {
                    return Err(RecordError::TooDeep { line });
                }
                path.push(name);
                stack.push((object, object));
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                path.pop();
                i += 1;
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = top.0;
                }
                key = None;
                i += 1;
            }
            b'"' => {
                let (end, value, map) = json_unescape(b, i + 1);
                let is_key = stack.last().is_some_and(|t| t.0 && t.1);
                let kind = if is_key {
                    FieldKind::JsonKey
                } else {
                    FieldKind::JsonString
                };
                let name = dotted(&path, if is_key { None } else { key.as_deref() });
                if is_key {
                    key = Some(value.clone());
                    if let Some(top) = stack.last_mut() {
                        top.1 = false;
                    }
                }
                push(
                    &mut out,
                    line,
                    Field {
                        name,
                        column: 0,
                        kind,
                        raw: (i, end),
                        content_start: i + 1,
                        value,
                        map,
                    },
                )?;
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = i + b[i..]
                    .iter()
                    .take_while(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .count();
                let value = String::from_utf8_lossy(&b[i..end]).into_owned();
                push(
                    &mut out,
                    line,
                    Field {
                        name: dotted(&path, key.as_deref()),
                        column: 0,
                        kind: FieldKind::JsonNumber,
                        raw: (i, end),
                        content_start: i,
                        value,
                        map: OffsetMap::default(),
                    },
                )?;
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(out)
}

fn push(out: &mut Vec<Field>, line: u64, f: Field) -> Result<(), RecordError> {
    if out.len() >= MAX_FIELDS {
        return Err(RecordError::TooManyFields { line });
    }
    out.push(f);
    Ok(())
}

fn dotted(path: &[String], last: Option<&str>) -> String {
    let mut parts: Vec<&str> = path
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(k) = last {
        parts.push(k);
    }
    parts.join(".")
}

/// Decode the JSON string whose content starts at `start` (validated JSON): the index just
/// past its closing quote, the value, and how the value's offsets map to the content's.
fn json_unescape(b: &[u8], start: usize) -> (usize, String, OffsetMap) {
    let mut out = String::new();
    let mut map = OffsetMap::default();
    let mut i = start;
    let mut plain = start;
    while i < b.len() && b[i] != b'"' {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&String::from_utf8_lossy(&b[plain..i]));
        let from = out.len();
        let esc_start = i;
        let c = match b.get(i + 1) {
            Some(b'u') => {
                let unit = hex4(b, i + 2);
                i += 6;
                if (0xD800..0xDC00).contains(&unit)
                    && b.get(i) == Some(&b'\\')
                    && b.get(i + 1) == Some(&b'u')
                {
                    let low = hex4(b, i + 2);
                    if (0xDC00..0xE000).contains(&low) {
                        i += 6;
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    } else {
                        None
                    }
                } else {
                    char::from_u32(unit)
                }
                // A lone surrogate (valid JSON, not a character) decodes as serde_json does.
                .unwrap_or('\u{FFFD}')
            }
            Some(&e) => {
                i += 2;
                match e {
                    b'n' => '\n',
                    b't' => '\t',
                    b'r' => '\r',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    other => other as char,
                }
            }
            None => break,
        };
        out.push(c);
        map.push((from, out.len()), (esc_start - start, i - start));
        plain = i;
    }
    let end = i.min(b.len());
    out.push_str(&String::from_utf8_lossy(&b[plain..end]));
    (end + 1, out, map)
}

fn hex4(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0xFFFD)
}

// ---------------------------------------------------------------------------------------
// CSV

/// Reads CSV (RFC 4180; quoted cells may hold commas, quotes and newlines) record by record
/// with the `csv` crate, keeping each record's bytes as written so spans map back and
/// untouched cells are copied byte for byte.
pub struct CsvRecords<R: Read> {
    reader: csv::Reader<Tee<R>>,
    seen: Rc<RefCell<Vec<u8>>>,
    /// Input offset of `seen[0]`.
    seen_from: u64,
    record: csv::ByteRecord,
}

/// Keeps what the csv reader read, until the records it holds are out.
struct Tee<R> {
    inner: R,
    seen: Rc<RefCell<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> CsvRecords<R> {
    pub fn new(reader: R) -> Self {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Tee {
                inner: reader,
                seen: seen.clone(),
            });
        CsvRecords {
            reader,
            seen,
            seen_from: 0,
            record: csv::ByteRecord::new(),
        }
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, RecordError> {
        let line = self.reader.position().line();
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| RecordError::Csv {
                line,
                reason: e.to_string(),
            })?;
        if !more {
            // What follows the last record (blank lines) is passed on as a record of no
            // fields, so a rewrite loses nothing.
            let mut seen = self.seen.borrow_mut();
            if seen.is_empty() {
                return Ok(None);
            }
            let raw = std::mem::take(&mut *seen);
            let offset = self.seen_from;
            self.seen_from += raw.len() as u64;
            return Ok(Some(Record {
                line,
                offset,
                raw,
                fields: Vec::new(),
            }));
        }
        let start = self.record.position().map_or(0, |p| p.byte());
        let line = self.record.position().map_or(line, |p| p.line());
        let end = self.reader.position().byte();
        if (end - start) as usize > MAX_RECORD {
            return Err(RecordError::TooLong { line });
        }
        if self.record.len() > MAX_FIELDS {
            return Err(RecordError::TooManyFields { line });
        }
        let mut seen = self.seen.borrow_mut();
        let from = (start - self.seen_from) as usize;
        let to = ((end - self.seen_from) as usize).min(seen.len());
        let raw = seen[from..to].to_vec();
        seen.drain(..to);
        self.seen_from += to as u64;
        drop(seen);
        let fields = csv_fields(&raw, &self.record, line)?;
        Ok(Some(Record {
            line,
            offset: start,
            raw,
            fields,
        }))
    }
}

impl<R: Read> Iterator for CsvRecords<R> {
    type Item = Result<Record, RecordError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Locate the cells of one record's bytes; they must decode to what the csv crate read, or
/// the record is refused (an unusual quoting the positions cannot follow).
fn csv_fields(raw: &[u8], parsed: &csv::ByteRecord, line: u64) -> Result<Vec<Field>, RecordError> {
    let mut out = Vec::with_capacity(parsed.len());
    // A record's bytes can start with the end of the previous line's terminator and the
    // blank lines the csv crate skips.
    let mut i = raw
        .iter()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .count();
    for column in 0..parsed.len() {
        let field_start = i;
        let mut value = Vec::new();
        let mut map = OffsetMap::default();
        let content_start;
        if raw.get(i) == Some(&b'"') {
            i += 1;
            content_start = i;
            loop {
                match raw.get(i) {
                    Some(b'"') if raw.get(i + 1) == Some(&b'"') => {
                        map.push(
                            (value.len(), value.len() + 1),
                            (i - content_start, i + 2 - content_start),
                        );
                        value.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                    None => break,
                }
            }
        } else {
            content_start = i;
            while let Some(&c) = raw.get(i) {
                if matches!(c, b',' | b'\n' | b'\r') {
                    break;
                }
                value.push(c);
                i += 1;
            }
        }
        let field_end = i;
        if value.as_slice() != &parsed[column]
            || !matches!(raw.get(i), None | Some(b',' | b'\n' | b'\r'))
        {
            return Err(RecordError::Csv {
                line,
                reason: format!("column {}: quoting the positions cannot follow (text after a closing quote?); quote the whole cell", column + 1),
            });
        }
        if raw.get(i) == Some(&b',') {
            i += 1;
        }
        let value = String::from_utf8(value).map_err(|_| RecordError::NotUtf8 { line })?;
        out.push(Field {
            name: column.to_string(),
            column,
            kind: FieldKind::CsvCell,
            raw: (field_start, field_end),
            content_start,
            value,
            map,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl(text: &str) -> Vec<Record> {
        JsonLines::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn csv(text: &str) -> Vec<Record> {
        CsvRecords::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn json_strings_are_decoded_with_their_positions() {
        let line = r#"{"e":"bob\u0040example.com","n":{"a":["x\"y", 4111111111111111]}}"#;
        let r = &jsonl(line)[0];
        let values: Vec<(&str, &str, FieldKind)> = r
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str(), f.kind))
            .collect();
        assert_eq!(
            values,
            [
                ("", "e", FieldKind::JsonKey),
                ("e", "bob@example.com", FieldKind::JsonString),
                ("", "n", FieldKind::JsonKey),
                ("n", "a", FieldKind::JsonKey),
                ("n.a", "x\"y", FieldKind::JsonString),
                ("n.a", "4111111111111111", FieldKind::JsonNumber),
            ]
        );
        let email = &r.fields[1];
        // `@` is the escape `\u0040` (6 bytes) in the line.
        let (s, e) = email.raw_span(3, 4);
        assert_eq!(&line[s..e], r"\u0040");
        let (s, e) = email.raw_span(0, email.value.len());
        assert_eq!(&line[s..e], r"bob\u0040example.com");
    }

    #[test]
    fn json_decoding_agrees_with_serde_json() {
        for s in [
            r#""jos\u00e9@example.com""#,
            r#""\ud83d\ude00 \n\t\\\/\"""#,
            r#""caf\u00E9 é""#,
        ] {
            let (end, value, _) = json_unescape(s.as_bytes(), 1);
            assert_eq!(end, s.len());
            assert_eq!(value, serde_json::from_str::<String>(s).unwrap(), "{s}");
        }
    }

    #[test]
    fn rewritten_json_stays_valid_and_untouched_fields_stay_as_written() {
        let line = "{\"e\": \"jos\\u00e9@example.com\", \"k\": \"keep\\u0020me\"}\n";
        let r = &jsonl(line)[0];
        let out = r.rewrite(
            |f| (f.name == "e").then(|| "<EMAIL_ADDRESS>".to_string()),
            false,
        );
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "{\"e\": \"<EMAIL_ADDRESS>\", \"k\": \"keep\\u0020me\"}\n"
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn invalid_json_is_refused_naming_the_line() {
        let err = JsonLines::new("{\"a\":1}\n{\"a\":\n".as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(matches!(err, RecordError::Json { line: 2, .. }), "{err}");
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(json_fields(deep.as_bytes(), 1).is_err());
        // A lone surrogate is not a character: serde_json refuses it, so do we.
        assert!(json_fields(br#"{"a":"\ud800 x"}"#, 1).is_err());
    }

    #[test]
    fn csv_cells_with_newlines_keep_their_columns() {
        let text = "id,notes,phone\n1,\"a\nb, \"\"c\"\"\",415-555-2671\r\n2,x,y";
        let records = csv(text);
        assert_eq!(records.len(), 3);
        let r = &records[1];
        assert_eq!(r.line, 2);
        assert_eq!(r.fields[1].value, "a\nb, \"c\"");
        assert_eq!(r.fields[2].value, "415-555-2671");
        let (s, e) = r.fields[2].raw_span(0, 12);
        assert_eq!(
            &text[r.offset as usize + s..r.offset as usize + e],
            "415-555-2671"
        );
        // `"c"` is written `""c""`: the span of `c"` covers both quote characters.
        let f = &r.fields[1];
        let at = f.value.find("c\"").unwrap();
        let (s, e) = f.raw_span(at, at + 2);
        assert_eq!(&text[r.offset as usize + s..r.offset as usize + e], "c\"\"");
        assert_eq!(records[2].line_at(records[2].fields[0].raw.0), 4);
        assert_eq!(records[2].fields[1].value, "x");
    }

    #[test]
    fn rewritten_csv_is_quoted_where_needed_and_formulas_are_neutralized() {
        let text = "1,\"a\nb\",=HYPERLINK(\"http://x\"),-12.5,@SUM(A1)\n";
        let r = &csv(text)[0];
        let out = r.rewrite(|f| (f.column == 1).then(|| "<X>, y".to_string()), true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1,\"<X>, y\",\"'=HYPERLINK(\"\"http://x\"\")\",-12.5,'@SUM(A1)\n"
        );
        let same = r.rewrite(|_| None, false);
        assert_eq!(same, text.as_bytes());
    }

    #[test]
    fn formulas_are_neutralized_and_numbers_are_not() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2+3", "'-2+3"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("-12.5", "-12.5"),
            ("+44 20 7946 0958", "+44 20 7946 0958"),
            ("1e5", "1e5"),
            ("plain", "plain"),
            ("-", "-"),
            ("-1e-3", "-1e-3"),
        ] {
            assert_eq!(neutralize_formula(cell), want, "{cell}");
        }
    }
}
