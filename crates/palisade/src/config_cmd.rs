//! `palisade check` / `palisade config check`, and which config a command reads.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Subcommand;
use palisade_config::{Config, Severity};

/// Which config a command reads: `--config FILE`, or the `palisade.toml` of a state folder
/// (`--state-dir`, default `./palisade-demo`, the demo's).
#[derive(clap::Args)]
pub struct ConfigArg {
    /// The server's config file.
    #[arg(long, conflicts_with = "state_dir")]
    config: Option<PathBuf>,
    /// A state folder made by `palisade demo` (default ./palisade-demo).
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

impl ConfigArg {
    pub fn path(&self) -> PathBuf {
        match (&self.config, &self.state_dir) {
            (Some(file), _) => file.clone(),
            (None, Some(dir)) => dir.join("palisade.toml"),
            (None, None) => PathBuf::from("palisade-demo/palisade.toml"),
        }
    }
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a config file: syntax, values, referenced files, dangerous options.
    Check {
        file: Option<PathBuf>,
        /// The same file, as a flag.
        #[arg(long, conflicts_with = "file")]
        config: Option<PathBuf>,
    },
}

/// `palisade check FILE`: the file itself, then everything it refers to, as `serve` would
/// find it ([`palisade_gate::preflight`]), models included.
pub fn check(file: Option<PathBuf>) -> Result<ExitCode> {
    let Some(file) = file else {
        bail!("name the config to check: `palisade config check FILE`");
    };
    let file = file.as_path();
    let (config, findings) = match Config::load(file) {
        Ok(ok) => ok,
        Err(e) => {
            println!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut problems = findings;
    problems.extend(palisade_gate::preflight::preflight(&config));
    problems.extend(palisade_gate::preflight::models(&config));
    for f in &problems {
        println!("{}: {f}", file.display());
    }
    if !config.models.require_signature_for_risk.is_empty() {
        println!(
            "{}: note: `models.require_signature_for_risk` trusts a model's risk only from `models.risk` (pinned here) or from a model.toml its signature covers (`palisade models sign` covers it); an unsigned model whose risk is not pinned counts as high",
            file.display()
        );
    }
    let errors = problems
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    println!(
        "{}: {errors} error(s), {warnings} warning(s)",
        file.display()
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
