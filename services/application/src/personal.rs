//! Personal text: the data keys that open sealed fields, their erasure, and retention
//! (docs/FORMAT.md §14).
//!
//! - An append whose events hold sealed text brings one data key per such event. The core
//!   opens every sealed field with it and checks the text against the signed commitment, then
//!   has the store keep the keys durably before the append: an acknowledged event's key is
//!   never missing.
//! - A `ContentErased` event is decided like any other. Only once the log holds it (durable)
//!   does the core destroy the named event's data key and delete a personal document it
//!   commits to: right after the append, before the answer, and again for every erased item
//!   when the core opens, so that a crash between the two is finished on restart.
//! - Views never hold the plaintext; [`Application::open_personal_text`] opens it on request.

use crate::{read, Application, ApplicationError};
use klero_domain::events::ContentErased;
use klero_domain::personal::{self, DataKey, OpenedText};
use klero_domain::rules::{Erasure, PersonalItem};
use klero_domain::{AssemblyId, DomainEvent, StreamKind};
use klero_ledger::envelope::EventId;
use klero_ledger::Hash256;
use klero_log::VerifiedAuthorPart;
use klero_store::DataKeyState;

/// Most overdue items listed at once.
pub const OVERDUE_LISTED_MAX: usize = 1_000;

/// One sealed field of an event, opened, or not any more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedField {
    /// The field's protobuf name, e.g. `sealed_text`.
    pub field: &'static str,
    /// The commitment the author signed.
    pub commitment: Hash256,
    /// The text and its salt; `None` once erased.
    pub opened: Option<OpenedText>,
}

/// The personal content of one event, as far as it can still be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalTextOpening {
    pub fields: Vec<OpenedField>,
    /// When and why it was erased, if it was.
    pub erasure: Option<Erasure>,
    /// A personal document the event commits to (a version 1 public submission).
    pub document: Option<Hash256>,
}

/// An item whose retention period has ended and which is not erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverdueErasure {
    pub event_hash: Hash256,
    pub log_index: u64,
    pub recorded_at_unix_ms: u64,
    pub due_at_unix_ms: u64,
}

/// Checks the data keys an append brings against its events: one key for each event that
/// holds sealed text and none for any other, each opening every sealed field of its event to
/// the text its commitment names. The keys to keep, by event id.
pub(crate) fn check_data_keys(
    verified: &[VerifiedAuthorPart],
    events: &[DomainEvent],
    data_keys: &[Option<DataKey>],
) -> Result<Vec<(EventId, [u8; 32])>, ApplicationError> {
    if !data_keys.is_empty() && data_keys.len() != events.len() {
        return Err(ApplicationError::invalid_field(
            "data_keys",
            format!("must be empty or hold one entry per event ({}), not {}", events.len(), data_keys.len()),
        ));
    }
    let field_name =
        |index: usize| if events.len() == 1 { "data_key".to_string() } else { format!("data_keys[{index}]") };
    let mut keep = Vec::new();
    for (index, (event, signed)) in events.iter().zip(verified).enumerate() {
        let sealed = event.sealed_fields();
        let key = data_keys.get(index).and_then(Option::as_ref);
        let event_id = signed.signed().author().event_id;
        match (sealed.is_empty(), key) {
            (true, None) => {}
            (true, Some(_)) => {
                return Err(ApplicationError::invalid_field(
                    field_name(index),
                    "must be empty: the event holds no sealed text",
                ))
            }
            (false, None) => {
                return Err(ApplicationError::invalid_field(
                    field_name(index),
                    "is required: the event holds sealed text, and the server must keep its key to read or erase it",
                ))
            }
            (false, Some(key)) => {
                for (field, sealed) in sealed {
                    personal::open(key, &event_id.0, field, sealed).map_err(|why| {
                        ApplicationError::invalid_field(field_name(index), format!("does not open {field}: {why}"))
                    })?;
                }
                keep.push((event_id, key.0));
            }
        }
    }
    Ok(keep)
}

/// The erasures among `events`, with the assembly each belongs to.
pub(crate) fn erasures_in<'e>(
    stream: &str,
    events: impl IntoIterator<Item = &'e DomainEvent>,
) -> Vec<(AssemblyId, ContentErased)> {
    let Some((_, Some(assembly))) = StreamKind::parse_stream(stream) else { return Vec::new() };
    events
        .into_iter()
        .filter_map(|event| match event {
            DomainEvent::ContentErased(erased) => Some((assembly.clone(), erased.clone())),
            _ => None,
        })
        .collect()
}

impl Application {
    fn personal_item(&self, assembly: &AssemblyId, event_hash: &Hash256) -> Result<PersonalItem, ApplicationError> {
        read(&self.fold).state().personal_item(assembly, event_hash).ok_or_else(|| ApplicationError::NotFound {
            what: format!("personal content of event {event_hash} in assembly {assembly}"),
        })
    }

    /// The event holding an item, decoded.
    async fn personal_event(&self, item: &PersonalItem) -> Result<(EventId, DomainEvent), ApplicationError> {
        let envelope = self.log.event_at(item.log_index).await?;
        let event = klero_fold::LogFold::decode(&envelope).map_err(|violations| ApplicationError::Corrupt {
            reason: format!("log index {} no longer decodes: {violations:?}", item.log_index),
        })?;
        Ok((envelope.author().event_id, event))
    }

    /// Destroys the data key of an erased event and deletes a personal document it commits
    /// to. Only ever called for a `ContentErased` the log holds; safe to call again.
    pub(crate) async fn finish_erasure(&self, assembly: &AssemblyId, erased: &Hash256) -> Result<(), ApplicationError> {
        let item = self.personal_item(assembly, erased)?;
        let (event_id, event) = self.personal_event(&item).await?;
        let failed = |error: klero_store::StoreError| {
            self.write_failure.record_store_error(&error);
            ApplicationError::from(error)
        };
        if !event.sealed_fields().is_empty() && self.store.destroy_data_key(&event_id).await.map_err(failed)? {
            tracing::info!(%assembly, event = %erased, "data key destroyed: the event's sealed text is erased");
        }
        for (document, kind) in event.committed_documents() {
            if kind.may_hold_personal_data() && self.store.delete_document(&document.0).await.map_err(failed)? {
                tracing::info!(%assembly, event = %erased, %document, "personal document deleted");
            }
        }
        self.erasures_to_complete.notify_one();
        Ok(())
    }

    /// Finishes the erasures among events the log already holds (a retried append).
    pub(crate) async fn finish_erasures_of<E: std::borrow::Borrow<klero_ledger::envelope::SignedAuthorPart>>(
        &self,
        stream: &str,
        signed: &[E],
    ) -> Result<(), ApplicationError> {
        let decoded: Vec<DomainEvent> = signed
            .iter()
            .map(|event| event.borrow().author())
            .filter(|author| author.event_type == klero_catalogue::CONTENT_ERASED_EVENT_TYPE)
            .filter_map(|author| {
                klero_catalogue::decode_event(&author.event_type, author.event_version, &author.payload).ok()
            })
            .collect();
        for (assembly, erased) in erasures_in(stream, &decoded) {
            self.finish_erasure(&assembly, &erased.event_hash).await?;
        }
        Ok(())
    }

    /// Finishes every erasure the log records: a key not yet destroyed (the server stopped
    /// between the `ContentErased` append and the destruction) is destroyed now.
    pub(crate) async fn finish_pending_erasures(&self) -> Result<usize, ApplicationError> {
        let erased: Vec<(AssemblyId, Hash256)> = {
            let fold = read(&self.fold);
            let state = fold.state();
            // The erasures are the assembly's own state: no need to walk its personal items.
            state
                .assembly_ids()
                .iter()
                .filter_map(|id| state.assembly(id).map(|a| (id, a)))
                .flat_map(|(id, a)| a.erasures.keys().map(|hash| (id.clone(), *hash)))
                .collect()
        };
        for (assembly, event_hash) in &erased {
            self.finish_erasure(assembly, event_hash).await?;
        }
        Ok(erased.len())
    }

    /// Opens the sealed fields of one event with the key the store keeps, or says when and
    /// why its content was erased.
    pub async fn open_personal_text(
        &self,
        assembly: &AssemblyId,
        event_hash: &Hash256,
    ) -> Result<PersonalTextOpening, ApplicationError> {
        self.sync_fold().await?;
        self.open_folded(assembly, event_hash).await
    }

    /// [`Application::open_personal_text`] on the fold as it stands.
    pub(crate) async fn open_folded(
        &self,
        assembly: &AssemblyId,
        event_hash: &Hash256,
    ) -> Result<PersonalTextOpening, ApplicationError> {
        let item = self.personal_item(assembly, event_hash)?;
        let (event_id, event) = self.personal_event(&item).await?;
        let key = match (&item.erasure, event.sealed_fields().is_empty()) {
            (Some(_), _) | (None, true) => None,
            (None, false) => match self.store.read_data_key(&event_id).await? {
                DataKeyState::Live(key) => Some(DataKey(key)),
                // Destroyed ahead of the fold seeing the erasure: nothing to open.
                DataKeyState::Destroyed => None,
                DataKeyState::Absent => {
                    return Err(ApplicationError::Corrupt {
                        reason: format!("the store keeps no data key for event {event_id}, which holds sealed text"),
                    })
                }
            },
        };
        let mut fields = Vec::new();
        for (field, sealed) in event.sealed_fields() {
            let opened = match &key {
                None => None,
                Some(key) => Some(personal::open(key, &event_id.0, field, sealed).map_err(|why| {
                    ApplicationError::Corrupt { reason: format!("{field} of event {event_id} does not open: {why}") }
                })?),
            };
            fields.push(OpenedField { field, commitment: sealed.commitment, opened });
        }
        let document =
            event.committed_documents().into_iter().find(|(_, kind)| kind.may_hold_personal_data()).map(|(h, _)| h);
        Ok(PersonalTextOpening { fields, erasure: item.erasure, document })
    }

    /// Every sealed field of the assembly that can still be opened, by its commitment: what
    /// the public pages show in place of `{"sealed_commitment": …}` in the views.
    pub async fn opened_personal_texts(
        &self,
        assembly: &AssemblyId,
    ) -> Result<std::collections::HashMap<Hash256, OpenedField>, ApplicationError> {
        self.sync_fold().await?;
        let live: Vec<Hash256> = read(&self.fold)
            .state()
            .personal_items(assembly)
            .filter(|(_, item)| item.erasure.is_none())
            .map(|(hash, _)| hash)
            .collect();
        let mut opened = std::collections::HashMap::new();
        for event_hash in live {
            for field in self.open_folded(assembly, &event_hash).await?.fields {
                if field.opened.is_some() {
                    opened.insert(field.commitment, field);
                }
            }
        }
        Ok(opened)
    }

    /// The assembly's retention period, and its items whose period has ended and which are
    /// not erased, in log order (at most [`OVERDUE_LISTED_MAX`]).
    pub async fn overdue_erasures(
        &self,
        assembly: &AssemblyId,
    ) -> Result<(Option<u32>, Vec<OverdueErasure>), ApplicationError> {
        self.sync_fold().await?;
        let now = (self.config.clock)();
        let fold = read(&self.fold);
        let state = fold
            .state()
            .assembly(assembly)
            .ok_or_else(|| ApplicationError::NotFound { what: format!("assembly {assembly}") })?;
        let mut overdue: Vec<OverdueErasure> = fold
            .state()
            .personal_items(assembly)
            .filter(|(_, item)| item.erasure.is_none())
            .filter_map(|(hash, item)| {
                let due = state.erasure_due_at_unix_ms(item.recorded_at_unix_ms)?;
                (due <= now).then_some(OverdueErasure {
                    event_hash: hash,
                    log_index: item.log_index,
                    recorded_at_unix_ms: item.recorded_at_unix_ms,
                    due_at_unix_ms: due,
                })
            })
            .collect();
        overdue.sort_by_key(|item| item.log_index);
        overdue.truncate(OVERDUE_LISTED_MAX);
        Ok((state.retention_days, overdue))
    }
}
