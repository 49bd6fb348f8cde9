//! `palisade demo`: a complete, safe deployment in one folder. The first run creates it;
//! later runs reuse it (keys and the audit log survive restarts).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_access::keys::KeyStore;
use palisade_config::Config;
use palisade_files::{create_private, create_private_dir};
use palisade_gate::Server;

/// The bundled demo models, as committed under `models/` (made by
/// `scripts/make_demo_models.py`, self-test vectors by `scripts/make_selftest.py`):
/// (name, manifest, [(version, model.onnx, selftest.json)]).
type DemoModel = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static [u8], &'static [u8])],
);

const MODELS: [DemoModel; 3] = [
    (
        "iris",
        include_str!("../../../models/iris/model.toml"),
        &[
            (
                "1",
                include_bytes!("../../../models/iris/1/model.onnx"),
                include_bytes!("../../../models/iris/1/selftest.json"),
            ),
            (
                "2",
                include_bytes!("../../../models/iris/2/model.onnx"),
                include_bytes!("../../../models/iris/2/selftest.json"),
            ),
        ],
    ),
    (
        "diabetes",
        include_str!("../../../models/diabetes/model.toml"),
        &[(
            "1",
            include_bytes!("../../../models/diabetes/1/model.onnx"),
            include_bytes!("../../../models/diabetes/1/selftest.json"),
        )],
    ),
    (
        "breast-cancer",
        include_str!("../../../models/breast-cancer/model.toml"),
        &[(
            "1",
            include_bytes!("../../../models/breast-cancer/1/model.onnx"),
            include_bytes!("../../../models/breast-cancer/1/selftest.json"),
        )],
    ),
];

const CONFIG: &str = r#"# Palisade demo configuration, written by `palisade demo` on its first run.
# Paths are relative to this file. `palisade config check palisade.toml` validates it.

# The data plane: Open Inference Protocol (V2) REST, health, metadata and inference only.
[data_plane]
listen = "127.0.0.1:8443"

[data_plane.tls]
cert = "tls/server.pem"
key = "tls/server.key"
# client_ca = "tls/ca.pem"     # CA that client certificates (mTLS) must chain to, and
# client_auth = "optional"     # "required", "optional" (default with client_ca) or "off"
# allow_tls12 = false          # TLS 1.3 only unless set

# The admin plane: keys, policies, model lifecycle, /metrics. Its own port, loopback only.
# Client certificates from the CA are checked here; tls/admin.pem is the demo's admin
# certificate (role admin on its own). The demo also lets the admin token in without one:
# delete the client_auth line to get the default, "required" (no certificate, no connection).
[admin_plane]
listen = "127.0.0.1:9443"

[admin_plane.tls]
cert = "tls/server.pem"
key = "tls/server.key"
client_ca = "tls/ca.pem"
client_auth = "optional"

# Every version is read, decrypted (in memory), verified, scanned, then planned; see
# `palisade models --help`. The demo signs every version and seals `diabetes`.
[models]
repository = "models"
load = ["*"]                   # models loaded at start (names or globs)
trusted_keys = ["keys/model-signing.pub"]  # signers whose model.sig is accepted
require_signature = true       # an unsigned version is refused (also: require_signature_for_risk)
kek = "file:keys/model.kek"    # unwraps the data keys of sealed versions (or "env:NAME")
encryption_required_for = ["diabetes"]  # these must be sealed (encryption = "required": all)

[identity]
keys_file = "keys/keys.json"   # API keys, stored as SHA-256 hashes only
failed_auth_limit = 10         # this many failed logins per address or key id in a minute
block_base = "1s"              # block it for 1 s, doubling per repeat,
block_max = "15m"              # up to 15 minutes

# Client certificates name workloads by SPIFFE ID; map them to roles. The demo's admin
# certificate (tls/admin.pem) is spiffe://palisade.dev/admin.
[identity.mtls]
trust_domains = ["palisade.dev"]
roles = { "spiffe://palisade.dev/admin" = ["admin"] }

# OIDC issuers: bearer JWTs verified against the issuer's JWKS (see the README).
# [[identity.jwt]]
# issuer = "https://idp.example.com/realms/prod"
# audiences = ["palisade"]
# jwks_url = "https://idp.example.com/realms/prod/protocol/openid-connect/certs"
# roles_claims = ["realm_access.roles"]

# Cedar policies next to the role table below; validated at start and on every reload
# (kill -HUP, or POST /admin/policies/reload). More examples: examples/policies/.
[policies]
dir = "policies"

# Roles: deny by default. A key with role `client` may read metadata of and infer on the
# demo models only; `admin` may do everything, on both planes. The table compiles to Cedar.
[roles.client]
grants = [{ actions = ["infer", "read_metadata"], models = ["iris", "diabetes", "breast-cancer"] }]

[roles.admin]
grants = [{ actions = ["*"], models = ["*"] }]

[limits]
max_body_bytes = 8388608       # 413 above this
max_tensor_elements = 1048576  # per request, 413 above this
max_json_depth = 16            # 400 above this
max_header_bytes = 16384       # 431 above this
header_read_timeout = "5s"     # connection closed if headers take longer
request_timeout = "30s"        # 408 after this
max_connections = 1024         # 503 above this
# Share rate and budget counters between replicas through Redis (atomic Lua scripts):
# backend = "redis"
# redis_url = "redis://127.0.0.1:6379/0"   # password, if any, in redis_password_file
# on_backend_error = { rates = "local", budgets = "deny" }   # while Redis is unreachable

# Rates (GCRA: "N/s", "N/m", "N/h", "N/d", bursts up to N) and query budgets: 429 with
# Retry-After past them. Off in the demo so the benchmark measures the server, not the brake.
[rate_limits]
# global = "5000/s"
# per_principal = "500/s"
# per_model = "2000/s"
# per_principal_model = "200/s"
# max_concurrent_per_principal = 64
# daily_budget_per_principal_model = 100000     # calls per calendar day (UTC)
# monthly_budget_per_principal_model = 2000000  # calls per calendar month (UTC)

[audit]
# An append-only Merkle tree (RFC 6962) of one JSON entry per call, in rotating segments,
# with Ed25519-signed checkpoints (C2SP tlog-checkpoint). Check it offline:
#   palisade audit verify <state dir> --pubkey <a copy of audit/log.pub kept elsewhere>
dir = "audit"
signing_key = "keys/audit-signing.key" # made (0600) on first start if missing
durability = "per_call"        # the answer waits until its entry is on disk (batched)
# durability = "interval"      # faster, but a crash can lose up to fsync_interval of entries
# fsync_interval = "100ms"
segment_max_bytes = 67108864   # rotate segments at 64 MiB ...
segment_max_age = "24h"        # ... or daily
checkpoint_every = 10000       # sign a checkpoint every 10,000 entries ...
checkpoint_interval = "10s"    # ... or every 10 s when the log grew, and at rotation and stop
# Every signed checkpoint is also appended here, outside the audit folder, so that a folder
# rolled back to an older checkpoint is caught (`audit verify --witness`). In production,
# point it at another machine's mount or a write-once bucket.
witness_file = "witness/audit-checkpoints.jsonl"
# capture_payloads = true      # seal request/response bodies into entries (AES-256-GCM)
# capture_key = "keys/capture.key"   # 32 random bytes: openssl rand -hex 32 > keys/capture.key

[detect]
# Detectors over the call stream; alerts go to the log, palisade_alerts_total and webhooks.
enabled = true
auth_failure_threshold = 20    # failed logins from one address within auth_failure_window
enumeration_models = 10        # distinct models one caller touches within enumeration_window
auto_block = false             # true: refuse the caller of a brute-force, enumeration or
block_for = "15m"              #   rate alert for block_for (audited)
# [[detect.webhooks]]
# url = "https://alerts.example.com/palisade"   # JSON, signed: Palisade-Signature (HMAC-SHA256)
# secret_file = "keys/webhook.secret"
"#;

const REQUIRE_OWNER: &str = include_str!("../../../examples/policies/require-owner.cedar");

/// Create the demo folder if needed; returns the config path.
pub fn prepare(dir: &Path) -> Result<PathBuf> {
    let config_path = dir.join("palisade.toml");
    if config_path.exists() {
        tracing::info!(dir = %dir.display(), "reusing demo state");
        return Ok(config_path);
    }
    create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tls_dir = dir.join("tls");
    if !tls_dir.join("server.pem").exists() {
        let names: Vec<String> = palisade_gate::tls::LOCAL_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect();
        palisade_gate::tls::create_dev_pki(&tls_dir, &names)?;
    }
    create_private_dir(&dir.join("keys"))?;
    write_models(dir)?;
    palisade_gate::tls::issue_dev_client(&tls_dir, "admin", 365)?;
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    std::fs::write(policies.join("require-owner.cedar"), REQUIRE_OWNER)?;
    create_private_dir(&dir.join("audit"))?;
    let tmp_config = dir.join("palisade.toml.partial");
    std::fs::write(&tmp_config, CONFIG)?;
    let (config, _) = Config::load(&tmp_config)?;
    let store = KeyStore::open(&config.identity.keys_file)?;
    for role in ["admin", "client"] {
        let token_file = dir.join("keys").join(format!("{role}.token"));
        if token_file.exists() {
            continue;
        }
        let (_, token) = store.create(&format!("demo-{role}"), role, None)?;
        create_private(&token_file, token.as_bytes())
            .with_context(|| format!("writing {}", token_file.display()))?;
    }
    // Written last: its presence means the folder is complete.
    std::fs::rename(&tmp_config, &config_path)?;
    tracing::info!(dir = %dir.display(), "demo state created");
    Ok(config_path)
}

/// The bundled models, each version signed with a fresh demo key; `diabetes` (health data)
/// also sealed under a fresh key-encryption key, so the demo runs the whole load pipeline.
fn write_models(dir: &Path) -> Result<()> {
    use palisade_model::seal::{self, LocalKek};
    use palisade_model::signing::{self, SigningKey};

    let keys = dir.join("keys");
    let (private, public) = SigningKey::generate().map_err(anyhow::Error::msg)?;
    create_private(&keys.join("model-signing.key"), private.as_bytes())?;
    std::fs::write(keys.join("model-signing.pub"), public)?;
    let signer = SigningKey::read(&keys.join("model-signing.key"))?;
    let kek_text = LocalKek::generate_text()?;
    create_private(&keys.join("model.kek"), kek_text.as_bytes())?;
    let kek = LocalKek::load(&seal::KekSource::File(keys.join("model.kek")))?;

    for (name, manifest, versions) in MODELS {
        let model_dir = dir.join("models").join(name);
        for (version, onnx, selftest) in versions {
            let version_dir = model_dir.join(version);
            let staging = if name == "diabetes" {
                dir.join("models")
                    .join(format!(".staging-{name}-{version}"))
            } else {
                version_dir.clone()
            };
            std::fs::create_dir_all(&staging)
                .with_context(|| format!("creating {}", staging.display()))?;
            std::fs::write(staging.join("model.onnx"), onnx)?;
            std::fs::write(
                staging.join(palisade_model::selftest::SELFTEST_FILE),
                selftest,
            )?;
            let mut digests = signing::digest_dir(&staging)?;
            // The signature covers the manifest's governance fields too (risk, owner, ...).
            let parsed = palisade_model::Manifest::parse(manifest).map_err(anyhow::Error::msg)?;
            digests.insert(
                signing::GOVERNANCE_RESOURCE.to_string(),
                parsed.governance_digest(),
            );
            let bundle = signing::sign(&format!("{name}@{version}"), &digests, &signer);
            std::fs::write(staging.join(signing::SIGNATURE_FILE), bundle)?;
            if staging != version_dir {
                seal::seal_version(
                    &staging,
                    &version_dir,
                    name,
                    version,
                    &kek,
                    seal::DEFAULT_CHUNK,
                )?;
                std::fs::remove_dir_all(&staging)?;
            }
        }
        std::fs::write(model_dir.join("model.toml"), manifest)?;
    }
    Ok(())
}

/// What to paste to call the demo.
pub fn banner(dir: &Path, server: &Server) -> String {
    let d = dir.display();
    let port = server.data_addr.port();
    format!(
        r#"
Palisade demo is serving the models iris, diabetes and breast-cancer.
  data plane:  https://localhost:{port}   admin plane: https://localhost:{admin}
  every call is recorded in the signed Merkle log {d}/audit/
    check it against what was published outside the folder (save the key once, elsewhere):
               cp {d}/audit/log.pub ~/palisade-audit.pub
               palisade audit verify {d} --pubkey ~/palisade-audit.pub --witness {d}/witness/audit-checkpoints.jsonl
    prove one: palisade audit prove {d} --index 0 > proof.json
               palisade audit check-proof proof.json --pubkey ~/palisade-audit.pub

Call it with curl:
  {curl}

On the admin plane the admin client certificate (mTLS) is a credential of its own:
  curl --cacert {d}/tls/ca.pem --cert {d}/tls/admin.pem --key {d}/tls/admin.key https://localhost:{admin}/admin/models

Or with tritonclient (pip install 'tritonclient[http]' numpy):
  import numpy as np, tritonclient.http as httpclient
  token = open("{d}/keys/client.token").read().strip()
  client = httpclient.InferenceServerClient("localhost:{port}", ssl=True, ssl_options={{"ca_certs": "{d}/tls/ca.pem"}})
  x = httpclient.InferInput("input", [1, 4], "FP32")
  x.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32))
  result = client.infer("iris", [x], headers={{"Authorization": f"Bearer {{token}}"}})
  print(result.as_numpy("label"), result.as_numpy("probabilities"))

Ctrl-C stops the server."#,
        admin = server.admin_addr.port(),
        curl = curl_line(dir, server),
    )
}

/// A ready-to-paste curl call of the iris model with the client key.
pub fn curl_line(dir: &Path, server: &Server) -> String {
    let d = dir.display();
    format!(
        r#"curl --cacert {d}/tls/ca.pem -H "Authorization: Bearer $(cat {d}/keys/client.token)" -H 'Content-Type: application/json' -d '{{"inputs":[{{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}}]}}' https://localhost:{}/v2/models/iris/infer"#,
        server.data_addr.port()
    )
}
