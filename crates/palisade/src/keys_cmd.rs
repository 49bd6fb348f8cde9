//! `palisade keys create|list|revoke`: API keys in the key store the server reads.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use palisade_access::keys::{now_secs, KeyStore};
use palisade_config::Config;

use crate::config_cmd::ConfigArg;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints the token once on stdout.
    Create {
        #[command(flatten)]
        config: ConfigArg,
        /// A label for people reading `keys list` and the logs (default: the role).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        role: String,
        /// Lifetime, e.g. "30d" or "12h". Default: no expiry.
        #[arg(long, visible_alias = "expires", alias = "ttl")]
        expires_in: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        id: String,
    },
}

pub fn run(command: KeysCommand) -> Result<ExitCode> {
    let load = |arg: &ConfigArg| -> Result<(Config, KeyStore)> {
        let (config, _) = Config::load(&arg.path())?;
        let store = KeyStore::open(&config.identity.keys_file)?;
        Ok((config, store))
    };
    match command {
        KeysCommand::Create {
            config,
            name,
            role,
            expires_in,
        } => {
            let (config, store) = load(&config)?;
            let policies = palisade_access::policy::PolicyStore::load(&config)?.current();
            if !policies.knows_role(&role) {
                let known: Vec<&str> = policies.roles().collect();
                bail!(
                    "role '{role}' is used by no policy of {}; known roles: {}",
                    config.source.display(),
                    known.join(", ")
                );
            }
            let expires_at = expires_in
                .as_deref()
                .map(|text| palisade_access::keys::expiry_from(text, now_secs()))
                .transpose()
                .context("--expires-in")?;
            let name = name.unwrap_or_else(|| role.clone());
            let (record, token) = store.create(&name, &role, expires_at)?;
            eprintln!(
                "created key {} ({}, role {}); the token below is shown once:",
                record.id, record.name, record.role
            );
            println!("{token}");
        }
        KeysCommand::List { config } => {
            let (_, store) = load(&config)?;
            let now = now_secs();
            println!(
                "{:<16}  {:<20}  {:<12}  {:<8}  expires",
                "id", "name", "role", "status"
            );
            for k in store.list() {
                let expires = k.expires_at.map_or_else(
                    || "never".to_string(),
                    palisade_access::keys::format_unix_time,
                );
                println!(
                    "{:<16}  {:<20}  {:<12}  {:<8}  {expires}",
                    k.id,
                    k.name,
                    k.role,
                    k.status(now)
                );
            }
        }
        KeysCommand::Revoke { config, id } => {
            let (_, store) = load(&config)?;
            let record = store.revoke(&id)?;
            eprintln!("revoked key {} ({})", record.id, record.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
