//! The one reading of a decimal number in Kleroterion's text formats: ASCII digits only, no
//! sign, no leading zero (except `0` itself), at most 2^64 − 1. So each number has exactly one
//! spelling, and a parsed text re-encodes to itself.

/// `text` as a `u64`, if it is a decimal written the one allowed way.
pub(crate) fn decimal_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// `text` decoded as RFC 4648 §4 base64, if it is the one canonical spelling of its bytes
/// (padding, no whitespace, unused bits zero).
pub(crate) fn canonical_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(text).ok()?;
    (engine.encode(&bytes) == text).then_some(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_spelling_per_number() {
        use super::decimal_u64;
        assert_eq!(decimal_u64("0"), Some(0));
        assert_eq!(decimal_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "01", "+1", "-1", " 1", "1 ", "18446744073709551616", "1e3", "0x10"] {
            assert_eq!(decimal_u64(bad), None, "{bad:?}");
        }
    }
}
