//! Stage `identify`: turn the credentials of a request into a [`Principal`].
//!
//! Today: API keys as `Authorization: Bearer pal_...`. Every failure is the same 401 with a
//! `WWW-Authenticate` challenge; which check failed goes to the audit log, not to the caller.
//! Every failure also takes the same minimum time, and repeated failures from one source or
//! against one key id are blocked for a while (see `auth_backoff`).

use std::net::IpAddr;
use std::time::Instant;

use http::{header, HeaderMap};

use crate::keys::{key_id_of, now_secs, KeyStore, Principal, MAX_TOKEN_BYTES};
use crate::refusal::Refusal;
use crate::state::State;

/// The stage: who is calling, or a refusal (401, or 429 while blocked).
pub async fn principal(
    state: &State,
    headers: &HeaderMap,
    source: IpAddr,
) -> Result<Principal, Refusal> {
    let started = Instant::now();
    let key_id = bearer_token(headers).and_then(key_id_of);
    state.auth_backoff.check(source, key_id, started)?;
    match credentials(&state.keys, headers) {
        Ok(principal) => Ok(principal),
        Err(refusal) => {
            if matches!(
                refusal,
                Refusal::Unauthenticated {
                    token_presented: true,
                    ..
                }
            ) {
                state.auth_backoff.failed(source, key_id, started);
            }
            // Whatever failed, and however fast, the caller waits the same.
            tokio::time::sleep_until((started + state.auth_backoff.failure_delay()).into()).await;
            Err(refusal)
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Check the credentials alone (no back-off, no delay).
pub fn credentials(keys: &KeyStore, headers: &HeaderMap) -> Result<Principal, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        let presented = headers.contains_key(header::AUTHORIZATION);
        return Err(Refusal::Unauthenticated {
            reason: if presented {
                "multiple_credentials"
            } else {
                "missing_credentials"
            },
            token_presented: presented,
        });
    };
    let malformed = Refusal::Unauthenticated {
        reason: "malformed_credentials",
        token_presented: true,
    };
    if value.len() > MAX_TOKEN_BYTES + 16 {
        return Err(malformed);
    }
    let value = value.to_str().map_err(|_| malformed.clone())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| malformed.clone())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed);
    }
    keys.authenticate(token.trim(), now_secs())
        .map_err(|rejection| Refusal::Unauthenticated {
            reason: rejection.reason(),
            token_presented: true,
        })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_one_well_formed_bearer_token_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(&dir.path().join("keys.json")).unwrap();
        let (_, token) = keys.create("t", "client", None).unwrap();
        let mut h = HeaderMap::new();
        assert!(matches!(
            credentials(&keys, &h),
            Err(Refusal::Unauthenticated {
                reason: "missing_credentials",
                ..
            })
        ));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("bearer {token}")).unwrap(),
        );
        assert_eq!(credentials(&keys, &h).unwrap().role, "client");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        assert!(credentials(&keys, &h).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert!(matches!(
            credentials(&keys, &h),
            Err(Refusal::Unauthenticated {
                reason: "multiple_credentials",
                ..
            })
        ));
    }
}
