//! Audit folders handed to `palisade audit verify`: the input is split into a segment, a
//! checkpoint history and a latest checkpoint, written to a scratch folder and verified
//! against a fixed key. Nothing may panic, hang or read past the limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_audit::note::VerifierKey;
use palisade_audit::{verify_dir, VerifyOptions};

// Go's sumdb/note test key: any fixed key does, the point is the parsing.
const PUBKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|bytes: &[u8]| {
    let mut parts = bytes.splitn(3, |&b| b == 0xff);
    let (segment, history, latest) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let dir = std::env::temp_dir().join(format!("palisade-fuzz-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("segments")).unwrap();
    std::fs::write(dir.join("segments/00000000000000000000.jsonl"), segment).unwrap();
    std::fs::write(dir.join("checkpoints.jsonl"), history).unwrap();
    std::fs::write(dir.join("checkpoint"), latest).unwrap();
    let key = VerifierKey::parse(PUBKEY).unwrap();
    let _ = verify_dir(
        &dir,
        VerifyOptions {
            pubkey: Some(key),
            checkpoints: Vec::new(),
            witnesses: Vec::new(),
        },
    );
});
