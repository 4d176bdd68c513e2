//! The tables that grow with the log, one row an event: every input of every assembly (the
//! evidence and public submissions that recommendations and responses cite) and every event
//! that holds erasable personal content.
//!
//! A log of millions of submissions is mostly such rows, so how they are kept decides the
//! server's memory. Each table is fixed-size rows packed in chunks, with indexes of 4-byte row
//! numbers: a row costs its bytes and a few more, where a map of 32-byte keys to structs cost
//! several times that. The tables live in [`crate::DomainState`], outside the assemblies' own
//! state, so that deciding a batch never copies them: what a batch adds, nothing later in the
//! batch can name (its events' hashes are not known yet).

use crate::events::{DomainEvent, InputKind, SubmissionContent};
use crate::types::AssemblyId;
use hashbrown::HashTable;
use klero_ledger::hash::KeyedPrefixState;
use klero_ledger::records::FixedRecord;
use klero_ledger::Hash256;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::marker::PhantomData;

/// A fixed-size record keyed by the 32-byte hash at byte `KEY_AT` of its encoding.
pub trait KeyedRow: FixedRecord + Copy {
    const KEY_AT: usize;
}

/// Rows by assembly and by key; row numbers are `u32`, so a table holds at most 2³² − 1 rows.
/// In memory a row is its assembly's ordinal (4 bytes, big-endian) and then its record.
#[derive(Clone, Debug)]
struct KeyedRows<R> {
    /// Each assembly with a row, and its ordinal.
    ordinals: BTreeMap<AssemblyId, u32>,
    /// By ordinal: the assembly's id and its row numbers, in the order they came.
    assemblies: Vec<(AssemblyId, Vec<u32>)>,
    chunks: Vec<Box<[u8]>>,
    len: u32,
    by_key: HashTable<u32>,
    hasher: KeyedPrefixState,
    row: PhantomData<R>,
}

impl<R> Default for KeyedRows<R> {
    fn default() -> Self {
        KeyedRows {
            ordinals: BTreeMap::new(),
            assemblies: Vec::new(),
            chunks: Vec::new(),
            len: 0,
            by_key: HashTable::new(),
            hasher: KeyedPrefixState::default(),
            row: PhantomData,
        }
    }
}

/// Rows live in chunks of this many, so a table grows without copying or doubling.
const CHUNK_ROWS: usize = 16_384;

impl<R: KeyedRow> KeyedRows<R> {
    const ROW_BYTES: usize = 4 + R::LEN;

    /// A row's record bytes.
    fn record(chunks: &[Box<[u8]>], row: u32) -> &[u8] {
        let row = row as usize;
        let offset = (row % CHUNK_ROWS) * Self::ROW_BYTES;
        &chunks[row / CHUNK_ROWS][offset + 4..offset + Self::ROW_BYTES]
    }

    fn key(chunks: &[Box<[u8]>], row: u32) -> &[u8] {
        &Self::record(chunks, row)[R::KEY_AT..R::KEY_AT + 32]
    }

    fn hash(hasher: &KeyedPrefixState, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }

    fn get(&self, row: u32) -> (u32, R) {
        let start = (row as usize % CHUNK_ROWS) * Self::ROW_BYTES;
        let bytes = &self.chunks[row as usize / CHUNK_ROWS][start..start + Self::ROW_BYTES];
        let ordinal = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
        (ordinal, R::read(&bytes[4..]).expect("rows are written by push"))
    }

    fn find(&self, key: &Hash256) -> Option<u32> {
        let chunks = &self.chunks;
        self.by_key.find(Self::hash(&self.hasher, &key.0), |&r| Self::key(chunks, r) == key.0).copied()
    }

    /// Adds a row of `assembly`, whose key no row has yet. Returns its number.
    fn push(&mut self, assembly: &AssemblyId, record: &R) -> u32 {
        let ordinal = match self.ordinals.get(assembly) {
            Some(ordinal) => *ordinal,
            None => {
                let ordinal = self.assemblies.len() as u32;
                self.ordinals.insert(assembly.clone(), ordinal);
                self.assemblies.push((assembly.clone(), Vec::new()));
                ordinal
            }
        };
        let row = self.len;
        if (row as usize).is_multiple_of(CHUNK_ROWS) {
            self.chunks.push(vec![0u8; CHUNK_ROWS * Self::ROW_BYTES].into_boxed_slice());
        }
        let mut bytes = Vec::with_capacity(Self::ROW_BYTES);
        bytes.extend_from_slice(&ordinal.to_be_bytes());
        record.write(&mut bytes);
        let start = (row as usize % CHUNK_ROWS) * Self::ROW_BYTES;
        self.chunks.last_mut().expect("a chunk")[start..start + Self::ROW_BYTES].copy_from_slice(&bytes);
        self.len = row.checked_add(1).expect("at most 2^32 - 1 rows");
        self.assemblies[ordinal as usize].1.push(row);
        let Self { chunks, by_key, hasher, .. } = self;
        let hash = Self::hash(hasher, &bytes[4 + R::KEY_AT..4 + R::KEY_AT + 32]);
        by_key.insert_unique(hash, row, |&r| Self::hash(hasher, Self::key(chunks, r)));
        row
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

    /// Rows `from..` as kept beside snapshots: each its assembly's ordinal (4 bytes,
    /// big-endian) and its record, in the order they were added.
    fn kept_bytes(&self, from: u32) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len.saturating_sub(from) as usize * Self::ROW_BYTES);
        let mut row = from as usize;
        while row < self.len as usize {
            let (chunk, within) = (row / CHUNK_ROWS, row % CHUNK_ROWS);
            let take = (CHUNK_ROWS - within).min(self.len as usize - row);
            bytes.extend_from_slice(&self.chunks[chunk][within * Self::ROW_BYTES..(within + take) * Self::ROW_BYTES]);
            row += take;
        }
        bytes
    }

    /// An empty table with `head`'s assemblies, whose rows [`KeyedRows::take_up`] adds.
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

    /// Adds kept rows, as [`KeyedRows::kept_bytes`] gave them. Every row must be whole, name an
    /// assembly of the head, hold a valid record and a key no other row has. Returns each
    /// record added with its row number, for the caller's own indexes.
    fn take_up(&mut self, bytes: &[u8], mut added: impl FnMut(u32, &R)) -> Result<(), String> {
        if !bytes.len().is_multiple_of(Self::ROW_BYTES) {
            return Err(format!("{} bytes are not whole rows of {} bytes", bytes.len(), Self::ROW_BYTES));
        }
        for row in bytes.chunks_exact(Self::ROW_BYTES) {
            let number = self.len;
            let ordinal = u32::from_be_bytes(row[..4].try_into().expect("4 bytes")) as usize;
            let record = R::read(&row[4..]).ok_or_else(|| format!("row {number} is not a valid record"))?;
            let assembly = self.assemblies.get(ordinal).map(|(id, _)| id.clone());
            let assembly = assembly.ok_or_else(|| format!("row {number} names assembly {ordinal}, beyond the head"))?;
            let key = Hash256(row[4 + R::KEY_AT..4 + R::KEY_AT + 32].try_into().expect("32 bytes"));
            if self.find(&key).is_some() {
                return Err(format!("row {number}'s key {key} is in the table twice"));
            }
            let pushed = self.push(&assembly, &record);
            added(pushed, &record);
        }
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
#[derive(Clone, Debug, Default)]
pub struct InputTable {
    rows: KeyedRows<InputRow>,
    /// By content hash, the row of the earliest input whose document it is (sealed rows are
    /// not documents and are left out).
    by_document: HashTable<u32>,
}

impl InputTable {
    /// How many inputs, over every assembly.
    pub fn len(&self) -> usize {
        self.rows.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len == 0
    }

    fn content_hash(chunks: &[Box<[u8]>], row: u32) -> &[u8] {
        &KeyedRows::<InputRow>::record(chunks, row)[49..81]
    }

    /// Adds an input of `assembly`; the log holds each event once, so no input is added twice.
    pub fn push(&mut self, assembly: &AssemblyId, input: InputRow) {
        let row = self.rows.push(assembly, &input);
        self.index_document(row, &input);
    }

    fn index_document(&mut self, row: u32, input: &InputRow) {
        let Some(document) = input.document() else { return };
        let Self { rows, by_document } = self;
        let hash = KeyedRows::<InputRow>::hash(&rows.hasher, &document.0);
        let chunks = &rows.chunks;
        match by_document.find_mut(hash, |&r| Self::content_hash(chunks, r) == document.0) {
            // Rows come in log order, except when a snapshot is read back assembly by
            // assembly: the earliest input of a document is the one that names it.
            Some(existing) => {
                if input.log_index < rows.get(*existing).1.log_index {
                    *existing = row;
                }
            }
            None => {
                by_document.insert_unique(hash, row, |&r| {
                    KeyedRows::<InputRow>::hash(&rows.hasher, Self::content_hash(chunks, r))
                });
            }
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
        let chunks = &self.rows.chunks;
        let hash = KeyedRows::<InputRow>::hash(&self.rows.hasher, &sha256.0);
        let row = self.by_document.find(hash, |&r| Self::content_hash(chunks, r) == sha256.0)?;
        Some(self.rows.get(*row).1)
    }

    /// Every document an input is, with its earliest input.
    pub fn documents(&self) -> impl Iterator<Item = InputRow> + '_ {
        self.by_document.iter().map(|&row| self.rows.get(row).1)
    }

    /// One assembly's inputs, in log order.
    pub fn of_assembly(&self, assembly: &AssemblyId) -> impl Iterator<Item = InputRow> + '_ {
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
#[derive(Clone, Debug, Default)]
pub struct PersonalTable {
    rows: KeyedRows<PersonalRow>,
}

impl PersonalTable {
    pub fn push(&mut self, assembly: &AssemblyId, row: PersonalRow) {
        self.rows.push(assembly, &row);
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
#[derive(Clone, Debug, Default)]
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
        match table {
            TableName::Inputs => self.inputs.rows.kept_bytes(from),
            TableName::Personal => self.personal.rows.kept_bytes(from),
        }
    }

    /// Empty tables with `heads`' assemblies, to which [`EventTables::take_up`] adds the
    /// kept rows, table by table and piece by piece, so that loading never holds a whole
    /// table twice; [`EventTables::check_heads`] then checks that every row came.
    pub fn from_heads(heads: &TableHeads) -> Result<EventTables, String> {
        Ok(EventTables {
            inputs: InputTable {
                rows: KeyedRows::from_head(&heads.inputs).map_err(|e| format!("inputs: {e}"))?,
                by_document: HashTable::new(),
            },
            personal: PersonalTable {
                rows: KeyedRows::from_head(&heads.personal).map_err(|e| format!("personal: {e}"))?,
            },
        })
    }

    /// Adds kept rows of `table` (whole rows, in the order they were kept).
    pub fn take_up(&mut self, table: TableName, bytes: &[u8]) -> Result<(), String> {
        match table {
            TableName::Inputs => {
                let mut added = Vec::new();
                let taken = self.inputs.rows.take_up(bytes, |row, input| added.push((row, *input)));
                taken.map_err(|e| format!("inputs: {e}"))?;
                for (row, input) in added {
                    self.inputs.index_document(row, &input);
                }
                Ok(())
            }
            TableName::Personal => self.personal.rows.take_up(bytes, |_, _| ()).map_err(|e| format!("personal: {e}")),
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

    /// Whether the tables hold exactly the rows `heads` counts.
    pub fn check_heads(&self, heads: &TableHeads) -> Result<(), String> {
        for table in TableName::ALL {
            let held = match table {
                TableName::Inputs => self.inputs.rows.len,
                TableName::Personal => self.personal.rows.len,
            };
            if held != heads.rows(table) {
                return Err(format!("{}: {held} rows, not the {} the head counts", table.as_str(), heads.rows(table)));
            }
        }
        Ok(())
    }

    /// The tables `heads` describe, from all their kept rows at once.
    pub fn from_kept(heads: TableHeads, inputs: &[u8], personal: &[u8]) -> Result<EventTables, String> {
        let mut tables = EventTables::from_heads(&heads)?;
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

    #[test]
    fn inputs_are_found_by_event_by_document_and_by_assembly_and_survive_a_snapshot() {
        let a = AssemblyId::parse("alpha").expect("id");
        let b = AssemblyId::parse("beta").expect("id");
        let mut table = InputTable::default();
        // More than a chunk, so rows cross chunk boundaries and the indexes grow.
        for n in 0..(CHUNK_ROWS as u32 + 10) {
            table.push(if n % 3 == 0 { &b } else { &a }, input(n));
        }
        let check = |table: &InputTable| {
            assert_eq!(table.len(), CHUNK_ROWS + 10);
            assert_eq!(table.count_of(&b), (CHUNK_ROWS + 10).div_ceil(3));
            let last = CHUNK_ROWS as u32 + 8; // a multiple of 3: beta's
            let (of, row) = table.by_event(&input(last).event_hash).expect("found");
            assert_eq!((of, row), (&b, input(last)));
            assert!(table.is_input_of(&b, &row.event_hash) && !table.is_input_of(&a, &row.event_hash));
            assert!(table.by_event(&Hash256::of(b"not an input")).is_none());
            // The earliest input of content 5 is number 5.
            assert_eq!(table.by_document(&input(5).content_hash).expect("doc").log_index, 5);
            // Content 7's inputs are 7 (sealed: not a document), 1007, 2007, …: the earliest
            // document is 1007.
            assert_eq!(table.by_document(&input(7).content_hash).expect("doc").log_index, 1007);
            assert_eq!(table.documents().count(), 1000);
            let logged: Vec<u64> = table.of_assembly(&a).map(|row| row.log_index).collect();
            assert!(logged.windows(2).all(|w| w[0] < w[1]) && logged.iter().all(|i| i % 3 != 0));
        };
        check(&table);
        let tables = EventTables { inputs: table, personal: PersonalTable::default() };
        let kept = tables.kept_bytes(TableName::Inputs, 0);
        // Rows kept in two writes are the rows kept in one.
        let split = [
            tables.kept_bytes(TableName::Inputs, 0)[..100 * EventTables::row_bytes(TableName::Inputs)].to_vec(),
            tables.kept_bytes(TableName::Inputs, 100),
        ]
        .concat();
        assert_eq!(split, kept);
        let back = EventTables::from_kept(tables.heads(), &kept, &[]).expect("taken up");
        check(&back.inputs);
        assert_eq!(back.kept_bytes(TableName::Inputs, 0), kept);
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
