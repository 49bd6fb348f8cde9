//! The single writer: callers queue events; one thread frames them, extends the tree and
//! writes them in batches (group commit), then signs checkpoints and rotates segments.
//!
//! Why one thread and a bounded queue: entry N's index and the tree's right edge are serial
//! by nature; doing that work off the request path keeps calls from queueing on a lock,
//! and the bound turns a slow disk into back-pressure instead of unbounded memory or
//! dropped events. Events are serialized by the caller, so the writer only frames, hashes
//! and writes.
//!
//! Durability `per_call`: a call's receipt resolves once its entry is synced to disk. While
//! one batch syncs, the next gathers in the queue, so concurrent calls share one fsync.
//! `interval`: receipts resolve at once and the data is synced every interval.
//!
//! Checkpoints are signed on a thread of their own: publishing one syncs the index and
//! hash files and writes two more files (five fsyncs, tens of milliseconds on a virtual
//! disk), and a writer that did it inline held every waiting call for that long. The writer
//! hands over the tree's size and root; the checkpointer syncs the files (clones of the
//! writer's handles), signs and publishes, in order. Where the writer must know a checkpoint
//! is out (closing a segment, closing the log) it waits for it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::checkpoints::{publish, Checkpoint};
use crate::layout::{open_private, sync_dir, Segment, PUBKEY_FILE, SEGMENTS_DIR};
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::note::{checkpoint_text, SignerKey, VerifierKey};
use crate::reader::LogReader;
use crate::recover::{recover, Recovered};
use crate::{frame_entry, AuditError, AuditEvent, MAX_ENTRY_BYTES};

const QUEUE: usize = 1 << 16;
/// A batch stops growing at this many bytes, so one write never holds up the queue long.
const MAX_BATCH_BYTES: usize = 1 << 20;
/// With `interval` durability, how long the writer lets events gather between batches.
const GATHER_WINDOW: Duration = Duration::from_millis(1);

/// When an entry counts as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The call waits until its entry is synced (shared with concurrent calls).
    PerCall,
    /// Entries are synced every interval; a crash can lose up to one interval.
    Interval(Duration),
}

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub durability: Durability,
    /// A segment is closed once it reaches this size ...
    pub segment_max_bytes: u64,
    /// ... or this age, whichever comes first.
    pub segment_max_age: Duration,
    /// Sign a checkpoint after this many new entries ...
    pub checkpoint_every: u64,
    /// ... or this long after the last one, if the log grew.
    pub checkpoint_interval: Duration,
    /// Also append every signed checkpoint here (outside the log's folder): what a witness
    /// compares the folder with to catch a rollback.
    pub witness: Option<PathBuf>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            durability: Durability::PerCall,
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(24 * 3600),
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(10),
            witness: None,
        }
    }
}

/// An open audit log. Dropping it (or calling [`AuditLog::close`]) writes, syncs and signs
/// the tail.
pub struct AuditLog {
    tx: SyncSender<Message>,
    closed: AtomicBool,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    durability: Durability,
    verifier: String,
}

/// What the writer thread and the handle both see.
struct Shared {
    healthy: AtomicBool,
    queued: AtomicUsize,
    latest: RwLock<Option<Checkpoint>>,
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Entries in the log.
    pub size: u64,
    /// Bytes of a torn trailing record that were cut off, left by a crash mid-write.
    pub truncated_bytes: u64,
    /// Entries found past the last checkpoint (a crash before it was signed); now signed.
    pub unsigned_entries: u64,
}

/// Resolves once the event is as durable as the log's [`Durability`] promises.
#[must_use = "a per-call receipt must be awaited before the call is answered"]
pub struct Receipt(Option<oneshot::Receiver<Result<(), String>>>);

impl Receipt {
    /// Wait, from async code.
    pub async fn durable(self) -> Result<(), AuditError> {
        match self.0 {
            None => Ok(()),
            Some(rx) => settle(rx.await),
        }
    }

    /// Wait, from a plain thread.
    pub fn wait(self) -> Result<(), AuditError> {
        match self.0 {
            None => Ok(()),
            Some(rx) => settle(rx.blocking_recv()),
        }
    }
}

fn settle(r: Result<Result<(), String>, oneshot::error::RecvError>) -> Result<(), AuditError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AuditError::Unavailable(e)),
        Err(_) => Err(AuditError::Unavailable("the writer stopped".into())),
    }
}

impl AuditLog {
    /// Open (or create) the log in `dir`, signing checkpoints with `key`.
    pub fn open(
        dir: &Path,
        key: SignerKey,
        options: WriterOptions,
    ) -> Result<(AuditLog, OpenReport), AuditError> {
        let open_err = |message: String| AuditError::Open {
            path: dir.display().to_string(),
            message,
        };
        let verifier = key.verifier();
        let verifier_key = VerifierKey::parse(&verifier).map_err(|e| open_err(e.to_string()))?;
        let recovered = recover(dir, &verifier_key).map_err(|m| {
            open_err(format!(
                "{m}; run `palisade audit verify {}` to find out what happened",
                dir.display()
            ))
        })?;
        write_pubkey(dir, &verifier).map_err(|e| open_err(format!("{PUBKEY_FILE}: {e}")))?;
        let shared = Arc::new(Shared {
            healthy: AtomicBool::new(true),
            queued: AtomicUsize::new(0),
            latest: RwLock::new(recovered.latest.clone()),
        });
        let Recovered {
            segment,
            segment_file,
            index_file,
            segment_bytes,
            hashes,
            frontier,
            latest,
            truncated_bytes,
        } = recovered;
        let checkpointed = latest.as_ref().map_or(0, |c| c.size);
        let report = OpenReport {
            size: frontier.size(),
            truncated_bytes,
            unsigned_entries: frontier.size() - checkpointed,
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let checkpointer = Checkpointer::spawn(dir, key, options.witness.clone(), shared.clone())
            .map_err(|e| open_err(e.to_string()))?;
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            rx,
            options: options.clone(),
            checkpointer,
            open: OpenSegment {
                start: segment.start,
                file: segment_file,
                index: index_file,
                bytes: segment_bytes,
                opened: Instant::now(),
            },
            hashes,
            frontier,
            checkpointed,
            has_checkpoint: latest.is_some(),
            last_checkpoint: Instant::now(),
            last_sync: Instant::now(),
            unsynced: false,
            shared: shared.clone(),
            entries: Vec::with_capacity(MAX_BATCH_BYTES + MAX_ENTRY_BYTES),
            index: Vec::new(),
            heads: Vec::new(),
            acks: Vec::new(),
        };
        // Entries a crash left unsigned, or a new log: sign now, so every entry is covered.
        if !writer.has_checkpoint || report.unsigned_entries > 0 {
            writer
                .checkpoint(Wait::Published)
                .map_err(|e| open_err(format!("cannot sign a checkpoint: {e}")))?;
        }
        let thread = std::thread::Builder::new()
            .name("palisade-audit".into())
            .spawn(move || writer.run())
            .map_err(|e| open_err(e.to_string()))?;
        Ok((
            AuditLog {
                tx,
                closed: AtomicBool::new(false),
                shared,
                thread: Mutex::new(Some(thread)),
                dir: dir.to_path_buf(),
                durability: options.durability,
                verifier,
            },
            report,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verifier key (`name+hash+base64`) that checks this log's checkpoints.
    pub fn verifier_key(&self) -> &str {
        &self.verifier
    }

    /// The latest signed checkpoint.
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        self.shared.latest.read().ok().and_then(|c| c.clone())
    }

    /// A reader over what the latest checkpoint covers (for proofs, tail and search).
    pub fn reader(&self) -> Result<LogReader, crate::ReadError> {
        LogReader::open_at(&self.dir, self.latest_checkpoint())
    }

    /// Events queued and not yet written.
    pub fn queue_depth(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// True while events are being written.
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Acquire)
    }

    /// Queue an event. An error (or a receipt that resolves to one) means it will not be
    /// recorded: the caller must treat the call as failed rather than serve it unrecorded.
    pub fn record(&self, event: &AuditEvent) -> Result<Receipt, AuditError> {
        if !self.healthy() {
            return Err(AuditError::Unavailable(
                "the writer failed; see the server log".into(),
            ));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(AuditError::Unavailable("the log is closed".into()));
        }
        let body = serde_json::to_vec(event)
            .map_err(|e| AuditError::Unavailable(format!("event not serializable: {e}")))?;
        if body.len() + 32 > MAX_ENTRY_BYTES {
            return Err(AuditError::Unavailable(format!(
                "event of {} bytes is over the {MAX_ENTRY_BYTES}-byte entry limit",
                body.len()
            )));
        }
        let (ack, receipt) = match self.durability {
            Durability::PerCall => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Receipt(Some(rx)))
            }
            Durability::Interval(_) => (None, Receipt(None)),
        };
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let message = Message::Event { body, ack };
        let sent = match self.tx.try_send(message) {
            Ok(()) => Ok(()),
            // A full queue means the disk is behind: wait for room rather than drop the event.
            Err(TrySendError::Full(message)) => self.tx.send(message).map_err(|_| ()),
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        sent.map(|()| receipt).map_err(|()| {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            AuditError::Unavailable("the writer stopped".into())
        })
    }

    /// Stop taking events, write, sync and sign what is queued, and wait for the writer.
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

fn write_pubkey(dir: &Path, verifier: &str) -> std::io::Result<()> {
    let path = dir.join(PUBKEY_FILE);
    let want = format!("{verifier}\n");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
        std::fs::write(&path, want)?;
    }
    Ok(())
}

enum Message {
    Event {
        body: Vec<u8>,
        ack: Option<oneshot::Sender<Result<(), String>>>,
    },
    Close,
}

struct OpenSegment {
    start: u64,
    file: File,
    index: File,
    /// Bytes written to `file`.
    bytes: u64,
    opened: Instant,
}

struct Writer {
    dir: PathBuf,
    rx: Receiver<Message>,
    options: WriterOptions,
    checkpointer: Checkpointer,
    open: OpenSegment,
    hashes: File,
    frontier: Frontier,
    checkpointed: u64,
    has_checkpoint: bool,
    last_checkpoint: Instant,
    last_sync: Instant,
    unsynced: bool,
    shared: Arc<Shared>,
    // The batch being gathered.
    entries: Vec<u8>,
    index: Vec<u8>,
    heads: Vec<u8>,
    acks: Vec<oneshot::Sender<Result<(), String>>>,
}

impl Writer {
    fn run(mut self) {
        let mut open = true;
        while open {
            let first = match self.rx.recv_timeout(self.next_deadline()) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut next = first;
            let mut taken = 0usize;
            while let Some(message) = next.take() {
                match message {
                    Message::Event { body, ack } => {
                        taken += 1;
                        if let Err(e) = self.append(&body, ack) {
                            return self.fail(e);
                        }
                    }
                    Message::Close => {
                        open = false;
                        break;
                    }
                }
                if self.entries.len() < MAX_BATCH_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
            self.shared.queued.fetch_sub(taken, Ordering::Relaxed);
            if let Err(e) = self.flush().and_then(|()| self.timers(!open)) {
                return self.fail(e);
            }
            // Nobody waits on an `interval` batch: linger so the next one gathers in the
            // queue, rather than paying a write(2) for every event or two.
            if open && taken > 0 && matches!(self.options.durability, Durability::Interval(_)) {
                std::thread::sleep(GATHER_WINDOW);
            }
        }
        if let Err(e) = self.flush().and_then(|()| self.timers(true)) {
            self.fail(e);
        }
    }

    /// How long to wait for events before a timer is due.
    fn next_deadline(&self) -> Duration {
        let mut wait = self
            .options
            .segment_max_age
            .saturating_sub(self.open.opened.elapsed());
        if self.frontier.size() > self.checkpointed {
            wait = wait.min(
                self.options
                    .checkpoint_interval
                    .saturating_sub(self.last_checkpoint.elapsed()),
            );
        }
        if let (true, Durability::Interval(every)) = (self.unsynced, self.options.durability) {
            wait = wait.min(every.saturating_sub(self.last_sync.elapsed()));
        }
        wait.max(Duration::from_millis(1))
    }

    /// Add one entry to the batch, rotating first if it would overflow the segment.
    fn append(
        &mut self,
        body: &[u8],
        ack: Option<oneshot::Sender<Result<(), String>>>,
    ) -> std::io::Result<()> {
        let line_len = body.len() as u64 + 32;
        let in_segment = self.open.bytes + self.entries.len() as u64;
        if in_segment > 0 && in_segment + line_len > self.options.segment_max_bytes {
            self.flush()?;
            self.rotate()?;
        }
        let offset = self.open.bytes + self.entries.len() as u64;
        let start = self.entries.len();
        frame_entry(&mut self.entries, self.frontier.size(), body);
        let leaf = leaf_hash(&self.entries[start..]);
        self.entries.push(b'\n');
        self.index.extend_from_slice(&offset.to_le_bytes());
        let heads = &mut self.heads;
        self.frontier
            .push(leaf, |_, _, head| heads.extend_from_slice(head));
        if let Some(ack) = ack {
            self.acks.push(ack);
        }
        Ok(())
    }

    /// Write the batch; sync it if anyone waits for it.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        // Entries first: the derived files are rebuilt from them after a crash.
        self.open.file.write_all(&self.entries)?;
        self.open.index.write_all(&self.index)?;
        self.hashes.write_all(&self.heads)?;
        self.open.bytes += self.entries.len() as u64;
        self.entries.clear();
        self.index.clear();
        self.heads.clear();
        if self.acks.is_empty() {
            self.unsynced = true;
        } else {
            self.open.file.sync_data()?;
            self.last_sync = Instant::now();
            self.unsynced = false;
            for ack in self.acks.drain(..) {
                let _ = ack.send(Ok(()));
            }
        }
        Ok(())
    }

    /// Sync on the interval, sign checkpoints and rotate when due (all of it when closing).
    fn timers(&mut self, closing: bool) -> std::io::Result<()> {
        if self.unsynced {
            let due = match self.options.durability {
                Durability::Interval(every) => self.last_sync.elapsed() >= every,
                Durability::PerCall => true,
            };
            if due || closing {
                self.open.file.sync_data()?;
                self.last_sync = Instant::now();
                self.unsynced = false;
            }
        }
        let grown = self.frontier.size() - self.checkpointed;
        if grown > 0
            && (closing
                || grown >= self.options.checkpoint_every
                || self.last_checkpoint.elapsed() >= self.options.checkpoint_interval)
        {
            // Closing waits for the last one: nothing is left unsigned when the log stops.
            self.checkpoint(if closing { Wait::Published } else { Wait::No })?;
        }
        if !closing
            && self.open.bytes > 0
            && self.open.opened.elapsed() >= self.options.segment_max_age
        {
            self.rotate()?;
        }
        Ok(())
    }

    /// Have a checkpoint of the whole tree signed and published; the derived files are
    /// synced first, so after a crash they can be trusted up to the last checkpoint. With
    /// [`Wait::No`] a checkpointer still busy with the previous one is not waited for: the
    /// next checkpoint covers these entries too.
    fn checkpoint(&mut self, wait: Wait) -> std::io::Result<()> {
        let job = CheckpointJob {
            size: self.frontier.size(),
            root: self.frontier.root(),
            files: [
                self.open.file.try_clone()?,
                self.open.index.try_clone()?,
                self.hashes.try_clone()?,
            ],
        };
        let size = job.size;
        if !self.checkpointer.submit(job, wait)? {
            return Ok(());
        }
        self.checkpointed = size;
        self.has_checkpoint = true;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Close the segment at a signed checkpoint and start the next one.
    fn rotate(&mut self) -> std::io::Result<()> {
        if self.frontier.size() > self.checkpointed || !self.has_checkpoint {
            // A closed segment ends at a published checkpoint (`verify` checks it), so this
            // one is waited for: calls queue behind a rotation, once per segment.
            self.checkpoint(Wait::Published)?;
        }
        let next = Segment::new(&self.dir, self.frontier.size());
        let file = open_private(&next.path, true)?;
        let index = open_private(&next.index_path(), true)?;
        sync_dir(&self.dir.join(SEGMENTS_DIR))?;
        self.open = OpenSegment {
            start: next.start,
            file,
            index,
            bytes: 0,
            opened: Instant::now(),
        };
        Ok(())
    }

    fn fail(mut self, e: std::io::Error) {
        // Calls fail closed from now on: the gate refuses to serve what it cannot record.
        self.shared.healthy.store(false, Ordering::Release);
        for ack in self.acks.drain(..) {
            let _ = ack.send(Err(format!("audit write failed: {e}")));
        }
        eprintln!(
            "{{\"level\":\"ERROR\",\"target\":\"palisade_audit\",\"message\":\"audit write failed in segment starting at {}: {}\"}}",
            self.open.start,
            e.to_string().replace('"', "'")
        );
    }
}

/// Whether the writer waits for a checkpoint to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Skipped when the checkpointer is still busy: the next one covers these entries.
    No,
    Published,
}

/// A checkpoint to sign: the tree as it stood when the writer asked, and the files to sync
/// before it is published (the open segment, its index, the hash file).
struct CheckpointJob {
    size: u64,
    root: Hash,
    files: [File; 3],
}

/// Where the checkpointer says a waited-for checkpoint is out (or why not).
type Published = mpsc::SyncSender<std::io::Result<()>>;

/// The checkpoint thread's end of the writer (see the module docs).
struct Checkpointer {
    tx: Option<SyncSender<(CheckpointJob, Option<Published>)>>,
    thread: Option<JoinHandle<()>>,
}

/// Checkpoints asked for and not yet published; more are skipped, not queued.
const CHECKPOINTS_PENDING: usize = 2;

impl Checkpointer {
    fn spawn(
        dir: &Path,
        key: SignerKey,
        witness: Option<PathBuf>,
        shared: Arc<Shared>,
    ) -> std::io::Result<Checkpointer> {
        let (tx, rx) =
            mpsc::sync_channel::<(CheckpointJob, Option<mpsc::SyncSender<_>>)>(CHECKPOINTS_PENDING);
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("palisade-checkpoint".into())
            .spawn(move || {
                for (job, done) in rx {
                    let published = publish_checkpoint(&dir, &key, witness.as_deref(), &shared, job);
                    if let Err(e) = &published {
                        // Calls fail closed from now on, as when an entry cannot be written.
                        shared.healthy.store(false, Ordering::Release);
                        eprintln!(
                            "{{\"level\":\"ERROR\",\"target\":\"palisade_audit\",\"message\":\"audit checkpoint failed: {}\"}}",
                            e.to_string().replace('"', "'")
                        );
                    }
                    if let Some(done) = done {
                        let _ = done.send(published);
                    }
                }
            })?;
        Ok(Checkpointer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hand `job` over; true when it was taken (and, with [`Wait::Published`], published).
    fn submit(&self, job: CheckpointJob, wait: Wait) -> std::io::Result<bool> {
        let stopped = || std::io::Error::other("the checkpoint thread stopped");
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        match wait {
            Wait::No => match tx.try_send((job, None)) {
                Ok(()) => Ok(true),
                Err(TrySendError::Full(_)) => Ok(false),
                Err(TrySendError::Disconnected(_)) => Err(stopped()),
            },
            Wait::Published => {
                let (done, published) = mpsc::sync_channel(1);
                tx.send((job, Some(done))).map_err(|_| stopped())?;
                published.recv().map_err(|_| stopped())??;
                Ok(true)
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Every checkpoint asked for is published before the log counts as closed.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn publish_checkpoint(
    dir: &Path,
    key: &SignerKey,
    witness: Option<&Path>,
    shared: &Shared,
    job: CheckpointJob,
) -> std::io::Result<()> {
    for file in &job.files {
        file.sync_data()?;
    }
    let text = checkpoint_text(key.name(), job.size, &job.root);
    let note = key.sign(&text).map_err(std::io::Error::other)?;
    publish(dir, job.size, &note, witness)?;
    if let Ok(mut latest) = shared.latest.write() {
        *latest = Some(Checkpoint {
            origin: key.name().to_string(),
            size: job.size,
            root: job.root,
            note,
        });
    }
    Ok(())
}
