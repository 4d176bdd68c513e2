//! Differential: the batch check of author signatures accepts exactly what the one-by-one
//! check accepts, and names the same first failure (FORMAT.md §2.2), on inputs that include
//! small-order and non-canonical R, unreduced S, torsion added to an honest R, and raw bytes.
#![no_main]
use arbitrary::Arbitrary;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::{EdwardsPoint, Scalar};
use ed25519_dalek::Signer;
use klero_ledger::signature::{verify_batch, verify_parts, AuthorKey, SignatureCheck};
use klero_ledger::SigningKey;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Tamper {
    Honest,
    SmallOrderR(u8),
    NonCanonicalR(u8),
    TorsionOnR(u8),
    UnreducedS,
    FlipBit(u16),
    Raw([u8; 32], [u8; 32]),
}

#[derive(Arbitrary, Debug)]
struct Case {
    key_seed: u8,
    message: Vec<u8>,
    tamper: Tamper,
}

fn signature(case: &Case, key: &SigningKey) -> [u8; 64] {
    let honest = key.sign(&case.message).to_bytes();
    let mut signature = honest;
    match &case.tamper {
        Tamper::Honest => {}
        Tamper::SmallOrderR(i) => {
            signature[..32].copy_from_slice(EIGHT_TORSION[usize::from(*i) % 8].compress().as_bytes())
        }
        Tamper::NonCanonicalR(y) => {
            // y + p for a small y: the same y, not canonically encoded.
            let mut encoded = [0xff; 32];
            encoded[0] = 0xed + (y % 19);
            encoded[31] = 0x7f;
            signature[..32].copy_from_slice(&encoded);
        }
        Tamper::TorsionOnR(i) => {
            // A valid signature whose R carries torsion: k is recomputed over the new R.
            use sha2::{Digest, Sha512};
            let nonce = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&case.message).into());
            let r = (EdwardsPoint::mul_base(&nonce) + EIGHT_TORSION[usize::from(*i) % 8]).compress().to_bytes();
            let k = Scalar::from_bytes_mod_order_wide(
                &Sha512::new()
                    .chain_update(r)
                    .chain_update(key.verifying_key().to_bytes())
                    .chain_update(&case.message)
                    .finalize()
                    .into(),
            );
            let s = nonce + k * key.to_scalar();
            signature[..32].copy_from_slice(&r);
            signature[32..].copy_from_slice(s.as_bytes());
        }
        Tamper::UnreducedS => {
            let l_minus_one = (-Scalar::ONE).to_bytes();
            let mut carry = 1u16;
            for (i, l_byte) in l_minus_one.iter().enumerate() {
                let sum = u16::from(honest[32 + i]) + u16::from(*l_byte) + carry;
                signature[32 + i] = sum as u8;
                carry = sum >> 8;
            }
        }
        Tamper::FlipBit(bit) => signature[usize::from(*bit / 8) % 64] ^= 1 << (bit % 8),
        Tamper::Raw(r, s) => {
            signature[..32].copy_from_slice(r);
            signature[32..].copy_from_slice(s);
        }
    }
    signature
}

fuzz_target!(|cases: Vec<Case>| {
    if cases.is_empty() || cases.len() > 16 {
        return;
    }
    let keys: Vec<SigningKey> = cases.iter().map(|c| SigningKey::from_bytes(&[c.key_seed % 4; 32])).collect();
    let author_keys: Vec<AuthorKey> =
        keys.iter().map(|k| AuthorKey::from_bytes(&k.verifying_key().to_bytes()).expect("a usable key")).collect();
    let signatures: Vec<[u8; 64]> = cases.iter().zip(&keys).map(|(case, key)| signature(case, key)).collect();
    let checks: Vec<SignatureCheck<'_>> = cases
        .iter()
        .zip(&author_keys)
        .zip(&signatures)
        .map(|((case, key), signature)| SignatureCheck { key, message: [&case.message, &[]], signature })
        .collect();
    let one_by_one = checks
        .iter()
        .enumerate()
        .find_map(|(i, check)| verify_parts(check.key, &check.message, check.signature).err().map(|why| (i, why)));
    let batch = verify_batch(&checks).err();
    assert_eq!(batch, one_by_one, "the batch and one-by-one checks disagree");
});
