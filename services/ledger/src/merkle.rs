//! The RFC 6962 / RFC 9162 Merkle tree over event hashes in global log order.
//!
//! `leaf_hash = SHA-256(0x00 | event_hash)`, `node_hash = SHA-256(0x01 | left | right)`, and the
//! root of the empty tree is `SHA-256("")`. [`MerkleTree`] caches every complete subtree, so a
//! root, inclusion proof or consistency proof at any size costs O(log n) lookups plus at most
//! O(log² n) hashes for the incomplete right edge, never a pass over the leaves.

use crate::hash::Hash256;

/// Merkle leaf hash of one log entry (the entry is the 32-byte event hash).
pub fn leaf_hash(entry: &[u8]) -> Hash256 {
    Hash256::of_parts(&[&[0x00], entry])
}

/// Merkle interior node hash.
pub fn node_hash(left: &Hash256, right: &Hash256) -> Hash256 {
    Hash256::of_parts(&[&[0x01], &left.0, &right.0])
}

/// Root of the tree with no leaves.
pub fn empty_root() -> Hash256 {
    Hash256::of(b"")
}

/// Largest power of two strictly less than `n` (n ≥ 2), the RFC 6962 split point.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only Merkle tree that keeps the hash of every complete, aligned subtree.
#[derive(Clone, Debug, Default)]
pub struct MerkleTree {
    /// `levels[h][i]` is the hash of leaves `[i·2^h, (i+1)·2^h)`; `levels[0]` holds leaf hashes.
    levels: Vec<Vec<Hash256>>,
}

impl MerkleTree {
    pub fn new() -> MerkleTree {
        MerkleTree { levels: vec![Vec::new()] }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends the entry (an event hash) as the next leaf.
    pub fn push_entry(&mut self, entry: &Hash256) {
        self.push_leaf_hash(leaf_hash(&entry.0));
    }

    /// Appends a leaf by its already computed leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash256) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        // A level gains a parent whenever it reaches an even length.
        while self.levels[level].len().is_multiple_of(2) {
            let count = self.levels[level].len();
            let parent = node_hash(&self.levels[level][count - 2], &self.levels[level][count - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// Leaf hash at `index`, if present.
    pub fn leaf(&self, index: u64) -> Option<Hash256> {
        self.levels.first()?.get(usize::try_from(index).ok()?).copied()
    }

    /// Root of the current tree.
    pub fn root(&self) -> Hash256 {
        self.root_at(self.size()).unwrap_or_else(|_| empty_root())
    }

    /// Root of the tree made of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash256, ProofError> {
        if size > self.size() {
            return Err(ProofError::SizeBeyondTree { size, tree_size: self.size() });
        }
        if size == 0 {
            return Ok(empty_root());
        }
        Ok(self.subtree_hash(0, size))
    }

    /// MTH(D[start:end]) for a range that the RFC recursion produces: `start` is a multiple of
    /// the largest power of two not exceeding `end - start`.
    fn subtree_hash(&self, start: u64, end: u64) -> Hash256 {
        let width = end - start;
        if width.is_power_of_two() {
            let height = width.trailing_zeros() as usize;
            return self.levels[height][(start >> height) as usize];
        }
        let k = split_point(width);
        node_hash(&self.subtree_hash(start, start + k), &self.subtree_hash(start + k, end))
    }

    /// Inclusion proof (RFC 6962 PATH) for the leaf at `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash256>, ProofError> {
        if size > self.size() {
            return Err(ProofError::SizeBeyondTree { size, tree_size: self.size() });
        }
        if index >= size {
            return Err(ProofError::IndexBeyondSize { index, size });
        }
        let mut proof = Vec::with_capacity(64);
        let (mut start, mut end, mut target) = (0u64, size, index);
        // Walk down from the root, collecting siblings; the RFC lists them leaf-first.
        while end - start > 1 {
            let k = split_point(end - start);
            if target < k {
                proof.push(self.subtree_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.subtree_hash(start, start + k));
                start += k;
                target -= k;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// Consistency proof (RFC 6962 PROOF) between the trees of `old_size` and `new_size` leaves.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, ProofError> {
        if new_size > self.size() {
            return Err(ProofError::SizeBeyondTree { size: new_size, tree_size: self.size() });
        }
        if old_size > new_size {
            return Err(ProofError::OldSizeBeyondNewSize { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        let mut proof = Vec::with_capacity(64);
        let (mut start, mut end, mut m, mut complete) = (0u64, new_size, old_size, true);
        // Iterative SUBPROOF(m, D[start:end], complete); siblings collected root-first.
        loop {
            let n = end - start;
            if m == n {
                if !complete {
                    proof.push(self.subtree_hash(start, end));
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                proof.push(self.subtree_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.subtree_hash(start, start + k));
                start += k;
                m -= k;
                complete = false;
            }
        }
        // SUBPROOF lists the terminal subtree (if any) first and then siblings from the deepest
        // level up; the walk above met them top-down, so the RFC order is the exact reversal.
        proof.reverse();
        Ok(proof)
    }
}

/// Verifies an RFC 9162 §2.1.3.2 inclusion proof.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf: &Hash256,
    proof: &[Hash256],
    root: &Hash256,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexBeyondSize { index: leaf_index, size: tree_size });
    }
    let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
    let mut computed = *leaf;
    for sibling in proof {
        if sn == 0 {
            return Err(ProofError::WrongProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            computed = node_hash(sibling, &computed);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            computed = node_hash(&computed, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if computed != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies an RFC 9162 §2.1.4.2 consistency proof between two roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash256,
    new_root: &Hash256,
    proof: &[Hash256],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeBeyondNewSize { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength);
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if old_size == 0 {
        // Every tree extends the empty tree; there is nothing to prove.
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength);
        }
        return if *old_root == empty_root() { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongProofLength);
    }
    let mut path: Vec<Hash256> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut old_computed, mut new_computed) = (path[0], path[0]);
    for sibling in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            old_computed = node_hash(sibling, &old_computed);
            new_computed = node_hash(sibling, &new_computed);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            new_computed = node_hash(&new_computed, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if old_computed != *old_root || new_computed != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("tree size {size} is beyond the log's {tree_size} entries")]
    SizeBeyondTree { size: u64, tree_size: u64 },
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeBeyondNewSize { old_size: u64, new_size: u64 },
    #[error("proof has the wrong number of hashes for these tree sizes")]
    WrongProofLength,
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
}
