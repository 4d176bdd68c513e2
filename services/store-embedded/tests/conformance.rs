//! The embedded store passes the shared conformance suite.

use async_trait::async_trait;
use klero_store_conformance::{run_all, StoreUnderTest};
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use std::sync::Arc;

struct EmbeddedStores {
    /// Kept alive until the suite ends, then removed.
    directories: Vec<tempfile::TempDir>,
}

#[async_trait]
impl StoreUnderTest for EmbeddedStores {
    type Store = EmbeddedStore;
    async fn fresh_store(&mut self) -> Arc<EmbeddedStore> {
        let directory = tempfile::tempdir().expect("temp dir");
        // Small segments so the suite also crosses segment boundaries.
        let options = EmbeddedStoreOptions { segment_bytes_max: 64 * 1024, ..Default::default() };
        let store = EmbeddedStore::open(directory.path(), options).await.expect("open");
        self.directories.push(directory);
        Arc::new(store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_passes_the_conformance_suite() {
    run_all(&mut EmbeddedStores { directories: Vec::new() }).await;
}
