//! Stage `authorize`: may this principal take this action on this model? Deny by default.
//!
//! A caller whose role names no pattern matching a model gets the very 404 a missing model
//! gives, so model names cannot be discovered by probing. A caller who may see a model but
//! not take the action gets a 403.

use palisade_config::{Action, RoleTable};

use crate::keys::Principal;
use crate::refusal::{printable, Refusal};

pub fn model_action(
    roles: &RoleTable,
    who: &Principal,
    action: Action,
    model: &str,
) -> Result<(), Refusal> {
    if !roles.sees(&who.role, model) {
        return Err(Refusal::not_found_model(model, true));
    }
    if !roles.allows(&who.role, action, Some(model)) {
        return Err(Refusal::Forbidden(format!(
            "role '{}' may not {action} on model '{}'",
            who.role,
            printable(model)
        )));
    }
    Ok(())
}

/// Actions on the server itself (admin plane): keys, metrics, the model list.
pub fn server_action(roles: &RoleTable, who: &Principal, action: Action) -> Result<(), Refusal> {
    if roles.allows(&who.role, action, None) {
        Ok(())
    } else {
        Err(Refusal::Forbidden(format!(
            "role '{}' may not {action}",
            who.role
        )))
    }
}

/// Admin actions on a model: visible or not, refusal is a 403 (the admin plane lists models).
pub fn admin_model_action(
    roles: &RoleTable,
    who: &Principal,
    action: Action,
    model: &str,
) -> Result<(), Refusal> {
    if roles.allows(&who.role, action, Some(model)) {
        Ok(())
    } else {
        Err(Refusal::Forbidden(format!(
            "role '{}' may not {action} on model '{}'",
            who.role,
            printable(model)
        )))
    }
}
