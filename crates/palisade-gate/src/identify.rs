//! Stage `identify`: turn the credentials of a request into a [`Principal`].
//!
//! Three ways in, one principal out:
//! - `Authorization: Bearer pal_...`: an API key (`keys`);
//! - `Authorization: Bearer <JWT>`: a token from a configured OIDC issuer (`jwt`);
//! - no `Authorization` header, but a client certificate verified during the TLS handshake:
//!   the workload its SPIFFE ID (or subject) names.
//!
//! A bearer token wins over a certificate when both come (the certificate still shows in
//! `context.mtls` for policies). Every failure is the same 401 with a `WWW-Authenticate`
//! challenge; which check failed goes to the audit log, not to the caller. Every failure also
//! takes the same minimum time, and repeated failures from one source or against one key id
//! are blocked for a while (see `auth_backoff`).

use std::time::Instant;

use http::{header, HeaderMap};
use palisade_access::jwt::{JwtRejection, JwtVerifier};
use palisade_access::keys::{key_id_of, KeyRejection, KeyStore, MAX_TOKEN_BYTES};
use palisade_access::principal::{AuthMethod, PeerCertificate, Principal, PrincipalKind};
use palisade_config::{identity::wildcard_match, MtlsIdentity};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::auth_backoff::AuthBackoff;
use crate::context::Call;
use crate::metrics::AuthLabels;
use crate::refusal::Refusal;
use crate::state::State;

/// The stage: who is calling, or a refusal (401, or 429 while blocked).
///
/// A source that failed too often is refused before its credentials are looked at. A key id
/// that failed too often is refused only when the secret presented with it is wrong too: key
/// ids are not secret (they show in 403 bodies and logs), so whoever knows one could
/// otherwise lock its holder out, and a correct 256-bit secret was never a guess.
pub async fn principal(
    state: &Identities<'_>,
    headers: &HeaderMap,
    call: &mut Call,
) -> Result<Principal, Refusal> {
    let started = Instant::now();
    let source = call.client.ip();
    let key_id = bearer_token(headers).and_then(key_id_of);
    state.backoff.check_source(source, started)?;
    match credentials(state, headers, call.peer.as_deref(), call.unix_secs()).await {
        Ok(principal) => Ok(principal),
        Err(failure) => {
            call.attempted_key = key_id.map(str::to_string);
            // Blocked already: "slow down" rather than "wrong key", and no new strike.
            let refusal = match state.backoff.check_key(key_id, started) {
                Err(blocked) => Refusal::from(blocked),
                Ok(()) => {
                    if failure.is_a_strike() {
                        state.backoff.failed(source, key_id, started);
                    }
                    failure.into_refusal(takes_certificates(state, call))
                }
            };
            state
                .failures
                .get_or_create(&AuthLabels {
                    method: presented(headers, call),
                    reason: refusal.reason(),
                })
                .inc();
            // Whatever failed, and however fast, the caller waits the same.
            tokio::time::sleep_until((started + state.backoff.failure_delay()).into()).await;
            Err(refusal)
        }
    }
}

/// Why credentials were not accepted. The caller gets one 401 for all of them; the audit
/// log keeps [`AuthFailure::reason`] (a stable interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header and no client certificate.
    Missing,
    /// More than one `Authorization` header.
    Multiple,
    /// An `Authorization` header over the size limit.
    Oversized,
    /// Not `Bearer <token>`, not text, or a token no verifier reads.
    Malformed,
    Key(KeyRejection),
    Jwt(JwtRejection),
    /// A SPIFFE ID outside the listed trust domains.
    UntrustedTrustDomain,
    /// A verified certificate with neither a SPIFFE ID nor a subject name.
    CertificateWithoutIdentity,
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing_credentials",
            AuthFailure::Multiple => "multiple_credentials",
            AuthFailure::Oversized => "oversized_credentials",
            AuthFailure::Malformed => "malformed_credentials",
            AuthFailure::Key(rejection) => rejection.reason(),
            AuthFailure::Jwt(rejection) => rejection.reason(),
            AuthFailure::UntrustedTrustDomain => "mtls_untrusted_domain",
            AuthFailure::CertificateWithoutIdentity => "mtls_no_identity",
        }
    }

    /// Whether it counts towards the brute-force back-off: every credential that was
    /// presented and failed does; presenting none does not.
    fn is_a_strike(self) -> bool {
        self != AuthFailure::Missing
    }

    fn into_refusal(self, certificate_accepted: bool) -> Refusal {
        Refusal::Unauthenticated {
            reason: self.reason(),
            token_presented: self.is_a_strike(),
            certificate_accepted,
        }
    }
}

/// Does the call's listener ask for client certificates (so a 401 may offer one)?
fn takes_certificates(state: &Identities<'_>, call: &Call) -> bool {
    match call.plane {
        crate::context::Plane::Data => state.certificates_on_data,
        crate::context::Plane::Admin => state.certificates_on_admin,
    }
}

/// What the stage uses: the credential stores, the back-off, the mTLS mapping, and whether
/// each listener asks for client certificates.
pub struct Identities<'a> {
    pub keys: &'a KeyStore,
    pub jwt: &'a JwtVerifier,
    pub mtls: &'a MtlsIdentity,
    pub backoff: &'a AuthBackoff,
    /// Failed authentications, by credential kind and reason.
    pub failures: &'a Family<AuthLabels, Counter>,
    pub certificates_on_data: bool,
    pub certificates_on_admin: bool,
}

impl<'a> Identities<'a> {
    pub fn of(state: &'a State) -> Identities<'a> {
        let asks = |listener: &palisade_config::Listener| {
            listener
                .tls
                .as_ref()
                .is_some_and(|t| t.client_auth != palisade_config::ClientAuth::Off)
        };
        Identities {
            keys: &state.keys,
            jwt: &state.jwt,
            mtls: &state.config.identity.mtls,
            backoff: &state.auth_backoff,
            failures: &state.metrics.auth_failures,
            certificates_on_data: asks(&state.config.data_plane),
            certificates_on_admin: asks(&state.config.admin_plane),
        }
    }
}

/// What kind of credential the caller presented, for metrics (never the credential).
fn presented(headers: &HeaderMap, call: &Call) -> &'static str {
    match (headers.get(header::AUTHORIZATION), bearer_token(headers)) {
        (_, Some(token)) if token.starts_with("pal_") => "api_key",
        (_, Some(_)) => "jwt",
        (Some(_), None) => "other",
        (None, None) if call.peer.is_some() => "mtls",
        (None, None) => "none",
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Check the credentials alone (no back-off, no delay).
pub async fn credentials(
    state: &Identities<'_>,
    headers: &HeaderMap,
    peer: Option<&PeerCertificate>,
    now: u64,
) -> Result<Principal, AuthFailure> {
    let token = match bearer(headers, state.jwt.max_token_bytes())? {
        Some(token) => token,
        None => {
            return match peer {
                Some(cert) => certificate_principal(state.mtls, cert),
                None => Err(AuthFailure::Missing),
            }
        }
    };
    if token.starts_with("pal_") {
        return api_key(state.keys, token, now);
    }
    if state.jwt.is_empty() {
        return Err(AuthFailure::Malformed);
    }
    // Boxed: the verifier's future (which may fetch a JWKS) is large, and keeping it out of
    // line keeps every other call's future small.
    Box::pin(state.jwt.verify(token))
        .await
        .map_err(AuthFailure::Jwt)
}

/// The one bearer token of the request, if it has an `Authorization` header at all.
fn bearer(headers: &HeaderMap, max_jwt_bytes: usize) -> Result<Option<&str>, AuthFailure> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(AuthFailure::Multiple),
    };
    if value.len() > MAX_TOKEN_BYTES.max(max_jwt_bytes) + 16 {
        return Err(AuthFailure::Oversized);
    }
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Malformed);
    }
    Ok(Some(token.trim()))
}

fn api_key(keys: &KeyStore, token: &str, now: u64) -> Result<Principal, AuthFailure> {
    keys.authenticate(token, now).map_err(AuthFailure::Key)
}

/// A workload from its verified certificate: the SPIFFE ID when there is one (its trust
/// domain must be listed, if any are), else the subject's common name.
pub fn certificate_principal(
    mtls: &MtlsIdentity,
    cert: &PeerCertificate,
) -> Result<Principal, AuthFailure> {
    let name = match (&cert.spiffe_id, &cert.subject_cn) {
        (Some(id), _) => {
            let domain = id
                .strip_prefix("spiffe://")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            if !mtls.trust_domains.is_empty() && !mtls.trust_domains.iter().any(|d| d == domain) {
                return Err(AuthFailure::UntrustedTrustDomain);
            }
            id.clone()
        }
        (None, Some(cn)) => cn.clone(),
        (None, None) => return Err(AuthFailure::CertificateWithoutIdentity),
    };
    let mut roles: Vec<String> = mtls
        .roles
        .iter()
        .filter(|(pattern, _)| wildcard_match(pattern, &name))
        .flat_map(|(_, roles)| roles.iter().cloned())
        .collect();
    roles.sort();
    roles.dedup();
    Ok(Principal::new(
        PrincipalKind::Service,
        name,
        roles,
        AuthMethod::Mtls,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use http::HeaderValue;

    use super::*;

    struct Stores {
        _dir: tempfile::TempDir,
        keys: KeyStore,
        jwt: std::sync::Arc<JwtVerifier>,
        mtls: MtlsIdentity,
        backoff: AuthBackoff,
        failures: Family<AuthLabels, Counter>,
    }

    impl Stores {
        async fn new(limit: u32) -> Stores {
            let dir = tempfile::tempdir().unwrap();
            let keys = KeyStore::open(&dir.path().join("keys.json")).unwrap();
            Stores {
                _dir: dir,
                keys,
                jwt: JwtVerifier::start(&[]).await.unwrap(),
                mtls: MtlsIdentity::default(),
                backoff: AuthBackoff::new(&palisade_config::AuthBackoff {
                    limit,
                    window: std::time::Duration::from_secs(60),
                    block_base: std::time::Duration::from_secs(60),
                    block_max: std::time::Duration::from_secs(600),
                    failure_delay: std::time::Duration::from_millis(1),
                }),
                failures: Family::default(),
            }
        }

        fn identities(&self) -> Identities<'_> {
            Identities {
                keys: &self.keys,
                jwt: &self.jwt,
                mtls: &self.mtls,
                backoff: &self.backoff,
                failures: &self.failures,
                certificates_on_data: false,
                certificates_on_admin: true,
            }
        }
    }

    fn bearer_headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    fn new_call() -> Call {
        Call::new(
            crate::context::Plane::Data,
            "192.0.2.9:4000".parse().unwrap(),
            None,
        )
    }

    #[tokio::test]
    async fn a_valid_key_names_its_principal_and_a_wrong_one_is_refused_with_its_reason() {
        let stores = Stores::new(5).await;
        let (record, token) = stores.keys.create("ci", "client", None).unwrap();
        let mut call = new_call();
        let who = principal(&stores.identities(), &bearer_headers(&token), &mut call)
            .await
            .unwrap();
        assert_eq!(who.id, format!("key:{}", record.id));
        assert_eq!(who.roles, ["client"]);

        let forged = format!("{}{}", &token[..token.len() - 4], "0000");
        let refused = principal(&stores.identities(), &bearer_headers(&forged), &mut call).await;
        let refused = refused.unwrap_err();
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.reason(), "wrong_secret");
        // The key id is not secret: it is kept for the audit entry; the secret never is.
        assert_eq!(call.attempted_key.as_deref(), Some(record.id.as_str()));
        assert!(!refused.to_string().contains(&forged));
    }

    #[tokio::test]
    async fn repeated_failures_block_the_source() {
        let stores = Stores::new(2).await;
        let mut call = new_call();
        for _ in 0..2 {
            let refused =
                principal(&stores.identities(), &bearer_headers("pal_nope"), &mut call).await;
            assert_eq!(refused.unwrap_err().status(), 401);
        }
        let blocked = principal(&stores.identities(), &bearer_headers("pal_nope"), &mut call).await;
        let blocked = blocked.unwrap_err();
        assert_eq!(
            (blocked.status().as_u16(), blocked.reason()),
            (429, "auth_blocked")
        );
    }

    #[tokio::test]
    async fn no_credential_is_a_401_offering_a_certificate_only_where_one_is_taken() {
        let stores = Stores::new(5).await;
        let refused = principal(&stores.identities(), &HeaderMap::new(), &mut new_call()).await;
        assert!(matches!(
            refused,
            Err(Refusal::Unauthenticated {
                reason: "missing_credentials",
                certificate_accepted: false,
                ..
            })
        ));
        let mut admin = new_call();
        admin.plane = crate::context::Plane::Admin;
        let refused = principal(&stores.identities(), &HeaderMap::new(), &mut admin).await;
        assert!(matches!(
            refused,
            Err(Refusal::Unauthenticated {
                certificate_accepted: true,
                ..
            })
        ));
    }

    #[test]
    fn failure_reasons_are_the_stable_audit_strings() {
        let reasons: Vec<&str> = [
            AuthFailure::Missing,
            AuthFailure::Multiple,
            AuthFailure::Oversized,
            AuthFailure::Malformed,
            AuthFailure::Key(KeyRejection::Expired),
            AuthFailure::Jwt(JwtRejection::BadSignature),
            AuthFailure::UntrustedTrustDomain,
            AuthFailure::CertificateWithoutIdentity,
        ]
        .into_iter()
        .map(AuthFailure::reason)
        .collect();
        assert_eq!(
            reasons,
            [
                "missing_credentials",
                "multiple_credentials",
                "oversized_credentials",
                "malformed_credentials",
                "expired_key",
                "jwt_bad_signature",
                "mtls_untrusted_domain",
                "mtls_no_identity"
            ]
        );
        // Presenting nothing is no strike for the back-off; anything presented and wrong is.
        let refusal = AuthFailure::Missing.into_refusal(true);
        assert!(matches!(
            refusal,
            Refusal::Unauthenticated {
                token_presented: false,
                certificate_accepted: true,
                ..
            }
        ));
        assert!(AuthFailure::Key(KeyRejection::WrongSecret).is_a_strike());
    }

    #[test]
    fn only_one_well_formed_bearer_token_is_accepted() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h, 0).unwrap(), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h, 0).unwrap(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h, 0).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h, 0).unwrap_err().reason(), "multiple_credentials");
        let mut h = HeaderMap::new();
        let long = format!("Bearer {}", "a".repeat(2000));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&long).unwrap());
        assert_eq!(
            bearer(&h, 1024).unwrap_err().reason(),
            "oversized_credentials"
        );
        assert!(bearer(&h, 4096).is_ok());
    }

    #[test]
    fn api_keys_authenticate_with_their_role() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(&dir.path().join("keys.json")).unwrap();
        let (_, token) = keys.create("t", "client", None).unwrap();
        assert_eq!(
            api_key(&keys, &token, palisade_access::keys::now_secs())
                .unwrap()
                .roles,
            ["client"]
        );
        // Change the last character to one it is not, so the test cannot pass by luck.
        let last = if token.ends_with('0') { '1' } else { '0' };
        let wrong = format!("{}{last}", &token[..token.len() - 1]);
        assert!(api_key(&keys, &wrong, palisade_access::keys::now_secs()).is_err());
    }

    #[test]
    fn certificates_map_to_services_with_roles() {
        let mtls = MtlsIdentity {
            trust_domains: vec!["prod.example".into()],
            roles: BTreeMap::from([
                (
                    "spiffe://prod.example/ns/scoring/*".into(),
                    vec!["client".into()],
                ),
                (
                    "spiffe://prod.example/ns/ops/admin".into(),
                    vec!["admin".into()],
                ),
            ]),
        };
        let cert = |id: &str| PeerCertificate {
            spiffe_id: Some(id.into()),
            subject_cn: Some("ignored".into()),
        };
        let p =
            certificate_principal(&mtls, &cert("spiffe://prod.example/ns/scoring/api")).unwrap();
        assert_eq!(
            (p.kind, p.roles.as_slice()),
            (PrincipalKind::Service, &["client".to_string()][..])
        );
        assert_eq!(p.id, "service:spiffe://prod.example/ns/scoring/api");
        assert!(certificate_principal(&mtls, &cert("spiffe://evil.example/ns/ops/admin")).is_err());
        let cn = PeerCertificate {
            spiffe_id: None,
            subject_cn: Some("batch-job".into()),
        };
        let p = certificate_principal(&mtls, &cn).unwrap();
        assert!(p.name == "batch-job" && p.roles.is_empty());
    }
}
