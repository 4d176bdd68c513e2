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

/// Where the log's tree keeps its leaf hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeLeaves {
    /// In memory: 32 bytes an event, for tests and short-lived tools.
    Memory,
    /// In this file: memory then holds about 2 bytes an event.
    File(PathBuf),
}

/// The tree's leaf storage, as configured.
#[derive(Debug)]
enum LogLeaves {
    Memory(MemoryLeaves),
    File(FileLeaves),
}

impl LeafStorage for LogLeaves {
    fn append_block(&mut self, start: u64, leaves: &[Hash256]) -> Result<(), String> {
        match self {
            LogLeaves::Memory(memory) => memory.append_block(start, leaves),
            LogLeaves::File(file) => file.append_block(start, leaves),
        }
    }
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        match self {
            LogLeaves::Memory(memory) => memory.read_leaves(start, out),
            LogLeaves::File(file) => file.read_leaves(start, out),
        }
    }
}

/// Leaf hashes in a flat file: leaf `i` at byte `32·i`. Derived from the store and rebuilt on
/// every open, so it is written without fsync; the page cache serves the reads. Blocks are
/// written [`LEAF_WRITE_BYTES`] at a time; the ones not written yet are read from memory.
#[derive(Debug)]
pub struct FileLeaves {
    path: PathBuf,
    file: std::fs::File,
    /// Leaves in the file.
    written: u64,
    /// Leaves from `written` on, not in the file yet.
    pending: Vec<u8>,
}

/// Bytes of leaf hashes written to the file at once.
const LEAF_WRITE_BYTES: usize = 64 * 1024;

impl FileLeaves {
    /// Opens (or creates) the file and keeps at most its first `keep_leaves` leaves, in whole
    /// blocks; the rest is cut off, to be written again.
    pub fn open(path: PathBuf, keep_leaves: u64) -> Result<FileLeaves, StoreError> {
        let unavailable = |what: &'static str, e: std::io::Error| StoreError::Io(IoFailure::new(what, &path, &e));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| unavailable("creating the directory of", e))?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| unavailable("opening", e))?;
        let held = file.metadata().map_err(|e| unavailable("reading the length of", e))?.len() / 32;
        let kept = held.min(keep_leaves);
        let kept = kept - kept % klero_ledger::merkle::LEAVES_PER_BLOCK;
        file.set_len(kept * 32).map_err(|e| unavailable("cutting", e))?;
        Ok(FileLeaves { path, file, written: kept, pending: Vec::with_capacity(LEAF_WRITE_BYTES) })
    }

    /// Writes the leaves held in memory, so that the next open finds them.
    pub fn flush(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&self.pending, self.written * 32)
            .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        self.written += (self.pending.len() / 32) as u64;
        self.pending.clear();
        Ok(())
    }
}

impl LeafStorage for FileLeaves {
    fn append_block(&mut self, start: u64, leaves: &[Hash256]) -> Result<(), String> {
        let expected = self.written + (self.pending.len() / 32) as u64;
        if start != expected {
            return Err(format!("block at leaf {start} arrived after {expected} leaves"));
        }
        for leaf in leaves {
            self.pending.extend_from_slice(&leaf.0);
        }
        if self.pending.len() >= LEAF_WRITE_BYTES {
            self.flush()?;
        }
        Ok(())
    }
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        let end = start + out.len() as u64;
        let from_file = end.min(self.written).saturating_sub(start) as usize;
        if from_file > 0 {
            let mut bytes = vec![0u8; from_file * 32];
            self.file
                .read_exact_at(&mut bytes, start * 32)
                .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
            for (leaf, chunk) in out.iter_mut().zip(bytes.chunks_exact(32)) {
                leaf.0.copy_from_slice(chunk);
            }
        }
        for (slot, index) in out[from_file..].iter_mut().zip(start.max(self.written)..end) {
            let at = ((index - self.written) * 32) as usize;
            let bytes = self.pending.get(at..at + 32).ok_or_else(|| format!("leaf {index} was never stored"))?;
            slot.0.copy_from_slice(bytes);
        }
        Ok(())
    }
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

    /// [`VerifiedAuthorPart::verify`] with the author's key already checked and decompressed.
    pub fn verify_with_key(signed: SignedAuthorPart, key: &AuthorKey) -> Result<VerifiedAuthorPart, EnvelopeError> {
        signed.verify_signature_with(key)?;
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
    let threads = if batch.len() >= PARALLEL_PARSE_EVENTS_MIN { cores() } else { 1 };
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

/// Cores to parse on, asked of the system once (it reads cgroup files on every call).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
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

    /// Follows the store to its end, checking and adding every new event.
    async fn catch_up(&self, verify_signatures: bool) -> Result<(), LogError> {
        self.catch_up_until(verify_signatures, None).await
    }

    /// Follows the store to its end: events another writer of the same store appended join the
    /// tree, after the same envelope and chain checks as on open.
    pub async fn follow_store(&self) -> Result<(), LogError> {
        self.check_failure()?;
        self.catch_up(false).await
    }

    /// The tree size, changing as the log grows.
    pub fn size_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.size_watch.subscribe()
    }

    /// Follows the store to its end, or only as far as `until` (included), which spares reading
    /// back later appends that their own tasks are about to hand over.
    async fn catch_up_until(&self, verify_signatures: bool, until: Option<LogPosition>) -> Result<(), LogError> {
        let _guard = self.catch_up_lock.lock().await;
        loop {
            let last = read_lock(&self.state).last_position();
            if until.is_some_and(|until| last.is_some_and(|last| last >= until)) {
                return Ok(());
            }
            let from = last.map_or(LogPosition::START, |p| LogPosition(p.0 + 1));
            if self.push_recent_from(from)? {
                continue;
            }
            let count = match until {
                Some(until) if self.store.positions_are_dense() => {
                    (until.0.saturating_sub(from.0) + 1).min(CATCH_UP_BATCH_EVENTS as u64) as usize
                }
                _ => CATCH_UP_BATCH_EVENTS,
            };
            let batch = self.store.read_all(from, count).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let first_leaf = read_lock(&self.state).size();
            let envelopes = parse_and_hash(batch, first_leaf)?;
            // Signatures of a prefix verified before are not checked again: its root is, below.
            let verified_before = match &self.config.verified_prefix {
                Some(prefix) => (prefix.tree_size.saturating_sub(first_leaf) as usize).min(envelopes.len()),
                None => 0,
            };
            if verify_signatures && verified_before < envelopes.len() {
                let only: Vec<Envelope> = envelopes[verified_before..].iter().map(|(_, e, _)| e.clone()).collect();
                verify_signatures_batch(&only).map_err(|e| LogError::Corrupt {
                    leaf_index: first_leaf + (verified_before + e.index) as u64,
                    position: envelopes[verified_before + e.index].0 .0,
                    reason: format!("author signature does not verify: {e}"),
                })?;
            }
            self.push_leaves(envelopes.iter().map(|(position, envelope, hash)| (*position, envelope, *hash)))?;
            if let Some(prefix) = &self.config.verified_prefix {
                let size = self.size();
                if first_leaf < prefix.tree_size && size >= prefix.tree_size {
                    let root = self.root_at(prefix.tree_size)?;
                    if root != prefix.root_hash {
                        return Err(LogError::VerifiedPrefixDiffers {
                            tree_size: prefix.tree_size,
                            reason: format!("the stored events give root {root}, not {}", prefix.root_hash),
                        });
                    }
                }
            }
        }
    }

    /// Adds events at the end of the tree, in order, checking each stream's chain. A break is
    /// corruption: the log then refuses all work.
    fn push_leaves<'e>(
        &self,
        events: impl Iterator<Item = (LogPosition, &'e Envelope, Hash256)>,
    ) -> Result<(), LogError> {
        let pushed = self.push_leaves_locked(events);
        self.leaves_pushed();
        pushed
    }

    /// Wakes whoever waits for the tree to grow.
    fn leaves_pushed(&self) {
        self.recent_changed.notify_waiters();
        let size = self.size();
        self.size_watch.send_if_modified(|published| {
            let grew = *published < size;
            *published = size;
            grew
        });
    }

    fn push_leaves_locked<'e>(
        &self,
        events: impl Iterator<Item = (LogPosition, &'e Envelope, Hash256)>,
    ) -> Result<(), LogError> {
        let mut state = write_lock(&self.state);
        for (position, envelope, hash) in events {
            let leaf_index = state.size();
            let corrupt = |reason: String| LogError::Corrupt { leaf_index, position: position.0, reason };
            let dense_out_of_step = matches!(state.positions, LeafPositions::Dense) && position.0 != leaf_index;
            if dense_out_of_step {
                let error = corrupt(format!("the store's dense position {} is not leaf {leaf_index}", position.0));
                *mutex(&self.failure) = Some(error.clone());
                return Err(error);
            }
            // A verified prefix's chains were checked before; the heads it names stand for them,
            // and the root check at its end vouches for its bytes.
            let in_verified_prefix = self.config.verified_prefix.as_ref().is_some_and(|p| leaf_index < p.tree_size);
            if !in_verified_prefix {
                if let Err(error) = state.chain.check_next(envelope, hash) {
                    let error = corrupt(error.to_string());
                    *mutex(&self.failure) = Some(error.clone());
                    return Err(error);
                }
            }
            // The leaf file is derived: a failure to write it is unavailability, not corruption.
            state.tree.push_entry(&hash).map_err(|e| StoreError::Unavailable { reason: e.to_string() })?;
            if let LeafPositions::Listed(positions) = &mut state.positions {
                positions.push(position);
                assert_eq!(positions.len() as u64, state.tree.size(), "one position for every leaf");
            }
            state.last_recorded_at_unix_ms = state.last_recorded_at_unix_ms.max(envelope.ledger().recorded_at_unix_ms);
            // Paired with the chain check above: the head now names this very event.
            let head = state.chain.head(&envelope.author().stream);
            assert!(
                in_verified_prefix || head == (envelope.ledger().stream_revision + 1, hash),
                "the chain head of {} does not name the event just pushed at leaf {leaf_index}",
                envelope.author().stream
            );
        }
        Ok(())
    }

    /// Pushes the envelopes this log appended at `from` and the positions right after it, if
    /// it holds the one at `from`; whether it did.
    fn push_recent_from(&self, from: LogPosition) -> Result<bool, LogError> {
        let pushed = {
            let recent = mutex(&self.recent);
            let mut run = recent
                .range(from.0..)
                .zip(from.0..)
                .take_while(|((position, _), expected)| **position == *expected)
                .take(CATCH_UP_BATCH_EVENTS)
                .map(|((position, (envelope, hash)), _)| (LogPosition(*position), envelope, *hash))
                .peekable();
            if run.peek().is_none() {
                return Ok(false);
            }
            // Lock order: `recent`, then `state`; nothing takes them the other way round.
            self.push_leaves_locked(run)
        };
        self.leaves_pushed();
        pushed.map(|()| true)
    }

    /// Keeps what an append just wrote, dropping the oldest beyond [`RECENT_EVENTS_MAX`].
    fn keep_recent(&self, first_position: LogPosition, envelopes: Vec<(Envelope, Hash256)>) {
        {
            let mut recent = mutex(&self.recent);
            for (offset, envelope) in envelopes.into_iter().enumerate() {
                recent.insert(first_position.0 + offset as u64, envelope);
            }
            while recent.len() > RECENT_EVENTS_MAX {
                recent.pop_first();
            }
        }
        self.recent_changed.notify_waiters();
    }

    /// Appends one signed event. See [`TransparencyLog::append_batch`].
    pub async fn append(
        &self,
        event: SignedAuthorPart,
        expected: ExpectedRevision,
        now_unix_ms: u64,
    ) -> Result<AppendedEvent, LogError> {
        let stream = event.author().stream.clone();
        let mut appended = self.append_batch(&stream, expected, vec![event], now_unix_ms).await?;
        appended.pop().ok_or(LogError::InvalidArgument { field: "events", reason: "no event".into() })
    }

    /// Appends signed events to one stream atomically, after checking every signature.
    ///
    /// `expected` is the author's view of the stream, as in the store port. A retry of events
    /// already in the log returns their original results, if the author parts are identical.
    pub async fn append_batch(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<SignedAuthorPart>,
        now_unix_ms: u64,
    ) -> Result<Vec<AppendedEvent>, LogError> {
        self.check_failure()?;
        if events.is_empty() {
            return Err(LogError::InvalidArgument {
                field: "events",
                reason: "an append needs at least one event".into(),
            });
        }
        let mut verified = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let event_id = event.author().event_id;
            verified.push(VerifiedAuthorPart::verify(event).map_err(|_| LogError::BadSignature { index, event_id })?);
        }
        self.append_verified(stream, expected, &verified, now_unix_ms).await
    }

    /// [`TransparencyLog::append_batch`] for events whose signatures the caller has already
    /// checked (in parallel, say); the type proves the check happened.
    pub async fn append_verified(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[VerifiedAuthorPart],
        now_unix_ms: u64,
    ) -> Result<Vec<AppendedEvent>, LogError> {
        self.check_failure()?;
        if events.is_empty() {
            return Err(LogError::InvalidArgument {
                field: "events",
                reason: "an append needs at least one event".into(),
            });
        }
        for (index, event) in events.iter().map(VerifiedAuthorPart::signed).enumerate() {
            if event.author().stream != stream {
                return Err(LogError::InvalidArgument {
                    field: "stream",
                    reason: format!("event {index} is signed for stream {}, not {stream}", event.author().stream),
                });
            }
        }
        if let Some(replayed) = self.replay_if_present(events).await? {
            return Ok(replayed);
        }
        for _attempt in 0..APPEND_ATTEMPTS_MAX {
            let (next_revision, mut previous_hash) = self.stream_head(stream);
            let current = next_revision.checked_sub(1);
            if !expected.holds(current) {
                // Our view may lag the store; only a fresh view can refuse the append.
                self.catch_up(false).await?;
                let current = self.stream_head(stream).0.checked_sub(1);
                if !expected.holds(current) {
                    return Err(LogError::Conflict { stream: stream.to_string(), expected, actual: current });
                }
                continue;
            }
            let keep_envelopes = self.store.positions_are_dense();
            let mut data = Vec::with_capacity(events.len());
            let mut sealed = Vec::with_capacity(events.len());
            let mut envelopes = Vec::new();
            for (offset, event) in events.iter().map(VerifiedAuthorPart::signed).enumerate() {
                let ledger = LedgerPart {
                    stream_revision: next_revision + offset as u64,
                    previous_event_hash: previous_hash,
                    recorded_at_unix_ms: now_unix_ms,
                };
                let envelope = Envelope::seal(event, ledger);
                previous_hash = envelope.event_hash();
                sealed.push((ledger.stream_revision, previous_hash, now_unix_ms));
                let bytes = if keep_envelopes {
                    let bytes = envelope.bytes().to_vec();
                    envelopes.push((envelope, previous_hash));
                    bytes
                } else {
                    envelope.into_bytes()
                };
                data.push(EventData {
                    event_id: event.author().event_id,
                    event_type: event.author().event_type.clone(),
                    data: bytes,
                });
            }
            let store_expected = match current {
                None => ExpectedRevision::NoStream,
                Some(revision) => ExpectedRevision::Exact(revision),
            };
            match self.store.append(stream, store_expected, data).await {
                Ok(result) => {
                    if keep_envelopes {
                        self.keep_recent(result.first_position, envelopes);
                    }
                    self.catch_up_to(result.last_position).await?;
                    let first_leaf = self.followed_leaf_of(result.first_position).await?;
                    return Ok(self.results_for(events, first_leaf, sealed));
                }
                Err(StoreError::WrongExpectedRevision { .. }) => {
                    self.catch_up(false).await?;
                    continue;
                }
                Err(StoreError::DuplicateEventId { event_id, reason }) => {
                    // A concurrent retry of the same events won the race; answer as it did.
                    self.catch_up(false).await?;
                    if let Some(replayed) = self.replay_if_present(events).await? {
                        return Ok(replayed);
                    }
                    return Err(LogError::DuplicateEventId { event_id, reason });
                }
                Err(error) => return Err(error.into()),
            }
        }
        let actual = self.stream_head(stream).0.checked_sub(1);
        Err(LogError::Conflict { stream: stream.to_string(), expected, actual })
    }

    /// Follows the store at least to `position`, the end of an append this log just made.
    async fn catch_up_to(&self, position: LogPosition) -> Result<(), LogError> {
        let gave_up_at = tokio::time::Instant::now() + PREDECESSOR_WAIT;
        loop {
            let changed = self.recent_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = {
                let state = read_lock(&self.state);
                match state.last_position() {
                    Some(last) if last >= position => return Ok(()),
                    Some(last) => LogPosition(last.0 + 1),
                    None => LogPosition::START,
                }
            };
            // With dense positions, the events between the tree and this append belong to
            // appends acknowledged in the same commit, whose tasks are about to hand their
            // envelopes over. Waiting a moment for them is cheaper than reading them back.
            let predecessor_is_coming = self.store.positions_are_dense()
                && !mutex(&self.recent).contains_key(&next.0)
                && tokio::time::Instant::now() < gave_up_at;
            if !predecessor_is_coming || tokio::time::timeout_at(gave_up_at, changed).await.is_err() {
                return self.catch_up_until(false, Some(position)).await;
            }
        }
    }

    /// If every event is already in the log with identical author bytes, their original results;
    /// `None` if none is; an error if some are, or if an id is taken by different content. The
    /// store keeps every event id for the life of the log, so this asks it.
    pub async fn replay_if_present<E: Borrow<SignedAuthorPart>>(
        &self,
        events: &[E],
    ) -> Result<Option<Vec<AppendedEvent>>, LogError> {
        let events: Vec<&SignedAuthorPart> = events.iter().map(Borrow::borrow).collect();
        let ids: Vec<EventId> = events.iter().map(|event| event.author().event_id).collect();
        let stored = self.store.read_events_by_id(&ids).await?;
        // The replay rule (docs/API.md): a batch whose events are all recorded, with the same
        // bytes, is a retry and gets the original results, whether it is the whole original
        // batch, a prefix of it or any subset. A batch mixing recorded and new events is
        // refused, naming the first recorded one, so no part of it is appended twice or alone.
        let Some(first_recorded) = stored.iter().position(Option::is_some) else { return Ok(None) };
        if stored.iter().any(Option::is_none) {
            return Err(LogError::DuplicateEventId {
                event_id: events[first_recorded].author().event_id,
                reason: format!(
                    "events[{first_recorded}] is already recorded but other events of this batch are not; \
                     a retry must hold only recorded events (resend the original batch), new events go in a new batch"
                ),
            });
        }
        let mut results = Vec::with_capacity(events.len());
        // Every entry is Some here, so flattening keeps them in step with `events`.
        for (index, (event, recorded)) in events.iter().zip(stored.into_iter().flatten()).enumerate() {
            let leaf_index = self.followed_leaf_of(recorded.position).await?;
            let envelope = self.event_at(leaf_index).await?;
            if envelope.signed_author_part() != **event {
                return Err(LogError::DuplicateEventId {
                    event_id: event.author().event_id,
                    reason: format!(
                        "events[{index}] is already recorded at log index {leaf_index} with different content"
                    ),
                });
            }
            results.push(AppendedEvent {
                event_id: event.author().event_id,
                stream: event.author().stream.clone(),
                stream_revision: envelope.ledger().stream_revision,
                leaf_index,
                event_hash: envelope.event_hash(),
                recorded_at_unix_ms: envelope.ledger().recorded_at_unix_ms,
                newly_appended: false,
            });
        }
        Ok(Some(results))
    }

    /// The leaf index of the event at a store position, following the store that far first if
    /// the event was acknowledged but has not joined the tree yet.
    async fn followed_leaf_of(&self, position: LogPosition) -> Result<u64, LogError> {
        if let Some(leaf_index) = self.leaf_index_of(position) {
            return Ok(leaf_index);
        }
        self.catch_up(false).await?;
        self.leaf_index_of(position).ok_or(LogError::Store(StoreError::Unavailable {
            reason: "the log is still following the store; retry".into(),
        }))
    }

    /// The results of events just appended from `first_leaf` on, with `recorded` (revision,
    /// hash, recording time) for each. An append is one unit in the store's order, so its events
    /// are consecutive leaves.
    fn results_for<E: Borrow<SignedAuthorPart>>(
        &self,
        events: &[E],
        first_leaf: u64,
        recorded: Vec<(u64, Hash256, u64)>,
    ) -> Vec<AppendedEvent> {
        events
            .iter()
            .map(Borrow::borrow)
            .zip(first_leaf..)
            .zip(recorded)
            .map(|((event, leaf_index), (stream_revision, event_hash, recorded_at_unix_ms))| AppendedEvent {
                event_id: event.author().event_id,
                stream: event.author().stream.clone(),
                stream_revision,
                leaf_index,
                event_hash,
                recorded_at_unix_ms,
                newly_appended: true,
            })
            .collect()
    }

    /// The envelope at `leaf_index`, checked against the Merkle tree on the way out.
    pub async fn event_at(&self, leaf_index: u64) -> Result<Envelope, LogError> {
        let (position, leaf) = {
            let state = read_lock(&self.state);
            let position = state
                .position_of(leaf_index)
                .ok_or(LogError::Proof(ProofError::IndexBeyondSize { index: leaf_index, size: state.size() }))?;
            (position, state.tree.leaf(leaf_index)?)
        };
        let mut events = self.store.read_all(position, 1).await?;
        let recorded = events.pop().ok_or(LogError::Corrupt {
            leaf_index,
            position: position.0,
            reason: "event missing from the store".into(),
        })?;
        let hash = event_hash_of_envelope_bytes(&recorded.data);
        if klero_ledger::merkle::leaf_hash(&hash.0) != leaf {
            return Err(LogError::Corrupt {
                leaf_index,
                position: position.0,
                reason: "stored bytes no longer match the Merkle leaf".into(),
            });
        }
        Envelope::parse(recorded.data).map_err(|e| LogError::Corrupt {
            leaf_index,
            position: position.0,
            reason: e.to_string(),
        })
    }

    /// Up to `max_count` events from `from_leaf` on, each checked against its Merkle leaf.
    pub async fn events_from(&self, from_leaf: u64, max_count: usize) -> Result<Vec<LoggedEvent>, LogError> {
        let (position, available) = {
            let state = read_lock(&self.state);
            match state.position_of(from_leaf) {
                Some(position) => (position, state.size() - from_leaf),
                None => return Ok(Vec::new()),
            }
        };
        let count = (available as usize).min(max_count);
        if let Some(recent) = self.recent_leaves(from_leaf, count) {
            return Ok(recent);
        }
        let recorded = self.store.read_all(position, count).await?;
        let state = read_lock(&self.state);
        let leaves = state.tree.leaves(from_leaf, recorded.len() as u64)?;
        let mut events = Vec::with_capacity(recorded.len());
        for ((offset, recorded), leaf) in recorded.into_iter().enumerate().zip(leaves) {
            let leaf_index = from_leaf + offset as u64;
            let corrupt = |reason: String| LogError::Corrupt { leaf_index, position: recorded.position.0, reason };
            if state.position_of(leaf_index) != Some(recorded.position) {
                return Err(corrupt("the store's order differs from the log's".into()));
            }
            let event_hash = event_hash_of_envelope_bytes(&recorded.data);
            if leaf != klero_ledger::merkle::leaf_hash(&event_hash.0) {
                return Err(corrupt("stored bytes no longer match the Merkle leaf".into()));
            }
            let envelope = Envelope::parse(recorded.data).map_err(|e| corrupt(e.to_string()))?;
            events.push(LoggedEvent { leaf_index, envelope, event_hash });
        }
        Ok(events)
    }

    /// Up to `max_count` events of one stream, from `start` in `direction`, each checked as
    /// every served event is: its bytes against its Merkle leaf, and its envelope against the
    /// store's stream and revision.
    pub async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<LoggedEvent>, LogError> {
        self.check_failure()?;
        let recorded = self.store.read_stream(stream, start, direction, max_count).await?;
        let mut events = Vec::with_capacity(recorded.len());
        for recorded in recorded {
            // An event the store acknowledged may not have joined the tree yet.
            let leaf_index = self.followed_leaf_of(recorded.position).await?;
            let corrupt =
                |reason: &str| LogError::Corrupt { leaf_index, position: recorded.position.0, reason: reason.into() };
            let event_hash = event_hash_of_envelope_bytes(&recorded.data);
            if read_lock(&self.state).tree.leaf(leaf_index)? != klero_ledger::merkle::leaf_hash(&event_hash.0) {
                return Err(corrupt("stored bytes no longer match the Merkle leaf"));
            }
            let envelope = Envelope::parse(recorded.data).map_err(|e| corrupt(&e.to_string()))?;
            if envelope.author().stream != recorded.stream
                || envelope.ledger().stream_revision != recorded.stream_revision
            {
                return Err(corrupt("envelope disagrees with the store's stream or revision"));
            }
            events.push(LoggedEvent { leaf_index, envelope, event_hash });
        }
        Ok(events)
    }

    /// Leaves `from_leaf..from_leaf + count` from the envelopes this log appended, if it still
    /// holds every one of them.
    fn recent_leaves(&self, from_leaf: u64, count: usize) -> Option<Vec<LoggedEvent>> {
        let positions: Vec<LogPosition> = {
            let state = read_lock(&self.state);
            (from_leaf..from_leaf + count as u64).map(|leaf| state.position_of(leaf)).collect::<Option<_>>()?
        };
        let recent = mutex(&self.recent);
        positions
            .iter()
            .zip(from_leaf..)
            .map(|(position, leaf_index)| {
                let (envelope, event_hash) = recent.get(&position.0)?;
                Some(LoggedEvent { leaf_index, envelope: envelope.clone(), event_hash: *event_hash })
            })
            .collect()
    }

    /// The leaf index of the event at a store position, if the log has followed that far.
    pub fn leaf_index_of(&self, position: LogPosition) -> Option<u64> {
        read_lock(&self.state).leaf_of(position)
    }

    /// The store position of a leaf, for following the store from there.
    pub fn store_position(&self, leaf_index: u64) -> Option<LogPosition> {
        read_lock(&self.state).position_of(leaf_index)
    }

    /// The latest published checkpoint: signed, and kept by the store. `None` before the first.
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        mutex(&self.latest_checkpoint).clone()
    }

    /// Signs a checkpoint of the current tree, has the store keep it durably, and only then
    /// makes it the latest; returns the latest unchanged if the tree has not grown. The
    /// application's one checkpoint publisher is the only caller, and calls never interleave.
    pub async fn publish_checkpoint(&self) -> Result<SignedCheckpoint, LogError> {
        self.check_failure()?;
        let _publishing = self.publishing.lock().await;
        let (checkpoint, heads) = {
            let state = read_lock(&self.state);
            let heads = state.chain.heads_tree();
            let checkpoint = Checkpoint {
                origin: self.config.log_key.name().to_string(),
                tree_size: state.size(),
                root_hash: state.tree.root()?,
                stream_heads: Some(heads.commitment()),
            };
            (checkpoint, heads)
        };
        self.keep_heads_tree(checkpoint.tree_size, Arc::new(heads));
        if let Some(latest) = self.latest_checkpoint() {
            // The tree only grows, and one publisher at a time sees it: never sign backwards.
            assert!(
                latest.checkpoint().tree_size <= checkpoint.tree_size,
                "the tree shrank from {} to {} events",
                latest.checkpoint().tree_size,
                checkpoint.tree_size
            );
            if latest.checkpoint() == &checkpoint {
                return Ok(latest);
            }
        }
        let signed = self.config.log_key.sign(&checkpoint)?;
        self.store.save_checkpoint(signed.note().as_bytes()).await?;
        *mutex(&self.latest_checkpoint) = Some(signed.clone());
        Ok(signed)
    }

    /// Keeps a checkpoint's heads tree for the slices served with it.
    fn keep_heads_tree(&self, tree_size: u64, heads: Arc<HeadsTree>) {
        let mut kept = mutex(&self.heads_trees);
        if kept.iter().any(|(size, _)| *size == tree_size) {
            return;
        }
        kept.push_back((tree_size, heads));
        kept.make_contiguous().sort_by_key(|(size, _)| *size);
        while kept.len() > HEADS_TREES_KEPT {
            kept.pop_front();
        }
    }

    /// Every stream's head after the first `tree_size` events (FORMAT.md §4.1): kept for recent
    /// checkpoints, otherwise rebuilt from the current heads by walking back over the events
    /// after `tree_size` (each names its stream's previous head).
    pub async fn heads_tree_at(&self, tree_size: u64) -> Result<Arc<HeadsTree>, LogError> {
        if let Some((_, heads)) = mutex(&self.heads_trees).iter().find(|(size, _)| *size == tree_size) {
            return Ok(heads.clone());
        }
        let (size, mut heads) = {
            let state = read_lock(&self.state);
            let heads: HashMap<String, (u64, Hash256)> =
                state.chain.heads().into_iter().map(|(stream, next, last)| (stream, (next, last))).collect();
            (state.size(), heads)
        };
        if tree_size > size {
            return Err(LogError::InvalidArgument {
                field: "tree_size",
                reason: format!("the log holds {size} events, fewer than {tree_size}"),
            });
        }
        if size - tree_size > HEADS_REWIND_EVENTS_MAX {
            return Err(LogError::InvalidArgument {
                field: "tree_size",
                reason: format!(
                    "the heads at {tree_size} are {} events behind the log's {size}; at most {HEADS_REWIND_EVENTS_MAX} are walked back",
                    size - tree_size
                ),
            });
        }
        let mut end = size;
        while end > tree_size {
            let start = end.saturating_sub(READ_EVENTS_MAX as u64).max(tree_size);
            let events = self.events_from(start, (end - start) as usize).await?;
            for event in events.iter().rev() {
                let ledger = event.envelope.ledger();
                let stream = &event.envelope.author().stream;
                if ledger.stream_revision == 0 {
                    heads.remove(stream);
                } else {
                    heads.insert(stream.clone(), (ledger.stream_revision, ledger.previous_event_hash));
                }
            }
            end = start;
        }
        let tree = Arc::new(HeadsTree::build(heads.into_iter().map(|(stream, (next, last))| StreamHead {
            stream,
            revision: next - 1,
            head_hash: last,
        })));
        self.keep_heads_tree(tree_size, tree.clone());
        Ok(tree)
    }

    /// One proof of the leaves at `indices` (strictly increasing) in the tree of `tree_size`
    /// leaves (FORMAT.md §3.1).
    pub fn batch_inclusion_proof(&self, indices: &[u64], tree_size: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.batch_inclusion_proof(indices, tree_size)?)
    }

    /// The hashes of `count` complete subtrees of `2^height` leaves from subtree `first`: what
    /// a tlog tile holds. The tree keeps them as it grows, so this reads; it never rehashes.
    pub fn subtree_hashes(&self, height: u32, first: u64, count: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.subtree_hashes(height, first, count)?)
    }

    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.inclusion_proof(leaf_index, tree_size)?)
    }

    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.consistency_proof(old_size, new_size)?)
    }

    /// An offline proof bundle for one event against `checkpoint`, which must cover it.
    pub async fn proof_bundle(&self, leaf_index: u64, checkpoint: &SignedCheckpoint) -> Result<ProofBundle, LogError> {
        let size = checkpoint.checkpoint().tree_size;
        let envelope = self.event_at(leaf_index).await?;
        Ok(ProofBundle {
            leaf_index,
            envelope: envelope.into_bytes(),
            inclusion_proof: self.inclusion_proof(leaf_index, size)?,
            checkpoint_note: checkpoint.note().to_string(),
        })
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
