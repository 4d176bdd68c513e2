//! The export file (FORMAT.md §8) through the streaming verifier: any bytes give a report,
//! never a panic, and a report that says all holds has a checkpoint covering every event.
#![no_main]
use klero_verifier::{verify_stream, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = verify_stream(data, &VerifyOptions::default(), None, &mut |_, _| {});
    if report.ok() {
        assert_eq!(report.unanchored_events, 0);
        assert_eq!(report.anchored_size, report.events);
    }
});
