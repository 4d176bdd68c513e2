//! The adapter itself (feature `kurrentdb`). See the crate's documentation for the mapping and
//! for what has not been run.

use crate::*;
use async_trait::async_trait;
use klero_ledger::envelope::{EventId, ENVELOPE_BYTES_MAX};
use klero_store::*;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, DeleteStreamOptions, Position, ReadAllOptions,
    ReadStreamOptions, StreamPosition, StreamState, SubscribeToAllOptions, SubscriptionFilter,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

fn unavailable(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable { reason: format!("KurrentDB, {what}: {error}") }
}

fn state(expected: ExpectedRevision) -> StreamState {
    match expected_state(expected) {
        ExpectedState::Any => StreamState::Any,
        ExpectedState::NoStream => StreamState::NoStream,
        ExpectedState::StreamExists => StreamState::StreamExists,
        ExpectedState::Revision(revision) => StreamState::StreamRevision(revision),
    }
}

/// The largest event KurrentDB takes by default is 16 MiB; a snapshot above this is refused.
const KURRENTDB_EVENT_BYTES_MAX: usize = 15 * 1024 * 1024;
const READ_CHUNK: usize = 4_096;

/// What the adapter knows of each id: where it is, and the append it came with.
#[derive(Clone, Copy, Debug)]
struct IdEntry {
    position: LogPosition,
}

/// The store. Share it behind an `Arc`.
pub struct KurrentStore {
    client: Client,
    ids: Arc<RwLock<HashMap<EventId, IdEntry>>>,
    follower: tokio::task::JoinHandle<()>,
    limits: AppendLimits,
    read_events_max: usize,
}

impl std::fmt::Debug for KurrentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KurrentStore").finish_non_exhaustive()
    }
}

fn recorded(event: &kurrentdb::RecordedEvent) -> Result<RecordedEvent, StoreError> {
    Ok(RecordedEvent {
        event_id: EventId(*event.id.as_bytes()),
        stream: event.stream_id().to_string(),
        stream_revision: event.revision,
        position: log_position(event.position.commit, event.position.prepare),
        event_type: event.event_type.clone(),
        data: event.data.to_vec(),
    })
}

impl KurrentStore {
    /// Connects (`kurrentdb://…` or `esdb://…` connection string), reads `$all` to build the
    /// index of event ids, and follows `$all` to keep it current.
    pub async fn connect(url: &str) -> Result<KurrentStore, StoreError> {
        let settings: ClientSettings = url
            .parse()
            .map_err(|e| StoreError::InvalidArgument { field: "store", reason: format!("not a KurrentDB URL: {e}") })?;
        let client = Client::new(settings).map_err(|e| unavailable("connecting", e))?;
        let ids: Arc<RwLock<HashMap<EventId, IdEntry>>> = Arc::default();
        let mut last: Option<Position> = None;
        loop {
            let start = last.map_or(StreamPosition::Start, StreamPosition::Position);
            let options = ReadAllOptions::default().forwards().position(start).max_count(READ_CHUNK);
            let mut read = client.read_all(&options).await.map_err(|e| unavailable("reading $all", e))?;
            let mut count = 0;
            while let Some(resolved) = read.next().await.map_err(|e| unavailable("reading $all", e))? {
                let event = resolved.get_original_event();
                if last == Some(event.position) {
                    continue;
                }
                count += 1;
                last = Some(event.position);
                if is_log_stream(event.stream_id()) {
                    let entry = IdEntry { position: log_position(event.position.commit, event.position.prepare) };
                    ids.write().unwrap_or_else(|p| p.into_inner()).insert(EventId(*event.id.as_bytes()), entry);
                }
            }
            if count == 0 {
                break;
            }
        }
        let follower = {
            let (client, ids) = (client.clone(), ids.clone());
            let start = last.map_or(StreamPosition::Start, StreamPosition::Position);
            tokio::spawn(async move {
                let options = SubscribeToAllOptions::default()
                    .position(start)
                    .filter(SubscriptionFilter::on_event_type().exclude_system_events());
                let mut subscription = client.subscribe_to_all(&options).await;
                while let Ok(resolved) = subscription.next().await {
                    let event = resolved.get_original_event();
                    if is_log_stream(event.stream_id()) {
                        let entry = IdEntry { position: log_position(event.position.commit, event.position.prepare) };
                        ids.write().unwrap_or_else(|p| p.into_inner()).insert(EventId(*event.id.as_bytes()), entry);
                    }
                }
            })
        };
        Ok(KurrentStore {
            client,
            ids,
            follower,
            limits: AppendLimits {
                event_data_bytes_max: ENVELOPE_BYTES_MAX,
                append_events_max: 1_000,
                append_bytes_max: 16 * 1024 * 1024,
            },
            read_events_max: 10_000,
        })
    }

    fn check_read_count(&self, max_count: usize) -> Result<(), StoreError> {
        check_read_count(max_count, self.read_events_max)
    }

    async fn last_of(&self, stream: &str) -> Result<Option<RecordedEvent>, StoreError> {
        let options = ReadStreamOptions::default().backwards().position(StreamPosition::End).max_count(1);
        let mut read =
            self.client.read_stream(stream, &options).await.map_err(|e| unavailable("reading a stream", e))?;
        match read.next().await {
            Ok(Some(resolved)) => recorded(resolved.get_original_event()).map(Some),
            Ok(None) | Err(kurrentdb::Error::ResourceNotFound) | Err(kurrentdb::Error::ResourceDeleted) => Ok(None),
            Err(error) => Err(unavailable("reading a stream", error)),
        }
    }

    async fn keep(&self, stream: &str, bytes: &[u8], limit: &'static str, max: usize) -> Result<(), StoreError> {
        let max = max.min(KURRENTDB_EVENT_BYTES_MAX);
        if bytes.len() > max {
            return Err(StoreError::LimitExceeded { limit, actual: bytes.len() as u64, max: max as u64 });
        }
        let event = kurrentdb::EventData::binary("klero.Kept", bytes.to_vec().into());
        self.client
            .append_to_stream(stream, &AppendToStreamOptions::default(), event)
            .await
            .map_err(|e| unavailable("keeping", e))?;
        Ok(())
    }
}

impl Drop for KurrentStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// A document's event: a header line of its details, then its bytes.
fn document_event(document: &Document) -> Vec<u8> {
    let info = &document.info;
    let mut data =
        format!("{}\n{}\n{}\n", info.media_type, u8::from(info.personal_data), info.stored_at_unix_ms).into_bytes();
    data.extend_from_slice(&document.bytes);
    data
}

fn document_from(sha256: &[u8; 32], data: &[u8]) -> Result<Document, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        segment: document_stream(sha256),
        offset: 0,
        position: 0,
        reason: reason.to_string(),
    };
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let (Some(media_type), Some(personal), Some(stored_at), Some(bytes)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt("a document's header is cut"));
    };
    if klero_ledger::Hash256::of(bytes).0 != *sha256 {
        return Err(corrupt("the document does not hash to its name"));
    }
    let text = |field: &[u8]| String::from_utf8(field.to_vec()).map_err(|_| corrupt("a header field is not UTF-8"));
    Ok(Document {
        info: DocumentInfo {
            sha256: *sha256,
            media_type: text(media_type)?,
            size: bytes.len() as u64,
            personal_data: personal == b"1",
            stored_at_unix_ms: text(stored_at)?.parse().map_err(|_| corrupt("a stored time is not a number"))?,
        },
        bytes: bytes.to_vec(),
    })
}

/// A catch-up subscription to the log's streams of `$all`.
struct KurrentSubscription {
    subscription: kurrentdb::Subscription,
}

#[async_trait]
impl LogSubscription for KurrentSubscription {
    async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            let resolved = self.subscription.next().await.map_err(|e| unavailable("subscribing to $all", e))?;
            let event = resolved.get_original_event();
            if is_log_stream(event.stream_id()) {
                return recorded(event);
            }
        }
    }
}

#[async_trait]
impl EventStore for KurrentStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events, &self.limits)?;
        if !is_log_stream(stream) {
            return Err(StoreError::InvalidArgument {
                field: "stream",
                reason: format!("names beginning {KEPT_PREFIX} or {DOCUMENT_PREFIX} are the adapter's own"),
            });
        }
        // Ids for the life of the log, against the index (KurrentDB checks a recent window only).
        let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
        let known = self.read_events_by_id(&ids).await?;
        if known.iter().any(Option::is_some) {
            let all_same = known.iter().zip(&events).all(|(stored, event)| {
                stored
                    .as_ref()
                    .is_some_and(|s| s.stream == stream && s.event_type == event.event_type && s.data == event.data)
            });
            let consecutive = known.windows(2).all(|w| match (&w[0], &w[1]) {
                (Some(a), Some(b)) => b.stream_revision == a.stream_revision + 1,
                _ => false,
            });
            if all_same && consecutive {
                let (first, last) = (known[0].as_ref(), known[known.len() - 1].as_ref());
                if let (Some(first), Some(last)) = (first, last) {
                    return Ok(AppendResult {
                        last_revision: last.stream_revision,
                        first_position: first.position,
                        last_position: last.position,
                    });
                }
            }
            let reused = events[known.iter().position(Option::is_some).unwrap_or(0)].event_id;
            return Err(StoreError::DuplicateEventId {
                event_id: reused,
                reason: "the id is in the log already, with other content or in another append".into(),
            });
        }
        let count = events.len() as u64;
        let data: Vec<kurrentdb::EventData> = events
            .into_iter()
            .map(|e| kurrentdb::EventData::binary(e.event_type, e.data.into()).id(uuid::Uuid::from_bytes(e.event_id.0)))
            .collect();
        let written = self
            .client
            .append_to_stream(stream, &AppendToStreamOptions::default().stream_state(state(expected)), data)
            .await
            .map_err(|error| match error {
                kurrentdb::Error::WrongExpectedVersion { current, .. } => StoreError::WrongExpectedRevision {
                    stream: stream.to_string(),
                    expected,
                    actual: match current {
                        CurrentRevision::Current(revision) => Some(revision),
                        CurrentRevision::NoStream => None,
                    },
                },
                other => unavailable("appending", other),
            })?;
        // KurrentDB answers with the last event's revision; the positions are read back.
        let last_revision = written.next_expected_version;
        let first_revision = last_revision + 1 - count;
        let appended = self
            .read_stream(stream, StreamStart::Revision(first_revision), ReadDirection::Forwards, count as usize)
            .await?;
        let (Some(first), Some(last)) = (appended.first(), appended.last()) else {
            return Err(unavailable("reading back an append", "the events are not there yet"));
        };
        {
            let mut index = self.ids.write().unwrap_or_else(|p| p.into_inner());
            for event in &appended {
                index.insert(event.event_id, IdEntry { position: event.position });
            }
        }
        Ok(AppendResult { last_revision, first_position: first.position, last_position: last.position })
    }

    async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_stream_read(stream, max_count, self.read_events_max)?;
        let options = match (direction, start) {
            (ReadDirection::Forwards, StreamStart::Beginning) => {
                ReadStreamOptions::default().forwards().position(StreamPosition::Start)
            }
            (ReadDirection::Forwards, StreamStart::Revision(r)) => {
                ReadStreamOptions::default().forwards().position(StreamPosition::Position(r))
            }
            (ReadDirection::Backwards, StreamStart::Beginning) => {
                ReadStreamOptions::default().backwards().position(StreamPosition::End)
            }
            (ReadDirection::Backwards, StreamStart::Revision(r)) => {
                ReadStreamOptions::default().backwards().position(StreamPosition::Position(r))
            }
        }
        .max_count(max_count);
        let mut read =
            self.client.read_stream(stream, &options).await.map_err(|e| unavailable("reading a stream", e))?;
        let mut events = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => events.push(recorded(resolved.get_original_event())?),
                Ok(None) => return Ok(events),
                Err(kurrentdb::Error::ResourceNotFound) => {
                    return Err(StoreError::StreamNotFound { stream: stream.to_string() })
                }
                Err(error) => return Err(unavailable("reading a stream", error)),
            }
        }
    }

    async fn read_all(&self, from: LogPosition, max_count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.check_read_count(max_count)?;
        let (commit, prepare) = read_start(from);
        let mut next = StreamPosition::Position(Position { commit, prepare });
        let mut events = Vec::new();
        while events.len() < max_count {
            let options = ReadAllOptions::default().forwards().position(next).max_count(READ_CHUNK);
            let mut read = self.client.read_all(&options).await.map_err(|e| unavailable("reading $all", e))?;
            let mut last = None;
            while let Some(resolved) = read.next().await.map_err(|e| unavailable("reading $all", e))? {
                let event = resolved.get_original_event();
                if StreamPosition::Position(event.position) == next && last.is_none() && !events.is_empty() {
                    continue;
                }
                last = Some(event.position);
                if is_log_stream(event.stream_id()) && keep_from(from, event.position.prepare) {
                    events.push(recorded(event)?);
                    if events.len() == max_count {
                        break;
                    }
                }
            }
            match last {
                Some(position) => next = StreamPosition::Position(position),
                None => break,
            }
        }
        Ok(events)
    }

    async fn subscribe_to_all(&self, after: Option<LogPosition>) -> Result<Box<dyn LogSubscription>, StoreError> {
        let start = match after {
            None => StreamPosition::Start,
            Some(position) => {
                let (commit, prepare) = read_start(position);
                StreamPosition::Position(Position { commit, prepare })
            }
        };
        let options = SubscribeToAllOptions::default()
            .position(start)
            .filter(SubscriptionFilter::on_event_type().exclude_system_events());
        Ok(Box::new(KurrentSubscription { subscription: self.client.subscribe_to_all(&options).await }))
    }

    async fn read_event_by_id(&self, event_id: EventId) -> Result<Option<RecordedEvent>, StoreError> {
        let entry = self.ids.read().unwrap_or_else(|p| p.into_inner()).get(&event_id).copied();
        let Some(entry) = entry else { return Ok(None) };
        let found = self.read_all(entry.position, 1).await?;
        Ok(found.into_iter().find(|event| event.event_id == event_id))
    }

    async fn stream_last_revision(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.last_of(stream).await?.map(|event| event.stream_revision))
    }

    async fn last_position(&self) -> Result<Option<LogPosition>, StoreError> {
        let options = ReadAllOptions::default().backwards().position(StreamPosition::End).max_count(READ_CHUNK);
        let mut read = self.client.read_all(&options).await.map_err(|e| unavailable("reading $all", e))?;
        while let Some(resolved) = read.next().await.map_err(|e| unavailable("reading $all", e))? {
            let event = resolved.get_original_event();
            if is_log_stream(event.stream_id()) {
                return Ok(Some(log_position(event.position.commit, event.position.prepare)));
            }
        }
        Ok(None)
    }

    async fn save_checkpoint(&self, note: &[u8]) -> Result<(), StoreError> {
        self.keep(&format!("{KEPT_PREFIX}checkpoint"), note, "checkpoint bytes", CHECKPOINT_BYTES_MAX).await
    }

    async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.last_of(&format!("{KEPT_PREFIX}checkpoint")).await?.map(|event| event.data))
    }

    // Never run against a server: kept as the latest event of its stream, whatever its size.
    async fn save_snapshot(&self, _tree_size: u64, snapshot: Vec<u8>) -> Result<(), StoreError> {
        self.keep(&format!("{KEPT_PREFIX}snapshot"), &snapshot, "snapshot bytes", SNAPSHOT_BYTES_MAX).await
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.last_of(&format!("{KEPT_PREFIX}snapshot")).await?.map(|event| event.data))
    }

    async fn put_document(&self, document: &Document) -> Result<bool, StoreError> {
        validate_document(document)?;
        let event = kurrentdb::EventData::binary("klero.Document", document_event(document).into());
        let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
        match self.client.append_to_stream(document_stream(&document.info.sha256), &options, event).await {
            Ok(_) => Ok(true),
            Err(kurrentdb::Error::WrongExpectedVersion { .. }) => Ok(false),
            Err(error) => Err(unavailable("keeping a document", error)),
        }
    }

    async fn read_document(&self, sha256: &[u8; 32]) -> Result<Option<Document>, StoreError> {
        match self.last_of(&document_stream(sha256)).await? {
            Some(event) => document_from(sha256, &event.data).map(Some),
            None => Ok(None),
        }
    }

    async fn document_infos(&self) -> Result<Vec<DocumentInfo>, StoreError> {
        // The document streams, from `$all` (a scan: documents are few beside events).
        let options = ReadAllOptions::default().forwards().position(StreamPosition::Start).max_count(usize::MAX);
        let mut read = self.client.read_all(&options).await.map_err(|e| unavailable("reading $all", e))?;
        let mut names = std::collections::BTreeSet::new();
        while let Some(resolved) = read.next().await.map_err(|e| unavailable("reading $all", e))? {
            if let Some(hex) = resolved.get_original_event().stream_id().strip_prefix(DOCUMENT_PREFIX) {
                if let Ok(hash) = klero_ledger::Hash256::from_hex(hex) {
                    names.insert(hash.0);
                }
            }
        }
        let mut infos = Vec::new();
        for sha256 in names {
            if let Some(document) = self.read_document(&sha256).await? {
                infos.push(document.info);
            }
        }
        Ok(infos)
    }

    async fn delete_document(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        if self.last_of(&document_stream(sha256)).await?.is_none() {
            return Ok(false);
        }
        self.client
            .delete_stream(document_stream(sha256), &DeleteStreamOptions::default())
            .await
            .map_err(|e| unavailable("deleting a document", e))?;
        Ok(true)
    }
}
