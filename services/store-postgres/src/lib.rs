//! The PostgreSQL store: the store port ([`EventStore`]) on PostgreSQL, which syncs its WAL
//! before it acknowledges a commit and replicates it synchronously to standbys when configured
//! to (`synchronous_standby_names`). Replication and failover are the database's; this crate
//! only keeps the log's rules in it.
//!
//! **Dense, gapless positions in commit order.** Every append transaction first locks the one
//! row of `klero_log_head` (`SELECT … FOR UPDATE`), takes its positions from it, inserts its
//! events and moves the head on, then commits. The lock is held until the commit is visible,
//! so the next append cannot take a position before the previous one is visible: positions
//! are 0, 1, 2, … with no gap, and a reader never sees position `n + 1` before `n`. (A
//! sequence would do neither: sequences leave gaps on rollback and hand out numbers in
//! request order, not commit order.) The database, not this process, enforces the rest:
//! `UNIQUE (stream, stream_revision)` forbids a forked stream and `UNIQUE (event_id)` a
//! reused id, whatever any server does.
//!
//! **Group commit.** Because appends are serialised on the head row, each append would cost a
//! commit (a WAL flush, and a standby's answer with synchronous replication) on its own. So
//! one writer task takes every append that is waiting (up to [`PostgresStoreOptions::
//! group_requests_max`]) into one transaction: it decides each against the database and the
//! appends before it in the group, inserts the accepted events with one statement, and
//! answers them all after the one commit. An append the group refuses (a conflict, a reused
//! id) changes nothing; the others still commit.
//!
//! **Idempotency** by event id for the life of the log: a retry of an append (same ids, same
//! bytes, same batch) returns the original positions; any other reuse of an id is refused.
//! An append whose commit's outcome is unknown (the connection dropped during `COMMIT`) is
//! answered `Unavailable`; its retry with the same bytes then gets the original result if the
//! commit happened, or appends it if not.
//!
//! **Subscriptions** read by position and, when caught up, wait for the next commit: this
//! process's own at once, other servers' through `LISTEN`/`NOTIFY` (every append transaction
//! notifies the log's new size, delivered at commit), with a poll of the log head every
//! [`PostgresStoreOptions::poll_interval`] in case a notification is missed while reconnecting.
//! The same knowledge is the store's committed-events watch, which a server's follower uses. Positions
//! are dense, so catch-up turns live with nothing skipped or repeated.
//!
//! The latest checkpoint, the latest snapshot and the documents are tables too, so every server
//! on the database serves them and they are replicated and backed up with the log.

#[cfg(feature = "test-cluster")]
pub mod test_cluster;
pub mod wrapping;

mod port;
mod subscription;
mod writer;

use subscription::*;
use writer::*;

use async_trait::async_trait;
use klero_ledger::envelope::{EventId, ENVELOPE_BYTES_MAX};
use klero_store::*;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{Client, NoTls, Row};

/// How the store runs.
#[derive(Clone, Debug)]
pub struct PostgresStoreOptions {
    pub limits: AppendLimits,
    /// Most events one read returns.
    pub read_events_max: usize,
    /// Connections for reads, besides the writer's one.
    pub reader_connections: usize,
    /// Most appends that share one transaction.
    pub group_requests_max: usize,
    /// How often this server reads the log head, besides the notifications, in case one was
    /// missed (a reconnection).
    pub poll_interval: Duration,
    /// Appends that may wait for the writer; further appenders wait for room.
    pub write_queue_requests_max: usize,
    /// How this server names itself to the others (its gRPC address, say): a server that is
    /// not the writer answers appends with the writer's name.
    pub advertise: String,
    /// The directory of key-encryption keys ([`wrapping`]): with it, data keys and documents
    /// marked personal data are kept encrypted under them, so that erasure is complete once the
    /// next rotation has run; without it the store keeps no data keys (sealed text is refused).
    pub key_encryption_keys: Option<std::path::PathBuf>,
}

impl Default for PostgresStoreOptions {
    fn default() -> Self {
        PostgresStoreOptions {
            limits: AppendLimits {
                event_data_bytes_max: ENVELOPE_BYTES_MAX,
                append_events_max: 1_000,
                append_bytes_max: 16 * 1024 * 1024,
            },
            read_events_max: 10_000,
            reader_connections: 4,
            group_requests_max: 256,
            poll_interval: Duration::from_millis(100),
            write_queue_requests_max: 4_096,
            advertise: "a klero server".into(),
            key_encryption_keys: None,
        }
    }
}

/// The schema, created on first connect. Every statement is idempotent.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS klero_log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    next_position bigint NOT NULL CHECK (next_position >= 0),
    writer_epoch bigint NOT NULL DEFAULT 0,
    writer text NOT NULL DEFAULT '',
    writer_since timestamptz
);
INSERT INTO klero_log_head (singleton, next_position) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS klero_events (
    position bigint PRIMARY KEY CHECK (position >= 0),
    event_id bytea NOT NULL UNIQUE CHECK (length(event_id) = 16),
    stream text NOT NULL,
    stream_revision bigint NOT NULL CHECK (stream_revision >= 0),
    event_type text NOT NULL,
    data bytea NOT NULL,
    batch_first bigint NOT NULL,
    batch_length integer NOT NULL CHECK (batch_length > 0),
    UNIQUE (stream, stream_revision)
);
CREATE TABLE IF NOT EXISTS klero_streams (
    stream text PRIMARY KEY,
    last_revision bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS klero_kept (
    name text PRIMARY KEY,
    tree_size bigint NOT NULL DEFAULT 0,
    bytes bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS klero_snapshot_rows (
    name text NOT NULL,
    byte_offset bigint NOT NULL CHECK (byte_offset >= 0),
    bytes bytea NOT NULL,
    PRIMARY KEY (name, byte_offset)
);
CREATE TABLE IF NOT EXISTS klero_witnessed_checkpoints (
    tree_size bigint PRIMARY KEY,
    note bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS klero_documents (
    sha256 bytea PRIMARY KEY CHECK (length(sha256) = 32),
    media_type text NOT NULL,
    size bigint NOT NULL,
    personal_data boolean NOT NULL,
    stored_at_unix_ms bigint NOT NULL,
    bytes bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS klero_data_keys (
    event_id bytea PRIMARY KEY CHECK (length(event_id) = 16),
    key bytea
);
ALTER TABLE klero_data_keys DROP CONSTRAINT IF EXISTS klero_data_keys_key_check;
ALTER TABLE klero_data_keys ADD COLUMN IF NOT EXISTS generation bigint;
ALTER TABLE klero_documents ADD COLUMN IF NOT EXISTS generation bigint;
CREATE TABLE IF NOT EXISTS klero_key_encryption (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL CHECK (generation >= 1),
    rotated_at_unix_ms bigint NOT NULL,
    erasure_pending boolean NOT NULL DEFAULT false
);
";

/// Tries of an insert that a key rotation overtook, before it gives up with `Unavailable`.
const ROTATION_RACE_RETRIES: usize = 5;

/// A key the schema creation takes, so that servers starting together do not race.
const SCHEMA_LOCK: i64 = 0x6b6c_6572_6f00_0001;
/// The session lock the writer holds for as long as its connection lives (see [`Writer`]).
const WRITER_LOCK: i64 = 0x6b6c_6572_6f00_0002;

/// Milliseconds since the Unix epoch, from this machine's clock: when a rotation ran, which
/// the store reports (never part of the log).
fn now_unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn corrupt(table: &str, reason: String) -> StoreError {
    StoreError::Corrupt { segment: table.into(), offset: 0, position: 0, reason }
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable { reason: format!("PostgreSQL, {what}: {error}") }
}

type AppendReply = oneshot::Sender<Result<AppendResult, StoreError>>;

struct AppendRequest {
    stream: String,
    expected: ExpectedRevision,
    events: Vec<EventData>,
    reply: AppendReply,
}

/// The store. Share it behind an `Arc`.
pub struct PostgresStore {
    writer: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Reader connections; one found closed (the database restarted or failed over) is made
    /// again on next use.
    readers: Vec<tokio::sync::RwLock<Arc<Client>>>,
    next_reader: AtomicUsize,
    /// The log's size as of this process's last commit; subscriptions wake on it.
    committed: watch::Receiver<u64>,
    closed: AtomicBool,
    options: PostgresStoreOptions,
    /// For the connections made later (one per subscription).
    config: tokio_postgres::Config,
    /// The key-encryption keys, if configured.
    keys: Option<wrapping::KeyEncryptionKeys>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("options", &self.options).finish_non_exhaustive()
    }
}

async fn connect_one(config: &tokio_postgres::Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| unavailable("connecting", e))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl PostgresStore {
    /// Connects to the database `url` (a libpq connection string or URL; several hosts with
    /// `target_session_attrs=read-write` find the primary), creates the schema if it is not
    /// there, and starts the writer.
    pub async fn connect(url: &str, options: PostgresStoreOptions) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::InvalidArgument {
            field: "store",
            reason: format!("not a PostgreSQL URL: {e}"),
        })?;
        let mut writer = connect_one(&config).await?;
        {
            let transaction = writer.transaction().await.map_err(|e| unavailable("creating the schema", e))?;
            transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(|e| unavailable("creating the schema", e))?;
            transaction.batch_execute(SCHEMA).await.map_err(|e| unavailable("creating the schema", e))?;
            transaction.commit().await.map_err(|e| unavailable("creating the schema", e))?;
        }
        let keys = match &options.key_encryption_keys {
            None => None,
            Some(directory) => {
                let keys = wrapping::KeyEncryptionKeys::open(directory)?;
                // The first server on a database makes generation 1; the others take it up.
                keys.create(1)?;
                writer
                    .execute(
                        "INSERT INTO klero_key_encryption (singleton, generation, rotated_at_unix_ms)
                         VALUES (true, 1, $1) ON CONFLICT DO NOTHING",
                        &[&(now_unix_ms() as i64)],
                    )
                    .await
                    .map_err(|e| unavailable("starting key encryption", e))?;
                Some(keys)
            }
        };
        let mut readers = Vec::with_capacity(options.reader_connections.max(1));
        for _ in 0..options.reader_connections.max(1) {
            readers.push(tokio::sync::RwLock::new(Arc::new(connect_one(&config).await?)));
        }
        let size = head(&writer).await?;
        let (committed_sender, committed) = watch::channel(size);
        let committed_sender = Arc::new(committed_sender);
        // Other servers' appends: the log head, read every poll interval, moves the watch too.
        let poller = tokio::spawn(follow_head(config.clone(), committed_sender.clone(), options.poll_interval));
        let (sender, requests) = mpsc::channel(options.write_queue_requests_max);
        let mut writer =
            Writer { client: writer, epoch: None, config: config.clone(), advertise: options.advertise.clone() };
        writer.try_take_at_start().await?;
        let writer_task = tokio::spawn(write(writer, requests, committed_sender, options.group_requests_max));
        let poller = Mutex::new(Some(poller));
        Ok(PostgresStore {
            writer: Mutex::new(Some(sender)),
            writer_task: Mutex::new(Some(writer_task)),
            poller,
            readers,
            next_reader: AtomicUsize::new(0),
            committed,
            closed: AtomicBool::new(false),
            options,
            config,
            keys,
        })
    }

    /// A reader connection, made again first if it was closed.
    async fn reader(&self) -> Result<Arc<Client>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable { reason: "the store is closed".into() });
        }
        let n = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let slot = &self.readers[n % self.readers.len()];
        let client = slot.read().await.clone();
        if !client.is_closed() {
            return Ok(client);
        }
        let mut slot = slot.write().await;
        if slot.is_closed() {
            *slot = Arc::new(connect_one(&self.config).await?);
        }
        Ok(slot.clone())
    }

    fn check_read_count(&self, max_count: usize) -> Result<(), StoreError> {
        check_read_count(max_count, self.options.read_events_max)
    }

    fn keys(&self) -> Result<&wrapping::KeyEncryptionKeys, StoreError> {
        self.keys.as_ref().ok_or_else(|| StoreError::Unavailable {
            reason:
                "this database holds data encrypted under key-encryption keys: start klero with --key-encryption-keys"
                    .into(),
        })
    }

    async fn current_generation(&self, client: &Client) -> Result<u64, StoreError> {
        let row = client
            .query_one("SELECT generation FROM klero_key_encryption", &[])
            .await
            .map_err(|e| unavailable("reading the key-encryption generation", e))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The data key a `klero_data_keys` row (event_id, key, generation) holds: `None` once
    /// destroyed. A row from before key encryption (no generation) holds the key itself.
    fn data_key_of(&self, row: &Row) -> Result<Option<[u8; 32]>, StoreError> {
        let id: Vec<u8> = row.get(0);
        let Some(stored) = row.get::<_, Option<Vec<u8>>>(1) else { return Ok(None) };
        let plain = match row.get::<_, Option<i64>>(2) {
            None => stored,
            Some(_) => wrapping::unwrap(self.keys()?, wrapping::Purpose::DataKey, &id, &stored)
                .map_err(|reason| corrupt("klero_data_keys", format!("a data key: {reason}")))?,
        };
        plain.try_into().map(Some).map_err(|_| corrupt("klero_data_keys", "a data key is not 32 bytes".into()))
    }

    /// Rotates the key-encryption key: makes the next generation, encrypts every live data key
    /// and personal document again under it in one transaction (appends of keys wait for it),
    /// then destroys every older generation. From then on no copy of an erased key or document
    /// (a dead row, the WAL, a replica, a backup) can be read. Returns the new generation.
    pub async fn rotate_key_encryption_key(&self) -> Result<u64, StoreError> {
        let keys = self.keys()?;
        let mut client = connect_one(&self.config).await?;
        let failed = |e: tokio_postgres::Error| unavailable("rotating the key-encryption key", e);
        let transaction = client.transaction().await.map_err(failed)?;
        let current: i64 = transaction
            .query_one("SELECT generation FROM klero_key_encryption FOR UPDATE", &[])
            .await
            .map_err(failed)?
            .get(0);
        let next = current as u64 + 1;
        let next_key = keys.create(next)?;
        transaction
            .batch_execute("LOCK TABLE klero_data_keys, klero_documents IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(failed)?;
        let rows = transaction
            .query("SELECT event_id, key, generation FROM klero_data_keys WHERE key IS NOT NULL", &[])
            .await
            .map_err(failed)?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut wrapped = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Vec<u8> = row.get(0);
            let Some(key) = self.data_key_of(row)? else { continue };
            wrapped.push(wrapping::wrap(&next_key, next, wrapping::Purpose::DataKey, &id, &key)?);
            ids.push(id);
        }
        transaction
            .execute(
                "UPDATE klero_data_keys SET key = data.key, generation = $3
                 FROM unnest($1::bytea[], $2::bytea[]) AS data(id, key) WHERE event_id = data.id",
                &[&ids, &wrapped, &(next as i64)],
            )
            .await
            .map_err(failed)?;
        let documents = transaction
            .query("SELECT sha256, bytes, generation FROM klero_documents WHERE personal_data", &[])
            .await
            .map_err(failed)?;
        for row in documents {
            let sha256: Vec<u8> = row.get(0);
            let stored: Vec<u8> = row.get(1);
            let bytes = match row.get::<_, Option<i64>>(2) {
                None => stored,
                Some(_) => wrapping::unwrap(keys, wrapping::Purpose::Document, &sha256, &stored)
                    .map_err(|reason| corrupt("klero_documents", format!("a document: {reason}")))?,
            };
            let sealed = wrapping::wrap(&next_key, next, wrapping::Purpose::Document, &sha256, &bytes)?;
            transaction
                .execute(
                    "UPDATE klero_documents SET bytes = $2, generation = $3 WHERE sha256 = $1",
                    &[&sha256, &sealed, &(next as i64)],
                )
                .await
                .map_err(failed)?;
        }
        transaction
            .execute(
                "UPDATE klero_key_encryption SET generation = $1, rotated_at_unix_ms = $2, erasure_pending = false",
                &[&(next as i64), &(now_unix_ms() as i64)],
            )
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        // Committed (and replicated, with synchronous replication): every live value is under
        // the new key, so the older ones can go, and with them every old copy's meaning.
        keys.destroy_before(next)?;
        tracing::info!(generation = next, "key-encryption key rotated; older generations destroyed");
        Ok(next)
    }

    async fn kept(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt("SELECT bytes FROM klero_kept WHERE name = $1", &[&name])
            .await
            .map_err(|e| unavailable("reading what is kept", e))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Keeps `bytes` under `name`, unless what is kept covers a larger tree: several servers
    /// on one database each publish checkpoints of the same log, and the one kept must never
    /// go back to a smaller tree. `tree_size` is 0 for what has none (the snapshot: any valid
    /// one will do, and each is checked when taken up).
    async fn keep(
        &self,
        name: &str,
        bytes: &[u8],
        tree_size: u64,
        limit: &'static str,
        max: usize,
    ) -> Result<(), StoreError> {
        if bytes.len() > max {
            return Err(StoreError::LimitExceeded { limit, actual: bytes.len() as u64, max: max as u64 });
        }
        self.reader()
            .await?
            .execute(
                "INSERT INTO klero_kept (name, tree_size, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET tree_size = EXCLUDED.tree_size, bytes = EXCLUDED.bytes
                 WHERE klero_kept.tree_size <= EXCLUDED.tree_size",
                &[&name, &(tree_size.min(i64::MAX as u64) as i64), &bytes],
            )
            .await
            .map_err(|e| unavailable("keeping", e))?;
        Ok(())
    }
}

/// The log's size: the head's next position.
async fn head(client: &Client) -> Result<u64, StoreError> {
    let row = client
        .query_one("SELECT next_position FROM klero_log_head", &[])
        .await
        .map_err(|e| unavailable("reading the log head", e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

const EVENT_COLUMNS: &str = "position, event_id, stream, stream_revision, event_type, data, batch_first, batch_length";

/// One stored event and the append it came with.
struct StoredRow {
    event: RecordedEvent,
    batch_first: u64,
    batch_length: usize,
}

fn stored(row: &Row) -> Result<StoredRow, StoreError> {
    let position: i64 = row.get(0);
    let id: Vec<u8> = row.get(1);
    let event_id = EventId(id.as_slice().try_into().map_err(|_| StoreError::Corrupt {
        segment: "klero_events".into(),
        offset: 0,
        position: position as u64,
        reason: "an event id is not 16 bytes".into(),
    })?);
    Ok(StoredRow {
        event: RecordedEvent {
            event_id,
            stream: row.get(2),
            stream_revision: row.get::<_, i64>(3) as u64,
            position: LogPosition(position as u64),
            event_type: row.get(4),
            data: row.get(5),
        },
        batch_first: row.get::<_, i64>(6) as u64,
        batch_length: row.get::<_, i32>(7) as usize,
    })
}

fn events(rows: &[Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter().map(|row| stored(row).map(|s| s.event)).collect()
}

/// What the group decided for one append.
enum Decision {
    /// A retry of an append already in the log: its original result.
    Replay(AppendResult),
    /// A retry of an append earlier in this group: the same answer as that one.
    SameAs(usize),
    Refused(StoreError),
    /// Appended in this transaction.
    Appended(AppendResult),
}
