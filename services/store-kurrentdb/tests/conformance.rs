//! The KurrentDB adapter against a real node: only with the `kurrentdb` feature and
//! `KURRENTDB_URL` set (e.g. `kurrentdb://localhost:2113?tls=false`). It has never run here: no
//! KurrentDB server can run on the project's machines. Without the URL the test says so and
//! fails, rather than pass without a server.

#![cfg(feature = "kurrentdb")]

use async_trait::async_trait;
use klero_store_conformance::{run_all, StoreUnderTest};
use klero_store_kurrentdb::adapter::KurrentStore;
use std::sync::Arc;

struct KurrentStores {
    url: String,
}

#[async_trait]
impl StoreUnderTest for KurrentStores {
    type Store = KurrentStore;
    async fn fresh_store(&mut self) -> Arc<KurrentStore> {
        // A fresh node per case is what the suite assumes: run each case against an empty node.
        Arc::new(KurrentStore::connect(&self.url).await.expect("connect"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kurrentdb_adapter_passes_the_conformance_suite() {
    let url = std::env::var("KURRENTDB_URL")
        .expect("set KURRENTDB_URL to a KurrentDB node (an empty one) to run the adapter's conformance suite");
    run_all(&mut KurrentStores { url }).await;
}
