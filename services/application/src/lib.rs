//! Kleroterion's application core, free of any transport.
//!
//! [`Application`] owns everything between the front ends and the log:
//! - the append use case ([`Application::append`]): replay check, signature check (batched
//!   across concurrent appends, [`signatures`]), decoding, authority and rules against the
//!   state folded from the log, and an append on exactly the revision that was decided on;
//! - the one fold of the log into the domain state and the read views (`klero-fold`), kept
//!   current by a follower task even when no request arrives;
//! - reads through the log ([`Application::read_stream`], [`Application::read_log`],
//!   [`Application::subscribe`]), so every event served is checked against its Merkle leaf;
//! - the one checkpoint publisher ([`publisher`]);
//! - [`start`]: open, run the front ends until told to stop, then stop cleanly.
//!
//! Errors are typed ([`ApplicationError`]); a front end maps them, and protobuf or HTTP types
//! never reach this crate. A rule that one front end enforces and another does not is a bug,
//! and cannot happen: both call the same methods here.

mod append;
pub mod documents;
mod errors;
mod lifecycle;
pub mod moderation;
pub mod personal;
pub mod publisher;
pub mod queries;
pub mod signatures;
pub mod slices;
mod snapshot;

pub use append::{AppendRequest, Appended};
pub use documents::{Collected, DocumentPolicy, DocumentRecord, Upload, UploadHeader, MEDIA_TYPES};
pub use errors::ApplicationError;
pub use lifecycle::{start, FrontEnd, FrontEndError, Running, ServerTls, Shutdown};
pub use publisher::{CheckpointPolicy, CheckpointPublications};
pub use slices::SliceRequest;
pub use snapshot::{OpenVerification, SnapshotPolicy};

use klero_domain::spill::SpillFiles;
use klero_domain::{AssemblyId, DomainEvent, TableName};
use klero_fold::{LogFold, LoggedEventRef};
use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::{LogVerifierKey, NoteSignature, SignedCheckpoint};
use klero_ledger::envelope::EventId;
use klero_ledger::Hash256;
use klero_log::{LoggedEvent, TransparencyLog};
use klero_projections::ViewName;
use klero_store::{AppendExpected, EventStore, ReadDirection, StreamStart};
use publisher::PublisherHandle;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where "now" comes from, in ms since the Unix epoch. Tests move it forward.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    })
}

/// Limits the core enforces whatever the front end.
#[derive(Clone, Debug)]
pub struct ApplicationLimits {
    /// Most events in one append.
    pub batch_events_max: usize,
    /// Most events one read returns.
    pub read_events_max: usize,
    /// Subscriptions open at once across all clients.
    pub subscriptions_max: usize,
}

impl Default for ApplicationLimits {
    fn default() -> Self {
        ApplicationLimits { batch_events_max: 1_000, read_events_max: 1_000, subscriptions_max: 256 }
    }
}

/// How to run the core.
#[derive(Clone)]
pub struct ApplicationConfig {
    /// The council's public key: the only key that may grant or revoke roles.
    pub trust_root: [u8; 32],
    /// The recording time of appends.
    pub clock: Clock,
    pub checkpoints: CheckpointPolicy,
    pub snapshots: SnapshotPolicy,
    /// How much of the log to verify again on open.
    pub open: OpenVerification,
    pub limits: ApplicationLimits,
    pub documents: documents::DocumentPolicy,
    /// The witnesses that cosign this log's checkpoints and how many must, as slices state
    /// them (FORMAT.md §15) for readers to pin: verifier keys and the quorum.
    pub witness_statement: Option<(Vec<String>, u64)>,
    /// The least time between two witnessed checkpoints the store keeps (FORMAT.md §13.6): a
    /// kept one bounds when every event before it was recorded, so this is part of the time
    /// tolerance; it keeps the history to about 500 bytes a minute.
    pub witnessed_keep_interval_ms: u64,
    /// Where the fold's tables put the rows that leave memory (`None`: they all stay in it).
    pub table_spill: Option<Arc<dyn SpillFiles>>,
}

impl ApplicationConfig {
    /// The defaults, with this trust root and clock.
    pub fn new(trust_root: [u8; 32], clock: Clock) -> ApplicationConfig {
        ApplicationConfig {
            trust_root,
            clock,
            checkpoints: CheckpointPolicy::default(),
            snapshots: SnapshotPolicy::default(),
            open: OpenVerification::default(),
            limits: ApplicationLimits::default(),
            documents: documents::DocumentPolicy::default(),
            witness_statement: None,
            witnessed_keep_interval_ms: 60_000,
            table_spill: None,
        }
    }
}

impl std::fmt::Debug for ApplicationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationConfig")
            .field("checkpoints", &self.checkpoints)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Most decoded events waiting for the fold; beyond it the cache is dropped (the fold decodes).
const DECODED_CACHE_EVENTS_MAX: usize = 65_536;
/// Events read from the log per step while folding.
const FOLD_STEP_EVENTS: usize = 512;
/// Events read from the log per step for a subscriber.
const SUBSCRIPTION_STEP_EVENTS: usize = 256;

/// A read view as served: its canonical JSON and digest, and the tree it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedView {
    pub name: ViewName,
    pub assembly_id: AssemblyId,
    pub json: String,
    pub digest: Hash256,
    /// The log prefix the view was folded from.
    pub tree_size: u64,
    /// The Merkle root of that prefix.
    pub root_hash: Hash256,
}

/// The application core over one log. Share it behind an `Arc`.
pub struct Application {
    store: Arc<dyn EventStore>,
    log: Arc<TransparencyLog>,
    config: ApplicationConfig,
    fold: RwLock<LogFold>,
    /// Serialises folding the log in.
    fold_sync: tokio::sync::Mutex<()>,
    /// Events being appended, decoded already, until the fold takes them: by event id, with the
    /// signature, so that an entry only ever stands for the exact bytes it was decoded from.
    decoded_cache: Mutex<HashMap<EventId, ([u8; 64], DomainEvent)>>,
    appends: append::AppendGates,
    signatures: signatures::SignatureChecker,
    publisher: Arc<PublisherHandle>,
    subscriptions: Arc<tokio::sync::Semaphore>,
    /// The prefix a snapshot let this start skip, if one did.
    snapshot_taken_up: Option<u64>,
    /// The latest published checkpoint with the witnesses' cosignatures gathered for it, once
    /// a round of requests to the witnesses ended (`record_cosignatures`).
    witnessed: Mutex<Option<SignedCheckpoint>>,
    /// The size and the time (the application's clock) of the last witnessed checkpoint the
    /// store kept in its history.
    last_witnessed_kept: Mutex<Option<(u64, u64)>>,
    /// Recently served checkpoints, so that a page rendered at one is checked at it.
    recent_checkpoints: Mutex<std::collections::VecDeque<SignedCheckpoint>>,
    /// The first storage failure (of an append, a checkpoint, a snapshot or a document), after
    /// which the store writes nothing more (fail-stop); front ends report it (the gRPC health
    /// check of appends).
    write_failure: WriteFailure,
    /// Set when a witness cosigner runs: readers of the log's tiles are then served the
    /// latest witnessed checkpoint, which clients with a witness policy can accept.
    cosigning: std::sync::atomic::AtomicBool,
    /// The size of the last snapshot written, to reserve room for the next.
    /// The rows of the domain's tables the store keeps beside snapshots, as far as they go.
    kept_rows: tokio::sync::Mutex<snapshot::KeptRows>,
    /// Documents held that no event committed to when last looked at, with their sizes: what
    /// the limits on uncommitted documents count. Read from the store on first use.
    pending_documents: tokio::sync::Mutex<Option<HashMap<[u8; 32], u64>>>,
    /// Woken after an erasure: the store then makes erasures complete in every copy it keeps
    /// (`EventStore::finish_erasures`), in the background; erasures made meanwhile share one run.
    erasures_to_complete: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("log_size", &self.log.size()).finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
fn mutex<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

/// At most this many bytes of snapshot rows go to the store in one write (at most
/// `klero_store::SNAPSHOT_BYTES_MAX`).
const SNAPSHOT_ROWS_PIECE_BYTES: usize = 64 * 1024 * 1024;

impl Application {
    /// Builds the core over an open log and folds into it every event beyond `restored` (a
    /// fold taken up from a snapshot), or the whole log.
    pub(crate) async fn open(
        store: Arc<dyn EventStore>,
        log: Arc<TransparencyLog>,
        config: ApplicationConfig,
        restored: Option<(LogFold, snapshot::KeptRows)>,
    ) -> Result<Application, ApplicationError> {
        let write_failure = WriteFailure::default();
        let publisher = Arc::new(PublisherHandle::new(log.latest_checkpoint(), write_failure.clone()));
        let snapshot_taken_up = restored.as_ref().map(|(fold, _)| fold.next_log_index());
        let (fold, kept_rows) = restored.unwrap_or_else(|| {
            let mut fold = LogFold::new(config.trust_root);
            if let Some(files) = &config.table_spill {
                fold.spill_tables_to(files.clone());
            }
            (fold, Default::default())
        });
        assert!(fold.next_log_index() <= log.size(), "a fold cannot run ahead of its log");
        let application = Application {
            store,
            fold: RwLock::new(fold),
            fold_sync: tokio::sync::Mutex::new(()),
            decoded_cache: Mutex::new(HashMap::new()),
            appends: append::AppendGates::default(),
            signatures: signatures::SignatureChecker::default(),
            subscriptions: Arc::new(tokio::sync::Semaphore::new(config.limits.subscriptions_max)),
            publisher,
            log,
            config,
            snapshot_taken_up,
            pending_documents: tokio::sync::Mutex::new(None),
            witnessed: Mutex::new(None),
            last_witnessed_kept: Mutex::new(None),
            recent_checkpoints: Mutex::new(std::collections::VecDeque::new()),
            write_failure,
            cosigning: std::sync::atomic::AtomicBool::new(false),
            kept_rows: tokio::sync::Mutex::new(kept_rows),
            erasures_to_complete: Arc::new(tokio::sync::Notify::new()),
        };
        application.sync_fold().await?;
        let erasures = application.finish_pending_erasures().await?;
        if erasures > 0 {
            tracing::info!(erasures, "every recorded erasure is finished");
        }
        // One completion run at start, for erasures a stop interrupted before theirs.
        application.erasures_to_complete.notify_one();
        Ok(application)
    }

    /// Makes erasures complete in every copy the store keeps, each time an erasure wakes it,
    /// until `stop`; lifecycle runs it beside the server.
    pub(crate) async fn complete_erasures(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = self.erasures_to_complete.notified() => {}
            }
            if let Err(error) = self.store.finish_erasures().await {
                tracing::warn!(%error, "erasures could not be completed now; the next erasure or start tries again");
            }
        }
    }

    /// Up to when erasures are complete in every copy the store keeps (`None`: each is complete
    /// as it is made). Erasures recorded after that time are still readable in old copies
    /// (a database's dead rows, WAL or replicas) until the store's next run.
    pub async fn erasures_complete_through(&self) -> Result<Option<u64>, ApplicationError> {
        Ok(self.store.erasures_complete_through().await?)
    }

    /// The time now, by the clock the ledger records with (Unix milliseconds).
    pub fn now_unix_ms(&self) -> u64 {
        (self.config.clock)()
    }

    /// The log's size: how many events it holds.
    pub fn log_size(&self) -> u64 {
        self.log.size()
    }

    /// The key that verifies this log's checkpoints.
    pub fn verifier_key(&self) -> LogVerifierKey {
        self.log.verifier_key()
    }

    /// The limits this core enforces.
    pub fn limits(&self) -> &ApplicationLimits {
        &self.config.limits
    }

    /// Folds every event the log holds beyond the fold into it, in log order. Events this
    /// server is appending were decoded already and come from the cache.
    pub(crate) async fn sync_fold(&self) -> Result<(), ApplicationError> {
        let _folding = self.fold_sync.lock().await;
        loop {
            let next = read(&self.fold).next_log_index();
            if next >= self.log.size() {
                return Ok(());
            }
            let events = self.log.events_from(next, FOLD_STEP_EVENTS).await?;
            let cached: Vec<Option<DomainEvent>> = {
                let mut cache = mutex(&self.decoded_cache);
                events
                    .iter()
                    .map(|logged| {
                        let entry = cache.remove(&logged.envelope.author().event_id);
                        let signature = logged.envelope.signature_bytes();
                        entry.filter(|(cached, _)| *cached == signature).map(|(_, event)| event)
                    })
                    .collect()
            };
            let mut fold = write(&self.fold);
            for (logged, decoded) in events.iter().zip(cached) {
                let event = LoggedEventRef {
                    log_index: logged.leaf_index,
                    envelope: &logged.envelope,
                    event_hash: logged.event_hash,
                };
                // The log holds only what this core accepted, in the order it decided; an
                // event the fold refuses means the record and the rules disagree.
                fold.fold(event, decoded).map_err(|error| ApplicationError::Corrupt {
                    reason: format!("the log no longer folds: {error}"),
                })?;
            }
            // The fold and the log agree on where they are.
            assert_eq!(fold.next_log_index(), events.last().map_or(next, |e| e.leaf_index + 1));
        }
    }

    /// Writes a snapshot of the fold as it stands, if it covers more than `after` events; the
    /// size it covers.
    pub(crate) async fn write_snapshot(&self, after: u64) -> Result<u64, ApplicationError> {
        // One snapshot at a time: each keeps the rows added since the one before.
        let mut kept = self.kept_rows.lock().await;
        // Under the lock: the fold's text, which holds no table, and how many rows each table
        // has, so that appends wait for neither serialising nor copying every row
        // (`klero-bench scale`).
        let (tree_size, text, heads) = {
            let fold = read(&self.fold);
            if fold.next_log_index() <= after {
                return Ok(after);
            }
            (fold.next_log_index(), fold.to_snapshot(), fold.table_heads())
        };
        // The new rows, in pieces the store takes in one write, each read under the lock on
        // its own (rows never change once added): the first snapshot after a full verification
        // holds every row, which then need not be in memory at once.
        for table in TableName::ALL {
            let piece_rows = (SNAPSHOT_ROWS_PIECE_BYTES / klero_domain::EventTables::row_bytes(table)) as u32;
            while kept.rows(table) < heads.rows(table) {
                let (from, to) = (kept.rows(table), heads.rows(table).min(kept.rows(table).saturating_add(piece_rows)));
                let piece = read(&self.fold).kept_rows(table, from, to);
                self.store
                    .keep_snapshot_rows(table.as_str(), kept.offset(table), piece.clone())
                    .await
                    .inspect_err(|error| self.write_failure.record_store_error(error))?;
                kept.kept(table, &piece);
            }
        }
        let root_hash = self.log.root_at(tree_size)?;
        // The next start takes the prefix's leaf hashes from the leaf file: write them out.
        self.log.flush_tree_leaves()?;
        let bytes =
            snapshot::encode(tree_size, &root_hash, &text, &kept, |message| self.log.sign_server_state(message));
        let length = bytes.len();
        self.store
            .save_snapshot(tree_size, bytes)
            .await
            .inspect_err(|error| self.write_failure.record_store_error(error))?;
        tracing::info!(tree_size, bytes = length, "snapshot written");
        Ok(tree_size)
    }

    /// How many events a snapshot let this start take up without verifying them again; `None`
    /// when the whole log was verified.
    pub fn snapshot_taken_up(&self) -> Option<u64> {
        self.snapshot_taken_up
    }

    /// Bytes the log's Merkle tree holds in memory.
    pub fn tree_resident_bytes(&self) -> usize {
        self.log.tree_resident_bytes()
    }

    /// How many events the fold covers.
    pub fn folded_events(&self) -> u64 {
        read(&self.fold).next_log_index()
    }

    /// A read view of one assembly, with the tree it covers and that tree's root.
    pub async fn view(&self, name: ViewName, assembly: &AssemblyId) -> Result<ServedView, ApplicationError> {
        self.sync_fold().await?;
        let rendered = read(&self.fold)
            .views()
            .render(name, assembly)
            .ok_or_else(|| ApplicationError::NotFound { what: format!("assembly {assembly}") })?;
        let root_hash = self.log.root_at(rendered.tree_size)?;
        Ok(ServedView {
            name,
            assembly_id: rendered.assembly_id,
            json: rendered.json,
            digest: rendered.digest,
            tree_size: rendered.tree_size,
            root_hash,
        })
    }

    fn check_read_count(&self, max_count: usize) -> Result<usize, ApplicationError> {
        let max = self.config.limits.read_events_max;
        if max_count == 0 || max_count > max {
            return Err(ApplicationError::invalid_field("max_count", format!("must be between 1 and {max}")));
        }
        Ok(max_count)
    }

    /// Up to `max_count` events of one stream, each checked against the log.
    pub async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<LoggedEvent>, ApplicationError> {
        let max_count = self.check_read_count(max_count)?;
        Ok(self.log.read_stream(stream, start, direction, max_count).await?)
    }

    /// The last event of `stream`, checked against the log; `None` if the stream holds none.
    pub async fn stream_head(&self, stream: &str) -> Result<Option<LoggedEvent>, ApplicationError> {
        match self.log.read_stream(stream, StreamStart::Beginning, ReadDirection::Backwards, 1).await {
            Ok(mut events) => Ok(events.pop()),
            Err(klero_log::LogError::Store(klero_store::StoreError::StreamNotFound { .. })) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Up to `max_count` events of the log from `from_log_index`, each checked against its
    /// Merkle leaf, and the log's size when read.
    pub async fn read_log(
        &self,
        from_log_index: u64,
        max_count: usize,
    ) -> Result<(Vec<LoggedEvent>, u64), ApplicationError> {
        let max_count = self.check_read_count(max_count)?;
        let log_size = self.log.size();
        Ok((self.log.events_from(from_log_index, max_count).await?, log_size))
    }

    /// Every event from `from_log_index` on, first those the log holds, then each as it is
    /// recorded, with no gap and no duplicate; each is checked against its Merkle leaf.
    pub fn subscribe(&self, from_log_index: u64) -> Result<Subscription, ApplicationError> {
        let permit = self.subscriptions.clone().try_acquire_owned().map_err(|_| ApplicationError::LimitExceeded {
            limit: "open subscriptions",
            actual: self.config.limits.subscriptions_max as u64 + 1,
            max: self.config.limits.subscriptions_max as u64,
        })?;
        let size = self.log.size();
        if from_log_index > size {
            return Err(ApplicationError::OutOfRange {
                reason: format!("from_log_index {from_log_index} is beyond the log's {size} events"),
            });
        }
        Ok(Subscription {
            log: self.log.clone(),
            next_log_index: from_log_index,
            buffered: VecDeque::new(),
            size: self.log.size_watch(),
            _permit: permit,
        })
    }

    /// The latest published checkpoint if it covers at least `tree_size` events; otherwise asks
    /// the publisher for one and waits for it.
    pub async fn checkpoint_covering(&self, tree_size: u64) -> Result<SignedCheckpoint, ApplicationError> {
        let log_size = self.log.size();
        if tree_size > log_size {
            return Err(ApplicationError::OutOfRange {
                reason: format!("no checkpoint can cover {tree_size} events: the log holds {log_size}"),
            });
        }
        let covers = |size: Option<u64>| size.is_some_and(|size| size >= tree_size);
        let mut published = self.publisher.published.subscribe();
        let attempts_before = {
            let now = published.borrow_and_update();
            if covers(now.size()) {
                return Ok(self.with_cosignatures(now.checkpoint.clone().expect("a size means a checkpoint")));
            }
            now.attempts
        };
        self.publisher.wanted.send_if_modified(|wanted| {
            let more = *wanted < tree_size;
            *wanted = (*wanted).max(tree_size);
            more || tree_size == 0
        });
        let wait_max = self.config.checkpoints.reader_wait_max;
        let waited = tokio::time::timeout(wait_max, async {
            loop {
                if published.changed().await.is_err() {
                    return Err(ApplicationError::Unavailable { reason: "the server is stopping".into() });
                }
                let now = published.borrow_and_update();
                if covers(now.size()) {
                    return Ok(now.checkpoint.clone().expect("a size means a checkpoint"));
                }
                if let (Some(failure), true) = (&now.failure, now.attempts > attempts_before) {
                    return Err(ApplicationError::Unavailable {
                        reason: format!("the checkpoint could not be published: {failure}"),
                    });
                }
            }
        })
        .await;
        let covering = waited.unwrap_or_else(|_| {
            Err(ApplicationError::Unavailable {
                reason: format!("no checkpoint was published within {} ms", wait_max.as_millis()),
            })
        })?;
        Ok(self.with_cosignatures(covering))
    }

    /// The first storage failure of any write (an append, a checkpoint, a snapshot, a
    /// document), if any: from then on the store refuses every write until a restart, while
    /// reads and proofs go on.
    pub fn write_failures(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.write_failure.0.subscribe()
    }

    /// Watches the checkpoints the publisher publishes, for the witness cosigner. Registers a
    /// cosigner: from now on [`Application::served_checkpoint`] serves witnessed checkpoints.
    pub fn checkpoint_publications(&self) -> CheckpointPublications {
        self.cosigning.store(true, std::sync::atomic::Ordering::Release);
        CheckpointPublications(self.publisher.published.subscribe())
    }

    /// Keeps `checkpoint` with the cosignature lines the witnesses returned for it (the caller
    /// verified each against its witness's key), unless a later checkpoint was witnessed
    /// already. When they are a quorum, the log grew and the keep interval passed, the store
    /// also keeps it in its history of witnessed checkpoints (FORMAT.md §13.6), which exports
    /// carry to bound every event's recording time by the witnesses' clocks.
    pub async fn record_cosignatures(&self, checkpoint: &SignedCheckpoint, cosignatures: &[NoteSignature]) {
        let size = checkpoint.checkpoint().tree_size;
        let witnessed_note = {
            let mut witnessed = mutex(&self.witnessed);
            if witnessed.as_ref().is_some_and(|w| w.checkpoint().tree_size > size) {
                return;
            }
            let note = checkpoint.with_signature_lines(cosignatures);
            *witnessed = Some(note.clone());
            note
        };
        let quorum = self.config.witness_statement.as_ref().map_or(0, |(_, quorum)| *quorum as usize);
        if quorum == 0 || cosignatures.len() < quorum || size == 0 {
            return;
        }
        let now = (self.config.clock)();
        {
            let mut last = mutex(&self.last_witnessed_kept);
            if let Some((kept_size, kept_at)) = *last {
                if size <= kept_size || now < kept_at.saturating_add(self.config.witnessed_keep_interval_ms) {
                    return;
                }
            }
            *last = Some((size, now));
        }
        // Losing one costs a wider bound, never a fact: a failure is logged, not returned.
        if let Err(error) = self.store.keep_witnessed_checkpoint(size, witnessed_note.note().as_bytes()).await {
            tracing::warn!(%error, tree_size = size, "a witnessed checkpoint could not be kept");
        }
    }

    /// Up to `max_count` witnessed checkpoints the store kept, of at least `from_size` events.
    pub async fn witnessed_checkpoints(
        &self,
        from_size: u64,
        max_count: usize,
    ) -> Result<Vec<String>, ApplicationError> {
        let notes = self.store.witnessed_checkpoints(from_size, max_count).await?;
        Ok(notes.into_iter().map(|note| String::from_utf8_lossy(&note).into_owned()).collect())
    }

    /// `checkpoint` with the cosignatures gathered for it, if it is the one witnessed.
    fn with_cosignatures(&self, checkpoint: SignedCheckpoint) -> SignedCheckpoint {
        match &*mutex(&self.witnessed) {
            Some(witnessed) if witnessed.checkpoint() == checkpoint.checkpoint() => witnessed.clone(),
            _ => checkpoint,
        }
    }

    /// The checkpoint the log's tiles serve: with a witness cosigner, the latest whose round
    /// of cosignature requests ended (the latest published until one has); otherwise the
    /// latest published. Publishes one first if none was.
    pub async fn served_checkpoint(&self) -> Result<SignedCheckpoint, ApplicationError> {
        if self.cosigning.load(std::sync::atomic::Ordering::Acquire) {
            if let Some(witnessed) = mutex(&self.witnessed).clone() {
                return Ok(witnessed);
            }
        }
        let latest = self.publisher.published.borrow().checkpoint.clone();
        match latest {
            Some(checkpoint) => Ok(checkpoint),
            None => self.checkpoint_covering(0).await,
        }
    }

    /// The hashes of `count` complete subtrees of `2^height` leaves from subtree `first`: a
    /// tlog tile's content, read from the tree as kept.
    pub fn subtree_hashes(&self, height: u32, first: u64, count: u64) -> Result<Vec<Hash256>, ApplicationError> {
        Ok(self.log.subtree_hashes(height, first, count)?)
    }

    /// A checkpoint that covers every event recorded before the call.
    pub async fn fresh_checkpoint(&self) -> Result<SignedCheckpoint, ApplicationError> {
        self.checkpoint_covering(self.log.size()).await
    }

    /// The inclusion proof of one event in the tree of `tree_size` events.
    pub fn inclusion_proof(&self, log_index: u64, tree_size: u64) -> Result<Vec<Hash256>, ApplicationError> {
        Ok(self.log.inclusion_proof(log_index, tree_size)?)
    }

    /// The consistency proof between two tree sizes.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, ApplicationError> {
        Ok(self.log.consistency_proof(old_size, new_size)?)
    }

    /// An offline proof bundle for one event, against a published checkpoint that covers it.
    pub async fn proof_bundle(&self, log_index: u64) -> Result<ProofBundle, ApplicationError> {
        if log_index >= self.log.size() {
            return Err(ApplicationError::OutOfRange {
                reason: format!("log index {log_index} is beyond the log's {} events", self.log.size()),
            });
        }
        let checkpoint = self.checkpoint_covering(log_index + 1).await?;
        Ok(self.log.proof_bundle(log_index, &checkpoint).await?)
    }

    /// Keeps the fold current as the log grows, even with no requests; and on a store that
    /// another server also writes, makes the log follow the store first.
    pub(crate) async fn follow(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        /// How long the follower lets appends fold their own events (already decoded) before it
        /// folds what is left, such as an idle server's last appends.
        const SETTLE: Duration = Duration::from_millis(1);
        let mut grown = match self.store.committed_events_watch() {
            Some(watch) => Growth::Watch(watch),
            None => {
                let after = self.log.size().checked_sub(1).and_then(|i| self.log.store_position(i));
                match self.store.subscribe_to_all(after).await {
                    Ok(subscription) => Growth::Subscription(subscription),
                    Err(error) => {
                        tracing::error!(%error, "the follower cannot follow the store");
                        return;
                    }
                }
            }
        };
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                grew = grown.next() => if !grew { return },
            }
            tokio::time::sleep(SETTLE).await;
            if let Err(error) = self.log.follow_store().await {
                tracing::error!(%error, "the log cannot follow the store");
                continue;
            }
            if let Err(error) = self.sync_fold().await {
                tracing::warn!(%error, "the fold could not follow the log yet");
            }
        }
    }
}

/// How the follower learns that the store grew.
enum Growth {
    Watch(tokio::sync::watch::Receiver<u64>),
    Subscription(Box<dyn klero_store::LogSubscription>),
}

impl Growth {
    /// Waits for growth; false once the store stops reporting it.
    async fn next(&mut self) -> bool {
        match self {
            Growth::Watch(watch) => watch.changed().await.is_ok(),
            Growth::Subscription(subscription) => subscription.next().await.is_ok(),
        }
    }
}

/// A subscription to the log: catch-up, then live. Holds one of the core's subscription slots
/// until dropped.
pub struct Subscription {
    log: Arc<TransparencyLog>,
    next_log_index: u64,
    buffered: VecDeque<LoggedEvent>,
    size: tokio::sync::watch::Receiver<u64>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("next_log_index", &self.next_log_index).finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event; waits for one when caught up. An error ends the subscription.
    pub async fn next(&mut self) -> Result<LoggedEvent, ApplicationError> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                // Each event exactly once, in log order.
                assert_eq!(event.leaf_index, self.next_log_index, "subscriptions deliver the log in order");
                self.next_log_index += 1;
                return Ok(event);
            }
            self.size.borrow_and_update();
            let events = self.log.events_from(self.next_log_index, SUBSCRIPTION_STEP_EVENTS).await?;
            if events.is_empty() {
                self.size
                    .changed()
                    .await
                    .map_err(|_| ApplicationError::Unavailable { reason: "the log was closed".into() })?;
                continue;
            }
            self.buffered.extend(events);
        }
    }
}

/// Tokens that announce an append from its arrival until its answer: the store may hold a
/// commit open for it, and the signature checker counts it when it sizes batches.
#[derive(Debug)]
pub struct AppendAnnounced {
    _store: AppendExpected,
    _signatures: AppendExpected,
}

/// The first storage failure, shared by everything that writes: the store has then stopped
/// writing for good (fail-stop), and this says so once, to the health check.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteFailure(Arc<tokio::sync::watch::Sender<Option<String>>>);

impl WriteFailure {
    pub(crate) fn record(&self, reason: &str) {
        self.0.send_if_modified(|failure| {
            let first = failure.is_none();
            if first {
                tracing::error!(%reason, "the store failed to write: appends are refused until a restart");
                *failure = Some(reason.to_string());
            }
            first
        });
    }

    /// Records `error` if it is a storage failure; other errors leave the store writing.
    pub(crate) fn record_store_error(&self, error: &klero_store::StoreError) {
        if let klero_store::StoreError::Io(failure) = error {
            self.record(&failure.to_string());
        }
    }
}
