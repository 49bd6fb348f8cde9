//! Identity and access: API keys, roles, the admin plane, TLS versions, mTLS.

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

async fn infer_status(p: &Palisade, auth: Option<&str>) -> reqwest::Response {
    let mut req = p
        .client()
        .post(format!("{}/v2/models/iris/infer", p.data))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

fn assert_401(r: &reqwest::Response) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"palisade\""),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_revoked_and_expired_keys_get_401() {
    let p = Palisade::demo();
    let good = p.token("client");

    let r = infer_status(&p, None).await;
    assert_401(&r);
    let event = p.audit_event(&request_id(&r));
    assert_eq!(
        (event["decision"].as_str(), event["reason"].as_str()),
        (Some("deny"), Some("missing_credentials"))
    );

    let mut wrong = good.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    for bad in [
        format!("Bearer {wrong}"),
        "Bearer pal_nonsense".into(),
        format!("Basic {good}"),
        "Bearer ".into(),
    ] {
        let r = infer_status(&p, Some(&bad)).await;
        assert_401(&r);
        let body = r.text().await.unwrap();
        assert!(!body.contains(&good[..20]), "the token must not be echoed");
    }

    // Revoked through the admin API: refused at once.
    let c = p.client();
    let admin = format!("Bearer {}", p.token("admin"));
    let created: Value = c
        .post(format!("{}/admin/keys", p.admin))
        .header("authorization", &admin)
        .json(&json!({ "name": "short-lived", "role": "client" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    assert_eq!(
        infer_status(&p, Some(&format!("Bearer {token}")))
            .await
            .status(),
        StatusCode::OK
    );
    let r = c
        .post(format!(
            "{}/admin/keys/{}/revoke",
            p.admin,
            created["id"].as_str().unwrap()
        ))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = infer_status(&p, Some(&format!("Bearer {token}"))).await;
    assert_401(&r);
    assert_eq!(p.audit_event(&request_id(&r))["reason"], "revoked_key");

    // Expired: created with a one-second lifetime by the CLI, which the server picks up.
    let out = p.cli(&[
        "keys",
        "create",
        "--config",
        &p.config_path(),
        "--name",
        "brief",
        "--role",
        "client",
        "--expires-in",
        "1s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = infer_status(&p, Some(&format!("Bearer {token}"))).await;
    assert_401(&r);
    assert_eq!(p.audit_event(&request_id(&r))["reason"], "expired_key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_revocation_reaches_a_running_server() {
    let p = Palisade::demo();
    let out = p.cli(&[
        "keys",
        "create",
        "--config",
        &p.config_path(),
        "--name",
        "ops",
        "--role",
        "client",
    ]);
    assert!(out.status.success());
    let token = format!("Bearer {}", String::from_utf8(out.stdout).unwrap().trim());
    // The server reloads the keys file within a second of a change.
    let deadline = Instant::now() + PATIENCE;
    while infer_status(&p, Some(&token)).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "new key never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = p.cli(&["keys", "list", "--config", &p.config_path()]);
    let listing = String::from_utf8(list.stdout).unwrap();
    let id = listing
        .lines()
        .find(|l| l.contains(" ops "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(!listing.contains(token.trim_start_matches("Bearer ")));
    assert!(p
        .cli(&["keys", "revoke", "--config", &p.config_path(), &id])
        .status
        .success());
    let deadline = Instant::now() + PATIENCE;
    while infer_status(&p, Some(&token)).await.status() != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "revocation never took effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_key_is_refused_on_admin_routes() {
    let p = Palisade::demo();
    let c = p.client();
    let client = format!("Bearer {}", p.token("client"));
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/admin/keys"),
        ("POST", "/admin/keys"),
        ("GET", "/admin/models"),
        ("POST", "/admin/models/iris/unload"),
        ("POST", "/admin/models/iris/load"),
    ] {
        let r = c
            .request(method.parse().unwrap(), format!("{}{path}", p.admin))
            .header("authorization", &client)
            .json(&json!({ "name": "x", "role": "admin" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(p.audit_event(&request_id(&r))["reason"], "forbidden");
    }
    // And the model is still loaded.
    assert_eq!(
        infer_status(&p, Some(&client)).await.status(),
        StatusCode::OK
    );
    // Without a key, the admin certificate alone is the admin service (its SPIFFE ID maps
    // to role admin in [identity.mtls]).
    let r = c.get(format!("{}/metrics", p.admin)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let event = p.audit_event(&request_id(&r));
    assert_eq!(event["principal"], "service:spiffe://palisade.dev/admin");
    assert_eq!(event["auth"], "mtls");
    // The demo lets the admin token in without a certificate (client_auth = "optional").
    let r = client_with_ca(&p.ca(), false)
        .get(format!("{}/metrics", p.admin))
        .header("authorization", format!("Bearer {}", p.token("admin")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_plane_requires_a_client_certificate_by_default() {
    // The demo config without its explicit `client_auth = "optional"`: the default applies.
    let p = Palisade::with_config(|t| t.replacen("client_auth = \"optional\"\n", "", 1));
    let r = client_with_ca(&p.ca(), false)
        .get(format!("{}/metrics", p.admin))
        .header("authorization", format!("Bearer {}", p.token("admin")))
        .send()
        .await;
    assert!(
        r.is_err(),
        "admin plane served a caller without a certificate"
    );
    // With the certificate (and no token) the admin service is in.
    let r = p
        .client()
        .get(format!("{}/metrics", p.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The data plane asks for nothing.
    let r = client_with_ca(&p.ca(), false)
        .get(format!("{}/v2/health/live", p.data))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_outside_the_role_looks_exactly_like_a_missing_one() {
    let p = Palisade::demo();
    // Add a model the client role does not name, and load it through the admin plane.
    let models = p.state().join("models");
    for v in ["1", "2"] {
        std::fs::create_dir_all(models.join("payroll").join(v)).unwrap();
        for file in ["model.onnx", "selftest.json"] {
            std::fs::copy(
                models.join("iris").join(v).join(file),
                models.join("payroll").join(v).join(file),
            )
            .unwrap();
        }
    }
    std::fs::copy(
        models.join("iris/model.toml"),
        models.join("payroll/model.toml"),
    )
    .unwrap();
    p.sign_model("payroll");
    let c = p.client();
    let r = p
        .admin_call("POST", "/admin/models/payroll/load", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        p.data_call("GET", "/v2/models/payroll", "admin")
            .await
            .status(),
        StatusCode::OK
    );

    let client = format!("Bearer {}", p.token("client"));
    for (method, suffix) in [
        ("GET", ""),
        ("GET", "/ready"),
        ("POST", "/infer"),
        ("GET", "/versions/1"),
    ] {
        let mut answers = Vec::new();
        for model in ["payroll", "no-such-model"] {
            let r = c
                .request(
                    method.parse().unwrap(),
                    format!("{}/v2/models/{model}{suffix}", p.data),
                )
                .header("authorization", &client)
                .json(&infer_body(&[1.0, 2.0, 3.0, 4.0]))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap().replace(model, "MODEL");
            answers.push((status, body));
        }
        assert_eq!(answers[0].0, StatusCode::NOT_FOUND, "{method} {suffix}");
        assert_eq!(
            answers[0], answers[1],
            "{method} {suffix}: hidden and missing must look the same"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_keys_and_models() {
    let p = Palisade::demo();
    let c = p.client();
    let admin = format!("Bearer {}", p.token("admin"));
    let keys: Value = p
        .admin_call("GET", "/admin/keys", "admin")
        .await
        .json()
        .await
        .unwrap();
    let listed = keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|k| k.get("token").is_none() && k.get("secret_sha256").is_none()));

    let r = c
        .post(format!("{}/admin/keys", p.admin))
        .header("authorization", &admin)
        .json(&json!({ "name": "x", "role": "superuser" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("known roles"));

    let models: Value = p
        .admin_call("GET", "/admin/models", "admin")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models["models"].as_array().unwrap().len(), 3);
    let r = p
        .admin_call("POST", "/admin/models/iris/unload", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        infer_status(&p, Some(&admin)).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = p
        .admin_call("POST", "/admin/models/iris/load", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        infer_status(&p, Some(&admin)).await.status(),
        StatusCode::OK
    );

    p.assert_metrics(&[
        "palisade_calls_total{plane=\"data\",action=\"infer\",model=\"iris\",version=\"1\",status=\"200\",decision=\"allow\",reason=\"ok\"}",
        "palisade_models_loaded 3",
        "palisade_model_events_total{model=\"iris\",event=\"unload\"} 1",
        "palisade_model_events_total{model=\"iris\",event=\"load\"} 2",
        "palisade_stage_duration_seconds_count{plane=\"data\",stage=\"infer\"}",
        "palisade_stage_duration_seconds_count{plane=\"data\",stage=\"identify\"}",
        "palisade_audit_append_seconds_count",
        "palisade_audit_queue_depth",
        "palisade_tls_handshake_failures",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_unsupported_models_are_refused_at_load() {
    let p = Palisade::demo();
    let models = p.state().join("models");
    // A version whose bytes no longer match the pinned digest.
    std::fs::create_dir_all(models.join("tampered/1")).unwrap();
    let mut bytes = std::fs::read(models.join("iris/1/model.onnx")).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x01;
    std::fs::write(models.join("tampered/1/model.onnx"), bytes).unwrap();
    std::fs::copy(
        models.join("iris/model.toml"),
        models.join("tampered/model.toml"),
    )
    .unwrap();
    // A model using an operator tract lacks.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/unsupported/model.onnx");
    let blob = std::fs::read(fixture).unwrap();
    std::fs::create_dir_all(models.join("unsupported/1")).unwrap();
    std::fs::write(models.join("unsupported/1/model.onnx"), &blob).unwrap();
    std::fs::write(
        models.join("unsupported/model.toml"),
        format!(
            "[versions.1]\nsha256 = \"{}\"\n",
            hex::encode(sha2::Sha256::digest(&blob))
        ),
    )
    .unwrap();

    p.sign_model("unsupported");
    let c = p.client();
    let admin = format!("Bearer {}", p.token("admin"));
    let r = p
        .admin_call("POST", "/admin/models/tampered/load", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e = r.text().await.unwrap();
    assert!(
        e.contains("SHA-256") && e.contains("tampered/1/model.onnx"),
        "{e}"
    );
    let r = p
        .admin_call("POST", "/admin/models/unsupported/load", "admin")
        .await;
    let e = r.text().await.unwrap();
    assert!(e.contains("DictVectorizer") && e.contains("node"), "{e}");
    for m in ["tampered", "unsupported"] {
        let r = c
            .get(format!("{}/v2/models/{m}", p.data))
            .header("authorization", &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_12_only_clients_fail_the_handshake_by_default() {
    let p = Palisade::demo();
    let tls12 = rustls_client(&p.ca(), &[&rustls::version::TLS12]);
    assert!(
        tls_connect(p.data_port, tls12.clone()).await.is_err(),
        "data plane accepted TLS 1.2"
    );
    assert!(
        tls_connect(p.admin_port, tls12).await.is_err(),
        "admin plane accepted TLS 1.2"
    );
    let tls13 = rustls_client(&p.ca(), &[&rustls::version::TLS13]);
    assert!(tls_connect(p.data_port, tls13).await.is_ok());
    // Plain HTTP to a TLS port gets nowhere.
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/v2/health/live", p.data_port))
        .send()
        .await;
    assert!(r.is_err() || !r.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_12_is_an_explicit_opt_in() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "# allow_tls12 = false          # TLS 1.3 only unless set",
            "allow_tls12 = true",
            1,
        )
    });
    let tls12 = rustls_client(&p.ca(), &[&rustls::version::TLS12]);
    assert!(tls_connect(p.data_port, tls12.clone()).await.is_ok());
    assert!(
        tls_connect(p.admin_port, tls12).await.is_err(),
        "only the data plane opted in"
    );
}

/// Issue `tls/<name>.pem|key` from the demo CA, valid for `days` (negative: expired).
fn issue_client_cert(p: &Palisade, name: &str, days: &str) {
    let out = std::process::Command::new(BIN)
        .args(["dev-certs", "--out"])
        .arg(p.state().join("tls"))
        .args(["--client", name, "--days", days])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn mtls_client(p: &Palisade, identity: Option<reqwest::Identity>) -> reqwest::Client {
    let mut b = client_builder(&p.ca(), false);
    if let Some(id) = identity {
        b = b.identity(id);
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_requires_a_client_certificate_from_the_configured_ca() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "# client_ca = \"tls/ca.pem\"",
            "client_ca = \"tls/ca.pem\"\nclient_auth = \"required\"",
            1,
        )
        .replacen(
            "roles = { \"spiffe://palisade.dev/admin\" = [\"admin\"] }",
            "roles = { \"spiffe://palisade.dev/admin\" = [\"admin\"], \"spiffe://palisade.dev/scorer\" = [\"client\"] }",
            1,
        )
    });
    issue_client_cert(&p, "scorer", "30");
    issue_client_cert(&p, "stale", "-2");
    // A second CA the server does not trust, with a client certificate of the same name.
    let other = tempfile::tempdir().unwrap();
    palisade_gate::tls::create_dev_pki(other.path(), &["localhost".to_string()]).unwrap();
    palisade_gate::tls::issue_dev_client(other.path(), "scorer", 30).unwrap();

    let without = rustls_client(&p.ca(), &[&rustls::version::TLS13]);
    let refused = match tls_connect(p.data_port, without).await {
        Err(_) => true,
        // TLS 1.3 reports a missing client certificate on the first read.
        Ok(mut s) => {
            use tokio::io::AsyncReadExt;
            let _ = send_raw(&mut s, b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n").await;
            let mut buf = [0u8; 64];
            !matches!(s.read(&mut buf).await, Ok(n) if n > 0)
        }
    };
    assert!(refused, "a client without a certificate got through");
    // The client sees only a closed connection; the operator's log says why and what to do.
    let deadline = Instant::now() + PATIENCE;
    while !p.stderr_text().contains("peer sent no certificates") {
        assert!(Instant::now() < deadline, "{}", p.stderr_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(p.stderr_text().contains("requires a client certificate"));

    // The SPIFFE ID is the principal; its role comes from [identity.mtls] roles.
    let scorer = mtls_client(&p, Some(p.identity("scorer")));
    let r = scorer
        .post(format!("{}/v2/models/iris/infer", p.data))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let event = p.audit_event(&request_id(&r));
    assert_eq!(event["principal"], "service:spiffe://palisade.dev/scorer");
    assert_eq!(event["auth"], "mtls");
    assert_eq!(event["policies"], json!(["role.client.1"]));
    // The role grants nothing on the admin plane.
    let r = scorer
        .get(format!("{}/metrics", p.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Expired, and from another CA: no connection.
    let stale = mtls_client(&p, Some(p.identity("stale")));
    assert!(stale
        .get(format!("{}/v2/health/live", p.data))
        .send()
        .await
        .is_err());
    let mut pem = std::fs::read(other.path().join("scorer.pem")).unwrap();
    pem.extend(std::fs::read(other.path().join("scorer.key")).unwrap());
    let foreign = mtls_client(&p, Some(reqwest::Identity::from_pem(&pem).unwrap()));
    assert!(foreign
        .get(format!("{}/v2/health/live", p.data))
        .send()
        .await
        .is_err());
    // The server is fine afterwards.
    let r = scorer
        .get(format!("{}/v2/health/live", p.data))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_mtls_admits_callers_with_and_without_certificates() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "# client_ca = \"tls/ca.pem\"",
            "client_ca = \"tls/ca.pem\"",
            1,
        )
        .replacen(
            "trust_domains = [\"palisade.dev\"]",
            "trust_domains = [\"prod.example\"]",
            1,
        )
    });
    issue_client_cert(&p, "scorer", "30");
    // No certificate: the API key decides.
    let r = infer_status(&p, Some(&format!("Bearer {}", p.token("client")))).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A verified certificate from an unlisted trust domain names nobody: 401.
    let scorer = mtls_client(&p, Some(p.identity("scorer")));
    let r = scorer
        .post(format!("{}/v2/models/iris/infer", p.data))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_401(&r);
    assert_eq!(
        p.audit_event(&request_id(&r))["reason"],
        "mtls_untrusted_domain"
    );
    // With a key as well, the key is the principal and the certificate shows as mTLS.
    let r = scorer
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(p.audit_event(&request_id(&r))["auth"], "api_key");
}
