//! Documents beside the log (docs/FORMAT.md §6.2): one file per document, named by the SHA-256
//! of its bytes, in `documents/` in the data directory. One flat directory: ext4 and XFS index
//! large directories, and a new file in a directory of its own (sharding by the first digits)
//! cost ext4 a search of another block group's inode table on every create.
//!
//! ```text
//! klero-document/v1 LF
//! "media-type " <media type> LF
//! "personal-data " ("0" | "1") LF
//! "stored-at " <decimal ms> LF
//! LF
//! <the document's bytes>
//! ```
//!
//! A document is written to a temporary file, synced, renamed into place and its directory
//! synced, so a crash leaves it whole or absent. Every read checks the bytes against the name.

use crate::disk::Disk;
use klero_ledger::hash::to_hex;
use klero_ledger::Hash256;
use klero_store::{Document, DocumentInfo, StoreError, MEDIA_TYPE_BYTES_MAX};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

const DIRECTORY: &str = "documents";
const HEADER: &str = "klero-document/v1";
/// The header is short; reading this much is enough to parse it.
const HEADER_BYTES_MAX: usize = 64 + MEDIA_TYPE_BYTES_MAX + 64;
/// Parts at least this large are hashed beside their write, not before it: a thread costs
/// tens of microseconds, hashing 256 KiB about 140.
const PARALLEL_HASH_BYTES_MIN: usize = 256 * 1024;
/// Makes every temporary file's name unique within the process.
static TEMPORARY_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn io_failure(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(klero_store::IoFailure::new(operation, path, &error))
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { segment: path.display().to_string(), offset: 0, position: 0, reason: reason.into() }
}

fn sync_directory(disk: &Disk, path: &Path) -> Result<(), StoreError> {
    disk.sync_directory(path).map_err(|e| io_failure("syncing directory", path, e))
}

/// The document files of one data directory, with their headers indexed in memory (read from
/// the files on first use), so listing them costs no I/O.
#[derive(Debug)]
pub struct DocumentFiles {
    root: PathBuf,
    disk: Disk,
    /// Guards the index and the renames into place (each writer has its own temporary file).
    writing: std::sync::Mutex<Option<BTreeMap<[u8; 32], DocumentInfo>>>,
}

impl DocumentFiles {
    pub fn new(data_directory: &Path, disk: Disk) -> DocumentFiles {
        DocumentFiles { root: data_directory.join(DIRECTORY), disk, writing: std::sync::Mutex::new(None) }
    }

    /// The index, read from the files the first time.
    fn index<'a>(
        &self,
        guard: &'a mut Option<BTreeMap<[u8; 32], DocumentInfo>>,
    ) -> Result<&'a mut BTreeMap<[u8; 32], DocumentInfo>, StoreError> {
        if guard.is_none() {
            *guard = Some(self.scan()?.into_iter().map(|info| (info.sha256, info)).collect());
        }
        Ok(guard.as_mut().expect("just filled"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<BTreeMap<[u8; 32], DocumentInfo>>> {
        self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path_of(&self, sha256: &[u8; 32]) -> PathBuf {
        self.root.join(to_hex(sha256))
    }

    /// Keeps `document`; false if it was kept already (the first copy and its details stay).
    ///
    /// The bytes are hashed on a second thread while this one writes and syncs them to a
    /// temporary file, and only a document whose hash matches is renamed into place: the check
    /// costs no time of its own. (Uploads take [`DocumentFiles::begin`] instead, which writes
    /// and hashes each part as it arrives.)
    pub fn put(&self, document: &Document) -> Result<bool, StoreError> {
        klero_store::validate_document_shape(document)?;
        if self.holds(&document.info.sha256)? {
            return Ok(false);
        }
        let mut open = self.begin(&document.info)?;
        let (hash_matches, written) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| klero_store::document_hash_matches(document));
            let written = open.write_unhashed(&document.bytes).and_then(|_| open.sync());
            (hashing.join().expect("hashing never panics"), written)
        });
        written.and(hash_matches)?; // on an error, dropping `open` removes its file
        open.keep(self)
    }

    /// Whether the document is kept.
    fn holds(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.index(&mut self.lock())?.contains_key(sha256))
    }

    /// Begins a document: its temporary file, with its header written. Each writer has its
    /// own temporary file, so two uploads of one document may overlap.
    pub fn begin(&self, info: &DocumentInfo) -> Result<OpenDocument, StoreError> {
        klero_store::validate_document_info(info)?;
        // The first look at the directory removes the temporary files a crash left: it must
        // come before this one exists.
        self.index(&mut self.lock())?;
        self.create_root()?;
        let serial = TEMPORARY_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = self.root.join(format!("{}.{serial}.tmp", to_hex(&info.sha256)));
        let header = format!(
            "{HEADER}\nmedia-type {}\npersonal-data {}\nstored-at {}\n\n",
            info.media_type,
            u8::from(info.personal_data),
            info.stored_at_unix_ms
        );
        let file = self.disk.create_empty(&temporary).map_err(|e| io_failure("creating", &temporary, e))?;
        let mut open = OpenDocument {
            disk: self.disk.clone(),
            info: info.clone(),
            temporary,
            file,
            end: 0,
            received: 0,
            hasher: Some(Hash256::hasher()),
            synced: false,
            kept: false,
        };
        open.write_at_end(header.as_bytes())?;
        Ok(open)
    }

    /// Creates `documents/` the first time, durably.
    fn create_root(&self) -> Result<(), StoreError> {
        if !self.root.exists() {
            self.disk.create_directory_all(&self.root).map_err(|e| io_failure("creating", &self.root, e))?;
            if let Some(data) = self.root.parent() {
                sync_directory(&self.disk, data)?;
            }
        }
        Ok(())
    }

    /// Parses a document file's header; returns the info and where the bytes start.
    fn parse_header(
        path: &Path,
        sha256: [u8; 32],
        head: &[u8],
        file_size: u64,
    ) -> Result<(DocumentInfo, usize), StoreError> {
        let end = head.windows(2).position(|w| w == b"\n\n").ok_or_else(|| corrupt(path, "no end of header"))?;
        let text = std::str::from_utf8(&head[..end]).map_err(|_| corrupt(path, "the header is not UTF-8"))?;
        let mut lines = text.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(corrupt(path, format!("the first line is not {HEADER}")));
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|line| line.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_string)
                .ok_or_else(|| corrupt(path, format!("no {name} line")))
        };
        let media_type = field("media-type")?;
        let personal_data = match field("personal-data")?.as_str() {
            "0" => false,
            "1" => true,
            other => return Err(corrupt(path, format!("personal-data is {other:?}"))),
        };
        let stored_at_unix_ms = field("stored-at")?.parse().map_err(|_| corrupt(path, "stored-at is not a number"))?;
        let start = end + 2;
        let size = file_size.checked_sub(start as u64).ok_or_else(|| corrupt(path, "shorter than its header"))?;
        Ok((DocumentInfo { sha256, media_type, size, personal_data, stored_at_unix_ms }, start))
    }

    /// The document, checked against its hash; `None` if not kept.
    pub fn read(&self, sha256: &[u8; 32]) -> Result<Option<Document>, StoreError> {
        use std::io::{Seek, SeekFrom};
        let path = self.path_of(sha256);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_failure("opening", &path, e)),
        };
        let size = file.metadata().map_err(|e| io_failure("reading", &path, e))?.len();
        let mut head = vec![0u8; HEADER_BYTES_MAX.min(size as usize)];
        file.read_exact(&mut head).map_err(|e| io_failure("reading", &path, e))?;
        let (info, start) = Self::parse_header(&path, *sha256, &head, size)?;
        // The content straight into a buffer of its size: one copy from the page cache.
        let mut content = vec![0u8; info.size as usize];
        file.seek(SeekFrom::Start(start as u64))
            .and_then(|_| file.read_exact(&mut content))
            .map_err(|e| io_failure("reading", &path, e))?;
        if Hash256::of(&content).0 != *sha256 {
            return Err(corrupt(&path, "the document's bytes do not hash to its name"));
        }
        Ok(Some(Document { info, bytes: content }))
    }

    /// What is kept of every document, by hash.
    pub fn infos(&self) -> Result<Vec<DocumentInfo>, StoreError> {
        let mut guard = self.lock();
        Ok(self.index(&mut guard)?.values().cloned().collect())
    }

    /// Every document's header, read from the files; removes writes a crash cut short.
    fn scan(&self) -> Result<Vec<DocumentInfo>, StoreError> {
        let mut infos = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(infos),
            Err(e) => return Err(io_failure("listing", &self.root, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| io_failure("listing", &self.root, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".tmp") {
                // A write cut by a crash: never renamed, so never acknowledged.
                self.disk.remove_file(&path).map_err(|e| io_failure("removing", &path, e))?;
                continue;
            }
            let sha256: [u8; 32] = klero_ledger::hash::from_hex(name)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| corrupt(&path, "a document file's name is not a SHA-256 in hex"))?;
            let mut file = File::open(&path).map_err(|e| io_failure("opening", &path, e))?;
            let size = file.metadata().map_err(|e| io_failure("reading", &path, e))?.len();
            let mut head = vec![0u8; HEADER_BYTES_MAX.min(size as usize)];
            file.read_exact(&mut head).map_err(|e| io_failure("reading", &path, e))?;
            infos.push(Self::parse_header(&path, sha256, &head, size)?.0);
        }
        Ok(infos)
    }

    /// Removes a document; false if it was not kept.
    pub fn delete(&self, sha256: &[u8; 32]) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let index = self.index(&mut guard)?;
        let path = self.path_of(sha256);
        match self.disk.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                index.remove(sha256);
                return Ok(false);
            }
            Err(e) => return Err(io_failure("removing", &path, e)),
        }
        index.remove(sha256);
        sync_directory(&self.disk, path.parent().expect("a document path has a parent"))?;
        Ok(true)
    }
}

/// A document being written to its temporary file ([`DocumentFiles::begin`]). Dropped before
/// it is kept, its file is removed.
#[derive(Debug)]
pub struct OpenDocument {
    disk: Disk,
    info: DocumentInfo,
    temporary: PathBuf,
    file: File,
    /// Where the next byte goes.
    end: u64,
    /// The document's bytes so far (the header not counted).
    received: u64,
    /// Their hash so far; `None` when the caller checks the hash itself.
    hasher: Option<klero_ledger::hash::Hasher>,
    /// The bytes are all written and synced (by the part that completed them).
    synced: bool,
    kept: bool,
}

impl OpenDocument {
    fn write_at_end(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.disk
            .write_all_at(&self.file, &self.temporary, bytes, self.end)
            .map_err(|e| io_failure("writing", &self.temporary, e))?;
        self.end += bytes.len() as u64;
        Ok(())
    }

    /// The next part of the document's bytes, written and hashed.
    pub fn write(&mut self, part: &[u8]) -> Result<(), StoreError> {
        if self.received + part.len() as u64 > self.info.size {
            return Err(StoreError::InvalidArgument {
                field: "size",
                reason: format!("says {} bytes, more came", self.info.size),
            });
        }
        // The last part is synced here, beside its hash, rather than after it in `finish`: the
        // sync then waits for the disk while the other thread hashes (about 0.5 ms each for
        // 1 MiB). A document whose hash does not match is never renamed into place, synced or not.
        let completes = self.received + part.len() as u64 == self.info.size;
        let write_and_maybe_sync = |open: &mut Self| {
            open.write_at_end(part)?;
            if completes {
                open.sync()?;
                open.synced = true;
            }
            Ok(())
        };
        let mut hasher = self.hasher.take();
        let written = match &mut hasher {
            // A large part is hashed on a second thread while this one writes it.
            Some(hasher) if part.len() >= PARALLEL_HASH_BYTES_MIN => std::thread::scope(|scope| {
                scope.spawn(|| hasher.update(part));
                write_and_maybe_sync(self)
            }),
            Some(hasher) => {
                hasher.update(part);
                write_and_maybe_sync(self)
            }
            None => self.write_at_end(part),
        };
        self.hasher = hasher;
        written?;
        self.received += part.len() as u64;
        Ok(())
    }

    /// Bytes whose hash the caller checks itself ([`DocumentFiles::put`]).
    fn write_unhashed(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.hasher = None;
        self.write_at_end(bytes)?;
        self.received += bytes.len() as u64;
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.disk.sync_all(&self.file, &self.temporary).map_err(|e| io_failure("syncing", &self.temporary, e))
    }

    /// Checks the size and the hash of what was written, syncs it, and keeps it in `files`;
    /// false if `files` held the document already.
    pub fn finish(mut self, files: &DocumentFiles) -> Result<bool, StoreError> {
        klero_store::check_document_size(&self.info, self.received)?;
        if let Some(hasher) = self.hasher.take() {
            if hasher.finish().0 != self.info.sha256 {
                return Err(StoreError::InvalidArgument {
                    field: "sha256",
                    reason: "is not the SHA-256 of the document's bytes".into(),
                });
            }
        }
        if !self.synced {
            self.sync()?;
        }
        self.keep(files)
    }

    /// Renames the synced file into place, unless the document is kept already.
    fn keep(mut self, files: &DocumentFiles) -> Result<bool, StoreError> {
        let mut guard = files.lock();
        let index = files.index(&mut guard)?;
        if index.contains_key(&self.info.sha256) {
            return Ok(false); // dropping `self` removes its file
        }
        let path = files.path_of(&self.info.sha256);
        self.disk.rename(&self.temporary, &path).map_err(|e| io_failure("renaming", &self.temporary, e))?;
        self.kept = true;
        sync_directory(&self.disk, &files.root)?;
        index.insert(self.info.sha256, self.info.clone());
        Ok(true)
    }
}

impl Drop for OpenDocument {
    fn drop(&mut self) {
        if !self.kept {
            // A crash before this leaves the temporary file, which the next scan removes.
            let _ = self.disk.remove_file(&self.temporary);
        }
    }
}
