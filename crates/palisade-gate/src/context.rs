//! The call: what every stage learns about one request, passed along instead of headers or
//! globals, and turned into one audit event at the end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use palisade_config::Action;

use crate::principal::{Peer, Principal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Data,
    Admin,
}

impl Plane {
    pub fn as_str(self) -> &'static str {
        match self {
            Plane::Data => "data",
            Plane::Admin => "admin",
        }
    }
}

#[derive(Debug)]
pub struct Call {
    pub id: String,
    pub plane: Plane,
    pub client: SocketAddr,
    /// The verified client certificate of the connection, if any.
    pub peer: Peer,
    pub started: Instant,
    pub principal: Option<Principal>,
    pub action: Option<Action>,
    /// Model name as resolved (only set once the caller may know it exists).
    pub model: Option<String>,
    pub version: Option<String>,
    pub request_sha256: Option<[u8; 32]>,
    /// Ids of the policies that decided the call (empty: denied by default, or undecided).
    pub policies: std::sync::Arc<[String]>,
    /// The limiter's decision, when the call reached the `limit` stage.
    pub limit: Option<LimitOutcome>,
    /// Each stage the call passed through, in order: (name, start after `started`, time spent).
    pub stages: Vec<(&'static str, Duration, Duration)>,
    /// The caller's trace context (W3C `traceparent`), read only when traces are exported.
    pub trace_parent: Option<opentelemetry::Context>,
    /// The model the request named, as named (for the detectors: enumeration probes name
    /// models that do not exist), cut to 128 bytes.
    pub requested_model: Option<String>,
    /// The request body, kept only when payload capture is on (it is sealed at record).
    pub captured_request: Option<bytes::Bytes>,
    /// Personal data found in the call's text tensors, by entity type.
    pub pii: std::collections::BTreeMap<&'static str, u32>,
    /// The key id a failed authentication claimed (ids are not secret; recorded so that an
    /// attempt against one key can be found in the audit log).
    pub attempted_key: Option<String>,
    /// On a model load: what it proved (signatures, sealing, where its risk came from).
    pub loaded: Option<palisade_audit::LoadProof>,
}

impl Call {
    pub fn new(plane: Plane, client: SocketAddr, peer: Peer) -> Call {
        Call {
            id: next_request_id(),
            plane,
            client,
            peer,
            started: Instant::now(),
            principal: None,
            action: None,
            model: None,
            version: None,
            request_sha256: None,
            policies: std::sync::Arc::from(Vec::new()),
            limit: None,
            stages: Vec::with_capacity(8),
            trace_parent: None,
            captured_request: None,
            pii: Default::default(),
            requested_model: None,
            attempted_key: None,
            loaded: None,
        }
    }

    /// Note that `stage` ran from `since` until now; returns now, where the next stage starts.
    pub fn timed(&mut self, stage: &'static str, since: Instant) -> Instant {
        let now = Instant::now();
        self.stages.push((
            stage,
            since.saturating_duration_since(self.started),
            now - since,
        ));
        now
    }

    /// `name@version`, or `name` before a version is resolved.
    pub fn model_ref(&self) -> Option<String> {
        match (&self.model, &self.version) {
            (Some(m), Some(v)) => Some(format!("{m}@{v}")),
            (Some(m), None) => Some(m.clone()),
            _ => None,
        }
    }
}

/// Request ids: a random per-process prefix and a counter. Unique across restarts without a
/// syscall per call.
pub(crate) fn next_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 6];
        let _ = getrandom::fill(&mut b);
        hex::encode(b)
    });
    format!("{prefix}-{:08x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// What the `limit` stage decided; recorded in the audit entry's `limit` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitOutcome {
    Admitted,
    /// Refused, with the refusal's audit reason.
    Refused(&'static str),
}

impl LimitOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitOutcome::Admitted => "admitted",
            LimitOutcome::Refused(reason) => reason,
        }
    }
}
