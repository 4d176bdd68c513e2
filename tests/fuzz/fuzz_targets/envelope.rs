//! The envelope parser and verifier (FORMAT.md §2): any bytes either parse into an envelope
//! that encodes back to exactly those bytes, or are refused; parsing never panics.
#![no_main]
use klero_ledger::envelope::{event_hash_of_envelope_bytes, Envelope, SignedAuthorPart};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::parse(data.to_vec()) {
        assert_eq!(envelope.bytes(), data, "an envelope keeps the bytes it parsed");
        assert_eq!(envelope.event_hash(), event_hash_of_envelope_bytes(data));
        let _ = envelope.verify_signature();
    }
    // The wire form of an author part: encoding then a 64-byte signature.
    if data.len() >= 64 {
        let (encoding, signature) = data.split_at(data.len() - 64);
        if let Ok(signed) = SignedAuthorPart::from_wire(encoding.to_vec(), signature) {
            let _ = signed.verify_signature();
        }
    }
});
