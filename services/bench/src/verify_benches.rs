//! `verify`: the ledger's signature verification against raw ed25519-dalek batch verification.
//! `proof`: inclusion and consistency proofs on a 1,000,000-leaf log against a naive proof.

use crate::report::{emit, median, quantile_us};
use ed25519_dalek::{Signature, VerifyingKey};
use klero_ledger::envelope::{signing_input, verify_signatures_batch, AuthorPart, Envelope, EventId, LedgerPart};
use klero_ledger::merkle::{self, MerkleTree};
use klero_ledger::{Hash256, SigningKey};
use serde_json::json;
use std::time::Instant;

const ROUNDS: usize = 5;
const BATCH_EVENTS: usize = 256;

fn sample_envelopes(count: usize) -> Vec<Vec<u8>> {
    let keys: Vec<SigningKey> = (0..8u8).map(|k| SigningKey::from_bytes(&Hash256::of(&[k]).0)).collect();
    (0..count)
        .map(|n| {
            let key = &keys[n % keys.len()];
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(n as u64 + 1).to_be_bytes());
            let author = AuthorPart {
                event_id: EventId(id),
                stream: format!("assembly/bench/{}", n % 16),
                event_type: "klero.deliberation.EvidencePresented".into(),
                event_version: 1,
                author_public_key: key.verifying_key().to_bytes(),
                authored_at_unix_ms: 1_800_000_000_000 + n as u64,
                payload: vec![(n % 251) as u8; 300],
            };
            let signed = author.sign(key).expect("sign");
            let ledger = LedgerPart { stream_revision: 0, previous_event_hash: Hash256::ZERO, recorded_at_unix_ms: 0 };
            Envelope::seal(&signed, ledger).into_bytes()
        })
        .collect()
}

/// Ledger path: parse the stored bytes, then batch-verify. Returns events per second.
fn ledger_rate(stored: &[Vec<u8>], threads: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in stored.chunks(stored.len().div_ceil(threads)) {
            scope.spawn(move || {
                for chunk in part.chunks(BATCH_EVENTS) {
                    let envelopes: Vec<Envelope> =
                        chunk.iter().map(|b| Envelope::parse(b.clone()).expect("parse")).collect();
                    verify_signatures_batch(&envelopes).expect("valid");
                }
            });
        }
    });
    stored.len() as f64 / started.elapsed().as_secs_f64()
}

pub(crate) struct RawInputs {
    pub messages: Vec<Vec<u8>>,
    pub signatures: Vec<Signature>,
    pub keys: Vec<VerifyingKey>,
}

impl RawInputs {
    /// The signed messages, signatures and keys of signed events, extracted beforehand.
    pub fn of_signed(author_encodings_and_signatures: impl Iterator<Item = (Vec<u8>, [u8; 64])>) -> RawInputs {
        let mut raw = RawInputs { messages: Vec::new(), signatures: Vec::new(), keys: Vec::new() };
        for (encoding, signature) in author_encodings_and_signatures {
            let author = AuthorPart::decode(&encoding).expect("an author encoding");
            raw.keys.push(VerifyingKey::from_bytes(&author.author_public_key).expect("key"));
            raw.messages.push(signing_input(&encoding));
            raw.signatures.push(Signature::from_bytes(&signature));
        }
        raw
    }
}

/// Baseline: ed25519-dalek's batch verification over pre-extracted messages, signatures and
/// decompressed keys, in batches of `batch` — the least work any verifier of these signatures
/// can do.
pub(crate) fn raw_rate(raw: &RawInputs, threads: usize, batch: usize) -> f64 {
    let started = Instant::now();
    let per_thread = raw.messages.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for start in (0..raw.messages.len()).step_by(per_thread) {
            let end = (start + per_thread).min(raw.messages.len());
            scope.spawn(move || {
                for chunk_start in (start..end).step_by(batch) {
                    let chunk_end = (chunk_start + batch).min(end);
                    let messages: Vec<&[u8]> = raw.messages[chunk_start..chunk_end].iter().map(Vec::as_slice).collect();
                    ed25519_dalek::verify_batch(
                        &messages,
                        &raw.signatures[chunk_start..chunk_end],
                        &raw.keys[chunk_start..chunk_end],
                    )
                    .expect("valid");
                }
            });
        }
    });
    raw.messages.len() as f64 / started.elapsed().as_secs_f64()
}

pub fn verify(quick: bool) {
    let count = if quick { 2_000 } else { 20_000 };
    let stored = sample_envelopes(count);
    let parsed: Vec<Envelope> = stored.iter().map(|b| Envelope::parse(b.clone()).expect("parse")).collect();
    let raw = RawInputs {
        messages: parsed.iter().map(|e| signing_input(e.author_encoding())).collect(),
        signatures: parsed.iter().map(|e| Signature::from_bytes(&e.signature_bytes())).collect(),
        keys: parsed.iter().map(|e| VerifyingKey::from_bytes(&e.author().author_public_key).expect("key")).collect(),
    };
    for threads in [1usize, 2] {
        let (mut ledger, mut baseline) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Alternate the order so drift on a shared machine favours neither side.
            if round % 2 == 0 {
                ledger.push(ledger_rate(&stored, threads));
                baseline.push(raw_rate(&raw, threads, BATCH_EVENTS));
            } else {
                baseline.push(raw_rate(&raw, threads, BATCH_EVENTS));
                ledger.push(ledger_rate(&stored, threads));
            }
        }
        emit(
            "verify",
            if threads == 1 { "events_per_second" } else { "events_per_second_2_threads" },
            median(&mut ledger),
            "events/s",
            median(&mut baseline),
            json!({"events": count, "threads": threads, "batch": BATCH_EVENTS, "rounds": ROUNDS,
                   "baseline_name": "ed25519_dalek::verify_batch on pre-extracted inputs", "target_ratio_min": 0.8}),
        );
    }
}

/// RFC 6962 PATH computed from the leaves alone, with no cached subtrees: what a log that kept
/// only its leaves would have to do per proof.
fn naive_subtree_root(leaves: &[Hash256]) -> Hash256 {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = 1usize << (usize::BITS - 1 - (leaves.len() - 1).leading_zeros());
    merkle::node_hash(&naive_subtree_root(&leaves[..k]), &naive_subtree_root(&leaves[k..]))
}

fn naive_inclusion_proof(leaves: &[Hash256], index: usize) -> Vec<Hash256> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = 1usize << (usize::BITS - 1 - (leaves.len() - 1).leading_zeros());
    if index < k {
        let mut proof = naive_inclusion_proof(&leaves[..k], index);
        proof.push(naive_subtree_root(&leaves[k..]));
        proof
    } else {
        let mut proof = naive_inclusion_proof(&leaves[k..], index - k);
        proof.push(naive_subtree_root(&leaves[..k]));
        proof
    }
}

pub fn proof(quick: bool) {
    let size: u64 = if quick { 100_000 } else { 1_000_000 };
    let samples = if quick { 2_000 } else { 20_000 };
    let mut tree = MerkleTree::new();
    let build_started = Instant::now();
    let mut leaves = Vec::with_capacity(size as usize);
    for i in 0..size {
        let leaf = merkle::leaf_hash(&Hash256::of(&i.to_be_bytes()).0);
        leaves.push(leaf);
        tree.push_leaf_hash(leaf);
    }
    let build_seconds = build_started.elapsed().as_secs_f64();
    let leaves_for_compact = leaves.clone();
    let mut random = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % bound
    };
    // Baseline: a few naive proofs (each hashes the whole tree).
    let mut naive = Vec::new();
    for _ in 0..3 {
        let index = next(size) as usize;
        let started = Instant::now();
        let proof = naive_inclusion_proof(&leaves, index);
        naive.push(started.elapsed());
        assert_eq!(proof, tree.inclusion_proof(index as u64, size).expect("proof"), "cached and naive proofs agree");
    }
    let naive_p50 = quantile_us(&mut naive, 0.5);

    let mut inclusion = Vec::with_capacity(samples);
    for _ in 0..samples {
        let tree_size = size - next(size / 10);
        let index = next(tree_size);
        let started = Instant::now();
        let proof = tree.inclusion_proof(index, tree_size).expect("proof");
        inclusion.push(started.elapsed());
        std::hint::black_box(proof);
    }
    let mut consistency = Vec::with_capacity(samples);
    for _ in 0..samples {
        let old_size = 1 + next(size - 1);
        let started = Instant::now();
        let proof = tree.consistency_proof(old_size, size).expect("proof");
        consistency.push(started.elapsed());
        std::hint::black_box(proof);
    }
    // What the server serves from: the compact tree, its leaves in a file (the page cache
    // holds them, as it does on a server that has been running).
    let directory = tempfile::tempdir().expect("temp dir");
    let leaves = klero_log::FileLeaves::open(directory.path().join(klero_log::TREE_LEAVES_FILE), 0).expect("leaf file");
    let mut compact = klero_ledger::merkle::CompactMerkleTree::new(leaves);
    for leaf in &leaves_for_compact {
        compact.push_leaf_hash(*leaf).expect("push");
    }
    let mut compact_inclusion = Vec::with_capacity(samples);
    for _ in 0..samples {
        let tree_size = size - next(size / 10);
        let index = next(tree_size);
        let started = Instant::now();
        let proof = compact.inclusion_proof(index, tree_size).expect("proof");
        compact_inclusion.push(started.elapsed());
        std::hint::black_box(proof);
    }
    let mut compact_consistency = Vec::with_capacity(samples);
    for _ in 0..samples {
        let old_size = 1 + next(size - 1);
        let started = Instant::now();
        let proof = compact.consistency_proof(old_size, size).expect("proof");
        compact_consistency.push(started.elapsed());
        std::hint::black_box(proof);
    }
    assert_eq!(compact.root(), Ok(tree.root()), "the compact tree is the same tree");
    let extra = |kind: &str| {
        json!({"log_events": size, "samples": samples, "kind": kind, "tree_build_seconds": build_seconds,
        "baseline_name": "naive RFC 6962 PATH from leaves, p50 of 3", "target_p99_us_max": 100.0})
    };
    for (kind, latencies) in [
        ("inclusion", &mut inclusion),
        ("consistency", &mut consistency),
        ("compact_inclusion", &mut compact_inclusion),
        ("compact_consistency", &mut compact_consistency),
    ] {
        let p50 = quantile_us(latencies, 0.5);
        let p99 = quantile_us(latencies, 0.99);
        emit("proof", &format!("{kind}_p50_us"), p50, "us", naive_p50, extra(kind));
        emit("proof", &format!("{kind}_p99_us"), p99, "us", naive_p50, extra(kind));
    }
}
