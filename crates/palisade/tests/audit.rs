//! Every call leaves one hash-chained audit line; `palisade audit verify` notices tampering.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_recorded_and_tampering_is_named() {
    let mut p = Palisade::demo();
    let c = p.client();
    let client = format!("Bearer {}", p.token("client"));
    let mut ids = Vec::new();
    let calls = [
        c.get(format!("{}/v2/health/live", p.data))
            .send()
            .await
            .unwrap(),
        c.post(format!("{}/v2/models/iris/infer", p.data))
            .header("authorization", &client)
            .json(&infer_body(&[5.123456, 3.5, 1.4, 0.2]))
            .send()
            .await
            .unwrap(),
        c.post(format!("{}/v2/models/iris/infer", p.data))
            .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
            .send()
            .await
            .unwrap(),
        c.post(format!("{}/v2/models/iris/infer", p.data))
            .header("authorization", &client)
            .body("{")
            .send()
            .await
            .unwrap(),
        p.admin_call("GET", "/metrics", "client").await,
        p.data_call("GET", "/v2/models/secret", "client").await,
    ];
    let statuses: Vec<u16> = calls.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 401, 400, 403, 404]);
    for r in &calls {
        ids.push(request_id(r));
    }
    let secret = p.token("client");
    for (id, status) in ids.iter().zip(&statuses) {
        let e = p.audit_event(id);
        assert_eq!(e["status"], *status);
        for field in [
            "time",
            "request_id",
            "client",
            "decision",
            "reason",
            "latency_us",
            "prev",
            "hash",
        ] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
    }
    let infer = p.audit_event(&ids[1]);
    assert_eq!(infer["model"], "iris@1");
    assert_eq!(infer["action"], "infer");
    assert!(infer["principal"].as_str().unwrap().starts_with("key:"));
    assert_eq!(infer["request_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(infer["response_sha256"].as_str().unwrap().len(), 64);

    p.stop();
    let log = p.state().join("audit/audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let secret_part = secret.rsplit('_').next().unwrap().trim();
    assert!(!text.contains(secret_part), "a token reached the audit log");
    assert!(
        !text.contains("5.123456"),
        "a payload reached the audit log"
    );
    assert!(
        !p.stderr_text().contains("5.123456"),
        "a payload reached the server log"
    );
    assert!(
        !p.stderr_text().contains(secret_part),
        "a token reached the server log"
    );

    let verify = |path: &std::path::Path| p.cli(&["audit", "verify", path.to_str().unwrap()]);
    let ok = verify(p.state());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains(&format!("{} events", text.lines().count()))
    );

    // Change one byte of line 3.
    let mut bytes = text.into_bytes();
    let line3 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    let at = line3
        + bytes[line3..]
            .windows(8)
            .position(|w| w == b"\"status\"")
            .unwrap()
        + 10;
    bytes[at] = if bytes[at] == b'4' { b'5' } else { b'4' };
    std::fs::write(&log, &bytes).unwrap();
    let bad = verify(&log);
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("line 3"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_continues_across_restarts() {
    let mut first = Palisade::demo();
    let r = first
        .client()
        .get(format!("{}/v2/health/live", first.data))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    first.stop();
    let token = first.token("client");
    // Serve the same state again (the demo reuses it: same keys) and call once more.
    let dir = first.state().to_path_buf();
    let mut child = std::process::Command::new(BIN)
        .args(["demo", "--port", "0", "--admin-port", "0", "--state-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        first.token("client"),
        token,
        "a second demo run must reuse the keys"
    );
    let url = format!("{}/v2/models/iris", ready["data_plane"].as_str().unwrap());
    let r = first
        .client()
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let out = std::process::Command::new(BIN)
        .args(["audit", "verify"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("2 events"), "{text}");
}
