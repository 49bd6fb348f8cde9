//! `palisade`: the command line. Each subcommand is a thin shell over library code that the
//! server uses too, so what `config check` accepts is exactly what `serve` runs.
#![forbid(unsafe_code)]

mod audit_cmd;
mod certs_cmd;
mod config_cmd;
mod data_cmd;
mod demo;
mod keys_cmd;
mod model_versions;
mod models_cmd;
mod pii_cmd;
mod policies_cmd;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use audit_cmd::AuditCommand;
use clap::{Parser, Subcommand, ValueEnum};

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
        command: keys_cmd::KeysCommand,
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
        command: config_cmd::ConfigCommand,
    },
    /// Cedar policies: check the set a config would run, or print the schema.
    Policies {
        #[command(subcommand)]
        command: policies_cmd::PoliciesCommand,
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
        } => run::demo(&state_dir, port, admin_port),
        Command::Serve { config } => run::serve_file(&config),
        Command::Keys { command } => keys_cmd::run(command),
        Command::DevCerts {
            out,
            names,
            client,
            days,
        } => certs_cmd::run(&out, names, client, days),
        Command::Config {
            command: config_cmd::ConfigCommand::Check { file, config },
        }
        | Command::Check { file, config } => config_cmd::check(file.or(config)),
        Command::Audit { command } => audit_cmd::run(command),
        Command::Models { command } => models_cmd::run(command),
        Command::Pii { command } => pii_cmd::run(command),
        Command::Data { command } => data_cmd::run(command),
        Command::Policies { command } => policies_cmd::run(command),
    }
}
