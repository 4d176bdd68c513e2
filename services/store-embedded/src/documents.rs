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

use klero_ledger::hash::to_hex;
use klero_ledger::Hash256;
use klero_store::{Document, DocumentInfo, StoreError, MEDIA_TYPE_BYTES_MAX};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const DIRECTORY: &str = "documents";
const HEADER: &str = "klero-document/v1";
/// The header is short; reading this much is enough to parse it.
const HEADER_BYTES_MAX: usize = 64 + MEDIA_TYPE_BYTES_MAX + 64;

fn io_failure(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(klero_store::IoFailure::new(operation, path, &error))
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { segment: path.display().to_string(), offset: 0, position: 0, reason: reason.into() }
}

fn sync_directory(path: &Path) -> Result<(), StoreError> {
    File::open(path).and_then(|dir| dir.sync_all()).map_err(|e| io_failure("syncing directory", path, e))
}

/// The document files of one data directory, with their headers indexed in memory (read from
/// the files on first use), so listing them costs no I/O.
#[derive(Debug)]
pub struct DocumentFiles {
    root: PathBuf,
    /// One writer at a time: two writers of one temporary file could leave a torn document.
    /// It guards the index too.
    writing: std::sync::Mutex<Option<BTreeMap<[u8; 32], DocumentInfo>>>,
}

impl DocumentFiles {
    pub fn new(data_directory: &Path) -> DocumentFiles {
        DocumentFiles { root: data_directory.join(DIRECTORY), writing: std::sync::Mutex::new(None) }
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

    /// Checks a document before it is kept: its hash, size and media type.
    pub fn validate(document: &Document) -> Result<(), StoreError> {
        klero_store::validate_document(document)
    }

    /// Keeps `document`; false if it was kept already (the first copy and its details stay).
    pub fn put(&self, document: &Document) -> Result<bool, StoreError> {
        Self::validate(document)?;
        let mut guard = self.lock();
        let index = self.index(&mut guard)?;
        if index.contains_key(&document.info.sha256) {
            return Ok(false);
        }
        let path = self.path_of(&document.info.sha256);
        let directory = self.root.clone();
        if !directory.exists() {
            fs::create_dir_all(&directory).map_err(|e| io_failure("creating", &directory, e))?;
            if let Some(data) = self.root.parent() {
                sync_directory(data)?;
            }
        }
        let temporary = directory.join(format!("{}.tmp", to_hex(&document.info.sha256)));
        let info = &document.info;
        let header = format!(
            "{HEADER}\nmedia-type {}\npersonal-data {}\nstored-at {}\n\n",
            info.media_type,
            u8::from(info.personal_data),
            info.stored_at_unix_ms
        );
        let mut file = File::create(&temporary).map_err(|e| io_failure("creating", &temporary, e))?;
        file.write_all(header.as_bytes())
            .and_then(|_| file.write_all(&document.bytes))
            .and_then(|_| file.sync_all())
            .map_err(|e| io_failure("writing", &temporary, e))?;
        fs::rename(&temporary, &path).map_err(|e| io_failure("renaming", &temporary, e))?;
        sync_directory(&directory)?;
        index.insert(info.sha256, info.clone());
        Ok(true)
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
                fs::remove_file(&path).map_err(|e| io_failure("removing", &path, e))?;
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
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                index.remove(sha256);
                return Ok(false);
            }
            Err(e) => return Err(io_failure("removing", &path, e)),
        }
        index.remove(sha256);
        sync_directory(path.parent().expect("a document path has a parent"))?;
        Ok(true)
    }
}
