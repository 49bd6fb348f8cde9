//! The identity store for JWT bearer tokens (OIDC): issuers, their keys, and verification.
//!
//! Token parsing and signature checks are `jsonwebtoken`'s (on `ring`, the crypto the rest of
//! the server uses); this module decides which key and which algorithms a token may use:
//! - the algorithm must be on the issuer's allow-list *and* fit the key's type (an RSA key
//!   never verifies an HS256 MAC, the classic confusion attack); `none` never parses;
//! - keys come from a JWKS over HTTPS (cached; refetched on a timer, and on an unknown `kid`
//!   no more often than `min_refresh_interval`), a JWKS file, or an HS256 secret file;
//!   symmetric keys inside a JWKS are ignored;
//! - `iss`, `aud` and `exp` are required; `exp`, `nbf` and `iat` get the issuer's leeway;
//! - a token may live at most the issuer's `max_token_lifetime` (`exp - iat`, and `exp` no
//!   further than that from now), so a leaked long-lived token is not a permanent key;
//! - a header with `crit` is refused: this verifier implements no JWS extension, and RFC 7515
//!   §4.1.11 says a recipient must reject critical parameters it does not understand.
//!
//! A verified token is remembered (the whole token is the key, so no other byte string
//! matches) until it expires, the cache fills (`MAX_VERIFIED`) or the keys change: a client
//! sending the same token call after call pays one signature check, as with Envoy's
//! `jwt_cache_config`. Time bounds are checked again on every use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use palisade_config::{JwtIssuer, JwtKeys, PrincipalKind as ConfigKind};
use serde_json::Value;

use crate::principal::{AuthMethod, Principal, PrincipalKind};

const MAX_JWKS_BYTES: usize = 1 << 20;
const MAX_JWKS_KEYS: usize = 100;
const MAX_ROLES: usize = 64;
const MAX_PRINCIPAL_BYTES: usize = 256;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_VERIFIED: usize = 16_384;

/// A token that verified, and the window in which it stays valid (leeway included).
struct Verified {
    principal: Principal,
    /// Key-set generation it was verified under; a later swap makes it stale.
    generation: u64,
    not_before: u64,
    not_after: u64,
}

/// Why a token was not accepted. Callers see one 401; the audit log keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejection {
    #[error("token over the size limit")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed for this issuer or key")]
    AlgorithmNotAllowed,
    #[error("no key with this kid")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("a required claim is missing")]
    MissingClaim,
    #[error("lives longer than the issuer's max_token_lifetime")]
    LifetimeTooLong,
    #[error("the header lists critical extensions this server does not implement")]
    UnsupportedCritical,
}

impl JwtRejection {
    pub fn reason(self) -> &'static str {
        match self {
            JwtRejection::TooLarge => "jwt_too_large",
            JwtRejection::Malformed => "jwt_malformed",
            JwtRejection::AlgorithmNotAllowed => "jwt_algorithm_not_allowed",
            JwtRejection::UnknownKey => "jwt_unknown_kid",
            JwtRejection::BadSignature => "jwt_bad_signature",
            JwtRejection::Expired => "jwt_expired",
            JwtRejection::NotYetValid => "jwt_not_yet_valid",
            JwtRejection::IssuedInFuture => "jwt_issued_in_future",
            JwtRejection::WrongIssuer => "jwt_wrong_issuer",
            JwtRejection::WrongAudience => "jwt_wrong_audience",
            JwtRejection::MissingClaim => "jwt_missing_claim",
            JwtRejection::LifetimeTooLong => "jwt_lifetime_too_long",
            JwtRejection::UnsupportedCritical => "jwt_crit_unsupported",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("{source_name}: {message}")]
    Load {
        source_name: String,
        message: String,
    },
}

/// One verification key and the algorithms it may verify.
struct VerifyKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<VerifyKey>>,
    /// Keys without a `kid`: used only when the set has exactly one key.
    unnamed: Vec<Arc<VerifyKey>>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.by_kid.len() + self.unnamed.len() == 1 => self
                .unnamed
                .first()
                .or_else(|| self.by_kid.values().next())
                .cloned(),
            None => None,
        }
    }
}

struct Issuer {
    config: JwtIssuer,
    allowed: Vec<Algorithm>,
    keys: RwLock<Arc<KeySet>>,
    client: Option<reqwest::Client>,
    /// When keys were last fetched; held while fetching so concurrent misses share one fetch.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Bumped on every key swap: verified tokens from before are forgotten.
    generation: std::sync::atomic::AtomicU64,
}

/// Every configured issuer.
pub struct JwtVerifier {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
    verified: dashmap::DashMap<String, Verified>,
}

impl JwtVerifier {
    /// Build the issuers and load their keys. A JWKS URL that cannot be fetched now is
    /// logged and retried on demand (tokens from it fail until it answers); a bad file fails.
    pub async fn start(configs: &[JwtIssuer]) -> Result<Arc<JwtVerifier>, JwksError> {
        let mut issuers = Vec::new();
        for config in configs {
            let client = match &config.keys {
                JwtKeys::Url { url, ca } => Some(http_client(url, ca.as_deref())?),
                _ => None,
            };
            let issuer = Issuer {
                allowed: config
                    .algorithms
                    .iter()
                    .filter_map(|a| algorithm(a))
                    .collect(),
                config: config.clone(),
                keys: RwLock::new(Arc::new(KeySet::default())),
                client,
                last_fetch: tokio::sync::Mutex::new(None),
                generation: std::sync::atomic::AtomicU64::new(0),
            };
            match issuer.load_keys().await {
                Ok(set) => issuer.swap(set),
                Err(e) if issuer.client.is_some() => {
                    tracing::warn!(issuer = %issuer.config.issuer, error = %e, "JWKS not fetched at start; retrying when a token needs it");
                }
                Err(e) => return Err(e),
            }
            // The start-up fetch does not count against the refetch floor: a key rotated in
            // right after start is fetched on its first use.
            issuers.push(issuer);
        }
        let verifier = Arc::new(JwtVerifier {
            max_token_bytes: configs.iter().map(|c| c.max_token_bytes).max().unwrap_or(0),
            issuers,
            verified: dashmap::DashMap::new(),
        });
        spawn_refresh(&verifier);
        Ok(verifier)
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Re-read every issuer's keys now (SIGHUP); failures keep the old keys.
    pub async fn reload(&self) {
        for issuer in &self.issuers {
            issuer.refetch(Duration::ZERO).await;
        }
        self.verified.clear();
    }

    /// Verify a token and map its claims to a principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, JwtRejection> {
        if token.len() > self.max_token_bytes {
            return Err(JwtRejection::TooLarge);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let generation = self.generation();
        if let Some(hit) = self.verified.get(token) {
            if hit.generation == generation && hit.not_before <= now && now <= hit.not_after {
                return Ok(hit.principal.clone());
            }
        }
        let (principal, window) = self.verify_uncached(token).await?;
        if self.generation() == generation {
            if self.verified.len() >= MAX_VERIFIED {
                self.verified.clear();
            }
            self.verified.insert(
                token.to_string(),
                Verified {
                    principal: principal.clone(),
                    generation,
                    not_before: window.0,
                    not_after: window.1,
                },
            );
        }
        Ok(principal)
    }

    /// The full check, without the cache of verified tokens (benchmarks use it too).
    pub async fn verify_uncached(
        &self,
        token: &str,
    ) -> Result<(Principal, (u64, u64)), JwtRejection> {
        if token.len() > self.max_token_bytes {
            return Err(JwtRejection::TooLarge);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejection::Malformed)?;
        refuse_critical_extensions(token)?;
        let candidates: Vec<&Issuer> = self
            .issuers
            .iter()
            .filter(|i| i.allowed.contains(&header.alg) && token.len() <= i.config.max_token_bytes)
            .collect();
        if candidates.is_empty() {
            return Err(JwtRejection::AlgorithmNotAllowed);
        }
        let kid = header.kid.as_deref();
        let mut found = candidates.iter().find_map(|i| i.key(kid).map(|k| (*i, k)));
        if found.is_none() {
            // A key may have rotated in since the last fetch: refetch (floored) and look again.
            for issuer in &candidates {
                if issuer.client.is_some() {
                    issuer.refetch(issuer.config.min_refresh_interval).await;
                }
            }
            found = candidates.iter().find_map(|i| i.key(kid).map(|k| (*i, k)));
        }
        let (issuer, key) = found.ok_or(JwtRejection::UnknownKey)?;
        if !key.algorithms.contains(&header.alg) {
            return Err(JwtRejection::AlgorithmNotAllowed);
        }
        issuer.claims(token, header.alg, &key)
    }

    /// Changes whenever any issuer's key set is swapped.
    fn generation(&self) -> u64 {
        self.issuers
            .iter()
            .map(|i| i.generation.load(std::sync::atomic::Ordering::Acquire))
            .sum()
    }
}

impl Issuer {
    fn key(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        let keys = match self.keys.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        };
        keys.find(kid)
    }

    fn swap(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut k) => *k = set,
            Err(p) => *p.into_inner() = set,
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Refetch unless the last fetch is younger than `floor`.
    async fn refetch(&self, floor: Duration) {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < floor) {
            return;
        }
        match self.load_keys().await {
            Ok(set) => {
                tracing::info!(issuer = %self.config.issuer, keys = set.by_kid.len() + set.unnamed.len(), "JWT keys loaded");
                self.swap(set);
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "JWT keys not refreshed; keeping the previous set");
            }
        }
        *last = Some(Instant::now());
    }

    async fn load_keys(&self) -> Result<KeySet, JwksError> {
        let fail = |source_name: &str, message: String| JwksError::Load {
            source_name: source_name.to_string(),
            message,
        };
        match &self.config.keys {
            JwtKeys::HmacSecretFile(path) => {
                let name = path.display().to_string();
                let secret = palisade_files::read_limited(path, 4096)
                    .map_err(|e| fail(&name, e.to_string()))?;
                let secret = trim_newline(&secret);
                if secret.len() < 32 {
                    return Err(fail(
                        &name,
                        "an HS256 secret needs at least 32 bytes".into(),
                    ));
                }
                let key = VerifyKey {
                    key: DecodingKey::from_secret(secret),
                    algorithms: vec![Algorithm::HS256],
                };
                Ok(KeySet {
                    unnamed: vec![Arc::new(key)],
                    ..KeySet::default()
                })
            }
            JwtKeys::File(path) => {
                let name = path.display().to_string();
                let bytes = palisade_files::read_limited(path, MAX_JWKS_BYTES as u64)
                    .map_err(|e| fail(&name, e.to_string()))?;
                parse_jwks(&bytes, &self.allowed).map_err(|m| fail(&name, m))
            }
            JwtKeys::Url { url, .. } => {
                let client = self
                    .client
                    .as_ref()
                    .ok_or_else(|| fail(url, "no HTTP client".into()))?;
                let bytes = fetch(client, url).await.map_err(|m| fail(url, m))?;
                parse_jwks(&bytes, &self.allowed).map_err(|m| fail(url, m))
            }
        }
    }

    /// Verify and map; also returns the window `[nbf - leeway, exp + leeway]` it is valid in.
    fn claims(
        &self,
        token: &str,
        alg: Algorithm,
        key: &VerifyKey,
    ) -> Result<(Principal, (u64, u64)), JwtRejection> {
        let c = &self.config;
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_issuer(&[&c.issuer]);
        validation.set_audience(&c.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = c.leeway.as_secs();
        let data =
            jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::InvalidSignature => JwtRejection::BadSignature,
                    ErrorKind::ExpiredSignature => JwtRejection::Expired,
                    ErrorKind::ImmatureSignature => JwtRejection::NotYetValid,
                    ErrorKind::InvalidIssuer => JwtRejection::WrongIssuer,
                    ErrorKind::InvalidAudience => JwtRejection::WrongAudience,
                    ErrorKind::MissingRequiredClaim(_) => JwtRejection::MissingClaim,
                    ErrorKind::InvalidAlgorithm => JwtRejection::AlgorithmNotAllowed,
                    _ => JwtRejection::Malformed,
                }
            })?;
        let claims = data.claims;
        let now = jsonwebtoken::get_current_timestamp() as f64;
        let leeway = c.leeway.as_secs() as f64;
        let max_lifetime = c.max_token_lifetime.as_secs() as f64;
        // `decode` checked that `exp` is present and a number.
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(JwtRejection::Malformed)?;
        match claims.get("iat") {
            None => {}
            Some(Value::Number(n)) => {
                let iat = n.as_f64().ok_or(JwtRejection::Malformed)?;
                if iat > now + leeway {
                    return Err(JwtRejection::IssuedInFuture);
                }
                if exp - iat > max_lifetime {
                    return Err(JwtRejection::LifetimeTooLong);
                }
            }
            Some(_) => return Err(JwtRejection::Malformed),
        }
        // Without `iat` (or with a back-dated one) the horizon still binds.
        if exp - now > max_lifetime + leeway {
            return Err(JwtRejection::LifetimeTooLong);
        }
        let name = match claim(&claims, &c.principal_claim) {
            Some(Value::String(s))
                if !s.is_empty()
                    && s.len() <= MAX_PRINCIPAL_BYTES
                    && !s.chars().any(char::is_control) =>
            {
                s.clone()
            }
            _ => return Err(JwtRejection::MissingClaim),
        };
        let mut roles = Vec::new();
        for path in &c.roles_claims {
            match claim(&claims, path) {
                Some(Value::String(r)) => roles.push(r.clone()),
                Some(Value::Array(items)) => {
                    roles.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
                }
                _ => {}
            }
        }
        roles.retain(|r| palisade_config_role(r));
        roles.sort();
        roles.dedup();
        roles.truncate(MAX_ROLES);
        let kind = match c.principal_kind {
            ConfigKind::User => PrincipalKind::User,
            ConfigKind::Service => PrincipalKind::Service,
        };
        let mut principal = Principal::new(kind, name, roles, AuthMethod::Jwt);
        principal.issuer = Some(c.issuer.clone());
        let leeway = c.leeway.as_secs();
        let seconds = |name: &str| claims.get(name).and_then(Value::as_f64).map(|v| v as u64);
        let not_before = seconds("nbf").map_or(0, |n| n.saturating_sub(leeway));
        let not_after = seconds("exp").map_or(0, |e| e.saturating_add(leeway));
        Ok((principal, (not_before, not_after)))
    }
}

/// RFC 7515 §4.1.11: `crit` lists extensions the recipient must understand; this verifier
/// understands none (not even `b64`, RFC 7797), so any `crit` refuses the token.
fn refuse_critical_extensions(token: &str) -> Result<(), JwtRejection> {
    use base64::Engine as _;
    let encoded = token.split('.').next().ok_or(JwtRejection::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| JwtRejection::Malformed)?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| JwtRejection::Malformed)?;
    if header.contains_key("crit") {
        return Err(JwtRejection::UnsupportedCritical);
    }
    Ok(())
}

/// Keys of a JWKS document usable for signatures with `allowed` algorithms. Keys of unknown
/// types are skipped rather than failing the whole set.
fn parse_jwks(bytes: &[u8], allowed: &[Algorithm]) -> Result<KeySet, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let doc: Document =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    if doc.keys.len() > MAX_JWKS_KEYS {
        return Err(format!(
            "{} keys, over the limit of {MAX_JWKS_KEYS}",
            doc.keys.len()
        ));
    }
    let mut set = KeySet::default();
    for value in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let fits: Vec<Algorithm> = key_algorithms(&jwk)
            .into_iter()
            .filter(|a| allowed.contains(a))
            .collect();
        if fits.is_empty() {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = Arc::new(VerifyKey {
            key,
            algorithms: fits,
        });
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.insert(kid, key);
            }
            None => set.unnamed.push(key),
        }
    }
    Ok(set)
}

/// How many usable keys a JWKS document holds (for `palisade` checks and the fuzz target).
pub fn jwks_key_count(bytes: &[u8]) -> Result<usize, String> {
    let all = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ];
    parse_jwks(bytes, &all).map(|set| set.by_kid.len() + set.unnamed.len())
}

/// Role names as the role table spells them; anything else in a groups claim is ignored.
fn palisade_config_role(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The value at a dotted claim path (`realm_access.roles`).
fn claim<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

/// Algorithms a JWK's type allows (narrowed to its `alg` when it names one).
fn key_algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![Algorithm::RS256, Algorithm::PS256],
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            vec![Algorithm::ES256]
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        // Symmetric keys are never taken from a JWKS; other curves are not supported.
        _ => Vec::new(),
    };
    match jwk.common.key_algorithm {
        None => by_type,
        Some(named) => by_type
            .into_iter()
            .filter(|a| key_algorithm_name(named) == Some(*a))
            .collect(),
    }
}

fn key_algorithm_name(k: KeyAlgorithm) -> Option<Algorithm> {
    Some(match k {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::HS256 => Algorithm::HS256,
        _ => return None,
    })
}

fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "HS256" => Algorithm::HS256,
        _ => return None,
    })
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    &b[..end]
}

fn http_client(url: &str, ca: Option<&std::path::Path>) -> Result<reqwest::Client, JwksError> {
    // Only the named CA, if any: the IdP's keys are trusted no further than the operator says.
    crate::outbound::client(ca, FETCH_TIMEOUT, true).map_err(|message| JwksError::Load {
        source_name: url.to_string(),
        message: format!("jwks_ca {message}"),
    })
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("JWKS over {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Refetch JWKS URLs on each issuer's timer, for as long as the verifier lives.
fn spawn_refresh(verifier: &Arc<JwtVerifier>) {
    for index in 0..verifier.issuers.len() {
        let issuer = &verifier.issuers[index];
        if issuer.client.is_none() {
            continue;
        }
        let every = issuer.config.refresh_interval;
        let weak: Weak<JwtVerifier> = Arc::downgrade(verifier);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(verifier) = weak.upgrade() else {
                    break;
                };
                verifier.issuers[index].refetch(Duration::ZERO).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_paths_reach_nested_values() {
        let v: Value = serde_json::json!({"sub": "a", "realm_access": {"roles": ["x"]}});
        assert_eq!(claim(&v, "sub"), Some(&Value::String("a".into())));
        assert_eq!(claim(&v, "realm_access.roles").unwrap()[0], "x");
        assert_eq!(claim(&v, "realm_access.missing"), None);
    }

    #[test]
    fn jwks_documents_keep_usable_keys_only() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "mac", "k": "c2VjcmV0"},
            {"kty": "RSA-PSS-FUTURE", "kid": "x"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "kid": "enc", "use": "enc", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        ]});
        assert_eq!(jwks_key_count(doc.to_string().as_bytes()), Ok(1));
        assert!(jwks_key_count(b"{}").is_err());
        assert!(jwks_key_count(b"not json").is_err());
        let many: Vec<_> = (0..101).map(|_| serde_json::json!({})).collect();
        let err = jwks_key_count(serde_json::json!({ "keys": many }).to_string().as_bytes());
        assert!(err.unwrap_err().contains("limit"));
    }

    #[test]
    fn key_types_bound_their_algorithms() {
        let rsa: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
            "e": "AQAB"
        }))
        .unwrap();
        assert_eq!(key_algorithms(&rsa), [Algorithm::RS256, Algorithm::PS256]);
        let oct: Jwk =
            serde_json::from_value(serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap();
        assert!(key_algorithms(&oct).is_empty());
    }
}
