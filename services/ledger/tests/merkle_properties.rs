//! Merkle proofs, checked exhaustively for every tree size from 1 to 300 and at random larger
//! sizes, against a naive RFC 6962 implementation that shares no code with the cached tree.

use klero_ledger::merkle::{self, verify_consistency, verify_inclusion, MerkleTree, ProofError};
use klero_ledger::Hash256;

/// splitmix64: a tiny deterministic generator, so failures reproduce without a seed argument.
struct SplitMix64(u64);
impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn entry(i: u64) -> Hash256 {
    Hash256::of(&i.to_be_bytes())
}

fn tree_of(size: u64) -> MerkleTree {
    let mut tree = MerkleTree::new();
    for i in 0..size {
        tree.push_entry(&entry(i));
    }
    tree
}

/// MTH straight from RFC 6962 §2.1, recursing over leaf hashes.
fn naive_root(leaves: &[Hash256]) -> Hash256 {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            merkle::node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

fn flip(hash: &Hash256) -> Hash256 {
    let mut bytes = hash.0;
    bytes[7] ^= 0x20;
    Hash256(bytes)
}

#[test]
fn roots_match_the_naive_definition_for_sizes_0_to_300() {
    let tree = tree_of(300);
    let leaves: Vec<Hash256> = (0..300).map(|i| merkle::leaf_hash(&entry(i).0)).collect();
    for size in 0..=300u64 {
        assert_eq!(tree.root_at(size).expect("size within tree"), naive_root(&leaves[..size as usize]), "size {size}");
    }
    assert_eq!(tree.root_at(301), Err(ProofError::SizeBeyondTree { size: 301, tree_size: 300 }));
}

#[test]
fn every_inclusion_proof_for_sizes_1_to_300_verifies_and_every_tampering_is_rejected() {
    let tree = tree_of(300);
    for size in 1..=300u64 {
        let root = tree.root_at(size).expect("root");
        for index in 0..size {
            let leaf = tree.leaf(index).expect("leaf");
            let proof = tree.inclusion_proof(index, size).expect("proof");
            verify_inclusion(index, size, &leaf, &proof, &root)
                .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));

            // An altered leaf, a wrong root, and a wrong index are each rejected.
            assert!(verify_inclusion(index, size, &flip(&leaf), &proof, &root).is_err());
            assert!(verify_inclusion(index, size, &leaf, &proof, &flip(&root)).is_err());
            if size > 1 {
                assert!(verify_inclusion((index + 1) % size, size, &leaf, &proof, &root).is_err());
            }
            // Each hash of the proof altered in turn, and the proof shortened or lengthened.
            for position in 0..proof.len() {
                let mut tampered = proof.clone();
                tampered[position] = flip(&tampered[position]);
                assert!(verify_inclusion(index, size, &leaf, &tampered, &root).is_err());
            }
            if !proof.is_empty() {
                assert!(verify_inclusion(index, size, &leaf, &proof[..proof.len() - 1], &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
            // The proof is bound to its tree size: against the next size's root it fails.
            if size < 300 {
                let next_root = tree.root_at(size + 1).expect("root");
                assert!(verify_inclusion(index, size + 1, &leaf, &proof, &next_root).is_err());
            }
        }
    }
}

#[test]
fn every_consistency_proof_for_sizes_1_to_300_verifies_and_every_tampering_is_rejected() {
    let tree = tree_of(300);
    let roots: Vec<Hash256> = (0..=300).map(|size| tree.root_at(size).expect("root")).collect();
    for new_size in 1..=300u64 {
        for old_size in 0..=new_size {
            let proof = tree.consistency_proof(old_size, new_size).expect("proof");
            let (old_root, new_root) = (roots[old_size as usize], roots[new_size as usize]);
            verify_consistency(old_size, new_size, &old_root, &new_root, &proof)
                .unwrap_or_else(|e| panic!("{old_size} -> {new_size}: {e}"));
            if old_size == 0 || old_size == new_size {
                continue;
            }
            assert!(verify_consistency(old_size, new_size, &flip(&old_root), &new_root, &proof).is_err());
            assert!(verify_consistency(old_size, new_size, &old_root, &flip(&new_root), &proof).is_err());
            for position in 0..proof.len() {
                let mut tampered = proof.clone();
                tampered[position] = flip(&tampered[position]);
                assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &tampered).is_err());
            }
            // A wrong old size with the matching root of that size still fails for this proof,
            // unless the two sizes happen to need the identical proof (checked by recomputing).
            if old_size + 1 < new_size {
                let other = old_size + 1;
                let result = verify_consistency(other, new_size, &roots[other as usize], &new_root, &proof);
                let other_proof = tree.consistency_proof(other, new_size).expect("proof");
                assert_eq!(
                    result.is_ok(),
                    other_proof == proof,
                    "{old_size}->{new_size} accepted for old size {other}"
                );
            }
        }
    }
}

#[test]
fn a_rewritten_history_fails_consistency() {
    let honest = tree_of(40);
    let mut forked = MerkleTree::new();
    for i in 0..40u64 {
        forked.push_entry(&if i == 17 { Hash256::of(b"rewritten") } else { entry(i) });
    }
    for old_size in 18..40 {
        let proof = forked.consistency_proof(old_size, 40).expect("proof");
        let result = verify_consistency(old_size, 40, &honest.root_at(old_size).expect("root"), &forked.root(), &proof);
        assert_eq!(result, Err(ProofError::RootMismatch), "old size {old_size}");
    }
}

#[test]
fn random_larger_trees_prove_inclusion_and_consistency() {
    let mut random = SplitMix64(0x6b6c_6572_6f00_0001);
    let tree = tree_of(70_000);
    for _ in 0..400 {
        let size = 301 + random.below(70_000 - 301);
        let root = tree.root_at(size).expect("root");
        let index = random.below(size);
        let proof = tree.inclusion_proof(index, size).expect("proof");
        verify_inclusion(index, size, &tree.leaf(index).expect("leaf"), &proof, &root).expect("inclusion");
        let smaller_root = tree.root_at(size - 1).expect("root");
        assert!(verify_inclusion(
            index.min(size - 2),
            size - 1,
            &tree.leaf(index).expect("leaf"),
            &proof,
            &smaller_root
        )
        .is_err());
        let old_size = 1 + random.below(size);
        let consistency = tree.consistency_proof(old_size, size).expect("proof");
        verify_consistency(old_size, size, &tree.root_at(old_size).expect("root"), &root, &consistency)
            .expect("consistency");
        assert!(verify_consistency(old_size, size, &tree.root_at(old_size).expect("root"), &flip(&root), &consistency)
            .is_err());
    }
}

#[test]
fn out_of_range_requests_are_refused_with_named_errors() {
    let tree = tree_of(10);
    assert_eq!(tree.inclusion_proof(10, 10), Err(ProofError::IndexBeyondSize { index: 10, size: 10 }));
    assert_eq!(tree.inclusion_proof(0, 11), Err(ProofError::SizeBeyondTree { size: 11, tree_size: 10 }));
    assert_eq!(tree.consistency_proof(5, 4), Err(ProofError::OldSizeBeyondNewSize { old_size: 5, new_size: 4 }));
    assert_eq!(
        verify_inclusion(3, 3, &Hash256::ZERO, &[], &Hash256::ZERO),
        Err(ProofError::IndexBeyondSize { index: 3, size: 3 })
    );
}

/// The compact tree (leaves of complete blocks in storage, the rest in memory) gives exactly the
/// cached tree's roots, leaves and proofs, at every size and for every pair of sizes up to 300,
/// and at random sizes beyond.
#[test]
fn the_compact_tree_agrees_with_the_cached_tree() {
    use klero_ledger::merkle::{CompactMerkleTree, LeafStorage, MemoryLeaves};
    let full = tree_of(300);
    let mut compact = CompactMerkleTree::new(MemoryLeaves::default());
    for i in 0..300 {
        compact.push_entry(&entry(i)).expect("push");
    }
    assert_eq!(compact.size(), 300);
    for size in 0..=300u64 {
        assert_eq!(compact.root_at(size), full.root_at(size), "root at {size}");
        for index in 0..size {
            assert_eq!(
                compact.inclusion_proof(index, size),
                full.inclusion_proof(index, size),
                "path {index} of {size}"
            );
        }
        for old in 0..=size {
            assert_eq!(compact.consistency_proof(old, size), full.consistency_proof(old, size), "{old} → {size}");
        }
    }
    assert_eq!(
        compact.leaves(0, 300).expect("leaves"),
        (0..300).map(|i| full.leaf(i).expect("leaf")).collect::<Vec<_>>()
    );
    assert!(matches!(compact.leaves(290, 11), Err(ProofError::IndexBeyondSize { .. })));
    let mut random = SplitMix64(12);
    let big = 70_000;
    let full = tree_of(big);
    let mut compact = CompactMerkleTree::new(MemoryLeaves::default());
    for i in 0..big {
        compact.push_entry(&entry(i)).expect("push");
    }
    // About 2 bytes a leaf, doubled at worst by vector growth; the cached tree keeps 64.
    assert!(compact.resident_bytes() < 8 * big as usize, "the compact tree keeps under 8 bytes a leaf");
    for _ in 0..300 {
        let size = 1 + random.below(big);
        let index = random.below(size);
        let old = random.below(size + 1);
        assert_eq!(compact.root_at(size), full.root_at(size));
        assert_eq!(compact.inclusion_proof(index, size), full.inclusion_proof(index, size));
        assert_eq!(compact.consistency_proof(old, size), full.consistency_proof(old, size));
        assert_eq!(compact.leaf(index), full.leaf(index).ok_or(ProofError::WrongProofLength));
    }
    // A tree loaded from stored leaves (a start), over more than one read of them and on two
    // threads, is the tree that was built.
    let mut stored = MemoryLeaves::default();
    let whole = big - big % merkle::LEAVES_PER_BLOCK;
    let leaves: Vec<Hash256> = (0..whole).map(|i| merkle::leaf_hash(&entry(i).0)).collect();
    let blocks = whole / merkle::LEAVES_PER_BLOCK;
    let block_hashes = compact.subtree_hashes(merkle::LEAVES_PER_BLOCK.trailing_zeros(), 0, blocks).expect("blocks");
    for (block, chunk) in leaves.chunks(merkle::LEAVES_PER_BLOCK as usize).enumerate() {
        stored.append_block(block as u64 * merkle::LEAVES_PER_BLOCK, chunk, &block_hashes[block]).expect("stored");
    }
    let loaded = CompactMerkleTree::load(stored, whole).expect("loads");
    assert_eq!(loaded.size(), whole);
    for size in [1, whole / 2 + 7, 65_536, 65_537, whole] {
        assert_eq!(loaded.root_at(size), full.root_at(size), "root at {size}");
        assert_eq!(loaded.inclusion_proof(size - 1, size), full.inclusion_proof(size - 1, size));
    }

    // A storage that kept each block's hash beside its leaves: a load takes the hashes (all,
    // or the first few) instead of hashing the leaves, and is the same tree.
    for kept in [blocks, 100] {
        let storage = KeptBlocks { leaves: leaves.clone(), blocks: block_hashes[..kept as usize].to_vec() };
        let loaded = CompactMerkleTree::load(storage, whole).expect("loads");
        for size in [1, 1_601, whole / 2 + 7, whole] {
            assert_eq!(loaded.root_at(size), full.root_at(size), "root at {size}, {kept} blocks kept");
            assert_eq!(loaded.inclusion_proof(size - 1, size), full.inclusion_proof(size - 1, size));
        }
    }
    // A leaf damaged under a kept hash: whatever reads its block refuses, every time, rather
    // than prove from it; the other blocks still prove.
    let mut damaged = KeptBlocks { leaves: leaves.clone(), blocks: block_hashes.clone() };
    damaged.leaves[100] = Hash256::ZERO;
    let loaded = CompactMerkleTree::load(damaged, whole).expect("loads");
    for _ in 0..2 {
        assert!(matches!(loaded.inclusion_proof(100, whole), Err(ProofError::LeavesUnavailable { .. })));
        assert!(matches!(loaded.inclusion_proof(97, whole), Err(ProofError::LeavesUnavailable { .. })));
        assert!(matches!(loaded.leaves(90, 8), Err(ProofError::LeavesUnavailable { .. })));
    }
    assert_eq!(loaded.inclusion_proof(5_000, whole), full.inclusion_proof(5_000, whole));
    assert_eq!(loaded.leaves(5_000, 40).expect("leaves"), leaves[5_000..5_040]);
    // A kept hash damaged: the load gives another root, which its caller's check refuses.
    let mut damaged = KeptBlocks { leaves: leaves.clone(), blocks: block_hashes.clone() };
    damaged.blocks[7] = Hash256::ZERO;
    let loaded = CompactMerkleTree::load(damaged, whole).expect("loads");
    assert_ne!(loaded.root_at(whole), full.root_at(whole));
}

/// Leaves and each complete block's hash, kept in memory.
#[derive(Debug)]
struct KeptBlocks {
    leaves: Vec<Hash256>,
    blocks: Vec<Hash256>,
}

impl merkle::LeafStorage for KeptBlocks {
    fn append_block(&mut self, _start: u64, leaves: &[Hash256], block: &Hash256) -> Result<(), String> {
        self.leaves.extend_from_slice(leaves);
        self.blocks.push(*block);
        Ok(())
    }
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        out.copy_from_slice(&self.leaves[start as usize..start as usize + out.len()]);
        Ok(())
    }
    fn kept_block_hashes(&self, blocks: u64) -> Vec<Hash256> {
        self.blocks[..(blocks as usize).min(self.blocks.len())].to_vec()
    }
}

/// The frontier gives the root at every size, from O(log n) hashes.
#[test]
fn the_frontier_gives_every_root() {
    let tree = tree_of(1100);
    let mut frontier = merkle::Frontier::new();
    assert_eq!(frontier.root(), merkle::empty_root());
    for i in 0..1100 {
        frontier.push_entry(&entry(i));
        assert_eq!(Ok(frontier.root()), tree.root_at(i + 1), "size {}", i + 1);
    }
}

/// A tile's hashes are the MTHs of its subtrees, recomputed here from the leaves alone, for
/// every height a tile level uses up to 2 and below, at sizes around tile boundaries.
#[test]
fn tile_hashes_are_the_subtree_roots() {
    use klero_ledger::merkle::{CompactMerkleTree, MemoryLeaves};
    let big = 70_000u64;
    let full = tree_of(big);
    let mut compact = CompactMerkleTree::new(MemoryLeaves::default());
    for i in 0..big {
        compact.push_entry(&entry(i)).expect("push");
    }
    let naive = |height: u32, subtree: u64| {
        let mut tree = klero_ledger::merkle::MerkleTree::new();
        for i in subtree << height..(subtree + 1) << height {
            tree.push_leaf_hash(full.leaf(i).expect("leaf"));
        }
        tree.root()
    };
    for height in [0u32, 1, 3, 4, 5, 8, 16] {
        let complete = big >> height;
        for first in [0, complete.saturating_sub(3), complete / 2] {
            let count = (complete - first).min(3);
            let hashes = compact.subtree_hashes(height, first, count).expect("complete subtrees");
            let expected: Vec<_> = (first..first + count).map(|subtree| naive(height, subtree)).collect();
            assert_eq!(hashes, expected, "height {height}, subtrees {first}..{}", first + count);
        }
        assert!(compact.subtree_hashes(height, complete, 1).is_err(), "an incomplete subtree is no tile hash");
    }
    assert!(compact.subtree_hashes(64, 0, 1).is_err());
    assert!(compact.subtree_hashes(8, u64::MAX, 2).is_err());
}

/// The leaves of `indices`, as a batch proof's verifier receives them.
fn batch_leaves(tree: &MerkleTree, indices: &[u64]) -> Vec<(u64, Hash256)> {
    indices.iter().map(|i| (*i, tree.leaf(*i).expect("leaf"))).collect()
}

/// FORMAT.md §3.1: every subset of leaves of every tree up to 12 leaves proves against the
/// naive root, and nothing else does: a leaf moved to another index (a transplant), a leaf
/// left out of the claimed set with its proof unchanged, a hash altered, dropped or added.
#[test]
fn every_batch_inclusion_proof_up_to_12_leaves_verifies_and_every_tampering_is_rejected() {
    let tree = tree_of(12);
    for size in 1..=12u64 {
        let root = tree.root_at(size).expect("root");
        for subset in 0u32..(1 << size) {
            let indices: Vec<u64> = (0..size).filter(|i| subset & (1 << i) != 0).collect();
            let proof = tree.batch_inclusion_proof(&indices, size).expect("proof");
            let leaves = batch_leaves(&tree, &indices);
            assert_eq!(merkle::verify_batch_inclusion(size, &leaves, &proof, &root), Ok(()), "{indices:?} of {size}");
            if let [only] = indices[..] {
                let path = tree.inclusion_proof(only, size).expect("path");
                assert_eq!(proof.len(), path.len(), "one leaf needs as many hashes as its RFC 6962 path");
            }
            for at in 0..proof.len() {
                let mut altered = proof.clone();
                altered[at] = flip(&altered[at]);
                assert!(merkle::verify_batch_inclusion(size, &leaves, &altered, &root).is_err());
                let mut dropped = proof.clone();
                dropped.remove(at);
                assert!(merkle::verify_batch_inclusion(size, &leaves, &dropped, &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(merkle::verify_batch_inclusion(size, &leaves, &longer, &root).is_err());
            for at in 0..leaves.len() {
                let mut altered = leaves.clone();
                altered[at].1 = flip(&altered[at].1);
                assert!(merkle::verify_batch_inclusion(size, &altered, &proof, &root).is_err());
                // The same leaf claimed at any other free index.
                for other in (0..size).filter(|i| !indices.contains(i)) {
                    let mut moved = leaves.clone();
                    moved[at].0 = other;
                    moved.sort_by_key(|(index, _)| *index);
                    assert!(
                        merkle::verify_batch_inclusion(size, &moved, &proof, &root).is_err(),
                        "leaf {} accepted at {other} in {indices:?} of {size}",
                        leaves[at].0
                    );
                }
                let mut omitted = leaves.clone();
                omitted.remove(at);
                assert!(merkle::verify_batch_inclusion(size, &omitted, &proof, &root).is_err());
            }
        }
    }
}

#[test]
fn random_batch_inclusion_proofs_in_large_trees_verify_on_both_trees() {
    use klero_ledger::merkle::{CompactMerkleTree, MemoryLeaves};
    let big = 20_000u64;
    let full = tree_of(big);
    let mut compact = CompactMerkleTree::new(MemoryLeaves::default());
    for i in 0..big {
        compact.push_entry(&entry(i)).expect("push");
    }
    let mut random = SplitMix64(25);
    for round in 0..200 {
        let size = 1 + random.below(big);
        let wanted = 1 + random.below(if round % 2 == 0 { 8 } else { 400 });
        let mut indices: Vec<u64> = (0..wanted).map(|_| random.below(size)).collect();
        // Every other round, a contiguous run: an assembly's events are often close together.
        if round % 4 == 1 {
            let first = random.below(size);
            indices = (first..size.min(first + wanted)).collect();
        }
        indices.sort_unstable();
        indices.dedup();
        let proof = full.batch_inclusion_proof(&indices, size).expect("proof");
        assert_eq!(compact.batch_inclusion_proof(&indices, size).expect("compact proof"), proof);
        let root = full.root_at(size).expect("root");
        let leaves = batch_leaves(&full, &indices);
        assert_eq!(merkle::verify_batch_inclusion(size, &leaves, &proof, &root), Ok(()));
        // Never more hashes than separate RFC 6962 paths would hold.
        let separate: usize = indices.iter().map(|i| full.inclusion_proof(*i, size).expect("path").len()).sum();
        assert!(proof.len() <= separate.max(1));
    }
}

#[test]
fn batch_inclusion_requests_out_of_range_are_refused_with_named_errors() {
    let tree = tree_of(10);
    assert_eq!(tree.batch_inclusion_proof(&[3, 3], 10), Err(ProofError::IndicesNotIncreasing));
    assert_eq!(tree.batch_inclusion_proof(&[4, 2], 10), Err(ProofError::IndicesNotIncreasing));
    assert_eq!(tree.batch_inclusion_proof(&[10], 10), Err(ProofError::IndexBeyondSize { index: 10, size: 10 }));
    assert_eq!(tree.batch_inclusion_proof(&[1], 11), Err(ProofError::SizeBeyondTree { size: 11, tree_size: 10 }));
    // No leaf: the proof is the root itself, and the empty tree needs nothing.
    let root = tree.root_at(7).expect("root");
    assert_eq!(tree.batch_inclusion_proof(&[], 7), Ok(vec![root]));
    assert_eq!(merkle::verify_batch_inclusion(7, &[], &[root], &root), Ok(()));
    assert_eq!(merkle::verify_batch_inclusion(0, &[], &[], &merkle::empty_root()), Ok(()));
    let leaf = (2, tree.leaf(2).expect("leaf"));
    let duplicated = [leaf, leaf];
    assert_eq!(merkle::verify_batch_inclusion(7, &duplicated, &[], &root), Err(ProofError::IndicesNotIncreasing));
}
