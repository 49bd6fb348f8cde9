//! The log end to end through its public API: write, reopen, prove, and tamper with a
//! 10,000-entry log in every way the issue lists, each named by `verify_dir`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use palisade_audit::note::{SignerKey, VerifierKey};
use palisade_audit::{
    verify_dir, AuditEvent, AuditLog, Durability, LogReader, VerifyError, VerifyOptions,
    WriterOptions, SEGMENTS_DIR,
};

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        time: format!("2026-11-26T10:{:02}:{:02}.000Z", (n / 60) % 60, n % 60),
        request_id: format!("req-{n}"),
        plane: "data".into(),
        client: "127.0.0.1:5000".into(),
        principal: Some(format!("key:k{}", n % 5)),
        auth: Some("api_key".into()),
        action: Some("infer".into()),
        model: Some("iris@1".into()),
        decision: "allow".into(),
        reason: "ok".into(),
        policies: vec!["role.client.1".into()],
        limit: Some("admitted".into()),
        status: 200,
        latency_us: 100 + n,
        stages_us: vec![("identify".into(), 2), ("infer".into(), 31)],
        request_sha256: Some("ab".repeat(32)),
        response_sha256: Some("cd".repeat(32)),
        subject: None,
        pii: Default::default(),
        payload: None,
        loaded: None,
        suppressed: None,
    }
}

fn options() -> WriterOptions {
    WriterOptions {
        durability: Durability::PerCall,
        // ~440-byte entries: about 1,200 per segment, so 10,000 entries make 9 segments.
        segment_max_bytes: 512 * 1024,
        segment_max_age: Duration::from_secs(3600),
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_secs(3600),
        witness: None,
    }
}

struct Log {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: String,
    verifier: String,
}

impl Log {
    fn write(n: u64) -> Log {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("audit");
        let key = SignerKey::generate("test.palisade/audit").unwrap();
        let (private, verifier) = (key.private_text(), key.verifier());
        let (log, report) = AuditLog::open(&dir, key, options()).unwrap();
        assert_eq!(report.size, 0);
        // Concurrent writers, as under load.
        std::thread::scope(|s| {
            for t in 0..8 {
                let log = &log;
                s.spawn(move || {
                    for i in (t..n).step_by(8) {
                        log.record(&event(i)).unwrap().wait().unwrap();
                    }
                });
            }
        });
        log.close();
        Log {
            _tmp: tmp,
            dir,
            key: private,
            verifier,
        }
    }

    fn verify(&self) -> Result<palisade_audit::VerifyReport, VerifyError> {
        verify_dir(
            &self.dir,
            VerifyOptions {
                pubkey: Some(VerifierKey::parse(&self.verifier).unwrap()),
                checkpoints: Vec::new(),
                witnesses: Vec::new(),
            },
        )
    }

    fn segments(&self) -> Vec<PathBuf> {
        let mut s: Vec<PathBuf> = std::fs::read_dir(self.dir.join(SEGMENTS_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        s.sort();
        s
    }
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    std::fs::write(path, lines.concat()).unwrap();
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn ten_thousand_entries_verify_and_every_tampering_is_named() {
    let log = Log::write(10_000);
    let report = log.verify().unwrap();
    assert_eq!(report.entries, 10_000);
    assert_eq!(report.signed_size, 10_000);
    assert!(report.segments >= 5, "{report:?}");
    assert!(report.checkpoints >= 10, "{report:?}");
    let segments = log.segments();
    let pristine: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&log.dir)
        .unwrap()
        .chain(std::fs::read_dir(log.dir.join(SEGMENTS_DIR)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let restore = || {
        for (p, b) in &pristine {
            std::fs::write(p, b).unwrap();
        }
    };
    let seg = &segments[3];
    let start: u64 = name(seg)[..20].parse().unwrap();
    let seg_lines = lines(seg);

    // One byte flipped in an entry, keeping it valid JSON (a digit of latency_us).
    let target = 57usize;
    let mut edited = seg_lines.clone();
    let text = String::from_utf8(edited[target].clone()).unwrap();
    let at = text.find("\"latency_us\":").unwrap() + "\"latency_us\":".len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'9' {
        b'8'
    } else {
        bytes[at] + 1
    };
    edited[target] = bytes;
    write_lines(seg, &edited);
    let e = log.verify().unwrap_err();
    assert_eq!(e.entry(), Some(start + target as u64), "{e}");
    assert!(e.to_string().contains(&name(seg)), "{e}");
    restore();

    // One entry deleted.
    let mut edited = seg_lines.clone();
    edited.remove(target);
    write_lines(seg, &edited);
    let e = log.verify().unwrap_err();
    assert_eq!(e.entry(), Some(start + target as u64), "{e}");
    assert!(e.to_string().contains("deleted"), "{e}");
    restore();

    // Two entries swapped.
    let mut edited = seg_lines.clone();
    edited.swap(target, target + 1);
    write_lines(seg, &edited);
    let e = log.verify().unwrap_err();
    assert_eq!(e.entry(), Some(start + target as u64), "{e}");
    restore();

    // A forged entry inserted, claiming the index of the one it displaces.
    let mut edited = seg_lines.clone();
    let forged = format!(
        "{{\"index\":{},{}\n",
        start + target as u64,
        &serde_json::to_string(&event(999_999)).unwrap()[1..]
    );
    edited.insert(target, forged.into_bytes());
    write_lines(seg, &edited);
    let e = log.verify().unwrap_err();
    assert_eq!(e.entry(), Some(start + target as u64), "{e}");
    restore();

    // A segment cut short in the middle, at a line boundary and mid-line.
    let mut edited = seg_lines.clone();
    edited.truncate(seg_lines.len() / 2);
    write_lines(seg, &edited);
    let e = log.verify().unwrap_err();
    assert!(e.to_string().contains(&name(seg)), "{e}");
    assert!(e.to_string().contains("missing"), "{e}");
    let cut = std::fs::read(seg).unwrap();
    std::fs::write(seg, &cut[..cut.len() - 10]).unwrap();
    let e = log.verify().unwrap_err();
    assert!(e.to_string().contains(&name(seg)), "{e}");
    restore();

    // The last segment cut short: signed checkpoints cover more than is left.
    let last = segments.last().unwrap();
    let mut edited = lines(last);
    edited.truncate(edited.len() - 3);
    write_lines(last, &edited);
    let e = log.verify().unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    restore();

    // A whole segment replaced by a consistent forgery without the signing key: right
    // indexes, rebuilt index and stored hashes, so only the signed checkpoints can tell.
    // The forger edits a copy (same-length edits, so offsets hold), deletes the signatures
    // it cannot reproduce and lets a writer with its own key rebuild the derived files.
    let forged_dir = log.dir.parent().unwrap().join("forged");
    std::fs::create_dir_all(forged_dir.join(SEGMENTS_DIR)).unwrap();
    for (p, b) in &pristine {
        let rel = p.strip_prefix(&log.dir).unwrap();
        std::fs::write(forged_dir.join(rel), b).unwrap();
    }
    let forged_seg = forged_dir.join(SEGMENTS_DIR).join(name(seg));
    let forged_lines: Vec<Vec<u8>> = seg_lines
        .iter()
        .map(|l| {
            String::from_utf8_lossy(l)
                .replace("\"key:k", "\"key:x")
                .into_bytes()
        })
        .collect();
    write_lines(&forged_seg, &forged_lines);
    for f in ["tree.hashes", "checkpoints.jsonl", "checkpoint"] {
        std::fs::remove_file(forged_dir.join(f)).unwrap();
    }
    let other = SignerKey::generate("test.palisade/audit").unwrap();
    let (forger, _) = AuditLog::open(&forged_dir, other, options()).unwrap();
    forger.close();
    assert_eq!(lines(&forged_seg).len(), seg_lines.len());
    std::fs::copy(&forged_seg, seg).unwrap();
    std::fs::copy(forged_seg.with_extension("idx"), seg.with_extension("idx")).unwrap();
    std::fs::copy(forged_dir.join("tree.hashes"), log.dir.join("tree.hashes")).unwrap();
    let e = log.verify().unwrap_err();
    assert!(e.to_string().contains(&name(seg)), "{e}");
    assert!(
        e.to_string().contains("do not match the signed checkpoint"),
        "{e}"
    );
    // The forger's own checkpoints do not help: they are not signed by the log's key.
    std::fs::copy(
        forged_dir.join("checkpoints.jsonl"),
        log.dir.join("checkpoints.jsonl"),
    )
    .unwrap();
    let e = log.verify().unwrap_err();
    assert!(e.to_string().contains("checkpoints.jsonl line 1"), "{e}");
    restore();

    // Untouched again: passes.
    log.verify().unwrap();
    let _ = &log.key;
}

#[test]
fn proofs_from_the_reader_verify_with_the_public_key_alone() {
    let log = Log::write(3000);
    let reader = LogReader::open(&log.dir).unwrap();
    assert_eq!(reader.size(), 3000);
    let key = VerifierKey::parse(&log.verifier).unwrap();
    let sizes: Vec<u64> = reader
        .checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.size)
        .collect();
    assert!(sizes.len() >= 3, "{sizes:?}");
    let older = sizes[sizes.len() / 2];
    for index in [0, 1, 999, 1000, 2047, 2999] {
        let proof = reader.prove_inclusion(index, None).unwrap();
        proof.verify(&key).unwrap();
        assert!(proof.entry.contains(&format!("\"index\":{index},")));
        // At an older checkpoint size too.
        if index < older {
            reader
                .prove_inclusion(index, Some(older))
                .unwrap()
                .verify(&key)
                .unwrap();
        }
        // A proof for another entry does not pass for this one.
        let mut wrong = proof.clone();
        wrong.entry = wrong.entry.replace("\"status\":200", "\"status\":201");
        assert!(wrong.verify(&key).is_err());
    }
    for &from in &sizes {
        reader
            .prove_consistency(from, None)
            .unwrap()
            .verify(&key)
            .unwrap();
        reader
            .prove_consistency(from, Some(older.max(from)))
            .unwrap()
            .verify(&key)
            .unwrap();
    }
    let other = VerifierKey::parse(&SignerKey::generate("x").unwrap().verifier()).unwrap();
    assert!(reader
        .prove_consistency(older, None)
        .unwrap()
        .verify(&other)
        .is_err());
    // Only checkpoint sizes can be proved against.
    assert!(reader.prove_inclusion(5, Some(1234)).is_err());
    assert!(reader.prove_inclusion(3000, None).is_err());
}

#[test]
fn a_torn_tail_is_cut_at_reopen_and_the_log_continues() {
    let log = Log::write(50);
    let seg = log.segments().pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(b"{\"index\":50,\"time\":\"2026-");
    std::fs::write(&seg, &bytes).unwrap();
    // Verify says what it is, without failing: a live writer may be mid-record.
    let report = log.verify().unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("incomplete record")),
        "{report:?}"
    );
    let key = SignerKey::parse(&log.key).unwrap();
    let (reopened, report) = AuditLog::open(&log.dir, key, options()).unwrap();
    assert_eq!(report.size, 50);
    assert!(report.truncated_bytes > 0);
    reopened.record(&event(50)).unwrap().wait().unwrap();
    reopened.close();
    let report = log.verify().unwrap();
    assert_eq!((report.entries, report.signed_size), (51, 51));
    assert!(report.warnings.iter().all(|w| !w.contains("incomplete")));
}

#[test]
fn lost_derived_files_are_rebuilt_and_unsigned_entries_signed_at_reopen() {
    let log = Log::write(2500);
    // As if the process died after writing entries but before signing them.
    std::fs::remove_file(log.dir.join("tree.hashes")).unwrap();
    let seg = log.segments().pop().unwrap();
    std::fs::remove_file(seg.with_extension("idx")).unwrap();
    let key = SignerKey::parse(&log.key).unwrap();
    let (reopened, report) = AuditLog::open(&log.dir, key, options()).unwrap();
    assert_eq!(report.size, 2500);
    drop(reopened);
    let report = log.verify().unwrap();
    assert_eq!(report.entries, 2500);
    assert!(report.warnings.is_empty(), "{report:?}");
    LogReader::open(&log.dir)
        .unwrap()
        .prove_inclusion(2499, None)
        .unwrap();
}

#[test]
fn a_log_edited_behind_the_writers_back_refuses_to_open() {
    let log = Log::write(100);
    let seg = log.segments().pop().unwrap();
    let mut l = lines(&seg);
    l.remove(10);
    write_lines(&seg, &l);
    let key = SignerKey::parse(&log.key).unwrap();
    let err = AuditLog::open(&log.dir, key, options())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("palisade audit verify"), "{err}");
    // And a key that did not sign the checkpoints cannot continue the log.
    let tmp = Log::write(5);
    let other = SignerKey::generate("test.palisade/audit").unwrap();
    let err = AuditLog::open(&tmp.dir, other, options())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("checkpoints.jsonl, last line") && err.contains("new audit folder"),
        "{err}"
    );
}

#[test]
fn interval_durability_answers_at_once_and_syncs_on_close() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SignerKey::generate("i").unwrap();
    let verifier = key.verifier();
    let mut o = options();
    o.durability = Durability::Interval(Duration::from_millis(20));
    let (log, _) = AuditLog::open(tmp.path(), key, o).unwrap();
    for i in 0..500 {
        log.record(&event(i)).unwrap().wait().unwrap();
    }
    log.close();
    assert!(log.record(&event(0)).is_err());
    let report = verify_dir(
        tmp.path(),
        VerifyOptions {
            pubkey: Some(VerifierKey::parse(&verifier).unwrap()),
            checkpoints: Vec::new(),
            witnesses: Vec::new(),
        },
    )
    .unwrap();
    assert_eq!(report.entries, 500);
}

/// Issue 12, point 11: the folder cut back to an older signed checkpoint (segments cut,
/// `checkpoint` and `checkpoints.jsonl` rewound). `tree.hashes` still holds the cut leaves,
/// and the witness file outside the folder still holds the newer checkpoints.
#[test]
fn a_rollback_to_an_older_checkpoint_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let witness = tmp.path().join("elsewhere/witness.jsonl");
    let key = SignerKey::generate("test.palisade/audit").unwrap();
    let (private, verifier) = (key.private_text(), key.verifier());
    let with_witness = || WriterOptions {
        witness: Some(witness.clone()),
        ..options()
    };
    let write = |key: SignerKey, range: std::ops::Range<u64>| {
        let (log, _) = AuditLog::open(&dir, key, with_witness()).unwrap();
        for i in range {
            log.record(&event(i)).unwrap().wait().unwrap();
        }
        log.close();
    };
    write(key, 0..1000);
    let old_checkpoint = std::fs::read(dir.join("checkpoint")).unwrap();
    let old_history = std::fs::read(dir.join("checkpoints.jsonl")).unwrap();
    let old_hashes_len = std::fs::metadata(dir.join("tree.hashes")).unwrap().len();
    write(SignerKey::parse(&private).unwrap(), 1000..2500);
    let verify = |witnesses: Vec<PathBuf>| {
        verify_dir(
            &dir,
            VerifyOptions {
                pubkey: Some(VerifierKey::parse(&verifier).unwrap()),
                checkpoints: Vec::new(),
                witnesses,
            },
        )
    };
    assert_eq!(verify(vec![witness.clone()]).unwrap().entries, 2500);

    // Roll back to 1000 entries: cut the segments, rewind both checkpoint files.
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir.join(SEGMENTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    segments.sort();
    for seg in segments {
        let start: u64 = name(&seg)[..20].parse().unwrap();
        if start >= 1000 {
            std::fs::remove_file(seg.with_extension("idx")).unwrap();
            std::fs::remove_file(&seg).unwrap();
        } else {
            let kept = lines(&seg);
            let keep = (1000 - start).min(kept.len() as u64) as usize;
            write_lines(&seg, &kept[..keep]);
        }
    }
    std::fs::write(dir.join("checkpoint"), &old_checkpoint).unwrap();
    std::fs::write(dir.join("checkpoints.jsonl"), &old_history).unwrap();

    // tree.hashes still remembers entries 1000..2499.
    let err = verify(Vec::new()).unwrap_err().to_string();
    assert!(
        err.contains("tree.hashes") && err.contains("2500 entries") && err.contains("rolled back"),
        "{err}"
    );
    // A careful attacker cuts tree.hashes too: the folder alone now looks fine ...
    let hashes = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("tree.hashes"))
        .unwrap();
    hashes.set_len(old_hashes_len).unwrap();
    assert_eq!(verify(Vec::new()).unwrap().entries, 1000);
    // ... but not next to the witness.
    let err = verify(vec![witness.clone()]).unwrap_err().to_string();
    assert!(
        err.contains("witness.jsonl") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn checkpoints_signed_off_the_writer_are_published_in_order_and_the_last_at_close() {
    // 8 writers, a checkpoint asked every 100 entries: the checkpoint thread falls behind
    // and skips some; those it publishes grow strictly, rotations wait for theirs, and
    // closing publishes the whole log.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let key = SignerKey::generate("test.palisade/audit").unwrap();
    let verifier = key.verifier();
    let options = WriterOptions {
        checkpoint_every: 100,
        ..options()
    };
    let (log, _) = AuditLog::open(&dir, key, options).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let log = &log;
            s.spawn(move || {
                for i in (t..3000).step_by(8) {
                    log.record(&event(i)).unwrap().wait().unwrap();
                }
            });
        }
    });
    log.close();
    let history = std::fs::read_to_string(dir.join("checkpoints.jsonl")).unwrap();
    let sizes: Vec<u64> = history
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["size"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert_eq!(sizes.last(), Some(&3000));
    let report = verify_dir(
        &dir,
        VerifyOptions {
            pubkey: Some(VerifierKey::parse(&verifier).unwrap()),
            checkpoints: Vec::new(),
            witnesses: Vec::new(),
        },
    );
    assert!(report.is_ok(), "{report:?}");
}
