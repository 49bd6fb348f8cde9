//! `[pii]`: what happens to personal data in text (BYTES) tensors, per model, on the way in
//! and on the way out, and the keys the `hash` and `encrypt` actions use.
//!
//! Entity and action names are checked where the engine lives (the gate compiles the
//! policies at start and `palisade check` runs the same compilation); here they stay text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Finding;

#[derive(Debug, Clone, PartialEq)]
pub struct Pii {
    /// 32-byte key (64 hex digits) for `hash` pseudonyms.
    pub hash_key: Option<PathBuf>,
    /// 32-byte key (64 hex digits) for `encrypt` (reversible).
    pub encrypt_key: Option<PathBuf>,
    /// Spans scoring below this are not acted on.
    pub min_score: f32,
    /// For models without a table of their own.
    pub default: ModelPii,
    pub models: BTreeMap<String, ModelPii>,
}

/// Actions for one model: `entity → action` (and `default → action`), for input and output
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPii {
    #[serde(default = "redact_all")]
    pub inputs: BTreeMap<String, String>,
    #[serde(default = "redact_all")]
    pub outputs: BTreeMap<String, String>,
}

fn redact_all() -> BTreeMap<String, String> {
    BTreeMap::from([("default".to_string(), "redact".to_string())])
}

impl Default for ModelPii {
    fn default() -> Self {
        ModelPii {
            inputs: redact_all(),
            outputs: redact_all(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPii {
    hash_key: Option<PathBuf>,
    encrypt_key: Option<PathBuf>,
    min_score: Option<f32>,
    default: Option<ModelPii>,
    #[serde(default)]
    models: BTreeMap<String, ModelPii>,
}

impl RawPii {
    pub fn validate(self, base: &Path, findings: &mut Vec<Finding>) -> Result<Pii, Finding> {
        let min_score = self.min_score.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&min_score) {
            return Err(Finding::error(
                "pii.min_score",
                "must be between 0 and 1".into(),
            ));
        }
        let default = self.default.unwrap_or_default();
        let allows_all =
            |t: &BTreeMap<String, String>| t.get("default").map(String::as_str) == Some("allow");
        if allows_all(&default.inputs) || allows_all(&default.outputs) {
            findings.push(Finding::warning(
                "pii.default",
                "models without a [pii.models.<name>] table let personal data through (default = \"allow\"); prefer \"redact\"".into(),
            ));
        }
        for (key, value) in [
            ("pii.hash_key", &self.hash_key),
            ("pii.encrypt_key", &self.encrypt_key),
        ] {
            if let Some(path) = value {
                crate::key_file(key, path)?;
            }
        }
        Ok(Pii {
            hash_key: self.hash_key.map(|p| base.join(p)),
            encrypt_key: self.encrypt_key.map(|p| base.join(p)),
            min_score,
            default,
            models: self.models,
        })
    }
}
