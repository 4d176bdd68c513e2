//! The embedded store: append-only segment files in one data directory.
//!
//! - One writer thread owns the active segment. Appenders queue requests; the writer takes every
//!   request waiting (group commit), checks each against the stream state, writes all accepted
//!   records with one `write`, calls `fdatasync` once, and only then publishes and acknowledges.
//!   Zeros written ahead of the records keep each sync to data blocks that already exist.
//! - Readers use positional reads on their own file handles and see only acknowledged events,
//!   because the index is updated after the fsync.
//! - On open, every record of every segment is read and checked (CRC-32C, position sequence,
//!   stream revisions, unique ids) and the index is rebuilt, so it is right after any crash. A torn
//!   tail that was never acknowledged is truncated and logged; anything else stops the store.

pub mod disk;
pub mod documents;
pub mod keys;
pub mod segment;

use crate::disk::Disk;
use crate::segment::*;
use async_trait::async_trait;
use klero_ledger::envelope::{EventId, ENVELOPE_BYTES_MAX};
use klero_store::*;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Sizes and counts the embedded store enforces. Every one has a named error.
#[derive(Clone, Debug)]
pub struct EmbeddedStoreOptions {
    /// A new segment starts once the active one reaches this size.
    pub segment_bytes_max: u64,
    /// Largest `EventData::data`.
    pub event_data_bytes_max: usize,
    /// Most events in one append call.
    pub append_events_max: usize,
    /// Most data bytes in one append call.
    pub append_bytes_max: usize,
    /// Most events one read call returns.
    pub read_events_max: usize,
    /// Appends that may wait for the writer; further appenders wait for room.
    pub write_queue_requests_max: usize,
    /// Most append calls that share one fsync.
    pub group_commit_requests_max: usize,
    /// Longest the writer holds a commit open for appends on their way (see
    /// [`EventStore::expect_append`]); zero never waits. It waits only while fewer than half
    /// of the expected appends have reached it, so a lone append never waits.
    /// Each commit costs an fsync and a round of wake-ups whatever its size, so under heavy
    /// concurrency a fuller commit saves more CPU than the wait costs in latency.
    pub group_commit_linger_max: Duration,
    /// Where every file operation that changes the disk goes (tests record and fail them
    /// through a hook; see [`disk`]).
    pub disk: Disk,
}

impl Default for EmbeddedStoreOptions {
    fn default() -> Self {
        EmbeddedStoreOptions {
            segment_bytes_max: 64 * 1024 * 1024,
            event_data_bytes_max: ENVELOPE_BYTES_MAX,
            append_events_max: 1000,
            append_bytes_max: 16 * 1024 * 1024,
            read_events_max: 10_000,
            write_queue_requests_max: 4096,
            group_commit_requests_max: 1024,
            group_commit_linger_max: Duration::from_micros(600),
            disk: Disk::default(),
        }
    }
}

impl EmbeddedStoreOptions {
    /// Largest record body recovery accepts: one event at the data limit with the longest names.
    fn record_body_bytes_max(&self) -> usize {
        self.event_data_bytes_max + 64 + 2 * 256
    }
}

/// What opening the store found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files read.
    pub segments: usize,
    /// Events in the log after recovery.
    pub events: u64,
    /// The torn tail that was cut off, if any.
    pub truncated_tail: Option<TruncatedTail>,
}

/// A never-acknowledged tail removed on open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedTail {
    pub segment: String,
    /// The file was cut to this length.
    pub offset: u64,
    pub bytes_removed: u64,
    /// Whole records (of incomplete appends) among the removed bytes.
    pub records_removed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RecordLocation {
    segment: u32,
    offset: u64,
    length: u32,
}

/// Where each position's record is, in 8 bytes a position: its offset and length within its
/// segment (segments are at most 4 GiB, checked on open), and the first position of each
/// segment, from which a position's segment follows.
#[derive(Debug, Default)]
struct Locations {
    packed: Vec<(u32, u32)>,
    /// (first position, segment number) of each segment that holds records, ascending.
    segment_starts: Vec<(u64, u32)>,
}

impl Locations {
    fn len(&self) -> usize {
        self.packed.len()
    }

    fn push(&mut self, location: RecordLocation) {
        if self.segment_starts.last().is_none_or(|(_, segment)| *segment != location.segment) {
            self.segment_starts.push((self.packed.len() as u64, location.segment));
        }
        let offset = u32::try_from(location.offset).expect("segments are at most 4 GiB");
        self.packed.push((offset, location.length));
    }

    fn get(&self, position: u64) -> Option<RecordLocation> {
        let (offset, length) = *self.packed.get(usize::try_from(position).ok()?)?;
        let run = self.segment_starts.partition_point(|(first, _)| *first <= position);
        let (_, segment) = self.segment_starts[run - 1];
        Some(RecordLocation { segment, offset: offset as u64, length })
    }
}

#[derive(Debug, Default)]
struct Index {
    /// By position.
    locations: Locations,
    /// Positions of each stream's events, by revision.
    streams: HashMap<String, Vec<u64>>,
    /// Position of every event id.
    event_ids: HashMap<EventId, u64>,
}

#[derive(Debug)]
struct Segment {
    name: String,
    file: File,
}

#[derive(Debug)]
struct Shared {
    directory: PathBuf,
    options: EmbeddedStoreOptions,
    index: RwLock<Index>,
    segments: RwLock<Vec<Arc<Segment>>>,
    /// Count of acknowledged events; subscriptions wait on it.
    committed_events: watch::Sender<u64>,
    /// Set when a write or fsync failed: the file state is unknown, so nothing more is written.
    failure: Mutex<Option<IoFailure>>,
    /// Appends announced with `expect_append` and not yet withdrawn.
    expected_appends: Arc<AtomicUsize>,
    /// Held while the checkpoint file is replaced.
    checkpoint_writing: Mutex<()>,
    /// Held while the snapshot file is replaced.
    snapshot_writing: Mutex<()>,
    /// The documents kept beside the log.
    documents: documents::DocumentFiles,
    /// The data keys of sealed personal text.
    keys: keys::KeyFiles,
}

struct WriteRequest {
    stream: String,
    expected: ExpectedRevision,
    events: Vec<EventData>,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// The embedded, durable store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: Mutex<Option<mpsc::Sender<WriteRequest>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    recovery: RecoveryReport,
    /// Held for the store's life: a second process cannot open the same directory.
    _directory_lock: File,
}

fn io_failure(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(IoFailure::new(operation, path, &error))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-updated (each holder
    // only swaps whole values), so a poisoned lock is safe to keep using.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sync_directory(disk: &Disk, path: &Path) -> Result<(), StoreError> {
    disk.sync_directory(path).map_err(|e| io_failure("syncing directory", path, e))
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `directory`, recovering from any crash. See the module docs.
    pub async fn open(directory: impl AsRef<Path>, options: EmbeddedStoreOptions) -> Result<EmbeddedStore, StoreError> {
        let directory = directory.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(directory, options))
            .await
            .map_err(|e| StoreError::Unavailable { reason: format!("open task failed: {e}") })?
    }

    /// What recovery found when the store was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The data directory.
    pub fn directory(&self) -> &Path {
        &self.shared.directory
    }

    fn open_blocking(directory: PathBuf, options: EmbeddedStoreOptions) -> Result<EmbeddedStore, StoreError> {
        if options.segment_bytes_max > SEGMENT_BYTES_MAX_LIMIT {
            return Err(StoreError::InvalidArgument {
                field: "segment_bytes_max",
                reason: format!("must be at most {SEGMENT_BYTES_MAX_LIMIT}"),
            });
        }
        if options.append_bytes_max > APPEND_BYTES_MAX_LIMIT {
            return Err(StoreError::InvalidArgument {
                field: "append_bytes_max",
                reason: format!("must be at most {APPEND_BYTES_MAX_LIMIT}"),
            });
        }
        let disk = &options.disk;
        let segments_dir = directory.join("segments");
        disk.create_directory_all(&segments_dir).map_err(|e| io_failure("creating", &segments_dir, e))?;
        let lock_path = directory.join("LOCK");
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| io_failure("opening", &lock_path, e))?;
        lock_file.try_lock().map_err(|_| StoreError::Unavailable {
            reason: format!("data directory {} is in use by another process", directory.display()),
        })?;
        sync_directory(disk, &directory)?;

        let mut first_positions = Vec::new();
        for entry in fs::read_dir(&segments_dir).map_err(|e| io_failure("listing", &segments_dir, e))? {
            let entry = entry.map_err(|e| io_failure("listing", &segments_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match parse_segment_file_name(&name) {
                Some(first) => first_positions.push(first),
                None => tracing::warn!(file = %name, "ignoring a file that is not a segment in the segments directory"),
            }
        }
        first_positions.sort_unstable();

        let mut index = Index::default();
        let mut segments = Vec::new();
        let mut report = RecoveryReport { segments: first_positions.len(), ..Default::default() };
        let mut active_len = SEGMENT_HEADER.len() as u64;
        for (number, &first_position) in first_positions.iter().enumerate() {
            let name = segment_file_name(first_position);
            let path = segments_dir.join(&name);
            let is_last = number + 1 == first_positions.len();
            if first_position != index.locations.len() as u64 {
                return Err(StoreError::Corrupt {
                    segment: name,
                    offset: 0,
                    position: index.locations.len() as u64,
                    reason: format!(
                        "segment starts at position {first_position} but the previous segments end before position {}: a segment is missing or misnamed",
                        index.locations.len()
                    ),
                });
            }
            let (valid_len, truncated) = scan_segment(&path, &name, number as u32, is_last, &options, &mut index)?;
            if let Some(tail) = truncated {
                tracing::warn!(
                    segment = %tail.segment, offset = tail.offset, bytes_removed = tail.bytes_removed,
                    records_removed = tail.records_removed,
                    "truncated a torn tail that was never acknowledged"
                );
                report.truncated_tail = Some(tail);
            }
            if is_last {
                active_len = valid_len;
            }
            let file = File::open(&path).map_err(|e| io_failure("opening", &path, e))?;
            segments.push(Arc::new(Segment { name, file }));
        }
        if segments.is_empty() {
            let name = segment_file_name(0);
            create_segment(disk, &segments_dir, &name)?;
            let path = segments_dir.join(&name);
            let file = File::open(&path).map_err(|e| io_failure("opening", &path, e))?;
            segments.push(Arc::new(Segment { name, file }));
            report.segments = 1;
        }
        report.events = index.locations.len() as u64;

        let active_name = segments.last().map(|s| s.name.clone()).unwrap_or_default();
        let active_path = segments_dir.join(&active_name);
        let active_file =
            OpenOptions::new().write(true).open(&active_path).map_err(|e| io_failure("opening", &active_path, e))?;
        // Recovery checked that everything past `active_len` is zero.
        let zeroed_end = active_file
            .metadata()
            .map_err(|e| io_failure("reading the length of", &active_path, e))?
            .len()
            .max(active_len);
        let (committed_events, _) = watch::channel(index.locations.len() as u64);
        let next_position = index.locations.len() as u64;
        let documents = documents::DocumentFiles::new(&directory, options.disk.clone());
        let keys = keys::KeyFiles::new(&directory, options.disk.clone());
        let shared = Arc::new(Shared {
            directory,
            options: options.clone(),
            index: RwLock::new(index),
            segments: RwLock::new(segments),
            committed_events,
            failure: Mutex::new(None),
            expected_appends: Arc::new(AtomicUsize::new(0)),
            checkpoint_writing: Mutex::new(()),
            snapshot_writing: Mutex::new(()),
            documents,
            keys,
        });
        let (sender, receiver) = mpsc::channel(options.write_queue_requests_max.max(1));
        let writer = Writer {
            shared: shared.clone(),
            segments_dir,
            active_file,
            active_segment: (report.segments.max(1) - 1) as u32,
            active_len,
            zeroed_end,
            next_position,
        };
        let writer_thread = std::thread::Builder::new()
            .name("klero-store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Unavailable { reason: format!("cannot start the writer thread: {e}") })?;
        Ok(EmbeddedStore {
            shared,
            requests: Mutex::new(Some(sender)),
            writer_thread: Mutex::new(Some(writer_thread)),
            recovery: report,
            _directory_lock: lock_file,
        })
    }

    /// Stops accepting appends, lets queued appends finish, and waits for the writer to stop.
    pub async fn close(&self) {
        drop(lock(&self.requests).take());
        let thread = lock(&self.writer_thread).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn validate_append(&self, stream: &str, events: &[EventData]) -> Result<(), StoreError> {
        let options = &self.shared.options;
        let limits = AppendLimits {
            event_data_bytes_max: options.event_data_bytes_max,
            append_events_max: options.append_events_max,
            append_bytes_max: options.append_bytes_max,
        };
        validate_append(stream, events, &limits)
    }

    fn check_read_count(&self, max_count: usize) -> Result<(), StoreError> {
        check_read_count(max_count, self.shared.options.read_events_max)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Dropping the sender lets the writer finish queued work and exit on its own.
        drop(lock(&self.requests).take());
    }
}

fn create_segment(disk: &Disk, segments_dir: &Path, name: &str) -> Result<File, StoreError> {
    let path = segments_dir.join(name);
    let file = disk.create_new(&path).map_err(|e| io_failure("creating", &path, e))?;
    disk.write_all_at(&file, &path, SEGMENT_HEADER, 0).map_err(|e| io_failure("writing", &path, e))?;
    disk.sync_all(&file, &path).map_err(|e| io_failure("syncing", &path, e))?;
    sync_directory(disk, segments_dir)?;
    Ok(file)
}

/// Most bytes one positional read of a run of records covers.
const READ_RUN_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Bytes of a segment read at a time while opening: the store never holds a whole segment in
/// memory to scan it.
const SCAN_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Reads a segment forwards through a buffer that always holds at least one whole record when
/// the file does.
struct SegmentScanner {
    file: File,
    file_len: u64,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_start: u64,
}

impl SegmentScanner {
    /// The bytes from `offset` on, at least `wanted` of them (or up to the end of the file).
    fn bytes_at(&mut self, offset: u64, wanted: usize) -> std::io::Result<&[u8]> {
        let buffered_end = self.buffer_start + self.buffer.len() as u64;
        let want_end = (offset + wanted as u64).min(self.file_len);
        if offset < self.buffer_start || want_end > buffered_end {
            let read_len = (want_end - offset).max((SCAN_CHUNK_BYTES as u64).min(self.file_len - offset)) as usize;
            self.buffer.resize(read_len, 0);
            self.file.read_exact_at(&mut self.buffer, offset)?;
            self.buffer_start = offset;
        }
        Ok(&self.buffer[(offset - self.buffer_start) as usize..])
    }
}

/// The records of the append being read: they join the index only when its last one is read.
/// An append writes to one stream, so they share its name.
#[derive(Default)]
struct PendingAppend {
    stream: String,
    records: Vec<(u64, EventId, RecordLocation)>,
    ids: std::collections::HashSet<EventId>,
}

/// Reads and checks one segment, adding its records to `index`. Returns the valid length.
fn scan_segment(
    path: &Path,
    name: &str,
    segment_number: u32,
    is_last: bool,
    options: &EmbeddedStoreOptions,
    index: &mut Index,
) -> Result<(u64, Option<TruncatedTail>), StoreError> {
    let file = File::open(path).map_err(|e| io_failure("opening", path, e))?;
    let file_len = file.metadata().map_err(|e| io_failure("reading the length of", path, e))?.len();
    let mut scanner = SegmentScanner { file, file_len, buffer: Vec::new(), buffer_start: 0 };
    let corrupt = |offset: u64, position: u64, reason: String| StoreError::Corrupt {
        segment: name.to_string(),
        offset,
        position,
        reason,
    };
    let header_len = SEGMENT_HEADER.len() as u64;
    let header = scanner.bytes_at(0, SEGMENT_HEADER.len()).map_err(|e| io_failure("reading", path, e))?;
    let header = header[..header.len().min(SEGMENT_HEADER.len())].to_vec();
    if header != SEGMENT_HEADER {
        // A crash while creating the newest segment can leave its header incomplete; that
        // segment then holds nothing that was acknowledged, so it is rewritten empty.
        let only_header_damage = file_len <= header_len && SEGMENT_HEADER.starts_with(&header);
        let all_zero = file_len <= header_len && header.iter().all(|&b| b == 0);
        if is_last && (only_header_damage || all_zero) {
            let disk = &options.disk;
            let file = disk.create_empty(path).map_err(|e| io_failure("opening", path, e))?;
            disk.write_all_at(&file, path, SEGMENT_HEADER, 0).map_err(|e| io_failure("writing", path, e))?;
            disk.sync_all(&file, path).map_err(|e| io_failure("syncing", path, e))?;
            let tail =
                TruncatedTail { segment: name.to_string(), offset: 0, bytes_removed: file_len, records_removed: 0 };
            return Ok((header_len, Some(tail)));
        }
        return Err(corrupt(0, index.locations.len() as u64, "segment header is not KLERO-SEGMENT-V1".into()));
    }

    let body_max = options.record_body_bytes_max();
    let record_max = RECORD_PREFIX_BYTES + body_max;
    let mut offset = header_len;
    let mut pending = PendingAppend::default();
    let mut committed_end = offset;
    let mut failure: Option<(u64, DecodeFailure)> = None;
    while offset < file_len {
        let expected_position = index.locations.len() as u64 + pending.records.len() as u64;
        let bytes = scanner.bytes_at(offset, record_max).map_err(|e| io_failure("reading", path, e))?;
        match decode_record_header(bytes, body_max) {
            Ok((record, length)) => {
                check_record_sequence(&record, expected_position, index, &pending)
                    .map_err(|reason| corrupt(offset, expected_position, reason))?;
                let location = RecordLocation { segment: segment_number, offset, length: length as u32 };
                if pending.records.is_empty() {
                    pending.stream.clear();
                    pending.stream.push_str(record.stream);
                }
                pending.records.push((record.position, record.event_id, location));
                pending.ids.insert(record.event_id);
                offset += length as u64;
                if record.flags & FLAG_LAST_IN_APPEND != 0 {
                    index_append(index, &mut pending)
                        .map_err(|(position, at, reason)| corrupt(at, position, reason))?;
                    committed_end = offset;
                }
            }
            Err(decode_failure) => {
                failure = Some((offset, decode_failure));
                break;
            }
        }
    }
    drop(scanner.buffer);
    let first_lost_position = index.locations.len() as u64;
    if committed_end == file_len {
        return Ok((committed_end, None));
    }
    // Past the last whole append: read the rest (the zeros written ahead of the active
    // segment's records, or damage) and classify it.
    let mut rest = vec![0u8; (file_len - committed_end) as usize];
    scanner.file.read_exact_at(&mut rest, committed_end).map_err(|e| io_failure("reading", path, e))?;
    // The active segment ends in zeros written ahead of its records: unused space, kept.
    if is_last && rest.iter().all(|&b| b == 0) {
        return Ok((committed_end, None));
    }
    if !is_last {
        let (at, reason) = match failure {
            Some((at, failure)) => (at, failure.to_string()),
            None => (committed_end, "segment ends inside an append".to_string()),
        };
        return Err(corrupt(at, first_lost_position + pending.records.len() as u64, reason));
    }
    if let Some((at, decode_failure)) = &failure {
        // A record from a later fsync group proves this group was synced and acknowledged: the
        // damage is corruption of acknowledged data, not a torn write.
        let bad_position = first_lost_position + pending.records.len() as u64;
        let from = (at + 1 - committed_end) as usize;
        if let Some((later_offset, later)) = find_later_sync_group(&rest, from, bad_position, body_max) {
            return Err(corrupt(
                *at,
                bad_position,
                format!(
                    "{decode_failure}, and an acknowledged record (position {}, at offset {}) follows it",
                    later.position,
                    committed_end + later_offset as u64
                ),
            ));
        }
    }
    let file = OpenOptions::new().write(true).open(path).map_err(|e| io_failure("opening", path, e))?;
    let disk = &options.disk;
    disk.set_len(&file, path, committed_end).map_err(|e| io_failure("truncating", path, e))?;
    disk.sync_all(&file, path).map_err(|e| io_failure("syncing", path, e))?;
    let tail = TruncatedTail {
        segment: name.to_string(),
        offset: committed_end,
        bytes_removed: file_len - committed_end,
        records_removed: pending.records.len() as u64,
    };
    Ok((committed_end, Some(tail)))
}

/// Looks past a damaged record for a valid record written by a later fsync group.
fn find_later_sync_group(bytes: &[u8], from: usize, bad_position: u64, body_max: usize) -> Option<(usize, Record)> {
    let mut at = from;
    while at + RECORD_PREFIX_BYTES <= bytes.len() {
        let next = bytes[at..].windows(RECORD_MAGIC.len()).position(|w| w == RECORD_MAGIC)? + at;
        if let Ok((record, _)) = decode_record(&bytes[next..], body_max) {
            if record.sync_group_first_position > bad_position && record.position > bad_position {
                return Some((next, record));
            }
        }
        at = next + 1;
    }
    None
}

/// The store-level chain: positions are consecutive, revisions continue their stream, ids unique.
fn check_record_sequence(
    record: &RecordHeader<'_>,
    expected_position: u64,
    index: &Index,
    pending: &PendingAppend,
) -> Result<(), String> {
    if record.position != expected_position {
        return Err(format!("record holds position {}, expected {expected_position}", record.position));
    }
    if !pending.records.is_empty() && pending.stream != record.stream {
        return Err(format!("one append holds records of streams {} and {}", pending.stream, record.stream));
    }
    let expected_revision =
        index.streams.get(record.stream).map_or(0, |p| p.len() as u64) + pending.records.len() as u64;
    if record.stream_revision != expected_revision {
        return Err(format!(
            "stream {} record holds revision {}, expected {expected_revision}",
            record.stream, record.stream_revision
        ));
    }
    if pending.ids.contains(&record.event_id) {
        return Err(format!("event id {} appears twice", record.event_id));
    }
    Ok(())
}

/// Adds a whole append to the index, and empties `pending`. An id the index already holds is
/// corruption: the position and offset of the record that repeats it.
fn index_append(index: &mut Index, pending: &mut PendingAppend) -> Result<(), (u64, u64, String)> {
    let positions = match index.streams.get_mut(pending.stream.as_str()) {
        Some(positions) => positions,
        None => index.streams.entry(pending.stream.clone()).or_default(),
    };
    for (position, event_id, location) in pending.records.drain(..) {
        assert_eq!(index.locations.len() as u64, position, "the index grows one position at a time");
        match index.event_ids.entry(event_id) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let reason = format!("event id {event_id} appears twice (first at position {})", first.get());
                return Err((position, location.offset, reason));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(position);
            }
        }
        index.locations.push(location);
        positions.push(position);
    }
    pending.ids.clear();
    Ok(())
}

impl Shared {
    fn failed(&self) -> Option<IoFailure> {
        lock(&self.failure).clone()
    }

    /// Fail-stop for every file the store writes, not only the segments: once any write, sync
    /// or rename has failed, the disk's state is unknown, so the store writes nothing more
    /// (appends included) until it is reopened.
    fn after_write<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Io(failure)) = &result {
            let mut recorded = lock(&self.failure);
            if recorded.is_none() {
                tracing::error!(%failure, "the store stopped writing: a write, sync or rename failed");
                *recorded = Some(failure.clone());
            }
        }
        result
    }

    /// Refuses any write once one has failed (see [`Shared::after_write`]).
    fn check_not_failed(&self) -> Result<(), StoreError> {
        match self.failed() {
            Some(failure) => Err(StoreError::Io(failure)),
            None => Ok(()),
        }
    }

    /// Reads one acknowledged record and checks it again on the way out.
    fn read_record(&self, position: u64) -> Result<Record, StoreError> {
        let location = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            index.locations.get(position).ok_or(StoreError::InvalidArgument {
                field: "position",
                reason: format!("position {position} is beyond the log"),
            })?
        };
        let segment = {
            let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
            segments[location.segment as usize].clone()
        };
        let mut bytes = vec![0u8; location.length as usize];
        segment
            .file
            .read_exact_at(&mut bytes, location.offset)
            .map_err(|e| StoreError::Io(IoFailure::new("reading", Path::new(&segment.name), &e)))?;
        let corrupt = |reason: String| StoreError::Corrupt {
            segment: segment.name.clone(),
            offset: location.offset,
            position,
            reason,
        };
        let (record, _) =
            decode_record(&bytes, self.options.record_body_bytes_max()).map_err(|f| corrupt(f.to_string()))?;
        if record.position != position {
            return Err(corrupt(format!("record holds position {}", record.position)));
        }
        Ok(record)
    }

    fn recorded(&self, record: Record) -> RecordedEvent {
        RecordedEvent {
            event_id: record.event_id,
            stream: record.stream,
            stream_revision: record.stream_revision,
            position: LogPosition(record.position),
            event_type: record.event_type,
            data: record.data,
        }
    }

    fn committed_count(&self) -> u64 {
        *self.committed_events.borrow()
    }

    /// Acknowledged records `from..from + max_count`, read with one positional read per run of
    /// records that sit together in one segment, each checked again on the way out.
    fn read_range(&self, from: u64, max_count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let end = self.committed_count().min(from.saturating_add(max_count as u64));
        if from >= end {
            return Ok(Vec::new());
        }
        let locations: Vec<RecordLocation> = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            (from..end)
                .map(|position| index.locations.get(position).expect("committed positions are indexed"))
                .collect()
        };
        let mut events = Vec::with_capacity(locations.len());
        let mut run_start = 0;
        while run_start < locations.len() {
            let first = locations[run_start];
            // Records of one segment are written back to back.
            let mut run_end = run_start + 1;
            while run_end < locations.len()
                && locations[run_end].segment == first.segment
                && locations[run_end].offset == locations[run_end - 1].offset + locations[run_end - 1].length as u64
                && locations[run_end].offset + locations[run_end].length as u64 - first.offset <= READ_RUN_BYTES_MAX
            {
                run_end += 1;
            }
            let last = locations[run_end - 1];
            let segment = {
                let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
                segments[first.segment as usize].clone()
            };
            let mut bytes = vec![0u8; (last.offset + last.length as u64 - first.offset) as usize];
            segment
                .file
                .read_exact_at(&mut bytes, first.offset)
                .map_err(|e| StoreError::Io(IoFailure::new("reading", Path::new(&segment.name), &e)))?;
            for (i, location) in locations[run_start..run_end].iter().enumerate() {
                let position = from + (run_start + i) as u64;
                let at = (location.offset - first.offset) as usize;
                let corrupt = |reason: String| StoreError::Corrupt {
                    segment: segment.name.clone(),
                    offset: location.offset,
                    position,
                    reason,
                };
                let (record, _) = decode_record_header(
                    &bytes[at..at + location.length as usize],
                    self.options.record_body_bytes_max(),
                )
                .map_err(|f| corrupt(f.to_string()))?;
                if record.position != position {
                    return Err(corrupt(format!("record holds position {}", record.position)));
                }
                events.push(RecordedEvent {
                    event_id: record.event_id,
                    stream: record.stream.to_string(),
                    stream_revision: record.stream_revision,
                    position: LogPosition(position),
                    event_type: record.event_type.to_string(),
                    data: record.data.to_vec(),
                });
            }
            run_start = run_end;
        }
        Ok(events)
    }
}

/// The group-commit writer. Runs on its own thread and is the only code that writes files.
struct Writer {
    shared: Arc<Shared>,
    segments_dir: PathBuf,
    active_file: File,
    active_segment: u32,
    active_len: u64,
    /// The active segment's length on disk: records up to `active_len`, then zero bytes
    /// written ahead (see [`ZEROED_AHEAD_BYTES`]).
    zeroed_end: u64,
    next_position: u64,
}

/// Zero bytes written ahead of the records in the active segment. Overwriting blocks that
/// already exist lets `fdatasync` flush just the data: a file that grows with every append
/// also needs a journal commit for its new size on each sync, which on ext4 made each sync
/// take about 1.7 times as long. Recovery treats a zero tail as unused space (FORMAT.md §6).
const ZEROED_AHEAD_BYTES: u64 = 1024 * 1024;
/// Most data bytes one group commit writes, besides a single larger append: it bounds how far
/// a segment can run past `segment_bytes_max`, and the memory of one group's buffer.
const GROUP_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Largest `segment_bytes_max` and `append_bytes_max`: record offsets within a segment are
/// kept in 32 bits, and a segment holds at most the one plus a group or an append.
const SEGMENT_BYTES_MAX_LIMIT: u64 = 2 * 1024 * 1024 * 1024;
const APPEND_BYTES_MAX_LIMIT: usize = 1024 * 1024 * 1024;
/// A lingering writer waits for one in this many of the expected appends. Measured with 64
/// clients (BENCHMARKS.md, grpc): a half did best, then a third, then a quarter; with 16
/// clients none of them changed anything.
const LINGER_SHARE_OF_EXPECTED: usize = 2;
/// How often a lingering writer looks again. Each look is a sleep and a wake-up, a few µs of
/// CPU, so it looks rarely: with the default linger, at most twice.
const LINGER_STEP: Duration = Duration::from_micros(300);

/// An append the writer accepted and encoded, waiting for the group's fsync.
struct PlannedAppend {
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
    result: AppendResult,
    /// (offset in the group buffer, length, record) for the index.
    records: Vec<(usize, usize, IndexEntry)>,
}

struct IndexEntry {
    position: u64,
    stream: String,
    event_id: EventId,
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<WriteRequest>) {
        let group_max = self.shared.options.group_commit_requests_max.max(1);
        let request_bytes = |request: &WriteRequest| request.events.iter().map(|e| e.data.len()).sum::<usize>();
        // A request that would have made a group too large starts the next one.
        let mut carried: Option<WriteRequest> = None;
        loop {
            let first = match carried.take() {
                Some(request) => request,
                None => match receiver.blocking_recv() {
                    Some(request) => request,
                    None => return,
                },
            };
            if let Some(failure) = self.shared.failed() {
                // Another file's write failed (a checkpoint, a snapshot, a document): stop.
                let _ = first.reply.send(Err(StoreError::Io(failure.clone())));
                receiver.close();
                while let Ok(request) = receiver.try_recv() {
                    let _ = request.reply.send(Err(StoreError::Io(failure.clone())));
                }
                return;
            }
            self.linger_for_expected_appends(&receiver, group_max);
            let mut bytes = request_bytes(&first);
            let mut group = vec![first];
            while group.len() < group_max {
                match receiver.try_recv() {
                    Ok(request) if bytes + request_bytes(&request) > GROUP_BYTES_MAX => {
                        carried = Some(request);
                        break;
                    }
                    Ok(request) => {
                        bytes += request_bytes(&request);
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            if let Err(failure) = self.commit_group(group) {
                tracing::error!(%failure, "store writer stopped: a write or fsync failed");
                *lock(&self.shared.failure) = Some(failure.clone());
                receiver.close();
                while let Ok(request) = receiver.try_recv() {
                    let _ = request.reply.send(Err(StoreError::Io(failure.clone())));
                }
                return;
            }
        }
    }

    /// With one append in hand, waits up to `group_commit_linger_max` while fewer than half of
    /// the appends callers expect have queued, so that more of them share the fsync.
    /// Only a share, because the others keep the cores busy meanwhile; holding all of them
    /// here would leave the cores idle.
    fn linger_for_expected_appends(&self, receiver: &mpsc::Receiver<WriteRequest>, group_max: usize) {
        let most = self.shared.options.group_commit_linger_max;
        let started = Instant::now();
        loop {
            let expected = self.shared.expected_appends.load(Ordering::Relaxed);
            let in_hand = receiver.len() + 1;
            let spent = started.elapsed();
            if in_hand >= (expected / LINGER_SHARE_OF_EXPECTED).min(group_max) || spent >= most {
                return;
            }
            std::thread::sleep(LINGER_STEP.min(most - spent));
        }
    }

    /// Decides, encodes, writes and syncs one group. An `Err` means the file state is unknown.
    fn commit_group(&mut self, group: Vec<WriteRequest>) -> Result<(), IoFailure> {
        let sync_group_first_position = self.next_position;
        let mut buffer = Vec::new();
        let mut planned: Vec<PlannedAppend> = Vec::new();
        // Stream heads and ids as they will be once this group is written.
        let mut group_stream_last: HashMap<String, Option<u64>> = HashMap::new();
        let mut group_ids: HashMap<EventId, ()> = HashMap::new();
        for request in group {
            match self.plan(&request, &mut buffer, &mut group_stream_last, &mut group_ids, sync_group_first_position) {
                Ok(Planned::Write { result, records }) => {
                    planned.push(PlannedAppend { reply: request.reply, result, records })
                }
                Ok(Planned::AlreadyAppended(result)) => {
                    let _ = request.reply.send(Ok(result));
                }
                Err(error) => {
                    let _ = request.reply.send(Err(error));
                }
            }
        }
        if planned.is_empty() {
            return Ok(());
        }
        if self.active_len > SEGMENT_HEADER.len() as u64
            && self.active_len + buffer.len() as u64 > self.shared.options.segment_bytes_max
        {
            if let Err(reason) = self.roll_segment(sync_group_first_position) {
                fail_all(&mut planned, &reason);
                return Err(reason);
            }
        }
        let write_offset = self.active_len;
        let records_end = write_offset + buffer.len() as u64;
        // Positional writes: the offset is ours, never a file cursor that recovery may have moved.
        let (disk, path) = (&self.shared.options.disk, self.active_path());
        let keys = &self.shared.keys;
        let (written, keys_synced) = std::thread::scope(|scope| {
            // Keys written for this group's events (sealed text) are synced beside the
            // segment, on a thread of their own, and both before anything is acknowledged.
            let keys_synced = keys.written_since_sync().then(|| scope.spawn(|| keys.sync_if_written()));
            let written = disk.write_all_at(&self.active_file, &path, &buffer, write_offset).and_then(|_| {
                // No further than the segment will grow: a full segment is trimmed when it rolls.
                let ahead = ZEROED_AHEAD_BYTES.min(self.shared.options.segment_bytes_max.saturating_sub(records_end));
                if records_end > self.zeroed_end && ahead > 0 {
                    disk.write_all_at(&self.active_file, &path, &vec![0u8; ahead as usize], records_end)?;
                    self.zeroed_end = records_end + ahead;
                }
                disk.sync_data(&self.active_file, &path)
            });
            let keys_synced = keys_synced.map_or(Ok(()), |thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::Unavailable { reason: "the key sync panicked".into() }))
            });
            (written, keys_synced)
        });
        if let Err(error) = written {
            let reason = IoFailure::new("writing and syncing", &path, &error);
            fail_all(&mut planned, &reason);
            return Err(reason);
        }
        if let Err(error) = keys_synced {
            let reason = match error {
                StoreError::Io(failure) => failure,
                other => IoFailure {
                    operation: "syncing",
                    path: "keys".into(),
                    kind: std::io::ErrorKind::Other,
                    message: other.to_string(),
                },
            };
            fail_all(&mut planned, &reason);
            return Err(reason);
        }
        self.active_len += buffer.len() as u64;
        {
            let mut index = self.shared.index.write().unwrap_or_else(|p| p.into_inner());
            for append in &planned {
                for (offset, length, entry) in &append.records {
                    let location = RecordLocation {
                        segment: self.active_segment,
                        offset: write_offset + *offset as u64,
                        length: *length as u32,
                    };
                    assert_eq!(index.locations.len() as u64, entry.position, "the index grows one position at a time");
                    index.locations.push(location);
                    index.streams.entry(entry.stream.clone()).or_default().push(entry.position);
                    index.event_ids.insert(entry.event_id, entry.position);
                }
            }
            self.shared.committed_events.send_replace(index.locations.len() as u64);
        }
        for append in planned {
            let _ = append.reply.send(Ok(append.result));
        }
        Ok(())
    }

    fn plan(
        &mut self,
        request: &WriteRequest,
        buffer: &mut Vec<u8>,
        group_stream_last: &mut HashMap<String, Option<u64>>,
        group_ids: &mut HashMap<EventId, ()>,
        sync_group_first_position: u64,
    ) -> Result<Planned, StoreError> {
        let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
        if request.events.iter().any(|e| group_ids.contains_key(&e.event_id)) {
            return Err(StoreError::Unavailable {
                reason: "an append with the same event id is still being written; retry to get its result".into(),
            });
        }
        let existing: Vec<Option<u64>> =
            request.events.iter().map(|e| index.event_ids.get(&e.event_id).copied()).collect();
        if existing.iter().all(Option::is_some) {
            let positions: Vec<u64> = existing.into_iter().flatten().collect();
            drop(index);
            return self.idempotent_result(request, &positions).map(Planned::AlreadyAppended);
        }
        if let Some(repeated) = existing.iter().zip(&request.events).find_map(|(p, e)| p.map(|_| e.event_id)) {
            return Err(StoreError::DuplicateEventId {
                event_id: repeated,
                reason: "this append repeats part of an earlier append; an append is all or nothing, so resend exactly the original events".into(),
            });
        }
        let current = match group_stream_last.get(&request.stream) {
            Some(last) => *last,
            None => index.streams.get(&request.stream).map(|p| p.len() as u64 - 1),
        };
        if !request.expected.holds(current) {
            return Err(StoreError::WrongExpectedRevision {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            });
        }
        let first_revision = current.map_or(0, |r| r + 1);
        let first_position = self.next_position;
        let mut records = Vec::with_capacity(request.events.len());
        for (i, event) in request.events.iter().enumerate() {
            let position = self.next_position;
            let offset = buffer.len();
            let last = i + 1 == request.events.len();
            let length = encode_record(
                buffer,
                RecordFields {
                    position,
                    stream_revision: first_revision + i as u64,
                    sync_group_first_position,
                    flags: if last { FLAG_LAST_IN_APPEND } else { 0 },
                    event_id: &event.event_id,
                    stream: &request.stream,
                    event_type: &event.event_type,
                    data: &event.data,
                },
            );
            records.push((
                offset,
                length,
                IndexEntry { position, stream: request.stream.clone(), event_id: event.event_id },
            ));
            group_ids.insert(event.event_id, ());
            self.next_position += 1;
        }
        let last_revision = first_revision + request.events.len() as u64 - 1;
        group_stream_last.insert(request.stream.clone(), Some(last_revision));
        Ok(Planned::Write {
            result: AppendResult {
                last_revision,
                first_position: LogPosition(first_position),
                last_position: LogPosition(self.next_position - 1),
            },
            records,
        })
    }

    /// A retry of an earlier append gets the earlier result, if it really is the same append.
    fn idempotent_result(&self, request: &WriteRequest, positions: &[u64]) -> Result<AppendResult, StoreError> {
        let mut first: Option<Record> = None;
        let mut last_revision = 0;
        for (i, (event, &position)) in request.events.iter().zip(positions).enumerate() {
            let stored = self.shared.read_record(position)?;
            let consecutive = first.as_ref().is_none_or(|f| {
                position == f.position + i as u64 && stored.stream_revision == f.stream_revision + i as u64
            });
            if stored.stream != request.stream || !consecutive {
                return Err(StoreError::DuplicateEventId {
                    event_id: event.event_id,
                    reason: format!("already appended to stream {} in a different append", stored.stream),
                });
            }
            if stored.event_type != event.event_type || stored.data != event.data {
                return Err(StoreError::DuplicateEventId {
                    event_id: event.event_id,
                    reason: "already used for an event with different content".into(),
                });
            }
            last_revision = stored.stream_revision;
            if first.is_none() {
                first = Some(stored);
            }
        }
        let first_position = positions[0];
        let last_position = positions[positions.len() - 1];
        // The earlier append must have been exactly these events, not a longer batch.
        let ends_append = self.shared.read_record(last_position)?.flags & FLAG_LAST_IN_APPEND != 0;
        let starts_append =
            first_position == 0 || self.shared.read_record(first_position - 1)?.flags & FLAG_LAST_IN_APPEND != 0;
        if !ends_append || !starts_append {
            return Err(StoreError::DuplicateEventId {
                event_id: request.events[0].event_id,
                reason: "these events were appended as part of a larger append; resend exactly the original events"
                    .into(),
            });
        }
        Ok(AppendResult {
            last_revision,
            first_position: LogPosition(first_position),
            last_position: LogPosition(last_position),
        })
    }

    /// The active segment's file.
    fn active_path(&self) -> PathBuf {
        let segments = self.shared.segments.read().unwrap_or_else(|p| p.into_inner());
        self.segments_dir.join(&segments[self.active_segment as usize].name)
    }

    fn roll_segment(&mut self, first_position: u64) -> Result<(), IoFailure> {
        // Only the active segment may end in zeros written ahead; a full one ends at its last
        // record, durably, before the next segment exists.
        let (disk, path) = (&self.shared.options.disk, self.active_path());
        disk.set_len(&self.active_file, &path, self.active_len)
            .and_then(|_| disk.sync_all(&self.active_file, &path))
            .map_err(|e| IoFailure::new("trimming to its records", &path, &e))?;
        let name = segment_file_name(first_position);
        let file = create_segment(disk, &self.segments_dir, &name).map_err(|error| match error {
            StoreError::Io(failure) => failure,
            other => IoFailure {
                operation: "creating",
                path: self.segments_dir.join(&name).display().to_string(),
                kind: std::io::ErrorKind::Other,
                message: other.to_string(),
            },
        })?;
        let path = self.segments_dir.join(&name);
        let reader = File::open(&path).map_err(|e| IoFailure::new("opening", &path, &e))?;
        let mut segments = self.shared.segments.write().unwrap_or_else(|p| p.into_inner());
        segments.push(Arc::new(Segment { name, file: reader }));
        self.active_segment = segments.len() as u32 - 1;
        self.active_file = file;
        self.active_len = SEGMENT_HEADER.len() as u64;
        self.zeroed_end = self.active_len;
        Ok(())
    }
}

enum Planned {
    Write { result: AppendResult, records: Vec<(usize, usize, IndexEntry)> },
    AlreadyAppended(AppendResult),
}

fn fail_all(planned: &mut Vec<PlannedAppend>, failure: &IoFailure) {
    for append in planned.drain(..) {
        let _ = append.reply.send(Err(StoreError::Io(failure.clone())));
    }
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        self.validate_append(stream, &events)?;
        if let Some(failure) = self.shared.failed() {
            return Err(StoreError::Io(failure));
        }
        let sender =
            lock(&self.requests).clone().ok_or(StoreError::Unavailable { reason: "the store is closed".into() })?;
        let (reply, response) = oneshot::channel();
        let request = WriteRequest { stream: stream.to_string(), expected, events, reply };
        sender
            .send(request)
            .await
            .map_err(|_| StoreError::Unavailable { reason: "the store writer has stopped".into() })?;
        response
            .await
            .map_err(|_| StoreError::Unavailable { reason: "the store writer stopped before answering".into() })?
    }

    async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_stream_read(stream, max_count, self.shared.options.read_events_max)?;
        let positions: Vec<u64> = {
            let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
            let all =
                index.streams.get(stream).ok_or_else(|| StoreError::StreamNotFound { stream: stream.to_string() })?;
            let len = all.len() as u64;
            match direction {
                ReadDirection::Forwards => {
                    let from = match start {
                        StreamStart::Beginning => 0,
                        StreamStart::Revision(r) => r,
                    };
                    all.iter().skip(from.min(len) as usize).take(max_count).copied().collect()
                }
                ReadDirection::Backwards => {
                    let from = match start {
                        StreamStart::Beginning => len.saturating_sub(1),
                        StreamStart::Revision(r) => r.min(len.saturating_sub(1)),
                    };
                    if len == 0 {
                        Vec::new()
                    } else {
                        all[..=from as usize].iter().rev().take(max_count).copied().collect()
                    }
                }
            }
        };
        positions.into_iter().map(|p| self.shared.read_record(p).map(|r| self.shared.recorded(r))).collect()
    }

    async fn read_all(&self, from: LogPosition, max_count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.check_read_count(max_count)?;
        self.shared.read_range(from.0, max_count)
    }

    async fn subscribe_to_all(&self, after: Option<LogPosition>) -> Result<Box<dyn LogSubscription>, StoreError> {
        let next_position = after.map_or(0, |p| p.0 + 1);
        Ok(Box::new(EmbeddedSubscription {
            shared: self.shared.clone(),
            committed: self.shared.committed_events.subscribe(),
            next_position,
            buffered: std::collections::VecDeque::new(),
        }))
    }

    async fn read_event_by_id(&self, event_id: EventId) -> Result<Option<RecordedEvent>, StoreError> {
        let position = self.shared.index.read().unwrap_or_else(|p| p.into_inner()).event_ids.get(&event_id).copied();
        let Some(position) = position else { return Ok(None) };
        let record = self.shared.read_record(position)?;
        // The index and the bytes must agree: a different id here is corruption, never a miss.
        if record.event_id != event_id {
            return Err(StoreError::Corrupt {
                segment: String::new(),
                offset: 0,
                position,
                reason: format!(
                    "the index puts event {event_id} at position {position}, which holds {}",
                    record.event_id
                ),
            });
        }
        Ok(Some(self.shared.recorded(record)))
    }

    async fn stream_last_revision(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
        Ok(index.streams.get(stream).map(|p| p.len() as u64 - 1))
    }

    async fn last_position(&self) -> Result<Option<LogPosition>, StoreError> {
        Ok(self.shared.committed_count().checked_sub(1).map(LogPosition))
    }

    fn positions_are_dense(&self) -> bool {
        true
    }

    fn committed_events_watch(&self) -> Option<watch::Receiver<u64>> {
        Some(self.shared.committed_events.subscribe())
    }

    fn expect_append(&self) -> AppendExpected {
        AppendExpected::counted_on(&self.shared.expected_appends)
    }

    async fn save_checkpoint(&self, note: &[u8]) -> Result<(), StoreError> {
        if note.len() > CHECKPOINT_BYTES_MAX {
            return Err(StoreError::LimitExceeded {
                limit: "checkpoint bytes",
                actual: note.len() as u64,
                max: CHECKPOINT_BYTES_MAX as u64,
            });
        }
        let shared = self.shared.clone();
        let note = note.to_vec();
        tokio::task::spawn_blocking(move || {
            // One writer at a time, even if a caller breaks the one-publisher rule: two writers
            // of one temporary file could leave a checkpoint that no longer verifies.
            let _writing = lock(&shared.checkpoint_writing);
            shared.check_not_failed()?;
            shared.after_write(write_file_durably(&shared.options.disk, &shared.directory, CHECKPOINT_FILE, &note))
        })
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("checkpoint task failed: {e}") })?
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        read_file_if_present(self.shared.directory.join(CHECKPOINT_FILE)).await
    }

    // One server writes this store, and its snapshots only move forward: the size is not kept.
    async fn save_snapshot(&self, _tree_size: u64, snapshot: Vec<u8>) -> Result<(), StoreError> {
        if snapshot.len() > SNAPSHOT_BYTES_MAX {
            return Err(StoreError::LimitExceeded {
                limit: "snapshot bytes",
                actual: snapshot.len() as u64,
                max: SNAPSHOT_BYTES_MAX as u64,
            });
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let _writing = lock(&shared.snapshot_writing);
            shared.check_not_failed()?;
            shared.after_write(write_file_durably(&shared.options.disk, &shared.directory, SNAPSHOT_FILE, &snapshot))
        })
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("snapshot task failed: {e}") })?
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        read_file_if_present(self.shared.directory.join(SNAPSHOT_FILE)).await
    }

    async fn put_document(&self, document: &Document) -> Result<bool, StoreError> {
        if lock(&self.requests).is_none() {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        let (shared, document) = (self.shared.clone(), document.clone());
        blocking(move || {
            shared.check_not_failed()?;
            let kept = shared.documents.put(&document);
            shared.after_write(kept)
        })
        .await
    }

    async fn begin_document(&self, info: DocumentInfo) -> Result<Box<dyn DocumentUpload + '_>, StoreError> {
        if lock(&self.requests).is_none() {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        let shared = self.shared.clone();
        let open = blocking(move || {
            shared.check_not_failed()?;
            let open = shared.documents.begin(&info);
            shared.after_write(open)
        })
        .await?;
        Ok(Box::new(EmbeddedUpload { shared: self.shared.clone(), open: Some(open) }))
    }

    async fn read_document(&self, sha256: &[u8; 32]) -> Result<Option<Document>, StoreError> {
        let (shared, sha256) = (self.shared.clone(), *sha256);
        blocking(move || shared.documents.read(&sha256)).await
    }

    async fn document_infos(&self) -> Result<Vec<DocumentInfo>, StoreError> {
        let shared = self.shared.clone();
        blocking(move || shared.documents.infos()).await
    }

    async fn delete_document(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        if lock(&self.requests).is_none() {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        let (shared, sha256) = (self.shared.clone(), *sha256);
        blocking(move || {
            shared.check_not_failed()?;
            let deleted = shared.documents.delete(&sha256);
            shared.after_write(deleted)
        })
        .await
    }

    fn keeps_data_keys(&self) -> bool {
        true
    }

    async fn put_data_keys(&self, keys: &[(EventId, [u8; 32])]) -> Result<(), StoreError> {
        if lock(&self.requests).is_none() {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        let shared = self.shared.clone();
        let keys: Vec<([u8; 16], [u8; 32])> = keys.iter().map(|(id, key)| (id.0, *key)).collect();
        blocking(move || {
            shared.check_not_failed()?;
            let kept = shared.keys.put(&keys);
            shared.after_write(kept)
        })
        .await
    }

    async fn read_data_key(&self, event_id: &EventId) -> Result<DataKeyState, StoreError> {
        let (shared, event_id) = (self.shared.clone(), event_id.0);
        blocking(move || shared.keys.read(&event_id)).await
    }

    async fn destroy_data_key(&self, event_id: &EventId) -> Result<bool, StoreError> {
        if lock(&self.requests).is_none() {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        let (shared, event_id) = (self.shared.clone(), event_id.0);
        blocking(move || {
            shared.check_not_failed()?;
            let destroyed = shared.keys.destroy(&event_id);
            shared.after_write(destroyed)
        })
        .await
    }

    async fn close(&self) {
        EmbeddedStore::close(self).await
    }
}

/// An upload written to its temporary file part by part, off the async threads, as the parts
/// arrive: the writing and hashing overlap the transfer, and only the sync waits for the end.
struct EmbeddedUpload {
    shared: Arc<Shared>,
    /// `None` only while a part is being written on a blocking thread.
    open: Option<documents::OpenDocument>,
}

#[async_trait]
impl DocumentUpload for EmbeddedUpload {
    async fn write(&mut self, part: &[u8]) -> Result<(), StoreError> {
        let mut open =
            self.open.take().ok_or_else(|| StoreError::Unavailable { reason: "an earlier part failed".into() })?;
        let (shared, part) = (self.shared.clone(), part.to_vec());
        let (open, written) = tokio::task::spawn_blocking(move || {
            let written = open.write(&part);
            (open, shared.after_write(written))
        })
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("document task failed: {e}") })?;
        self.open = Some(open);
        written
    }

    async fn finish(mut self: Box<Self>) -> Result<bool, StoreError> {
        let open =
            self.open.take().ok_or_else(|| StoreError::Unavailable { reason: "an earlier part failed".into() })?;
        let shared = self.shared.clone();
        blocking(move || {
            shared.check_not_failed()?;
            let kept = open.finish(&shared.documents);
            shared.after_write(kept)
        })
        .await
    }
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("document task failed: {e}") })?
}

/// The latest signed checkpoint, in the data directory (FORMAT.md §4).
const CHECKPOINT_FILE: &str = "checkpoint";
/// The server's latest snapshot, in the data directory (FORMAT.md §6).
const SNAPSHOT_FILE: &str = "snapshot";

/// A whole file, or `None` if there is none.
async fn read_file_if_present(path: PathBuf) -> Result<Option<Vec<u8>>, StoreError> {
    tokio::task::spawn_blocking(move || match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_failure("reading", &path, e)),
    })
    .await
    .map_err(|e| StoreError::Unavailable { reason: format!("read task failed: {e}") })?
}

/// Replaces `directory/name` with `bytes` so that a crash leaves either the old file or the new
/// one, whole: write a temporary file, sync it, rename it over, then sync the directory.
fn write_file_durably(disk: &Disk, directory: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = directory.join(name);
    let temporary = directory.join(format!("{name}.tmp"));
    let file = disk.create_empty(&temporary).map_err(|e| io_failure("creating", &temporary, e))?;
    disk.write_all_at(&file, &temporary, bytes, 0)
        .and_then(|_| disk.sync_all(&file, &temporary))
        .map_err(|e| io_failure("writing", &temporary, e))?;
    disk.rename(&temporary, &path).map_err(|e| io_failure("renaming", &temporary, e))?;
    sync_directory(disk, directory)
}

/// Reads history in batches straight from the log, then waits on the commit counter. Because
/// both phases read by position from acknowledged records, there is no gap and no duplicate.
struct EmbeddedSubscription {
    shared: Arc<Shared>,
    committed: watch::Receiver<u64>,
    next_position: u64,
    buffered: std::collections::VecDeque<RecordedEvent>,
}

const SUBSCRIPTION_BATCH_EVENTS: usize = 512;

#[async_trait]
impl LogSubscription for EmbeddedSubscription {
    async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                return Ok(event);
            }
            let committed = *self.committed.borrow_and_update();
            if self.next_position < committed {
                let batch = self.shared.read_range(self.next_position, SUBSCRIPTION_BATCH_EVENTS)?;
                self.next_position += batch.len() as u64;
                self.buffered.extend(batch);
                continue;
            }
            if let Some(failure) = self.shared.failed() {
                return Err(StoreError::Io(failure));
            }
            self.committed
                .changed()
                .await
                .map_err(|_| StoreError::Unavailable { reason: "the store was closed".into() })?;
        }
    }
}
