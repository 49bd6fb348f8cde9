//! Stage `record`: one audit event and one metrics update per call, allowed or refused.
//! If the event cannot be recorded the call fails (503): nothing is served unrecorded.

use palisade_audit::capture::PayloadSealer;
use palisade_audit::{AuditEvent, AuditLog};
use sha2::{Digest, Sha256};

use crate::anonymous::Anonymous;
use crate::detect::DetectorHandle;
use crate::metrics::Metrics;
use crate::traces::Traces;

use crate::context::{Call, LimitOutcome, Stage};
use crate::detect::Observation;
use crate::metrics::{CallLabels, PiiLabels, PlaneLabels, ReasonLabels, StageLabels};
use crate::refusal::Refusal;
use crate::respond::Reply;
use crate::state::State;

// Every (plane, stage) pair has a slot of its own in the stage series.
const _: () = assert!(2 * Stage::COUNT <= crate::metrics::STAGE_SLOTS);

/// The response header that names the call's audit entry (a `const`: parsing a header name
/// from a `&str` on every call showed in the profile).
const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Where a call is recorded: what the stage uses of the server's state, and nothing else.
pub struct Sinks<'a> {
    pub audit: &'a AuditLog,
    /// Seals captured bodies into the entry; `None` unless `[audit] capture_payloads`.
    pub capture: Option<&'a PayloadSealer>,
    pub metrics: &'a Metrics,
    pub detector: &'a DetectorHandle,
    pub traces: Option<&'a Traces>,
    /// Which unauthenticated refusals are recorded one by one (see `anonymous`).
    pub anonymous: &'a Anonymous,
}

impl<'a> Sinks<'a> {
    pub fn of(state: &'a State) -> Sinks<'a> {
        Sinks {
            audit: &state.audit,
            capture: state.capture.as_ref(),
            metrics: &state.metrics,
            detector: &state.detector,
            traces: state.traces.as_ref(),
            anonymous: &state.anonymous,
        }
    }
}

/// Record the call and hand back the reply to send (a 503 instead if recording failed).
pub async fn call(
    state: &Sinks<'_>,
    call: &Call,
    mut reply: Reply,
    refusal: Option<&Refusal>,
) -> Reply {
    // The id lets a caller (or an auditor holding a response) find the call's audit event.
    if let Ok(id) = http::HeaderValue::from_str(&call.id) {
        reply.headers_mut().insert(REQUEST_ID, id);
    }
    let status = reply.status();
    let latency = call.started.elapsed();
    // The call's own clock: arrival plus the time it took, so the entry's time and its
    // latency agree with each other and with what the stages decided at `call.at`.
    let recorded_at = call.at + latency;
    let reason = refusal.map_or("ok", Refusal::reason);
    count(state, call, refusal, status, latency);
    observe(state, call, refusal, status.as_u16(), recorded_at);
    if let Some(traces) = state.traces {
        traces.export(call, status.as_u16(), reason);
    }
    // An unauthenticated refusal over its source's allowance is counted for a summary
    // entry instead (see `anonymous`): a flood cannot fill the disk, nor make the server
    // build, digest and seal entries it will not write.
    if refusal.is_some()
        && call.principal.is_none()
        && !state.anonymous.audit_each(call.client.ip())
    {
        state.metrics.unaudited_refusals.inc();
        return reply;
    }
    let mut event = entry(call, status.as_u16(), latency, recorded_at, refusal);
    if !reply.body().is_empty() {
        event.response_sha256 = Some(hex_digest(sha256(reply.body())));
    }
    event.payload = state.capture.and_then(|sealer| {
        let request = call.captured_request.as_deref().unwrap_or_default();
        (!request.is_empty() || !reply.body().is_empty())
            .then(|| sealer.seal(&call.id, request, reply.body()))
    });
    // With `per_call` durability the answer waits here until the entry is on disk.
    let appending = std::time::Instant::now();
    let recorded = match state.audit.record(&event) {
        Ok(receipt) => receipt.durable().await,
        Err(e) => Err(e),
    };
    state
        .metrics
        .audit_append
        .observe(appending.elapsed().as_secs_f64());
    match recorded {
        Ok(()) => reply,
        Err(e) => {
            state.metrics.audit_failures.inc();
            tracing::error!(request_id = %call.id, error = %e, "call refused: audit event not recorded");
            Refusal::Unavailable("the audit log is unavailable; the call was not served".into())
                .into_response()
        }
    }
}

/// The call in the metrics: its latency, its outcome, each stage's time, the personal data
/// found, and which limit refused it.
fn count(
    state: &Sinks<'_>,
    call: &Call,
    refusal: Option<&Refusal>,
    status: http::StatusCode,
    latency: std::time::Duration,
) {
    let plane = call.plane.as_str();
    state
        .metrics
        .latency
        .get_or_create(&PlaneLabels { plane })
        .observe(latency.as_secs_f64());
    state
        .metrics
        .calls
        .get_or_create(&CallLabels {
            plane,
            action: call.action.map_or("", |a| a.as_str()),
            model: call.model.clone().unwrap_or_default(),
            version: call.version.clone().unwrap_or_default(),
            status: status.as_u16(),
            decision: decision(refusal),
            reason: refusal.map_or("ok", Refusal::reason),
        })
        .inc();
    for (stage, _, took) in &call.stages {
        let labels = StageLabels {
            plane,
            stage: stage.as_str(),
        };
        let slot = call.plane as usize * Stage::COUNT + *stage as usize;
        state
            .metrics
            .stage_latency
            .observe(slot, labels, took.as_secs_f64());
    }
    for (direction, entity, n) in call.pii.iter() {
        state
            .metrics
            .pii_findings
            .get_or_create(&PiiLabels {
                model: call.model.clone().unwrap_or_default(),
                direction: direction.as_str(),
                entity,
            })
            .inc_by(u64::from(n));
    }
    if let (Some(LimitOutcome::Refused(reason)), Some(_)) = (call.limit, refusal) {
        state
            .metrics
            .limit_refusals
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }
}

/// An event that no request caused (a policy reload by signal, a block by the detector):
/// recorded like a call, with `principal` the system part that acted and `subject` what it
/// acted on.
pub fn system_event(
    state: &State,
    principal: &str,
    action: &str,
    subject: Option<&str>,
    outcome: Result<(), &str>,
) {
    system_event_to(&state.audit, principal, action, subject, outcome, None);
}

/// [`system_event`] before the server state exists (models refused at start).
pub fn system_event_to(
    audit: &palisade_audit::AuditLog,
    principal: &str,
    action: &str,
    subject: Option<&str>,
    outcome: Result<(), &str>,
    loaded: Option<palisade_audit::LoadProof>,
) {
    let mut event = AuditEvent::system(
        format!("system-{}", crate::context::next_request_id()),
        principal,
        action,
        subject,
        outcome,
    );
    event.loaded = loaded;
    // Nobody waits on a system event; the writer syncs it with the next batch or checkpoint.
    if let Err(e) = audit.record(&event).map(drop) {
        tracing::error!(error = %e, action, "system event not recorded in the audit log");
    }
}

/// A summary entry: `count` refusals of `action` from `subject`, counted, not recorded each.
pub fn summary_event(state: &State, action: &str, subject: &str, count: u64) {
    let id = format!("system-{}", crate::context::next_request_id());
    let event = AuditEvent::summary(id, action, subject, count);
    if let Err(e) = state.audit.record(&event).map(drop) {
        tracing::error!(error = %e, action, "summary not recorded in the audit log");
    }
}

/// The call's audit entry, but for what the reply adds (its digest, the sealed payload).
/// Fixed names (plane, action, decision, reason, stages) are borrowed, not copied.
fn entry(
    call: &Call,
    status: u16,
    latency: std::time::Duration,
    recorded_at: std::time::SystemTime,
    refusal: Option<&Refusal>,
) -> AuditEvent {
    AuditEvent {
        time: humantime::format_rfc3339_millis(recorded_at).to_string(),
        request_id: call.id.clone(),
        plane: call.plane.as_str().into(),
        client: call.client.to_string(),
        principal: call.principal.as_ref().map(|p| p.id.clone()),
        auth: call.principal.as_ref().map(|p| p.method.as_str().into()),
        action: call.action.map(|a| a.as_str().into()),
        model: call.model_ref(),
        decision: decision(refusal).into(),
        reason: refusal.map_or("ok", Refusal::reason).into(),
        policies: call.policies.to_vec(),
        limit: call.limit.map(|l| l.as_str().into()),
        status,
        latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        stages_us: call
            .stages
            .iter()
            .map(|(stage, _, took)| {
                let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                (stage.as_str().into(), us)
            })
            .collect(),
        request_sha256: call.request_sha256.map(hex_digest),
        response_sha256: None,
        subject: call.attempted_key.as_ref().map(|k| format!("key:{k}")),
        pii: call.pii.by_entity(),
        payload: None,
        loaded: call.loaded.clone(),
        suppressed: None,
    }
}

/// `allow` for a served call, `deny` for a refused one.
fn decision(refusal: Option<&Refusal>) -> &'static str {
    match refusal {
        None => "allow",
        Some(_) => "deny",
    }
}

/// Hand the call to the detectors (never waits; a full queue drops the observation).
fn observe(
    state: &Sinks<'_>,
    call: &Call,
    refusal: Option<&Refusal>,
    status: u16,
    at: std::time::SystemTime,
) {
    let observation = Observation {
        at_ms: at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        source: call.client.ip(),
        principal: call.principal.as_ref().map(|p| p.id.clone()),
        model: call.requested_model.clone(),
        allowed: refusal.is_none(),
        auth_failed: status == 401 || refusal.is_some_and(Refusal::is_auth_blocked),
    };
    if !state.detector.observe(observation) {
        state.metrics.detector_dropped.inc();
    }
}

/// Lowercase hex of a digest. `hex::encode` goes through a char iterator; on the hot path
/// the table lookup into a stack buffer costs a tenth of it.
fn hex_digest(digest: [u8; 32]) -> String {
    let mut out = [0u8; 64];
    match hex::encode_to_slice(digest, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => hex::encode(digest),
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use palisade_audit::note::SignerKey;
    use palisade_audit::{Durability, WriterOptions};
    use palisade_config::rates::Rate;
    use palisade_config::AnonymousLimits;

    use super::*;
    use crate::context::{Plane, Stage};

    fn log(dir: &std::path::Path) -> AuditLog {
        let key = SignerKey::generate("test.palisade/audit").unwrap();
        let options = WriterOptions {
            durability: Durability::PerCall,
            ..WriterOptions::default()
        };
        AuditLog::open(dir, key, options).unwrap().0
    }

    fn entries(dir: &std::path::Path) -> Vec<serde_json::Value> {
        let segments = dir.join(palisade_audit::SEGMENTS_DIR);
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(segments).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                for line in std::fs::read_to_string(path).unwrap().lines() {
                    lines.push(serde_json::from_str(line).unwrap());
                }
            }
        }
        lines
    }

    fn sinks<'a>(
        audit: &'a AuditLog,
        metrics: &'a Metrics,
        detector: &'a DetectorHandle,
        anonymous: &'a Anonymous,
    ) -> Sinks<'a> {
        Sinks {
            audit,
            capture: None,
            metrics,
            detector,
            traces: None,
            anonymous,
        }
    }

    fn anonymous() -> Anonymous {
        Anonymous::new(&AnonymousLimits {
            rate: Rate {
                count: 10,
                period: Duration::from_secs(60),
            },
            audited_per_minute: 10,
        })
    }

    #[tokio::test]
    async fn every_call_leaves_one_entry_and_its_id_on_the_reply() {
        let tmp = tempfile::tempdir().unwrap();
        let audit = log(tmp.path());
        let (metrics, detector, anonymous) =
            (Metrics::default(), DetectorHandle::off(), anonymous());
        let sinks = sinks(&audit, &metrics, &detector, &anonymous);
        let mut allowed = Call::new(Plane::Data, "192.0.2.1:4000".parse().unwrap(), None);
        allowed.timed(Stage::Identify, ());
        let reply = http::Response::new(Bytes::from_static(b"{}"));
        let reply = call(&sinks, &allowed, reply, None).await;
        assert_eq!(reply.headers()["x-request-id"], allowed.id.as_str());
        let refused = Call::new(Plane::Admin, "192.0.2.2:4000".parse().unwrap(), None);
        let refusal = Refusal::Forbidden("no".into());
        let answer = refusal.clone().into_response();
        let answer = call(&sinks, &refused, answer, Some(&refusal)).await;
        assert_eq!(answer.status(), 403);
        audit.close();
        let entries = entries(tmp.path());
        let find = |id: &str| {
            entries
                .iter()
                .find(|e| e["request_id"] == id)
                .unwrap()
                .clone()
        };
        let first = find(&allowed.id);
        assert_eq!(first["decision"], "allow");
        assert_eq!(first["reason"], "ok");
        assert_eq!(first["stages_us"][0][0], "identify");
        assert_eq!(first["response_sha256"], hex::encode(sha256(b"{}")));
        let second = find(&refused.id);
        assert_eq!(second["decision"], "deny");
        assert_eq!(second["reason"], "forbidden");
        assert_eq!(second["plane"], "admin");
    }

    #[tokio::test]
    async fn a_call_that_cannot_be_recorded_is_not_served() {
        let tmp = tempfile::tempdir().unwrap();
        let audit = log(tmp.path());
        audit.close();
        let (metrics, detector, anonymous) =
            (Metrics::default(), DetectorHandle::off(), anonymous());
        let sinks = sinks(&audit, &metrics, &detector, &anonymous);
        let served = Call::new(Plane::Data, "192.0.2.1:4000".parse().unwrap(), None);
        let reply = http::Response::new(Bytes::from_static(b"{\"outputs\":[]}"));
        let reply = call(&sinks, &served, reply, None).await;
        assert_eq!(reply.status(), 503);
        assert!(!String::from_utf8_lossy(reply.body()).contains("outputs"));
        assert_eq!(metrics.audit_failures.get(), 1);
    }

    #[test]
    fn digests_are_lowercase_hex() {
        let digest = sha256(b"abc");
        assert_eq!(hex_digest(digest), hex::encode(digest));
        assert_eq!(
            hex_digest(digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
