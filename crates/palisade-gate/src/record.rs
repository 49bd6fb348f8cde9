//! Stage `record`: one audit event and one metrics update per call, allowed or refused.
//! If the event cannot be recorded the call fails (503): nothing is served unrecorded.

use palisade_audit::AuditEvent;
use sha2::{Digest, Sha256};

use crate::context::{Call, LimitOutcome};
use crate::detect::Observation;
use crate::metrics::{CallLabels, PiiLabels, PlaneLabels, ReasonLabels, StageLabels};
use crate::refusal::Refusal;
use crate::respond::Reply;
use crate::state::State;

/// Record the call and hand back the reply to send (a 503 instead if recording failed).
pub async fn call(
    state: &State,
    call: &Call,
    mut reply: Reply,
    refusal: Option<&Refusal>,
) -> Reply {
    // The id lets a caller (or an auditor holding a response) find the call's audit event.
    if let Ok(id) = http::HeaderValue::from_str(&call.id) {
        reply.headers_mut().insert("x-request-id", id);
    }
    let status = reply.status();
    let latency = call.started.elapsed();
    let response_sha256 = (!reply.body().is_empty()).then(|| hex_digest(sha256(reply.body())));
    let event = AuditEvent {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        request_id: call.id.clone(),
        plane: call.plane.as_str().to_string(),
        client: call.client.to_string(),
        principal: call.principal.as_ref().map(|p| p.id.clone()),
        auth: call
            .principal
            .as_ref()
            .map(|p| p.method.as_str().to_string()),
        action: call.action.map(|a| a.as_str().to_string()),
        model: call.model_ref(),
        decision: if refusal.is_none() { "allow" } else { "deny" }.to_string(),
        reason: refusal.map_or("ok", Refusal::reason).to_string(),
        policies: call.policies.to_vec(),
        limit: call.limit.map(|l| l.as_str().to_string()),
        status: status.as_u16(),
        latency_us: latency.as_micros().min(u64::MAX as u128) as u64,
        stages_us: call
            .stages
            .iter()
            .map(|(stage, _, took)| (stage.as_str().to_string(), took.as_micros() as u64))
            .collect(),
        request_sha256: call.request_sha256.map(hex_digest),
        response_sha256,
        subject: call.attempted_key.as_ref().map(|k| format!("key:{k}")),
        pii: call.pii.by_entity(),
        payload: state.capture.as_ref().and_then(|sealer| {
            let request = call.captured_request.as_deref().unwrap_or_default();
            (!request.is_empty() || !reply.body().is_empty())
                .then(|| sealer.seal(&call.id, request, reply.body()))
        }),
        loaded: call.loaded.clone(),
        suppressed: None,
    };
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
            decision: if refusal.is_none() { "allow" } else { "deny" },
            reason: refusal.map_or("ok", Refusal::reason),
        })
        .inc();
    for (stage, _, took) in &call.stages {
        state
            .metrics
            .stage_latency
            .get_or_create(&StageLabels {
                plane,
                stage: stage.as_str(),
            })
            .observe(took.as_secs_f64());
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
    observe(state, call, refusal, status.as_u16());
    if let Some(traces) = &state.traces {
        traces.export(call, status.as_u16(), refusal.map_or("ok", Refusal::reason));
    }
    // An unauthenticated refusal over its source's allowance is counted for a summary
    // entry instead (see `anonymous`): a flood cannot fill the disk.
    if refusal.is_some()
        && call.principal.is_none()
        && !state.anonymous.audit_each(call.client.ip())
    {
        state.metrics.unaudited_refusals.inc();
        return reply;
    }
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
    let event = AuditEvent {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        request_id: format!("system-{}", crate::context::next_request_id()),
        // One count per source over both planes.
        plane: "any".into(),
        client: subject.to_string(),
        principal: Some("system:audit".into()),
        action: Some(action.to_string()),
        decision: "deny".into(),
        reason: "suppressed".into(),
        status: 0,
        subject: Some(subject.to_string()),
        suppressed: Some(count),
        ..AuditEvent::default()
    };
    if let Err(e) = state.audit.record(&event).map(drop) {
        tracing::error!(error = %e, action, "summary not recorded in the audit log");
    }
}

/// Hand the call to the detectors (never waits; a full queue drops the observation).
fn observe(state: &State, call: &Call, refusal: Option<&Refusal>, status: u16) {
    let observation = Observation {
        at_ms: crate::detect::now_ms(),
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
    #[test]
    fn digests_are_lowercase_hex() {
        let digest = super::sha256(b"abc");
        assert_eq!(super::hex_digest(digest), hex::encode(digest));
        assert_eq!(
            super::hex_digest(digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
