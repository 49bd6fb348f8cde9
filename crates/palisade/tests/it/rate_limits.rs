//! The `limit` stage: rates and query budgets answer 429 with the headers clients need.

use crate::common::*;
use reqwest::StatusCode;

async fn infer(p: &Palisade, role: &str) -> reqwest::Response {
    p.client()
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token(role)))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_refuses_past_its_burst_with_retry_after_and_ratelimit_headers() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "[rate_limits]\n",
            "[rate_limits]\nper_principal_model = \"5/m\"\n",
            1,
        )
    });
    for _ in 0..5 {
        assert_eq!(infer(&p, "client").await.status(), StatusCode::OK);
    }
    let r = infer(&p, "client").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = r.headers();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "retry-after {retry}");
    assert_eq!(h["ratelimit-policy"], "\"per_principal_model\";q=5;w=60");
    assert!(h["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"per_principal_model\";r=0;t="));
    let id = request_id(&r);
    assert!(r.text().await.unwrap().contains("per_principal_model"));
    let entry = p.audit_event(&id);
    assert_eq!(entry["reason"], "rate_limited");
    // The entry names the limiter's decision, and stops timing at the stage that refused.
    assert_eq!(entry["limit"], "rate_limited");
    assert_eq!(
        entry["stages_us"].as_array().unwrap().last().unwrap()[0],
        "limit"
    );
    // Another principal has its own bucket.
    assert_eq!(infer(&p, "admin").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_budget_admits_exactly_its_size_and_only_counts_inference() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "[rate_limits]\n",
            "[rate_limits]\ndaily_budget_per_principal_model = 3\n",
            1,
        )
    });
    let c = p.client();
    let auth = format!("Bearer {}", p.token("client"));
    let mut admitted = 0;
    for _ in 0..6 {
        // Metadata reads between calls do not spend the budget.
        let meta = c
            .get(format!("{}/v2/models/iris", p.data))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(meta.status(), StatusCode::OK);
        let r = infer(&p, "client").await;
        match r.status() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(
                    r.headers()["ratelimit-policy"],
                    "\"daily_budget\";q=3;w=86400"
                );
                assert_eq!(p.audit_event(&request_id(&r))["reason"], "budget_exhausted");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(admitted, 3);
}

#[test]
fn bad_rate_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let path = dir.path().join("palisade.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(
            "[rate_limits]\n",
            "[rate_limits]\nper_principal = \"lots\"\n",
            1,
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rate_limits.per_principal") && text.contains("100/s"),
        "{text}"
    );
}
