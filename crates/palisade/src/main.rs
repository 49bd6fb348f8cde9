//! `palisade`: the command line. Each subcommand is a thin shell over library code that the
//! server uses too, so what `config check` accepts is exactly what `serve` runs.
#![forbid(unsafe_code)]

mod audit_cmd;
mod data_cmd;
mod demo;
mod model_versions;
mod models_cmd;
mod pii_cmd;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use audit_cmd::AuditCommand;
use clap::{Parser, Subcommand, ValueEnum};
use palisade_config::{Config, Severity};
use palisade_gate::keys::{now_secs, KeyStore};

/// glibc's allocator spent ~15% of the served call's CPU (malloc, free and consolidation
/// under two threads; see docs/benchmarks.md); mimalloc's per-thread pages take most of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "A zero-trust model server: ONNX models over the Open Inference Protocol"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Create (on first run) and serve a demo: dev TLS, demo models, an admin and a client key.
    Demo {
        #[arg(long, default_value = "palisade-demo")]
        state_dir: PathBuf,
        /// Data plane port (0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// Admin plane port (0 picks a free one).
        #[arg(long)]
        admin_port: Option<u16>,
    },
    /// Serve with a config file.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage API keys (the server picks up changes within a second).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create a development CA and server certificate (never for production).
    DevCerts {
        /// Folder to write ca.pem, ca.key, server.pem, server.key into.
        #[arg(long, visible_alias = "dir", alias = "out-dir")]
        out: PathBuf,
        /// More names the server certificate covers (DNS names or IP addresses; repeatable),
        /// added to localhost, 127.0.0.1 and ::1, which it always covers.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Instead: issue a client certificate (for mTLS) from the CA already in --out, with
        /// the SPIFFE ID spiffe://palisade.dev/NAME.
        #[arg(long)]
        client: Option<String>,
        /// Validity of a client certificate in days (negative: already expired, for tests).
        #[arg(long, default_value_t = 90, allow_negative_numbers = true)]
        days: i64,
    },
    /// Check a config file (the same as `config check`).
    Check {
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        config: Option<PathBuf>,
    },
    /// Validate configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Cedar policies: check the set a config would run, or print the schema.
    Policies {
        #[command(subcommand)]
        command: PoliciesCommand,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Model supply chain: scan, seal, sign, verify, rotate the key-encryption key.
    Models {
        #[command(subcommand)]
        command: models_cmd::ModelsCommand,
    },
    /// Personal data in text, JSON Lines and CSV: scan, or write it minimized.
    Pii {
        #[command(subcommand)]
        command: pii_cmd::PiiCommand,
    },
    /// Datasets without the people in them: anonymize (k-anonymity, l-diversity) or
    /// synthesize (Gaussian copula, with fidelity and privacy reports).
    Data {
        #[command(subcommand)]
        command: data_cmd::DataCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
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

/// Which config a command reads: `--config FILE`, or the `palisade.toml` of a state folder
/// (`--state-dir`, default `./palisade-demo`, the demo's).
#[derive(clap::Args)]
struct ConfigArg {
    /// The server's config file.
    #[arg(long, conflicts_with = "state_dir")]
    config: Option<PathBuf>,
    /// A state folder made by `palisade demo` (default ./palisade-demo).
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

impl ConfigArg {
    fn path(&self) -> PathBuf {
        match (&self.config, &self.state_dir) {
            (Some(file), _) => file.clone(),
            (None, Some(dir)) => dir.join("palisade.toml"),
            (None, None) => PathBuf::from("palisade-demo/palisade.toml"),
        }
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config file: syntax, values, referenced files, dangerous options.
    Check {
        file: Option<PathBuf>,
        /// The same file, as a flag.
        #[arg(long, conflicts_with = "file")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PoliciesCommand {
    /// Compile and validate the role table and `[policies] dir` against the schema.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the Cedar schema policies are validated against.
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run::init_logging(cli.log_format);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Demo {
            state_dir,
            port,
            admin_port,
        } => {
            let config_path = demo::prepare(&state_dir)?;
            let (mut config, findings) = Config::load(&config_path).with_context(|| {
                format!(
                    "the demo state in {} does not load (made by an older palisade? remove the folder to recreate it)",
                    state_dir.display()
                )
            })?;
            run::print_findings(&findings);
            if let Some(p) = port {
                config.data_plane.listen.set_port(p);
            }
            if let Some(p) = admin_port {
                config.admin_plane.listen.set_port(p);
            }
            run::serve(config, Some(&state_dir))
        }
        Command::Serve { config } => {
            let (config, findings) = Config::load(&config)?;
            run::print_findings(&findings);
            run::serve(config, None)
        }
        Command::Keys { command } => keys(command),
        Command::DevCerts {
            out,
            names,
            client,
            days,
        } => {
            match client {
                Some(name) => {
                    let (cert, key) = palisade_gate::tls::issue_dev_client(&out, &name, days)?;
                    println!(
                        "client certificate: {}\nclient key:         {}",
                        cert.display(),
                        key.display()
                    );
                }
                None => {
                    let mut all: Vec<String> = palisade_gate::tls::LOCAL_NAMES
                        .iter()
                        .map(|n| n.to_string())
                        .collect();
                    for name in names {
                        if !all.contains(&name) {
                            all.push(name);
                        }
                    }
                    let pki = palisade_gate::tls::create_dev_pki(&out, &all)?;
                    println!(
                        "dev CA:      {}\nserver cert: {} (for {})\nserver key:  {}\n(development only: the CA key is in {})",
                        pki.ca_cert().display(),
                        pki.server_cert().display(),
                        all.join(", "),
                        pki.server_key().display(),
                        pki.ca_key().display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check { file, config },
        }
        | Command::Check { file, config } => match file.or(config) {
            Some(file) => config_check(&file),
            None => bail!("name the config to check: `palisade config check FILE`"),
        },
        Command::Audit { command } => audit_cmd::run(command),
        Command::Models { command } => models_cmd::run(command),
        Command::Pii { command } => pii_cmd::run(command),
        Command::Data { command } => data_cmd::run(command),
        Command::Policies {
            command: PoliciesCommand::Schema,
        } => {
            print!("{}", palisade_gate::policy::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
        Command::Policies {
            command: PoliciesCommand::Check { config },
        } => {
            let (config, _) = Config::load(&config.path())?;
            match palisade_gate::policy::PolicyStore::load(&config) {
                Ok(store) => {
                    let set = store.current();
                    println!(
                        "ok: {} policies: {}",
                        set.policy_ids().len(),
                        set.policy_ids().join(", ")
                    );
                    for open in set.open_permits() {
                        println!("warning: {open}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn keys(command: KeysCommand) -> Result<ExitCode> {
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
            let policies = palisade_gate::policy::PolicyStore::load(&config)?.current();
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
                .map(|text| palisade_gate::keys::expiry_from(text, now_secs()))
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
                    palisade_gate::keys::format_unix_time,
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

fn config_check(file: &std::path::Path) -> Result<ExitCode> {
    let (config, findings) = match Config::load(file) {
        Ok(ok) => ok,
        Err(e) => {
            println!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut problems = findings;
    problems.extend(run::check_references(&config));
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
