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
/// A table taken up in bulk (a start, from a snapshot's rows) instead gathers its entries by
/// the top byte of their fingerprints, and sorts each part once, when the table is settled
/// ([`KeyRuns::gather`], [`KeyRuns::settle`]): the sorted parts laid end to end are one run,
/// with no merge. Merging log₂(spills) times had been a quarter of a start at 10 million rows,
/// and merging sorted runs of 524,288 once with a heap still a fifth.
#[derive(Debug)]
pub(crate) struct KeyRuns {
    files: Arc<dyn SpillFiles>,
    runs: Vec<Run>,
    gathering: Option<Gathering>,
}

/// Parts of a gathering: by the fingerprint's top byte.
const GATHER_PARTS: usize = 256;
/// Entries a part holds in memory before they go to the file, as a block.
const GATHER_BLOCK_ENTRIES: usize = 1024;

/// Entries gathered by part: each part's older entries in blocks of a scratch file, its newest
/// in memory (at most 4 MiB in all).
#[derive(Debug)]
struct Gathering {
    file: Box<dyn SpillFile>,
    pending: Vec<Vec<(u64, u32)>>,
    /// Each part's blocks, by their number in the file.
    blocks: Vec<Vec<u64>>,
    blocks_written: u64,
}

impl Gathering {
    fn new(files: &dyn SpillFiles) -> Gathering {
        Gathering {
            file: files.create().unwrap_or_else(|e| stop("creating a gathering file", e)),
            pending: vec![Vec::new(); GATHER_PARTS],
            blocks: vec![Vec::new(); GATHER_PARTS],
            blocks_written: 0,
        }
    }

    fn part(fingerprint: u64) -> usize {
        (fingerprint >> 56) as usize
    }

    fn add(&mut self, entry: (u64, u32)) {
        let part = Self::part(entry.0);
        self.pending[part].push(entry);
        if self.pending[part].len() == GATHER_BLOCK_ENTRIES {
            let bytes: Vec<u8> = self.pending[part].drain(..).flat_map(encode_entry).collect();
            let at = self.blocks_written * (GATHER_BLOCK_ENTRIES * ENTRY_BYTES) as u64;
            self.file.write_all_at(&bytes, at).unwrap_or_else(|e| stop("writing a gathering block", e));
            self.blocks[part].push(self.blocks_written);
            self.blocks_written += 1;
        }
    }

    /// Every entry of a part, in the order they came.
    fn entries_of(&self, part: usize) -> Vec<(u64, u32)> {
        let mut entries = Vec::with_capacity(self.blocks[part].len() * GATHER_BLOCK_ENTRIES + self.pending[part].len());
        let mut bytes = vec![0u8; GATHER_BLOCK_ENTRIES * ENTRY_BYTES];
        for &block in &self.blocks[part] {
            let at = block * bytes.len() as u64;
            self.file.read_exact_at(&mut bytes, at).unwrap_or_else(|e| stop("reading a gathering block", e));
            entries.extend(bytes.chunks_exact(ENTRY_BYTES).map(decode_entry));
        }
        entries.extend_from_slice(&self.pending[part]);
        entries
    }

    /// The gathered entries as one run: each part sorted, in part order.
    fn into_run(self, files: &dyn SpillFiles) -> Run {
        let mut writer = RunWriter::new(files);
        for part in 0..GATHER_PARTS {
            let mut entries = self.entries_of(part);
            entries.sort_unstable();
            for entry in entries {
                writer.push(entry);
            }
        }
        writer.finish()
    }
}

impl KeyRuns {
    pub(crate) fn new(files: Arc<dyn SpillFiles>) -> KeyRuns {
        KeyRuns { files, runs: Vec::new(), gathering: None }
    }

    /// From now on until [`KeyRuns::settle`], entries are gathered by part, to be sorted into
    /// one run at the end.
    pub(crate) fn gather(&mut self) {
        if self.gathering.is_none() {
            self.gathering = Some(Gathering::new(&*self.files));
        }
    }

    /// Ends gathering: the gathered entries and runs become one run.
    pub(crate) fn settle(&mut self) {
        if self.close_gathering() {
            self.merge_all();
        }
    }

    /// Ends gathering without merging: the gathered entries become one more run. False if it
    /// was not gathering.
    fn close_gathering(&mut self) -> bool {
        let Some(gathering) = self.gathering.take() else { return false };
        let run = gathering.into_run(&*self.files);
        if run.entries > 0 {
            self.runs.push(run);
        }
        true
    }

    /// Adds entries (in any order).
    pub(crate) fn add(&mut self, entries: Vec<(u64, u32)>) {
        if let Some(gathering) = self.gathering.as_mut() {
            entries.into_iter().for_each(|entry| gathering.add(entry));
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
        // Only a bulk take-up gathers, and it looks nothing up: a scan of the part is correct,
        // if slow.
        if let Some(gathering) = &self.gathering {
            let part = gathering.entries_of(Gathering::part(fingerprint));
            found.extend(part.iter().filter(|(key, _)| *key == fingerprint).map(|(_, row)| *row));
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
        debug_assert!(self.gathering.is_none(), "merged while gathering");
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
        Self::grouped(self.merged())
    }

    fn grouped(merged: impl Iterator<Item = (u64, u32)>) -> impl Iterator<Item = (u64, Vec<u32>)> {
        let mut merged = merged.peekable();
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

fn encode_entry((fingerprint, row): (u64, u32)) -> [u8; ENTRY_BYTES] {
    let mut bytes = [0u8; ENTRY_BYTES];
    bytes[..8].copy_from_slice(&fingerprint.to_be_bytes());
    bytes[8..].copy_from_slice(&row.to_be_bytes());
    bytes
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
        self.buffer.extend_from_slice(&encode_entry((fingerprint, row)));
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

/// Rows whose keys must all differ (the verifier's event ids: FORMAT.md §2 makes them unique
/// across the log), checked once, at the end, by sorting, so that memory does not grow with
/// the rows. A table of every key seen took 15 bytes a row with its free slots, and twice that
/// while it grew: at 10 million events, more than the verifier's whole budget of 256 MiB.
/// Here each key goes to a file of rows and its keyed fingerprint is gathered by part; sorting
/// the parts once pairs the rows whose fingerprints agree, and only their keys are read and
/// compared.
#[derive(Debug)]
pub struct DistinctKeys {
    runs: KeyRuns,
    keys: SpilledRows,
    key_bytes: usize,
    /// Keys not yet in `keys`, and their entries not yet in `runs`.
    pending_keys: Vec<u8>,
    pending_entries: Vec<(u64, u32)>,
    /// Keyed per check, so that no input can choose keys whose fingerprints agree.
    hasher: std::collections::hash_map::RandomState,
    rows: u32,
}

/// A key given twice: at `row`, and first at `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    pub row: u32,
    pub first: u32,
    pub key: Vec<u8>,
}

/// More rows than [`DistinctKeys`] numbers (a `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRows;

/// Rows [`DistinctKeys`] holds before it writes them out (1 MiB of 16-byte keys).
const DISTINCT_PENDING_ROWS: usize = 65_536;

impl DistinctKeys {
    pub fn new(files: Arc<dyn SpillFiles>, key_bytes: usize) -> DistinctKeys {
        let keys = SpilledRows::new(&*files, key_bytes);
        let mut runs = KeyRuns::new(files);
        runs.gather();
        DistinctKeys {
            runs,
            keys,
            key_bytes,
            pending_keys: Vec::with_capacity(DISTINCT_PENDING_ROWS * key_bytes),
            pending_entries: Vec::with_capacity(DISTINCT_PENDING_ROWS),
            hasher: Default::default(),
            rows: 0,
        }
    }

    /// How many keys were given.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Gives the next row's key (`key_bytes` long).
    pub fn push(&mut self, key: &[u8]) -> Result<(), TooManyRows> {
        use std::hash::BuildHasher;
        assert_eq!(key.len(), self.key_bytes, "a key of the length the check was made for");
        let row = self.rows;
        self.rows = row.checked_add(1).ok_or(TooManyRows)?;
        self.pending_keys.extend_from_slice(key);
        self.pending_entries.push((self.hasher.hash_one(key), row));
        if self.pending_entries.len() >= DISTINCT_PENDING_ROWS {
            self.write_pending();
        }
        Ok(())
    }

    fn write_pending(&mut self) {
        self.keys.append(&self.pending_keys);
        self.pending_keys.clear();
        let entries = std::mem::replace(&mut self.pending_entries, Vec::with_capacity(DISTINCT_PENDING_ROWS));
        self.runs.add(entries);
    }

    /// Every key so far, in row order: what a new check is given again, key by key, to go on
    /// where this one stopped.
    pub fn keys(&mut self) -> Vec<u8> {
        self.write_pending();
        let mut keys = Vec::with_capacity(self.rows as usize * self.key_bytes);
        self.keys.read_range(0, self.rows, &mut keys);
        keys
    }

    /// The earliest row whose key an earlier row had, with the first row that had it. Asked
    /// after the last row; rows may follow, and it may be asked again (each time it reads
    /// every row's fingerprint).
    pub fn first_repeat(&mut self) -> Option<Repeat> {
        self.write_pending();
        self.runs.close_gathering();
        let mut found: Option<Repeat> = None;
        let mut key = vec![0u8; self.key_bytes];
        for (_, rows) in KeyRuns::grouped(KeyRuns::merged_runs(&self.runs.runs)) {
            if rows.len() < 2 || found.as_ref().is_some_and(|repeat| repeat.row <= rows[1]) {
                continue;
            }
            // Fingerprints that agree, keys that may not: sorted by key then row, each key's
            // second row is its first repeat.
            let mut keyed: Vec<(Vec<u8>, u32)> = rows
                .iter()
                .map(|&row| {
                    self.keys.read(row, &mut key);
                    (key.clone(), row)
                })
                .collect();
            keyed.sort_unstable();
            for pair in keyed.windows(2) {
                let ((first_key, first), (key, row)) = (&pair[0], &pair[1]);
                if first_key == key && found.as_ref().is_none_or(|repeat| *row < repeat.row) {
                    found = Some(Repeat { row: *row, first: *first, key: key.clone() });
                }
            }
        }
        found
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
    fn a_bulk_take_up_gathers_by_part_and_settles_into_one_run_with_every_row() {
        let mut runs = KeyRuns::new(Arc::new(MemoryFiles));
        runs.gather();
        let total = 2 * (GATHER_PARTS * GATHER_BLOCK_ENTRIES) as u32 + 3000;
        // Spread over every part (the top byte), with repeats.
        let fingerprint = |row: u32| ((row % 4099) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for first in (0..total).step_by(1000) {
            runs.add((first..(first + 1000).min(total)).map(|row| (fingerprint(row), row)).collect());
        }
        // Blocks written, the rest still in memory, no run yet: a look-up sees both.
        let gathering = runs.gathering.as_ref().expect("gathering");
        assert!(gathering.blocks_written > 0 && gathering.pending.iter().any(|part| !part.is_empty()));
        assert!(runs.runs.is_empty());
        let expected = |key: u64| -> Vec<u32> { (0..total).filter(|&row| fingerprint(row) == key).collect() };
        let mut found = runs.rows(fingerprint(4098));
        found.sort_unstable();
        assert_eq!(found, expected(fingerprint(4098)));
        runs.settle();
        assert_eq!((runs.runs.len(), runs.entry_count()), (1, total as u64));
        for key in [0u64, 5, 4098] {
            assert_eq!(runs.rows(fingerprint(key as u32)), expected(fingerprint(key as u32)), "rows in row order");
        }
        let merged: Vec<(u64, u32)> = runs.merged().collect();
        assert!(merged.windows(2).all(|pair| pair[0] < pair[1]));
        // After settling, additions merge as a binary counter again.
        runs.add(vec![(1, total)]);
        assert_eq!(runs.rows(1), [total]);
        // Gathering again over runs: settling merges everything into one.
        runs.gather();
        runs.add(vec![(2, total + 1), (u64::MAX, total + 2)]);
        runs.settle();
        assert_eq!((runs.runs.len(), runs.entry_count()), (1, total as u64 + 3));
        assert_eq!((runs.rows(1), runs.rows(u64::MAX)), (vec![total], vec![total + 2]));
    }

    #[test]
    fn distinct_keys_name_the_earliest_repeat_across_runs_and_no_other() {
        let key =
            |n: u64| -> [u8; 16] { [n.to_be_bytes(), (n * 7 + 1).to_be_bytes()].concat().try_into().expect("16") };
        // Past one gathered run, so that repeats are paired across runs and pending rows.
        let total = (GATHER_PARTS * GATHER_BLOCK_ENTRIES) as u64 + 3 * DISTINCT_PENDING_ROWS as u64 + 17;
        let check = |repeats: &[(u64, u64)]| -> Option<Repeat> {
            let mut distinct = DistinctKeys::new(Arc::new(MemoryFiles), 16);
            for row in 0..total {
                let n = repeats.iter().find(|(at, _)| *at == row).map_or(row, |(_, first)| *first);
                distinct.push(&key(n)).expect("row");
            }
            assert_eq!(distinct.rows() as u64, total);
            distinct.first_repeat()
        };
        assert_eq!(check(&[]), None, "every key differs");
        let last = total - 1;
        assert_eq!(check(&[(last, 0)]), Some(Repeat { row: last as u32, first: 0, key: key(0).to_vec() }));
        // Three repeats: the earliest row is named, with the first row of its key, whatever
        // order the keys sort in.
        let repeats = [(total - 5, 3), (400_000, 399_999), (300_001, 2)];
        assert_eq!(check(&repeats), Some(Repeat { row: 300_001, first: 2, key: key(2).to_vec() }));
        // A key three times: its second row is the repeat.
        assert_eq!(check(&[(10, 5), (20, 5)]).map(|r| (r.row, r.first)), Some((10, 5)));
    }

    /// A monitor asks after each round and goes on adding rows: a repeat of a row from an
    /// earlier round is found, and a round with none finds none.
    #[test]
    fn distinct_keys_asked_again_after_more_rows_find_a_repeat_of_an_earlier_round() {
        let key = |n: u32| -> [u8; 16] { [n.to_be_bytes(); 4].concat().try_into().expect("16") };
        let mut distinct = DistinctKeys::new(Arc::new(MemoryFiles), 16);
        let mut next = 0u32;
        for round in [DISTINCT_PENDING_ROWS as u32 + 5, 3, 2 * DISTINCT_PENDING_ROWS as u32] {
            for _ in 0..round {
                distinct.push(&key(next)).expect("row");
                next += 1;
            }
            assert_eq!(distinct.first_repeat(), None, "round of {round}: every key differs");
        }
        distinct.push(&key(7)).expect("row");
        assert_eq!(distinct.first_repeat(), Some(Repeat { row: next, first: 7, key: key(7).to_vec() }));
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
