//! Every input of every assembly, held once: the evidence and the public submissions
//! (residents' own included) that recommendations and responses cite.
//!
//! A log of millions of submissions is mostly inputs, so how they are kept decides the
//! server's memory. The rules ask whether an event hash is an input of an assembly, the views
//! list an assembly's inputs in log order, and the server asks which event first committed to
//! a document. Those three used to be three tables of 32-byte keys. Here they are one table
//! of packed rows (77 bytes each) with two indexes of 4-byte row numbers.

use crate::events::{DomainEvent, InputKind, SubmissionContent};
use crate::types::AssemblyId;
use hashbrown::HashTable;
use klero_ledger::hash::KeyedPrefixState;
use klero_ledger::records::FixedRecord;
use klero_ledger::Hash256;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

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

/// A row in a snapshot (the same 73 bytes the views' snapshot rows had): kind and sealing in
/// one byte, then the event hash, the log index and the content hash.
impl FixedRecord for InputRow {
    const LEN: usize = 73;
    fn write(&self, out: &mut Vec<u8>) {
        out.push(kind_byte(self.kind, self.sealed));
        out.extend_from_slice(&self.event_hash.0);
        out.extend_from_slice(&self.log_index.to_be_bytes());
        out.extend_from_slice(&self.content_hash.0);
    }
    fn read(bytes: &[u8]) -> Option<InputRow> {
        let (kind, sealed) = kind_of_byte(bytes[0])?;
        Some(InputRow {
            kind,
            sealed,
            event_hash: Hash256(bytes[1..33].try_into().ok()?),
            log_index: u64::from_be_bytes(bytes[33..41].try_into().ok()?),
            content_hash: Hash256(bytes[41..73].try_into().ok()?),
        })
    }
}

fn kind_byte(kind: InputKind, sealed: bool) -> u8 {
    match (kind, sealed) {
        (InputKind::Evidence, _) => 0,
        (InputKind::PublicSubmission, false) => 1,
        (InputKind::PublicSubmission, true) => 2,
    }
}

fn kind_of_byte(byte: u8) -> Option<(InputKind, bool)> {
    match byte {
        0 => Some((InputKind::Evidence, false)),
        1 => Some((InputKind::PublicSubmission, false)),
        2 => Some((InputKind::PublicSubmission, true)),
        _ => None,
    }
}

/// A row in memory: the assembly's ordinal (4 bytes, big-endian), then the snapshot's 73.
const ROW_BYTES: usize = 4 + InputRow::LEN;
/// Rows live in chunks of this many, so the table grows without copying or doubling.
const CHUNK_ROWS: usize = 16_384;

/// See the module's documentation. Row numbers are `u32`: a log holds at most 2³² − 1 inputs.
#[derive(Clone, Debug, Default)]
pub struct InputTable {
    /// Each assembly with an input, and its ordinal.
    ordinals: BTreeMap<AssemblyId, u32>,
    /// By ordinal: the assembly's id and its rows, in log order.
    assemblies: Vec<(AssemblyId, Vec<u32>)>,
    chunks: Vec<Box<[u8]>>,
    len: u32,
    /// Row numbers by event hash.
    by_event: HashTable<u32>,
    /// By content hash, the row of the earliest input whose document it is (sealed rows are
    /// not documents and are left out).
    by_document: HashTable<u32>,
    hasher: KeyedPrefixState,
}

impl InputTable {
    /// How many inputs, over every assembly.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bytes(chunks: &[Box<[u8]>], row: u32) -> &[u8] {
        let row = row as usize;
        let offset = (row % CHUNK_ROWS) * ROW_BYTES;
        &chunks[row / CHUNK_ROWS][offset..offset + ROW_BYTES]
    }

    fn event_hash_at(chunks: &[Box<[u8]>], row: u32) -> &[u8] {
        &Self::bytes(chunks, row)[5..37]
    }

    fn content_hash_at(chunks: &[Box<[u8]>], row: u32) -> &[u8] {
        &Self::bytes(chunks, row)[45..77]
    }

    fn row(&self, row: u32) -> (u32, InputRow) {
        let bytes = Self::bytes(&self.chunks, row);
        let ordinal = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
        (ordinal, InputRow::read(&bytes[4..]).expect("rows are written by push"))
    }

    fn hash(hasher: &KeyedPrefixState, key: &[u8]) -> u64 {
        hasher.hash_one(Hash256(key.try_into().expect("32 bytes")))
    }

    /// Adds an input of `assembly`. An event hash is an input at most once (the log holds each
    /// event once), which `debug_assert` checks.
    pub fn push(&mut self, assembly: &AssemblyId, input: InputRow) {
        debug_assert!(self.row_of_event(&input.event_hash).is_none(), "an event is an input once");
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
            self.chunks.push(vec![0u8; CHUNK_ROWS * ROW_BYTES].into_boxed_slice());
        }
        let mut bytes = Vec::with_capacity(ROW_BYTES);
        bytes.extend_from_slice(&ordinal.to_be_bytes());
        input.write(&mut bytes);
        let offset = (row as usize % CHUNK_ROWS) * ROW_BYTES;
        self.chunks.last_mut().expect("a chunk")[offset..offset + ROW_BYTES].copy_from_slice(&bytes);
        self.len = row.checked_add(1).expect("at most 2^32 - 1 inputs");
        self.assemblies[ordinal as usize].1.push(row);

        let Self { chunks, by_event, by_document, hasher, .. } = self;
        by_event.insert_unique(Self::hash(hasher, &input.event_hash.0), row, |&r| {
            Self::hash(hasher, Self::event_hash_at(chunks, r))
        });
        if let Some(document) = input.document() {
            let hash = Self::hash(hasher, &document.0);
            let earliest = |chunks: &[Box<[u8]>], r: u32| {
                u64::from_be_bytes(Self::bytes(chunks, r)[37..45].try_into().expect("8 bytes"))
            };
            match by_document.find_mut(hash, |&r| Self::content_hash_at(chunks, r) == document.0) {
                // Rows come in log order, except when a snapshot is read back assembly by
                // assembly: the earliest input of a document is the one that names it.
                Some(existing) => {
                    if input.log_index < earliest(chunks, *existing) {
                        *existing = row;
                    }
                }
                None => {
                    by_document.insert_unique(hash, row, |&r| Self::hash(hasher, Self::content_hash_at(chunks, r)));
                }
            }
        }
    }

    fn row_of_event(&self, event_hash: &Hash256) -> Option<u32> {
        let chunks = &self.chunks;
        self.by_event
            .find(Self::hash(&self.hasher, &event_hash.0), |&r| Self::event_hash_at(chunks, r) == event_hash.0)
            .copied()
    }

    /// The input recorded by this event, and its assembly.
    pub fn by_event(&self, event_hash: &Hash256) -> Option<(&AssemblyId, InputRow)> {
        let (ordinal, row) = self.row(self.row_of_event(event_hash)?);
        Some((&self.assemblies[ordinal as usize].0, row))
    }

    /// Whether this event hash is an input of `assembly`.
    pub fn is_input_of(&self, assembly: &AssemblyId, event_hash: &Hash256) -> bool {
        self.by_event(event_hash).is_some_and(|(of, _)| of == assembly)
    }

    /// The earliest input whose document has this SHA-256.
    pub fn by_document(&self, sha256: &Hash256) -> Option<InputRow> {
        let chunks = &self.chunks;
        let row = self
            .by_document
            .find(Self::hash(&self.hasher, &sha256.0), |&r| Self::content_hash_at(chunks, r) == sha256.0)?;
        Some(self.row(*row).1)
    }

    /// Every document an input is, with its earliest input.
    pub fn documents(&self) -> impl Iterator<Item = InputRow> + '_ {
        self.by_document.iter().map(|&row| self.row(row).1)
    }

    /// One assembly's inputs, in log order.
    pub fn of_assembly(&self, assembly: &AssemblyId) -> impl Iterator<Item = InputRow> + '_ {
        let rows: &[u32] = self.ordinals.get(assembly).map_or(&[], |&o| self.assemblies[o as usize].1.as_slice());
        rows.iter().map(|&row| self.row(row).1)
    }

    /// How many inputs `assembly` has.
    pub fn count_of(&self, assembly: &AssemblyId) -> usize {
        self.ordinals.get(assembly).map_or(0, |&o| self.assemblies[o as usize].1.len())
    }

    /// Every input, assembly by assembly (in the order each first had one), each in log order.
    pub fn iter(&self) -> impl Iterator<Item = (&AssemblyId, InputRow)> + '_ {
        self.assemblies.iter().flat_map(move |(id, rows)| rows.iter().map(move |&row| (id, self.row(row).1)))
    }
}

/// In a snapshot: a list of `[assembly id, packed rows]`, the rows as
/// [`klero_ledger::records`] packs them.
impl serde::Serialize for InputTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        struct Rows<'a>(&'a InputTable, &'a [u32]);
        impl serde::Serialize for Rows<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let rows: Vec<InputRow> = self.1.iter().map(|&row| self.0.row(row).1).collect();
                klero_ledger::records::serialize(&rows, serializer)
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.assemblies.len()))?;
        for (id, rows) in &self.assemblies {
            seq.serialize_element(&(id, Rows(self, rows)))?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for InputTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<InputTable, D::Error> {
        struct Rows(Vec<InputRow>);
        impl<'de> serde::Deserialize<'de> for Rows {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rows, D::Error> {
                klero_ledger::records::deserialize(deserializer).map(Rows)
            }
        }
        let assemblies: Vec<(AssemblyId, Rows)> = serde::Deserialize::deserialize(deserializer)?;
        let mut table = InputTable::default();
        let total: usize = assemblies.iter().map(|(_, rows)| rows.0.len()).sum();
        table.by_event.reserve(total, |_| 0);
        for (id, rows) in assemblies {
            for row in rows.0 {
                if table.row_of_event(&row.event_hash).is_some() {
                    return Err(serde::de::Error::custom(format!("input {} is in the table twice", row.event_hash)));
                }
                table.push(&id, row);
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: u8, content: u8, log_index: u64, sealed: bool) -> InputRow {
        InputRow {
            kind: InputKind::PublicSubmission,
            event_hash: Hash256::of(&[n]),
            log_index,
            content_hash: Hash256::of(&[0xC0, content]),
            sealed,
        }
    }

    #[test]
    fn inputs_are_found_by_event_by_document_and_by_assembly_and_survive_a_snapshot() {
        let a = AssemblyId::parse("alpha").expect("id");
        let b = AssemblyId::parse("beta").expect("id");
        let mut table = InputTable::default();
        // More than a chunk, so rows cross chunk boundaries and the indexes grow.
        for n in 0..(CHUNK_ROWS as u32 + 10) {
            let assembly = if n % 3 == 0 { &b } else { &a };
            let event_hash = Hash256::of(&n.to_be_bytes());
            let content_hash = Hash256::of(&(n % 1000).to_be_bytes());
            table.push(
                assembly,
                InputRow {
                    kind: InputKind::PublicSubmission,
                    event_hash,
                    log_index: n as u64,
                    content_hash,
                    sealed: n % 7 == 0,
                },
            );
        }
        let check = |table: &InputTable| {
            assert_eq!(table.len(), CHUNK_ROWS + 10);
            assert_eq!(table.count_of(&b), (CHUNK_ROWS + 10).div_ceil(3));
            let last = CHUNK_ROWS as u32 + 8; // a multiple of 3: beta's
            let (of, row) = table.by_event(&Hash256::of(&last.to_be_bytes())).expect("found");
            assert_eq!((of, row.log_index), (&b, last as u64));
            assert!(table.is_input_of(&b, &row.event_hash) && !table.is_input_of(&a, &row.event_hash));
            assert!(table.by_event(&Hash256::of(b"not an input")).is_none());
            // The earliest unsealed input of content 5 is number 5 (7 is sealed, but 5 is not).
            assert_eq!(table.by_document(&Hash256::of(&5u32.to_be_bytes())).expect("doc").log_index, 5);
            // Content 7's inputs are 7 (sealed), 1007, 2007, …: the earliest document is 1007.
            assert_eq!(table.by_document(&Hash256::of(&7u32.to_be_bytes())).expect("doc").log_index, 1007);
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
    fn a_snapshot_that_holds_an_input_twice_is_refused() {
        let a = AssemblyId::parse("alpha").expect("id");
        let mut table = InputTable::default();
        table.push(&a, input(1, 1, 0, false));
        let json = serde_json::to_string(&table).expect("serialises");
        let inner = &json[1..json.len() - 1];
        let twice = format!("[{inner},{inner}]");
        let refused = serde_json::from_str::<InputTable>(&twice).expect_err("refused");
        assert!(refused.to_string().contains("twice"), "{refused}");
    }
}
