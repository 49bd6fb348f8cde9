//! The one way the server makes outbound HTTPS calls (JWKS fetches, alert webhooks): rustls,
//! no redirects, bounded time, and an operator-named CA replacing the system roots.

use std::path::Path;
use std::time::Duration;

/// A client for one endpoint. With `ca`, only that CA is trusted; `https_only` is off only
/// for endpoints the operator marked `dangerous_plaintext`.
pub fn client(
    ca: Option<&Path>,
    timeout: Duration,
    https_only: bool,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(https_only)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout);
    if let Some(ca) = ca {
        let pem = palisade_files::read_limited(ca, 1 << 20)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.to_string())
}
