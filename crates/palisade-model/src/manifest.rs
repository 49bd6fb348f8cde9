//! `<repo>/<model>/model.toml`: who owns the model, how risky it is, and the SHA-256 that
//! each version's file must have.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{valid_name, ModelError};

const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
const MAX_VERSIONS: usize = 1024;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub description: String,
    pub owner: Option<String>,
    /// Free-form risk level (`low`, `medium`, `high`), used by policies.
    pub risk: Option<String>,
    /// Personal-data categories the model handles, used by policies and reports.
    #[serde(default)]
    pub personal_data: Vec<String>,
    /// Version served when a call names none; the highest version otherwise.
    pub default_version: Option<String>,
    /// `"required"`: every version must be sealed (`palisade models seal`).
    pub encryption: Option<String>,
    /// Every version must carry a signature by a trusted key.
    #[serde(default)]
    pub require_signature: bool,
    pub versions: BTreeMap<String, VersionEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VersionEntry {
    /// Lowercase hex SHA-256 of the version's model file.
    pub sha256: String,
    #[serde(default = "default_file")]
    pub file: String,
}

fn default_file() -> String {
    "model.onnx".into()
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, ModelError> {
        let bad = |message: String| ModelError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if len > MAX_MANIFEST_BYTES {
            return Err(bad(format!(
                "{len} bytes, over the {MAX_MANIFEST_BYTES}-byte limit for a manifest"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Manifest::parse(&text).map_err(bad)
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        if m.versions.is_empty() {
            return Err("no [versions.N] table: pin at least one version's sha256".into());
        }
        if m.versions.len() > MAX_VERSIONS {
            return Err(format!(
                "{} versions, over the limit of {MAX_VERSIONS}",
                m.versions.len()
            ));
        }
        for (v, entry) in &m.versions {
            if !valid_name(v) {
                return Err(format!(
                    "version '{v}': use letters, digits, '-', '_' and '.' only"
                ));
            }
            if entry.sha256.len() != 64
                || !entry
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(format!(
                    "versions.{v}.sha256: expected 64 lowercase hex digits"
                ));
            }
            if !valid_name(&entry.file) {
                return Err(format!(
                    "versions.{v}.file: '{}' must be a plain file name inside the version folder",
                    entry.file
                ));
            }
        }
        if let Some(e) = &m.encryption {
            if e != "required" && e != "optional" {
                return Err(format!(
                    "encryption = '{e}': use \"required\" or \"optional\""
                ));
            }
        }
        if let Some(d) = &m.default_version {
            if !m.versions.contains_key(d) {
                return Err(format!("default_version '{d}' is not one of [versions]"));
            }
        }
        Ok(m)
    }

    /// The version a call without one gets.
    pub fn default_version(&self) -> &str {
        match &self.default_version {
            Some(v) => v,
            None => self
                .versions
                .keys()
                .max_by(|a, b| version_order(a, b))
                .map_or("", String::as_str),
        }
    }
}

/// Numeric versions compare as numbers, the rest as text.
pub(crate) fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "9e373796e6cb9a03e607a3f20baed1eec80022358e8fb917e092b76e12abecce";

    #[test]
    fn default_version_is_pinned_or_highest() {
        let m = Manifest::parse(&format!(
            "[versions.2]\nsha256 = \"{PIN}\"\n[versions.10]\nsha256 = \"{PIN}\"\n"
        ))
        .unwrap();
        assert_eq!(m.default_version(), "10");
        let m = Manifest::parse(&format!(
            "default_version = \"2\"\n[versions.2]\nsha256 = \"{PIN}\"\n"
        ))
        .unwrap();
        assert_eq!(m.default_version(), "2");
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let err = Manifest::parse("owner = \"x\"\n").unwrap_err();
        assert!(err.contains("versions"), "{err}");
        let err = Manifest::parse("[versions.1]\nsha256 = \"abc\"\n").unwrap_err();
        assert!(err.contains("versions.1.sha256"), "{err}");
        let err = Manifest::parse(&format!(
            "[versions.1]\nsha256 = \"{PIN}\"\nfile = \"../../etc/passwd\"\n"
        ))
        .unwrap_err();
        assert!(err.contains("versions.1.file"), "{err}");
        let err = Manifest::parse(&format!("colour = 1\n[versions.1]\nsha256 = \"{PIN}\"\n"))
            .unwrap_err();
        assert!(err.contains("line 1") && err.contains("colour"), "{err}");
    }
}
