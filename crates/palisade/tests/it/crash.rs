//! Crash safety: `kill -9` at random moments under concurrent load, 20 times. After every
//! restart each call that got an answer is in the audit log, and the log verifies.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

const ROUNDS: usize = 20;
const CLIENTS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_never_loses_an_answered_call() {
    let mut first = Palisade::with_config(|t| t);
    // The state outlives every server of the test.
    let _state_dir = first.dir.take();
    let state = first.state().to_path_buf();
    let token = first.token("client");
    let pubkey = state.join("auditor.pub");
    std::fs::copy(state.join("audit/log.pub"), &pubkey).unwrap();
    let mut server = first;
    let answered: Arc<Mutex<HashSet<String>>> = Arc::default();
    for round in 0..ROUNDS {
        let client = server.client();
        let base = server.data.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut load = Vec::new();
        for _ in 0..CLIENTS {
            let (client, base, token, answered, stop) = (
                client.clone(),
                base.clone(),
                token.clone(),
                answered.clone(),
                stop.clone(),
            );
            load.push(tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = client
                        .post(format!("{base}/v2/models/iris/infer"))
                        .header("authorization", format!("Bearer {token}"))
                        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
                        .send()
                        .await;
                    match sent {
                        // An answer, whatever its status, promises an audit entry.
                        Ok(r) => {
                            if let Some(id) = r.headers().get("x-request-id") {
                                answered.lock().unwrap().insert(id.to_str().unwrap().into());
                            }
                        }
                        Err(_) => break,
                    }
                }
            }));
        }
        // Kill mid-load: once calls are being answered (however long a busy machine takes
        // to get there), then at a different moment each round.
        let before = answered.lock().unwrap().len();
        let loaded = tokio::time::timeout(PATIENCE, async {
            while answered.lock().unwrap().len() < before + CLIENTS {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            loaded.is_ok(),
            "round {round}: no call was answered within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20 + (round as u64 * 37) % 250)).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for l in load {
            let _ = l.await;
        }
        let after = answered.lock().unwrap().len();
        assert!(
            after > before,
            "round {round}: no call was answered before the kill"
        );

        // Restart on the same state: it recovers the log, then everything answered is there.
        server = server.replica(&format!("round{round}"), |t| t);
        let recorded: HashSet<String> = server
            .audit_lines()
            .into_iter()
            .filter_map(|e| e["request_id"].as_str().map(str::to_string))
            .collect();
        let missing: Vec<_> = answered
            .lock()
            .unwrap()
            .iter()
            .filter(|id| !recorded.contains(*id))
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} answered calls are not in the audit log, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        let verify = server.cli(&[
            "audit",
            "verify",
            state.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ]);
        let out = String::from_utf8_lossy(&verify.stdout);
        assert!(verify.status.success(), "round {round}: {out}");
    }
    let total = answered.lock().unwrap().len();
    assert!(total > ROUNDS * 10, "only {total} calls answered in all");
}
