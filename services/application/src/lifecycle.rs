//! Start and stop: open the log and the core, run the background tasks and the front ends,
//! and on shutdown stop them in order, then close the store.

use crate::publisher::{self, PublisherHandle};
use crate::snapshot::{self, OpenVerification, SnapshotPolicy};
use crate::{Application, ApplicationConfig, ApplicationError};
use async_trait::async_trait;
use klero_log::{LogConfig, LogError, TransparencyLog, VerifiedPrefix};
use klero_store::EventStore;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// Why a front end stopped serving.
pub type FrontEndError = Box<dyn std::error::Error + Send + Sync>;

/// A front end: a mapping of some transport (gRPC, HTTP) onto the core. It serves on its own
/// listener until told to stop, then lets the requests in progress finish.
#[async_trait]
pub trait FrontEnd: Send {
    /// A short name for logs, e.g. `grpc`.
    fn name(&self) -> &'static str;
    /// Serves until `shutdown` is signalled, then returns once requests in progress finished.
    async fn serve(self: Box<Self>, application: Arc<Application>, shutdown: Shutdown) -> Result<(), FrontEndError>;
}

/// TLS material for a front end (`klero serve --tls-cert … --tls-key …`), as PEM: the
/// front end builds its own TLS configuration from it, so the core carries no TLS library.
#[derive(Clone)]
pub struct ServerTls {
    /// The certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// With it, clients must present a certificate issued by this CA.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("ServerTls").field("client_ca", &self.client_ca_pem.is_some()).finish_non_exhaustive()
    }
}

/// The stop signal every front end and background task watches.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once a stop was asked for.
    pub async fn signalled(mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// A running core with its front ends.
pub struct Running {
    application: Arc<Application>,
    stopped: tokio::task::JoinHandle<Result<(), FrontEndError>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("application", &self.application).finish_non_exhaustive()
    }
}

impl Running {
    /// The core, for in-process callers (tests, benchmarks, the demonstration).
    pub fn application(&self) -> &Arc<Application> {
        &self.application
    }

    /// Waits until everything stopped after the shutdown signal: the front ends, then the
    /// follower and the publisher (which publishes a last checkpoint), then the store. The
    /// error of the first front end that failed, if any.
    pub async fn stopped(self) -> Result<(), FrontEndError> {
        drop(self.application);
        self.stopped.await.map_err(|e| -> FrontEndError { Box::new(e) })?
    }
}

/// Opens the log over `store` and the core over it (from the latest valid snapshot, unless
/// `config.open` asks for a full verification), starts the follower, the checkpoint publisher,
/// the snapshot writer and every front end, and returns. Everything runs until `shutdown`
/// resolves or a front end fails; then [`Running::stopped`] resolves once all of it has
/// stopped, a last checkpoint and snapshot are written, and the store is closed.
pub async fn start(
    store: Arc<dyn EventStore>,
    log_config: LogConfig,
    config: ApplicationConfig,
    front_ends: Vec<Box<dyn FrontEnd>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, ApplicationError> {
    let (log, restored) = open_log(&store, log_config, config.open, config.table_spill.clone()).await?;
    let log = Arc::new(log);
    tracing::info!(size = log.size(), verifier_key = %log.verifier_key().to_vkey_string(), "log opened");
    let checkpoints = config.checkpoints.clone();
    let snapshots = config.snapshots.clone();
    let application = Arc::new(Application::open(store.clone(), log.clone(), config, restored).await?);
    let (stop, stop_signal) = watch::channel(false);
    let follower = tokio::spawn(application.clone().follow(stop_signal.clone()));
    let publisher_handle: Arc<PublisherHandle> = application.publisher.clone();
    // The publisher stops last, on its own signal, so that its last checkpoint covers every
    // append the front ends finished while they drained.
    let (stop_publishing, publishing_stop) = watch::channel(false);
    let publisher = tokio::spawn(publisher::run(log.clone(), checkpoints, publisher_handle, publishing_stop));
    let snapshot_writer = tokio::spawn(write_snapshots(application.clone(), snapshots.clone(), stop_signal.clone()));
    let document_collector = tokio::spawn(crate::documents::collect_garbage(application.clone(), stop_signal.clone()));
    let erasure_completer = tokio::spawn(application.clone().complete_erasures(stop_signal.clone()));
    let mut serving = tokio::task::JoinSet::new();
    for front_end in front_ends {
        let name = front_end.name();
        let (application, shutdown) = (application.clone(), Shutdown(stop_signal.clone()));
        serving.spawn(async move { (name, front_end.serve(application, shutdown).await) });
    }
    let stopping = application.clone();
    let stopped = tokio::spawn(async move {
        let mut first_failure: Option<FrontEndError> = None;
        tokio::pin!(shutdown);
        // Run until asked to stop, or until a front end stops on its own (a failure).
        tokio::select! {
            _ = &mut shutdown => {}
            Some(finished) = serving.join_next() => {
                first_failure = outcome(finished);
            }
        }
        let _ = stop.send(true);
        while let Some(finished) = serving.join_next().await {
            let failure = outcome(finished);
            first_failure = first_failure.or(failure);
        }
        let _ = follower.await;
        let _ = snapshot_writer.await;
        let _ = document_collector.await;
        let _ = erasure_completer.await;
        // Nothing appends any more: fold the rest, and leave a snapshot of the whole log so that
        // the next start verifies nothing again.
        if snapshots.events > 0 {
            let written = async {
                stopping.sync_fold().await?;
                stopping.write_snapshot(0).await
            };
            if let Err(error) = written.await {
                tracing::warn!(%error, "no snapshot on stop; the next start verifies more");
            }
        }
        let _ = stop_publishing.send(true);
        let _ = publisher.await;
        drop(stopping);
        drop(log);
        store.close().await;
        tracing::info!("stopped; store closed");
        first_failure.map_or(Ok(()), Err)
    });
    Ok(Running { application, stopped })
}

/// Opens the log, from the store's snapshot if it is valid and asked for; the fold the snapshot
/// holds, if one was taken up.
async fn open_log(
    store: &Arc<dyn EventStore>,
    log_config: LogConfig,
    open: OpenVerification,
    spill: Option<Arc<dyn klero_domain::spill::SpillFiles>>,
) -> Result<(TransparencyLog, Option<(klero_fold::LogFold, snapshot::KeptRows)>), ApplicationError> {
    let opened = match open {
        OpenVerification::Full => None,
        OpenVerification::FromSnapshot => match store.load_snapshot().await? {
            None => None,
            Some(bytes) => match snapshot::open(&log_config.log_key.verifier(), &bytes, store.as_ref(), spill) {
                Ok(opened) => Some(opened),
                Err(reason) => {
                    tracing::warn!(%reason, "the stored snapshot is refused; verifying the whole log");
                    None
                }
            },
        },
    };
    let Some(opened) = opened else {
        return Ok((TransparencyLog::open(store.clone(), log_config).await?, None));
    };
    let prefix = VerifiedPrefix {
        tree_size: opened.tree_size,
        root_hash: opened.root_hash,
        stream_heads: opened.fold.stream_heads(),
    };
    let from_snapshot = LogConfig { verified_prefix: Some(prefix), ..log_config.clone() };
    // The log (its leaves, and the events after the snapshot) and the snapshot's rows are
    // work of their own: the log opens on a task of its own while the rows are taken up
    // here (klero-bench scale: a second off a start at 10 million events).
    let log_opening = tokio::spawn(TransparencyLog::open(store.clone(), from_snapshot));
    let taken_up = opened.take_up_rows(store.as_ref()).await;
    let log_opened =
        log_opening.await.map_err(|e| ApplicationError::Internal { reason: format!("opening the log failed: {e}") })?;
    let snapshot = match taken_up {
        Ok(snapshot) => snapshot,
        Err(reason) => {
            tracing::warn!(%reason, "the stored snapshot is refused; verifying the whole log");
            return Ok((TransparencyLog::open(store.clone(), log_config).await?, None));
        }
    };
    match log_opened {
        Ok(log) => {
            tracing::info!(
                tree_size = snapshot.tree_size,
                "took up the snapshot; verified in full only what came after"
            );
            Ok((log, Some((snapshot.fold, snapshot.kept))))
        }
        Err(error @ LogError::VerifiedPrefixDiffers { .. }) => {
            tracing::warn!(%error, "the snapshot does not match the stored log; verifying the whole log");
            Ok((TransparencyLog::open(store.clone(), log_config).await?, None))
        }
        Err(error) => Err(error.into()),
    }
}

/// Writes a snapshot whenever the fold moved [`SnapshotPolicy::events`] past the last one. A
/// snapshot costs the fold's text, which does not grow with submissions, and the rows added
/// since the last (FORMAT.md §6.1), so its cost per event stays bounded (`klero-bench
/// scale`). A crash then verifies at most that many events again.
async fn write_snapshots(application: Arc<Application>, policy: SnapshotPolicy, mut stop: watch::Receiver<bool>) {
    if policy.events == 0 {
        return;
    }
    let mut size = application.log.size_watch();
    let mut last = application.folded_events();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            changed = size.changed() => if changed.is_err() { return },
        }
        if application.folded_events() < last + policy.events {
            continue;
        }
        match application.write_snapshot(last).await {
            Ok(covered) => last = covered,
            // The fold's text outgrew what the store keeps as a snapshot (residents' own
            // submissions still grow it), and it only grows: trying again would serialise it
            // in vain at every interval. The clean stop still tries.
            Err(error @ ApplicationError::LimitExceeded { .. }) => {
                tracing::error!(%error, "the fold is too large to keep as a snapshot; no more periodic snapshots, so a start verifies everything after the last one");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "a snapshot could not be written; the next start verifies more");
                // Not again at once: at the next interval.
                last = application.folded_events();
            }
        }
    }
}

fn outcome(
    finished: Result<(&'static str, Result<(), FrontEndError>), tokio::task::JoinError>,
) -> Option<FrontEndError> {
    match finished {
        Ok((_, Ok(()))) => None,
        Ok((name, Err(error))) => {
            tracing::error!(front_end = name, %error, "a front end failed; stopping");
            Some(error)
        }
        Err(error) => {
            tracing::error!(%error, "a front end task failed; stopping");
            Some(Box::new(error))
        }
    }
}
