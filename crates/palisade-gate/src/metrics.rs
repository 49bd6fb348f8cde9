//! Prometheus metrics, served on the admin plane only. Labels are bounded: model names
//! appear only once the caller may know the model exists, so callers cannot grow the
//! series count by inventing names.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub plane: &'static str,
    pub action: &'static str,
    pub model: String,
    pub version: String,
    pub status: u16,
    /// `allow` or `deny`.
    pub decision: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub plane: &'static str,
    pub stage: &'static str,
}

/// Slots of [`StageSeries`]: the caller numbers each (plane, stage) pair below this.
pub const STAGE_SLOTS: usize = 32;

/// `stage_duration_seconds`, with each (plane, stage) series looked up in the family once
/// and kept: a call observes one per stage it passed, and a family lookup hashes the labels
/// and takes a lock every time (1% of a served call's CPU in the profile).
pub struct StageSeries {
    family: Family<StageLabels, Histogram>,
    resolved: [std::sync::OnceLock<Histogram>; STAGE_SLOTS],
}

impl StageSeries {
    fn new(family: Family<StageLabels, Histogram>) -> StageSeries {
        StageSeries {
            family,
            resolved: std::array::from_fn(|_| std::sync::OnceLock::new()),
        }
    }

    /// Observe `seconds` on the series of `labels`. `slot` is the caller's number for the
    /// pair, the same for the same labels for the life of the server; out of range, the
    /// family is asked each time.
    pub fn observe(&self, slot: usize, labels: StageLabels, seconds: f64) {
        match self.resolved.get(slot) {
            Some(cell) => cell
                .get_or_init(|| self.family.get_or_create(&labels).clone())
                .observe(seconds),
            None => self.family.get_or_create(&labels).observe(seconds),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// What the caller presented: `api_key`, `jwt`, `mtls`, `none` or `other`.
    pub method: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelEventLabels {
    pub model: String,
    /// `load`, `load_refused`, `unload`, `set_default` or `rollback`.
    pub event: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaneLabels {
    pub plane: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PiiLabels {
    pub model: String,
    /// `input` or `output`.
    pub direction: &'static str,
    /// The entity type (`US_SSN`, `EMAIL_ADDRESS`, ...).
    pub entity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// `rates` or `budgets`.
    pub limit: &'static str,
    /// `deny` or `local`: what the configured fallback did.
    pub fallback: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub auth_failures: Family<AuthLabels, Counter>,
    pub stage_latency: StageSeries,
    pub limit_refusals: Family<ReasonLabels, Counter>,
    pub pii_findings: Family<PiiLabels, Counter>,
    pub model_events: Family<ModelEventLabels, Counter>,
    pub alerts: Family<KindLabels, Counter>,
    pub webhook_deliveries: Family<OutcomeLabels, Counter>,
    pub detector_dropped: Counter<u64, AtomicU64>,
    pub policy_reloads: Family<ReasonLabels, Counter>,
    pub limit_backend_errors: Family<BackendLabels, Counter>,
    pub calls: Family<CallLabels, Counter>,
    pub latency: Family<PlaneLabels, Histogram>,
    pub open_connections: Family<PlaneLabels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    pub rejected_connections: Family<PlaneLabels, Counter>,
    pub tls_handshake_failures: Family<PlaneLabels, Counter>,
    pub models_loaded: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub audit_failures: Counter<u64, AtomicU64>,
    /// From queueing an event to its receipt (with `per_call`, until it is on disk).
    pub audit_append: Histogram,
    pub audit_queue_depth: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Health probes answered (counted here instead of audited one by one).
    pub health_probes: Family<ProbeLabels, Counter>,
    /// Refusals of unauthenticated requests counted into a summary entry, not recorded each.
    pub unaudited_refusals: Counter<u64, AtomicU64>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub plane: &'static str,
    pub probe: &'static str,
}

impl Metrics {
    /// One health probe answered on `plane`.
    pub fn count_probe(&self, plane: &'static str, probe: &'static str) {
        self.health_probes
            .get_or_create(&ProbeLabels { plane, probe })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("palisade");
        let calls = Family::<CallLabels, Counter>::default();
        let latency = Family::<PlaneLabels, Histogram>::new_with_constructor(|| {
            // 50 µs .. ~3.3 s
            Histogram::new(exponential_buckets(0.00005, 2.0, 17))
        });
        let open_connections = Family::default();
        let rejected_connections = Family::default();
        let tls_handshake_failures = Family::default();
        let models_loaded = Gauge::default();
        let audit_failures = Counter::default();
        // 10 µs .. ~330 ms
        let audit_append = Histogram::new(exponential_buckets(0.00001, 2.0, 16));
        let audit_queue_depth = Gauge::default();
        let auth_failures = Family::default();
        let stage_latency = Family::<StageLabels, Histogram>::new_with_constructor(|| {
            // 1 µs .. ~2 s
            Histogram::new(exponential_buckets(0.000001, 2.0, 22))
        });
        let limit_refusals = Family::default();
        let pii_findings = Family::default();
        let model_events = Family::default();
        let alerts = Family::default();
        let webhook_deliveries = Family::default();
        let detector_dropped = Counter::default();
        registry.register(
            "alerts",
            "Alerts raised by the detectors, by kind",
            alerts.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Alert webhook attempts, by outcome (delivered, retried, failed, dropped)",
            webhook_deliveries.clone(),
        );
        registry.register(
            "detector_dropped",
            "Calls the detectors did not see because their queue was full",
            detector_dropped.clone(),
        );
        registry.register(
            "stage_duration_seconds",
            "Time spent in each stage of a call (identify, authorize, limit, inspect, infer, ...)",
            stage_latency.clone(),
        );
        let stage_latency = StageSeries::new(stage_latency);
        registry.register(
            "pii_findings",
            "Personal data found in model text, by model, direction and entity type",
            pii_findings.clone(),
        );
        registry.register(
            "limit_refusals",
            "Calls refused by the limiter, by the limit that refused",
            limit_refusals.clone(),
        );
        registry.register(
            "model_events",
            "Model lifecycle events, by model and event",
            model_events.clone(),
        );
        let policy_reloads = Family::default();
        let limit_backend_errors = Family::default();
        registry.register(
            "auth_failures",
            "Failed authentications, by credential presented and reason",
            auth_failures.clone(),
        );
        registry.register(
            "policy_reloads",
            "Policy reloads, by outcome (ok or invalid)",
            policy_reloads.clone(),
        );
        registry.register(
            "limit_backend_errors",
            "Limiter calls that could not reach the shared backend, by fallback taken",
            limit_backend_errors.clone(),
        );
        registry.register("calls", "Calls served, by outcome", calls.clone());
        registry.register(
            "call_duration_seconds",
            "Time from request to response",
            latency.clone(),
        );
        registry.register(
            "open_connections",
            "Connections being served",
            open_connections.clone(),
        );
        registry.register(
            "rejected_connections",
            "Connections turned away at the connection cap",
            rejected_connections.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            tls_handshake_failures.clone(),
        );
        registry.register(
            "models_loaded",
            "Models currently loaded",
            models_loaded.clone(),
        );
        registry.register(
            "audit_failures",
            "Calls refused because the audit log could not record them",
            audit_failures.clone(),
        );
        registry.register(
            "audit_append_seconds",
            "Time to record a call's audit entry (until on disk with per_call durability)",
            audit_append.clone(),
        );
        registry.register(
            "audit_queue_depth",
            "Audit events queued for the writer, at the last scrape",
            audit_queue_depth.clone(),
        );
        let health_probes = Family::default();
        registry.register(
            "health_probes",
            "Health probes answered, by plane and probe (live, ready); they are not audited",
            health_probes.clone(),
        );
        let unaudited_refusals = Counter::default();
        registry.register(
            "unaudited_refusals",
            "Refusals of unauthenticated requests over a source's audit allowance, counted into per-source summary entries",
            unaudited_refusals.clone(),
        );
        Metrics {
            registry,
            health_probes,
            unaudited_refusals,
            auth_failures,
            stage_latency,
            limit_refusals,
            pii_findings,
            model_events,
            alerts,
            webhook_deliveries,
            detector_dropped,
            policy_reloads,
            limit_backend_errors,
            calls,
            latency,
            open_connections,
            rejected_connections,
            tls_handshake_failures,
            models_loaded,
            audit_failures,
            audit_append,
            audit_queue_depth,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Metrics {
    /// Count a model lifecycle event.
    pub fn model_event(&self, model: &str, event: &'static str) {
        self.model_events
            .get_or_create(&ModelEventLabels {
                model: model.to_string(),
                event,
            })
            .inc();
    }
}
