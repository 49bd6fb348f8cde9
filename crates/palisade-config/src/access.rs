//! Roles: which actions a caller may take on which models. Deny by default: an action is
//! allowed only when some grant of the caller's role names both the action and the model.
//!
//! The table is a short way to write the common policies; it compiles to Cedar
//! ([`RoleTable::to_cedar`]) and is decided by the same engine as hand-written `.cedar` files,
//! so there is one policy language at run time, not two.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::Finding;

/// Everything a caller can ask for. The names match the Cedar actions planned for policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Infer,
    ReadMetadata,
    ListModels,
    LoadModel,
    UnloadModel,
    ManageKeys,
    ReadAudit,
    ReadMetrics,
    ManagePolicies,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Infer,
        Action::ReadMetadata,
        Action::ListModels,
        Action::LoadModel,
        Action::UnloadModel,
        Action::ManageKeys,
        Action::ReadAudit,
        Action::ReadMetrics,
        Action::ManagePolicies,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Infer => "infer",
            Action::ReadMetadata => "read_metadata",
            Action::ListModels => "list_models",
            Action::LoadModel => "load_model",
            Action::UnloadModel => "unload_model",
            Action::ManageKeys => "manage_keys",
            Action::ReadAudit => "read_audit",
            Action::ReadMetrics => "read_metrics",
            Action::ManagePolicies => "manage_policies",
        }
    }

    /// Whether the action's resource is a model (else the server itself).
    pub fn on_model(self) -> bool {
        matches!(
            self,
            Action::Infer | Action::ReadMetadata | Action::LoadModel | Action::UnloadModel
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Action::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    #[serde(default)]
    grants: Vec<RawGrant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    actions: Vec<String>,
    #[serde(default)]
    models: Vec<String>,
}

/// One grant: these actions, on models whose name matches one of these patterns (`*` is the
/// only wildcard; a grant of `"*"` also covers the model-less actions such as `manage_keys`).
#[derive(Debug, Clone)]
pub struct Grant {
    pub actions: Vec<Action>,
    pub models: Vec<String>,
}

/// The compiled role table.
#[derive(Debug, Clone, Default)]
pub struct RoleTable {
    roles: BTreeMap<String, Vec<Grant>>,
}

impl RoleTable {
    pub(crate) fn compile(raw: BTreeMap<String, RawRole>) -> Result<RoleTable, Finding> {
        let mut roles = BTreeMap::new();
        for (name, role) in raw {
            if !valid_role_name(&name) {
                return Err(Finding::error(
                    &format!("roles.{name}"),
                    "role names use lowercase letters, digits, '-' and '_' only".into(),
                ));
            }
            let mut grants = Vec::new();
            for (i, g) in role.grants.into_iter().enumerate() {
                let key = format!("roles.{name}.grants");
                let mut actions = Vec::new();
                for a in &g.actions {
                    if a == "*" {
                        actions.extend(Action::ALL);
                    } else {
                        actions.push(a.parse().map_err(|_| {
                            let known: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
                            Finding::error(
                                &key,
                                format!(
                                    "grant {}: unknown action '{a}'; known actions: {}, or \"*\"",
                                    i + 1,
                                    known.join(", ")
                                ),
                            )
                        })?);
                    }
                }
                for m in &g.models {
                    if !valid_model_pattern(m) {
                        return Err(Finding::error(
                            &key,
                            format!(
                                "grant {}: model pattern '{m}' may use letters, digits, '.', '_', '-' and the wildcard '*' only",
                                i + 1
                            ),
                        ));
                    }
                }
                grants.push(Grant {
                    actions,
                    models: g.models,
                });
            }
            roles.insert(name, grants);
        }
        Ok(RoleTable { roles })
    }

    pub fn contains(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// The table as Cedar policies, one `permit` per grant and resource kind, each with an
    /// `@id` of `role.<name>.<grant number>` so that audit events name the grant that decided.
    pub fn to_cedar(&self) -> String {
        let mut out = String::new();
        for (role, grants) in &self.roles {
            for (i, grant) in grants.iter().enumerate() {
                let list = |on_model: bool| -> Vec<String> {
                    grant
                        .actions
                        .iter()
                        .filter(|a| a.on_model() == on_model)
                        .map(|a| format!("Action::\"{a}\""))
                        .collect()
                };
                let (model_actions, server_actions) = (list(true), list(false));
                let everything = grant.models.iter().any(|m| m == "*");
                if !model_actions.is_empty() && !grant.models.is_empty() {
                    let condition = if everything {
                        String::new()
                    } else {
                        let likes: Vec<String> = grant
                            .models
                            .iter()
                            .map(|m| format!("resource.name like \"{m}\""))
                            .collect();
                        format!("\nwhen {{ {} }}", likes.join(" || "))
                    };
                    out.push_str(&format!(
                        "@id(\"role.{role}.{n}\")\npermit (principal in Role::\"{role}\", action in [{}], resource is Model){condition};\n\n",
                        model_actions.join(", "),
                        n = i + 1,
                    ));
                }
                if !server_actions.is_empty() && everything {
                    out.push_str(&format!(
                        "@id(\"role.{role}.{n}.server\")\npermit (principal in Role::\"{role}\", action in [{}], resource is Server);\n\n",
                        server_actions.join(", "),
                        n = i + 1,
                    ));
                }
            }
        }
        out
    }
}

/// Patterns compile to Cedar `like`, whose only wildcard is `*`; model names never need
/// quoting or escaping with this alphabet.
fn valid_model_pattern(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 128
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-*".contains(&b))
}

pub(crate) fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
