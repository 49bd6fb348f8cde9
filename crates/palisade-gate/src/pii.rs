//! PII minimization of model text: in `inspect` for string (BYTES) inputs before the model
//! sees them, in `harden` for string outputs before they leave. Each model has an action per
//! entity type (`[pii.models.<name>]`, else `[pii.default]`, which redacts everything).
//! What was found is counted by type into the call's audit event and the metrics; values
//! never are. [`scrub`] is the same engine for text on its way to a log line.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use palisade_model::{TValue, TVec, TensorSpec};
use palisade_pii::{Action, Engine, Entity, Keys, Outcome, Policy};

use crate::refusal::Refusal;

/// Input and output policies of one model.
pub struct ModelPolicies {
    pub inputs: Policy,
    pub outputs: Policy,
}

pub struct PiiGuard {
    engine: Engine,
    keys: Keys,
    default: ModelPolicies,
    models: HashMap<String, ModelPolicies>,
}

/// Where text was minimized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// Personal data found in one call's text, by direction and entity type: counts only,
/// never values (they go to the audit entry and the metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PiiFindings(BTreeMap<(Direction, &'static str), u32>);

impl PiiFindings {
    fn add(&mut self, direction: Direction, entity: &'static str, n: u32) {
        *self.0.entry((direction, entity)).or_insert(0) += n;
    }

    /// (direction, entity type, count), in order.
    pub fn iter(&self) -> impl Iterator<Item = (Direction, &'static str, u32)> + '_ {
        self.0.iter().map(|(&(d, e), &n)| (d, e, n))
    }

    /// Counts by entity type over both directions (the audit entry's `pii`).
    pub fn by_entity(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for (_, entity, n) in self.iter() {
            *out.entry(entity.to_string()).or_insert(0) += n;
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn read_key(path: &Path, key: &str) -> Result<[u8; 32], String> {
    palisade_pii::actions::read_key_file(path).map_err(|e| format!("pii.{key}: {e}"))
}

fn policy(table: &BTreeMap<String, String>, at: &str) -> Result<Policy, String> {
    let mut policy = Policy::uniform(Action::Redact);
    for (entity, action) in table {
        let parsed = Action::parse(action).ok_or_else(|| {
            format!("{at}.{entity}: '{action}' is not an action; use redact, mask, hash, encrypt, reject or allow")
        })?;
        if entity == "default" {
            policy.default = parsed;
        } else {
            let e = Entity::parse(entity).ok_or_else(|| {
                let all: Vec<&str> = Entity::ALL.iter().map(|e| e.as_str()).collect();
                format!(
                    "{at}.{entity}: not an entity type; use one of {} (or default)",
                    all.join(", ")
                )
            })?;
            policy.per_entity.insert(e, parsed);
        }
    }
    Ok(policy)
}

impl PiiGuard {
    /// Compile `[pii]`: every entity and action name checked, every key the policies need read.
    pub fn compile(config: &palisade_config::pii::Pii) -> Result<PiiGuard, String> {
        let compile =
            |m: &palisade_config::pii::ModelPii, at: &str| -> Result<ModelPolicies, String> {
                Ok(ModelPolicies {
                    inputs: policy(&m.inputs, &format!("{at}.inputs"))?,
                    outputs: policy(&m.outputs, &format!("{at}.outputs"))?,
                })
            };
        let default = compile(&config.default, "pii.default")?;
        let mut models = HashMap::new();
        for (name, m) in &config.models {
            models.insert(name.clone(), compile(m, &format!("pii.models.{name}"))?);
        }
        let all: Vec<&ModelPolicies> = models.values().chain([&default]).collect();
        let needs = |a: Action| all.iter().any(|m| m.inputs.needs(a) || m.outputs.needs(a));
        let hash =
            match (&config.hash_key, needs(Action::Hash)) {
                (Some(p), _) => Some(read_key(p, "hash_key")?),
                (None, true) => return Err(
                    "pii.hash_key: a policy uses \"hash\"; set hash_key to a file of 64 hex digits"
                        .into(),
                ),
                (None, false) => None,
            };
        let encrypt = match (&config.encrypt_key, needs(Action::Encrypt)) {
            (Some(p), _) => Some(read_key(p, "encrypt_key")?),
            (None, true) => return Err("pii.encrypt_key: a policy uses \"encrypt\"; set encrypt_key to a file of 64 hex digits".into()),
            (None, false) => None,
        };
        Ok(PiiGuard {
            engine: Engine::new()
                .map_err(|e| e.to_string())?
                .with_min_score(config.min_score),
            keys: Keys::new(hash.as_ref(), encrypt.as_ref()).map_err(|e| e.to_string())?,
            default,
            models,
        })
    }

    fn policies(&self, model: &str) -> &ModelPolicies {
        self.models.get(model).unwrap_or(&self.default)
    }

    /// Minimize every string tensor in `values` (named by `specs`) under the model's policy
    /// for `direction`; what was found is counted into `found`.
    pub fn minimize(
        &self,
        model: &str,
        direction: Direction,
        specs: &[TensorSpec],
        values: TVec<TValue>,
        found: &mut PiiFindings,
    ) -> Result<TVec<TValue>, Refusal> {
        let policies = self.policies(model);
        let policy = match direction {
            Direction::Input => &policies.inputs,
            Direction::Output => &policies.outputs,
        };
        let mut out = TVec::new();
        for (ix, value) in values.into_iter().enumerate() {
            let name = specs.get(ix).map_or("?", |s| s.name.as_str());
            let rewritten = palisade_model::rewrite_strings(value, |text| {
                // Too costly to inspect: refused, never passed on uninspected.
                let spans = self.engine.scan_str(text).map_err(|e| match direction {
                    Direction::Input => Refusal::Unprocessable(format!(
                        "input '{name}': {e}; send text in smaller or plainer pieces"
                    )),
                    Direction::Output => Refusal::Unprocessable(format!(
                        "the output '{name}' of model '{model}' could not be inspected for personal data in bounded time and was withheld"
                    )),
                })?;
                if spans.is_empty() {
                    return Ok(());
                }
                match palisade_pii::actions::apply(text, &spans, policy, &self.keys) {
                    Ok(Outcome::Minimized {
                        text: minimized,
                        counts,
                    }) => {
                        for (entity, n) in counts {
                            found.add(direction, entity.as_str(), n);
                        }
                        *text = minimized;
                        Ok(())
                    }
                    Ok(Outcome::Rejected { entity, counts }) => {
                        for (entity, n) in counts {
                            found.add(direction, entity.as_str(), n);
                        }
                        Err(match direction {
                            Direction::Input => Refusal::BadRequest(format!(
                                "{} '{name}' contains {entity}, which model '{model}' does not accept; remove it and retry",
                                "input"
                            )),
                            // An output the policy refuses is withheld: the caller learns why, not what.
                            Direction::Output => Refusal::Unprocessable(format!(
                                "the output '{name}' of model '{model}' contained {entity} and was withheld"
                            )),
                        })
                    }
                    Err(e) => Err(Refusal::Internal(format!("PII minimization failed: {e}"))),
                }
            })?;
            out.push(rewritten);
        }
        Ok(out)
    }

    /// Every entity in `text` redacted: for messages on their way to a log line.
    pub fn scrub(&self, text: &str) -> String {
        palisade_pii::redact_all(&self.engine, text)
    }
}

/// Redact personal data from text that may reach a log line or an error message.
pub use palisade_pii::scrub_for_logs as scrub;
