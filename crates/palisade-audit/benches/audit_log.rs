//! Audit log throughput: appends/s under concurrent writers, and verified entries/s.
//!
//! `cargo bench -p palisade-audit --bench audit_log` prints a table. Under `cargo test`
//! (no `--bench` argument) it runs a small smoke version so the code stays exercised.
//!
//! Writers are tokio tasks on two worker threads (as in the server), each appending one
//! event and awaiting its receipt before the next, as a call waits before it is answered;
//! with `per_call` durability a receipt means "on disk", so the figure includes the fsyncs.

use std::time::{Duration, Instant};

use palisade_audit::note::{SignerKey, VerifierKey};
use palisade_audit::{verify_dir, AuditEvent, AuditLog, Durability, VerifyOptions, WriterOptions};

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        time: "2026-11-26T10:00:00.000Z".into(),
        request_id: format!("4f1c2a9b0e77-{n:08}"),
        plane: "data".into(),
        client: "10.1.2.3:51234".into(),
        principal: Some("key:0a1b2c3d4e5f6071".into()),
        auth: Some("api_key".into()),
        action: Some("infer".into()),
        model: Some("iris@1".into()),
        decision: "allow".into(),
        reason: "ok".into(),
        policies: vec!["role.client.1".into()],
        limit: Some("admitted".into()),
        status: 200,
        latency_us: 412,
        stages_us: vec![
            ("identify".into(), 3),
            ("authorize".into(), 2),
            ("limit".into(), 1),
            ("inspect".into(), 9),
            ("infer".into(), 35),
        ],
        request_sha256: Some("ab".repeat(32)),
        response_sha256: Some("cd".repeat(32)),
        subject: None,
        pii: Default::default(),
        payload: None,
        loaded: None,
        suppressed: None,
    }
}

struct Run {
    appends_per_s: f64,
    verified_per_s: f64,
    entries: u64,
    bytes: u64,
}

fn run(durability: Durability, writers: u64, per_writer: u64) -> Run {
    let dir = tempfile::tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or_else(|| ".".into()))
        .expect("scratch folder");
    let key = SignerKey::generate("bench.palisade/audit").expect("key");
    let verifier = key.verifier();
    let options = WriterOptions {
        durability,
        ..WriterOptions::default()
    };
    let (log, _) = AuditLog::open(dir.path(), key, options).expect("open");
    let log = std::sync::Arc::new(log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let start = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..per_writer {
                        log.record(&event(w * per_writer + i))
                            .expect("record")
                            .durable()
                            .await
                            .expect("durable");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("writer task");
        }
    });
    let elapsed = start.elapsed();
    log.close();
    let entries = writers * per_writer;
    let bytes = std::fs::read_dir(dir.path().join("segments"))
        .expect("segments")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    let start = Instant::now();
    let report = verify_dir(
        dir.path(),
        VerifyOptions {
            pubkey: Some(VerifierKey::parse(&verifier).expect("verifier")),
            checkpoints: Vec::new(),
            witnesses: Vec::new(),
        },
    )
    .expect("verifies");
    let verify = start.elapsed();
    assert_eq!(report.entries, entries);
    Run {
        appends_per_s: entries as f64 / elapsed.as_secs_f64(),
        verified_per_s: entries as f64 / verify.as_secs_f64(),
        entries,
        bytes,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (writers, per_writer) = if full { (64, 8_000) } else { (8, 50) };
    let writers: u64 = std::env::var("WRITERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(writers);
    println!("| durability | writers | entries | appends/s | verified entries/s | bytes/entry |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, durability) in [
        ("per_call", Durability::PerCall),
        (
            "interval 100ms",
            Durability::Interval(Duration::from_millis(100)),
        ),
    ] {
        let r = run(durability, writers, per_writer);
        println!(
            "| {name} | {writers} | {} | {:.0} | {:.0} | {} |",
            r.entries,
            r.appends_per_s,
            r.verified_per_s,
            r.bytes / r.entries.max(1)
        );
    }
}
