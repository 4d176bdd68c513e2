//! SHA-256 values and the small encodings (hex) that every other module shares.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 output. Used for event hashes, Merkle nodes and roots.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash256(pub [u8; 32]);

/// A SHA-256 over bytes given in parts ([`Hash256::hasher`]).
#[derive(Clone, Debug)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> Hash256 {
        Hash256(self.0.finalize().into())
    }
}

/// So that a serialiser can write straight into the hash, without the bytes in memory at once.
impl std::io::Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Hash256 {
    /// The all-zero value, which stands for "no previous event" in a stream's chain.
    pub const ZERO: Hash256 = Hash256([0u8; 32]);

    /// SHA-256 of the concatenation of `parts`; saves callers a temporary buffer.
    pub fn of_parts(parts: &[&[u8]]) -> Hash256 {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash256(hasher.finalize().into())
    }

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash256 {
        Hash256(Sha256::digest(bytes).into())
    }

    /// A SHA-256 computed over bytes that arrive in parts.
    pub fn hasher() -> Hasher {
        Hasher(Sha256::new())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The 64 lowercase hex digits, on the stack: the views write a million of these, and a
    /// `String` each was a seventh of rendering them.
    pub fn hex_digits(&self) -> [u8; 64] {
        let mut digits = [0u8; 64];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
        }
        digits
    }

    /// Parses exactly 64 lowercase or uppercase hex digits.
    pub fn from_hex(text: &str) -> Result<Hash256, HexError> {
        let bytes = from_hex(text)?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| HexError::WrongLength { expected_bytes: 32, actual_bytes: bytes.len() })?;
        Ok(Hash256(array))
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({})", self.to_hex())
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Hash256 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(std::str::from_utf8(&self.hex_digits()).expect("hex digits are ASCII"))
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Hash256 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Hash256, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Hash256::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("hex string has an odd number of digits ({digits})")]
    OddLength { digits: usize },
    #[error("hex string has a non-hex character at index {index}")]
    InvalidDigit { index: usize },
    #[error("expected {expected_bytes} bytes of hex, got {actual_bytes}")]
    WrongLength { expected_bytes: usize, actual_bytes: usize },
}

/// Lowercase hex, the form used in every text format of the project.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    push_hex(&mut text, bytes);
    text
}

/// Appends `bytes` in lowercase hex to `text`, allocating nothing else.
pub fn push_hex(text: &mut String, bytes: &[u8]) {
    text.reserve(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub fn from_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::OddLength { digits: digits.len() });
    }
    let value = |index: usize| -> Result<u8, HexError> {
        match digits[index] {
            b'0'..=b'9' => Ok(digits[index] - b'0'),
            b'a'..=b'f' => Ok(digits[index] - b'a' + 10),
            b'A'..=b'F' => Ok(digits[index] - b'A' + 10),
            _ => Err(HexError::InvalidDigit { index }),
        }
    };
    (0..digits.len() / 2).map(|i| Ok((value(2 * i)? << 4) | value(2 * i + 1)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let bytes = [0x00, 0x7f, 0x80, 0xff];
        assert_eq!(to_hex(&bytes), "007f80ff");
        assert_eq!(from_hex("007F80ff").expect("valid hex"), bytes);
        assert_eq!(from_hex("abc"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(from_hex("zz"), Err(HexError::InvalidDigit { index: 0 }));
        assert!(matches!(Hash256::from_hex("00"), Err(HexError::WrongLength { .. })));
    }

    #[test]
    fn sha256_of_empty_input_matches_the_published_value() {
        assert_eq!(Hash256::of(b"").to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(&Hash256::of(b"").hex_digits()[..], Hash256::of(b"").to_hex().as_bytes());
        assert_eq!(Hash256::of_parts(&[b"ab", b"c"]), Hash256::of(b"abc"));
    }
}

/// A map keyed by SHA-256 hashes, with a hasher that takes 8 bytes of the key mixed with a
/// random per-map key: the keys are uniform already, so hashing all 32 bytes with SipHash
/// only costs time, and the random key keeps anyone from grinding hashes into one bucket.
pub type Hash256Map<V> = std::collections::HashMap<Hash256, V, KeyedPrefixState>;

/// The hasher state of [`Hash256Map`]: a random key, chosen per map.
#[derive(Clone, Debug)]
pub struct KeyedPrefixState {
    key: u64,
}

impl Default for KeyedPrefixState {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u64(0x6b6c_6572_6f5f_6861);
        KeyedPrefixState { key: random.finish() | 1 }
    }
}

impl std::hash::BuildHasher for KeyedPrefixState {
    type Hasher = KeyedPrefixHasher;
    fn build_hasher(&self) -> KeyedPrefixHasher {
        KeyedPrefixHasher { key: self.key, state: 0 }
    }
}

/// See [`KeyedPrefixState`].
#[derive(Clone, Debug)]
pub struct KeyedPrefixHasher {
    key: u64,
    state: u64,
}

impl std::hash::Hasher for KeyedPrefixHasher {
    fn write(&mut self, bytes: &[u8]) {
        // A hash's 32 bytes come in one write; anything shorter (a length) is folded in.
        let mut word = [0u8; 8];
        let take = bytes.len().min(8);
        word[..take].copy_from_slice(&bytes[..take]);
        self.state = (self.state.rotate_left(29) ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        // Keyed, then mixed so that every output bit depends on every key and input bit.
        let mut x = self.state ^ self.key;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}
