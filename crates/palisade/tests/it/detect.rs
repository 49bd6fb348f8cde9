//! Synthetic attacks against the real server: a brute-force burst and an enumeration sweep
//! raise alerts within seconds, delivered to a webhook receiver started here (HTTPS, its
//! own CA) with a valid HMAC-SHA256 signature, after a retry; with `auto_block` the caller
//! is then refused and the block is in the audit log. (Benign load over ten simulated
//! minutes is in `palisade-gate/src/detect/tests.rs`, where time can be simulated.)

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const SECRET: &str = "0123456789abcdef0123456789abcdef-webhook-test-secret";

/// The webhook receiver: an HTTPS sink with the secret the server signs with.
struct Receiver {
    sink: HttpsSink,
    secret: std::path::PathBuf,
}

impl Receiver {
    /// Answers 503 to its first `fail_first` requests, then 200.
    async fn start(fail_first: usize) -> Receiver {
        let sink = HttpsSink::start(fail_first).await;
        let secret = sink.dir().join("webhook.secret");
        std::fs::write(&secret, SECRET).unwrap();
        Receiver { sink, secret }
    }

    /// Wait (up to `within`) for an alert of `kind`; returns its signature, body and JSON.
    async fn wait_for(&self, kind: &str, within: Duration) -> (String, Vec<u8>, Value) {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .sink
                .received()
                .into_iter()
                .find_map(|(headers, body)| {
                    let v: Value = serde_json::from_slice(&body).ok()?;
                    let signature = headers
                        .get("palisade-signature")?
                        .to_str()
                        .ok()?
                        .to_string();
                    (v["kind"] == kind).then_some((signature, body, v))
                });
            if let Some(f) = found {
                return f;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} alert within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// HMAC-SHA256 written out from RFC 2104, independent of the server's implementation.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    Sha256::digest(&outer).into()
}

fn check_signature(signature: &str, body: &[u8]) {
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap_or_else(|| panic!("malformed signature header: {signature}"));
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    assert_eq!(v1, hex::encode(hmac_sha256(SECRET.as_bytes(), &message)));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(t.parse::<u64>().unwrap()) < 60,
        "stale timestamp"
    );
}

/// A server whose `[detect]` (the demo's, with lower thresholds and `auto_block` as given)
/// reports to `receiver`.
fn server_with_secret(receiver: &Receiver, auto_block: bool) -> Palisade {
    let webhook = format!(
        "\n[[detect.webhooks]]\nurl = \"{}\"\nsecret_file = \"{}\"\nca = \"{}\"\n",
        receiver.sink.url,
        receiver.secret.display(),
        receiver.sink.ca.display()
    );
    Palisade::with_config(|t| {
        let t = format!("{t}{webhook}")
            .replacen(
                "auth_failure_threshold = 20 ",
                "auth_failure_threshold = 10 ",
                1,
            )
            .replacen("enumeration_models = 10 ", "enumeration_models = 5 ", 1)
            // The gate's own brute-force back-off would block the test's address for the
            // later calls: lift it, the detector is what is under test.
            .replacen("failed_auth_limit = 10 ", "failed_auth_limit = 1000 ", 1);
        assert!(
            t.contains("enumeration_models = 5 "),
            "the demo config changed"
        );
        if auto_block {
            t.replacen("auto_block = false", "auto_block = true", 1)
                .replacen("block_for = \"15m\"", "block_for = \"60s\"", 1)
        } else {
            t
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brute_force_burst_and_an_enumeration_sweep_reach_the_webhook_signed() {
    let receiver = Receiver::start(1).await;
    let p = server_with_secret(&receiver, false);
    let c = p.client();
    let url = format!("{}/v2/models/iris", p.data);

    // Brute force: 15 wrong keys from one address.
    let started = Instant::now();
    for i in 0..15 {
        let token = format!("pal_{:016x}_{}", i, "0".repeat(64));
        let r = c
            .get(&url)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert!(matches!(
            r.status(),
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ));
    }
    let (signature, body, alert) = receiver.wait_for("auth_failure_burst", PATIENCE).await;
    eprintln!("brute force alert after {:?}", started.elapsed());
    check_signature(&signature, &body);
    assert_eq!(alert["subject"], "source:127.0.0.1");
    assert_eq!(alert["type"], "palisade.alert");
    // No token reached the alert.
    assert!(!String::from_utf8_lossy(&body).contains("pal_"));

    // Enumeration: one client key probing model names.
    let token = p.token("client");
    for name in [
        "iris",
        "diabetes",
        "breast-cancer",
        "fraud",
        "credit",
        "churn",
        "llm",
    ] {
        let r = c
            .get(format!("{}/v2/models/{name}", p.data))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status(), StatusCode::OK | StatusCode::NOT_FOUND));
    }
    let (signature, body, alert) = receiver.wait_for("enumeration", PATIENCE).await;
    check_signature(&signature, &body);
    assert!(alert["subject"].as_str().unwrap().starts_with("key:"));
    assert!(alert["blocked_for_s"].is_null());

    p.assert_metrics(&[
        "palisade_alerts_total{kind=\"auth_failure_burst\"} 1",
        "palisade_alerts_total{kind=\"enumeration\"} 1",
        "palisade_webhook_deliveries_total{outcome=\"retried\"} 1",
        "palisade_webhook_deliveries_total{outcome=\"delivered\"} 2",
    ])
    .await;
    // And the server log has them.
    assert!(p.stderr_text().contains("ALERT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_block_refuses_the_caller_and_audits_the_block() {
    let receiver = Receiver::start(0).await;
    let p = server_with_secret(&receiver, true);
    let c = p.client();
    let token = p.token("client");
    for i in 0..6 {
        let _ = c
            .get(format!("{}/v2/models/probe-{i}", p.data))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
    }
    let (_, _, alert) = receiver.wait_for("enumeration", PATIENCE).await;
    assert_eq!(alert["blocked_for_s"], 60);
    let blocked = alert["subject"].as_str().unwrap().to_string();
    let r = c
        .get(format!("{}/v2/models/iris", p.data))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("retry-after").is_some());
    let e = p.audit_event(&request_id(&r));
    assert_eq!(e["reason"], "blocked");
    let block = p.wait_for_event(|e| e["action"] == "auto_block");
    assert_eq!(block["principal"], "system:detector");
    assert_eq!(block["subject"], blocked.as_str());
    assert_eq!(block["reason"], "enumeration");
    // Another caller is not affected.
    let r = p.data_call("GET", "/v2/models/iris", "admin").await;
    assert_eq!(r.status(), StatusCode::OK);
}
