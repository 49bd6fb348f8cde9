//! Admin plane handlers, reached only after identify and authorize in `gate.rs`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use palisade_model::ModelError;
use serde::Deserialize;
use serde_json::json;

use crate::context::Call;
use crate::refusal::{bytes_response, json_response, printable, Refusal};
use crate::respond::Reply;
use crate::routes::AdminOp;
use crate::state::State;
use crate::{body, record};
use palisade_access::keys::{self, KeyRecord, KeyStoreError};

/// Largest admin request body (a key request is a few dozen bytes).
const MAX_ADMIN_BODY: usize = 16 * 1024;

pub async fn handle(
    state: &Arc<State>,
    call: &mut Call,
    op: AdminOp,
    req: Request<Incoming>,
) -> Result<Reply, Refusal> {
    match op {
        AdminOp::AuditCheckpoint
        | AdminOp::AuditInclusion
        | AdminOp::AuditConsistency
        | AdminOp::AuditEntries => {
            let raw_query = req.uri().query().map(str::to_string);
            crate::audit_api::handle(state, op, raw_query).await
        }
        AdminOp::Metrics => {
            state
                .metrics
                .audit_queue_depth
                .set(state.audit.queue_depth() as i64);
            Ok(bytes_response(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Bytes::from(state.metrics.encode()),
            ))
        }
        AdminOp::ListModels => list_models(state),
        AdminOp::LoadModel(name) => load_model(state, call, &name).await,
        AdminOp::UnloadModel(name) => {
            if state.models.unload(&name) {
                state
                    .metrics
                    .models_loaded
                    .set(state.models.loaded().len() as i64);
                state.metrics.model_event(&name, "unload");
                tracing::info!(model = %name, principal = ?call.principal.as_ref().map(|p| &p.id), "model unloaded");
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "name": name, "loaded": false }),
                ))
            } else {
                Err(Refusal::not_found_model(&name, false))
            }
        }
        AdminOp::SetDefaultVersion(name) => {
            let (_, body) = body::read_body(req, MAX_ADMIN_BODY).await?;
            call.request_sha256 = Some(record::sha256(&body));
            let wanted: DefaultVersion = serde_json::from_slice(&body).map_err(|e| {
                Refusal::BadRequest(format!("expected {{\"version\": \"...\"}}: {e}"))
            })?;
            let (old, new) = state.models.set_default(&name, &wanted.version)?;
            state.metrics.model_event(&name, "set_default");
            switched(call, &name, &old, &new)
        }
        AdminOp::RollBack(name) => {
            let (old, new) = state.models.roll_back(&name)?;
            state.metrics.model_event(&name, "rollback");
            switched(call, &name, &old, &new)
        }
        AdminOp::ListKeys => {
            let now = call.unix_secs();
            let keys: Vec<_> = state.keys.list().iter().map(|k| key_json(k, now)).collect();
            Ok(json_response(StatusCode::OK, &json!({ "keys": keys })))
        }
        AdminOp::CreateKey => create_key(state, call, req).await,
        AdminOp::ListPolicies => {
            let policies = state.policies.current();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "policies": policies.policy_ids(),
                    "roles": policies.roles().collect::<Vec<_>>(),
                }),
            ))
        }
        AdminOp::ReloadPolicies => {
            let ids = reload_policies(state).map_err(Refusal::Unprocessable)?;
            Ok(json_response(StatusCode::OK, &json!({ "policies": ids })))
        }
        AdminOp::RevokeKey(id) => {
            let now = call.unix_secs();
            let record = state.keys.revoke_at(&id, now).map_err(key_error)?;
            tracing::info!(key = %record.id, "API key revoked");
            Ok(json_response(StatusCode::OK, &key_json(&record, now)))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultVersion {
    version: String,
}

/// A default-version switch took effect: new calls get `new`; calls in flight finish on the
/// version they resolved.
fn switched(call: &mut Call, name: &str, old: &str, new: &str) -> Result<Reply, Refusal> {
    call.version = Some(new.to_string());
    tracing::info!(model = %name, from = %old, to = %new, principal = ?call.principal.as_ref().map(|p| &p.id), "default version switched");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "name": name, "default_version": new, "previous_default": old }),
    ))
}

fn list_models(state: &State) -> Result<Reply, Refusal> {
    let names = state
        .models
        .repository()
        .model_names()
        .map_err(|e| Refusal::Internal(format!("cannot list the model repository: {e}")))?;
    let models: Vec<_> = names
        .iter()
        .map(|name| match state.models.get(name) {
            Some(m) => json!({
                "name": name,
                "loaded": true,
                "versions": m.version_names(),
                "provenance": m.provenance,
                "default_version": m.default_version(),
                "owner": m.manifest.owner,
                "risk": m.risk.as_str(),
                "risk_source": m.risk.source,
            }),
            None => json!({ "name": name, "loaded": false }),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "models": models })))
}

async fn load_model(state: &Arc<State>, call: &mut Call, name: &str) -> Result<Reply, Refusal> {
    // Loading reads and plans files: keep it off the async workers.
    let (shared, owned) = (state.clone(), name.to_string());
    let loaded = tokio::task::spawn_blocking(move || shared.models.load(&owned))
        .await
        .map_err(|e| Refusal::Internal(format!("model load task failed: {e}")))?;
    match loaded {
        Ok(model) => {
            state
                .metrics
                .models_loaded
                .set(state.models.loaded().len() as i64);
            state.metrics.model_event(name, "load");
            tracing::info!(model = %name, principal = ?call.principal.as_ref().map(|p| &p.id), "model loaded");
            call.loaded = Some(crate::supply_chain::load_proof(&model));
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "name": model.name,
                    "loaded": true,
                    "versions": model.version_names(),
                    "default_version": model.default_version(),
                    "risk": model.risk.as_str(),
                    "risk_source": model.risk.source,
                }),
            ))
        }
        Err(ModelError::NotFound { .. }) => Err(Refusal::not_found_model(name, false)),
        Err(e) => {
            state.metrics.model_event(name, "load_refused");
            tracing::warn!(model = %name, reason = e.reason(), error = %e, "model load refused");
            Err(Refusal::ModelRefused {
                reason: e.reason(),
                message: format!("model '{}' was not loaded: {e}", printable(name)),
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    role: String,
    /// e.g. "30d", "12h"; absent: no expiry.
    expires_in: Option<String>,
}

async fn create_key(
    state: &State,
    call: &mut Call,
    req: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let (_, body) = body::read_body(req, MAX_ADMIN_BODY).await?;
    call.request_sha256 = Some(record::sha256(&body));
    let new: NewKey = serde_json::from_slice(&body).map_err(|e| {
        Refusal::BadRequest(format!(
            "expected {{\"name\", \"role\", \"expires_in\"?}}: {e}"
        ))
    })?;
    if !state.policies.current().knows_role(&new.role) {
        return Err(key_error(unknown_role(state, &new.role)));
    }
    let now = call.unix_secs();
    let expires_at = new
        .expires_in
        .as_deref()
        .map(|text| keys::expiry_from(text, now))
        .transpose()
        .map_err(|e| Refusal::BadRequest(format!("expires_in: {e}")))?;
    let (record, token) = state
        .keys
        .create_at(&new.name, &new.role, expires_at, now)
        .map_err(key_error)?;
    tracing::info!(key = %record.id, role = %record.role, "API key created");
    let mut body = key_json(&record, now);
    body["token"] = json!(token);
    Ok(json_response(StatusCode::CREATED, &body))
}

pub fn unknown_role(state: &State, role: &str) -> KeyStoreError {
    KeyStoreError::UnknownRole {
        role: printable(role),
        known: state
            .policies
            .current()
            .roles()
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Re-read the policy files and swap them in if valid; the old set serves on otherwise.
/// Every attempt is logged and metered; the caller records it in the audit log.
pub fn reload_policies(state: &State) -> Result<Vec<String>, String> {
    match state.policies.reload() {
        Ok(set) => {
            state
                .metrics
                .policy_reloads
                .get_or_create(&crate::metrics::ReasonLabels { reason: "ok" })
                .inc();
            tracing::info!(policies = set.policy_ids().len(), "policies reloaded");
            Ok(set.policy_ids().to_vec())
        }
        Err(e) => {
            state
                .metrics
                .policy_reloads
                .get_or_create(&crate::metrics::ReasonLabels { reason: "invalid" })
                .inc();
            tracing::error!(error = %e, "policy reload refused; the previous policies stay in force");
            Err(format!(
                "policy reload refused, the previous policies stay in force: {e}"
            ))
        }
    }
}

fn key_error(e: KeyStoreError) -> Refusal {
    match e {
        KeyStoreError::NoSuchKey(_) => Refusal::NotFound {
            message: e.to_string(),
            hidden: false,
        },
        KeyStoreError::File { .. } | KeyStoreError::Random(_) => Refusal::Internal(e.to_string()),
        _ => Refusal::BadRequest(e.to_string()),
    }
}

pub fn key_json(k: &KeyRecord, now: u64) -> serde_json::Value {
    json!({
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "status": k.status(now),
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
    })
}
