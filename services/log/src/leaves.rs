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
    fn append_block(&mut self, start: u64, leaves: &[Hash256], block: &Hash256) -> Result<(), String> {
        match self {
            LogLeaves::Memory(memory) => memory.append_block(start, leaves, block),
            LogLeaves::File(file) => file.append_block(start, leaves, block),
        }
    }
    fn read_leaves(&self, start: u64, out: &mut [Hash256]) -> Result<(), String> {
        match self {
            LogLeaves::Memory(memory) => memory.read_leaves(start, out),
            LogLeaves::File(file) => file.read_leaves(start, out),
        }
    }
    fn kept_block_hashes(&self, blocks: u64) -> Vec<Hash256> {
        match self {
            LogLeaves::Memory(_) => Vec::new(),
            LogLeaves::File(file) => file.kept_block_hashes(blocks),
        }
    }
    fn keep_block_hashes(&mut self, first: u64, hashes: &[Hash256]) {
        if let LogLeaves::File(file) = self {
            LeafStorage::keep_block_hashes(file, first, hashes);
        }
    }
}

/// Leaf hashes in a flat file: leaf `i` at byte `32·i`; beside it, each complete block's hash
/// and the CRC-32C of its leaves in a second file (block `b` at byte `36·b`), so that an open
/// need not hash ten million leaves again (1.2 s of CPU at 10 million). Both are derived from
/// the store and checked on every open: the CRCs find damaged leaves (whose blocks are then
/// hashed again, and the root refuses them), and the root of the snapshot's prefix vouches for
/// the kept hashes. So they are written without fsync; the page cache serves the reads. Blocks
/// are written [`LEAF_WRITE_BYTES`] of leaves at a time; the ones not written yet are read from
/// memory.
#[derive(Debug)]
pub struct FileLeaves {
    path: PathBuf,
    file: std::fs::File,
    blocks_file: std::fs::File,
    /// Leaves in the file.
    pub(crate) written: u64,
    /// Block hashes in the blocks file that stand for leaves in the leaf file.
    blocks_written: u64,
    /// Leaves from `written` on, not in the file yet, and their blocks' records.
    pending: Vec<u8>,
    pending_blocks: Vec<u8>,
}

/// A block's record in the blocks file: its hash, and the CRC-32C of its leaves' 512 bytes
/// (big-endian).
const BLOCK_RECORD_BYTES: u64 = 36;
const BLOCK_LEAF_BYTES: usize = 32 * klero_ledger::merkle::LEAVES_PER_BLOCK as usize;

fn block_record(hash: &Hash256, leaf_bytes: &[u8]) -> [u8; BLOCK_RECORD_BYTES as usize] {
    let mut record = [0u8; BLOCK_RECORD_BYTES as usize];
    record[..32].copy_from_slice(&hash.0);
    record[32..].copy_from_slice(&crc32c::crc32c(leaf_bytes).to_be_bytes());
    record
}

/// The blocks file beside a leaf file: `tree-leaves` has `tree-leaves.blocks`.
fn blocks_path(leaves: &std::path::Path) -> PathBuf {
    leaves.with_extension("blocks")
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
        let open = |path: &std::path::Path| {
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
        };
        let file = open(&path).map_err(|e| unavailable("opening", e))?;
        let held = file.metadata().map_err(|e| unavailable("reading the length of", e))?.len() / 32;
        let kept = held.min(keep_leaves);
        let kept = kept - kept % klero_ledger::merkle::LEAVES_PER_BLOCK;
        file.set_len(kept * 32).map_err(|e| unavailable("cutting", e))?;
        // A block's hash stands only for leaves still in the leaf file; either file may have
        // lost its end in a crash, and blocks beyond the kept hashes are hashed again.
        let blocks_unavailable =
            |what: &'static str, e: std::io::Error| StoreError::Io(IoFailure::new(what, &blocks_path(&path), &e));
        let blocks_file = open(&blocks_path(&path)).map_err(|e| blocks_unavailable("opening", e))?;
        let blocks_held = blocks_file.metadata().map_err(|e| blocks_unavailable("reading the length of", e))?.len()
            / BLOCK_RECORD_BYTES;
        let blocks_kept = blocks_held.min(kept / klero_ledger::merkle::LEAVES_PER_BLOCK);
        blocks_file.set_len(blocks_kept * BLOCK_RECORD_BYTES).map_err(|e| blocks_unavailable("cutting", e))?;
        Ok(FileLeaves {
            path,
            file,
            blocks_file,
            written: kept,
            blocks_written: blocks_kept,
            pending: Vec::with_capacity(LEAF_WRITE_BYTES),
            pending_blocks: Vec::with_capacity(LEAF_WRITE_BYTES / klero_ledger::merkle::LEAVES_PER_BLOCK as usize),
        })
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
        let pending_blocks = std::mem::take(&mut self.pending_blocks);
        let first =
            self.written / klero_ledger::merkle::LEAVES_PER_BLOCK - pending_blocks.len() as u64 / BLOCK_RECORD_BYTES;
        let written = self.write_block_hashes(first, &pending_blocks);
        self.pending_blocks = pending_blocks;
        self.pending_blocks.clear();
        written
    }

    /// Writes the records of blocks from `first` on, if they continue the blocks file: a hash
    /// is kept only at its own block's place, so a file that lost its end (or a leaf file older
    /// than blocks files) gains hashes again only once a load has hashed the blocks between.
    fn write_block_hashes(&mut self, first: u64, records: &[u8]) -> Result<(), String> {
        if records.is_empty() || first != self.blocks_written {
            return Ok(());
        }
        self.blocks_file
            .write_all_at(records, first * BLOCK_RECORD_BYTES)
            .map_err(|e| format!("writing {}: {e}", blocks_path(&self.path).display()))?;
        self.blocks_written += records.len() as u64 / BLOCK_RECORD_BYTES;
        Ok(())
    }

    /// The hashes of the first `blocks` complete blocks, as far as the blocks file holds them
    /// and each block's leaves still have their CRC: from the first block whose leaves changed
    /// (or cannot be read), the blocks are hashed again from their leaves.
    fn kept_block_hashes(&self, blocks: u64) -> Vec<Hash256> {
        /// Blocks read at once: 2 MiB of leaves.
        const READ_BLOCKS: u64 = 4096;
        let count = blocks.min(self.blocks_written);
        let mut hashes = Vec::with_capacity(count as usize);
        let (mut records, mut leaves) = (Vec::new(), Vec::new());
        while (hashes.len() as u64) < count {
            let first = hashes.len() as u64;
            let chunk = (count - first).min(READ_BLOCKS);
            records.resize((chunk * BLOCK_RECORD_BYTES) as usize, 0);
            leaves.resize(chunk as usize * BLOCK_LEAF_BYTES, 0);
            if self.blocks_file.read_exact_at(&mut records, first * BLOCK_RECORD_BYTES).is_err()
                || self.file.read_exact_at(&mut leaves, first * BLOCK_LEAF_BYTES as u64).is_err()
            {
                return hashes;
            }
            for (record, leaf_bytes) in
                records.chunks_exact(BLOCK_RECORD_BYTES as usize).zip(leaves.chunks_exact(BLOCK_LEAF_BYTES))
            {
                if record[32..] != crc32c::crc32c(leaf_bytes).to_be_bytes() {
                    return hashes;
                }
                hashes.push(Hash256(record[..32].try_into().expect("32 bytes")));
            }
        }
        hashes
    }
}

impl LeafStorage for FileLeaves {
    fn append_block(&mut self, start: u64, leaves: &[Hash256], block: &Hash256) -> Result<(), String> {
        let expected = self.written + (self.pending.len() / 32) as u64;
        if start != expected {
            return Err(format!("block at leaf {start} arrived after {expected} leaves"));
        }
        let from = self.pending.len();
        for leaf in leaves {
            self.pending.extend_from_slice(&leaf.0);
        }
        let record = block_record(block, &self.pending[from..]);
        self.pending_blocks.extend_from_slice(&record);
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
    fn kept_block_hashes(&self, blocks: u64) -> Vec<Hash256> {
        FileLeaves::kept_block_hashes(self, blocks)
    }
    fn keep_block_hashes(&mut self, first: u64, hashes: &[Hash256]) {
        // Only a help to the next open: hashes that cannot be kept are hashed again then.
        let end = first + hashes.len() as u64;
        if hashes.is_empty() || first != self.blocks_written || end * BLOCK_LEAF_BYTES as u64 > self.written * 32 {
            return;
        }
        let mut leaves = vec![0u8; hashes.len() * BLOCK_LEAF_BYTES];
        if self.file.read_exact_at(&mut leaves, first * BLOCK_LEAF_BYTES as u64).is_err() {
            return;
        }
        let records: Vec<u8> = hashes
            .iter()
            .zip(leaves.chunks_exact(BLOCK_LEAF_BYTES))
            .flat_map(|(hash, leaf_bytes)| block_record(hash, leaf_bytes))
            .collect();
        let _ = self.write_block_hashes(first, &records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klero_ledger::merkle::LEAVES_PER_BLOCK;

    const LEAVES: u64 = 40 * LEAF_WRITE_BYTES as u64 / 32 + 5;

    fn grown(path: &std::path::Path) -> Hash256 {
        let mut tree = CompactMerkleTree::new(FileLeaves::open(path.to_path_buf(), 0).expect("open"));
        for n in 0..LEAVES {
            tree.push_entry(&Hash256::of(&n.to_be_bytes())).expect("push");
        }
        tree.root().expect("root")
    }

    fn blocks_held(path: &std::path::Path) -> u64 {
        std::fs::metadata(blocks_path(path)).expect("blocks file").len() / BLOCK_RECORD_BYTES
    }

    #[test]
    fn block_hashes_are_kept_beside_the_leaves_and_only_where_they_stand_for_kept_leaves() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join(TREE_LEAVES_FILE);
        let root = grown(&path);
        assert_eq!(Ok(root), grown_root_at(LEAVES));
        let written = std::fs::metadata(&path).expect("leaf file").len() / 32;
        assert_eq!(blocks_held(&path), written / LEAVES_PER_BLOCK, "a hash for each block written");
        let load = |keep: u64| {
            let file = FileLeaves::open(path.clone(), keep).expect("open");
            let held = file.written;
            (CompactMerkleTree::load(file, held).expect("load"), held)
        };
        // All kept: the load takes every hash, and is the tree that was grown.
        let (tree, held) = load(u64::MAX);
        assert_eq!(tree.root_at(held), grown_root_at(held));
        drop(tree);
        // Fewer leaves kept than hashes: the hashes beyond them go too.
        let (_, held) = load(written / 2);
        assert_eq!(blocks_held(&path), held / LEAVES_PER_BLOCK);
        // A blocks file that lost its end, or none at all (a directory from before blocks
        // files): the load hashes the blocks without one and keeps their hashes for the next.
        for cut in [held / LEAVES_PER_BLOCK / 3, 0] {
            std::fs::OpenOptions::new()
                .write(true)
                .open(blocks_path(&path))
                .expect("open")
                .set_len(cut * BLOCK_RECORD_BYTES)
                .expect("cut");
            let (tree, held) = load(u64::MAX);
            assert_eq!(tree.root_at(held), grown_root_at(held), "{cut} hashes kept");
            assert_eq!(blocks_held(&path), held / LEAVES_PER_BLOCK, "every block's hash written again");
        }
        // A damaged leaf: the hashes stop at its block (its CRC no longer holds), so the load
        // hashes the damaged leaves and its root is not the log's, which the caller refuses.
        let mut bytes = std::fs::read(&path).expect("leaf file");
        bytes[100 * 32] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        let file = FileLeaves::open(path.clone(), u64::MAX).expect("open");
        assert_eq!(file.kept_block_hashes(u64::MAX).len() as u64, 100 / LEAVES_PER_BLOCK, "hashes up to its block");
        let (tree, held) = load(u64::MAX);
        assert_ne!(tree.root_at(held), grown_root_at(held));
        drop(tree);
        let mut bytes = std::fs::read(&path).expect("leaf file");
        bytes[100 * 32] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        std::fs::remove_file(blocks_path(&path)).expect("remove");
        let (tree, held) = load(u64::MAX);
        assert_eq!(tree.root_at(held), grown_root_at(held));
        assert_eq!(blocks_held(&path), held / LEAVES_PER_BLOCK);
    }

    /// The root of the first `size` entries, from a tree in memory.
    fn grown_root_at(size: u64) -> Result<Hash256, klero_ledger::merkle::ProofError> {
        let mut tree = CompactMerkleTree::new(MemoryLeaves::default());
        for n in 0..size {
            tree.push_entry(&Hash256::of(&n.to_be_bytes())).expect("push");
        }
        tree.root()
    }
}
