//! The store's in-memory index in few bytes an event: lists that grow a chunk at a time (no
//! doubling slack on long ones), positions in 5 bytes, record locations in 4.

/// Entries in a chunk: the first chunk grows as a `Vec` does, up to this; later ones are
/// allocated at this size once.
const CHUNK: usize = 65_536;

/// A list that only grows.
#[derive(Debug)]
pub(crate) struct ChunkedList<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedList<T> {
    fn default() -> Self {
        ChunkedList { chunks: Vec::new(), len: 0 }
    }
}

impl<T: Copy> ChunkedList<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(value),
            Some(_) => self.chunks.push({
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                chunk
            }),
            None => self.chunks.push(vec![value]),
        }
        self.len += 1;
    }

    pub(crate) fn get(&self, index: usize) -> Option<T> {
        (index < self.len).then(|| self.chunks[index / CHUNK][index % CHUNK])
    }

    /// Entries `from..`, in order.
    pub(crate) fn iter_from(&self, from: usize) -> impl Iterator<Item = T> + '_ {
        (from.min(self.len)..self.len).map(move |index| self.chunks[index / CHUNK][index % CHUNK])
    }
}

/// The store's positions are below 2³⁴ (`ids::POSITIONS_MAX`), so each fits in 5 bytes.
#[derive(Debug, Default)]
pub(crate) struct PositionList(ChunkedList<[u8; 5]>);

impl PositionList {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn push(&mut self, position: u64) {
        assert!(position < 1 << 40, "positions are below 2^40");
        self.0.push(position.to_be_bytes()[3..].try_into().expect("5 bytes"));
    }

    fn widen(bytes: [u8; 5]) -> u64 {
        let mut wide = [0u8; 8];
        wide[3..].copy_from_slice(&bytes);
        u64::from_be_bytes(wide)
    }

    pub(crate) fn get(&self, index: usize) -> Option<u64> {
        self.0.get(index).map(Self::widen)
    }

    pub(crate) fn iter_from(&self, from: usize) -> impl Iterator<Item = u64> + '_ {
        self.0.iter_from(from).map(Self::widen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_back_across_chunks_and_positions_keep_40_bits() {
        let mut list = PositionList::default();
        let position = |n: u64| n * 3 + (1 << 39);
        for n in 0..(2 * CHUNK as u64 + 5) {
            list.push(position(n));
        }
        assert_eq!(list.len(), 2 * CHUNK + 5);
        for n in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 4] {
            assert_eq!(list.get(n), Some(position(n as u64)));
        }
        assert_eq!(list.get(2 * CHUNK + 5), None);
        let tail: Vec<u64> = list.iter_from(2 * CHUNK + 3).collect();
        assert_eq!(tail, [position(2 * CHUNK as u64 + 3), position(2 * CHUNK as u64 + 4)]);
        assert_eq!(list.iter_from(usize::MAX).count(), 0);
    }
}
