//! The store port (`klero_store::EventStore`) on the embedded store: appends through the
//! writer, reads from the index, subscriptions, the kept checkpoint and snapshot, documents and
//! data keys.

use super::*;

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
                    all.iter_from(from.min(len) as usize).take(max_count).collect()
                }
                ReadDirection::Backwards => {
                    let from = match start {
                        StreamStart::Beginning => len.saturating_sub(1),
                        StreamStart::Revision(r) => r.min(len.saturating_sub(1)),
                    };
                    if len == 0 {
                        Vec::new()
                    } else {
                        (0..=from as usize).rev().take(max_count).map(|i| all.get(i).expect("below len")).collect()
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
        let candidates = self.shared.index.read().unwrap_or_else(|p| p.into_inner()).event_ids.candidates(&event_id);
        for position in candidates {
            let record = self.shared.read_record(position)?;
            if record.event_id == event_id {
                return Ok(Some(self.shared.recorded(record)));
            }
        }
        Ok(None)
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

    async fn keep_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<bool, StoreError> {
        let shared = self.shared.clone();
        let note = note.to_vec();
        tokio::task::spawn_blocking(move || {
            shared.check_not_failed()?;
            shared.after_write(shared.witnessed.keep(tree_size, &note))
        })
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("witnessed checkpoint task failed: {e}") })?
    }

    async fn witnessed_checkpoints(&self, from_size: u64, max_count: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.witnessed.list(from_size, max_count))
            .await
            .map_err(|e| StoreError::Unavailable { reason: format!("witnessed checkpoint task failed: {e}") })?
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

    async fn keep_snapshot_rows(&self, table: &str, offset: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        klero_store::validate_snapshot_rows(table, offset, bytes.len())?;
        let (shared, table) = (self.shared.clone(), table.to_string());
        tokio::task::spawn_blocking(move || {
            let _writing = lock(&shared.snapshot_writing);
            shared.check_not_failed()?;
            shared.after_write(crate::snapshot_rows::keep(
                &shared.options.disk,
                &shared.directory,
                &table,
                offset,
                &bytes,
            ))
        })
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("snapshot rows task failed: {e}") })?
    }

    async fn load_snapshot_rows(&self, table: &str, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        klero_store::validate_snapshot_table(table)?;
        let (directory, table) = (self.shared.directory.clone(), table.to_string());
        tokio::task::spawn_blocking(move || crate::snapshot_rows::load(&directory, &table, offset, length))
            .await
            .map_err(|e| StoreError::Unavailable { reason: format!("snapshot rows task failed: {e}") })?
    }

    fn kept_rows_file(&self, table: &str) -> Option<Arc<dyn klero_store::KeptRowsFile>> {
        klero_store::validate_snapshot_table(table).ok()?;
        let file = crate::snapshot_rows::open(&self.shared.directory, table)?;
        Some(Arc::new(file))
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
pub(crate) struct EmbeddedUpload {
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
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable { reason: format!("document task failed: {e}") })?
}

/// The latest signed checkpoint, in the data directory (FORMAT.md §4).
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";
/// The server's latest snapshot, in the data directory (FORMAT.md §6).
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";

/// A whole file, or `None` if there is none.
pub(crate) async fn read_file_if_present(path: PathBuf) -> Result<Option<Vec<u8>>, StoreError> {
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
pub(crate) fn write_file_durably(disk: &Disk, directory: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
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
pub(crate) struct EmbeddedSubscription {
    shared: Arc<Shared>,
    committed: watch::Receiver<u64>,
    next_position: u64,
    buffered: std::collections::VecDeque<RecordedEvent>,
}

pub(crate) const SUBSCRIPTION_BATCH_EVENTS: usize = 512;

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
