//! The outbox's durable state: how far the log has been folded, what the fold keeps, and the
//! notifications not yet sent. One JSON file, replaced atomically (written aside, synced,
//! renamed, directory synced), so that a crash leaves the old state or the new one.
//!
//! It never holds an address: each is opened from the sealed contact just before its message
//! is sent.

use crate::due::{Due, Tracker};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "outbox.json";
const FORMAT_VERSION: u32 = 1;
/// Most notifications waiting at once; beyond it the oldest are dropped, with an error in
/// the log (the relay has then been down for a long time, or the council is very busy).
pub const PENDING_MAX: usize = 100_000;

/// A notification not yet sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub due: Due,
    pub attempts: u32,
    pub next_attempt_unix_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxState {
    pub version: u32,
    /// The first log index not yet folded.
    pub next_log_index: u64,
    pub tracker: Tracker,
    pub pending: Vec<Pending>,
}

impl OutboxState {
    /// Queues notifications made due, dropping the oldest beyond [`PENDING_MAX`].
    pub fn queue(&mut self, due: Vec<Due>, now_unix_ms: u64) {
        self.pending.extend(due.into_iter().map(|due| Pending { due, attempts: 0, next_attempt_unix_ms: now_unix_ms }));
        if self.pending.len() > PENDING_MAX {
            let dropped = self.pending.len() - PENDING_MAX;
            tracing::error!(dropped, "the outbox is full: the oldest notifications are dropped unsent");
            self.pending.drain(..dropped);
        }
    }

    /// Forgets every notification for an erased submission.
    pub fn forget(&mut self, submission: &klero_ledger::Hash256) {
        self.pending.retain(|pending| pending.due.submission_event_hash != *submission);
    }
}

/// Where the state lives: `outbox/outbox.json` in the data directory.
#[derive(Clone, Debug)]
pub struct Outbox {
    directory: PathBuf,
}

impl Outbox {
    pub fn in_directory(data_dir: &Path) -> Outbox {
        Outbox { directory: data_dir.join("outbox") }
    }

    pub fn path(&self) -> PathBuf {
        self.directory.join(FILE_NAME)
    }

    /// The kept state, or a fresh one (the log folded from its start) when there is none.
    pub fn load(&self) -> std::io::Result<OutboxState> {
        match std::fs::read(self.path()) {
            Ok(bytes) => {
                let state: OutboxState = serde_json::from_slice(&bytes).map_err(|error| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} does not parse: {error}", self.path().display()),
                    )
                })?;
                if state.version != FORMAT_VERSION {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is version {}, this klero reads {FORMAT_VERSION}",
                            self.path().display(),
                            state.version
                        ),
                    ));
                }
                Ok(state)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(OutboxState { version: FORMAT_VERSION, ..Default::default() })
            }
            Err(error) => Err(error),
        }
    }

    /// Replaces the kept state, durably.
    pub fn save(&self, state: &OutboxState) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.directory)?;
        let aside = self.directory.join(format!("{FILE_NAME}.new"));
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(&serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
        file.sync_data()?;
        std::fs::rename(&aside, self.path())?;
        std::fs::File::open(&self.directory)?.sync_all()
    }
}
