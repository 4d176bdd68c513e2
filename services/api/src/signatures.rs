//! Signature checks for appends, shared across concurrent requests.
//!
//! Checking an Ed25519 signature alone costs about as much CPU as a whole gRPC round trip. A
//! batch check costs about a third of that per signature, and the ledger's rule makes batch and
//! one-by-one checks accept exactly the same signatures (klero-ledger `signature`). So appends
//! that arrive together are checked together.
//!
//! There is no checker thread and no timer. Each append queues its signatures and yields once,
//! so that the requests its worker already has in hand queue theirs too. Then, if fewer batches
//! are being checked than there are cores, its task becomes a leader: it takes what is queued
//! (up to a bound), checks it in one batch where it runs, and hands each append its answer.
//! Appends that arrive meanwhile queue up for the next batch, so the busier the server, the
//! larger the batches, and an idle server checks a lone append at once. A leader checks one
//! batch; if more has queued by then, it hands the leadership to a new task rather than keep
//! its own caller waiting.
//! Large requests (AppendBatch) are batches already and are checked off the async workers.

use klero_ledger::envelope::{EventId, SignedAuthorPart};
use klero_ledger::signature::AuthorKey;
use klero_log::VerifiedAuthorPart;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tonic::Status;

/// Most signatures one leader checks in a batch. The batch equation gains little beyond this
/// (about 12 µs a signature from 16 on, against 40 µs alone), and a bigger batch holds an
/// async worker longer (64 take about 0.75 ms).
const BATCH_SIGNATURES_MAX: usize = 64;
/// Batches checked at once: one per core, so that no core idles while appends wait. Asked of
/// the system once: `available_parallelism` reads cgroup files on every call.
fn leaders_max() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}
/// Requests with at least this many events are checked on blocking threads, split in two.
const LARGE_REQUEST_EVENTS: usize = 32;
/// Most author keys kept decompressed.
const AUTHOR_KEYS_CACHED_MAX: usize = 4_096;

type Answer = Result<Vec<VerifiedAuthorPart>, usize>;

struct Job {
    events: Vec<(SignedAuthorPart, AuthorKey)>,
    reply: oneshot::Sender<Answer>,
}

/// Checks append signatures in batches formed from concurrent requests.
#[derive(Clone, Default)]
pub struct SignatureChecker {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    queued: Mutex<Vec<Job>>,
    /// Tasks checking a batch now, at most [`leaders_max`].
    leaders: AtomicUsize,
    keys: AuthorKeyCache,
}

impl std::fmt::Debug for SignatureChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureChecker").field("leaders", &self.inner.leaders.load(Ordering::Relaxed)).finish()
    }
}

impl SignatureChecker {
    /// Checks every event's signature; the error names the first bad one.
    pub async fn verify(&self, signed: Vec<SignedAuthorPart>) -> Result<Vec<VerifiedAuthorPart>, Status> {
        let event_ids: Vec<EventId> = signed.iter().map(|event| event.author().event_id).collect();
        let mut events = Vec::with_capacity(signed.len());
        for (index, event) in signed.into_iter().enumerate() {
            let key = self.inner.keys.get(&event.author().author_public_key).map_err(|why| {
                crate::errors::invalid_field(
                    &format!("events[{index}].author_public_key"),
                    format!("is not a usable Ed25519 public key: {why}"),
                )
            })?;
            events.push((event, key));
        }
        let answer = if events.len() >= LARGE_REQUEST_EVENTS {
            check_large(events).await?
        } else {
            let (reply, answer) = oneshot::channel();
            self.inner.queue(Job { events, reply });
            // Let the other requests this worker has ready queue theirs first, so the batch
            // holds everything that arrived together.
            tokio::task::yield_now().await;
            if self.inner.try_lead() {
                self.inner.lead_one_batch();
                self.hand_over_if_queued();
            }
            answer.await.map_err(|_| Status::internal("a signature batch was dropped unanswered"))?
        };
        answer.map_err(|index| {
            Status::unauthenticated(format!(
                "signature of event {index} ({}) does not verify against its author key",
                event_ids[index]
            ))
        })
    }

    /// After a leader's batch: if appends queued meanwhile and nobody leads, a new task leads.
    fn hand_over_if_queued(&self) {
        if self.inner.has_queued() && self.inner.try_lead() {
            let checker = self.clone();
            tokio::spawn(async move {
                checker.inner.lead_one_batch();
                checker.hand_over_if_queued();
            });
        }
    }
}

impl Inner {
    fn queue(&self, job: Job) {
        self.queued.lock().unwrap_or_else(|p| p.into_inner()).push(job);
    }

    fn has_queued(&self) -> bool {
        !self.queued.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    fn try_lead(&self) -> bool {
        let most = leaders_max();
        self.leaders.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < most).then_some(n + 1)).is_ok()
    }

    /// Checks up to one batch of what is queued, answers it and gives up the leadership. Any
    /// job queued before the leadership is given up is either in this batch or still queued,
    /// where the caller's `hand_over_if_queued` finds it.
    fn lead_one_batch(&self) {
        let jobs = {
            let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
            let mut signatures = 0;
            let take = queued
                .iter()
                .take_while(|job| {
                    let first = signatures == 0;
                    signatures += job.events.len();
                    first || signatures <= BATCH_SIGNATURES_MAX
                })
                .count();
            queued.drain(..take).collect::<Vec<_>>()
        };
        if !jobs.is_empty() {
            let (events, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|job| (job.events, job.reply)).unzip();
            for (answer, reply) in VerifiedAuthorPart::verify_appends(events).into_iter().zip(replies) {
                // The request may have been cancelled meanwhile; then nobody needs the answer.
                let _ = reply.send(answer);
            }
        }
        self.leaders.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A large request is its own batch: checked on blocking threads, in two halves at once.
async fn check_large(mut events: Vec<(SignedAuthorPart, AuthorKey)>) -> Result<Answer, Status> {
    tokio::task::spawn_blocking(move || {
        let second = events.split_off(events.len() / 2);
        let offset = events.len();
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| VerifiedAuthorPart::verify_appends(vec![second]));
            let first = VerifiedAuthorPart::verify_appends(vec![events]);
            (first, second.join())
        });
        let first = first.into_iter().next().expect("one answer per append")?;
        // A panic here fails the request as an internal error (the task's JoinError below),
        // never as a bad signature.
        let second =
            second.expect("a signature check thread panicked").into_iter().next().expect("one answer per append");
        let mut verified = first;
        verified.extend(second.map_err(|index| index + offset)?);
        Ok(verified)
    })
    .await
    .map_err(|e| Status::internal(format!("signature check task failed: {e}")))
}

/// Checked and decompressed author keys. Authors are few and events many, and decompressing a
/// key costs a field square root. Bounded: cleared when full.
#[derive(Default)]
struct AuthorKeyCache {
    keys: Mutex<HashMap<[u8; 32], AuthorKey>>,
}

impl AuthorKeyCache {
    fn get(&self, public_key: &[u8; 32]) -> Result<AuthorKey, klero_ledger::signature::SignatureError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = keys.get(public_key) {
            return Ok(*key);
        }
        let key = AuthorKey::from_bytes(public_key)?;
        if keys.len() >= AUTHOR_KEYS_CACHED_MAX {
            keys.clear();
        }
        keys.insert(*public_key, key);
        Ok(key)
    }
}
