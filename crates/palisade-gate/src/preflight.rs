//! Preflight: what can be checked of a config before anything is served. `palisade check`
//! runs [`preflight`] and [`models`]; `palisade serve` logs [`warnings`] and lets
//! `Server::start` build (and refuse) the rest, so the linter and the server never disagree
//! about a referenced file and nothing is built twice at start-up.

use palisade_config::{Config, Finding};

/// Checks of what the config refers to (TLS keys, key and policy files, JWT issuers, PII
/// keys) and the hazards of [`warnings`], for `palisade check`.
pub fn preflight(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, l) in [
        ("data_plane", &config.data_plane),
        ("admin_plane", &config.admin_plane),
    ] {
        if let Some(Err(e)) = l.tls.as_ref().map(crate::tls::server_config) {
            out.push(Finding::error(&format!("{name}.tls"), e.to_string()));
        }
    }
    if let Err(e) = crate::pii::PiiGuard::compile(&config.pii) {
        out.push(Finding::error("pii", e));
    }
    if let Err(e) = palisade_access::keys::KeyStore::open(&config.identity.keys_file) {
        out.push(Finding::error("identity.keys_file", e.to_string()));
    }
    if let Err(e) = palisade_access::policy::PolicyStore::load(config) {
        out.push(Finding::error("policies.dir", e.to_string()));
    }
    for (i, issuer) in config.identity.jwt.iter().enumerate() {
        use palisade_config::JwtKeys;
        let file = match &issuer.keys {
            JwtKeys::File(f) | JwtKeys::HmacSecretFile(f) => Some(f),
            JwtKeys::Url { ca, .. } => ca.as_ref(),
        };
        if let Some(f) = file.filter(|f| !f.is_file()) {
            out.push(Finding::error(
                "identity.jwt",
                format!("issuer {}: {} does not exist", i + 1, f.display()),
            ));
        }
    }
    out.extend(warnings(config));
    out
}

/// What the server would run with but should not: secrets readable by others, budgets that
/// fall back to per-replica counters. `serve` logs these before it starts; what would stop
/// it (a TLS key that does not load, a bad policy), `Server::start` reports itself, so it
/// is not built twice at start-up.
pub fn warnings(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, l) in [
        ("data_plane", &config.data_plane),
        ("admin_plane", &config.admin_plane),
    ] {
        if let Some(tls) = l
            .tls
            .as_ref()
            .filter(|t| palisade_files::readable_by_others(&t.key))
        {
            out.push(Finding::warning(
                &format!("{name}.tls.key"),
                format!(
                    "{} is readable by group or others; chmod 600 it",
                    tls.key.display()
                ),
            ));
        }
    }
    if let Some(path) = config
        .models
        .kek
        .as_deref()
        .and_then(|k| k.strip_prefix("file:"))
    {
        if palisade_files::readable_by_others(std::path::Path::new(path)) {
            out.push(Finding::warning(
                "models.kek",
                format!("{path} is readable by group or others; chmod 600 it (it unlocks every sealed model)"),
            ));
        }
    }
    if config.limits.backend.on_error_budgets == palisade_config::rates::OnBackendError::Local
        && config.limits.backend.kind != palisade_config::rates::LimitsBackend::Local
    {
        out.push(Finding::warning(
            "limits.on_backend_error",
            "budgets fall back to local counters while Redis is unreachable: each replica may then spend the whole budget".into(),
        ));
    }
    out
}

/// Every model as the server would load it (decrypt, verify, scan, plan, self-test), without
/// serving it: `palisade check` runs it; `serve` loads the models itself.
pub fn models(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    // Models go through the same pipeline as at start: decrypt, verify, scan, plan.
    let policy = match crate::supply_chain::load_policy(&config.models) {
        Ok(p) => Some(p),
        Err(e) => {
            out.push(Finding::error("models", e.to_string()));
            None
        }
    };
    let repo = palisade_model::Repository::new(
        &config.models.repository,
        config.models.max_model_bytes,
        crate::operators::ONNX_ML,
    )
    .with_policy(policy.unwrap_or_default());
    match repo.model_names() {
        Err(e) => out.push(Finding::error("models.repository", e.to_string())),
        Ok(names) => {
            for name in names {
                if let Err(e) = repo.load(&name) {
                    out.push(Finding::error(
                        "models.repository",
                        format!("model '{name}' would be refused ({}): {e}", e.reason()),
                    ));
                }
                out.extend(versions_without_selftest(&repo, &name));
            }
        }
    }
    out
}

/// A warning per version that carries no self-test vectors: nothing would notice at load if
/// its answers changed (a runtime bug, weights altered and re-pinned).
fn versions_without_selftest(repo: &palisade_model::Repository, model: &str) -> Vec<Finding> {
    use palisade_model::selftest::SELFTEST_FILE;
    let Ok(manifest) = repo.manifest(model) else {
        return Vec::new();
    };
    manifest
        .versions
        .iter()
        .filter(|(version, entry)| {
            let dir = repo.root().join(model).join(version);
            entry.selftest_sha256.is_none()
                && !dir.join(SELFTEST_FILE).is_file()
                && !dir.join(format!("{SELFTEST_FILE}{}", palisade_model::seal::SEALED_SUFFIX)).is_file()
        })
        .map(|(version, _)| {
            Finding::warning(
                "models.repository",
                format!("{model}@{version} has no self-test vectors: a changed answer would go unnoticed at load; record a reference run with `palisade models pin {}/{model}/{version} --selftest REF.json`", repo.root().display()),
            )
        })
        .collect()
}
