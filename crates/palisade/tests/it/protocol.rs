//! The Open Inference Protocol routes, over real TLS, against the real binary.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v2_route_answers() {
    let p = Palisade::demo();
    let c = p.client();
    let auth = format!("Bearer {}", p.token("client"));
    let get = |path: &str| {
        c.get(format!("{}{path}", p.data))
            .header("authorization", &auth)
            .send()
    };

    // Health is open to probes; everything else needs a key.
    for path in ["/v2/health/live", "/v2/health/ready"] {
        let r = c.get(format!("{}{path}", p.data)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let meta: Value = get("/v2").await.unwrap().json().await.unwrap();
    assert_eq!(meta["name"], "palisade");
    assert!(meta["extensions"]
        .as_array()
        .unwrap()
        .contains(&json!("binary_tensor_data")));

    for path in ["/v2/models/iris", "/v2/models/iris/versions/1"] {
        let m: Value = get(path).await.unwrap().json().await.unwrap();
        assert_eq!(m["name"], "iris", "{path}");
        let versions = if path.ends_with("/1") {
            json!(["1"])
        } else {
            json!(["1", "2"])
        };
        assert_eq!(m["versions"], versions);
        assert_eq!(
            m["inputs"],
            json!([{ "name": "input", "datatype": "FP32", "shape": [-1, 4] }])
        );
        assert_eq!(m["outputs"][0]["name"], "label");
        assert_eq!(
            m["outputs"][1],
            json!({ "name": "probabilities", "datatype": "FP32", "shape": [-1, 3] })
        );
    }
    for path in ["/v2/models/iris/ready", "/v2/models/iris/versions/1/ready"] {
        assert_eq!(get(path).await.unwrap().status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        get("/v2/models/iris/versions/7").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    for path in ["/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"] {
        let mut body = infer_body(&[5.1, 3.5, 1.4, 0.2]);
        body["id"] = json!("call-42");
        let r = c
            .post(format!("{}{path}", p.data))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], "call-42");
        assert_eq!(v["model_name"], "iris");
        assert_eq!(v["model_version"], "1");
        assert_eq!(v["outputs"][0]["data"], json!([0]));
        let probs: Vec<f64> = serde_json::from_value(v["outputs"][1]["data"].clone()).unwrap();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5 && probs[0] > 0.9);
    }

    // Wrong method: 405 with Allow.
    let r = c
        .get(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_data_requested_outputs_and_batches() {
    let p = Palisade::demo();
    let c = p.client();
    let auth = format!("Bearer {}", p.token("client"));
    let body = json!({
        "inputs": [{ "name": "input", "shape": [2, 4], "datatype": "FP32",
                     "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] }],
        "outputs": [{ "name": "label" }]
    });
    let v: Value = c
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", &auth)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["outputs"][0],
        json!({ "name": "label", "datatype": "INT64", "shape": [2], "data": [0, 2] })
    );

    let body = json!({
        "inputs": [{ "name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4] }],
        "outputs": [{ "name": "nope" }]
    });
    let r = c
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", &auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("no output 'nope'"),
        "{e}"
    );

    // Finite but extreme inputs overflow the softmax: a clear 422, never `null` with a 200.
    let r = c
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", &auth)
        .json(&infer_body(&[3.4e38, 3.4e38, 3.4e38, 3.4e38]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = request_id(&r);
    let e: Value = r.json().await.unwrap();
    let text = e["error"].as_str().unwrap();
    assert!(
        text.contains("non-finite") && text.contains("'probabilities'"),
        "{e}"
    );
    assert_eq!(p.audit_event(&id)["reason"], "non_finite_output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_tensor_extension_in_and_out() {
    let p = Palisade::demo();
    let c = p.client();
    let header = json!({
        "inputs": [{ "name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": { "binary_data_size": 16 } }],
        "outputs": [{ "name": "probabilities", "parameters": { "binary_data": true } }, { "name": "label" }]
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    for f in [5.1f32, 3.5, 1.4, 0.2] {
        body.extend_from_slice(&f.to_le_bytes());
    }
    let r = c
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .header("content-type", "application/octet-stream")
        .header("inference-header-content-length", header.len())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let json_len: usize = r.headers()["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let head: Value = serde_json::from_slice(&bytes[..json_len]).unwrap();
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 12);
    assert_eq!(head["outputs"][1]["data"], json!([0]));
    let probs: Vec<f32> = bytes[json_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(probs.len(), 3);
    assert!(probs[0] > 0.9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_and_http2_both_work() {
    let p = Palisade::demo();
    for http1_only in [true, false] {
        let c = client_with_ca(&p.ca(), http1_only);
        let r = c
            .get(format!("{}/v2/health/live", p.data))
            .send()
            .await
            .unwrap();
        let expected = if http1_only {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(r.version(), expected);
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_plane_has_no_admin_routes_and_admin_plane_no_inference() {
    let p = Palisade::demo();
    let c = p.client();
    let admin = format!("Bearer {}", p.token("admin"));
    for path in ["/metrics", "/admin/keys", "/admin/models"] {
        let r = c
            .get(format!("{}{path}", p.data))
            .header("authorization", &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "{path} on the data plane"
        );
    }
    let r = c
        .post(format!("{}/v2/models/iris/infer", p.admin))
        .header("authorization", &admin)
        .json(&infer_body(&[1.0, 2.0, 3.0, 4.0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_curl_line_works() {
    let p = Palisade::demo();
    let curl = p.ready["curl"]
        .as_str()
        .expect("the demo's ready line carries the curl call");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{curl} --silent --show-error"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model_name"], "iris");
    assert_eq!(v["outputs"][0]["data"], json!([0]));
}

/// A 401 offers a client certificate only on a listener that takes one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_401_offers_only_the_credentials_the_listener_takes() {
    let p = Palisade::demo();
    // The demo's data plane has no client CA: API keys and tokens only.
    let r = p
        .client()
        .get(format!("{}/v2", p.data))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let text = r.text().await.unwrap();
    assert!(text.contains("Authorization: Bearer"), "{text}");
    assert!(!text.contains("certificate"), "{text}");
    // Its admin plane takes client certificates (client_auth = "optional").
    let r = p
        .client()
        .get(format!("{}/admin/models", p.admin))
        .header("authorization", "Bearer pal_0000000000000000_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let text = r.text().await.unwrap();
    assert!(text.contains("or a client certificate"), "{text}");
}

/// Triton's model configuration and repository index, which `tritonclient` reads: the index
/// leaves out the models a caller may not see, as their 404 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_config_and_repository_index() {
    let p = Palisade::with_config(|t| {
        t.edit(
            "[roles.admin]",
            "[roles.iris_only]\ngrants = [{ actions = [\"read_metadata\"], models = [\"iris\"] }]\n\n[roles.admin]",
        )
    });
    let r = p.data_call("GET", "/v2/models/iris/config", "client").await;
    assert_eq!(r.status(), StatusCode::OK);
    let config: Value = r.json().await.unwrap();
    assert_eq!(
        config["input"],
        json!([{ "name": "input", "data_type": "TYPE_FP32", "dims": [-1, 4] }])
    );
    let index = |token: String| {
        p.client()
            .post(format!("{}/v2/repository/index", p.data))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({}))
            .send()
    };
    let all: Value = index(p.token("client"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["breast-cancer", "diabetes", "iris", "iris"],
        "iris has two versions"
    );
    let out = p.cli(&[
        "keys",
        "create",
        "--config",
        &p.config_path(),
        "--name",
        "narrow",
        "--role",
        "iris_only",
    ]);
    assert_success(&out);
    let narrow = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let deadline = std::time::Instant::now() + PATIENCE;
    let seen = loop {
        let r = index(narrow.clone()).await.unwrap();
        if r.status() == StatusCode::OK {
            break r.json::<Value>().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new key never accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let seen: Vec<(&str, &str)> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["version"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("iris", "1"), ("iris", "2")]);
    let r = p
        .client()
        .post(format!("{}/v2/repository/index", p.data))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
