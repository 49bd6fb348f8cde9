//! `<repo>/<model>/model.toml`: who owns the model, how risky it is, and the SHA-256 that
//! each version's file must have.
//!
//! Nobody signs this file by default, and whoever can write the repository can edit it, so
//! its *governance fields* (risk, owner, personal data, signature and encryption
//! requirements) are checked against a fixed vocabulary here and are trusted for decisions
//! only when a trusted signature covers them (their digest, [`Manifest::governance_digest`],
//! is a resource of the version's `model.sig`) or the server's config pins the risk. See
//! [`TrustedRisk`].

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
    /// Risk level, used by policies and `require_signature_for_risk`.
    pub risk: Option<Risk>,
    /// Personal-data categories the model handles ([`PERSONAL_DATA`]), used by policies.
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
    /// Lowercase hex SHA-256 of the version's `selftest.json` (its self-test vectors).
    pub selftest_sha256: Option<String>,
}

fn default_file() -> String {
    "model.onnx".into()
}

/// How much harm a model can do (the EU AI Act's tiers, collapsed to three).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub const ALL: [Risk; 3] = [Risk::Low, Risk::Medium, Risk::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Risk> {
        Risk::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The personal-data categories a manifest may list (GDPR Art. 4 and 9, HIPAA PHI).
pub const PERSONAL_DATA: &[&str] = &[
    "identifiers",
    "contact",
    "financial",
    "health",
    "genetic",
    "biometric",
    "location",
    "demographic",
    "behavioral",
    "children",
    "criminal",
    "special_category",
];
const MAX_OWNER_BYTES: usize = 256;
const MAX_DESCRIPTION_BYTES: usize = 4096;

/// Where a loaded model's risk level comes from, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskSource {
    /// `[models] risk` in the server's config.
    Config,
    /// `model.toml`, whose governance fields every version's trusted signature covers.
    Signature,
    /// `model.toml` alone: nobody vouches for it, so the model is treated as high risk.
    Unverified,
}

impl RiskSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskSource::Config => "config",
            RiskSource::Signature => "signature",
            RiskSource::Unverified => "unverified",
        }
    }
}

/// The risk decisions use: never lower than what a trusted party said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TrustedRisk {
    /// `None`: trusted, and the manifest names no risk ("unspecified" to policies).
    pub level: Option<Risk>,
    pub source: RiskSource,
}

impl TrustedRisk {
    /// The config's pin, else the manifest's risk when a signature covers it, else high.
    pub fn decide(pinned: Option<Risk>, manifest: &Manifest, governance_signed: bool) -> Self {
        match pinned {
            None if governance_signed => TrustedRisk {
                level: manifest.risk,
                source: RiskSource::Signature,
            },
            _ => TrustedRisk::unsigned(pinned),
        }
    }

    /// Without a signature over the manifest: the config's pin, else high.
    pub fn unsigned(pinned: Option<Risk>) -> Self {
        match pinned {
            Some(level) => TrustedRisk {
                level: Some(level),
                source: RiskSource::Config,
            },
            None => TrustedRisk {
                level: Some(Risk::High),
                source: RiskSource::Unverified,
            },
        }
    }

    /// As policies see it: `low`, `medium`, `high` or `unspecified`.
    pub fn as_str(&self) -> &'static str {
        self.level.map_or("unspecified", Risk::as_str)
    }
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
            let Some(start) = e.span().map(|s| s.start).filter(|&s| s <= text.len()) else {
                return e.message().to_string();
            };
            let line = text[..start].matches('\n').count() + 1;
            // Name the key on that line: serde's message alone ("unknown variant `High`")
            // does not say which field it is about.
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && k.len() <= 64);
            match key {
                Some(key) => format!("line {line}, `{key}`: {}", e.message()),
                None => format!("line {line}: {}", e.message()),
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
            let hex64 = |s: &str| {
                s.len() == 64
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            };
            if !hex64(&entry.sha256) {
                return Err(format!(
                    "versions.{v}.sha256: expected 64 lowercase hex digits"
                ));
            }
            if entry.selftest_sha256.as_deref().is_some_and(|s| !hex64(s)) {
                return Err(format!(
                    "versions.{v}.selftest_sha256: expected 64 lowercase hex digits"
                ));
            }
            if !valid_name(&entry.file) {
                return Err(format!(
                    "versions.{v}.file: '{}' must be a plain file name inside the version folder",
                    entry.file
                ));
            }
        }
        m.check_governance()?;
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

    fn check_governance(&self) -> Result<(), String> {
        let printable = |s: &str| !s.chars().any(char::is_control);
        if let Some(owner) = &self.owner {
            if owner.trim().is_empty() || owner.len() > MAX_OWNER_BYTES || !printable(owner) {
                return Err(format!(
                    "owner: name a person or team in at most {MAX_OWNER_BYTES} printable bytes"
                ));
            }
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(format!(
                "description: at most {MAX_DESCRIPTION_BYTES} bytes"
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for category in &self.personal_data {
            if !PERSONAL_DATA.contains(&category.as_str()) {
                return Err(format!(
                    "personal_data: '{}' is not a category; use {}",
                    category.escape_debug(),
                    PERSONAL_DATA.join(", ")
                ));
            }
            if !seen.insert(category) {
                return Err(format!("personal_data: '{category}' is listed twice"));
            }
        }
        Ok(())
    }

    /// SHA-256 (hex) of the governance fields, in a fixed order: what a signature covers
    /// as its `model.toml#governance` resource. Versions, description and the default
    /// version are not governance and may change without re-signing.
    pub fn governance_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut categories = self.personal_data.clone();
        categories.sort();
        let canonical = serde_json::json!({
            "encryption": self.encryption,
            "owner": self.owner,
            "personal_data": categories,
            "require_signature": self.require_signature,
            "risk": self.risk.map(Risk::as_str),
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
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

    #[test]
    fn governance_fields_use_a_fixed_vocabulary() {
        let with =
            |field: &str| Manifest::parse(&format!("{field}\n[versions.1]\nsha256 = \"{PIN}\"\n"));
        for bad in [
            "risk = \"High\"",
            "risk = \"lowww\"",
            "risk = \"\"",
            "risk = 1",
            "owner = \"\"",
            "owner = \"a\\u0000b\"",
            "personal_data = [\"health\", \"health\"]",
            "personal_data = [\"Health\"]",
        ] {
            let err = with(bad).unwrap_err();
            let key = bad.split(' ').next().unwrap();
            assert!(err.contains(key), "{bad}: {err}");
        }
        let m =
            with("risk = \"medium\"\nowner = \"ml\"\npersonal_data = [\"health\", \"contact\"]")
                .unwrap();
        assert_eq!(m.risk, Some(Risk::Medium));
        // The digest moves with every governance field and ignores everything else.
        let base = m.governance_digest();
        let same = with("description = \"x\"\nrisk = \"medium\"\nowner = \"ml\"\npersonal_data = [\"contact\", \"health\"]").unwrap();
        assert_eq!(same.governance_digest(), base);
        for changed in [
            "risk = \"low\"\nowner = \"ml\"\npersonal_data = [\"health\", \"contact\"]",
            "risk = \"medium\"\nowner = \"ml2\"\npersonal_data = [\"health\", \"contact\"]",
            "risk = \"medium\"\nowner = \"ml\"\npersonal_data = [\"health\"]",
            "risk = \"medium\"\nowner = \"ml\"\npersonal_data = [\"health\", \"contact\"]\nrequire_signature = true",
        ] {
            assert_ne!(with(changed).unwrap().governance_digest(), base, "{changed}");
        }
    }

    #[test]
    fn an_unverified_risk_is_high_and_a_pin_wins() {
        let low = Manifest::parse(&format!(
            "risk = \"low\"\n[versions.1]\nsha256 = \"{PIN}\"\n"
        ))
        .unwrap();
        let unverified = TrustedRisk::decide(None, &low, false);
        assert_eq!(
            (unverified.level, unverified.source),
            (Some(Risk::High), RiskSource::Unverified)
        );
        assert_eq!(TrustedRisk::decide(None, &low, true).level, Some(Risk::Low));
        let pinned = TrustedRisk::decide(Some(Risk::Medium), &low, true);
        assert_eq!(
            (pinned.level, pinned.source),
            (Some(Risk::Medium), RiskSource::Config)
        );
    }
}
