//! The routes of each plane. The data plane serves only health, metadata and inference;
//! admin routes do not exist there (a 404, not a 403: nothing to find).

use http::Method;
use palisade_config::Action;

use crate::refusal::{printable, Refusal};

/// A model named in a path, with an optional version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPath {
    pub name: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRoute {
    Live,
    Ready,
    ServerMetadata,
    /// Triton's `POST /v2/repository/index`: the models this caller may see.
    RepositoryIndex,
    Model(ModelPath, ModelCall),
}

/// What a data-plane call asks of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelCall {
    Metadata,
    /// Triton's `GET .../config` (what `tritonclient`'s `get_model_config` reads).
    Config,
    Ready,
    Infer,
}

impl ModelCall {
    pub fn action(self) -> Action {
        match self {
            ModelCall::Metadata | ModelCall::Config | ModelCall::Ready => Action::ReadMetadata,
            ModelCall::Infer => Action::Infer,
        }
    }
}

impl DataRoute {
    pub fn action(&self) -> Option<Action> {
        match self {
            DataRoute::Model(_, call) => Some(call.action()),
            DataRoute::RepositoryIndex => Some(Action::ReadMetadata),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    Live,
    Ready,
    Op(AdminOp),
}

/// Admin operations: every one needs a key whose role grants its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOp {
    Metrics,
    ListModels,
    LoadModel(String),
    UnloadModel(String),
    SetDefaultVersion(String),
    RollBack(String),
    ListKeys,
    CreateKey,
    RevokeKey(String),
    ListPolicies,
    ReloadPolicies,
    AuditCheckpoint,
    AuditInclusion,
    AuditConsistency,
    AuditEntries,
}

impl AdminOp {
    pub fn action(&self) -> Action {
        match self {
            AdminOp::Metrics => Action::ReadMetrics,
            AdminOp::ListModels => Action::ListModels,
            // Changing which version serves is part of loading: the same grant covers it.
            AdminOp::LoadModel(_) | AdminOp::SetDefaultVersion(_) | AdminOp::RollBack(_) => {
                Action::LoadModel
            }
            AdminOp::UnloadModel(_) => Action::UnloadModel,
            AdminOp::ListKeys | AdminOp::CreateKey | AdminOp::RevokeKey(_) => Action::ManageKeys,
            AdminOp::ListPolicies | AdminOp::ReloadPolicies => Action::ManagePolicies,
            AdminOp::AuditCheckpoint
            | AdminOp::AuditInclusion
            | AdminOp::AuditConsistency
            | AdminOp::AuditEntries => Action::ReadAudit,
        }
    }

    pub fn model(&self) -> Option<&str> {
        match self {
            AdminOp::LoadModel(m)
            | AdminOp::UnloadModel(m)
            | AdminOp::SetDefaultVersion(m)
            | AdminOp::RollBack(m) => Some(m),
            _ => None,
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

fn not_found(path: &str) -> Refusal {
    Refusal::NotFound {
        message: format!("no route for '{}'", printable(path)),
        hidden: false,
    }
}

fn method(actual: &Method, wanted: Method, allow: &'static str) -> Result<(), Refusal> {
    if *actual == wanted || (wanted == Method::GET && *actual == Method::HEAD) {
        Ok(())
    } else {
        Err(Refusal::MethodNotAllowed { allow })
    }
}

fn model_path(name: &str, version: Option<&str>) -> ModelPath {
    ModelPath {
        name: name.to_string(),
        version: version.map(str::to_string),
    }
}

/// The two health routes, answered without a credential and without an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthProbe {
    Live,
    Ready,
}

impl HealthProbe {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthProbe::Live => "live",
            HealthProbe::Ready => "ready",
        }
    }
}

/// A GET or HEAD of a health route (any other method is routed, and refused, as usual).
/// Asked of every request, so it compares the path without splitting it.
pub fn health_probe(m: &Method, path: &str) -> Option<HealthProbe> {
    if m != Method::GET && m != Method::HEAD {
        return None;
    }
    match path.strip_prefix('/').unwrap_or(path) {
        "v2/health/live" => Some(HealthProbe::Live),
        "v2/health/ready" => Some(HealthProbe::Ready),
        _ => None,
    }
}

pub fn data_route(m: &Method, path: &str) -> Result<DataRoute, Refusal> {
    let s = segments(path);
    let get = |r: DataRoute| method(m, Method::GET, "GET, HEAD").map(|()| r);
    let model = |name: &str, v: Option<&str>, call: ModelCall| {
        let (wanted, allow) = match call {
            ModelCall::Infer => (Method::POST, "POST"),
            _ => (Method::GET, "GET, HEAD"),
        };
        method(m, wanted, allow).map(|()| DataRoute::Model(model_path(name, v), call))
    };
    match s.as_slice() {
        ["v2", "health", "live"] => get(DataRoute::Live),
        ["v2", "health", "ready"] => get(DataRoute::Ready),
        ["v2"] | ["v2", ""] => get(DataRoute::ServerMetadata),
        ["v2", "repository", "index"] => {
            method(m, Method::POST, "POST").map(|()| DataRoute::RepositoryIndex)
        }
        ["v2", "models", name] if !name.is_empty() => model(name, None, ModelCall::Metadata),
        ["v2", "models", name, "versions", v] if !v.is_empty() => {
            model(name, Some(v), ModelCall::Metadata)
        }
        ["v2", "models", name, "ready"] => model(name, None, ModelCall::Ready),
        ["v2", "models", name, "config"] => model(name, None, ModelCall::Config),
        ["v2", "models", name, "versions", v, "config"] => model(name, Some(v), ModelCall::Config),
        ["v2", "models", name, "versions", v, "ready"] => model(name, Some(v), ModelCall::Ready),
        ["v2", "models", name, "infer"] => model(name, None, ModelCall::Infer),
        ["v2", "models", name, "versions", v, "infer"] => model(name, Some(v), ModelCall::Infer),
        _ => Err(not_found(path)),
    }
}

pub fn admin_route(m: &Method, path: &str) -> Result<AdminRoute, Refusal> {
    let s = segments(path);
    let get = |r: AdminRoute| method(m, Method::GET, "GET, HEAD").map(|()| r);
    let post = |op: AdminOp| method(m, Method::POST, "POST").map(|()| AdminRoute::Op(op));
    match s.as_slice() {
        ["v2", "health", "live"] => get(AdminRoute::Live),
        ["v2", "health", "ready"] => get(AdminRoute::Ready),
        ["metrics"] => get(AdminRoute::Op(AdminOp::Metrics)),
        ["admin", "models"] => get(AdminRoute::Op(AdminOp::ListModels)),
        ["admin", "models", name, "load"] => post(AdminOp::LoadModel(name.to_string())),
        ["admin", "models", name, "unload"] => post(AdminOp::UnloadModel(name.to_string())),
        ["admin", "models", name, "default"] => post(AdminOp::SetDefaultVersion(name.to_string())),
        ["admin", "models", name, "rollback"] => post(AdminOp::RollBack(name.to_string())),
        ["admin", "keys"] if *m == Method::POST => Ok(AdminRoute::Op(AdminOp::CreateKey)),
        ["admin", "keys"] => {
            method(m, Method::GET, "GET, HEAD, POST").map(|()| AdminRoute::Op(AdminOp::ListKeys))
        }
        ["admin", "keys", id, "revoke"] => post(AdminOp::RevokeKey(id.to_string())),
        ["admin", "policies"] => get(AdminRoute::Op(AdminOp::ListPolicies)),
        ["admin", "policies", "reload"] => post(AdminOp::ReloadPolicies),
        ["admin", "audit", "checkpoint"] => get(AdminRoute::Op(AdminOp::AuditCheckpoint)),
        ["admin", "audit", "proof", "inclusion"] => get(AdminRoute::Op(AdminOp::AuditInclusion)),
        ["admin", "audit", "proof", "consistency"] => {
            get(AdminRoute::Op(AdminOp::AuditConsistency))
        }
        ["admin", "audit", "entries"] => get(AdminRoute::Op(AdminOp::AuditEntries)),
        _ => Err(not_found(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_routes_parse() {
        let g = Method::GET;
        assert_eq!(data_route(&g, "/v2/health/live"), Ok(DataRoute::Live));
        assert_eq!(data_route(&g, "/v2"), Ok(DataRoute::ServerMetadata));
        assert_eq!(
            data_route(&g, "/v2/models/iris"),
            Ok(DataRoute::Model(
                model_path("iris", None),
                ModelCall::Metadata
            ))
        );
        assert_eq!(
            data_route(&g, "/v2/models/iris/versions/2/ready"),
            Ok(DataRoute::Model(
                model_path("iris", Some("2")),
                ModelCall::Ready
            ))
        );
        assert_eq!(
            data_route(&Method::POST, "/v2/models/iris/versions/1/infer"),
            Ok(DataRoute::Model(
                model_path("iris", Some("1")),
                ModelCall::Infer
            ))
        );
    }

    #[test]
    fn wrong_method_and_admin_paths_on_the_data_plane() {
        assert!(matches!(
            data_route(&Method::GET, "/v2/models/iris/infer"),
            Err(Refusal::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            data_route(&Method::GET, "/admin/keys"),
            Err(Refusal::NotFound { .. })
        ));
        assert!(matches!(
            data_route(&Method::GET, "/metrics"),
            Err(Refusal::NotFound { .. })
        ));
        assert!(matches!(
            admin_route(&Method::DELETE, "/admin/keys"),
            Err(Refusal::MethodNotAllowed { .. })
        ));
        assert_eq!(
            admin_route(&Method::POST, "/admin/keys"),
            Ok(AdminRoute::Op(AdminOp::CreateKey))
        );
    }
}
