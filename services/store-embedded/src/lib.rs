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
//!   One thread decodes segments while another indexes them.

pub mod disk;
pub mod documents;
pub mod keys;
pub mod segment;

mod compact;
mod ids;
mod port;
mod recovery;
mod snapshot_rows;
mod witnessed;
mod writer;

use crate::recovery::*;
use crate::writer::*;

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

/// Where each position's record is, in 4 bytes a position: its offset within its segment
/// (segments are at most 4 GiB, checked on open). Records of a segment are written back to
/// back, so a record ends where the next begins; each run of positions in one segment keeps
/// its segment and where its last record ends.
#[derive(Debug, Default)]
struct Locations {
    offsets: compact::ChunkedList<u32>,
    /// Each run of back-to-back records in one segment, ascending.
    runs: Vec<LocationRun>,
}

#[derive(Clone, Copy, Debug)]
struct LocationRun {
    first_position: u64,
    segment: u32,
    /// Where the run's last record ends.
    end: u64,
}

impl Locations {
    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn push(&mut self, location: RecordLocation) {
        let continues =
            self.runs.last().is_some_and(|run| run.segment == location.segment && run.end == location.offset);
        if !continues {
            let first_position = self.offsets.len() as u64;
            self.runs.push(LocationRun { first_position, segment: location.segment, end: location.offset });
        }
        let offset = u32::try_from(location.offset).expect("segments are at most 4 GiB");
        self.offsets.push(offset);
        self.runs.last_mut().expect("a run").end = location.offset + location.length as u64;
    }

    fn get(&self, position: u64) -> Option<RecordLocation> {
        let offset = self.offsets.get(usize::try_from(position).ok()?)? as u64;
        let run = self.runs.partition_point(|run| run.first_position <= position) - 1;
        let next_run = self.runs.get(run + 1).map_or(self.offsets.len() as u64, |next| next.first_position);
        let end = match position + 1 == next_run {
            true => self.runs[run].end,
            false => self.offsets.get(position as usize + 1).expect("a later position of the run") as u64,
        };
        let length = u32::try_from(end - offset).expect("a record is shorter than its segment");
        Some(RecordLocation { segment: self.runs[run].segment, offset, length })
    }
}

#[derive(Debug, Default)]
struct Index {
    /// By position.
    locations: Locations,
    /// Positions of each stream's events, by revision.
    streams: HashMap<String, compact::PositionList>,
    /// Position of every event id, confirmed by its record.
    event_ids: ids::EventIdIndex,
    /// Records found on open whose id's fingerprint other records' ids have: each is checked
    /// against them once the segments can be read (see `recovery::confirm_suspected_repeats`).
    suspected_repeats: Vec<recovery::SuspectedRepeat>,
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
    /// The witnessed checkpoints, in size order.
    witnessed: witnessed::WitnessedFile,
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
        // Segments are decoded ahead, on threads of their own (segment n on thread n mod
        // decoders), while this one indexes them in order; each thread's channel holds one, so
        // at most two segments a thread are in memory. Should indexing stop early, a decoder's
        // next send fails and it ends.
        let paths: Arc<Vec<PathBuf>> =
            Arc::new(first_positions.iter().map(|&first| segments_dir.join(segment_file_name(first))).collect());
        let decoders = klero_ledger::parallel::cores().clamp(1, 2);
        let mut decoded_segments = Vec::new();
        let mut decoder_threads = Vec::new();
        for decoder in 0..decoders {
            let (decoded_sender, decoded) = std::sync::mpsc::sync_channel(1);
            decoded_segments.push(decoded);
            let (paths, options) = (paths.clone(), options.clone());
            let fingerprints = index.event_ids.fingerprints();
            let thread = std::thread::Builder::new()
                .name("klero-store-open".into())
                .spawn(move || {
                    for path in paths.iter().skip(decoder).step_by(decoders) {
                        let decoded = decode_segment(path, &options, &fingerprints);
                        let failed = decoded.is_err();
                        if decoded_sender.send(decoded).is_err() || failed {
                            return;
                        }
                    }
                })
                .map_err(|e| StoreError::Unavailable {
                    reason: format!("cannot start a thread to open the store: {e}"),
                })?;
            decoder_threads.push(thread);
        }
        for (number, &first_position) in first_positions.iter().enumerate() {
            let name = segment_file_name(first_position);
            let path = &paths[number];
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
            let decoded = decoded_segments[number % decoders]
                .recv()
                .map_err(|_| StoreError::Unavailable { reason: "the thread decoding segments stopped".into() })??;
            let (valid_len, truncated) =
                index_segment(decoded, path, &name, number as u32, is_last, &options, &mut index)?;
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
            if number == 0 && !is_last {
                // The first segment's records per byte, over every segment's size.
                let total_bytes: u64 = paths.iter().filter_map(|path| fs::metadata(path).ok()).map(|m| m.len()).sum();
                let expected = index.locations.len() as u64 * total_bytes / valid_len.max(1);
                index.event_ids.reserve_gathered(
                    expected.saturating_sub(index.locations.len() as u64).min(ids::POSITIONS_MAX) as usize,
                );
            }
            let file = File::open(path).map_err(|e| io_failure("opening", path, e))?;
            segments.push(Arc::new(Segment { name, file }));
        }
        for thread in decoder_threads {
            let _ = thread.join();
        }
        index.suspected_repeats = index
            .event_ids
            .settle()
            .into_iter()
            .map(|(position, others)| recovery::SuspectedRepeat { position, others })
            .collect();
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
        let witnessed = witnessed::WitnessedFile::new(&directory, options.disk.clone());
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
            witnessed,
        });
        recovery::confirm_suspected_repeats(&shared)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_its_offset_and_the_next_records_across_segments_and_gaps() {
        let mut locations = Locations::default();
        let written = [
            RecordLocation { segment: 0, offset: 16, length: 100 },
            RecordLocation { segment: 0, offset: 116, length: 50 },
            // The next segment.
            RecordLocation { segment: 1, offset: 16, length: 70 },
            RecordLocation { segment: 1, offset: 86, length: 30 },
            // Not back to back with the one before (as after a cut tail): a run of its own.
            RecordLocation { segment: 1, offset: 200, length: 40 },
            RecordLocation { segment: 1, offset: 240, length: 10 },
        ];
        for (position, location) in written.iter().enumerate() {
            locations.push(*location);
            // Each is found as soon as it is pushed (it is then the last), and the ones before.
            for (earlier, expected) in written[..=position].iter().enumerate() {
                assert_eq!(locations.get(earlier as u64), Some(*expected), "position {earlier} of {position}");
            }
        }
        assert_eq!(locations.get(written.len() as u64), None);
        assert_eq!(locations.runs.len(), 3);
    }
}
