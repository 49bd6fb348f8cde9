//! Reading a log, live or offline: entries by index, proofs against signed checkpoints,
//! and filtered scans for `audit tail|search|export`.
//!
//! A reader only ever looks at what a signed checkpoint covers: those entries and their
//! stored hashes were synced before the checkpoint was signed, so reading them while the
//! writer appends is safe, and every proof it hands out can be checked against a note.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::checkpoints::{read_history, Checkpoint};
use crate::hashes::StoredTree;
use crate::layout::{list_segments, Segment, HASHES_FILE};
use crate::merkle::{prove_consistency, prove_inclusion};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::{entry_index, note, MAX_ENTRY_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{0}")]
    Request(String),
}

pub struct LogReader {
    dir: PathBuf,
    segments: Vec<Segment>,
    latest: Option<Checkpoint>,
}

impl LogReader {
    /// Open the log in `dir` as far as its latest checkpoint (read, not verified: proofs
    /// carry the signed notes, and whoever checks them holds the key).
    pub fn open(dir: &Path) -> Result<LogReader, ReadError> {
        let (last, _) = crate::checkpoints::read_last(dir).map_err(|e| io(dir, e))?;
        let latest = last.and_then(Result::ok).and_then(|l| unverified(l.note));
        Self::open_at(dir, latest)
    }

    pub(crate) fn open_at(dir: &Path, latest: Option<Checkpoint>) -> Result<LogReader, ReadError> {
        let (segments, _) = list_segments(dir).map_err(|e| io(dir, e))?;
        if segments.is_empty() {
            return Err(ReadError::Io {
                path: dir.display().to_string(),
                message: "no audit log here (no segments/ folder with entries)".into(),
            });
        }
        Ok(LogReader {
            dir: dir.to_path_buf(),
            segments,
            latest,
        })
    }

    /// Entries covered by the latest checkpoint.
    pub fn size(&self) -> u64 {
        self.latest.as_ref().map_or(0, |c| c.size)
    }

    pub fn latest(&self) -> Option<&Checkpoint> {
        self.latest.as_ref()
    }

    /// Every checkpoint up to the latest, oldest first (read, not verified).
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadError> {
        let mut all = checkpoints(&self.dir)?;
        all.retain(|c| c.size <= self.size());
        Ok(all)
    }

    /// The signed checkpoint of exactly `size` entries.
    fn checkpoint_of(&self, size: u64) -> Result<Checkpoint, ReadError> {
        if let Some(c) = self.latest.as_ref().filter(|c| c.size == size) {
            return Ok(c.clone());
        }
        checkpoints(&self.dir)?
            .into_iter()
            .find(|c| c.size == size && size <= self.size())
            .ok_or_else(|| {
                ReadError::Request(format!(
                    "no signed checkpoint of size {size}; proofs are made against checkpoint sizes (latest: {})",
                    self.size()
                ))
            })
    }

    /// The line of entry `index` (without its newline).
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        if index >= self.size() {
            return Err(ReadError::Request(format!(
                "entry {index} is not covered by the latest checkpoint (size {})",
                self.size()
            )));
        }
        let at = self.segments.partition_point(|s| s.start <= index);
        let segment = &self.segments[at.saturating_sub(1)];
        let mut offset = [0u8; 8];
        let mut idx = File::open(segment.index_path()).map_err(|e| io(&segment.index_path(), e))?;
        idx.seek(SeekFrom::Start((index - segment.start) * 8))
            .and_then(|_| idx.read_exact(&mut offset))
            .map_err(|e| io(&segment.index_path(), e))?;
        let mut file = File::open(&segment.path).map_err(|e| io(&segment.path, e))?;
        file.seek(SeekFrom::Start(u64::from_le_bytes(offset)))
            .map_err(|e| io(&segment.path, e))?;
        let mut line = Vec::new();
        BufReader::new(file)
            .take(MAX_ENTRY_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| io(&segment.path, e))?;
        if line.pop() != Some(b'\n') || entry_index(&line) != Some(index) {
            return Err(ReadError::Io {
                path: segment.path.display().to_string(),
                message: format!(
                    "entry {index} is not where the index says; run `palisade audit verify`"
                ),
            });
        }
        Ok(line)
    }

    fn tree(&self, size: u64) -> Result<StoredTree, ReadError> {
        let path = self.dir.join(HASHES_FILE);
        StoredTree::open(&path, size).map_err(|e| io(&path, e))
    }

    /// Proof that entry `index` is in the tree of the checkpoint of `size` (default: latest).
    pub fn prove_inclusion(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, ReadError> {
        let size = size.unwrap_or(self.size());
        let checkpoint = self.checkpoint_of(size)?;
        if index >= size {
            return Err(ReadError::Request(format!(
                "entry {index} is not in a tree of {size} entries"
            )));
        }
        let entry = self.entry(index)?;
        let tree = self.tree(size)?;
        let path = prove_inclusion(index, size, &tree)
            .map_err(|e| io(&self.dir.join(HASHES_FILE), e))?
            .unwrap_or_default();
        Ok(InclusionProof::new(
            index,
            size,
            entry,
            &path,
            checkpoint.note,
        ))
    }

    /// Proof that the checkpoint of `from` entries is a prefix of that of `to` (default: latest).
    pub fn prove_consistency(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProof, ReadError> {
        let to = to.unwrap_or(self.size());
        if from > to {
            return Err(ReadError::Request(format!(
                "cannot prove {from} entries consistent with fewer ({to})"
            )));
        }
        let old = self.checkpoint_of(from)?;
        let new = self.checkpoint_of(to)?;
        let tree = self.tree(to)?;
        let path = prove_consistency(from, to, &tree)
            .map_err(|e| io(&self.dir.join(HASHES_FILE), e))?
            .unwrap_or_default();
        Ok(ConsistencyProof::new(from, to, &path, old.note, new.note))
    }

    /// Call `f(index, line)` for every entry in `from..to` (bounded by the latest checkpoint
    /// unless `unsigned` is set), stopping early when it returns false.
    pub fn scan(
        &self,
        from: u64,
        to: Option<u64>,
        unsigned: bool,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), ReadError> {
        let to = to.unwrap_or(u64::MAX);
        let to = if unsigned { to } else { to.min(self.size()) };
        let first = self
            .segments
            .partition_point(|s| s.start <= from)
            .saturating_sub(1);
        for segment in &self.segments[first..] {
            if segment.start >= to {
                break;
            }
            let file = File::open(&segment.path).map_err(|e| io(&segment.path, e))?;
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let mut line = Vec::new();
            let mut index = segment.start;
            loop {
                line.clear();
                let n = (&mut reader)
                    .take(MAX_ENTRY_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| io(&segment.path, e))?;
                if n == 0 || index >= to || line.pop() != Some(b'\n') {
                    break;
                }
                if index >= from && !f(index, &line) {
                    return Ok(());
                }
                index += 1;
            }
        }
        Ok(())
    }
}

/// Every checkpoint in the history, unverified, in order.
fn checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, ReadError> {
    let (lines, _) = read_history(dir).map_err(|e| io(dir, e))?;
    Ok(lines
        .into_iter()
        .filter_map(|l| l.result.ok())
        .filter_map(|l| unverified(l.note))
        .collect())
}

/// The checkpoint a note carries, read without checking its signature.
fn unverified(note: String) -> Option<Checkpoint> {
    let text = &note[..note.rfind("\n\n")? + 1];
    let (origin, size, root) = note::parse_checkpoint(text).ok()?;
    Some(Checkpoint {
        origin: origin.to_string(),
        size,
        root,
        note,
    })
}

fn io(path: &Path, e: std::io::Error) -> ReadError {
    ReadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}
