//! The proof of work a call may ask of submissions signed in a browser (docs/FORMAT.md §14.6).
//! It binds the call, the author's key and the text's commitment, so that work done for one
//! submission proves nothing for another.

use klero_ledger::Hash256;

/// The most a call may ask: about 16 million hashes on average, seconds in a browser.
pub const WORK_BITS_MAX: u32 = 24;
const DOMAIN: &[u8] = b"klero-work/v1\0";

/// SHA-256 of `"klero-work/v1" 0x00 || call_id || 0x00 || author public key (32 bytes) ||
/// text commitment (32 bytes) || nonce (8 bytes, big-endian)`.
pub fn work_hash(call_id: &str, author: &[u8; 32], commitment: &Hash256, nonce: u64) -> Hash256 {
    let mut input = Vec::with_capacity(DOMAIN.len() + call_id.len() + 1 + 32 + 32 + 8);
    input.extend_from_slice(DOMAIN);
    input.extend_from_slice(call_id.as_bytes());
    input.push(0);
    input.extend_from_slice(author);
    input.extend_from_slice(&commitment.0);
    input.extend_from_slice(&nonce.to_be_bytes());
    Hash256::of(&input)
}

/// How many leading zero bits `hash` has.
pub fn leading_zero_bits(hash: &Hash256) -> u32 {
    let mut bits = 0;
    for byte in hash.0 {
        if byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Whether `nonce` is work enough: a work hash with at least `bits` leading zero bits.
pub fn is_work(call_id: &str, author: &[u8; 32], commitment: &Hash256, nonce: u64, bits: u32) -> bool {
    bits == 0 || leading_zero_bits(&work_hash(call_id, author, commitment, nonce)) >= bits
}

/// The first nonce from 0 that is work enough (what a browser computes).
pub fn find_work(call_id: &str, author: &[u8; 32], commitment: &Hash256, bits: u32) -> u64 {
    (0..).find(|nonce| is_work(call_id, author, commitment, *nonce, bits)).expect("some nonce is work enough")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_found_and_checked_and_bound_to_what_it_was_done_for() {
        let (author, commitment) = ([7u8; 32], Hash256::of(b"text"));
        let nonce = find_work("call", &author, &commitment, 12);
        assert!(leading_zero_bits(&work_hash("call", &author, &commitment, nonce)) >= 12);
        assert!(is_work("call", &author, &commitment, nonce, 12));
        // The same nonce for another call, key or text is (almost surely) not work.
        let others = [
            is_work("other", &author, &commitment, nonce, 12),
            is_work("call", &[8u8; 32], &commitment, nonce, 12),
            is_work("call", &author, &Hash256::of(b"other"), nonce, 12),
        ];
        assert!(others.iter().filter(|is| **is).count() <= 1, "{others:?}");
        assert!(is_work("call", &author, &commitment, 12345, 0), "no work asked, any nonce");
        assert_eq!(leading_zero_bits(&Hash256([0; 32])), 256);
    }
}
