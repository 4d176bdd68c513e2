//! Kleroterion's transparency log: the ledger core bound to an [`EventStore`].
//!
//! [`TransparencyLog`] is the only writer of envelopes. For each append it checks the author's
//! signature, adds the ledger part (stream revision, previous event hash, recording time),
//! appends the exact envelope bytes to the store with an exact expected revision (so a stream's
//! chain can never fork), and then follows the store's global order to extend the Merkle tree.
//! Because the tree is built by reading the log in position order, its leaf order is the store's
//! commit order even when many appenders run at once.
//!
//! On open it replays the whole log, re-checking every envelope, every stream chain and
//! (optionally) every signature, and it refuses to start if the last checkpoint it signed covers
//! a tree that the store no longer holds.

use klero_ledger::bundle::ProofBundle;
use klero_ledger::chain::{ChainError, StreamChainChecker};
use klero_ledger::checkpoint::{Checkpoint, CheckpointError, LogSigningKey, LogVerifierKey, SignedCheckpoint};
use klero_ledger::envelope::{
    event_hash_of_envelope_bytes, verify_signatures_batch, Envelope, EnvelopeError, EventId, LedgerPart,
    SignedAuthorPart,
};
use klero_ledger::heads::{HeadsTree, StreamHead};
use klero_ledger::merkle::{CompactMerkleTree, LeafStorage, MemoryLeaves, ProofError};
use klero_ledger::signature::{self, AuthorKey, SignatureCheck};
use klero_ledger::Hash256;
use klero_store::{
    EventData, EventStore, ExpectedRevision, IoFailure, LogPosition, ReadDirection, StoreError, StreamStart,
};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

/// How many times an append with `ExpectedRevision::Any` is retried after losing a race.
mod append;
mod follow;
mod leaves;
mod reads;

use leaves::*;
pub use leaves::{FileLeaves, TreeLeaves, TREE_LEAVES_FILE};

const APPEND_ATTEMPTS_MAX: usize = 16;
/// Events read from the store per step while following the log.
const CATCH_UP_BATCH_EVENTS: usize = 4096;
/// Most envelopes this log keeps from its own appends (about 2 MiB of typical events), so that
/// following the store and reading recent events need not read them back. Anything older or
/// missing is read from the store, which is always correct.
const RECENT_EVENTS_MAX: usize = 4096;
/// Heads trees kept for recent checkpoints: a slice served with one of them proves its heads
/// without rebuilding the tree.
const HEADS_TREES_KEPT: usize = 8;
/// The most events [`TransparencyLog::heads_tree_at`] walks back over: a slice is served with a
/// recent checkpoint, and rebuilding far older heads is not worth a request's time.
const HEADS_REWIND_EVENTS_MAX: u64 = 1_000_000;
/// Events read at a time while walking back.
const READ_EVENTS_MAX: usize = 4096;
/// How long an append waits for an earlier append of the same commit to hand over its
/// envelopes before the log reads them from the store instead.
const PREDECESSOR_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// How to run a log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Signs checkpoints; its name is the log's origin.
    pub log_key: LogSigningKey,
    /// Re-verify every author signature when opening (batch verification).
    pub verify_signatures_on_open: bool,
    /// A prefix of the log verified before, which need not be checked again event by event on
    /// open. Its leaf hashes come from the leaf file where it still holds them, and are
    /// computed from the stored events where it does not; either way the prefix must give the
    /// root it had, or open fails with [`LogError::VerifiedPrefixDiffers`]. Its streams' chains
    /// continue from the heads it names. Every event after the prefix is checked in full.
    pub verified_prefix: Option<VerifiedPrefix>,
    /// Where the tree keeps the leaf hashes of complete blocks: a file, or memory. The file is
    /// derived from the store: open keeps what it holds of a verified prefix (the root check
    /// vouches for it) and rewrites the rest.
    pub tree_leaves: TreeLeaves,
}

impl LogConfig {
    /// Every signature checked on open, leaf hashes in memory.
    pub fn new(log_key: LogSigningKey) -> LogConfig {
        LogConfig { log_key, verify_signatures_on_open: true, verified_prefix: None, tree_leaves: TreeLeaves::Memory }
    }
}

/// A prefix of the log that was fully verified before: its size, its root then, and each
/// stream's head (next revision, last event hash) at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPrefix {
    pub tree_size: u64,
    pub root_hash: Hash256,
    pub stream_heads: Vec<(String, u64, Hash256)>,
}

/// One event as the log recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendedEvent {
    pub event_id: EventId,
    pub stream: String,
    pub stream_revision: u64,
    /// Index of the event in the global log: its Merkle leaf index.
    pub leaf_index: u64,
    pub event_hash: Hash256,
    pub recorded_at_unix_ms: u64,
    /// False when this was an idempotent retry of an event already in the log.
    pub newly_appended: bool,
}

/// An author part whose signature passed the ledger's check (FORMAT.md §2.2). Only this type's
/// constructors make one, so holding one proves the check ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAuthorPart(SignedAuthorPart);

impl VerifiedAuthorPart {
    pub fn verify(signed: SignedAuthorPart) -> Result<VerifiedAuthorPart, EnvelopeError> {
        signed.verify_signature()?;
        Ok(VerifiedAuthorPart(signed))
    }

    /// Checks the signatures of several independent appends in one batch, which costs about a
    /// third per signature of checking each alone. Each append gets its own answer: all its
    /// parts verified, or the index of its first bad signature. The batch check accepts exactly
    /// what one-by-one checks accept, so batching never changes an answer.
    pub fn verify_appends(
        appends: Vec<Vec<(SignedAuthorPart, AuthorKey)>>,
    ) -> Vec<Result<Vec<VerifiedAuthorPart>, usize>> {
        fn checks(append: &[(SignedAuthorPart, AuthorKey)]) -> Result<Vec<SignatureCheck<'_>>, usize> {
            append
                .iter()
                .enumerate()
                .map(|(index, (signed, key))| signed.signature_check(key).map_err(|_| index))
                .collect()
        }
        fn verified(append: Vec<(SignedAuthorPart, AuthorKey)>) -> Vec<VerifiedAuthorPart> {
            append.into_iter().map(|(signed, _)| VerifiedAuthorPart(signed)).collect()
        }
        let all_valid = {
            let mut all = Vec::with_capacity(appends.iter().map(Vec::len).sum());
            let mut keys_match = true;
            for append in &appends {
                match checks(append) {
                    Ok(append_checks) => all.extend(append_checks),
                    Err(_) => keys_match = false,
                }
            }
            keys_match && signature::verify_batch(&all).is_ok()
        };
        if all_valid {
            return appends.into_iter().map(|append| Ok(verified(append))).collect();
        }
        // Some append holds a bad signature: check each append on its own.
        appends
            .into_iter()
            .map(|append| {
                let answer = checks(&append).and_then(|c| signature::verify_batch(&c).map_err(|(index, _)| index));
                answer.map(|()| verified(append))
            })
            .collect()
    }

    pub fn signed(&self) -> &SignedAuthorPart {
        &self.0
    }
}

impl Borrow<SignedAuthorPart> for VerifiedAuthorPart {
    fn borrow(&self) -> &SignedAuthorPart {
        &self.0
    }
}

/// An event read back from the log.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub leaf_index: u64,
    pub envelope: Envelope,
    pub event_hash: Hash256,
}

#[derive(Debug)]
struct LogState {
    tree: CompactMerkleTree<LogLeaves>,
    /// The store position of each leaf.
    positions: LeafPositions,
    /// Next revision and last hash of every stream.
    chain: StreamChainChecker,
    /// The latest recording time of the events followed (see
    /// [`TransparencyLog::last_recorded_at_unix_ms`]).
    last_recorded_at_unix_ms: u64,
}

/// Where each leaf is in the store.
#[derive(Debug)]
enum LeafPositions {
    /// Leaf `i` is at position `i` (stores whose positions are dense): nothing to keep.
    Dense,
    /// Each leaf's position, for stores whose positions skip (8 bytes an event).
    Listed(Vec<LogPosition>),
}

impl LogState {
    fn size(&self) -> u64 {
        self.tree.size()
    }

    fn position_of(&self, leaf_index: u64) -> Option<LogPosition> {
        if leaf_index >= self.size() {
            return None;
        }
        match &self.positions {
            LeafPositions::Dense => Some(LogPosition(leaf_index)),
            LeafPositions::Listed(positions) => positions.get(leaf_index as usize).copied(),
        }
    }

    fn leaf_of(&self, position: LogPosition) -> Option<u64> {
        match &self.positions {
            LeafPositions::Dense => (position.0 < self.size()).then_some(position.0),
            LeafPositions::Listed(positions) => positions.binary_search(&position).ok().map(|i| i as u64),
        }
    }

    fn last_position(&self) -> Option<LogPosition> {
        self.size().checked_sub(1).and_then(|last| self.position_of(last))
    }
}

/// The transparency log over a store. Share it behind an `Arc`.
#[derive(Debug)]
pub struct TransparencyLog {
    store: Arc<dyn EventStore>,
    config: LogConfig,
    state: RwLock<LogState>,
    /// Serialises following the store, so leaves are pushed once and in order.
    catch_up_lock: tokio::sync::Mutex<()>,
    /// Envelopes this log appended, with their event hashes, by store position: the latest
    /// [`RECENT_EVENTS_MAX`], followed or not yet. Only for stores with dense positions, where a
    /// position says which event precedes it. These are the exact bytes the store acknowledged.
    recent: Mutex<std::collections::BTreeMap<u64, (Envelope, Hash256)>>,
    /// Signalled when an append hands over its envelopes and when leaves are pushed.
    recent_changed: tokio::sync::Notify,
    /// The latest published checkpoint: signed, and kept by the store.
    latest_checkpoint: Mutex<Option<SignedCheckpoint>>,
    /// Held while a checkpoint is signed and saved, so publications never interleave.
    publishing: tokio::sync::Mutex<()>,
    /// The heads trees of the latest checkpoints (FORMAT.md §4.1), by tree size, newest last:
    /// slices prove stream heads against the checkpoint they are served with.
    heads_trees: Mutex<std::collections::VecDeque<(u64, Arc<HeadsTree>)>>,
    /// The tree size, for tasks that wait for the log to grow.
    size_watch: tokio::sync::watch::Sender<u64>,
    /// Set when the log found corruption while running; it then refuses all work.
    failure: Mutex<Option<LogError>>,
}

/// Events from which following the store parses and hashes on several threads: opening a
/// large log is then bound by the disk, not by one core's SHA-256.
const PARALLEL_PARSE_EVENTS_MIN: usize = 512;

/// Parses each stored event's envelope, checks it against the store's id, stream and revision,
/// and computes its event hash; in parallel for large batches.
fn parse_and_hash(
    batch: Vec<klero_store::RecordedEvent>,
    first_leaf: u64,
) -> Result<Vec<(LogPosition, Envelope, Hash256)>, LogError> {
    fn one(
        leaf_index: u64,
        recorded: klero_store::RecordedEvent,
    ) -> Result<(LogPosition, Envelope, Hash256), LogError> {
        let corrupt = |reason: String| LogError::Corrupt { leaf_index, position: recorded.position.0, reason };
        let (position, stream, revision, id) =
            (recorded.position, recorded.stream, recorded.stream_revision, recorded.event_id);
        let envelope = Envelope::parse(recorded.data).map_err(|e| corrupt(format!("envelope does not parse: {e}")))?;
        if envelope.author().event_id != id
            || envelope.author().stream != stream
            || envelope.ledger().stream_revision != revision
        {
            return Err(corrupt("envelope disagrees with the store's id, stream or revision".into()));
        }
        let hash = envelope.event_hash();
        Ok((position, envelope, hash))
    }
    let threads = if batch.len() >= PARALLEL_PARSE_EVENTS_MIN { klero_ledger::parallel::cores() } else { 1 };
    if threads == 1 {
        return batch.into_iter().zip(first_leaf..).map(|(recorded, leaf)| one(leaf, recorded)).collect();
    }
    let chunk = batch.len().div_ceil(threads);
    let mut chunks: Vec<Vec<klero_store::RecordedEvent>> = Vec::with_capacity(threads);
    let mut rest = batch;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let results: Vec<Result<Vec<_>, LogError>> = std::thread::scope(|scope| {
        let mut start = first_leaf;
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let from = start;
                start += chunk.len() as u64;
                scope.spawn(move || chunk.into_iter().zip(from..).map(|(recorded, leaf)| one(leaf, recorded)).collect())
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("a parsing thread panicked")).collect()
    });
    let mut parsed = Vec::new();
    for result in results {
        parsed.extend(result?);
    }
    Ok(parsed)
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
fn mutex<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

impl TransparencyLog {
    /// Opens the log: replays and checks the store, then checks the last signed checkpoint.
    pub async fn open(store: Arc<dyn EventStore>, config: LogConfig) -> Result<TransparencyLog, LogError> {
        let dense = store.positions_are_dense();
        // Leaves of a verified prefix that the file still holds are taken up (the root check
        // vouches for them); on a store without dense positions the tree also needs each
        // leaf's position, so everything is read again.
        let prefix_leaves = match &config.verified_prefix {
            Some(prefix) if dense => prefix.tree_size,
            _ => 0,
        };
        let tree = match &config.tree_leaves {
            TreeLeaves::Memory => CompactMerkleTree::new(LogLeaves::Memory(MemoryLeaves::default())),
            TreeLeaves::File(path) => {
                let file = FileLeaves::open(path.clone(), prefix_leaves)?;
                let held = file.written;
                CompactMerkleTree::load(LogLeaves::File(file), held)?
            }
        };
        let positions = if dense { LeafPositions::Dense } else { LeafPositions::Listed(Vec::new()) };
        let chain = match &config.verified_prefix {
            Some(prefix) => StreamChainChecker::from_heads(prefix.stream_heads.clone()),
            None => StreamChainChecker::new(),
        };
        let initial_size = tree.size();
        let state = LogState { tree, positions, chain, last_recorded_at_unix_ms: 0 };
        let log = TransparencyLog {
            store,
            config,
            state: RwLock::new(state),
            catch_up_lock: tokio::sync::Mutex::new(()),
            recent: Mutex::new(std::collections::BTreeMap::new()),
            recent_changed: tokio::sync::Notify::new(),
            latest_checkpoint: Mutex::new(None),
            publishing: tokio::sync::Mutex::new(()),
            heads_trees: Mutex::new(std::collections::VecDeque::new()),
            size_watch: tokio::sync::watch::Sender::new(initial_size),
            failure: Mutex::new(None),
        };
        if initial_size > 0 && log.store.last_position().await?.is_none_or(|last| last.0 + 1 < initial_size) {
            return Err(LogError::VerifiedPrefixDiffers {
                tree_size: initial_size,
                reason: "the store holds fewer events than the leaf file".into(),
            });
        }
        log.catch_up(log.config.verify_signatures_on_open).await?;
        if let Some(prefix) = &log.config.verified_prefix {
            // catch_up checked the root when it passed the prefix; a log shorter than the
            // prefix never passed it.
            if log.size() < prefix.tree_size {
                return Err(LogError::VerifiedPrefixDiffers {
                    tree_size: prefix.tree_size,
                    reason: format!("the log holds only {} events", log.size()),
                });
            }
        }
        // The clock never steps back from the log's last event, whether or not a snapshot's
        // prefix was followed event by event.
        if let Some(last) = log.size().checked_sub(1) {
            let recorded = log.event_at(last).await?.ledger().recorded_at_unix_ms;
            let mut state = write_lock(&log.state);
            state.last_recorded_at_unix_ms = state.last_recorded_at_unix_ms.max(recorded);
        }
        if let Some(note) = log.store.load_checkpoint().await? {
            let note = String::from_utf8(note).map_err(|_| LogError::CheckpointNotHeld {
                checkpoint_size: 0,
                log_size: log.size(),
                reason: "the kept checkpoint is not UTF-8 text".into(),
            })?;
            let signed = log.verifier_key().verify(&note)?;
            log.check_checkpoint_is_held(signed.checkpoint())?;
            *mutex(&log.latest_checkpoint) = Some(signed);
        }
        Ok(log)
    }

    /// Fails unless the log holds exactly the tree `checkpoint` describes as its prefix.
    pub fn check_checkpoint_is_held(&self, checkpoint: &Checkpoint) -> Result<(), LogError> {
        let state = read_lock(&self.state);
        let log_size = state.size();
        if checkpoint.tree_size > log_size {
            return Err(LogError::CheckpointNotHeld {
                checkpoint_size: checkpoint.tree_size,
                log_size,
                reason: "the checkpoint covers more events than the log holds".into(),
            });
        }
        let root = state.tree.root_at(checkpoint.tree_size)?;
        if root != checkpoint.root_hash {
            return Err(LogError::CheckpointNotHeld {
                checkpoint_size: checkpoint.tree_size,
                log_size,
                reason: format!("the log's root at that size is {root}, the checkpoint's is {}", checkpoint.root_hash),
            });
        }
        Ok(())
    }

    pub fn verifier_key(&self) -> LogVerifierKey {
        self.config.log_key.verifier()
    }

    /// Signs a record of the server's own state with the log key, domain-separated from
    /// checkpoints (klero-ledger `SERVER_STATE_DOMAIN`).
    pub fn sign_server_state(&self, message: &[u8]) -> [u8; 64] {
        self.config.log_key.sign_server_state(message)
    }

    /// Number of events in the log (the Merkle tree size).
    pub fn size(&self) -> u64 {
        read_lock(&self.state).size()
    }

    /// The Merkle root of the whole log.
    pub fn root(&self) -> Result<Hash256, LogError> {
        Ok(read_lock(&self.state).tree.root()?)
    }

    /// Writes the leaf hashes the tree holds in memory to its leaf file, so that the next open
    /// finds them. Called before a snapshot is taken.
    pub fn flush_tree_leaves(&self) -> Result<(), LogError> {
        let mut state = write_lock(&self.state);
        if let LogLeaves::File(file) = state.tree.storage_mut() {
            file.flush().map_err(|reason| StoreError::Unavailable { reason })?;
        }
        Ok(())
    }

    /// Each stream's head: its next revision and the hash of its last event.
    /// The latest recording time of the events the log holds (0 when empty). The application
    /// records no new event earlier, so a view's "now" never steps back when the clock does.
    pub fn last_recorded_at_unix_ms(&self) -> u64 {
        read_lock(&self.state).last_recorded_at_unix_ms
    }

    pub fn stream_heads(&self) -> Vec<(String, u64, Hash256)> {
        read_lock(&self.state).chain.heads()
    }

    /// Bytes the tree holds in memory: about 2 an event when its leaves are in a file.
    pub fn tree_resident_bytes(&self) -> usize {
        read_lock(&self.state).tree.resident_bytes()
    }

    /// The Merkle root of the first `size` events.
    pub fn root_at(&self, size: u64) -> Result<Hash256, LogError> {
        Ok(read_lock(&self.state).tree.root_at(size)?)
    }

    /// Next revision and last event hash of `stream` as far as the log has followed the store.
    pub fn stream_head(&self, stream: &str) -> (u64, Hash256) {
        read_lock(&self.state).chain.head(stream)
    }

    fn check_failure(&self) -> Result<(), LogError> {
        match &*mutex(&self.failure) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// Why a log operation failed; the variant says how the caller should react.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The request is malformed. Fix it; do not retry as is.
    #[error("invalid argument {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// The envelope bytes break a format rule.
    #[error("invalid event: {0}")]
    Envelope(#[from] EnvelopeError),
    /// An author signature does not verify. Nothing was appended.
    #[error("signature of event {index} ({event_id}) does not verify against its author key")]
    BadSignature { index: usize, event_id: EventId },
    /// The stream is not at the expected revision. Re-read, decide again, retry.
    #[error("stream {stream} is at {}, expected {expected}", actual.map_or("no stream".to_string(), |r| format!("revision {r}")))]
    Conflict { stream: String, expected: ExpectedRevision, actual: Option<u64> },
    /// The event id is taken by different content.
    #[error("duplicate event id {event_id}: {reason}")]
    DuplicateEventId { event_id: EventId, reason: String },
    /// The log's bytes fail a check: stop and investigate; never skip.
    #[error("corrupt log at index {leaf_index} (store position {position}): {reason}")]
    Corrupt { leaf_index: u64, position: u64, reason: String },
    /// The last signed checkpoint is not a prefix of what the store holds: history was lost
    /// or rewritten.
    #[error("the signed checkpoint of size {checkpoint_size} is not held by the log of size {log_size}: {reason}")]
    CheckpointNotHeld { checkpoint_size: u64, log_size: u64, reason: String },
    /// The stored events do not give the root a prefix verified before had: they changed, or
    /// the record of that verification belongs to another history. Open again and verify the
    /// whole log.
    #[error("the prefix of {tree_size} events verified before no longer holds: {reason}")]
    VerifiedPrefixDiffers { tree_size: u64, reason: String },
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
