//! Where things live in the audit folder, and how segment files are named and found.

use std::path::{Path, PathBuf};

/// Folder of segment files and their indexes.
pub const SEGMENTS_DIR: &str = "segments";
/// Every complete subtree head, in stored-hash order.
pub const HASHES_FILE: &str = "tree.hashes";
/// Every signed checkpoint, one JSON line each.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
/// The latest signed checkpoint as a plain signed note.
pub const LATEST_CHECKPOINT_FILE: &str = "checkpoint";
/// The verifier key of the log's signing key.
pub const PUBKEY_FILE: &str = "log.pub";

const SEGMENT_EXT: &str = "jsonl";
const INDEX_EXT: &str = "idx";
/// More segments than this is not a log this reader will walk.
pub const MAX_SEGMENTS: usize = 1_000_000;

/// One segment: the entries from `start` on, until the next segment's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub path: PathBuf,
}

impl Segment {
    pub fn new(dir: &Path, start: u64) -> Segment {
        Segment {
            start,
            path: dir
                .join(SEGMENTS_DIR)
                .join(format!("{start:020}.{SEGMENT_EXT}")),
        }
    }

    /// The segment's index file.
    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension(INDEX_EXT)
    }

    /// The file name, as errors and reports show it.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The segments in `dir`, in order. Files that are not segments or indexes are returned as
/// `strays` so the verifier can point at them.
pub fn list_segments(dir: &Path) -> std::io::Result<(Vec<Segment>, Vec<String>)> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut segments = Vec::new();
    let mut strays = Vec::new();
    let entries = match std::fs::read_dir(&seg_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((segments, strays)),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match parse_name(&name) {
            Some((start, SEGMENT_EXT)) => segments.push(Segment {
                start,
                path: entry.path(),
            }),
            Some((_, INDEX_EXT)) => {}
            _ => strays.push(name),
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(std::io::Error::other(format!(
                "more than {MAX_SEGMENTS} segment files in {}",
                seg_dir.display()
            )));
        }
    }
    segments.sort_by_key(|s| s.start);
    strays.sort();
    Ok((segments, strays))
}

/// `00000000000000001234.jsonl` → (1234, "jsonl"). Exactly 20 digits, so names sort by start.
fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (digits, ext) = name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ext = match ext {
        SEGMENT_EXT => SEGMENT_EXT,
        INDEX_EXT => INDEX_EXT,
        _ => return None,
    };
    Some((digits.parse().ok()?, ext))
}

pub use palisade_files::{open_private, sync_dir};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_start_and_strays_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(SEGMENTS_DIR)).unwrap();
        for start in [1000u64, 0, 20] {
            let s = Segment::new(dir.path(), start);
            std::fs::write(&s.path, b"").unwrap();
            std::fs::write(s.index_path(), b"").unwrap();
        }
        std::fs::write(dir.path().join(SEGMENTS_DIR).join("evil.jsonl"), b"").unwrap();
        let (segs, strays) = list_segments(dir.path()).unwrap();
        assert_eq!(
            segs.iter().map(|s| s.start).collect::<Vec<_>>(),
            [0, 20, 1000]
        );
        assert_eq!(segs[1].name(), "00000000000000000020.jsonl");
        assert_eq!(strays, ["evil.jsonl"]);
    }
}
