//! The gate: the whole path of one call, in order. Read this file first.
//!
//! ```text
//! listen ─▶ identify ─▶ authorize ─▶ limit ─▶ inspect ─▶ infer ─▶ harden ─▶ respond
//!                      every call, allowed or refused ──▶ record
//! ```
//!
//! `listen` (TLS, connection cap, header limits) has already run when [`handle`] is called.
//! Each stage is a function in its own module returning its own refusal; this file only
//! composes them. Stages still to come (PII minimization, output hardening) slot in where
//! the brackets are, without reshaping the path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use palisade_model::TrustedRisk;

use crate::context::{Call, LimitOutcome, Plane};
use crate::metrics::{PiiLabels, ProbeLabels};
use crate::pii::Direction;
use crate::policy::ModelResource;
use crate::principal::Peer;
use crate::refusal::Refusal;
use crate::registry::resolve_version;
use crate::respond::{self, Reply};
use crate::routes::{self, AdminRoute, DataRoute, ModelCall};
use crate::state::State;
use crate::{admin, authorize, body, identify, infer, inspect, record};

/// Serve one request on either plane and record it.
pub async fn handle(
    state: Arc<State>,
    plane: Plane,
    client: SocketAddr,
    peer: Peer,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // Health probes (on either plane) are counted, not audited: an orchestrator probing
    // every few seconds must not fill the audit log.
    if let Some(probe) = routes::health_probe(req.method(), req.uri().path()) {
        return health_probe(&state, plane, probe).map(Full::new);
    }
    let mut call = Call::new(plane, client, peer);
    if let Some(traces) = &state.traces {
        call.trace_parent = Some(traces.parent(req.headers()));
    }
    // A request presenting no credential at all is held to a per-source rate.
    let anonymous = call.peer.is_none() && !req.headers().contains_key(http::header::AUTHORIZATION);
    if anonymous {
        if let Err(exceeded) = state.anonymous.admit(client.ip()) {
            return finish(&state, &call, Err(Refusal::TooManyRequests(exceeded)))
                .await
                .map(Full::new);
        }
    }
    let timeout = state.config.limits.request_timeout;
    let path = async {
        match plane {
            Plane::Data => data_plane(&state, &mut call, req).await,
            Plane::Admin => admin_plane(&state, &mut call, req).await,
        }
    };
    let outcome = match tokio::time::timeout(timeout, path).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Refusal::Timeout(timeout)),
    };
    finish(&state, &call, outcome).await.map(Full::new)
}

/// The loaded models this caller may read the metadata of; the others are left out, as a
/// hidden model's 404 leaves it out.
fn repository_index(state: &State, call: &Call) -> Reply {
    let policies = state.policies.current();
    let mut loaded = state.models.loaded();
    loaded.sort_by(|a, b| a.name.cmp(&b.name));
    let visible: Vec<&palisade_model::LoadedModel> = loaded
        .iter()
        .map(|m| m.as_ref())
        .filter(|m| {
            let resource = ModelResource::new(&m.name, None, Some(&m.manifest), &m.risk);
            authorize::may(
                &policies,
                call,
                palisade_config::Action::ReadMetadata,
                &resource,
            )
        })
        .collect();
    respond::repository_index(&visible)
}

fn health_probe(state: &State, plane: Plane, probe: routes::HealthProbe) -> Reply {
    let name = match probe {
        routes::HealthProbe::Live => "live",
        routes::HealthProbe::Ready => "ready",
    };
    state
        .metrics
        .health_probes
        .get_or_create(&ProbeLabels {
            plane: plane.as_str(),
            probe: name,
        })
        .inc();
    match probe {
        routes::HealthProbe::Live => respond::live(),
        routes::HealthProbe::Ready => respond::ready(state.is_ready()),
    }
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

async fn finish(state: &State, call: &Call, outcome: Result<Reply, Refusal>) -> Reply {
    match outcome {
        Ok(reply) => record::call(state, call, reply, None).await,
        Err(refusal) => {
            if let Refusal::Internal(detail) = &refusal {
                let detail = crate::pii::scrub(detail);
                tracing::error!(request_id = %call.id, %detail, "internal error");
            }
            let reply = refusal.clone().into_response();
            record::call(state, call, reply, Some(&refusal)).await
        }
    }
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
            call.principal = Some(identify::principal(state, req.headers(), call).await?);
            return Ok(respond::server_metadata());
        }
        DataRoute::RepositoryIndex => {
            call.principal = Some(identify::principal(state, req.headers(), call).await?);
            refuse_blocked(state, call)?;
            return Ok(repository_index(state, call));
        }
        DataRoute::Model(target, model_call) => (target, model_call),
    };
    call.requested_model = Some(target.name.chars().take(128).collect());

    // Each stage's time is noted whether it lets the call through or refuses it.
    let t = Instant::now();

    // identify (a source blocked by the detectors gets no further)
    refuse_blocked(state, call)?;
    let principal = identify::principal(state, req.headers(), call).await;
    let t = call.timed("identify", t);
    call.principal = Some(principal?);
    refuse_blocked(state, call)?;

    // authorize (a hidden model is answered exactly like a missing one)
    let authorized = (|| {
        let model = state
            .models
            .get(&target.name)
            .ok_or_else(|| Refusal::not_found_model(&target.name, false))?;
        let resource = ModelResource::new(
            &model.name,
            Some(target.version.as_deref().unwrap_or(model.default_version())),
            Some(&model.manifest),
            &model.risk,
        );
        authorize::model_action(
            &state.policies.current(),
            call,
            model_call.action(),
            &resource,
        )?;
        Ok::<_, Refusal>(model)
    })();
    let t = call.timed("authorize", t);
    let model = authorized?;
    call.model = Some(model.name.clone());
    let (version, runtime) = resolve_version(&model, target.version.as_deref())?;
    call.version = Some(version.to_string());

    // limit (held until the reply is built: it carries the concurrency slot)
    let principal_id = call.principal.as_ref().map_or("", |p| p.id.as_str());
    let admitted = state
        .limiter
        .admit(principal_id, &model.name, model_call == ModelCall::Infer)
        .await;
    let t = call.timed("limit", t);
    call.limit = Some(match &admitted {
        Ok(_) => LimitOutcome::Admitted,
        Err(refusal) => LimitOutcome::Refused(refusal.reason()),
    });
    let _admitted = admitted?;

    match model_call {
        ModelCall::Metadata => Ok(respond::model_metadata(
            &model,
            target.version.as_deref(),
            runtime,
        )),
        ModelCall::Config => Ok(respond::model_config(&model, runtime)),
        ModelCall::Ready => Ok(respond::model_ready(&model, version)),
        ModelCall::Infer => {
            let (parts, body) = body::read_body(req, state.config.limits.max_body_bytes).await?;
            let t = call.timed("read_body", t);
            call.request_sha256 = Some(record::sha256(&body));
            if state.capture.is_some() {
                call.captured_request = Some(body.clone());
            }
            // inspect
            let inspected = inspect::infer_request(&parts.headers, &body, state.decode_limits())
                .and_then(|mut request| {
                    let inputs = inspect::bind(&model.name, &mut request, runtime)?;
                    let inputs = minimize(
                        state,
                        call,
                        &model.name,
                        Direction::Input,
                        &runtime.inputs,
                        inputs,
                    )?;
                    Ok((request, inputs))
                });
            let t = call.timed("inspect", t);
            let (request, inputs) = inspected?;
            // infer
            let outputs = infer::run(&state.pool, &model.name, runtime, inputs).await;
            let t = call.timed("infer", t);
            let outputs = outputs?;
            // harden
            let outputs = minimize(
                state,
                call,
                &model.name,
                Direction::Output,
                &runtime.outputs,
                outputs,
            );
            let t = call.timed("harden", t);
            let outputs = outputs?;
            // respond
            let reply = respond::inference(&model.name, version, &request, runtime, &outputs);
            call.timed("respond", t);
            reply
        }
    }
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

    // identify (a source blocked by the detectors gets no further)
    refuse_blocked(state, call)?;
    let t = Instant::now();
    let principal = identify::principal(state, req.headers(), call).await;
    let t = call.timed("identify", t);
    call.principal = Some(principal?);
    refuse_blocked(state, call)?;

    // authorize
    let policies = state.policies.current();
    let authorized = match op.model() {
        Some(model) => {
            call.model = Some(model.to_string());
            let repository = state.models.repository();
            let manifest = repository.manifest(model).ok();
            // Loaded: the risk proved at load. Not loaded: the config's pin, else high.
            let risk = match state.models.get(model) {
                Some(loaded) => loaded.risk,
                None => TrustedRisk::unsigned(repository.policy().risk_pins.get(model).copied()),
            };
            let resource = ModelResource::new(model, None, manifest.as_ref(), &risk);
            authorize::admin_model_action(&policies, call, op.action(), &resource)
        }
        None => authorize::server_action(&policies, call, op.action()),
    };
    let t = call.timed("authorize", t);
    authorized?;

    let reply = admin::handle(state, call, op, req).await;
    call.timed("admin", t);
    reply
}

/// A principal or source blocked by `[detect] auto_block` is refused until the block ends.
fn refuse_blocked(state: &State, call: &Call) -> Result<(), Refusal> {
    if state.blocks.is_empty() {
        return Ok(());
    }
    let by_principal = call
        .principal
        .as_ref()
        .and_then(|p| state.blocks.remaining(&p.id));
    let by_source = || {
        state
            .blocks
            .remaining(&format!("source:{}", call.client.ip()))
    };
    match by_principal.or_else(by_source) {
        Some(left) => Err(Refusal::Blocked(left)),
        None => Ok(()),
    }
}

/// PII minimization of a call's text tensors, counted into the call and the metrics.
fn minimize(
    state: &State,
    call: &mut Call,
    model: &str,
    direction: Direction,
    specs: &[palisade_model::TensorSpec],
    values: palisade_model::TVec<palisade_model::TValue>,
) -> Result<palisade_model::TVec<palisade_model::TValue>, Refusal> {
    let mut counts = std::collections::BTreeMap::new();
    let result = state
        .pii
        .minimize(model, direction, specs, values, &mut counts);
    for (entity, n) in counts {
        *call.pii.entry(entity).or_insert(0) += n;
        state
            .metrics
            .pii_findings
            .get_or_create(&PiiLabels {
                model: model.to_string(),
                direction: direction.as_str(),
                entity,
            })
            .inc_by(u64::from(n));
    }
    result
}
