//! The gate: the whole path of one call, in order. Read this file first.
//!
//! ```text
//! listen ─▶ identify ─▶ authorize ─▶ limit ─▶ inspect ─▶ infer ─▶ harden ─▶ respond
//!                      every call, allowed or refused ──▶ record
//! ```
//!
//! `listen` (TLS, connection cap, header limits) has already run when [`handle`] is called.
//! Each stage is a function in the module named after it, returning its own refusal; this
//! file only composes them, one line per stage, and notes each stage's time on the call.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::context::{Call, Plane, Stage};
use crate::identify::Identities;
use crate::inspect::Signature;
use crate::refusal::Refusal;
use crate::registry::resolve_version;
use crate::respond::{self, Reply};
use crate::routes::{self, AdminRoute, DataRoute, ModelCall};
use crate::state::State;
use crate::{admin, authorize, body, harden, identify, infer, inspect, record};
use palisade_access::principal::Peer;

/// Run one stage: its outcome passes through, its time is noted on the call either way.
macro_rules! stage {
    ($call:ident, $stage:ident => $run:expr) => {{
        let outcome = $run;
        $call.timed(Stage::$stage, outcome)
    }};
}

/// Serve one request on either plane and record it.
pub async fn handle(
    state: Arc<State>,
    plane: Plane,
    client: SocketAddr,
    peer: Peer,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // Health probes are counted, not audited: an orchestrator probing every few seconds
    // must not fill the audit log.
    if let Some(probe) = routes::health_probe(req.method(), req.uri().path()) {
        state.metrics.count_probe(plane.as_str(), probe.as_str());
        return respond::health(probe, state.is_ready()).map(Full::new);
    }
    let mut call = Call::new(plane, client, peer);
    if let Some(traces) = &state.traces {
        call.trace_parent = Some(traces.parent(req.headers()));
    }
    // A request presenting no credential at all is held to a per-source rate.
    if call.peer.is_none() && !req.headers().contains_key(http::header::AUTHORIZATION) {
        if let Err(exceeded) = state.anonymous.admit(client.ip()) {
            let refused = Err(Refusal::TooManyRequests(exceeded));
            return finish(&state, &call, refused).await.map(Full::new);
        }
    }
    let timeout = state.config.limits.request_timeout;
    let path = async {
        match plane {
            Plane::Data => data_plane(&state, &mut call, req).await,
            Plane::Admin => admin_plane(&state, &mut call, req).await,
        }
    };
    let outcome = tokio::time::timeout(timeout, path)
        .await
        .unwrap_or(Err(Refusal::Timeout(timeout)));
    finish(&state, &call, outcome).await.map(Full::new)
}

/// Data plane: health, metadata, inference.
async fn data_plane(
    state: &State,
    call: &mut Call,
    req: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let route = routes::data_route(req.method(), req.uri().path())?;
    call.action = route.action();
    let (target, model_call) = match route {
        DataRoute::Live => return Ok(respond::live()),
        DataRoute::Ready => return Ok(respond::ready(state.is_ready())),
        DataRoute::ServerMetadata => {
            identify(state, call, req.headers()).await?;
            return Ok(respond::server_metadata());
        }
        DataRoute::RepositoryIndex => {
            identify(state, call, req.headers()).await?;
            let policies = state.policies.current();
            let visible = authorize::visible_models(&policies, &state.models, call);
            return Ok(respond::repository_index(&visible));
        }
        DataRoute::Model(target, model_call) => (target, model_call),
    };
    call.requested_model = Some(target.name.chars().take(128).collect());
    let (models, pii, policies) = (&state.models, &state.pii, state.policies.current());
    let (action, infer) = (model_call.action(), model_call == ModelCall::Infer);
    identify(state, call, req.headers()).await?;
    let model =
        stage!(call, Authorize => authorize::model(&policies, models, call, &target, action))?;
    let (version, runtime) = resolve_version(&model, target.version.as_deref())?;
    call.version = Some(version.to_string());
    let _slot = stage!(call, Limit => state.limiter.admit_call(call, &model.name, infer).await)?;
    match model_call {
        ModelCall::Metadata => {
            let asked = target.version.as_deref();
            return Ok(respond::model_metadata(&model, asked, runtime));
        }
        ModelCall::Config => return Ok(respond::model_config(&model, runtime)),
        ModelCall::Ready => return Ok(respond::model_ready(&model, version)),
        ModelCall::Infer => {}
    }
    let max_body = state.config.limits.max_body_bytes;
    let (head, body) = stage!(call, ReadBody => body::read_body(req, max_body).await)?;
    call.note_request(&body, state.capture.is_some());
    let sig = Signature::of(&model.name, runtime, state.decode_limits());
    let (asked, inputs) =
        stage!(call, Inspect => inspect::request(&sig, pii, &head, &body, &mut call.pii))?;
    let outputs =
        stage!(call, Infer => infer::run(&state.pool, &model.name, runtime, inputs).await)?;
    let outputs = stage!(call, Harden => harden::outputs(&sig, pii, outputs, &mut call.pii))?;
    stage!(call, Respond => respond::inference(&model.name, version, &asked, runtime, &outputs))
}

/// Admin plane: keys, model lifecycle, metrics.
async fn admin_plane(
    state: &Arc<State>,
    call: &mut Call,
    req: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let op = match routes::admin_route(req.method(), req.uri().path())? {
        AdminRoute::Live => return Ok(respond::live()),
        AdminRoute::Ready => return Ok(respond::ready(state.is_ready())),
        AdminRoute::Op(op) => op,
    };
    call.action = Some(op.action());
    identify(state, call, req.headers()).await?;
    let policies = state.policies.current();
    stage!(call, Authorize => authorize::admin(&policies, &state.models, call, &op))?;
    stage!(call, Admin => admin::handle(state, call, op, req).await)
}

/// Stage `identify`, between two checks of the detectors' blocks: a blocked source gets no
/// further than its address, a blocked principal no further than its credentials.
async fn identify(state: &State, call: &mut Call, headers: &HeaderMap) -> Result<(), Refusal> {
    state.blocks.refuse(call)?;
    let principal =
        stage!(call, Identify => identify::principal(&Identities::of(state), headers, call).await)?;
    call.principal = Some(principal);
    state.blocks.refuse(call)
}

/// Refuse a connection over the cap: still one recorded call, answered 503.
pub async fn over_capacity(
    state: &State,
    plane: Plane,
    client: SocketAddr,
) -> Response<Full<Bytes>> {
    let call = Call::new(plane, client, None);
    let refusal =
        Refusal::Unavailable("the server is at its connection limit; retry shortly".into());
    finish(state, &call, Err(refusal)).await.map(Full::new)
}

/// Stage `record`, for every call: the reply, or the refusal's answer, once recorded.
async fn finish(state: &State, call: &Call, outcome: Result<Reply, Refusal>) -> Reply {
    match outcome {
        Ok(reply) => record::call(&record::Sinks::of(state), call, reply, None).await,
        Err(refusal) => {
            if let Refusal::Internal(detail) = &refusal {
                let detail = crate::pii::scrub(detail);
                tracing::error!(request_id = %call.id, %detail, "internal error");
            }
            let reply = refusal.clone().into_response();
            record::call(&record::Sinks::of(state), call, reply, Some(&refusal)).await
        }
    }
}
