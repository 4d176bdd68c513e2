//! The key store (docs/FORMAT.md §6.3): the data keys of sealed personal text, in the file
//! `keys` in the data directory, beside the log and never in it.
//!
//! ```text
//! header (64 bytes)  = "klero-keys/v1" LF, then zeros
//! record (64 bytes)  = event id (16) | key (32) | state (1: 1 live, 2 destroyed) | 11 zeros
//!                      | crc32c of the first 60 bytes (4, big-endian)
//! then zeros         = written ahead of the records (64 KiB at a time); the records end at
//!                      the first all-zero slot
//! ```
//!
//! Records are written before the append whose events they open, and synced by that append's
//! group commit, beside the segment and before any acknowledgement (one sync of this file per
//! group, however many appends of the group brought keys): an acknowledged event's key is
//! always kept. Destroying a key takes two steps, each synced:
//! 1. append a *tombstone*, a destroyed record for the event;
//! 2. overwrite the key's own record with its key zeroed and the state 2.
//!
//! The overwrite is the only write that is not an append, and a crash can tear it; the
//! tombstone says what it was, so opening the file finishes it (and finishes a step 2 that
//! never started). A cut-short record at the end is a put that never returned, and is cut. Any
//! other bad record is corruption, refused with its offset. After step 2 the key's bytes are
//! gone from the file, not only unlinked.

use crate::disk::Disk;
use klero_store::{DataKeyState, StoreError};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "keys";
const HEADER: &[u8] = b"klero-keys/v1\n";
/// Bytes of the header and of every record.
pub const KEY_RECORD_BYTES: usize = 64;
const STATE_LIVE: u8 = 1;
/// Zeros kept written past the last record.
const ZEROED_AHEAD_BYTES: usize = 64 * 1024;
const STATE_DESTROYED: u8 = 2;

fn io_failure(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(klero_store::IoFailure::new(operation, path, &error))
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { segment: path.display().to_string(), offset, position: 0, reason: reason.into() }
}

fn header_bytes() -> [u8; KEY_RECORD_BYTES] {
    let mut header = [0; KEY_RECORD_BYTES];
    header[..HEADER.len()].copy_from_slice(HEADER);
    header
}

fn record_bytes(event_id: &[u8; 16], key: &[u8; 32], state: u8) -> [u8; KEY_RECORD_BYTES] {
    let mut record = [0; KEY_RECORD_BYTES];
    record[..16].copy_from_slice(event_id);
    record[16..48].copy_from_slice(key);
    record[48] = state;
    let crc = crc32c::crc32c(&record[..60]);
    record[60..].copy_from_slice(&crc.to_be_bytes());
    record
}

/// The event id a record names: its first 16 bytes, which an overwrite never changes.
fn record_id(record: &[u8]) -> [u8; 16] {
    record[..16].try_into().unwrap_or_default()
}

/// A record read back: its event id and state, or why it is not a record.
fn parse_record(record: &[u8]) -> Result<([u8; 16], DataKeyState), &'static str> {
    let crc = u32::from_be_bytes(record[60..64].try_into().unwrap_or_default());
    if crc32c::crc32c(&record[..60]) != crc {
        return Err("its CRC-32C does not match");
    }
    if record[49..60].iter().any(|b| *b != 0) {
        return Err("its reserved bytes are not zero");
    }
    let event_id: [u8; 16] = record[..16].try_into().unwrap_or_default();
    let key: [u8; 32] = record[16..48].try_into().unwrap_or_default();
    match record[48] {
        STATE_LIVE => Ok((event_id, DataKeyState::Live(key))),
        STATE_DESTROYED if key == [0; 32] => Ok((event_id, DataKeyState::Destroyed)),
        STATE_DESTROYED => Err("it is destroyed but its key is not zeroed"),
        _ => Err("its state is neither 1 (live) nor 2 (destroyed)"),
    }
}

#[derive(Debug)]
struct KeyFile {
    /// Shared with the syncs, which run outside the lock.
    file: std::sync::Arc<File>,
    /// The end of the records: where the next one goes.
    length: u64,
    /// The end of the zeros written ahead of the records.
    zeroed_end: u64,
    /// Event id → offset of its record.
    offsets: HashMap<[u8; 16], u64>,
}

/// The key store file of one data directory.
#[derive(Debug)]
pub struct KeyFiles {
    path: PathBuf,
    disk: Disk,
    /// Opened on first use, so a data directory with no sealed text has no key file.
    open: std::sync::Mutex<Option<KeyFile>>,
    /// The length of the file up to which it is synced. Puts write under `open`; the append
    /// group commit syncs under this lock ([`KeyFiles::sync_if_written`]).
    synced_length: std::sync::Mutex<u64>,
}

impl KeyFiles {
    pub fn new(data_directory: &Path, disk: Disk) -> KeyFiles {
        KeyFiles {
            path: data_directory.join(FILE_NAME),
            disk,
            open: std::sync::Mutex::new(None),
            synced_length: std::sync::Mutex::new(0),
        }
    }

    /// Reads and checks the file (creating it if absent), cutting a torn tail.
    fn load(&self) -> Result<KeyFile, StoreError> {
        let path = &self.path;
        if !path.exists() {
            let file = self.disk.create_new(path).map_err(|e| io_failure("creating", path, e))?;
            self.disk.write_all_at(&file, path, &header_bytes(), 0).map_err(|e| io_failure("writing", path, e))?;
            self.disk.sync_all(&file, path).map_err(|e| io_failure("syncing", path, e))?;
            let directory = path.parent().unwrap_or(Path::new("."));
            self.disk.sync_directory(directory).map_err(|e| io_failure("syncing directory", directory, e))?;
        }
        let mut file =
            OpenOptions::new().read(true).write(true).open(path).map_err(|e| io_failure("opening", path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_failure("reading", path, e))?;
        if bytes.len() < KEY_RECORD_BYTES || bytes[..KEY_RECORD_BYTES] != header_bytes() {
            return Err(corrupt(path, 0, "the header is not klero-keys/v1"));
        }
        // A record cut short at the end of the file is a put that never returned.
        let whole_end = KEY_RECORD_BYTES + (bytes.len() - KEY_RECORD_BYTES) / KEY_RECORD_BYTES * KEY_RECORD_BYTES;
        // The records end at the first all-zero slot: the rest is zeros written ahead.
        let is_zero = |offset: usize| bytes[offset..offset + KEY_RECORD_BYTES].iter().all(|b| *b == 0);
        let data_end =
            (KEY_RECORD_BYTES..whole_end).step_by(KEY_RECORD_BYTES).find(|o| is_zero(*o)).unwrap_or(whole_end);
        if let Some(stray) = (data_end..bytes.len()).find(|at| bytes[*at] != 0).filter(|at| *at < whole_end) {
            return Err(corrupt(path, stray as u64, "bytes after the end of the key records, which must be zeros"));
        }
        let mut records = Vec::new();
        let mut tombstoned = std::collections::HashSet::new();
        for offset in (KEY_RECORD_BYTES..data_end).step_by(KEY_RECORD_BYTES) {
            let record = &bytes[offset..offset + KEY_RECORD_BYTES];
            let parsed = parse_record(record);
            if let Ok((event_id, DataKeyState::Destroyed)) = parsed {
                tombstoned.insert(event_id);
            }
            records.push((offset, record_id(record), parsed));
        }
        // Bad records at the end that no tombstone explains: a put that never returned.
        let mut torn_from = data_end;
        while let Some((offset, event_id, Err(_))) = records.last() {
            if tombstoned.contains(event_id) {
                break;
            }
            torn_from = *offset;
            records.pop();
        }
        let mut offsets = HashMap::new();
        let mut unfinished = Vec::new();
        for (offset, event_id, parsed) in records {
            let first = !offsets.contains_key(&event_id);
            match parsed {
                Ok((_, DataKeyState::Live(_))) if tombstoned.contains(&event_id) => unfinished.push(offset),
                Ok(_) => {}
                // A torn overwrite of a destroyed key's record: its id bytes are as they were.
                Err(_) if tombstoned.contains(&event_id) && first => unfinished.push(offset),
                Err(why) => {
                    return Err(corrupt(path, offset as u64, format!("the key record is bad: {why}")));
                }
            }
            offsets.entry(event_id).or_insert(offset as u64);
        }
        if whole_end < bytes.len() {
            self.disk.set_len(&file, path, whole_end as u64).map_err(|e| io_failure("truncating", path, e))?;
            self.disk.sync_all(&file, path).map_err(|e| io_failure("syncing", path, e))?;
        }
        if torn_from < data_end {
            tracing::warn!(path = %path.display(), from = torn_from, to = data_end, "cutting a torn put from the key store");
            let zeros = vec![0u8; data_end - torn_from];
            self.disk
                .write_all_at(&file, path, &zeros, torn_from as u64)
                .map_err(|e| io_failure("writing", path, e))?;
            self.disk.sync_data(&file, path).map_err(|e| io_failure("syncing", path, e))?;
        }
        for offset in unfinished {
            // Step 2 of a destruction that a crash interrupted.
            let event_id: [u8; 16] = bytes[offset..offset + 16].try_into().unwrap_or_default();
            let destroyed = record_bytes(&event_id, &[0; 32], STATE_DESTROYED);
            self.disk
                .write_all_at(&file, path, &destroyed, offset as u64)
                .map_err(|e| io_failure("writing", path, e))?;
            self.disk.sync_data(&file, path).map_err(|e| io_failure("syncing", path, e))?;
            tracing::info!(path = %path.display(), offset, "finished destroying a key a crash interrupted");
        }
        Ok(KeyFile {
            file: std::sync::Arc::new(file),
            length: torn_from as u64,
            zeroed_end: whole_end.max(torn_from) as u64,
            offsets,
        })
    }

    fn with_file<T>(&self, action: impl FnOnce(&mut KeyFile) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.is_none() {
            *open = Some(self.load()?);
        }
        action(open.as_mut().unwrap_or_else(|| unreachable!("loaded above")))
    }

    /// Reads the state of one event's key.
    fn state_at(&self, file: &KeyFile, event_id: &[u8; 16]) -> Result<DataKeyState, StoreError> {
        let Some(offset) = file.offsets.get(event_id) else { return Ok(DataKeyState::Absent) };
        let mut record = [0; KEY_RECORD_BYTES];
        std::os::unix::fs::FileExt::read_exact_at(&*file.file, &mut record, *offset)
            .map_err(|e| io_failure("reading", &self.path, e))?;
        let (stored_id, state) = parse_record(&record)
            .map_err(|why| corrupt(&self.path, *offset, format!("the key record is bad: {why}")))?;
        if stored_id != *event_id {
            return Err(corrupt(&self.path, *offset, "the key record names another event"));
        }
        Ok(state)
    }

    /// Keeps keys: new records are written with one write, and made durable by the next append's
    /// group commit ([`KeyFiles::sync_if_written`]), before it acknowledges anything. A key
    /// already kept with the same bytes is left as it is; a different key for the same event,
    /// or a key for an event whose key was destroyed, is refused.
    pub fn put(&self, keys: &[([u8; 16], [u8; 32])]) -> Result<(), StoreError> {
        self.with_file(|file| {
            let mut new_records = Vec::with_capacity(keys.len() * KEY_RECORD_BYTES);
            let mut new_ids = Vec::new();
            for (event_id, key) in keys {
                match self.state_at(file, event_id)? {
                    DataKeyState::Absent if !new_ids.contains(event_id) => {
                        new_records.extend_from_slice(&record_bytes(event_id, key, STATE_LIVE));
                        new_ids.push(*event_id);
                    }
                    DataKeyState::Absent => {}
                    DataKeyState::Live(kept) if kept == *key => {}
                    DataKeyState::Live(_) | DataKeyState::Destroyed => {
                        return Err(StoreError::DuplicateEventId {
                            event_id: klero_ledger::envelope::EventId(*event_id),
                            reason: "the store already holds a different data key for this event, or destroyed it"
                                .into(),
                        })
                    }
                }
            }
            if !new_records.is_empty() {
                let path = &self.path;
                self.disk
                    .write_all_at(&file.file, path, &new_records, file.length)
                    .map_err(|e| io_failure("writing", path, e))?;
                let records_end = file.length + new_records.len() as u64;
                if records_end > file.zeroed_end {
                    // Zeros written ahead, as the segments have: the file's length then changes
                    // once in a thousand puts, so their syncs flush data, not metadata.
                    let zeros = vec![0u8; ZEROED_AHEAD_BYTES];
                    self.disk
                        .write_all_at(&file.file, path, &zeros, records_end)
                        .map_err(|e| io_failure("writing", path, e))?;
                    file.zeroed_end = records_end + ZEROED_AHEAD_BYTES as u64;
                }
                for (at, event_id) in new_ids.into_iter().enumerate() {
                    file.offsets.insert(event_id, file.length + (at * KEY_RECORD_BYTES) as u64);
                }
                file.length += new_records.len() as u64;
            }
            Ok(())
        })
    }

    /// Syncs the records written since the last sync, if any: called by the append group
    /// commit before it acknowledges. Every write that ended before it reads the length is
    /// covered.
    pub fn sync_if_written(&self) -> Result<(), StoreError> {
        let mut synced = self.synced_length.lock().unwrap_or_else(|p| p.into_inner());
        let (file, length) = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.as_ref() {
                Some(open) if open.length > *synced => (open.file.clone(), open.length),
                _ => return Ok(()),
            }
        };
        self.disk.sync_data(&file, &self.path).map_err(|e| io_failure("syncing", &self.path, e))?;
        *synced = length;
        Ok(())
    }

    /// Whether records were written that no sync has covered yet.
    pub fn written_since_sync(&self) -> bool {
        let synced = *self.synced_length.lock().unwrap_or_else(|p| p.into_inner());
        self.open.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|open| open.length > synced)
    }

    pub fn read(&self, event_id: &[u8; 16]) -> Result<DataKeyState, StoreError> {
        self.with_file(|file| self.state_at(file, event_id))
    }

    /// Destroys a key for good (see the module docs): a synced tombstone, then the key's record
    /// overwritten and synced. `false` if there was no live key.
    pub fn destroy(&self, event_id: &[u8; 16]) -> Result<bool, StoreError> {
        self.with_file(|file| {
            if !matches!(self.state_at(file, event_id)?, DataKeyState::Live(_)) {
                return Ok(false);
            }
            let offset = file.offsets[event_id];
            let path = &self.path;
            let destroyed = record_bytes(event_id, &[0; 32], STATE_DESTROYED);
            self.disk
                .write_all_at(&file.file, path, &destroyed, file.length)
                .map_err(|e| io_failure("writing", path, e))?;
            self.disk.sync_data(&file.file, path).map_err(|e| io_failure("syncing", path, e))?;
            file.length += KEY_RECORD_BYTES as u64;
            self.disk.write_all_at(&file.file, path, &destroyed, offset).map_err(|e| io_failure("writing", path, e))?;
            self.disk.sync_data(&file.file, path).map_err(|e| io_failure("syncing", path, e))?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_files(directory: &Path) -> KeyFiles {
        KeyFiles::new(directory, Disk::default())
    }

    fn holds(path: &Path, needle: &[u8]) -> bool {
        std::fs::read(path).expect("read").windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_destroyed_key_is_gone_from_the_file_and_stays_destroyed() {
        let directory = tempfile::tempdir().expect("temp dir");
        let keys = key_files(directory.path());
        keys.put(&[([1; 16], [0xa1; 32]), ([2; 16], [0xa2; 32]), ([3; 16], [0xa3; 32])]).expect("put");
        assert!(keys.destroy(&[2; 16]).expect("destroy"));
        let reopened = key_files(directory.path());
        assert_eq!(reopened.read(&[2; 16]).expect("read"), DataKeyState::Destroyed);
        assert_eq!(reopened.read(&[3; 16]).expect("read"), DataKeyState::Live([0xa3; 32]));
        assert!(!holds(&directory.path().join(FILE_NAME), &[0xa2; 32]));
        assert!(holds(&directory.path().join(FILE_NAME), &[0xa3; 32]));
    }

    /// A crash tore the overwrite of step 2 after its tombstone was synced: opening finishes it.
    #[test]
    fn a_torn_destruction_is_finished_on_open() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join(FILE_NAME);
        key_files(directory.path()).put(&[([1; 16], [0xb1; 32]), ([2; 16], [0xb2; 32])]).expect("put");
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        let tombstone = record_bytes(&[1; 16], &[0; 32], STATE_DESTROYED);
        std::os::unix::fs::FileExt::write_all_at(&file, &tombstone, 3 * KEY_RECORD_BYTES as u64).expect("tombstone");
        // Half of the overwrite reached the disk: the id and the first 16 key bytes.
        std::os::unix::fs::FileExt::write_all_at(&file, &tombstone[..32], KEY_RECORD_BYTES as u64).expect("torn");
        let keys = key_files(directory.path());
        assert_eq!(keys.read(&[1; 16]).expect("read"), DataKeyState::Destroyed);
        assert_eq!(keys.read(&[2; 16]).expect("read"), DataKeyState::Live([0xb2; 32]));
        assert!(!holds(&path, &[0xb1; 16]), "the rest of the key is overwritten too");
    }

    #[test]
    fn a_damaged_record_is_corruption_named_by_its_offset_and_a_cut_short_put_is_cut() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join(FILE_NAME);
        key_files(directory.path()).put(&[([1; 16], [0xc1; 32]), ([2; 16], [0xc2; 32])]).expect("put");
        // A put torn after 40 bytes, in the zeros written ahead.
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        let torn = &record_bytes(&[3; 16], &[0xc3; 32], STATE_LIVE)[..40];
        std::os::unix::fs::FileExt::write_all_at(&file, torn, 3 * KEY_RECORD_BYTES as u64).expect("torn put");
        let keys = key_files(directory.path());
        assert_eq!(keys.read(&[3; 16]).expect("read"), DataKeyState::Absent, "the cut-short put is gone");
        assert!(!holds(&path, &[0xc3; 16]), "its bytes are zeroed");
        keys.put(&[([4; 16], [0xc4; 32])]).expect("the next put takes its place");
        drop(keys);
        assert_eq!(key_files(directory.path()).read(&[4; 16]).expect("read"), DataKeyState::Live([0xc4; 32]));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[KEY_RECORD_BYTES + 20] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        match key_files(directory.path()).read(&[2; 16]) {
            Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, KEY_RECORD_BYTES as u64),
            other => panic!("a damaged record was not refused: {other:?}"),
        }
    }
}
