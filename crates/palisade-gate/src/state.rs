//! What every call can reach: the config, the stores, the audit sink and the metrics.

use std::sync::Arc;

use palisade_audit::AuditLog;
use palisade_config::Config;
use palisade_model::v2::DecodeLimits;

use crate::auth_backoff::AuthBackoff;
use crate::limit::Limiter;
use crate::metrics::Metrics;
use crate::registry::Registry;
use palisade_access::jwt::JwtVerifier;
use palisade_access::keys::KeyStore;
use palisade_access::policy::PolicyStore;

pub struct State {
    pub config: Config,
    pub keys: KeyStore,
    pub jwt: Arc<JwtVerifier>,
    pub policies: PolicyStore,
    pub auth_backoff: AuthBackoff,
    /// Requests without any credential: per-source rate and audit allowance.
    pub anonymous: crate::anonymous::Anonymous,
    pub models: Registry,
    pub limiter: Limiter,
    pub audit: Arc<AuditLog>,
    /// Seals captured bodies into audit entries; `None` unless `[audit] capture_payloads`.
    pub capture: Option<palisade_audit::capture::PayloadSealer>,
    pub metrics: Metrics,
    /// The detectors' inbox.
    pub detector: crate::detect::DetectorHandle,
    /// Temporary blocks set by `auto_block` (shared with the detectors' alerting).
    pub blocks: Arc<crate::detect::block::Blocks>,
    /// OpenTelemetry export, when `[traces]` is configured.
    pub traces: Option<crate::traces::Traces>,
    /// PII policies for model text, compiled from `[pii]`.
    pub pii: crate::pii::PiiGuard,
    /// Where slow inference runs (`[models.pool]`).
    pub pool: crate::pool::InferencePool,
}

impl State {
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_tensor_elements: self.config.limits.max_tensor_elements,
            max_json_depth: self.config.limits.max_json_depth,
        }
    }

    /// Ready to serve: the audit log is writable (nothing is served unrecorded).
    pub fn is_ready(&self) -> bool {
        self.audit.healthy()
    }
}
