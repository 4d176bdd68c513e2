//! Slices (docs/FORMAT.md §15): the part of the log one page shows, with the proofs a reader
//! needs to check it against a signed checkpoint, and to know nothing of it was left out.
//!
//! The public pages serve them to browsers, and render their own HTML from the same slices
//! (folded by the same verifier), so what a visitor's browser derives and what the server
//! shows are one function of one slice.

use crate::{mutex, Application, ApplicationError};
use klero_domain::{DocumentKind, DomainEvent};
use klero_fold::LogFold;
use klero_ledger::checkpoint::SignedCheckpoint;
use klero_ledger::envelope::Envelope;
use klero_ledger::Hash256;
use klero_store::{DataKeyState, ReadDirection, StreamStart};
use klero_verifier::slice::{plan_slice, shown_events, ErasuresComplete, PlanError, Slice, SliceTarget};
use klero_verifier::Opening;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A document a slice includes is short text: longer ones, or other media, are linked.
pub const INLINE_DOCUMENT_BYTES_MAX: usize = 64 * 1024;
/// Recent served checkpoints kept by size, so that a page rendered at one is checked at it.
pub(crate) const RECENT_CHECKPOINTS_KEPT: usize = 16;
/// The event type whose recording time the witnessed checkpoints of a slice bound.
const ANSWER_EVENT_TYPE: &str = "klero.response.v1.ResponseIssued";
/// Most "from" sizes one slice proves consistency with.
pub const SLICE_CONSISTENCY_MAX: usize = 4;

/// Which slice, at which checkpoint, proving consistency with which earlier sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceRequest {
    pub target: SliceTarget,
    /// The checkpoint's size: a page names the one it was rendered at. `None`: the latest
    /// served.
    pub at_size: Option<u64>,
    /// Sizes of checkpoints the reader saw before.
    pub consistency_from: Vec<u64>,
}

impl Application {
    /// The checkpoint pages are made at, remembered by size for [`Application::slice`]: with a
    /// witness cosigner, the latest witnessed one; otherwise one covering every event recorded
    /// before the call (published on demand, so a page shows what was just recorded).
    pub async fn page_checkpoint(&self) -> Result<SignedCheckpoint, ApplicationError> {
        let checkpoint = if self.cosigning.load(std::sync::atomic::Ordering::Acquire) {
            self.served_checkpoint().await?
        } else {
            self.fresh_checkpoint().await?
        };
        let mut recent = mutex(&self.recent_checkpoints);
        let size = checkpoint.checkpoint().tree_size;
        recent.retain(|kept| kept.checkpoint().tree_size != size);
        recent.push_back(checkpoint.clone());
        while recent.len() > crate::slices::RECENT_CHECKPOINTS_KEPT {
            recent.pop_front();
        }
        Ok(checkpoint)
    }

    fn checkpoint_of_size(&self, size: u64) -> Option<SignedCheckpoint> {
        mutex(&self.recent_checkpoints).iter().rev().find(|c| c.checkpoint().tree_size == size).cloned()
    }

    /// The slice `request` names (FORMAT.md §15).
    pub async fn slice(&self, request: &SliceRequest) -> Result<Slice, ApplicationError> {
        if request.consistency_from.len() > SLICE_CONSISTENCY_MAX {
            return Err(ApplicationError::invalid_field("from", format!("at most {SLICE_CONSISTENCY_MAX} sizes")));
        }
        let checkpoint = match request.at_size {
            None => self.page_checkpoint().await?,
            Some(size) => match self.checkpoint_of_size(size) {
                Some(checkpoint) => checkpoint,
                None => {
                    let latest = self.page_checkpoint().await?;
                    if latest.checkpoint().tree_size != size {
                        return Err(ApplicationError::NotFound {
                            what: format!(
                                "a recent checkpoint of {size} events (the latest holds {})",
                                latest.checkpoint().tree_size
                            ),
                        });
                    }
                    latest
                }
            },
        };
        let size = checkpoint.checkpoint().tree_size;
        if checkpoint.checkpoint().stream_heads.is_none() {
            return Err(ApplicationError::Unavailable {
                reason: "the latest checkpoint predates stream heads; the next one will carry them".into(),
            });
        }
        let heads = self.log.heads_tree_at(size).await?;
        let subject = match &request.target {
            SliceTarget::Event(index) | SliceTarget::Input(index) if *index < size => {
                let envelope = self.log.event_at(*index).await?;
                Some((envelope.author().stream.clone(), envelope.ledger().stream_revision))
            }
            _ => None,
        };
        let needed = plan_slice(&request.target, &heads, subject.as_ref().map(|(s, r)| (s.as_str(), *r))).map_err(
            |e| match e {
                PlanError::NotFound(what) => ApplicationError::NotFound { what },
                PlanError::Invalid(reason) => ApplicationError::invalid_field("target", reason),
            },
        )?;
        let heads_positions: Vec<u64> = needed.head_positions.iter().copied().collect();
        let heads_proof = heads.prove_positions(&heads_positions);

        // The events: each needed stream's revisions (the page's own), then the log's last
        // event, which gives the record's date.
        let mut events: BTreeMap<u64, Envelope> = BTreeMap::new();
        for (stream, revisions) in &needed.streams {
            let Some(head) = heads.head(stream) else { continue };
            let wanted: Vec<u64> = match revisions {
                None => (0..=head.revision).collect(),
                Some(revisions) => revisions.iter().copied().filter(|r| *r <= head.revision).collect(),
            };
            for (index, envelope) in self.read_revisions(stream, &wanted).await? {
                events.insert(index, envelope);
            }
        }
        let page_events: BTreeSet<u64> = events.keys().copied().collect();
        if let Some(last) = size.checked_sub(1) {
            if let std::collections::btree_map::Entry::Vacant(slot) = events.entry(last) {
                slot.insert(self.log.event_at(last).await?);
            }
        }
        let indices: Vec<u64> = events.keys().copied().collect();
        let inclusion = self.log.batch_inclusion_proof(&indices, size)?;
        let mut consistency = Vec::new();
        for from in &request.consistency_from {
            if *from <= size {
                consistency.push((*from, self.log.consistency_proof(*from, size)?));
            }
        }
        let (openings, documents, documents_held) = self.shown_content(&request.target, &events, &page_events).await?;
        let witnessed = self.witnessed_for_answers(&events, size).await?;
        let (witnesses, witness_quorum) = self.config.witness_statement.clone().unwrap_or_default();
        let erasures_complete = if self.store.keeps_data_keys() {
            Some(match self.store.erasures_complete_through().await? {
                None => ErasuresComplete::AtOnce,
                Some(through) => ErasuresComplete::Before(through),
            })
        } else {
            None
        };
        Ok(Slice {
            log_key: self.verifier_key().to_vkey_string(),
            trust_root: self.config.trust_root,
            witnesses,
            witness_quorum,
            checkpoint: checkpoint.note().to_string(),
            consistency,
            witnessed,
            page: needed.page,
            heads_proof: heads_proof.proof,
            heads: heads_proof.leaves.iter().map(|(position, head)| (*position, head.entry())).collect(),
            inclusion,
            events: events.into_iter().map(|(index, envelope)| (index, envelope.bytes().to_vec())).collect(),
            openings,
            documents,
            documents_held,
            erasures_complete,
        })
    }

    /// For each council answer among `events`, the first witnessed checkpoint the store kept
    /// that covers it and is smaller than `size`, with its consistency proof to `size`
    /// (FORMAT.md §13.6, §15.1): what a page needs to show when the witnesses attest the answer
    /// was recorded by. Ascending size, each once.
    async fn witnessed_for_answers(
        &self,
        events: &BTreeMap<u64, Envelope>,
        size: u64,
    ) -> Result<Vec<(String, Vec<Hash256>)>, ApplicationError> {
        let mut notes: BTreeMap<u64, String> = BTreeMap::new();
        let mut covered_below = 0;
        for (index, envelope) in events {
            if envelope.author().event_type != ANSWER_EVENT_TYPE || *index < covered_below {
                continue;
            }
            let Some(note) = self.store.witnessed_checkpoints(index + 1, 1).await?.pop() else { break };
            let note = String::from_utf8_lossy(&note).into_owned();
            let Some(note_size) = klero_store::witnessed_checkpoint_size(note.as_bytes()).filter(|s| *s < size) else {
                continue;
            };
            // Every answer below this size is covered by it (the first kept above each).
            covered_below = note_size;
            notes.insert(note_size, note);
        }
        let mut witnessed = Vec::with_capacity(notes.len());
        for (note_size, note) in notes {
            witnessed.push((note, self.log.consistency_proof(note_size, size)?));
        }
        Ok(witnessed)
    }

    /// The events of `stream` at `revisions` (ascending), with their log indexes.
    async fn read_revisions(&self, stream: &str, revisions: &[u64]) -> Result<Vec<(u64, Envelope)>, ApplicationError> {
        let (Some(first), Some(last)) = (revisions.first(), revisions.last()) else { return Ok(Vec::new()) };
        let wanted: HashSet<u64> = revisions.iter().copied().collect();
        let step = self.config.limits.read_events_max;
        let mut out = Vec::with_capacity(revisions.len());
        let mut from = *first;
        while from <= *last {
            let read = self.log.read_stream(stream, StreamStart::Revision(from), ReadDirection::Forwards, step).await?;
            let Some(end) = read.last().map(|event| event.envelope.ledger().stream_revision) else { break };
            for event in read {
                let revision = event.envelope.ledger().stream_revision;
                if revision <= *last && wanted.contains(&revision) {
                    out.push((event.leaf_index, event.envelope));
                }
            }
            from = end + 1;
        }
        Ok(out)
    }

    /// The opened sealed text and the documents the page shows ([`shown_events`]): short text
    /// documents are included, others (too long, not text, or evidence, which is linked) named
    /// as held when the store holds them.
    async fn shown_content(
        &self,
        target: &SliceTarget,
        events: &BTreeMap<u64, Envelope>,
        page_events: &BTreeSet<u64>,
    ) -> Result<(Vec<Opening>, Vec<(Hash256, Vec<u8>)>, Vec<Hash256>), ApplicationError> {
        let decoded: BTreeMap<u64, (DomainEvent, Hash256)> = page_events
            .iter()
            .filter_map(|index| {
                let envelope = &events[index];
                LogFold::decode(envelope).ok().map(|event| (*index, (event, envelope.event_hash())))
            })
            .collect();
        let mut openings = Vec::new();
        let mut inline: BTreeMap<Hash256, Vec<u8>> = BTreeMap::new();
        let mut held: BTreeSet<Hash256> = BTreeSet::new();
        for (index, event) in shown_events(target, &decoded) {
            let sealed = event.shown_sealed_fields();
            if !sealed.is_empty() && self.store.keeps_data_keys() {
                let event_id = events[&index].author().event_id;
                if let DataKeyState::Live(key) = self.store.read_data_key(&event_id).await? {
                    for (field, sealed_text) in sealed {
                        let opened =
                            klero_domain::personal::open(&klero_domain::DataKey(key), &event_id.0, field, sealed_text)
                                .map_err(|why| ApplicationError::Corrupt {
                                    reason: format!("{field} of event {event_id} does not open: {why}"),
                                })?;
                        openings.push(Opening {
                            log_index: index,
                            field: field.to_string(),
                            salt: opened.salt,
                            text: opened.text,
                        });
                    }
                }
            }
            for (hash, kind) in event.committed_documents() {
                if inline.contains_key(&hash) || held.contains(&hash) {
                    continue;
                }
                let document = match self.store.read_document(&hash.0).await {
                    Ok(Some(document)) => document,
                    Ok(None) => continue,
                    Err(error) => return Err(error.into()),
                };
                let linked_only = matches!(kind, DocumentKind::Evidence | DocumentKind::ImplementationEvidence);
                let textual = document.info.media_type.starts_with("text/")
                    && document.bytes.len() <= INLINE_DOCUMENT_BYTES_MAX
                    && std::str::from_utf8(&document.bytes).is_ok();
                if textual && !linked_only && !matches!(target, SliceTarget::Event(_)) {
                    inline.insert(hash, document.bytes);
                } else {
                    held.insert(hash);
                }
            }
        }
        Ok((openings, inline.into_iter().collect(), held.into_iter().collect()))
    }
}
