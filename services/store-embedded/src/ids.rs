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
    /// While a store opens: slots not in the table yet ([`EventIdIndex::gather`]).
    gathered: Vec<u64>,
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

    /// Spreads a fingerprint over 64 bits (SplitMix64's finaliser), so that the table, whose
    /// slots keep only the fingerprint, can grow from the slots alone, with both the bucket's
    /// bits and the control byte's depending on all of it.
    fn spread(fingerprint: u64) -> u64 {
        let mut x = fingerprint ^ 0x9E37_79B9_7F4A_7C15;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    pub(crate) fn insert(&mut self, id: &EventId, position: u64) {
        self.insert_fingerprint(self.fingerprint(id), position);
    }

    fn insert_fingerprint(&mut self, fingerprint: u64, position: u64) {
        assert!(position < POSITIONS_MAX, "the writer refuses positions from POSITIONS_MAX on");
        let slot = fingerprint << POSITION_BITS | position;
        self.slots.insert_unique(Self::spread(fingerprint), slot, |slot| Self::spread(slot >> POSITION_BITS));
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

    /// Notes an id at `position`, given its fingerprint ([`IdFingerprints::of`]), to be put in
    /// the table by [`EventIdIndex::settle`] (opening a store does this for every record).
    pub(crate) fn gather(&mut self, fingerprint: u64, position: u64) {
        assert!(position < POSITIONS_MAX, "the writer refuses positions from POSITIONS_MAX on");
        self.gathered.push(fingerprint << POSITION_BITS | position);
    }

    /// Room for `additional` more gathered ids: opening a store reserves what its segments'
    /// sizes suggest, so that the list is not copied as it doubles.
    pub(crate) fn reserve_gathered(&mut self, additional: usize) {
        self.gathered.reserve(additional);
    }

    /// Puts the gathered ids in the table, a part of it at a time, and returns each position
    /// whose fingerprint another position's id has too, with those positions: each pair is
    /// corruption if their records hold one id. Put in as the records came, ten million ids
    /// missed the cache on nearly every insert, a second of a start's CPU; sorted by the part
    /// of the table they land in (256 parts), they find their part mostly in the cache.
    pub(crate) fn settle(&mut self) -> Vec<(u64, Vec<u64>)> {
        let mut gathered = std::mem::take(&mut self.gathered);
        self.slots.reserve(gathered.len(), |slot| Self::spread(slot >> POSITION_BITS));
        // A bucket is the spread hash's low bits (hashbrown's layout); the part, the top
        // 8 of those bits.
        let bucket_bits = (self.slots.capacity().max(1) * 8 / 7).next_power_of_two().trailing_zeros();
        let shift = bucket_bits.saturating_sub(8);
        partition_in_place(&mut gathered, |slot| ((Self::spread(slot >> POSITION_BITS) >> shift) & 0xFF) as usize);
        let mut shared = Vec::new();
        for slot in gathered {
            let (fingerprint, position) = (slot >> POSITION_BITS, slot & (POSITIONS_MAX - 1));
            let others = self.candidates_of(fingerprint);
            if !others.is_empty() {
                shared.push((position, others));
            }
            self.insert_fingerprint(fingerprint, position);
        }
        shared
    }
}

/// Orders `values` by `part` (0..256), in place: each value moves once, to the next free place
/// of its part (an American-flag pass).
fn partition_in_place(values: &mut [u64], part: impl Fn(u64) -> usize) {
    let mut counts = [0usize; 256];
    for &value in values.iter() {
        counts[part(value)] += 1;
    }
    let mut next = [0usize; 256];
    let mut end = [0usize; 256];
    let mut start = 0;
    for p in 0..256 {
        next[p] = start;
        start += counts[p];
        end[p] = start;
    }
    for p in 0..256 {
        while next[p] < end[p] {
            let value = values[next[p]];
            let home = part(value);
            if home == p {
                next[p] += 1;
            } else {
                values.swap(next[p], next[home]);
                next[home] += 1;
            }
        }
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

    #[test]
    fn gathered_ids_settle_into_the_table_and_name_every_shared_fingerprint() {
        let id = |n: u64| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            EventId(bytes)
        };
        let mut index = EventIdIndex::default();
        let fingerprints = index.fingerprints();
        index.reserve_gathered(200_000);
        // Ids 0..200,000 at positions 0..200,000, then id 7 again at 200,000 and id 150,000
        // again at 200,001 (what a damaged log would hold).
        let log: Vec<u64> = (0..200_000).chain([7, 150_000]).collect();
        for (position, n) in log.iter().enumerate() {
            index.gather(fingerprints.of(&id(*n)), position as u64 + (1 << 33));
        }
        let shared = index.settle();
        for (position, n) in log.iter().enumerate().step_by(991) {
            assert!(index.candidates(&id(*n)).contains(&(position as u64 + (1 << 33))), "{n} at {position}");
        }
        // Each repeat comes up with its first position, whichever of the two settled first.
        for (first, again) in [(7u64, 200_000u64), (150_000, 200_001)] {
            let (first, again) = (first + (1 << 33), again + (1 << 33));
            assert!(
                shared.iter().any(|(position, others)| (*position == again && others.contains(&first))
                    || (*position == first && others.contains(&again))),
                "{first} and {again}"
            );
        }
        // Others share 30 bits by chance: about 200,000² / 2³¹ ≈ 19 pairs.
        assert!(shared.len() <= 2 + 80, "{} shared fingerprints", shared.len());
        // After settling, appends insert one at a time again.
        index.insert(&id(9_999_999), 5);
        assert!(index.candidates(&id(9_999_999)).contains(&5));
    }

    #[test]
    fn a_partition_in_place_orders_by_part_and_keeps_every_value() {
        let mut values: Vec<u64> = (0..10_000u64).map(|n| n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        let mut sorted = values.clone();
        partition_in_place(&mut values, |v| (v >> 56) as usize);
        assert!(values.windows(2).all(|pair| pair[0] >> 56 <= pair[1] >> 56));
        values.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(values, sorted);
    }
}
