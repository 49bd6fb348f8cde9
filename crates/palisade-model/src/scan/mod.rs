//! Scanning model artifacts without executing them.
//!
//! Why a scanner in the server and not only in CI: a model file is code-adjacent. A pickle
//! runs arbitrary code when loaded, a Keras Lambda layer is marshalled bytecode, an ONNX
//! file can point its weights at `/etc/shadow`, an archive can write outside its folder.
//! The only safe way to look at them is to read their structure, never to load them. Every
//! finding names a rule, a severity, the file and the byte offset, so a reviewer can look at
//! exactly what was flagged. The same code runs at `palisade models scan` and at every load.

pub mod archive;
pub mod keras;
pub mod onnx;
pub mod pickle;
pub mod safetensors;
pub mod savedmodel;

use std::path::Path;

use serde::Serialize;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// One thing a scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `pickle.dangerous-import`.
    pub rule: &'static str,
    pub severity: Severity,
    /// The file (or `archive:member`) it was found in.
    pub file: String,
    /// Byte offset of the opcode or structure at fault (within the member, for archives).
    pub offset: u64,
    pub message: String,
}

/// What a file is, judged by its name and first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Onnx,
    Safetensors,
    Pickle,
    /// A NumPy `.npy` array (object arrays carry a pickle).
    Numpy,
    /// A PyTorch zip checkpoint (`archive/data.pkl` inside).
    TorchArchive,
    /// A Keras v3 `.keras` zip.
    KerasArchive,
    Zip,
    /// HDF5, as legacy Keras `.h5` models are.
    Hdf5,
    SavedModel,
    Unknown,
}

impl Format {
    /// Formats the server loads: data only, no code paths.
    pub fn loadable(self) -> bool {
        matches!(self, Format::Onnx | Format::Safetensors)
    }
}

/// The scan of one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: String,
    pub format: Format,
    pub bytes: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Limits for one scan.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub pickle: pickle::Limits,
    pub archive: archive::Limits,
    /// Deepest archive-in-archive followed.
    pub max_nesting: usize,
    /// Most files a directory scan visits.
    pub max_files: usize,
    /// Largest file a directory scan reads.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pickle: pickle::Limits::default(),
            archive: archive::Limits::default(),
            max_nesting: 2,
            max_files: 100_000,
            max_file_bytes: 16 << 30,
        }
    }
}

const PICKLE_EXTENSIONS: &[&str] = &["pkl", "pickle", "joblib", "pt", "pth", "bin", "ckpt", "dat"];

fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A pickle's first bytes: `PROTO 2..5`, or a protocol-0/1 stream's usual openings.
fn looks_like_pickle(data: &[u8]) -> bool {
    matches!(data, [0x80, 2..=5, ..])
        || matches!(data, [b'(' | b'c' | b']' | b'}', ..] if data.last() == Some(&b'.'))
}

/// What `name` holding `data` is.
pub fn detect(name: &str, data: &[u8]) -> Format {
    let ext = extension(name);
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if archive::is_zip(data) {
        let listing = archive::read(name, data, archive::Limits::default());
        if listing.entries.iter().any(|e| e.name.ends_with("data.pkl")) {
            return Format::TorchArchive;
        }
        if ext == "keras" || listing.entries.iter().any(|e| e.name == "config.json") {
            return Format::KerasArchive;
        }
        return Format::Zip;
    }
    if data.starts_with(keras::HDF5_MAGIC) {
        return Format::Hdf5;
    }
    if data.starts_with(b"\x93NUMPY") {
        return Format::Numpy;
    }
    // Content before name: a pickle renamed `model.onnx` is still a pickle. Protocol 2+
    // opens with `PROTO n`, which no ONNX or safetensors file starts with.
    if matches!(data, [0x80, 2..=5, ..]) {
        return Format::Pickle;
    }
    let older_pickle = looks_like_pickle(data);
    match ext.as_str() {
        "onnx" if older_pickle && onnx::decode(data).is_err() => return Format::Pickle,
        "onnx" => return Format::Onnx,
        "safetensors" if older_pickle => return Format::Pickle,
        "safetensors" => return Format::Safetensors,
        _ => {}
    }
    if base == "saved_model.pb" {
        return Format::SavedModel;
    }
    if older_pickle && (PICKLE_EXTENSIONS.contains(&ext.as_str()) || parses_as_pickle(data)) {
        return Format::Pickle;
    }
    Format::Unknown
}

/// A protocol 0/1 stream under a name that says nothing: judged a pickle when the scanner
/// walks it, without a parse error, to a STOP on its last byte (text merely starting with
/// `(` and ending with `.` does not get there).
fn parses_as_pickle(data: &[u8]) -> bool {
    pickle::scan("", data, pickle::Limits::default()).consumed == data.len() as u64
}

/// Scan one file's bytes. `dir` is the folder it sits in (ONNX external data is checked
/// against it).
pub fn scan_bytes(name: &str, data: &[u8], dir: Option<&Path>, limits: Limits) -> Report {
    let format = detect(name, data);
    let findings = scan_as(format, name, data, dir, limits, 0);
    let mut report = Report {
        file: name.to_string(),
        format,
        bytes: data.len() as u64,
        findings,
    };
    report
        .findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.offset.cmp(&b.offset)));
    report
}

fn scan_as(
    format: Format,
    name: &str,
    data: &[u8],
    dir: Option<&Path>,
    limits: Limits,
    depth: usize,
) -> Vec<Finding> {
    match format {
        Format::Onnx => onnx::scan(name, data, dir),
        Format::Safetensors => safetensors::scan(name, data),
        Format::Pickle => pickle::scan(name, data, limits.pickle).findings,
        Format::Numpy => numpy(name, data, limits),
        Format::Hdf5 => keras::scan_hdf5(name, data),
        Format::SavedModel => savedmodel::scan(name, data),
        Format::TorchArchive | Format::KerasArchive | Format::Zip => zip(name, data, limits, depth),
        Format::Unknown => Vec::new(),
    }
}

/// Every member that can carry code is scanned; nested archives up to `max_nesting`.
fn zip(name: &str, data: &[u8], limits: Limits, depth: usize) -> Vec<Finding> {
    let listing = archive::read(name, data, limits.archive);
    let mut findings = listing.findings;
    for entry in &listing.entries {
        let label = format!("{name}:{}", entry.name);
        let ext = extension(&entry.name);
        let wanted = entry.name.ends_with(".pkl")
            || PICKLE_EXTENSIONS.contains(&ext.as_str())
            || entry.name.ends_with("config.json")
            || matches!(
                ext.as_str(),
                "h5" | "keras" | "zip" | "npy" | "onnx" | "safetensors"
            )
            || entry.name.ends_with("saved_model.pb");
        if !wanted || entry.symlink {
            continue;
        }
        let body = match archive::member(data, entry, limits.archive) {
            Ok(b) => b,
            Err(why) => {
                // A member that may carry code and cannot be read fails closed.
                findings.push(Finding {
                    rule: "archive.unreadable-member",
                    severity: Severity::High,
                    file: label,
                    offset: entry.data_at,
                    message: format!("member cannot be checked: {why}"),
                });
                continue;
            }
        };
        if entry.name.ends_with("config.json") {
            findings.extend(keras::scan_config(&label, &body));
            continue;
        }
        let format = detect(&entry.name, &body);
        if matches!(
            format,
            Format::TorchArchive | Format::KerasArchive | Format::Zip
        ) && depth + 1 > limits.max_nesting
        {
            findings.push(Finding {
                rule: "archive.nesting",
                severity: Severity::Medium,
                file: label,
                offset: entry.data_at,
                message: format!(
                    "archives nested deeper than {}; not followed",
                    limits.max_nesting
                ),
            });
            continue;
        }
        // Torch stores tensor bytes under `data/`; a member named like a pickle is read as one.
        let format = if format == Format::Unknown && ext == "pkl" {
            Format::Pickle
        } else {
            format
        };
        findings.extend(scan_as(format, &label, &body, None, limits, depth + 1));
    }
    findings
}

/// `.npy`: object arrays (`'descr': '|O'`) are a pickle after the header.
fn numpy(name: &str, data: &[u8], limits: Limits) -> Vec<Finding> {
    let header_len = match data.get(6) {
        Some(1) => data
            .get(8..10)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])) + 10),
        Some(2 | 3) => data
            .get(8..12)
            .and_then(|b| usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok())
            .map(|n| n.saturating_add(12)),
        _ => None,
    };
    let Some(end) = header_len.filter(|&e| e <= data.len()) else {
        return vec![Finding {
            rule: "numpy.malformed",
            severity: Severity::Medium,
            file: name.to_string(),
            offset: 0,
            message: "not a well-formed .npy header".into(),
        }];
    };
    let header = String::from_utf8_lossy(&data[..end]);
    if header.contains("'|O'") || header.contains("\"|O\"") {
        let mut findings = pickle::scan(name, &data[end..], limits.pickle).findings;
        for f in &mut findings {
            f.offset += end as u64;
        }
        findings.push(Finding {
            rule: "numpy.object-array",
            severity: Severity::Medium,
            file: name.to_string(),
            offset: 0,
            message: "object array: loading it with allow_pickle=True unpickles its contents"
                .into(),
        });
        return findings;
    }
    Vec::new()
}

/// Scan a file, or every file under a folder (symlinks are reported, not followed).
pub fn scan_path(path: &Path, limits: Limits) -> Result<Vec<Report>, String> {
    let mut reports = Vec::new();
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        reports.push(scan_file(path, limits)?);
        return Ok(reports);
    }
    if !meta.is_dir() {
        return Err(format!("{}: not a file or folder", path.display()));
    }
    let mut pending = vec![path.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let p = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if ft.is_symlink() {
                reports.push(Report {
                    file: p.display().to_string(),
                    format: Format::Unknown,
                    bytes: 0,
                    findings: vec![Finding {
                        rule: "file.symlink",
                        severity: Severity::Medium,
                        file: p.display().to_string(),
                        offset: 0,
                        message: format!(
                            "symbolic link to '{}'; model folders should hold files only",
                            std::fs::read_link(&p)
                                .map(|t| t.display().to_string())
                                .unwrap_or_default()
                        ),
                    }],
                });
            } else if ft.is_dir() {
                pending.push(p);
            } else if ft.is_file() {
                seen += 1;
                if seen > limits.max_files {
                    return Err(format!(
                        "{}: more than {} files; scan a smaller folder",
                        path.display(),
                        limits.max_files
                    ));
                }
                reports.push(scan_file(&p, limits)?);
            }
        }
    }
    Ok(reports)
}

fn scan_file(path: &Path, limits: Limits) -> Result<Report, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > limits.max_file_bytes {
        return Err(format!(
            "{}: {len} bytes, over the scanner's {}-byte limit",
            path.display(),
            limits.max_file_bytes
        ));
    }
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(scan_bytes(
        &path.display().to_string(),
        &data,
        path.parent(),
        limits,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYS4: &str = "80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e";

    #[test]
    fn torch_zip_pickles_are_scanned() {
        let evil = hex::decode(SYS4).unwrap();
        let z = archive::tests::zip(&[
            ("archive/data.pkl", "archive/data.pkl", &evil),
            ("archive/version", "archive/version", b"3\n"),
        ]);
        let r = scan_bytes("model.pt", &z, None, Limits::default());
        assert_eq!(r.format, Format::TorchArchive);
        assert_eq!(r.worst(), Some(Severity::Critical));
        assert_eq!(r.findings[0].file, "model.pt:archive/data.pkl");
        assert_eq!(r.findings[0].rule, "pickle.dangerous-import");
    }

    #[test]
    fn formats_are_told_apart() {
        let evil = hex::decode(SYS4).unwrap();
        assert_eq!(detect("x.pkl", &evil), Format::Pickle);
        assert_eq!(detect("weights", &evil), Format::Pickle, "sniffed by PROTO");
        assert_eq!(detect("x.bin", b"\x01\x02"), Format::Unknown);
        assert_eq!(detect("m.onnx", b"\x08\x07"), Format::Onnx);
        assert_eq!(detect("m.h5", keras::HDF5_MAGIC), Format::Hdf5);
        assert_eq!(detect("a/saved_model.pb", b""), Format::SavedModel);
        assert!(Format::Safetensors.loadable() && !Format::Pickle.loadable());
    }

    #[test]
    fn nested_archives_stop_at_the_limit() {
        let evil = hex::decode(SYS4).unwrap();
        let inner = archive::tests::zip(&[("a/data.pkl", "a/data.pkl", &evil)]);
        let middle = archive::tests::zip(&[("inner.zip", "inner.zip", &inner)]);
        let outer = archive::tests::zip(&[("middle.zip", "middle.zip", &middle)]);
        let r = scan_bytes("m.zip", &middle, None, Limits::default());
        assert_eq!(r.worst(), Some(Severity::Critical), "{:?}", r.findings);
        let shallow = Limits {
            max_nesting: 1,
            ..Limits::default()
        };
        let r = scan_bytes("o.zip", &outer, None, shallow);
        assert!(
            r.findings.iter().any(|f| f.rule == "archive.nesting"),
            "{:?}",
            r.findings
        );
    }
}
