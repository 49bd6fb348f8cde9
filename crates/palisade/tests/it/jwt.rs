//! OIDC bearer tokens against a real HTTPS JWKS endpoint started by the test: a valid token
//! works; expired, not-yet-valid, wrong issuer, wrong audience, `alg: none`, HS256 signed with
//! the RSA public key, unknown `kid`, tampered payload and oversized tokens get 401; a key
//! rotated in at the endpoint is picked up without a restart.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;
use bytes::Bytes;
use http_body_util::Full;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/jwt");
const ISSUER: &str = "https://idp.palisade.test/realms/demo";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn jwk(kid: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{kid}.jwk.json"))).unwrap()
}

/// A JWKS endpoint over HTTPS (its own dev CA), serving whatever `keys` holds now.
struct Jwks {
    url: String,
    ca: std::path::PathBuf,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl Jwks {
    async fn start(keys: Vec<Value>) -> Jwks {
        let dir = tempfile::tempdir().unwrap();
        let (tcp, acceptor, port, ca) = https_listener(dir.path()).await;
        let state = Arc::new(Mutex::new(json!({ "keys": keys })));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (state.clone(), fetches.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = tcp.accept().await else {
                    continue;
                };
                let (acceptor, served, counter) =
                    (acceptor.clone(), served.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |_req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = served.lock().unwrap().to_string();
                        async move {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Jwks {
            url: format!("https://127.0.0.1:{port}/jwks"),
            ca,
            keys: state,
            fetches,
            _dir: dir,
        }
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = json!({ "keys": keys });
    }
}

fn server(jwks: &Jwks) -> Palisade {
    let issuer = format!(
        "\n[[identity.jwt]]\nissuer = \"{ISSUER}\"\naudiences = [\"palisade\"]\njwks_url = \"{}\"\njwks_ca = \"{}\"\nmin_refresh_interval = \"1s\"\nroles_claims = [\"realm_access.roles\"]\n",
        jwks.url,
        jwks.ca.display()
    );
    // Many refusals from one address in a row: lift the brute-force block for this test.
    Palisade::with_config(|t| {
        format!("{t}{issuer}").replacen("failed_auth_limit = 10 ", "failed_auth_limit = 1000 ", 1)
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "palisade",
        "sub": "alice",
        "iat": now(),
        "nbf": now() - 5,
        "exp": now() + 300,
        "realm_access": { "roles": ["client"] },
    })
}

fn sign(alg: Algorithm, kid: &str, claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            EncodingKey::from_rsa_pem(&fixture(&format!("{kid}.pem"))).unwrap()
        }
        Algorithm::ES256 => EncodingKey::from_ec_pem(&fixture(&format!("{kid}.pem"))).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&fixture(&format!("{kid}.pem"))).unwrap(),
        _ => unreachable!(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, claims, &key).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // base64url without padding, enough for the hand-made `alg: none` token.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            let _ = out.write_char(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn call(p: &Palisade, token: &str) -> reqwest::Response {
    p.client()
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {token}"))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap()
}

async fn refused(p: &Palisade, token: &str, reason: &str) {
    let r = call(p, token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "expected {reason}");
    assert!(r.headers().contains_key("www-authenticate"));
    let event = p.audit_event(&request_id(&r));
    assert_eq!(event["reason"], reason);
    // Nothing of the token reaches the log.
    assert!(!p.stderr_text().contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_verified_against_the_issuers_jwks() {
    let jwks = Jwks::start(vec![jwk("rsa-a"), jwk("ec-a"), jwk("ed-a")]).await;
    let p = server(&jwks);

    // Valid, with each allowed algorithm.
    for (alg, kid) in [
        (Algorithm::RS256, "rsa-a"),
        (Algorithm::PS256, "rsa-a"),
        (Algorithm::ES256, "ec-a"),
        (Algorithm::EdDSA, "ed-a"),
    ] {
        let r = call(&p, &sign(alg, kid, &claims())).await;
        assert_eq!(r.status(), StatusCode::OK, "{alg:?}");
        let event = p.audit_event(&request_id(&r));
        assert_eq!(event["principal"], "user:alice");
        assert_eq!(event["auth"], "jwt");
        assert_eq!(event["policies"], json!(["role.client.1"]));
    }

    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims();
        edit(&mut c);
        sign(Algorithm::RS256, "rsa-a", &c)
    };
    refused(
        &p,
        &with(&|c| c["exp"] = json!(now() - 3600)),
        "jwt_expired",
    )
    .await;
    refused(
        &p,
        &with(&|c| c["nbf"] = json!(now() + 3600)),
        "jwt_not_yet_valid",
    )
    .await;
    refused(
        &p,
        &with(&|c| c["iat"] = json!(now() + 3600)),
        "jwt_issued_in_future",
    )
    .await;
    refused(
        &p,
        &with(&|c| c["iss"] = json!("https://evil.test")),
        "jwt_wrong_issuer",
    )
    .await;
    refused(
        &p,
        &with(&|c| c["aud"] = json!("someone-else")),
        "jwt_wrong_audience",
    )
    .await;
    refused(
        &p,
        &with(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        "jwt_missing_claim",
    )
    .await;

    // A token living longer than max_token_lifetime (24h by default), with or without iat.
    refused(
        &p,
        &with(&|c| c["exp"] = json!(now() + 40 * 86_400)),
        "jwt_lifetime_too_long",
    )
    .await;
    refused(
        &p,
        &with(&|c| {
            c.as_object_mut().unwrap().remove("iat");
            c["exp"] = json!(now() + 2 * 86_400);
        }),
        "jwt_lifetime_too_long",
    )
    .await;

    // A validly signed token whose header lists a critical extension (RFC 7515 §4.1.11).
    let signing_input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","kid":"rsa-a","crit":["exp-ext"],"exp-ext":1}"#),
        b64(claims().to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_rsa_pem(&fixture("rsa-a.pem")).unwrap(),
        Algorithm::RS256,
    )
    .unwrap();
    refused(
        &p,
        &format!("{signing_input}.{signature}"),
        "jwt_crit_unsupported",
    )
    .await;

    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims().to_string().as_bytes())
    );
    refused(&p, &none, "jwt_malformed").await;

    // Algorithm confusion: HS256 with the RSA public key (as PEM text) as the MAC secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-a".into());
    let confused = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&fixture("rsa-a.pub.pem")),
    )
    .unwrap();
    refused(&p, &confused, "jwt_algorithm_not_allowed").await;

    // Tampered payload: an admin role pasted into a validly signed token.
    let good = sign(Algorithm::RS256, "rsa-a", &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims();
    evil["realm_access"]["roles"] = json!(["admin"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(evil.to_string().as_bytes()),
        parts[2]
    );
    refused(&p, &tampered, "jwt_bad_signature").await;

    // Unknown kid: refused, and repeated unknown kids do not hammer the endpoint.
    let before = jwks.fetches.load(Ordering::SeqCst);
    for _ in 0..5 {
        refused(
            &p,
            &sign(Algorithm::RS256, "rsa-b", &claims()),
            "jwt_unknown_kid",
        )
        .await;
    }
    let fetched = jwks.fetches.load(Ordering::SeqCst) - before;
    assert!(
        fetched <= 2,
        "{fetched} JWKS fetches for 5 unknown-kid tokens"
    );

    // Oversized.
    let big = with(&|c| c["pad"] = json!("x".repeat(10_000)));
    refused(&p, &big, "oversized_credentials").await;

    // A token without the client role gets the 404 of a model it may not see.
    let r = call(
        &p,
        &with(&|c| c["realm_access"]["roles"] = json!(["nobody"])),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_at_the_endpoint_is_picked_up_without_a_restart() {
    let jwks = Jwks::start(vec![jwk("rsa-a")]).await;
    let p = server(&jwks);
    assert_eq!(
        call(&p, &sign(Algorithm::RS256, "rsa-a", &claims()))
            .await
            .status(),
        StatusCode::OK
    );

    // The IdP rotates: rsa-b in, rsa-a out.
    jwks.serve(vec![jwk("rsa-b")]);
    // The first token with the new kid triggers a refetch (the start-up fetch does not count
    // against the floor), so the new key works at once.
    let r = call(&p, &sign(Algorithm::RS256, "rsa-b", &claims())).await;
    assert_eq!(r.status(), StatusCode::OK);
    // And the retired key no longer verifies.
    refused(
        &p,
        &sign(Algorithm::RS256, "rsa-a", &claims()),
        "jwt_unknown_kid",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_needs_a_configured_secret_file_and_only_verifies_with_it() {
    let secret = "a-shared-secret-of-at-least-32-bytes!!";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt-secret");
    std::fs::write(&file, secret).unwrap();
    let p = Palisade::with_config(|t| {
        format!(
            "{t}\n[[identity.jwt]]\nissuer = \"{ISSUER}\"\naudiences = [\"palisade\"]\nhmac_secret_file = \"{}\"\nprincipal_kind = \"service\"\nroles_claims = [\"realm_access.roles\"]\n",
            file.display()
        )
    });
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let r = call(&p, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(p.audit_event(&request_id(&r))["principal"], "service:alice");
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    )
    .unwrap();
    refused(&p, &forged, "jwt_bad_signature").await;
}
