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
        if row as usize % CHUNK_ROWS == 0 {
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

/// In a snapshot: a list of `[assembly id, packed records]`, the records as
/// [`klero_ledger::records`] packs them.
impl<R: KeyedRow> serde::Serialize for KeyedRows<R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        struct Records<'a, R>(&'a KeyedRows<R>, &'a [u32]);
        impl<R: KeyedRow> serde::Serialize for Records<'_, R> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let records: Vec<R> = self.1.iter().map(|&row| self.0.get(row).1).collect();
                klero_ledger::records::serialize(&records, serializer)
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.assemblies.len()))?;
        for (id, rows) in &self.assemblies {
            seq.serialize_element(&(id, Records(self, rows)))?;
        }
        seq.end()
    }
}

impl<'de, R: KeyedRow> serde::Deserialize<'de> for KeyedRows<R> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<KeyedRows<R>, D::Error> {
        struct Records<R>(Vec<R>);
        impl<'de, R: KeyedRow> serde::Deserialize<'de> for Records<R> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Records<R>, D::Error> {
                klero_ledger::records::deserialize(deserializer).map(Records)
            }
        }
        let assemblies: Vec<(AssemblyId, Records<R>)> = serde::Deserialize::deserialize(deserializer)?;
        let mut rows = KeyedRows::default();
        for (id, records) in assemblies {
            for record in records.0 {
                let mut bytes = Vec::with_capacity(R::LEN);
                record.write(&mut bytes);
                let key = Hash256(bytes[R::KEY_AT..R::KEY_AT + 32].try_into().expect("32 bytes"));
                if rows.find(&key).is_some() {
                    return Err(serde::de::Error::custom(format!("row {key} is in the table twice")));
                }
                rows.push(&id, &record);
            }
        }
        Ok(rows)
    }
}

/// One input, where it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputRow {
    pub kind: InputKind,
    pub event_hash: Hash256,
    pub log_index: u64,
    /// The document's SHA-256, or a sealed submission's commitment.
    pub content_hash: Hash256,
    /// Sealed in its event (a version-2 public submission, a resident's submission), so not a
    /// document.
    pub sealed: bool,
}

impl InputRow {
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

/// 73 bytes (as the views' snapshot rows were before issue 29): kind and sealing in one byte,
/// then the event hash, the log index and the content hash.
impl FixedRecord for InputRow {
    const LEN: usize = 73;
    fn write(&self, out: &mut Vec<u8>) {
        out.push(match (self.kind, self.sealed) {
            (InputKind::Evidence, _) => 0,
            (InputKind::PublicSubmission, false) => 1,
            (InputKind::PublicSubmission, true) => 2,
        });
        out.extend_from_slice(&self.event_hash.0);
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out.extend_from_slice(&self.content_hash.0);
    }
    fn read(bytes: &[u8]) -> Option<InputRow> {
        let (kind, sealed) = match bytes[0] {
            0 => (InputKind::Evidence, false),
            1 => (InputKind::PublicSubmission, false),
            2 => (InputKind::PublicSubmission, true),
            _ => return None,
        };
        Some(InputRow {
            kind,
            sealed,
            event_hash: Hash256(bytes[1..33].try_into().ok()?),
            log_index: u64::from_be_bytes(bytes[33..41].try_into().ok()?),
            content_hash: Hash256(bytes[41..73].try_into().ok()?),
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
        &KeyedRows::<InputRow>::record(chunks, row)[41..73]
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

impl serde::Serialize for InputTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.rows.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for InputTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<InputTable, D::Error> {
        let mut table =
            InputTable { rows: serde::Deserialize::deserialize(deserializer)?, by_document: HashTable::new() };
        for row in 0..table.rows.len {
            let input = table.rows.get(row).1;
            table.index_document(row, &input);
        }
        Ok(table)
    }
}

/// An event that holds erasable personal content (sealed text, a personal document), where
/// it was recorded. Whether it was erased is the assembly's own state (`AssemblyState::erasures`).
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

/// Every event of every assembly that holds erasable personal content.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
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

/// The tables of one domain state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EventTables {
    pub inputs: InputTable,
    pub personal: PersonalTable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: u32) -> InputRow {
        InputRow {
            kind: InputKind::PublicSubmission,
            event_hash: Hash256::of(&n.to_be_bytes()),
            log_index: n as u64,
            content_hash: Hash256::of(&(n % 1000).to_be_bytes()),
            sealed: n % 7 == 0,
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
        let json = serde_json::to_string(&table).expect("serialises");
        let back: InputTable = serde_json::from_str(&json).expect("reads back");
        check(&back);
        assert_eq!(serde_json::to_string(&back).expect("serialises"), json);
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
        let back: PersonalTable = serde_json::from_str(&serde_json::to_string(&table).expect("json")).expect("back");
        assert_eq!(back.of_assembly(&a).collect::<Vec<_>>(), table.of_assembly(&a).collect::<Vec<_>>());
    }

    #[test]
    fn a_snapshot_that_holds_a_row_twice_is_refused() {
        let a = AssemblyId::parse("alpha").expect("id");
        let mut table = InputTable::default();
        table.push(&a, input(1));
        let json = serde_json::to_string(&table).expect("serialises");
        let inner = &json[1..json.len() - 1];
        let refused = serde_json::from_str::<InputTable>(&format!("[{inner},{inner}]")).expect_err("refused");
        assert!(refused.to_string().contains("twice"), "{refused}");
    }
}
