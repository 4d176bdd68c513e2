//! The event-id index: each event id's position, in 8 bytes a slot where a map of ids to
//! positions took 25. A slot keeps 30 bits of the id's keyed hash and 34 bits of the
//! position, and the table's own hash is a function of those 30 bits, so it can grow without
//! the ids. A lookup gives the positions whose 30 bits match, and the caller confirms each by
//! reading its record's id. For an id that is not in the log, a candidate comes up with
//! probability n / 2³⁰ with n ids held (0.9% of new ids at 10 million), and costs one read of
//! a record, which the page cache usually holds; on open, about n² / 2³¹ pairs of ids share
//! their bits (47,000 at 10 million) and each costs two.

use hashbrown::HashTable;
use klero_ledger::envelope::EventId;
use std::hash::BuildHasher;

/// The store holds positions below this (17.2 billion events): a slot keeps 34 bits of one.
pub(crate) const POSITIONS_MAX: u64 = 1 << POSITION_BITS;
const POSITION_BITS: u32 = 34;

#[derive(Debug, Default)]
pub(crate) struct EventIdIndex {
    /// The fingerprint in the high 30 bits, the position in the low 34.
    slots: HashTable<u64>,
    fingerprints: IdFingerprints,
}

/// How an index takes an id's fingerprint: keyed per index, so that nobody can choose ids that
/// crowd one bucket. A copy computes fingerprints away from the index (opening a store does,
/// on the thread that decodes segments).
#[derive(Clone, Debug, Default)]
pub(crate) struct IdFingerprints(std::collections::hash_map::RandomState);

impl IdFingerprints {
    pub(crate) fn of(&self, id: &EventId) -> u64 {
        self.0.hash_one(id.0) >> POSITION_BITS
    }
}

impl EventIdIndex {
    fn fingerprint(&self, id: &EventId) -> u64 {
        self.fingerprints.of(id)
    }

    /// The fingerprints this index takes.
    pub(crate) fn fingerprints(&self) -> IdFingerprints {
        self.fingerprints.clone()
    }

    fn spread(fingerprint: u64) -> u64 {
        klero_ledger::hash::spread_fingerprint(fingerprint)
    }

    pub(crate) fn insert(&mut self, id: &EventId, position: u64) {
        self.insert_fingerprint(self.fingerprint(id), position);
    }

    fn insert_fingerprint(&mut self, fingerprint: u64, position: u64) {
        assert!(position < POSITIONS_MAX, "the writer refuses positions from POSITIONS_MAX on");
        let slot = fingerprint << POSITION_BITS | position;
        self.slots.insert_unique(Self::spread(fingerprint), slot, |slot| Self::spread(slot >> POSITION_BITS));
    }

    /// Room for `additional` more ids without growing: opening a store reserves what its
    /// segments' sizes suggest, so that the table is not rebuilt as it doubles.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional, |slot| Self::spread(slot >> POSITION_BITS));
    }

    /// The positions that may hold `id`: each must be confirmed by its record.
    pub(crate) fn candidates(&self, id: &EventId) -> Vec<u64> {
        self.candidates_of(self.fingerprint(id))
    }

    fn candidates_of(&self, fingerprint: u64) -> Vec<u64> {
        self.slots
            .iter_hash(Self::spread(fingerprint))
            .filter(|slot| *slot >> POSITION_BITS == fingerprint)
            .map(|slot| slot & (POSITIONS_MAX - 1))
            .collect()
    }

    /// Inserts an id at `position`, given its fingerprint ([`IdFingerprints::of`]), and returns
    /// the earlier positions that may hold it too (opening a store does this for every record).
    pub(crate) fn insert_after_candidates(&mut self, fingerprint: u64, position: u64) -> Vec<u64> {
        let earlier = self.candidates_of(fingerprint);
        self.insert_fingerprint(fingerprint, position);
        earlier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_a_candidate_at_its_position_and_others_rarely_are() {
        let mut index = EventIdIndex::default();
        let id = |n: u64| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            EventId(bytes)
        };
        for n in 0..100_000u64 {
            // Positions beyond 32 bits keep their high bits.
            index.insert(&id(n), n + (1 << 33));
        }
        for n in (0..100_000u64).step_by(997) {
            assert!(index.candidates(&id(n)).contains(&(n + (1 << 33))));
        }
        let strangers = (1_000_000..1_100_000u64).filter(|n| !index.candidates(&id(*n)).is_empty()).count();
        // Expected 100,000 × 100,000 / 2³⁰ ≈ 9.3.
        assert!(strangers <= 40, "{strangers} of 100,000 absent ids had a candidate");
    }
}
