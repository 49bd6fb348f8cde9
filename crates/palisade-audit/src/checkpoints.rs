//! The checkpoint history (`checkpoints.jsonl`) and the latest checkpoint (`checkpoint`).
//!
//! Every checkpoint the writer signs is kept, not just the latest: the verifier checks each
//! against the entries, so an edit is pinned between the last checkpoint that still matches
//! and the first that does not, even when the derived hash file was rewritten too.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::layout::{open_private, sync_dir, CHECKPOINTS_FILE, LATEST_CHECKPOINT_FILE};
use crate::merkle::Hash;
use crate::note::{self, NoteError, VerifierKey};

/// Longest line of `checkpoints.jsonl`; a signed checkpoint is a few hundred bytes.
pub const MAX_CHECKPOINT_LINE: usize = 16 * 1024;
/// More checkpoints than this in one history is not something the verifier will hold.
pub const MAX_CHECKPOINTS: usize = 10_000_000;

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The whole signed note, as published.
    pub note: String,
}

impl Checkpoint {
    /// Open a signed note with `key` and read the checkpoint inside.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Checkpoint, NoteError> {
        let text = key.open(note)?;
        let (origin, size, root) = note::parse_checkpoint(text)?;
        if origin != key.name() {
            return Err(NoteError::Checkpoint(
                "origin is not the signing key's name",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            note: note.to_string(),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryLine {
    pub size: u64,
    pub note: String,
}

/// Append a checkpoint to the history and make it the latest, durably; with a `witness`
/// file (outside the folder, ideally on another machine's mount), append it there too, so
/// a rollback of the folder cannot take the newest checkpoint with it.
pub fn publish(dir: &Path, size: u64, note: &str, witness: Option<&Path>) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(&HistoryLine {
        size,
        note: note.to_string(),
    })
    .map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut history = open_private(&dir.join(CHECKPOINTS_FILE), true)?;
    history.write_all(&line)?;
    history.sync_data()?;
    let tmp = dir.join(format!("{LATEST_CHECKPOINT_FILE}.tmp"));
    {
        let mut f = open_private(&tmp, false)?;
        f.set_len(0)?;
        f.write_all(note.as_bytes())?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, dir.join(LATEST_CHECKPOINT_FILE))?;
    sync_dir(dir)?;
    if let Some(witness) = witness {
        if let Some(parent) = witness.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = open_private(witness, true)?;
        file.write_all(&line)?;
        file.sync_data()?;
    }
    Ok(())
}

/// One line of the history as found: its number, and the note or what is wrong with it.
pub struct FoundLine {
    pub line: u64,
    pub result: Result<HistoryLine, String>,
}

/// Every line of the history (none if the file is missing), plus the byte length of its
/// complete lines: a crash can leave a torn last line, which the writer cuts off.
pub fn read_history(dir: &Path) -> std::io::Result<(Vec<FoundLine>, u64)> {
    read_history_file(&dir.join(CHECKPOINTS_FILE))
}

/// [`read_history`] of any file in that format (a witness file, see [`publish`]).
pub fn read_history_file(path: &Path) -> std::io::Result<(Vec<FoundLine>, u64)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut out = Vec::new();
    let body = bytes[..complete].strip_suffix(b"\n").unwrap_or_default();
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        if complete == 0 {
            break;
        }
        if out.len() >= MAX_CHECKPOINTS {
            return Err(std::io::Error::other(format!(
                "{} holds more than {MAX_CHECKPOINTS} checkpoints",
                path.display()
            )));
        }
        let result = if line.len() > MAX_CHECKPOINT_LINE {
            Err("longer than any checkpoint line can be".to_string())
        } else {
            serde_json::from_slice::<HistoryLine>(line)
                .map_err(|e| format!("not a checkpoint line: {e}"))
        };
        out.push(FoundLine {
            line: n as u64 + 1,
            result,
        });
    }
    Ok((out, complete as u64))
}

/// The last complete line of the history (none if the file is missing or empty), and the
/// byte length of its complete lines. Reads only the tail: a long-lived log has millions of
/// checkpoints, and opening it must not read them all.
pub fn read_last(dir: &Path) -> std::io::Result<(Option<Result<HistoryLine, String>>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let path = dir.join(CHECKPOINTS_FILE);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, 0)),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let window = len.min(2 * MAX_CHECKPOINT_LINE as u64 + 2);
    file.seek(SeekFrom::Start(len - window))?;
    let mut tail = Vec::with_capacity(window as usize);
    file.read_to_end(&mut tail)?;
    let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let complete_len = len - window + complete as u64;
    let body = tail[..complete].strip_suffix(b"\n").unwrap_or_default();
    if complete == 0 {
        return Ok((None, complete_len));
    }
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if window == len => body,
        None => {
            return Ok((
                Some(Err(
                    "the last line is longer than any checkpoint line can be".into(),
                )),
                complete_len,
            ))
        }
    };
    let parsed = serde_json::from_slice::<HistoryLine>(line)
        .map_err(|e| format!("not a checkpoint line: {e}"));
    Ok((Some(parsed), complete_len))
}
