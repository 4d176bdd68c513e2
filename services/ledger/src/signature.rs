//! The ledger's rule for author signatures, and a batch check that always agrees with it.
//!
//! Authors sign with plain Ed25519 (RFC 8032); any RFC 8032 signer works. Verification follows
//! the rule in `docs/FORMAT.md` §2.2, which is RFC 8032's *cofactored* equation with canonical
//! encodings required and small-order points refused:
//!
//! - the public key `A` and the signature's `R` are canonical encodings (`y < p`) of curve
//!   points, and neither point is of small order;
//! - `S < L`;
//! - `[8][S]B = [8]R + [8][k]A`, where `k = SHA-512(R || A || M) mod L`.
//!
//! Why cofactored: with the cofactorless equation, batch verification and one-by-one
//! verification disagree on signatures whose `R` carries a small torsion component, which only
//! the key holder can make, and a random batch accepts some of them. Then two honest verifiers
//! of the same log could reach different verdicts. With the cofactor both checks accept exactly
//! the same signatures, so the server and every auditor may batch as they like. Every signature
//! that passes cofactorless strict verification (ed25519-dalek `verify_strict`) passes here.

use crate::hash::Hash256;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// Why an Ed25519 public key or signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not a canonical encoding of a curve point")]
    KeyNotCanonicalPoint,
    #[error("the public key is a point of small order")]
    KeySmallOrder,
    #[error("R is not a canonical encoding of a curve point")]
    RNotCanonicalPoint,
    #[error("R is a point of small order")]
    RSmallOrder,
    #[error("S is not below the group order L")]
    SNotCanonical,
    #[error("the verification equation does not hold")]
    EquationFails,
}

/// An author's public key, checked and decompressed once. Authors are few and events many, so
/// callers keep these rather than decompressing a key (a field square root) per signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorKey {
    encoded: [u8; 32],
    point: EdwardsPoint,
}

impl AuthorKey {
    /// Accepts a canonical encoding of a point that is not of small order.
    pub fn from_bytes(encoded: &[u8; 32]) -> Result<AuthorKey, SignatureError> {
        let point = decompress_canonical(encoded).ok_or(SignatureError::KeyNotCanonicalPoint)?;
        if point.is_small_order() {
            return Err(SignatureError::KeySmallOrder);
        }
        Ok(AuthorKey { encoded: *encoded, point })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.encoded
    }
}

/// True when the 255-bit `y` of an encoding is below `p = 2^255 - 19`. The sign bit is not
/// part of `y`. An encoding with `x = 0` and the sign bit set is also non-canonical, but only
/// the two small-order points have `x = 0`, and those are refused anyway.
fn y_is_canonical(encoded: &[u8; 32]) -> bool {
    // y >= p only when bits 0..255 are 2^255-19 ..= 2^255-1: low byte >= 0xed, then all ones.
    !(encoded[0] >= 0xed && encoded[1..31].iter().all(|b| *b == 0xff) && encoded[31] & 0x7f == 0x7f)
}

fn decompress_canonical(encoded: &[u8; 32]) -> Option<EdwardsPoint> {
    if !y_is_canonical(encoded) {
        return None;
    }
    CompressedEdwardsY(*encoded).decompress()
}

/// A signature parsed and checked as far as it can be without the verification equation.
struct Prepared {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

fn prepare(key: &AuthorKey, message: &[&[u8]], signature: &[u8; 64]) -> Result<Prepared, SignatureError> {
    let r_bytes: [u8; 32] = signature[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = signature[32..].try_into().expect("32 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(SignatureError::SNotCanonical)?;
    let r = decompress_canonical(&r_bytes).ok_or(SignatureError::RNotCanonicalPoint)?;
    if r.is_small_order() {
        return Err(SignatureError::RSmallOrder);
    }
    let mut hasher = Sha512::new();
    hasher.update(r_bytes);
    hasher.update(key.encoded);
    for part in message {
        hasher.update(part);
    }
    let k = Scalar::from_bytes_mod_order_wide(&hasher.finalize().into());
    Ok(Prepared { r, s, k })
}

/// Verifies one signature by the ledger's rule.
pub fn verify(key: &AuthorKey, message: &[u8], signature: &[u8; 64]) -> Result<(), SignatureError> {
    verify_parts(key, &[message], signature)
}

/// [`verify`] of a message given in pieces, as if they were concatenated, which spares callers
/// copying a domain prefix and a body into one buffer.
pub fn verify_parts(key: &AuthorKey, message: &[&[u8]], signature: &[u8; 64]) -> Result<(), SignatureError> {
    let Prepared { r, s, k } = prepare(key, message, signature)?;
    // [S]B - [k]A - R, then times the cofactor.
    let difference = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-key.point), &s) - r;
    if difference.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::EquationFails)
    }
}

/// One signature to check in a batch.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    pub key: &'a AuthorKey,
    /// The signed message in pieces, concatenated in order.
    pub message: [&'a [u8]; 2],
    pub signature: &'a [u8; 64],
}

/// Checks many signatures at once, about twice as fast per signature as one by one. It returns
/// exactly what [`verify`] would for each signature, in order: `Err((index, why))` names the
/// first that fails.
///
/// The batch equation is `[8](Σ zᵢ([Sᵢ]B − Rᵢ − [kᵢ]Aᵢ)) = 0` with 128-bit weights `zᵢ`
/// derived by hashing the whole batch, so no signer can choose signatures after seeing the
/// weights. If every signature holds, the sum is zero; if any fails, the sum is non-zero
/// except with probability about 2⁻¹²⁸. The cofactor removes torsion, which is what makes the
/// answer the same as one-by-one checking.
pub fn verify_batch(checks: &[SignatureCheck<'_>]) -> Result<(), (usize, SignatureError)> {
    if checks.is_empty() {
        return Ok(());
    }
    if checks.len() == 1 {
        let check = &checks[0];
        return verify_parts(check.key, &check.message, check.signature).map_err(|why| (0, why));
    }
    let mut prepared = Vec::with_capacity(checks.len());
    for (index, check) in checks.iter().enumerate() {
        match prepare(check.key, &check.message, check.signature) {
            Ok(item) => prepared.push(item),
            // A malformed signature fails, but one before it may fail its equation: the first
            // failure in order is the one to name, as one-by-one checking would.
            Err(why) => return verify_batch(&checks[..index]).and(Err((index, why))),
        }
    }
    let weights = batch_weights(checks, &prepared);
    // Σ zᵢSᵢ for B, zᵢ for each −Rᵢ, and −Σ zᵢkᵢ per distinct author key.
    let mut base_coefficient = Scalar::ZERO;
    let mut key_coefficients: Vec<(&AuthorKey, Scalar)> = Vec::new();
    let mut scalars = Vec::with_capacity(checks.len() + 2);
    let mut points = Vec::with_capacity(checks.len() + 2);
    for ((check, item), weight) in checks.iter().zip(&prepared).zip(&weights) {
        base_coefficient += weight * item.s;
        // −zᵢRᵢ as zᵢ(−Rᵢ): the weight stays 128 bits (−zᵢ mod ℓ would be 253), and the
        // multiplication's cost grows with the scalars' length.
        scalars.push(*weight);
        points.push(-item.r);
        let weighted_k = weight * item.k;
        match key_coefficients.iter_mut().find(|(key, _)| key.encoded == check.key.encoded) {
            Some((_, coefficient)) => *coefficient += weighted_k,
            None => key_coefficients.push((check.key, weighted_k)),
        }
    }
    scalars.push(base_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    for (key, coefficient) in key_coefficients {
        scalars.push(-coefficient);
        points.push(key.point);
    }
    let sum = EdwardsPoint::vartime_multiscalar_mul(&scalars, &points);
    if sum.mul_by_cofactor().is_identity() {
        return Ok(());
    }
    // Some signature fails; find the first, one by one.
    for (index, check) in checks.iter().enumerate() {
        verify_parts(check.key, &check.message, check.signature).map_err(|why| (index, why))?;
    }
    // Unreachable unless the batch equation is wrong: the two checks accept the same set.
    Err((0, SignatureError::EquationFails))
}

/// The weights: a hash of every (R, A, S, k) in the batch, then one 128-bit weight per index.
fn batch_weights(checks: &[SignatureCheck<'_>], prepared: &[Prepared]) -> Vec<Scalar> {
    let mut transcript = Sha512::new();
    transcript.update(b"KLERO-ED25519-BATCH-V1\0");
    for (check, item) in checks.iter().zip(prepared) {
        transcript.update(&check.signature[..]);
        transcript.update(check.key.encoded);
        transcript.update(item.k.as_bytes());
    }
    let seed = Hash256::of(&transcript.finalize());
    (0..checks.len() as u64)
        .map(|index| {
            let derived = Hash256::of_parts(&[&seed.0, &index.to_be_bytes()]);
            let low: [u8; 16] = derived.0[..16].try_into().expect("16 bytes");
            Scalar::from(u128::from_le_bytes(low))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use ed25519_dalek::{Signer, SigningKey};
    // Torsioned signatures (valid here, refused cofactorless) are in the golden vectors.

    fn signing_key(label: &str) -> SigningKey {
        SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
    }

    fn signed(label: &str, message: &[u8]) -> (AuthorKey, [u8; 64]) {
        let key = signing_key(label);
        let author = AuthorKey::from_bytes(key.verifying_key().as_bytes()).expect("key");
        (author, key.sign(message).to_bytes())
    }

    #[test]
    fn honest_signatures_verify_singly_and_in_batches() {
        let items: Vec<(AuthorKey, Vec<u8>, [u8; 64])> = (0..40)
            .map(|n| {
                let message = format!("message {n}").into_bytes();
                let (key, signature) = signed(&format!("author {}", n % 3), &message);
                (key, message, signature)
            })
            .collect();
        let checks: Vec<SignatureCheck<'_>> = items
            .iter()
            .map(|(key, message, signature)| SignatureCheck { key, message: [b"", message], signature })
            .collect();
        for (key, message, signature) in &items {
            verify(key, message, signature).expect("valid");
        }
        verify_batch(&checks).expect("valid batch");
        verify_batch(&checks[..2]).expect("valid pair");
        verify_batch(&[]).expect("empty batch");
    }

    #[test]
    fn a_batch_names_the_first_bad_signature() {
        let items: Vec<(AuthorKey, Vec<u8>, [u8; 64])> = (0..10)
            .map(|n| {
                let message = format!("message {n}").into_bytes();
                let (key, signature) = signed("author", &message);
                (key, message, signature)
            })
            .collect();
        for bad in [0, 4, 9] {
            let mut tampered = items.clone();
            tampered[bad].1.push(b'!');
            if bad == 4 {
                tampered[7].2[40] ^= 1;
            }
            let checks: Vec<SignatureCheck<'_>> = tampered
                .iter()
                .map(|(key, message, signature)| SignatureCheck { key, message: [message, b""], signature })
                .collect();
            let (index, _) = verify_batch(&checks).expect_err("one is bad");
            assert_eq!(index, bad);
        }
    }

    /// Found by the fuzz target `signature_batch_vs_single`: a signature whose equation fails,
    /// before one whose R is of small order, was reported after it (the batch checked every
    /// signature's form before any equation).
    #[test]
    fn a_batch_names_a_failed_equation_before_a_later_malformed_signature() {
        let (key, honest) = signed("author", b"m");
        let mut flipped = honest;
        flipped[40] ^= 1;
        let mut small_r = honest;
        small_r[..32].copy_from_slice(EIGHT_TORSION[2].compress().as_bytes());
        let checks = [
            SignatureCheck { key: &key, message: [b"m", b""], signature: &flipped },
            SignatureCheck { key: &key, message: [b"m", b""], signature: &small_r },
            SignatureCheck { key: &key, message: [b"m", b""], signature: &honest },
        ];
        let one_by_one = checks
            .iter()
            .enumerate()
            .find_map(|(i, c)| verify_parts(c.key, &c.message, c.signature).err().map(|why| (i, why)));
        assert_eq!(one_by_one, Some((0, SignatureError::EquationFails)));
        assert_eq!(verify_batch(&checks).err(), one_by_one);
    }

    #[test]
    fn non_canonical_and_small_order_inputs_are_refused() {
        let (key, signature) = signed("author", b"m");
        // An unreduced S (S + L) is the golden vector `signature_rule[s_not_reduced]`.
        for torsion in EIGHT_TORSION {
            let mut small_r = signature;
            small_r[..32].copy_from_slice(torsion.compress().as_bytes());
            assert_eq!(verify(&key, b"m", &small_r), Err(SignatureError::RSmallOrder));
            assert_eq!(AuthorKey::from_bytes(torsion.compress().as_bytes()), Err(SignatureError::KeySmallOrder));
        }
        // y = p + 1 encodes the same point as y = 1, non-canonically.
        let mut non_canonical = [0xff; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        let mut bad_r = signature;
        bad_r[..32].copy_from_slice(&non_canonical);
        assert_eq!(verify(&key, b"m", &bad_r), Err(SignatureError::RNotCanonicalPoint));
        assert_eq!(AuthorKey::from_bytes(&non_canonical), Err(SignatureError::KeyNotCanonicalPoint));
    }

    #[test]
    fn agrees_with_dalek_strict_on_honest_and_tampered_signatures() {
        for n in 0..200u32 {
            let message = n.to_be_bytes();
            let (key, mut signature) = signed(&format!("k{}", n % 7), &message);
            if n % 3 == 0 {
                signature[(n as usize * 7) % 64] ^= 1 << (n % 8);
            }
            let dalek = ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes()).expect("key");
            let theirs = dalek.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature)).is_ok();
            assert_eq!(verify(&key, &message, &signature).is_ok(), theirs, "signature {n}");
        }
    }
}
