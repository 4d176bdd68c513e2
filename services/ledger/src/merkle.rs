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
        root_at(&mut &*self, size)
    }

    /// Inclusion proof (RFC 6962 PATH) for the leaf at `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash256>, ProofError> {
        inclusion_proof(&mut &*self, index, size)
    }

    /// Consistency proof (RFC 6962 PROOF) between the trees of `old_size` and `new_size` leaves.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, ProofError> {
        consistency_proof(&mut &*self, old_size, new_size)
    }

    /// One proof of the leaves at `indices` (strictly increasing) in the tree of `size` leaves
    /// (FORMAT.md §3.1).
    pub fn batch_inclusion_proof(&self, indices: &[u64], size: u64) -> Result<Vec<Hash256>, ProofError> {
        batch_inclusion_proof(&mut &*self, indices, size)
    }
}

impl Subtrees for &MerkleTree {
    fn size(&self) -> u64 {
        MerkleTree::size(self)
    }

    fn aligned_subtree(&mut self, start: u64, height: u32) -> Result<Hash256, ProofError> {
        Ok(self.levels[height as usize][(start >> height) as usize])
    }
}

/// A tree whose hashes of complete, aligned subtrees can be looked up: the one thing the proof
/// algorithms below need. `&mut` so that a source may remember what it read for one proof.
trait Subtrees {
    fn size(&self) -> u64;
    /// MTH of leaves `[start, start + 2^height)`, a complete subtree with `start` a multiple
    /// of `2^height`.
    fn aligned_subtree(&mut self, start: u64, height: u32) -> Result<Hash256, ProofError>;
}

/// MTH(D[start:end]) for a range that the RFC recursion produces: `start` is a multiple of
/// the largest power of two not exceeding `end - start`.
fn subtree_hash(tree: &mut impl Subtrees, start: u64, end: u64) -> Result<Hash256, ProofError> {
    let width = end - start;
    if width.is_power_of_two() {
        return tree.aligned_subtree(start, width.trailing_zeros());
    }
    let k = split_point(width);
    Ok(node_hash(&subtree_hash(tree, start, start + k)?, &subtree_hash(tree, start + k, end)?))
}

fn root_at(tree: &mut impl Subtrees, size: u64) -> Result<Hash256, ProofError> {
    if size > tree.size() {
        return Err(ProofError::SizeBeyondTree { size, tree_size: tree.size() });
    }
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(tree, 0, size)
}

fn inclusion_proof(tree: &mut impl Subtrees, index: u64, size: u64) -> Result<Vec<Hash256>, ProofError> {
    if size > tree.size() {
        return Err(ProofError::SizeBeyondTree { size, tree_size: tree.size() });
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
            proof.push(subtree_hash(tree, start + k, end)?);
            end = start + k;
        } else {
            proof.push(subtree_hash(tree, start, start + k)?);
            start += k;
            target -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

fn consistency_proof(tree: &mut impl Subtrees, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, ProofError> {
    if new_size > tree.size() {
        return Err(ProofError::SizeBeyondTree { size: new_size, tree_size: tree.size() });
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
                proof.push(subtree_hash(tree, start, end)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(subtree_hash(tree, start + k, end)?);
            end = start + k;
        } else {
            proof.push(subtree_hash(tree, start, start + k)?);
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

/// Leaves a batch inclusion proof may name: it is sent to browsers, so it is bounded.
pub const BATCH_INCLUSION_LEAVES_MAX: usize = 1 << 22;

/// Checks that batch indices are strictly increasing and inside the tree.
fn check_batch_indices(indices: impl Iterator<Item = u64>, size: u64) -> Result<usize, ProofError> {
    let mut previous: Option<u64> = None;
    let mut count = 0usize;
    for index in indices {
        if index >= size {
            return Err(ProofError::IndexBeyondSize { index, size });
        }
        if previous.is_some_and(|p| index <= p) {
            return Err(ProofError::IndicesNotIncreasing);
        }
        previous = Some(index);
        count += 1;
        if count > BATCH_INCLUSION_LEAVES_MAX {
            return Err(ProofError::TooManyLeaves { max: BATCH_INCLUSION_LEAVES_MAX });
        }
    }
    Ok(count)
}

/// FORMAT.md §3.1: `PROOF(I, D[a:b])` is `[MTH(D[a:b])]` when no index of `I` is in `[a, b)`,
/// empty for a single leaf of `I`, and otherwise the left half's proof then the right half's,
/// split as RFC 6962 splits. Every hash appears in the order a verifier consumes it.
fn batch_inclusion_proof(tree: &mut impl Subtrees, indices: &[u64], size: u64) -> Result<Vec<Hash256>, ProofError> {
    if size > tree.size() {
        return Err(ProofError::SizeBeyondTree { size, tree_size: tree.size() });
    }
    check_batch_indices(indices.iter().copied(), size)?;
    let mut proof = Vec::new();
    if size > 0 {
        batch_subproof(tree, indices, 0, size, &mut proof)?;
    }
    Ok(proof)
}

fn batch_subproof(
    tree: &mut impl Subtrees,
    indices: &[u64],
    start: u64,
    end: u64,
    proof: &mut Vec<Hash256>,
) -> Result<(), ProofError> {
    if indices.is_empty() {
        proof.push(subtree_hash(tree, start, end)?);
        return Ok(());
    }
    if end - start == 1 {
        return Ok(());
    }
    let middle = start + split_point(end - start);
    let split = indices.partition_point(|index| *index < middle);
    batch_subproof(tree, &indices[..split], start, middle, proof)?;
    batch_subproof(tree, &indices[split..], middle, end, proof)
}

/// Verifies a batch inclusion proof (FORMAT.md §3.1): `leaves` are (leaf index, leaf hash) in
/// strictly increasing index order, each below `tree_size`, and the proof must be consumed
/// exactly.
pub fn verify_batch_inclusion(
    tree_size: u64,
    leaves: &[(u64, Hash256)],
    proof: &[Hash256],
    root: &Hash256,
) -> Result<(), ProofError> {
    check_batch_indices(leaves.iter().map(|(index, _)| *index), tree_size)?;
    if tree_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength);
        }
        return if *root == empty_root() { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let mut remaining = proof.iter();
    let computed = batch_root(leaves, 0, tree_size, &mut remaining)?;
    if remaining.next().is_some() {
        return Err(ProofError::WrongProofLength);
    }
    if computed != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn batch_root<'p>(
    leaves: &[(u64, Hash256)],
    start: u64,
    end: u64,
    proof: &mut impl Iterator<Item = &'p Hash256>,
) -> Result<Hash256, ProofError> {
    if leaves.is_empty() {
        return proof.next().copied().ok_or(ProofError::WrongProofLength);
    }
    if end - start == 1 {
        return Ok(leaves[0].1);
    }
    let middle = start + split_point(end - start);
    let split = leaves.partition_point(|(index, _)| *index < middle);
    let left = batch_root(&leaves[..split], start, middle, proof)?;
    let right = batch_root(&leaves[split..], middle, end, proof)?;
    Ok(node_hash(&left, &right))
}

/// The right edge of a growing tree: the roots of its complete subtrees, largest first. It
/// gives the root at every size as the tree grows, in O(log n) memory: what a verifier that
/// reads a log once needs to check each checkpoint it passes.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<Hash256>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the entry (an event hash) as the next leaf.
    pub fn push_entry(&mut self, entry: &Hash256) {
        let mut node = leaf_hash(&entry.0);
        // Each trailing 1 bit of the old size is a complete subtree that now has a sibling.
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.subtrees.pop().expect("one subtree per 1 bit of the size");
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.subtrees.push(node);
        self.size += 1;
    }

    /// The roots of the complete subtrees the edge is made of, largest first: with the size,
    /// all a follower keeps to go on ([`Frontier::from_parts`]).
    pub fn subtrees(&self) -> &[Hash256] {
        &self.subtrees
    }

    /// The edge of a tree of `size` leaves from its subtrees' roots, largest first; `None`
    /// unless there is one for each 1 bit of `size`.
    pub fn from_parts(size: u64, subtrees: Vec<Hash256>) -> Option<Frontier> {
        (subtrees.len() == size.count_ones() as usize).then_some(Frontier { size, subtrees })
    }

    /// The root of the tree as it stands (RFC 6962 MTH).
    pub fn root(&self) -> Hash256 {
        let mut subtrees = self.subtrees.iter().rev();
        let Some(last) = subtrees.next() else { return empty_root() };
        subtrees.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Leaves per block of a [`CompactMerkleTree`]: the hashes of complete blocks and everything
/// above them stay in memory; the leaves of complete blocks live in [`LeafStorage`].
pub const LEAVES_PER_BLOCK: u64 = 16;

/// The hashes of whole blocks of leaves, in order. Loading a tree hashes every stored leaf
/// again (a tenth of a start at 10 million events), so it uses two cores where there are two.
fn block_hashes(leaves: &[Hash256]) -> Vec<Hash256> {
    let hash = |part: &[Hash256]| part.chunks(LEAVES_PER_BLOCK as usize).map(block_hash).collect::<Vec<_>>();
    if leaves.len() < 1024 * LEAVES_PER_BLOCK as usize {
        return hash(leaves);
    }
    let (first, second) = leaves.split_at((leaves.len() / 2).next_multiple_of(LEAVES_PER_BLOCK as usize));
    let (mut hashes, later) = crate::parallel::join(|| hash(first), || hash(second));
    hashes.extend(later);
    hashes
}
const BLOCK_HEIGHT: u32 = LEAVES_PER_BLOCK.trailing_zeros();

/// Where a [`CompactMerkleTree`] keeps the leaf hashes of its complete blocks. The ledger does no
/// I/O: a caller that wants them on disk implements this over a file.
pub trait LeafStorage: Send + Sync + std::fmt::Debug {
    /// Keeps `leaves`, the complete block that starts at leaf `start`, whose MTH is `block`.
    /// Blocks arrive in order.
    fn append_block(&mut self, start: u64, leaves: &[Hash256], block: &Hash256) -> Result<(), String>;
    /// Fills `out` with leaves `[start, start + out.len())`, all from complete blocks.
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String>;
    /// The hashes of the first complete blocks (at most `blocks` of them), if this storage kept
    /// them beside their leaves: [`CompactMerkleTree::load`] takes them instead of hashing their
    /// leaves again. Nothing vouches for them here: the caller checks the root they give, and
    /// the tree checks each block's leaves against its hash the first time it reads them. The
    /// default keeps none.
    fn kept_block_hashes(&self, blocks: u64) -> Vec<Hash256> {
        let _ = blocks;
        Vec::new()
    }
    /// Offers the hashes of blocks from `first` on, which a load hashed from their leaves, to
    /// keep for the next load. The default drops them.
    fn keep_block_hashes(&mut self, first: u64, hashes: &[Hash256]) {
        let _ = (first, hashes);
    }
}

/// Leaves kept in memory: for tests and short-lived tools.
#[derive(Debug, Default)]
pub struct MemoryLeaves(Vec<Hash256>);

impl LeafStorage for MemoryLeaves {
    fn append_block(&mut self, start: u64, leaves: &[Hash256], _block: &Hash256) -> Result<(), String> {
        if start != self.0.len() as u64 {
            return Err(format!("block at leaf {start} arrived after {} leaves", self.0.len()));
        }
        self.0.extend_from_slice(leaves);
        Ok(())
    }

    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        let range = usize::try_from(start).ok().and_then(|s| self.0.get(s..s.checked_add(out.len())?));
        out.copy_from_slice(range.ok_or_else(|| format!("leaves from {start} were never stored"))?);
        Ok(())
    }
}

/// An append-only RFC 6962 tree that holds in memory only what proofs need often: the hashes
/// of complete blocks of [`LEAVES_PER_BLOCK`] leaves and every level above, about 2 bytes per
/// leaf, and the leaves of the last, incomplete block. The leaves of complete blocks live in
/// its [`LeafStorage`]; a proof reads at most a few blocks of them.
#[derive(Debug)]
pub struct CompactMerkleTree<L: LeafStorage> {
    /// `upper[h][i]` is the MTH of leaves `[i·2^(h+4), (i+1)·2^(h+4))`.
    upper: Vec<Vec<Hash256>>,
    /// Leaves of the incomplete last block, fewer than [`LEAVES_PER_BLOCK`].
    tail: Vec<Hash256>,
    size: u64,
    storage: L,
    /// The blocks whose hashes a load took from the storage, not from their leaves.
    unchecked: UncheckedBlocks,
}

/// One bit per block whose hash came from [`LeafStorage::kept_block_hashes`]: its leaves are
/// hashed and compared the first time they are read, and the bit cleared. Atomic, because
/// proofs read the tree from many threads at once.
#[derive(Debug, Default)]
struct UncheckedBlocks(Vec<std::sync::atomic::AtomicU64>);

impl UncheckedBlocks {
    fn first(blocks: u64) -> UncheckedBlocks {
        let words = blocks.div_ceil(64) as usize;
        UncheckedBlocks(
            (0..words)
                .map(|word| {
                    let bits = (blocks - word as u64 * 64).min(64);
                    std::sync::atomic::AtomicU64::new(if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 })
                })
                .collect(),
        )
    }

    fn contains(&self, block: u64) -> bool {
        self.0
            .get((block / 64) as usize)
            .is_some_and(|word| word.load(std::sync::atomic::Ordering::Relaxed) & (1 << (block % 64)) != 0)
    }

    fn clear(&self, block: u64) {
        if let Some(word) = self.0.get((block / 64) as usize) {
            word.fetch_and(!(1 << (block % 64)), std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl<L: LeafStorage> CompactMerkleTree<L> {
    /// An empty tree over empty storage.
    pub fn new(storage: L) -> CompactMerkleTree<L> {
        CompactMerkleTree { upper: vec![Vec::new()], tail: Vec::new(), size: 0, storage, unchecked: Default::default() }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A tree over the first `size` leaves that `storage` already holds (from an earlier run):
    /// rebuilds the levels kept in memory from the block hashes the storage kept, then from
    /// the leaves of the blocks after them, and writes nothing.
    pub fn load(storage: L, size: u64) -> Result<CompactMerkleTree<L>, ProofError> {
        /// Leaves read from storage at once.
        const LOAD_BLOCKS: u64 = 4096;
        let mut tree = CompactMerkleTree::new(storage);
        let complete = size - size % LEAVES_PER_BLOCK;
        let kept = tree.storage.kept_block_hashes(complete / LEAVES_PER_BLOCK);
        tree.unchecked = UncheckedBlocks::first(kept.len() as u64);
        for block in kept {
            tree.size += LEAVES_PER_BLOCK;
            tree.push_block_hash(block);
        }
        let mut leaves = Vec::new();
        while tree.size < size {
            let count = (size - tree.size).min(LOAD_BLOCKS * LEAVES_PER_BLOCK);
            leaves.resize(count as usize, Hash256::ZERO);
            tree.storage
                .read_leaves(tree.size, &mut leaves)
                .map_err(|reason| ProofError::LeavesUnavailable { reason })?;
            // Leaves in whole blocks; only the last read can end in a part of one.
            let whole = count.min(complete - tree.size) as usize;
            let hashed = block_hashes(&leaves[..whole]);
            tree.storage.keep_block_hashes(tree.size / LEAVES_PER_BLOCK, &hashed);
            for block in hashed {
                tree.size += LEAVES_PER_BLOCK;
                tree.push_block_hash(block);
            }
            tree.tail.extend_from_slice(&leaves[whole..]);
            tree.size += (count as usize - whole) as u64;
        }
        Ok(tree)
    }

    /// Adds the hash of a complete block to the levels above the leaves.
    fn push_block_hash(&mut self, block: Hash256) {
        self.upper[0].push(block);
        let mut level = 0;
        // A level gains a parent whenever it reaches an even length.
        while self.upper[level].len().is_multiple_of(2) {
            let count = self.upper[level].len();
            let parent = node_hash(&self.upper[level][count - 2], &self.upper[level][count - 1]);
            if self.upper.len() == level + 1 {
                self.upper.push(Vec::new());
            }
            self.upper[level + 1].push(parent);
            level += 1;
        }
    }

    /// The storage, for flushing it.
    pub fn storage_mut(&mut self) -> &mut L {
        &mut self.storage
    }

    /// Appends the entry (an event hash) as the next leaf.
    pub fn push_entry(&mut self, entry: &Hash256) -> Result<(), ProofError> {
        self.push_leaf_hash(leaf_hash(&entry.0))
    }

    /// Appends a leaf by its leaf hash. A storage failure leaves the tree as it was.
    pub fn push_leaf_hash(&mut self, leaf: Hash256) -> Result<(), ProofError> {
        self.tail.push(leaf);
        if (self.tail.len() as u64) < LEAVES_PER_BLOCK {
            self.size += 1;
            return Ok(());
        }
        let start = self.size + 1 - LEAVES_PER_BLOCK;
        let block = block_hash(&self.tail);
        if let Err(reason) = self.storage.append_block(start, &self.tail, &block) {
            self.tail.pop();
            return Err(ProofError::LeavesUnavailable { reason });
        }
        self.tail.clear();
        self.size += 1;
        self.push_block_hash(block);
        Ok(())
    }

    /// Leaf hashes `[start, start + count)`.
    pub fn leaves(&self, start: u64, count: u64) -> Result<Vec<Hash256>, ProofError> {
        let end = start.checked_add(count).filter(|end| *end <= self.size).ok_or(ProofError::IndexBeyondSize {
            index: start.saturating_add(count).saturating_sub(1),
            size: self.size,
        })?;
        let stored_end = self.size - self.tail.len() as u64;
        let mut leaves = vec![Hash256::ZERO; count as usize];
        let from_storage = end.min(stored_end).saturating_sub(start) as usize;
        if from_storage > 0 {
            self.read_stored(start, &mut leaves[..from_storage])?;
        }
        for (slot, index) in leaves[from_storage..].iter_mut().zip(start.max(stored_end)..end) {
            *slot = self.tail[(index - stored_end) as usize];
        }
        Ok(leaves)
    }

    /// Stored leaves `[start, start + out.len())`; the blocks among them whose hashes a load
    /// took unchecked are read whole and checked first.
    fn read_stored(&self, start: u64, out: &mut [Hash256]) -> Result<(), ProofError> {
        let unavailable = |reason| ProofError::LeavesUnavailable { reason };
        let (first, end) = (start / LEAVES_PER_BLOCK, (start + out.len() as u64).div_ceil(LEAVES_PER_BLOCK));
        if !(first..end).any(|block| self.unchecked.contains(block)) {
            return self.storage.read_leaves(start, out).map_err(unavailable);
        }
        let mut blocks = vec![Hash256::ZERO; ((end - first) * LEAVES_PER_BLOCK) as usize];
        self.storage.read_leaves(first * LEAVES_PER_BLOCK, &mut blocks).map_err(unavailable)?;
        for (block, leaves) in (first..end).zip(blocks.chunks(LEAVES_PER_BLOCK as usize)) {
            if self.unchecked.contains(block) {
                if block_hash(leaves) != self.upper[0][block as usize] {
                    return Err(unavailable(format!(
                        "the stored leaves of block {block} do not hash to the block's kept hash: the leaf storage is damaged"
                    )));
                }
                self.unchecked.clear(block);
            }
        }
        let from = (start - first * LEAVES_PER_BLOCK) as usize;
        out.copy_from_slice(&blocks[from..from + out.len()]);
        Ok(())
    }

    /// The MTHs of `count` consecutive complete subtrees of `2^height` leaves, the first being
    /// subtree `first` (leaves from `first·2^height`): what a tlog tile holds. Levels of
    /// complete blocks and above are kept as the tree grows, so this copies hashes and hashes
    /// nothing; below them it reads leaves.
    pub fn subtree_hashes(&self, height: u32, first: u64, count: u64) -> Result<Vec<Hash256>, ProofError> {
        let beyond = || ProofError::IndexBeyondSize { index: u64::MAX, size: self.size };
        let end = first.checked_add(count).ok_or_else(beyond)?;
        if height >= 64 || end.checked_mul(1u64 << height).is_none_or(|leaves| leaves > self.size) {
            return Err(ProofError::IndexBeyondSize {
                index: end.saturating_mul(1u64.checked_shl(height).unwrap_or(u64::MAX)).saturating_sub(1),
                size: self.size,
            });
        }
        if height == 0 {
            return self.leaves(first, count);
        }
        if height >= BLOCK_HEIGHT {
            let level = &self.upper[(height - BLOCK_HEIGHT) as usize];
            return Ok(level[first as usize..end as usize].to_vec());
        }
        let mut reader = CompactReader::new(self);
        (first..end).map(|subtree| reader.aligned_subtree(subtree << height, height)).collect()
    }

    /// Leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Result<Hash256, ProofError> {
        Ok(self.leaves(index, 1)?[0])
    }

    /// Root of the current tree.
    pub fn root(&self) -> Result<Hash256, ProofError> {
        self.root_at(self.size)
    }

    /// Root of the tree made of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash256, ProofError> {
        root_at(&mut CompactReader::new(self), size)
    }

    /// Inclusion proof (RFC 6962 PATH) for the leaf at `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash256>, ProofError> {
        inclusion_proof(&mut CompactReader::new(self), index, size)
    }

    /// Consistency proof (RFC 6962 PROOF) between the trees of `old_size` and `new_size` leaves.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, ProofError> {
        consistency_proof(&mut CompactReader::new(self), old_size, new_size)
    }

    /// One proof of the leaves at `indices` (strictly increasing) in the tree of `size` leaves
    /// (FORMAT.md §3.1).
    pub fn batch_inclusion_proof(&self, indices: &[u64], size: u64) -> Result<Vec<Hash256>, ProofError> {
        batch_inclusion_proof(&mut CompactReader::new(self), indices, size)
    }

    /// Bytes of hashes held in memory: the levels above the blocks and the tail.
    pub fn resident_bytes(&self) -> usize {
        32 * (self.upper.iter().map(Vec::capacity).sum::<usize>() + self.tail.capacity())
    }
}

/// MTH of a complete, power-of-two run of leaves.
fn block_hash(leaves: &[Hash256]) -> Hash256 {
    let mut level: Vec<Hash256> = leaves.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
    }
    level[0]
}

/// One proof's view of a compact tree: it remembers the last block it read, since a proof
/// asks for several subtrees of the same block.
struct CompactReader<'t, L: LeafStorage> {
    tree: &'t CompactMerkleTree<L>,
    block: Option<(u64, Vec<Hash256>)>,
}

impl<'t, L: LeafStorage> CompactReader<'t, L> {
    fn new(tree: &'t CompactMerkleTree<L>) -> CompactReader<'t, L> {
        CompactReader { tree, block: None }
    }
}

impl<L: LeafStorage> Subtrees for CompactReader<'_, L> {
    fn size(&self) -> u64 {
        self.tree.size
    }

    fn aligned_subtree(&mut self, start: u64, height: u32) -> Result<Hash256, ProofError> {
        if height >= BLOCK_HEIGHT {
            return Ok(self.tree.upper[(height - BLOCK_HEIGHT) as usize][(start >> height) as usize]);
        }
        let block_start = start - start % LEAVES_PER_BLOCK;
        let stored_end = self.tree.size - self.tree.tail.len() as u64;
        let offset = (start - block_start) as usize;
        let width = 1usize << height;
        if block_start >= stored_end {
            return Ok(block_hash(&self.tree.tail[offset..offset + width]));
        }
        if self.block.as_ref().is_none_or(|(cached, _)| *cached != block_start) {
            let mut leaves = vec![Hash256::ZERO; LEAVES_PER_BLOCK as usize];
            self.tree.read_stored(block_start, &mut leaves)?;
            self.block = Some((block_start, leaves));
        }
        let leaves = self.block.as_ref().map_or(&[][..], |(_, leaves)| &leaves[..]);
        Ok(block_hash(&leaves[offset..offset + width]))
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
    /// A batch proof's leaf indices must be strictly increasing.
    #[error("the leaf indices of a batch proof are not strictly increasing")]
    IndicesNotIncreasing,
    #[error("a batch proof may name at most {max} leaves")]
    TooManyLeaves { max: usize },
    /// The leaf hashes of a compact tree could not be read from its storage.
    #[error("leaf hashes unavailable: {reason}")]
    LeavesUnavailable { reason: String },
}
