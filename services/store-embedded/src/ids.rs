//! The event-id index: each event id's position, in 12 bytes a slot where a map of ids to
//! positions took 25. A slot keeps 32 bits of the id's keyed hash and the position, and the
//! table's own hash is a function of those 32 bits, so it can grow without the ids. A lookup
//! gives the positions whose 32 bits match, and the caller confirms each by reading its
//! record's id. For an id that is not in the log, a candidate comes up with probability
//! n / 2³² with n ids held (0.2% of new ids at 10 million), and costs one read of a record.

use hashbrown::HashTable;
use klero_ledger::envelope::EventId;
use std::hash::BuildHasher;

#[derive(Debug, Default)]
pub(crate) struct EventIdIndex {
    /// `[fingerprint, position's low 32 bits, position's high 32 bits]`.
    slots: HashTable<[u32; 3]>,
    /// Keyed per index, so that nobody can choose ids that crowd one bucket.
    hasher: std::collections::hash_map::RandomState,
}

impl EventIdIndex {
    fn fingerprint(&self, id: &EventId) -> u32 {
        self.hasher.hash_one(id.0) as u32
    }

    /// The table's hash: the fingerprint spread over 64 bits (SplitMix64's finaliser), so
    /// that both the bucket's bits and the control byte's depend on all of it.
    fn spread(fingerprint: u32) -> u64 {
        let mut x = fingerprint as u64 ^ 0x9E37_79B9_7F4A_7C15;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    pub(crate) fn insert(&mut self, id: &EventId, position: u64) {
        let fingerprint = self.fingerprint(id);
        let slot = [fingerprint, position as u32, (position >> 32) as u32];
        self.slots.insert_unique(Self::spread(fingerprint), slot, |slot| Self::spread(slot[0]));
    }

    /// The positions that may hold `id`: each must be confirmed by its record.
    pub(crate) fn candidates(&self, id: &EventId) -> Vec<u64> {
        let fingerprint = self.fingerprint(id);
        self.slots
            .iter_hash(Self::spread(fingerprint))
            .filter(|slot| slot[0] == fingerprint)
            .map(|slot| slot[1] as u64 | (slot[2] as u64) << 32)
            .collect()
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
        // Expected 100,000 × 100,000 / 2³² ≈ 2.3.
        assert!(strangers <= 20, "{strangers} of 100,000 absent ids had a candidate");
    }
}
