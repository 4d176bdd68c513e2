//! Scratch files for the fold's tables ([`klero_domain::spill`]): unnamed files in a
//! directory, so that a table of millions of rows costs disk, not memory, and nothing is left
//! behind when the process ends, however it ends.

use klero_domain::spill::{SpillFile, SpillFiles};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The directory of scratch files in a server's data directory.
pub const SCRATCH_DIRECTORY: &str = "scratch";

/// Makes each file in `directory` and removes its name at once: the open file lives on until
/// it is dropped.
#[derive(Debug)]
pub struct ScratchDirectory {
    directory: PathBuf,
    made: AtomicU64,
    rows_in_memory: u32,
}

impl ScratchDirectory {
    pub fn new(directory: PathBuf) -> ScratchDirectory {
        ScratchDirectory { directory, made: AtomicU64::new(0), rows_in_memory: klero_domain::spill::ROWS_IN_MEMORY }
    }

    /// Keeps only this many of a table's newest rows in memory (tests make it small, so that
    /// a few thousand events reach the spilled rows).
    pub fn with_rows_in_memory(self, rows: u32) -> ScratchDirectory {
        ScratchDirectory { rows_in_memory: rows, ..self }
    }

    /// How many files it made (names tried, strictly: a name left by an earlier process
    /// counts too).
    pub fn files_made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }

    /// Scratch files in the system's temporary directory (`TMPDIR`, else `/tmp`).
    pub fn temporary() -> Arc<dyn SpillFiles> {
        Arc::new(ScratchDirectory::new(std::env::temp_dir()))
    }

    /// Scratch files in a server's data directory (its `scratch` directory, made here): on
    /// the disk that holds the log, rather than in a temporary directory that may be memory.
    pub fn in_data_directory(data_dir: &std::path::Path) -> std::io::Result<Arc<dyn SpillFiles>> {
        let directory = data_dir.join(SCRATCH_DIRECTORY);
        std::fs::create_dir_all(&directory)?;
        Ok(Arc::new(ScratchDirectory::new(directory)))
    }
}

#[derive(Debug)]
struct ScratchFile(File);

impl SpillFile for ScratchFile {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(bytes, offset)
    }
    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buffer, offset)
    }
}

impl SpillFiles for ScratchDirectory {
    fn rows_in_memory(&self) -> u32 {
        self.rows_in_memory
    }

    fn create(&self) -> io::Result<Box<dyn SpillFile>> {
        loop {
            let number = self.made.fetch_add(1, Ordering::Relaxed);
            let path = self.directory.join(format!(".klero-scratch-{}-{number}", std::process::id()));
            match OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
                Ok(file) => {
                    std::fs::remove_file(&path)?;
                    return Ok(Box::new(ScratchFile(file)));
                }
                // Left by an earlier process with this id that stopped between the two calls.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_file_has_no_name_and_reads_back_what_was_written() {
        let directory = std::env::temp_dir().join(format!("klero-scratch-test-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("dir");
        let files = ScratchDirectory::new(directory.clone());
        let file = files.create().expect("created");
        file.write_all_at(b"rows", 10).expect("written");
        let mut back = [0u8; 4];
        file.read_exact_at(&mut back, 10).expect("read");
        assert_eq!(&back, b"rows");
        assert!(file.read_exact_at(&mut back, 12).is_err(), "reading past the end fails");
        assert_eq!(std::fs::read_dir(&directory).expect("list").count(), 0, "nothing is named");
        std::fs::remove_dir(&directory).expect("empty");
    }
}
