//! Following the store: the log reads what was appended (by this server or, on a shared
//! store, by another), checks every chain and signature, and pushes the leaves to its tree.

use super::*;

impl TransparencyLog {
    /// Follows the store to its end, checking and adding every new event.
    pub(crate) async fn catch_up(&self, verify_signatures: bool) -> Result<(), LogError> {
        self.catch_up_until(verify_signatures, None).await
    }

    /// Follows the store to its end: events another writer of the same store appended join the
    /// tree, after the same envelope and chain checks as on open.
    pub async fn follow_store(&self) -> Result<(), LogError> {
        self.check_failure()?;
        self.catch_up(false).await
    }

    /// The tree size, changing as the log grows.
    pub fn size_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.size_watch.subscribe()
    }

    /// Follows the store to its end, or only as far as `until` (included), which spares reading
    /// back later appends that their own tasks are about to hand over.
    pub(crate) async fn catch_up_until(
        &self,
        verify_signatures: bool,
        until: Option<LogPosition>,
    ) -> Result<(), LogError> {
        let _guard = self.catch_up_lock.lock().await;
        loop {
            let last = read_lock(&self.state).last_position();
            if until.is_some_and(|until| last.is_some_and(|last| last >= until)) {
                return Ok(());
            }
            let from = last.map_or(LogPosition::START, |p| LogPosition(p.0 + 1));
            if self.push_recent_from(from)? {
                continue;
            }
            let count = match until {
                Some(until) if self.store.positions_are_dense() => {
                    (until.0.saturating_sub(from.0) + 1).min(CATCH_UP_BATCH_EVENTS as u64) as usize
                }
                _ => CATCH_UP_BATCH_EVENTS,
            };
            let batch = self.store.read_all(from, count).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let first_leaf = read_lock(&self.state).size();
            let envelopes = parse_and_hash(batch, first_leaf)?;
            // Signatures of a prefix verified before are not checked again: its root is, below.
            let verified_before = match &self.config.verified_prefix {
                Some(prefix) => (prefix.tree_size.saturating_sub(first_leaf) as usize).min(envelopes.len()),
                None => 0,
            };
            if verify_signatures && verified_before < envelopes.len() {
                let only: Vec<Envelope> = envelopes[verified_before..].iter().map(|(_, e, _)| e.clone()).collect();
                verify_signatures_batch(&only).map_err(|e| LogError::Corrupt {
                    leaf_index: first_leaf + (verified_before + e.index) as u64,
                    position: envelopes[verified_before + e.index].0 .0,
                    reason: format!("author signature does not verify: {e}"),
                })?;
            }
            self.push_leaves(envelopes.iter().map(|(position, envelope, hash)| (*position, envelope, *hash)))?;
            if let Some(prefix) = &self.config.verified_prefix {
                let size = self.size();
                if first_leaf < prefix.tree_size && size >= prefix.tree_size {
                    let root = self.root_at(prefix.tree_size)?;
                    if root != prefix.root_hash {
                        return Err(LogError::VerifiedPrefixDiffers {
                            tree_size: prefix.tree_size,
                            reason: format!("the stored events give root {root}, not {}", prefix.root_hash),
                        });
                    }
                }
            }
        }
    }

    /// Adds events at the end of the tree, in order, checking each stream's chain. A break is
    /// corruption: the log then refuses all work.
    pub(crate) fn push_leaves<'e>(
        &self,
        events: impl Iterator<Item = (LogPosition, &'e Envelope, Hash256)>,
    ) -> Result<(), LogError> {
        let pushed = self.push_leaves_locked(events);
        self.leaves_pushed();
        pushed
    }

    /// Wakes whoever waits for the tree to grow.
    pub(crate) fn leaves_pushed(&self) {
        self.recent_changed.notify_waiters();
        let size = self.size();
        self.size_watch.send_if_modified(|published| {
            let grew = *published < size;
            *published = size;
            grew
        });
    }

    pub(crate) fn push_leaves_locked<'e>(
        &self,
        events: impl Iterator<Item = (LogPosition, &'e Envelope, Hash256)>,
    ) -> Result<(), LogError> {
        let mut state = write_lock(&self.state);
        for (position, envelope, hash) in events {
            let leaf_index = state.size();
            let corrupt = |reason: String| LogError::Corrupt { leaf_index, position: position.0, reason };
            let dense_out_of_step = matches!(state.positions, LeafPositions::Dense) && position.0 != leaf_index;
            if dense_out_of_step {
                let error = corrupt(format!("the store's dense position {} is not leaf {leaf_index}", position.0));
                *mutex(&self.failure) = Some(error.clone());
                return Err(error);
            }
            // A verified prefix's chains were checked before; the heads it names stand for them,
            // and the root check at its end vouches for its bytes.
            let in_verified_prefix = self.config.verified_prefix.as_ref().is_some_and(|p| leaf_index < p.tree_size);
            if !in_verified_prefix {
                if let Err(error) = state.chain.check_next(envelope, hash) {
                    let error = corrupt(error.to_string());
                    *mutex(&self.failure) = Some(error.clone());
                    return Err(error);
                }
            }
            // The leaf file is derived: a failure to write it is unavailability, not corruption.
            state.tree.push_entry(&hash).map_err(|e| StoreError::Unavailable { reason: e.to_string() })?;
            if let LeafPositions::Listed(positions) = &mut state.positions {
                positions.push(position);
                assert_eq!(positions.len() as u64, state.tree.size(), "one position for every leaf");
            }
            state.last_recorded_at_unix_ms = state.last_recorded_at_unix_ms.max(envelope.ledger().recorded_at_unix_ms);
            // Paired with the chain check above: the head now names this very event.
            let head = state.chain.head(&envelope.author().stream);
            assert!(
                in_verified_prefix || head == (envelope.ledger().stream_revision + 1, hash),
                "the chain head of {} does not name the event just pushed at leaf {leaf_index}",
                envelope.author().stream
            );
        }
        Ok(())
    }

    /// Pushes the envelopes this log appended at `from` and the positions right after it, if
    /// it holds the one at `from`; whether it did.
    pub(crate) fn push_recent_from(&self, from: LogPosition) -> Result<bool, LogError> {
        let pushed = {
            let recent = mutex(&self.recent);
            let mut run = recent
                .range(from.0..)
                .zip(from.0..)
                .take_while(|((position, _), expected)| **position == *expected)
                .take(CATCH_UP_BATCH_EVENTS)
                .map(|((position, (envelope, hash)), _)| (LogPosition(*position), envelope, *hash))
                .peekable();
            if run.peek().is_none() {
                return Ok(false);
            }
            // Lock order: `recent`, then `state`; nothing takes them the other way round.
            self.push_leaves_locked(run)
        };
        self.leaves_pushed();
        pushed.map(|()| true)
    }

    /// Keeps what an append just wrote, dropping the oldest beyond [`RECENT_EVENTS_MAX`].
    pub(crate) fn keep_recent(&self, first_position: LogPosition, envelopes: Vec<(Envelope, Hash256)>) {
        {
            let mut recent = mutex(&self.recent);
            for (offset, envelope) in envelopes.into_iter().enumerate() {
                recent.insert(first_position.0 + offset as u64, envelope);
            }
            while recent.len() > RECENT_EVENTS_MAX {
                recent.pop_first();
            }
        }
        self.recent_changed.notify_waiters();
    }
}
