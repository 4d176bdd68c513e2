//! Snapshots: what the server derived from a prefix of the log (the fold), signed with the log
//! key and bound to the prefix's size and root, so that a restart takes the fold up instead of
//! folding the whole log again, and checks only the signatures of what came after.
//!
//! On start, the log still reads and hashes every stored event and checks every chain, and
//! the prefix's recomputed root must equal the snapshot's: the bytes are exactly those that
//! were verified in full before. Anything that does not match (a tampered or foreign snapshot,
//! another history) is refused, and the server verifies the whole log instead. A snapshot only
//! saves work: losing one costs a longer start, never a fact.
//!
//! Bytes (FORMAT.md §6): `u8 version = 2 | u64 tree_size | root_hash[32] | signature[64] | fold`,
//! where `signature` is the log key's server-state signature over
//! `u64 tree_size | root_hash | SHA-256(fold)` and `fold` is the fold's JSON.

use klero_fold::LogFold;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::Hash256;

/// 2 since the inputs are kept once, in the domain state (FORMAT.md §6.1).
const SNAPSHOT_VERSION: u8 = 2;
const HEADER_BYTES: usize = 1 + 8 + 32 + 64;

/// When the server writes a snapshot.
#[derive(Clone, Debug)]
pub struct SnapshotPolicy {
    /// Write one whenever the fold has moved this many events past the last (or a quarter of
    /// the log, when that is more: see `write_snapshots`); and always on a clean stop. Zero
    /// writes none.
    pub events: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        // A snapshot costs a serialisation of the fold (bounded by assemblies) and two fsyncs;
        // after a crash, at most this many events are verified in full again.
        SnapshotPolicy { events: 100_000 }
    }
}

/// How much of the log the server verifies when it opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenVerification {
    /// Take up the latest valid snapshot: hash every event and check every chain, check the
    /// snapshot's root, and verify in full only the events after it.
    #[default]
    FromSnapshot,
    /// Verify every signature and fold every event again, whatever snapshot there is.
    Full,
}

/// A snapshot taken up on start.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) tree_size: u64,
    pub(crate) root_hash: Hash256,
    pub(crate) fold: LogFold,
}

pub(crate) fn signed_message(tree_size: u64, root_hash: &Hash256, fold: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(8 + 32 + 32);
    message.extend_from_slice(&tree_size.to_be_bytes());
    message.extend_from_slice(&root_hash.0);
    message.extend_from_slice(&Hash256::of(fold).0);
    message
}

/// A snapshot's bytes with room for its header and the fold written after it, in one buffer
/// of at least `capacity` bytes: the fold is serialised in place and the header filled in
/// afterwards by [`fill_header`], so a snapshot of hundreds of megabytes is never copied.
pub(crate) fn with_fold(fold: &LogFold, capacity: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(capacity.max(HEADER_BYTES));
    bytes.resize(HEADER_BYTES, 0);
    fold.write_snapshot(&mut bytes);
    bytes
}

/// The fold's bytes within a snapshot from [`with_fold`].
pub(crate) fn fold_bytes(snapshot: &[u8]) -> &[u8] {
    &snapshot[HEADER_BYTES..]
}

/// Fills in the header of a snapshot from [`with_fold`], which covers the prefix of
/// `tree_size` events whose root is `root_hash`; `signature` is the log key's over
/// [`signed_message`].
pub(crate) fn fill_header(snapshot: &mut [u8], signature: [u8; 64], tree_size: u64, root_hash: &Hash256) {
    let header = &mut snapshot[..HEADER_BYTES];
    header[0] = SNAPSHOT_VERSION;
    header[1..9].copy_from_slice(&tree_size.to_be_bytes());
    header[9..41].copy_from_slice(&root_hash.0);
    header[41..].copy_from_slice(&signature);
}

/// A snapshot from its bytes, if this log's key signed it and its fold parses.
pub(crate) fn decode(key: &LogVerifierKey, bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < HEADER_BYTES {
        return Err("shorter than a snapshot header".into());
    }
    if bytes[0] != SNAPSHOT_VERSION {
        return Err(format!("version {} is not {SNAPSHOT_VERSION}", bytes[0]));
    }
    let tree_size = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
    let root_hash = Hash256(bytes[9..41].try_into().expect("32 bytes"));
    let signature: [u8; 64] = bytes[41..105].try_into().expect("64 bytes");
    let fold_bytes = &bytes[HEADER_BYTES..];
    if !key.verify_server_state(&signed_message(tree_size, &root_hash, fold_bytes), &signature) {
        return Err("the log key did not sign it".into());
    }
    let fold = LogFold::from_snapshot(fold_bytes)?;
    if fold.next_log_index() != tree_size {
        return Err(format!("its fold covers {} events, not {tree_size}", fold.next_log_index()));
    }
    Ok(Snapshot { tree_size, root_hash, fold })
}
