//! Opening a log after a clean stop or a crash: cut a torn trailing record, rebuild the
//! derived files (segment index, stored hashes) past the last checkpoint, and check that
//! the entries still match the last signed checkpoint before writing anything new.
//!
//! Why only a *trailing* record may be cut: a batch is acknowledged after its bytes are
//! synced, so a crash can only leave an unterminated last line that nobody was told was
//! recorded. Anything else wrong is tampering or disk damage, and the log refuses to open
//! rather than write on top of it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::checkpoints::{read_last, Checkpoint};
use crate::hashes::{read_hash, size_for_count, stored_count, StoredTree};
use crate::layout::{list_segments, open_private, sync_dir, Segment, HASHES_FILE, SEGMENTS_DIR};
use crate::merkle::{leaf_hash, Frontier, Subtrees};
use crate::note::VerifierKey;
use crate::{entry_index, MAX_ENTRY_BYTES};

/// A segment larger than this is not one this writer made.
const MAX_SEGMENT_FILE: u64 = 4 << 30;

/// What the writer continues from.
pub struct Recovered {
    pub segment: Segment,
    pub segment_file: File,
    pub index_file: File,
    /// Bytes of entries in the open segment.
    pub segment_bytes: u64,
    pub hashes: File,
    pub frontier: Frontier,
    pub latest: Option<Checkpoint>,
    /// Bytes of a torn trailing record that were cut off.
    pub truncated_bytes: u64,
}

pub fn recover(dir: &Path, key: &VerifierKey) -> Result<Recovered, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    create_private_dir(dir).map_err(|e| io(&dir.display().to_string(), e))?;
    let seg_dir = dir.join(SEGMENTS_DIR);
    create_private_dir(&seg_dir).map_err(|e| io(&seg_dir.display().to_string(), e))?;

    let latest = latest_checkpoint(dir, key)?;
    let (segments, _) = list_segments(dir).map_err(|e| io(&seg_dir.display().to_string(), e))?;
    let segment = match segments.last() {
        Some(s) => s.clone(),
        None => {
            if latest.as_ref().is_some_and(|c| c.size > 0) {
                return Err("the segment files are gone but signed checkpoints remain".into());
            }
            let s = Segment::new(dir, 0);
            open_private(&s.path, true).map_err(|e| io(&s.name(), e))?;
            sync_dir(&seg_dir).map_err(|e| io(&seg_dir.display().to_string(), e))?;
            s
        }
    };

    // The open segment: cut a torn tail, check every line's index, rebuild its index file.
    let mut segment_file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&segment.path)
        .map_err(|e| io(&segment.name(), e))?;
    let (offsets, segment_bytes, truncated_bytes) = scan_open_segment(&mut segment_file, &segment)?;
    let size = segment.start + offsets.len() as u64;
    let mut index_file =
        open_private(&segment.index_path(), false).map_err(|e| io(&segment.name(), e))?;
    index_file
        .set_len(0)
        .and_then(|()| {
            let bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
            index_file.write_all(&bytes)
        })
        .map_err(|e| io(&segment.index_path().display().to_string(), e))?;

    if let Some(cp) = &latest {
        if cp.size > size {
            return Err(format!(
                "a signed checkpoint covers {} entries but only {size} are left: entries were removed",
                cp.size
            ));
        }
    }

    // Stored hashes: trust them up to the last checkpoint (they were synced before it was
    // signed), rebuild the rest from the entries.
    let hashes_path = dir.join(HASHES_FILE);
    let mut hashes = open_private(&hashes_path, true).map_err(|e| io(HASHES_FILE, e))?;
    let have = hashes.metadata().map_err(|e| io(HASHES_FILE, e))?.len() / 32;
    let trusted = size_for_count(have).min(latest.as_ref().map_or(0, |c| c.size));
    hashes
        .set_len(stored_count(trusted) * 32)
        .map_err(|e| io(HASHES_FILE, e))?;
    let mut heads = Vec::new();
    for (lo, hi) in Frontier::ranges(trusted) {
        let level = (hi - lo).trailing_zeros();
        let position = crate::hashes::stored_index(level, lo >> level);
        heads.push(read_hash(&hashes, position).map_err(|e| io(HASHES_FILE, e))?);
    }
    let mut frontier = Frontier::from_heads(trusted, heads).ok_or("stored hashes do not add up")?;
    let mut pending = Vec::new();
    for_each_entry(dir, &segments, trusted, size, |line| {
        frontier.push(leaf_hash(line), |_, _, head| {
            pending.extend_from_slice(head)
        });
        Ok(())
    })?;
    hashes
        .seek(SeekFrom::End(0))
        .and_then(|_| hashes.write_all(&pending))
        .and_then(|()| hashes.sync_data())
        .map_err(|e| io(HASHES_FILE, e))?;

    if let Some(cp) = &latest {
        if cp.size > 0 {
            let tree = StoredTree::open(&hashes_path, cp.size).map_err(|e| io(HASHES_FILE, e))?;
            let root = tree.subtree(0, cp.size).map_err(|e| io(HASHES_FILE, e))?;
            if root != cp.root {
                return Err(format!(
                    "the entries no longer match the signed checkpoint of size {}",
                    cp.size
                ));
            }
        }
    }
    Ok(Recovered {
        segment,
        segment_file,
        index_file,
        segment_bytes,
        hashes,
        frontier,
        latest,
        truncated_bytes,
    })
}

/// The latest checkpoint in the history, which must verify with `key`. Only the last line
/// is read: checking every earlier one is `palisade audit verify`'s job, not start-up's.
fn latest_checkpoint(dir: &Path, key: &VerifierKey) -> Result<Option<Checkpoint>, String> {
    let path = dir.join(crate::layout::CHECKPOINTS_FILE);
    let name = crate::layout::CHECKPOINTS_FILE;
    let (last, complete) = read_last(dir).map_err(|e| format!("{name}: {e}"))?;
    if path.exists() {
        // A torn last line is a checkpoint that was never published: cut it.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if f.metadata().map(|m| m.len()).unwrap_or(0) > complete {
            f.set_len(complete)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let Some(line) = last else {
        return Ok(None);
    };
    let line = line.map_err(|e| format!("{name}, last line: {e}"))?;
    let cp = Checkpoint::open(&line.note, key).map_err(|e| {
        format!(
            "{name}, last line: {e} (was the signing key changed? a new key needs a new audit folder)"
        )
    })?;
    if cp.size != line.size {
        return Err(format!(
            "{name}, last line: its size is not the one the note signs"
        ));
    }
    Ok(Some(cp))
}

/// Offsets of the open segment's entries, its length in bytes, and the torn bytes cut.
fn scan_open_segment(file: &mut File, segment: &Segment) -> Result<(Vec<u64>, u64, u64), String> {
    let name = segment.name();
    let len = file.metadata().map_err(|e| format!("{name}: {e}"))?.len();
    if len > MAX_SEGMENT_FILE {
        return Err(format!(
            "{name}: larger than any segment this server writes"
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| format!("{name}: {e}"))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let torn = (bytes.len() - complete) as u64;
    if torn > 0 {
        file.set_len(complete as u64)
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("{name}: {e}"))?;
    }
    let mut offsets = Vec::new();
    let mut at = 0usize;
    for line in bytes[..complete].split_inclusive(|&b| b == b'\n') {
        let expected = segment.start + offsets.len() as u64;
        let body = &line[..line.len() - 1];
        if body.len() > MAX_ENTRY_BYTES || entry_index(body) != Some(expected) {
            return Err(format!(
                "{name} line {}: not entry {expected} (the log was altered)",
                offsets.len() + 1
            ));
        }
        offsets.push(at as u64);
        at += line.len();
    }
    Ok((offsets, complete as u64, torn))
}

/// Call `f` with every entry line (without newline) with index in `from..to`.
pub fn for_each_entry(
    dir: &Path,
    segments: &[Segment],
    from: u64,
    to: u64,
    mut f: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    if from >= to {
        return Ok(());
    }
    let first = segments
        .partition_point(|s| s.start <= from)
        .saturating_sub(1);
    let mut next = from;
    for segment in &segments[first..] {
        if segment.start >= to {
            break;
        }
        let bytes = std::fs::read(&segment.path).map_err(|e| format!("{}: {e}", segment.name()))?;
        for (index, line) in (segment.start..).zip(bytes.split_inclusive(|&b| b == b'\n')) {
            if index >= to {
                break;
            }
            let Some(body) = line.strip_suffix(b"\n") else {
                break;
            };
            if index >= next {
                if entry_index(body) != Some(index) {
                    return Err(format!(
                        "{} holds no entry {index} where it should (the log was altered)",
                        segment.name()
                    ));
                }
                f(body)?;
                next += 1;
            }
        }
    }
    if next != to {
        return Err(format!(
            "entries {next}..{to} are missing from {}",
            dir.join(SEGMENTS_DIR).display()
        ));
    }
    Ok(())
}

/// The log's folders are owner-only, whoever created them.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    palisade_files::create_private_dir(path)?;
    palisade_files::restrict_dir(path)
}
