//! The command line: config check, plaintext opt-in, dev certificates.

use std::process::Command;

use crate::common::*;
use reqwest::StatusCode;

fn check(config: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn config_check_passes_the_demo_and_names_keys_and_lines_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let path = dir.path().join("palisade.toml");
    let (ok, out) = check(&path);
    assert!(ok, "{out}");
    assert!(out.contains("0 error(s), 0 warning(s)"), "{out}");

    let text = std::fs::read_to_string(&path).unwrap();
    // What a risk rule trusts is explained; a risk outside the vocabulary is an error.
    std::fs::write(
        &path,
        text.edit(
            "[models]\n",
            "[models]\nrequire_signature_for_risk = [\"high\"]\nrisk = { iris = \"low\" }\n",
        ),
    )
    .unwrap();
    let (ok, out) = check(&path);
    assert!(ok, "{out}");
    assert!(
        out.contains("note: `models.require_signature_for_risk` trusts"),
        "{out}"
    );
    std::fs::write(
        &path,
        text.edit("[models]\n", "[models]\nrisk = { iris = \"lowww\" }\n"),
    )
    .unwrap();
    let (ok, out) = check(&path);
    assert!(!ok && out.contains("models.risk.iris"), "{out}");
    std::fs::write(&path, text.edit("[models]\n", "[models]\nrepo = \"x\"\n")).unwrap();
    let (ok, out) = check(&path);
    assert!(!ok);
    assert!(
        out.contains("palisade.toml:") && out.contains("repo"),
        "{out}"
    );

    let plaintext = text.edit(
        "[data_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
        "dangerous_plaintext = true\n",
    );
    std::fs::write(&path, &plaintext).unwrap();
    let (ok, out) = check(&path);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning") && out.contains("data_plane.dangerous_plaintext"),
        "{out}"
    );

    std::fs::write(
        &path,
        plaintext.edit("listen = \"127.0.0.1:8443\"", "listen = \"0.0.0.0:8443\""),
    )
    .unwrap();
    let (ok, out) = check(&path);
    assert!(!ok);
    assert!(out.contains("non-loopback"), "{out}");

    // A referenced file that is missing is an error too.
    std::fs::write(
        &path,
        text.edit("cert = \"tls/server.pem\"", "cert = \"tls/missing.pem\""),
    )
    .unwrap();
    let (ok, out) = check(&path);
    assert!(!ok && out.contains("missing.pem"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_on_loopback_needs_the_opt_in_and_is_warned_about() {
    let p = Palisade::with_config(|t| {
        t.edit(
            "[data_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
            "dangerous_plaintext = true\n",
        )
    });
    assert!(p.data.starts_with("http://"), "{}", p.data);
    let r = reqwest::get(format!("{}/v2/health/live", p.data))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(p.stderr_text().contains("DANGER"), "no start-up warning");

    // Off loopback, the server refuses to start.
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let path = dir.path().join("palisade.toml");
    let text = std::fs::read_to_string(&path).unwrap().edit(
        "listen = \"127.0.0.1:8443\"\n\n[data_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
        "listen = \"0.0.0.0:0\"\ndangerous_plaintext = true\n",
    );
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
}

#[test]
fn dev_certs_refuse_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["dev-certs", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for f in ["ca.pem", "ca.key", "server.pem", "server.key"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let again = Command::new(BIN)
        .args(["dev-certs", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // --name adds to the local names, it does not replace them.
    let named = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["dev-certs", "--name", "palisade.internal", "--out"])
        .arg(named.path())
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("localhost, 127.0.0.1, ::1, palisade.internal"),
        "{text}"
    );
    // The certificate itself, read back with openssl where the machine has it.
    if let Ok(sans) = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(named.path().join("server.pem"))
        .output()
    {
        let sans = String::from_utf8_lossy(&sans.stdout);
        assert!(
            sans.contains("DNS:localhost") && sans.contains("DNS:palisade.internal"),
            "{sans}"
        );
    }
}

#[test]
fn keys_commands_take_a_state_dir_too() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let state = dir.path().to_str().unwrap();
    let out = Command::new(BIN)
        .args([
            "keys",
            "create",
            "--state-dir",
            state,
            "--role",
            "client",
            "--expires",
            "1h",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(token.trim().starts_with("pal_"));
    let list = Command::new(BIN)
        .args(["keys", "list", "--state-dir", state])
        .output()
        .unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    assert_eq!(listing.lines().count(), 4, "{listing}");
    assert!(!listing.contains(token.trim()));
    let bad = Command::new(BIN)
        .args(["keys", "create", "--state-dir", state, "--role", "root"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("known roles"));
    let check = Command::new(BIN)
        .args(["config", "check", "--config"])
        .arg(dir.path().join("palisade.toml"))
        .output()
        .unwrap();
    assert!(check.status.success());
}

/// Issue 12, point 8: an absurd expiry was accepted and `keys list` then panicked.
#[test]
fn key_lifetimes_are_capped_and_listing_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let keys = |args: &[&str]| {
        Command::new(BIN)
            .arg("keys")
            .args(args)
            .args(["--state-dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = keys(&["create", "--role", "client", "--expires-in", "999999999d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3650d"), "{err}");
    let out = keys(&["create", "--role", "client", "--expires-in", "30d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A key file edited by hand (or written by an older version) with a far-off expiry.
    let store = dir.path().join("keys/keys.json");
    let text = std::fs::read_to_string(&store).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys_list = if v.is_array() { &mut v } else { &mut v["keys"] };
    let first = &mut keys_list[0];
    first["expires_at"] = serde_json::json!(u64::MAX / 2);
    std::fs::write(&store, serde_json::to_string(&v).unwrap()).unwrap();
    let out = keys(&["list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("out of range"));
}

#[test]
fn config_check_warns_about_versions_without_self_test_vectors() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let path = dir.path().join("palisade.toml");
    // Every demo version carries vectors (the demo check above has no warning); one without:
    std::fs::remove_file(dir.path().join("models/iris/2/selftest.json")).unwrap();
    let manifest = dir.path().join("models/iris/model.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    let mut out_lines = Vec::new();
    let mut in_v2 = false;
    for line in kept {
        if line.starts_with('[') {
            in_v2 = line.contains("versions.2") || line.contains("versions.\"2\"");
        }
        if in_v2 && line.starts_with("selftest_sha256") {
            continue;
        }
        out_lines.push(line);
    }
    std::fs::write(&manifest, out_lines.join("\n") + "\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("iris@2 has no self-test vectors") && text.contains("--selftest"),
        "{text}"
    );
    assert!(!text.contains("iris@1 has no self-test"), "{text}");
}
