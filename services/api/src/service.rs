//! The gRPC services over one transparency log: Ledger, Registry and Assemblies.
//!
//! An append goes: parse the envelope → replay check (idempotent retry) → signature check
//! (batched with concurrent appends, [`crate::signatures`]) → decode and validate the payload → authority and rules against the domain state →
//! append with the exact stream revision that state was decided on. If another append got
//! there first, the state is refreshed and the decision made again. Registry changes hold an
//! exclusive gate, so no event is ever authorised by a grant that a concurrent revocation
//! removed ahead of it in the log.

use crate::errors;
use crate::signatures::SignatureChecker;
use klero_catalogue::decode_event;
use klero_domain::{AssemblyId, DomainState, Proposal, Recorded, StreamKind};
use klero_ledger::envelope::{EventId, SignedAuthorPart};
use klero_log::{AppendedEvent, LoggedEvent, TransparencyLog, VerifiedAuthorPart};
use klero_proto as pb;
use klero_store::{AppendExpected, EventStore, ExpectedRevision, ReadDirection, StreamStart};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use tonic::{Request, Response, Status};

/// Most events per AppendBatch call.
pub const BATCH_EVENTS_MAX: usize = 1_000;
/// Most events per read call.
pub const READ_EVENTS_MAX: u32 = 1_000;
/// How many times an append is decided again after losing a race for its stream.
const DECIDE_ATTEMPTS_MAX: usize = 16;
/// Events buffered per subscriber before the server waits for the client to read.
const SUBSCRIPTION_BUFFER_EVENTS: usize = 256;
/// Most decoded events waiting for the view; beyond it the cache is dropped (the view decodes).
const DECODED_CACHE_EVENTS_MAX: usize = 65_536;
/// How long the follower lets appends fold their own events before it folds what is left.
const FOLLOWER_SETTLE: std::time::Duration = std::time::Duration::from_millis(1);
/// Subscriptions open at once across all clients.
pub const SUBSCRIPTIONS_MAX: usize = 256;

/// Where "now" comes from, in ms since the Unix epoch. Tests move it forward.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    })
}

/// The domain state folded from the log, and how far it has followed it.
struct DomainView {
    state: DomainState,
    /// Leaf index of the next event to fold in.
    applied: u64,
    /// Next revision of each stream, as of `applied`.
    stream_next_revision: HashMap<String, u64>,
    /// Events recorded late (responses after their deadline), for idempotent replies.
    late_events: HashSet<EventId>,
    /// The read views, folded from the same events in the same order as `state`.
    views: klero_projections::ViewSet,
}

/// The Kleroterion gRPC services. Share behind an `Arc`.
pub struct Kleroterion<S: EventStore> {
    log: Arc<TransparencyLog<S>>,
    view: RwLock<DomainView>,
    /// Serialises folding the log into the view.
    view_sync: tokio::sync::Mutex<()>,
    /// Shared by domain appends, exclusive for registry appends.
    registry_gate: tokio::sync::RwLock<()>,
    /// One lock per stream with appends in flight: appends to the same stream decide one after
    /// another (their rules are sequential anyway) instead of racing and retrying.
    stream_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    clock: Clock,
    /// Events being appended, decoded already, until the view folds them in: by event id, with
    /// the signature, so that an entry only ever stands for the exact bytes it was decoded from
    /// (two requests may try one id with different content; only one lands).
    decoded_cache: std::sync::Mutex<HashMap<EventId, ([u8; 64], klero_domain::DomainEvent)>>,
    /// One permit per open subscription.
    subscriptions: Arc<tokio::sync::Semaphore>,
    signatures: SignatureChecker,
}

impl<S: EventStore> std::fmt::Debug for Kleroterion<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kleroterion").field("log_size", &self.log.size()).finish()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn parse_signed(event: Option<pb::ledger::SignedEvent>, field: &str) -> Result<SignedAuthorPart, Status> {
    let event = event.ok_or_else(|| errors::invalid_field(field, "is required"))?;
    SignedAuthorPart::from_wire(event.author_encoding, &event.signature)
        .map_err(|e| errors::invalid_field(&format!("{field}.author_encoding"), e.to_string()))
}

fn parse_expected(expected: Option<pb::ledger::ExpectedRevision>) -> ExpectedRevision {
    use pb::ledger::expected_revision::Kind;
    match expected.and_then(|e| e.kind) {
        None | Some(Kind::Any(_)) => ExpectedRevision::Any,
        Some(Kind::NoStream(_)) => ExpectedRevision::NoStream,
        Some(Kind::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(Kind::Exact(revision)) => ExpectedRevision::Exact(revision),
    }
}

fn appended_to_proto(appended: &AppendedEvent, late: bool) -> pb::ledger::AppendedEvent {
    pb::ledger::AppendedEvent {
        event_id: appended.event_id.0.to_vec(),
        stream: appended.stream.clone(),
        stream_revision: appended.stream_revision,
        log_index: appended.leaf_index,
        event_hash: appended.event_hash.0.to_vec(),
        recorded_at_unix_ms: appended.recorded_at_unix_ms,
        newly_appended: appended.newly_appended,
        late,
    }
}

fn logged_to_proto(event: LoggedEvent) -> pb::ledger::RecordedEvent {
    pb::ledger::RecordedEvent {
        log_index: event.leaf_index,
        event_hash: event.event_hash.0.to_vec(),
        envelope: event.envelope.into_bytes(),
    }
}

fn check_count(max_count: u32) -> Result<usize, Status> {
    if max_count == 0 || max_count > READ_EVENTS_MAX {
        return Err(errors::invalid_field("max_count", format!("must be between 1 and {READ_EVENTS_MAX}")));
    }
    Ok(max_count as usize)
}

impl<S: EventStore> Kleroterion<S> {
    /// Builds the services over an open log. `trust_root` is the council's public key.
    pub async fn new(
        log: Arc<TransparencyLog<S>>,
        trust_root: [u8; 32],
        clock: Clock,
    ) -> Result<Kleroterion<S>, Status> {
        let service = Kleroterion {
            log,
            view: RwLock::new(DomainView {
                state: DomainState::new(trust_root),
                applied: 0,
                stream_next_revision: HashMap::new(),
                late_events: HashSet::new(),
                views: klero_projections::ViewSet::new(),
            }),
            view_sync: tokio::sync::Mutex::new(()),
            registry_gate: tokio::sync::RwLock::new(()),
            stream_locks: std::sync::Mutex::new(HashMap::new()),
            clock,
            decoded_cache: std::sync::Mutex::new(HashMap::new()),
            subscriptions: Arc::new(tokio::sync::Semaphore::new(SUBSCRIPTIONS_MAX)),
            signatures: SignatureChecker::default(),
        };
        service.sync_view().await?;
        Ok(service)
    }

    pub fn log(&self) -> &Arc<TransparencyLog<S>> {
        &self.log
    }

    /// Folds every event the log holds beyond the view into it, in log order. Events this
    /// server is appending were decoded already and come from the cache; others are decoded
    /// from the envelope bytes.
    async fn sync_view(&self) -> Result<(), Status> {
        let _guard = self.view_sync.lock().await;
        loop {
            let applied = read(&self.view).applied;
            if applied >= self.log.size() {
                return Ok(());
            }
            let events = self.log.events_from(applied, 512).await.map_err(errors::log)?;
            let mut decoded = Vec::with_capacity(events.len());
            {
                let mut cache = self.decoded_cache.lock().unwrap_or_else(|p| p.into_inner());
                for logged in &events {
                    let entry = cache.remove(&logged.envelope.author().event_id);
                    let signature = logged.envelope.signature_bytes();
                    decoded.push(entry.filter(|(cached, _)| *cached == signature).map(|(_, event)| event));
                }
            }
            let mut view = write(&self.view);
            for (logged, cached) in events.into_iter().zip(decoded) {
                let author = logged.envelope.author();
                let event = match cached {
                    Some(event) => event,
                    None => decode_event(&author.event_type, author.event_version, &author.payload).map_err(
                        |violations| {
                            Status::data_loss(format!(
                                "log index {} holds a {} event that no longer decodes: {:?}",
                                logged.leaf_index, author.event_type, violations
                            ))
                        },
                    )?,
                };
                let recorded = Recorded {
                    stream: &author.stream,
                    author: &author.author_public_key,
                    recorded_at_unix_ms: logged.envelope.ledger().recorded_at_unix_ms,
                    event_hash: logged.event_hash,
                    log_index: logged.leaf_index,
                };
                // Lateness is a fact of the log, so it survives a restart.
                if view.state.evolve(&event, recorded).late {
                    view.late_events.insert(author.event_id);
                }
                view.views.apply(klero_projections::RecordedEventRef {
                    log_index: logged.leaf_index,
                    stream: &author.stream,
                    event: &event,
                    event_hash: logged.event_hash,
                    recorded_at_unix_ms: logged.envelope.ledger().recorded_at_unix_ms,
                });
                match view.stream_next_revision.get_mut(author.stream.as_str()) {
                    Some(next) => *next += 1,
                    None => {
                        view.stream_next_revision.insert(author.stream.clone(), 1);
                    }
                }
                view.applied = logged.leaf_index + 1;
            }
        }
    }

    /// Appends events to one stream after every check; the heart of the write path.
    async fn append_checked(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        signed: Vec<SignedAuthorPart>,
    ) -> Result<Vec<pb::ledger::AppendedEvent>, Status> {
        // A retry of events already recorded gets the original answer, before any rule runs.
        if let Some(replayed) = self.log.replay_if_present(&signed).await.map_err(errors::log)? {
            let view = read(&self.view);
            return Ok(replayed.iter().map(|a| appended_to_proto(a, view.late_events.contains(&a.event_id))).collect());
        }
        let batch_len = signed.len();
        let verified = self.signatures.verify(signed).await?;
        let mut events = Vec::with_capacity(batch_len);
        for (index, event) in verified.iter().enumerate() {
            let author = event.signed().author();
            if author.stream != stream {
                return Err(errors::invalid_field(
                    &format!("events[{index}].stream"),
                    format!("is {}, the batch is for {stream}", author.stream),
                ));
            }
            let decoded =
                decode_event(&author.event_type, author.event_version, &author.payload).map_err(|violations| {
                    let prefixed = if batch_len == 1 {
                        violations
                    } else {
                        violations
                            .into_iter()
                            .map(|v| klero_catalogue::FieldViolation {
                                field: format!("events[{index}].{}", v.field),
                                ..v
                            })
                            .collect()
                    };
                    errors::invalid_fields(prefixed)
                })?;
            events.push(decoded);
        }
        let author_of = |event: &VerifiedAuthorPart| event.signed().author().author_public_key;
        if verified.windows(2).any(|w| author_of(&w[0]) != author_of(&w[1])) {
            return Err(errors::invalid_field("events", "every event of a batch must have the same author"));
        }
        let author_key = author_of(&verified[0]);
        let is_registry = events.iter().any(|e| e.stream_kind() == StreamKind::Registry);
        // Registry changes wait for in-flight appends and block new ones until recorded.
        let _shared;
        let _exclusive;
        if is_registry {
            _exclusive = self.registry_gate.write().await;
        } else {
            _shared = self.registry_gate.read().await;
        }
        let stream_lock = self.stream_lock(stream);
        let result = {
            let _stream_guard = stream_lock.lock().await;
            self.decide_and_append(stream, expected, &verified, events, author_key).await
        };
        self.release_stream_lock(stream, stream_lock);
        result
    }

    /// Announces an append request from its arrival until the returned tokens are dropped
    /// with the answer: the store may hold a commit open for it, and the signature checker
    /// counts it when it sizes batches.
    fn announce_append(&self) -> [AppendExpected; 2] {
        [self.log.store().expect_append(), self.signatures.append_in_progress()]
    }

    fn cache_decoded(&self, verified: &[VerifiedAuthorPart], events: &[klero_domain::DomainEvent]) {
        let mut cache = self.decoded_cache.lock().unwrap_or_else(|p| p.into_inner());
        // Appends cancelled midway leave entries behind; the bound keeps those from piling up.
        if cache.len() + events.len() > DECODED_CACHE_EVENTS_MAX {
            cache.clear();
        }
        for (signed, event) in verified.iter().map(VerifiedAuthorPart::signed).zip(events) {
            cache.insert(signed.author().event_id, (*signed.signature(), event.clone()));
        }
    }

    fn uncache_decoded(&self, verified: &[VerifiedAuthorPart]) {
        let mut cache = self.decoded_cache.lock().unwrap_or_else(|p| p.into_inner());
        for signed in verified.iter().map(VerifiedAuthorPart::signed) {
            // Only this request's own entry: a concurrent request may hold the id with other bytes.
            if cache.get(&signed.author().event_id).is_some_and(|(signature, _)| signature == signed.signature()) {
                cache.remove(&signed.author().event_id);
            }
        }
    }

    fn stream_lock(&self, stream: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.stream_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(stream.to_string()).or_default().clone()
    }

    /// Drops the stream's lock from the map once no other append holds or waits for it.
    fn release_stream_lock(&self, stream: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.stream_locks.lock().unwrap_or_else(|p| p.into_inner());
        // Two references left: the map's and ours.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(stream);
        }
    }

    /// Decides against the current state and appends on exactly the revision decided on;
    /// another writer of the same store (a second server on KurrentDB, say) can still win the
    /// race, and then the decision is made again on the new state.
    async fn decide_and_append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        verified: &[VerifiedAuthorPart],
        events: Vec<klero_domain::DomainEvent>,
        author_key: [u8; 32],
    ) -> Result<Vec<pb::ledger::AppendedEvent>, Status> {
        for _attempt in 0..DECIDE_ATTEMPTS_MAX {
            self.sync_view().await?;
            let now = (self.clock)();
            let (acceptances, current) = {
                let view = read(&self.view);
                let proposal = Proposal { stream, author: &author_key, recorded_at_unix_ms: now };
                let acceptances = if events.len() == 1 {
                    vec![view.state.decide(&events[0], proposal).map_err(|r| errors::rejection(r, None))?]
                } else {
                    view.state.decide_batch(&events, proposal).map_err(|(i, r)| errors::rejection(r, Some(i)))?
                };
                (acceptances, view.stream_next_revision.get(stream).map(|next| next - 1))
            };
            if !expected.holds(current) {
                return Err(errors::conflict(stream, &expected.to_string(), current));
            }
            // Append exactly on top of the revision the decision saw.
            let at = current.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            // The view folds these in once the log holds them; spare it decoding them again.
            self.cache_decoded(verified, &events);
            match self.log.append_verified(stream, at, verified, now).await {
                Ok(appended) => {
                    if appended.iter().any(|a| !a.newly_appended) {
                        // A concurrent identical retry recorded them first; the view has them.
                        self.uncache_decoded(verified);
                    }
                    let late_ids: Vec<EventId> = appended
                        .iter()
                        .zip(&acceptances)
                        .filter(|(_, acc)| acc.late)
                        .map(|(a, _)| a.event_id)
                        .collect();
                    if !late_ids.is_empty() {
                        write(&self.view).late_events.extend(late_ids);
                    }
                    return Ok(appended
                        .iter()
                        .zip(&acceptances)
                        .map(|(a, acc)| appended_to_proto(a, acc.late))
                        .collect());
                }
                Err(klero_log::LogError::Conflict { .. }) => continue,
                Err(klero_log::LogError::DuplicateEventId { .. }) => {
                    self.uncache_decoded(verified);
                    // A concurrent identical retry may have landed first.
                    if let Some(replayed) = self.log.replay_if_present(verified).await.map_err(errors::log)? {
                        let view = read(&self.view);
                        return Ok(replayed
                            .iter()
                            .map(|a| appended_to_proto(a, view.late_events.contains(&a.event_id)))
                            .collect());
                    }
                    return Err(Status::already_exists("an event id in this request is taken by different content"));
                }
                Err(error) => {
                    // It may still have landed (the store failed after writing, say); then the
                    // view decodes it from the log.
                    self.uncache_decoded(verified);
                    return Err(errors::log(error));
                }
            }
        }
        self.uncache_decoded(verified);
        let current = read(&self.view).stream_next_revision.get(stream).map(|next| next - 1);
        Err(errors::conflict(stream, "a stable revision (too many concurrent appends)", current))
    }

    fn assembly_summary(&self, id: &AssemblyId) -> Option<pb::assembly::AssemblySummary> {
        let view = read(&self.view);
        let state = view.state.assembly(id)?;
        let convened = &state.convened;
        let recommendations = state
            .recommendations
            .iter()
            .map(|(rid, r)| {
                let response = r.adopted_event_hash.and_then(|h| state.responses.get(&h));
                pb::assembly::RecommendationSummary {
                    recommendation_id: rid.clone(),
                    status: r.status.as_str().to_string(),
                    adopted_event_hash: r.adopted_event_hash.map(|h| h.0.to_vec()).unwrap_or_default(),
                    response_decision: response.map(|s| s.decision.as_str().to_string()).unwrap_or_default(),
                    response_late: response.is_some_and(|s| s.late),
                    implementation_updates: response.map_or(0, |s| s.implementation_updates),
                }
            })
            .collect();
        Some(pb::assembly::AssemblySummary {
            convened: Some(pb::assembly::AssemblyConvened {
                assembly_id: convened.assembly_id.to_string(),
                council: convened.council.clone(),
                remit_question: convened.remit_question.clone(),
                area: convened.area.clone(),
                starts_on: convened.starts_on.to_string(),
                ends_on: convened.ends_on.to_string(),
                panel_size: convened.panel_size,
                adoption_threshold_percent: convened.adoption_threshold_percent,
                response_deadline_days: convened.response_deadline_days,
            }),
            panel_member_ids: state.selection.seated.iter().cloned().collect(),
            sessions_held: state.sessions_held,
            evidence_presented: state.evidence_presented,
            public_submissions: state.public_submissions,
            recommendations,
            final_report_published: state.final_report.is_some(),
        })
    }
}

#[tonic::async_trait]
impl<S: EventStore> pb::ledger::ledger_server::Ledger for Kleroterion<S> {
    async fn append(
        &self,
        request: Request<pb::ledger::AppendRequest>,
    ) -> Result<Response<pb::ledger::AppendResponse>, Status> {
        let _announced = self.announce_append();
        let request = request.into_inner();
        let signed = parse_signed(request.event, "event")?;
        let stream = signed.author().stream.clone();
        let mut appended =
            self.append_checked(&stream, parse_expected(request.expected_revision), vec![signed]).await?;
        Ok(Response::new(pb::ledger::AppendResponse { appended: appended.pop() }))
    }

    async fn append_batch(
        &self,
        request: Request<pb::ledger::AppendBatchRequest>,
    ) -> Result<Response<pb::ledger::AppendBatchResponse>, Status> {
        let _announced = self.announce_append();
        let request = request.into_inner();
        if request.events.is_empty() {
            return Err(errors::invalid_field("events", "must hold at least one event"));
        }
        if request.events.len() > BATCH_EVENTS_MAX {
            return Err(Status::resource_exhausted(format!(
                "limit exceeded: events per batch is {}, the maximum is {BATCH_EVENTS_MAX}",
                request.events.len()
            )));
        }
        let mut signed = Vec::with_capacity(request.events.len());
        for (index, event) in request.events.into_iter().enumerate() {
            signed.push(parse_signed(Some(event), &format!("events[{index}]"))?);
        }
        let appended = self.append_checked(&request.stream, parse_expected(request.expected_revision), signed).await?;
        Ok(Response::new(pb::ledger::AppendBatchResponse { appended }))
    }

    async fn read_stream(
        &self,
        request: Request<pb::ledger::ReadStreamRequest>,
    ) -> Result<Response<pb::ledger::ReadStreamResponse>, Status> {
        let request = request.into_inner();
        let max_count = check_count(request.max_count)?;
        let direction = if request.backwards { ReadDirection::Backwards } else { ReadDirection::Forwards };
        let recorded = self
            .log
            .store()
            .read_stream(&request.stream, StreamStart::Revision(request.from_revision), direction, max_count)
            .await
            .map_err(errors::store)?;
        let mut events = Vec::with_capacity(recorded.len());
        for event in recorded {
            let log_index = self
                .log
                .leaf_index_of(event.position)
                .ok_or_else(|| Status::unavailable("the log is still following the store; retry"))?;
            let event_hash = klero_ledger::envelope::event_hash_of_envelope_bytes(&event.data);
            events.push(pb::ledger::RecordedEvent {
                envelope: event.data,
                log_index,
                event_hash: event_hash.0.to_vec(),
            });
        }
        Ok(Response::new(pb::ledger::ReadStreamResponse { events }))
    }

    async fn read_log(
        &self,
        request: Request<pb::ledger::ReadLogRequest>,
    ) -> Result<Response<pb::ledger::ReadLogResponse>, Status> {
        let request = request.into_inner();
        let max_count = check_count(request.max_count)?;
        let log_size = self.log.size();
        let events = self.log.events_from(request.from_log_index, max_count).await.map_err(errors::log)?;
        Ok(Response::new(pb::ledger::ReadLogResponse {
            events: events.into_iter().map(logged_to_proto).collect(),
            log_size,
        }))
    }

    type SubscribeStream = tokio_stream::wrappers::ReceiverStream<Result<pb::ledger::RecordedEvent, Status>>;

    async fn subscribe(
        &self,
        request: Request<pb::ledger::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let from = request.into_inner().from_log_index;
        let permit = self.subscriptions.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "limit exceeded: open subscriptions is at the maximum of {SUBSCRIPTIONS_MAX}"
            ))
        })?;
        if from > self.log.size() {
            return Err(Status::out_of_range(format!(
                "from_log_index {from} is beyond the log's {} events",
                self.log.size()
            )));
        }
        // Leaves are the store's events one for one, so counting from the start position
        // gives each delivered event its log index.
        let after = if from == 0 {
            None
        } else {
            Some(self.log.store_position(from - 1).ok_or_else(|| Status::unavailable("retry"))?)
        };
        let mut subscription = self.log.store().subscribe_to_all(after).await.map_err(errors::store)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(SUBSCRIPTION_BUFFER_EVENTS);
        tokio::spawn(async move {
            let _permit = permit; // released when the subscription ends
            let mut log_index = from;
            loop {
                let item = match subscription.next().await {
                    Ok(event) => {
                        let event_hash = klero_ledger::envelope::event_hash_of_envelope_bytes(&event.data);
                        Ok(pb::ledger::RecordedEvent {
                            envelope: event.data,
                            log_index,
                            event_hash: event_hash.0.to_vec(),
                        })
                    }
                    Err(error) => Err(errors::store(error)),
                };
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    return; // the client went away, or the store failed
                }
                log_index += 1;
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    async fn get_checkpoint(
        &self,
        _request: Request<pb::ledger::GetCheckpointRequest>,
    ) -> Result<Response<pb::ledger::GetCheckpointResponse>, Status> {
        let signed = self.log.checkpoint().await.map_err(errors::log)?;
        Ok(Response::new(pb::ledger::GetCheckpointResponse {
            signed_note: signed.note().to_string(),
            tree_size: signed.checkpoint().tree_size,
            root_hash: signed.checkpoint().root_hash.0.to_vec(),
            verifier_key: self.log.verifier_key().to_vkey_string(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::ledger::GetInclusionProofRequest>,
    ) -> Result<Response<pb::ledger::GetInclusionProofResponse>, Status> {
        let request = request.into_inner();
        let proof = self.log.inclusion_proof(request.log_index, request.tree_size).map_err(errors::log)?;
        Ok(Response::new(pb::ledger::GetInclusionProofResponse {
            hashes: proof.iter().map(|h| h.0.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::ledger::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ledger::GetConsistencyProofResponse>, Status> {
        let request = request.into_inner();
        let proof = self.log.consistency_proof(request.old_tree_size, request.new_tree_size).map_err(errors::log)?;
        Ok(Response::new(pb::ledger::GetConsistencyProofResponse {
            hashes: proof.iter().map(|h| h.0.to_vec()).collect(),
        }))
    }

    async fn get_proof_bundle(
        &self,
        request: Request<pb::ledger::GetProofBundleRequest>,
    ) -> Result<Response<pb::ledger::GetProofBundleResponse>, Status> {
        let bundle = self.log.proof_bundle(request.into_inner().log_index).await.map_err(errors::log)?;
        Ok(Response::new(pb::ledger::GetProofBundleResponse { bundle: bundle.encode() }))
    }
}

fn role_to_proto(role: klero_domain::Role) -> pb::registry::Role {
    use klero_domain::Role::*;
    match role {
        Convenor => pb::registry::Role::Convenor,
        SelectionOperator => pb::registry::Role::SelectionOperator,
        Facilitator => pb::registry::Role::Facilitator,
        PanelSecretary => pb::registry::Role::PanelSecretary,
        CouncilDecisionMaker => pb::registry::Role::CouncilDecisionMaker,
        Auditor => pb::registry::Role::Auditor,
    }
}

#[tonic::async_trait]
impl<S: EventStore> pb::registry::registry_server::Registry for Kleroterion<S> {
    async fn list_keys(
        &self,
        request: Request<pb::registry::ListKeysRequest>,
    ) -> Result<Response<pb::registry::ListKeysResponse>, Status> {
        let filter = request.into_inner().assembly_id;
        let assembly = if filter.is_empty() {
            None
        } else {
            Some(AssemblyId::parse(&filter).map_err(|reason| errors::invalid_field("assembly_id", reason))?)
        };
        self.sync_view().await?;
        let view = read(&self.view);
        let grants = view
            .state
            .grants()
            .iter()
            .filter(|g| assembly.as_ref().is_none_or(|a| g.scope.covers(a)))
            .map(|g| pb::registry::KeyGrant {
                public_key: g.public_key.to_vec(),
                role: role_to_proto(g.role) as i32,
                scope: g.scope.to_string(),
                holder_title: g.holder_title.clone(),
                granted_at_log_index: g.granted_at_log_index,
                revoked_at_log_index: g.revoked_at_log_index,
            })
            .collect();
        Ok(Response::new(pb::registry::ListKeysResponse {
            grants,
            trust_root_public_key: view.state.trust_root().to_vec(),
        }))
    }
}

#[tonic::async_trait]
impl<S: EventStore> pb::assembly::assemblies_server::Assemblies for Kleroterion<S> {
    async fn get_assembly(
        &self,
        request: Request<pb::assembly::GetAssemblyRequest>,
    ) -> Result<Response<pb::assembly::AssemblySummary>, Status> {
        let id = AssemblyId::parse(&request.into_inner().assembly_id)
            .map_err(|reason| errors::invalid_field("assembly_id", reason))?;
        self.sync_view().await?;
        self.assembly_summary(&id)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("assembly {id} has not been convened")))
    }

    async fn list_assemblies(
        &self,
        _request: Request<pb::assembly::ListAssembliesRequest>,
    ) -> Result<Response<pb::assembly::ListAssembliesResponse>, Status> {
        self.sync_view().await?;
        let view = read(&self.view);
        Ok(Response::new(pb::assembly::ListAssembliesResponse {
            assembly_ids: view.state.assembly_ids().iter().map(|a| a.to_string()).collect(),
        }))
    }
}

impl<S: EventStore> Kleroterion<S> {
    /// Keeps the domain state and the views current as the log grows, even with no requests:
    /// it follows the store through a catch-up subscription and folds new events in.
    pub fn spawn_follower(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let Some(strong) = service.upgrade() else { return };
            if let Some(mut committed) = strong.log.store().committed_events_watch() {
                // The store counts what it commits: follow the count instead of reading events.
                drop(strong);
                while committed.changed().await.is_ok() {
                    // An append folds its own events into the view on the next request. Waiting a
                    // moment leaves those to it (already decoded), so that this only folds what no
                    // request did, such as an idle server's last appends.
                    tokio::time::sleep(FOLLOWER_SETTLE).await;
                    let Some(service) = service.upgrade() else { return };
                    if let Err(status) = service.sync_view().await {
                        tracing::warn!(error = %status.message(), "the views could not follow the log yet");
                    }
                }
                return;
            }
            let subscription = strong
                .log
                .store()
                .subscribe_to_all(strong.log.size().checked_sub(1).and_then(|i| strong.log.store_position(i)))
                .await;
            drop(strong);
            let Ok(mut subscription) = subscription else { return };
            while subscription.next().await.is_ok() {
                let Some(service) = service.upgrade() else { return };
                // The log follows the store before the view can; a failed sync is retried on
                // the next event or request.
                if let Err(status) = service.sync_view().await {
                    tracing::warn!(error = %status.message(), "the views could not follow the log yet");
                }
            }
        })
    }

    /// A view rendered from the state folded so far, with the root of the tree it covers.
    fn rendered_view(
        &self,
        name: klero_projections::ViewName,
        assembly: &AssemblyId,
    ) -> Result<pb::query::View, Status> {
        let rendered = {
            let view = read(&self.view);
            view.views
                .render(name, assembly)
                .ok_or_else(|| Status::not_found(format!("assembly {assembly} has not been convened")))?
        };
        let root = self.log.root_at(rendered.tree_size).map_err(errors::log)?;
        Ok(pb::query::View {
            view: name.as_str().to_string(),
            version: name.version(),
            assembly_id: assembly.to_string(),
            json: rendered.json,
            digest: rendered.digest.0.to_vec(),
            tree_size: rendered.tree_size,
            root_hash: root.0.to_vec(),
        })
    }
}

#[tonic::async_trait]
impl<S: EventStore> pb::query::query_server::Query for Kleroterion<S> {
    async fn get_view(&self, request: Request<pb::query::GetViewRequest>) -> Result<Response<pb::query::View>, Status> {
        let request = request.into_inner();
        let name = klero_projections::ViewName::parse(&request.view).ok_or_else(|| {
            let names: Vec<&str> = klero_projections::ViewName::ALL.iter().map(|v| v.as_str()).collect();
            errors::invalid_field("view", format!("must be one of {}", names.join(", ")))
        })?;
        let assembly =
            AssemblyId::parse(&request.assembly_id).map_err(|reason| errors::invalid_field("assembly_id", reason))?;
        self.sync_view().await?;
        self.rendered_view(name, &assembly).map(Response::new)
    }

    async fn list_assemblies(
        &self,
        _request: Request<pb::query::ListAssembliesRequest>,
    ) -> Result<Response<pb::query::ListAssembliesResponse>, Status> {
        self.sync_view().await?;
        let view = read(&self.view);
        Ok(Response::new(pb::query::ListAssembliesResponse {
            assembly_ids: view.views.assembly_ids().iter().map(|a| a.to_string()).collect(),
            views: klero_projections::ViewName::ALL.iter().map(|v| v.as_str().to_string()).collect(),
        }))
    }
}
