//! Offline verification: recompute the tree from the entries, check every signed checkpoint
//! against it, and name the first entry and segment at fault.
//!
//! What names what:
//! - an entry's `index` out of place names a deletion, insertion or reordering;
//! - a segment that does not start where the previous one ended names a cut or removal;
//! - a leaf that differs from the one stored when it was written (`tree.hashes`) names an
//!   edited entry;
//! - a signed checkpoint whose root differs from the recomputed one pins an edit between the
//!   last checkpoint that matched and this one, even when the derived files were rewritten
//!   to match (a forgery made without the signing key);
//! - a signed checkpoint larger than the log names a truncation;
//! - `tree.hashes` holding the heads of more entries than the log has names a rollback: the
//!   log was cut back to an older signed checkpoint (segments cut, `checkpoint` and
//!   `checkpoints.jsonl` rewound), which only a checkpoint kept outside the folder
//!   (`--witness`) proves on its own.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::checkpoints::{read_history, Checkpoint};
use crate::layout::{list_segments, Segment, HASHES_FILE, LATEST_CHECKPOINT_FILE, PUBKEY_FILE};
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::note::VerifierKey;
use crate::{entry_index, MAX_ENTRY_BYTES};

#[derive(Default)]
pub struct VerifyOptions {
    /// The key the checkpoints must be signed by. Without it, the log's own `log.pub` is
    /// used, which proves nothing against someone who could rewrite the folder.
    pub pubkey: Option<VerifierKey>,
    /// Checkpoints kept elsewhere (`--checkpoint`), as (label, signed note).
    pub checkpoints: Vec<(String, String)>,
    /// Witness files (`--witness`): every checkpoint the writer published outside the folder
    /// (`[audit] witness_file`), in the `checkpoints.jsonl` format.
    pub witnesses: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: u64,
    pub segments: usize,
    /// Signed checkpoints checked against the recomputed tree.
    pub checkpoints: usize,
    /// Size and root of the largest signed checkpoint.
    pub signed_size: u64,
    pub root: Hash,
    /// Things that are not tampering but should be known.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Key(String),
    #[error("{at}: {problem}")]
    Checkpoint { at: String, problem: String },
    #[error("entry {entry} ({segment}, line {line}): {problem}")]
    Entry {
        entry: u64,
        segment: String,
        line: u64,
        problem: String,
    },
    #[error("{segment}: {problem}")]
    Segment { segment: String, problem: String },
}

impl VerifyError {
    /// The first entry at fault, when one can be named.
    pub fn entry(&self) -> Option<u64> {
        match self {
            VerifyError::Entry { entry, .. } => Some(*entry),
            _ => None,
        }
    }
}

struct Signed {
    root: Hash,
    source: String,
}

pub fn verify_dir(dir: &Path, options: VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let mut warnings = Vec::new();
    let read_err = |path: &Path, e: std::io::Error| VerifyError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let key = match options.pubkey {
        Some(k) => k,
        None => {
            let path = dir.join(PUBKEY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            warnings.push(format!(
                "checked against {} from the log's own folder; pass --pubkey with a copy kept elsewhere to rule out a re-signed forgery",
                path.display()
            ));
            VerifierKey::parse(&text)
                .map_err(|e| VerifyError::Key(format!("{}: {e}", path.display())))?
        }
    };

    // Every signed checkpoint we can find, by size.
    let mut signed: BTreeMap<u64, Signed> = BTreeMap::new();
    let mut add = |cp: Checkpoint, source: String| -> Result<(), VerifyError> {
        if let Some(have) = signed.get(&cp.size) {
            if have.root != cp.root {
                return Err(VerifyError::Checkpoint {
                    at: source,
                    problem: format!(
                        "signed with a different root than {} for the same size {}: the log was forked or rewritten",
                        have.source, cp.size
                    ),
                });
            }
            return Ok(());
        }
        signed.insert(
            cp.size,
            Signed {
                root: cp.root,
                source,
            },
        );
        Ok(())
    };
    let history = dir.join(crate::layout::CHECKPOINTS_FILE);
    let (lines, complete) = read_history(dir).map_err(|e| read_err(&history, e))?;
    let mut last_size = 0;
    for found in lines {
        let source = format!("{} line {}", crate::layout::CHECKPOINTS_FILE, found.line);
        let (listed_size, cp) = open_history_line(found, &source, &key)?;
        if cp.size != listed_size || cp.size < last_size {
            return Err(VerifyError::Checkpoint {
                at: source,
                problem: "size out of order or not the one the note signs".into(),
            });
        }
        last_size = cp.size;
        add(cp, source)?;
    }
    if std::fs::metadata(&history).is_ok_and(|m| m.len() > complete) {
        warnings.push(format!(
            "{} ends in an incomplete line (a checkpoint being written, or torn by a crash)",
            crate::layout::CHECKPOINTS_FILE
        ));
    }
    let latest = dir.join(LATEST_CHECKPOINT_FILE);
    if let Ok(note) = std::fs::read_to_string(&latest) {
        let cp = Checkpoint::open(&note, &key).map_err(|e| VerifyError::Checkpoint {
            at: LATEST_CHECKPOINT_FILE.into(),
            problem: e.to_string(),
        })?;
        add(cp, LATEST_CHECKPOINT_FILE.into())?;
    }
    for witness in &options.witnesses {
        let (lines, _) =
            crate::checkpoints::read_history_file(witness).map_err(|e| read_err(witness, e))?;
        if lines.is_empty() {
            return Err(VerifyError::Checkpoint {
                at: witness.display().to_string(),
                problem: "holds no checkpoint: is it the witness_file the server writes?".into(),
            });
        }
        for found in lines {
            let source = format!("{} line {}", witness.display(), found.line);
            let (_, cp) = open_history_line(found, &source, &key)?;
            add(cp, source)?;
        }
    }
    for (label, note) in options.checkpoints {
        let cp = Checkpoint::open(&note, &key).map_err(|e| VerifyError::Checkpoint {
            at: label.clone(),
            problem: e.to_string(),
        })?;
        add(cp, label)?;
    }

    let (segments, strays) = list_segments(dir).map_err(|e| read_err(dir, e))?;
    for stray in strays {
        warnings.push(format!(
            "segments/{stray} is not a segment file and was not read"
        ));
    }
    let mut stored = StoredHashes::open(&dir.join(HASHES_FILE));
    let mut frontier = Frontier::default();
    let mut checked = 0usize;
    let mut last_good = 0u64;
    let mut index_problem = None;
    let check_root = |frontier: &Frontier, segment: &Segment, last_good: &mut u64| {
        let size = frontier.size();
        match signed.get(&size) {
            Some(s) if s.root != frontier.root() => Err(VerifyError::Segment {
                segment: segment.name(),
                problem: format!(
                    "entries {}..{} do not match the signed checkpoint of size {size} ({}): an entry in that range was altered, or a segment was replaced by a forgery",
                    *last_good,
                    size - 1,
                    s.source
                ),
            }),
            Some(_) => {
                *last_good = size;
                Ok(true)
            }
            None => Ok(false),
        }
    };
    if check_root(
        &frontier,
        segments.first().unwrap_or(&Segment::new(dir, 0)),
        &mut last_good,
    )? {
        checked += 1;
    }
    for (n, segment) in segments.iter().enumerate() {
        let is_last = n + 1 == segments.len();
        let count = frontier.size();
        if segment.start != count {
            return Err(VerifyError::Segment {
                segment: segment.name(),
                problem: if segment.start > count {
                    format!(
                        "starts at entry {} but the entries before it end at {count}: entries {count}..{} are missing (a segment was cut short or removed)",
                        segment.start,
                        segment.start - 1
                    )
                } else {
                    format!(
                        "starts at entry {} but entries up to {} came before it: segments overlap (one was inserted or cut short)",
                        segment.start,
                        count - 1
                    )
                },
            });
        }
        let file = File::open(&segment.path).map_err(|e| read_err(&segment.path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(1024);
        let mut offsets = Vec::new();
        let mut offset = 0u64;
        let mut line_no = 0u64;
        loop {
            line.clear();
            let read = (&mut reader)
                .take(MAX_ENTRY_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| read_err(&segment.path, e))?;
            if read == 0 {
                break;
            }
            line_no += 1;
            let expected = frontier.size();
            let at_fault = |problem: String| VerifyError::Entry {
                entry: expected,
                segment: segment.name(),
                line: line_no,
                problem,
            };
            if line.pop() != Some(b'\n') {
                if read > MAX_ENTRY_BYTES {
                    return Err(at_fault("longer than any entry can be".into()));
                }
                if is_last {
                    warnings.push(format!(
                        "{} ends in an incomplete record ({read} bytes): being written, or torn by a crash; the server cuts it when it starts",
                        segment.name()
                    ));
                    break;
                }
                return Err(at_fault(
                    "incomplete record in the middle of the log (the segment was cut short)".into(),
                ));
            }
            match entry_index(&line) {
                Some(i) if i == expected => {}
                Some(i) => {
                    return Err(at_fault(format!(
                        "holds entry {i} where entry {expected} belongs: {}",
                        if i > expected {
                            "entries were deleted here"
                        } else {
                            "an entry was inserted, duplicated or moved here"
                        }
                    )))
                }
                None => {
                    return Err(at_fault(
                        "not an audit entry (no `{\"index\":N,` prefix): inserted or overwritten"
                            .into(),
                    ))
                }
            }
            let leaf = leaf_hash(&line);
            let mut mismatch = None;
            frontier.push(leaf, |level, start, head| {
                if mismatch.is_none() {
                    mismatch = stored.check(level, start, head);
                }
            });
            if let Some(problem) = mismatch {
                return Err(at_fault(problem));
            }
            offsets.extend_from_slice(&offset.to_le_bytes());
            offset += line.len() as u64 + 1;
            if check_root(&frontier, segment, &mut last_good)? {
                checked += 1;
            }
        }
        if let Some(next) = segments.get(n + 1) {
            let end = frontier.size();
            if next.start > end {
                return Err(VerifyError::Segment {
                    segment: segment.name(),
                    problem: format!(
                        "ends at entry {end} but the next segment starts at {}: entries {end}..{} are missing (this segment was cut short, or a segment removed)",
                        next.start,
                        next.start - 1
                    ),
                });
            }
        }
        if !is_last && !signed.contains_key(&frontier.size()) {
            return Err(VerifyError::Segment {
                segment: segment.name(),
                problem: format!(
                    "no signed checkpoint at its end (entry {}): the writer signs one at every rotation, so checkpoints were removed",
                    frontier.size()
                ),
            });
        }
        if index_problem.is_none() {
            let index = std::fs::read(segment.index_path()).unwrap_or_default();
            // The open segment's index may lag the entries by a batch; it is rebuilt at start.
            let consistent = if is_last {
                offsets.starts_with(&index) || index.starts_with(&offsets)
            } else {
                index == offsets
            };
            if !consistent {
                index_problem = Some(format!(
                    "{} does not match its segment (derived data: proofs and lookups would read the wrong entries)",
                    segment.index_path().display()
                ));
            }
        }
    }
    let entries = frontier.size();
    if let Some((&size, s)) = signed.range(entries + 1..).next() {
        return Err(VerifyError::Segment {
            segment: segments.last().map_or_else(|| "segments/".into(), Segment::name),
            problem: format!(
                "the log ends at {entries} entries but {} signs {size}: entries {entries}..{} were removed (the log was truncated)",
                s.source,
                size - 1
            ),
        });
    }
    let stored_size = crate::hashes::size_for_count(stored.total);
    if stored_size > entries {
        return Err(VerifyError::Segment {
            segment: HASHES_FILE.into(),
            problem: format!(
                "holds the subtree heads of {stored_size} entries but the log has {entries}: entries {entries}..{} were cut after they were written (the log was rolled back to an older checkpoint), or the server crashed before syncing them and has not restarted since; compare with a checkpoint kept outside the folder (--witness)",
                stored_size - 1
            ),
        });
    }
    let Some((&signed_size, _)) = signed.last_key_value() else {
        return Err(VerifyError::Checkpoint {
            at: dir.display().to_string(),
            problem: "no signed checkpoint: nothing vouches for these entries (checkpoints.jsonl and checkpoint are missing)".into(),
        });
    };
    if entries > signed_size {
        warnings.push(format!(
            "entries {signed_size}..{} come after the last signed checkpoint: not yet covered by a signature",
            entries - 1
        ));
    }
    if let Some(problem) = index_problem {
        return Err(VerifyError::Segment {
            segment: "index".into(),
            problem,
        });
    }
    if let Some(problem) = stored.problem {
        warnings.push(problem);
    }
    Ok(VerifyReport {
        entries,
        segments: segments.len(),
        checkpoints: checked,
        signed_size,
        root: frontier.root(),
        warnings,
    })
}

/// A line of `checkpoints.jsonl` or a witness file, opened with `key`: the size it lists,
/// and the checkpoint its note signs.
fn open_history_line(
    found: crate::checkpoints::FoundLine,
    source: &str,
    key: &VerifierKey,
) -> Result<(u64, Checkpoint), VerifyError> {
    let line = found.result.map_err(|problem| VerifyError::Checkpoint {
        at: source.to_string(),
        problem,
    })?;
    let cp = Checkpoint::open(&line.note, key).map_err(|e| VerifyError::Checkpoint {
        at: source.to_string(),
        problem: format!("{e} (forged or signed by another key)"),
    })?;
    Ok((line.size, cp))
}

/// `tree.hashes` read in step with the recomputation (its layout is the order in which the
/// frontier completes subtrees), to name the entry whose leaf changed.
struct StoredHashes {
    reader: Option<BufReader<File>>,
    position: u64,
    /// Hashes in the file (0 when it is missing).
    total: u64,
    problem: Option<String>,
}

impl StoredHashes {
    fn open(path: &Path) -> StoredHashes {
        let file = File::open(path).ok();
        let total = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len() / 32);
        let reader = file.map(|f| BufReader::with_capacity(1 << 20, f));
        StoredHashes {
            total,
            problem: reader.is_none().then(|| {
                format!(
                    "{} is missing: edited entries are found by checkpoint range only",
                    path.display()
                )
            }),
            reader,
            position: 0,
        }
    }

    /// `Some(problem)` when the stored head differs from the recomputed one.
    fn check(&mut self, level: u32, start: u64, head: &Hash) -> Option<String> {
        let reader = self.reader.as_mut()?;
        let mut stored = [0u8; 32];
        if reader.read_exact(&mut stored).is_err() {
            // Derived data may lag the entries; stop comparing.
            self.reader = None;
            return None;
        }
        self.position += 1;
        if stored == *head {
            return None;
        }
        if level == 0 {
            return Some("its content differs from when it was written (its leaf hash no longer matches tree.hashes): the entry was altered".into());
        }
        self.reader = None;
        self.problem = Some(format!(
            "tree.hashes is damaged at the head of entries {start}..{} (derived data; the server rebuilds it past the last checkpoint only)",
            start + (1 << level) - 1
        ));
        None
    }
}
