//! The store port: what every event store offers, with KurrentDB's semantics.
//!
//! The store keeps opaque bytes with a stream name, a stream revision and a global log position.
//! It knows nothing of envelopes, signatures or the domain; the log service above it does.

use async_trait::async_trait;
use klero_ledger::envelope::EventId;
use std::fmt;
use std::sync::Arc;

/// A position in the global log. Positions grow strictly in commit order. The embedded store
/// numbers events 0, 1, 2, …; other stores need not be dense, so callers count, never subtract.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LogPosition(pub u64);

impl LogPosition {
    pub const START: LogPosition = LogPosition(0);
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The optimistic-concurrency condition of an append, as in KurrentDB.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExpectedRevision {
    /// Append whatever the stream's state.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must already have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(u64),
}

impl ExpectedRevision {
    /// Whether the condition holds for a stream whose last revision is `current` (`None`: no
    /// stream). Every layer that checks an expectation uses this one definition.
    pub fn holds(self, current: Option<u64>) -> bool {
        match self {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => current.is_none(),
            ExpectedRevision::StreamExists => current.is_some(),
            ExpectedRevision::Exact(revision) => current == Some(revision),
        }
    }
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedRevision::Any => f.write_str("any"),
            ExpectedRevision::NoStream => f.write_str("no stream"),
            ExpectedRevision::StreamExists => f.write_str("stream exists"),
            ExpectedRevision::Exact(revision) => write!(f, "revision {revision}"),
        }
    }
}

/// One event to append.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventData {
    /// Client-chosen id; appending it again returns the original result.
    pub event_id: EventId,
    /// Type name, for stores (like KurrentDB) that index by it.
    pub event_type: String,
    /// The exact bytes to keep.
    pub data: Vec<u8>,
}

/// An event as the store holds it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RecordedEvent {
    pub event_id: EventId,
    pub stream: String,
    /// 0-based revision within `stream`.
    pub stream_revision: u64,
    /// Position in the global log.
    pub position: LogPosition,
    pub event_type: String,
    /// The bytes exactly as appended.
    pub data: Vec<u8>,
}

/// What an append did (or, for an idempotent retry, did the first time).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AppendResult {
    /// Revision of the last event of the append: the next append's `ExpectedRevision::Exact`.
    pub last_revision: u64,
    /// Global position of the first event appended.
    pub first_position: LogPosition,
    /// Global position of the last event appended.
    pub last_position: LogPosition,
}

/// Where a stream read starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StreamStart {
    /// Revision 0 forwards, or the last revision backwards.
    Beginning,
    /// This revision, included.
    Revision(u64),
}

/// Direction of a stream read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReadDirection {
    Forwards,
    Backwards,
}

/// A catch-up subscription to the whole log: it delivers every event after its start in
/// position order, first the history and then live events, with no gap and no duplicate.
#[async_trait]
pub trait LogSubscription: Send {
    /// The next event; waits for one when caught up. An error ends the subscription.
    async fn next(&mut self) -> Result<RecordedEvent, StoreError>;
}

/// A document being kept as its bytes arrive ([`EventStore::begin_document`]). Dropped before
/// [`DocumentUpload::finish`], it keeps nothing.
#[async_trait]
pub trait DocumentUpload: Send {
    /// The next part of the bytes.
    async fn write(&mut self, part: &[u8]) -> Result<(), StoreError>;

    /// Checks the bytes against the hash, size and limits, and keeps the document durably;
    /// false if the store held it already.
    async fn finish(self: Box<Self>) -> Result<bool, StoreError>;
}

/// [`EventStore::begin_document`]'s default: the parts gathered, then one
/// [`EventStore::put_document`].
struct GatheredUpload<'a, S: ?Sized> {
    store: &'a S,
    info: DocumentInfo,
    bytes: Vec<u8>,
}

#[async_trait]
impl<S: EventStore + ?Sized> DocumentUpload for GatheredUpload<'_, S> {
    async fn write(&mut self, part: &[u8]) -> Result<(), StoreError> {
        if self.bytes.len() + part.len() > DOCUMENT_BYTES_MAX {
            return Err(StoreError::LimitExceeded {
                limit: "document bytes",
                actual: (self.bytes.len() + part.len()) as u64,
                max: DOCUMENT_BYTES_MAX as u64,
            });
        }
        self.bytes.extend_from_slice(part);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<bool, StoreError> {
        let GatheredUpload { store, info, bytes } = *self;
        store.put_document(&Document { info, bytes }).await
    }
}

/// Positional reads of a table's kept rows ([`EventStore::kept_rows_file`]).
pub trait KeptRowsFile: Send + Sync + std::fmt::Debug {
    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> std::io::Result<()>;
}

/// The store port. Every implementation runs [`crate::conformance`].
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `events` to `stream` atomically if `expected` holds. Durable before it returns.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError>;

    /// Up to `max_count` events of one stream, starting at `start` and going in `direction`.
    async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `max_count` events of the whole log, forwards from `from` (included).
    async fn read_all(&self, from: LogPosition, max_count: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Subscribes to the whole log after `after` (`None`: from the very start).
    async fn subscribe_to_all(&self, after: Option<LogPosition>) -> Result<Box<dyn LogSubscription>, StoreError>;

    /// The event with this id, if the store holds one. Stores keep every event id for the life
    /// of the log (it is how a retry gets its original answer), so this is a lookup.
    async fn read_event_by_id(&self, event_id: EventId) -> Result<Option<RecordedEvent>, StoreError>;

    /// The events with these ids, in the order asked, `None` where the store holds none: what
    /// the replay check of a batch asks. One lookup per id by default; a store across a network
    /// answers them all in one request.
    async fn read_events_by_id(&self, event_ids: &[EventId]) -> Result<Vec<Option<RecordedEvent>>, StoreError> {
        let mut found = Vec::with_capacity(event_ids.len());
        for event_id in event_ids {
            found.push(self.read_event_by_id(*event_id).await?);
        }
        Ok(found)
    }

    /// The last revision of `stream`, or `None` if the stream does not exist.
    async fn stream_last_revision(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// The position of the last event in the log, or `None` for an empty log.
    async fn last_position(&self) -> Result<Option<LogPosition>, StoreError>;

    /// Keeps `note`, the log's latest signed checkpoint, beside the log, replacing the one
    /// kept before. Durable before it returns, so that a restart can prove the store still
    /// holds the tree it signed, and replicated with the log on stores that replicate. The
    /// log's one checkpoint publisher is its only caller. At most [`CHECKPOINT_BYTES_MAX`].
    async fn save_checkpoint(&self, note: &[u8]) -> Result<(), StoreError>;

    /// The checkpoint last kept by [`EventStore::save_checkpoint`], if any.
    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Keeps `note`, a checkpoint of `tree_size` events (its second line, checked with
    /// [`validate_witnessed_checkpoint`]) that a quorum of the log's witnesses
    /// cosigned (its cosignature lines included), after those kept before: the history that
    /// bounds when each event was recorded by times no operator controls (FORMAT.md §13.6).
    /// Durable before it returns. A note whose size is not above the last kept one changes
    /// nothing and returns false. At most [`CHECKPOINT_BYTES_MAX`]. The default keeps none.
    async fn keep_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<bool, StoreError> {
        let _ = (tree_size, note);
        Ok(false)
    }

    /// Up to `max_count` kept witnessed checkpoints of at least `from_size` events, by size.
    async fn witnessed_checkpoints(&self, from_size: u64, max_count: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let _ = (from_size, max_count);
        Ok(Vec::new())
    }

    /// Keeps `snapshot`, the server's latest snapshot of what it derived from the first
    /// `tree_size` events of the log (signed by the server), replacing the one before; durable
    /// before it returns. A store that several servers share keeps the snapshot of the larger
    /// tree: one of a smaller tree than the kept one changes nothing (a server whose fold lags
    /// must not send the next start further back). A snapshot only saves work on the next
    /// start: losing one costs a longer start, never a fact. At most [`SNAPSHOT_BYTES_MAX`].
    /// Taken by value: a snapshot can be hundreds of megabytes, and a store that writes it on
    /// another thread need not copy it.
    async fn save_snapshot(&self, tree_size: u64, snapshot: Vec<u8>) -> Result<(), StoreError>;

    /// The snapshot last kept by [`EventStore::save_snapshot`], if any.
    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Keeps rows that snapshots refer to (FORMAT.md §6.1): `bytes` written at byte `offset` of
    /// the rows of `table` (a [`validate_snapshot_table`] name), durable before it returns, so
    /// that a snapshot costs the rows added since the last one, not every row. Rows only grow,
    /// and every server folds the same rows in the same order, so a write over bytes already
    /// kept writes the same bytes, and nothing is ever cut off: a snapshot names how many
    /// bytes of each table it needs and their SHA-256, and bytes beyond are never read. An
    /// `offset` beyond the bytes kept (a gap) is refused. A store that keeps none refuses, and
    /// then the server keeps no snapshot.
    async fn keep_snapshot_rows(&self, table: &str, offset: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        let _ = (table, offset, bytes);
        Err(StoreError::Unavailable { reason: "this store keeps no snapshot rows".into() })
    }

    /// At most `length` bytes of `table`'s kept rows from byte `offset`; fewer if fewer are
    /// kept (a caller reads a large table piece by piece).
    async fn load_snapshot_rows(&self, table: &str, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        let _ = (table, offset, length);
        Err(StoreError::Unavailable { reason: "this store keeps no snapshot rows".into() })
    }

    /// `table`'s kept rows as a file to read in place, if this store keeps them in one, so
    /// that a start need not copy rows it has read and checked (`klero-bench scale`). A server
    /// that took a snapshot up writes rows only after the bytes it named, so it may keep
    /// reading those for its life. The default lends none.
    fn kept_rows_file(&self, table: &str) -> Option<Arc<dyn KeptRowsFile>> {
        let _ = table;
        None
    }

    /// Keeps a document beside the log, under the SHA-256 of its bytes, which the store
    /// checks. Durable before it returns, and replicated with the log on stores that
    /// replicate. Storing a document the store holds already changes nothing and returns
    /// false. At most [`DOCUMENT_BYTES_MAX`] bytes.
    async fn put_document(&self, document: &Document) -> Result<bool, StoreError>;

    /// Begins keeping a document whose bytes arrive in parts, as an upload streams them: the
    /// same contract as [`EventStore::put_document`] once [`DocumentUpload::finish`] returns.
    /// A store may write the parts as they come, so the work overlaps the transfer; the
    /// default gathers them and puts the whole document at the end. `info` is checked as
    /// [`validate_document_shape`] checks it, against the bytes that arrive.
    async fn begin_document(&self, info: DocumentInfo) -> Result<Box<dyn DocumentUpload + '_>, StoreError> {
        Ok(Box::new(GatheredUpload {
            store: self,
            bytes: Vec::with_capacity(info.size.min(DOCUMENT_BYTES_MAX as u64) as usize),
            info,
        }))
    }

    /// The document with this hash, if the store holds it. The store checks the bytes against
    /// the hash on every read: a mismatch is [`StoreError::Corrupt`], never a wrong document.
    async fn read_document(&self, sha256: &[u8; 32]) -> Result<Option<Document>, StoreError>;

    /// What the store holds of every document, without the bytes.
    async fn document_infos(&self) -> Result<Vec<DocumentInfo>, StoreError>;

    /// Removes a document's bytes (garbage collection of documents no event commits to, and
    /// erasure). Durable before it returns; false if the store did not hold it.
    async fn delete_document(&self, sha256: &[u8; 32]) -> Result<bool, StoreError>;

    /// Whether this store keeps data keys (the three methods below). The default is false, and
    /// the methods refuse: a store that cannot destroy a key for good must not keep one.
    fn keeps_data_keys(&self) -> bool {
        false
    }

    /// Keeps the data keys of sealed personal text (FORMAT.md §14), one per event id, durable
    /// no later than the next append this store acknowledges (the embedded store syncs them
    /// with that append's group commit; PostgreSQL commits them before it returns). The core
    /// calls it before the append whose events the keys open, so an acknowledged event's key
    /// is always kept. A key already kept with the same bytes is
    /// left as it is; a different key for the same id, or one whose key was destroyed, is
    /// refused with [`StoreError::DuplicateEventId`]. The default refuses: a store that cannot
    /// destroy a key for good must not keep one.
    async fn put_data_keys(&self, keys: &[(EventId, [u8; 32])]) -> Result<(), StoreError> {
        let _ = keys;
        Err(no_key_store())
    }

    /// The state of one event's data key.
    async fn read_data_key(&self, event_id: &EventId) -> Result<DataKeyState, StoreError> {
        let _ = event_id;
        Err(no_key_store())
    }

    /// Destroys one event's data key for good (erasure), durably before it returns: its bytes
    /// are overwritten, not only unlinked. `false` if there was no live key.
    async fn destroy_data_key(&self, event_id: &EventId) -> Result<bool, StoreError> {
        let _ = event_id;
        Err(no_key_store())
    }

    /// Makes every erasure so far complete in every copy the store keeps, where destroying a
    /// key or deleting a document does not do that by itself (a database's dead rows, its WAL,
    /// its replicas): the PostgreSQL store rotates its key-encryption key. Called after
    /// erasures; by default there is nothing to do.
    async fn finish_erasures(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Up to when erasures are complete in every copy the store keeps: `None` when each is
    /// complete as it is made (the embedded store overwrites the key in place), else the time
    /// of the last [`EventStore::finish_erasures`] (0 if no erasure can ever be complete).
    async fn erasures_complete_through(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Stops accepting appends, lets queued appends finish, and releases what the store holds.
    /// Later calls fail with [`StoreError::Unavailable`]. The default does nothing.
    async fn close(&self) {}

    /// Whether positions number the log's events 0, 1, 2, … with no gap, so that an append's
    /// positions say which events came just before it. The log then trusts the bytes it has
    /// just appended rather than read them back. KurrentDB's positions (byte offsets) are not.
    fn positions_are_dense(&self) -> bool {
        false
    }

    /// Whether other servers may append to this store too (a shared database). A server then
    /// follows the store to its end before it decides on an append, so that it decides on the
    /// whole log, not on what it had folded so far. The default is false: the embedded store
    /// has one server, which a lock on its directory enforces.
    fn shared_by_servers(&self) -> bool {
        false
    }

    /// A watch on how many events are committed, for a store that keeps that count anyway. It
    /// tells a follower the log grew without reading events; `None` means follow with
    /// [`EventStore::subscribe_to_all`].
    fn committed_events_watch(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Tells the store that an append is on its way: a request for it has arrived and is being
    /// checked. A store that shares one fsync among many appends may hold a commit open a little
    /// while many are on their way (the embedded store's `group_commit_linger_max`). The append
    /// is no longer expected once the returned token is dropped. The default does nothing.
    fn expect_append(&self) -> AppendExpected {
        AppendExpected::default()
    }
}

/// Largest checkpoint note a store keeps: far above a note with a log signature and dozens of
/// witness cosignatures.
pub const CHECKPOINT_BYTES_MAX: usize = 64 * 1024;

/// Largest snapshot a store keeps. A snapshot grows with assemblies, not with events.
pub const SNAPSHOT_BYTES_MAX: usize = 256 * 1024 * 1024;

/// At most this many bytes of rows a table of snapshot rows holds (64 GiB: 800 million rows of
/// 80 bytes), and at most [`SNAPSHOT_BYTES_MAX`] in one write.
pub const SNAPSHOT_ROWS_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;

/// Checks a table of snapshot rows' name (1 to 32 of `a`–`z` and `-`, a file name in the
/// embedded store) and a write's extent, as [`EventStore::keep_snapshot_rows`] takes them.
pub fn validate_snapshot_rows(table: &str, offset: u64, length: usize) -> Result<(), StoreError> {
    validate_snapshot_table(table)?;
    if length > SNAPSHOT_BYTES_MAX {
        return Err(StoreError::LimitExceeded {
            limit: "snapshot rows bytes in one write",
            actual: length as u64,
            max: SNAPSHOT_BYTES_MAX as u64,
        });
    }
    let end = offset.saturating_add(length as u64);
    if end > SNAPSHOT_ROWS_BYTES_MAX {
        return Err(StoreError::LimitExceeded {
            limit: "snapshot rows bytes",
            actual: end,
            max: SNAPSHOT_ROWS_BYTES_MAX,
        });
    }
    Ok(())
}

/// See [`validate_snapshot_rows`].
pub fn validate_snapshot_table(table: &str) -> Result<(), StoreError> {
    let named = (1..=32).contains(&table.len()) && table.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    if named {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument { field: "table", reason: format!("{table:?} is not 1 to 32 of a-z and -") })
    }
}

/// An append announced with [`EventStore::expect_append`]; dropping it withdraws the notice.
#[derive(Debug, Default)]
pub struct AppendExpected {
    expected_appends: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
}

impl AppendExpected {
    /// Counts one more expected append on `counter` until the token is dropped.
    pub fn counted_on(counter: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> AppendExpected {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        AppendExpected { expected_appends: Some(counter.clone()) }
    }
}

impl Drop for AppendExpected {
    fn drop(&mut self) {
        if let Some(counter) = &self.expected_appends {
            counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Largest document a store keeps.
pub const DOCUMENT_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Longest media type.
pub const MEDIA_TYPE_BYTES_MAX: usize = 100;

/// What a store keeps of a document besides its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentInfo {
    /// SHA-256 of the bytes: the document's name, and what events commit to.
    pub sha256: [u8; 32],
    /// e.g. `text/plain; charset=utf-8`.
    pub media_type: String,
    pub size: u64,
    /// The document may hold personal data (a public submission, say), so erasure may remove
    /// it; the hash in the log stays, so every proof does too.
    pub personal_data: bool,
    /// When the store received it (the server's clock): the start of its grace period.
    pub stored_at_unix_ms: u64,
}

/// A document and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub info: DocumentInfo,
    pub bytes: Vec<u8>,
}

/// Every way a store operation can fail, grouped by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Someone else appended first. Re-read the stream, decide again, and retry.
    #[error("wrong expected revision on stream {stream}: expected {expected}, stream is at {}", describe_revision(*.actual))]
    WrongExpectedRevision { stream: String, expected: ExpectedRevision, actual: Option<u64> },
    /// The event id was used before for different content, or for only part of this batch.
    /// Not retryable: the caller must choose a new id or send the original bytes.
    #[error("duplicate event id {event_id}: {reason}")]
    DuplicateEventId { event_id: EventId, reason: String },
    /// The stream does not exist. Nothing to retry.
    #[error("stream {stream} not found")]
    StreamNotFound { stream: String },
    /// Stored bytes fail their checks. The store refuses to serve past this; an operator must
    /// restore from a replica or backup. Never retry.
    #[error("corrupt log: segment {segment}, byte offset {offset}, log position {position}: {reason}")]
    Corrupt { segment: String, offset: u64, position: u64, reason: String },
    /// The store cannot serve now (closed, down, busy with the same event id). Retry later,
    /// with the same ids.
    #[error("store unavailable: {reason}")]
    Unavailable { reason: String },
    /// A file or device operation failed (a full disk, a failing device). After a failed write
    /// or sync the store writes nothing more (fail-stop: the state of the file is unknown, and
    /// a sync is never retried on the same data); reads may go on. Retrying is pointless until
    /// an operator has fixed the cause and reopened the store.
    #[error("storage failed: {0}")]
    Io(IoFailure),
    /// A size or count limit was exceeded; the request must be made smaller.
    #[error("limit exceeded: {limit} is {actual}, the maximum is {max}")]
    LimitExceeded { limit: &'static str, actual: u64, max: u64 },
    /// The request breaks a rule (a stream name's form, say). Fix the request.
    #[error("invalid argument {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
}

/// What a key store holds for one event id.
#[derive(Clone, PartialEq, Eq)]
pub enum DataKeyState {
    /// No key was ever kept for it.
    Absent,
    /// The key, which opens the event's sealed fields.
    Live([u8; 32]),
    /// The key was destroyed: the event's sealed text is erased.
    Destroyed,
}

impl std::fmt::Debug for DataKeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A key never appears in a log line or an error message.
        f.write_str(match self {
            DataKeyState::Absent => "Absent",
            DataKeyState::Live(_) => "Live(..)",
            DataKeyState::Destroyed => "Destroyed",
        })
    }
}

fn no_key_store() -> StoreError {
    StoreError::Unavailable { reason: "this store keeps no data keys, so it cannot hold sealed personal text".into() }
}

/// A failed file operation: what was being done, to which file, and the system's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoFailure {
    /// What the store was doing, e.g. `syncing`.
    pub operation: &'static str,
    /// The file or directory.
    pub path: String,
    /// The kind of failure, e.g. `StorageFull`.
    pub kind: std::io::ErrorKind,
    /// The system's message.
    pub message: String,
}

impl IoFailure {
    pub fn new(operation: &'static str, path: &std::path::Path, error: &std::io::Error) -> IoFailure {
        IoFailure { operation, path: path.display().to_string(), kind: error.kind(), message: error.to_string() }
    }
}

impl fmt::Display for IoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.operation, self.path, self.message)
    }
}

fn describe_revision(actual: Option<u64>) -> String {
    match actual {
        Some(revision) => format!("revision {revision}"),
        None => "no stream".to_string(),
    }
}

/// The limits of one append, which every store enforces with [`validate_append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendLimits {
    /// Largest `EventData::data`.
    pub event_data_bytes_max: usize,
    /// Most events in one append call.
    pub append_events_max: usize,
    /// Most data bytes in one append call.
    pub append_bytes_max: usize,
}

/// Checks an append before any store touches its data: the stream's name, at least one event,
/// ids that are not nil and not repeated within the append, event types, and the limits. The
/// error names the field or limit.
/// The one check of a witnessed checkpoint a store keeps: at most [`CHECKPOINT_BYTES_MAX`], and
/// its second line (a checkpoint note's size, FORMAT.md §4) is `tree_size`.
pub fn validate_witnessed_checkpoint(tree_size: u64, note: &[u8]) -> Result<(), StoreError> {
    if note.len() > CHECKPOINT_BYTES_MAX {
        return Err(StoreError::LimitExceeded {
            limit: "checkpoint bytes",
            actual: note.len() as u64,
            max: CHECKPOINT_BYTES_MAX as u64,
        });
    }
    if witnessed_checkpoint_size(note) != Some(tree_size) {
        return Err(StoreError::InvalidArgument {
            field: "note",
            reason: format!("is not a checkpoint note of {tree_size} events"),
        });
    }
    Ok(())
}

/// The tree size a checkpoint note states: its second line.
pub fn witnessed_checkpoint_size(note: &[u8]) -> Option<u64> {
    std::str::from_utf8(note).ok()?.lines().nth(1)?.parse().ok()
}

pub fn validate_append(stream: &str, events: &[EventData], limits: &AppendLimits) -> Result<(), StoreError> {
    use klero_ledger::envelope::{validate_event_type, validate_stream_name};
    validate_stream_name(stream).map_err(|e| StoreError::InvalidArgument { field: "stream", reason: e.to_string() })?;
    if events.is_empty() {
        return Err(StoreError::InvalidArgument {
            field: "events",
            reason: "an append needs at least one event".into(),
        });
    }
    if events.len() > limits.append_events_max {
        return Err(StoreError::LimitExceeded {
            limit: "events per append",
            actual: events.len() as u64,
            max: limits.append_events_max as u64,
        });
    }
    let mut total = 0usize;
    let mut seen = std::collections::HashMap::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        if event.event_id.0 == [0; 16] {
            return Err(StoreError::InvalidArgument {
                field: "event_id",
                reason: "the nil UUID is not an event id".into(),
            });
        }
        if let Some(first) = seen.insert(event.event_id, index) {
            return Err(StoreError::InvalidArgument {
                field: "event_id",
                reason: format!("events {first} and {index} share id {}", event.event_id),
            });
        }
        validate_event_type(&event.event_type)
            .map_err(|e| StoreError::InvalidArgument { field: "event_type", reason: e.to_string() })?;
        if event.data.len() > limits.event_data_bytes_max {
            return Err(StoreError::LimitExceeded {
                limit: "event data bytes",
                actual: event.data.len() as u64,
                max: limits.event_data_bytes_max as u64,
            });
        }
        total += event.data.len();
    }
    if total > limits.append_bytes_max {
        return Err(StoreError::LimitExceeded {
            limit: "data bytes per append",
            actual: total as u64,
            max: limits.append_bytes_max as u64,
        });
    }
    Ok(())
}

/// Checks a stream read before a store runs it: the stream's name (FORMAT.md §2) and the count
/// against the store's limit, each error naming the field or limit.
pub fn check_stream_read(stream: &str, max_count: usize, max: usize) -> Result<(), StoreError> {
    check_read_count(max_count, max)?;
    klero_ledger::envelope::validate_stream_name(stream)
        .map_err(|e| StoreError::InvalidArgument { field: "stream", reason: e.to_string() })
}

/// Checks the count a read asks for against the store's limit, naming the limit.
pub fn check_read_count(max_count: usize, max: usize) -> Result<(), StoreError> {
    if max_count > max {
        return Err(StoreError::LimitExceeded { limit: "events per read", actual: max_count as u64, max: max as u64 });
    }
    Ok(())
}

/// Checks a document before a store keeps it: its size limit, that its hash and size are its
/// bytes', and its media type. The error names the field or limit.
pub fn validate_document(document: &Document) -> Result<(), StoreError> {
    validate_document_shape(document)?;
    document_hash_matches(document)
}

/// Whether the document's hash is its bytes' SHA-256: the part of [`validate_document`] a store
/// may run beside its write, as long as nothing it wrote is kept unless it holds.
pub fn document_hash_matches(document: &Document) -> Result<(), StoreError> {
    if klero_ledger::Hash256::of(&document.bytes).0 != document.info.sha256 {
        return Err(StoreError::InvalidArgument {
            field: "sha256",
            reason: "is not the SHA-256 of the document's bytes".into(),
        });
    }
    Ok(())
}

/// Everything [`validate_document`] checks but the hash: the size limit, the size and the
/// media type.
pub fn validate_document_shape(document: &Document) -> Result<(), StoreError> {
    if document.bytes.len() > DOCUMENT_BYTES_MAX {
        return Err(StoreError::LimitExceeded {
            limit: "document bytes",
            actual: document.bytes.len() as u64,
            max: DOCUMENT_BYTES_MAX as u64,
        });
    }
    check_document_size(&document.info, document.bytes.len() as u64)?;
    validate_document_info(&document.info)
}

/// Whether `received` bytes are the size `info` declares.
pub fn check_document_size(info: &DocumentInfo, received: u64) -> Result<(), StoreError> {
    if info.size != received {
        return Err(StoreError::InvalidArgument {
            field: "size",
            reason: format!("says {} bytes, the document has {received}", info.size),
        });
    }
    Ok(())
}

/// What can be checked of a document before its bytes: the declared size against the limit,
/// and the media type.
pub fn validate_document_info(info: &DocumentInfo) -> Result<(), StoreError> {
    if info.size > DOCUMENT_BYTES_MAX as u64 {
        return Err(StoreError::LimitExceeded {
            limit: "document bytes",
            actual: info.size,
            max: DOCUMENT_BYTES_MAX as u64,
        });
    }
    let media_type_ok = !info.media_type.is_empty()
        && info.media_type.len() <= MEDIA_TYPE_BYTES_MAX
        && info.media_type.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if !media_type_ok {
        return Err(StoreError::InvalidArgument {
            field: "media_type",
            reason: format!("must be 1 to {MEDIA_TYPE_BYTES_MAX} printable ASCII bytes"),
        });
    }
    Ok(())
}
