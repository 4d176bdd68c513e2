//! Snapshots: what the server derived from a prefix of the log (the fold), signed with the log
//! key and bound to the prefix's size and root, so that a restart takes the fold up instead of
//! folding the whole log again, and checks only the signatures of what came after.
//!
//! On start, the log rebuilds its tree over the prefix (from its leaf file, or by reading and
//! hashing every stored event when that is lost), and the prefix's recomputed root must equal
//! the snapshot's: the bytes are exactly those that were verified in full before. The log
//! does this while the snapshot's rows are taken up ([`open`], then [`Opened::take_up_rows`]).
//! Anything that does not match (a tampered or foreign snapshot, rows that are not the ones
//! signed, another history) is refused, and the server verifies the whole log instead. A
//! snapshot only saves work: losing one costs a longer start, never a fact.
//!
//! Bytes (FORMAT.md §6.1): `u8 version = 2 | u64 tree_size | root_hash[32] | signature[64] |
//! u8 tables | tables × (u64 row_bytes | rows_sha256[32]) | text`, where `text` is the fold's
//! JSON without the domain's tables, whose rows the store keeps beside the snapshot
//! (`EventStore::keep_snapshot_rows`), and `signature` is the log key's server-state
//! signature over [`signed_message`].

use klero_domain::spill::SpillFiles;
use klero_domain::TableName;
use klero_fold::LogFold;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::Hash256;
use klero_store::{EventStore, StoreError};
use sha2::Digest;
use std::sync::Arc;

/// 2 since the inputs are kept once, in the domain state, and the domain's tables are rows
/// kept beside the snapshot (FORMAT.md §6.1).
const SNAPSHOT_VERSION: u8 = 2;
const HEADER_BYTES: usize = 1 + 8 + 32 + 64;
const TABLE_BYTES: usize = 8 + 32;
/// Rows are read back in pieces of about this many bytes.
const ROWS_READ_BYTES: u64 = 16 * 1024 * 1024;

/// What of each table's rows the store keeps, as far as this server wrote or read them: how
/// many rows and bytes, and the SHA-256 of those bytes so far (a running hash, so that a
/// snapshot hashes only the rows added since the last).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeptRows {
    tables: [KeptTable; TableName::ALL.len()],
}

#[derive(Clone, Debug, Default)]
struct KeptTable {
    bytes: u64,
    hasher: sha2::Sha256,
}

fn index(table: TableName) -> usize {
    TableName::ALL.iter().position(|t| *t == table).expect("every table is in ALL")
}

impl KeptRows {
    /// How many whole rows of `table` are kept.
    pub(crate) fn rows(&self, table: TableName) -> u32 {
        (self.offset(table) / klero_domain::EventTables::row_bytes(table) as u64) as u32
    }

    /// Notes that `bytes` were kept after the ones before.
    pub(crate) fn kept(&mut self, table: TableName, bytes: &[u8]) {
        let kept = &mut self.tables[index(table)];
        kept.bytes += bytes.len() as u64;
        kept.hasher.update(bytes);
    }

    /// The byte offset at which `table`'s next rows go.
    pub(crate) fn offset(&self, table: TableName) -> u64 {
        self.tables[index(table)].bytes
    }

    /// Each table's kept length and SHA-256, in [`TableName::ALL`]'s order.
    fn digests(&self) -> Vec<(u64, Hash256)> {
        self.tables.iter().map(|t| (t.bytes, Hash256(t.hasher.clone().finalize().into()))).collect()
    }
}

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
    pub(crate) fold: LogFold,
    pub(crate) kept: KeptRows,
}

/// A snapshot whose signature holds and whose text parsed, before its tables' rows are taken
/// up ([`Opened::take_up_rows`]): what it says of the log is known, and the log can be opened
/// from it while the rows are read.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) tree_size: u64,
    pub(crate) root_hash: Hash256,
    pub(crate) fold: LogFold,
    heads: klero_domain::TableHeads,
    /// Each table's signed length and SHA-256, in [`TableName::ALL`]'s order.
    tables: Vec<(u64, Hash256)>,
}

/// What the log key signs: `u64 tree_size | root_hash | SHA-256(text) | u8 tables |
/// tables × (u64 row_bytes | rows_sha256)`.
pub(crate) fn signed_message(tree_size: u64, root_hash: &Hash256, text: &[u8], tables: &[(u64, Hash256)]) -> Vec<u8> {
    let mut message = Vec::with_capacity(8 + 32 + 32 + 1 + tables.len() * TABLE_BYTES);
    message.extend_from_slice(&tree_size.to_be_bytes());
    message.extend_from_slice(&root_hash.0);
    message.extend_from_slice(&Hash256::of(text).0);
    message.push(tables.len() as u8);
    for (bytes, sha256) in tables {
        message.extend_from_slice(&bytes.to_be_bytes());
        message.extend_from_slice(&sha256.0);
    }
    message
}

/// A snapshot's bytes: the header for `text`, whose tables' rows `kept` describes, signed by
/// `sign` over [`signed_message`].
pub(crate) fn encode(
    tree_size: u64,
    root_hash: &Hash256,
    text: &[u8],
    kept: &KeptRows,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Vec<u8> {
    let tables = kept.digests();
    let signature = sign(&signed_message(tree_size, root_hash, text, &tables));
    let mut bytes = Vec::with_capacity(HEADER_BYTES + 1 + tables.len() * TABLE_BYTES + text.len());
    bytes.push(SNAPSHOT_VERSION);
    bytes.extend_from_slice(&tree_size.to_be_bytes());
    bytes.extend_from_slice(&root_hash.0);
    bytes.extend_from_slice(&signature);
    bytes.push(tables.len() as u8);
    for (length, sha256) in &tables {
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&sha256.0);
    }
    bytes.extend_from_slice(text);
    bytes
}

/// A snapshot from its bytes, if this log's key signed it and its fold parses; its tables'
/// rows are taken up next ([`Opened::take_up_rows`]).
pub(crate) fn open(
    key: &LogVerifierKey,
    bytes: &[u8],
    store: &dyn EventStore,
    spill: Option<Arc<dyn SpillFiles>>,
) -> Result<Opened, String> {
    let tables_at = HEADER_BYTES + 1;
    if bytes.len() < tables_at {
        return Err("shorter than a snapshot header".into());
    }
    if bytes[0] != SNAPSHOT_VERSION {
        return Err(format!("version {} is not {SNAPSHOT_VERSION}", bytes[0]));
    }
    let tree_size = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
    let root_hash = Hash256(bytes[9..41].try_into().expect("32 bytes"));
    let signature: [u8; 64] = bytes[41..105].try_into().expect("64 bytes");
    let count = bytes[HEADER_BYTES] as usize;
    if count != TableName::ALL.len() || bytes.len() < tables_at + count * TABLE_BYTES {
        return Err(format!("it names {count} tables, not {}", TableName::ALL.len()));
    }
    let tables: Vec<(u64, Hash256)> = bytes[tables_at..tables_at + count * TABLE_BYTES]
        .chunks_exact(TABLE_BYTES)
        .map(|t| {
            (u64::from_be_bytes(t[..8].try_into().expect("8 bytes")), Hash256(t[8..].try_into().expect("32 bytes")))
        })
        .collect();
    let text = &bytes[tables_at + count * TABLE_BYTES..];
    if !key.verify_server_state(&signed_message(tree_size, &root_hash, text, &tables), &signature) {
        return Err("the log key did not sign it".into());
    }
    let spill = spill.map(|files| SpillBesideKeptRows::over(files, store));
    let (fold, heads) = LogFold::from_snapshot_text(text, spill)?;
    for (table, (length, _)) in TableName::ALL.into_iter().zip(&tables) {
        if LogFold::kept_length(&heads, table) != *length {
            return Err(format!("its text counts other rows of {} than its header", table.as_str()));
        }
    }
    Ok(Opened { tree_size, root_hash, fold, heads, tables })
}

impl Opened {
    /// The snapshot, once the rows the store keeps beside it are taken up, if they are the
    /// ones it signed.
    pub(crate) async fn take_up_rows(self, store: &dyn EventStore) -> Result<Snapshot, String> {
        let Opened { tree_size, mut fold, heads, tables, .. } = self;
        let mut kept = KeptRows::default();
        for (table, (length, sha256)) in TableName::ALL.into_iter().zip(&tables) {
            // Piece by piece, so that a start never holds a whole table twice.
            let piece = (ROWS_READ_BYTES / klero_domain::EventTables::row_bytes(table) as u64).max(1)
                * klero_domain::EventTables::row_bytes(table) as u64;
            while kept.offset(table) < *length {
                let offset = kept.offset(table);
                let bytes = store
                    .load_snapshot_rows(table.as_str(), offset, piece.min(length - offset))
                    .await
                    .map_err(|e: StoreError| e.to_string())?;
                if bytes.is_empty() {
                    return Err(format!("the store keeps {offset} bytes of {} rows, not {length}", table.as_str()));
                }
                // The piece is hashed on a second thread while the tables take it up: the
                // SHA-256 of 850 MB of rows was a twentieth of a start at 10 million events.
                let (taken_up, ()) =
                    klero_ledger::parallel::join(|| fold.take_up_rows(table, &bytes), || kept.kept(table, &bytes));
                taken_up?;
            }
            if kept.digests()[index(table)].1 != *sha256 {
                return Err(format!("the kept {} rows are not the ones signed", table.as_str()));
            }
        }
        fold.check_table_heads(&heads)?;
        if fold.next_log_index() != tree_size {
            return Err(format!("its fold covers {} events, not {tree_size}", fold.next_log_index()));
        }
        Ok(Snapshot { tree_size, fold, kept })
    }
}

/// The server's spill files, with the store's files of kept rows to read in place: the tables
/// taken up from a snapshot then read their older rows where the store keeps them, rather than
/// copying them to scratch files (`klero_domain::spill::SpillFiles::kept_rows`). The rows
/// read there are the ones hashed against the signed snapshot as they were taken up, and this
/// server writes rows only after them (`KeptRows` goes on from the snapshot's length).
#[derive(Debug)]
struct SpillBesideKeptRows {
    files: Arc<dyn SpillFiles>,
    kept: Vec<(TableName, Arc<dyn klero_store::KeptRowsFile>)>,
}

impl SpillBesideKeptRows {
    fn over(files: Arc<dyn SpillFiles>, store: &dyn EventStore) -> Arc<dyn SpillFiles> {
        let kept: Vec<_> = TableName::ALL
            .into_iter()
            .filter_map(|table| Some((table, store.kept_rows_file(table.as_str())?)))
            .collect();
        match kept.is_empty() {
            true => files,
            false => Arc::new(SpillBesideKeptRows { files, kept }),
        }
    }
}

impl SpillFiles for SpillBesideKeptRows {
    fn create(&self) -> std::io::Result<Box<dyn klero_domain::spill::SpillFile>> {
        self.files.create()
    }

    fn rows_in_memory(&self) -> u32 {
        self.files.rows_in_memory()
    }

    fn kept_rows(&self, table: TableName) -> Option<Box<dyn klero_domain::spill::SpillFile>> {
        let (_, file) = self.kept.iter().find(|(kept, _)| *kept == table)?;
        Some(Box::new(KeptRowsInPlace(file.clone())))
    }
}

/// A file of kept rows, read only.
#[derive(Debug)]
struct KeptRowsInPlace(Arc<dyn klero_store::KeptRowsFile>);

impl klero_domain::spill::SpillFile for KeptRowsInPlace {
    fn write_all_at(&self, _: &[u8], _: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("the store's kept rows are read in place, never written"))
    }

    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.0.read_exact_at(buffer, offset)
    }
}
