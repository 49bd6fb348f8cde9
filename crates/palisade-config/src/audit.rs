//! `[audit]`: where the Merkle audit log lives, how durable each entry is before the call
//! is answered, when segments rotate and checkpoints are signed, and which key signs them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{parse_duration, Finding};

/// When an entry counts as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The response waits until its entry is synced (shared with concurrent calls).
    PerCall,
    /// Entries are synced every `fsync_interval`; a crash can lose up to one interval.
    Interval(Duration),
}

#[derive(Debug, Clone)]
pub struct Audit {
    pub dir: PathBuf,
    pub durability: Durability,
    pub segment_max_bytes: u64,
    pub segment_max_age: Duration,
    pub checkpoint_every: u64,
    pub checkpoint_interval: Duration,
    /// The Ed25519 signing key (C2SP note format); created 0600 on first start if missing.
    pub signing_key: PathBuf,
    /// Seal request and response bodies into entries with this AES-256 key; off when `None`.
    pub capture: Option<Capture>,
    /// Every signed checkpoint is appended here too, outside `dir`: a witness's copy.
    pub witness_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub key_file: PathBuf,
    /// Bodies larger than this are left out of the entry (and the entry says so).
    pub max_bytes: usize,
}

/// Largest body a capture seals: two sealed bodies must fit in one 64 KiB entry.
pub const MAX_CAPTURE_BYTES: usize = 20 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    pub dir: PathBuf,
    pub durability: String,
    pub fsync_interval: String,
    pub segment_max_bytes: u64,
    pub segment_max_age: String,
    pub checkpoint_every: u64,
    pub checkpoint_interval: String,
    pub signing_key: PathBuf,
    pub capture_payloads: bool,
    pub capture_key: Option<PathBuf>,
    pub capture_max_bytes: usize,
    pub witness_file: Option<PathBuf>,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            dir: PathBuf::from("audit"),
            durability: "per_call".into(),
            fsync_interval: "100ms".into(),
            segment_max_bytes: 64 << 20,
            segment_max_age: "24h".into(),
            checkpoint_every: 10_000,
            checkpoint_interval: "10s".into(),
            signing_key: PathBuf::from("audit-signing.key"),
            capture_payloads: false,
            capture_key: None,
            capture_max_bytes: 16 * 1024,
            witness_file: None,
        }
    }
}

impl RawAudit {
    pub fn validate(self, base: &Path, findings: &mut Vec<Finding>) -> Result<Audit, Finding> {
        crate::key_file("audit.signing_key", &self.signing_key)?;
        if let Some(key) = &self.capture_key {
            crate::key_file("audit.capture_key", key)?;
        }
        let fsync_interval = parse_duration("audit.fsync_interval", &self.fsync_interval)?;
        let durability = match self.durability.as_str() {
            "per_call" => Durability::PerCall,
            "interval" => {
                if fsync_interval.is_zero() || fsync_interval > Duration::from_secs(60) {
                    return Err(Finding::error(
                        "audit.fsync_interval",
                        "must be between 1ms and 60s".into(),
                    ));
                }
                findings.push(Finding::warning(
                    "audit.durability",
                    format!(
                        "\"interval\": calls are answered before their audit entry is on disk; a crash can lose up to {} of entries. Use \"per_call\" where every answered call must be provable",
                        self.fsync_interval
                    ),
                ));
                Durability::Interval(fsync_interval)
            }
            other => {
                return Err(Finding::error(
                    "audit.durability",
                    format!(
                        "'{other}' is not a durability; use \"per_call\" (default) or \"interval\""
                    ),
                ))
            }
        };
        if !(64 * 1024..=1 << 30).contains(&self.segment_max_bytes) {
            return Err(Finding::error(
                "audit.segment_max_bytes",
                "must be between 65536 (64 KiB) and 1073741824 (1 GiB)".into(),
            ));
        }
        let segment_max_age = parse_duration("audit.segment_max_age", &self.segment_max_age)?;
        let checkpoint_interval =
            parse_duration("audit.checkpoint_interval", &self.checkpoint_interval)?;
        if segment_max_age < Duration::from_secs(1)
            || checkpoint_interval < Duration::from_millis(10)
        {
            return Err(Finding::error(
                "audit.segment_max_age",
                "segment_max_age must be at least 1s and checkpoint_interval at least 10ms".into(),
            ));
        }
        if self.checkpoint_every == 0 {
            return Err(Finding::error(
                "audit.checkpoint_every",
                "must be at least 1 (entries between signed checkpoints)".into(),
            ));
        }
        let capture = match (self.capture_payloads, self.capture_key) {
            (false, _) => None,
            (true, None) => {
                return Err(Finding::error(
                    "audit.capture_key",
                    "capture_payloads = true needs capture_key = \"<file with 32 random bytes, e.g. from `openssl rand -hex 32`>\"".into(),
                ))
            }
            (true, Some(key)) => {
                if self.capture_max_bytes == 0 || self.capture_max_bytes > MAX_CAPTURE_BYTES {
                    return Err(Finding::error(
                        "audit.capture_max_bytes",
                        format!("must be between 1 and {MAX_CAPTURE_BYTES}"),
                    ));
                }
                findings.push(Finding::warning(
                    "audit.capture_payloads",
                    "request and response bodies are kept in the audit log, sealed with AES-256-GCM; whoever holds capture_key can read them. Keep the key away from the log and destroy it to forget every captured body".into(),
                ));
                Some(Capture {
                    key_file: base.join(key),
                    max_bytes: self.capture_max_bytes,
                })
            }
        };
        let dir = base.join(&self.dir);
        let witness_file = self.witness_file.map(|w| base.join(w));
        if let Some(w) = &witness_file {
            // Lexical check: a witness inside the folder is rolled back with it.
            let inside = w.components().count() > dir.components().count() && w.starts_with(&dir);
            if inside || w.file_name().is_none() {
                return Err(Finding::error(
                    "audit.witness_file",
                    "must be a file outside audit.dir (ideally on another machine's mount): a copy inside the folder is rolled back with it".into(),
                ));
            }
        } else {
            findings.push(Finding::warning(
                "audit.witness_file",
                "signed checkpoints are kept only inside the audit folder: whoever can write it can roll it back to an older checkpoint unnoticed; set witness_file to a path outside it, or copy `checkpoint` elsewhere regularly".into(),
            ));
        }
        Ok(Audit {
            capture,
            witness_file,
            dir,
            durability,
            segment_max_bytes: self.segment_max_bytes,
            segment_max_age,
            checkpoint_every: self.checkpoint_every,
            checkpoint_interval,
            signing_key: base.join(self.signing_key),
        })
    }
}
