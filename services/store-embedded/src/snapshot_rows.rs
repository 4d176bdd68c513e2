//! Rows that snapshots refer to, kept beside them (FORMAT.md §6.1): one file per table under
//! `snapshot-rows/`, written at the offset the server names and synced before the call
//! returns. A snapshot names how many bytes of each file it needs and their SHA-256, so bytes
//! a crash tore beyond that length are never read, and the next write at that offset replaces
//! them.

use crate::disk::Disk;
use klero_store::StoreError;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const SNAPSHOT_ROWS_DIRECTORY: &str = "snapshot-rows";

fn io_failure(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(klero_store::IoFailure::new(operation, path, &error))
}

/// Writes `bytes` at `offset` of `table`'s file and syncs it; an offset beyond the file's end
/// would leave a gap, and is refused.
pub(crate) fn keep(disk: &Disk, directory: &Path, table: &str, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
    let rows = directory.join(SNAPSHOT_ROWS_DIRECTORY);
    if !rows.is_dir() {
        disk.create_directory_all(&rows).map_err(|e| io_failure("creating", &rows, e))?;
        disk.sync_directory(directory).map_err(|e| io_failure("syncing directory", directory, e))?;
    }
    let path = rows.join(table);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let file = disk.create_new(&path).map_err(|e| io_failure("creating", &path, e))?;
            disk.sync_directory(&rows).map_err(|e| io_failure("syncing directory", &rows, e))?;
            file
        }
        Err(e) => return Err(io_failure("opening", &path, e)),
    };
    let held = file.metadata().map_err(|e| io_failure("reading the length of", &path, e))?.len();
    if offset > held {
        return Err(StoreError::InvalidArgument {
            field: "offset",
            reason: format!("{table} holds {held} bytes of rows, so a write at {offset} would leave a gap"),
        });
    }
    disk.write_all_at(&file, &path, bytes, offset)
        .and_then(|_| disk.sync_data(&file, &path))
        .map_err(|e| io_failure("writing", &path, e))
}

/// At most `length` bytes of `table`'s file from `offset`; fewer if it holds fewer, none if
/// there is none.
pub(crate) fn load(directory: &Path, table: &str, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
    let path = directory.join(SNAPSHOT_ROWS_DIRECTORY).join(table);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_failure("opening", &path, e)),
    };
    let held = file.metadata().map_err(|e| io_failure("reading the length of", &path, e))?.len();
    let mut bytes = vec![0u8; held.saturating_sub(offset).min(length) as usize];
    file.read_exact_at(&mut bytes, offset).map_err(|e| io_failure("reading", &path, e))?;
    Ok(bytes)
}

/// `table`'s kept rows, open for positional reads ([`klero_store::EventStore::kept_rows_file`]).
#[derive(Debug)]
pub(crate) struct KeptRowsFile(std::fs::File);

impl klero_store::KeptRowsFile for KeptRowsFile {
    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.0.read_exact_at(buffer, offset)
    }
}

/// `table`'s file of kept rows, if there is one.
pub(crate) fn open(directory: &Path, table: &str) -> Option<KeptRowsFile> {
    std::fs::File::open(directory.join(SNAPSHOT_ROWS_DIRECTORY).join(table)).ok().map(KeptRowsFile)
}
