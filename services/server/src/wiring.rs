//! The binary's wiring: the embedded store in a data directory, the application core over it,
//! the gRPC front end and, when asked for, the public pages, until told to stop. Nothing depends on this crate: tests and
//! benchmarks wire the same parts themselves.

use anyhow::Context;
use klero_api::{GrpcFrontEnd, ServerLimits};
use klero_application::{ApplicationConfig, CheckpointPolicy, Clock, OpenVerification, Running};
use klero_ledger::checkpoint::LogSigningKey;
use klero_log::{LogConfig, TreeLeaves};
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use klero_store_postgres::PostgresStore;
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
    /// A PostgreSQL database for the log instead of the embedded store (`--store`).
    pub postgres: Option<String>,
    /// With `postgres`: the key-encryption keys' directory (`--key-encryption-keys`); by
    /// default `key-encryption-keys` in the data directory, right for a single server.
    pub key_encryption_keys: Option<PathBuf>,
    pub checkpoints: CheckpointPolicy,
    /// How much of the log to verify again on start.
    pub open: OpenVerification,
    /// Witnesses asked to cosign every checkpoint (none: checkpoints carry the log's
    /// signature only).
    pub witnesses: Vec<klero_transparency::WitnessEndpoint>,
    /// How many witnesses' cosignatures visitors' browsers require (pages state the policy).
    pub witness_quorum: u64,
    /// Serve gRPC and the pages over TLS (`--tls-cert`, `--tls-key`, `--tls-client-ca`).
    pub tls: Option<klero_application::ServerTls>,
}

/// How long one request to a witness may take; a witness that is down costs a round this long.
pub const WITNESS_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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

/// Opens the store (the embedded one in the data directory, or PostgreSQL when
/// `config.postgres` names a database) and serves gRPC (and the pages, if asked) until
/// `shutdown` resolves; [`Running::stopped`] then resolves once the store is closed.
pub async fn start(
    config: ServerConfig,
    listeners: impl Into<Listeners>,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    match config.postgres.clone() {
        None => {
            let store = Arc::new(
                EmbeddedStore::open(&config.data_dir, config.store_options.clone())
                    .await
                    .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
            );
            let recovery = store.recovery_report();
            tracing::info!(events = recovery.events, segments = recovery.segments, truncated = ?recovery.truncated_tail, "store opened");
            start_on(store, config, listeners.into(), clock, shutdown).await
        }
        #[cfg(feature = "kurrentdb")]
        Some(url) if url.starts_with("kurrentdb://") || url.starts_with("esdb://") => {
            let store = Arc::new(
                klero_store_kurrentdb::adapter::KurrentStore::connect(&url)
                    .await
                    .with_context(|| format!("connecting to the KurrentDB store {}", redacted(&url)))?,
            );
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("creating {}", config.data_dir.display()))?;
            start_on(store, config, listeners.into(), clock, shutdown).await
        }
        #[cfg(not(feature = "kurrentdb"))]
        Some(url) if url.starts_with("kurrentdb://") || url.starts_with("esdb://") => {
            anyhow::bail!("this klero was built without the KurrentDB adapter: build it with --features kurrentdb")
        }
        Some(url) => {
            let listeners = listeners.into();
            // Servers that are not the writer name it in their answers to appends, as the URL a
            // client follows (klero-client does).
            let scheme = if config.tls.is_some() { "https" } else { "http" };
            let options = klero_store_postgres::PostgresStoreOptions {
                advertise: format!("{scheme}://{}", listeners.grpc.local_addr()?),
                key_encryption_keys: Some(
                    config.key_encryption_keys.clone().unwrap_or_else(|| config.data_dir.join("key-encryption-keys")),
                ),
                ..Default::default()
            };
            let store = Arc::new(
                PostgresStore::connect(&url, options)
                    .await
                    .with_context(|| format!("connecting to the PostgreSQL store {}", redacted(&url)))?,
            );
            // The data directory holds only what is derived from the log (the Merkle tree's
            // leaf file), so each server on a shared database has its own.
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("creating {}", config.data_dir.display()))?;
            tracing::info!(store = %redacted(&url), "PostgreSQL store connected");
            start_on(store, config, listeners, clock, shutdown).await
        }
    }
}

/// A connection string with any password replaced, for logs and errors.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url
            .split_whitespace()
            .map(|part| if part.starts_with("password=") { "password=***" } else { part })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

async fn start_on(
    store: Arc<dyn klero_store::EventStore>,
    config: ServerConfig,
    listeners: Listeners,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let Listeners { grpc: listener, http } = listeners;
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
        witness_statement: klero_transparency::witness_statement(&config.witnesses, config.witness_quorum),
        ..ApplicationConfig::new(config.trust_root, clock)
    };
    let mut front_ends: Vec<Box<dyn klero_application::FrontEnd>> =
        vec![Box::new(GrpcFrontEnd { listener, limits: config.limits, tls: config.tls.clone() })];
    if let Some(listener) = http {
        front_ends.push(Box::new(klero_web::HttpFrontEnd {
            listener,
            limits: Default::default(),
            tls: config.tls.clone(),
        }));
    }
    if !config.witnesses.is_empty() {
        front_ends.push(Box::new(klero_transparency::WitnessCosigner::new(config.witnesses, WITNESS_REQUEST_TIMEOUT)));
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

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(super::redacted("postgres://klero:secret@db1,db2/klero"), "postgres://klero:***@db1,db2/klero");
        assert_eq!(super::redacted("postgres://klero@db/klero"), "postgres://klero@db/klero");
        assert_eq!(super::redacted("host=db user=klero password=secret"), "host=db user=klero password=***");
    }
}
