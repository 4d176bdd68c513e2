//! Golden outputs that pin what Kleroterion publishes, from the fixed record of
//! `klero_testkit::fixture` (one assembly, every event type):
//! - `payloads.txt`: every event type's payload bytes and what they decode to;
//! - `record-vectors.txt`: the fixture's events and every view's canonical JSON and digest
//!   (docs/FORMAT.md §7), for an independent implementation to reproduce.
//!
//! After an intended change, regenerate with `UPDATE_EXPECT=1 cargo test -p klero-tests --test golden`
//! and bump the version of what changed.

use expect_test::expect_file;
use klero_catalogue::{decode_event, EVENT_CATALOGUE};
use klero_fold::{LogFold, LoggedEventRef};
use klero_ledger::envelope::Envelope;
use klero_ledger::hash::to_hex;
use klero_projections::ViewName;
use klero_testkit::fixture;
use std::fmt::Write as _;

fn folded(fixture: &fixture::Fixture) -> LogFold {
    let mut fold = LogFold::new(fixture.trust_root);
    for (index, bytes) in fixture.export.events.iter().enumerate() {
        let envelope = Envelope::parse(bytes.clone()).expect("envelope");
        let event = LoggedEventRef { log_index: index as u64, envelope: &envelope, event_hash: envelope.event_hash() };
        fold.fold(event, None).unwrap_or_else(|e| panic!("the fixture breaks a rule: {e}"));
    }
    fold
}

#[test]
fn the_fixture_follows_every_rule_and_verifies() {
    let fixture = fixture::lifecycle();
    let fold = folded(&fixture);
    assert_eq!(fold.next_log_index(), fixture.export.events.len() as u64);
    let report = klero_verifier::verify_export(&fixture.export, &mut |_, _| {});
    assert!(report.ok(), "{}", report.to_text());
    assert!(fold.is_late(
        &Envelope::parse(fixture.export.events[fixture.export.events.len() - 3].clone()).expect("e").author().event_id
    ));
}

#[test]
fn every_event_type_has_a_golden_payload_that_decodes() {
    let fixture = fixture::lifecycle();
    let mut text = String::from("# One payload of every event type in the catalogue, hex, and what it decodes to.\n");
    for entry in EVENT_CATALOGUE {
        let (_, payload) = fixture
            .payloads
            .iter()
            .find(|(event_type, _)| *event_type == entry.event_type)
            .unwrap_or_else(|| panic!("the fixture has no {} event: add one", entry.event_type));
        let decoded = decode_event(entry.event_type, entry.event_version, payload)
            .unwrap_or_else(|v| panic!("{} does not decode: {v:?}", entry.event_type));
        assert_eq!(klero_catalogue::event_type_of(&decoded), (entry.event_type, entry.event_version));
        writeln!(text, "payload[{} v{}]: {}", entry.event_type, entry.event_version, to_hex(payload)).ok();
        writeln!(text, "decoded[{}]: {decoded:?}", entry.event_type).ok();
    }
    expect_file!["payloads.txt"].assert_eq(&text);
}

/// The fixture's events and every view of its assembly: the golden bytes of FORMAT.md §7.
#[test]
fn every_view_of_the_fixture_is_pinned_byte_for_byte() {
    let fixture = fixture::lifecycle();
    let fold = folded(&fixture);
    let mut text = String::from(
        "# Kleroterion golden vectors for the record: docs/FORMAT.md §7 (views) over the events below.\n\
         # One `key: value` per line; values are lowercase hex, or one line of canonical JSON.\n",
    );
    writeln!(text, "trust_root_public_key: {}", to_hex(&fixture.trust_root)).ok();
    writeln!(text, "log_verifier_key: {}", fixture.log_key.verifier().to_vkey_string()).ok();
    for (index, bytes) in fixture.export.events.iter().enumerate() {
        writeln!(text, "event[{index}].envelope: {}", to_hex(bytes)).ok();
    }
    let assembly = klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id");
    for name in ViewName::ALL {
        let view = fold.views().render(name, &assembly).expect("rendered");
        let key = format!("view[{}/{}]", name.as_str(), fixture::ASSEMBLY);
        assert!(!view.json.contains('\n'), "canonical JSON is one line");
        assert_eq!(view.digest, klero_ledger::Hash256::of(view.json.as_bytes()), "the digest is SHA-256 of the JSON");
        writeln!(text, "{key}.tree_size: {}", view.tree_size).ok();
        writeln!(text, "{key}.json: {}", view.json).ok();
        writeln!(text, "{key}.digest: {}", view.digest.to_hex()).ok();
    }
    expect_file!["record-vectors.txt"].assert_eq(&text);
}
