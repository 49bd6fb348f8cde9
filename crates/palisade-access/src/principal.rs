//! Who is calling, however they proved it: the one type every stage after `identify` sees.

use std::sync::Arc;

/// The Cedar entity type a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A person, signed in through an identity provider (JWT).
    User,
    /// A workload: an mTLS certificate (SPIFFE ID) or a service-account JWT.
    Service,
    /// A Palisade API key.
    ApiKey,
}

impl PrincipalKind {
    pub fn cedar_type(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Service => "Service",
            PrincipalKind::ApiKey => "ApiKey",
        }
    }

    fn audit_prefix(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Service => "service",
            PrincipalKind::ApiKey => "key",
        }
    }
}

/// How the principal proved who it is (`context.auth_method` in policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    ApiKey,
    Jwt,
    Mtls,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Mtls => "mtls",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// Cedar entity id: the key id, the token's subject, the SPIFFE ID.
    pub name: String,
    /// Human label (an API key's name); never used for decisions.
    pub label: String,
    pub roles: Vec<String>,
    pub method: AuthMethod,
    /// The JWT issuer that vouched for the principal.
    pub issuer: Option<String>,
    /// `key:<id>`, `user:<sub>`, `service:<id>`: what audit events, metrics and limits name.
    pub id: String,
}

impl Principal {
    pub fn new(
        kind: PrincipalKind,
        name: String,
        roles: Vec<String>,
        method: AuthMethod,
    ) -> Principal {
        Principal {
            id: format!("{}:{name}", kind.audit_prefix()),
            label: String::new(),
            kind,
            name,
            roles,
            method,
            issuer: None,
        }
    }
}

/// What the TLS layer learned from a verified client certificate, once per connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCertificate {
    /// The SPIFFE ID of the one `spiffe://` URI SAN, if the certificate has one.
    pub spiffe_id: Option<String>,
    /// The subject's common name.
    pub subject_cn: Option<String>,
}

pub type Peer = Option<Arc<PeerCertificate>>;
