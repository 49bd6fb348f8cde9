//! `<repo>/<model>/<version>/model.onnx` plus `<repo>/<model>/model.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::load::{load_version, LoadPolicy, Loader, Provenance};
use crate::manifest::{version_order, TrustedRisk};
use crate::{valid_name, Manifest, ModelError, Operators, Runtime};

pub struct Repository {
    root: PathBuf,
    max_model_bytes: u64,
    policy: LoadPolicy,
    operators: Operators,
}

/// Every version of one model, verified and planned. Immutable: switching the default
/// version makes a new value (sharing the planned runtimes), so a call that resolved a
/// version keeps it however the default moves meanwhile.
#[derive(Clone)]
pub struct LoadedModel {
    pub name: String,
    pub manifest: Manifest,
    /// The risk decisions use: the config's pin, the manifest's when every version's
    /// signature covers it, else high.
    pub risk: TrustedRisk,
    pub versions: BTreeMap<String, Arc<Runtime>>,
    /// What each version proved at load.
    pub provenance: BTreeMap<String, Provenance>,
    default_version: String,
    /// Earlier defaults, most recent last: what a rollback returns to.
    previous_defaults: Vec<String>,
}

impl LoadedModel {
    pub fn default_version(&self) -> &str {
        &self.default_version
    }

    /// Versions, lowest first.
    pub fn version_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.versions.keys().map(String::as_str).collect();
        v.sort_by(|a, b| version_order(a, b));
        v
    }

    /// The same model with `version` as its default.
    pub fn with_default(&self, version: &str) -> Result<LoadedModel, ModelError> {
        if !self.versions.contains_key(version) {
            return Err(ModelError::NoSuchVersion {
                model: self.name.clone(),
                version: version.to_string(),
            });
        }
        let mut next = self.clone();
        if next.default_version != version {
            next.previous_defaults.push(std::mem::replace(
                &mut next.default_version,
                version.to_string(),
            ));
        }
        Ok(next)
    }

    /// The same model with its previous default back, if there was one.
    pub fn rolled_back(&self) -> Option<LoadedModel> {
        let mut next = self.clone();
        next.default_version = next.previous_defaults.pop()?;
        Some(next)
    }

    /// The default a rollback would return to.
    pub fn previous_default(&self) -> Option<&str> {
        self.previous_defaults.last().map(String::as_str)
    }
}

impl Repository {
    /// A repository at `root` whose models may use tract's operators and `operators`.
    pub fn new(root: impl Into<PathBuf>, max_model_bytes: u64, operators: Operators) -> Repository {
        Repository {
            root: root.into(),
            max_model_bytes,
            policy: LoadPolicy::default(),
            operators,
        }
    }

    /// What every version must prove before it loads.
    pub fn with_policy(mut self, policy: LoadPolicy) -> Repository {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &LoadPolicy {
        &self.policy
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names of the folders that hold a `model.toml`, sorted.
    pub fn model_names(&self) -> Result<Vec<String>, ModelError> {
        let io = |e: std::io::Error| ModelError::Io {
            path: self.root.clone(),
            message: e.to_string(),
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if valid_name(&name) && entry.path().join("model.toml").is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn manifest(&self, model: &str) -> Result<Manifest, ModelError> {
        if !valid_name(model) {
            return Err(ModelError::NotFound {
                model: model.to_string(),
            });
        }
        let path = self.root.join(model).join("model.toml");
        if !path.is_file() {
            return Err(ModelError::NotFound {
                model: model.to_string(),
            });
        }
        Manifest::read(&path)
    }

    /// Read, decrypt, verify, scan and plan every version in the model's manifest
    /// (see [`crate::load`]). One refused version refuses the model.
    pub fn load(&self, model: &str) -> Result<LoadedModel, ModelError> {
        let manifest = self.manifest(model)?;
        let mut versions = BTreeMap::new();
        let mut provenance = BTreeMap::new();
        for (version, entry) in &manifest.versions {
            let loader = Loader {
                root: &self.root,
                policy: &self.policy,
                max_bytes: self.max_model_bytes,
                operators: &self.operators,
            };
            let (runtime, proved) = load_version(&loader, model, version, entry, &manifest)?;
            versions.insert(version.clone(), Arc::new(runtime));
            provenance.insert(version.clone(), proved);
        }
        let default_version = manifest.default_version().to_string();
        let governance_signed = provenance.values().all(|p| p.governance_signed);
        let risk = TrustedRisk::decide(
            self.policy.risk_pins.get(model).copied(),
            &manifest,
            governance_signed,
        );
        Ok(LoadedModel {
            name: model.to_string(),
            manifest,
            risk,
            versions,
            provenance,
            default_version,
            previous_defaults: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
    }

    #[test]
    fn demo_models_load() {
        let repo = Repository::new(demo_repo(), 1 << 20, crate::tests::ONNX_ML);
        let names = repo.model_names().unwrap();
        assert_eq!(names, ["breast-cancer", "diabetes", "iris"]);
        for name in names {
            let m = repo.load(&name).unwrap();
            assert_eq!(m.default_version(), "1");
        }
    }

    #[test]
    fn default_switches_and_rolls_back() {
        let iris = Repository::new(demo_repo(), 1 << 20, crate::tests::ONNX_ML)
            .load("iris")
            .unwrap();
        assert_eq!(iris.version_names(), ["1", "2"]);
        assert!(iris.rolled_back().is_none());
        let v2 = iris.with_default("2").unwrap();
        assert_eq!(
            (v2.default_version(), v2.previous_default()),
            ("2", Some("1"))
        );
        assert!(
            Arc::ptr_eq(&v2.versions["1"], &iris.versions["1"]),
            "runtimes are shared, not re-planned"
        );
        assert_eq!(v2.rolled_back().unwrap().default_version(), "1");
        assert!(matches!(
            iris.with_default("9"),
            Err(ModelError::NoSuchVersion { .. })
        ));
        assert_eq!(
            iris.with_default("1").unwrap().previous_default(),
            None,
            "a no-op switch is not history"
        );
    }

    #[test]
    fn digest_mismatch_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("iris");
        std::fs::create_dir_all(model.join("1")).unwrap();
        std::fs::copy(
            demo_repo().join("iris/model.toml"),
            model.join("model.toml"),
        )
        .unwrap();
        let mut bytes = std::fs::read(demo_repo().join("iris/1/model.onnx")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(model.join("1/model.onnx"), bytes).unwrap();
        let err = Repository::new(dir.path(), 1 << 20, crate::tests::ONNX_ML)
            .load("iris")
            .err()
            .unwrap();
        assert!(matches!(err, ModelError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains("iris/1/model.onnx"), "{err}");
    }

    #[test]
    fn oversized_file_and_unknown_model_are_refused() {
        let repo = Repository::new(demo_repo(), 16, crate::tests::ONNX_ML);
        assert!(matches!(repo.load("iris"), Err(ModelError::Invalid { .. })));
        assert!(matches!(
            repo.load("nope"),
            Err(ModelError::NotFound { .. })
        ));
        assert!(matches!(
            repo.load("../models"),
            Err(ModelError::NotFound { .. })
        ));
    }
}
