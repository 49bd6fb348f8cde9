//! The policy set: every allow or deny is a Cedar decision.
//!
//! Why Cedar: policies are data, not code; they are validated against a schema before they
//! can decide anything (a typo in an attribute name is a load error, not a silent deny), and
//! each decision names the policies that made it, which goes into the audit event.
//!
//! The set is the role table (compiled to Cedar by `palisade-config`) plus every `*.cedar`
//! file in `[policies] dir`. It is compiled once, validated, and swapped atomically on reload
//! (SIGHUP or `POST /admin/policies/reload`); an invalid set is refused with Cedar's
//! diagnostics and the running set keeps serving.
//!
//! A decision is a pure function of principal, action, resource and context, and context
//! time is in whole seconds, so decisions are memoized per set (`MAX_MEMO` entries, dropped
//! with the set on reload): a caller repeating a call within the same second pays a hash
//! lookup, not an evaluation (about 20 µs; see docs/benchmarks.md).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Effect, Entities, Entity, EntityId,
    EntityTypeName, EntityUid, PolicyId, PolicySet, PrincipalConstraint, Request,
    ResourceConstraint, RestrictedExpression, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use palisade_config::{Action, Config};

use crate::principal::{Principal, PrincipalKind};

/// The schema policies are checked against (also printed by `palisade policies schema`).
pub const SCHEMA: &str = include_str!("policy/schema.cedarschema");
const MAX_POLICY_FILE_BYTES: u64 = 1 << 20;
const MAX_POLICY_FILES: usize = 256;
/// Memoized decisions kept per set before the memo is cleared.
const MAX_MEMO: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {message}")]
    Read { file: PathBuf, message: String },
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("policies fail validation against the Palisade schema:\n{0}")]
    Invalid(String),
    #[error("the built-in schema does not parse: {0}")]
    Schema(String),
}

/// What a model looks like to a policy (borrowed from the loaded model's manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelResource<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub risk: &'a str,
    pub personal_data: &'a [String],
    pub owner: Option<&'a str>,
}

/// The request context policies see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext<'a> {
    pub plane: &'a str,
    pub client_ip: IpAddr,
    pub mtls: bool,
    pub spiffe_id: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// One decision, with the policies that made it (empty for a deny by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub policies: Arc<[String]>,
    /// Policies that could not be evaluated (skipped, as Cedar does).
    pub errors: Vec<String>,
}

/// The memo key: SHA-256 of everything a decision depends on, each field length-prefixed,
/// so two different questions cannot share a key (short of a SHA-256 collision) and a lookup
/// allocates nothing.
fn question_digest(
    who: &Principal,
    action: Action,
    model: Option<&ModelResource<'_>>,
    context: &RequestContext<'_>,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut put = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    put(who.kind.cedar_type().as_bytes());
    put(who.name.as_bytes());
    put(who.label.as_bytes());
    put(who.method.as_str().as_bytes());
    put(who.issuer.as_deref().unwrap_or("\0none").as_bytes());
    put(&(who.roles.len() as u64).to_le_bytes());
    for role in &who.roles {
        put(role.as_bytes());
    }
    put(action.as_str().as_bytes());
    match model {
        None => put(b"\0server"),
        Some(m) => {
            put(m.name.as_bytes());
            put(m.version.unwrap_or("\0none").as_bytes());
            put(m.risk.as_bytes());
            put(m.owner.unwrap_or("\0none").as_bytes());
            put(&(m.personal_data.len() as u64).to_le_bytes());
            for p in m.personal_data {
                put(p.as_bytes());
            }
        }
    }
    put(context.plane.as_bytes());
    match context.client_ip {
        IpAddr::V4(ip) => put(&ip.octets()),
        IpAddr::V6(ip) => put(&ip.octets()),
    }
    put(&[u8::from(context.mtls)]);
    put(context.spiffe_id.unwrap_or("\0none").as_bytes());
    put(&context.now.to_le_bytes());
    h.finalize().into()
}

/// A validated, compiled set, never changed after it is built.
pub struct CompiledPolicies {
    set: PolicySet,
    authorizer: Authorizer,
    memo: dashmap::DashMap<[u8; 32], Verdict>,
    roles: BTreeSet<String>,
    ids: Vec<String>,
    utc_offset_minutes: i32,
    types: Types,
}

/// Entity type names and action uids parsed once, not per call.
struct Types {
    role: EntityTypeName,
    model: EntityTypeName,
    server: EntityUid,
    principal: [EntityTypeName; 3],
    actions: HashMap<Action, EntityUid>,
}

impl Types {
    fn new() -> Types {
        let name = |n: &str| EntityTypeName::from_str(n).unwrap_or_else(|_| unreachable!());
        let actions = Action::ALL
            .iter()
            .map(|a| {
                let uid =
                    EntityUid::from_type_name_and_id(name("Action"), EntityId::new(a.as_str()));
                (*a, uid)
            })
            .collect();
        Types {
            role: name("Role"),
            model: name("Model"),
            server: EntityUid::from_type_name_and_id(name("Server"), EntityId::new("palisade")),
            principal: [name("User"), name("Service"), name("ApiKey")],
            actions,
        }
    }

    fn principal_type(&self, kind: PrincipalKind) -> &EntityTypeName {
        match kind {
            PrincipalKind::User => &self.principal[0],
            PrincipalKind::Service => &self.principal[1],
            PrincipalKind::ApiKey => &self.principal[2],
        }
    }
}

impl CompiledPolicies {
    /// Decide `action` on a model (`Some`) or on the server (`None`).
    pub fn decide(
        &self,
        who: &Principal,
        action: Action,
        model: Option<&ModelResource<'_>>,
        context: &RequestContext<'_>,
    ) -> Verdict {
        let question = question_digest(who, action, model, context);
        if let Some(known) = self.memo.get(&question) {
            return known.clone();
        }
        let verdict = self.decide_uncached(who, action, model, context);
        if verdict.errors.is_empty() {
            if self.memo.len() >= MAX_MEMO {
                self.memo.clear();
            }
            self.memo.insert(question, verdict.clone());
        }
        verdict
    }

    /// Evaluate the policies, without the memo (benchmarks use it too).
    pub fn decide_uncached(
        &self,
        who: &Principal,
        action: Action,
        model: Option<&ModelResource<'_>>,
        context: &RequestContext<'_>,
    ) -> Verdict {
        match self.evaluate(who, action, model, context) {
            Ok(verdict) => verdict,
            // Building the request failed (cannot happen with well-formed inputs): deny.
            Err(e) => Verdict {
                allowed: false,
                policies: Arc::from(Vec::new()),
                errors: vec![e],
            },
        }
    }

    fn evaluate(
        &self,
        who: &Principal,
        action: Action,
        model: Option<&ModelResource<'_>>,
        context: &RequestContext<'_>,
    ) -> Result<Verdict, String> {
        let t = &self.types;
        let principal = EntityUid::from_type_name_and_id(
            t.principal_type(who.kind).clone(),
            EntityId::new(&who.name),
        );
        let parents: HashSet<EntityUid> = who
            .roles
            .iter()
            .map(|r| EntityUid::from_type_name_and_id(t.role.clone(), EntityId::new(r)))
            .collect();
        let mut attrs = HashMap::new();
        match who.kind {
            PrincipalKind::ApiKey => {
                attrs.insert(
                    "name".to_string(),
                    RestrictedExpression::new_string(who.label.clone()),
                );
            }
            _ => {
                if let Some(issuer) = &who.issuer {
                    attrs.insert(
                        "issuer".to_string(),
                        RestrictedExpression::new_string(issuer.clone()),
                    );
                }
            }
        }
        let principal_entity =
            Entity::new(principal.clone(), attrs, parents).map_err(|e| e.to_string())?;
        let (resource, resource_entity) = match model {
            Some(m) => {
                let uid = EntityUid::from_type_name_and_id(t.model.clone(), EntityId::new(m.name));
                let mut attrs = HashMap::from([
                    (
                        "name".to_string(),
                        RestrictedExpression::new_string(m.name.into()),
                    ),
                    (
                        "risk".to_string(),
                        RestrictedExpression::new_string(m.risk.into()),
                    ),
                    (
                        "personal_data".to_string(),
                        RestrictedExpression::new_set(
                            m.personal_data
                                .iter()
                                .map(|p| RestrictedExpression::new_string(p.clone())),
                        ),
                    ),
                ]);
                if let Some(v) = m.version {
                    attrs.insert("version".into(), RestrictedExpression::new_string(v.into()));
                }
                if let Some(o) = m.owner {
                    attrs.insert("owner".into(), RestrictedExpression::new_string(o.into()));
                }
                let entity =
                    Entity::new(uid.clone(), attrs, HashSet::new()).map_err(|e| e.to_string())?;
                (uid, Some(entity))
            }
            None => (t.server.clone(), None),
        };
        let entities = Entities::from_entities(
            std::iter::once(principal_entity).chain(resource_entity),
            None,
        )
        .map_err(|e| e.to_string())?;
        let local = context.now + i64::from(self.utc_offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let hour = local.rem_euclid(86_400) / 3600;
        // 1970-01-01 was a Thursday (4).
        let weekday = (days + 3).rem_euclid(7) + 1;
        let mut pairs = vec![
            (
                "auth_method".to_string(),
                RestrictedExpression::new_string(who.method.as_str().into()),
            ),
            (
                "mtls".to_string(),
                RestrictedExpression::new_bool(context.mtls),
            ),
            (
                "client_ip".to_string(),
                RestrictedExpression::new_ip(context.client_ip.to_string()),
            ),
            (
                "plane".to_string(),
                RestrictedExpression::new_string(context.plane.into()),
            ),
            (
                "now".to_string(),
                RestrictedExpression::new_long(context.now),
            ),
            ("hour".to_string(), RestrictedExpression::new_long(hour)),
            (
                "weekday".to_string(),
                RestrictedExpression::new_long(weekday),
            ),
        ];
        if let Some(id) = context.spiffe_id {
            pairs.push((
                "spiffe_id".to_string(),
                RestrictedExpression::new_string(id.into()),
            ));
        }
        let context = Context::from_pairs(pairs).map_err(|e| e.to_string())?;
        let action_uid = t
            .actions
            .get(&action)
            .cloned()
            .ok_or_else(|| format!("no Cedar action for {action}"))?;
        let request = Request::new(principal, action_uid, resource, context, None)
            .map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.set, &entities);
        let diagnostics = response.diagnostics();
        Ok(Verdict {
            allowed: response.decision() == Decision::Allow,
            policies: diagnostics
                .reason()
                .map(PolicyId::to_string)
                .collect::<Vec<_>>()
                .into(),
            errors: diagnostics.errors().map(|e| e.to_string()).collect(),
        })
    }

    /// Role names the set mentions in `principal in Role::"..."` (for key creation).
    pub fn knows_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(String::as_str)
    }

    pub fn policy_ids(&self) -> &[String] {
        &self.ids
    }

    /// Permits that hold for any principal and carry no `when`/`unless`: deny-by-default
    /// holds only as long as nobody writes one by accident, so `policies check` names them.
    pub fn open_permits(&self) -> Vec<OpenPermit> {
        self.set
            .policies()
            .filter(|p| {
                p.effect() == Effect::Permit
                    && !p.has_non_scope_constraint()
                    && p.principal_constraint() == PrincipalConstraint::Any
            })
            .map(|p| OpenPermit {
                id: p.id().to_string(),
                everything: p.action_constraint() == ActionConstraint::Any
                    && p.resource_constraint() == ResourceConstraint::Any,
            })
            .collect()
    }
}

/// A permit with no principal and no condition in it (see [`CompiledPolicies::open_permits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPermit {
    pub id: String,
    /// Also open on action and resource: `permit (principal, action, resource);`.
    pub everything: bool,
}

impl std::fmt::Display for OpenPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.everything {
            write!(f, "policy {} permits every action on every resource to any authenticated caller, with no condition; scope it to a role (`principal in Role::\"...\"`) or add a `when` clause", self.id)
        } else {
            write!(f, "policy {} permits its actions to any authenticated caller, with no condition; scope it to a role (`principal in Role::\"...\"`) if that is not intended", self.id)
        }
    }
}

/// What a set is compiled from, kept so that a reload reads the same places.
struct Sources {
    schema: Schema,
    role_table: String,
    extra_roles: BTreeSet<String>,
    dir: Option<PathBuf>,
    utc_offset_minutes: i32,
}

impl Sources {
    fn compile(&self) -> Result<CompiledPolicies, PolicyError> {
        compile(
            &self.schema,
            &self.role_table,
            self.dir.as_deref(),
            &self.extra_roles,
            self.utc_offset_minutes,
        )
    }
}

/// The running set, swapped whole on reload.
pub struct PolicyStore {
    sources: Sources,
    current: RwLock<Arc<CompiledPolicies>>,
}

impl PolicyStore {
    pub fn load(config: &Config) -> Result<PolicyStore, PolicyError> {
        let mut extra_roles: BTreeSet<String> = config.roles.names().map(str::to_string).collect();
        extra_roles.extend(config.identity.mtls.roles.values().flatten().cloned());
        let sources = Sources {
            schema: schema()?,
            role_table: config.roles.to_cedar(),
            extra_roles,
            dir: config.policies.dir.clone(),
            utc_offset_minutes: config.policies.utc_offset_minutes,
        };
        let compiled = sources.compile()?;
        Ok(PolicyStore {
            sources,
            current: RwLock::new(Arc::new(compiled)),
        })
    }

    pub fn current(&self) -> Arc<CompiledPolicies> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-read the policy files; swap the new set in only if all of it is valid.
    pub fn reload(&self) -> Result<Arc<CompiledPolicies>, PolicyError> {
        let compiled = Arc::new(self.sources.compile()?);
        match self.current.write() {
            Ok(mut guard) => *guard = compiled.clone(),
            Err(poisoned) => *poisoned.into_inner() = compiled.clone(),
        }
        Ok(compiled)
    }
}

pub fn schema() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| PolicyError::Schema(e.to_string()))
}

/// Parse, name and validate the role table and the files of `dir` as one set.
pub fn compile(
    schema: &Schema,
    role_table: &str,
    dir: Option<&Path>,
    extra_roles: &BTreeSet<String>,
    utc_offset_minutes: i32,
) -> Result<CompiledPolicies, PolicyError> {
    let mut sources = vec![(
        "role table".to_string(),
        "role".to_string(),
        role_table.to_string(),
    )];
    if let Some(dir) = dir {
        sources.extend(read_policy_dir(dir)?);
    }
    let mut set = PolicySet::new();
    let mut ids = Vec::new();
    // Which source each policy came from, so that validation errors can name file and line.
    let mut origin: HashMap<String, usize> = HashMap::new();
    for (index, (source_name, prefix, text)) in sources.iter().enumerate() {
        let parsed = PolicySet::from_str(text).map_err(|e| PolicyError::Parse {
            source_name: source_name.clone(),
            message: describe(&e, text),
        })?;
        if parsed.templates().next().is_some() {
            return Err(PolicyError::Parse {
                source_name: source_name.clone(),
                message: "policy templates (?principal, ?resource) are not supported; write the entity out".into(),
            });
        }
        for (n, policy) in parsed.policies().enumerate() {
            // `@id("...")` names a policy in audit events; otherwise `<file>.<n>`.
            let id = policy
                .annotation("id")
                .map(str::to_string)
                .unwrap_or_else(|| format!("{prefix}.{}", n + 1));
            let named = policy.new_id(PolicyId::new(&id));
            set.add(named).map_err(|_| PolicyError::Parse {
                source_name: source_name.clone(),
                message: format!("policy id '{id}' is used twice; give each @id a unique name"),
            })?;
            origin.insert(id.clone(), index);
            ids.push(id);
        }
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let lines: Vec<String> = result
            .validation_errors()
            .map(|e| {
                let id = e.policy_id().to_string();
                match origin.get(&id).map(|&i| &sources[i]) {
                    Some((source_name, _, text)) => {
                        format!("  - {source_name}: policy {id}: {}", describe(e, text))
                    }
                    None => format!("  - policy {id}: {}", e),
                }
            })
            .collect();
        return Err(PolicyError::Invalid(lines.join("\n")));
    }
    let mut roles = extra_roles.clone();
    for policy in set.policies() {
        if let PrincipalConstraint::In(uid) = policy.principal_constraint() {
            if uid.type_name().to_string() == "Role" {
                roles.insert(uid.id().unescaped().to_string());
            }
        }
    }
    Ok(CompiledPolicies {
        set,
        authorizer: Authorizer::new(),
        memo: dashmap::DashMap::new(),
        roles,
        ids,
        utc_offset_minutes,
        types: Types::new(),
    })
}

/// `(display name, id prefix, text)` of every `*.cedar` file in `dir`, sorted by name.
fn read_policy_dir(dir: &Path) -> Result<Vec<(String, String, String)>, PolicyError> {
    let read_err = |file: &Path, e: std::io::Error| PolicyError::Read {
        file: file.to_path_buf(),
        message: e.to_string(),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    files.sort();
    if files.len() > MAX_POLICY_FILES {
        return Err(PolicyError::Read {
            file: dir.to_path_buf(),
            message: format!(
                "{} policy files, over the limit of {MAX_POLICY_FILES}",
                files.len()
            ),
        });
    }
    let mut out = Vec::new();
    for file in files {
        let len = std::fs::metadata(&file)
            .map_err(|e| read_err(&file, e))?
            .len();
        if len > MAX_POLICY_FILE_BYTES {
            return Err(PolicyError::Read {
                file,
                message: format!(
                    "{len} bytes, over the {MAX_POLICY_FILE_BYTES}-byte limit for a policy file"
                ),
            });
        }
        let text = std::fs::read_to_string(&file).map_err(|e| read_err(&file, e))?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((file.display().to_string(), stem, text));
    }
    Ok(out)
}

/// Cedar's diagnostic as one message with line and column of each labelled span.
fn describe(diag: &dyn Diagnostic, text: &str) -> String {
    let mut parts = Vec::new();
    let mut push = |d: &dyn Diagnostic| {
        let mut s = d.to_string();
        if let Some(labels) = d.labels() {
            for label in labels {
                let offset = label.offset().min(text.len());
                let line = text[..offset].matches('\n').count() + 1;
                let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
                s.push_str(&format!(" (line {line}, column {column})"));
            }
        }
        if let Some(help) = d.help() {
            s.push_str(&format!("; help: {help}"));
        }
        parts.push(s);
    };
    push(diag);
    if let Some(related) = diag.related() {
        for d in related {
            push(d);
        }
    }
    parts.dedup();
    parts.join("\n")
}

#[cfg(test)]
mod tests;
