//! Putting a version into a repository: `palisade models add`, `pin` and the checks `seal`
//! shares with them. Each one runs the server's own load steps (scan, then build) on the
//! files first, so nothing lands in a repository, sealed or pinned, that a load would refuse;
//! and each writes the manifest pin itself, so nobody types a SHA-256 by hand.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use palisade_model::scan::Severity;
use palisade_model::selftest::SELFTEST_FILE;
use palisade_model::signing::SIGNATURE_FILE;
use sha2::{Digest, Sha256};

/// The file a version is served from when the manifest names none.
pub const DEFAULT_SERVED: &str = "model.onnx";

/// Largest version read into memory for the checks (the server's own cap is
/// `models.max_model_bytes`).
const MAX_VERSION_BYTES: u64 = 16 << 30;

/// A version's files as a load would see them (the signature aside), checked.
pub struct CheckedVersion {
    pub files: palisade_model::Files,
    /// The ONNX file the server runs.
    pub served: String,
}

impl CheckedVersion {
    /// The served file's SHA-256, for the manifest pin.
    pub fn sha256(&self) -> &str {
        self.files
            .digests
            .get(&self.served)
            .map_or("", String::as_str)
    }

    /// The self-test vectors' SHA-256, when the version has them.
    pub fn selftest_sha256(&self) -> Option<&str> {
        self.files.digests.get(SELFTEST_FILE).map(String::as_str)
    }
}

/// Read SRC (a version folder, read as a load reads one, or one model file) and run the
/// load's scan, build and self-test on it. `selftest`: a reference run (inputs and the
/// outputs the export's runtime gave) to carry as the version's `selftest.json`.
pub fn check(src: &Path, selftest: Option<&Path>) -> Result<CheckedVersion> {
    let meta = std::fs::symlink_metadata(src).with_context(|| src.display().to_string())?;
    let (dir, files) = if meta.is_dir() {
        (src, palisade_model::read_plain(src, MAX_VERSION_BYTES)?)
    } else if meta.is_file() {
        (src.parent().unwrap_or(Path::new(".")), read_one(src)?)
    } else {
        bail!(
            "{}: not a file or a folder (symbolic links are not followed)",
            src.display()
        );
    };
    let mut files = files;
    if let Some(reference) = selftest {
        let bytes = read_one(reference)?
            .bytes
            .into_values()
            .next()
            .unwrap_or_default();
        if files.bytes.get(SELFTEST_FILE).is_some_and(|b| *b != bytes) {
            bail!(
                "{}: already holds a different {SELFTEST_FILE}; remove it or leave out --selftest",
                src.display()
            );
        }
        files
            .digests
            .insert(SELFTEST_FILE.into(), hex::encode(Sha256::digest(&bytes)));
        files.bytes.insert(SELFTEST_FILE.into(), bytes);
    }
    let served = served_file(src, &files.bytes)?;
    palisade_model::build_version(
        dir,
        &served,
        &files.bytes,
        Severity::High,
        &palisade_gate::operators::ONNX_ML,
    )
    .map_err(|e| {
        anyhow::anyhow!("{e}\nthe server would refuse this version, so it was not added")
    })?;
    Ok(CheckedVersion { files, served })
}

/// A single model file as a one-file version.
fn read_one(path: &Path) -> Result<palisade_model::Files> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !palisade_model::valid_name(&name) {
        bail!(
            "{}: file names use letters, digits, '-', '_' and '.' only",
            path.display()
        );
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_VERSION_BYTES + 1).read_to_end(&mut bytes))
        .with_context(|| path.display().to_string())?;
    if bytes.len() as u64 > MAX_VERSION_BYTES {
        bail!("{}: over {MAX_VERSION_BYTES} bytes", path.display());
    }
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok(palisade_model::Files {
        bytes: BTreeMap::from([(name.clone(), bytes)]),
        digests: BTreeMap::from([(name, digest)]),
    })
}

/// `model.onnx`, or the version's only `.onnx` file.
fn served_file(src: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<String> {
    if files.contains_key(DEFAULT_SERVED) {
        return Ok(DEFAULT_SERVED.to_string());
    }
    let onnx: Vec<&String> = files.keys().filter(|n| n.ends_with(".onnx")).collect();
    match onnx.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "{}: no .onnx file; the server serves one ONNX model per version (export it with skl2onnx, torch.onnx or tf2onnx)",
            src.display()
        ),
        many => bail!(
            "{}: several .onnx files ({}); name the one to serve model.onnx",
            src.display(),
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Add `[versions.V] sha256 = ...` (and `file = ...` when it is not `model.onnx`, and
/// `selftest_sha256 = ...` when the version carries self-test vectors) to a manifest, made if
/// missing. An existing pin must match; its self-test pin is added or replaced.
pub fn pin(
    manifest: &Path,
    version: &str,
    served: &str,
    sha256: &str,
    selftest: Option<&str>,
) -> Result<()> {
    let text = match std::fs::read_to_string(manifest) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| manifest.display().to_string()),
    };
    let mut text = text;
    let existing = if text.is_empty() {
        None
    } else {
        let parsed = palisade_model::Manifest::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
        parsed.versions.get(version).cloned()
    };
    match existing {
        Some(entry) if entry.sha256 != sha256 || entry.file != served => bail!(
            "{}: version {version} already pins {} ({}); use a new version",
            manifest.display(),
            entry.file,
            entry.sha256
        ),
        Some(entry) if entry.selftest_sha256.as_deref() == selftest || selftest.is_none() => {
            return Ok(())
        }
        Some(_) => {
            text = with_selftest_pin(&text, version, selftest.unwrap_or_default())
                .with_context(|| manifest.display().to_string())?
        }
        None => {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[versions.\"{version}\"]\nsha256 = \"{sha256}\"\n"
            ));
            if served != DEFAULT_SERVED {
                text.push_str(&format!("file = \"{served}\"\n"));
            }
            if let Some(selftest) = selftest {
                text.push_str(&format!("selftest_sha256 = \"{selftest}\"\n"));
            }
        }
    }
    palisade_model::Manifest::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: the pinned manifest would not parse: {e}",
            manifest.display()
        )
    })?;
    std::fs::write(manifest, text).with_context(|| manifest.display().to_string())?;
    println!(
        "pinned {version} ({served}, sha256 {sha256}{}) in {}",
        selftest.map_or(String::new(), |s| format!("; self-test vectors sha256 {s}")),
        manifest.display()
    );
    Ok(())
}

/// The manifest with `selftest_sha256` set in version `version`'s table (written by `pin`,
/// so its header is one of the forms `pin` and people write).
fn with_selftest_pin(text: &str, version: &str, digest: &str) -> Result<String> {
    let headers = [
        format!("[versions.\"{version}\"]"),
        format!("[versions.'{version}']"),
        format!("[versions.{version}]"),
    ];
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines
        .iter()
        .position(|l| headers.iter().any(|h| l.trim() == h))
    else {
        bail!("cannot find the table of version {version}; add selftest_sha256 = \"{digest}\" to it by hand");
    };
    // The pin goes right after the table's `sha256 = ...` line (or its header).
    let end = lines[at + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| at + 1 + i);
    let after = lines[at + 1..end]
        .iter()
        .position(|l| l.trim_start().starts_with("sha256"))
        .map_or(at, |i| at + 1 + i);
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    for (i, line) in lines.iter().enumerate() {
        let in_table = i > at && i < end;
        if !(in_table && line.trim_start().starts_with("selftest_sha256")) {
            out.push(line.to_string());
        }
        if i == after {
            out.push(format!("selftest_sha256 = \"{digest}\""));
        }
    }
    Ok(out.join("\n") + "\n")
}

/// `models add`: check SRC, copy it into REPO/MODEL/VERSION (a new folder) and pin it.
pub fn add(
    src: &Path,
    repo: &Path,
    model: &str,
    version: &str,
    selftest: Option<&Path>,
) -> Result<()> {
    for (what, name) in [("--model", model), ("--version", version)] {
        if !palisade_model::valid_name(name) {
            bail!("{what} '{name}': use letters, digits, '-', '_' and '.' only");
        }
    }
    let checked = check(src, selftest)?;
    let dst = repo.join(model).join(version);
    if dst.exists() {
        bail!(
            "{}: already exists; add the model as a new version",
            dst.display()
        );
    }
    std::fs::create_dir_all(&dst).with_context(|| dst.display().to_string())?;
    for (name, bytes) in &checked.files.bytes {
        let to = dst.join(name);
        std::fs::write(&to, bytes).with_context(|| to.display().to_string())?;
    }
    let signature = src.join(SIGNATURE_FILE);
    if src.is_dir() && signature.is_file() {
        std::fs::copy(&signature, dst.join(SIGNATURE_FILE))
            .with_context(|| signature.display().to_string())?;
    }
    println!(
        "added {model}@{version}: {} file(s) in {}",
        checked.files.bytes.len(),
        dst.display()
    );
    pin(
        &repo.join(model).join("model.toml"),
        version,
        &checked.served,
        checked.sha256(),
        checked.selftest_sha256(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selftest_pin_goes_after_the_digest_and_replaces_an_old_one() {
        let text = "owner = \"a\"\n\n[versions.\"1\"]\nsha256 = \"x\"\nfile = \"m.onnx\"\n\n[versions.2]\nsha256 = \"y\"\nselftest_sha256 = \"old\"\n";
        let one = with_selftest_pin(text, "1", "d1").unwrap();
        assert!(
            one.contains(
                "[versions.\"1\"]\nsha256 = \"x\"\nselftest_sha256 = \"d1\"\nfile = \"m.onnx\""
            ),
            "{one}"
        );
        let two = with_selftest_pin(&one, "2", "d2").unwrap();
        assert!(
            two.contains("[versions.2]\nsha256 = \"y\"\nselftest_sha256 = \"d2\"\n"),
            "{two}"
        );
        assert!(!two.contains("old"), "{two}");
        assert!(with_selftest_pin(text, "3", "d").is_err());
    }
}
