//! `[detect]`: the detectors watching the stream of calls, and where their alerts go.
//!
//! Every threshold has a default meant for a production service; the detectors are on by
//! default (they only read events), automatic blocking is off by default (it refuses calls).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{parse_duration, Finding};

#[derive(Debug, Clone, PartialEq)]
pub struct Detect {
    pub enabled: bool,
    /// Width of the buckets call rates are counted in.
    pub bucket: Duration,
    /// Per-principal call rate: alert when a bucket's count is this many standard deviations
    /// above the principal's EWMA baseline ...
    pub rate_z_threshold: f64,
    /// ... and at least this many calls (a quiet principal doubling from 2 to 4 is not news) ...
    pub rate_min_calls: u64,
    /// ... once the baseline has seen this many buckets.
    pub rate_warmup_buckets: u32,
    /// Weight of the newest bucket in the EWMA baselines (0..1).
    pub ewma_alpha: f64,
    /// Failed authentications from one source within `auth_failure_window` that raise an alert.
    pub auth_failure_threshold: u32,
    pub auth_failure_window: Duration,
    /// Refused calls (all callers) per bucket, as a z-score over their baseline, with a floor.
    pub refusal_z_threshold: f64,
    pub refusal_min: u64,
    /// Distinct models one caller touches within `enumeration_window` that raise an alert.
    pub enumeration_models: u32,
    pub enumeration_window: Duration,
    /// Alert when a principal with this many calls behind it calls from a network (/24, /48)
    /// it never used; 0 turns the detector off.
    pub new_network_after_calls: u64,
    /// The same alert (kind, subject) is raised at most once per this long.
    pub alert_cooldown: Duration,
    /// Block the principal (or source) of a brute-force, enumeration or rate alert for
    /// `block_for`. Off by default: it refuses calls on a statistical guess.
    pub auto_block: bool,
    pub block_for: Duration,
    pub webhooks: Vec<Webhook>,
    /// Alerts waiting for webhook delivery; past it the oldest are dropped (and counted).
    pub webhook_queue: usize,
    pub webhook_max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    /// File holding the HMAC-SHA256 key the body is signed with (at least 32 bytes).
    pub secret_file: PathBuf,
    /// CA to trust for this endpoint instead of the system roots.
    pub ca: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDetect {
    enabled: bool,
    bucket: String,
    rate_z_threshold: f64,
    rate_min_calls: u64,
    rate_warmup_buckets: u32,
    ewma_alpha: f64,
    auth_failure_threshold: u32,
    auth_failure_window: String,
    refusal_z_threshold: f64,
    refusal_min: u64,
    enumeration_models: u32,
    enumeration_window: String,
    new_network_after_calls: u64,
    alert_cooldown: String,
    auto_block: bool,
    block_for: String,
    webhooks: Vec<RawWebhook>,
    webhook_queue: usize,
    webhook_max_attempts: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: String,
    secret_file: PathBuf,
    ca: Option<PathBuf>,
    #[serde(default)]
    dangerous_plaintext: bool,
}

impl Default for RawDetect {
    fn default() -> Self {
        RawDetect {
            enabled: true,
            bucket: "10s".into(),
            rate_z_threshold: 6.0,
            rate_min_calls: 100,
            rate_warmup_buckets: 12,
            ewma_alpha: 0.1,
            auth_failure_threshold: 20,
            auth_failure_window: "60s".into(),
            refusal_z_threshold: 6.0,
            refusal_min: 50,
            enumeration_models: 10,
            enumeration_window: "60s".into(),
            new_network_after_calls: 100,
            alert_cooldown: "5m".into(),
            auto_block: false,
            block_for: "15m".into(),
            webhooks: Vec::new(),
            webhook_queue: 1000,
            webhook_max_attempts: 6,
        }
    }
}

impl RawDetect {
    pub fn validate(self, base: &Path, findings: &mut Vec<Finding>) -> Result<Detect, Finding> {
        let d = |key: &str, v: &str| parse_duration(&format!("detect.{key}"), v);
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(Finding::error(
                    &format!("detect.{key}"),
                    "must be a number above 0".into(),
                ))
            }
        };
        let bucket = d("bucket", &self.bucket)?;
        if bucket < Duration::from_secs(1) {
            return Err(Finding::error(
                "detect.bucket",
                "must be at least 1s".into(),
            ));
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha < 1.0) {
            return Err(Finding::error(
                "detect.ewma_alpha",
                "must be between 0 and 1 (exclusive); 0.1 weighs the last ~10 buckets".into(),
            ));
        }
        if self.auth_failure_threshold == 0 || self.enumeration_models < 2 {
            return Err(Finding::error(
                "detect.auth_failure_threshold",
                "auth_failure_threshold must be at least 1 and enumeration_models at least 2"
                    .into(),
            ));
        }
        if self.webhook_queue == 0 || self.webhook_max_attempts == 0 {
            return Err(Finding::error(
                "detect.webhook_queue",
                "webhook_queue and webhook_max_attempts must be at least 1".into(),
            ));
        }
        let mut webhooks = Vec::new();
        for (i, w) in self.webhooks.into_iter().enumerate() {
            crate::key_file(&format!("detect.webhooks[{i}].secret_file"), &w.secret_file)?;
            let key = format!("detect.webhooks[{i}].url");
            let https = w.url.starts_with("https://");
            let allowed_plaintext = w.dangerous_plaintext && w.url.starts_with("http://");
            if !(https || allowed_plaintext) {
                return Err(Finding::error(
                    &key,
                    format!("{} is not an https:// URL; alerts name principals and sources, so they travel encrypted (dangerous_plaintext = true allows http:// for a local receiver)", crate::url_origin(&w.url)),
                ));
            }
            if !https {
                findings.push(Finding::warning(
                    &format!("detect.webhooks[{i}].dangerous_plaintext"),
                    format!(
                        "DANGER: alerts to {} travel unencrypted",
                        crate::url_origin(&w.url)
                    ),
                ));
            }
            webhooks.push(Webhook {
                url: w.url,
                secret_file: base.join(w.secret_file),
                ca: w.ca.map(|c| base.join(c)),
            });
        }
        let block_for = d("block_for", &self.block_for)?;
        if self.auto_block {
            findings.push(Finding::warning(
                "detect.auto_block",
                format!("callers behind a brute-force, enumeration or rate alert are refused for {}; a false alarm blocks a legitimate caller", self.block_for),
            ));
        }
        Ok(Detect {
            enabled: self.enabled,
            bucket,
            rate_z_threshold: positive("rate_z_threshold", self.rate_z_threshold)?,
            rate_min_calls: self.rate_min_calls,
            rate_warmup_buckets: self.rate_warmup_buckets,
            ewma_alpha: self.ewma_alpha,
            auth_failure_threshold: self.auth_failure_threshold,
            auth_failure_window: d("auth_failure_window", &self.auth_failure_window)?,
            refusal_z_threshold: positive("refusal_z_threshold", self.refusal_z_threshold)?,
            refusal_min: self.refusal_min,
            enumeration_models: self.enumeration_models,
            enumeration_window: d("enumeration_window", &self.enumeration_window)?,
            new_network_after_calls: self.new_network_after_calls,
            alert_cooldown: d("alert_cooldown", &self.alert_cooldown)?,
            auto_block: self.auto_block,
            block_for,
            webhooks,
            webhook_queue: self.webhook_queue,
            webhook_max_attempts: self.webhook_max_attempts,
        })
    }
}
