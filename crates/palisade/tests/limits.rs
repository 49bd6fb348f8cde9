//! Hostile and broken input: every limit answers with its status, names the problem, is
//! recorded, and leaves the server healthy.

mod common;

use std::time::Duration;

use common::*;
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
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
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
        t.replace(
            "header_read_timeout = \"5s\"",
            "header_read_timeout = \"500ms\"",
        )
        .replace("request_timeout = \"30s\"", "request_timeout = \"700ms\"")
    });
    let tls = rustls_client(&p.ca(), &[&rustls::version::TLS13]);

    // Headers that never finish: the connection is closed.
    let mut s = tls_connect(p.data_port, tls.clone()).await.unwrap();
    s.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
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
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("no answer to a stalled body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_healthy(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503() {
    let p = Palisade::with_config(|t| t.replace("max_connections = 1024", "max_connections = 2"));
    let tls = rustls_client(&p.ca(), &[&rustls::version::TLS13]);
    let _a = tls_connect(p.data_port, tls.clone()).await.unwrap();
    let _b = tls_connect(p.data_port, tls.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tls_connect(p.data_port, tls).await.unwrap();
    c.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
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
