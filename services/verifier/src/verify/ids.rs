//! Every event id the replay has seen, to find one used twice (FORMAT.md: event ids are
//! unique across the log). A map of ids took about 40 bytes an event, 400 MB at 10 million.
//! Here a slot is 8 bytes (32 bits of the id's keyed hash and the row where the id is kept),
//! and the ids themselves, with their log indexes, are rows of a scratch file when the
//! verifier has spill files: a slot whose 32 bits match is confirmed by reading its row.

use hashbrown::HashTable;
use klero_domain::spill::{SpillFile, SpillFiles};
use std::hash::BuildHasher;

/// An id and its log index.
const ROW_BYTES: usize = 24;
/// Rows written to the scratch file at once.
const PENDING_ROWS_MAX: usize = 65_536;

pub(super) struct SeenIds {
    /// The fingerprint in the high 32 bits, the row in the low 32.
    slots: HashTable<u64>,
    /// Keyed per replay, so that an export cannot crowd one bucket with chosen ids.
    hasher: std::collections::hash_map::RandomState,
    /// Rows `0..written` are in the file; the rest are pending.
    file: Option<Box<dyn SpillFile>>,
    written: u32,
    pending: Vec<u8>,
}

/// What [`SeenIds::insert`] found.
pub(super) enum Seen {
    New,
    /// The id is already at this log index.
    Before(u64),
    /// More ids than rows can number.
    TooMany,
}

impl SeenIds {
    /// Keeps the ids in memory, or in a scratch file that `spill` makes.
    pub(super) fn new(spill: Option<&dyn SpillFiles>) -> SeenIds {
        // Without a file, every row stays pending: the same code, all in memory.
        let file = spill.map(|files| {
            files
                .create()
                .unwrap_or_else(|error| panic!("the verifier cannot make a scratch file for event ids: {error}"))
        });
        SeenIds { slots: HashTable::new(), hasher: Default::default(), file, written: 0, pending: Vec::new() }
    }

    fn fingerprint(&self, id: &[u8; 16]) -> u64 {
        self.hasher.hash_one(id) >> 32
    }

    fn spread(fingerprint: u64) -> u64 {
        klero_ledger::hash::spread_fingerprint(fingerprint)
    }

    fn row(&self, row: u32) -> ([u8; 16], u64) {
        let mut bytes = [0u8; ROW_BYTES];
        match row.checked_sub(self.written) {
            Some(pending) => {
                let at = pending as usize * ROW_BYTES;
                bytes.copy_from_slice(&self.pending[at..at + ROW_BYTES]);
            }
            None => {
                let file = self.file.as_ref().expect("rows before `written` are in the file");
                if let Err(error) = file.read_exact_at(&mut bytes, row as u64 * ROW_BYTES as u64) {
                    panic!("the verifier's scratch file of event ids failed ({error}); it stops rather than guess");
                }
            }
        }
        (bytes[..16].try_into().expect("16"), u64::from_be_bytes(bytes[16..].try_into().expect("8")))
    }

    pub(super) fn insert(&mut self, id: [u8; 16], index: u64) -> Seen {
        let fingerprint = self.fingerprint(&id);
        let hash = Self::spread(fingerprint);
        let earlier = self
            .slots
            .iter_hash(hash)
            .filter(|slot| *slot >> 32 == fingerprint)
            .map(|slot| self.row(*slot as u32))
            .find(|(seen, _)| *seen == id);
        if let Some((_, at)) = earlier {
            return Seen::Before(at);
        }
        let rows = self.written as usize + self.pending.len() / ROW_BYTES;
        let Ok(row) = u32::try_from(rows) else { return Seen::TooMany };
        self.pending.extend_from_slice(&id);
        self.pending.extend_from_slice(&index.to_be_bytes());
        self.slots.insert_unique(hash, fingerprint << 32 | row as u64, |slot| Self::spread(slot >> 32));
        if let Some(file) = self.file.as_ref().filter(|_| self.pending.len() >= PENDING_ROWS_MAX * ROW_BYTES) {
            if let Err(error) = file.write_all_at(&self.pending, self.written as u64 * ROW_BYTES as u64) {
                panic!("the verifier's scratch file of event ids failed ({error}); it stops rather than guess");
            }
            self.written += (self.pending.len() / ROW_BYTES) as u32;
            self.pending.clear();
        }
        Seen::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klero_domain::spill::MemoryFiles;

    #[test]
    fn an_id_seen_before_is_found_in_the_file_or_in_memory_and_no_other_is() {
        for files in [None, Some(&MemoryFiles as &dyn SpillFiles)] {
            let mut seen = SeenIds::new(files);
            let id = |n: u64| -> [u8; 16] { [n.to_be_bytes(), (n * 7).to_be_bytes()].concat().try_into().expect("16") };
            let count = 2 * PENDING_ROWS_MAX as u64 + 10;
            for n in 0..count {
                assert!(matches!(seen.insert(id(n), n + 100), Seen::New), "{n} is new");
            }
            assert_eq!(seen.file.is_some(), seen.written > 0, "rows went to the file when there is one");
            // One written to the file, one pending, each found with its log index.
            for n in [3, count - 1] {
                assert!(matches!(seen.insert(id(n), 0), Seen::Before(at) if at == n + 100), "{n} again");
            }
        }
    }
}
