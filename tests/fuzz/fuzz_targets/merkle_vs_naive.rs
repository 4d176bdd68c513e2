//! Differential: the Merkle trees' roots, proofs and tile hashes against a naive recursive
//! computation of RFC 6962's MTH, and proofs that verify exactly when they are the right ones.
#![no_main]
use arbitrary::Arbitrary;
use klero_ledger::merkle::{
    leaf_hash, node_hash, verify_consistency, verify_inclusion, CompactMerkleTree, MemoryLeaves, MerkleTree,
};
use klero_ledger::Hash256;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Case {
    size: u16,
    queries: Vec<(u16, u16)>,
    flip: u8,
}

fn naive(leaves: &[Hash256]) -> Hash256 {
    match leaves.len() {
        0 => Hash256::of(b""),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&naive(&leaves[..k]), &naive(&leaves[k..]))
        }
    }
}

fuzz_target!(|case: Case| {
    let size = u64::from(case.size % 700) + 1;
    let leaves: Vec<Hash256> = (0..size).map(|i| leaf_hash(&Hash256::of(&i.to_be_bytes()).0)).collect();
    let mut full = MerkleTree::new();
    let mut compact = CompactMerkleTree::new(MemoryLeaves::default());
    for leaf in &leaves {
        full.push_leaf_hash(*leaf);
        compact.push_leaf_hash(*leaf).expect("memory");
    }
    for &(a, b) in case.queries.iter().take(8) {
        let n = u64::from(b) % size + 1;
        let root = naive(&leaves[..n as usize]);
        assert_eq!(full.root_at(n), Ok(root));
        assert_eq!(compact.root_at(n), Ok(root));
        let index = u64::from(a) % n;
        let proof = compact.inclusion_proof(index, n).expect("proof");
        assert_eq!(full.inclusion_proof(index, n).as_ref(), Ok(&proof));
        assert!(verify_inclusion(index, n, &leaves[index as usize], &proof, &root).is_ok());
        if let Some(first) = proof.first() {
            let mut wrong = proof.clone();
            wrong[0] = Hash256::of(&first.0);
            assert!(verify_inclusion(index, n, &leaves[index as usize], &wrong, &root).is_err());
        }
        let old = u64::from(a) % (n + 1);
        let consistency = compact.consistency_proof(old, n).expect("proof");
        assert_eq!(full.consistency_proof(old, n).as_ref(), Ok(&consistency));
        let old_root = naive(&leaves[..old as usize]);
        assert!(verify_consistency(old, n, &old_root, &root, &consistency).is_ok());
        if old > 0 && old < n {
            let mut wrong = consistency.clone();
            let at = usize::from(case.flip) % wrong.len();
            wrong[at].0[0] ^= 1;
            assert!(verify_consistency(old, n, &old_root, &root, &wrong).is_err());
        }
        // A tile's hashes are the roots of its subtrees.
        let height = u32::from(case.flip % 10);
        let complete = size >> height;
        if complete > 0 {
            let first = u64::from(a) % complete;
            let hashes = compact.subtree_hashes(height, first, 1).expect("complete");
            let start = (first << height) as usize;
            assert_eq!(hashes[0], naive(&leaves[start..start + (1 << height)]));
        }
    }
});
