//! Stage `authorize`: may this principal take this action on this resource? A Cedar
//! decision (see `policy`), deny by default, recording the ids of the deciding policies.
//!
//! A caller refused an action on a model that it may neither infer on nor read the metadata
//! of gets the very 404 a missing model gives, so model names cannot be discovered by
//! probing. A caller who may see a model but not take the action gets a 403.

use std::sync::Arc;

use palisade_config::Action;
use palisade_model::{LoadedModel, Manifest, TrustedRisk};

use crate::context::Call;
use crate::refusal::{printable, Refusal};
use crate::registry::Registry;
use crate::routes::{AdminOp, ModelPath};
use palisade_access::policy::{CompiledPolicies, ModelResource, RequestContext, Verdict};
use palisade_access::principal::Principal;

/// A model as policies see it; `risk` is the trusted one ([`TrustedRisk`]), never an
/// unsigned manifest's own claim.
pub fn model_resource<'a>(
    name: &'a str,
    version: Option<&'a str>,
    manifest: Option<&'a Manifest>,
    risk: &TrustedRisk,
) -> ModelResource<'a> {
    ModelResource {
        name,
        version,
        risk: risk.as_str(),
        personal_data: manifest.map_or(&[], |m| m.personal_data.as_slice()),
        owner: manifest.and_then(|m| m.owner.as_deref()),
    }
}

/// The stage on the data plane: the model the call names, if the caller may take `action`
/// on it (the version asked for, else the default). A model that is not loaded and a model
/// hidden from the caller are refused alike.
pub fn model(
    policies: &CompiledPolicies,
    models: &Registry,
    call: &mut Call,
    target: &ModelPath,
    action: Action,
) -> Result<Arc<LoadedModel>, Denial> {
    let model = models.get(&target.name).ok_or_else(|| Denial::NotLoaded {
        model: target.name.clone(),
    })?;
    let version = target.version.as_deref().unwrap_or(model.default_version());
    let resource = model_resource(
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
) -> Result<(), Denial> {
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
    let resource = model_resource(model, None, manifest.as_ref(), &risk);
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
            let resource = model_resource(&m.name, None, Some(&m.manifest), &m.risk);
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
        now: i64::try_from(call.unix_secs()).unwrap_or(i64::MAX),
    }
}

/// The principal `identify` put on the call.
fn principal(call: &Call) -> Result<&Principal, Denial> {
    call.principal.as_ref().ok_or(Denial::Unidentified)
}

/// Decide, log policy errors, and record the deciding policies on the call.
fn decide(
    policies: &CompiledPolicies,
    call: &mut Call,
    action: Action,
    model: Option<&ModelResource<'_>>,
) -> Result<Verdict, Denial> {
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
) -> Result<(), Denial> {
    if decide(policies, call, action, Some(model))?.allowed {
        return Ok(());
    }
    let (who, context) = (principal(call)?, context(call));
    let sees = [Action::Infer, Action::ReadMetadata]
        .into_iter()
        .filter(|a| *a != action)
        .any(|a| policies.decide(who, a, Some(model), &context).allowed);
    if !sees {
        return Err(Denial::Hidden {
            model: model.name.to_string(),
        });
    }
    Err(not_permitted(call, action, Some(model.name)))
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
) -> Result<(), Denial> {
    if decide(policies, call, action, None)?.allowed {
        Ok(())
    } else {
        Err(not_permitted(call, action, None))
    }
}

/// Admin actions on a model: refusal is a 403 (the admin plane lists models anyway).
fn admin_model_action(
    policies: &CompiledPolicies,
    call: &mut Call,
    action: Action,
    model: &ModelResource<'_>,
) -> Result<(), Denial> {
    if decide(policies, call, action, Some(model))?.allowed {
        Ok(())
    } else {
        Err(not_permitted(call, action, Some(model.name)))
    }
}

fn not_permitted(call: &Call, action: Action, model: Option<&str>) -> Denial {
    Denial::NotPermitted {
        principal: call
            .principal
            .as_ref()
            .map_or_else(|| "caller".to_string(), |p| p.id.clone()),
        action,
        model: model.map(str::to_string),
    }
}

/// Why the stage said no. A caller that may not know a model exists gets the same 404 as
/// for a model that is not loaded; the audit log tells them apart (`hidden`, `not_found`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No model of that name is loaded.
    NotLoaded { model: String },
    /// The caller may neither infer on nor read the metadata of the model.
    Hidden { model: String },
    /// No policy permits the action, or one forbids it.
    NotPermitted {
        principal: String,
        action: Action,
        model: Option<String>,
    },
    /// The stage ran on a call with no principal: a bug in the gate, never the caller's.
    Unidentified,
}

impl From<Denial> for Refusal {
    fn from(denial: Denial) -> Refusal {
        match denial {
            Denial::NotLoaded { model } => Refusal::not_found_model(&model, false),
            Denial::Hidden { model } => Refusal::not_found_model(&model, true),
            Denial::NotPermitted {
                principal,
                action,
                model,
            } => {
                let on = model.map_or(String::new(), |m| format!(" on model '{}'", printable(&m)));
                Refusal::Forbidden(format!(
                    "{} may not {action}{on}: no policy permits it (or one forbids it)",
                    printable(&principal)
                ))
            }
            Denial::Unidentified => Refusal::Internal("authorize ran before identify".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use palisade_model::Repository;

    use super::*;
    use crate::context::Plane;
    use palisade_access::principal::{AuthMethod, PrincipalKind};

    const ROLES: &str = r#"
[data_plane]
listen = "127.0.0.1:0"
dangerous_plaintext = true
[admin_plane]
listen = "127.0.0.1:0"
dangerous_plaintext = true
[models]
repository = "models"
[roles.client]
grants = [{ actions = ["infer", "read_metadata"], models = ["iris"] }]
[roles.browser]
grants = [{ actions = ["read_metadata"], models = ["iris"] }]
[roles.stranger]
grants = [{ actions = ["infer"], models = ["fraud-*"] }]
[roles.operator]
grants = [{ actions = ["load_model"], models = ["*"] }]
"#;

    /// The roles above, compiled as the server compiles them.
    fn policies() -> Arc<CompiledPolicies> {
        let (config, _) =
            palisade_config::Config::parse(Path::new("/x/palisade.toml"), ROLES).unwrap();
        palisade_access::policy::PolicyStore::load(&config)
            .unwrap()
            .current()
    }

    /// The repository's demo models, with iris loaded.
    fn models() -> Registry {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let registry = Registry::new(Repository::new(root, 1 << 30, crate::operators::ONNX_ML));
        registry.load("iris").unwrap();
        registry
    }

    fn call(role: &str) -> Call {
        let mut call = Call::new(Plane::Data, "192.0.2.1:5000".parse().unwrap(), None);
        call.principal = Some(Principal::new(
            PrincipalKind::ApiKey,
            role.to_string(),
            vec![role.into()],
            AuthMethod::ApiKey,
        ));
        call
    }

    fn target(name: &str) -> ModelPath {
        ModelPath {
            name: name.into(),
            version: None,
        }
    }

    #[test]
    fn a_granted_call_gets_the_model_and_records_the_deciding_policy() {
        let (policies, models) = (policies(), models());
        let mut call = call("client");
        let model = model(
            &policies,
            &models,
            &mut call,
            &target("iris"),
            Action::Infer,
        )
        .unwrap();
        assert_eq!(model.name, "iris");
        assert_eq!(call.model.as_deref(), Some("iris"));
        assert!(!call.policies.is_empty());
    }

    #[test]
    fn a_model_the_caller_may_not_see_is_answered_like_a_missing_one() {
        let (policies, models) = (policies(), models());
        let hidden = model(
            &policies,
            &models,
            &mut call("stranger"),
            &target("iris"),
            Action::Infer,
        );
        let missing = model(
            &policies,
            &models,
            &mut call("client"),
            &target("nope"),
            Action::Infer,
        );
        let (Err(hidden), Err(missing)) = (hidden, missing) else {
            panic!("both must be refused");
        };
        assert_eq!(
            hidden,
            Denial::Hidden {
                model: "iris".into()
            }
        );
        assert_eq!(
            missing,
            Denial::NotLoaded {
                model: "nope".into()
            }
        );
        let (hidden, missing) = (Refusal::from(hidden), Refusal::from(missing));
        assert_eq!(
            (hidden.status(), missing.status()),
            (404.try_into().unwrap(), 404.try_into().unwrap())
        );
        assert_eq!(hidden.reason(), "hidden");
        assert_eq!(missing.reason(), "not_found");
        assert_eq!(
            hidden.to_string().replace("iris", "M"),
            Refusal::not_found_model("M", false).to_string()
        );
    }

    #[test]
    fn a_caller_who_may_see_a_model_but_not_use_it_gets_403() {
        let (policies, models) = (policies(), models());
        let mut call = call("browser");
        let refused = model(
            &policies,
            &models,
            &mut call,
            &target("iris"),
            Action::Infer,
        );
        assert_eq!(
            refused.err(),
            Some(Denial::NotPermitted {
                principal: "key:browser".into(),
                action: Action::Infer,
                model: Some("iris".into()),
            })
        );
        assert!(model(
            &policies,
            &models,
            &mut call,
            &target("iris"),
            Action::ReadMetadata
        )
        .is_ok());
    }

    #[test]
    fn admin_operations_are_denied_by_default() {
        let (policies, models) = (policies(), models());
        let load = AdminOp::LoadModel("iris".into());
        assert!(admin(&policies, &models, &mut call("operator"), &load).is_ok());
        let refused = admin(&policies, &models, &mut call("client"), &load);
        assert!(
            matches!(refused, Err(Denial::NotPermitted { .. })),
            "{refused:?}"
        );
        assert_eq!(Refusal::from(refused.unwrap_err()).reason(), "forbidden");
        let refused = admin(
            &policies,
            &models,
            &mut call("operator"),
            &AdminOp::ListModels,
        );
        assert!(
            matches!(refused, Err(Denial::NotPermitted { model: None, .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn the_model_list_leaves_out_what_the_caller_may_not_see() {
        let (policies, models) = (policies(), models());
        let names = |role| {
            visible_models(&policies, &models, &call(role))
                .iter()
                .map(|m| m.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("browser"), ["iris"]);
        assert!(names("stranger").is_empty());
    }
}
