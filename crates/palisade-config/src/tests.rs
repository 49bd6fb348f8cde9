use super::*;

const GOOD: &str = r#"
[data_plane]
listen = "127.0.0.1:8443"
[data_plane.tls]
cert = "tls/server.pem"
key = "tls/server.key"

[admin_plane]
listen = "127.0.0.1:9443"
[admin_plane.tls]
cert = "tls/server.pem"
key = "tls/server.key"
client_ca = "tls/ca.pem"

[models]
repository = "models"
trusted_keys = ["keys/model-signing.pub"]
require_signature = true

[audit]
witness_file = "/var/lib/palisade-witness/checkpoints.jsonl"

[roles.client]
grants = [{ actions = ["infer", "read_metadata"], models = ["iris", "fraud-*"] }]
[roles.admin]
grants = [{ actions = ["*"], models = ["*"] }]
"#;

fn parse(text: &str) -> Result<(Config, Vec<Finding>), ConfigError> {
    Config::parse(Path::new("/etc/palisade/palisade.toml"), text)
}

#[test]
fn good_config_resolves_paths_against_its_folder() {
    let (c, findings) = parse(GOOD).unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(c.models.repository, Path::new("/etc/palisade/models"));
    assert_eq!(
        c.identity.keys_file,
        Path::new("/etc/palisade/keys/keys.json")
    );
    assert_eq!(
        c.data_plane.tls.unwrap().cert,
        Path::new("/etc/palisade/tls/server.pem")
    );
    assert_eq!(c.limits.max_json_depth, 16);
}

#[test]
fn role_table_compiles_to_cedar_with_ids() {
    let (c, _) = parse(GOOD).unwrap();
    let cedar = c.roles.to_cedar();
    assert!(cedar.contains("@id(\"role.client.1\")"), "{cedar}");
    assert!(cedar.contains("resource.name like \"fraud-*\""), "{cedar}");
    assert!(cedar.contains("@id(\"role.admin.1.server\")"), "{cedar}");
    // The client grant names no "*": no permit on the server resource.
    assert!(!cedar.contains("role.client.1.server"), "{cedar}");
    let bad = GOOD.replace("\"fraud-*\"", "\"fraud-[ab]\"");
    let err = parse(&bad).unwrap_err().to_string();
    assert!(err.contains("roles.client.grants"), "{err}");
}

#[test]
fn admin_plane_requires_client_certificates_by_default() {
    let (c, findings) = parse(GOOD).unwrap();
    assert!(findings.is_empty());
    assert_eq!(c.admin_plane.tls.unwrap().client_auth, ClientAuth::Required);
    assert_eq!(c.data_plane.tls.unwrap().client_auth, ClientAuth::Off);
    let no_ca = GOOD.replace("client_ca = \"tls/ca.pem\"\n", "");
    let err = parse(&no_ca).unwrap_err().to_string();
    assert!(err.contains("admin_plane.tls.client_ca"), "{err}");
    let off = GOOD.replace("client_ca = \"tls/ca.pem\"\n", "client_auth = \"off\"\n");
    let (c, findings) = parse(&off).unwrap();
    assert_eq!(c.admin_plane.tls.unwrap().client_auth, ClientAuth::Off);
    assert_eq!(findings[0].key, "admin_plane.tls.client_auth");
}

#[test]
fn jwt_issuers_are_checked() {
    let with = |issuer: &str| format!("{GOOD}\n[[identity.jwt]]\n{issuer}\n");
    let (c, _) = parse(&with(
        "issuer = \"https://idp\"\naudiences = [\"palisade\"]\njwks_url = \"https://idp/jwks\"\nroles_claims = [\"realm_access.roles\"]",
    ))
    .unwrap();
    let jwt = &c.identity.jwt[0];
    assert_eq!(jwt.algorithms, ["RS256", "PS256", "ES256", "EdDSA"]);
    assert_eq!(jwt.roles_claims, ["realm_access.roles"]);
    for (bad, key) in [
        (
            "issuer = \"i\"\naudiences = [\"a\"]\njwks_url = \"http://idp/jwks\"",
            "jwks_url",
        ),
        (
            "issuer = \"i\"\naudiences = []\njwks_file = \"j.json\"",
            "audiences",
        ),
        (
            "issuer = \"i\"\naudiences = [\"a\"]\njwks_file = \"j.json\"\nalgorithms = [\"none\"]",
            "algorithms",
        ),
        (
            "issuer = \"i\"\naudiences = [\"a\"]\njwks_file = \"j.json\"\nalgorithms = [\"HS256\"]",
            "algorithms",
        ),
        (
            "issuer = \"i\"\naudiences = [\"a\"]\njwks_file = \"j.json\"\nleeway = \"1h\"",
            "leeway",
        ),
        (
            "issuer = \"i\"\naudiences = [\"a\"]\njwks_file = \"j.json\"\nmax_token_lifetime = \"365d\"",
            "max_token_lifetime",
        ),
        ("issuer = \"i\"\naudiences = [\"a\"]", "jwks_url"),
    ] {
        let err = parse(&with(bad)).unwrap_err().to_string();
        assert!(err.contains(&format!("identity.jwt.{key}")), "{bad}: {err}");
    }
}

#[test]
fn redis_backend_needs_a_url_without_a_password() {
    let with = |limits: &str| format!("{GOOD}\n[limits]\n{limits}\n");
    let (c, _) = parse(&with(
        "backend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"",
    ))
    .unwrap();
    assert!(matches!(
        c.limits.backend.kind,
        rates::LimitsBackend::Redis { .. }
    ));
    assert_eq!(
        c.limits.backend.on_error_budgets,
        rates::OnBackendError::Deny
    );
    assert_eq!(
        c.limits.backend.on_error_rates,
        rates::OnBackendError::Local
    );
    let (c, _) = parse(&with(
        "backend = \"redis\"\nredis_url = \"redis://h:1\"\non_backend_error = { rates = \"deny\" }",
    ))
    .unwrap();
    assert_eq!(c.limits.backend.on_error_rates, rates::OnBackendError::Deny);
    for bad in [
        "backend = \"redis\"",
        "backend = \"redis\"\nredis_url = \"redis://:secret@h:1\"",
        "backend = \"memcached\"",
        "backend = \"redis\"\nredis_url = \"redis://h:1\"\non_backend_error = \"maybe\"",
    ] {
        let err = parse(&with(bad)).unwrap_err().to_string();
        assert!(err.contains("limits."), "{bad}: {err}");
        assert!(!err.contains("secret"), "{err}");
    }
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = GOOD.replace("[models]\n", "[models]\nrepositry = \"x\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("palisade.toml:"), "{err}");
    assert!(err.contains("repositry"), "{err}");
    let line = GOOD.lines().position(|l| l == "[models]").unwrap() + 2;
    assert!(err.contains(&format!(":{line}:")), "{err}");
}

#[test]
fn plaintext_refused_off_loopback_and_warned_on_it() {
    let text = GOOD.replace(
        "[data_plane]\nlisten = \"127.0.0.1:8443\"\n[data_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
        "[data_plane]\nlisten = \"0.0.0.0:8080\"\ndangerous_plaintext = true\n",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("data_plane.dangerous_plaintext") && err.contains("non-loopback"),
        "{err}"
    );

    let text = text.replace("0.0.0.0:8080", "127.0.0.1:8080");
    let (c, findings) = parse(&text).unwrap();
    assert!(c.data_plane.dangerous_plaintext && c.data_plane.tls.is_none());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(findings[0].line.is_some());
}

#[test]
fn tls_is_required_without_the_dangerous_opt_in() {
    let text = GOOD.replace(
        "[admin_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\nclient_ca = \"tls/ca.pem\"\n",
        "",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("`admin_plane`") && err.contains("tls"),
        "{err}"
    );
}

#[test]
fn unknown_action_and_bad_limits_are_explained() {
    let err = parse(&GOOD.replace("\"read_metadata\"", "\"predict\""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("roles.client.grants") && err.contains("'predict'") && err.contains("infer"),
        "{err}"
    );

    let err = parse(&format!("{GOOD}\n[limits]\nmax_json_depth = 1000\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits.max_json_depth"), "{err}");
    let err = parse(&format!("{GOOD}\n[limits]\nrequest_timeout = \"soon\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("limits.request_timeout") && err.contains("5s"),
        "{err}"
    );
}

#[test]
fn same_port_for_both_planes_is_refused() {
    let err = parse(&GOOD.replace("127.0.0.1:9443", "127.0.0.1:8443"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("admin_plane.listen"), "{err}");
}

#[test]
fn audit_durability_capture_and_signing_key_are_checked() {
    let with = |audit: &str| GOOD.replace("[audit]\n", &format!("[audit]\n{audit}\n"));
    let (c, findings) = parse(GOOD).unwrap();
    assert_eq!(c.audit.durability, Durability::PerCall);
    assert!(c.audit.capture.is_none());
    assert_eq!(
        c.audit.signing_key,
        Path::new("/etc/palisade/audit-signing.key")
    );
    assert!(findings.iter().all(|f| !f.key.starts_with("audit")));
    let (c, findings) = parse(&with(
        "durability = \"interval\"\nfsync_interval = \"50ms\"",
    ))
    .unwrap();
    assert_eq!(
        c.audit.durability,
        Durability::Interval(Duration::from_millis(50))
    );
    assert!(findings.iter().any(|f| f.key == "audit.durability"));
    let (c, findings) = parse(&with(
        "capture_payloads = true\ncapture_key = \"keys/capture.key\"",
    ))
    .unwrap();
    assert_eq!(
        c.audit.capture.unwrap().key_file,
        Path::new("/etc/palisade/keys/capture.key")
    );
    assert!(findings.iter().any(|f| f.key == "audit.capture_payloads"));
    for (bad, key) in [
        ("durability = \"sometimes\"", "audit.durability"),
        ("capture_payloads = true", "audit.capture_key"),
        (
            "capture_payloads = true\ncapture_key = \"k\"\ncapture_max_bytes = 100000",
            "audit.capture_max_bytes",
        ),
        ("segment_max_bytes = 10", "audit.segment_max_bytes"),
        ("checkpoint_every = 0", "audit.checkpoint_every"),
    ] {
        let err = parse(&with(bad)).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
    // A witness inside the folder would be rolled back with it.
    let inside = GOOD.replace(
        "witness_file = \"/var/lib/palisade-witness/checkpoints.jsonl\"",
        "dir = \"/var/log/pal\"\nwitness_file = \"/var/log/pal/w.jsonl\"",
    );
    let err = parse(&inside).unwrap_err().to_string();
    assert!(err.contains("audit.witness_file"), "{err}");
    // Without a witness file a rollback of the folder goes unnoticed: warned about.
    let no_witness = GOOD.replace(
        "witness_file = \"/var/lib/palisade-witness/checkpoints.jsonl\"\n",
        "",
    );
    let (c, findings) = parse(&no_witness).unwrap();
    assert!(c.audit.witness_file.is_none());
    assert!(
        findings.iter().any(|f| f.key == "audit.witness_file"),
        "{findings:?}"
    );
}

#[test]
fn detectors_and_webhooks_are_checked() {
    let with = |detect: &str| format!("{GOOD}\n[detect]\n{detect}\n");
    let (c, findings) = parse(GOOD).unwrap();
    assert!(c.detect.enabled && !c.detect.auto_block);
    assert!(findings.iter().all(|f| !f.key.starts_with("detect")));
    let (c, findings) = parse(&with(
        "auto_block = true\n[[detect.webhooks]]\nurl = \"https://alerts.example/x\"\nsecret_file = \"keys/hook\"",
    ))
    .unwrap();
    assert_eq!(
        c.detect.webhooks[0].secret_file,
        Path::new("/etc/palisade/keys/hook")
    );
    assert!(findings.iter().any(|f| f.key == "detect.auto_block"));
    for (bad, key) in [
        (
            "[[detect.webhooks]]\nurl = \"http://alerts.example/x\"\nsecret_file = \"k\"",
            "detect.webhooks[0].url",
        ),
        ("ewma_alpha = 1.5", "detect.ewma_alpha"),
        ("bucket = \"10ms\"", "detect.bucket"),
        ("rate_z_threshold = -1.0", "detect.rate_z_threshold"),
    ] {
        let err = parse(&with(bad)).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
    let (_, findings) = parse(&with(
        "[[detect.webhooks]]\nurl = \"http://127.0.0.1:9/x\"\nsecret_file = \"k\"\ndangerous_plaintext = true",
    ))
    .unwrap();
    assert!(findings
        .iter()
        .any(|f| f.key.contains("dangerous_plaintext")));
}

#[test]
fn model_supply_chain_rules_are_checked() {
    let unsigned = GOOD.replace("require_signature = true\n", "");
    let (_, findings) = parse(&unsigned).unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].key, "models.require_signature");

    let no_keys = GOOD.replace("trusted_keys = [\"keys/model-signing.pub\"]\n", "");
    let err = parse(&no_keys).unwrap_err().to_string();
    assert!(err.contains("models.trusted_keys"), "{err}");

    let sealed = GOOD.replace(
        "require_signature = true\n",
        "require_signature = true\nencryption = \"required\"\n",
    );
    let err = parse(&sealed).unwrap_err().to_string();
    assert!(err.contains("models.kek"), "{err}");
    let (c, _) = parse(&sealed.replace(
        "encryption =",
        "kek = \"file:keys/model.kek\"\nencryption =",
    ))
    .unwrap();
    assert!(c.models.require_encryption);
    assert_eq!(
        c.models.kek.as_deref(),
        Some("file:/etc/palisade/keys/model.kek")
    );
    assert_eq!(
        c.models.trusted_keys,
        [Path::new("/etc/palisade/keys/model-signing.pub")]
    );

    let bad_kek = GOOD.replace(
        "require_signature = true\n",
        "require_signature = true\nkek = \"keys/model.kek\"\n",
    );
    let err = parse(&bad_kek).unwrap_err().to_string();
    assert!(
        err.contains("models.kek") && err.contains("file:PATH"),
        "{err}"
    );
    let bad = GOOD.replace(
        "require_signature = true\n",
        "require_signature = true\nencryption = \"maybe\"\n",
    );
    assert!(parse(&bad)
        .unwrap_err()
        .to_string()
        .contains("models.encryption"));
}

#[test]
fn secrets_written_inline_are_never_echoed() {
    let kek = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let text = GOOD.replace("[models]\n", &format!("[models]\nkek = \"{kek}\"\n"));
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("models.kek") && err.contains("file:PATH"),
        "{err}"
    );
    assert!(!err.contains(kek), "{err}");

    let hook = "http://hooks.example/services/T0001/B0002/XyZsecretPart42";
    for (table, secret) in [
        (
            format!("[detect]\n[[detect.webhooks]]\nurl = \"{hook}\"\nsecret_file = \"k\""),
            "XyZsecretPart42",
        ),
        (
            "[limits]\nbackend = \"redis\"\nredis_url = \"http://user:hunter2@cache:6379\"".into(),
            "hunter2",
        ),
        (
            "[traces]\notlp_endpoint = \"http://collector:4318/v1/traces?api-key=abc123secret\""
                .into(),
            "abc123secret",
        ),
    ] {
        let err = parse(&format!("{GOOD}\n{table}\n"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(err.contains("is not"), "{err}");
    }
    // The warning for an allowed plaintext webhook names the host, not the path.
    let (_, warnings) = parse(&format!(
        "{GOOD}\n[detect]\n[[detect.webhooks]]\nurl = \"http://127.0.0.1:9/hook/s3cr3tPath\"\nsecret_file = \"k\"\ndangerous_plaintext = true\n"
    ))
    .unwrap();
    let text: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
    assert!(
        text.iter().any(|w| w.contains("127.0.0.1:9"))
            && !text.iter().any(|w| w.contains("s3cr3t")),
        "{text:?}"
    );
}

#[test]
fn the_inference_pool_has_bounds_and_sane_defaults() {
    let pool = |extra: &str| {
        parse(&GOOD.replace(
            "require_signature = true\n",
            &format!("require_signature = true\n{extra}\n"),
        ))
    };
    let (c, _) = pool("").unwrap();
    assert!(c.models.pool.threads >= 1);
    assert_eq!(c.models.pool.queue, 64);
    assert_eq!(c.models.pool.per_model, (c.models.pool.threads + 64) / 2);
    assert_eq!(
        c.models.pool.offload_above,
        std::time::Duration::from_millis(1)
    );
    let (c, _) =
        pool("pool = { threads = 3, queue = 0, per_model = 1, offload_above = \"20ms\" }").unwrap();
    assert_eq!(
        (
            c.models.pool.threads,
            c.models.pool.queue,
            c.models.pool.per_model
        ),
        (3, 0, 1)
    );
    for (bad, key) in [
        ("pool = { threads = 0 }", "models.pool.threads"),
        (
            "pool = { threads = 2, queue = 2, per_model = 5 }",
            "models.pool.per_model",
        ),
        (
            "pool = { offload_above = \"soon\" }",
            "models.pool.offload_above",
        ),
        ("pool = { thread = 2 }", "thread"),
    ] {
        let e = pool(bad).err().unwrap().to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
}
