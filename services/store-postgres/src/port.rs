//! The store port (`klero_store::EventStore`) on PostgreSQL.

use super::*;

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events, &self.options.limits)?;
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable { reason: "the store is closed".into() })?;
        let (reply, answer) = oneshot::channel();
        writer
            .send(AppendRequest { stream: stream.to_string(), expected, events, reply })
            .await
            .map_err(|_| StoreError::Unavailable { reason: "the store is closed".into() })?;
        answer.await.map_err(|_| StoreError::Unavailable { reason: "the writer stopped".into() })?
    }

    async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_stream_read(stream, max_count, self.options.read_events_max)?;
        let limit = max_count as i64;
        let client = self.reader().await?;
        let rows = match (direction, start) {
            (ReadDirection::Forwards, start) => {
                let from = match start {
                    StreamStart::Beginning => 0,
                    StreamStart::Revision(r) => r.min(i64::MAX as u64) as i64,
                };
                client
                    .query(
                        &format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE stream = $1 AND stream_revision >= $2 ORDER BY stream_revision LIMIT $3"),
                        &[&stream, &from, &limit],
                    )
                    .await
            }
            (ReadDirection::Backwards, start) => {
                let from = match start {
                    StreamStart::Beginning => i64::MAX,
                    StreamStart::Revision(r) => r.min(i64::MAX as u64) as i64,
                };
                client
                    .query(
                        &format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE stream = $1 AND stream_revision <= $2 ORDER BY stream_revision DESC LIMIT $3"),
                        &[&stream, &from, &limit],
                    )
                    .await
            }
        }
        .map_err(|e| unavailable("reading a stream", e))?;
        if rows.is_empty() && self.stream_last_revision(stream).await?.is_none() {
            return Err(StoreError::StreamNotFound { stream: stream.to_string() });
        }
        events(&rows)
    }

    async fn read_all(&self, from: LogPosition, max_count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.check_read_count(max_count)?;
        let rows = self
            .reader()
            .await?
            .query(
                &format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE position >= $1 ORDER BY position LIMIT $2"),
                &[&(from.0.min(i64::MAX as u64) as i64), &(max_count as i64)],
            )
            .await
            .map_err(|e| unavailable("reading the log", e))?;
        events(&rows)
    }

    async fn subscribe_to_all(&self, after: Option<LogPosition>) -> Result<Box<dyn LogSubscription>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        // A subscription's reads go on a connection of its own, like the writer's: a long
        // catch-up never queues behind the pages and proofs that the readers serve.
        let client = connect_one(&self.config).await?;
        Ok(Box::new(PostgresSubscription {
            store: SubscriptionReader {
                client,
                config: self.config.clone(),
                poll_interval: self.options.poll_interval,
            },
            next_position: after.map_or(0, |p| p.0 + 1),
            buffered: VecDeque::new(),
            committed: self.committed.clone(),
        }))
    }

    async fn read_event_by_id(&self, event_id: EventId) -> Result<Option<RecordedEvent>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(&format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE event_id = $1"), &[&&event_id.0[..]])
            .await
            .map_err(|e| unavailable("looking up an event id", e))?;
        row.as_ref().map(|row| stored(row).map(|s| s.event)).transpose()
    }

    async fn read_events_by_id(&self, event_ids: &[EventId]) -> Result<Vec<Option<RecordedEvent>>, StoreError> {
        let ids: Vec<&[u8]> = event_ids.iter().map(|id| &id.0[..]).collect();
        let rows = self
            .reader()
            .await?
            .query(&format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE event_id = ANY($1)"), &[&ids])
            .await
            .map_err(|e| unavailable("looking up event ids", e))?;
        let mut found: HashMap<EventId, RecordedEvent> =
            rows.iter().map(|row| stored(row).map(|s| (s.event.event_id, s.event))).collect::<Result<_, _>>()?;
        Ok(event_ids.iter().map(|id| found.remove(id)).collect())
    }

    async fn stream_last_revision(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt("SELECT last_revision FROM klero_streams WHERE stream = $1", &[&stream])
            .await
            .map_err(|e| unavailable("reading a stream's head", e))?;
        Ok(row.map(|row| row.get::<_, i64>(0) as u64))
    }

    async fn last_position(&self) -> Result<Option<LogPosition>, StoreError> {
        Ok(head(&*self.reader().await?).await?.checked_sub(1).map(LogPosition))
    }

    async fn save_checkpoint(&self, note: &[u8]) -> Result<(), StoreError> {
        // A checkpoint note's second line is its tree size (FORMAT.md §4); a note that does not
        // parse is kept as size 0, so it never replaces a real one.
        let tree_size = std::str::from_utf8(note)
            .ok()
            .and_then(|text| text.lines().nth(1))
            .and_then(|line| line.parse::<u64>().ok())
            .unwrap_or(0);
        self.keep("checkpoint", note, tree_size, "checkpoint bytes", CHECKPOINT_BYTES_MAX).await
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.kept("checkpoint").await
    }

    async fn keep_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<bool, StoreError> {
        validate_witnessed_checkpoint(tree_size, note)?;
        // Only above every size kept: servers sharing the database each witness checkpoints.
        let inserted = self
            .reader()
            .await?
            .execute(
                "INSERT INTO klero_witnessed_checkpoints (tree_size, note)
                 SELECT $1, $2 WHERE $1 > (SELECT coalesce(max(tree_size), -1) FROM klero_witnessed_checkpoints)
                 ON CONFLICT (tree_size) DO NOTHING",
                &[&(tree_size.min(i64::MAX as u64) as i64), &note],
            )
            .await
            .map_err(|e| unavailable("keeping a witnessed checkpoint", e))?;
        Ok(inserted == 1)
    }

    async fn witnessed_checkpoints(&self, from_size: u64, max_count: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT note FROM klero_witnessed_checkpoints WHERE tree_size >= $1 ORDER BY tree_size LIMIT $2",
                &[&(from_size.min(i64::MAX as u64) as i64), &(max_count.min(i64::MAX as usize) as i64)],
            )
            .await
            .map_err(|e| unavailable("reading witnessed checkpoints", e))?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    async fn save_snapshot(&self, tree_size: u64, snapshot: Vec<u8>) -> Result<(), StoreError> {
        // Several servers share the row: the larger tree's snapshot stays.
        self.keep("snapshot", &snapshot, tree_size, "snapshot bytes", SNAPSHOT_BYTES_MAX).await
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.kept("snapshot").await
    }

    async fn keep_snapshot_rows(&self, table: &str, offset: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        klero_store::validate_snapshot_rows(table, offset, bytes.len())?;
        let client = self.reader().await?;
        let held: i64 = client
            .query_one(
                "SELECT coalesce(max(byte_offset + length(bytes)), 0)::bigint FROM klero_snapshot_rows WHERE name = $1",
                &[&table],
            )
            .await
            .map_err(|e| unavailable("reading snapshot rows", e))?
            .get(0);
        if offset > held as u64 {
            return Err(StoreError::InvalidArgument {
                field: "offset",
                reason: format!("{table} holds {held} bytes of rows, so a write at {offset} would leave a gap"),
            });
        }
        // Servers sharing the database write the same bytes at the same offsets (FORMAT.md
        // §6.1), in pieces that may overlap; the longer piece at an offset stays.
        client
            .execute(
                "INSERT INTO klero_snapshot_rows (name, byte_offset, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (name, byte_offset) DO UPDATE SET bytes = EXCLUDED.bytes
                 WHERE length(klero_snapshot_rows.bytes) < length(EXCLUDED.bytes)",
                &[&table, &(offset as i64), &bytes],
            )
            .await
            .map_err(|e| unavailable("keeping snapshot rows", e))?;
        Ok(())
    }

    async fn load_snapshot_rows(&self, table: &str, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        klero_store::validate_snapshot_table(table)?;
        let end = offset.saturating_add(length).min(i64::MAX as u64);
        let pieces = self
            .reader()
            .await?
            .query(
                "SELECT byte_offset, bytes FROM klero_snapshot_rows
                 WHERE name = $1 AND byte_offset < $2 AND byte_offset + length(bytes) > $3 ORDER BY byte_offset",
                &[&table, &(end as i64), &(offset.min(i64::MAX as u64) as i64)],
            )
            .await
            .map_err(|e| unavailable("reading snapshot rows", e))?;
        // Pieces may overlap (each holds the same bytes where they do): take each byte once,
        // from `offset` on, up to the first gap.
        let mut held: Vec<u8> = Vec::new();
        for piece in pieces {
            let (piece_offset, bytes): (i64, Vec<u8>) = (piece.get(0), piece.get(1));
            let (piece_offset, next) = (piece_offset as u64, offset + held.len() as u64);
            if piece_offset > next {
                break;
            }
            let piece_end = (piece_offset + bytes.len() as u64).min(end);
            if piece_end > next {
                held.extend_from_slice(&bytes[(next - piece_offset) as usize..(piece_end - piece_offset) as usize]);
            }
        }
        Ok(held)
    }

    async fn put_document(&self, document: &Document) -> Result<bool, StoreError> {
        validate_document(document)?;
        let info = &document.info;
        let client = self.reader().await?;
        let Some(keys) = self.keys.as_ref().filter(|_| info.personal_data) else {
            let inserted = client
                .execute(
                    "INSERT INTO klero_documents (sha256, media_type, size, personal_data, stored_at_unix_ms, bytes)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
                    &[
                        &&info.sha256[..],
                        &info.media_type,
                        &(info.size as i64),
                        &info.personal_data,
                        &(info.stored_at_unix_ms as i64),
                        &document.bytes,
                    ],
                )
                .await
                .map_err(|e| unavailable("keeping a document", e))?;
            return Ok(inserted == 1);
        };
        // Personal data, under the current key-encryption key; the insert holds only if that is
        // still the current generation (a rotation in between makes it try again).
        for _ in 0..ROTATION_RACE_RETRIES {
            let generation = self.current_generation(&client).await?;
            let sealed = wrapping::wrap(
                &keys.key(generation)?,
                generation,
                wrapping::Purpose::Document,
                &info.sha256,
                &document.bytes,
            )?;
            let inserted = client
                .execute(
                    "INSERT INTO klero_documents (sha256, media_type, size, personal_data, stored_at_unix_ms, bytes, generation)
                     SELECT $1, $2, $3, $4, $5, $6, $7
                     WHERE $7 = (SELECT generation FROM klero_key_encryption)
                     ON CONFLICT (sha256) DO NOTHING",
                    &[
                        &&info.sha256[..],
                        &info.media_type,
                        &(info.size as i64),
                        &info.personal_data,
                        &(info.stored_at_unix_ms as i64),
                        &sealed,
                        &(generation as i64),
                    ],
                )
                .await
                .map_err(|e| unavailable("keeping a document", e))?;
            if inserted == 1 {
                return Ok(true);
            }
            let held = client
                .query_opt("SELECT 1 FROM klero_documents WHERE sha256 = $1", &[&&info.sha256[..]])
                .await
                .map_err(|e| unavailable("keeping a document", e))?;
            if held.is_some() {
                return Ok(false);
            }
        }
        Err(StoreError::Unavailable { reason: "key-encryption keys rotated under a document's upload: retry".into() })
    }

    async fn read_document(&self, sha256: &[u8; 32]) -> Result<Option<Document>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(
                "SELECT media_type, size, personal_data, stored_at_unix_ms, bytes, generation FROM klero_documents WHERE sha256 = $1",
                &[&&sha256[..]],
            )
            .await
            .map_err(|e| unavailable("reading a document", e))?;
        let Some(row) = row else { return Ok(None) };
        let stored: Vec<u8> = row.get(4);
        let bytes = match row.get::<_, Option<i64>>(5) {
            None => stored,
            Some(_) => {
                wrapping::unwrap(self.keys()?, wrapping::Purpose::Document, sha256, &stored).map_err(|reason| {
                    corrupt("klero_documents", format!("document {}: {reason}", klero_ledger::hash::to_hex(sha256)))
                })?
            }
        };
        if klero_ledger::Hash256::of(&bytes).0 != *sha256 {
            return Err(StoreError::Corrupt {
                segment: "klero_documents".into(),
                offset: 0,
                position: 0,
                reason: format!("document {} does not hash to its name", klero_ledger::hash::to_hex(sha256)),
            });
        }
        Ok(Some(Document {
            info: DocumentInfo {
                sha256: *sha256,
                media_type: row.get(0),
                size: row.get::<_, i64>(1) as u64,
                personal_data: row.get(2),
                stored_at_unix_ms: row.get::<_, i64>(3) as u64,
            },
            bytes,
        }))
    }

    async fn document_infos(&self) -> Result<Vec<DocumentInfo>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT sha256, media_type, size, personal_data, stored_at_unix_ms FROM klero_documents ORDER BY sha256",
                &[],
            )
            .await
            .map_err(|e| unavailable("listing documents", e))?;
        rows.iter()
            .map(|row| {
                let sha256: Vec<u8> = row.get(0);
                Ok(DocumentInfo {
                    sha256: sha256.as_slice().try_into().map_err(|_| StoreError::Corrupt {
                        segment: "klero_documents".into(),
                        offset: 0,
                        position: 0,
                        reason: "a document's name is not 32 bytes".into(),
                    })?,
                    media_type: row.get(1),
                    size: row.get::<_, i64>(2) as u64,
                    personal_data: row.get(3),
                    stored_at_unix_ms: row.get::<_, i64>(4) as u64,
                })
            })
            .collect()
    }

    async fn delete_document(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        let deleted = self
            .reader()
            .await?
            .query_one(
                "WITH deleted AS (
                     DELETE FROM klero_documents WHERE sha256 = $1 RETURNING personal_data
                 ), marked AS (
                     UPDATE klero_key_encryption SET erasure_pending = true
                     WHERE EXISTS (SELECT 1 FROM deleted WHERE personal_data)
                 )
                 SELECT count(*) FROM deleted",
                &[&&sha256[..]],
            )
            .await
            .map_err(|e| unavailable("deleting a document", e))?
            .get::<_, i64>(0);
        Ok(deleted == 1)
    }

    /// Only with key-encryption keys: without them, an erased key would stay readable in dead
    /// rows, the WAL and every replica.
    fn keeps_data_keys(&self) -> bool {
        self.keys.is_some()
    }

    async fn put_data_keys(&self, keys: &[(EventId, [u8; 32])]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let encryption = self.keys()?;
        let ids: Vec<&[u8]> = keys.iter().map(|(id, _)| &id.0[..]).collect();
        let client = self.reader().await?;
        for _ in 0..ROTATION_RACE_RETRIES {
            // Under the current key-encryption key; the insert holds only while that is still
            // the current generation (a rotation in between makes it try again).
            let generation = self.current_generation(&client).await?;
            let key_encryption_key = encryption.key(generation)?;
            let wrapped: Vec<Vec<u8>> = keys
                .iter()
                .map(|(id, key)| {
                    wrapping::wrap(&key_encryption_key, generation, wrapping::Purpose::DataKey, &id.0, key)
                })
                .collect::<Result<_, _>>()?;
            let values: Vec<&[u8]> = wrapped.iter().map(Vec::as_slice).collect();
            // Committed (and so synced, and replicated when synchronous replication is on)
            // before it returns.
            client
                .execute(
                    "INSERT INTO klero_data_keys (event_id, key, generation)
                     SELECT id, key, $3 FROM unnest($1::bytea[], $2::bytea[]) AS data(id, key)
                     WHERE $3 = (SELECT generation FROM klero_key_encryption)
                     ON CONFLICT (event_id) DO NOTHING",
                    &[&ids, &values, &(generation as i64)],
                )
                .await
                .map_err(|e| unavailable("keeping data keys", e))?;
            let rows = client
                .query("SELECT event_id, key, generation FROM klero_data_keys WHERE event_id = ANY($1)", &[&ids])
                .await
                .map_err(|e| unavailable("reading data keys back", e))?;
            if rows.len() < keys.len() {
                continue;
            }
            for row in rows {
                let id: Vec<u8> = row.get(0);
                let kept = self.data_key_of(&row)?;
                let wanted = keys.iter().find(|(event_id, _)| event_id.0[..] == id[..]).map(|(_, key)| *key);
                if kept != wanted {
                    let event_id = EventId(id.try_into().unwrap_or_default());
                    return Err(StoreError::DuplicateEventId {
                        event_id,
                        reason: "the store already holds a different data key for this event, or destroyed it".into(),
                    });
                }
            }
            return Ok(());
        }
        Err(StoreError::Unavailable { reason: "key-encryption keys rotated under an append: retry".into() })
    }

    async fn read_data_key(&self, event_id: &EventId) -> Result<DataKeyState, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt("SELECT event_id, key, generation FROM klero_data_keys WHERE event_id = $1", &[&&event_id.0[..]])
            .await
            .map_err(|e| unavailable("reading a data key", e))?;
        Ok(match row {
            None => DataKeyState::Absent,
            Some(row) => match self.data_key_of(&row)? {
                None => DataKeyState::Destroyed,
                Some(key) => DataKeyState::Live(key),
            },
        })
    }

    async fn finish_erasures(&self) -> Result<(), StoreError> {
        if self.keys.is_none() {
            return Ok(());
        }
        let pending = self
            .reader()
            .await?
            .query_one("SELECT erasure_pending FROM klero_key_encryption", &[])
            .await
            .map_err(|e| unavailable("reading the key rotation", e))?
            .get::<_, bool>(0);
        if pending {
            self.rotate_key_encryption_key().await?;
        }
        Ok(())
    }

    async fn erasures_complete_through(&self) -> Result<Option<u64>, StoreError> {
        if self.keys.is_none() {
            return Ok(Some(0));
        }
        let row = self
            .reader()
            .await?
            .query_one("SELECT rotated_at_unix_ms FROM klero_key_encryption", &[])
            .await
            .map_err(|e| unavailable("reading the key rotation", e))?;
        Ok(Some(row.get::<_, i64>(0).max(0) as u64))
    }

    async fn destroy_data_key(&self, event_id: &EventId) -> Result<bool, StoreError> {
        let destroyed = self
            .reader()
            .await?
            .query_one(
                // The erasure is not complete until the next key rotation: marked in the same
                // statement, so that a crash cannot lose the mark.
                "WITH destroyed AS (
                     UPDATE klero_data_keys SET key = NULL WHERE event_id = $1 AND key IS NOT NULL RETURNING 1
                 ), marked AS (
                     UPDATE klero_key_encryption SET erasure_pending = true WHERE EXISTS (SELECT 1 FROM destroyed)
                 )
                 SELECT count(*) FROM destroyed",
                &[&&event_id.0[..]],
            )
            .await
            .map_err(|e| unavailable("destroying a data key", e))?
            .get::<_, i64>(0);
        Ok(destroyed == 1)
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        drop(self.writer.lock().unwrap_or_else(|p| p.into_inner()).take());
        let task = self.writer_task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Some(poller) = self.poller.lock().unwrap_or_else(|p| p.into_inner()).take() {
            poller.abort();
        }
    }

    fn positions_are_dense(&self) -> bool {
        true
    }

    fn shared_by_servers(&self) -> bool {
        true
    }

    /// The log's size as this server knows it: moved by its own commits at once, and by other
    /// servers' within a poll interval.
    fn committed_events_watch(&self) -> Option<watch::Receiver<u64>> {
        Some(self.committed.clone())
    }
}
