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
    ModelMetadata(ModelPath),
    ModelReady(ModelPath),
    Infer(ModelPath),
}

impl DataRoute {
    /// The action a caller needs; `None` for routes open to any authenticated caller
    /// (server metadata) or to anyone (health).
    pub fn action(&self) -> Option<Action> {
        match self {
            DataRoute::Live | DataRoute::Ready | DataRoute::ServerMetadata => None,
            DataRoute::ModelMetadata(_) | DataRoute::ModelReady(_) => Some(Action::ReadMetadata),
            DataRoute::Infer(_) => Some(Action::Infer),
        }
    }

    /// Health probes answer without credentials, so orchestrators can use them.
    pub fn is_public(&self) -> bool {
        matches!(self, DataRoute::Live | DataRoute::Ready)
    }

    pub fn model(&self) -> Option<&ModelPath> {
        match self {
            DataRoute::ModelMetadata(m) | DataRoute::ModelReady(m) | DataRoute::Infer(m) => Some(m),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    Live,
    Ready,
    Metrics,
    ListModels,
    LoadModel(String),
    UnloadModel(String),
    ListKeys,
    CreateKey,
    RevokeKey(String),
}

impl AdminRoute {
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            AdminRoute::Live | AdminRoute::Ready => return None,
            AdminRoute::Metrics => Action::ReadMetrics,
            AdminRoute::ListModels => Action::ListModels,
            AdminRoute::LoadModel(_) => Action::LoadModel,
            AdminRoute::UnloadModel(_) => Action::UnloadModel,
            AdminRoute::ListKeys | AdminRoute::CreateKey | AdminRoute::RevokeKey(_) => {
                Action::ManageKeys
            }
        })
    }

    pub fn is_public(&self) -> bool {
        matches!(self, AdminRoute::Live | AdminRoute::Ready)
    }

    pub fn model(&self) -> Option<&str> {
        match self {
            AdminRoute::LoadModel(m) | AdminRoute::UnloadModel(m) => Some(m),
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

pub fn data_route(m: &Method, path: &str) -> Result<DataRoute, Refusal> {
    let s = segments(path);
    let get = |r: DataRoute| method(m, Method::GET, "GET, HEAD").map(|()| r);
    let post = |r: DataRoute| method(m, Method::POST, "POST").map(|()| r);
    match s.as_slice() {
        ["v2", "health", "live"] => get(DataRoute::Live),
        ["v2", "health", "ready"] => get(DataRoute::Ready),
        ["v2"] | ["v2", ""] => get(DataRoute::ServerMetadata),
        ["v2", "models", name] if !name.is_empty() => {
            get(DataRoute::ModelMetadata(model_path(name, None)))
        }
        ["v2", "models", name, "versions", v] if !v.is_empty() => {
            get(DataRoute::ModelMetadata(model_path(name, Some(v))))
        }
        ["v2", "models", name, "ready"] => get(DataRoute::ModelReady(model_path(name, None))),
        ["v2", "models", name, "versions", v, "ready"] => {
            get(DataRoute::ModelReady(model_path(name, Some(v))))
        }
        ["v2", "models", name, "infer"] => post(DataRoute::Infer(model_path(name, None))),
        ["v2", "models", name, "versions", v, "infer"] => {
            post(DataRoute::Infer(model_path(name, Some(v))))
        }
        _ => Err(not_found(path)),
    }
}

pub fn admin_route(m: &Method, path: &str) -> Result<AdminRoute, Refusal> {
    let s = segments(path);
    let get = |r: AdminRoute| method(m, Method::GET, "GET, HEAD").map(|()| r);
    let post = |r: AdminRoute| method(m, Method::POST, "POST").map(|()| r);
    match s.as_slice() {
        ["v2", "health", "live"] => get(AdminRoute::Live),
        ["v2", "health", "ready"] => get(AdminRoute::Ready),
        ["metrics"] => get(AdminRoute::Metrics),
        ["admin", "models"] => get(AdminRoute::ListModels),
        ["admin", "models", name, "load"] => post(AdminRoute::LoadModel(name.to_string())),
        ["admin", "models", name, "unload"] => post(AdminRoute::UnloadModel(name.to_string())),
        ["admin", "keys"] if *m == Method::POST => Ok(AdminRoute::CreateKey),
        ["admin", "keys"] => get(AdminRoute::ListKeys).map_err(|_| Refusal::MethodNotAllowed {
            allow: "GET, HEAD, POST",
        }),
        ["admin", "keys", id, "revoke"] => post(AdminRoute::RevokeKey(id.to_string())),
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
            Ok(DataRoute::ModelMetadata(model_path("iris", None)))
        );
        assert_eq!(
            data_route(&g, "/v2/models/iris/versions/2/ready"),
            Ok(DataRoute::ModelReady(model_path("iris", Some("2"))))
        );
        assert_eq!(
            data_route(&Method::POST, "/v2/models/iris/versions/1/infer"),
            Ok(DataRoute::Infer(model_path("iris", Some("1"))))
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
            Ok(AdminRoute::CreateKey)
        );
    }
}
