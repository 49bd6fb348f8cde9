//! The model supply chain through the real binary: refusals at load (admin plane and start),
//! with their audit entries, and the `palisade models` commands.

use crate::common::*;
use reqwest::StatusCode;
use sha2::Digest;

/// A copy of iris version 1 as model `name`, pinned, unsigned.
fn copy_iris(p: &Palisade, name: &str) -> std::path::PathBuf {
    let models = p.state().join("models");
    let dir = models.join(name).join("1");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(models.join("iris/1/model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &bytes).unwrap();
    std::fs::write(
        models.join(name).join("model.toml"),
        format!(
            "owner = \"ml-team\"\nrisk = \"high\"\n[versions.1]\nsha256 = \"{}\"\n",
            hex::encode(sha2::Sha256::digest(&bytes))
        ),
    )
    .unwrap();
    dir
}

/// The model still answers an iris row (the version that was serving keeps serving).
async fn assert_iris_answers(p: &Palisade, model: &str) {
    let r = p
        .client()
        .post(format!("{}/v2/models/{model}/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("admin")))
        .json(&infer_body(&[5.1, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn load(p: &Palisade, name: &str) -> (StatusCode, String, serde_json::Value) {
    let r = p
        .admin_call("POST", &format!("/admin/models/{name}/load"), "admin")
        .await;
    let id = request_id(&r);
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, text, p.audit_event(&id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_untrusted_and_unsafe_versions_are_refused_and_audited() {
    let p = Palisade::demo();
    let dir = copy_iris(&p, "credit");

    let (status, text, event) = load(&p, "credit").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(
        text.contains("model.sig") && text.contains("palisade models sign"),
        "{text}"
    );
    assert_eq!(event["reason"], "signature_required");
    assert_eq!(event["decision"], "deny");

    // Signed, but by a key the server does not trust.
    let stranger = p.state().join("stranger.key");
    let out = p.cli(&[
        "models",
        "keygen",
        "--signing-key",
        stranger.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = p.cli(&[
        "models",
        "sign",
        dir.to_str().unwrap(),
        "--key",
        stranger.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, text, event) = load(&p, "credit").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("trusted_keys"), "{text}");
    assert_eq!(event["reason"], "signature_untrusted");

    // Signed by the trusted key: loads and serves.
    p.sign_model("credit");
    let (status, text, event) = load(&p, "credit").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(event["reason"], "ok");

    // A pickle that runs os.system, added and even signed: the scanner refuses it, and the
    // verified copy already loaded keeps serving.
    let evil = hex::decode("80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e").unwrap();
    std::fs::write(dir.join("tokenizer.pkl"), evil).unwrap();
    p.sign_model("credit");
    let (status, text, event) = load(&p, "credit").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text.contains("pickle.dangerous-import") && text.contains("posix.system"),
        "{text}"
    );
    assert_eq!(event["reason"], "unsafe_artifact");
    assert_iris_answers(&p, "credit").await;
    p.assert_metrics(&["palisade_model_events_total{model=\"credit\",event=\"load_refused\"}"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_models_serve_and_tampering_is_refused() {
    let p = Palisade::demo();
    let sealed = p.state().join("models/diabetes/1");
    assert!(sealed.join("seal.json").is_file() && !sealed.join("model.onnx").exists());
    let r = p
        .client()
        .post(format!("{}/v2/models/diabetes/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .json(&serde_json::json!({"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "data": vec![0.03f32; 10]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // The admin plane says what each serving version proved.
    let listing: serde_json::Value = p
        .admin_call("GET", "/admin/models", "admin")
        .await
        .json()
        .await
        .unwrap();
    let diabetes = listing["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "diabetes")
        .unwrap();
    let proved = &diabetes["provenance"]["1"];
    assert_eq!(proved["sealed"], true, "{diabetes}");
    assert_eq!(
        proved["signed_by"].as_str().unwrap().len(),
        64,
        "{diabetes}"
    );
    assert_eq!(proved["sha256"].as_str().unwrap().len(), 64);

    // Flip one byte of ciphertext and reload: refused, named, audited.
    let path = sealed.join("model.onnx.sealed");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[200] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let (status, text, event) = load(&p, "diabetes").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text.contains("fails authentication") && text.contains("model.onnx.sealed"),
        "{text}"
    );
    assert_eq!(event["reason"], "sealed_tampered");
    bytes[200] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    // Rotate the KEK; the old key no longer opens it, the new one does.
    let new_kek = p.state().join("keys/model-2.kek");
    assert!(p
        .cli(&["models", "keygen", "--kek", new_kek.to_str().unwrap()])
        .status
        .success());
    let repo = p.state().join("models");
    let old = format!("file:{}", p.state().join("keys/model.kek").display());
    let new = format!("file:{}", new_kek.display());
    let out = p.cli(&[
        "models",
        "rotate-kek",
        "--repo",
        repo.to_str().unwrap(),
        "--old",
        &old,
        "--new",
        &new,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, text, event) = load(&p, "diabetes").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("rotate-kek"), "{text}");
    assert_eq!(event["reason"], "sealed_wrong_kek");
    let out = p.cli(&[
        "models",
        "verify",
        sealed.to_str().unwrap(),
        "--trusted-key",
        p.state().join("keys/model-signing.pub").to_str().unwrap(),
        "--kek",
        &new,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_model_at_start_is_left_out_and_audited() {
    let p = Palisade::demo();
    copy_iris(&p, "unsigned");
    let config = |t: String| {
        t.edit("127.0.0.1:8443", "127.0.0.1:0")
            .edit("127.0.0.1:9443", "127.0.0.1:0")
            .edit("dir = \"audit\"", "dir = \"audit-r2\"")
    };
    let r2 = p.replica("r2", config);
    let models: Vec<&str> = r2.ready["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(models, ["breast-cancer", "diabetes", "iris"]);
    assert!(r2.stderr_text().contains("model refused at start"));
    let loads: Vec<serde_json::Value> = p
        .audit_entries_in("audit-r2")
        .into_iter()
        .filter(|e| e["action"] == "load_model")
        .collect();
    let entry = loads
        .iter()
        .find(|e| e["subject"] == "unsigned")
        .expect("a load_model entry for the refused model");
    assert_eq!(entry["principal"], "system:startup");
    assert_eq!(entry["reason"], "signature_required");
    // The models that loaded are audited with what they proved.
    let iris = loads.iter().find(|e| e["subject"] == "iris").unwrap();
    assert_eq!(iris["decision"], "allow");
    assert_eq!(iris["loaded"]["risk_source"], "signature");
    assert_eq!(iris["loaded"]["versions"]["1"]["governance_signed"], true);
    assert!(iris["loaded"]["versions"]["1"]["signed_by"].is_string());

    // `palisade check` names it too.
    let out = p.cli(&["check", &p.config_path()]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("unsigned") && text.contains("signature_required"),
        "{text}"
    );
}

#[test]
fn models_scan_exit_codes_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/iris/1/model.onnx"),
        clean.join("model.onnx"),
    )
    .unwrap();
    let scan = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("models")
            .arg("scan")
            .args(args)
            .output()
            .unwrap()
    };
    let out = scan(&[clean.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let evil = dir.path().join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    // A protocol-0 pickle reaching builtins.eval through the memo-free GLOBAL opcode.
    std::fs::write(evil.join("model.pkl"), b"cbuiltins\neval\n(Vprint(1)\ntR.").unwrap();
    let out = scan(&[evil.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CRITICAL") && text.contains("builtins.eval"),
        "{text}"
    );
    let out = scan(&[
        evil.to_str().unwrap(),
        "--fail-on",
        "critical",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["files"][0]["findings"][0]["rule"],
        "pickle.dangerous-import"
    );
    assert_eq!(json["summary"]["findings"]["critical"], 1);

    let out = scan(&[evil.to_str().unwrap(), "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "pickle.dangerous-import");
    assert_eq!(result["level"], "error");
    assert!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("model.pkl")
    );

    assert_eq!(scan(&["/no/such/path"]).status.code(), Some(2));
    assert_eq!(
        scan(&[evil.to_str().unwrap(), "--fail-on", "severe"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn models_seal_scans_first_and_pins_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("models")
            .args(args)
            .env_remove("PALISADE_MODEL_KEK");
        if let Some(kek) = env {
            cmd.env("PALISADE_MODEL_KEK", kek);
        }
        cmd.output().unwrap()
    };
    let kek_path = dir.path().join("model.kek");
    assert!(run(&["keygen", "--kek", kek_path.to_str().unwrap()], None)
        .status
        .success());
    assert!(
        !run(&["keygen", "--kek", kek_path.to_str().unwrap()], None)
            .status
            .success(),
        "never overwritten"
    );
    let kek = std::fs::read_to_string(&kek_path).unwrap();
    let src = dir.path().join("export");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/iris/1/model.onnx"),
        src.join("model.onnx"),
    )
    .unwrap();
    let repo = dir.path().join("repo");
    let seal = |env: Option<&str>| {
        run(
            &[
                "seal",
                src.to_str().unwrap(),
                "--model",
                "iris",
                "--version",
                "7",
                "--repo",
                repo.to_str().unwrap(),
            ],
            env,
        )
    };
    let out = seal(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PALISADE_MODEL_KEK"));
    // A pickle that runs code is refused before anything is written.
    std::fs::write(src.join("extra.pkl"), b"cos\nsystem\n(Vid\ntR.").unwrap();
    let out = seal(Some(kek.trim()));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pickle.dangerous-import") && !repo.exists(),
        "{err}"
    );
    assert!(!err.contains(kek.trim()), "the key never reaches an error");
    std::fs::remove_file(src.join("extra.pkl")).unwrap();

    let out = seal(Some(kek.trim()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read_to_string(repo.join("iris/model.toml")).unwrap();
    assert!(
        manifest.starts_with("[versions.\"7\"]\nsha256 = \""),
        "{manifest}"
    );
    assert!(
        repo.join("iris/7/model.onnx.sealed").is_file() && !repo.join("iris/7/model.onnx").exists()
    );
    // Sealing the same version again is refused rather than overwriting it.
    assert!(!seal(Some(kek.trim())).status.success());
}

/// `models seal` runs the load's own checks: whatever a load refuses is never sealed.
#[test]
fn models_seal_refuses_what_a_load_refuses_and_pins_any_onnx_name() {
    let dir = tempfile::tempdir().unwrap();
    let kek = "ab".repeat(32);
    let repo = dir.path().join("repo");
    let seal = |src: &std::path::Path, version: &str| {
        std::process::Command::new(BIN)
            .args(["models", "seal"])
            .arg(src)
            .args(["--model", "m", "--version", version, "--repo"])
            .arg(&repo)
            .env("PALISADE_MODEL_KEK", &kek)
            .output()
            .unwrap()
    };
    let iris = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/iris/1/model.onnx"),
    )
    .unwrap();
    // Protocol-4 pickle, os.system reducer.
    let pickle = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x04echo\x94\x85\x94R\x94.";
    for (case, bytes) in [
        ("disguised pickle", &pickle[..]),
        ("empty", &b""[..]),
        ("noise", &[7u8; 300][..]),
        ("truncated", &iris[..300]),
    ] {
        let src = dir.path().join(case.replace(' ', "-"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("model.onnx"), bytes).unwrap();
        let out = seal(&src, "1");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case} was sealed");
        assert!(
            err.contains("not sealed") && err.contains("model.onnx"),
            "{case}: {err}"
        );
        assert!(!repo.exists(), "{case}: nothing is written");
    }
    // A single file not named model.onnx: sealed, and the manifest names it.
    let named = dir.path().join("iris-v2.onnx");
    std::fs::write(&named, &iris).unwrap();
    assert_success(&seal(&named, "2"));
    let manifest = std::fs::read_to_string(repo.join("m/model.toml")).unwrap();
    assert!(manifest.contains("file = \"iris-v2.onnx\""), "{manifest}");
    let entry = &palisade_model::Manifest::parse(&manifest).unwrap().versions["2"];
    assert_eq!(entry.sha256, hex::encode(sha2::Sha256::digest(&iris)));
    // A folder with no ONNX file says so.
    let none = dir.path().join("none");
    std::fs::create_dir_all(&none).unwrap();
    std::fs::write(none.join("weights.safetensors"), b"").unwrap();
    let err = String::from_utf8_lossy(&seal(&none, "3").stderr).into_owned();
    assert!(err.contains("no .onnx file"), "{err}");
}

/// The "add your own model" walkthrough: `models add` into a running server's repository,
/// load it on the admin plane, call it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_add_checks_copies_and_pins_a_model_the_server_then_loads() {
    let p = Palisade::demo();
    let export = p.state().join("export");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::copy(
        p.state().join("models/iris/1/model.onnx"),
        export.join("my-classifier.onnx"),
    )
    .unwrap();
    let repo = p.state().join("models");
    let add = |src: &std::path::Path, version: &str| {
        std::process::Command::new(BIN)
            .args(["models", "add"])
            .arg(src)
            .args(["--model", "mine", "--version", version, "--repo"])
            .arg(&repo)
            .output()
            .unwrap()
    };
    assert_success(&add(&export, "1"));
    std::fs::write(
        repo.join("mine/model.toml"),
        format!(
            "owner = \"me\"\nrisk = \"low\"\n{}",
            std::fs::read_to_string(repo.join("mine/model.toml")).unwrap()
        ),
    )
    .unwrap();
    // The demo requires a signature: sign it with the demo's key, as the walkthrough says.
    p.sign_model("mine");
    let (status, text, event) = load(&p, "mine").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(event["decision"], "allow");
    // Adding over an existing version is refused; a pickle is refused before any copy.
    assert!(!add(&export, "1").status.success());
    std::fs::write(export.join("extra.pkl"), b"cos\nsystem\n(Vid\ntR.").unwrap();
    let out = add(&export, "2");
    assert!(!out.status.success());
    assert!(!repo.join("mine/2").exists());

    // `models pin` pins a folder put in place by hand.
    let by_hand = repo.join("mine/3");
    std::fs::create_dir_all(&by_hand).unwrap();
    std::fs::copy(
        p.state().join("models/iris/1/model.onnx"),
        by_hand.join("model.onnx"),
    )
    .unwrap();
    assert_success(&p.cli(&["models", "pin", by_hand.to_str().unwrap()]));
    let manifest = std::fs::read_to_string(repo.join("mine/model.toml")).unwrap();
    assert!(manifest.contains("[versions.\"3\"]"), "{manifest}");
}

/// `model.toml` is nobody's signed word: its risk cannot lower a model's protection unless
/// a trusted signature covers it or the config pins it; bad vocabulary is refused; every
/// load's audit entry says what was proved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_manifest_cannot_lower_a_models_risk() {
    let p = Palisade::with_config(|t| {
        t.edit(
            "require_signature = true ",
            "require_signature = false\nrequire_signature_for_risk = [\"high\"]\nrisk = { pinned = \"low\" }\n",
        )
    });
    let set_manifest = |name: &str, governance: &str| {
        let path = copy_iris(&p, name).parent().unwrap().join("model.toml");
        let pins = std::fs::read_to_string(&path).unwrap();
        let versions = &pins[pins.find("[versions").unwrap()..];
        std::fs::write(&path, format!("{governance}\n{versions}")).unwrap();
    };

    // An unsigned swap that calls itself low risk counts as high, so it needs a signature.
    set_manifest("sneaky", "owner = \"x\"\nrisk = \"low\"");
    let (status, text, event) = load(&p, "sneaky").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert_eq!(event["reason"], "signature_required");
    assert!(text.contains("counts as high"), "{text}");

    // The config's pin is trusted over the manifest.
    set_manifest("pinned", "owner = \"x\"\nrisk = \"high\"");
    let (status, text, event) = load(&p, "pinned").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(event["loaded"]["risk"], "low");
    assert_eq!(event["loaded"]["risk_source"], "config");
    assert_eq!(
        event["loaded"]["versions"]["1"]["signed_by"],
        serde_json::Value::Null
    );

    // Signed with the manifest: its risk is trusted, and editing it afterwards is caught.
    set_manifest("signed", "owner = \"x\"\nrisk = \"low\"");
    p.sign_model("signed");
    let (status, text, event) = load(&p, "signed").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(event["loaded"]["risk"], "low");
    assert_eq!(event["loaded"]["risk_source"], "signature");
    assert_eq!(event["loaded"]["versions"]["1"]["governance_signed"], true);
    let manifest = p.state().join("models/signed/model.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.edit("owner = \"x\"", "owner = \"y\"")).unwrap();
    let (status, text, event) = load(&p, "signed").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert_eq!(event["reason"], "signature_mismatch");
    assert!(text.contains("governance fields"), "{text}");

    // Outside the vocabulary: refused, naming the key.
    for (name, bad) in [("shouty", "risk = \"High\""), ("typo", "risk = \"lowww\"")] {
        set_manifest(name, bad);
        let (status, text, event) = load(&p, name).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert_eq!(event["reason"], "bad_manifest", "{text}");
        assert!(text.contains("`risk`"), "{text}");
    }
}

/// The iris model with its first coefficient's sign flipped: same framing, other weights.
fn altered_iris(bytes: &[u8]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let at = bytes
        .windows(b"coefficients".len())
        .position(|w| w == b"coefficients")
        .expect("iris has a coefficients attribute");
    // AttributeProto: the name, then field 7 (floats): each float tagged 0x3d, or all of them
    // packed after 0x3a and a varint length.
    let mut i = at + b"coefficients".len();
    match bytes[i] {
        0x3d => i += 1,
        0x3a => {
            i += 1;
            while bytes[i] & 0x80 != 0 {
                i += 1;
            }
            i += 1;
        }
        other => panic!("unexpected tag {other:#x} after the attribute name"),
    }
    bytes[i + 3] ^= 0x80;
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_self_test_fails_is_refused_and_audited() {
    let p = Palisade::demo();
    let models = p.state().join("models");
    let dir = copy_iris(&p, "altered");
    let selftest = std::fs::read(models.join("iris/1/selftest.json")).unwrap();
    std::fs::write(dir.join("selftest.json"), &selftest).unwrap();
    // A signed, pinned copy with its vectors loads: they pass.
    p.sign_model("altered");
    let (status, text, event) = load(&p, "altered").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(event["reason"], "ok");

    // Weights altered, the pin and the signature redone (whoever can write the repository and
    // holds a signing key can do that): the vectors no longer come out.
    let altered = altered_iris(&std::fs::read(dir.join("model.onnx")).unwrap());
    std::fs::write(dir.join("model.onnx"), &altered).unwrap();
    std::fs::write(
        models.join("altered/model.toml"),
        format!(
            "owner = \"ml-team\"\nrisk = \"high\"\n[versions.1]\nsha256 = \"{}\"\nselftest_sha256 = \"{}\"\n",
            hex::encode(sha2::Sha256::digest(&altered)),
            hex::encode(sha2::Sha256::digest(&selftest)),
        ),
    )
    .unwrap();
    p.sign_model("altered");
    let (status, text, event) = load(&p, "altered").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(
        text.contains("self-test") || text.contains("selftest.json"),
        "{text}"
    );
    assert!(text.contains("output '"), "names the output: {text}");
    assert!(text.contains("element "), "names the element: {text}");
    assert_eq!(event["reason"], "self_test_failed");
    assert_eq!(event["decision"], "deny");
    // The version that was serving keeps serving.
    assert_iris_answers(&p, "altered").await;

    // The CLI refuses to pin it, for the same reason.
    let out = p.cli(&["models", "pin", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("case 0, output '"), "{err}");

    // The vectors' own pin is checked: edited vectors are a digest mismatch.
    let mut edited = selftest.clone();
    let n = edited.len();
    edited[n - 2] = b' ';
    std::fs::write(dir.join("selftest.json"), &edited).unwrap();
    let (status, text, event) = load(&p, "altered").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert_eq!(event["reason"], "digest_mismatch");
}
