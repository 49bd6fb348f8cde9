//! The audit log: an append-only Merkle tree (RFC 6962 hashing) over one JSON entry per
//! call, with Ed25519-signed checkpoints in the C2SP `tlog-checkpoint` format.
//!
//! Why a Merkle tree rather than a hash chain: a chain shows that *something* changed, but
//! proving one entry to an auditor means handing over the whole log. The tree gives
//! O(log n) inclusion proofs (this call is in the log the server signed) and consistency
//! proofs (today's log extends yesterday's, nothing rewritten), both checkable with the
//! public key alone. Signed checkpoints are what make deletion and wholesale forgery
//! evident: without the signing key, nobody can produce a tree head that matches edited
//! entries.
//!
//! On disk, in the audit folder:
//!
//! | path | what | trusted? |
//! |---|---|---|
//! | `segments/<first index>.jsonl` | the entries, one JSON object per line, `{"index":N,...}` | the data |
//! | `segments/<first index>.idx` | byte offset of every entry in its segment (u64 LE) | derived, rebuilt at open |
//! | `tree.hashes` | every complete subtree head (Go `tlog` stored-hash order) | derived; names the bad entry |
//! | `checkpoints.jsonl` | every signed checkpoint, `{"size":N,"note":"..."}` | signed |
//! | `checkpoint` | the latest signed checkpoint, to publish or hand to a witness | signed |
//! | `log.pub` | the verifier key (`name+hash+base64`) | only if it came from elsewhere |
//!
//! The leaf of entry N is `SHA-256(0x00 || line)` where `line` is its JSON without the newline.
#![forbid(unsafe_code)]

pub mod capture;
mod checkpoints;
mod hashes;
mod layout;
pub mod merkle;
pub mod note;
mod proof;
mod query;
mod reader;
mod recover;
pub mod signing_key;
mod verify;
mod writer;

use serde::{Deserialize, Serialize};

pub use checkpoints::Checkpoint;
pub use layout::{
    CHECKPOINTS_FILE, HASHES_FILE, LATEST_CHECKPOINT_FILE, PUBKEY_FILE, SEGMENTS_DIR,
};
pub use proof::{ConsistencyProof, InclusionProof, ProofError};
pub use query::{time_bound, BadTime, Filter};
pub use reader::{LogReader, ReadError};
pub use verify::{verify_dir, VerifyError, VerifyOptions, VerifyReport};
pub use writer::{AuditLog, Durability, OpenReport, Receipt, WriterOptions};

/// Longest entry line accepted anywhere; real entries are a few hundred bytes.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// A field whose value is usually one of a few fixed names (`data`, `allow`, `infer`, a
/// stage): borrowed when the writer fills it, owned when read back. A served call builds
/// one event, so each field saved from an allocation counts.
pub type Text = std::borrow::Cow<'static, str>;

/// What one call leaves behind. Never a payload, token or secret: bodies appear only as digests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub request_id: String,
    /// `data` or `admin`.
    pub plane: Text,
    pub client: String,
    /// The caller (`key:<id>`, `user:<sub>`, `service:<spiffe id>`), if it got that far.
    pub principal: Option<String>,
    /// How the caller authenticated: `api_key`, `jwt` or `mtls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Text>,
    pub action: Option<Text>,
    /// `name@version` (or just `name` when no version was resolved).
    pub model: Option<String>,
    /// `allow` or `deny`.
    pub decision: Text,
    /// Short machine-readable reason: `ok`, `unauthenticated`, `forbidden`, `bad_request`, ...
    pub reason: Text,
    /// Ids of the policies that decided (empty when nothing permitted: deny by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// What the limiter decided, when the call reached it: `admitted`, or the limit that refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Text>,
    pub status: u16,
    pub latency_us: u64,
    /// Time spent in each stage the call went through, in microseconds, in stage order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages_us: Vec<(Text, u64)>,
    pub request_sha256: Option<String>,
    pub response_sha256: Option<String>,
    /// What a system event acted on (the principal or source a detector blocked); on a
    /// failed authentication with an API key, the key it claimed (`key:<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Personal data found in the call's text tensors, by entity type (counts, never values).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pii: std::collections::BTreeMap<String, u32>,
    /// The request and response bodies sealed with the capture key, when capture is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<capture::SealedPayload>,
    /// On a model load: what each version proved, and where the risk decisions use came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<LoadProof>,
    /// On a summary entry: how many refusals it stands for (counted, not recorded each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
}

impl AuditEvent {
    /// An event that no request caused (a policy reload by signal, a block by the detector,
    /// a model refused at start): recorded like a call on the admin plane, with `principal`
    /// the part of the system that acted and `subject` what it acted on.
    pub fn system(
        request_id: String,
        principal: &str,
        action: &str,
        subject: Option<&str>,
        outcome: Result<(), &str>,
    ) -> AuditEvent {
        AuditEvent {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            request_id,
            plane: "admin".into(),
            client: "local".into(),
            principal: Some(principal.to_string()),
            action: Some(action.to_string().into()),
            decision: if outcome.is_ok() { "allow" } else { "deny" }.into(),
            reason: outcome.err().unwrap_or("ok").to_string().into(),
            status: if outcome.is_ok() { 200 } else { 422 },
            subject: subject.map(str::to_string),
            ..AuditEvent::default()
        }
    }

    /// A summary entry: `count` refusals of `action` from `subject` (a source address),
    /// counted rather than recorded one by one, over both planes.
    pub fn summary(request_id: String, action: &str, subject: &str, count: u64) -> AuditEvent {
        AuditEvent {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            request_id,
            plane: "any".into(),
            client: subject.to_string(),
            principal: Some("system:audit".into()),
            action: Some(action.to_string().into()),
            decision: "deny".into(),
            reason: "suppressed".into(),
            status: 0,
            subject: Some(subject.to_string()),
            suppressed: Some(count),
            ..AuditEvent::default()
        }
    }
}

/// What a model load proved, as the audit log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadProof {
    /// `low`, `medium`, `high` or `unspecified`: the risk policies see.
    pub risk: String,
    /// `config` (pinned), `signature` (model.toml covered by every version's signature) or
    /// `unverified` (nobody vouches for model.toml: treated as high).
    pub risk_source: String,
    pub versions: std::collections::BTreeMap<String, VersionProof>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionProof {
    pub sha256: String,
    /// The trusted key whose signature verified; `None`: unsigned.
    pub signed_by: Option<String>,
    pub sealed: bool,
    /// The signature also covers model.toml's governance fields.
    pub governance_signed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {message}")]
    Open { path: String, message: String },
    #[error("audit log is unavailable: {0}")]
    Unavailable(String),
}

/// `{"index":N,` followed by the event's own fields: the line whose leaf hash enters the tree.
pub(crate) fn frame_entry(out: &mut Vec<u8>, index: u64, body: &[u8]) {
    out.extend_from_slice(b"{\"index\":");
    out.extend_from_slice(index.to_string().as_bytes());
    // `body` is a serialized event: a JSON object that always has fields.
    out.push(b',');
    out.extend_from_slice(&body[1..]);
}

/// The index an entry line claims, read from its fixed prefix without parsing the rest.
pub(crate) fn entry_index(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"index\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || rest.get(digits) != Some(&b',') {
        return None;
    }
    if digits > 1 && rest[0] == b'0' {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
pub(crate) fn sample_event(n: u64) -> AuditEvent {
    AuditEvent {
        time: "2026-11-26T00:00:00.000Z".into(),
        request_id: format!("req-{n}"),
        plane: "data".into(),
        client: "127.0.0.1:5000".into(),
        principal: Some(format!("key:k{}", n % 7)),
        auth: Some("api_key".into()),
        action: Some("infer".into()),
        model: Some("iris@1".into()),
        decision: "allow".into(),
        reason: "ok".into(),
        policies: vec!["role.client.1".into()],
        limit: Some("admitted".into()),
        status: 200,
        latency_us: 120 + n,
        stages_us: vec![("identify".into(), 3), ("infer".into(), 40)],
        request_sha256: Some("00".repeat(32)),
        response_sha256: None,
        subject: None,
        pii: Default::default(),
        payload: None,
        loaded: None,
        suppressed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_framed_with_their_index_first() {
        let body = serde_json::to_vec(&sample_event(3)).unwrap();
        let mut line = Vec::new();
        frame_entry(&mut line, 42, &body);
        assert_eq!(entry_index(&line), Some(42));
        let back: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(back["index"], 42);
        assert_eq!(back["request_id"], "req-3");
        for bad in [
            &b"{\"index\":,"[..],
            b"{\"index\":01,",
            b"{\"index\":1}",
            b"{\"idx\":1,",
            b"{\"index\":99999999999999999999999,",
        ] {
            assert_eq!(entry_index(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
