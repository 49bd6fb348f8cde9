//! Stage `authorize`: may this principal take this action on this resource? A Cedar
//! decision (see `policy`), deny by default, recording the ids of the deciding policies.
//!
//! A caller refused an action on a model that it may neither infer on nor read the metadata
//! of gets the very 404 a missing model gives, so model names cannot be discovered by
//! probing. A caller who may see a model but not take the action gets a 403.

use palisade_config::Action;

use crate::context::Call;
use crate::keys::now_secs;
use crate::policy::{CompiledPolicies, ModelResource, RequestContext, Verdict};
use crate::principal::Principal;
use crate::refusal::{printable, Refusal};

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
pub fn model_action(
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
pub fn may(
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
pub fn server_action(
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
pub fn admin_model_action(
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
