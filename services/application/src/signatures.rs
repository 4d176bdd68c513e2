//! Signature checks for appends, shared across concurrent requests.
//!
//! Checking an Ed25519 signature alone costs about as much CPU as a whole gRPC round trip. A
//! batch check costs about a third of that per signature, and the ledger's rule makes batch and
//! one-by-one checks accept exactly the same signatures (klero-ledger `signature`). So appends
//! that arrive together are checked together.
//!
//! There is no checker thread. Each append queues its signatures and yields once, so that the
//! requests its worker already has in hand queue theirs too. Then, if fewer batches are being
//! checked than there are cores, its task becomes a leader: it takes what is queued (up to a
//! bound), checks it in one batch where it runs, and hands each append its answer. Appends
//! that arrive meanwhile queue up for the next batch, so the busier the server, the larger the
//! batches, and an idle server checks a lone append at once. A leader checks one batch; if
//! more has queued by then, it hands the leadership to a new task rather than keep its own
//! caller waiting.
//!
//! Under heavy load that still left many batches of one to three signatures, which pay the
//! batch equation's fixed cost almost alone. So while many appends are in progress
//! ([`SignatureChecker::append_in_progress`]), an append that finds too few signatures queued
//! does not lead: it waits for a later arrival to lead a fuller batch, or for at most a
//! millisecond, then leads itself.
//! Large requests (AppendBatch) are batches already and are checked off the async workers: on
//! two threads at once when nothing else is in progress, else on one.

use crate::ApplicationError;
use klero_ledger::envelope::{EventId, SignedAuthorPart};
use klero_ledger::signature::AuthorKey;
use klero_log::VerifiedAuthorPart;
use klero_store::AppendExpected;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most signatures one leader checks in a batch. The batch equation gains little beyond this
/// (about 12 µs a signature from 16 on, against 40 µs alone), and a bigger batch holds an
/// async worker longer (64 take about 0.75 ms).
const BATCH_SIGNATURES_MAX: usize = 64;
/// Batches checked at once: one per core, so that no core idles while appends wait. Asked of
/// the system once.
fn leaders_max() -> usize {
    klero_ledger::parallel::cores()
}
/// Under heavy load, a batch worth leading: the batch equation costs about 30 µs whatever its
/// size (curve25519-dalek's Straus always doubles 256 times), then about 11 µs a signature.
/// Alone a signature costs 34 µs, in a batch of 4 about 19, of 16 about 13 (`verify_batch`
/// measured alone, BENCHMARKS.md).
const BATCH_WORTH_LEADING: usize = 16;
/// Appends in progress from which one waits for a fuller batch: twice the batch, so that while
/// some wait, the rest keep the cores busy. With 16 clients or fewer nobody waits.
const BUSY_APPENDS_IN_PROGRESS: usize = 2 * BATCH_WORTH_LEADING;
/// The longest an append waits for a fuller batch before it leads its own; one tick of tokio's
/// timer.
const FULLER_BATCH_WAIT_MAX: std::time::Duration = std::time::Duration::from_millis(1);
/// Requests with at least this many events are checked on blocking threads, split in two when
/// the server has no other append in progress.
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
    /// Append requests being handled, from [`SignatureChecker::append_in_progress`].
    appends_in_progress: Arc<AtomicUsize>,
    keys: AuthorKeyCache,
}

impl std::fmt::Debug for SignatureChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureChecker").field("leaders", &self.inner.leaders.load(Ordering::Relaxed)).finish()
    }
}

impl SignatureChecker {
    /// Checks every event's signature; the error names the first bad one.
    pub async fn verify(&self, signed: Vec<SignedAuthorPart>) -> Result<Vec<VerifiedAuthorPart>, ApplicationError> {
        let event_ids: Vec<EventId> = signed.iter().map(|event| event.author().event_id).collect();
        let mut events = Vec::with_capacity(signed.len());
        for (index, event) in signed.into_iter().enumerate() {
            let key = self.inner.keys.get(&event.author().author_public_key).map_err(|why| {
                ApplicationError::invalid_field(
                    format!("events[{index}].author_public_key"),
                    format!("is not a usable Ed25519 public key: {why}"),
                )
            })?;
            events.push((event, key));
        }
        let answer = if events.len() >= LARGE_REQUEST_EVENTS {
            // Split across the cores only when this is the one append in progress: otherwise
            // the other core has work already, and a second thread and a second batch equation
            // would only add their own cost.
            let alone = self.inner.appends_in_progress.load(Ordering::Relaxed) <= 1;
            check_large(events, alone).await?
        } else {
            let (reply, mut answer) = oneshot::channel();
            self.inner.queue(Job { events, reply });
            // Let the other requests this worker has ready queue theirs first, so the batch
            // holds everything that arrived together.
            tokio::task::yield_now().await;
            let answered_while_waiting = if self.inner.worth_waiting_for_a_fuller_batch() {
                tokio::select! {
                    biased;
                    answered = &mut answer => Some(answered),
                    _ = tokio::time::sleep(FULLER_BATCH_WAIT_MAX) => None,
                }
            } else {
                None
            };
            let answered = match answered_while_waiting {
                Some(answered) => answered,
                None => {
                    if self.inner.try_lead() {
                        self.inner.lead_one_batch();
                        self.hand_over_if_queued();
                    }
                    answer.await
                }
            };
            answered
                .map_err(|_| ApplicationError::Internal { reason: "a signature batch was dropped unanswered".into() })?
        };
        answer.map_err(|index| ApplicationError::BadSignature { index, event_id: event_ids[index] })
    }

    /// Counts an append request as in progress until the returned token is dropped. Append
    /// handlers hold it from arrival to answer; see the module comment. The token is the same
    /// counted token the store port hands out for `expect_append`.
    pub fn append_in_progress(&self) -> AppendExpected {
        AppendExpected::counted_on(&self.inner.appends_in_progress)
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

    /// True while many appends are in progress and too few signatures are queued for a batch
    /// worth leading: then a later arrival is about to lead a fuller one.
    fn worth_waiting_for_a_fuller_batch(&self) -> bool {
        self.appends_in_progress.load(Ordering::Relaxed) >= BUSY_APPENDS_IN_PROGRESS
            && self.queued_signatures() < BATCH_WORTH_LEADING
    }

    fn queued_signatures(&self) -> usize {
        self.queued.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|job| job.events.len()).sum()
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

/// A large request is its own batch, checked on a blocking thread; in two halves at once on
/// two threads when `split`.
async fn check_large(mut events: Vec<(SignedAuthorPart, AuthorKey)>, split: bool) -> Result<Answer, ApplicationError> {
    tokio::task::spawn_blocking(move || {
        if !split {
            return VerifiedAuthorPart::verify_appends(vec![events]).into_iter().next().expect("one answer per append");
        }
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
    .map_err(|e| ApplicationError::Internal { reason: format!("signature check task failed: {e}") })
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
