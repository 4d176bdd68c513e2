//! The tables that grow with the log, one row an event: every input of every assembly (the
//! evidence and public submissions that recommendations and responses cite) and every event
//! that holds erasable personal content.
//!
//! A log of millions of submissions is mostly such rows, so how they are kept decides the
//! server's memory. Each table is fixed-size rows packed in chunks, with indexes of row numbers
//! (8 bytes a slot: the row and half its key's hash): a row costs its bytes and a few more,
//! where a map of 32-byte keys to structs cost several times that. The tables live in [`crate::DomainState`], outside the assemblies' own
//! state, so that deciding a batch never copies them: what a batch adds, nothing later in the
//! batch can name (its events' hashes are not known yet).

use crate::events::{DomainEvent, InputKind, SubmissionContent};
use crate::spill::{KeyRuns, SpillFiles, SpilledRows};
use crate::types::AssemblyId;
use hashbrown::HashTable;
use klero_ledger::hash::KeyedPrefixState;
use klero_ledger::records::FixedRecord;
use klero_ledger::Hash256;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::sync::Arc;

/// Row numbers by their key's 64-bit hash. Each slot keeps the hash's upper half beside its
/// row, so that growing the index never reads a row again: at a million inputs, re-reading
/// every key from the chunks on each doubling was a third of what adding an input cost, as
/// those reads land anywhere in memory. A lookup reads only the rows whose half matches.
#[derive(Debug, Default)]
struct RowIndex {
    slots: HashTable<RowSlot>,
}

#[derive(Clone, Copy, Debug)]
struct RowSlot {
    row: u32,
    tag: u32,
}

impl RowIndex {
    fn tag(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The table's own hash of a slot, from its tag alone. An odd multiplier maps the 32 bits
    /// one to one onto 64: a probe's start (the low bits) depends on the tag's low bits, and
    /// the control byte (the top 7) on all of them.
    fn spread(tag: u32) -> u64 {
        u64::from(tag).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Adds a row whose key is in no other slot.
    fn insert_unique(&mut self, hash: u64, row: u32) {
        let tag = Self::tag(hash);
        self.slots.insert_unique(Self::spread(tag), RowSlot { row, tag }, |slot| Self::spread(slot.tag));
    }

    /// The row with this key's `hash` for which `is_key` holds.
    fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = Self::tag(hash);
        self.slots.find(Self::spread(tag), |slot| slot.tag == tag && is_key(slot.row)).map(|slot| slot.row)
    }

    fn find_mut(&mut self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<&mut u32> {
        let tag = Self::tag(hash);
        self.slots.find_mut(Self::spread(tag), |slot| slot.tag == tag && is_key(slot.row)).map(|slot| &mut slot.row)
    }

    fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.slots.retain(|slot| keep(slot.row));
    }

    fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().map(|slot| slot.row)
    }
}

/// A fixed-size record keyed by the 32-byte hash at byte `KEY_AT` of its encoding.
pub trait KeyedRow: FixedRecord + Copy {
    const KEY_AT: usize;
}

/// Rows by assembly and by key; row numbers are `u32`, so a table holds at most 2³² − 1 rows.
/// In memory a row is its assembly's ordinal (4 bytes, big-endian) and then its record.
/// With spill files ([`KeyedRows::spill_to`]), only the newest rows stay in memory: the older
/// ones are in a file of rows, found by key through sorted runs ([`crate::spill`]).
#[derive(Debug)]
struct KeyedRows<R> {
    /// Each assembly with a row, and its ordinal.
    ordinals: BTreeMap<AssemblyId, u32>,
    /// By ordinal: the assembly's id and its row numbers, in the order they came.
    assemblies: Vec<(AssemblyId, Vec<u32>)>,
    /// Rows `first_in_memory..len`, in chunks; the rows before are in `spilled`.
    chunks: Vec<Box<[u8]>>,
    /// A multiple of [`CHUNK_ROWS`] whenever a row is in memory.
    first_in_memory: u32,
    len: u32,
    /// The rows in memory, by key.
    by_key: RowIndex,
    hasher: KeyedPrefixState,
    spilled: Option<Spilled>,
    /// While taking kept rows up: the rows before this one go straight to the spill files
    /// (see [`KeyedRows::take_up_spilled`]). A multiple of [`CHUNK_ROWS`].
    spill_directly_until: u32,
    row: PhantomData<R>,
}

/// The rows of a table that left memory, and their keys.
#[derive(Debug)]
struct Spilled {
    files: Arc<dyn SpillFiles>,
    rows: SpilledRows,
    by_key: KeyRuns,
}

impl<R> Default for KeyedRows<R> {
    fn default() -> Self {
        KeyedRows {
            ordinals: BTreeMap::new(),
            assemblies: Vec::new(),
            chunks: Vec::new(),
            first_in_memory: 0,
            len: 0,
            by_key: RowIndex::default(),
            hasher: KeyedPrefixState::default(),
            spilled: None,
            spill_directly_until: 0,
            row: PhantomData,
        }
    }
}

/// Rows live in chunks of this many, so a table grows without copying or doubling, and
/// leaves memory a chunk at a time.
const CHUNK_ROWS: usize = 1024;

/// The longest row a table has, for reading one back onto the stack.
const MAX_ROW_BYTES: usize = 96;

impl<R: KeyedRow> KeyedRows<R> {
    const ROW_BYTES: usize = 4 + R::LEN;

    /// A row in memory: its bytes within the chunks that start at row `first`.
    fn in_memory(chunks: &[Box<[u8]>], first: u32, row: u32) -> &[u8] {
        let row = (row - first) as usize;
        let offset = (row % CHUNK_ROWS) * Self::ROW_BYTES;
        &chunks[row / CHUNK_ROWS][offset..offset + Self::ROW_BYTES]
    }

    fn key_in_memory(chunks: &[Box<[u8]>], first: u32, row: u32) -> &[u8] {
        &Self::in_memory(chunks, first, row)[4 + R::KEY_AT..4 + R::KEY_AT + 32]
    }

    fn hash(hasher: &KeyedPrefixState, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }

    /// Calls `read` with a row's bytes (its ordinal, then its record), wherever it is.
    fn with_row<T>(&self, row: u32, read: impl FnOnce(&[u8]) -> T) -> T {
        if row >= self.first_in_memory {
            return read(Self::in_memory(&self.chunks, self.first_in_memory, row));
        }
        let mut bytes = [0u8; MAX_ROW_BYTES];
        let spilled = self.spilled.as_ref().expect("rows before the first in memory were spilled");
        spilled.rows.read(row, &mut bytes[..Self::ROW_BYTES]);
        read(&bytes[..Self::ROW_BYTES])
    }

    fn get(&self, row: u32) -> (u32, R) {
        self.with_row(row, |bytes| {
            let ordinal = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
            (ordinal, R::read(&bytes[4..]).expect("rows are written by push"))
        })
    }

    fn find_in_memory(&self, key: &[u8]) -> Option<u32> {
        let (chunks, first) = (&self.chunks, self.first_in_memory);
        self.by_key.find(Self::hash(&self.hasher, key), |r| Self::key_in_memory(chunks, first, r) == key)
    }

    fn find(&self, key: &Hash256) -> Option<u32> {
        if let Some(row) = self.find_in_memory(&key.0) {
            return Some(row);
        }
        let hash = Self::hash(&self.hasher, &key.0);
        let spilled = self.spilled.as_ref()?;
        spilled.by_key.rows(hash).into_iter().find(|&row| self.with_row(row, |bytes| Self::key_of(bytes) == key.0))
    }

    fn key_of(row: &[u8]) -> &[u8] {
        &row[4 + R::KEY_AT..4 + R::KEY_AT + 32]
    }

    /// `assembly`'s ordinal, given it if it has none yet.
    fn ordinal(&mut self, assembly: &AssemblyId) -> u32 {
        match self.ordinals.get(assembly) {
            Some(ordinal) => *ordinal,
            None => {
                let ordinal = self.assemblies.len() as u32;
                self.ordinals.insert(assembly.clone(), ordinal);
                self.assemblies.push((assembly.clone(), Vec::new()));
                ordinal
            }
        }
    }

    /// Adds a row of the assembly with this ordinal, whose key no row has yet. Returns its
    /// number.
    fn push(&mut self, ordinal: u32, record: &R) -> u32 {
        let row = self.len;
        if (row as usize).is_multiple_of(CHUNK_ROWS) {
            self.chunks.push(vec![0u8; CHUNK_ROWS * Self::ROW_BYTES].into_boxed_slice());
        }
        let mut bytes = Vec::with_capacity(Self::ROW_BYTES);
        bytes.extend_from_slice(&ordinal.to_be_bytes());
        record.write(&mut bytes);
        let start = ((row - self.first_in_memory) as usize % CHUNK_ROWS) * Self::ROW_BYTES;
        self.chunks.last_mut().expect("a chunk")[start..start + Self::ROW_BYTES].copy_from_slice(&bytes);
        self.len = row.checked_add(1).expect("at most 2^32 - 1 rows");
        self.assemblies[ordinal as usize].1.push(row);
        self.by_key.insert_unique(Self::hash(&self.hasher, Self::key_of(&bytes)), row);
        row
    }

    fn settle(&mut self) {
        if let Some(spilled) = self.spilled.as_mut() {
            spilled.by_key.settle();
        }
    }

    /// Spills rows to files from now on, a chunk at a time.
    fn spill_to(&mut self, files: Arc<dyn SpillFiles>) {
        if self.spilled.is_none() && self.first_in_memory == 0 {
            let rows = SpilledRows::new(&*files, Self::ROW_BYTES);
            self.spilled = Some(Spilled { by_key: KeyRuns::new(files.clone()), rows, files });
        }
    }

    /// Moves every whole chunk to the spill files once enough rows are in memory, calling
    /// `leaving` with each row that leaves. Returns whether rows left.
    fn spill_if_due(&mut self, mut leaving: impl FnMut(u32, &R)) -> bool {
        let Some(spilled) = self.spilled.as_mut() else { return false };
        if self.len - self.first_in_memory < spilled.files.rows_in_memory().max(CHUNK_ROWS as u32) {
            return false;
        }
        let whole = (self.len - self.first_in_memory) as usize / CHUNK_ROWS;
        let mut keys = Vec::with_capacity(whole * CHUNK_ROWS);
        for (index, chunk) in self.chunks.drain(..whole).enumerate() {
            spilled.rows.append(&chunk);
            for (within, bytes) in chunk.chunks_exact(Self::ROW_BYTES).enumerate() {
                let row = self.first_in_memory + (index * CHUNK_ROWS + within) as u32;
                keys.push((Self::hash(&self.hasher, Self::key_of(bytes)), row));
                leaving(row, &R::read(&bytes[4..]).expect("rows are written by push"));
            }
        }
        spilled.by_key.add(keys);
        self.first_in_memory += (whole * CHUNK_ROWS) as u32;
        debug_assert_eq!(spilled.rows.rows(), self.first_in_memory);
        let first = self.first_in_memory;
        self.by_key.retain(|row| row >= first);
        true
    }

    fn rows_of(&self, assembly: &AssemblyId) -> &[u32] {
        self.ordinals.get(assembly).map_or(&[], |&o| self.assemblies[o as usize].1.as_slice())
    }

    /// The row with this key, if it is one of `assembly`'s.
    fn of_assembly_by_key(&self, assembly: &AssemblyId, key: &Hash256) -> Option<R> {
        let (ordinal, record) = self.get(self.find(key)?);
        (self.assemblies[ordinal as usize].0 == *assembly).then_some(record)
    }

    fn iter(&self) -> impl Iterator<Item = (&AssemblyId, R)> + '_ {
        self.assemblies.iter().flat_map(move |(id, rows)| rows.iter().map(move |&row| (id, self.get(row).1)))
    }

    /// Whether no two rows share a key. Rows in memory were checked as they came (see
    /// [`EventTables::take_up`]); spilled rows are checked by a pass over their runs in key
    /// order, where only rows that share a fingerprint are read, and each row in memory
    /// against the runs.
    fn check_keys_unique(&self) -> Result<(), String> {
        let Some(spilled) = self.spilled.as_ref() else { return Ok(()) };
        let key_of_row =
            |row: u32| -> [u8; 32] { self.with_row(row, |bytes| Self::key_of(bytes).try_into().expect("32")) };
        for (_, rows) in spilled.by_key.groups().filter(|(_, rows)| rows.len() > 1) {
            let mut keys: Vec<[u8; 32]> = rows.iter().map(|&row| key_of_row(row)).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|pair| pair[0] == pair[1]) {
                return Err(format!("a key is in the table twice (among rows {rows:?})"));
            }
        }
        for row in self.first_in_memory..self.len {
            let key = key_of_row(row);
            if let Some(earlier) =
                spilled.by_key.rows(Self::hash(&self.hasher, &key)).into_iter().find(|&r| key_of_row(r) == key)
            {
                return Err(format!("row {row}'s key is row {earlier}'s too"));
            }
        }
        Ok(())
    }
}

/// What a snapshot's own text holds of a table: its assemblies, by ordinal, and how many rows
/// it has. The rows themselves are kept beside the snapshot (FORMAT.md §6.1), as
/// [`KeyedRows::kept_bytes`] gives them, so that a snapshot costs the rows added since the last.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableHead {
    pub assemblies: Vec<AssemblyId>,
    pub rows: u32,
}

impl<R: KeyedRow> KeyedRows<R> {
    fn head(&self) -> TableHead {
        TableHead { assemblies: self.assemblies.iter().map(|(id, _)| id.clone()).collect(), rows: self.len }
    }

    /// Rows `from..to` (`to` at most the length) as kept beside snapshots: each its assembly's
    /// ordinal (4 bytes, big-endian) and its record, in the order they were added.
    fn kept_bytes(&self, from: u32, to: u32) -> Vec<u8> {
        let to = to.min(self.len);
        let mut bytes = Vec::with_capacity(to.saturating_sub(from) as usize * Self::ROW_BYTES);
        if from < self.first_in_memory.min(to) {
            let spilled = self.spilled.as_ref().expect("rows before the first in memory were spilled");
            spilled.rows.read_range(from, self.first_in_memory.min(to), &mut bytes);
        }
        let mut row = from.max(self.first_in_memory) as usize;
        while row < to as usize {
            let within_memory = row - self.first_in_memory as usize;
            let (chunk, within) = (within_memory / CHUNK_ROWS, within_memory % CHUNK_ROWS);
            let take = (CHUNK_ROWS - within).min(to as usize - row);
            bytes.extend_from_slice(&self.chunks[chunk][within * Self::ROW_BYTES..(within + take) * Self::ROW_BYTES]);
            row += take;
        }
        bytes
    }

    /// An empty table with `head`'s assemblies, to which kept rows are added.
    fn from_head(head: &TableHead) -> Result<KeyedRows<R>, String> {
        let mut rows = KeyedRows::default();
        for id in &head.assemblies {
            if rows.ordinals.insert(id.clone(), rows.assemblies.len() as u32).is_some() {
                return Err(format!("assembly {id} is in the table's head twice"));
            }
            rows.assemblies.push((id.clone(), Vec::new()));
        }
        Ok(rows)
    }

    /// The kept rows in `bytes`, as [`KeyedRows::kept_bytes`] gave them, if they are whole.
    fn kept_rows(bytes: &[u8]) -> Result<std::slice::ChunksExact<'_, u8>, String> {
        match bytes.len().is_multiple_of(Self::ROW_BYTES) {
            true => Ok(bytes.chunks_exact(Self::ROW_BYTES)),
            false => Err(format!("{} bytes are not whole rows of {} bytes", bytes.len(), Self::ROW_BYTES)),
        }
    }

    /// A kept row that is to be the next: its assembly's ordinal and its record, if it names
    /// an assembly of the head, holds a valid record and a key no row in memory has. That no
    /// spilled row has it too, [`KeyedRows::check_keys_unique`] checks once all are in (a
    /// look-up per row would read the spilled runs once per row).
    fn kept_row(&self, row: &[u8]) -> Result<(u32, R), String> {
        let (ordinal, record) = self.kept_record(self.len, row)?;
        if self.find_in_memory(Self::key_of(row)).is_some() {
            return Err(format!("row {}'s key is in the table twice", self.len));
        }
        Ok((ordinal, record))
    }

    /// Kept row `number`'s assembly ordinal and record, if it names an assembly of the head
    /// and holds a valid record.
    fn kept_record(&self, number: u32, row: &[u8]) -> Result<(u32, R), String> {
        let ordinal = u32::from_be_bytes(row[..4].try_into().expect("4 bytes"));
        let record = R::read(&row[4..]).ok_or_else(|| format!("row {number} is not a valid record"))?;
        if ordinal as usize >= self.assemblies.len() {
            return Err(format!("row {number} names assembly {ordinal}, beyond the head"));
        }
        Ok((ordinal, record))
    }

    /// Readies a table with spill files for a bulk take-up of `rows` kept rows, until
    /// [`KeyedRows::settle`]: the runs of spilled keys gather entries ([`KeyRuns::gather`]);
    /// the rows that would leave memory anyway (all but about the last
    /// [`SpillFiles::rows_in_memory`]) go straight to the spill files, read in place where the
    /// files have `table`'s kept rows ([`SpillFiles::kept_rows`]).
    fn begin_take_up(&mut self, table: TableName, rows: u32) {
        if let Some(spilled) = self.spilled.as_mut() {
            spilled.by_key.gather();
            let leave = rows.saturating_sub(spilled.files.rows_in_memory());
            self.spill_directly_until = leave - leave % CHUNK_ROWS as u32;
            if let Some(kept) = spilled.files.kept_rows(table).filter(|_| self.spill_directly_until > 0) {
                spilled.rows.read_kept_in_place(kept);
            }
        }
    }

    /// Whole kept rows, split into those that go straight to the spill files and the rest.
    fn split_kept<'b>(&self, bytes: &'b [u8]) -> Result<(&'b [u8], &'b [u8]), String> {
        let rows = Self::kept_rows(bytes)?.len();
        let direct = (self.spill_directly_until.saturating_sub(self.len) as usize).min(rows);
        Ok(bytes.split_at(direct * Self::ROW_BYTES))
    }

    /// Takes up kept rows that leave memory at once: their bytes go to the file of rows as
    /// they are, their keys to the runs, and `leaving` sees each. A start at 10 million rows
    /// spent a fifth of its time moving them through memory first. Nothing may be in memory
    /// yet; on an error the table is left part-filled, and the caller drops it, as it drops a
    /// refused snapshot.
    fn take_up_spilled(&mut self, bytes: &[u8], mut leaving: impl FnMut(u32, &R)) -> Result<(), String> {
        debug_assert_eq!(self.first_in_memory, self.len, "nothing is in memory yet");
        let count = u32::try_from(bytes.len() / Self::ROW_BYTES).ok().filter(|n| self.len.checked_add(*n).is_some());
        let count = count.ok_or("a table holds at most 2^32 - 1 rows")?;
        let mut keys = Vec::with_capacity(count as usize);
        for (within, row) in bytes.chunks_exact(Self::ROW_BYTES).enumerate() {
            let number = self.len + within as u32;
            let (ordinal, record) = self.kept_record(number, row)?;
            self.assemblies[ordinal as usize].1.push(number);
            keys.push((Self::hash(&self.hasher, Self::key_of(row)), number));
            leaving(number, &record);
        }
        let spilled = self.spilled.as_mut().expect("only tables with spill files spill directly");
        match spilled.rows.reads_kept_in_place() {
            // Written again, they cost more than a third of a start at 10 million rows
            // (`klero-bench scale`), most of it in the kernel's copy into new pages.
            true => spilled.rows.add_kept(count),
            false => spilled.rows.append(bytes),
        }
        spilled.by_key.add(keys);
        self.len += count;
        self.first_in_memory = self.len;
        Ok(())
    }
}

/// One input, where and when it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputRow {
    pub kind: InputKind,
    pub event_hash: Hash256,
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
    /// The document's SHA-256, or a sealed submission's commitment.
    pub content_hash: Hash256,
    /// Sealed in its event (a version-2 public submission, a resident's submission), so not a
    /// document.
    pub sealed: bool,
    /// Its event holds erasable personal content: a public submission's is its own row here,
    /// not a row of [`PersonalTable`], so a submission costs one row.
    pub personal: bool,
}

impl InputRow {
    fn as_personal(&self) -> PersonalRow {
        PersonalRow {
            event_hash: self.event_hash,
            log_index: self.log_index,
            recorded_at_unix_ms: self.recorded_at_unix_ms,
        }
    }

    /// The document this input is, if it is one (not sealed text).
    pub fn document(&self) -> Option<Hash256> {
        (!self.sealed).then_some(self.content_hash)
    }
}

impl DomainEvent {
    /// What the event is as an input, if it is one: its kind, its content's hash and whether
    /// that content is sealed in the event.
    pub fn as_input(&self) -> Option<(InputKind, Hash256, bool)> {
        match self {
            DomainEvent::EvidencePresented(evidence) => Some((InputKind::Evidence, evidence.content_hash, false)),
            DomainEvent::PublicSubmissionReceived(submission) => Some((
                InputKind::PublicSubmission,
                submission.content.content_hash(),
                matches!(submission.content, SubmissionContent::Sealed(_)),
            )),
            DomainEvent::ResidentSubmitted(submitted) => {
                Some((InputKind::PublicSubmission, submitted.text.commitment, true))
            }
            _ => None,
        }
    }
}

/// The personal flag in an input row's first byte.
const PERSONAL: u8 = 0x10;

/// 81 bytes: kind and sealing (0 evidence, 1 a document submission, 2 a sealed one, plus
/// 0x10 if personal) in one byte, then the event hash, the log index, the recording time and
/// the content hash.
impl FixedRecord for InputRow {
    const LEN: usize = 81;
    fn write(&self, out: &mut Vec<u8>) {
        let kind = match (self.kind, self.sealed) {
            (InputKind::Evidence, _) => 0,
            (InputKind::PublicSubmission, false) => 1,
            (InputKind::PublicSubmission, true) => 2,
        };
        out.push(kind | if self.personal { PERSONAL } else { 0 });
        out.extend_from_slice(&self.event_hash.0);
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out.extend_from_slice(&self.recorded_at_unix_ms.to_be_bytes());
        out.extend_from_slice(&self.content_hash.0);
    }
    fn read(bytes: &[u8]) -> Option<InputRow> {
        let (kind, sealed) = match bytes[0] & !PERSONAL {
            0 => (InputKind::Evidence, false),
            1 => (InputKind::PublicSubmission, false),
            2 => (InputKind::PublicSubmission, true),
            _ => return None,
        };
        Some(InputRow {
            kind,
            sealed,
            personal: bytes[0] & PERSONAL != 0,
            event_hash: Hash256(bytes[1..33].try_into().ok()?),
            log_index: u64::from_be_bytes(bytes[33..41].try_into().ok()?),
            recorded_at_unix_ms: u64::from_be_bytes(bytes[41..49].try_into().ok()?),
            content_hash: Hash256(bytes[49..81].try_into().ok()?),
        })
    }
}

impl KeyedRow for InputRow {
    const KEY_AT: usize = 1;
}

/// Every input of every assembly, by event hash and by document. The rules ask whether an
/// event hash is an input of an assembly, the views list an assembly's inputs in log order,
/// and the server asks which event first committed to a document.
#[derive(Debug, Default)]
pub struct InputTable {
    rows: KeyedRows<InputRow>,
    /// By content hash, the row of the earliest input in memory whose document it is (sealed
    /// rows are not documents and are left out).
    by_document: RowIndex,
    /// The same for spilled rows: every document row, by its content hash's fingerprint.
    spilled_documents: Option<KeyRuns>,
}

/// Where an input row's content hash is, in its bytes (after the 4-byte ordinal).
const CONTENT_HASH_AT: usize = 4 + 49;

impl InputTable {
    /// How many inputs, over every assembly.
    pub fn len(&self) -> usize {
        self.rows.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len == 0
    }

    fn content_hash(chunks: &[Box<[u8]>], first: u32, row: u32) -> &[u8] {
        &KeyedRows::<InputRow>::in_memory(chunks, first, row)[CONTENT_HASH_AT..CONTENT_HASH_AT + 32]
    }

    /// Adds an input of `assembly`; the log holds each event once, so no input is added twice.
    pub fn push(&mut self, assembly: &AssemblyId, input: InputRow) {
        let ordinal = self.rows.ordinal(assembly);
        self.push_at(ordinal, input);
    }

    fn push_at(&mut self, ordinal: u32, input: InputRow) {
        let row = self.rows.push(ordinal, &input);
        self.index_document(row, &input);
        let Some(spilled_documents) = self.spilled_documents.as_mut() else { return };
        let hasher = self.rows.hasher.clone();
        let mut documents = Vec::new();
        let spilled = self.rows.spill_if_due(|row, input| documents.extend(Self::document_entry(&hasher, row, input)));
        if spilled {
            spilled_documents.add(documents);
            let first = self.rows.first_in_memory;
            self.by_document.retain(|row| row >= first);
        }
    }

    /// A spilled row's entry in the runs of documents, if it is a document.
    fn document_entry(hasher: &KeyedPrefixState, row: u32, input: &InputRow) -> Option<(u64, u32)> {
        input.document().map(|document| (KeyedRows::<InputRow>::hash(hasher, &document.0), row))
    }

    /// Kept rows, the first of them straight to the spill files (see
    /// [`KeyedRows::take_up_spilled`]).
    fn take_up(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (direct, rest) = self.rows.split_kept(bytes)?;
        if !direct.is_empty() {
            let hasher = self.rows.hasher.clone();
            let mut documents = Vec::new();
            self.rows
                .take_up_spilled(direct, |row, input| documents.extend(Self::document_entry(&hasher, row, input)))?;
            self.spilled_documents.as_mut().expect("spill files").add(documents);
        }
        for row in KeyedRows::<InputRow>::kept_rows(rest)? {
            let (ordinal, input) = self.rows.kept_row(row)?;
            self.push_at(ordinal, input);
        }
        Ok(())
    }

    fn spill_to(&mut self, files: Arc<dyn SpillFiles>) {
        if self.rows.len == 0 && self.spilled_documents.is_none() {
            self.spilled_documents = Some(KeyRuns::new(files.clone()));
            self.rows.spill_to(files);
        }
    }

    /// See [`KeyedRows::begin_take_up`]; the runs of spilled documents gather too.
    fn begin_take_up(&mut self, rows: u32) {
        self.rows.begin_take_up(TableName::Inputs, rows);
        if let Some(documents) = self.spilled_documents.as_mut() {
            documents.gather();
        }
    }

    /// The two sets of runs merge on two cores where there are two: at 10 million rows,
    /// settling was a seventh of a start.
    fn settle(&mut self) {
        let Self { rows, spilled_documents, .. } = self;
        klero_ledger::parallel::join(|| rows.settle(), || spilled_documents.as_mut().map(KeyRuns::settle));
    }

    fn index_document(&mut self, row: u32, input: &InputRow) {
        let Some(document) = input.document() else { return };
        let Self { rows, by_document, .. } = self;
        let hash = KeyedRows::<InputRow>::hash(&rows.hasher, &document.0);
        let (chunks, first) = (&rows.chunks, rows.first_in_memory);
        match by_document.find_mut(hash, |r| Self::content_hash(chunks, first, r) == document.0) {
            // Rows come in log order: the earliest input of a document is the one that names it.
            Some(existing) => {
                if input.log_index < rows.get(*existing).1.log_index {
                    *existing = row;
                }
            }
            None => by_document.insert_unique(hash, row),
        }
    }

    /// The input recorded by this event, and its assembly.
    pub fn by_event(&self, event_hash: &Hash256) -> Option<(&AssemblyId, InputRow)> {
        let (ordinal, row) = self.rows.get(self.rows.find(event_hash)?);
        Some((&self.rows.assemblies[ordinal as usize].0, row))
    }

    /// Whether this event hash is an input of `assembly`.
    pub fn is_input_of(&self, assembly: &AssemblyId, event_hash: &Hash256) -> bool {
        self.rows.of_assembly_by_key(assembly, event_hash).is_some()
    }

    /// The earliest input whose document has this SHA-256.
    pub fn by_document(&self, sha256: &Hash256) -> Option<InputRow> {
        let hash = KeyedRows::<InputRow>::hash(&self.rows.hasher, &sha256.0);
        let is_document = |input: &InputRow| input.document() == Some(*sha256);
        // Spilled rows are older than any in memory: the earliest of them, if any, is it.
        if let Some(spilled) = self.spilled_documents.as_ref() {
            let rows = spilled.rows(hash).into_iter().map(|row| self.rows.get(row).1);
            if let Some(earliest) = rows.filter(is_document).min_by_key(|input| input.log_index) {
                return Some(earliest);
            }
        }
        let (chunks, first) = (&self.rows.chunks, self.rows.first_in_memory);
        let row = self.by_document.find(hash, |r| Self::content_hash(chunks, first, r) == sha256.0)?;
        Some(self.rows.get(row).1)
    }

    /// Every document an input is, each once, with its earliest input (in no stated order).
    pub fn documents(&self) -> impl Iterator<Item = InputRow> + '_ {
        let spilled = self.spilled_documents.iter().flat_map(move |runs| {
            runs.groups().flat_map(move |(_, rows)| {
                // Rows that share a fingerprint almost always share a document; sort them by
                // document, then keep each document's earliest.
                let mut inputs: Vec<InputRow> = rows.into_iter().map(|row| self.rows.get(row).1).collect();
                inputs.sort_by_key(|input| (input.content_hash, input.log_index));
                inputs.dedup_by_key(|input| input.content_hash);
                inputs
            })
        });
        let in_memory = self.by_document.rows().map(|row| self.rows.get(row).1).filter(move |input| {
            let (Some(runs), Some(document)) = (self.spilled_documents.as_ref(), input.document()) else { return true };
            let hash = KeyedRows::<InputRow>::hash(&self.rows.hasher, &document.0);
            !runs.rows(hash).into_iter().any(|row| self.rows.get(row).1.document() == Some(document))
        });
        spilled.chain(in_memory)
    }

    /// One assembly's inputs, in log order.
    pub fn of_assembly(&self, assembly: &AssemblyId) -> impl Iterator<Item = InputRow> + Clone + '_ {
        self.rows.rows_of(assembly).iter().map(|&row| self.rows.get(row).1)
    }

    /// How many inputs `assembly` has.
    pub fn count_of(&self, assembly: &AssemblyId) -> usize {
        self.rows.rows_of(assembly).len()
    }

    /// Every input, assembly by assembly (in the order each first had one), each in log order.
    pub fn iter(&self) -> impl Iterator<Item = (&AssemblyId, InputRow)> + '_ {
        self.rows.iter()
    }
}

/// An event that holds erasable personal content (sealed text, a personal document), where
/// it was recorded. Whether it was erased is the assembly's own state (`AssemblyState::erasures`).
/// An input's is its input row ([`InputRow::personal`]); [`EventTables::personal_row`] finds
/// either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersonalRow {
    pub event_hash: Hash256,
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
}

/// 48 bytes: the event hash, the log index, the recording time.
impl FixedRecord for PersonalRow {
    const LEN: usize = 48;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.event_hash.0);
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out.extend_from_slice(&self.recorded_at_unix_ms.to_be_bytes());
    }
    fn read(bytes: &[u8]) -> Option<PersonalRow> {
        Some(PersonalRow {
            event_hash: Hash256(bytes[..32].try_into().ok()?),
            log_index: u64::from_be_bytes(bytes[32..40].try_into().ok()?),
            recorded_at_unix_ms: u64::from_be_bytes(bytes[40..48].try_into().ok()?),
        })
    }
}

impl KeyedRow for PersonalRow {
    const KEY_AT: usize = 0;
}

/// Every event of every assembly that holds erasable personal content and is not an input.
#[derive(Debug, Default)]
pub struct PersonalTable {
    rows: KeyedRows<PersonalRow>,
}

impl PersonalTable {
    pub fn push(&mut self, assembly: &AssemblyId, row: PersonalRow) {
        let ordinal = self.rows.ordinal(assembly);
        self.push_at(ordinal, row);
    }

    fn push_at(&mut self, ordinal: u32, row: PersonalRow) {
        self.rows.push(ordinal, &row);
        self.rows.spill_if_due(|_, _| ());
    }

    /// Kept rows, the first of them straight to the spill files (see
    /// [`KeyedRows::take_up_spilled`]).
    fn take_up(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (direct, rest) = self.rows.split_kept(bytes)?;
        if !direct.is_empty() {
            self.rows.take_up_spilled(direct, |_, _| ())?;
        }
        for row in KeyedRows::<PersonalRow>::kept_rows(rest)? {
            let (ordinal, personal) = self.rows.kept_row(row)?;
            self.push_at(ordinal, personal);
        }
        Ok(())
    }

    /// The event of `assembly` with this hash, if it holds personal content.
    pub fn get(&self, assembly: &AssemblyId, event_hash: &Hash256) -> Option<PersonalRow> {
        self.rows.of_assembly_by_key(assembly, event_hash)
    }

    /// `assembly`'s events that hold personal content, in log order.
    pub fn of_assembly(&self, assembly: &AssemblyId) -> impl Iterator<Item = PersonalRow> + '_ {
        self.rows.rows_of(assembly).iter().map(|&row| self.rows.get(row).1)
    }

    pub fn len(&self) -> usize {
        self.rows.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len == 0
    }
}

/// A table of [`EventTables`], by the name its rows are kept under beside snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableName {
    Inputs,
    Personal,
}

impl TableName {
    pub const ALL: [TableName; 2] = [TableName::Inputs, TableName::Personal];

    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Inputs => "inputs",
            TableName::Personal => "personal",
        }
    }
}

/// The tables of one domain state. A snapshot's text holds their heads
/// ([`EventTables::heads`]); their rows are kept beside it.
#[derive(Debug, Default)]
pub struct EventTables {
    pub inputs: InputTable,
    pub personal: PersonalTable,
}

/// [`EventTables`]' heads, as a snapshot's text holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableHeads {
    pub inputs: TableHead,
    pub personal: TableHead,
}

impl TableHeads {
    pub fn rows(&self, table: TableName) -> u32 {
        match table {
            TableName::Inputs => self.inputs.rows,
            TableName::Personal => self.personal.rows,
        }
    }
}

impl EventTables {
    pub fn heads(&self) -> TableHeads {
        TableHeads { inputs: self.inputs.rows.head(), personal: self.personal.rows.head() }
    }

    /// How many bytes a row of `table` is, kept.
    pub fn row_bytes(table: TableName) -> usize {
        match table {
            TableName::Inputs => KeyedRows::<InputRow>::ROW_BYTES,
            TableName::Personal => KeyedRows::<PersonalRow>::ROW_BYTES,
        }
    }

    /// `table`'s rows from row `from` on, as kept beside snapshots.
    pub fn kept_bytes(&self, table: TableName, from: u32) -> Vec<u8> {
        self.kept_range(table, from, u32::MAX)
    }

    /// `table`'s rows `from..to` (`to` at most its length), as kept beside snapshots: rows never
    /// change once added, so a writer can take them piece by piece.
    pub fn kept_range(&self, table: TableName, from: u32, to: u32) -> Vec<u8> {
        match table {
            TableName::Inputs => self.inputs.rows.kept_bytes(from, to),
            TableName::Personal => self.personal.rows.kept_bytes(from, to),
        }
    }

    /// Empty tables with `heads`' assemblies, to which [`EventTables::take_up`] adds the
    /// kept rows, table by table and piece by piece, so that loading never holds a whole
    /// table twice; [`EventTables::check_heads`] then checks that every row came. With
    /// `spill`, the rows leave memory as they come ([`EventTables::spill_to`]).
    pub fn from_heads(heads: &TableHeads, spill: Option<Arc<dyn SpillFiles>>) -> Result<EventTables, String> {
        let mut tables = EventTables {
            inputs: InputTable {
                rows: KeyedRows::from_head(&heads.inputs).map_err(|e| format!("inputs: {e}"))?,
                ..InputTable::default()
            },
            personal: PersonalTable {
                rows: KeyedRows::from_head(&heads.personal).map_err(|e| format!("personal: {e}"))?,
            },
        };
        if let Some(files) = spill {
            tables.spill_to(files);
            tables.inputs.begin_take_up(heads.inputs.rows);
            tables.personal.rows.begin_take_up(TableName::Personal, heads.personal.rows);
        }
        Ok(tables)
    }

    /// Keeps only the newest rows of each table in memory from now on (a few chunks); the
    /// rest go to files that `files` makes, and are read back from them. Only empty tables
    /// take spill files.
    pub fn spill_to(&mut self, files: Arc<dyn SpillFiles>) {
        self.inputs.spill_to(files.clone());
        self.personal.rows.spill_to(files);
    }

    /// The files these tables spill to, if they do.
    pub fn spill_files(&self) -> Option<Arc<dyn SpillFiles>> {
        self.inputs.rows.spilled.as_ref().map(|spilled| spilled.files.clone())
    }

    /// Adds kept rows of `table` (whole rows, in the order they were kept). A key already in
    /// memory is refused here; [`EventTables::check_heads`] checks the spilled ones.
    pub fn take_up(&mut self, table: TableName, bytes: &[u8]) -> Result<(), String> {
        let in_table = |e: String| format!("{}: {e}", table.as_str());
        match table {
            TableName::Inputs => self.inputs.take_up(bytes).map_err(in_table),
            TableName::Personal => self.personal.take_up(bytes).map_err(in_table),
        }
    }

    /// The event of `assembly` with this hash, if it holds erasable personal content.
    pub fn personal_row(&self, assembly: &AssemblyId, event_hash: &Hash256) -> Option<PersonalRow> {
        match self.inputs.rows.of_assembly_by_key(assembly, event_hash) {
            Some(input) => input.personal.then(|| input.as_personal()),
            None => self.personal.get(assembly, event_hash),
        }
    }

    /// `assembly`'s events that hold erasable personal content, in log order: its personal
    /// inputs and its other personal events, merged.
    pub fn personal_rows<'a>(&'a self, assembly: &AssemblyId) -> impl Iterator<Item = PersonalRow> + 'a {
        let mut inputs = self.inputs.of_assembly(assembly).filter(|i| i.personal).map(|i| i.as_personal()).peekable();
        let mut others = self.personal.of_assembly(assembly).peekable();
        std::iter::from_fn(move || match (inputs.peek(), others.peek()) {
            (Some(input), Some(other)) if other.log_index < input.log_index => others.next(),
            (Some(_), _) => inputs.next(),
            (None, _) => others.next(),
        })
    }

    /// Ends a take-up: whether the tables hold exactly the rows `heads` counts, each key once.
    pub fn check_heads(&mut self, heads: &TableHeads) -> Result<(), String> {
        self.inputs.settle();
        self.personal.rows.settle();
        for table in TableName::ALL {
            let held = match table {
                TableName::Inputs => self.inputs.rows.len,
                TableName::Personal => self.personal.rows.len,
            };
            if held != heads.rows(table) {
                return Err(format!("{}: {held} rows, not the {} the head counts", table.as_str(), heads.rows(table)));
            }
        }
        self.inputs.rows.check_keys_unique().map_err(|e| format!("inputs: {e}"))?;
        self.personal.rows.check_keys_unique().map_err(|e| format!("personal: {e}"))
    }

    /// The tables `heads` describe, from all their kept rows at once.
    #[cfg(test)]
    fn from_kept(heads: TableHeads, inputs: &[u8], personal: &[u8]) -> Result<EventTables, String> {
        let mut tables = EventTables::from_heads(&heads, None)?;
        tables.take_up(TableName::Inputs, inputs)?;
        tables.take_up(TableName::Personal, personal)?;
        tables.check_heads(&heads)?;
        Ok(tables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: u32) -> InputRow {
        InputRow {
            kind: InputKind::PublicSubmission,
            event_hash: Hash256::of(&n.to_be_bytes()),
            log_index: n as u64,
            recorded_at_unix_ms: n as u64 * 1000,
            personal: !n.is_multiple_of(5),
            content_hash: Hash256::of(&(n % 1000).to_be_bytes()),
            sealed: n.is_multiple_of(7),
        }
    }

    use crate::spill::ROWS_IN_MEMORY;

    fn spill_files() -> Arc<dyn SpillFiles> {
        Arc::new(crate::spill::MemoryFiles)
    }

    /// Inputs that fill chunks and a bit (all in memory) or two spills and a bit (most in
    /// spill files, in two runs merged into one, the rest in memory).
    fn inputs_are_found_by_event_by_document_and_by_assembly_and_survive_a_snapshot(spill: bool) {
        let a = AssemblyId::parse("alpha").expect("id");
        let b = AssemblyId::parse("beta").expect("id");
        let count = if spill { 2 * ROWS_IN_MEMORY as usize + 10 } else { 3 * CHUNK_ROWS + 10 };
        let mut tables = EventTables::default();
        if spill {
            tables.spill_to(spill_files());
        }
        for n in 0..count as u32 {
            tables.inputs.push(if n % 3 == 0 { &b } else { &a }, input(n));
        }
        assert_eq!(tables.inputs.rows.first_in_memory > 0, spill);
        let check = |table: &InputTable| {
            assert_eq!(table.len(), count);
            assert_eq!(table.count_of(&b), count.div_ceil(3));
            for n in [3, count as u32 - 2 - (count as u32 - 2) % 3] {
                // Multiples of 3 are beta's: one spilled (if any are), one in memory.
                let (of, row) = table.by_event(&input(n).event_hash).expect("found");
                assert_eq!((of, row), (&b, input(n)));
                assert!(table.is_input_of(&b, &row.event_hash) && !table.is_input_of(&a, &row.event_hash));
            }
            assert!(table.by_event(&Hash256::of(b"not an input")).is_none());
            // The earliest input of content 5 is number 5.
            assert_eq!(table.by_document(&input(5).content_hash).expect("doc").log_index, 5);
            // Content 7's inputs are 7 (sealed: not a document), 1007, 2007, …: the earliest
            // document is 1007.
            assert_eq!(table.by_document(&input(7).content_hash).expect("doc").log_index, 1007);
            // Each of the 1,000 contents once, with its earliest input, spilled or not.
            let mut documents: Vec<(Hash256, u64)> =
                table.documents().map(|input| (input.content_hash, input.log_index)).collect();
            documents.sort_unstable();
            assert_eq!(documents.len(), 1000);
            assert!(documents.iter().all(|(hash, index)| table.by_document(hash).expect("doc").log_index == *index));
            let logged: Vec<u64> = table.of_assembly(&a).map(|row| row.log_index).collect();
            assert!(logged.windows(2).all(|w| w[0] < w[1]) && logged.iter().all(|i| i % 3 != 0));
        };
        check(&tables.inputs);
        let kept = tables.kept_bytes(TableName::Inputs, 0);
        assert_eq!(kept.len(), count * EventTables::row_bytes(TableName::Inputs));
        // Rows kept in pieces are the rows kept at once, wherever a piece ends (in the spilled
        // rows, or past them, in memory).
        for at in [100, count as u32 - 5] {
            let split =
                [tables.kept_range(TableName::Inputs, 0, at), tables.kept_bytes(TableName::Inputs, at)].concat();
            assert_eq!(split, kept, "split at {at}");
        }
        let back = EventTables::from_kept(tables.heads(), &kept, &[]).expect("taken up");
        check(&back.inputs);
        assert_eq!(back.kept_bytes(TableName::Inputs, 0), kept);
        // Taken up into spilling tables, in pieces, as a start does.
        let mut spilled = EventTables::from_heads(&tables.heads(), Some(spill_files())).expect("heads");
        for piece in kept.chunks(40_000 * EventTables::row_bytes(TableName::Inputs)) {
            spilled.take_up(TableName::Inputs, piece).expect("taken up");
            // All but the newest rows went straight to the spill files, never into memory.
            let rows = &spilled.inputs.rows;
            assert!(
                rows.first_in_memory >= rows.len.min((count as u32).saturating_sub(ROWS_IN_MEMORY + CHUNK_ROWS as u32))
            );
        }
        spilled.check_heads(&tables.heads()).expect("every row, each key once");
        check(&spilled.inputs);
        assert_eq!(spilled.kept_bytes(TableName::Inputs, 0), kept);
        // Taken up beside the file of kept rows, as a server's start is: the rows that leave
        // memory are read there, in place, and are the same rows.
        let beside: Arc<dyn SpillFiles> = Arc::new(KeptBeside(kept.clone()));
        let mut in_place = EventTables::from_heads(&tables.heads(), Some(beside)).expect("heads");
        for piece in kept.chunks(40_000 * EventTables::row_bytes(TableName::Inputs)) {
            in_place.take_up(TableName::Inputs, piece).expect("taken up");
        }
        in_place.check_heads(&tables.heads()).expect("every row, each key once");
        let read_in_place = in_place.inputs.rows.spilled.as_ref().expect("spill files").rows.kept_rows_read_in_place();
        assert_eq!(read_in_place > 0, spill, "{read_in_place} rows read in place");
        check(&in_place.inputs);
        assert_eq!(in_place.kept_bytes(TableName::Inputs, 0), kept);
        // Rows added after the start are spilled to a file of the table's own, after them.
        let more = 2 * ROWS_IN_MEMORY;
        for n in count as u32..count as u32 + more {
            in_place.inputs.push(if n % 3 == 0 { &b } else { &a }, input(n));
        }
        for n in [3, count as u32 + 3, count as u32 + more - 1] {
            assert_eq!(in_place.inputs.by_event(&input(n).event_hash).map(|(_, row)| row), Some(input(n)), "input {n}");
        }
    }

    /// Spill files in memory, with a table's kept rows as a file to read in place.
    #[derive(Debug)]
    struct KeptBeside(Vec<u8>);

    impl SpillFiles for KeptBeside {
        fn create(&self) -> std::io::Result<Box<dyn crate::spill::SpillFile>> {
            crate::spill::MemoryFiles.create()
        }

        fn kept_rows(&self, table: TableName) -> Option<Box<dyn crate::spill::SpillFile>> {
            let file = crate::spill::MemoryFile(std::sync::Mutex::new(self.0.clone()));
            (table == TableName::Inputs).then(|| Box::new(file) as Box<dyn crate::spill::SpillFile>)
        }
    }

    #[test]
    fn inputs_in_memory_are_found_and_survive_a_snapshot() {
        inputs_are_found_by_event_by_document_and_by_assembly_and_survive_a_snapshot(false);
    }

    #[test]
    fn inputs_that_left_memory_are_found_and_survive_a_snapshot() {
        inputs_are_found_by_event_by_document_and_by_assembly_and_survive_a_snapshot(true);
    }

    #[test]
    fn a_key_kept_twice_is_refused_wherever_its_rows_are() {
        let a = AssemblyId::parse("alpha").expect("id");
        let mut tables = EventTables::default();
        let count = 2 * ROWS_IN_MEMORY + 10;
        for n in 0..count {
            tables.inputs.push(&a, input(n));
        }
        let (heads, kept) = (tables.heads(), tables.kept_bytes(TableName::Inputs, 0));
        let row_bytes = EventTables::row_bytes(TableName::Inputs);
        // Row `at` is made a copy of row 0: both spilled as they were taken up, both spilled
        // later, or one spilled and one in memory.
        for at in [1000, ROWS_IN_MEMORY as usize + 1, count as usize - 1] {
            let mut twice = kept.clone();
            twice.copy_within(..row_bytes, at * row_bytes);
            let mut taken = EventTables::from_heads(&heads, Some(spill_files())).expect("heads");
            taken.take_up(TableName::Inputs, &twice).expect("rows read");
            let refused = taken.check_heads(&heads).expect_err("a key twice");
            assert!(refused.contains("twice") || refused.contains("too"), "{refused}");
        }
    }

    #[test]
    fn personal_rows_are_found_only_in_their_own_assembly() {
        let a = AssemblyId::parse("alpha").expect("id");
        let b = AssemblyId::parse("beta").expect("id");
        let mut table = PersonalTable::default();
        let row = |n: u64| PersonalRow {
            event_hash: Hash256::of(&n.to_be_bytes()),
            log_index: n,
            recorded_at_unix_ms: n * 10,
        };
        for n in 0..100 {
            table.push(if n % 2 == 0 { &a } else { &b }, row(n));
        }
        assert_eq!(table.get(&a, &row(4).event_hash), Some(row(4)));
        assert_eq!(table.get(&b, &row(4).event_hash), None, "a row of another assembly is not found");
        assert_eq!(table.of_assembly(&b).count(), 50);
        let tables = EventTables { inputs: InputTable::default(), personal: table };
        let back =
            EventTables::from_kept(tables.heads(), &[], &tables.kept_bytes(TableName::Personal, 0)).expect("back");
        let rows_of = |t: &PersonalTable| t.of_assembly(&a).collect::<Vec<_>>();
        assert_eq!(rows_of(&back.personal), rows_of(&tables.personal));
    }

    #[test]
    fn personal_inputs_and_other_personal_events_are_found_and_listed_in_log_order() {
        let a = AssemblyId::parse("alpha").expect("id");
        let b = AssemblyId::parse("beta").expect("id");
        let mut tables = EventTables::default();
        let other =
            |n: u64| PersonalRow { event_hash: Hash256::of(&[0xEE, n as u8]), log_index: n, recorded_at_unix_ms: n };
        // Log order: inputs 0..30 (every fifth not personal), other personal events at 3, 11, 29
        // and 31, and one of beta's at 7.
        for n in 0..32u32 {
            if [3, 11, 29, 31].contains(&n) {
                tables.personal.push(&a, other(n as u64));
            } else if n == 7 {
                tables.personal.push(&b, other(7));
            } else {
                tables.inputs.push(&a, input(n));
            }
        }
        let listed: Vec<u64> = tables.personal_rows(&a).map(|row| row.log_index).collect();
        let expected: Vec<u64> =
            (0..32u64).filter(|n| [3, 11, 29, 31].contains(n) || (*n != 7 && n % 5 != 0)).collect();
        assert_eq!(listed, expected, "merged in log order, only personal inputs");
        assert_eq!(tables.personal_row(&a, &input(1).event_hash).map(|r| r.recorded_at_unix_ms), Some(1000));
        assert_eq!(tables.personal_row(&a, &input(10).event_hash), None, "an input that is not personal");
        assert_eq!(tables.personal_row(&a, &other(11).event_hash), Some(other(11)));
        assert_eq!(tables.personal_row(&a, &other(7).event_hash), None, "another assembly's");
        assert_eq!(tables.personal_row(&b, &input(1).event_hash), None, "another assembly's input");
    }

    #[test]
    fn kept_rows_that_do_not_fit_their_head_are_refused() {
        let a = AssemblyId::parse("alpha").expect("id");
        let mut tables = EventTables::default();
        tables.inputs.push(&a, input(1));
        tables.inputs.push(&a, input(2));
        let (heads, kept) = (tables.heads(), tables.kept_bytes(TableName::Inputs, 0));
        let refused = |heads: TableHeads, bytes: &[u8]| EventTables::from_kept(heads, bytes, &[]).expect_err("refused");
        assert!(refused(heads.clone(), &kept[..kept.len() - 1]).contains("not whole rows"));
        assert!(refused(heads.clone(), &kept[..85]).contains("not the 2 the head counts"));
        let twice = [&kept[..85], &kept[..85]].concat();
        assert!(refused(heads.clone(), &twice).contains("twice"));
        let mut elsewhere = kept.clone();
        elsewhere[3] = 7;
        assert!(refused(heads.clone(), &elsewhere).contains("beyond the head"));
        let mut bad_kind = kept.clone();
        bad_kind[4] = 9;
        assert!(refused(heads, &bad_kind).contains("not a valid record"));
    }
}
