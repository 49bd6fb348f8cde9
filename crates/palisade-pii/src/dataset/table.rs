//! A dataset held in memory as columns and rows: CSV with a header, or JSON Lines whose
//! records are objects (columns are their top-level keys, in first-seen order).
//!
//! Both tools need every row at once (equivalence classes, marginals), so reading is bounded
//! by bytes, columns and cell size, and every error names the line and column, never a value.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde_json::Value;

use super::DatasetError;
use crate::records::neutralize_formula;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// From the file name: `.csv`, or `.jsonl` / `.ndjson`.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// How much a dataset may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_columns: usize,
    pub max_cell_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 1 << 30,
            max_columns: 1024,
            max_cell_bytes: 1 << 20,
        }
    }
}

/// One value. `Absent` is a JSON Lines key a record does not have; CSV cells are always text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Absent,
    Json(Value),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Json(Value::String(s.into()))
    }

    /// Empty text, JSON null and absent keys are all "missing".
    pub fn is_missing(&self) -> bool {
        match self {
            Cell::Absent | Cell::Json(Value::Null) => true,
            Cell::Json(Value::String(s)) => s.trim().is_empty(),
            Cell::Json(_) => false,
        }
    }

    /// A number, from a JSON number or from text that parses as a finite one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Cell::Json(Value::Number(n)) => n.as_f64(),
            Cell::Json(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|x| x.is_finite())
    }

    /// The value as CSV writes it (JSON text for objects and arrays).
    pub fn as_text(&self) -> String {
        match self {
            Cell::Absent | Cell::Json(Value::Null) => String::new(),
            Cell::Json(Value::String(s)) => s.clone(),
            Cell::Json(v) => v.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub format: Format,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// The 1-based line of the input where each row starts (for errors).
    pub lines: Vec<u64>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Read `path` (`-` is standard input) as `format`.
    pub fn read(path: &Path, format: Format, limits: Limits) -> Result<Table, DatasetError> {
        let shown = path.display().to_string();
        if path == Path::new("-") {
            return Table::from_reader(std::io::stdin().lock(), format, limits, &shown);
        }
        let file = std::fs::File::open(path).map_err(|e| DatasetError::io(&shown, e))?;
        Table::from_reader(file, format, limits, &shown)
    }

    pub fn from_reader(
        reader: impl Read,
        format: Format,
        limits: Limits,
        name: &str,
    ) -> Result<Table, DatasetError> {
        // One byte past the limit tells "too big" from "exactly the limit".
        let reader = reader.take(limits.max_bytes.saturating_add(1));
        let table = match format {
            Format::Csv => read_csv(reader, limits, name)?,
            Format::JsonLines => read_json_lines(reader, limits, name)?,
        };
        Ok(table)
    }

    /// Write to `path` through a temporary file in the same folder, renamed into place only
    /// when complete, so a failed run never leaves a half-written dataset behind.
    pub fn write(
        &self,
        path: &Path,
        format: Format,
        formulas: Formulas,
    ) -> Result<(), DatasetError> {
        let shown = path.display().to_string();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let (tmp, mut file) = tempfile_in(dir, &shown)?;
        let written = self
            .write_to(&mut file, format, formulas)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DatasetError::io(&shown, e)
        })
    }

    pub fn write_to(
        &self,
        out: &mut impl Write,
        format: Format,
        formulas: Formulas,
    ) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        match format {
            Format::Csv => {
                let cell = |text: &'_ str| -> String {
                    match formulas {
                        Formulas::Neutralize => neutralize_formula(text).into_owned(),
                        Formulas::DangerousKeep => text.to_string(),
                    }
                };
                let mut w = csv::Writer::from_writer(&mut out);
                w.write_record(self.columns.iter().map(|c| cell(c)))
                    .map_err(csv_io)?;
                for row in &self.rows {
                    w.write_record(row.iter().map(|c| cell(&c.as_text())))
                        .map_err(csv_io)?;
                }
                w.flush()?;
            }
            Format::JsonLines => {
                for row in &self.rows {
                    out.write_all(b"{")?;
                    let mut first = true;
                    for (name, cell) in self.columns.iter().zip(row) {
                        let Cell::Json(value) = cell else { continue };
                        if !first {
                            out.write_all(b",")?;
                        }
                        first = false;
                        serde_json::to_writer(&mut out, name)?;
                        out.write_all(b":")?;
                        serde_json::to_writer(&mut out, value)?;
                    }
                    out.write_all(b"}\n")?;
                }
            }
        }
        out.flush()
    }
}

/// What a CSV output does with cells a spreadsheet would run as formulas (`=HYPERLINK(..)`,
/// `@SUM(..)`): anonymized and synthetic tables go to analysts who open them in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formulas {
    /// Prefix them with `'` so they show as text (see [`neutralize_formula`]); the default.
    Neutralize,
    /// Write cells exactly as they are (`--dangerous-keep-formulas`).
    DangerousKeep,
}

fn csv_io(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A fresh file next to `target`, removed again if it is dropped before the rename.
fn tempfile_in(
    dir: &Path,
    shown: &str,
) -> Result<(std::path::PathBuf, std::fs::File), DatasetError> {
    for attempt in 0..16u32 {
        let name = format!(
            ".palisade-{}-{attempt}-{}.tmp",
            std::process::id(),
            rand::random::<u32>()
        );
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(DatasetError::io(shown, e)),
        }
    }
    Err(DatasetError::io(
        shown,
        std::io::Error::other("could not create a temporary file"),
    ))
}

fn too_big(name: &str, limits: Limits) -> DatasetError {
    DatasetError::Limit {
        file: name.to_string(),
        what: format!(
            "more than {} bytes; raise --max-bytes or split the file",
            limits.max_bytes
        ),
    }
}

fn read_csv(reader: impl Read, limits: Limits, name: &str) -> Result<Table, DatasetError> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::StringRecord::new();
    let parse = |e: csv::Error, line: u64| -> DatasetError {
        if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
            return DatasetError::Parse {
                file: name.to_string(),
                line,
                what: "not UTF-8 text".into(),
            };
        }
        DatasetError::Parse {
            file: name.to_string(),
            line,
            what: "not CSV".into(),
        }
    };
    let read =
        |r: &mut csv::Reader<_>, rec: &mut csv::StringRecord| -> Result<bool, DatasetError> {
            let line = r.position().line();
            let more = r.read_record(rec).map_err(|e| parse(e, line))?;
            if r.position().byte() > limits.max_bytes {
                return Err(too_big(name, limits));
            }
            Ok(more)
        };
    if !read(&mut r, &mut record)? {
        return Err(DatasetError::Parse {
            file: name.to_string(),
            line: 1,
            what: "empty: a CSV dataset starts with a header row".into(),
        });
    }
    // Spreadsheets start files with a byte-order mark; it is never part of a name.
    let columns: Vec<String> = record
        .iter()
        .map(|c| {
            c.trim_matches(|ch: char| ch.is_whitespace() || ch == '\u{feff}')
                .to_string()
        })
        .collect();
    check_columns(&columns, limits, name)?;
    let mut table = Table {
        format: Format::Csv,
        columns,
        rows: Vec::new(),
        lines: Vec::new(),
    };
    loop {
        let line = r.position().line();
        if !read(&mut r, &mut record)? {
            break;
        }
        if record.len() != table.columns.len() {
            return Err(DatasetError::Parse {
                file: name.to_string(),
                line,
                what: format!(
                    "{} fields where the header has {}",
                    record.len(),
                    table.columns.len()
                ),
            });
        }
        let mut row = Vec::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            if field.len() > limits.max_cell_bytes {
                return Err(cell_too_big(name, line, &table.columns[i], limits));
            }
            row.push(Cell::text(field));
        }
        table.rows.push(row);
        table.lines.push(line);
    }
    Ok(table)
}

fn cell_too_big(name: &str, line: u64, column: &str, limits: Limits) -> DatasetError {
    DatasetError::Limit {
        file: name.to_string(),
        what: format!(
            "line {line}, column `{column}`: a value over {} bytes",
            limits.max_cell_bytes
        ),
    }
}

fn check_columns(columns: &[String], limits: Limits, name: &str) -> Result<(), DatasetError> {
    if columns.len() > limits.max_columns {
        return Err(DatasetError::Limit {
            file: name.to_string(),
            what: format!("more than {} columns", limits.max_columns),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        if c.is_empty() {
            return Err(DatasetError::Parse {
                file: name.to_string(),
                line: 1,
                what: "a header column has no name".into(),
            });
        }
        if !seen.insert(c) {
            return Err(DatasetError::Parse {
                file: name.to_string(),
                line: 1,
                what: format!("column `{c}` appears twice in the header"),
            });
        }
    }
    Ok(())
}

fn read_json_lines(reader: impl Read, limits: Limits, name: &str) -> Result<Table, DatasetError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut table = Table {
        format: Format::JsonLines,
        columns: Vec::new(),
        rows: Vec::new(),
        lines: Vec::new(),
    };
    let mut index = std::collections::HashMap::<String, usize>::new();
    let mut buf = Vec::new();
    let mut total = 0u64;
    let mut line = 0u64;
    loop {
        buf.clear();
        // A line is bounded too: `take` stops one byte past the longest record allowed.
        let n = (&mut reader)
            .take(limits.max_cell_bytes as u64 * 4 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| DatasetError::io(name, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        total += n as u64;
        if total > limits.max_bytes {
            return Err(too_big(name, limits));
        }
        if n > limits.max_cell_bytes * 4 {
            return Err(DatasetError::Limit {
                file: name.to_string(),
                what: format!(
                    "line {line}: a record over {} bytes",
                    limits.max_cell_bytes * 4
                ),
            });
        }
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_slice(text).map_err(|e| DatasetError::Parse {
            file: name.to_string(),
            line,
            what: format!(
                "not JSON ({} at column {})",
                json_error_kind(&e),
                e.column()
            ),
        })?;
        let Value::Object(map) = value else {
            return Err(DatasetError::Parse {
                file: name.to_string(),
                line,
                what: "a record must be a JSON object".into(),
            });
        };
        let mut row = vec![Cell::Absent; table.columns.len()];
        for (key, value) in map {
            let i = match index.get(&key) {
                Some(i) => *i,
                None => {
                    if table.columns.len() >= limits.max_columns {
                        return Err(DatasetError::Limit {
                            file: name.to_string(),
                            what: format!("more than {} distinct keys", limits.max_columns),
                        });
                    }
                    table.columns.push(key.clone());
                    index.insert(key, table.columns.len() - 1);
                    for earlier in &mut table.rows {
                        earlier.push(Cell::Absent);
                    }
                    row.push(Cell::Absent);
                    table.columns.len() - 1
                }
            };
            row[i] = Cell::Json(value);
        }
        table.rows.push(row);
        table.lines.push(line);
    }
    Ok(table)
}

/// serde_json's message can quote input; only its category is shown.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Data => "bad data",
        serde_json::error::Category::Io => "read error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Table, DatasetError> {
        Table::from_reader(text.as_bytes(), Format::Csv, Limits::default(), "t.csv")
    }

    #[test]
    fn csv_reads_quoted_fields_across_lines_and_round_trips() {
        let t = csv("a,b\n1,\"x, \"\"y\"\"\nz\"\n2,\n").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.rows[0][1], Cell::text("x, \"y\"\nz"));
        assert_eq!(t.lines, [2, 4]);
        let mut out = Vec::new();
        t.write_to(&mut out, Format::Csv, Formulas::DangerousKeep)
            .unwrap();
        assert_eq!(csv(std::str::from_utf8(&out).unwrap()).unwrap(), t);
    }

    #[test]
    fn csv_errors_name_the_line_and_never_a_value() {
        let e = csv("a,b\n1,2\n3,secret-value,4\n").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line 3"), "{e}");
        assert!(!e.contains("secret-value"));
        let e = csv("a,a\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("`a` appears twice"), "{e}");
        assert!(csv("").unwrap_err().to_string().contains("header"));
    }

    #[test]
    fn header_names_lose_byte_order_marks_and_blanks() {
        let t = csv("\u{feff}a , \u{c}\u{feff}b\n1,2\n").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
    }

    #[test]
    fn limits_hold() {
        let small = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        let e = Table::from_reader(&b"a,b\n1,2\n3,4\n"[..], Format::Csv, small, "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 10 bytes"), "{e}");
        let e = Table::from_reader(
            &b"{\"a\":1}\n{\"a\":2}\n"[..],
            Format::JsonLines,
            small,
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than 10 bytes"), "{e}");
        let narrow = Limits {
            max_columns: 2,
            ..Limits::default()
        };
        assert!(Table::from_reader(&b"a,b,c\n"[..], Format::Csv, narrow, "t").is_err());
        assert!(Table::from_reader(
            &b"{\"a\":1,\"b\":1}\n{\"c\":1}\n"[..],
            Format::JsonLines,
            narrow,
            "t"
        )
        .is_err());
        let tiny_cells = Limits {
            max_cell_bytes: 3,
            ..Limits::default()
        };
        assert!(Table::from_reader(&b"a\nabcd\n"[..], Format::Csv, tiny_cells, "t").is_err());
    }

    #[test]
    fn json_lines_union_keys_keep_types_and_round_trip() {
        let t = Table::from_reader(
            &b"{\"a\":1,\"b\":\"x\"}\n\n{\"c\":[1],\"a\":2.5}\n"[..],
            Format::JsonLines,
            Limits::default(),
            "t",
        )
        .unwrap();
        assert_eq!(t.columns, ["a", "b", "c"]);
        assert_eq!(t.rows[0][2], Cell::Absent);
        assert_eq!(t.rows[1][0].number(), Some(2.5));
        assert_eq!(t.lines, [1, 3]);
        let mut out = Vec::new();
        t.write_to(&mut out, Format::JsonLines, Formulas::Neutralize)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":1,\"b\":\"x\"}\n{\"a\":2.5,\"c\":[1]}\n"
        );
        let e = Table::from_reader(
            &b"{\"a\":\"secret-value\"\n"[..],
            Format::JsonLines,
            Limits::default(),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 1") && !e.contains("secret"), "{e}");
        assert!(
            Table::from_reader(&b"[1]\n"[..], Format::JsonLines, Limits::default(), "t")
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
    }
}
