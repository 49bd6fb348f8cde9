//! The one validated configuration of a Palisade server.
//!
//! `palisade serve` and `palisade config check` both go through [`Config::load`], so the
//! linter and the server can never disagree about what a file means. Parsing is strict:
//! unknown keys are errors, and every error names the file, the key and the line, and says
//! how to fix it. Secrets are never inline: the config only names files that hold them.
#![forbid(unsafe_code)]

mod access;
pub mod audit;
pub mod detect;
mod error;
mod findings;
pub mod identity;
pub mod models;
pub mod pii;
pub mod rates;
pub mod traces;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use access::{Action, Grant, RoleTable};
pub use error::ConfigError;
pub use findings::{Finding, Severity};
pub use identity::{JwtIssuer, JwtKeys, MtlsIdentity, PrincipalKind};

/// Largest config file read; a config is a few kilobytes, anything bigger is a mistake.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A parsed and validated configuration. Paths in it are absolute (resolved against the
/// directory of the config file).
#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub data_plane: Listener,
    pub admin_plane: Listener,
    pub models: Models,
    pub identity: Identity,
    pub roles: RoleTable,
    pub policies: Policies,
    pub limits: Limits,
    pub rate_limits: rates::RateLimits,
    pub audit: Audit,
    pub detect: detect::Detect,
    /// OpenTelemetry export, when `[traces] otlp_endpoint` is set.
    pub traces: Option<traces::Traces>,
    pub pii: pii::Pii,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// Plaintext HTTP, only ever on loopback. Loud by name, warned about at every start.
    pub dangerous_plaintext: bool,
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs (one PEM file, one or more certificates) that client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
    /// TLS 1.2 (ECDHE + AEAD suites only) next to 1.3. Off unless asked for.
    pub allow_tls12: bool,
}

/// Whether a listener asks for client certificates (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate, no connection.
    Required,
    /// A certificate, if presented, must verify; callers without one authenticate otherwise.
    Optional,
    Off,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub keys_file: PathBuf,
    pub backoff: AuthBackoff,
    pub anonymous: AnonymousLimits,
    pub jwt: Vec<JwtIssuer>,
    pub mtls: MtlsIdentity,
}

/// `[policies]`: Cedar files next to the role table, and the clock policies see.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Folder of `*.cedar` files, re-read on every reload.
    pub dir: Option<PathBuf>,
    /// Offset from UTC of `context.hour` and `context.weekday`, in minutes.
    pub utc_offset_minutes: i32,
}

/// Brute-force defence: failed authentications per source address and per key id within
/// `window`, past `limit`, block that source or key for `block_base`, doubling per repeat
/// up to `block_max`. Every failed authentication takes at least `failure_delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthBackoff {
    pub limit: u32,
    pub window: Duration,
    pub block_base: Duration,
    pub block_max: Duration,
    pub failure_delay: Duration,
}

/// Requests that present no credential at all (health probes aside): scanners and floods.
#[derive(Debug, Clone, Copy)]
pub struct AnonymousLimits {
    /// Per source address; over it, such requests get 429 without being routed.
    pub rate: rates::Rate,
    /// Refusals of unauthenticated requests recorded one by one per source and minute;
    /// the rest are counted into one summary entry per source.
    pub audited_per_minute: u32,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_tensor_elements: usize,
    pub max_json_depth: usize,
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// Where rate and budget counters live.
    pub backend: rates::Backend,
}

pub use audit::{Audit, Durability};
pub use models::Models;

impl Config {
    /// Read, parse and validate a config file. Warnings (dangerous options) come back too,
    /// so callers can print them; errors stop the load.
    pub fn load(path: &Path) -> Result<(Config, Vec<Finding>), ConfigError> {
        let source = read_limited(path)?;
        Self::parse(path, &source)
    }

    /// Parse config text as if it came from `path` (relative paths resolve against its folder).
    pub fn parse(path: &Path, source: &str) -> Result<(Config, Vec<Finding>), ConfigError> {
        let raw: raw::Config = toml::from_str(source).map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            line: e.span().map(|s| line_at(source, s.start)),
            message: e.message().to_string(),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut findings = Vec::new();
        let config = raw
            .validate(path, &base, &mut findings)
            .map_err(|f| ConfigError::invalid(path, source, f))?;
        for f in &mut findings {
            f.line = key_line(source, &f.key);
        }
        Ok((config, findings))
    }
}

fn read_limited(path: &Path) -> Result<String, ConfigError> {
    let io = |e: std::io::Error| ConfigError::Read {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::Read {
            file: path.to_path_buf(),
            message: format!(
                "file is {} bytes, over the {MAX_CONFIG_BYTES}-byte limit for a config",
                meta.len()
            ),
        });
    }
    std::fs::read_to_string(path).map_err(io)
}

/// 1-based line of a byte offset.
fn line_at(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// 1-based line where a dotted key (`data_plane.tls.cert`) is written, if it is.
pub(crate) fn key_line(source: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(source).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut span = None;
    for part in key.split('.') {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref() == part)?;
        span = Some(k.span());
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    span.map(|s| line_at(source, s.start))
}

/// A URL as it may appear in an error message or a warning: scheme and host only. Webhook
/// and collector URLs often carry their credential in the path or query (Slack's
/// `/services/T../B../<secret>`), and a user may have pasted a password into one.
pub(crate) fn url_origin(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.len() <= 16
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
        {
            (scheme, rest)
        }
        _ => return "the URL given".to_string(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let hidden = if rest.len() > authority.len() || authority.contains('@') {
        "/…"
    } else {
        ""
    };
    format!("'{scheme}://{host}{hidden}'")
}

/// A setting that names a key file must not hold the key itself: a value that looks like
/// key material (32+ hex or base64 characters, no path separator or extension) is refused,
/// without repeating it, so the key reaches neither the error nor a log line.
pub(crate) fn key_file(key: &str, value: &Path) -> Result<(), Finding> {
    let text = value.to_string_lossy();
    let keyish = text.len() >= 32
        && !text.contains(['/', '\\', '.'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'=' | b'-' | b'_'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if keyish {
        return Err(Finding::error(
            key,
            "holds what looks like the key itself, not the name of a file (the value is not repeated here); never write keys into the config: put the key in a file (mode 0600) and name the file here".into(),
        ));
    }
    Ok(())
}

fn parse_duration(key: &str, value: &str) -> Result<Duration, Finding> {
    humantime::parse_duration(value).map_err(|e| {
        Finding::error(
            key,
            format!("'{value}' is not a duration ({e}); write it like \"5s\", \"250ms\" or \"2m\""),
        )
    })
}

/// The file as written: every table and key optional except where noted, unknown keys refused.
mod raw {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        pub data_plane: Listener,
        pub admin_plane: Listener,
        pub models: crate::models::RawModels,
        #[serde(default)]
        pub identity: Identity,
        #[serde(default)]
        pub roles: BTreeMap<String, access::RawRole>,
        #[serde(default)]
        pub policies: Policies,
        #[serde(default)]
        pub limits: Limits,
        #[serde(default)]
        pub rate_limits: rates::RawRateLimits,
        #[serde(default)]
        pub audit: audit::RawAudit,
        #[serde(default)]
        pub detect: detect::RawDetect,
        #[serde(default)]
        pub traces: traces::RawTraces,
        #[serde(default)]
        pub pii: crate::pii::RawPii,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Listener {
        pub listen: String,
        pub tls: Option<Tls>,
        #[serde(default)]
        pub dangerous_plaintext: bool,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Tls {
        pub cert: PathBuf,
        pub key: PathBuf,
        pub client_ca: Option<PathBuf>,
        pub client_auth: Option<String>,
        #[serde(default)]
        pub allow_tls12: bool,
    }

    #[derive(Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Policies {
        pub dir: Option<PathBuf>,
        pub utc_offset: Option<String>,
    }

    impl Policies {
        fn validate(self, base: &Path) -> Result<super::Policies, Finding> {
            let utc_offset_minutes = match self.utc_offset {
                None => 0,
                Some(text) => parse_utc_offset(&text).ok_or_else(|| {
                    Finding::error(
                        "policies.utc_offset",
                        format!(
                            "'{text}' is not a UTC offset; write it like \"+01:00\" or \"-05:00\""
                        ),
                    )
                })?,
            };
            Ok(super::Policies {
                dir: self.dir.map(|d| base.join(d)),
                utc_offset_minutes,
            })
        }
    }

    fn parse_utc_offset(text: &str) -> Option<i32> {
        let (sign, rest) = match text.as_bytes().first()? {
            b'+' => (1, &text[1..]),
            b'-' => (-1, &text[1..]),
            _ => return None,
        };
        let (h, m) = rest.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[serde(default)]
    pub struct Identity {
        pub keys_file: PathBuf,
        pub failed_auth_limit: u32,
        pub failed_auth_window: String,
        pub block_base: String,
        pub block_max: String,
        pub failed_auth_delay: String,
        pub anonymous_limit: String,
        pub audited_anonymous_refusals: u32,
        pub jwt: Vec<identity::RawJwtIssuer>,
        pub mtls: identity::RawMtls,
    }

    impl Default for Identity {
        fn default() -> Self {
            Identity {
                keys_file: PathBuf::from("keys/keys.json"),
                failed_auth_limit: 10,
                failed_auth_window: "1m".into(),
                block_base: "1s".into(),
                block_max: "15m".into(),
                failed_auth_delay: "50ms".into(),
                anonymous_limit: "120/m".into(),
                audited_anonymous_refusals: 60,
                jwt: Vec::new(),
                mtls: identity::RawMtls::default(),
            }
        }
    }

    impl Identity {
        fn anonymous(&self) -> Result<super::AnonymousLimits, Finding> {
            let rate = rates::Rate::parse("identity.anonymous_limit", &self.anonymous_limit)?;
            if rate.count == 0 {
                return Err(Finding::error(
                    "identity.anonymous_limit",
                    "must allow at least one request; health probes are not counted".into(),
                ));
            }
            Ok(super::AnonymousLimits {
                rate,
                audited_per_minute: self.audited_anonymous_refusals,
            })
        }

        fn backoff(&self) -> Result<super::AuthBackoff, Finding> {
            let d = |key: &str, v: &str| parse_duration(&format!("identity.{key}"), v);
            let backoff = super::AuthBackoff {
                limit: self.failed_auth_limit,
                window: d("failed_auth_window", &self.failed_auth_window)?,
                block_base: d("block_base", &self.block_base)?,
                block_max: d("block_max", &self.block_max)?,
                failure_delay: d("failed_auth_delay", &self.failed_auth_delay)?,
            };
            if backoff.limit == 0 {
                return Err(Finding::error(
                    "identity.failed_auth_limit",
                    "must be at least 1".into(),
                ));
            }
            if backoff.block_max < backoff.block_base {
                return Err(Finding::error(
                    "identity.block_max",
                    "must be at least identity.block_base".into(),
                ));
            }
            if backoff.failure_delay > Duration::from_secs(5) {
                return Err(Finding::error(
                    "identity.failed_auth_delay",
                    "keep it under 5s".into(),
                ));
            }
            Ok(backoff)
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct Limits {
        pub max_body_bytes: usize,
        pub max_tensor_elements: usize,
        pub max_json_depth: usize,
        pub max_header_bytes: usize,
        pub header_read_timeout: String,
        pub request_timeout: String,
        pub max_connections: usize,
        pub backend: String,
        pub redis_url: Option<String>,
        pub redis_password_file: Option<PathBuf>,
        pub redis_timeout: String,
        pub redis_key_prefix: String,
        pub on_backend_error: Option<rates::RawOnBackendError>,
    }

    impl Default for Limits {
        fn default() -> Self {
            Limits {
                max_body_bytes: 8 << 20,
                max_tensor_elements: 1 << 20,
                max_json_depth: 16,
                max_header_bytes: 16 << 10,
                header_read_timeout: "5s".into(),
                request_timeout: "30s".into(),
                max_connections: 1024,
                backend: "local".into(),
                redis_url: None,
                redis_password_file: None,
                redis_timeout: "250ms".into(),
                redis_key_prefix: "palisade".into(),
                on_backend_error: None,
            }
        }
    }

    impl Config {
        pub fn validate(
            self,
            file: &Path,
            base: &Path,
            findings: &mut Vec<Finding>,
        ) -> Result<super::Config, Finding> {
            let data_plane = self.data_plane.validate("data_plane", base, findings)?;
            let admin_plane = self.admin_plane.validate("admin_plane", base, findings)?;
            if data_plane.listen.port() != 0 && data_plane.listen == admin_plane.listen {
                return Err(Finding::error(
                    "admin_plane.listen",
                    "the admin plane must have its own port; change admin_plane.listen".into(),
                ));
            }
            if !admin_plane.listen.ip().is_loopback() {
                findings.push(Finding::warning(
                    "admin_plane.listen",
                    format!(
                        "admin plane listens on {}, not loopback; keep it on an internal interface",
                        admin_plane.listen
                    ),
                ));
            }
            let roles = RoleTable::compile(self.roles)?;
            let limits = self.limits.validate(base)?;
            let policies = self.policies.validate(base)?;
            let backoff = self.identity.backoff()?;
            let anonymous = self.identity.anonymous()?;
            let jwt = self
                .identity
                .jwt
                .into_iter()
                .enumerate()
                .map(|(i, j)| j.validate(i, base))
                .collect::<Result<Vec<_>, _>>()?;
            let mtls = self.identity.mtls.validate()?;
            let audit = self.audit.validate(base, findings)?;
            let detect = self.detect.validate(base, findings)?;
            let traces = self.traces.validate(base, findings)?;
            let pii = self.pii.validate(base, findings)?;
            let models = self.models.validate(base, findings)?;
            Ok(super::Config {
                source: file.to_path_buf(),
                data_plane,
                admin_plane,
                models,
                identity: super::Identity {
                    backoff,
                    anonymous,
                    keys_file: base.join(self.identity.keys_file),
                    jwt,
                    mtls,
                },
                roles,
                policies,
                limits,
                rate_limits: self.rate_limits.validate()?,
                audit,
                detect,
                traces,
                pii,
            })
        }
    }

    impl Listener {
        fn validate(
            self,
            name: &str,
            base: &Path,
            findings: &mut Vec<Finding>,
        ) -> Result<super::Listener, Finding> {
            let listen: SocketAddr = self.listen.parse().map_err(|_| {
                Finding::error(
                    &format!("{name}.listen"),
                    format!("'{}' is not an address:port; write it like \"127.0.0.1:8443\" or \"[::1]:8443\"", self.listen),
                )
            })?;
            if self.dangerous_plaintext {
                if !listen.ip().is_loopback() {
                    return Err(Finding::error(
                        &format!("{name}.dangerous_plaintext"),
                        format!(
                            "plaintext is refused on non-loopback address {listen}; remove dangerous_plaintext and configure [{name}.tls]"
                        ),
                    ));
                }
                findings.push(Finding::warning(
                    &format!("{name}.dangerous_plaintext"),
                    format!("{name} serves plaintext HTTP on {listen}: credentials and payloads cross unencrypted"),
                ));
            }
            let tls = match (self.tls, self.dangerous_plaintext) {
                (Some(_), true) => {
                    return Err(Finding::error(
                        &format!("{name}.tls"),
                        format!("[{name}.tls] and {name}.dangerous_plaintext both set; keep one"),
                    ))
                }
                (None, false) => {
                    return Err(Finding::error(
                        name,
                        format!("[{name}.tls] with cert and key is required (plaintext needs dangerous_plaintext = true, on loopback only)"),
                    ))
                }
                (None, true) => None,
                (Some(t), false) => {
                    let key = format!("{name}.tls.client_auth");
                    let client_auth = match (t.client_auth.as_deref(), &t.client_ca, name) {
                        (Some("required"), _, _) => ClientAuth::Required,
                        (Some("optional"), _, _) => ClientAuth::Optional,
                        (Some("off"), _, _) => ClientAuth::Off,
                        (Some(other), _, _) => {
                            return Err(Finding::error(
                                &key,
                                format!("'{other}' is not one of \"required\", \"optional\", \"off\""),
                            ))
                        }
                        // The admin plane asks for a client certificate unless told otherwise.
                        (None, _, "admin_plane") => ClientAuth::Required,
                        (None, Some(_), _) => ClientAuth::Optional,
                        (None, None, _) => ClientAuth::Off,
                    };
                    if client_auth != ClientAuth::Off && t.client_ca.is_none() {
                        return Err(Finding::error(
                            &format!("{name}.tls.client_ca"),
                            format!("client_auth = \"{}\" needs client_ca, the CA file that client certificates must chain to (or set {key} = \"off\")", client_auth_name(client_auth)),
                        ));
                    }
                    if client_auth == ClientAuth::Off && name == "admin_plane" {
                        findings.push(Finding::warning(
                            &key,
                            "the admin plane accepts callers without a client certificate; admin tokens alone guard it".into(),
                        ));
                    }
                    if t.allow_tls12 {
                        findings.push(Finding::warning(
                            &format!("{name}.tls.allow_tls12"),
                            "TLS 1.2 is enabled next to 1.3 (ECDHE + AEAD suites only)".into(),
                        ));
                    }
                    Some(super::Tls {
                        cert: base.join(t.cert),
                        key: base.join(t.key),
                        client_ca: t.client_ca.map(|p| base.join(p)),
                        client_auth,
                        allow_tls12: t.allow_tls12,
                    })
                }
            };
            Ok(super::Listener {
                listen,
                tls,
                dangerous_plaintext: self.dangerous_plaintext,
            })
        }
    }

    fn client_auth_name(c: ClientAuth) -> &'static str {
        match c {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
            ClientAuth::Off => "off",
        }
    }

    impl Limits {
        fn backend(&self, base: &Path) -> Result<rates::Backend, Finding> {
            use rates::{LimitsBackend, OnBackendError, RawOnBackendError};
            let mut backend = rates::Backend::default();
            match self.on_backend_error.as_ref() {
                None => {}
                Some(RawOnBackendError::Both(text)) => {
                    let v = OnBackendError::parse("limits.on_backend_error", text)?;
                    backend.on_error_rates = v;
                    backend.on_error_budgets = v;
                }
                Some(RawOnBackendError::Each { rates, budgets }) => {
                    if let Some(t) = rates {
                        backend.on_error_rates =
                            OnBackendError::parse("limits.on_backend_error.rates", t)?;
                    }
                    if let Some(t) = budgets {
                        backend.on_error_budgets =
                            OnBackendError::parse("limits.on_backend_error.budgets", t)?;
                    }
                }
            }
            backend.kind = match (self.backend.as_str(), &self.redis_url) {
                ("local", None) => LimitsBackend::Local,
                ("local", Some(_)) => {
                    return Err(Finding::error(
                        "limits.redis_url",
                        "redis_url is set but limits.backend is \"local\"; set backend = \"redis\" or remove redis_url".into(),
                    ))
                }
                ("redis", None) => {
                    return Err(Finding::error(
                        "limits.redis_url",
                        "backend = \"redis\" needs redis_url, e.g. \"redis://127.0.0.1:6379/0\"".into(),
                    ))
                }
                ("redis", Some(url)) => {
                    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                        return Err(Finding::error(
                            "limits.redis_url",
                            format!("{} is not a redis:// or rediss:// URL", url_origin(url)),
                        ));
                    }
                    if url.contains('@') {
                        return Err(Finding::error(
                            "limits.redis_url",
                            "keep the password out of the config: put it in a file named by limits.redis_password_file".into(),
                        ));
                    }
                    let timeout = parse_duration("limits.redis_timeout", &self.redis_timeout)?;
                    if timeout.is_zero() || timeout > Duration::from_secs(10) {
                        return Err(Finding::error(
                            "limits.redis_timeout",
                            "must be between 1ms and 10s".into(),
                        ));
                    }
                    LimitsBackend::Redis {
                        url: url.clone(),
                        password_file: match &self.redis_password_file {
                            Some(p) => {
                                key_file("limits.redis_password_file", p)?;
                                Some(base.join(p))
                            }
                            None => None,
                        },
                        timeout,
                        key_prefix: self.redis_key_prefix.clone(),
                    }
                }
                (other, _) => {
                    return Err(Finding::error(
                        "limits.backend",
                        format!("'{other}' is neither \"local\" nor \"redis\""),
                    ))
                }
            };
            Ok(backend)
        }

        fn validate(self, base: &Path) -> Result<super::Limits, Finding> {
            let backend = self.backend(base)?;
            fn within(key: &str, value: usize, lo: usize, hi: usize) -> Result<usize, Finding> {
                if (lo..=hi).contains(&value) {
                    Ok(value)
                } else {
                    Err(Finding::error(
                        &format!("limits.{key}"),
                        format!("{value} is outside {lo}..={hi}"),
                    ))
                }
            }
            let header_read_timeout =
                parse_duration("limits.header_read_timeout", &self.header_read_timeout)?;
            let request_timeout = parse_duration("limits.request_timeout", &self.request_timeout)?;
            for (key, d) in [
                ("header_read_timeout", header_read_timeout),
                ("request_timeout", request_timeout),
            ] {
                if d.is_zero() || d > Duration::from_secs(3600) {
                    return Err(Finding::error(
                        &format!("limits.{key}"),
                        "must be between 1ms and 1h".into(),
                    ));
                }
            }
            Ok(super::Limits {
                max_body_bytes: within("max_body_bytes", self.max_body_bytes, 1024, 1 << 30)?,
                max_tensor_elements: within(
                    "max_tensor_elements",
                    self.max_tensor_elements,
                    1,
                    1 << 28,
                )?,
                max_json_depth: within("max_json_depth", self.max_json_depth, 2, 64)?,
                // hyper's HTTP/1 reader needs at least 8 KiB of buffer.
                max_header_bytes: within("max_header_bytes", self.max_header_bytes, 8192, 1 << 20)?,
                header_read_timeout,
                request_timeout,
                max_connections: within("max_connections", self.max_connections, 1, 1 << 20)?,
                backend,
            })
        }
    }
}

#[cfg(test)]
mod tests;
