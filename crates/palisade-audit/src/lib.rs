//! The audit log: one JSON line per call, each line sealed with the SHA-256 of the line
//! before it, so any edited, removed, inserted or reordered line breaks the chain at a
//! place `palisade audit verify` can name.
//!
//! Why a hash chain now and a Merkle tree later: the chain already makes silent edits
//! evident with nothing but the file; signed checkpoints and proofs (a later step) need
//! the same single writer, which is why everything goes through [`AuditSink`].
//!
//! Line format (fields in this order, no spaces):
//! `{"seq":N,<event fields>,"prev":"<hex>","hash":"<hex>"}` where `hash` is the SHA-256 of
//! every byte of the line before `,"hash":`. The first line's `prev` is 64 zeros.
#![forbid(unsafe_code)]

pub mod merkle;
pub mod note;
mod verify;
mod writer;

use serde::{Deserialize, Serialize};

pub use verify::{verify_file, verify_reader, VerifyError, VerifySummary};
pub use writer::{AuditLog, OpenReport};

/// Name of the log file inside the audit folder.
pub const LOG_FILE: &str = "audit.jsonl";
/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest line the verifier accepts; real lines are a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What one call leaves behind. Never a payload, token or secret: bodies appear only as digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub request_id: String,
    /// `data` or `admin`.
    pub plane: String,
    pub client: String,
    /// The caller (`key:<id>`, `user:<sub>`, `service:<spiffe id>`), if it got that far.
    pub principal: Option<String>,
    /// How the caller authenticated: `api_key`, `jwt` or `mtls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    pub action: Option<String>,
    /// `name@version` (or just `name` when no version was resolved).
    pub model: Option<String>,
    /// `allow` or `deny`.
    pub decision: String,
    /// Short machine-readable reason: `ok`, `unauthenticated`, `forbidden`, `bad_request`, ...
    pub reason: String,
    /// Ids of the policies that decided (empty when nothing permitted: deny by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    pub status: u16,
    pub latency_us: u64,
    pub request_sha256: Option<String>,
    pub response_sha256: Option<String>,
}

/// The one interface the server writes audit events through.
pub trait AuditSink: Send + Sync {
    /// Queue an event. An error means the event will not be recorded: the caller must treat
    /// the call as failed rather than serve it unrecorded.
    fn record(&self, event: AuditEvent) -> Result<(), AuditError>;
    /// True while events are being written.
    fn healthy(&self) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {message}")]
    Open { path: String, message: String },
    #[error("audit log is unavailable: {0}")]
    Unavailable(String),
}

/// The sealed form of a line, in field order.
#[derive(Serialize)]
struct Sealed<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a AuditEvent,
    prev: &'a str,
}

/// Append one sealed line (with trailing newline) to `out`; returns its hash.
fn seal_into(out: &mut Vec<u8>, seq: u64, event: &AuditEvent, prev: &str) -> String {
    use sha2::{Digest, Sha256};
    let start = out.len();
    // Serializing plain strings and integers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &Sealed { seq, event, prev });
    out.pop(); // the closing '}'
    let hash = hex::encode(Sha256::digest(&out[start..]));
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    hash
}

/// Split a line into (hashed prefix, claimed hash) if it ends like a sealed line.
fn split_sealed(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_suffix("\"}")?;
    let at = body.len().checked_sub(64)?;
    let (rest, hash) = (body.get(..at)?, body.get(at..)?);
    let prefix = rest.strip_suffix(",\"hash\":\"")?;
    hash.bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        .then_some((prefix, hash))
}

#[cfg(test)]
pub(crate) fn sample_event(n: u64) -> AuditEvent {
    AuditEvent {
        time: "2026-11-26T00:00:00.000Z".into(),
        request_id: format!("req-{n}"),
        plane: "data".into(),
        client: "127.0.0.1:5000".into(),
        principal: Some("key:abc".into()),
        auth: Some("api_key".into()),
        action: Some("infer".into()),
        model: Some("iris@1".into()),
        decision: "allow".into(),
        reason: "ok".into(),
        policies: vec!["role.client.1".into()],
        status: 200,
        latency_us: 120 + n,
        request_sha256: Some("00".repeat(32)),
        response_sha256: None,
    }
}
