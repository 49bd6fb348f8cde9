//! Two `palisade serve` processes sharing one real Redis: budgets are exact across replicas,
//! rates hold, and a Redis outage gives the configured `on_backend_error` behaviour.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::StatusCode;

const LIMITS_LINE: &str = "max_connections = 1024         # 503 above this\n";

fn shared(redis: &Redis, rate_limits: &str, extra_limits: &str) -> impl FnOnce(String) -> String {
    let url = redis.url();
    let rate_limits = rate_limits.to_string();
    let extra = extra_limits.to_string();
    move |t: String| {
        t.replacen(
            LIMITS_LINE,
            &format!("{LIMITS_LINE}backend = \"redis\"\nredis_url = \"{url}\"\n{extra}\n"),
            1,
        )
        .replacen(
            "[rate_limits]\n",
            &format!("[rate_limits]\n{rate_limits}\n"),
            1,
        )
    }
}

/// A second server on the same state (same keys, so the same principal), own audit log.
fn second(p: &Palisade) -> Palisade {
    p.replica("replica", |t| {
        t.replacen("dir = \"audit\"", "dir = \"audit-replica\"", 1)
    })
}

async fn infer(c: &reqwest::Client, base: &str, token: &str) -> StatusCode {
    c.post(format!("{base}/v2/models/iris/infer"))
        .header("authorization", format!("Bearer {token}"))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_spread_over_two_replicas_admits_exactly_n() {
    let redis = Redis::start();
    let a = Palisade::with_config(shared(&redis, "daily_budget_per_principal_model = 30", ""));
    let b = second(&a);
    let token = a.token("client");
    let (ok, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let base = if worker % 2 == 0 {
            a.data.clone()
        } else {
            b.data.clone()
        };
        let (c, token, ok, refused) = (a.client(), token.clone(), ok.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                match infer(&c, &base, &token).await {
                    StatusCode::OK => ok.fetch_add(1, Ordering::SeqCst),
                    StatusCode::TOO_MANY_REQUESTS => refused.fetch_add(1, Ordering::SeqCst),
                    other => panic!("unexpected {other}"),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        ok.load(Ordering::SeqCst),
        30,
        "exactly the budget, across both replicas"
    );
    assert_eq!(refused.load(Ordering::SeqCst), 60);
    // Both replicas refuse now, and say why.
    for base in [&a.data, &b.data] {
        let r = a
            .client()
            .post(format!("{base}/v2/models/iris/infer"))
            .header("authorization", format!("Bearer {token}"))
            .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers()["ratelimit-policy"]
            .to_str()
            .unwrap()
            .contains("daily_budget"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_rate_holds_within_ten_percent_over_ten_seconds() {
    let redis = Redis::start();
    let rate = 20.0;
    let a = Palisade::with_config(shared(&redis, "per_principal = \"20/s\"", ""));
    let b = second(&a);
    let token = a.token("client");
    let admitted = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let started = Instant::now();
    let run = Duration::from_secs(10);
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let base = if worker % 2 == 0 {
            a.data.clone()
        } else {
            b.data.clone()
        };
        let (c, token, count) = (a.client(), token.clone(), admitted[worker % 2].clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < run {
                if infer(&c, &base, &token).await == StatusCode::OK {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (on_a, on_b) = (
        admitted[0].load(Ordering::SeqCst),
        admitted[1].load(Ordering::SeqCst),
    );
    // GCRA admits the burst (20) at once, then `rate` per second.
    let expected = rate + rate * elapsed;
    let total = (on_a + on_b) as f64;
    println!("admitted {total} (a {on_a}, b {on_b}) in {elapsed:.2} s; expected {expected:.0}");
    assert!(
        (total - expected).abs() <= 0.1 * rate * elapsed,
        "admitted {total}, expected {expected:.0} ± 10%"
    );
    assert!(on_a > 0 && on_b > 0, "both replicas served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_redis_gives_the_configured_behaviour() {
    let mut redis = Redis::start();
    let limits = "per_principal = \"1000/s\"\ndaily_budget_per_principal_model = 1000";
    // Defaults: rates fall back to local counters, budgets deny.
    let a = Palisade::with_config(shared(&redis, limits, ""));
    // A replica that lets budgets fall back to local counters too.
    let b = a.replica("local-fallback", |t| {
        t.replacen("dir = \"audit\"", "dir = \"audit-replica\"", 1)
            .replacen("redis_url", "on_backend_error = \"local\"\nredis_url", 1)
    });
    let c = a.client();
    let token = a.token("client");
    assert_eq!(infer(&c, &a.data, &token).await, StatusCode::OK);
    assert_eq!(infer(&c, &b.data, &token).await, StatusCode::OK);

    redis.stop();
    // Budgeted inference: refused with 503 (deny), recorded with its reason.
    let r = c
        .post(format!("{}/v2/models/iris/infer", a.data))
        .header("authorization", format!("Bearer {token}"))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        a.audit_event(&request_id(&r))["reason"],
        "limit_backend_unavailable"
    );
    // Metadata spends no budget: its rate falls back to local counters and it is served.
    let r = a.data_call("GET", "/v2/models/iris", "client").await;
    assert_eq!(r.status(), StatusCode::OK);
    // The replica configured "local" keeps serving inference.
    assert_eq!(infer(&c, &b.data, &token).await, StatusCode::OK);
    // Metered and logged.
    let metrics = a
        .admin_call("GET", "/metrics", "admin")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("palisade_limit_backend_errors_total{limit=\"budgets\",fallback=\"deny\"}"),
        "{metrics}"
    );
    assert!(a.stderr_text().contains("limit backend unavailable"));

    // Redis back: the shared counters answer again.
    redis.restart();
    let deadline = Instant::now() + PATIENCE;
    while infer(&c, &a.data, &token).await != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "no recovery after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
