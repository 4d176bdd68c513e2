//! The one publisher of checkpoints.
//!
//! A single task signs a checkpoint of the log when it has grown and has the store keep it
//! durably: on a cadence (every [`CheckpointPolicy::interval`], or as soon as
//! [`CheckpointPolicy::events`] events arrived), and whenever a reader asks for one that covers
//! more than the latest. Readers never sign or write: they read the latest published
//! checkpoint, or ask and wait. Requests that arrive while a checkpoint is being written are
//! served together by the next one, so a crowd of readers costs one signature and one durable
//! write per round, as a crowd of appends shares one fsync.

use klero_ledger::checkpoint::SignedCheckpoint;
use klero_log::TransparencyLog;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// When the publisher signs a new checkpoint on its own.
#[derive(Clone, Debug)]
pub struct CheckpointPolicy {
    /// Publish at least this often while the log grows.
    pub interval: Duration,
    /// Publish as soon as this many events arrived since the last checkpoint.
    pub events: u64,
    /// The longest a reader waits for a fresher checkpoint before it is told to retry.
    pub reader_wait_max: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        // Each publication costs a signature and two fsyncs (the file and its directory), a
        // few milliseconds; once a second keeps a restart's unverified tail short without
        // competing with appends for the disk.
        CheckpointPolicy { interval: Duration::from_secs(1), events: 4096, reader_wait_max: Duration::from_secs(10) }
    }
}

/// What the publisher has published, or why its last attempt failed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Published {
    pub(crate) checkpoint: Option<SignedCheckpoint>,
    /// The failure of the last attempt, cleared by the next success.
    pub(crate) failure: Option<String>,
    /// Attempts so far, so that a waiting reader sees each failure once.
    pub(crate) attempts: u64,
}

impl Published {
    pub(crate) fn size(&self) -> Option<u64> {
        self.checkpoint.as_ref().map(|c| c.checkpoint().tree_size)
    }
}

/// The readers' side: what was published, and a way to ask for more.
#[derive(Debug)]
pub(crate) struct PublisherHandle {
    /// The largest tree size a reader asked to be covered.
    pub(crate) wanted: watch::Sender<u64>,
    pub(crate) published: watch::Sender<Published>,
    /// Where a checkpoint that could not be written for a storage failure is reported.
    pub(crate) write_failure: crate::WriteFailure,
}

impl PublisherHandle {
    pub(crate) fn new(initial: Option<SignedCheckpoint>, write_failure: crate::WriteFailure) -> PublisherHandle {
        PublisherHandle {
            write_failure,
            wanted: watch::Sender::new(0),
            published: watch::Sender::new(Published { checkpoint: initial, failure: None, attempts: 0 }),
        }
    }
}

/// The checkpoints the publisher publishes, as they come (see
/// [`crate::Application::checkpoint_publications`]).
#[derive(Debug)]
pub struct CheckpointPublications(pub(crate) watch::Receiver<Published>);

impl CheckpointPublications {
    /// The latest published checkpoint, if any, marking it seen.
    pub fn latest(&mut self) -> Option<SignedCheckpoint> {
        self.0.borrow_and_update().checkpoint.clone()
    }

    /// Waits for a checkpoint published after the last one seen; `None` once the core stopped.
    pub async fn next(&mut self) -> Option<SignedCheckpoint> {
        loop {
            self.0.changed().await.ok()?;
            if let Some(checkpoint) = self.latest() {
                return Some(checkpoint);
            }
        }
    }
}

/// The publisher's loop. It ends when `stop` changes, after one last publication, so that a
/// clean shutdown leaves a checkpoint of the whole log.
pub(crate) async fn run(
    log: Arc<TransparencyLog>,
    policy: CheckpointPolicy,
    handle: Arc<PublisherHandle>,
    mut stop: watch::Receiver<bool>,
) {
    let mut wanted = handle.wanted.subscribe();
    let mut size = log.size_watch();
    let mut tick = tokio::time::interval(policy.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let published_size = handle.published.borrow().size();
        // A checkpoint kept from before stream heads existed (FORMAT.md §4.1) is signed again
        // with them, once, so that slices can be served for a log that is not growing.
        let without_heads =
            handle.published.borrow().checkpoint.as_ref().is_some_and(|c| c.checkpoint().stream_heads.is_none());
        if without_heads {
            if !publish_once(&log, &handle).await {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tick.tick() => {}
                }
            }
            continue;
        }
        let behind = published_size.is_none_or(|published| log.size() > published);
        let asked = published_size.is_none_or(|published| *wanted.borrow_and_update() > published);
        let many_new = published_size.is_none_or(|published| log.size() >= published + policy.events);
        if behind && (asked || many_new) {
            if !publish_once(&log, &handle).await {
                // Tried again on the next tick, not at once: a reader's ask stays open until a
                // checkpoint covers it, so a failing disk would otherwise keep a core busy
                // signing checkpoints that cannot be kept.
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tick.tick() => {}
                }
            }
            continue;
        }
        tokio::select! {
            _ = stop.changed() => {
                publish_once(&log, &handle).await;
                return;
            }
            changed = wanted.changed() => if changed.is_err() { return },
            _ = tick.tick() => {
                if behind {
                    publish_once(&log, &handle).await;
                }
            }
            changed = size.changed() => if changed.is_err() { return },
        }
    }
}

/// Publishes a checkpoint of the whole log; false if it could not be kept.
async fn publish_once(log: &TransparencyLog, handle: &PublisherHandle) -> bool {
    let outcome = log.publish_checkpoint().await;
    let published = outcome.is_ok();
    handle.published.send_modify(|published| {
        published.attempts += 1;
        match outcome {
            Ok(checkpoint) => {
                // The log never signs backwards; a published size never decreases.
                assert!(
                    published.size().is_none_or(|before| before <= checkpoint.checkpoint().tree_size),
                    "published checkpoints went backwards"
                );
                published.checkpoint = Some(checkpoint);
                published.failure = None;
            }
            Err(error) => {
                tracing::warn!(%error, "a checkpoint could not be published; readers are told to retry");
                if let klero_log::LogError::Store(store_error) = &error {
                    handle.write_failure.record_store_error(store_error);
                }
                published.failure = Some(error.to_string());
            }
        }
    });
    published
}
