//! Brute-force defence: repeated failed authentications block the source for a while, and
//! every failure takes the same minimum time.

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_block_the_source_then_the_block_lifts() {
    let p = Palisade::with_config(|t| {
        t.replacen("failed_auth_limit = 10 ", "failed_auth_limit = 3 ", 1)
            .replacen("block_base = \"1s\" ", "block_base = \"2s\" ", 1)
    });
    let c = p.client();
    let url = format!("{}/v2/models/iris", p.data);
    let wrong = format!("Bearer pal_{}_{}", "0".repeat(16), "0".repeat(64));
    for _ in 0..3 {
        let r = c
            .get(&url)
            .header("authorization", &wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right key is turned away from this address, until the block ends.
    let good = format!("Bearer {}", p.token("client"));
    let r = c
        .get(&url)
        .header("authorization", &good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(r.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with("\"failed_authentication\""));
    assert_eq!(p.audit_event(&request_id(&r))["reason"], "auth_blocked");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = c
        .get(&url)
        .header("authorization", &good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_failure_takes_at_least_the_failure_delay() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "keys_file = \"keys/keys.json\"",
            "keys_file = \"keys/keys.json\"\nfailed_auth_delay = \"200ms\"",
            1,
        )
    });
    let c = p.client();
    let url = format!("{}/v2/models/iris", p.data);
    let good = p.token("client");
    let mut wrong_secret = good.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == '0' { '1' } else { '0' });
    let unknown = format!("pal_{}_{}", "0".repeat(16), "0".repeat(64));
    for token in [
        Some(wrong_secret.as_str()),
        Some(unknown.as_str()),
        Some("garbage"),
        None,
    ] {
        let mut req = c.get(&url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let started = Instant::now();
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{token:?} failed faster than the floor"
        );
    }
    let r = c
        .get(&url)
        .header("authorization", format!("Bearer {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Each failure is counted by the kind of credential presented and the reason.
    p.assert_metrics(&[
        "palisade_auth_failures_total{method=\"api_key\",reason=\"wrong_secret\"} 1",
        "palisade_auth_failures_total{method=\"api_key\",reason=\"unknown_key\"} 1",
        "palisade_auth_failures_total{method=\"jwt\",reason=\"malformed_credentials\"} 1",
        "palisade_auth_failures_total{method=\"none\",reason=\"missing_credentials\"} 1",
    ])
    .await;
}

/// Issue 12, point 5: knowing a key id (it is not secret) was enough to lock its holder
/// out; the attempt is now recorded against the key, and the right secret still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secrets_for_a_key_id_never_lock_out_its_holder() {
    let p = Palisade::with_config(|t| {
        t.replacen("failed_auth_limit = 10 ", "failed_auth_limit = 3 ", 1)
    });
    let good = p.token("client");
    let key_id = good.split('_').nth(1).unwrap().to_string();
    let wrong = format!("Bearer pal_{key_id}_{}", "0".repeat(64));
    let url = format!("{}/v2/models/iris", p.data);
    let client_from = |last_octet: u8| {
        client_builder(&p.ca(), false)
            .local_address(std::net::IpAddr::from([127, 0, 0, last_octet]))
            .build()
            .unwrap()
    };
    // Ten attempts from ten loopback addresses: no source reaches its own limit.
    let mut last = None;
    for i in 2..12u8 {
        let c = client_from(i);
        let r = c
            .get(&url)
            .header("authorization", &wrong)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(
                r.status(),
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{}",
            r.status()
        );
        last = Some(r);
    }
    let last = last.unwrap();
    assert_eq!(
        last.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the key's attackers slow down"
    );
    let event = p.audit_event(&request_id(&last));
    assert_eq!(event["subject"], format!("key:{key_id}"), "{event}");
    // The holder, from yet another address, is served.
    let r = client_from(20)
        .get(&url)
        .header("authorization", format!("Bearer {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
