//! Fixed-size records packed into one base64 string, for the large tables of a server snapshot
//! (one entry per event). As JSON objects they would cost several times their bytes, and a
//! snapshot must stay within the store's snapshot limit for logs of millions of events.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// A record of exactly `LEN` bytes.
pub trait FixedRecord: Sized {
    const LEN: usize;
    fn write(&self, out: &mut Vec<u8>);
    /// Reads a record from exactly `LEN` bytes; `None` if they are not a valid record.
    fn read(bytes: &[u8]) -> Option<Self>;
}

/// Serialises `records` as one base64 string of their concatenated bytes.
pub fn serialize<'a, R: FixedRecord + 'a, S: serde::Serializer>(
    records: impl IntoIterator<Item = &'a R>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut bytes = Vec::new();
    for record in records {
        record.write(&mut bytes);
    }
    serializer.serialize_str(&BASE64.encode(bytes))
}

/// The records [`serialize`] wrote.
pub fn deserialize<'de, R: FixedRecord, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<R>, D::Error> {
    use serde::de::Error;
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
    let bytes = BASE64.decode(text.as_bytes()).map_err(D::Error::custom)?;
    if bytes.len() % R::LEN != 0 {
        return Err(D::Error::custom(format!(
            "{} bytes is not a whole number of {}-byte records",
            bytes.len(),
            R::LEN
        )));
    }
    bytes
        .chunks_exact(R::LEN)
        .map(|chunk| R::read(chunk).ok_or_else(|| D::Error::custom("an invalid record")))
        .collect()
}
