//! Stage `identify`: turn the credentials of a request into a [`Principal`].
//!
//! Today: API keys as `Authorization: Bearer pal_...`. Every failure is the same 401 with a
//! `WWW-Authenticate` challenge; which check failed goes to the audit log, not to the caller.

use http::{header, HeaderMap};

use crate::keys::{now_secs, KeyStore, Principal, MAX_TOKEN_BYTES};
use crate::refusal::Refusal;

pub fn principal(keys: &KeyStore, headers: &HeaderMap) -> Result<Principal, Refusal> {
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
            principal(&keys, &h),
            Err(Refusal::Unauthenticated {
                reason: "missing_credentials",
                ..
            })
        ));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("bearer {token}")).unwrap(),
        );
        assert_eq!(principal(&keys, &h).unwrap().role, "client");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        assert!(principal(&keys, &h).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert!(matches!(
            principal(&keys, &h),
            Err(Refusal::Unauthenticated {
                reason: "multiple_credentials",
                ..
            })
        ));
    }
}
