//! Helpers shared by the log's tests: real stores in temp dirs and signed events.

#![allow(dead_code)]

use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::{Hash256, SigningKey};
use klero_log::{LogConfig, TransparencyLog};
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use std::path::Path;
use std::sync::Arc;

pub fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

pub fn log_config() -> LogConfig {
    LogConfig::new(LogSigningKey::new("klero.test/log", key("log key")).expect("key"))
}

/// Opens the store and the log over it. The log keeps its store private: the test keeps a
/// handle to close it or to check what it holds.
pub async fn open_log(directory: &Path) -> Result<OpenLog, klero_log::LogError> {
    let store = Arc::new(EmbeddedStore::open(directory, EmbeddedStoreOptions::default()).await?);
    let log = TransparencyLog::open(store.clone(), log_config()).await?;
    Ok(OpenLog { store, log })
}

/// A log and its store.
#[derive(Debug)]
pub struct OpenLog {
    pub store: Arc<EmbeddedStore>,
    pub log: TransparencyLog,
}

impl std::ops::Deref for OpenLog {
    type Target = TransparencyLog;
    fn deref(&self) -> &Self::Target {
        &self.log
    }
}

pub use klero_testkit::signed_event;
