//! The call: what every stage learns about one request, passed along instead of headers or
//! globals, and turned into one audit event at the end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_config::Action;
use sha2::Digest;

use crate::pii::PiiFindings;
use palisade_access::principal::{Peer, Principal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Data = 0,
    Admin = 1,
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
    /// The wall-clock time the call arrived: the one clock the stages read (policies'
    /// `context.now`, key expiry, budget days, the audit entry's time), so every decision
    /// about a call is made at the same instant.
    pub at: SystemTime,
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
    /// Each stage the call passed through, in order: (stage, start after `started`, time spent).
    pub stages: Vec<(Stage, Duration, Duration)>,
    /// Where the next stage's time starts: when the previous one ended.
    stage_started: Instant,
    /// The caller's trace context (W3C `traceparent`), read only when traces are exported.
    pub trace_parent: Option<opentelemetry::Context>,
    /// The model the request named, as named (for the detectors: enumeration probes name
    /// models that do not exist), cut to 128 bytes.
    pub requested_model: Option<String>,
    /// The request body, kept only when payload capture is on (it is sealed at record).
    pub captured_request: Option<bytes::Bytes>,
    /// Personal data found in the call's text tensors, by direction and entity type.
    pub pii: PiiFindings,
    /// The key id a failed authentication claimed (ids are not secret; recorded so that an
    /// attempt against one key can be found in the audit log).
    pub attempted_key: Option<String>,
    /// On a model load: what it proved (signatures, sealing, where its risk came from).
    pub loaded: Option<palisade_audit::LoadProof>,
}

impl Call {
    pub fn new(plane: Plane, client: SocketAddr, peer: Peer) -> Call {
        let started = Instant::now();
        Call {
            id: next_request_id(),
            plane,
            client,
            peer,
            started,
            at: SystemTime::now(),
            stage_started: started,
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

    /// Note that `stage` ran from the end of the previous one until now, and pass its
    /// outcome on: the time is noted whether the stage let the call through or refused it.
    pub fn timed<T>(&mut self, stage: Stage, outcome: T) -> T {
        let now = Instant::now();
        let since = self.stage_started;
        self.stages.push((
            stage,
            since.saturating_duration_since(self.started),
            now.saturating_duration_since(since),
        ));
        self.stage_started = now;
        outcome
    }

    /// Keep what the audit entry says about the request body: its digest, and the body
    /// itself when payloads are captured (it is sealed at record).
    pub fn note_request(&mut self, body: &bytes::Bytes, capture: bool) {
        self.request_sha256 = Some(sha2::Sha256::digest(body).into());
        if capture {
            self.captured_request = Some(body.clone());
        }
    }

    /// [`Call::at`] in Unix seconds.
    pub fn unix_secs(&self) -> u64 {
        self.at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
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

/// The stages of the path, as timed on the call, the metrics and the traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Identify,
    Authorize,
    Limit,
    ReadBody,
    Inspect,
    Infer,
    Harden,
    Respond,
    /// An admin-plane operation. Stays the last variant: [`Stage::COUNT`] counts from it.
    Admin,
}

impl Stage {
    /// How many stages there are (`stage as usize` is below it).
    pub const COUNT: usize = Stage::Admin as usize + 1;

    /// The name in `stages_us` of the audit entry, the metric label and the span name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Identify => "identify",
            Stage::Authorize => "authorize",
            Stage::Limit => "limit",
            Stage::ReadBody => "read_body",
            Stage::Inspect => "inspect",
            Stage::Infer => "infer",
            Stage::Harden => "harden",
            Stage::Respond => "respond",
            Stage::Admin => "admin",
        }
    }
}

/// What the `limit` stage decided; recorded in the audit entry's `limit` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitOutcome {
    Admitted,
    /// Refused, with the refusal's audit reason.
    Refused(&'static str),
}

impl LimitOutcome {
    pub fn of<T>(admitted: &Result<T, crate::refusal::Refusal>) -> LimitOutcome {
        match admitted {
            Ok(_) => LimitOutcome::Admitted,
            Err(refusal) => LimitOutcome::Refused(refusal.reason()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LimitOutcome::Admitted => "admitted",
            LimitOutcome::Refused(reason) => reason,
        }
    }
}
