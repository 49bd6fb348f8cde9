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

/// `palisade demo`: make (or reuse) the demo state in `state_dir` and serve it.
pub fn demo(state_dir: &Path, port: Option<u16>, admin_port: Option<u16>) -> Result<ExitCode> {
    let config_path = crate::demo::prepare(state_dir)?;
    let (mut config, mut findings) = Config::load(&config_path).with_context(|| {
        format!(
            "the demo state in {} does not load (made by an older palisade? remove the folder to recreate it)",
            state_dir.display()
        )
    })?;
    findings.extend(palisade_gate::preflight::warnings(&config));
    print_findings(&findings);
    if let Some(p) = port {
        config.data_plane.listen.set_port(p);
    }
    if let Some(p) = admin_port {
        config.admin_plane.listen.set_port(p);
    }
    serve(config, Some(state_dir))
}

/// `palisade serve --config FILE`: the config, its findings and warnings logged, then the server.
pub fn serve_file(path: &Path) -> Result<ExitCode> {
    let (config, mut findings) = Config::load(path)?;
    findings.extend(palisade_gate::preflight::warnings(&config));
    print_findings(&findings);
    serve(config, None)
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
