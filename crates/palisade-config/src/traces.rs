//! `[traces]`: optional OpenTelemetry traces over OTLP/HTTP, one span per call and one per
//! stage. Off unless an endpoint is set.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Finding;

#[derive(Debug, Clone, PartialEq)]
pub struct Traces {
    /// The collector's traces URL, e.g. `https://collector:4318/v1/traces`.
    pub otlp_endpoint: String,
    /// CA to trust for the collector instead of the system roots.
    pub ca: Option<PathBuf>,
    /// Share of calls traced when the caller sent no `traceparent` (0..=1).
    pub sample_ratio: f64,
    pub service_name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTraces {
    otlp_endpoint: Option<String>,
    ca: Option<PathBuf>,
    sample_ratio: Option<f64>,
    service_name: Option<String>,
    #[serde(default)]
    dangerous_plaintext: bool,
}

impl RawTraces {
    pub fn validate(
        self,
        base: &Path,
        findings: &mut Vec<Finding>,
    ) -> Result<Option<Traces>, Finding> {
        let Some(url) = self.otlp_endpoint else {
            return Ok(None);
        };
        let https = url.starts_with("https://");
        let plaintext_allowed = self.dangerous_plaintext && url.starts_with("http://");
        if !(https || plaintext_allowed) {
            return Err(Finding::error(
                "traces.otlp_endpoint",
                format!("{} is not an https:// URL; spans name models and outcomes, so they travel encrypted (dangerous_plaintext = true allows http:// for a local collector)", crate::url_origin(&url)),
            ));
        }
        if !https {
            findings.push(Finding::warning(
                "traces.dangerous_plaintext",
                format!(
                    "DANGER: spans to {} travel unencrypted",
                    crate::url_origin(&url)
                ),
            ));
        }
        let sample_ratio = self.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            return Err(Finding::error(
                "traces.sample_ratio",
                "must be between 0 and 1".into(),
            ));
        }
        Ok(Some(Traces {
            otlp_endpoint: url,
            ca: self.ca.map(|c| base.join(c)),
            sample_ratio,
            service_name: self.service_name.unwrap_or_else(|| "palisade".into()),
        }))
    }
}
