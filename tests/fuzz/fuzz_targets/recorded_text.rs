//! Recorded text (docs/RULES.md, `text.characters`), differentially: the catalogue accepts a
//! free-text field exactly when the rule, stated here again from XML 1.0's `Char` production,
//! allows it; so no page, Atom feed or CSV built from an accepted record can be broken by it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// XML 1.0 (fifth edition) §2.2 `Char`, without CR (line ends are LF alone), the C1 controls
/// and DEL: written apart from `klero_domain::text`, as a second reading of the rule.
fn allowed(character: char) -> bool {
    let c = character as u32;
    matches!(c, 0x9 | 0xA | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

fuzz_target!(|text: &str| {
    let session = klero_proto::deliberation::SessionHeld {
        session_number: 1,
        held_on: "2026-01-17".into(),
        agenda: text.into(),
        attendance_count: 4,
    };
    let accepted = klero_catalogue::decode_event("klero.deliberation.v1.SessionHeld", 1, &session.encode_to_vec())
        .is_ok();
    let expected =
        !text.trim().is_empty() && text.len() <= klero_catalogue::TEXT_BYTES_MAX && text.chars().all(allowed);
    assert_eq!(accepted, expected, "the catalogue and XML's Char production disagree on {text:?}");
    assert_eq!(klero_domain::text::check_text_characters(text).is_ok(), text.chars().all(allowed), "{text:?}");
});
