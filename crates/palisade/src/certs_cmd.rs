//! `palisade dev-certs`: a development CA, server certificate and client certificates.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

pub fn run(out: &Path, names: Vec<String>, client: Option<String>, days: i64) -> Result<ExitCode> {
    match client {
        Some(name) => {
            let (cert, key) = palisade_gate::tls::issue_dev_client(out, &name, days)?;
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
            let pki = palisade_gate::tls::create_dev_pki(out, &all)?;
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
