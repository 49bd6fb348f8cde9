//! Roles: which actions a caller may take on which models. Deny by default: an action is
//! allowed only when some grant of the caller's role names both the action and the model.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use globset::{Glob, GlobMatcher};
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
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Infer,
        Action::ReadMetadata,
        Action::ListModels,
        Action::LoadModel,
        Action::UnloadModel,
        Action::ManageKeys,
        Action::ReadAudit,
        Action::ReadMetrics,
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
        }
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

/// One grant: these actions, on models whose name matches one of these globs.
#[derive(Debug, Clone)]
pub struct Grant {
    pub actions: Vec<Action>,
    pub models: Vec<String>,
    matchers: Vec<GlobMatcher>,
}

impl Grant {
    fn covers(&self, action: Action, model: Option<&str>) -> bool {
        self.actions.contains(&action)
            && match model {
                // Model-less actions (list models, manage keys, metrics) need a grant of "*".
                None => self.models.iter().any(|m| m == "*"),
                Some(name) => self.matchers.iter().any(|m| m.is_match(name)),
            }
    }
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
                let mut matchers = Vec::new();
                for m in &g.models {
                    let glob = Glob::new(m).map_err(|e| {
                        Finding::error(
                            &key,
                            format!(
                                "grant {}: model pattern '{m}' is not a valid glob: {e}",
                                i + 1
                            ),
                        )
                    })?;
                    matchers.push(glob.compile_matcher());
                }
                grants.push(Grant {
                    actions,
                    models: g.models,
                    matchers,
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

    /// Deny by default: true only if a grant of `role` covers `action` on `model`.
    pub fn allows(&self, role: &str, action: Action, model: Option<&str>) -> bool {
        self.roles
            .get(role)
            .is_some_and(|grants| grants.iter().any(|g| g.covers(action, model)))
    }

    /// Whether `role` may know that `model` exists (any action on it).
    pub fn sees(&self, role: &str, model: &str) -> bool {
        self.roles.get(role).is_some_and(|grants| {
            grants
                .iter()
                .any(|g| g.matchers.iter().any(|m| m.is_match(model)))
        })
    }
}

pub(crate) fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
