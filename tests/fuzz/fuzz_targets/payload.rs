//! The payload decoder (the catalogue): any bytes under any event type and version decode to
//! a domain event or to violations that name a field; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else { return };
    let entries = klero_catalogue::EVENT_CATALOGUE;
    let entry = &entries[usize::from(selector) % entries.len()];
    let (event_type, version) = (entry.event_type, entry.event_version);
    // Now and then a version the catalogue does not have.
    let version = if selector >= 250 { version + 1 } else { version };
    match klero_catalogue::decode_event(event_type, version, payload) {
        Ok(_) => {}
        Err(violations) => assert!(!violations.is_empty(), "a refusal names at least one field"),
    }
});
