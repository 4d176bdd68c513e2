//! Appending: the ledger part is added to each verified author part, the events are appended on
//! the stream's exact revision, and a retry of an event already in the log answers what it was.

use super::*;

impl TransparencyLog {
    /// Appends one signed event. See [`TransparencyLog::append_batch`].
    pub async fn append(
        &self,
        event: SignedAuthorPart,
        expected: ExpectedRevision,
        now_unix_ms: u64,
    ) -> Result<AppendedEvent, LogError> {
        let stream = event.author().stream.clone();
        let mut appended = self.append_batch(&stream, expected, vec![event], now_unix_ms).await?;
        appended.pop().ok_or(LogError::InvalidArgument { field: "events", reason: "no event".into() })
    }

    /// Appends signed events to one stream atomically, after checking every signature.
    ///
    /// `expected` is the author's view of the stream, as in the store port. A retry of events
    /// already in the log returns their original results, if the author parts are identical.
    pub async fn append_batch(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<SignedAuthorPart>,
        now_unix_ms: u64,
    ) -> Result<Vec<AppendedEvent>, LogError> {
        // Before any signature is checked: a failed log or an empty append costs nothing.
        self.check_not_failed_and_not_empty(events.len())?;
        let mut verified = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let event_id = event.author().event_id;
            verified.push(VerifiedAuthorPart::verify(event).map_err(|_| LogError::BadSignature { index, event_id })?);
        }
        self.append_verified(stream, expected, &verified, now_unix_ms).await
    }

    /// [`TransparencyLog::append_batch`] for events whose signatures the caller has already
    /// checked (in parallel, say); the type proves the check happened.
    pub async fn append_verified(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[VerifiedAuthorPart],
        now_unix_ms: u64,
    ) -> Result<Vec<AppendedEvent>, LogError> {
        self.check_append(stream, events)?;
        if let Some(replayed) = self.replay_if_present(events).await? {
            return Ok(replayed);
        }
        self.append_unreplayed(stream, expected, events, now_unix_ms).await
    }

    /// [`TransparencyLog::append_verified`] for a caller that looked for a replay of these
    /// events itself before it decided them (the application does, before any rule runs), so
    /// that the store is not asked twice: on PostgreSQL each look is a query of every id. A
    /// retry that lands in between is still answered as a retry: the store refuses the reused
    /// ids, and the refusal is answered by looking again, here. `expected` is checked first, so
    /// pass the revision the decision was made on (a conflict is decided again).
    pub async fn append_decided(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[VerifiedAuthorPart],
        now_unix_ms: u64,
    ) -> Result<Vec<AppendedEvent>, LogError> {
        self.check_append(stream, events)?;
        self.append_unreplayed(stream, expected, events, now_unix_ms).await
    }

    /// An append can be tried: the log has not failed, and it has events, all for `stream`.
    fn check_append(&self, stream: &str, events: &[VerifiedAuthorPart]) -> Result<(), LogError> {
        self.check_not_failed_and_not_empty(events.len())?;
        for (index, event) in events.iter().map(VerifiedAuthorPart::signed).enumerate() {
            if event.author().stream != stream {
                return Err(LogError::InvalidArgument {
                    field: "stream",
                    reason: format!("event {index} is signed for stream {}, not {stream}", event.author().stream),
                });
            }
        }
        Ok(())
    }

    /// The log has not failed, and the append has events: one wording of the refusal for both entries.
    fn check_not_failed_and_not_empty(&self, events: usize) -> Result<(), LogError> {
        self.check_failure()?;
        if events == 0 {
            return Err(LogError::InvalidArgument {
                field: "events",
                reason: "an append needs at least one event".into(),
            });
        }
        Ok(())
    }

    /// Seals and appends events that are not a replay as far as the caller knows.
    async fn append_unreplayed(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[VerifiedAuthorPart],
        now_unix_ms: u64,
    ) -> Result<Vec<AppendedEvent>, LogError> {
        for _attempt in 0..APPEND_ATTEMPTS_MAX {
            let (next_revision, mut previous_hash) = self.stream_head(stream);
            let current = next_revision.checked_sub(1);
            if !expected.holds(current) {
                // Our view may lag the store; only a fresh view can refuse the append.
                self.catch_up(false).await?;
                let current = self.stream_head(stream).0.checked_sub(1);
                if !expected.holds(current) {
                    return Err(LogError::Conflict { stream: stream.to_string(), expected, actual: current });
                }
                continue;
            }
            let keep_envelopes = self.store.positions_are_dense();
            let mut data = Vec::with_capacity(events.len());
            let mut sealed = Vec::with_capacity(events.len());
            let mut envelopes = Vec::new();
            for (offset, event) in events.iter().map(VerifiedAuthorPart::signed).enumerate() {
                let ledger = LedgerPart {
                    stream_revision: next_revision + offset as u64,
                    previous_event_hash: previous_hash,
                    recorded_at_unix_ms: now_unix_ms,
                };
                let envelope = Envelope::seal(event, ledger);
                previous_hash = envelope.event_hash();
                sealed.push((ledger.stream_revision, previous_hash, now_unix_ms));
                let bytes = if keep_envelopes {
                    let bytes = envelope.bytes().to_vec();
                    envelopes.push((envelope, previous_hash));
                    bytes
                } else {
                    envelope.into_bytes()
                };
                data.push(EventData {
                    event_id: event.author().event_id,
                    event_type: event.author().event_type.clone(),
                    data: bytes,
                });
            }
            let store_expected = match current {
                None => ExpectedRevision::NoStream,
                Some(revision) => ExpectedRevision::Exact(revision),
            };
            match self.store.append(stream, store_expected, data).await {
                Ok(result) => {
                    if keep_envelopes {
                        self.keep_recent(result.first_position, envelopes);
                    }
                    self.catch_up_to(result.last_position).await?;
                    let first_leaf = self.followed_leaf_of(result.first_position).await?;
                    return Ok(self.results_for(events, first_leaf, sealed));
                }
                Err(StoreError::WrongExpectedRevision { .. }) => {
                    self.catch_up(false).await?;
                    continue;
                }
                Err(StoreError::DuplicateEventId { event_id, reason }) => {
                    // A concurrent retry of the same events won the race; answer as it did.
                    self.catch_up(false).await?;
                    if let Some(replayed) = self.replay_if_present(events).await? {
                        return Ok(replayed);
                    }
                    return Err(LogError::DuplicateEventId { event_id, reason });
                }
                Err(error) => return Err(error.into()),
            }
        }
        let actual = self.stream_head(stream).0.checked_sub(1);
        Err(LogError::Conflict { stream: stream.to_string(), expected, actual })
    }

    /// Follows the store at least to `position`, the end of an append this log just made.
    pub(crate) async fn catch_up_to(&self, position: LogPosition) -> Result<(), LogError> {
        let gave_up_at = tokio::time::Instant::now() + PREDECESSOR_WAIT;
        loop {
            let changed = self.recent_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = {
                let state = read_lock(&self.state);
                match state.last_position() {
                    Some(last) if last >= position => return Ok(()),
                    Some(last) => LogPosition(last.0 + 1),
                    None => LogPosition::START,
                }
            };
            // With dense positions, the events between the tree and this append belong to
            // appends acknowledged in the same commit, whose tasks are about to hand their
            // envelopes over. Waiting a moment for them is cheaper than reading them back.
            let predecessor_is_coming = self.store.positions_are_dense()
                && !mutex(&self.recent).contains_key(&next.0)
                && tokio::time::Instant::now() < gave_up_at;
            if !predecessor_is_coming || tokio::time::timeout_at(gave_up_at, changed).await.is_err() {
                return self.catch_up_until(false, Some(position)).await;
            }
        }
    }

    /// If every event is already in the log with identical author bytes, their original results;
    /// `None` if none is; an error if some are, or if an id is taken by different content. The
    /// store keeps every event id for the life of the log, so this asks it.
    pub async fn replay_if_present<E: Borrow<SignedAuthorPart>>(
        &self,
        events: &[E],
    ) -> Result<Option<Vec<AppendedEvent>>, LogError> {
        let events: Vec<&SignedAuthorPart> = events.iter().map(Borrow::borrow).collect();
        let ids: Vec<EventId> = events.iter().map(|event| event.author().event_id).collect();
        let stored = self.store.read_events_by_id(&ids).await?;
        // The replay rule (docs/API.md): a batch whose events are all recorded, with the same
        // bytes, is a retry and gets the original results, whether it is the whole original
        // batch, a prefix of it or any subset. A batch mixing recorded and new events is
        // refused, naming the first recorded one, so no part of it is appended twice or alone.
        let Some(first_recorded) = stored.iter().position(Option::is_some) else { return Ok(None) };
        if stored.iter().any(Option::is_none) {
            return Err(LogError::DuplicateEventId {
                event_id: events[first_recorded].author().event_id,
                reason: format!(
                    "events[{first_recorded}] is already recorded but other events of this batch are not; \
                     a retry must hold only recorded events (resend the original batch), new events go in a new batch"
                ),
            });
        }
        let mut results = Vec::with_capacity(events.len());
        // Every entry is Some here, so flattening keeps them in step with `events`.
        for (index, (event, recorded)) in events.iter().zip(stored.into_iter().flatten()).enumerate() {
            let leaf_index = self.followed_leaf_of(recorded.position).await?;
            let envelope = self.event_at(leaf_index).await?;
            if envelope.signed_author_part() != **event {
                return Err(LogError::DuplicateEventId {
                    event_id: event.author().event_id,
                    reason: format!(
                        "events[{index}] is already recorded at log index {leaf_index} with different content"
                    ),
                });
            }
            results.push(AppendedEvent {
                event_id: event.author().event_id,
                stream: event.author().stream.clone(),
                stream_revision: envelope.ledger().stream_revision,
                leaf_index,
                event_hash: envelope.event_hash(),
                recorded_at_unix_ms: envelope.ledger().recorded_at_unix_ms,
                newly_appended: false,
            });
        }
        Ok(Some(results))
    }

    /// The leaf index of the event at a store position, following the store that far first if
    /// the event was acknowledged but has not joined the tree yet.
    pub(crate) async fn followed_leaf_of(&self, position: LogPosition) -> Result<u64, LogError> {
        if let Some(leaf_index) = self.leaf_index_of(position) {
            return Ok(leaf_index);
        }
        self.catch_up(false).await?;
        self.leaf_index_of(position).ok_or(LogError::Store(StoreError::Unavailable {
            reason: "the log is still following the store; retry".into(),
        }))
    }

    /// The results of events just appended from `first_leaf` on, with `recorded` (revision,
    /// hash, recording time) for each. An append is one unit in the store's order, so its events
    /// are consecutive leaves.
    pub(crate) fn results_for<E: Borrow<SignedAuthorPart>>(
        &self,
        events: &[E],
        first_leaf: u64,
        recorded: Vec<(u64, Hash256, u64)>,
    ) -> Vec<AppendedEvent> {
        events
            .iter()
            .map(Borrow::borrow)
            .zip(first_leaf..)
            .zip(recorded)
            .map(|((event, leaf_index), (stream_revision, event_hash, recorded_at_unix_ms))| AppendedEvent {
                event_id: event.author().event_id,
                stream: event.author().stream.clone(),
                stream_revision,
                leaf_index,
                event_hash,
                recorded_at_unix_ms,
                newly_appended: true,
            })
            .collect()
    }
}
