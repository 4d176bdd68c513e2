//! The one wiring of a server: the store (embedded in a data directory, or PostgreSQL), the
//! transparency log over it, the core, and its front ends (gRPC always; the public pages and
//! the witness cosigner when asked for), until told to stop. `klero serve`, the black-box tests
//! and the benchmarks all start servers through [`start`] or [`start_on`], so what they test
//! and measure is what `klero serve` runs.

pub mod scratch;

use klero_api::{GrpcFrontEnd, ServerLimits};
use klero_application::{
    ApplicationConfig, ApplicationError, CheckpointPolicy, Clock, FrontEnd, OpenVerification, Running, ServerTls,
};
use klero_ledger::checkpoint::LogSigningKey;
use klero_log::{LogConfig, TreeLeaves};
use klero_store::{EventStore, StoreError};
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

/// How long one request to a witness may take; a witness that is down costs a round this long.
pub const WITNESS_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Changes to the core's defaults beyond what [`ServerConfig`] names (tests and benchmarks
/// shorten intervals and limits with it).
#[derive(Clone)]
pub struct TuneApplication(pub Arc<dyn Fn(&mut ApplicationConfig) + Send + Sync>);

impl std::fmt::Debug for TuneApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TuneApplication(..)")
    }
}

/// The key that signs the pages' plain-form submissions.
pub use klero_web::IntakeKey;

/// Everything a server needs.
#[derive(Debug)]
pub struct ServerConfig {
    /// The embedded store, the latest checkpoint and the Merkle tree's leaf file live here
    /// (only the leaf file with another store).
    pub data_dir: PathBuf,
    /// The council's public key: the only key that may grant or revoke roles.
    pub trust_root: [u8; 32],
    /// Signs checkpoints; its name is the log's origin.
    pub log_key: LogSigningKey,
    pub limits: ServerLimits,
    pub pages_limits: klero_web::HttpLimits,
    pub store_options: EmbeddedStoreOptions,
    /// A PostgreSQL (or, with the `kurrentdb` feature, KurrentDB) database for the log instead
    /// of the embedded store (`--store`).
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
    pub tls: Option<ServerTls>,
    pub tune: Option<TuneApplication>,
    /// Signs what residents send through the pages' plain form (`--intake-key`); the trust
    /// root grants it the intake role. Without it the pages take no form submissions.
    pub intake_key: Option<klero_web::IntakeKey>,
    /// Tell residents by email what became of their submissions (`--smtp`, `--notify-print`);
    /// the outbox is kept in the data directory.
    pub notify: Option<klero_notify::NotifyConfig>,
}

impl ServerConfig {
    /// The defaults of `klero serve` for a data directory, a council and a log key.
    pub fn new(data_dir: impl Into<PathBuf>, trust_root: [u8; 32], log_key: LogSigningKey) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            trust_root,
            log_key,
            limits: ServerLimits::default(),
            pages_limits: klero_web::HttpLimits::default(),
            store_options: EmbeddedStoreOptions::default(),
            postgres: None,
            key_encryption_keys: None,
            checkpoints: CheckpointPolicy::default(),
            open: OpenVerification::default(),
            witnesses: Vec::new(),
            witness_quorum: 1,
            tls: None,
            tune: None,
            intake_key: None,
            notify: None,
        }
    }
}

/// The log's settings for a data directory: the one place that names the leaf file.
pub fn log_config(log_key: LogSigningKey, data_dir: &std::path::Path) -> LogConfig {
    LogConfig { tree_leaves: TreeLeaves::in_directory(data_dir), ..LogConfig::new(log_key) }
}

/// Where to serve: gRPC and the public pages (HTTP), each when a listener is given (a server
/// with neither serves nothing but keeps its log: the open benchmark).
#[derive(Debug, Default)]
pub struct Listeners {
    pub grpc: Option<TcpListener>,
    pub http: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Listeners {
        Listeners { grpc: Some(grpc), http: None }
    }
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the store in {}: {source}", directory.display())]
    OpenStore { directory: PathBuf, source: StoreError },
    #[error("connecting to the {engine} store {url}: {source}")]
    Connect { engine: &'static str, url: String, source: StoreError },
    #[error("this klero was built without the KurrentDB adapter: build it with --features kurrentdb")]
    NoKurrentDb,
    #[error("creating {}: {source}", path.display())]
    CreateDirectory { path: PathBuf, source: std::io::Error },
    #[error("reading the listener's address: {0}")]
    Listener(std::io::Error),
    #[error("opening the log: {0}")]
    Open(#[from] ApplicationError),
}

/// Opens the store (the embedded one in the data directory, or the database `config.postgres`
/// names) and serves until `shutdown` resolves; [`Running::stopped`] then resolves once the
/// store is closed.
pub async fn start(
    config: ServerConfig,
    listeners: impl Into<Listeners>,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let listeners = listeners.into();
    let Some(url) = config.postgres.clone() else {
        let store = EmbeddedStore::open(&config.data_dir, config.store_options.clone())
            .await
            .map_err(|source| StartError::OpenStore { directory: config.data_dir.clone(), source })?;
        let recovery = store.recovery_report();
        tracing::info!(events = recovery.events, segments = recovery.segments, truncated = ?recovery.truncated_tail, "store opened");
        return start_on(Arc::new(store), config, listeners, clock, shutdown).await;
    };
    let store: Arc<dyn EventStore> = if url.starts_with("kurrentdb://") || url.starts_with("esdb://") {
        connect_kurrentdb(&url).await?
    } else {
        // Servers that are not the writer name it in their answers to appends, as the URL a
        // client follows (klero-client does).
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let advertise = match &listeners.grpc {
            Some(grpc) => format!("{scheme}://{}", grpc.local_addr().map_err(StartError::Listener)?),
            None => String::new(),
        };
        let options = klero_store_postgres::PostgresStoreOptions {
            advertise,
            key_encryption_keys: Some(
                config.key_encryption_keys.clone().unwrap_or_else(|| config.data_dir.join("key-encryption-keys")),
            ),
            ..Default::default()
        };
        let store = PostgresStore::connect(&url, options).await.map_err(|source| StartError::Connect {
            engine: "PostgreSQL",
            url: redacted(&url),
            source,
        })?;
        tracing::info!(store = %redacted(&url), "PostgreSQL store connected");
        Arc::new(store)
    };
    // The data directory holds only what is derived from the log (the Merkle tree's leaf
    // file), so each server on a shared database has its own.
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| StartError::CreateDirectory { path: config.data_dir.clone(), source })?;
    start_on(store, config, listeners, clock, shutdown).await
}

#[cfg(feature = "kurrentdb")]
async fn connect_kurrentdb(url: &str) -> Result<Arc<dyn EventStore>, StartError> {
    let store = klero_store_kurrentdb::adapter::KurrentStore::connect(url)
        .await
        .map_err(|source| StartError::Connect { engine: "KurrentDB", url: redacted(url), source })?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "kurrentdb"))]
async fn connect_kurrentdb(_url: &str) -> Result<Arc<dyn EventStore>, StartError> {
    Err(StartError::NoKurrentDb)
}

/// Serves on a store the caller opened (a test that keeps a handle on it, a benchmark's
/// PostgreSQL): the log, the core and the front ends that `config` and `listeners` ask for.
pub async fn start_on(
    store: Arc<dyn EventStore>,
    config: ServerConfig,
    listeners: Listeners,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let scratch = scratch::ScratchDirectory::in_data_directory(&config.data_dir).map_err(|source| {
        StartError::CreateDirectory { path: config.data_dir.join(scratch::SCRATCH_DIRECTORY), source }
    })?;
    let mut application = ApplicationConfig {
        checkpoints: config.checkpoints,
        open: config.open,
        witness_statement: klero_transparency::witness_statement(&config.witnesses, config.witness_quorum),
        table_spill: Some(scratch),
        ..ApplicationConfig::new(config.trust_root, clock)
    };
    if let Some(TuneApplication(tune)) = &config.tune {
        tune(&mut application);
    }
    let mut front_ends: Vec<Box<dyn FrontEnd>> = Vec::new();
    let mut address = None;
    if let Some(listener) = listeners.grpc {
        address = Some(listener.local_addr().map_err(StartError::Listener)?);
        front_ends.push(Box::new(GrpcFrontEnd { listener, limits: config.limits, tls: config.tls.clone() }));
    }
    if let Some(listener) = listeners.http {
        front_ends.push(Box::new(klero_web::HttpFrontEnd {
            listener,
            limits: config.pages_limits,
            tls: config.tls.clone(),
            intake: config.intake_key.clone(),
        }));
    }
    if let Some(notify) = config.notify {
        let outbox = klero_notify::Outbox::in_directory(&config.data_dir);
        front_ends.push(Box::new(klero_notify::Notifier::new(notify, outbox)));
    }
    if !config.witnesses.is_empty() {
        front_ends.push(Box::new(klero_transparency::WitnessCosigner::new(config.witnesses, WITNESS_REQUEST_TIMEOUT)));
    }
    let log_config = log_config(config.log_key, &config.data_dir);
    let running = klero_application::start(store, log_config, application, front_ends, shutdown).await?;
    if let Some(address) = address {
        tracing::info!(%address, "listening");
    }
    Ok(running)
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
