//! Where the tree keeps its leaf hashes: in memory, or in a file derived from the store.

use super::*;

/// Where the log's tree keeps its leaf hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeLeaves {
    /// In memory: 32 bytes an event, for tests and short-lived tools.
    Memory,
    /// In this file: memory then holds about 2 bytes an event.
    File(PathBuf),
}

/// The leaf file's name in a server's data directory.
pub const TREE_LEAVES_FILE: &str = "tree-leaves";

impl TreeLeaves {
    /// The leaf file of a server's data directory ([`TREE_LEAVES_FILE`]).
    pub fn in_directory(data_dir: &std::path::Path) -> TreeLeaves {
        TreeLeaves::File(data_dir.join(TREE_LEAVES_FILE))
    }
}

/// The tree's leaf storage, as configured.
#[derive(Debug)]
pub(crate) enum LogLeaves {
    Memory(MemoryLeaves),
    File(FileLeaves),
}

impl LeafStorage for LogLeaves {
    fn append_block(&mut self, start: u64, leaves: &[Hash256]) -> Result<(), String> {
        match self {
            LogLeaves::Memory(memory) => memory.append_block(start, leaves),
            LogLeaves::File(file) => file.append_block(start, leaves),
        }
    }
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        match self {
            LogLeaves::Memory(memory) => memory.read_leaves(start, out),
            LogLeaves::File(file) => file.read_leaves(start, out),
        }
    }
}

/// Leaf hashes in a flat file: leaf `i` at byte `32·i`. Derived from the store and rebuilt on
/// every open, so it is written without fsync; the page cache serves the reads. Blocks are
/// written [`LEAF_WRITE_BYTES`] at a time; the ones not written yet are read from memory.
#[derive(Debug)]
pub struct FileLeaves {
    path: PathBuf,
    file: std::fs::File,
    /// Leaves in the file.
    pub(crate) written: u64,
    /// Leaves from `written` on, not in the file yet.
    pending: Vec<u8>,
}

/// Bytes of leaf hashes written to the file at once.
pub(crate) const LEAF_WRITE_BYTES: usize = 64 * 1024;

impl FileLeaves {
    /// Opens (or creates) the file and keeps at most its first `keep_leaves` leaves, in whole
    /// blocks; the rest is cut off, to be written again.
    pub fn open(path: PathBuf, keep_leaves: u64) -> Result<FileLeaves, StoreError> {
        let unavailable = |what: &'static str, e: std::io::Error| StoreError::Io(IoFailure::new(what, &path, &e));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| unavailable("creating the directory of", e))?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| unavailable("opening", e))?;
        let held = file.metadata().map_err(|e| unavailable("reading the length of", e))?.len() / 32;
        let kept = held.min(keep_leaves);
        let kept = kept - kept % klero_ledger::merkle::LEAVES_PER_BLOCK;
        file.set_len(kept * 32).map_err(|e| unavailable("cutting", e))?;
        Ok(FileLeaves { path, file, written: kept, pending: Vec::with_capacity(LEAF_WRITE_BYTES) })
    }

    /// Writes the leaves held in memory, so that the next open finds them.
    pub fn flush(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&self.pending, self.written * 32)
            .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        self.written += (self.pending.len() / 32) as u64;
        self.pending.clear();
        Ok(())
    }
}

impl LeafStorage for FileLeaves {
    fn append_block(&mut self, start: u64, leaves: &[Hash256]) -> Result<(), String> {
        let expected = self.written + (self.pending.len() / 32) as u64;
        if start != expected {
            return Err(format!("block at leaf {start} arrived after {expected} leaves"));
        }
        for leaf in leaves {
            self.pending.extend_from_slice(&leaf.0);
        }
        if self.pending.len() >= LEAF_WRITE_BYTES {
            self.flush()?;
        }
        Ok(())
    }
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        let end = start + out.len() as u64;
        let from_file = end.min(self.written).saturating_sub(start) as usize;
        if from_file > 0 {
            let mut bytes = vec![0u8; from_file * 32];
            self.file
                .read_exact_at(&mut bytes, start * 32)
                .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
            for (leaf, chunk) in out.iter_mut().zip(bytes.chunks_exact(32)) {
                leaf.0.copy_from_slice(chunk);
            }
        }
        for (slot, index) in out[from_file..].iter_mut().zip(start.max(self.written)..end) {
            let at = ((index - self.written) * 32) as usize;
            let bytes = self.pending.get(at..at + 32).ok_or_else(|| format!("leaf {index} was never stored"))?;
            slot.0.copy_from_slice(bytes);
        }
        Ok(())
    }
}
