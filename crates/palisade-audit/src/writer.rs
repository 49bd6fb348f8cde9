//! The single writer: callers queue events; one thread seals them in order and writes them
//! in batches (group commit), fsyncing on an interval.
//!
//! Why a thread and a bounded queue: sealing needs the previous hash, so it is serial by
//! nature; doing it off the request path keeps calls from queueing on a lock, and the bound
//! turns a slow disk into back-pressure instead of unbounded memory or dropped events.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{
    seal_into, split_sealed, AuditError, AuditEvent, AuditSink, GENESIS, LOG_FILE, MAX_LINE_BYTES,
};

const QUEUE: usize = 1 << 16;
/// After writing a batch, how long the writer waits for the next one to gather.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(1);
/// A batch stops growing at this many bytes, so one write never holds up the queue long.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// An open audit log. Dropping it (or calling [`AuditLog::close`]) flushes and syncs the tail.
pub struct AuditLog {
    tx: SyncSender<Message>,
    closed: AtomicBool,
    healthy: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Sequence number the next event gets.
    pub next_seq: u64,
    /// Bytes of a torn (unterminated) last line that were cut off, left by a crash mid-write.
    pub truncated_bytes: u64,
}

impl AuditLog {
    /// Open (or create) `dir/audit.jsonl` and continue its chain.
    pub fn open(
        dir: &Path,
        fsync_interval: Duration,
    ) -> Result<(AuditLog, OpenReport), AuditError> {
        let path = dir.join(LOG_FILE);
        let err = |e: std::io::Error| AuditError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(err)?;
        restrict_permissions(&path);
        let (tail, truncated_bytes) = read_tail(&mut file).map_err(err)?;
        let (next_seq, prev) = match tail {
            None => (0, GENESIS.to_string()),
            Some(line) => continue_chain(&line).map_err(|message| AuditError::Open {
                path: path.display().to_string(),
                message: format!(
                    "{message}; run `palisade audit verify {}` to find out what happened",
                    dir.display()
                ),
            })?,
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            file,
            rx,
            seq: next_seq,
            prev,
            fsync_interval,
            healthy: healthy.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("palisade-audit".into())
            .spawn(move || writer.run())
            .map_err(err)?;
        let log = AuditLog {
            tx,
            closed: AtomicBool::new(false),
            healthy,
            thread: Mutex::new(Some(thread)),
            path,
        };
        Ok((
            log,
            OpenReport {
                next_seq,
                truncated_bytes,
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop taking events, write and fsync what is queued, and wait for the writer.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Queued behind every event already sent, so those are written first.
            let _ = self.tx.send(Message::Close);
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl AuditSink for AuditLog {
    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        if !self.healthy.load(Ordering::Acquire) {
            return Err(AuditError::Unavailable(
                "the writer failed; see the server log".into(),
            ));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(AuditError::Unavailable("the log is closed".into()));
        }
        match self.tx.try_send(Message::Event(Box::new(event))) {
            Ok(()) => Ok(()),
            // A full queue means the disk is behind: wait for room rather than drop the event.
            Err(TrySendError::Full(message)) => self
                .tx
                .send(message)
                .map_err(|_| AuditError::Unavailable("the writer stopped".into())),
            Err(TrySendError::Disconnected(_)) => {
                Err(AuditError::Unavailable("the writer stopped".into()))
            }
        }
    }

    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }
}

enum Message {
    Event(Box<AuditEvent>),
    Close,
}

struct Writer {
    file: File,
    rx: Receiver<Message>,
    seq: u64,
    prev: String,
    fsync_interval: Duration,
    healthy: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self) {
        let mut buf = Vec::with_capacity(MAX_BATCH_BYTES + MAX_LINE_BYTES);
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        let mut open = true;
        while open {
            buf.clear();
            // Idle: block until an event comes. Busy: the previous batch was just written,
            // so linger for the group-commit window instead, while senders fill the queue
            // without having to wake this thread for every event.
            let first = match self.rx.recv_timeout(self.fsync_interval) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut next = first;
            while let Some(message) = next.take() {
                match message {
                    Message::Event(event) => self.seal(&mut buf, &event),
                    Message::Close => {
                        open = false;
                        break;
                    }
                }
                if buf.len() < MAX_BATCH_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
            if !buf.is_empty() {
                if let Err(e) = self.file.write_all(&buf) {
                    self.fail(e);
                    return;
                }
                unsynced = true;
            }
            if unsynced && (!open || last_sync.elapsed() >= self.fsync_interval) {
                if let Err(e) = self.file.sync_data() {
                    self.fail(e);
                    return;
                }
                last_sync = Instant::now();
                unsynced = false;
            }
            if open && !buf.is_empty() {
                std::thread::sleep(GROUP_COMMIT_WINDOW);
            }
        }
        if unsynced {
            if let Err(e) = self.file.sync_data() {
                self.fail(e);
            }
        }
    }

    fn seal(&mut self, buf: &mut Vec<u8>, event: &AuditEvent) {
        self.prev = seal_into(buf, self.seq, event, &self.prev);
        self.seq += 1;
    }

    fn fail(&self, e: std::io::Error) {
        // Calls fail closed from now on: the gate refuses to serve what it cannot record.
        self.healthy.store(false, Ordering::Release);
        eprintln!("{{\"level\":\"ERROR\",\"target\":\"palisade_audit\",\"message\":\"audit write failed: {e}\"}}");
    }
}

/// The last complete line of the file, cutting off a torn tail left by a crash.
fn read_tail(file: &mut File) -> std::io::Result<(Option<String>, u64)> {
    let len = file.metadata()?.len();
    let window = len.min(2 * MAX_LINE_BYTES as u64);
    file.seek(SeekFrom::Start(len - window))?;
    let mut bytes = Vec::with_capacity(window as usize);
    file.read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let torn = (bytes.len() - complete) as u64;
    if torn > 0 {
        file.set_len(len - torn)?;
    }
    let body = &bytes[..complete];
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if window == len => body,
        None => {
            return Err(std::io::Error::other(
                "last line is longer than the line limit",
            ))
        }
    };
    if line.is_empty() {
        return Ok((None, torn));
    }
    let line = String::from_utf8(line.to_vec())
        .map_err(|_| std::io::Error::other("last line is not UTF-8"))?;
    Ok((Some(line), torn))
}

/// Check the last line's own seal and return (next seq, its hash).
fn continue_chain(line: &str) -> Result<(u64, String), String> {
    use sha2::{Digest, Sha256};
    let (prefix, hash) = split_sealed(line).ok_or("the last line is not a sealed audit line")?;
    if hex::encode(Sha256::digest(prefix.as_bytes())) != hash {
        return Err("the last line does not match its hash".into());
    }
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    let seq: Seq =
        serde_json::from_str(line).map_err(|e| format!("the last line is not valid JSON: {e}"))?;
    Ok((seq.seq + 1, hash.to_string()))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path) {}
