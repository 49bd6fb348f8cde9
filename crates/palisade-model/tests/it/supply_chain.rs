//! The load pipeline end to end on the demo iris model: sealing, signing, scanning and
//! external data, each refusal with its reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_model::scan::Severity;
use palisade_model::seal::{self, LocalKek};
use palisade_model::signing::{self, SigningKey, VerifyingKey};
use palisade_model::{LoadPolicy, ModelError, Repository};
use prost::Message;
use sha2::{Digest, Sha256};

fn iris_bytes() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/iris/1/model.onnx"))
        .unwrap()
}

/// A repository with `iris` version 1 holding `files` (model.onnx pinned).
fn repo_with(files: &[(&str, Vec<u8>)], manifest_extra: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let dir = root.join("iris/1");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let pin = files
        .iter()
        .find(|(n, _)| *n == "model.onnx")
        .map(|(_, b)| hex::encode(Sha256::digest(b)))
        .unwrap();
    std::fs::write(
        root.join("iris/model.toml"),
        format!("risk = \"high\"\n{manifest_extra}[versions.1]\nsha256 = \"{pin}\"\n"),
    )
    .unwrap();
    (tmp, root)
}

fn signing_key() -> (SigningKey, VerifyingKey) {
    let (private, public) = SigningKey::generate().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("k"), private.as_bytes()).unwrap();
    (
        SigningKey::read(&tmp.path().join("k")).unwrap(),
        VerifyingKey::parse_pem(&public).unwrap(),
    )
}

fn sign_dir(dir: &Path, subject: &str, key: &SigningKey) {
    let digests = signing::digest_dir(dir).unwrap();
    std::fs::write(
        dir.join(signing::SIGNATURE_FILE),
        signing::sign(subject, &digests, key),
    )
    .unwrap();
}

fn load(root: &Path, policy: LoadPolicy) -> Result<palisade_model::LoadedModel, ModelError> {
    Repository::new(root, 1 << 30, crate::ONNX_ML)
        .with_policy(policy)
        .load("iris")
}

fn reason(r: Result<palisade_model::LoadedModel, ModelError>) -> &'static str {
    match r {
        Ok(_) => "loaded",
        Err(e) => {
            eprintln!("{e}");
            e.reason()
        }
    }
}

fn requiring_signature(trusted: VerifyingKey) -> LoadPolicy {
    LoadPolicy {
        trusted_keys: vec![trusted],
        require_signature_for_risk: vec![palisade_model::Risk::High],
        ..LoadPolicy::default()
    }
}

#[test]
fn signatures_are_required_by_risk_and_checked_file_by_file() {
    let (key, public) = signing_key();
    let (_t, root) = repo_with(
        &[
            ("model.onnx", iris_bytes()),
            ("labels.txt", b"a\nb\nc\n".to_vec()),
        ],
        "",
    );
    let dir = root.join("iris/1");
    assert_eq!(
        reason(load(&root, requiring_signature(public.clone()))),
        "signature_required"
    );
    assert_eq!(
        reason(load(&root, LoadPolicy::default())),
        "loaded",
        "low-risk rules load unsigned"
    );

    sign_dir(&dir, "iris@1", &key);
    assert_eq!(
        reason(load(&root, requiring_signature(public.clone()))),
        "loaded"
    );

    // Signed by someone else.
    let (_, stranger) = signing_key();
    assert_eq!(
        reason(load(&root, requiring_signature(stranger))),
        "signature_untrusted"
    );
    // A signed file changed; a file added after signing; a signature for another version.
    std::fs::write(dir.join("labels.txt"), b"x\n").unwrap();
    assert_eq!(
        reason(load(&root, requiring_signature(public.clone()))),
        "signature_mismatch"
    );
    std::fs::write(dir.join("labels.txt"), b"a\nb\nc\n").unwrap();
    std::fs::write(dir.join("extra.json"), b"{}").unwrap();
    assert_eq!(
        reason(load(&root, requiring_signature(public.clone()))),
        "signature_mismatch"
    );
    std::fs::remove_file(dir.join("extra.json")).unwrap();
    sign_dir(&dir, "iris@2", &key);
    assert_eq!(
        reason(load(&root, requiring_signature(public.clone()))),
        "signature_mismatch"
    );
    // A bad signature is refused even where none is required.
    assert_eq!(
        reason(load(
            &root,
            LoadPolicy {
                trusted_keys: vec![public],
                ..LoadPolicy::default()
            }
        )),
        "signature_mismatch"
    );
}

#[test]
fn unsafe_files_beside_the_model_are_refused() {
    // os.system through a protocol-4 pickle.
    let evil = hex::decode("80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e").unwrap();
    let (_t, root) = repo_with(&[("model.onnx", iris_bytes()), ("tokenizer.pkl", evil)], "");
    let err = load(&root, LoadPolicy::default()).err().unwrap();
    assert_eq!(err.reason(), "unsafe_artifact");
    assert!(
        err.to_string().contains("pickle.dangerous-import")
            && err.to_string().contains("tokenizer.pkl"),
        "{err}"
    );

    // A harmless pickle is still not a loadable format.
    let benign = hex::decode("80049505000000000000004b012e").unwrap();
    let (_t, root) = repo_with(&[("model.onnx", iris_bytes()), ("x.pkl", benign)], "");
    assert_eq!(reason(load(&root, LoadPolicy::default())), "unsafe_format");

    #[cfg(unix)]
    {
        let (_t, root) = repo_with(&[("model.onnx", iris_bytes())], "");
        std::os::unix::fs::symlink("/etc/passwd", root.join("iris/1/passwd")).unwrap();
        assert_eq!(reason(load(&root, LoadPolicy::default())), "unsafe_format");
    }
}

fn kek(b: u8) -> Arc<LocalKek> {
    Arc::new(LocalKek::from_bytes(&[b; 32]).unwrap())
}

fn sealed_policy(k: Arc<LocalKek>) -> LoadPolicy {
    LoadPolicy {
        kek: Some(k),
        require_encryption: true,
        ..LoadPolicy::default()
    }
}

/// Seal the plaintext iris/1 of `root` in place (through a staging folder).
fn seal_in_place(root: &Path, k: &LocalKek) {
    let dir = root.join("iris/1");
    let staging = root.join("staging");
    std::fs::rename(&dir, &staging).unwrap();
    seal::seal_version(&staging, &dir, "iris", "1", k, 4096).unwrap();
    std::fs::remove_dir_all(&staging).unwrap();
}

#[test]
fn sealed_versions_load_in_memory_and_refuse_tampering() {
    let (_t, root) = repo_with(
        &[("model.onnx", iris_bytes())],
        "encryption = \"required\"\n",
    );
    assert_eq!(
        reason(load(
            &root,
            LoadPolicy {
                kek: Some(kek(1)),
                ..LoadPolicy::default()
            }
        )),
        "encryption_required"
    );
    seal_in_place(&root, &kek(1));
    let dir = root.join("iris/1");
    assert!(!dir.join("model.onnx").exists());
    let model = load(&root, sealed_policy(kek(1))).unwrap();
    assert_eq!(model.versions["1"].inputs[0].shape, [-1, 4]);

    assert_eq!(
        reason(load(&root, sealed_policy(kek(2)))),
        "sealed_wrong_kek"
    );
    assert_eq!(reason(load(&root, LoadPolicy::default())), "sealed_no_kek");

    // A plaintext file dropped into a sealed version.
    std::fs::write(dir.join("model.onnx"), iris_bytes()).unwrap();
    assert_eq!(
        reason(load(&root, sealed_policy(kek(1)))),
        "sealed_tampered"
    );
    std::fs::remove_file(dir.join("model.onnx")).unwrap();

    // Rotation keeps it loadable under the new key only.
    assert_eq!(seal::rotate_version(&dir, &*kek(1), &*kek(2)).unwrap(), 1);
    assert_eq!(reason(load(&root, sealed_policy(kek(2)))), "loaded");
    assert_eq!(
        reason(load(&root, sealed_policy(kek(1)))),
        "sealed_wrong_kek"
    );

    // A flipped byte.
    let path = dir.join("model.onnx.sealed");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        reason(load(&root, sealed_policy(kek(2)))),
        "sealed_tampered"
    );
}

#[test]
fn a_sealed_version_moved_to_another_version_is_refused() {
    let (_t, root) = repo_with(&[("model.onnx", iris_bytes())], "");
    seal_in_place(&root, &kek(1));
    let manifest = std::fs::read_to_string(root.join("iris/model.toml")).unwrap();
    std::fs::write(root.join("iris/model.toml"), {
        assert!(manifest.contains("[versions.1]"), "{manifest}");
        manifest.replace("[versions.1]", "[versions.2]")
    })
    .unwrap();
    std::fs::rename(root.join("iris/1"), root.join("iris/2")).unwrap();
    let err = load(&root, sealed_policy(kek(1))).err().unwrap();
    assert_eq!(err.reason(), "sealed_tampered");
    assert!(err.to_string().contains("sealed for iris@1"), "{err}");
}

#[test]
fn signed_and_sealed_together() {
    let (key, public) = signing_key();
    let (_t, root) = repo_with(&[("model.onnx", iris_bytes())], "");
    sign_dir(&root.join("iris/1"), "iris@1", &key);
    seal_in_place(&root, &kek(1));
    assert!(
        root.join("iris/1/model.sig").is_file(),
        "the signature travels in the clear"
    );
    let policy = LoadPolicy {
        require_signature: true,
        trusted_keys: vec![public],
        ..sealed_policy(kek(1))
    };
    assert_eq!(reason(load(&root, policy)), "loaded");
}

/// The demo MLP (diabetes) with its first weight initializer moved to `location`.
fn iris_with_external(location: &str) -> (Vec<u8>, Vec<u8>) {
    let mlp = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/diabetes/1/model.onnx"),
    )
    .unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&mlp[..]).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let t = graph
        .initializer
        .iter_mut()
        .find(|t| !t.raw_data.is_empty() || !t.float_data.is_empty())
        .unwrap();
    let data = if t.raw_data.is_empty() {
        t.float_data.iter().flat_map(|f| f.to_le_bytes()).collect()
    } else {
        std::mem::take(&mut t.raw_data)
    };
    t.float_data.clear();
    t.data_location = Some(1);
    t.external_data = vec![tract_onnx::pb::StringStringEntryProto {
        key: "location".into(),
        value: location.into(),
    }];
    (proto.encode_to_vec(), data)
}

#[test]
fn external_data_is_served_from_verified_bytes_and_cannot_escape() {
    let (model, weights) = iris_with_external("weights.bin");
    let (_t, root) = repo_with(
        &[("model.onnx", model), ("weights.bin", weights.clone())],
        "",
    );
    let loaded = load(&root, LoadPolicy::default()).unwrap();
    // Same answers as the model with its weights inside.
    let original = palisade_model::Runtime::load(
        Path::new("d.onnx"),
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/diabetes/1/model.onnx"),
        )
        .unwrap(),
        &crate::ONNX_ML,
    )
    .unwrap();
    let run = |rt: &palisade_model::Runtime| {
        let x = palisade_model::Tensor::from_shape(&[1usize, 10], &[0.03f32; 10]).unwrap();
        let out = rt.run(std::iter::once(x.into()).collect()).unwrap();
        out[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec()
    };
    assert_eq!(run(&loaded.versions["1"]), run(&original));
    // Sealed: the external file is decrypted in memory too.
    seal_in_place(&root, &kek(1));
    assert_eq!(reason(load(&root, sealed_policy(kek(1)))), "loaded");

    let (model, _) = iris_with_external("../../../etc/passwd");
    let (_t, root) = repo_with(&[("model.onnx", model)], "");
    let err = load(&root, LoadPolicy::default()).err().unwrap();
    assert_eq!(err.reason(), "unsafe_artifact");
    assert!(
        err.to_string().contains("onnx.external-data-escape"),
        "{err}"
    );

    // Critical findings are refused whatever the threshold.
    let lenient = LoadPolicy {
        refuse_at: Severity::Critical,
        ..LoadPolicy::default()
    };
    assert_eq!(reason(load(&root, lenient)), "unsafe_artifact");
}
