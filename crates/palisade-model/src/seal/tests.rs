//! Tampering matrix: every way of editing a sealed version is refused with its own error.

use super::*;

fn kek(byte: u8) -> LocalKek {
    LocalKek::from_bytes(&[byte; 32]).unwrap()
}

/// A source folder with a multi-chunk file and a small one; sealed with 64-byte chunks.
fn sealed(model: &str, version: &str) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let big: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.join("model.onnx"), &big).unwrap();
    std::fs::write(src.join("notes.txt"), b"hi").unwrap();
    let dst = tmp.path().join("repo").join(model).join(version);
    let reports = seal_version(&src, &dst, model, version, &kek(1), 64).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].sha256, hex::encode(Sha256::digest(&big)));
    (tmp, dst, big)
}

fn open(dir: &Path, k: &LocalKek) -> Result<Opened, SealError> {
    let env = Envelope::read(dir)?;
    open_file(dir, &env, "model.onnx", k, 1 << 20)
}

#[test]
fn round_trip_in_memory() {
    let (_t, dir, big) = sealed("iris", "1");
    let opened = open(&dir, &kek(1)).unwrap();
    assert_eq!(opened.bytes, big);
    assert_eq!(opened.sha256, <[u8; 32]>::from(Sha256::digest(&big)));
    assert!(
        !dir.join("model.onnx").exists(),
        "no plaintext beside the sealed file"
    );
    let sealed = std::fs::read(dir.join("model.onnx.sealed")).unwrap();
    assert!(!sealed
        .windows(32)
        .any(|w| big.windows(32).next() == Some(w)));
    // An empty file seals to one empty final chunk.
    let src = dir.parent().unwrap().join("empty-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("model.onnx"), b"").unwrap();
    let dst = dir.parent().unwrap().join("9");
    seal_version(&src, &dst, "iris", "9", &kek(1), 64).unwrap();
    assert!(open(&dst, &kek(1)).unwrap().bytes.is_empty());
}

#[test]
fn flipped_byte_is_refused() {
    let (_t, dir, _) = sealed("iris", "1");
    let path = dir.join("model.onnx.sealed");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[HEADER_LEN + 100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = open(&dir, &kek(1)).err().unwrap();
    assert!(matches!(err, SealError::Tampered { .. }), "{err}");
    assert!(err.to_string().contains("chunk 1 of 16"), "{err}");
}

#[test]
fn swapped_chunks_are_refused() {
    let (_t, dir, _) = sealed("iris", "1");
    let path = dir.join("model.onnx.sealed");
    let mut bytes = std::fs::read(&path).unwrap();
    let c = 64 + TAG_LEN;
    let (a, b) = (HEADER_LEN, HEADER_LEN + c);
    let first = bytes[a..a + c].to_vec();
    bytes.copy_within(b..b + c, a);
    bytes[b..b + c].copy_from_slice(&first);
    std::fs::write(&path, bytes).unwrap();
    let err = open(&dir, &kek(1)).err().unwrap();
    assert!(err.to_string().contains("chunk 0 of 16"), "{err}");
}

#[test]
fn truncation_is_refused_even_with_a_matching_envelope() {
    let (_t, dir, _) = sealed("iris", "1");
    let path = dir.join("model.onnx.sealed");
    let bytes = std::fs::read(&path).unwrap();
    // Cut the last chunk: the length no longer matches what was sealed.
    std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    let err = open(&dir, &kek(1)).err().unwrap();
    assert!(err.to_string().contains("truncated"), "{err}");
    // Cut at a chunk boundary and lower the length in seal.json to match: the wrapped key
    // is bound to the length, so the edit is caught there.
    let cut = HEADER_LEN + 10 * (64 + TAG_LEN);
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let env_path = dir.join(ENVELOPE_FILE);
    let text = std::fs::read_to_string(&env_path).unwrap();
    std::fs::write(
        &env_path,
        text.replace("\"plaintext_bytes\": 1000", "\"plaintext_bytes\": 640"),
    )
    .unwrap();
    let err = open(&dir, &kek(1)).err().unwrap();
    assert!(err.to_string().contains("does not unwrap"), "{err}");
}

#[test]
fn a_file_moved_to_another_version_is_refused() {
    let (_t, dir, _) = sealed("iris", "1");
    let (_t2, other, _) = sealed("iris", "2");
    // Move v1's sealed file and its seal.json entry into v2.
    std::fs::copy(
        dir.join("model.onnx.sealed"),
        other.join("model.onnx.sealed"),
    )
    .unwrap();
    let mut env2 = Envelope::read(&other).unwrap();
    let env1 = Envelope::read(&dir).unwrap();
    env2.files
        .insert("model.onnx".into(), env1.files["model.onnx"].clone());
    env2.write(&other).unwrap();
    let err = open(&other, &kek(1)).err().unwrap();
    assert!(err.to_string().contains("iris@2"), "{err}");
    // A whole envelope relabelled: the wrap context changes, so the key does not unwrap.
    let mut relabelled = Envelope::read(&dir).unwrap();
    relabelled.model = "diabetes".into();
    relabelled.write(&dir).unwrap();
    assert!(matches!(
        open(&dir, &kek(1)),
        Err(SealError::Tampered { .. })
    ));
}

#[test]
fn wrong_kek_is_named() {
    let (_t, dir, _) = sealed("iris", "1");
    let err = open(&dir, &kek(2)).err().unwrap();
    assert!(matches!(err, SealError::WrongKek { .. }), "{err}");
    assert!(err.to_string().contains("rotate-kek"), "{err}");
}

#[test]
fn rotation_rewraps_without_touching_data() {
    let (_t, dir, big) = sealed("iris", "1");
    let before = std::fs::read(dir.join("model.onnx.sealed")).unwrap();
    assert_eq!(rotate_version(&dir, &kek(1), &kek(2)).unwrap(), 2);
    assert_eq!(
        std::fs::read(dir.join("model.onnx.sealed")).unwrap(),
        before
    );
    assert_eq!(open(&dir, &kek(2)).unwrap().bytes, big);
    assert!(matches!(
        open(&dir, &kek(1)),
        Err(SealError::WrongKek { .. })
    ));
    assert_eq!(
        rotate_version(&dir, &kek(1), &kek(2)).unwrap(),
        0,
        "idempotent"
    );
    // Rotating with the wrong old key fails and changes nothing.
    assert!(rotate_version(&dir, &kek(3), &kek(4)).is_err());
    assert_eq!(open(&dir, &kek(2)).unwrap().bytes, big);
}

#[test]
fn key_sources_parse_and_load() {
    assert_eq!(
        KekSource::parse("env:X").unwrap(),
        KekSource::Env("X".into())
    );
    assert!(KekSource::parse("/etc/key").is_err());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("k");
    std::fs::write(&path, LocalKek::generate_text().unwrap().as_bytes()).unwrap();
    let a = LocalKek::load(&KekSource::File(path.clone())).unwrap();
    let b = LocalKek::load(&KekSource::File(path.clone())).unwrap();
    assert_eq!(a.kek_id(), b.kek_id());
    std::fs::write(&path, "not hex").unwrap();
    let err = LocalKek::load(&KekSource::File(path)).err().unwrap();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    assert!(
        !err.to_string().contains("not hex"),
        "key material never echoed"
    );
}

#[test]
fn a_single_file_seals_as_the_only_file_of_its_version() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("model.onnx");
    std::fs::write(&file, b"weights").unwrap();
    let dst = tmp.path().join("repo/m/1");
    let reports = seal_version(&file, &dst, "m", "1", &kek(1), 64).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(open(&dst, &kek(1)).unwrap().bytes, b"weights");
}
