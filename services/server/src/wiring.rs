//! Opens the embedded store and the transparency log in a data directory, builds the services,
//! and serves them until told to stop, then closes the store cleanly.

use anyhow::Context;
use klero_api::{Clock, Kleroterion, ServerLimits};
use klero_ledger::checkpoint::LogSigningKey;
use klero_log::{LogConfig, TransparencyLog};
use klero_store::{EmbeddedStore, EmbeddedStoreOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The runtime `klero` runs on, and the one the gRPC benchmark hosts its server on: one async
/// worker per core (two per core were tried: BENCHMARKS.md, `grpc`).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Everything a server needs.
#[derive(Debug)]
pub struct ServerConfig {
    /// The embedded store and the latest checkpoint live here.
    pub data_dir: PathBuf,
    /// The council's public key: the only key that may grant or revoke roles.
    pub trust_root: [u8; 32],
    /// Signs checkpoints; its name is the log's origin.
    pub log_key: LogSigningKey,
    pub limits: ServerLimits,
    pub store_options: EmbeddedStoreOptions,
}

/// A server running in this process.
pub struct RunningServer {
    /// The address it listens on.
    pub address: SocketAddr,
    /// The store, for operators' tools and for tests that take it down under a live server.
    pub store: Arc<EmbeddedStore>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer").field("address", &self.address).finish()
    }
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops accepting, lets in-flight requests finish, closes the store, and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.context("server task")?
    }
}

/// Opens everything and starts serving on `listener`.
pub async fn start(config: ServerConfig, listener: TcpListener, clock: Clock) -> anyhow::Result<RunningServer> {
    let address = listener.local_addr()?;
    let store = Arc::new(
        EmbeddedStore::open(&config.data_dir, config.store_options.clone())
            .await
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let recovery = store.recovery_report();
    tracing::info!(events = recovery.events, segments = recovery.segments, truncated = ?recovery.truncated_tail, "store opened");
    let log_config = LogConfig {
        log_key: config.log_key,
        checkpoint_file: Some(config.data_dir.join("checkpoint")),
        verify_signatures_on_open: true,
    };
    let log = Arc::new(TransparencyLog::open(store.clone(), log_config).await.context("opening the log")?);
    tracing::info!(size = log.size(), root = %log.root(), verifier_key = %log.verifier_key().to_vkey_string(), "log verified and opened");
    let service = Arc::new(
        Kleroterion::new(log, config.trust_root, clock).await.map_err(|s| anyhow::anyhow!("{}", s.message()))?,
    );
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let limits = config.limits;
    let store_handle = store.clone();
    let task = tokio::spawn(async move {
        let result = klero_api::serve(listener, service, limits, async {
            let _ = shutdown_signal.await;
        })
        .await;
        // Every request has finished and the services are dropped: close the store cleanly.
        store.close().await;
        tracing::info!("server stopped; store closed");
        result.context("serving")
    });
    tracing::info!(%address, "listening");
    Ok(RunningServer { address, store: store_handle, shutdown, task })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
