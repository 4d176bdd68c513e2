//! Golden vectors: every byte format, reproduced byte for byte from fixed keys and inputs.
//!
//! `tests/golden/vectors.txt` is committed. An independent implementation of docs/FORMAT.md must
//! produce the same lines. If a format change is intended, regenerate with
//! `KLERO_UPDATE_GOLDEN=1 cargo test -p klero-ledger --test golden` and bump the format version.

use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::{Checkpoint, LogSigningKey, LogVerifierKey};
use klero_ledger::envelope::{signing_input, AuthorPart, Envelope, EventId, LedgerPart};
use klero_ledger::hash::to_hex;
use klero_ledger::heads::{HeadsTree, StreamHead, StreamRange};
use klero_ledger::merkle::{leaf_hash, MerkleTree};
use klero_ledger::{Hash256, SigningKey};
use std::fmt::Write as _;

fn key_from_label(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

fn proof_hex(proof: &[Hash256]) -> String {
    proof.iter().map(Hash256::to_hex).collect::<Vec<_>>().join(",")
}

/// Builds the whole vector file from first principles.
fn generate_vectors() -> String {
    let mut out = String::new();
    let author_key = key_from_label("klero golden vector: author key 1");
    let log_key = LogSigningKey::new("kleroterion.example/golden-log", key_from_label("klero golden vector: log key"))
        .expect("valid key name");
    writeln!(out, "# Kleroterion golden vectors, format v1. See docs/FORMAT.md.").ok();
    writeln!(out, "author_secret_seed: {}", to_hex(&author_key.to_bytes())).ok();
    writeln!(out, "author_public_key: {}", to_hex(&author_key.verifying_key().to_bytes())).ok();
    writeln!(out, "log_secret_seed: {}", to_hex(&key_from_label("klero golden vector: log key").to_bytes())).ok();
    writeln!(out, "log_verifier_key: {}", log_key.verifier().to_vkey_string()).ok();

    let inputs: [(&str, &str, u32, &[u8]); 5] = [
        ("assembly/golden", "klero.assembly.AssemblyConvened", 1, b"convened"),
        ("assembly/golden/selection", "klero.selection.SelectionPlanned", 1, b""),
        ("assembly/golden", "klero.recommendation.RecommendationDrafted", 2, b"\x00\x01\x02\xff"),
        ("assembly/golden/selection", "klero.selection.PanelDrawn", 1, b"panel of 22"),
        ("assembly/golden", "klero.response.ResponseIssued", 1, &[0x5a; 300]),
    ];
    let mut tree = MerkleTree::new();
    let mut heads: std::collections::HashMap<&str, (u64, Hash256)> = Default::default();
    let mut envelopes = Vec::new();
    for (index, (stream, event_type, version, payload)) in inputs.iter().enumerate() {
        let mut id = [0u8; 16];
        id[15] = index as u8 + 1;
        id[6] = 0x40; // UUID version 4 bits, so the ids look like real client ids.
        id[8] = 0x80;
        let author = AuthorPart {
            event_id: EventId(id),
            stream: stream.to_string(),
            event_type: event_type.to_string(),
            event_version: *version,
            author_public_key: author_key.verifying_key().to_bytes(),
            authored_at_unix_ms: 1_790_000_000_000 + index as u64 * 1000,
            payload: payload.to_vec(),
        };
        let signed = author.sign(&author_key).expect("sign");
        let (revision, previous) = heads.get(stream).copied().unwrap_or((0, Hash256::ZERO));
        let ledger = LedgerPart {
            stream_revision: revision,
            previous_event_hash: previous,
            recorded_at_unix_ms: 1_790_000_000_500 + index as u64 * 1000,
        };
        let envelope = Envelope::seal(&signed, ledger);
        let hash = envelope.event_hash();
        heads.insert(stream, (revision + 1, hash));
        tree.push_entry(&hash);
        writeln!(out, "event[{index}].event_id: {}", author.event_id).ok();
        writeln!(out, "event[{index}].author_encoding: {}", to_hex(signed.encoding())).ok();
        writeln!(
            out,
            "event[{index}].signing_input_sha256: {}",
            Hash256::of(&signing_input(signed.encoding())).to_hex()
        )
        .ok();
        writeln!(out, "event[{index}].signature: {}", to_hex(signed.signature())).ok();
        writeln!(out, "event[{index}].envelope: {}", to_hex(envelope.bytes())).ok();
        writeln!(out, "event[{index}].event_hash: {}", hash.to_hex()).ok();
        writeln!(out, "event[{index}].leaf_hash: {}", leaf_hash(&hash.0).to_hex()).ok();
        envelopes.push(envelope);
    }
    for size in 0..=tree.size() {
        writeln!(out, "root[{size}]: {}", tree.root_at(size).expect("root").to_hex()).ok();
    }
    for index in 0..5 {
        writeln!(out, "inclusion[{index},5]: {}", proof_hex(&tree.inclusion_proof(index, 5).expect("proof"))).ok();
    }
    for old_size in 1..5 {
        writeln!(out, "consistency[{old_size},5]: {}", proof_hex(&tree.consistency_proof(old_size, 5).expect("proof")))
            .ok();
    }
    let checkpoint =
        Checkpoint { origin: log_key.name().to_string(), tree_size: 5, root_hash: tree.root(), stream_heads: None };
    let signed_checkpoint = log_key.sign(&checkpoint).expect("sign checkpoint");
    writeln!(out, "checkpoint[5]: {}", signed_checkpoint.note().escape_default()).ok();
    let bundle = ProofBundle {
        leaf_index: 2,
        envelope: envelopes[2].bytes().to_vec(),
        inclusion_proof: tree.inclusion_proof(2, 5).expect("proof"),
        checkpoint_note: signed_checkpoint.note().to_string(),
    };
    writeln!(out, "bundle[2]: {}", bundle.encode().escape_default()).ok();
    write_transparency_vectors(&mut out, &tree, &envelopes, &signed_checkpoint);
    write_signature_rule_vectors(&mut out);
    let heads: Vec<StreamHead> = heads
        .iter()
        .map(|(stream, (next, last))| StreamHead { stream: stream.to_string(), revision: next - 1, head_hash: *last })
        .collect();
    write_completeness_vectors(&mut out, &tree, &log_key, heads);
    out
}

/// Batch inclusion proofs (FORMAT.md §3.1), stream-heads leaves, trees and range proofs, and a
/// checkpoint that commits to the heads (§4.1), over the same five events.
fn write_completeness_vectors(out: &mut String, tree: &MerkleTree, log_key: &LogSigningKey, heads: Vec<StreamHead>) {
    for indices in [&[0u64, 2, 4][..], &[1, 2], &[3], &[0, 1, 2, 3, 4], &[]] {
        let names: Vec<String> = indices.iter().map(u64::to_string).collect();
        let proof = tree.batch_inclusion_proof(indices, 5).expect("proof");
        writeln!(out, "batch_inclusion[{};5]: {}", names.join(","), proof_hex(&proof)).ok();
    }
    let real = HeadsTree::build(heads.clone());
    // The five events' own heads, and a larger made-up set whose names pin the order: `/` sorts
    // before every other byte, so a stream comes right before the streams under it.
    let made_up = HeadsTree::build(
        heads.into_iter().chain(
            ["assembly/golden-2", "assembly/golden/response", "registry", "assembly/golden.x", "assembly/golde"]
                .into_iter()
                .enumerate()
                .map(|(n, stream)| StreamHead {
                    stream: stream.into(),
                    revision: n as u64 * 3,
                    head_hash: Hash256::of(format!("klero golden vector: head of {stream}").as_bytes()),
                }),
        ),
    );
    for (name, heads_tree) in [("five_events", &real), ("made_up", &made_up)] {
        for (position, head) in heads_tree.heads().iter().enumerate() {
            writeln!(out, "stream_head[{name},{position}]: {} {}", to_hex(&head.entry()), head.leaf_hash().to_hex())
                .ok();
        }
        let commitment = heads_tree.commitment();
        writeln!(out, "stream_heads_root[{name}]: {} {}", commitment.count, commitment.root.to_hex()).ok();
    }
    for (label, range) in [
        ("subtree assembly/golden", StreamRange::subtree("assembly/golden")),
        ("exact registry", StreamRange::exact("registry")),
        ("exact assembly/golden-1", StreamRange::exact("assembly/golden-1")),
        ("children_after assembly assembly/golden", StreamRange::children_after("assembly", Some("assembly/golden"))),
    ] {
        let proof = made_up.prove(std::slice::from_ref(&range));
        let positions: Vec<String> = proof.leaves.iter().map(|(p, _)| p.to_string()).collect();
        writeln!(out, "heads_proof[made_up,{label}]: {} {}", positions.join(","), proof_hex(&proof.proof)).ok();
    }
    let checkpoint = Checkpoint {
        origin: log_key.name().to_string(),
        tree_size: 5,
        root_hash: tree.root(),
        stream_heads: Some(real.commitment()),
    };
    let signed = log_key.sign(&checkpoint).expect("sign checkpoint");
    writeln!(out, "checkpoint_with_heads[5]: {}", signed.note().escape_default()).ok();
}

/// Tiles, bundles, a witness cosignature and an `add-checkpoint` body (FORMAT.md §12–13), over
/// the same five events and checkpoint.
fn write_transparency_vectors(
    out: &mut String,
    tree: &MerkleTree,
    envelopes: &[Envelope],
    checkpoint: &klero_ledger::checkpoint::SignedCheckpoint,
) {
    use klero_ledger::cosignature::CosignerKey;
    use klero_ledger::tiles::{self, TileKind, TilePath};
    let seed = key_from_label("klero golden vector: witness key");
    let witness = CosignerKey::new("witness.example/golden-w1", seed.clone()).expect("valid name");
    writeln!(out, "witness_secret_seed: {}", to_hex(&seed.to_bytes())).ok();
    writeln!(out, "witness_verifier_key: {}", witness.verifier().to_vkey_string()).ok();
    let cosignature = witness.cosign(checkpoint.checkpoint(), 1_790_000_100);
    writeln!(out, "cosignature_timestamp: 1790000100").ok();
    writeln!(
        out,
        "cosigned_checkpoint[5]: {}",
        checkpoint.with_signature_lines(&[cosignature]).note().escape_default()
    )
    .ok();
    for (kind, index, width) in [
        (TileKind::Hashes { level: 0 }, 0, 5),
        (TileKind::Hashes { level: 1 }, 1_234_067, 8),
        (TileKind::Entries, 1000, 256),
        (TileKind::Envelopes, 12, 255),
    ] {
        let tile = TilePath { kind, index, width };
        let kind = match kind {
            TileKind::Hashes { level } => format!("level {level}"),
            TileKind::Entries => "entries".into(),
            TileKind::Envelopes => "envelopes".into(),
        };
        writeln!(out, "tile_path[{kind},{index},{width}]: {}", tile.to_path()).ok();
    }
    let leaves: Vec<Hash256> = (0..5).map(|i| tree.leaf(i).expect("leaf")).collect();
    let hashes: Vec<Hash256> = envelopes.iter().map(Envelope::event_hash).collect();
    writeln!(out, "tile[tile/0/000.p/5]: {}", to_hex(&tiles::hash_tile(&leaves))).ok();
    writeln!(out, "tile[tile/entries/000.p/5]: {}", to_hex(&tiles::entry_bundle(&hashes))).ok();
    let bundle = tiles::envelope_bundle(envelopes.iter().map(Envelope::bytes));
    writeln!(out, "tile[klero/envelopes/000.p/5]: {}", to_hex(&bundle)).ok();
    let request = klero_ledger::witness::AddCheckpointRequest {
        old_size: 3,
        consistency_proof: tree.consistency_proof(3, 5).expect("proof"),
        checkpoint_note: checkpoint.note().to_string(),
    };
    writeln!(out, "add_checkpoint[3,5]: {}", request.to_body().escape_default()).ok();
}

/// One line per case of the author signature rule (FORMAT.md §2.2):
/// `signature_rule[name]: public_key message signature verdict`, all hex.
fn write_signature_rule_vectors(out: &mut String) {
    for case in signature_rule_cases() {
        writeln!(
            out,
            "signature_rule[{}]: {} {} {} {}",
            case.name,
            to_hex(&case.public_key),
            to_hex(&case.message),
            to_hex(&case.signature),
            if case.valid { "valid" } else { "invalid" }
        )
        .ok();
    }
}

struct SignatureRuleCase {
    name: &'static str,
    public_key: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
    valid: bool,
}

/// The edge cases of the rule, each made from the fixed author key.
fn signature_rule_cases() -> Vec<SignatureRuleCase> {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use ed25519_dalek::Signer;
    use sha2::{Digest, Sha512};

    let key = key_from_label("klero golden vector: author key 1");
    let public_key = key.verifying_key().to_bytes();
    let message = signing_input(b"signature rule vector");
    let honest = key.sign(&message).to_bytes();
    let case = |name, public_key, signature, valid| SignatureRuleCase {
        name,
        public_key,
        message: message.clone(),
        signature,
        valid,
    };
    // R = [r]B + T for a torsion point T of order 8, signed correctly otherwise: only the
    // cofactored equation accepts it.
    let nonce = Scalar::from_bytes_mod_order_wide(&Sha512::digest(b"klero golden vector: torsion nonce").into());
    let r_bytes = (EdwardsPoint::mul_base(&nonce) + EIGHT_TORSION[1]).compress().to_bytes();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new().chain_update(r_bytes).chain_update(public_key).chain_update(&message).finalize().into(),
    );
    let s = nonce + k * key.to_scalar();
    let mut torsioned = [0u8; 64];
    torsioned[..32].copy_from_slice(&r_bytes);
    torsioned[32..].copy_from_slice(s.as_bytes());

    let mut small_order_r = honest;
    small_order_r[..32].copy_from_slice(EIGHT_TORSION[2].compress().as_bytes());
    // y = p + 1: the identity's y, encoded non-canonically.
    let mut non_canonical_r = honest;
    non_canonical_r[..32].copy_from_slice(&non_canonical_y(1));
    // S + L: the same scalar mod L, not reduced.
    let mut unreduced_s = honest;
    let l_minus_one = (-Scalar::ONE).to_bytes();
    let mut carry = 1u16;
    for (i, l_byte) in l_minus_one.iter().enumerate() {
        let sum = honest[32 + i] as u16 + *l_byte as u16 + carry;
        unreduced_s[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    let mut tampered = honest;
    tampered[63] ^= 0x01;

    vec![
        case("honest", public_key, honest, true),
        case("r_with_order_8_torsion", public_key, torsioned, true),
        case("r_small_order", public_key, small_order_r, false),
        case("r_not_canonical", public_key, non_canonical_r, false),
        case("s_not_reduced", public_key, unreduced_s, false),
        case("s_tampered", public_key, tampered, false),
        case("key_small_order", EIGHT_TORSION[3].compress().to_bytes(), honest, false),
        // y = p + 3: a point of large order, encoded non-canonically.
        case("key_not_canonical", non_canonical_y(3), honest, false),
        SignatureRuleCase {
            message: signing_input(b"another message"),
            ..case("wrong_message", public_key, honest, false)
        },
    ]
}

/// The encoding of `y + p` (for y < 19), which names the same y but is not canonical.
fn non_canonical_y(y: u8) -> [u8; 32] {
    let mut encoded = [0xff; 32];
    encoded[0] = 0xed + y;
    encoded[31] = 0x7f;
    encoded
}

#[test]
fn the_signature_rule_vectors_hold_singly_and_in_batches() {
    use klero_ledger::signature::{verify, verify_batch, AuthorKey, SignatureCheck};
    let cases = signature_rule_cases();
    let keys: Vec<Option<AuthorKey>> = cases.iter().map(|c| AuthorKey::from_bytes(&c.public_key).ok()).collect();
    for (case, key) in cases.iter().zip(&keys) {
        let verdict = key.as_ref().is_some_and(|key| verify(key, &case.message, &case.signature).is_ok());
        assert_eq!(verdict, case.valid, "case {}", case.name);
    }
    // Cofactorless strict verification refuses the torsioned R, which is why the rule is cofactored.
    let torsioned = &cases[1];
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&torsioned.public_key).expect("key");
    assert!(dalek
        .verify_strict(&torsioned.message, &ed25519_dalek::Signature::from_bytes(&torsioned.signature))
        .is_err());
    // A batch of every valid case passes; adding any invalid case (with a usable key) fails at
    // exactly that case.
    let valid: Vec<SignatureCheck<'_>> = cases
        .iter()
        .zip(&keys)
        .filter(|(case, _)| case.valid)
        .map(|(case, key)| SignatureCheck {
            key: key.as_ref().expect("key"),
            message: [&case.message, b""],
            signature: &case.signature,
        })
        .collect();
    verify_batch(&valid).expect("valid cases pass as a batch");
    for (case, key) in cases.iter().zip(&keys).filter(|(case, _)| !case.valid) {
        let Some(key) = key else { continue };
        let mut batch = valid.clone();
        batch.push(SignatureCheck { key, message: [&case.message, b""], signature: &case.signature });
        let (index, _) = verify_batch(&batch).expect_err(case.name);
        assert_eq!(index, valid.len(), "case {}", case.name);
    }
}

#[test]
fn golden_vectors_are_reproduced_byte_for_byte() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.txt");
    let generated = generate_vectors();
    if std::env::var_os("KLERO_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &generated).expect("write golden vectors");
    }
    let committed = std::fs::read_to_string(&path).expect("tests/golden/vectors.txt is committed");
    for (line_number, (want, got)) in committed.lines().zip(generated.lines()).enumerate() {
        assert_eq!(got, want, "golden vector line {} differs", line_number + 1);
    }
    assert_eq!(committed.lines().count(), generated.lines().count(), "golden vector line count differs");
}

#[test]
fn golden_bundle_verifies_offline_and_detects_tampering() {
    let text = generate_vectors();
    let vkey_line = text.lines().find_map(|l| l.strip_prefix("log_verifier_key: ")).expect("vkey line");
    let log_key = LogVerifierKey::parse_vkey(vkey_line).expect("vkey parses");
    let bundle_line = text.lines().find_map(|l| l.strip_prefix("bundle[2]: ")).expect("bundle line");
    let bundle_text = unescape(bundle_line);
    let bundle = ProofBundle::parse(&bundle_text).expect("bundle parses");
    assert_eq!(bundle.encode(), bundle_text, "bundle encoding round-trips");
    let verified = bundle.verify(&log_key).expect("bundle verifies");
    assert_eq!(verified.envelope.author().event_type, "klero.recommendation.RecommendationDrafted");
    assert_eq!(verified.checkpoint.checkpoint().tree_size, 5);

    // A changed payload byte breaks the author's signature.
    let mut tampered = bundle.clone();
    let last_payload_byte = 5 + verified.envelope.author_encoding().len() - 1;
    tampered.envelope[last_payload_byte] ^= 1;
    assert!(matches!(tampered.verify(&log_key), Err(klero_ledger::bundle::BundleError::Envelope(_))));
    // A changed ledger part keeps the signature but breaks the inclusion proof.
    let mut tampered = bundle.clone();
    let last = tampered.envelope.len() - 1;
    tampered.envelope[last] ^= 1;
    assert!(matches!(tampered.verify(&log_key), Err(klero_ledger::bundle::BundleError::Inclusion(_))));
    // Another leaf index fails; so does a checkpoint signed by another key.
    let mut tampered = bundle.clone();
    tampered.leaf_index = 3;
    assert!(tampered.verify(&log_key).is_err());
    let other = LogSigningKey::new("kleroterion.example/golden-log", key_from_label("someone else")).expect("key");
    assert!(bundle.verify(&other.verifier()).is_err());
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('u') => {
                let code: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&code, 16).expect("hex escape")).expect("char"));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// docs/FORMAT.md is precise enough for an outsider: an independent Python verifier, written
/// from the document with only the standard library, accepts every committed vector.
#[test]
fn an_independent_verifier_written_from_format_md_accepts_the_vectors() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/independent_verifier.py"))
        .arg(root.join("services/ledger/tests/golden/vectors.txt"))
        .output()
        .expect("python3 runs (the project's machines all have it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "independent verifier failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("checks passed on 5 events"), "{stdout}");
}
