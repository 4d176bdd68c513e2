//! One event's page: what it says, as a table of its fields, who signed it and with what
//! authority, its bytes and its place in its stream.

use crate::format::{self, date_words, time_words};
use crate::{Chrome, PageError, PersonalShown, RenderedPage};
use askama::Template;
use base64::Engine as _;
use klero_domain::{DomainEvent, PersonalText, Scope, StreamKind};
use klero_fold::LogFold;
use klero_ledger::Hash256;
use klero_verifier::slice::{Authorisation, VerifiedSlice};

/// One field of an event, as the page reads it out.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub value: FieldValue,
}

#[derive(Clone, Debug)]
pub enum FieldValue {
    Text(String),
    /// A date, in words, with its ISO form.
    Date(String, String),
    Number(u64),
    /// A hash, and where what it names can be seen.
    Hash {
        hex: String,
        link: Option<String>,
    },
    /// A list of short texts.
    List(Vec<String>),
    /// Free text that may be sealed.
    Personal(PersonalShown),
}

impl FieldValue {
    fn hash(hash: &Hash256, link: Option<String>) -> FieldValue {
        FieldValue::Hash { hex: hash.to_hex(), link }
    }

    fn date(date: klero_domain::Date) -> FieldValue {
        FieldValue::Date(date_words(&date.to_string()), date.to_string())
    }

    /// A committed document's hash, linked to its bytes only when the server holds them: a
    /// document never uploaded, or erased, has no page to link to.
    fn document(slice: &VerifiedSlice, hash: &Hash256) -> FieldValue {
        let held = slice.documents.contains_key(hash) || slice.documents_held.contains(hash);
        FieldValue::hash(hash, held.then(|| format!("/documents/{}", hash.to_hex())))
    }
}

/// Where the event a hash names is, if the slice shows it.
fn event_link(slice: &VerifiedSlice, hash: &Hash256) -> Option<String> {
    slice
        .events
        .iter()
        .find(|(_, (_, h))| h == hash)
        .map(|(index, _)| format!("{}/events/{index}", crate::i18n::current().prefix()))
}

fn personal(slice: &VerifiedSlice, text: &PersonalText) -> FieldValue {
    FieldValue::Personal(match text {
        PersonalText::Plain(text) => PersonalShown::Plain(text.clone()),
        PersonalText::Sealed(sealed) => match slice.openings.get(&sealed.commitment) {
            Some(opened) => PersonalShown::Opened(opened.text.clone()),
            None => PersonalShown::Unopened,
        },
    })
}

/// The catalogue's id of a field's label: `Public key` is `field-public-key`.
pub fn field_id(name: &str) -> String {
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("field-{}", slug.split('-').filter(|part| !part.is_empty()).collect::<Vec<_>>().join("-"))
}

/// Quotas as lines: "age: 16-24, 2 to 4 seats".
fn quota_lines(quotas: &[klero_domain::events::Quota]) -> Vec<String> {
    quotas
        .iter()
        .map(|q| {
            crate::i18n::tra(
                "quota-line",
                &[
                    ("feature", (&q.feature).into()),
                    ("value", (&q.value).into()),
                    ("min", q.min.into()),
                    ("max", q.max.into()),
                ],
            )
        })
        .collect()
}

/// Every field of `event`, in the order of its message.
pub fn fields(slice: &VerifiedSlice, event: &DomainEvent) -> Vec<Field> {
    use FieldValue::*;
    // A field's label is its English name made an id (`field-…`), in the page's language.
    let f = |name: &'static str, value: FieldValue| Field { name: crate::i18n::tr(&field_id(name)), value };
    let text = |t: &str| Text(t.to_string());
    let number = |n: u32| Number(n as u64);
    match event {
        DomainEvent::KeyGranted(e) => vec![
            f("Key", text(&klero_ledger::hash::to_hex(&e.public_key))),
            f("Role", Text(role_words(e.role))),
            f("Scope", Text(scope_words(&e.scope))),
            f("Holder", text(&e.holder_title)),
        ],
        DomainEvent::KeyRevoked(e) => vec![
            f("Key", text(&klero_ledger::hash::to_hex(&e.public_key))),
            f("Role", Text(role_words(e.role))),
            f("Scope", Text(scope_words(&e.scope))),
            f("Reason", text(&e.reason)),
        ],
        DomainEvent::CouncilRegistered(e) => vec![
            f("Council", text(e.council_id.as_str())),
            f("Council name", text(&e.name)),
            f("Council's trust root", text(&klero_ledger::hash::to_hex(&e.root_public_key))),
        ],
        DomainEvent::AssemblyConvened(e) => vec![
            f("Assembly", text(e.assembly_id.as_str())),
            f("Council", text(&e.council)),
            f("Question", text(&e.remit_question)),
            f("Area", text(&e.area)),
            f("Starts on", FieldValue::date(e.starts_on)),
            f("Ends on", FieldValue::date(e.ends_on)),
            f("Panel size", number(e.panel_size)),
            f("Votes needed to adopt (%)", number(e.adoption_threshold_percent)),
            f("Days the council has to answer", number(e.response_deadline_days)),
        ],
        DomainEvent::LettersPlanned(e) => {
            let mut fields = vec![
                f("Address list", FieldValue::hash(&e.address_list_hash, None)),
                f("Addresses", Number(e.address_count as u64)),
                f("Letters", Number(e.letter_count as u64)),
            ];
            if !e.areas.is_empty() {
                fields.push(f("Area column", text(&e.area_column)));
                let lines = e.areas.iter().map(|a| {
                    crate::i18n::tra(
                        "area-letters-line",
                        &[("area", (&a.area).into()), ("letters", a.letters.into()), ("addresses", a.addresses.into())],
                    )
                });
                fields.push(f("Letters by area", List(lines.collect())));
            }
            fields.push(f("Seed commitment", FieldValue::hash(&e.seed_commitment, None)));
            fields.push(f("Source of randomness", text(&e.randomness_source)));
            fields
        }
        DomainEvent::LettersDrawn(e) => vec![f("Seed", text(&klero_ledger::hash::to_hex(&e.seed)))],
        DomainEvent::SelectionPlanned(e) => vec![
            f("Panel size", number(e.panel_size)),
            f("Quotas", List(quota_lines(&e.quotas))),
            f("Algorithm", Text(format!("{} ({})", e.algorithm, e.algorithm_version))),
            f("Pool commitment", FieldValue::hash(&e.pool_commitment, None)),
            f("Seed commitment", FieldValue::hash(&e.seed_commitment, None)),
            f("Source of randomness", text(&e.randomness_source)),
        ]
        .into_iter()
        .chain((e.reserve_count > 0).then(|| f("Reserves to draw", number(e.reserve_count))))
        .collect(),
        DomainEvent::QuotasRelaxed(e) => {
            vec![f("Relaxed quotas", List(quota_lines(&e.quotas))), f("Reason", text(&e.reason))]
        }
        DomainEvent::PoolRegistered(e) => vec![
            f("Volunteers", Number(e.members.len() as u64)),
            f("Hash of the pool", FieldValue::hash(&e.payload_hash, None)),
        ],
        DomainEvent::LotteryPublished(e) => vec![f("Possible panels", Number(e.panels.len() as u64))],
        DomainEvent::PanelDrawn(e) => {
            let mut fields = vec![
                f("Seed", text(&klero_ledger::hash::to_hex(&e.seed))),
                f("Members drawn", List(e.member_ids.clone())),
            ];
            if !e.reserve_member_ids.is_empty() {
                fields.push(f("Reserves, in order", List(e.reserve_member_ids.clone())));
            }
            fields
        }
        DomainEvent::MemberWithdrew(e) => {
            vec![
                f("Member", text(&e.member_id)),
                f("Reason", Text(crate::i18n::tr(&format!("withdrawal-{:?}", e.reason).to_lowercase()))),
            ]
        }
        DomainEvent::ReplacementDrawn(e) => {
            vec![f("In place of", text(&e.withdrawn_member_id)), f("Replacement", text(&e.replacement_member_id))]
        }
        DomainEvent::SessionHeld(e) => vec![
            f("Session", number(e.session_number)),
            f("Held on", FieldValue::date(e.held_on)),
            f("Agenda", text(&e.agenda)),
            f("Members present", number(e.attendance_count)),
        ],
        DomainEvent::EvidencePresented(e) => vec![
            f("Session", number(e.session_number)),
            f("Presented by", text(&e.speaker_role)),
            f("Title", personal(slice, &e.title)),
            f("Document", FieldValue::document(slice, &e.content_hash)),
            f("Media type", text(&e.media_type)),
        ],
        DomainEvent::PublicSubmissionReceived(e) => vec![
            f("Submitter (pseudonymous)", text(&e.submitter_id)),
            match &e.content {
                klero_domain::events::SubmissionContent::Document(hash) => {
                    f("Document", FieldValue::document(slice, hash))
                }
                klero_domain::events::SubmissionContent::Sealed(sealed) => {
                    f("Text", personal(slice, &PersonalText::Sealed(sealed.clone())))
                }
            },
            f("Received on", FieldValue::date(e.received_on)),
        ],
        DomainEvent::CallOpened(e) => vec![
            f("Call", text(&e.call_id)),
            f("What is asked", text(&e.prompt)),
            f("About", Text(e.recommendation_id.clone().unwrap_or_else(|| crate::i18n::tr("about-assembly-question")))),
            f("Opens on", FieldValue::date(e.opens_on)),
            f("Closes on", FieldValue::date(e.closes_on)),
            f("Longest submission (bytes)", number(e.text_bytes_max)),
            f("One submission per key", Text(crate::i18n::tr(if e.one_per_key { "yes" } else { "no" }))),
            f("Asks for a name and postcode", Text(crate::i18n::tr(if e.names_asked { "yes" } else { "no" }))),
            f("Consent text", FieldValue::document(slice, &e.consent_hash)),
            f("Moderation policy", FieldValue::document(slice, &e.moderation_policy_hash)),
            f("Reasons to withhold", text(&e.withhold_reasons.join(", "))),
            f("Personal data kept (days)", number(e.retention_days)),
        ],
        DomainEvent::CallClosed(e) => vec![f("Call", text(&e.call_id)), f("Reason", text(&e.reason))],
        DomainEvent::ResidentSubmitted(e) => vec![
            f("Call", text(&e.call_id)),
            f(
                "How it came",
                Text(crate::i18n::tr(match e.path {
                    klero_domain::SubmissionPath::Browser => "path-browser-long",
                    klero_domain::SubmissionPath::WebForm => "path-web-form-long",
                })),
            ),
            f("Text", personal(slice, &PersonalText::Sealed(e.text.clone()))),
            f("Contact", Text(crate::i18n::tr(if e.contact.is_some() { "contact-sealed" } else { "contact-none" }))),
        ],
        DomainEvent::SubmissionModerated(e) => vec![
            f("Submission", FieldValue::hash(&e.submission_event_hash, event_link(slice, &e.submission_event_hash))),
            f(
                "Decision",
                Text(crate::i18n::tr(match e.decision {
                    klero_domain::ModerationDecision::Publish => "moderation-published",
                    klero_domain::ModerationDecision::Withhold => "moderation-withheld",
                })),
            ),
            f("Reason", Text(e.reason.clone().unwrap_or_else(|| crate::i18n::tr("reason-none-published")))),
        ],
        DomainEvent::ModerationAppealed(e) => vec![f(
            "Submission",
            FieldValue::hash(&e.submission_event_hash, event_link(slice, &e.submission_event_hash)),
        )],
        DomainEvent::RecommendationDrafted(e) => vec![
            f("Recommendation", text(&e.recommendation_id)),
            f("Title", text(&e.title)),
            f("Text", FieldValue::document(slice, &e.text_hash)),
        ],
        DomainEvent::RecommendationAmended(e) => vec![
            f("Recommendation", text(&e.recommendation_id)),
            f("New text", FieldValue::document(slice, &e.text_hash)),
            f("Reason", text(&e.reason)),
        ],
        DomainEvent::RecommendationWithdrawn(e) => {
            vec![f("Recommendation", text(&e.recommendation_id)), f("Reason", text(&e.reason))]
        }
        DomainEvent::VoteRecorded(e) => vec![
            f("Recommendation", text(&e.recommendation_id)),
            f("For", number(e.tally.in_favour)),
            f("Against", number(e.tally.against)),
            f("Abstaining", number(e.tally.abstaining)),
        ],
        DomainEvent::RecommendationAdopted(e) => vec![
            f("Recommendation", text(&e.recommendation_id)),
            f("Text adopted", FieldValue::document(slice, &e.final_text_hash)),
            f("For", number(e.tally.in_favour)),
            f("Against", number(e.tally.against)),
            f("Abstaining", number(e.tally.abstaining)),
        ],
        DomainEvent::FinalReportPublished(e) => vec![f("Report", FieldValue::document(slice, &e.content_hash))],
        DomainEvent::RecommendationInputsCited(e) => vec![
            f("Recommendation", text(&e.recommendation_id)),
            f("For the text", FieldValue::document(slice, &e.text_hash)),
            f(
                "Inputs cited",
                List(e.citations.iter().map(|c| format!("{}: “{}”", c.input_event_hash, c.note)).collect()),
            ),
        ],
        DomainEvent::ResponseIssued(e) => vec![
            f(
                "Answers the adoption",
                FieldValue::hash(&e.recommendation_event_hash, event_link(slice, &e.recommendation_event_hash)),
            ),
            f("Decision", text(&format::decision_label(e.decision))),
            f("Rationale", personal(slice, &e.rationale)),
            f("Responsible", text(&e.responsible_body)),
            f("To be done by", FieldValue::date(e.due_on)),
        ],
        DomainEvent::ResponseAmended(e) => vec![
            f(
                "Answers the adoption",
                FieldValue::hash(&e.recommendation_event_hash, event_link(slice, &e.recommendation_event_hash)),
            ),
            f("Decision", text(&format::decision_label(e.decision))),
            f("Rationale", personal(slice, &e.rationale)),
            f("Responsible", text(&e.responsible_body)),
            f("To be done by", FieldValue::date(e.due_on)),
            f("Reason for the amendment", text(&e.reason)),
        ],
        DomainEvent::ImplementationUpdated(e) => vec![
            f(
                "For the adoption",
                FieldValue::hash(&e.recommendation_event_hash, event_link(slice, &e.recommendation_event_hash)),
            ),
            f("Status", text(&format::status_label(e.status))),
            f("Progress (%)", number(e.progress_percent)),
            f("Note", personal(slice, &e.note)),
            f(
                "Evidence",
                match &e.evidence_hash {
                    Some(hash) => FieldValue::document(slice, hash),
                    None => Text(crate::i18n::tr("none")),
                },
            ),
        ],
        DomainEvent::ResponseInputsConsidered(e) => vec![
            f(
                "For the adoption",
                FieldValue::hash(&e.recommendation_event_hash, event_link(slice, &e.recommendation_event_hash)),
            ),
            f(
                "Inputs considered",
                List(e.citations.iter().map(|c| format!("{}: “{}”", c.input_event_hash, c.note)).collect()),
            ),
            f(
                "Letter",
                match &e.letter_hash {
                    Some(hash) => FieldValue::document(slice, hash),
                    None => Text(crate::i18n::tr("none")),
                },
            ),
        ],
        DomainEvent::PersonalDataRetentionSet(e) => vec![f("Days personal text is kept", number(e.retention_days))],
        DomainEvent::ContentErased(e) => vec![
            f("Erases the content of", FieldValue::hash(&e.event_hash, event_link(slice, &e.event_hash))),
            f("Legal basis", text(&e.legal_basis)),
            f("Erased on", FieldValue::date(e.erased_on)),
        ],
    }
}

/// A role's name in the page's language.
fn role_words(role: klero_domain::Role) -> String {
    crate::i18n::tr(&format!("role-{}", role.to_string().replace(' ', "-")))
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::AllAssemblies => crate::i18n::tr("scope-every-assembly"),
        Scope::Assembly(id) => crate::i18n::tra("scope-assembly", &[("id", id.as_str().into())]),
    }
}

/// What the event page shows.
#[derive(Clone, Debug)]
pub struct EventModel {
    pub log_index: u64,
    pub type_name: String,
    pub event_type: String,
    pub event_version: u32,
    pub stream: String,
    pub stream_revision: u64,
    /// The assembly the stream belongs to, if any.
    pub assembly: Option<String>,
    pub event_id: String,
    pub event_hash: String,
    pub author: String,
    /// What authorised it, in words, and the grant's event if any.
    pub authority: String,
    pub grant_log_index: Option<u64>,
    pub authored: String,
    pub recorded: String,
    pub fields: Vec<Field>,
    pub envelope_b64: String,
    pub envelope_len: usize,
    pub previous: Option<u64>,
    pub next: Option<u64>,
    /// The stream's last revision at the checkpoint.
    pub head_revision: u64,
}

impl EventModel {
    pub fn from_slice(slice: &VerifiedSlice, log_index: u64) -> Result<EventModel, PageError> {
        let (envelope, hash) = slice
            .events
            .get(&log_index)
            .ok_or_else(|| PageError::NotFound(crate::i18n::tra("error-no-event", &[("index", log_index.into())])))?;
        let author = envelope.author();
        let ledger = envelope.ledger();
        let decoded = LogFold::decode(envelope).map_err(|_| {
            PageError::BadRequest(crate::i18n::tra("error-event-does-not-decode", &[("index", log_index.into())]))
        })?;
        let (authority, grant_log_index) = match &slice.authorised_by {
            Some(Authorisation::TrustRoot) => (crate::i18n::tr("authority-trust-root"), None),
            Some(Authorisation::Grant(grant)) => (
                crate::i18n::tra(
                    "authority-grant",
                    &[
                        ("role", role_words(grant.role).into()),
                        ("holder", grant.holder_title.as_str().into()),
                        ("scope", scope_words(&grant.scope).into()),
                    ],
                ),
                Some(grant.granted_at_log_index),
            ),
            Some(Authorisation::Resident) => (crate::i18n::tr("authority-resident"), None),
            None => (crate::i18n::tr("authority-not-established"), None),
        };
        let sibling = |revision: Option<u64>| {
            revision.and_then(|revision| {
                slice
                    .events
                    .iter()
                    .find(|(_, (e, _))| e.author().stream == author.stream && e.ledger().stream_revision == revision)
                    .map(|(index, _)| *index)
            })
        };
        Ok(EventModel {
            log_index,
            type_name: author.event_type.rsplit('.').next().unwrap_or_default().to_string(),
            event_type: author.event_type.clone(),
            event_version: author.event_version,
            stream: author.stream.clone(),
            stream_revision: ledger.stream_revision,
            assembly: StreamKind::parse_stream(&author.stream)
                .and_then(|(_, assembly)| assembly)
                .map(|id| id.to_string()),
            event_id: author.event_id.to_uuid_string(),
            event_hash: hash.to_hex(),
            author: klero_ledger::hash::to_hex(&author.author_public_key),
            authority,
            grant_log_index,
            authored: time_words(author.authored_at_unix_ms),
            recorded: time_words(ledger.recorded_at_unix_ms),
            fields: fields(slice, &decoded),
            envelope_b64: base64::engine::general_purpose::STANDARD.encode(envelope.bytes()),
            envelope_len: envelope.bytes().len(),
            previous: sibling(ledger.stream_revision.checked_sub(1)),
            next: sibling(Some(ledger.stream_revision + 1)),
            head_revision: slice.heads.get(&author.stream).map_or(ledger.stream_revision, |head| head.revision),
        })
    }
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    e: EventModel,
}

pub(crate) fn render_event(chrome: Chrome, slice: &VerifiedSlice, log_index: u64) -> Result<RenderedPage, PageError> {
    let e = EventModel::from_slice(slice, log_index)?;
    Ok(RenderedPage {
        lang: crate::i18n::current(),
        title: crate::i18n::tra("title-event", &[("index", log_index.into())]),
        body: EventPage { chrome, e }.render()?,
        feed: None,
    })
}
