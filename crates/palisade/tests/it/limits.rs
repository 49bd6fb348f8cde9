//! Hostile and broken input: every limit answers with its status, names the problem, is
//! recorded, and leaves the server healthy.

use std::time::Duration;

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn assert_healthy(p: &Palisade) {
    let r = p
        .client()
        .get(format!("{}/v2/health/ready", p.data))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_a_4xx_that_names_the_problem() {
    let p = Palisade::demo();
    let c = p.client();
    let auth = format!("Bearer {}", p.token("client"));
    let deep = format!("{}1.0{}", "[".repeat(100), "]".repeat(100));
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "malformed",
            b"{\"inputs\": [".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "not json",
            b"hello".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "deeply nested",
            format!(
                r#"{{"inputs":[{{"name":"input","shape":[1,4],"datatype":"FP32","data":{deep}}}]}}"#
            )
            .into_bytes(),
            StatusCode::BAD_REQUEST,
            "nesting",
        ),
        (
            "wrong shape",
            infer_body(&[1.0, 2.0, 3.0]).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "shape [1, 3]",
        ),
        (
            "wrong datatype",
            json!({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT32","data":[1,2,3,4]}]})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "datatype INT32",
        ),
        (
            "unknown datatype",
            json!({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP8","data":[1,2,3,4]}]})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "unknown datatype",
        ),
        (
            "data does not fill the shape",
            json!({"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[1,2,3,4]}]})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "needs 8 elements",
        ),
        (
            "wrong input name",
            json!({"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "no input 'x'",
        ),
        (
            "non-finite (overflowing) number",
            br#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1e39,2,3,4]}]}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
            "FP32",
        ),
        (
            "NaN literal",
            br#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[NaN,2,3,4]}]}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "too many elements",
            json!({"inputs":[{"name":"input","shape":[1048577,4],"datatype":"FP32","data":[1]}]})
                .to_string()
                .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "tensor elements",
        ),
        (
            "negative dimension",
            json!({"inputs":[{"name":"input","shape":[-1,4],"datatype":"FP32","data":[1,2,3,4]}]})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "negative",
        ),
    ];
    for (what, body, status, needle) in cases {
        let r = c
            .post(format!("{}/v2/models/iris/infer", p.data))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{what}");
        let id = request_id(&r);
        let e: Value = r.json().await.unwrap();
        let msg = e["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error field in {e}"));
        assert!(msg.contains(needle), "{what}: {msg}");
        let event = p.audit_event(&id);
        assert_eq!(event["status"], status.as_u16(), "{what}");
        assert_eq!(event["decision"], "deny");
        assert!(
            event["request_sha256"].is_string(),
            "{what}: request digest recorded"
        );
    }

    // Non-finite values in binary tensors.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let header = json!({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}).to_string();
        let mut body = header.clone().into_bytes();
        for f in [1.0f32, bad, 3.0, 4.0] {
            body.extend_from_slice(&f.to_le_bytes());
        }
        let r = c
            .post(format!("{}/v2/models/iris/infer", p.data))
            .header("authorization", &auth)
            .header("inference-header-content-length", header.len())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("not a finite number"));
    }
    assert_healthy(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_declared_or_not() {
    let p = Palisade::demo();
    let c = p.client();
    let auth = format!("Bearer {}", p.token("client"));
    let big = vec![b' '; 8 * 1024 * 1024 + 1];
    let r = c
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", &auth)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Chunked, without a Content-Length: cut off at the limit all the same.
    let tls = rustls_client(&p.ca(), &[&rustls::version::TLS13]);
    let mut s = tls_connect(p.data_port, tls).await.unwrap();
    let head = format!(
        "POST /v2/models/iris/infer HTTP/1.1\r\nhost: localhost\r\nauthorization: {auth}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.chunks(256 * 1024) {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(chunk).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    // Flushed: once, on a busy machine, the unflushed tail sat in the client's TLS buffer
    // and the server answered 408 after waiting 30 s for it.
    send_raw(&mut s, b"0\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_healthy(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_get_431() {
    let p = Palisade::demo();
    let r = p
        .client()
        .get(format!("{}/v2/health/live", p.data))
        .header("x-padding", "a".repeat(32 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => panic!("expected a 431, got {e}"),
    }
    assert_healthy(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let p = Palisade::with_config(|t| {
        t.edit(
            "header_read_timeout = \"5s\"",
            "header_read_timeout = \"500ms\"",
        )
        .edit("request_timeout = \"30s\"", "request_timeout = \"700ms\"")
    });
    let tls = rustls_client(&p.ca(), &[&rustls::version::TLS13]);

    // Headers that never finish: the connection is closed.
    let mut s = tls_connect(p.data_port, tls.clone()).await.unwrap();
    send_raw(
        &mut s,
        b"GET /v2/health/live HTTP/1.1\r\nhost: localhost\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "header-read timeout did not close the connection"
    );

    // A body that never arrives: 408.
    let mut s = tls_connect(p.data_port, tls).await.unwrap();
    let head = format!(
        "POST /v2/models/iris/infer HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {}\r\ncontent-length: 100\r\n\r\n{{\"inputs\"",
        p.token("client")
    );
    send_raw(&mut s, head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("no answer to a stalled body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_healthy(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503() {
    let p = Palisade::with_config(|t| t.edit("max_connections = 1024", "max_connections = 2"));
    let tls = rustls_client(&p.ca(), &[&rustls::version::TLS13]);
    let _a = tls_connect(p.data_port, tls.clone()).await.unwrap();
    let _b = tls_connect(p.data_port, tls.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tls_connect(p.data_port, tls).await.unwrap();
    send_raw(
        &mut c,
        b"GET /v2/health/live HTTP/1.1\r\nhost: localhost\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_healthy(&p).await;
}

/// A V2 body of `rows` zero rows for the slow fixture ([N, 256]).
fn slow_body(rows: usize) -> Value {
    json!({"inputs": [{"name": "x", "shape": [rows, 256], "datatype": "FP32", "data": vec![0.0f32; rows * 256]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_model_runs_on_the_pool_and_never_stalls_the_others() {
    // One pool thread, two waiting, three calls of one model at most: the rest get 503.
    let p = Palisade::with_config(|c| {
        c.edit(
            "[models]\n",
            "[models]\npool = { threads = 1, queue = 2, per_model = 3, offload_above = \"1ms\" }\n",
        )
    });
    let models = p.state().join("models");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/slow");
    let out = p.cli(&[
        "models",
        "add",
        fixture.join("model.onnx").to_str().unwrap(),
        "--repo",
        models.to_str().unwrap(),
        "--model",
        "slow",
        "--version",
        "1",
    ]);
    assert_success(&out);
    let manifest = models.join("slow/model.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("owner = \"ml-team\"\n{text}")).unwrap();
    p.sign_model("slow");
    let r = p
        .admin_call("POST", "/admin/models/slow/load", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    let client = p.client();
    let auth = format!("Bearer {}", p.token("admin"));
    // One iris call and one health probe; how long the pair took.
    let pair = || {
        let (client, auth, data) = (client.clone(), auth.clone(), p.data.clone());
        async move {
            let start = std::time::Instant::now();
            let r = client
                .post(format!("{data}/v2/models/iris/infer"))
                .header("authorization", &auth)
                .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let r = client
                .get(format!("{data}/v2/health/ready"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            start.elapsed()
        }
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut quiet = Vec::new();
    for _ in 0..15 {
        quiet.push(pair().await);
    }
    let quiet = median(quiet);

    let slow_url = format!("{}/v2/models/slow/infer", p.data);
    let body = slow_body(200);
    let slow: Vec<_> = (0..6)
        .map(|_| {
            let (c, url, auth, body) =
                (client.clone(), slow_url.clone(), auth.clone(), body.clone());
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .header("authorization", auth)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let retry = r.headers().get("retry-after").cloned();
                (r.status(), retry, request_id(&r))
            })
        })
        .collect();

    // While the slow calls compute, the health route and another model keep their latency:
    // had the slow model run on the async workers, these would wait behind it (hundreds of
    // milliseconds a call). Compared with the same calls on the quiet server, generously.
    let mut busy_times = Vec::new();
    while slow.iter().any(|h| !h.is_finished()) {
        busy_times.push(pair().await);
    }
    assert!(
        busy_times.len() >= 3,
        "only {} calls answered while the slow model computed",
        busy_times.len()
    );
    eprintln!(
        "answered {} while the slow model computed",
        busy_times.len()
    );
    let loaded = median(busy_times);
    assert!(
        loaded <= quiet * 20 + Duration::from_millis(50),
        "iris + health took {loaded:?} while the slow model computed, {quiet:?} when quiet"
    );

    let mut served = 0;
    let mut busy = Vec::new();
    for h in slow {
        let (status, retry, id) = h.await.unwrap();
        match status {
            StatusCode::OK => served += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry.is_some(), "503 without Retry-After");
                busy.push(id);
            }
            other => panic!("slow call answered {other}"),
        }
    }
    assert!(served >= 1, "no slow call served");
    assert!(!busy.is_empty(), "no slow call was refused past the bounds");
    let event = p.audit_event(&busy[0]);
    assert!(
        event["reason"] == "model_busy" || event["reason"] == "pool_busy",
        "{event}"
    );
}
