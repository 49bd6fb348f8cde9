//! Cedar policies through the running server: the example policies decide real calls, the
//! deciding policy ids land in the audit log, and an invalid set is refused on reload (admin
//! API and SIGHUP) while the old one keeps serving.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies");

fn add_example(p: &Palisade, file: &str) {
    std::fs::copy(
        format!("{EXAMPLES}/{file}"),
        p.state().join("policies").join(file),
    )
    .unwrap();
}

async fn infer(p: &Palisade, model: &str, role: &str) -> reqwest::Response {
    p.client()
        .post(format!("{}/v2/models/{model}/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token(role)))
        .json(&json!({ "inputs": [{ "name": "input", "shape": [1, 30], "datatype": "FP32", "data": vec![0.5f32; 30] }] }))
        .send()
        .await
        .unwrap()
}

async fn reload(p: &Palisade) -> (StatusCode, Value) {
    let r = p
        .admin_call("POST", "/admin/policies/reload", "admin")
        .await;
    let id = request_id(&r);
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    let event = p.audit_event(&id);
    assert_eq!(event["action"], "manage_policies");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_risk_models_need_an_mtls_service_once_the_policy_is_loaded() {
    let p = Palisade::demo();
    // breast-cancer is `risk = "high"` in its manifest; the client key may use it today.
    assert_eq!(
        infer(&p, "breast-cancer", "client").await.status(),
        StatusCode::OK
    );

    add_example(&p, "high-risk-needs-mtls.cedar");
    let (status, body) = reload(&p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["policies"]
        .as_array()
        .unwrap()
        .contains(&json!("high-risk-needs-mtls-service")));

    // Now an API key gets the 404 of a model it may not know about, and the audit event
    // names the policy that refused it.
    let r = infer(&p, "breast-cancer", "client").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let event = p.audit_event(&request_id(&r));
    assert_eq!(event["reason"], "hidden");
    assert_eq!(event["policies"], json!(["high-risk-needs-mtls-service"]));
    // Other models are untouched; the permit that allowed is recorded too.
    let r = p
        .client()
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        p.audit_event(&request_id(&r))["policies"],
        json!(["role.client.1"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_an_owner_cannot_be_run() {
    let p = Palisade::demo();
    // The demo ships require-owner.cedar. Copy iris as `orphan` with no owner line.
    let models = p.state().join("models");
    std::fs::create_dir_all(models.join("orphan/1")).unwrap();
    std::fs::copy(
        models.join("iris/1/model.onnx"),
        models.join("orphan/1/model.onnx"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(models.join("iris/model.toml")).unwrap();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("owner") && !l.starts_with("[versions.2]"))
        .collect::<Vec<_>>()
        .join("\n");
    let manifest = manifest.split("sha256").collect::<Vec<_>>();
    // Keep version 1's pin only.
    let text = format!(
        "{}sha256{}",
        manifest[0],
        manifest[1].lines().next().unwrap()
    );
    std::fs::write(models.join("orphan/model.toml"), text).unwrap();
    p.sign_model("orphan");
    let r = p
        .admin_call("POST", "/admin/models/orphan/load", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    let r = p
        .client()
        .post(format!("{}/v2/models/orphan/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("admin")))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let event = p.audit_event(&request_id(&r));
    assert_eq!(event["policies"], json!(["infer-needs-owner"]));
    // Metadata stays readable: the admin learns why, not that nothing exists.
    let r = p.data_call("GET", "/v2/models/orphan", "admin").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_set_is_refused_and_the_old_one_keeps_serving() {
    let p = Palisade::demo();
    add_example(&p, "high-risk-needs-mtls.cedar");
    assert_eq!(reload(&p).await.0, StatusCode::OK);

    // A typo in an attribute name: Cedar's validator names it.
    std::fs::write(
        p.state().join("policies/typo.cedar"),
        "permit (principal, action == Action::\"infer\", resource is Model)\nwhen { resource.riks == \"low\" };\n",
    )
    .unwrap();
    let (status, body) = reload(&p).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("riks") && error.contains("previous policies stay"),
        "{error}"
    );
    // The old set still decides: high-risk still refused, iris still served.
    assert_eq!(
        infer(&p, "breast-cancer", "client").await.status(),
        StatusCode::NOT_FOUND
    );

    // The same through SIGHUP, with a syntax error this time: refused and audited.
    std::fs::write(
        p.state().join("policies/typo.cedar"),
        "permit (principal, action resource);",
    )
    .unwrap();
    p.hangup();
    let event = p.wait_for_event(|e| e["principal"] == "system:signal");
    assert_eq!(
        (event["decision"].as_str(), event["reason"].as_str()),
        (Some("deny"), Some("invalid_policies"))
    );
    assert!(p.stderr_text().contains("policy reload refused"));
    assert_eq!(
        infer(&p, "breast-cancer", "client").await.status(),
        StatusCode::NOT_FOUND
    );

    // Fixed and removed the forbid: the next SIGHUP takes it, and the client may call again.
    std::fs::remove_file(p.state().join("policies/typo.cedar")).unwrap();
    std::fs::remove_file(p.state().join("policies/high-risk-needs-mtls.cedar")).unwrap();
    p.hangup();
    p.wait_for_event(|e| e["principal"] == "system:signal" && e["decision"] == "allow");
    assert_eq!(
        infer(&p, "breast-cancer", "client").await.status(),
        StatusCode::OK
    );

    // Only a role with manage_policies may reload.
    let r = p
        .admin_call("POST", "/admin/policies/reload", "client")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[test]
fn policies_check_reports_the_set_or_the_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let config = dir.path().join("palisade.toml");
    let check = || {
        std::process::Command::new(BIN)
            .args(["policies", "check", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("infer-needs-owner"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("warning"),
        "the demo set is scoped: {stdout}"
    );

    // An unconditional permit compiles, and is named as a warning.
    std::fs::write(
        dir.path().join("policies/open.cedar"),
        "@id(\"open\")\npermit (principal, action, resource);\n@id(\"meta\")\npermit (principal, action == Action::\"read_metadata\", resource);\n",
    )
    .unwrap();
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("warning: policy open permits every action on every resource")
            && stdout.contains("warning: policy meta permits its actions to any"),
        "{stdout}"
    );
    std::fs::remove_file(dir.path().join("policies/open.cedar")).unwrap();

    std::fs::write(
        dir.path().join("policies/bad.cedar"),
        "forbid (principal, action, resource) when { context.hour == \"nine\" };",
    )
    .unwrap();
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && stdout.contains("bad.cedar"),
        "{stdout}"
    );
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let schema = std::process::Command::new(BIN)
        .args(["policies", "schema"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&schema.stdout).contains("entity Model"));
}
