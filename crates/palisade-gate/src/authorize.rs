//! Stage `authorize`: may this principal take this action on this resource? A Cedar
//! decision (see `policy`), deny by default, recording the ids of the deciding policies.
//!
//! A caller refused an action on a model that it may neither infer on nor read the metadata
//! of gets the very 404 a missing model gives, so model names cannot be discovered by
//! probing. A caller who may see a model but not take the action gets a 403.

use std::sync::Arc;

use palisade_config::Action;
use palisade_model::{LoadedModel, TrustedRisk};

use crate::context::Call;
use crate::keys::now_secs;
use crate::policy::{CompiledPolicies, ModelResource, RequestContext, Verdict};
use crate::principal::Principal;
use crate::refusal::{printable, Refusal};
use crate::registry::Registry;
use crate::routes::{AdminOp, ModelPath};

/// The stage on the data plane: the model the call names, if the caller may take `action`
/// on it (the version asked for, else the default). A model that is not loaded and a model
/// hidden from the caller are refused alike.
pub fn model(
    policies: &CompiledPolicies,
    models: &Registry,
    call: &mut Call,
    target: &ModelPath,
    action: Action,
) -> Result<Arc<LoadedModel>, Refusal> {
    let model = models
        .get(&target.name)
        .ok_or_else(|| Refusal::not_found_model(&target.name, false))?;
    let version = target.version.as_deref().unwrap_or(model.default_version());
    let resource = ModelResource::new(
        &model.name,
        Some(version),
        Some(&model.manifest),
        &model.risk,
    );
    model_action(policies, call, action, &resource)?;
    call.model = Some(model.name.clone());
    Ok(model)
}

/// The stage on the admin plane. On a model, the resource's risk is the one proved at load;
/// for a model not loaded, the config's pin, else high.
pub fn admin(
    policies: &CompiledPolicies,
    models: &Registry,
    call: &mut Call,
    op: &AdminOp,
) -> Result<(), Refusal> {
    let Some(model) = op.model() else {
        return server_action(policies, call, op.action());
    };
    call.model = Some(model.to_string());
    let repository = models.repository();
    let manifest = repository.manifest(model).ok();
    let risk = match models.get(model) {
        Some(loaded) => loaded.risk,
        None => TrustedRisk::unsigned(repository.policy().risk_pins.get(model).copied()),
    };
    let resource = ModelResource::new(model, None, manifest.as_ref(), &risk);
    admin_model_action(policies, call, op.action(), &resource)
}

/// The loaded models whose metadata the caller may read, by name; the others are left out,
/// as a hidden model's 404 leaves it out.
pub fn visible_models(
    policies: &CompiledPolicies,
    models: &Registry,
    call: &Call,
) -> Vec<Arc<LoadedModel>> {
    let mut visible: Vec<Arc<LoadedModel>> = models
        .loaded()
        .into_iter()
        .filter(|m| {
            let resource = ModelResource::new(&m.name, None, Some(&m.manifest), &m.risk);
            may(policies, call, Action::ReadMetadata, &resource)
        })
        .collect();
    visible.sort_by(|a, b| a.name.cmp(&b.name));
    visible
}

/// What policies know about the call besides principal, action and resource.
fn context(call: &Call) -> RequestContext<'_> {
    RequestContext {
        plane: call.plane.as_str(),
        client_ip: call.client.ip(),
        mtls: call.peer.is_some(),
        spiffe_id: call.peer.as_ref().and_then(|p| p.spiffe_id.as_deref()),
        now: i64::try_from(now_secs()).unwrap_or(i64::MAX),
    }
}

/// The principal `identify` put on the call.
fn principal(call: &Call) -> Result<&Principal, Refusal> {
    call.principal
        .as_ref()
        .ok_or_else(|| Refusal::Internal("authorize ran before identify".into()))
}

/// Decide, log policy errors, and record the deciding policies on the call.
fn decide(
    policies: &CompiledPolicies,
    call: &mut Call,
    action: Action,
    model: Option<&ModelResource<'_>>,
) -> Result<Verdict, Refusal> {
    let verdict = policies.decide(principal(call)?, action, model, &context(call));
    if !verdict.errors.is_empty() {
        // A policy that errors is skipped (Cedar semantics); say so where operators look.
        tracing::warn!(request_id = %call.id, errors = ?verdict.errors, "policy evaluation errors");
    }
    call.policies = verdict.policies.clone();
    Ok(verdict)
}

/// Data-plane actions on a model: a refusal hides the model unless the caller may see it.
fn model_action(
    policies: &CompiledPolicies,
    call: &mut Call,
    action: Action,
    model: &ModelResource<'_>,
) -> Result<(), Refusal> {
    if decide(policies, call, action, Some(model))?.allowed {
        return Ok(());
    }
    let (who, context) = (principal(call)?, context(call));
    let sees = [Action::Infer, Action::ReadMetadata]
        .into_iter()
        .filter(|a| *a != action)
        .any(|a| policies.decide(who, a, Some(model), &context).allowed);
    if !sees {
        return Err(Refusal::not_found_model(model.name, true));
    }
    Err(forbidden(call, action, Some(model.name)))
}

/// Whether the call's principal may take `action` on `model`, without recording a decision
/// (for filtering a list; the list call itself is what is audited).
fn may(
    policies: &CompiledPolicies,
    call: &Call,
    action: Action,
    model: &ModelResource<'_>,
) -> bool {
    principal(call).is_ok_and(|who| {
        policies
            .decide(who, action, Some(model), &context(call))
            .allowed
    })
}

/// Actions on the server itself (admin plane): keys, policies, metrics, the model list.
fn server_action(
    policies: &CompiledPolicies,
    call: &mut Call,
    action: Action,
) -> Result<(), Refusal> {
    if decide(policies, call, action, None)?.allowed {
        Ok(())
    } else {
        Err(forbidden(call, action, None))
    }
}

/// Admin actions on a model: refusal is a 403 (the admin plane lists models anyway).
fn admin_model_action(
    policies: &CompiledPolicies,
    call: &mut Call,
    action: Action,
    model: &ModelResource<'_>,
) -> Result<(), Refusal> {
    if decide(policies, call, action, Some(model))?.allowed {
        Ok(())
    } else {
        Err(forbidden(call, action, Some(model.name)))
    }
}

fn forbidden(call: &Call, action: Action, model: Option<&str>) -> Refusal {
    let who = call.principal.as_ref().map_or("caller", |p| p.id.as_str());
    let on = model.map_or(String::new(), |m| format!(" on model '{}'", printable(m)));
    Refusal::Forbidden(format!(
        "{} may not {action}{on}: no policy permits it (or one forbids it)",
        printable(who)
    ))
}
