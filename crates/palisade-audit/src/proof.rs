//! Proof bundles: everything an auditor needs to check one claim with the public key alone.
//!
//! An inclusion proof carries the entry itself, the audit path and the signed checkpoint it
//! leads to; a consistency proof carries both signed checkpoints and the path between them.
//! Hashes are lowercase hex, so the JSON can be read and checked by hand with `sha256sum`.

use serde::{Deserialize, Serialize};

use crate::checkpoints::Checkpoint;
use crate::entry_index;
use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};
use crate::note::VerifierKey;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    /// The entry's exact line (its leaf is `SHA-256(0x00 || entry)`).
    pub entry: String,
    pub leaf_hash: String,
    /// The audit path, leaf side first (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
    /// The signed checkpoint of `size` entries.
    pub checkpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// RFC 9162 §2.1.4 consistency path.
    pub proof: Vec<String>,
    pub from_checkpoint: String,
    pub to_checkpoint: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("the checkpoint is of size {found}, the proof claims {claimed}")]
    SizeMismatch { claimed: u64, found: u64 },
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    #[error("the proof does not lead to the signed root: {0}")]
    Invalid(&'static str),
}

fn hexes(path: &[Hash]) -> Vec<String> {
    path.iter().map(hex::encode).collect()
}

fn unhex(path: &[String]) -> Result<Vec<Hash>, ProofError> {
    if path.len() > 128 {
        return Err(ProofError::Malformed("more than 128 hashes"));
    }
    path.iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(ProofError::Malformed("a hash is not 64 hex digits"))
        })
        .collect()
}

fn open(note: &str, key: &VerifierKey, claimed: u64) -> Result<Checkpoint, ProofError> {
    let cp = Checkpoint::open(note, key).map_err(|e| ProofError::Checkpoint(e.to_string()))?;
    if cp.size != claimed {
        return Err(ProofError::SizeMismatch {
            claimed,
            found: cp.size,
        });
    }
    Ok(cp)
}

impl InclusionProof {
    pub(crate) fn new(
        index: u64,
        size: u64,
        entry: Vec<u8>,
        path: &[Hash],
        checkpoint: String,
    ) -> Self {
        InclusionProof {
            index,
            size,
            leaf_hash: hex::encode(leaf_hash(&entry)),
            entry: String::from_utf8_lossy(&entry).into_owned(),
            proof: hexes(path),
            checkpoint,
        }
    }

    /// Check the proof with nothing but the log's verifier key; returns the checkpoint.
    pub fn verify(&self, key: &VerifierKey) -> Result<Checkpoint, ProofError> {
        let cp = open(&self.checkpoint, key, self.size)?;
        let leaf = leaf_hash(self.entry.as_bytes());
        if hex::encode(leaf) != self.leaf_hash {
            return Err(ProofError::Invalid("the entry does not hash to leaf_hash"));
        }
        if entry_index(self.entry.as_bytes()) != Some(self.index) {
            return Err(ProofError::Invalid("the entry is not the one at `index`"));
        }
        if !verify_inclusion(self.index, self.size, &leaf, &unhex(&self.proof)?, &cp.root) {
            return Err(ProofError::Invalid("inclusion path"));
        }
        Ok(cp)
    }
}

impl ConsistencyProof {
    pub(crate) fn new(
        from: u64,
        to: u64,
        path: &[Hash],
        from_checkpoint: String,
        to_checkpoint: String,
    ) -> Self {
        ConsistencyProof {
            from,
            to,
            proof: hexes(path),
            from_checkpoint,
            to_checkpoint,
        }
    }

    /// Check the proof with nothing but the log's verifier key; returns both checkpoints.
    pub fn verify(&self, key: &VerifierKey) -> Result<(Checkpoint, Checkpoint), ProofError> {
        let old = open(&self.from_checkpoint, key, self.from)?;
        let new = open(&self.to_checkpoint, key, self.to)?;
        if !verify_consistency(
            self.from,
            self.to,
            &old.root,
            &new.root,
            &unhex(&self.proof)?,
        ) {
            return Err(ProofError::Invalid("consistency path"));
        }
        Ok((old, new))
    }
}
