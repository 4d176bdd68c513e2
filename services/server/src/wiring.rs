//! The binary's wiring: the embedded store in a data directory, the application core over it,
//! the gRPC front end and, when asked for, the public pages, until told to stop. Nothing depends on this crate: tests and
//! benchmarks wire the same parts themselves.

use anyhow::Context;
use klero_api::{GrpcFrontEnd, ServerLimits};
use klero_application::{ApplicationConfig, CheckpointPolicy, Clock, OpenVerification, Running};
use klero_ledger::checkpoint::LogSigningKey;
use klero_log::{LogConfig, TreeLeaves};
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The runtime `klero` runs on: one async worker per core (two per core were tried:
/// BENCHMARKS.md, `grpc`).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Everything `klero serve` needs.
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
    pub checkpoints: CheckpointPolicy,
    /// How much of the log to verify again on start.
    pub open: OpenVerification,
}

/// The leaf hashes of the log's Merkle tree, in the data directory: derived from the segments
/// and rewritten on every start.
pub const TREE_LEAVES_FILE: &str = "tree-leaves";

/// Where to serve: gRPC always, the public pages (HTTP) when a listener is given.
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Listeners {
        Listeners { grpc, http: None }
    }
}

/// Opens the embedded store in the data directory and serves gRPC (and the pages, if asked)
/// until `shutdown` resolves; [`Running::stopped`] then resolves once the store is closed.
pub async fn start(
    config: ServerConfig,
    listeners: impl Into<Listeners>,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running<EmbeddedStore>> {
    let store = Arc::new(
        EmbeddedStore::open(&config.data_dir, config.store_options.clone())
            .await
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let recovery = store.recovery_report();
    tracing::info!(events = recovery.events, segments = recovery.segments, truncated = ?recovery.truncated_tail, "store opened");
    let Listeners { grpc: listener, http } = listeners.into();
    let address = listener.local_addr()?;
    let log_config = LogConfig {
        log_key: config.log_key,
        verify_signatures_on_open: true,
        verified_prefix: None,
        tree_leaves: TreeLeaves::File(config.data_dir.join(TREE_LEAVES_FILE)),
    };
    let application = ApplicationConfig {
        checkpoints: config.checkpoints,
        open: config.open,
        ..ApplicationConfig::new(config.trust_root, clock)
    };
    let mut front_ends: Vec<Box<dyn klero_application::FrontEnd<EmbeddedStore>>> =
        vec![Box::new(GrpcFrontEnd { listener, limits: config.limits })];
    if let Some(listener) = http {
        front_ends.push(Box::new(klero_web::HttpFrontEnd { listener, limits: Default::default() }));
    }
    let running = klero_application::start(store, log_config, application, front_ends, shutdown)
        .await
        .context("opening the log")?;
    tracing::info!(%address, "listening");
    Ok(running)
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
