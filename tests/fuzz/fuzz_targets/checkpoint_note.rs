//! Checkpoint notes, cosignatures, witness policies and verifier keys (FORMAT.md §4, §13):
//! never a panic, and a note that verifies has the checkpoint its text names.
#![no_main]
use klero_ledger::checkpoint::{split_note, Checkpoint, LogSigningKey, LogVerifierKey};
use klero_ledger::cosignature::{CosignerKey, CosignerVerifierKey, WitnessPolicy};
use klero_ledger::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let log = LogSigningKey::new("fuzz.example/log", SigningKey::from_bytes(&[7; 32])).expect("key");
    let witness = CosignerKey::new("fuzz.example/w1", SigningKey::from_bytes(&[8; 32])).expect("key");
    let verifier = log.verifier();
    if let Ok(signed) = verifier.verify(text) {
        let (note_text, _) = split_note(text).expect("a verified note splits");
        assert_eq!(Checkpoint::parse_note_text(note_text).as_ref(), Ok(signed.checkpoint()));
    }
    let policy = WitnessPolicy::new(vec![witness.verifier()], 1).expect("policy");
    let _ = policy.check(text);
    let _ = LogVerifierKey::parse_vkey(text);
    let _ = CosignerVerifierKey::parse_vkey(text);
    // A fuzzed origin, size and root, signed and cosigned, always verifies.
    if let Some((size, root)) = data.split_first() {
        let checkpoint = Checkpoint {
            origin: "fuzz.example/log".into(),
            tree_size: u64::from(*size),
            root_hash: klero_ledger::Hash256::of(root),
            stream_heads: None,
        };
        let signed = log.sign(&checkpoint).expect("sign");
        let cosigned = signed.with_signature_lines(&[witness.cosign(&checkpoint, u64::from(*size))]);
        assert!(verifier.verify(cosigned.note()).is_ok());
        assert!(policy.check(cosigned.note()).is_ok());
    }
});
