//! `[models]`: where models live, which load at start, and what a version must prove before
//! it loads (a trusted signature, encryption at rest).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use std::time::Duration;

use crate::{parse_duration, Finding};

#[derive(Debug, Clone)]
pub struct Models {
    pub repository: PathBuf,
    /// Names (or globs) of models loaded at start; the rest wait for an admin `load`.
    pub load: Vec<String>,
    pub max_model_bytes: u64,
    /// Key-encryption key for sealed models: `file:PATH` (resolved) or `env:NAME`.
    pub kek: Option<String>,
    /// Public keys (PEM files) whose signatures are trusted.
    pub trusted_keys: Vec<PathBuf>,
    pub require_signature: bool,
    /// Risk levels whose models must be signed: `low`, `medium`, `high`.
    pub require_signature_for_risk: Vec<String>,
    /// `[models] risk`: model name → risk level, trusted over any `model.toml`.
    pub risk_pins: BTreeMap<String, String>,
    /// Models that must be signed.
    pub require_signature_for: Vec<String>,
    /// Every model must be sealed.
    pub require_encryption: bool,
    /// Models that must be sealed.
    pub require_encryption_for: Vec<String>,
    /// Scanner findings at or above this refuse a load: `medium`, `high` or `critical`.
    pub refuse_findings_at: String,
    /// Where slow inference runs: `[models.pool]`.
    pub pool: Pool,
}

/// `[models.pool]`: inference whose measured cost is above `offload_above` runs on these
/// threads, off the async workers, so a slow model cannot stall the server's other calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Calls running at once on the pool (default: the machine's cores).
    pub threads: usize,
    /// Calls waiting for a thread, all models together; 503 + Retry-After past it.
    pub queue: usize,
    /// Calls of one model on the pool at once, running or waiting; 503 + Retry-After past it
    /// (default: half of threads + queue, so no model takes the whole pool).
    pub per_model: usize,
    /// A call whose estimated cost (measured per model at load) is above this is offloaded.
    pub offload_above: Duration,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    threads: Option<usize>,
    queue: Option<usize>,
    per_model: Option<usize>,
    offload_above: Option<String>,
}

impl RawPool {
    fn validate(self) -> Result<Pool, Finding> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = self.threads.unwrap_or(cores);
        if !(1..=1024).contains(&threads) {
            return Err(Finding::error(
                "models.pool.threads",
                format!("{threads} must be 1 to 1024"),
            ));
        }
        let queue = self.queue.unwrap_or(64);
        if queue > 1 << 16 {
            return Err(Finding::error(
                "models.pool.queue",
                format!("{queue} is above 65536"),
            ));
        }
        let per_model = self.per_model.unwrap_or(((threads + queue) / 2).max(1));
        if per_model == 0 || per_model > threads + queue {
            return Err(Finding::error(
                "models.pool.per_model",
                format!(
                    "{per_model} must be 1 to threads + queue ({})",
                    threads + queue
                ),
            ));
        }
        let offload_above = parse_duration(
            "models.pool.offload_above",
            self.offload_above.as_deref().unwrap_or("1ms"),
        )?;
        Ok(Pool {
            threads,
            queue,
            per_model,
            offload_above,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModels {
    repository: PathBuf,
    #[serde(default = "all_models")]
    load: Vec<String>,
    #[serde(default = "default_max_model_bytes")]
    max_model_bytes: u64,
    kek: Option<String>,
    #[serde(default)]
    trusted_keys: Vec<PathBuf>,
    #[serde(default)]
    require_signature: bool,
    #[serde(default)]
    require_signature_for_risk: Vec<String>,
    #[serde(default)]
    require_signature_for: Vec<String>,
    #[serde(default)]
    risk: BTreeMap<String, String>,
    #[serde(default = "optional")]
    encryption: String,
    #[serde(default)]
    encryption_required_for: Vec<String>,
    #[serde(default = "high")]
    refuse_findings_at: String,
    #[serde(default)]
    pool: RawPool,
}

/// The risk levels a model may have; the same vocabulary as `palisade_model::Risk`
/// (palisade-gate's tests check that they agree).
pub const RISK_LEVELS: [&str; 3] = ["low", "medium", "high"];

fn all_models() -> Vec<String> {
    vec!["*".into()]
}

fn default_max_model_bytes() -> u64 {
    1 << 30
}

fn optional() -> String {
    "optional".into()
}

fn high() -> String {
    "high".into()
}

impl RawModels {
    pub fn validate(self, base: &Path, findings: &mut Vec<Finding>) -> Result<Models, Finding> {
        if self.max_model_bytes == 0 {
            return Err(Finding::error(
                "models.max_model_bytes",
                "must be above 0".into(),
            ));
        }
        let kek = match self.kek {
            None => None,
            Some(spec) => Some(if let Some(path) = spec.strip_prefix("file:") {
                format!("file:{}", base.join(path).display())
            } else if spec.starts_with("env:") && spec.len() > 4 {
                spec
            } else {
                // Never echoed: the likeliest mistake is the key itself pasted here.
                return Err(Finding::error(
                    "models.kek",
                    "is not a key source (its value is not repeated here, in case it is the key itself): use \"file:PATH\" (a file of 64 hex digits; `palisade models keygen --kek PATH` makes one) or \"env:NAME\"; never write the key into the config".into(),
                ));
            }),
        };
        let require_encryption = match self.encryption.as_str() {
            "optional" => false,
            "required" => true,
            other => {
                return Err(Finding::error(
                    "models.encryption",
                    format!("'{other}' is not \"optional\" or \"required\""),
                ))
            }
        };
        if !matches!(
            self.refuse_findings_at.as_str(),
            "medium" | "high" | "critical"
        ) {
            return Err(Finding::error(
                "models.refuse_findings_at",
                format!(
                    "'{}' must be \"medium\", \"high\" or \"critical\"",
                    self.refuse_findings_at
                ),
            ));
        }
        if self.refuse_findings_at == "critical" {
            findings.push(Finding::warning(
                "models.refuse_findings_at",
                "models with high-severity scanner findings (network imports, Lambda layers, file-system ops) will load; keep \"high\"".into(),
            ));
        }
        for level in &self.require_signature_for_risk {
            if !RISK_LEVELS.contains(&level.as_str()) {
                return Err(Finding::error(
                    "models.require_signature_for_risk",
                    format!(
                        "'{}' is not a risk level; use \"low\", \"medium\" or \"high\"",
                        level.escape_debug()
                    ),
                ));
            }
        }
        for (model, level) in &self.risk {
            if !RISK_LEVELS.contains(&level.as_str()) {
                return Err(Finding::error(
                    &format!("models.risk.{model}"),
                    format!(
                        "'{}' is not a risk level; use \"low\", \"medium\" or \"high\"",
                        level.escape_debug()
                    ),
                ));
            }
        }
        let any_signature_rule = self.require_signature
            || !self.require_signature_for_risk.is_empty()
            || !self.require_signature_for.is_empty();
        if any_signature_rule && self.trusted_keys.is_empty() {
            return Err(Finding::error(
                "models.trusted_keys",
                "signatures are required but no key is trusted; list the signers' public keys (PEM) in models.trusted_keys".into(),
            ));
        }
        if !any_signature_rule {
            findings.push(Finding::warning(
                "models.require_signature",
                "unsigned models load; set require_signature = true (or require_signature_for_risk) and list trusted_keys".into(),
            ));
        }
        let sealing_required = require_encryption || !self.encryption_required_for.is_empty();
        if sealing_required && kek.is_none() {
            return Err(Finding::error(
                "models.kek",
                "encryption is required but no key-encryption key is configured; set models.kek"
                    .into(),
            ));
        }
        Ok(Models {
            repository: base.join(self.repository),
            load: self.load,
            max_model_bytes: self.max_model_bytes,
            kek,
            trusted_keys: self
                .trusted_keys
                .into_iter()
                .map(|p| base.join(p))
                .collect(),
            require_signature: self.require_signature,
            require_signature_for_risk: self.require_signature_for_risk,
            risk_pins: self.risk,
            require_signature_for: self.require_signature_for,
            require_encryption,
            require_encryption_for: self.encryption_required_for,
            refuse_findings_at: self.refuse_findings_at,
            pool: self.pool.validate()?,
        })
    }
}
