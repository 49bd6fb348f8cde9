//! Model lifecycle on the admin plane: load, unload, default version, rollback — atomic and
//! audited.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn infer(c: &reqwest::Client, url: &str, auth: &str) -> (StatusCode, Value) {
    let r = c
        .post(url)
        .header("authorization", auth)
        .json(&infer_body(&[5.9, 3.0, 4.2, 1.5]))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_switches_under_load_lose_no_call_and_mix_no_versions() {
    let p = Palisade::demo();
    let c = p.client();
    let admin = format!("Bearer {}", p.token("admin"));
    let client = format!("Bearer {}", p.token("client"));

    // What each version answers for the fixed input.
    let mut expected = std::collections::HashMap::new();
    for v in ["1", "2"] {
        let (status, body) = infer(
            &c,
            &format!("{}/v2/models/iris/versions/{v}/infer", p.data),
            &client,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        expected.insert(v.to_string(), body["outputs"][1]["data"].clone());
    }
    assert_ne!(
        expected["1"], expected["2"],
        "the two versions must differ for this test to mean anything"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/v2/models/iris/infer", p.data);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (c, url, auth, stop) = (c.clone(), url.clone(), client.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(infer(&c, &url, &auth).await);
            }
            seen
        }));
    }
    for i in 0..20 {
        let r = if i % 2 == 0 {
            c.post(format!("{}/admin/models/iris/default", p.admin))
                .header("authorization", &admin)
                .json(&json!({"version": "2"}))
        } else {
            c.post(format!("{}/admin/models/iris/rollback", p.admin))
                .header("authorization", &admin)
        };
        assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut per_version = std::collections::HashMap::<String, usize>::new();
    for w in workers {
        for (status, body) in w.await.unwrap() {
            assert_eq!(
                status,
                StatusCode::OK,
                "a call was lost during a switch: {body}"
            );
            let v = body["model_version"].as_str().unwrap().to_string();
            assert_eq!(
                body["outputs"][1]["data"], expected[&v],
                "the answer does not belong to version {v}"
            );
            *per_version.entry(v).or_default() += 1;
        }
    }
    assert!(
        per_version.len() == 2,
        "both versions served: {per_version:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_are_checked_authorized_and_audited() {
    let p = Palisade::demo();
    let c = p.client();
    let admin = format!("Bearer {}", p.token("admin"));
    let client = format!("Bearer {}", p.token("client"));
    let default = |auth: &str, body: Value| {
        c.post(format!("{}/admin/models/iris/default", p.admin))
            .header("authorization", auth.to_string())
            .json(&body)
            .send()
    };

    let r = default(&client, json!({"version": "2"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = default(&admin, json!({"version": "9"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = default(&admin, json!({"versoin": "2"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = p
        .admin_call("POST", "/admin/models/iris/rollback", "admin")
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "nothing to roll back to yet"
    );

    let r = default(&admin, json!({"version": "2"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let event = p.audit_event(&request_id(&r));
    assert_eq!(
        (event["action"].as_str(), event["model"].as_str()),
        (Some("load_model"), Some("iris@2"))
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"name": "iris", "default_version": "2", "previous_default": "1"})
    );
    let (_, answer) = infer(&c, &format!("{}/v2/models/iris/infer", p.data), &client).await;
    assert_eq!(answer["model_version"], "2");

    let r = p
        .admin_call("POST", "/admin/models/iris/rollback", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(p.audit_event(&request_id(&r))["model"], "iris@1");
    let (_, answer) = infer(&c, &format!("{}/v2/models/iris/infer", p.data), &client).await;
    assert_eq!(answer["model_version"], "1");
    let models: Value = p
        .admin_call("GET", "/admin/models", "admin")
        .await
        .json()
        .await
        .unwrap();
    let iris = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "iris")
        .unwrap()
        .clone();
    assert_eq!(iris["default_version"], "1");
    assert_eq!(iris["versions"], json!(["1", "2"]));
}
