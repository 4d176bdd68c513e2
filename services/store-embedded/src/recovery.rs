//! Opening a data directory: every segment read forwards in chunks, every record checked
//! (CRC-32C, position sequence, stream revisions, unique ids) and indexed, a torn tail that was
//! never acknowledged told apart from corruption (FORMAT.md §6). Segments are decoded on one
//! thread and indexed, in order, on another.

use super::*;

/// Bytes of a segment read at a time while opening: the store never holds a whole segment in
/// memory to scan it.
pub(crate) const SCAN_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Reads a segment forwards through a buffer that always holds at least one whole record when
/// the file does.
pub(crate) struct SegmentScanner {
    file: File,
    file_len: u64,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_start: u64,
}

impl SegmentScanner {
    /// The bytes from `offset` on, at least `wanted` of them (or up to the end of the file).
    fn bytes_at(&mut self, offset: u64, wanted: usize) -> std::io::Result<&[u8]> {
        let buffered_end = self.buffer_start + self.buffer.len() as u64;
        let want_end = (offset + wanted as u64).min(self.file_len);
        if offset < self.buffer_start || want_end > buffered_end {
            let read_len = (want_end - offset).max((SCAN_CHUNK_BYTES as u64).min(self.file_len - offset)) as usize;
            self.buffer.resize(read_len, 0);
            self.file.read_exact_at(&mut self.buffer, offset)?;
            self.buffer_start = offset;
        }
        Ok(&self.buffer[(offset - self.buffer_start) as usize..])
    }
}

/// The records of the append being read: they join the index only when its last one is read.
/// An append writes to one stream, so they share its name.
#[derive(Default)]
pub(crate) struct PendingAppend {
    stream: String,
    /// The stream's revision at the append's first record.
    first_revision: u64,
    /// Position, id, the id's fingerprint, location.
    records: Vec<(u64, EventId, u64, RecordLocation)>,
    ids: std::collections::HashSet<EventId>,
}

/// One segment's records, decoded and checked on their own (magic, lengths, CRC-32C), not yet
/// against the log (positions, revisions, ids: [`index_segment`]). Decoding needs nothing of
/// the other segments, so opening decodes the next segment on a thread of its own while it
/// indexes this one (at 10 million events that took a sixth off a start).
pub(crate) struct DecodedSegment {
    file: File,
    file_len: u64,
    /// The first bytes of the file, up to a header's length.
    header: Vec<u8>,
    records: Vec<DecodedRecord>,
    /// The streams the records name, each once.
    streams: Vec<String>,
    /// Where decoding stopped before the end of the file, and why.
    failure: Option<(u64, DecodeFailure)>,
}

/// A decoded record's fields that opening checks and indexes.
struct DecodedRecord {
    offset: u64,
    length: u32,
    /// Index into [`DecodedSegment::streams`].
    stream: u32,
    flags: u8,
    position: u64,
    stream_revision: u64,
    event_id: EventId,
    /// The id's fingerprint in the index ([`ids::IdFingerprints`]), taken here to spare the
    /// indexing thread, the busier one.
    fingerprint: u64,
}

/// Reads a segment forwards and decodes its records up to the first that does not decode.
pub(crate) fn decode_segment(
    path: &Path,
    options: &EmbeddedStoreOptions,
    fingerprints: &ids::IdFingerprints,
) -> Result<DecodedSegment, StoreError> {
    let file = File::open(path).map_err(|e| io_failure("opening", path, e))?;
    let file_len = file.metadata().map_err(|e| io_failure("reading the length of", path, e))?.len();
    let mut scanner = SegmentScanner { file, file_len, buffer: Vec::new(), buffer_start: 0 };
    let header = scanner.bytes_at(0, SEGMENT_HEADER.len()).map_err(|e| io_failure("reading", path, e))?;
    let header = header[..header.len().min(SEGMENT_HEADER.len())].to_vec();
    let mut records = Vec::new();
    let mut streams: Vec<String> = Vec::new();
    let mut stream_numbers: HashMap<String, u32> = HashMap::new();
    let mut failure = None;
    if header == SEGMENT_HEADER {
        let body_max = options.record_body_bytes_max();
        let record_max = RECORD_PREFIX_BYTES + body_max;
        let mut offset = SEGMENT_HEADER.len() as u64;
        while offset < file_len {
            let bytes = scanner.bytes_at(offset, record_max).map_err(|e| io_failure("reading", path, e))?;
            match decode_record_header(bytes, body_max) {
                Ok((record, length)) => {
                    // An append's records share a stream, so the last one named is the usual hit.
                    let stream = match streams.last() {
                        Some(last) if last == record.stream => streams.len() as u32 - 1,
                        _ => match stream_numbers.get(record.stream) {
                            Some(&number) => number,
                            None => {
                                let number = streams.len() as u32;
                                stream_numbers.insert(record.stream.to_string(), number);
                                streams.push(record.stream.to_string());
                                number
                            }
                        },
                    };
                    records.push(DecodedRecord {
                        offset,
                        length: length as u32,
                        stream,
                        flags: record.flags,
                        position: record.position,
                        stream_revision: record.stream_revision,
                        event_id: record.event_id,
                        fingerprint: fingerprints.of(&record.event_id),
                    });
                    offset += length as u64;
                }
                Err(decode_failure) => {
                    failure = Some((offset, decode_failure));
                    break;
                }
            }
        }
    }
    Ok(DecodedSegment { file: scanner.file, file_len, header, records, streams, failure })
}

/// Checks a decoded segment against the log so far and adds its records to `index`; tells a
/// torn tail of the last segment from corruption. Returns the valid length.
pub(crate) fn index_segment(
    decoded: DecodedSegment,
    path: &Path,
    name: &str,
    segment_number: u32,
    is_last: bool,
    options: &EmbeddedStoreOptions,
    index: &mut Index,
) -> Result<(u64, Option<TruncatedTail>), StoreError> {
    let DecodedSegment { file, file_len, header, records, streams, failure } = decoded;
    let corrupt = |offset: u64, position: u64, reason: String| StoreError::Corrupt {
        segment: name.to_string(),
        offset,
        position,
        reason,
    };
    let header_len = SEGMENT_HEADER.len() as u64;
    if header != SEGMENT_HEADER {
        // A crash while creating the newest segment can leave its header incomplete; that
        // segment then holds nothing that was acknowledged, so it is rewritten empty.
        let only_header_damage = file_len <= header_len && SEGMENT_HEADER.starts_with(&header);
        let all_zero = file_len <= header_len && header.iter().all(|&b| b == 0);
        if is_last && (only_header_damage || all_zero) {
            let disk = &options.disk;
            let file = disk.create_empty(path).map_err(|e| io_failure("opening", path, e))?;
            disk.write_all_at(&file, path, SEGMENT_HEADER, 0).map_err(|e| io_failure("writing", path, e))?;
            disk.sync_all(&file, path).map_err(|e| io_failure("syncing", path, e))?;
            let tail =
                TruncatedTail { segment: name.to_string(), offset: 0, bytes_removed: file_len, records_removed: 0 };
            return Ok((header_len, Some(tail)));
        }
        return Err(corrupt(0, index.locations.len() as u64, "segment header is not KLERO-SEGMENT-V1".into()));
    }

    let body_max = options.record_body_bytes_max();
    let mut pending = PendingAppend::default();
    let mut committed_end = header_len;
    for record in &records {
        let expected_position = index.locations.len() as u64 + pending.records.len() as u64;
        let stream = streams[record.stream as usize].as_str();
        if pending.records.is_empty() {
            // An append's records are of one stream: its revision is looked up once.
            pending.stream.clear();
            pending.stream.push_str(stream);
            pending.first_revision = index.streams.get(stream).map_or(0, |p| p.len() as u64);
        }
        let fields = (record.position, stream, record.stream_revision, record.event_id);
        check_record_sequence(fields, expected_position, &pending)
            .map_err(|reason| corrupt(record.offset, expected_position, reason))?;
        let location = RecordLocation { segment: segment_number, offset: record.offset, length: record.length };
        pending.records.push((record.position, record.event_id, record.fingerprint, location));
        pending.ids.insert(record.event_id);
        if record.flags & FLAG_LAST_IN_APPEND != 0 {
            index_append(index, &mut pending);
            committed_end = record.offset + record.length as u64;
        }
    }
    drop(records);
    let first_lost_position = index.locations.len() as u64;
    if committed_end == file_len {
        return Ok((committed_end, None));
    }
    // Past the last whole append: read the rest (the zeros written ahead of the active
    // segment's records, or damage) and classify it.
    let mut rest = vec![0u8; (file_len - committed_end) as usize];
    file.read_exact_at(&mut rest, committed_end).map_err(|e| io_failure("reading", path, e))?;
    // The active segment ends in zeros written ahead of its records: unused space, kept.
    if is_last && rest.iter().all(|&b| b == 0) {
        return Ok((committed_end, None));
    }
    if !is_last {
        let (at, reason) = match failure {
            Some((at, failure)) => (at, failure.to_string()),
            None => (committed_end, "segment ends inside an append".to_string()),
        };
        return Err(corrupt(at, first_lost_position + pending.records.len() as u64, reason));
    }
    if let Some((at, decode_failure)) = &failure {
        // A record from a later fsync group proves this group was synced and acknowledged: the
        // damage is corruption of acknowledged data, not a torn write.
        let bad_position = first_lost_position + pending.records.len() as u64;
        let from = (at + 1 - committed_end) as usize;
        if let Some((later_offset, later)) = find_later_sync_group(&rest, from, bad_position, body_max) {
            return Err(corrupt(
                *at,
                bad_position,
                format!(
                    "{decode_failure}, and an acknowledged record (position {}, at offset {}) follows it",
                    later.position,
                    committed_end + later_offset as u64
                ),
            ));
        }
    }
    let file = OpenOptions::new().write(true).open(path).map_err(|e| io_failure("opening", path, e))?;
    let disk = &options.disk;
    disk.set_len(&file, path, committed_end).map_err(|e| io_failure("truncating", path, e))?;
    disk.sync_all(&file, path).map_err(|e| io_failure("syncing", path, e))?;
    let tail = TruncatedTail {
        segment: name.to_string(),
        offset: committed_end,
        bytes_removed: file_len - committed_end,
        records_removed: pending.records.len() as u64,
    };
    Ok((committed_end, Some(tail)))
}

/// Looks past a damaged record for a valid record written by a later fsync group.
pub(crate) fn find_later_sync_group(
    bytes: &[u8],
    from: usize,
    bad_position: u64,
    body_max: usize,
) -> Option<(usize, Record)> {
    let mut at = from;
    while at + RECORD_PREFIX_BYTES <= bytes.len() {
        let next = bytes[at..].windows(RECORD_MAGIC.len()).position(|w| w == RECORD_MAGIC)? + at;
        if let Ok((record, _)) = decode_record(&bytes[next..], body_max) {
            if record.sync_group_first_position > bad_position && record.position > bad_position {
                return Some((next, record));
            }
        }
        at = next + 1;
    }
    None
}

/// A record's position, stream, stream revision and event id.
pub(crate) type SequenceFields<'a> = (u64, &'a str, u64, EventId);

/// The store-level chain: positions are consecutive, revisions continue their stream, ids unique.
/// `pending` holds the append's records before this one, and its stream and first revision.
pub(crate) fn check_record_sequence(
    (position, stream, stream_revision, event_id): SequenceFields<'_>,
    expected_position: u64,
    pending: &PendingAppend,
) -> Result<(), String> {
    if position != expected_position {
        return Err(format!("record holds position {position}, expected {expected_position}"));
    }
    if pending.stream != stream {
        return Err(format!("one append holds records of streams {} and {stream}", pending.stream));
    }
    let expected_revision = pending.first_revision + pending.records.len() as u64;
    if stream_revision != expected_revision {
        return Err(format!("stream {stream} record holds revision {stream_revision}, expected {expected_revision}"));
    }
    if pending.ids.contains(&event_id) {
        return Err(format!("event id {event_id} appears twice"));
    }
    Ok(())
}

/// A record whose id's fingerprint other records' ids have: corruption if one of theirs is
/// the same id, which [`confirm_suspected_repeats`] checks once the segments can be read.
#[derive(Debug)]
pub(crate) struct SuspectedRepeat {
    pub(crate) position: u64,
    pub(crate) others: Vec<u64>,
}

/// Checks every suspected repeat of an event id against the other records: an id the log
/// holds twice is corruption, reported with the position and offset of the later record (the
/// earliest such, whatever order the suspects came in).
pub(crate) fn confirm_suspected_repeats(shared: &Shared) -> Result<(), StoreError> {
    let suspects = std::mem::take(&mut shared.index.write().unwrap_or_else(|p| p.into_inner()).suspected_repeats);
    let mut repeats = Vec::new();
    for suspect in suspects {
        let id = shared.read_record(suspect.position)?.event_id;
        for other in suspect.others {
            if shared.read_record(other)?.event_id == id {
                repeats.push((suspect.position.max(other), suspect.position.min(other), id));
            }
        }
    }
    let Some((position, first, event_id)) = repeats.into_iter().min() else { return Ok(()) };
    let location = shared.index.read().unwrap_or_else(|p| p.into_inner()).locations.get(position).expect("indexed");
    let segment = shared.segments.read().unwrap_or_else(|p| p.into_inner())[location.segment as usize].name.clone();
    Err(StoreError::Corrupt {
        segment,
        offset: location.offset,
        position,
        reason: format!("event id {event_id} appears twice (first at position {first})"),
    })
}

/// Adds a whole append to the index, and empties `pending`. Its ids are gathered, to be put in
/// the id table once every segment is indexed (see [`SuspectedRepeat`]).
pub(crate) fn index_append(index: &mut Index, pending: &mut PendingAppend) {
    let positions = match index.streams.get_mut(pending.stream.as_str()) {
        Some(positions) => positions,
        None => index.streams.entry(pending.stream.clone()).or_default(),
    };
    for (position, _, fingerprint, location) in pending.records.drain(..) {
        assert_eq!(index.locations.len() as u64, position, "the index grows one position at a time");
        index.event_ids.gather(fingerprint, position);
        index.locations.push(location);
        positions.push(position);
    }
    pending.ids.clear();
}
