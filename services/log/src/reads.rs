//! Reads and proofs: events by leaf index and by stream, checkpoints, stream-heads trees, and
//! inclusion, consistency and batch proofs.

use super::*;

impl TransparencyLog {
    /// The envelope at `leaf_index`, checked against the Merkle tree on the way out.
    pub async fn event_at(&self, leaf_index: u64) -> Result<Envelope, LogError> {
        let (position, leaf) = {
            let state = read_lock(&self.state);
            let position = state
                .position_of(leaf_index)
                .ok_or(LogError::Proof(ProofError::IndexBeyondSize { index: leaf_index, size: state.size() }))?;
            (position, state.tree.leaf(leaf_index)?)
        };
        let mut events = self.store.read_all(position, 1).await?;
        let recorded = events.pop().ok_or(LogError::Corrupt {
            leaf_index,
            position: position.0,
            reason: "event missing from the store".into(),
        })?;
        let hash = event_hash_of_envelope_bytes(&recorded.data);
        if klero_ledger::merkle::leaf_hash(&hash.0) != leaf {
            return Err(LogError::Corrupt {
                leaf_index,
                position: position.0,
                reason: "stored bytes no longer match the Merkle leaf".into(),
            });
        }
        Envelope::parse(recorded.data).map_err(|e| LogError::Corrupt {
            leaf_index,
            position: position.0,
            reason: e.to_string(),
        })
    }

    /// Up to `max_count` events from `from_leaf` on, each checked against its Merkle leaf.
    pub async fn events_from(&self, from_leaf: u64, max_count: usize) -> Result<Vec<LoggedEvent>, LogError> {
        let (position, available) = {
            let state = read_lock(&self.state);
            match state.position_of(from_leaf) {
                Some(position) => (position, state.size() - from_leaf),
                None => return Ok(Vec::new()),
            }
        };
        let count = (available as usize).min(max_count);
        if let Some(recent) = self.recent_leaves(from_leaf, count) {
            return Ok(recent);
        }
        let recorded = self.store.read_all(position, count).await?;
        let state = read_lock(&self.state);
        let leaves = state.tree.leaves(from_leaf, recorded.len() as u64)?;
        let mut events = Vec::with_capacity(recorded.len());
        for ((offset, recorded), leaf) in recorded.into_iter().enumerate().zip(leaves) {
            let leaf_index = from_leaf + offset as u64;
            let corrupt = |reason: String| LogError::Corrupt { leaf_index, position: recorded.position.0, reason };
            if state.position_of(leaf_index) != Some(recorded.position) {
                return Err(corrupt("the store's order differs from the log's".into()));
            }
            let event_hash = event_hash_of_envelope_bytes(&recorded.data);
            if leaf != klero_ledger::merkle::leaf_hash(&event_hash.0) {
                return Err(corrupt("stored bytes no longer match the Merkle leaf".into()));
            }
            let envelope = Envelope::parse(recorded.data).map_err(|e| corrupt(e.to_string()))?;
            events.push(LoggedEvent { leaf_index, envelope, event_hash });
        }
        Ok(events)
    }

    /// Up to `max_count` events of one stream, from `start` in `direction`, each checked as
    /// every served event is: its bytes against its Merkle leaf, and its envelope against the
    /// store's stream and revision.
    pub async fn read_stream(
        &self,
        stream: &str,
        start: StreamStart,
        direction: ReadDirection,
        max_count: usize,
    ) -> Result<Vec<LoggedEvent>, LogError> {
        self.check_failure()?;
        let recorded = self.store.read_stream(stream, start, direction, max_count).await?;
        let mut events = Vec::with_capacity(recorded.len());
        for recorded in recorded {
            // An event the store acknowledged may not have joined the tree yet.
            let leaf_index = self.followed_leaf_of(recorded.position).await?;
            let corrupt =
                |reason: &str| LogError::Corrupt { leaf_index, position: recorded.position.0, reason: reason.into() };
            let event_hash = event_hash_of_envelope_bytes(&recorded.data);
            if read_lock(&self.state).tree.leaf(leaf_index)? != klero_ledger::merkle::leaf_hash(&event_hash.0) {
                return Err(corrupt("stored bytes no longer match the Merkle leaf"));
            }
            let envelope = Envelope::parse(recorded.data).map_err(|e| corrupt(&e.to_string()))?;
            if envelope.author().stream != recorded.stream
                || envelope.ledger().stream_revision != recorded.stream_revision
            {
                return Err(corrupt("envelope disagrees with the store's stream or revision"));
            }
            events.push(LoggedEvent { leaf_index, envelope, event_hash });
        }
        Ok(events)
    }

    /// Leaves `from_leaf..from_leaf + count` from the envelopes this log appended, if it still
    /// holds every one of them.
    pub(crate) fn recent_leaves(&self, from_leaf: u64, count: usize) -> Option<Vec<LoggedEvent>> {
        let positions: Vec<LogPosition> = {
            let state = read_lock(&self.state);
            (from_leaf..from_leaf + count as u64).map(|leaf| state.position_of(leaf)).collect::<Option<_>>()?
        };
        let recent = mutex(&self.recent);
        positions
            .iter()
            .zip(from_leaf..)
            .map(|(position, leaf_index)| {
                let (envelope, event_hash) = recent.get(&position.0)?;
                Some(LoggedEvent { leaf_index, envelope: envelope.clone(), event_hash: *event_hash })
            })
            .collect()
    }

    /// The leaf index of the event at a store position, if the log has followed that far.
    pub fn leaf_index_of(&self, position: LogPosition) -> Option<u64> {
        read_lock(&self.state).leaf_of(position)
    }

    /// The store position of a leaf, for following the store from there.
    pub fn store_position(&self, leaf_index: u64) -> Option<LogPosition> {
        read_lock(&self.state).position_of(leaf_index)
    }

    /// The latest published checkpoint: signed, and kept by the store. `None` before the first.
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        mutex(&self.latest_checkpoint).clone()
    }

    /// Signs a checkpoint of the current tree, has the store keep it durably, and only then
    /// makes it the latest; returns the latest unchanged if the tree has not grown. The
    /// application's one checkpoint publisher is the only caller, and calls never interleave.
    pub async fn publish_checkpoint(&self) -> Result<SignedCheckpoint, LogError> {
        self.check_failure()?;
        let _publishing = self.publishing.lock().await;
        let (checkpoint, heads) = {
            let state = read_lock(&self.state);
            let heads = state.chain.heads_tree();
            let checkpoint = Checkpoint {
                origin: self.config.log_key.name().to_string(),
                tree_size: state.size(),
                root_hash: state.tree.root()?,
                stream_heads: Some(heads.commitment()),
            };
            (checkpoint, heads)
        };
        self.keep_heads_tree(checkpoint.tree_size, Arc::new(heads));
        if let Some(latest) = self.latest_checkpoint() {
            // The tree only grows, and one publisher at a time sees it: never sign backwards.
            assert!(
                latest.checkpoint().tree_size <= checkpoint.tree_size,
                "the tree shrank from {} to {} events",
                latest.checkpoint().tree_size,
                checkpoint.tree_size
            );
            if latest.checkpoint() == &checkpoint {
                return Ok(latest);
            }
        }
        let signed = self.config.log_key.sign(&checkpoint)?;
        self.store.save_checkpoint(signed.note().as_bytes()).await?;
        *mutex(&self.latest_checkpoint) = Some(signed.clone());
        Ok(signed)
    }

    /// Keeps a checkpoint's heads tree for the slices served with it.
    pub(crate) fn keep_heads_tree(&self, tree_size: u64, heads: Arc<HeadsTree>) {
        let mut kept = mutex(&self.heads_trees);
        if kept.iter().any(|(size, _)| *size == tree_size) {
            return;
        }
        kept.push_back((tree_size, heads));
        kept.make_contiguous().sort_by_key(|(size, _)| *size);
        while kept.len() > HEADS_TREES_KEPT {
            kept.pop_front();
        }
    }

    /// Every stream's head after the first `tree_size` events (FORMAT.md §4.1): kept for recent
    /// checkpoints, otherwise rebuilt from the current heads by walking back over the events
    /// after `tree_size` (each names its stream's previous head).
    pub async fn heads_tree_at(&self, tree_size: u64) -> Result<Arc<HeadsTree>, LogError> {
        if let Some((_, heads)) = mutex(&self.heads_trees).iter().find(|(size, _)| *size == tree_size) {
            return Ok(heads.clone());
        }
        let (size, mut heads) = {
            let state = read_lock(&self.state);
            let heads: HashMap<String, (u64, Hash256)> =
                state.chain.heads().into_iter().map(|(stream, next, last)| (stream, (next, last))).collect();
            (state.size(), heads)
        };
        if tree_size > size {
            return Err(LogError::InvalidArgument {
                field: "tree_size",
                reason: format!("the log holds {size} events, fewer than {tree_size}"),
            });
        }
        if size - tree_size > HEADS_REWIND_EVENTS_MAX {
            return Err(LogError::InvalidArgument {
                field: "tree_size",
                reason: format!(
                    "the heads at {tree_size} are {} events behind the log's {size}; at most {HEADS_REWIND_EVENTS_MAX} are walked back",
                    size - tree_size
                ),
            });
        }
        let mut end = size;
        while end > tree_size {
            let start = end.saturating_sub(READ_EVENTS_MAX as u64).max(tree_size);
            let events = self.events_from(start, (end - start) as usize).await?;
            for event in events.iter().rev() {
                let ledger = event.envelope.ledger();
                let stream = &event.envelope.author().stream;
                if ledger.stream_revision == 0 {
                    heads.remove(stream);
                } else {
                    heads.insert(stream.clone(), (ledger.stream_revision, ledger.previous_event_hash));
                }
            }
            end = start;
        }
        let tree = Arc::new(HeadsTree::build(heads.into_iter().map(|(stream, (next, last))| StreamHead {
            stream,
            revision: next - 1,
            head_hash: last,
        })));
        self.keep_heads_tree(tree_size, tree.clone());
        Ok(tree)
    }

    /// One proof of the leaves at `indices` (strictly increasing) in the tree of `tree_size`
    /// leaves (FORMAT.md §3.1).
    pub fn batch_inclusion_proof(&self, indices: &[u64], tree_size: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.batch_inclusion_proof(indices, tree_size)?)
    }

    /// The hashes of `count` complete subtrees of `2^height` leaves from subtree `first`: what
    /// a tlog tile holds. The tree keeps them as it grows, so this reads; it never rehashes.
    pub fn subtree_hashes(&self, height: u32, first: u64, count: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.subtree_hashes(height, first, count)?)
    }

    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.inclusion_proof(leaf_index, tree_size)?)
    }

    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash256>, LogError> {
        Ok(read_lock(&self.state).tree.consistency_proof(old_size, new_size)?)
    }

    /// An offline proof bundle for one event against `checkpoint`, which must cover it.
    pub async fn proof_bundle(&self, leaf_index: u64, checkpoint: &SignedCheckpoint) -> Result<ProofBundle, LogError> {
        let size = checkpoint.checkpoint().tree_size;
        let envelope = self.event_at(leaf_index).await?;
        Ok(ProofBundle {
            leaf_index,
            envelope: envelope.into_bytes(),
            inclusion_proof: self.inclusion_proof(leaf_index, size)?,
            checkpoint_note: checkpoint.note().to_string(),
        })
    }
}
