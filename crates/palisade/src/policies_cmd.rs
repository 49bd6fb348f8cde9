//! `palisade policies check|schema`: the role table and Cedar policies, compiled as the
//! server compiles them.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use palisade_config::Config;

use crate::config_cmd::ConfigArg;

#[derive(Subcommand)]
pub enum PoliciesCommand {
    /// Compile and validate the role table and `[policies] dir` against the schema.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the Cedar schema policies are validated against.
    Schema,
}

pub fn run(command: PoliciesCommand) -> Result<ExitCode> {
    match command {
        PoliciesCommand::Schema => {
            print!("{}", palisade_access::policy::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
        PoliciesCommand::Check { config } => {
            let (config, _) = Config::load(&config.path())?;
            match palisade_access::policy::PolicyStore::load(&config) {
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
