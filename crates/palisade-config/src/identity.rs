//! `[[identity.jwt]]` and `[identity.mtls]`: the ways besides API keys that a caller proves
//! who it is. Bearer JWTs from OIDC issuers, and client certificates whose SPIFFE ID (or
//! subject) names a workload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{parse_duration, Finding};

/// Signature algorithms a JWT issuer may use. `HS256` needs a shared secret file.
pub const JWT_ALGORITHMS: [&str; 5] = ["RS256", "PS256", "ES256", "EdDSA", "HS256"];
const DEFAULT_JWT_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKeys {
    /// A JWKS document fetched over HTTPS; `ca` (when set) is the only trusted root.
    Url { url: String, ca: Option<PathBuf> },
    /// A JWKS document on disk, re-read on reload.
    File(PathBuf),
    /// An HS256 shared secret (raw bytes of the file, at least 32).
    HmacSecretFile(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Service,
}

#[derive(Debug, Clone)]
pub struct JwtIssuer {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub keys: JwtKeys,
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Longest life a token may claim (`exp - iat`, and `exp` from now).
    pub max_token_lifetime: Duration,
    pub max_token_bytes: usize,
    /// Timer for refetching a JWKS URL.
    pub refresh_interval: Duration,
    /// Floor between refetches caused by an unknown `kid` (a flood of made-up kids must not
    /// turn into a flood of requests to the identity provider).
    pub min_refresh_interval: Duration,
    /// Dotted path of the claim naming the principal (`sub`, `email`, `azp`).
    pub principal_claim: String,
    /// Dotted paths of claims holding role names (`groups`, `realm_access.roles`).
    pub roles_claims: Vec<String>,
    pub principal_kind: PrincipalKind,
}

#[derive(Debug, Clone, Default)]
pub struct MtlsIdentity {
    /// SPIFFE trust domains accepted; empty accepts any domain the CA vouches for.
    pub trust_domains: Vec<String>,
    /// Principal id pattern (`*` wildcard) to roles, e.g. `"spiffe://prod/ns/billing/*"`.
    pub roles: BTreeMap<String, Vec<String>>,
}

impl JwtIssuer {
    /// An issuer with the defaults a config file gets: the algorithms that fit `keys`, 30 s
    /// leeway, 8 KiB tokens, `sub` as principal, `groups` and `roles` as roles.
    pub fn new(issuer: &str, audience: &str, keys: JwtKeys) -> JwtIssuer {
        let algorithms = match keys {
            JwtKeys::HmacSecretFile(_) => vec!["HS256".to_string()],
            _ => DEFAULT_JWT_ALGORITHMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        JwtIssuer {
            issuer: issuer.to_string(),
            audiences: vec![audience.to_string()],
            keys,
            algorithms,
            leeway: Duration::from_secs(30),
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            max_token_bytes: default_max_token_bytes(),
            refresh_interval: Duration::from_secs(600),
            min_refresh_interval: Duration::from_secs(1),
            principal_claim: default_principal_claim(),
            roles_claims: default_roles_claims(),
            principal_kind: PrincipalKind::User,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwtIssuer {
    issuer: String,
    audiences: Vec<String>,
    jwks_url: Option<String>,
    jwks_ca: Option<PathBuf>,
    jwks_file: Option<PathBuf>,
    hmac_secret_file: Option<PathBuf>,
    algorithms: Option<Vec<String>>,
    #[serde(default = "default_leeway")]
    leeway: String,
    #[serde(default = "default_max_token_lifetime")]
    max_token_lifetime: String,
    #[serde(default = "default_max_token_bytes")]
    max_token_bytes: usize,
    #[serde(default = "default_refresh")]
    refresh_interval: String,
    #[serde(default = "default_min_refresh")]
    min_refresh_interval: String,
    #[serde(default = "default_principal_claim")]
    principal_claim: String,
    #[serde(default = "default_roles_claims")]
    roles_claims: Vec<String>,
    #[serde(default = "default_kind")]
    principal_kind: String,
}

fn default_leeway() -> String {
    "30s".into()
}
/// A day: the longest access token mainstream identity providers issue by default.
const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Past a month a bearer token is a long-lived credential; issue an API key instead.
const LONGEST_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
fn default_max_token_lifetime() -> String {
    "24h".into()
}
fn default_max_token_bytes() -> usize {
    8 << 10
}
fn default_refresh() -> String {
    "10m".into()
}
fn default_min_refresh() -> String {
    "1s".into()
}
fn default_principal_claim() -> String {
    "sub".into()
}
fn default_roles_claims() -> Vec<String> {
    vec!["groups".into(), "roles".into()]
}
fn default_kind() -> String {
    "user".into()
}

impl RawJwtIssuer {
    pub(crate) fn validate(self, index: usize, base: &Path) -> Result<JwtIssuer, Finding> {
        let key = |k: &str| format!("identity.jwt.{k}");
        let err =
            |k: &str, m: String| Finding::error(&key(k), format!("issuer {}: {m}", index + 1));
        if self.issuer.is_empty() {
            return Err(err("issuer", "must not be empty".into()));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(err(
                "audiences",
                "list at least one audience; tokens must name this server in `aud`".into(),
            ));
        }
        let keys = match (self.jwks_url, self.jwks_file, self.hmac_secret_file) {
            (Some(url), None, None) => {
                if !url.starts_with("https://") {
                    return Err(err(
                        "jwks_url",
                        format!("{} is not https://; keys fetched in the clear could be swapped in transit", crate::url_origin(&url)),
                    ));
                }
                JwtKeys::Url {
                    url,
                    ca: self.jwks_ca.map(|p| base.join(p)),
                }
            }
            (None, Some(file), None) => JwtKeys::File(base.join(file)),
            (None, None, Some(file)) => {
                crate::key_file(&key("hmac_secret_file"), &file)?;
                JwtKeys::HmacSecretFile(base.join(file))
            }
            _ => {
                return Err(err(
                    "jwks_url",
                    "set exactly one of jwks_url, jwks_file or hmac_secret_file".into(),
                ))
            }
        };
        let hmac = matches!(keys, JwtKeys::HmacSecretFile(_));
        let algorithms = match self.algorithms {
            Some(list) => list,
            None if hmac => vec!["HS256".into()],
            None => DEFAULT_JWT_ALGORITHMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        if algorithms.is_empty() {
            return Err(err("algorithms", "list at least one algorithm".into()));
        }
        for alg in &algorithms {
            if !JWT_ALGORITHMS.contains(&alg.as_str()) {
                return Err(err(
                    "algorithms",
                    format!(
                        "'{alg}' is not allowed; choose from {}",
                        JWT_ALGORITHMS.join(", ")
                    ),
                ));
            }
            if (alg == "HS256") != hmac {
                return Err(err(
                    "algorithms",
                    "HS256 goes with hmac_secret_file and only with it (public-key algorithms need a JWKS)".into(),
                ));
            }
        }
        let leeway = parse_duration(&key("leeway"), &self.leeway)?;
        if leeway > Duration::from_secs(300) {
            return Err(err("leeway", "keep clock leeway at 5m or less".into()));
        }
        let max_token_lifetime =
            parse_duration(&key("max_token_lifetime"), &self.max_token_lifetime)?;
        if max_token_lifetime < Duration::from_secs(60)
            || max_token_lifetime > LONGEST_MAX_TOKEN_LIFETIME
        {
            return Err(err(
                "max_token_lifetime",
                "must be within 1m..=30d; a bearer token living longer should be an API key".into(),
            ));
        }
        if !(512..=65536).contains(&self.max_token_bytes) {
            return Err(err("max_token_bytes", "must be within 512..=65536".into()));
        }
        let refresh_interval = parse_duration(&key("refresh_interval"), &self.refresh_interval)?;
        let min_refresh_interval =
            parse_duration(&key("min_refresh_interval"), &self.min_refresh_interval)?;
        if refresh_interval < Duration::from_secs(1) {
            return Err(err("refresh_interval", "must be at least 1s".into()));
        }
        let principal_kind = match self.principal_kind.as_str() {
            "user" => PrincipalKind::User,
            "service" => PrincipalKind::Service,
            other => {
                return Err(err(
                    "principal_kind",
                    format!("'{other}' is neither \"user\" nor \"service\""),
                ))
            }
        };
        for path in std::iter::once(&self.principal_claim).chain(&self.roles_claims) {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(err(
                    "principal_claim",
                    format!("'{path}' is not a claim path; write it like \"sub\" or \"realm_access.roles\""),
                ));
            }
        }
        Ok(JwtIssuer {
            issuer: self.issuer,
            audiences: self.audiences,
            keys,
            algorithms,
            leeway,
            max_token_lifetime,
            max_token_bytes: self.max_token_bytes,
            refresh_interval,
            min_refresh_interval,
            principal_claim: self.principal_claim,
            roles_claims: self.roles_claims,
            principal_kind,
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMtls {
    #[serde(default)]
    trust_domains: Vec<String>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
}

impl RawMtls {
    pub(crate) fn validate(self) -> Result<MtlsIdentity, Finding> {
        for domain in &self.trust_domains {
            let ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
            if !ok {
                return Err(Finding::error(
                    "identity.mtls.trust_domains",
                    format!("'{domain}' is not a SPIFFE trust domain (lowercase letters, digits, '-', '.', '_'), e.g. \"prod.example.com\""),
                ));
            }
        }
        for (pattern, roles) in &self.roles {
            if pattern.is_empty() || pattern.chars().any(char::is_control) {
                return Err(Finding::error(
                    "identity.mtls.roles",
                    "principal patterns must be non-empty and printable".into(),
                ));
            }
            if let Some(bad) = roles.iter().find(|r| !crate::access::valid_role_name(r)) {
                return Err(Finding::error(
                    "identity.mtls.roles",
                    format!("'{bad}' (for '{pattern}') is not a role name: lowercase letters, digits, '-' and '_'"),
                ));
            }
        }
        Ok(MtlsIdentity {
            trust_domains: self.trust_domains,
            roles: self.roles,
        })
    }
}

/// `*`-wildcard match, the one pattern syntax used for principal ids and model names.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_like_cedar_like() {
        assert!(wildcard_match("spiffe://prod/*", "spiffe://prod/ns/a"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "abc"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "acb"));
        assert!(!wildcard_match("exact", "exact2"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }
}
