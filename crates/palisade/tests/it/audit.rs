//! Every call leaves one entry in the signed Merkle audit log; `palisade audit verify` names
//! tampering, proofs from the CLI and the admin API check out with the public key alone.

use crate::common::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_recorded_and_tampering_is_named() {
    let mut p = Palisade::demo();
    let c = p.client();
    let client = format!("Bearer {}", p.token("client"));
    let mut ids = Vec::new();
    let calls = [
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
    assert_eq!(statuses, [200, 401, 400, 403, 404]);
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
            "index",
        ] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
    }
    let infer = p.audit_event(&ids[0]);
    assert_eq!(infer["model"], "iris@1");
    assert_eq!(infer["action"], "infer");
    assert!(infer["principal"].as_str().unwrap().starts_with("key:"));
    assert_eq!(infer["request_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(infer["response_sha256"].as_str().unwrap().len(), 64);

    p.stop();
    let text = audit_text(p.state());
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

    // A copy of the verifier key, as an auditor would keep it.
    let pubkey = p.state().join("auditor.pub");
    std::fs::copy(p.state().join("audit/log.pub"), &pubkey).unwrap();
    let verify = || {
        p.cli(&[
            "audit",
            "verify",
            p.state().to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ])
    };
    let ok = verify();
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains(&format!("{} entries", text.lines().count())),
        "{out}"
    );

    // Change one byte of entry 2 (its status), keeping the line valid JSON.
    let segment = std::fs::read_dir(p.state().join("audit/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
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
    std::fs::write(&segment, &bytes).unwrap();
    let bad = verify();
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("entry 2 ("), "{out}");
    assert!(out.contains("00000000000000000000.jsonl"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_continues_across_restarts() {
    let mut first = Palisade::demo();
    let r = first.data_call("GET", "/v2/models/iris", "client").await;
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
    assert!(out.status.success() && text.contains("ok:"), "{text}");
    // Two calls, and the three models' loads at each of the two starts.
    assert!(text.contains("8 entries"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_the_admin_api_and_the_cli_check_out_with_the_public_key_alone() {
    let p = Palisade::with_config(|t| {
        t.replacen(
            "checkpoint_interval = \"10s\"",
            "checkpoint_interval = \"50ms\"",
            1,
        )
    });
    for _ in 0..5 {
        let r = p.data_call("GET", "/v2/models/iris", "client").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let denied = p
        .client()
        .get(format!("{}/v2/models/iris", p.data))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    // Wait for a checkpoint covering those calls.
    let checkpoint = loop {
        let r = p
            .admin_call("GET", "/admin/audit/checkpoint", "admin")
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let cp: serde_json::Value = r.json().await.unwrap();
        if cp["size"].as_u64().unwrap() >= 6 {
            break cp;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(checkpoint["checkpoint"]
        .as_str()
        .unwrap()
        .contains("\n\n\u{2014} "));
    let pubkey = p.state().join("auditor.pub");
    std::fs::write(
        &pubkey,
        format!("{}\n", checkpoint["verifier_key"].as_str().unwrap()),
    )
    .unwrap();
    let size = checkpoint["size"].as_u64().unwrap();

    // Inclusion from the admin API, checked offline.
    let r = p
        .admin_call(
            "GET",
            &format!("/admin/audit/proof/inclusion?index=3&size={size}"),
            "admin",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let proof: serde_json::Value = r.json().await.unwrap();
    assert!(proof["entry"]
        .as_str()
        .unwrap()
        .starts_with("{\"index\":3,"));
    let file = p.state().join("inclusion.json");
    std::fs::write(&file, proof.to_string()).unwrap();
    let check = |file: &std::path::Path| {
        p.cli(&[
            "audit",
            "check-proof",
            file.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ])
    };
    let out = check(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // An edited entry no longer proves anything.
    let forged = proof
        .to_string()
        .edit("\\\"status\\\":200", "\\\"status\\\":201");
    assert_ne!(forged, proof.to_string());
    std::fs::write(&file, forged).unwrap();
    assert!(!check(&file).status.success());

    // Consistency from the CLI, between the first checkpoint and the latest.
    let first_size: u64 = std::fs::read_to_string(p.state().join("audit/checkpoints.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["size"]
                .as_u64()
                .unwrap()
        })
        .find(|&s| s > 0 && s < size)
        .unwrap_or(0);
    let out = p.cli(&[
        "audit",
        "prove",
        p.state().to_str().unwrap(),
        "--from",
        &first_size.to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = p.state().join("consistency.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = check(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Bad requests are 400s that say what to fix, and only admins may read the log.
    let r = p
        .admin_call("GET", "/admin/audit/proof/inclusion?index=99999", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = p
        .admin_call("GET", "/admin/audit/proof/inclusion?idx=1", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = p.admin_call("GET", "/admin/audit/entries", "client").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Search: the admin API and the CLI agree on the denied call.
    let r = p
        .admin_call(
            "GET",
            "/admin/audit/entries?decision=deny&status=401",
            "admin",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let found: serde_json::Value = r.json().await.unwrap();
    let entries = found["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{found}");
    assert_eq!(entries[0]["reason"], "missing_credentials");
    let out = p.cli(&[
        "audit",
        "search",
        p.state().to_str().unwrap(),
        "--decision",
        "deny",
        "--status",
        "401",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    // Issue 12, point 9: time bounds are parsed (relative ones too) or refused, never
    // silently matching nothing.
    let search = |since: &str| {
        p.cli(&[
            "audit",
            "search",
            p.state().to_str().unwrap(),
            "--since",
            since,
            "--decision",
            "deny",
            "--status",
            "401",
        ])
    };
    for since in [
        "5m",
        "1h ago",
        "today",
        "2020-01-01",
        "2020-01-01T00:00:00+02:00",
    ] {
        let out = search(since);
        assert!(
            out.status.success(),
            "{since}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            1,
            "--since {since}"
        );
    }
    for bad in ["yesterdayish", "2026-13-45", "5 parsecs"] {
        let out = search(bad);
        assert_eq!(out.status.code(), Some(2), "--since {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
    }
    let r = p
        .admin_call("GET", "/admin/audit/entries?since=2026-13-45", "admin")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = p
        .admin_call(
            "GET",
            "/admin/audit/entries?since=10m&decision=deny&status=401",
            "admin",
        )
        .await;
    let found: serde_json::Value = r.json().await.unwrap();
    assert_eq!(found["entries"].as_array().unwrap().len(), 1, "{found}");
    let out = p.cli(&[
        "audit",
        "tail",
        p.state().to_str().unwrap(),
        "-n",
        "2",
        "--model",
        "iris",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    let export = p.state().join("export.jsonl");
    let out = p.cli(&[
        "audit",
        "export",
        p.state().to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
        "--model",
        "iris@1",
        "--decision",
        "allow",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = std::fs::read_to_string(&export).unwrap();
    assert_eq!(exported.lines().count(), 5, "{exported}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_name_the_limit_decision_and_stage_times_and_capture_is_sealed() {
    let base = Palisade::with_config(|t| t);
    let capture_config = |t: String| {
        t.replacen("dir = \"audit\"", "dir = \"audit-capture\"", 1)
            .replacen(
                "durability = \"per_call\"",
                "durability = \"per_call\"\ncapture_payloads = true\ncapture_key = \"keys/capture.key\"",
                1,
            )
    };
    // Capture without its key file refuses to start, naming the file.
    let config = base.state().join("capture.toml");
    std::fs::write(
        &config,
        capture_config(std::fs::read_to_string(base.state().join("palisade.toml")).unwrap()),
    )
    .unwrap();
    let out = base.cli(&["config", "check", config.to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("audit.capture_payloads"), "{text}");
    let key = base.state().join("keys/capture.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let p = base.replica("capture", capture_config);

    let r = p
        .client()
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .json(&infer_body(&[5.123456, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = request_id(&r);
    let answer = r.text().await.unwrap();
    let text = std::fs::read_to_string(
        p.state()
            .join("audit-capture/segments/00000000000000000000.jsonl"),
    )
    .unwrap();
    let line = text.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        !line.contains("5.123456"),
        "a payload reached the log in clear: {line}"
    );
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["limit"], "admitted");
    let stages: Vec<&str> = entry["stages_us"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "identify",
            "authorize",
            "limit",
            "read_body",
            "inspect",
            "infer",
            "harden",
            "respond"
        ]
    );
    assert_eq!(entry["payload"]["alg"], "AES-256-GCM");

    // The capture key opens it again; the entry's index comes first on its line.
    let out = p.cli(&[
        "audit",
        "payload",
        p.state().join("audit-capture").to_str().unwrap(),
        "--index",
        &entry["index"].to_string(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(opened["request"].as_str().unwrap().contains("5.123456"));
    assert_eq!(opened["response"].as_str().unwrap(), answer);
    // Another key does not.
    std::fs::write(&key, "cd".repeat(32)).unwrap();
    let out = p.cli(&[
        "audit",
        "payload",
        p.state().join("audit-capture").to_str().unwrap(),
        "--index",
        &entry["index"].to_string(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(!out.status.success());

    // A call refused before the limiter has no limit decision; stage times stop where it did.
    let unauth = p
        .client()
        .get(format!("{}/v2/models/iris", p.data))
        .send()
        .await
        .unwrap();
    let e = p.audit_event_in("audit-capture", &request_id(&unauth));
    assert!(e["limit"].is_null());
    assert_eq!(e["stages_us"].as_array().unwrap().len(), 1);
}

/// Health probes are counted in metrics, not audited; requests without any credential are
/// held to a per-source rate, and their refusals past a per-source allowance are summarized
/// in one counted entry instead of one entry each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_unauthenticated_floods_do_not_fill_the_audit_log() {
    let mut p = Palisade::with_config(|t| {
        t.edit(
            "[identity]\n",
            "[identity]\nanonymous_limit = \"40/m\"\naudited_anonymous_refusals = 5\n",
        )
    });
    let c = p.client();
    let entries = |p: &Palisade| p.audit_lines().len();
    let before = entries(&p);
    let probe = |path: &str| c.get(format!("{}/v2/health/{path}", p.data)).send();
    for _ in 0..300 {
        assert_eq!(probe("live").await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(probe("ready").await.unwrap().status(), StatusCode::OK);
    p.assert_metrics(&[
        "palisade_health_probes_total{plane=\"data\",probe=\"live\"} 300",
        "palisade_health_probes_total{plane=\"data\",probe=\"ready\"} 1",
    ])
    .await;

    // 40 credential-less requests are routed (404, 401); the rest get 429 unrouted.
    let mut statuses = Vec::new();
    for i in 0..60 {
        let url = if i % 2 == 0 {
            format!("{}/wp-login.php", p.data)
        } else {
            format!("{}/v2/models/iris", p.data)
        };
        statuses.push(c.get(url).send().await.unwrap().status().as_u16());
    }
    assert!(
        statuses[..40].iter().all(|s| *s == 404 || *s == 401),
        "{statuses:?}"
    );
    assert!(statuses[40..].iter().all(|s| *s == 429), "{statuses:?}");
    // Health probes and callers with a credential are not held back by it.
    assert_eq!(probe("live").await.unwrap().status(), StatusCode::OK);
    let r = p.data_call("GET", "/v2/models/iris", "client").await;
    assert_eq!(r.status(), StatusCode::OK);

    // 5 refusals recorded one by one, the 55 others counted into one summary at shutdown.
    p.stop();
    let lines = p.audit_lines();
    let new = &lines[before..];
    let anonymous: Vec<_> = new
        .iter()
        .filter(|e| e["principal"].is_null() && e["decision"] == "deny")
        .collect();
    assert_eq!(anonymous.len(), 5, "{anonymous:?}");
    let summary: Vec<_> = new
        .iter()
        .filter(|e| e["action"] == "unauthenticated_refusals")
        .collect();
    assert_eq!(summary.len(), 1, "{new:?}");
    assert_eq!(summary[0]["subject"], "127.0.0.1");
    assert_eq!(summary[0]["suppressed"], 55);
    assert_eq!(summary[0]["reason"], "suppressed");
    // Nothing for the 302 probes; one entry for the authenticated call.
    assert_eq!(new.len(), 5 + 1 + 1 + 1, "{new:?}");
    assert!(entries(&p) < before + 10);
}

/// The demo publishes every signed checkpoint outside the audit folder; `audit checkpoints`
/// lists the sizes `prove --from/--size` take; a folder rolled back is caught by the witness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_listed_and_witnessed_outside_the_folder() {
    let mut p = Palisade::demo();
    let r = p.data_call("GET", "/v2/models/iris", "client").await;
    assert_eq!(r.status(), StatusCode::OK);
    p.stop();
    let state = p.state().display().to_string();
    let witness = p.state().join("witness/audit-checkpoints.jsonl");
    assert!(witness.is_file(), "the demo writes a witness file");
    let pubkey = p.state().join("saved-log.pub");
    std::fs::copy(p.state().join("audit/log.pub"), &pubkey).unwrap();

    let out = p.cli(&["audit", "checkpoints", &state]);
    assert_success(&out);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let sizes: Vec<u64> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next()?.parse().ok())
        .collect();
    assert!(!sizes.is_empty(), "{listed}");
    let from = sizes[0].to_string();
    assert_success(&p.cli(&["audit", "prove", &state, "--from", &from]));

    let verify = || {
        p.cli(&[
            "audit",
            "verify",
            &state,
            "--pubkey",
            pubkey.to_str().unwrap(),
            "--witness",
            witness.to_str().unwrap(),
        ])
    };
    let out = verify();
    assert_success(&out);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("warning"));

    // Roll the folder back: the newest checkpoint forgotten, its entries cut.
    let audit = p.state().join("audit");
    let history = std::fs::read_to_string(audit.join("checkpoints.jsonl")).unwrap();
    let kept: Vec<&str> = history.lines().collect();
    assert!(kept.len() >= 2, "{history}");
    let older: serde_json::Value = serde_json::from_str(kept[kept.len() - 2]).unwrap();
    std::fs::write(
        audit.join("checkpoints.jsonl"),
        kept[..kept.len() - 1].join("\n") + "\n",
    )
    .unwrap();
    std::fs::write(audit.join("checkpoint"), older["note"].as_str().unwrap()).unwrap();
    let size = older["size"].as_u64().unwrap() as usize;
    let segment = std::fs::read_dir(audit.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    let cut: String = text.split_inclusive('\n').take(size).collect();
    std::fs::write(&segment, cut).unwrap();
    let out = verify();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("rolled back") || text.contains("truncated"),
        "{text}"
    );
}

/// docs/operations.md, "Rotating the audit signing key": a new folder and key, the old log
/// still verifiable with its own key, the new one with its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_key_is_rotated_by_starting_a_new_log() {
    let mut p = Palisade::demo();
    let r = p.data_call("GET", "/v2/models/iris", "client").await;
    assert_eq!(r.status(), StatusCode::OK);
    p.stop();
    let state = p.state().to_path_buf();
    std::fs::copy(state.join("audit/log.pub"), state.join("audit-old.pub")).unwrap();
    let mut next = p.replica("rotated", |t| {
        t.edit("dir = \"audit\"", "dir = \"audit-next\"")
            .edit(
                "signing_key = \"keys/audit-signing.key\"",
                "signing_key = \"keys/audit-signing-next.key\"",
            )
            .edit(
                "witness_file = \"witness/audit-checkpoints.jsonl\"",
                "witness_file = \"witness/audit-next.jsonl\"",
            )
    });
    let r = next
        .client()
        .get(format!("{}/v2/models/iris", next.data))
        .header("authorization", format!("Bearer {}", next.token("client")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    next.stop();
    assert!(state.join("keys/audit-signing-next.key").is_file());
    let verify = |dir: &str, key: &str, witness: &str| {
        next.cli(&[
            "audit",
            "verify",
            state.join(dir).to_str().unwrap(),
            "--pubkey",
            state.join(key).to_str().unwrap(),
            "--witness",
            state.join(witness).to_str().unwrap(),
        ])
    };
    assert_success(&verify(
        "audit",
        "audit-old.pub",
        "witness/audit-checkpoints.jsonl",
    ));
    assert_success(&verify(
        "audit-next",
        "audit-next/log.pub",
        "witness/audit-next.jsonl",
    ));
    // Each key vouches for its own log only.
    assert!(!verify(
        "audit",
        "audit-next/log.pub",
        "witness/audit-checkpoints.jsonl"
    )
    .status
    .success());
}
