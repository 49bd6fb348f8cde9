//! Loaded models. Readers take a snapshot (an `Arc` of the whole map) and never wait on a
//! load: a load or unload builds a new map and swaps it in, and calls in flight keep the
//! model they started with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use palisade_model::{LoadedModel, ModelError, Repository, Runtime};

use crate::refusal::{printable, Refusal};

pub struct Registry {
    repo: Repository,
    loaded: RwLock<Arc<BTreeMap<String, Arc<LoadedModel>>>>,
    /// Serializes loads and unloads so two admins cannot race a swap.
    changes: Mutex<()>,
}

impl Registry {
    pub fn new(repo: Repository) -> Registry {
        Registry {
            repo,
            loaded: RwLock::new(Arc::new(BTreeMap::new())),
            changes: Mutex::new(()),
        }
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    fn snapshot(&self) -> Arc<BTreeMap<String, Arc<LoadedModel>>> {
        match self.loaded.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<LoadedModel>> {
        self.snapshot().get(name).cloned()
    }

    pub fn loaded(&self) -> Vec<Arc<LoadedModel>> {
        self.snapshot().values().cloned().collect()
    }

    /// Read, verify and plan a model, then swap it in (replacing any loaded copy).
    /// Blocking: call from a blocking context.
    pub fn load(&self, name: &str) -> Result<Arc<LoadedModel>, ModelError> {
        let model = Arc::new(self.repo.load(name)?);
        self.update(|table| {
            table.insert(name.to_string(), model.clone());
            Ok::<_, ModelError>(model)
        })
    }

    /// Make `version` the default of a loaded model. Returns (old default, new default).
    pub fn set_default(&self, name: &str, version: &str) -> Result<(String, String), Refusal> {
        self.switch(name, |m| {
            m.with_default(version).map_err(|_| Refusal::NotFound {
                message: format!("model '{name}' has no version '{}'", printable(version)),
                hidden: false,
            })
        })
    }

    /// Return a loaded model to its previous default. Returns (old default, new default).
    pub fn roll_back(&self, name: &str) -> Result<(String, String), Refusal> {
        self.switch(name, |m| {
            m.rolled_back().ok_or_else(|| {
                Refusal::Conflict(format!(
                    "model '{name}' has no earlier default version to roll back to"
                ))
            })
        })
    }

    fn switch(
        &self,
        name: &str,
        change: impl FnOnce(&LoadedModel) -> Result<LoadedModel, Refusal>,
    ) -> Result<(String, String), Refusal> {
        self.update(|table| {
            let current = table
                .get(name)
                .ok_or_else(|| Refusal::not_found_model(name, false))?;
            let changed = change(current)?;
            let versions = (
                current.default_version().to_string(),
                changed.default_version().to_string(),
            );
            table.insert(name.to_string(), Arc::new(changed));
            Ok(versions)
        })
    }

    pub fn unload(&self, name: &str) -> bool {
        self.update(|table| table.remove(name).ok_or(())).is_ok()
    }

    /// Every change goes through here: edit a copy of the table under the change lock and
    /// swap it in if the edit succeeds. Readers never wait.
    fn update<T, E>(
        &self,
        edit: impl FnOnce(&mut BTreeMap<String, Arc<LoadedModel>>) -> Result<T, E>,
    ) -> Result<T, E> {
        let _guard = self.changes.lock();
        let mut next = (*self.snapshot()).clone();
        let out = edit(&mut next)?;
        self.swap(next);
        Ok(out)
    }

    fn swap(&self, next: BTreeMap<String, Arc<LoadedModel>>) {
        match self.loaded.write() {
            Ok(mut g) => *g = Arc::new(next),
            Err(p) => *p.into_inner() = Arc::new(next),
        }
    }
}

/// The version a call asked for, or the model's default.
pub fn resolve_version<'m>(
    model: &'m LoadedModel,
    asked: Option<&str>,
) -> Result<(&'m str, &'m Arc<Runtime>), Refusal> {
    let version = asked.unwrap_or_else(|| model.default_version());
    model
        .versions
        .get_key_value(version)
        .map(|(v, rt)| (v.as_str(), rt))
        .ok_or_else(|| Refusal::NotFound {
            message: format!(
                "model '{}' has no version '{}'",
                model.name,
                printable(version)
            ),
            hidden: false,
        })
}
