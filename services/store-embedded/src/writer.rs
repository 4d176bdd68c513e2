//! The group-commit writer: the one thread that writes segments. It takes every queued append,
//! checks each against the stream state, writes the group with one `write`, syncs once, and
//! only then updates the index and acknowledges.

use super::*;

/// The group-commit writer. Runs on its own thread and is the only code that writes files.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) segments_dir: PathBuf,
    pub(crate) active_file: File,
    pub(crate) active_segment: u32,
    pub(crate) active_len: u64,
    /// The active segment's length on disk: records up to `active_len`, then zero bytes
    /// written ahead (see [`ZEROED_AHEAD_BYTES`]).
    pub(crate) zeroed_end: u64,
    pub(crate) next_position: u64,
}

/// Zero bytes written ahead of the records in the active segment. Overwriting blocks that
/// already exist lets `fdatasync` flush just the data: a file that grows with every append
/// also needs a journal commit for its new size on each sync, which on ext4 made each sync
/// take about 1.7 times as long. Recovery treats a zero tail as unused space (FORMAT.md §6).
pub(crate) const ZEROED_AHEAD_BYTES: u64 = 1024 * 1024;
/// Most data bytes one group commit writes, besides a single larger append: it bounds how far
/// a segment can run past `segment_bytes_max`, and the memory of one group's buffer.
pub(crate) const GROUP_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Largest `segment_bytes_max` and `append_bytes_max`: record offsets within a segment are
/// kept in 32 bits, and a segment holds at most the one plus a group or an append.
pub(crate) const SEGMENT_BYTES_MAX_LIMIT: u64 = 2 * 1024 * 1024 * 1024;
pub(crate) const APPEND_BYTES_MAX_LIMIT: usize = 1024 * 1024 * 1024;
/// A lingering writer waits for one in this many of the expected appends. Measured with 64
/// clients (BENCHMARKS.md, grpc): a half did best, then a third, then a quarter; with 16
/// clients none of them changed anything.
pub(crate) const LINGER_SHARE_OF_EXPECTED: usize = 2;
/// How often a lingering writer looks again. Each look is a sleep and a wake-up, a few µs of
/// CPU, so it looks rarely: with the default linger, at most twice.
pub(crate) const LINGER_STEP: Duration = Duration::from_micros(300);

/// An append the writer accepted and encoded, waiting for the group's fsync.
pub(crate) struct PlannedAppend {
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
    result: AppendResult,
    /// (offset in the group buffer, length, record) for the index.
    records: Vec<(usize, usize, IndexEntry)>,
}

pub(crate) struct IndexEntry {
    position: u64,
    stream: String,
    event_id: EventId,
}

impl Writer {
    pub(crate) fn run(mut self, mut receiver: mpsc::Receiver<WriteRequest>) {
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
                    index.event_ids.insert(&entry.event_id, entry.position);
                }
            }
            self.shared.committed_events.send_replace(index.locations.len() as u64);
        }
        for append in planned {
            let _ = append.reply.send(Ok(append.result));
        }
        Ok(())
    }

    /// Where each of the request's event ids already is in the log, if anywhere: the index's
    /// candidates, each confirmed by its record (only this thread adds to the index, so none
    /// appears meanwhile).
    fn existing_positions(&self, request: &WriteRequest) -> Result<Vec<Option<u64>>, StoreError> {
        let candidates: Vec<Vec<u64>> = {
            let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
            request.events.iter().map(|e| index.event_ids.candidates(&e.event_id)).collect()
        };
        let mut existing = Vec::with_capacity(candidates.len());
        for (event, candidates) in request.events.iter().zip(candidates) {
            let mut found = None;
            for position in candidates {
                if self.shared.read_record(position)?.event_id == event.event_id {
                    found = Some(position);
                    break;
                }
            }
            existing.push(found);
        }
        Ok(existing)
    }

    fn plan(
        &mut self,
        request: &WriteRequest,
        buffer: &mut Vec<u8>,
        group_stream_last: &mut HashMap<String, Option<u64>>,
        group_ids: &mut HashMap<EventId, ()>,
        sync_group_first_position: u64,
    ) -> Result<Planned, StoreError> {
        if request.events.iter().any(|e| group_ids.contains_key(&e.event_id)) {
            return Err(StoreError::Unavailable {
                reason: "an append with the same event id is still being written; retry to get its result".into(),
            });
        }
        let after = self.next_position.saturating_add(request.events.len() as u64);
        if after > ids::POSITIONS_MAX {
            return Err(StoreError::LimitExceeded {
                limit: "events in the embedded store",
                actual: after,
                max: ids::POSITIONS_MAX,
            });
        }
        let existing = self.existing_positions(request)?;
        let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
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

pub(crate) enum Planned {
    Write { result: AppendResult, records: Vec<(usize, usize, IndexEntry)> },
    AlreadyAppended(AppendResult),
}

pub(crate) fn fail_all(planned: &mut Vec<PlannedAppend>, failure: &IoFailure) {
    for append in planned.drain(..) {
        let _ = append.reply.send(Err(StoreError::Io(failure.clone())));
    }
}
