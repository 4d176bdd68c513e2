//! [`FaultyDisk`]: a [`FileOperationHook`] for tests that records every operation with what it
//! wrote, and fails the ones a [`Fault`] names.

use super::{FileOperation, FileOperationHook, OperationKind};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `EIO` on Linux: the device failed the operation.
pub const EIO: i32 = 5;
/// `ENOSPC` on Linux: no space left on the device.
pub const ENOSPC: i32 = 28;

/// A fault to inject: the `skip + 1`-th operation of `kind` whose path contains
/// `path_contains` fails with the system error `errno`, and so does every later one that
/// matches (a failing disk keeps failing).
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: OperationKind,
    pub path_contains: String,
    pub skip: usize,
    pub errno: i32,
}

/// One operation as recorded, with what it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordedOperation {
    CreateDirectory { path: PathBuf },
    CreateFile { path: PathBuf },
    Write { path: PathBuf, offset: u64, bytes: Vec<u8> },
    SetLength { path: PathBuf, length: u64 },
    SyncData { path: PathBuf },
    SyncAll { path: PathBuf },
    SyncDirectory { path: PathBuf },
    Rename { from: PathBuf, to: PathBuf },
    Remove { path: PathBuf },
}

impl RecordedOperation {
    fn of(operation: &FileOperation<'_>) -> RecordedOperation {
        match *operation {
            FileOperation::CreateDirectory { path } => RecordedOperation::CreateDirectory { path: path.into() },
            FileOperation::CreateFile { path } => RecordedOperation::CreateFile { path: path.into() },
            FileOperation::Write { path, offset, bytes } => {
                RecordedOperation::Write { path: path.into(), offset, bytes: bytes.to_vec() }
            }
            FileOperation::SetLength { path, length } => RecordedOperation::SetLength { path: path.into(), length },
            FileOperation::SyncData { path } => RecordedOperation::SyncData { path: path.into() },
            FileOperation::SyncAll { path } => RecordedOperation::SyncAll { path: path.into() },
            FileOperation::SyncDirectory { path } => RecordedOperation::SyncDirectory { path: path.into() },
            FileOperation::Rename { from, to } => RecordedOperation::Rename { from: from.into(), to: to.into() },
            FileOperation::Remove { path } => RecordedOperation::Remove { path: path.into() },
        }
    }

    /// Makes the operation again under `root` (its paths made relative to `recorded_root`),
    /// with a write cut to its first `torn` bytes if given. Syncs change nothing here: the
    /// files are rebuilt as they were after the operations up to this one.
    pub fn replay(&self, recorded_root: &Path, root: &Path, torn: Option<usize>) -> std::io::Result<()> {
        let at = |path: &Path| -> PathBuf {
            root.join(path.strip_prefix(recorded_root).expect("the operation is under the recorded root"))
        };
        match self {
            RecordedOperation::CreateDirectory { path } => fs::create_dir_all(at(path)),
            RecordedOperation::CreateFile { path } => File::create(at(path)).map(drop),
            RecordedOperation::Write { path, offset, bytes } => {
                let bytes = &bytes[..torn.unwrap_or(bytes.len()).min(bytes.len())];
                OpenOptions::new().write(true).open(at(path))?.write_all_at(bytes, *offset)
            }
            RecordedOperation::SetLength { path, length } => {
                OpenOptions::new().write(true).open(at(path))?.set_len(*length)
            }
            RecordedOperation::Rename { from, to } => fs::rename(at(from), at(to)),
            RecordedOperation::Remove { path } => fs::remove_file(at(path)),
            RecordedOperation::SyncData { .. }
            | RecordedOperation::SyncAll { .. }
            | RecordedOperation::SyncDirectory { .. } => Ok(()),
        }
    }
}

/// A hook for tests: records every operation, and injects [`Fault`]s.
#[derive(Debug, Default)]
pub struct FaultyDisk {
    state: Mutex<FaultyDiskState>,
}

#[derive(Debug, Default)]
struct FaultyDiskState {
    recording: bool,
    recorded: Vec<RecordedOperation>,
    faults: Vec<(Fault, usize)>,
    injected: Vec<String>,
}

impl FaultyDisk {
    /// A hook that records every operation from now on.
    pub fn recording() -> Arc<FaultyDisk> {
        let disk = FaultyDisk::default();
        disk.lock().recording = true;
        Arc::new(disk)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultyDiskState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// From now on, the operations `fault` names fail.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push((fault, 0));
    }

    /// The operations recorded so far.
    pub fn recorded(&self) -> Vec<RecordedOperation> {
        self.lock().recorded.clone()
    }

    /// Each fault that fired, described: the operation, the path and the error.
    pub fn injected(&self) -> Vec<String> {
        self.lock().injected.clone()
    }
}

impl FileOperationHook for FaultyDisk {
    fn before(&self, operation: &FileOperation<'_>) -> std::io::Result<()> {
        let mut state = self.lock();
        let path = operation.path().to_string_lossy().into_owned();
        let mut failing = None;
        for (fault, seen) in &mut state.faults {
            if fault.kind == operation.kind() && path.contains(&fault.path_contains) {
                *seen += 1;
                if *seen > fault.skip {
                    failing = Some(fault.errno);
                    break;
                }
            }
        }
        if let Some(errno) = failing {
            let error = std::io::Error::from_raw_os_error(errno);
            state.injected.push(format!("{:?} of {path}: {error}", operation.kind()));
            return Err(error);
        }
        if state.recording {
            state.recorded.push(RecordedOperation::of(operation));
        }
        Ok(())
    }
}
