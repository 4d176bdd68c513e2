//! Where a table's older rows go when they leave memory (issue 29: memory that does not grow
//! with history). A table with spill files keeps only its newest rows in memory; the rest are
//! in a file of rows, read back through a small cache, and found by key through sorted runs
//! of `(fingerprint, row)` entries, each with an in-memory fence per block.
//!
//! The files are the process's own scratch: derived from the log, never read by another
//! process or after a restart, so neither synced nor checked. A table taken up from a snapshot
//! reads its older rows in place instead, in the kept rows they came from, which were checked
//! against the signed snapshot as they were taken up ([`SpillFiles::kept_rows`]). The domain
//! does no I/O itself: the caller passes [`SpillFiles`], and a failed read or write stops the
//! process with a panic, as a failed `fsync` stops the store: a table unread cannot answer.

use std::fmt::Debug;
use std::io;
use std::sync::{Arc, Mutex};

/// A scratch file only this process uses (unnamed, or deleted once opened).
pub trait SpillFile: Send + Sync + Debug {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<()>;
}

/// Makes scratch files for tables' spilled rows and runs.
pub trait SpillFiles: Send + Sync + Debug {
    fn create(&self) -> io::Result<Box<dyn SpillFile>>;

    /// How many of a table's newest rows stay in memory: once this many are, the older whole
    /// chunks leave (at least one chunk always stays).
    fn rows_in_memory(&self) -> u32 {
        ROWS_IN_MEMORY
    }

    /// `table`'s kept rows (FORMAT.md §6.1), to read in place, if the caller has them in a
    /// file: a take-up then reads the rows that leave memory from there instead of writing
    /// them to a file of its own. Row `n` is at byte `n × row bytes`. The default has none.
    fn kept_rows(&self, table: crate::TableName) -> Option<Box<dyn SpillFile>> {
        let _ = table;
        None
    }
}

/// What [`SpillFiles::rows_in_memory`] is unless the files say otherwise: 5.6 MB of inputs.
pub const ROWS_IN_MEMORY: u32 = 65_536;

/// Spill files as an option of a plain-data setting: two are equal when they are the same
/// files.
#[derive(Clone, Debug)]
pub struct SpillTo(pub Arc<dyn SpillFiles>);

impl PartialEq for SpillTo {
    fn eq(&self, other: &SpillTo) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SpillTo {}

fn stop(what: &str, error: io::Error) -> ! {
    panic!("the tables' scratch file failed ({what}: {error}); a table that cannot be read cannot answer, so the process stops")
}

const BLOCK_BYTES: usize = 64 * 1024;
const CACHE_BLOCKS: usize = 16;

/// Fixed-size rows `0..rows` in one file, in order, read through a cache of a few blocks. The
/// first `kept_rows` of them may instead be read in place from the file of kept rows that a
/// take-up came from ([`SpillFiles::kept_rows`]).
#[derive(Debug)]
pub(crate) struct SpilledRows {
    file: Box<dyn SpillFile>,
    kept: Option<Box<dyn SpillFile>>,
    kept_rows: u32,
    row_bytes: usize,
    rows: u32,
    /// Direct-mapped by block number.
    cache: Mutex<Vec<Option<CachedBlock>>>,
}

/// A block's number and its bytes.
type CachedBlock = (u64, Box<[u8]>);

impl SpilledRows {
    pub(crate) fn new(files: &dyn SpillFiles, row_bytes: usize) -> SpilledRows {
        let file = files.create().unwrap_or_else(|e| stop("creating a file of rows", e));
        SpilledRows { file, kept: None, kept_rows: 0, row_bytes, rows: 0, cache: Mutex::new(vec![None; CACHE_BLOCKS]) }
    }

    pub(crate) fn rows(&self) -> u32 {
        self.rows
    }

    /// From now on, rows that a take-up adds with [`SpilledRows::add_kept`] are read from
    /// `kept`, a file of kept rows from its first row on. Only before any row is added.
    pub(crate) fn read_kept_in_place(&mut self, kept: Box<dyn SpillFile>) {
        if self.rows == 0 {
            self.kept = Some(kept);
        }
    }

    /// How many rows are read in place.
    #[cfg(test)]
    pub(crate) fn kept_rows_read_in_place(&self) -> u32 {
        self.kept_rows
    }

    /// Whether the next rows of a take-up can be read in place.
    pub(crate) fn reads_kept_in_place(&self) -> bool {
        self.kept.is_some() && self.kept_rows == self.rows
    }

    /// Counts the next `count` rows of the file of kept rows as spilled, without copying them.
    pub(crate) fn add_kept(&mut self, count: u32) {
        assert!(self.reads_kept_in_place(), "kept rows are read in place only as a take-up's first rows");
        self.kept_rows += count;
        self.rows += count;
    }

    /// Appends whole rows.
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len().is_multiple_of(self.row_bytes));
        let offset = (self.rows - self.kept_rows) as u64 * self.row_bytes as u64;
        self.file.write_all_at(bytes, offset).unwrap_or_else(|e| stop("writing rows", e));
        self.rows += (bytes.len() / self.row_bytes) as u32;
        // The last block read may have been partial.
        self.cache.get_mut().unwrap_or_else(|p| p.into_inner()).iter_mut().for_each(|b| *b = None);
    }

    /// The bytes at `offset` of the rows laid end to end: the kept ones read in place, then
    /// those of this file.
    fn read_at(&self, out: &mut [u8], offset: u64) {
        let kept_end = self.kept_rows as u64 * self.row_bytes as u64;
        let mut done = 0;
        if offset < kept_end {
            done = ((kept_end - offset) as usize).min(out.len());
            let kept = self.kept.as_ref().expect("rows read in place have their file");
            kept.read_exact_at(&mut out[..done], offset).unwrap_or_else(|e| stop("reading kept rows", e));
        }
        if done < out.len() {
            let at = offset + done as u64 - kept_end;
            self.file.read_exact_at(&mut out[done..], at).unwrap_or_else(|e| stop("reading rows", e));
        }
    }

    /// Row `row`'s bytes into `out` (`row_bytes` long).
    pub(crate) fn read(&self, row: u32, out: &mut [u8]) {
        debug_assert!(row < self.rows);
        let start = row as u64 * self.row_bytes as u64;
        let block = start / BLOCK_BYTES as u64;
        let within = (start % BLOCK_BYTES as u64) as usize;
        if within + self.row_bytes > BLOCK_BYTES {
            return self.read_at(out, start);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut cache[(block % CACHE_BLOCKS as u64) as usize];
        if slot.as_ref().is_none_or(|(number, _)| *number != block) {
            let total = self.rows as u64 * self.row_bytes as u64;
            let length = (total - block * BLOCK_BYTES as u64).min(BLOCK_BYTES as u64) as usize;
            let mut bytes = vec![0u8; length].into_boxed_slice();
            self.read_at(&mut bytes, block * BLOCK_BYTES as u64);
            *slot = Some((block, bytes));
        }
        let (_, bytes) = slot.as_ref().expect("filled above");
        out.copy_from_slice(&bytes[within..within + self.row_bytes]);
    }

    /// Rows `from..to`'s bytes, appended to `out`.
    pub(crate) fn read_range(&self, from: u32, to: u32, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + (to - from) as usize * self.row_bytes, 0);
        self.read_at(&mut out[start..], from as u64 * self.row_bytes as u64);
    }
}

const ENTRY_BYTES: usize = 12;
/// Entries per block of a run: one read of 4 KiB finds a key, after the fences.
const BLOCK_ENTRIES: usize = 341;

/// One sorted run of `(fingerprint, row)` entries, and the first fingerprint of each block.
#[derive(Debug)]
struct Run {
    file: Box<dyn SpillFile>,
    entries: u64,
    fences: Vec<u64>,
}

/// Rows by the fingerprint of a key, for rows that left memory. Runs are merged like a binary
/// counter (a run is merged into the one before it while that one is no larger), so there are
/// at most about log₂(spills) of them and each entry is rewritten that many times.
///
/// A table taken up in bulk (a start, from a snapshot's rows) instead gathers entries in
/// memory and writes them in large sorted runs that it merges once, when the table is
/// settled ([`KeyRuns::gather`], [`KeyRuns::settle`]): each entry is then written twice, not
/// log₂(spills) times. At 10 million rows that was a quarter of a start's time.
#[derive(Debug)]
pub(crate) struct KeyRuns {
    files: Arc<dyn SpillFiles>,
    runs: Vec<Run>,
    /// While gathering: entries not yet in a run, in the order they came.
    gathering: Option<Vec<(u64, u32)>>,
}

/// Entries a bulk take-up gathers in memory (8 MiB) before it sorts them into a run.
const GATHER_ENTRIES: usize = 1 << 19;
/// Runs a bulk take-up writes before it merges them all, whether or not it has settled, so
/// that look-ups never face more runs than this.
const GATHERED_RUNS_MAX: usize = 32;

impl KeyRuns {
    pub(crate) fn new(files: Arc<dyn SpillFiles>) -> KeyRuns {
        KeyRuns { files, runs: Vec::new(), gathering: None }
    }

    /// From now on until [`KeyRuns::settle`], entries are gathered into large runs, merged
    /// once at the end.
    pub(crate) fn gather(&mut self) {
        self.gathering.get_or_insert_with(|| Vec::with_capacity(GATHER_ENTRIES));
    }

    /// Ends gathering: the gathered entries and runs become one run.
    pub(crate) fn settle(&mut self) {
        let Some(gathered) = self.gathering.take() else { return };
        if !gathered.is_empty() {
            self.runs.push(Self::write_run(&*self.files, gathered));
        }
        self.merge_all();
    }

    /// Adds entries (in any order).
    pub(crate) fn add(&mut self, entries: Vec<(u64, u32)>) {
        if let Some(gathered) = self.gathering.as_mut() {
            // Written before it would outgrow its size, so that it never doubles past it.
            if !gathered.is_empty() && gathered.len() + entries.len() > GATHER_ENTRIES {
                let batch = std::mem::replace(gathered, Vec::with_capacity(GATHER_ENTRIES));
                self.runs.push(Self::write_run(&*self.files, batch));
                if self.runs.len() >= GATHERED_RUNS_MAX {
                    self.merge_all();
                }
            }
            self.gathering.as_mut().expect("gathering").extend(entries);
            return;
        }
        if entries.is_empty() {
            return;
        }
        self.runs.push(Self::write_run(&*self.files, entries));
        while self.runs.len() >= 2 && self.runs[self.runs.len() - 2].entries <= self.runs[self.runs.len() - 1].entries {
            let newer = self.runs.pop().expect("two runs");
            let older = self.runs.pop().expect("two runs");
            self.runs.push(Self::merge(&*self.files, &older, &newer));
        }
    }

    fn write_run(files: &dyn SpillFiles, mut entries: Vec<(u64, u32)>) -> Run {
        entries.sort_unstable();
        let mut writer = RunWriter::new(files);
        for entry in entries {
            writer.push(entry);
        }
        writer.finish()
    }

    /// Every run merged into one.
    fn merge_all(&mut self) {
        if self.runs.len() < 2 {
            return;
        }
        let mut writer = RunWriter::new(&*self.files);
        for entry in Self::merged_runs(&self.runs) {
            writer.push(entry);
        }
        self.runs = vec![writer.finish()];
    }

    fn merge(files: &dyn SpillFiles, older: &Run, newer: &Run) -> Run {
        let mut writer = RunWriter::new(files);
        let (mut a, mut b) = (RunReader::new(older), RunReader::new(newer));
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if y < x => writer.push(b.next()),
                (Some(_), _) => writer.push(a.next()),
                (None, Some(_)) => writer.push(b.next()),
                (None, None) => break,
            }
        }
        writer.finish()
    }

    /// Every row whose key has this fingerprint, oldest run first.
    pub(crate) fn rows(&self, fingerprint: u64) -> Vec<u32> {
        let mut found = Vec::new();
        // Only a bulk take-up gathers, and it looks nothing up: a scan is correct, if slow.
        if let Some(gathered) = &self.gathering {
            found.extend(gathered.iter().filter(|(key, _)| *key == fingerprint).map(|(_, row)| *row));
        }
        let mut block = vec![0u8; BLOCK_ENTRIES * ENTRY_BYTES];
        for run in &self.runs {
            // The first block that may hold the fingerprint: equal ones may start a block early.
            let mut index = run.fences.partition_point(|&first| first < fingerprint).saturating_sub(1);
            'blocks: while index < run.fences.len() {
                let first_entry = (index * BLOCK_ENTRIES) as u64;
                let count = (run.entries - first_entry).min(BLOCK_ENTRIES as u64) as usize;
                let bytes = &mut block[..count * ENTRY_BYTES];
                run.file
                    .read_exact_at(bytes, first_entry * ENTRY_BYTES as u64)
                    .unwrap_or_else(|e| stop("reading a run", e));
                for entry in bytes.chunks_exact(ENTRY_BYTES) {
                    let (key, row) = decode_entry(entry);
                    if key > fingerprint {
                        break 'blocks;
                    }
                    if key == fingerprint {
                        found.push(row);
                    }
                }
                index += 1;
            }
        }
        found
    }

    /// How many entries the runs hold.
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> u64 {
        self.runs.iter().map(|run| run.entries).sum()
    }

    /// Every entry of every run, in fingerprint order (a merge of the runs, read in order).
    /// Entries still gathered are not among them: settle first.
    pub(crate) fn merged(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        debug_assert!(self.gathering.as_ref().is_none_or(Vec::is_empty), "merged while gathering");
        Self::merged_runs(&self.runs)
    }

    fn merged_runs(runs: &[Run]) -> impl Iterator<Item = (u64, u32)> + '_ {
        use std::cmp::Reverse;
        // Small buffers: a merge reads from every run at once.
        let mut readers: Vec<RunReader<'_>> =
            runs.iter().map(|run| RunReader::with_buffer(run, MERGED_READ_ENTRIES)).collect();
        let mut heads: std::collections::BinaryHeap<Reverse<((u64, u32), usize)>> = readers
            .iter_mut()
            .enumerate()
            .filter_map(|(index, reader)| reader.peek().map(|entry| Reverse((entry, index))))
            .collect();
        std::iter::from_fn(move || {
            let Reverse((entry, index)) = heads.pop()?;
            readers[index].next();
            if let Some(next) = readers[index].peek() {
                heads.push(Reverse((next, index)));
            }
            Some(entry)
        })
    }

    /// The merged entries, as runs of rows that share a fingerprint.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (u64, Vec<u32>)> + '_ {
        let mut merged = self.merged().peekable();
        std::iter::from_fn(move || {
            let (fingerprint, row) = merged.next()?;
            let mut rows = vec![row];
            while let Some((_, row)) = merged.next_if(|(next, _)| *next == fingerprint) {
                rows.push(row);
            }
            Some((fingerprint, rows))
        })
    }
}

fn decode_entry(entry: &[u8]) -> (u64, u32) {
    (
        u64::from_be_bytes(entry[..8].try_into().expect("8 bytes")),
        u32::from_be_bytes(entry[8..12].try_into().expect("4 bytes")),
    )
}

struct RunWriter {
    file: Box<dyn SpillFile>,
    buffer: Vec<u8>,
    written: u64,
    entries: u64,
    fences: Vec<u64>,
}

const WRITE_BUFFER_BYTES: usize = BLOCK_ENTRIES * ENTRY_BYTES * 256;

impl RunWriter {
    fn new(files: &dyn SpillFiles) -> RunWriter {
        let file = files.create().unwrap_or_else(|e| stop("creating a run", e));
        RunWriter { file, buffer: Vec::with_capacity(WRITE_BUFFER_BYTES), written: 0, entries: 0, fences: Vec::new() }
    }

    fn push(&mut self, (fingerprint, row): (u64, u32)) {
        if (self.entries as usize).is_multiple_of(BLOCK_ENTRIES) {
            self.fences.push(fingerprint);
        }
        self.buffer.extend_from_slice(&fingerprint.to_be_bytes());
        self.buffer.extend_from_slice(&row.to_be_bytes());
        self.entries += 1;
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.file.write_all_at(&self.buffer, self.written).unwrap_or_else(|e| stop("writing a run", e));
        self.written += self.buffer.len() as u64;
        self.buffer.clear();
    }

    fn finish(mut self) -> Run {
        self.flush();
        Run { file: self.file, entries: self.entries, fences: self.fences }
    }
}

struct RunReader<'a> {
    run: &'a Run,
    buffer: Vec<u8>,
    at: usize,
    next_entry: u64,
    buffer_entries: usize,
}

/// Entries each run's reader holds when all runs are read at once (48 KiB).
const MERGED_READ_ENTRIES: usize = 4096;

impl<'a> RunReader<'a> {
    fn new(run: &'a Run) -> RunReader<'a> {
        RunReader::with_buffer(run, WRITE_BUFFER_BYTES / ENTRY_BYTES)
    }

    fn with_buffer(run: &'a Run, entries: usize) -> RunReader<'a> {
        RunReader { run, buffer: Vec::new(), at: 0, next_entry: 0, buffer_entries: entries }
    }

    fn peek(&mut self) -> Option<(u64, u32)> {
        if self.at == self.buffer.len() {
            let left = self.run.entries - self.next_entry;
            if left == 0 {
                return None;
            }
            let count = left.min(self.buffer_entries as u64);
            self.buffer.resize(count as usize * ENTRY_BYTES, 0);
            self.run
                .file
                .read_exact_at(&mut self.buffer, self.next_entry * ENTRY_BYTES as u64)
                .unwrap_or_else(|e| stop("reading a run", e));
            self.next_entry += count;
            self.at = 0;
        }
        Some(decode_entry(&self.buffer[self.at..self.at + ENTRY_BYTES]))
    }

    fn next(&mut self) -> (u64, u32) {
        let entry = self.peek().expect("peeked");
        self.at += ENTRY_BYTES;
        entry
    }
}

/// Spill files in memory: for tests, and for a target without files.
#[derive(Debug, Default)]
pub struct MemoryFiles;

#[derive(Debug, Default)]
pub(crate) struct MemoryFile(pub(crate) Mutex<Vec<u8>>);

impl SpillFile for MemoryFile {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let end = offset as usize + bytes.len();
        if file.len() < end {
            file.resize(end, 0);
        }
        file[offset as usize..end].copy_from_slice(bytes);
        Ok(())
    }
    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<()> {
        let file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = file.get(offset as usize..offset as usize + buffer.len());
        buffer.copy_from_slice(bytes.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?);
        Ok(())
    }
}

impl SpillFiles for MemoryFiles {
    fn create(&self) -> io::Result<Box<dyn SpillFile>> {
        Ok(Box::new(MemoryFile::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_find_every_row_of_a_fingerprint_across_merges_and_block_edges() {
        let mut runs = KeyRuns::new(Arc::new(MemoryFiles));
        // Fingerprints repeat (i % 997), so equal ones straddle blocks and runs.
        for spill in 0..9u32 {
            let entries = (0..1000u32).map(|i| (((spill * 1000 + i) % 997) as u64 * 7, spill * 1000 + i)).collect();
            runs.add(entries);
        }
        assert_eq!(runs.entry_count(), 9000);
        assert!(runs.runs.len() <= 4, "{} runs", runs.runs.len());
        for key in [0u64, 5, 996] {
            let mut rows = runs.rows(key * 7);
            rows.sort_unstable();
            let expected: Vec<u32> = (0..9000u32).filter(|n| (n % 997) as u64 == key).collect();
            assert_eq!(rows, expected);
        }
        assert!(runs.rows(3).is_empty() && runs.rows(u64::MAX).is_empty());
        let groups: Vec<(u64, Vec<u32>)> = runs.groups().collect();
        assert_eq!(groups.len(), 997);
        assert!(groups.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(groups.iter().map(|(_, rows)| rows.len()).sum::<usize>(), 9000);
    }

    #[test]
    fn a_bulk_take_up_gathers_large_runs_and_settles_into_one_with_every_row() {
        let mut runs = KeyRuns::new(Arc::new(MemoryFiles));
        runs.gather();
        let total = 2 * GATHER_ENTRIES as u32 + 3000;
        let fingerprint = |row: u32| (row % 4099) as u64 * 3;
        for first in (0..total).step_by(1000) {
            runs.add((first..(first + 1000).min(total)).map(|row| (fingerprint(row), row)).collect());
        }
        // Two runs written, the rest still gathered: a look-up sees both.
        assert_eq!(runs.runs.len(), 2);
        let expected = |key: u64| -> Vec<u32> { (0..total).filter(|&row| fingerprint(row) == key).collect() };
        let mut found = runs.rows(fingerprint(4098));
        found.sort_unstable();
        assert_eq!(found, expected(fingerprint(4098)));
        runs.settle();
        assert_eq!((runs.runs.len(), runs.entry_count()), (1, total as u64));
        for key in [0u64, 5, 4098] {
            assert_eq!(runs.rows(key * 3), expected(key * 3), "rows of one fingerprint, in row order");
        }
        let merged: Vec<(u64, u32)> = runs.merged().collect();
        assert!(merged.windows(2).all(|pair| pair[0] < pair[1]));
        // After settling, additions merge as a binary counter again.
        runs.add(vec![(1, total)]);
        assert_eq!(runs.rows(1), [total]);
    }

    #[test]
    fn spilled_rows_read_back_through_the_cache_and_across_blocks() {
        let mut rows = SpilledRows::new(&MemoryFiles, 85);
        let row = |n: u32| -> Vec<u8> { (0..85).map(|i| (n as usize * 31 + i) as u8).collect() };
        for batch in 0..3u32 {
            let bytes: Vec<u8> = (batch * 1000..(batch + 1) * 1000).flat_map(row).collect();
            rows.append(&bytes);
        }
        let mut out = vec![0u8; 85];
        for n in [0u32, 770, 771, 1999, 2999] {
            rows.read(n, &mut out);
            assert_eq!(out, row(n));
        }
        let mut range = Vec::new();
        rows.read_range(770, 773, &mut range);
        assert_eq!(range, [row(770), row(771), row(772)].concat());
    }
}
