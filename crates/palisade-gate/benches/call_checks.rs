//! What identify + authorize + limit cost per call: JWT verification (RS256, ES256, EdDSA),
//! a Cedar decision over the role table and the example policies, and the local limiter with
//! every rate and budget configured. Target: at most 20 µs for the three together.
//!
//! `warm`: the same token again within the same second (verified-token cache and decision
//! memo hit), the steady state of a client calling in a loop. `cold`: a token never seen and
//! a decision never made: the signature check and the Cedar evaluation in full.
//!
//! `cargo bench -p palisade-gate --bench call_checks`

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use palisade_access::jwt::JwtVerifier;
use palisade_access::keys;
use palisade_access::policy::{compile, schema, ModelResource, RequestContext};
use palisade_config::rates::{Rate, RateLimits};
use palisade_config::{Action, Config, JwtIssuer, JwtKeys};
use palisade_gate::limit::Limiter;

const ROLES: &str = r#"
[data_plane]
listen = "127.0.0.1:0"
dangerous_plaintext = true
[admin_plane]
listen = "127.0.0.1:0"
dangerous_plaintext = true
[models]
repository = "models"
[roles.client]
grants = [{ actions = ["infer", "read_metadata"], models = ["iris", "fraud-*"] }]
[roles.admin]
grants = [{ actions = ["*"], models = ["*"] }]
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn jwks_file(dir: &Path) -> PathBuf {
    let keys: Vec<serde_json::Value> = ["rsa-a", "ec-a", "ed-a"]
        .iter()
        .map(|k| {
            let text = std::fs::read(root().join(format!("tests/fixtures/jwt/{k}.jwk.json")));
            serde_json::from_slice(&text.unwrap()).unwrap()
        })
        .collect();
    let path = dir.join("jwks.json");
    std::fs::write(&path, serde_json::json!({ "keys": keys }).to_string()).unwrap();
    path
}

fn token(alg: Algorithm, kid: &str) -> String {
    let pem = std::fs::read(root().join(format!("tests/fixtures/jwt/{kid}.pem"))).unwrap();
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": "https://idp.bench", "aud": "palisade", "sub": "alice",
        "iat": now, "exp": now + 3600, "groups": ["client"],
    });
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, &claims, &key).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let issuer = JwtIssuer::new(
        "https://idp.bench",
        "palisade",
        JwtKeys::File(jwks_file(dir.path())),
    );
    let verifier = rt.block_on(JwtVerifier::start(&[issuer])).unwrap();
    let (config, _) = Config::parse(Path::new("/x/palisade.toml"), ROLES).unwrap();
    let policies = compile(
        &schema().unwrap(),
        &config.roles.to_cedar(),
        Some(&root().join("examples/policies")),
        &BTreeSet::new(),
        0,
    )
    .unwrap();
    let rate = |count| {
        Some(Rate {
            count,
            period: Duration::from_secs(1),
        })
    };
    let limiter = Limiter::new(&RateLimits {
        global: rate(u32::MAX / 2),
        per_principal: rate(u32::MAX / 2),
        per_model: rate(u32::MAX / 2),
        per_principal_model: rate(u32::MAX / 2),
        max_concurrent_per_principal: Some(1024),
        daily_budget_per_principal_model: Some(u64::MAX / 2),
        monthly_budget_per_principal_model: Some(u64::MAX / 2),
    });
    let model = ModelResource {
        name: "iris",
        version: Some("1"),
        risk: "low",
        personal_data: &[],
        owner: Some("ml-team"),
    };
    let context = RequestContext {
        plane: "data",
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        mtls: false,
        spiffe_id: None,
        now: 1_795_478_400 + 10 * 3600,
    };
    let rs256 = token(Algorithm::RS256, "rsa-a");
    let principal = rt.block_on(verifier.verify(&rs256)).unwrap();

    let mut g = c.benchmark_group("call_checks");
    for (name, alg, kid) in [
        ("RS256", Algorithm::RS256, "rsa-a"),
        ("ES256", Algorithm::ES256, "ec-a"),
        ("EdDSA", Algorithm::EdDSA, "ed-a"),
    ] {
        let t = token(alg, kid);
        g.bench_function(format!("jwt_verify/cold/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { verifier.verify_uncached(&t).await.unwrap() })
        });
        g.bench_function(format!("all_three/cold/{name}"), |b| {
            b.to_async(&rt).iter(|| async {
                let (who, _) = verifier.verify_uncached(&t).await.unwrap();
                let verdict = policies.decide_uncached(&who, Action::Infer, Some(&model), &context);
                assert!(verdict.allowed);
                limiter
                    .admit_at(&who.id, "iris", true, keys::now_secs())
                    .await
                    .ok()
                    .unwrap()
            })
        });
        g.bench_function(format!("all_three/warm/{name}"), |b| {
            b.to_async(&rt).iter(|| async {
                let who = verifier.verify(&t).await.unwrap();
                let verdict = policies.decide(&who, Action::Infer, Some(&model), &context);
                assert!(verdict.allowed);
                limiter
                    .admit_at(&who.id, "iris", true, keys::now_secs())
                    .await
                    .ok()
                    .unwrap()
            })
        });
    }
    g.bench_function("cedar_decision/cold", |b| {
        b.iter(|| policies.decide_uncached(&principal, Action::Infer, Some(&model), &context))
    });
    g.bench_function("cedar_decision/warm", |b| {
        b.iter(|| policies.decide(&principal, Action::Infer, Some(&model), &context))
    });
    g.bench_function("local_limiter", |b| {
        b.to_async(&rt).iter(|| async {
            limiter
                .admit_at(&principal.id, "iris", true, keys::now_secs())
                .await
                .ok()
                .unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
