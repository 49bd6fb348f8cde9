//! Sealing and loading a large artifact: seal (read + encrypt + write + fsync), and load as
//! the server does it (read + decrypt + SHA-256 in memory, then the signature checked
//! against that digest), in GB/s.
//!
//! `cargo bench -p palisade-model --bench seal` prints a table (512 MiB; `SEAL_MIB=2048`
//! for another size). Under `cargo test` it runs a 4 MiB smoke version.

use std::collections::BTreeMap;
use std::time::Instant;

use palisade_model::seal::{self, Envelope, LocalKek};
use palisade_model::signing::{self, SigningKey, VerifyingKey};

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let mib: usize = if benching {
        std::env::var("SEAL_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512)
    } else {
        4
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    // Incompressible, like trained weights.
    let mut data = vec![0u8; mib << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(src.join("model.onnx"), &data).expect("write");
    drop(data);

    let (private, public) = SigningKey::generate().expect("key");
    std::fs::write(tmp.path().join("k"), private.as_bytes()).expect("write key");
    let signer = SigningKey::read(&tmp.path().join("k")).expect("read key");
    let trusted = [VerifyingKey::parse_pem(&public).expect("pub")];
    let digests = signing::digest_dir(&src).expect("digest");
    let bundle = signing::sign("big@1", &digests, &signer);

    let kek = LocalKek::from_bytes(&[7; 32]).expect("kek");
    let dst = tmp.path().join("repo/big/1");
    let t = Instant::now();
    seal::seal_version(&src, &dst, "big", "1", &kek, seal::DEFAULT_CHUNK).expect("seal");
    let seal_s = t.elapsed().as_secs_f64();

    let runs = if benching { 5 } else { 1 };
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let envelope = Envelope::read(&dst).expect("envelope");
        let opened = seal::open_file(&dst, &envelope, "model.onnx", &kek, u64::MAX).expect("open");
        let actual = BTreeMap::from([("model.onnx".to_string(), hex::encode(opened.sha256))]);
        let signed =
            signing::verify(std::path::Path::new("model.sig"), &bundle, &trusted).expect("verify");
        signing::check(std::path::Path::new("model.sig"), &signed, "big@1", &actual)
            .expect("check");
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(opened.bytes.len(), mib << 20);
    }
    let gb = (mib << 20) as f64 / 1e9;
    println!("| artifact | seal | load (read + decrypt + SHA-256 + signature) |");
    println!("|---|---|---|");
    println!(
        "| {mib} MiB | {:.2} GB/s ({:.2} s) | {:.2} GB/s ({:.3} s, best of {runs}) |",
        gb / seal_s,
        seal_s,
        gb / best,
        best
    );
}
