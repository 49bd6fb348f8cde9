//! Running the server from the command line: logging, signals, and the ready line.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use palisade_config::{Config, Finding};
use palisade_gate::Server;

use crate::LogFormat;

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

pub fn print_findings(findings: &[Finding]) {
    for f in findings {
        match f.severity {
            palisade_config::Severity::Warning => {
                tracing::warn!(key = %f.key, line = ?f.line, "{}", f.message)
            }
            palisade_config::Severity::Error => {
                tracing::error!(key = %f.key, line = ?f.line, "{}", f.message)
            }
        }
    }
}

/// Checks beyond the file itself: do the files it names exist and make sense?
pub fn check_references(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, l) in [
        ("data_plane", &config.data_plane),
        ("admin_plane", &config.admin_plane),
    ] {
        if let Some(tls) = &l.tls {
            if let Err(e) = palisade_gate::tls::server_config(tls) {
                out.push(Finding::error(&format!("{name}.tls"), e.to_string()));
            } else if palisade_files::readable_by_others(&tls.key) {
                out.push(Finding::warning(
                    &format!("{name}.tls.key"),
                    format!(
                        "{} is readable by group or others; chmod 600 it",
                        tls.key.display()
                    ),
                ));
            }
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
    // Models go through the same pipeline as at start: decrypt, verify, scan, plan.
    let policy = match palisade_gate::supply_chain::load_policy(&config.models) {
        Ok(p) => Some(p),
        Err(e) => {
            out.push(Finding::error("models", e.to_string()));
            None
        }
    };
    let repo =
        palisade_model::Repository::new(&config.models.repository, config.models.max_model_bytes)
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
    if let Err(e) = palisade_gate::pii::PiiGuard::compile(&config.pii) {
        out.push(Finding::error("pii", e));
    }
    if let Err(e) = palisade_gate::keys::KeyStore::open(&config.identity.keys_file) {
        out.push(Finding::error("identity.keys_file", e.to_string()));
    }
    if let Err(e) = palisade_gate::policy::PolicyStore::load(config) {
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

pub fn serve(config: Config, demo_dir: Option<&Path>) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = Server::start(config).await?;
        // Stdout may be closed by whoever started us: keep serving even if these writes fail.
        let mut out = std::io::stdout().lock();
        let mut ready = server.ready_line();
        if let Some(dir) = demo_dir {
            ready["curl"] = crate::demo::curl_line(dir, &server).into();
        }
        let _ = writeln!(out, "{ready}").and_then(|()| out.flush());
        if let Some(dir) = demo_dir {
            let _ =
                writeln!(out, "{}", crate::demo::banner(dir, &server)).and_then(|()| out.flush());
        }
        drop(out);
        wait_for_signals(&server).await;
        tracing::info!("shutting down: finishing calls in flight");
        server.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(unix)]
async fn wait_for_signals(server: &Server) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => server.reload().await,
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_: &Server) {
    let _ = tokio::signal::ctrl_c().await;
}
