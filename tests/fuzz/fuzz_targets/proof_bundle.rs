//! The offline proof bundle (FORMAT.md §5): parsing and verifying any text never panics, and
//! a parsed bundle encodes back to the text it came from.
#![no_main]
use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let key = LogSigningKey::new("kleroterion.example/golden-log", SigningKey::from_bytes(&[7; 32])).expect("key");
    if let Ok(bundle) = ProofBundle::parse(text) {
        assert_eq!(bundle.encode(), text, "one text form per bundle");
        let _ = bundle.verify(&key.verifier());
    }
});
