//! Envelope and checkpoint rules: round trips, named refusals, and signature checks.

use klero_ledger::checkpoint::{Checkpoint, CheckpointError, LogSigningKey};
use klero_ledger::envelope::{
    verify_signatures_batch, AuthorPart, Envelope, EnvelopeError, EventId, LedgerPart, PAYLOAD_BYTES_MAX,
};
use klero_ledger::{Hash256, SigningKey};

fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

fn author_part(key: &SigningKey, n: u8) -> AuthorPart {
    AuthorPart {
        event_id: EventId([n; 16]),
        stream: "assembly/a1/deliberation".into(),
        event_type: "klero.deliberation.SessionHeld".into(),
        event_version: 1,
        author_public_key: key.verifying_key().to_bytes(),
        authored_at_unix_ms: 1_800_000_000_000,
        payload: vec![n; 300],
    }
}

fn sealed(key: &SigningKey, n: u8) -> Envelope {
    let signed = author_part(key, n).sign(key).expect("sign");
    Envelope::seal(
        &signed,
        LedgerPart { stream_revision: 0, previous_event_hash: Hash256::ZERO, recorded_at_unix_ms: 7 },
    )
}

#[test]
fn envelope_parses_back_to_the_same_fields_and_bytes() {
    let author_key = key("author");
    let envelope = sealed(&author_key, 1);
    let parsed = Envelope::parse(envelope.bytes().to_vec()).expect("parses");
    assert_eq!(parsed, envelope);
    assert_eq!(parsed.event_hash(), envelope.event_hash());
    parsed.verify_signature().expect("signature verifies");
    assert_eq!(parsed.signed_author_part(), author_part(&author_key, 1).sign(&author_key).expect("sign"));
}

#[test]
fn every_field_rule_is_refused_by_name() {
    let author_key = key("author");
    let check = |edit: fn(&mut AuthorPart), expected_field: &str| {
        let mut author = author_part(&author_key, 1);
        edit(&mut author);
        let error = author.encode().expect_err("must be refused");
        assert!(error.to_string().contains(expected_field), "{error} should name {expected_field}");
    };
    check(|a| a.event_id = EventId([0; 16]), "event id");
    check(|a| a.stream = String::new(), "stream");
    check(|a| a.stream = "$all".into(), "stream");
    check(|a| a.stream = "a b".into(), "stream");
    check(|a| a.stream = "s".repeat(201), "stream");
    check(|a| a.event_type = "klero/x".into(), "event_type");
    check(|a| a.event_version = 0, "event_version");
    check(|a| a.payload = vec![0; PAYLOAD_BYTES_MAX + 1], "payload");
}

#[test]
fn malformed_envelope_bytes_are_refused_not_misread() {
    let envelope = sealed(&key("author"), 1);
    let bytes = envelope.bytes().to_vec();
    assert!(matches!(Envelope::parse(bytes[..bytes.len() - 1].to_vec()), Err(EnvelopeError::Truncated { .. })));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(Envelope::parse(longer), Err(EnvelopeError::TrailingBytes { structure: "envelope", extra: 1 }));
    let mut wrong_version = bytes.clone();
    wrong_version[0] = 2;
    assert_eq!(Envelope::parse(wrong_version), Err(EnvelopeError::UnsupportedVersion { version: 2 }));
    let mut bad_previous = bytes;
    let at = bad_previous.len() - 40;
    bad_previous[at] = 1; // revision 0 with a non-zero previous hash
    assert!(matches!(
        Envelope::parse(bad_previous),
        Err(EnvelopeError::InvalidField { field: "previous_event_hash", .. })
    ));
}

#[test]
fn signing_with_another_key_is_refused_and_forged_signatures_fail() {
    let author_key = key("author");
    let other = key("other");
    assert!(matches!(
        author_part(&author_key, 1).sign(&other),
        Err(EnvelopeError::InvalidField { field: "author_public_key", .. })
    ));
    let envelope = sealed(&author_key, 1);
    let mut bytes = envelope.bytes().to_vec();
    bytes[40] ^= 0x01; // inside the author encoding
    let forged = Envelope::parse(bytes).expect("still well formed");
    assert!(matches!(forged.verify_signature(), Err(EnvelopeError::BadSignature { .. })));
}

#[test]
fn batch_verification_accepts_good_batches_and_names_the_first_bad_one() {
    let author_key = key("author");
    let mut envelopes: Vec<Envelope> = (1..=40).map(|n| sealed(&author_key, n)).collect();
    verify_signatures_batch(&envelopes).expect("all good");
    let mut bytes = envelopes[17].bytes().to_vec();
    bytes[100] ^= 0x80; // payload byte
    envelopes[17] = Envelope::parse(bytes).expect("well formed");
    let error = verify_signatures_batch(&envelopes).expect_err("one is bad");
    assert_eq!(error.index, 17);
    assert_eq!(error.event_id, EventId([18; 16]));
}

#[test]
fn event_ids_parse_in_uuid_form_only() {
    let id = EventId::parse("6F1C2A9E-0B1D-4C3E-8F00-0123456789AB").expect("uuid");
    assert_eq!(id.to_string(), "6f1c2a9e-0b1d-4c3e-8f00-0123456789ab");
    assert_eq!(EventId::parse("6f1c2a9e0b1d4c3e8f000123456789ab").expect("bare"), id);
    assert!(EventId::parse("00000000-0000-0000-0000-000000000000").is_err());
    assert!(EventId::parse("not-a-uuid").is_err());
}

#[test]
fn checkpoints_verify_and_every_tampering_is_refused() {
    let log_key = LogSigningKey::new("klero.test/log", key("log")).expect("key");
    let verifier = log_key.verifier();
    let checkpoint = Checkpoint {
        origin: "klero.test/log".into(),
        tree_size: 12,
        root_hash: Hash256::of(b"root"),
        stream_heads: None,
    };
    let signed = log_key.sign(&checkpoint).expect("sign");
    assert_eq!(verifier.verify(signed.note()).expect("verifies").checkpoint(), &checkpoint);
    assert_eq!(
        klero_ledger::checkpoint::LogVerifierKey::parse_vkey(&verifier.to_vkey_string()).expect("vkey"),
        verifier
    );

    let tampered_size = signed.note().replacen("\n12\n", "\n13\n", 1);
    assert_eq!(verifier.verify(&tampered_size), Err(CheckpointError::BadSignature));
    let other = LogSigningKey::new("klero.test/log", key("other")).expect("key");
    assert!(matches!(other.verifier().verify(signed.note()), Err(CheckpointError::NoSignatureByKey { .. })));
    let wrong_origin = Checkpoint { origin: "elsewhere".into(), ..checkpoint };
    assert!(matches!(log_key.sign(&wrong_origin), Err(CheckpointError::OriginMismatch { .. })));
    assert!(matches!(verifier.verify("klero.test/log\n12\n"), Err(CheckpointError::Malformed { .. })));
}
