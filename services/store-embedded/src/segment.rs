//! The on-disk record format of the embedded store (docs/FORMAT.md §6).
//!
//! A segment file starts with the 16-byte header `KLERO-SEGMENT-V1` and then holds records:
//!
//! ```text
//! record = "KREC" | u32 body_len | u32 crc32c(body) | body          (integers big-endian)
//! body   = u64 position | u64 stream_revision | u64 sync_group_first_position | u8 flags
//!        | event_id[16] | u16 len | stream | u16 len | event_type | u32 len | data
//! ```
//!
//! `flags` bit 0 marks the last record of one append call, so recovery never keeps half an
//! append. `sync_group_first_position` is the first position written by the same fsync; recovery
//! uses it to tell a torn, never-acknowledged tail from corruption of acknowledged records.

use klero_ledger::envelope::EventId;

pub const SEGMENT_HEADER: &[u8; 16] = b"KLERO-SEGMENT-V1";
pub const RECORD_MAGIC: &[u8; 4] = b"KREC";
/// Magic, body length and checksum.
pub const RECORD_PREFIX_BYTES: usize = 12;
/// Fixed part of a body: position, revision, sync group, flags, event id and three lengths.
const BODY_FIXED_BYTES: usize = 8 + 8 + 8 + 1 + 16 + 2 + 2 + 4;
/// Flag bit: this record ends its append call.
pub const FLAG_LAST_IN_APPEND: u8 = 0x01;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub position: u64,
    pub stream_revision: u64,
    pub sync_group_first_position: u64,
    pub flags: u8,
    pub event_id: EventId,
    pub stream: String,
    pub event_type: String,
    pub data: Vec<u8>,
}

/// The fields a record is encoded from, borrowed so the writer copies data only once.
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    pub position: u64,
    pub stream_revision: u64,
    pub sync_group_first_position: u64,
    pub flags: u8,
    pub event_id: &'a EventId,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub data: &'a [u8],
}

/// Appends the encoded record to `out` and returns its length.
pub fn encode_record(out: &mut Vec<u8>, fields: RecordFields<'_>) -> usize {
    let start = out.len();
    let body_len = BODY_FIXED_BYTES + fields.stream.len() + fields.event_type.len() + fields.data.len();
    out.extend_from_slice(RECORD_MAGIC);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&[0u8; 4]); // checksum, filled in below
    let body_start = out.len();
    out.extend_from_slice(&fields.position.to_be_bytes());
    out.extend_from_slice(&fields.stream_revision.to_be_bytes());
    out.extend_from_slice(&fields.sync_group_first_position.to_be_bytes());
    out.push(fields.flags);
    out.extend_from_slice(&fields.event_id.0);
    out.extend_from_slice(&(fields.stream.len() as u16).to_be_bytes());
    out.extend_from_slice(fields.stream.as_bytes());
    out.extend_from_slice(&(fields.event_type.len() as u16).to_be_bytes());
    out.extend_from_slice(fields.event_type.as_bytes());
    out.extend_from_slice(&(fields.data.len() as u32).to_be_bytes());
    out.extend_from_slice(fields.data);
    let checksum = crc32c::crc32c(&out[body_start..]);
    out[body_start - 4..body_start].copy_from_slice(&checksum.to_be_bytes());
    out.len() - start
}

/// Why bytes at an offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeFailure {
    /// The record runs past the end of the bytes: the signature of a torn write.
    Incomplete,
    /// The bytes do not start with the record magic.
    BadMagic,
    /// The body fails its CRC-32C.
    BadChecksum { stored: u32, computed: u32 },
    /// The checksum holds but the body's lengths do not add up (a bug, or a checksum collision).
    Malformed(&'static str),
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeFailure::Incomplete => f.write_str("record is cut short"),
            DecodeFailure::BadMagic => f.write_str("record magic is missing"),
            DecodeFailure::BadChecksum { stored, computed } => {
                write!(f, "CRC-32C mismatch (stored {stored:08x}, computed {computed:08x})")
            }
            DecodeFailure::Malformed(reason) => write!(f, "malformed record: {reason}"),
        }
    }
}

/// A record's fields, borrowed from the bytes it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    pub position: u64,
    pub stream_revision: u64,
    pub sync_group_first_position: u64,
    pub flags: u8,
    pub event_id: EventId,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub data: &'a [u8],
}

impl RecordHeader<'_> {
    /// The record, owning its fields.
    pub fn to_record(&self) -> Record {
        Record {
            position: self.position,
            stream_revision: self.stream_revision,
            sync_group_first_position: self.sync_group_first_position,
            flags: self.flags,
            event_id: self.event_id,
            stream: self.stream.to_string(),
            event_type: self.event_type.to_string(),
            data: self.data.to_vec(),
        }
    }
}

/// Decodes the record at the start of `bytes`, returning it and its encoded length.
pub fn decode_record(bytes: &[u8], body_bytes_max: usize) -> Result<(Record, usize), DecodeFailure> {
    decode_record_header(bytes, body_bytes_max).map(|(header, length)| (header.to_record(), length))
}

/// [`decode_record`] without copying: the fields borrow from `bytes`. The checksum and every
/// length are checked all the same.
pub fn decode_record_header(bytes: &[u8], body_bytes_max: usize) -> Result<(RecordHeader<'_>, usize), DecodeFailure> {
    if bytes.len() < RECORD_PREFIX_BYTES {
        return if RECORD_MAGIC.starts_with(&bytes[..bytes.len().min(4)]) {
            Err(DecodeFailure::Incomplete)
        } else {
            Err(DecodeFailure::BadMagic)
        };
    }
    if &bytes[0..4] != RECORD_MAGIC {
        return Err(DecodeFailure::BadMagic);
    }
    let body_len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let stored = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if body_len > body_bytes_max {
        return Err(DecodeFailure::Malformed("body length beyond the largest record the store writes"));
    }
    let total = RECORD_PREFIX_BYTES + body_len;
    if bytes.len() < total {
        return Err(DecodeFailure::Incomplete);
    }
    let body = &bytes[RECORD_PREFIX_BYTES..total];
    let computed = crc32c::crc32c(body);
    if computed != stored {
        return Err(DecodeFailure::BadChecksum { stored, computed });
    }
    if body_len < BODY_FIXED_BYTES {
        return Err(DecodeFailure::Malformed("body shorter than its fixed fields"));
    }
    let u64_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().unwrap_or([0; 8]));
    let mut cursor = 25usize;
    let mut event_id = [0u8; 16];
    event_id.copy_from_slice(&body[cursor..cursor + 16]);
    cursor += 16;
    let mut take = |len_bytes: usize| -> Result<&[u8], DecodeFailure> {
        if cursor + len_bytes > body.len() {
            return Err(DecodeFailure::Malformed("length prefix runs past the body"));
        }
        let len = body[cursor..cursor + len_bytes].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        cursor += len_bytes;
        if cursor + len > body.len() {
            return Err(DecodeFailure::Malformed("field runs past the body"));
        }
        let field = &body[cursor..cursor + len];
        cursor += len;
        Ok(field)
    };
    let stream = std::str::from_utf8(take(2)?).map_err(|_| DecodeFailure::Malformed("stream is not UTF-8"))?;
    let event_type = std::str::from_utf8(take(2)?).map_err(|_| DecodeFailure::Malformed("event type is not UTF-8"))?;
    let data = take(4)?;
    if cursor != body.len() {
        return Err(DecodeFailure::Malformed("trailing bytes in body"));
    }
    let record = RecordHeader {
        position: u64_at(0),
        stream_revision: u64_at(8),
        sync_group_first_position: u64_at(16),
        flags: body[24],
        event_id: EventId(event_id),
        stream,
        event_type,
        data,
    };
    Ok((record, total))
}

/// Segment files are named by their first position, zero-padded so names sort by position.
pub fn segment_file_name(first_position: u64) -> String {
    format!("{first_position:020}.seg")
}

pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_every_damage_is_classified() {
        let id = EventId([9; 16]);
        let mut bytes = Vec::new();
        let fields = RecordFields {
            position: 7,
            stream_revision: 3,
            sync_group_first_position: 5,
            flags: FLAG_LAST_IN_APPEND,
            event_id: &id,
            stream: "s-1",
            event_type: "t",
            data: b"payload",
        };
        let len = encode_record(&mut bytes, fields);
        assert_eq!(len, bytes.len());
        let (record, decoded_len) = decode_record(&bytes, 1 << 20).expect("decodes");
        assert_eq!(decoded_len, len);
        assert_eq!((record.position, record.stream_revision, record.sync_group_first_position), (7, 3, 5));
        assert_eq!(
            (record.stream.as_str(), record.event_type.as_str(), record.data.as_slice()),
            ("s-1", "t", &b"payload"[..])
        );

        assert_eq!(decode_record(&bytes[..len - 1], 1 << 20), Err(DecodeFailure::Incomplete));
        assert_eq!(decode_record(&bytes[..2], 1 << 20), Err(DecodeFailure::Incomplete));
        let mut flipped = bytes.clone();
        flipped[len - 2] ^= 0x04;
        assert!(matches!(decode_record(&flipped, 1 << 20), Err(DecodeFailure::BadChecksum { .. })));
        let mut no_magic = bytes.clone();
        no_magic[0] = b'X';
        assert_eq!(decode_record(&no_magic, 1 << 20), Err(DecodeFailure::BadMagic));
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_file_name("42.seg"), None);
    }
}
