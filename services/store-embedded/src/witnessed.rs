//! The witnessed checkpoints kept beside the log (FORMAT.md §6.1, §13.6): the append-only file
//! `witnessed`, of records `u32 length | note | u32 CRC-32C(note)` (big-endian), in ascending
//! tree size, each synced before the call returns. Opening it finishes a record a crash tore
//! (the last one, never reported kept) and refuses damage anywhere else, with its offset.
//! Memory holds 20 bytes a record (size, offset, length), not the notes.

use crate::disk::Disk;
use klero_store::{StoreError, CHECKPOINT_BYTES_MAX};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) const WITNESSED_FILE: &str = "witnessed";

#[derive(Debug)]
pub(crate) struct WitnessedFile {
    directory: PathBuf,
    path: PathBuf,
    disk: Disk,
    /// `None` until first used: most servers never cosign, and opening reads the file.
    state: Mutex<Option<State>>,
}

#[derive(Debug)]
struct State {
    end: u64,
    records: Vec<(u64, u64, u32)>,
}

fn io_failure(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(klero_store::IoFailure::new(operation, path, &error))
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { segment: path.display().to_string(), offset, position: 0, reason: reason.into() }
}

impl WitnessedFile {
    pub(crate) fn new(directory: &Path, disk: Disk) -> WitnessedFile {
        WitnessedFile {
            directory: directory.to_path_buf(),
            path: directory.join(WITNESSED_FILE),
            disk,
            state: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the file's records, truncating a torn last record.
    fn open(&self) -> Result<State, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State { end: 0, records: Vec::new() }),
            Err(e) => return Err(io_failure("reading", &self.path, e)),
        };
        let mut records = Vec::new();
        let mut offset = 0usize;
        let mut last_size = 0;
        while offset < bytes.len() {
            let record = bytes.get(offset..offset + 4).and_then(|length| {
                let length = u32::from_be_bytes(length.try_into().ok()?) as usize;
                let note = bytes.get(offset + 4..offset + 4 + length)?;
                let crc = bytes.get(offset + 4 + length..offset + 8 + length)?;
                (length <= CHECKPOINT_BYTES_MAX && u32::from_be_bytes(crc.try_into().ok()?) == crc32c::crc32c(note))
                    .then_some((note, length))
            });
            let Some((note, length)) = record else {
                let next = offset
                    + 8
                    + bytes
                        .get(offset..offset + 4)
                        .map_or(0, |l| u32::from_be_bytes(l.try_into().unwrap_or_default()) as usize);
                if next < bytes.len() {
                    return Err(corrupt(&self.path, offset as u64, "a witnessed checkpoint record is damaged"));
                }
                // A torn last record: it was never reported kept.
                tracing::warn!(offset, bytes_removed = bytes.len() - offset, "truncated a torn witnessed checkpoint");
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .map_err(|e| io_failure("opening", &self.path, e))?;
                self.disk
                    .set_len(&file, &self.path, offset as u64)
                    .and_then(|_| self.disk.sync_all(&file, &self.path))
                    .map_err(|e| io_failure("truncating", &self.path, e))?;
                break;
            };
            let size = klero_store::witnessed_checkpoint_size(note)
                .filter(|size| *size > last_size)
                .ok_or_else(|| corrupt(&self.path, offset as u64, "a witnessed checkpoint is out of order"))?;
            last_size = size;
            records.push((size, offset as u64, length as u32));
            offset += 8 + length;
        }
        Ok(State { end: offset as u64, records })
    }

    pub(crate) fn keep(&self, tree_size: u64, note: &[u8]) -> Result<bool, StoreError> {
        klero_store::validate_witnessed_checkpoint(tree_size, note)?;
        let mut guard = self.lock();
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        let state = guard.as_mut().expect("opened above");
        if state.records.last().is_some_and(|(size, _, _)| *size >= tree_size) {
            return Ok(false);
        }
        let created = state.end == 0 && !self.path.exists();
        let file = if created {
            self.disk.create_new(&self.path).map_err(|e| io_failure("creating", &self.path, e))?
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(|e| io_failure("opening", &self.path, e))?
        };
        let mut record = Vec::with_capacity(note.len() + 8);
        record.extend_from_slice(&(note.len() as u32).to_be_bytes());
        record.extend_from_slice(note);
        record.extend_from_slice(&crc32c::crc32c(note).to_be_bytes());
        self.disk
            .write_all_at(&file, &self.path, &record, state.end)
            .and_then(|_| self.disk.sync_data(&file, &self.path))
            .map_err(|e| io_failure("writing", &self.path, e))?;
        if created {
            self.disk
                .sync_directory(&self.directory)
                .map_err(|e| io_failure("syncing directory", &self.directory, e))?;
        }
        state.records.push((tree_size, state.end, note.len() as u32));
        state.end += record.len() as u64;
        Ok(true)
    }

    pub(crate) fn list(&self, from_size: u64, max_count: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut guard = self.lock();
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        let state = guard.as_ref().expect("opened above");
        let first = state.records.partition_point(|(size, _, _)| *size < from_size);
        let wanted = &state.records[first..(first + max_count).min(state.records.len())];
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let file = File::open(&self.path).map_err(|e| io_failure("opening", &self.path, e))?;
        let mut notes = Vec::with_capacity(wanted.len());
        for (_, offset, length) in wanted {
            let mut note = vec![0; *length as usize];
            file.read_exact_at(&mut note, offset + 4).map_err(|e| io_failure("reading", &self.path, e))?;
            notes.push(note);
        }
        Ok(notes)
    }
}
