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

pub mod test_cluster;
pub mod wrapping;

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

/// The one connection that appends, and whether it is the log's writer.
///
/// **One writer.** Several servers may share a database; exactly one appends. A server becomes
/// the writer by taking a session-level advisory lock (`pg_try_advisory_lock`) on the
/// connection it appends with, and then by raising `klero_log_head.writer_epoch`, a fencing
/// token. Every append transaction locks the log head and checks that the epoch is still its
/// own, inside the transaction. So the database decides: a writer whose session ended (its
/// process died, or was cut off) has lost the lock with the session, any new session must take
/// the lock again, and a writer that was paused past a takeover finds a newer epoch and appends
/// nothing. No clock and no timeout is trusted. When the writer's process dies, PostgreSQL
/// ends its session as soon as the socket closes, and the next append on another server takes
/// over; when a machine vanishes without closing its sockets, TCP keepalives end the session.
struct Writer {
    client: Client,
    /// The fencing token this server took, while it is the writer.
    epoch: Option<i64>,
    config: tokio_postgres::Config,
    advertise: String,
}

impl Writer {
    /// Makes sure this server may append: reconnects if the database went away, and takes the
    /// writer's lock and a new epoch if no one holds it. An error names the writer to ask.
    /// Takes the writer's lock if it is free, at start: nothing has been decided yet, so no
    /// append needs refusing.
    async fn try_take_at_start(&mut self) -> Result<(), StoreError> {
        match self.ensure_writer().await {
            Ok(_) => Ok(()),
            Err(StoreError::Unavailable { .. }) if self.epoch.is_some() || !self.client.is_closed() => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn ensure_writer(&mut self) -> Result<i64, StoreError> {
        if self.client.is_closed() {
            // The database restarted or failed over: connect again (a multi-host URL with
            // target_session_attrs=read-write finds the new primary). The old session's lock
            // went with it, so the lock must be taken again.
            self.client = connect_one(&self.config).await?;
            self.epoch = None;
        }
        if let Some(epoch) = self.epoch {
            return Ok(epoch);
        }
        let failed = |e: tokio_postgres::Error| unavailable("becoming the writer", e);
        let locked: bool =
            self.client.query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK]).await.map_err(failed)?.get(0);
        if !locked {
            let row = self
                .client
                .query_one("SELECT writer, writer_since::text FROM klero_log_head", &[])
                .await
                .map_err(failed)?;
            let (writer, since): (String, Option<String>) = (row.get(0), row.get(1));
            return Err(StoreError::Unavailable {
                reason: format!(
                    "this server is not the log's writer: append to {writer} (the writer since {})",
                    since.unwrap_or_else(|| "an unknown time".into())
                ),
            });
        }
        let epoch: i64 = self
            .client
            .query_one(
                "UPDATE klero_log_head SET writer_epoch = writer_epoch + 1, writer = $1, writer_since = now()
                 RETURNING writer_epoch",
                &[&self.advertise],
            )
            .await
            .map_err(failed)?
            .get(0);
        tracing::info!(epoch, "this server is the log's writer");
        self.epoch = Some(epoch);
        // The appends waiting now were decided before this server held the lock, so on a log
        // that the previous writer may have extended since: they are refused, and their retry
        // is decided on the whole log (the server follows the store before it decides).
        Err(StoreError::Unavailable {
            reason: "this server has just become the log's writer: retry, to be decided on the whole log".into(),
        })
    }
}

/// Moves the committed-events watch forward, never back.
fn raise(committed: &watch::Sender<u64>, size: u64) {
    committed.send_if_modified(|known| {
        let grew = size > *known;
        *known = (*known).max(size);
        grew
    });
}

/// The channel every commit notifies with the log's new size (`pg_notify`, delivered at commit).
const NOTIFY_CHANNEL: &str = "klero_log";

/// A connection that listens on [`NOTIFY_CHANNEL`], and the log sizes its notifications carry.
async fn connect_listening(
    config: &tokio_postgres::Config,
) -> Result<(Client, mpsc::UnboundedReceiver<u64>), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| unavailable("connecting", e))?;
    let (sizes, notified) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Drive the connection by hand, to see its notifications.
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if let Ok(size) = notification.payload().parse::<u64>() {
                        if sizes.send(size).is_err() {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the listening PostgreSQL connection ended");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await
        .map_err(|e| unavailable("listening for appends", e))?;
    Ok((client, notified))
}

/// Learns of other servers' appends (a standby server follows the writer this way): at once
/// from their commits' notifications, and, in case one is missed (a reconnection), from the log
/// head read every `interval`. Ends when the store closes.
async fn follow_head(config: tokio_postgres::Config, committed: Arc<watch::Sender<u64>>, interval: Duration) {
    let mut listening: Option<(Client, mpsc::UnboundedReceiver<u64>)> = None;
    loop {
        if committed.receiver_count() == 0 {
            return;
        }
        let Some((client, notified)) = listening.as_mut() else {
            listening = connect_listening(&config).await.ok();
            if listening.is_none() {
                tokio::time::sleep(interval).await;
            }
            continue;
        };
        tokio::select! {
            size = notified.recv() => match size {
                Some(size) => raise(&committed, size),
                None => listening = None,
            },
            _ = tokio::time::sleep(interval) => {
                match head(client).await {
                    Ok(size) => raise(&committed, size),
                    Err(_) if client.is_closed() => listening = None,
                    Err(_) => {}
                }
            }
        }
    }
}

/// The writer: takes every waiting append into one transaction, commits, and answers.
async fn write(
    mut writer: Writer,
    mut requests: mpsc::Receiver<AppendRequest>,
    committed: Arc<watch::Sender<u64>>,
    group_max: usize,
) {
    while let Some(first) = requests.recv().await {
        let mut group = vec![first];
        while group.len() < group_max {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let outcome = match writer.ensure_writer().await {
            Ok(epoch) => append_group(&mut writer.client, epoch, &group).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok((decisions, size)) => {
                raise(&committed, size);
                answer(group, decisions);
            }
            Err(error) => {
                // The transaction failed as a whole (a lost connection, a lost writer's lock;
                // the outcome of a commit may be unknown). Every append in it is told to retry
                // with the same bytes, which is safe: a retry of a committed append returns its
                // original result.
                if let StoreError::Unavailable { reason } = &error {
                    if reason.contains("fenced") {
                        writer.epoch = None;
                    }
                }
                tracing::warn!(%error, appends = group.len(), "an append transaction failed");
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

fn answer(group: Vec<AppendRequest>, decisions: Vec<Decision>) {
    let results: Vec<Result<AppendResult, StoreError>> = decisions
        .iter()
        .map(|decision| match decision {
            Decision::Replay(result) | Decision::Appended(result) => Ok(*result),
            Decision::Refused(error) => Err(error.clone()),
            Decision::SameAs(_) => Err(StoreError::Unavailable { reason: "unresolved".into() }),
        })
        .collect();
    for (index, request) in group.into_iter().enumerate() {
        let result = match &decisions[index] {
            Decision::SameAs(earlier) => results[*earlier].clone(),
            _ => results[index].clone(),
        };
        let _ = request.reply.send(result);
    }
}

/// Whether `events` repeat exactly the append whose rows are `rows` (same ids, bytes, stream,
/// order and batch), and if so its original result.
fn replayed(stream: &str, events: &[EventData], rows: &[&StoredRow]) -> Option<AppendResult> {
    if rows.len() != events.len() {
        return None;
    }
    let first = rows[0];
    if first.batch_length != events.len() {
        return None;
    }
    for (i, (event, row)) in events.iter().zip(rows).enumerate() {
        let same = row.event.event_id == event.event_id
            && row.event.stream == stream
            && row.event.event_type == event.event_type
            && row.event.data == event.data
            && row.batch_first == first.batch_first
            && row.event.position.0 == first.batch_first + i as u64;
        if !same {
            return None;
        }
    }
    let last = rows[rows.len() - 1];
    Some(AppendResult {
        last_revision: last.event.stream_revision,
        first_position: first.event.position,
        last_position: last.event.position,
    })
}

/// A statement's parameters, named so that they outlive the pipelined statements that use them.
type Parameters<'a, const N: usize> = [&'a (dyn tokio_postgres::types::ToSql + Sync); N];

fn duplicate(event_id: EventId, reason: &str) -> StoreError {
    StoreError::DuplicateEventId { event_id, reason: reason.into() }
}

/// One transaction for a group of appends; returns each append's decision and the log's size.
async fn append_group(
    client: &mut Client,
    epoch: i64,
    group: &[AppendRequest],
) -> Result<(Vec<Decision>, u64), StoreError> {
    let failed = |e: tokio_postgres::Error| unavailable("appending", e);
    let transaction = client.transaction().await.map_err(failed)?;
    // Three reads in one round trip (tokio-postgres pipelines them): the head, locked; the
    // ids of the group that are already in the log; and the heads of the group's streams. The
    // two last need not wait for the lock: an id or a stream head can change only under it,
    // and the statements run in order on this connection, after the lock is taken.
    let ids: Vec<&[u8]> = group.iter().flat_map(|r| r.events.iter().map(|e| &e.event_id.0[..])).collect();
    let streams: Vec<&str> = group.iter().map(|r| r.stream.as_str()).collect();
    let existing_query = format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE event_id = ANY($1)");
    let (ids_parameter, streams_parameter): (Parameters<'_, 1>, Parameters<'_, 1>) = ([&ids], [&streams]);
    let (head, existing_rows, stream_rows) = tokio::join!(
        transaction.query_one("SELECT next_position, writer_epoch, writer FROM klero_log_head FOR UPDATE", &[]),
        transaction.query(&existing_query, &ids_parameter),
        transaction.query("SELECT stream, last_revision FROM klero_streams WHERE stream = ANY($1)", &streams_parameter),
    );
    let head = head.map_err(failed)?;
    let (next, current_epoch, writer): (i64, i64, String) = (head.get(0), head.get(1), head.get(2));
    if current_epoch != epoch {
        // Another server took over while this one was cut off or paused: the fencing token
        // says so, and this transaction appends nothing.
        return Err(StoreError::Unavailable {
            reason: format!(
                "this server was fenced off: the log's writer is now {writer} (epoch {current_epoch}, ours {epoch})"
            ),
        });
    }
    let mut next = next as u64;
    let existing: Vec<StoredRow> = existing_rows.map_err(failed)?.iter().map(stored).collect::<Result<_, _>>()?;
    let existing: HashMap<EventId, &StoredRow> = existing.iter().map(|row| (row.event.event_id, row)).collect();
    let mut heads: HashMap<String, Option<u64>> = stream_rows
        .map_err(failed)?
        .iter()
        .map(|row| (row.get::<_, String>(0), Some(row.get::<_, i64>(1) as u64)))
        .collect();
    // Ids appended earlier in this group: which append, and its place in it.
    let mut pending: HashMap<EventId, (usize, usize)> = HashMap::new();
    let mut decisions = Vec::with_capacity(group.len());
    let (
        mut positions,
        mut event_ids,
        mut stream_names,
        mut revisions,
        mut types,
        mut data,
        mut batch_firsts,
        mut batch_lengths,
    ) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, request) in group.iter().enumerate() {
        let stored: Vec<&StoredRow> =
            request.events.iter().filter_map(|e| existing.get(&e.event_id).copied()).collect();
        if !stored.is_empty() {
            decisions.push(match replayed(&request.stream, &request.events, &stored) {
                Some(result) => Decision::Replay(result),
                None => Decision::Refused(duplicate(
                    stored[0].event.event_id,
                    "the id is in the log already, with other content or in another append",
                )),
            });
            continue;
        }
        let earlier: Vec<(usize, usize)> =
            request.events.iter().filter_map(|e| pending.get(&e.event_id).copied()).collect();
        if let Some(&(earlier_index, _)) = earlier.first() {
            let original = &group[earlier_index];
            let same = earlier.len() == request.events.len()
                && original.stream == request.stream
                && original.events == request.events;
            decisions.push(if same {
                Decision::SameAs(earlier_index)
            } else {
                Decision::Refused(duplicate(request.events[0].event_id, "the id is used by another append in progress"))
            });
            continue;
        }
        let current = heads.get(&request.stream).copied().flatten();
        if !request.expected.holds(current) {
            decisions.push(Decision::Refused(StoreError::WrongExpectedRevision {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            }));
            continue;
        }
        let first_revision = current.map_or(0, |r| r + 1);
        let batch_first = next;
        for (i, event) in request.events.iter().enumerate() {
            pending.insert(event.event_id, (index, i));
            positions.push((next + i as u64) as i64);
            event_ids.push(event.event_id.0.to_vec());
            stream_names.push(request.stream.clone());
            revisions.push((first_revision + i as u64) as i64);
            types.push(event.event_type.clone());
            data.push(event.data.clone());
            batch_firsts.push(batch_first as i64);
            batch_lengths.push(request.events.len() as i32);
        }
        let count = request.events.len() as u64;
        let last_revision = first_revision + count - 1;
        heads.insert(request.stream.clone(), Some(last_revision));
        decisions.push(Decision::Appended(AppendResult {
            last_revision,
            first_position: LogPosition(next),
            last_position: LogPosition(next + count - 1),
        }));
        next += count;
    }
    if !positions.is_empty() {
        let changed: Vec<(&String, i64)> =
            heads.iter().filter_map(|(stream, head)| head.map(|h| (stream, h as i64))).collect();
        let (names, lasts): (Vec<&String>, Vec<i64>) = changed.into_iter().unzip();
        let next_position = next as i64;
        let rows: Parameters<'_, 8> =
            [&positions, &event_ids, &stream_names, &revisions, &types, &data, &batch_firsts, &batch_lengths];
        let stream_heads: Parameters<'_, 2> = [&names, &lasts];
        let new_head: Parameters<'_, 1> = [&next_position];
        let size_text = next.to_string();
        let notice: Parameters<'_, 1> = [&size_text];
        let notify = format!("SELECT pg_notify('{NOTIFY_CHANNEL}', $1)");
        // Three writes and the notice to other servers (delivered at commit) in one round trip,
        // pipelined like the reads.
        let (inserted, streams_moved, head_moved, notified) = tokio::join!(
            transaction.execute(
                "INSERT INTO klero_events (position, event_id, stream, stream_revision, event_type, data, batch_first, batch_length)
                 SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::bytea[], $7::bigint[], $8::integer[])",
                &rows,
            ),
            transaction.execute(
                "INSERT INTO klero_streams (stream, last_revision) SELECT * FROM UNNEST($1::text[], $2::bigint[])
                 ON CONFLICT (stream) DO UPDATE SET last_revision = EXCLUDED.last_revision",
                &stream_heads,
            ),
            transaction.execute("UPDATE klero_log_head SET next_position = $1", &new_head),
            transaction.execute(&notify, &notice),
        );
        notified.map_err(failed)?;
        inserted.map_err(failed)?;
        streams_moved.map_err(failed)?;
        head_moved.map_err(failed)?;
    }
    transaction
        .commit()
        .await
        .map_err(|e| unavailable("committing (the outcome is unknown: retry with the same bytes)", e))?;
    Ok((decisions, next))
}

/// A catch-up subscription: reads by position, then waits for the next commit.
struct PostgresSubscription {
    store: SubscriptionReader,
    next_position: u64,
    buffered: VecDeque<RecordedEvent>,
    committed: watch::Receiver<u64>,
}

/// What a subscription reads with: a connection of its own, so that it never waits behind
/// the store's other reads, made again if the database restarts or fails over.
struct SubscriptionReader {
    client: Client,
    config: tokio_postgres::Config,
    poll_interval: Duration,
}

/// A lost connection is worth this many new attempts, a poll interval apart, before the
/// subscription gives up (about a minute by default): a failover takes seconds.
const SUBSCRIPTION_RECONNECTS_MAX: u32 = 600;

#[async_trait]
impl LogSubscription for PostgresSubscription {
    async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.next_position = event.position.0 + 1;
                return Ok(event);
            }
            self.committed.borrow_and_update();
            let query =
                format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE position >= $1 ORDER BY position LIMIT 500");
            let mut attempts = 0;
            let rows = loop {
                match self.store.client.query(&query, &[&(self.next_position as i64)]).await {
                    Ok(rows) => break rows,
                    Err(error) if self.store.client.is_closed() && attempts < SUBSCRIPTION_RECONNECTS_MAX => {
                        // The database went away: connect again and read on from the same
                        // position, so nothing is skipped or repeated.
                        attempts += 1;
                        tracing::warn!(%error, attempts, "a subscription lost its connection; connecting again");
                        tokio::time::sleep(self.store.poll_interval).await;
                        if let Ok(client) = connect_one(&self.store.config).await {
                            self.store.client = client;
                        }
                    }
                    Err(error) => return Err(unavailable("reading for a subscription", error)),
                }
            };
            let read = events(&rows)?;
            if let Some(first) = read.first() {
                // Dense positions: the next event is exactly the one after the last delivered.
                if first.position.0 != self.next_position {
                    return Err(StoreError::Corrupt {
                        segment: "klero_events".into(),
                        offset: 0,
                        position: self.next_position,
                        reason: format!(
                            "position {} is missing: the next event is at {}",
                            self.next_position, first.position
                        ),
                    });
                }
                self.buffered.extend(read);
                continue;
            }
            let poll = self.store.poll_interval;
            tokio::select! {
                changed = self.committed.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

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

    async fn save_snapshot(&self, tree_size: u64, snapshot: Vec<u8>) -> Result<(), StoreError> {
        // Several servers share the row: the larger tree's snapshot stays.
        self.keep("snapshot", &snapshot, tree_size, "snapshot bytes", SNAPSHOT_BYTES_MAX).await
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.kept("snapshot").await
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
