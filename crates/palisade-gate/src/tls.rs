//! TLS: the rustls server configuration every listener uses, and the development CA that
//! `palisade dev-certs` and `palisade demo` create.
//!
//! Secure by default: TLS 1.3 only. TLS 1.2 is an explicit opt-in and even then offers only
//! the ECDHE + AEAD suites (the only TLS 1.2 suites rustls implements). ALPN offers h2 and
//! http/1.1. Client certificates (mTLS) are verified against `client_ca` and, per listener,
//! required, optional or not asked for (`client_auth`); the admin plane requires them unless
//! told otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_config::{self as config, ClientAuth};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use x509_parser::extensions::GeneralName;

use palisade_access::principal::PeerCertificate;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("TLS setup: {0}")]
    Config(String),
    #[error("certificate generation: {0}")]
    Generate(String),
}

/// The identity in a client certificate that rustls has already verified. A SPIFFE X.509-SVID
/// carries exactly one URI SAN; a certificate with several `spiffe://` URIs names nobody.
pub fn peer_certificate(der: &[u8]) -> PeerCertificate {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return PeerCertificate::default();
    };
    let mut spiffe = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name {
                if uri.starts_with("spiffe://") {
                    spiffe.push(*uri);
                }
            }
        }
    }
    let spiffe_id = match spiffe.as_slice() {
        [one] if valid_spiffe_id(one) => Some(one.to_string()),
        _ => None,
    };
    let subject_cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|cn| !cn.is_empty() && cn.len() <= 256 && !cn.chars().any(char::is_control))
        .map(str::to_string);
    PeerCertificate {
        spiffe_id,
        subject_cn,
    }
}

/// `spiffe://<trust domain>/<path>` as the SPIFFE ID spec allows it: lowercase trust domain,
/// no empty, `.` or `..` segments, no query or fragment, at most 2048 bytes.
fn valid_spiffe_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("spiffe://") else {
        return false;
    };
    let (domain, path) = rest.split_once('/').unwrap_or((rest, ""));
    id.len() <= 2048
        && !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        && (path.is_empty()
            || path.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            }))
}

/// Build the server-side rustls configuration for one listener.
pub fn server_config(tls: &config::Tls) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| TlsError::File {
        path: tls.key.clone(),
        message: format!("no usable private key: {e}"),
    })?;
    if palisade_files::readable_by_others(&tls.key) {
        tracing::warn!(file = %tls.key.display(), "TLS private key is readable by group or others; chmod 600 it");
    }

    let mut provider = rustls::crypto::ring::default_provider();
    let versions: &[&rustls::SupportedProtocolVersion] = if tls.allow_tls12 {
        // ring's TLS 1.2 suites are all ECDHE with AES-GCM or ChaCha20-Poly1305.
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13);
        &[&rustls::version::TLS13]
    };
    let builder = ServerConfig::builder_with_provider(Arc::new(provider.clone()))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (&tls.client_ca, tls.client_auth) {
        (None, _) | (_, ClientAuth::Off) => builder.with_no_client_auth(),
        (Some(ca), auth) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certs(ca)? {
                roots.add(cert).map_err(|e| TlsError::File {
                    path: ca.clone(),
                    message: e.to_string(),
                })?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider));
            if auth == ClientAuth::Optional {
                // No certificate is fine; a certificate that does not verify still fails.
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::File {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(err("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// Paths of a development PKI in one folder.
pub struct DevPki {
    pub dir: PathBuf,
}

impl DevPki {
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// Names every dev server certificate covers.
pub const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Create a dev CA and a server certificate signed by it for `names` (DNS names or IPs).
/// Existing files are never overwritten. Keys are ECDSA P-256, mode 0600.
pub fn create_dev_pki(dir: &Path, names: &[String]) -> Result<DevPki, TlsError> {
    let pki = DevPki {
        dir: dir.to_path_buf(),
    };
    palisade_files::create_private_dir(dir).map_err(|e| TlsError::File {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    for p in [
        pki.ca_cert(),
        pki.ca_key(),
        pki.server_cert(),
        pki.server_key(),
    ] {
        if p.exists() {
            return Err(TlsError::File {
                path: p,
                message: "already exists; remove it or pick another folder".into(),
            });
        }
    }
    let (ca, ca_key) = new_ca()?;
    let server_key = KeyPair::generate().map_err(gen)?;
    let mut params = leaf_params("palisade dev server", 397);
    params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = params.signed_by(&server_key, &ca, &ca_key).map_err(gen)?;

    write(&pki.ca_cert(), ca.pem().as_bytes(), false)?;
    write(&pki.ca_key(), ca_key.serialize_pem().as_bytes(), true)?;
    write(&pki.server_cert(), server.pem().as_bytes(), false)?;
    write(
        &pki.server_key(),
        server_key.serialize_pem().as_bytes(),
        true,
    )?;
    Ok(pki)
}

/// Issue a client certificate from the dev CA in `dir`, for mTLS. The SPIFFE ID
/// `spiffe://palisade.dev/<name>` goes in the URI SAN. Writes `<name>.pem` and `<name>.key`.
/// `days` of validity from now; a negative count issues a certificate that has already
/// expired (for testing that expired certificates are refused).
pub fn issue_dev_client(dir: &Path, name: &str, days: i64) -> Result<(PathBuf, PathBuf), TlsError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(TlsError::Generate(
            "client name: use letters, digits, '-' and '_'".into(),
        ));
    }
    let pki = DevPki {
        dir: dir.to_path_buf(),
    };
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|e| TlsError::File {
            path: p,
            message: e.to_string(),
        })
    };
    let ca_key = KeyPair::from_pem(&read(pki.ca_key())?).map_err(gen)?;
    // Re-deriving the CA's name and key is enough to sign as it: the issuer name and key id
    // of the new certificate match the CA certificate on disk.
    let ca = ca_params().self_signed(&ca_key).map_err(gen)?;
    let key = KeyPair::generate().map_err(gen)?;
    let mut params = leaf_params(name, days);
    let uri = format!("spiffe://palisade.dev/{name}");
    params.subject_alt_names = vec![SanType::URI(uri.try_into().map_err(gen)?)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(gen)?;
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    write(&cert_path, cert.pem().as_bytes(), false)?;
    write(&key_path, key.serialize_pem().as_bytes(), true)?;
    Ok((cert_path, key_path))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn("Palisade development CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, 3650);
    params
}

fn new_ca() -> Result<(rcgen::Certificate, KeyPair), TlsError> {
    let key = KeyPair::generate().map_err(gen)?;
    let cert = ca_params().self_signed(&key).map_err(gen)?;
    Ok((cert, key))
}

fn leaf_params(cn: &str, days: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, days);
    params
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Palisade (development only)");
    dn
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_after = now + time::Duration::days(days);
    params.not_before = if days < 0 {
        params.not_after - time::Duration::days(1)
    } else {
        now - time::Duration::hours(1)
    };
}

fn san(name: &str) -> Result<SanType, TlsError> {
    Ok(match name.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.to_string().try_into().map_err(gen)?),
    })
}

fn gen(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    let result = if private {
        palisade_files::create_private(path, bytes)
    } else {
        std::fs::write(path, bytes)
    };
    result.map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
