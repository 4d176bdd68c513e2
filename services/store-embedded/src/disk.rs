//! Every file operation that changes what the embedded store keeps on disk goes through
//! [`Disk`], in one place, so that a test can record each one (to enumerate crash points from
//! the operations themselves) and make any one of them fail the way a real disk does (`EIO`,
//! `ENOSPC`) without root or a special filesystem. In production there is no hook and each
//! operation is the plain system call; the recording and failing hook, `FaultyDisk`, is built
//! only with the `faults` feature, which the tests turn on.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The hook for tests, built only with the `faults` feature (tests turn it on).
#[cfg(feature = "faults")]
mod faults;
#[cfg(feature = "faults")]
pub use faults::*;

/// One operation that changes the disk, as the store is about to make it.
#[derive(Clone, Copy, Debug)]
pub enum FileOperation<'a> {
    CreateDirectory {
        path: &'a Path,
    },
    /// Creates an empty file, or empties an existing one.
    CreateFile {
        path: &'a Path,
    },
    Write {
        path: &'a Path,
        offset: u64,
        bytes: &'a [u8],
    },
    SetLength {
        path: &'a Path,
        length: u64,
    },
    /// `fdatasync`.
    SyncData {
        path: &'a Path,
    },
    /// `fsync`.
    SyncAll {
        path: &'a Path,
    },
    SyncDirectory {
        path: &'a Path,
    },
    Rename {
        from: &'a Path,
        to: &'a Path,
    },
    Remove {
        path: &'a Path,
    },
}

/// What an operation is, without its arguments: what a fault is aimed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    CreateDirectory,
    CreateFile,
    Write,
    SetLength,
    SyncData,
    SyncAll,
    SyncDirectory,
    Rename,
    Remove,
}

impl FileOperation<'_> {
    pub fn kind(&self) -> OperationKind {
        match self {
            FileOperation::CreateDirectory { .. } => OperationKind::CreateDirectory,
            FileOperation::CreateFile { .. } => OperationKind::CreateFile,
            FileOperation::Write { .. } => OperationKind::Write,
            FileOperation::SetLength { .. } => OperationKind::SetLength,
            FileOperation::SyncData { .. } => OperationKind::SyncData,
            FileOperation::SyncAll { .. } => OperationKind::SyncAll,
            FileOperation::SyncDirectory { .. } => OperationKind::SyncDirectory,
            FileOperation::Rename { .. } => OperationKind::Rename,
            FileOperation::Remove { .. } => OperationKind::Remove,
        }
    }

    /// The file or directory it changes (for a rename, where it goes from).
    pub fn path(&self) -> &Path {
        match self {
            FileOperation::CreateDirectory { path }
            | FileOperation::CreateFile { path }
            | FileOperation::Write { path, .. }
            | FileOperation::SetLength { path, .. }
            | FileOperation::SyncData { path }
            | FileOperation::SyncAll { path }
            | FileOperation::SyncDirectory { path }
            | FileOperation::Remove { path } => path,
            FileOperation::Rename { from, .. } => from,
        }
    }
}

/// Sees every operation before it is made. An `Err` is returned by the operation in its place,
/// and the operation is not made: a disk that refused it.
pub trait FileOperationHook: Send + Sync + std::fmt::Debug {
    fn before(&self, operation: &FileOperation<'_>) -> std::io::Result<()>;
}

/// The store's way to the disk: the plain system calls, each shown first to the hook if there
/// is one.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    hook: Option<Arc<dyn FileOperationHook>>,
}

impl Disk {
    pub fn with_hook(hook: Arc<dyn FileOperationHook>) -> Disk {
        Disk { hook: Some(hook) }
    }

    fn before(&self, operation: FileOperation<'_>) -> std::io::Result<()> {
        match &self.hook {
            Some(hook) => hook.before(&operation),
            None => Ok(()),
        }
    }

    pub fn create_directory_all(&self, path: &Path) -> std::io::Result<()> {
        if path.is_dir() {
            return Ok(());
        }
        self.before(FileOperation::CreateDirectory { path })?;
        fs::create_dir_all(path)
    }

    /// A new file that must not exist yet, open for writing.
    pub fn create_new(&self, path: &Path) -> std::io::Result<File> {
        self.before(FileOperation::CreateFile { path })?;
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    /// A file created or emptied, open for writing.
    pub fn create_empty(&self, path: &Path) -> std::io::Result<File> {
        self.before(FileOperation::CreateFile { path })?;
        OpenOptions::new().write(true).create(true).truncate(true).open(path)
    }

    pub fn write_all_at(&self, file: &File, path: &Path, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        self.before(FileOperation::Write { path, offset, bytes })?;
        file.write_all_at(bytes, offset)
    }

    pub fn set_len(&self, file: &File, path: &Path, length: u64) -> std::io::Result<()> {
        self.before(FileOperation::SetLength { path, length })?;
        file.set_len(length)
    }

    pub fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        self.before(FileOperation::SyncData { path })?;
        file.sync_data()
    }

    pub fn sync_all(&self, file: &File, path: &Path) -> std::io::Result<()> {
        self.before(FileOperation::SyncAll { path })?;
        file.sync_all()
    }

    pub fn sync_directory(&self, path: &Path) -> std::io::Result<()> {
        self.before(FileOperation::SyncDirectory { path })?;
        File::open(path).and_then(|directory| directory.sync_all())
    }

    pub fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.before(FileOperation::Rename { from, to })?;
        fs::rename(from, to)
    }

    pub fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.before(FileOperation::Remove { path })?;
        fs::remove_file(path)
    }
}
