//! Proofs handed to `palisade audit check-proof` (and anyone's verifier): JSON bundles with
//! notes, hex paths and entries from outside.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_audit::note::VerifierKey;
use palisade_audit::{ConsistencyProof, InclusionProof};

const PUBKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|bytes: &[u8]| {
    let key = VerifierKey::parse(PUBKEY).unwrap();
    if let Ok(p) = serde_json::from_slice::<InclusionProof>(bytes) {
        let _ = p.verify(&key);
    }
    if let Ok(p) = serde_json::from_slice::<ConsistencyProof>(bytes) {
        let _ = p.verify(&key);
    }
});
