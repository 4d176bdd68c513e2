//! Kleroterion's event catalogue: which protobuf message is which event, and the one decoder
//! of payloads into validated domain events.
//!
//! Longer than 800 lines on purpose: every event type's decoder lives here, beside its one
//! `catalogue!` line, so that adding an event type touches this one file of the catalogue
//! (ARCHITECTURE.md, "Adding an event type"); split by stage, the same change would touch two.
//!
//! [`catalogue!`] below is the one place that links, for every event type, its domain type
//! (which declares its stream kind and authors in `klero-domain`), its protobuf message, its
//! type name and its version. The links are checked when compiling:
//! - a domain event type missing here fails [`event_type_of`]'s exhaustive match;
//! - a message without a decoder ([`ToDomain`]) fails to build its [`EventMessage`] impl;
//! - a type name that differs from the message's full name in its `.proto` file fails a
//!   constant assertion.
//!
//! Every wire field is validated here, once, and every violation names its field; the rules
//! never see a prost type. The server, the projections and the auditor's verifier all decode
//! through [`decode_event`], so they can never disagree on a payload.

use klero_domain::events::*;
use klero_domain::*;
pub use klero_domain::{Authority, DomainEventType, StreamKind};
use klero_ledger::Hash256;
use klero_proto as pb;
use prost::Message;

/// Longest free-text field (titles, agendas, reasons, notes).
pub const TEXT_BYTES_MAX: usize = 2_000;
/// Longest rationale of a council response.
pub const RATIONALE_BYTES_MAX: usize = 10_000;
/// Most quotas in a selection plan.
pub const QUOTAS_MAX: usize = 200;
/// Most volunteers in a pool.
pub const POOL_MEMBERS_MAX: usize = 10_000;
/// Most feature values per volunteer.
pub const MEMBER_FEATURES_MAX: usize = 32;
/// Most panels in a published lottery.
pub const LOTTERY_PANELS_MAX: usize = 100_000;
/// Pseudonymous ids: 1 to 64 of `A-Z a-z 0-9 - _`.
pub const PSEUDONYM_BYTES_MAX: usize = 64;
/// Most citations in one event.
pub const CITATIONS_MAX: usize = 200;
/// Longest sealed public submission, in bytes of UTF-8 text.
pub const SUBMISSION_TEXT_BYTES_MAX: usize = 20_000;
/// Longest legal basis of an erasure.
pub const LEGAL_BASIS_BYTES_MAX: usize = TEXT_BYTES_MAX;
/// Longest retention period of personal text, in days (ten years).
pub const RETENTION_DAYS_MAX: u32 = 3_650;

/// One invalid field: its path in the payload and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

type Violations = Vec<FieldViolation>;

fn violation(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
    FieldViolation { field: field.into(), description: description.into() }
}

/// Collects violations while reading fields, so one response lists them all.
#[derive(Debug)]
pub struct Checker<'p> {
    /// The payload being decoded, exactly as signed.
    payload: &'p [u8],
    /// The event version the author signed: version 2 fields are refused at version 1.
    version: u32,
    violations: Violations,
}

impl Checker<'_> {
    /// SHA-256 of the exact payload bytes (a pool's commitment is to these).
    fn payload_hash(&self) -> Hash256 {
        Hash256::of(self.payload)
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        if value.trim().is_empty() {
            self.violations.push(violation(field, "is required"));
        } else if value.len() > max {
            self.violations.push(violation(field, format!("is {} bytes; the limit is {max}", value.len())));
        } else {
            self.characters(field, value);
        }
        value.to_string()
    }

    /// Recorded text holds no character that a page, feed or CSV cannot carry.
    fn characters(&mut self, field: &str, value: &str) {
        if let Err(bad) = klero_domain::text::check_text_characters(value) {
            self.violations.push(violation(field, bad.to_string()));
        }
    }

    fn pseudonym(&mut self, field: &str, value: &str) -> String {
        let ok = !value.is_empty()
            && value.len() <= PSEUDONYM_BYTES_MAX
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            self.violations
                .push(violation(field, "must be a pseudonymous id: 1 to 64 of A-Z a-z 0-9 - _ (never a name)"));
        }
        value.to_string()
    }

    fn hash(&mut self, field: &str, value: &[u8]) -> Hash256 {
        match <[u8; 32]>::try_from(value) {
            Ok(bytes) => Hash256(bytes),
            Err(_) => {
                self.violations
                    .push(violation(field, format!("must be a 32-byte SHA-256 hash, got {} bytes", value.len())));
                Hash256::ZERO
            }
        }
    }

    fn date(&mut self, field: &str, value: &str) -> Date {
        Date::parse(value).unwrap_or_else(|reason| {
            self.violations.push(violation(field, reason.to_string()));
            Date(0)
        })
    }

    fn range(&mut self, field: &str, value: u32, min: u32, max: u32) -> u32 {
        if value < min || value > max {
            self.violations.push(violation(field, format!("must be between {min} and {max}")));
        }
        value
    }

    /// The `quotas` field: 1 to [`QUOTAS_MAX`] quotas, each with pseudonym-safe names and
    /// min at most max.
    fn quotas(&mut self, quotas: &[pb::selection::Quota]) -> Vec<Quota> {
        if quotas.is_empty() || quotas.len() > QUOTAS_MAX {
            self.violations.push(violation("quotas", format!("must hold 1 to {QUOTAS_MAX} quotas")));
        }
        quotas
            .iter()
            .take(QUOTAS_MAX)
            .enumerate()
            .map(|(i, q)| {
                if q.min > q.max {
                    self.violations.push(violation(format!("quotas[{i}].max"), "must be at least min"));
                }
                Quota {
                    feature: self.pseudonym(&format!("quotas[{i}].feature"), &q.feature),
                    value: self.pseudonym(&format!("quotas[{i}].value"), &q.value),
                    min: q.min,
                    max: q.max,
                }
            })
            .collect()
    }

    fn public_key(&mut self, field: &str, value: &[u8]) -> [u8; 32] {
        let Ok(bytes) = <[u8; 32]>::try_from(value) else {
            self.violations.push(violation(field, "must be a 32-byte Ed25519 public key"));
            return [0; 32];
        };
        // The same rule the ledger applies to every author key (FORMAT.md §2.2).
        if let Err(why) = klero_ledger::signature::AuthorKey::from_bytes(&bytes) {
            self.violations.push(violation(field, format!("is not a usable Ed25519 public key: {why}")));
        }
        bytes
    }

    fn role(&mut self, field: &str, value: i32) -> Role {
        match pb::registry::Role::try_from(value) {
            Ok(pb::registry::Role::Convenor) => Role::Convenor,
            Ok(pb::registry::Role::SelectionOperator) => Role::SelectionOperator,
            Ok(pb::registry::Role::Facilitator) => Role::Facilitator,
            Ok(pb::registry::Role::PanelSecretary) => Role::PanelSecretary,
            Ok(pb::registry::Role::CouncilDecisionMaker) => Role::CouncilDecisionMaker,
            Ok(pb::registry::Role::Auditor) => Role::Auditor,
            Ok(pb::registry::Role::DataProtectionOfficer) => Role::DataProtectionOfficer,
            Ok(pb::registry::Role::Moderator) => Role::Moderator,
            Ok(pb::registry::Role::Intake) => Role::Intake,
            _ => {
                self.violations.push(violation(field, "must be a role other than ROLE_UNSPECIFIED"));
                Role::Auditor
            }
        }
    }

    fn scope(&mut self, field: &str, value: &str) -> Scope {
        Scope::parse(value).unwrap_or_else(|reason| {
            self.violations.push(violation(field, reason.to_string()));
            Scope::AllAssemblies
        })
    }

    fn decision(&mut self, field: &str, value: i32) -> Decision {
        match pb::response::Decision::try_from(value) {
            Ok(pb::response::Decision::Accepted) => Decision::Accepted,
            Ok(pb::response::Decision::AcceptedInPart) => Decision::AcceptedInPart,
            Ok(pb::response::Decision::NotAccepted) => Decision::NotAccepted,
            Ok(pb::response::Decision::ReferredForFurtherStudy) => Decision::ReferredForFurtherStudy,
            _ => {
                self.violations.push(violation(field, "must be a decision other than DECISION_UNSPECIFIED"));
                Decision::NotAccepted
            }
        }
    }

    /// Free text that may be sealed: at version 1 the plain field is required and the sealed one
    /// absent; at version 2 exactly one of them is set. A sealed field's ciphertext holds the
    /// 32-byte salt, at most `max` bytes of text and the 16-byte tag.
    fn personal_text(
        &mut self,
        field: &str,
        plain: &str,
        sealed_field: &str,
        sealed: Option<&pb::privacy::SealedText>,
        max: usize,
    ) -> PersonalText {
        match (self.version, sealed) {
            (_, None) => PersonalText::Plain(self.text(field, plain, max)),
            (1, Some(_)) => {
                self.violations.push(violation(sealed_field, "is a version 2 field; this event is at version 1"));
                PersonalText::Plain(String::new())
            }
            (_, Some(sealed)) => {
                if !plain.is_empty() {
                    self.violations.push(violation(field, format!("must be empty when {sealed_field} is set")));
                }
                PersonalText::Sealed(self.sealed_text(sealed_field, sealed, max))
            }
        }
    }

    fn sealed_text(&mut self, field: &str, sealed: &pb::privacy::SealedText, max: usize) -> SealedText {
        use klero_domain::personal::{NONCE_BYTES, SALT_BYTES, TAG_BYTES};
        let nonce = <[u8; NONCE_BYTES]>::try_from(sealed.nonce.as_slice()).unwrap_or_else(|_| {
            self.violations.push(violation(format!("{field}.nonce"), format!("must be {NONCE_BYTES} bytes")));
            [0; NONCE_BYTES]
        });
        let (least, most) = (SALT_BYTES + 1 + TAG_BYTES, SALT_BYTES + max + TAG_BYTES);
        if sealed.ciphertext.len() < least || sealed.ciphertext.len() > most {
            self.violations.push(violation(
                format!("{field}.ciphertext"),
                format!("must be {least} to {most} bytes (a 32-byte salt, 1 to {max} bytes of text, a 16-byte tag)"),
            ));
        }
        SealedText {
            nonce,
            ciphertext: sealed.ciphertext.clone(),
            commitment: self.hash(&format!("{field}.commitment"), &sealed.commitment),
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Violations> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(self.violations)
        }
    }
}

/// Decodes a payload strictly: it must be the canonical encoding of its message, so the signed
/// bytes carry no unknown fields (which could smuggle data past the rules) and have one form.
fn decode_canonical<M: Message + Default>(payload: &[u8]) -> Result<M, Violations> {
    let message =
        M::decode(payload).map_err(|e| vec![violation("payload", format!("is not a valid protobuf message: {e}"))])?;
    if message.encode_to_vec() != payload {
        return Err(vec![violation(
            "payload",
            "must be the canonical protobuf encoding (fields in order, no unknown fields, no default values)",
        )]);
    }
    Ok(message)
}

/// A protobuf message that is an event payload. Implemented by [`catalogue!`] only.
pub trait EventMessage: prost::Message + prost::Name + Default + ToDomain {
    /// The event type name: the message's full protobuf name.
    const EVENT_TYPE: &'static str;
    /// The payload schema version.
    const EVENT_VERSION: u32;
    /// The stream this event is appended to, as its domain type declares.
    const STREAM_KIND: StreamKind = <<Self as ToDomain>::Event as DomainEventType>::STREAM_KIND;
    /// Who may author it, as its domain type declares.
    const AUTHORITY: Authority = <<Self as ToDomain>::Event as DomainEventType>::AUTHORITY;
}

/// The validation of one message into its domain event, written once per message below.
pub trait ToDomain {
    /// The domain event type this message decodes into.
    type Event: DomainEventType;
    /// Reads every field, recording each violation in `c` by field name.
    fn to_domain(self, c: &mut Checker<'_>) -> Self::Event;
    /// The version this payload must be signed at: 2 when it sets a version 2 field (sealed
    /// text), else 1.
    fn payload_version(&self) -> u32 {
        1
    }
}

/// One entry of the catalogue, for documentation and tidy checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub event_type: &'static str,
    /// Its first valid version: 1, or 2 for a type that always seals text (version 2 exactly
    /// when a sealed field is set, FORMAT.md §14.1).
    pub first_version: u32,
    pub event_version: u32,
    pub stream_kind: StreamKind,
    pub authority: Authority,
}

/// Whether `package.name` spells `full_name`, in a constant context.
const fn full_name_is(package: &str, name: &str, full_name: &str) -> bool {
    let (package, name, full_name) = (package.as_bytes(), name.as_bytes(), full_name.as_bytes());
    if full_name.len() != package.len() + 1 + name.len() {
        return false;
    }
    let mut i = 0;
    while i < full_name.len() {
        let expected = if i < package.len() {
            package[i]
        } else if i == package.len() {
            b'.'
        } else {
            name[i - package.len() - 1]
        };
        if full_name[i] != expected {
            return false;
        }
        i += 1;
    }
    true
}

fn decode_as<M: EventMessage>(payload: &[u8], version: u32) -> Result<M::Event, Violations> {
    let message: M = decode_canonical(payload)?;
    let mut checker = Checker { payload, version, violations: Vec::new() };
    // Version 2 is exactly the events that set a version 2 field (a sealed field, FORMAT.md
    // §14.1, or reserves, §9): one that sets none is refused, so each payload has one version.
    if version >= 2 && message.payload_version() < version {
        checker.violations.push(violation(
            "event_version",
            format!("is {version}, which is for events that set a version 2 field; this one sets none, so sign it at version 1"),
        ));
    }
    let event = message.to_domain(&mut checker);
    checker.finish(event)
}

/// The one declaration of every event type's message, name and version (see the module docs).
macro_rules! catalogue {
    ($($variant:ident => $message:ty, $type_name:literal, versions $first:literal..=$version:literal;)*) => {
        $(
            impl EventMessage for $message {
                const EVENT_TYPE: &'static str = $type_name;
                const EVENT_VERSION: u32 = $version;
            }
            const _: () = assert!(
                full_name_is(<$message as prost::Name>::PACKAGE, <$message as prost::Name>::NAME, $type_name),
                concat!($type_name, " is not the full name of its message in the .proto files"),
            );
        )*

        /// Every event type in the catalogue, with its first and latest versions (every
        /// version between them is valid).
        pub const EVENT_CATALOGUE: &[CatalogueEntry] = &[$(CatalogueEntry {
            event_type: $type_name,
            first_version: $first,
            event_version: $version,
            stream_kind: <$message as EventMessage>::STREAM_KIND,
            authority: <$message as EventMessage>::AUTHORITY,
        },)*];

        /// The event type name of a domain event, and the version its payload is signed at: 2
        /// when it sets a version 2 field (sealed text or reserves), else 1.
        pub fn event_type_of(event: &DomainEvent) -> (&'static str, u32) {
            let version = event.payload_version();
            match event {
                $(DomainEvent::$variant(_) => ($type_name, version),)*
            }
        }

        /// Decodes and validates the payload of `event_type` at `version` into a domain event.
        /// One match on the name finds the type, checks the version and decodes.
        pub fn decode_event(event_type: &str, version: u32, payload: &[u8]) -> Result<DomainEvent, Violations> {
            match event_type {
                $($type_name if ($first..=$version).contains(&version) => decode_as::<$message>(payload, version).map(DomainEvent::$variant),
                $type_name => Err(vec![violation(
                    "event_version",
                    format!("{event_type} has versions {} to {}, not {version}", $first, $version),
                )]),)*
                _ => Err(vec![violation("event_type", format!("{event_type} is not in the event catalogue"))]),
            }
        }
    };
}

catalogue! {
    KeyGranted => pb::registry::KeyGranted, "klero.registry.v1.KeyGranted", versions 1..=1;
    KeyRevoked => pb::registry::KeyRevoked, "klero.registry.v1.KeyRevoked", versions 1..=1;
    CouncilRegistered => pb::registry::CouncilRegistered, "klero.registry.v1.CouncilRegistered", versions 1..=1;
    AssemblyConvened => pb::assembly::AssemblyConvened, "klero.assembly.v1.AssemblyConvened", versions 1..=1;
    LettersPlanned => pb::selection::LettersPlanned, "klero.selection.v1.LettersPlanned", versions 1..=1;
    LettersDrawn => pb::selection::LettersDrawn, "klero.selection.v1.LettersDrawn", versions 1..=1;
    SelectionPlanned => pb::selection::SelectionPlanned, "klero.selection.v1.SelectionPlanned", versions 1..=2;
    PoolRegistered => pb::selection::PoolRegistered, "klero.selection.v1.PoolRegistered", versions 1..=1;
    QuotasRelaxed => pb::selection::QuotasRelaxed, "klero.selection.v1.QuotasRelaxed", versions 1..=1;
    LotteryPublished => pb::selection::LotteryPublished, "klero.selection.v1.LotteryPublished", versions 1..=1;
    PanelDrawn => pb::selection::PanelDrawn, "klero.selection.v1.PanelDrawn", versions 1..=2;
    MemberWithdrew => pb::selection::MemberWithdrew, "klero.selection.v1.MemberWithdrew", versions 1..=1;
    ReplacementDrawn => pb::selection::ReplacementDrawn, "klero.selection.v1.ReplacementDrawn", versions 1..=1;
    SessionHeld => pb::deliberation::SessionHeld, "klero.deliberation.v1.SessionHeld", versions 1..=1;
    EvidencePresented => pb::deliberation::EvidencePresented, "klero.deliberation.v1.EvidencePresented", versions 1..=2;
    PublicSubmissionReceived => pb::deliberation::PublicSubmissionReceived, "klero.deliberation.v1.PublicSubmissionReceived", versions 1..=2;
    CallOpened => pb::deliberation::CallOpened, "klero.deliberation.v1.CallOpened", versions 1..=1;
    CallClosed => pb::deliberation::CallClosed, "klero.deliberation.v1.CallClosed", versions 1..=1;
    ResidentSubmitted => pb::deliberation::ResidentSubmitted, "klero.deliberation.v1.ResidentSubmitted", versions 2..=2;
    SubmissionModerated => pb::deliberation::SubmissionModerated, "klero.deliberation.v1.SubmissionModerated", versions 1..=1;
    ModerationAppealed => pb::deliberation::ModerationAppealed, "klero.deliberation.v1.ModerationAppealed", versions 1..=1;
    RecommendationDrafted => pb::recommendation::RecommendationDrafted, "klero.recommendation.v1.RecommendationDrafted", versions 1..=1;
    RecommendationAmended => pb::recommendation::RecommendationAmended, "klero.recommendation.v1.RecommendationAmended", versions 1..=1;
    RecommendationWithdrawn => pb::recommendation::RecommendationWithdrawn, "klero.recommendation.v1.RecommendationWithdrawn", versions 1..=1;
    VoteRecorded => pb::recommendation::VoteRecorded, "klero.recommendation.v1.VoteRecorded", versions 1..=1;
    RecommendationAdopted => pb::recommendation::RecommendationAdopted, "klero.recommendation.v1.RecommendationAdopted", versions 1..=1;
    FinalReportPublished => pb::recommendation::FinalReportPublished, "klero.recommendation.v1.FinalReportPublished", versions 1..=1;
    RecommendationInputsCited => pb::recommendation::RecommendationInputsCited, "klero.recommendation.v1.RecommendationInputsCited", versions 1..=1;
    ResponseIssued => pb::response::ResponseIssued, "klero.response.v1.ResponseIssued", versions 1..=2;
    ResponseAmended => pb::response::ResponseAmended, "klero.response.v1.ResponseAmended", versions 1..=2;
    ImplementationUpdated => pb::response::ImplementationUpdated, "klero.response.v1.ImplementationUpdated", versions 1..=2;
    ResponseInputsConsidered => pb::response::ResponseInputsConsidered, "klero.response.v1.ResponseInputsConsidered", versions 1..=1;
    PersonalDataRetentionSet => pb::privacy::PersonalDataRetentionSet, "klero.privacy.v1.PersonalDataRetentionSet", versions 1..=1;
    ContentErased => pb::privacy::ContentErased, "klero.privacy.v1.ContentErased", versions 1..=1;
}

/// A lottery as the payload of the `LotteryPublished` event that publishes it, ready to sign.
pub fn lottery_message(lottery: &klero_domain::PublishedLottery) -> pb::selection::LotteryPublished {
    pb::selection::LotteryPublished {
        panels: lottery
            .panels
            .iter()
            .zip(&lottery.weights)
            .map(|(seats, weight)| pb::selection::LotteryPanel { weight: *weight, seats: seats.clone() })
            .collect(),
    }
}

/// The type name of `ContentErased`, for code that must find erasures without decoding every
/// payload.
pub const CONTENT_ERASED_EVENT_TYPE: &str = <pb::privacy::ContentErased as EventMessage>::EVENT_TYPE;

/// The version of a payload of an event type with sealed text: 2 when it seals a field.
fn version_sealing(sealed: bool) -> u32 {
    if sealed {
        2
    } else {
        1
    }
}

/// A sealed text as the protobuf message an event carries.
pub fn sealed_text_message(sealed: &SealedText) -> pb::privacy::SealedText {
    pb::privacy::SealedText {
        nonce: sealed.nonce.to_vec(),
        ciphertext: sealed.ciphertext.clone(),
        commitment: sealed.commitment.0.to_vec(),
    }
}

/// What a resident gives to one call: the text and how to reach them, as they typed it. The one
/// place that turns it into a sealed `ResidentSubmitted`, for the server's plain form and the
/// resident's own browser alike.
#[derive(Clone, Debug, Default)]
pub struct ResidentForm<'a> {
    pub call_id: &'a str,
    pub text: &'a str,
    pub name: &'a str,
    pub postcode: &'a str,
    pub email: &'a str,
}

/// The randomness a sealed submission needs: a nonce and a salt for each of its two fields.
pub const RESIDENT_SEALING_RANDOM_BYTES: usize =
    2 * (klero_domain::personal::NONCE_BYTES + klero_domain::personal::SALT_BYTES);

impl ResidentForm<'_> {
    /// The text as the record holds it: line ends as LF alone (browsers send CRLF).
    pub fn text(&self) -> String {
        self.text.replace("\r\n", "\n").replace('\r', "\n")
    }

    /// The contact as sealed: a line `name: …`, `postcode: …` or `email: …` for each given;
    /// `None` when none is. An email must look like one; the field is named when it does not.
    pub fn contact(&self) -> Result<Option<String>, FieldViolation> {
        let email = self.email.trim();
        if !email.is_empty() && (email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace)) {
            return Err(violation("email", "write an email address like name@example.org, or leave it empty"));
        }
        let lines: Vec<String> = [("name", self.name.trim()), ("postcode", self.postcode.trim()), ("email", email)]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(field, value)| format!("{field}: {}", value.replace(['\r', '\n'], " ")))
            .collect();
        Ok((!lines.is_empty()).then(|| lines.join("\n")))
    }

    /// The email address in a contact as [`ResidentForm::contact`] seals it, if one was given.
    pub fn email_in_contact(contact: &str) -> Option<&str> {
        contact.lines().find_map(|line| line.strip_prefix("email: ")).map(str::trim).filter(|email| !email.is_empty())
    }

    /// The payload, its text and contact sealed under `key` for event `event_id` with the
    /// nonces and salts in `random` (the caller's randomness: the server's or the browser's).
    pub fn seal(
        &self,
        path: pb::deliberation::SubmissionPath,
        key: &klero_domain::DataKey,
        event_id: &[u8; 16],
        random: &[u8; RESIDENT_SEALING_RANDOM_BYTES],
    ) -> Result<pb::deliberation::ResidentSubmitted, FieldViolation> {
        use klero_domain::personal::{seal, NONCE_BYTES, SALT_BYTES};
        if self.text.trim().is_empty() {
            return Err(violation("text", "write your submission"));
        }
        let contact = self.contact()?;
        let sealed = |at: usize, field: &str, text: &str| {
            let start = at * (NONCE_BYTES + SALT_BYTES);
            let nonce: [u8; NONCE_BYTES] = random[start..start + NONCE_BYTES].try_into().expect("a nonce's bytes");
            let salt: [u8; SALT_BYTES] =
                random[start + NONCE_BYTES..start + NONCE_BYTES + SALT_BYTES].try_into().expect("a salt's bytes");
            sealed_text_message(&seal(key, nonce, salt, event_id, field, text))
        };
        Ok(pb::deliberation::ResidentSubmitted {
            call_id: self.call_id.to_string(),
            path: path as i32,
            sealed_text: Some(sealed(0, "sealed_text", &self.text())),
            sealed_contact: contact.as_deref().map(|contact| sealed(1, "sealed_contact", contact)),
            work_nonce: 0,
        })
    }
}

// The decoders, one per message.

impl ToDomain for pb::registry::KeyGranted {
    type Event = KeyGranted;
    fn to_domain(self, c: &mut Checker<'_>) -> KeyGranted {
        KeyGranted {
            public_key: c.public_key("public_key", &self.public_key),
            role: c.role("role", self.role),
            scope: c.scope("scope", &self.scope),
            holder_title: c.text("holder_title", &self.holder_title, TEXT_BYTES_MAX),
        }
    }
}

impl ToDomain for pb::registry::KeyRevoked {
    type Event = KeyRevoked;
    fn to_domain(self, c: &mut Checker<'_>) -> KeyRevoked {
        KeyRevoked {
            public_key: c.public_key("public_key", &self.public_key),
            role: c.role("role", self.role),
            scope: c.scope("scope", &self.scope),
            reason: c.text("reason", &self.reason, TEXT_BYTES_MAX),
        }
    }
}

impl ToDomain for pb::registry::CouncilRegistered {
    type Event = CouncilRegistered;
    fn to_domain(self, c: &mut Checker<'_>) -> CouncilRegistered {
        let council_id = CouncilId::parse(&self.council_id).unwrap_or_else(|reason| {
            c.violations.push(violation("council_id", reason.to_string()));
            CouncilId::parse("invalid").unwrap_or_else(|_| unreachable!())
        });
        CouncilRegistered {
            council_id,
            name: c.text("name", &self.name, TEXT_BYTES_MAX),
            root_public_key: c.public_key("root_public_key", &self.root_public_key),
        }
    }
}

impl ToDomain for pb::assembly::AssemblyConvened {
    type Event = AssemblyConvened;
    fn to_domain(self, c: &mut Checker<'_>) -> AssemblyConvened {
        let assembly_id = AssemblyId::parse(&self.assembly_id).unwrap_or_else(|reason| {
            c.violations.push(violation("assembly_id", reason.to_string()));
            AssemblyId::parse("invalid").unwrap_or_else(|_| unreachable!())
        });
        AssemblyConvened {
            assembly_id,
            council: c.text("council", &self.council, TEXT_BYTES_MAX),
            remit_question: c.text("remit_question", &self.remit_question, TEXT_BYTES_MAX),
            area: c.text("area", &self.area, TEXT_BYTES_MAX),
            starts_on: c.date("starts_on", &self.starts_on),
            ends_on: c.date("ends_on", &self.ends_on),
            panel_size: c.range("panel_size", self.panel_size, 2, 1_000),
            adoption_threshold_percent: c.range("adoption_threshold_percent", self.adoption_threshold_percent, 50, 100),
            response_deadline_days: c.range("response_deadline_days", self.response_deadline_days, 1, 730),
        }
    }
}

impl ToDomain for pb::selection::LettersPlanned {
    type Event = LettersPlanned;
    fn to_domain(self, c: &mut Checker<'_>) -> LettersPlanned {
        let area_column =
            if self.area_column.is_empty() { String::new() } else { c.text("area_column", &self.area_column, 100) };
        if area_column.is_empty() != self.areas.is_empty() {
            c.violations.push(violation("areas", "must list every area exactly when area_column names a column"));
        }
        if self.areas.len() > klero_domain::letter_lottery::AREAS_MAX {
            c.violations.push(violation("areas", format!("at most {} areas", klero_domain::letter_lottery::AREAS_MAX)));
        }
        let areas = self
            .areas
            .iter()
            .take(klero_domain::letter_lottery::AREAS_MAX)
            .enumerate()
            .map(|(i, a)| {
                let area = c.text(&format!("areas[{i}].area"), &a.area, 100);
                if area.is_empty() {
                    c.violations.push(violation(format!("areas[{i}].area"), "must name the area"));
                }
                klero_domain::letter_lottery::AreaLetters { area, addresses: a.addresses, letters: a.letters }
            })
            .collect();
        LettersPlanned {
            address_list_hash: c.hash("address_list_hash", &self.address_list_hash),
            address_count: c.range("address_count", self.address_count, 1, klero_domain::letter_lottery::ADDRESSES_MAX),
            letter_count: c.range("letter_count", self.letter_count, 1, klero_domain::letter_lottery::ADDRESSES_MAX),
            area_column,
            areas,
            seed_commitment: c.hash("seed_commitment", &self.seed_commitment),
            randomness_source: c.text("randomness_source", &self.randomness_source, TEXT_BYTES_MAX),
        }
    }
}

impl ToDomain for pb::selection::LettersDrawn {
    type Event = LettersDrawn;
    fn to_domain(self, c: &mut Checker<'_>) -> LettersDrawn {
        if self.seed.len() < 16 || self.seed.len() > 64 {
            c.violations.push(violation("seed", "must be 16 to 64 bytes"));
        }
        LettersDrawn { seed: self.seed }
    }
}

impl ToDomain for pb::selection::SelectionPlanned {
    type Event = SelectionPlanned;
    fn to_domain(self, c: &mut Checker<'_>) -> SelectionPlanned {
        let quotas = c.quotas(&self.quotas);
        SelectionPlanned {
            panel_size: c.range("panel_size", self.panel_size, 2, 1_000),
            quotas,
            algorithm: c.text("algorithm", &self.algorithm, 100),
            algorithm_version: c.text("algorithm_version", &self.algorithm_version, 100),
            pool_commitment: c.hash("pool_commitment", &self.pool_commitment),
            seed_commitment: c.hash("seed_commitment", &self.seed_commitment),
            randomness_source: c.text("randomness_source", &self.randomness_source, TEXT_BYTES_MAX),
            reserve_count: match (self.reserve_count, c.version) {
                (0, _) => 0,
                (_, 1) => {
                    c.violations.push(violation("reserve_count", "is a version 2 field; this event is at version 1"));
                    0
                }
                (count, _) => c.range("reserve_count", count, 1, RESERVES_MAX as u32),
            },
        }
    }
    fn payload_version(&self) -> u32 {
        if self.reserve_count > 0 {
            2
        } else {
            1
        }
    }
}

/// The longest reserve list a plan may ask for (FORMAT.md §9, step 4).
pub const RESERVES_MAX: usize = 1_000;

impl ToDomain for pb::selection::PoolRegistered {
    type Event = PoolRegistered;
    fn to_domain(self, c: &mut Checker<'_>) -> PoolRegistered {
        if self.members.is_empty() || self.members.len() > POOL_MEMBERS_MAX {
            c.violations.push(violation("members", format!("must hold 1 to {POOL_MEMBERS_MAX} volunteers")));
        }
        let mut seen = std::collections::HashSet::new();
        let mut members = Vec::with_capacity(self.members.len());
        for (i, member) in self.members.iter().take(POOL_MEMBERS_MAX).enumerate() {
            let id = c.pseudonym(&format!("members[{i}].id"), &member.id);
            if !seen.insert(id.clone()) {
                c.violations.push(violation(format!("members[{i}].id"), "repeats an earlier id"));
            }
            if member.features.len() > MEMBER_FEATURES_MAX {
                c.violations.push(violation(
                    format!("members[{i}].features"),
                    format!("at most {MEMBER_FEATURES_MAX} features"),
                ));
            }
            let features = member
                .features
                .iter()
                .take(MEMBER_FEATURES_MAX)
                .enumerate()
                .map(|(j, f)| {
                    (
                        c.pseudonym(&format!("members[{i}].features[{j}].feature"), &f.feature),
                        c.pseudonym(&format!("members[{i}].features[{j}].value"), &f.value),
                    )
                })
                .collect();
            let household = match member.household.len() {
                0 => None,
                32 => Some(Hash256(member.household[..].try_into().unwrap_or([0; 32]))),
                other => {
                    c.violations.push(violation(
                        format!("members[{i}].household"),
                        format!("must be empty or a 32-byte household commitment (FORMAT.md §9), not {other} bytes"),
                    ));
                    None
                }
            };
            let letter = match member.letter.len() {
                0 => None,
                32 => Some(Hash256(member.letter[..].try_into().unwrap_or([0; 32]))),
                other => {
                    c.violations.push(violation(
                        format!("members[{i}].letter"),
                        format!("must be empty or a 32-byte letter commitment (FORMAT.md §9.1), not {other} bytes"),
                    ));
                    None
                }
            };
            members.push(PoolMember { id, features, household, letter });
            if c.violations.len() > 100 {
                break; // enough to fix; do not build a huge error
            }
        }
        PoolRegistered { members, payload_hash: c.payload_hash() }
    }
}

impl ToDomain for pb::selection::QuotasRelaxed {
    type Event = QuotasRelaxed;
    fn to_domain(self, c: &mut Checker<'_>) -> QuotasRelaxed {
        let quotas = c.quotas(&self.quotas);
        QuotasRelaxed { quotas, reason: c.text("reason", &self.reason, TEXT_BYTES_MAX) }
    }
}

impl ToDomain for pb::selection::LotteryPublished {
    type Event = LotteryPublished;
    fn to_domain(self, c: &mut Checker<'_>) -> LotteryPublished {
        if self.panels.is_empty() || self.panels.len() > LOTTERY_PANELS_MAX {
            c.violations.push(violation("panels", format!("must hold 1 to {LOTTERY_PANELS_MAX} panels")));
        }
        let panels = self
            .panels
            .iter()
            .take(LOTTERY_PANELS_MAX)
            .enumerate()
            .map(|(i, p)| {
                if p.weight == 0 {
                    c.violations.push(violation(format!("panels[{i}].weight"), "must be at least 1"));
                }
                if p.seats.len() > POOL_MEMBERS_MAX {
                    c.violations
                        .push(violation(format!("panels[{i}].seats"), "has more entries than a pool has people"));
                }
                (p.weight, p.seats.clone())
            })
            .collect();
        LotteryPublished { panels }
    }
}

impl ToDomain for pb::selection::PanelDrawn {
    type Event = PanelDrawn;
    fn to_domain(self, c: &mut Checker<'_>) -> PanelDrawn {
        if self.seed.len() < 16 || self.seed.len() > 64 {
            c.violations.push(violation("seed", "must be 16 to 64 bytes"));
        }
        if self.member_ids.len() > 1_000 {
            c.violations.push(violation("member_ids", "at most 1,000 members"));
        }
        let member_ids = self
            .member_ids
            .iter()
            .take(1_000)
            .enumerate()
            .map(|(i, id)| c.pseudonym(&format!("member_ids[{i}]"), id))
            .collect();
        if !self.reserve_member_ids.is_empty() && c.version == 1 {
            c.violations.push(violation("reserve_member_ids", "is a version 2 field; this event is at version 1"));
        }
        if self.reserve_member_ids.len() > RESERVES_MAX {
            c.violations.push(violation("reserve_member_ids", format!("at most {RESERVES_MAX} reserves")));
        }
        let reserve_member_ids = self
            .reserve_member_ids
            .iter()
            .take(RESERVES_MAX)
            .enumerate()
            .map(|(i, id)| c.pseudonym(&format!("reserve_member_ids[{i}]"), id))
            .collect();
        PanelDrawn { seed: self.seed, member_ids, reserve_member_ids }
    }
    fn payload_version(&self) -> u32 {
        if self.reserve_member_ids.is_empty() {
            1
        } else {
            2
        }
    }
}

impl ToDomain for pb::selection::MemberWithdrew {
    type Event = MemberWithdrew;
    fn to_domain(self, c: &mut Checker<'_>) -> MemberWithdrew {
        let reason = match pb::selection::WithdrawalReason::try_from(self.reason) {
            Ok(pb::selection::WithdrawalReason::Personal) => WithdrawalReason::Personal,
            Ok(pb::selection::WithdrawalReason::Unreachable) => WithdrawalReason::Unreachable,
            Ok(pb::selection::WithdrawalReason::Other) => WithdrawalReason::Other,
            _ => {
                c.violations.push(violation("reason", "must be a reason other than WITHDRAWAL_REASON_UNSPECIFIED"));
                WithdrawalReason::Other
            }
        };
        MemberWithdrew { member_id: c.pseudonym("member_id", &self.member_id), reason }
    }
}

impl ToDomain for pb::selection::ReplacementDrawn {
    type Event = ReplacementDrawn;
    fn to_domain(self, c: &mut Checker<'_>) -> ReplacementDrawn {
        ReplacementDrawn {
            withdrawn_member_id: c.pseudonym("withdrawn_member_id", &self.withdrawn_member_id),
            replacement_member_id: c.pseudonym("replacement_member_id", &self.replacement_member_id),
        }
    }
}

impl ToDomain for pb::deliberation::SessionHeld {
    type Event = SessionHeld;
    fn to_domain(self, c: &mut Checker<'_>) -> SessionHeld {
        SessionHeld {
            session_number: c.range("session_number", self.session_number, 1, 10_000),
            held_on: c.date("held_on", &self.held_on),
            agenda: c.text("agenda", &self.agenda, TEXT_BYTES_MAX),
            attendance_count: self.attendance_count,
        }
    }
}

impl ToDomain for pb::deliberation::EvidencePresented {
    type Event = EvidencePresented;
    fn to_domain(self, c: &mut Checker<'_>) -> EvidencePresented {
        EvidencePresented {
            session_number: c.range("session_number", self.session_number, 1, 10_000),
            speaker_role: c.text("speaker_role", &self.speaker_role, 200),
            title: c.personal_text("title", &self.title, "sealed_title", self.sealed_title.as_ref(), TEXT_BYTES_MAX),
            content_hash: c.hash("content_hash", &self.content_hash),
            media_type: c.text("media_type", &self.media_type, 200),
        }
    }
    fn payload_version(&self) -> u32 {
        version_sealing(self.sealed_title.is_some())
    }
}

impl ToDomain for pb::deliberation::PublicSubmissionReceived {
    type Event = PublicSubmissionReceived;
    fn to_domain(self, c: &mut Checker<'_>) -> PublicSubmissionReceived {
        let content = match (&self.sealed_text, c.version) {
            (None, _) => SubmissionContent::Document(c.hash("content_hash", &self.content_hash)),
            (Some(_), 1) => {
                c.violations.push(violation("sealed_text", "is a version 2 field; this event is at version 1"));
                SubmissionContent::Document(Hash256::ZERO)
            }
            (Some(sealed), _) => {
                if !self.content_hash.is_empty() {
                    c.violations.push(violation("content_hash", "must be empty when sealed_text is set"));
                }
                SubmissionContent::Sealed(c.sealed_text("sealed_text", sealed, SUBMISSION_TEXT_BYTES_MAX))
            }
        };
        PublicSubmissionReceived {
            submitter_id: c.pseudonym("submitter_id", &self.submitter_id),
            content,
            received_on: c.date("received_on", &self.received_on),
        }
    }
    fn payload_version(&self) -> u32 {
        version_sealing(self.sealed_text.is_some())
    }
}

/// The longest contact (name, postcode, email) a resident's submission seals.
pub const CONTACT_BYTES_MAX: usize = 1_000;

/// A call's reason code: 1 to 32 of a-z, 0-9, '_' and '-'.
fn reason_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl ToDomain for pb::deliberation::CallOpened {
    type Event = CallOpened;
    fn to_domain(self, c: &mut Checker<'_>) -> CallOpened {
        let mut withhold_reasons = Vec::new();
        if self.withhold_reasons.is_empty() || self.withhold_reasons.len() > 20 {
            c.violations.push(violation("withhold_reasons", "must hold 1 to 20 reason codes"));
        }
        for (index, code) in self.withhold_reasons.iter().enumerate() {
            if !reason_code(code) {
                c.violations.push(violation(
                    format!("withhold_reasons[{index}]"),
                    "must be a reason code: 1 to 32 of a-z 0-9 _ -",
                ));
            } else if withhold_reasons.contains(code) {
                c.violations.push(violation(format!("withhold_reasons[{index}]"), "repeats an earlier code"));
            }
            withhold_reasons.push(code.clone());
        }
        CallOpened {
            call_id: c.pseudonym("call_id", &self.call_id),
            prompt: c.text("prompt", &self.prompt, TEXT_BYTES_MAX),
            recommendation_id: (!self.recommendation_id.is_empty())
                .then(|| c.pseudonym("recommendation_id", &self.recommendation_id)),
            opens_on: c.date("opens_on", &self.opens_on),
            closes_on: c.date("closes_on", &self.closes_on),
            text_bytes_max: c.range("text_bytes_max", self.text_bytes_max, 1, SUBMISSION_TEXT_BYTES_MAX as u32),
            one_per_key: self.one_per_key,
            names_asked: self.names_asked,
            consent_hash: c.hash("consent_hash", &self.consent_hash),
            moderation_policy_hash: c.hash("moderation_policy_hash", &self.moderation_policy_hash),
            withhold_reasons,
            retention_days: c.range("retention_days", self.retention_days, 1, 3_650),
            proof_of_work_bits: c.range(
                "proof_of_work_bits",
                self.proof_of_work_bits,
                0,
                klero_domain::work::WORK_BITS_MAX,
            ),
        }
    }
}

impl ToDomain for pb::deliberation::CallClosed {
    type Event = CallClosed;
    fn to_domain(self, c: &mut Checker<'_>) -> CallClosed {
        if self.reason.len() > TEXT_BYTES_MAX {
            c.violations
                .push(violation("reason", format!("is {} bytes; the limit is {TEXT_BYTES_MAX}", self.reason.len())));
        } else {
            c.characters("reason", &self.reason);
        }
        CallClosed { call_id: c.pseudonym("call_id", &self.call_id), reason: self.reason }
    }
}

impl ToDomain for pb::deliberation::ResidentSubmitted {
    type Event = ResidentSubmitted;
    fn to_domain(self, c: &mut Checker<'_>) -> ResidentSubmitted {
        let path = match pb::deliberation::SubmissionPath::try_from(self.path) {
            Ok(pb::deliberation::SubmissionPath::Browser) => SubmissionPath::Browser,
            Ok(pb::deliberation::SubmissionPath::WebForm) => SubmissionPath::WebForm,
            _ => {
                c.violations.push(violation("path", "must be SUBMISSION_PATH_BROWSER or SUBMISSION_PATH_WEB_FORM"));
                SubmissionPath::Browser
            }
        };
        let text = match &self.sealed_text {
            Some(sealed) => c.sealed_text("sealed_text", sealed, SUBMISSION_TEXT_BYTES_MAX),
            None => {
                c.violations.push(violation("sealed_text", "is required: a resident's text is always sealed"));
                SealedText {
                    nonce: [0; klero_domain::personal::NONCE_BYTES],
                    ciphertext: Vec::new(),
                    commitment: Hash256::ZERO,
                }
            }
        };
        ResidentSubmitted {
            call_id: c.pseudonym("call_id", &self.call_id),
            path,
            text,
            contact: self
                .sealed_contact
                .as_ref()
                .map(|sealed| c.sealed_text("sealed_contact", sealed, CONTACT_BYTES_MAX)),
            work_nonce: self.work_nonce,
        }
    }
    fn payload_version(&self) -> u32 {
        2
    }
}

impl ToDomain for pb::deliberation::SubmissionModerated {
    type Event = SubmissionModerated;
    fn to_domain(self, c: &mut Checker<'_>) -> SubmissionModerated {
        let decision = match pb::deliberation::ModerationDecision::try_from(self.decision) {
            Ok(pb::deliberation::ModerationDecision::Publish) => ModerationDecision::Publish,
            Ok(pb::deliberation::ModerationDecision::Withhold) => ModerationDecision::Withhold,
            _ => {
                c.violations
                    .push(violation("decision", "must be MODERATION_DECISION_PUBLISH or MODERATION_DECISION_WITHHOLD"));
                ModerationDecision::Withhold
            }
        };
        let reason = match (decision, self.reason.is_empty()) {
            (ModerationDecision::Publish, true) => None,
            (ModerationDecision::Publish, false) => {
                c.violations.push(violation("reason", "must be empty when the decision publishes"));
                None
            }
            (ModerationDecision::Withhold, _) if !reason_code(&self.reason) => {
                c.violations.push(violation("reason", "must be one of the call's reason codes when it withholds"));
                None
            }
            (ModerationDecision::Withhold, _) => Some(self.reason.clone()),
        };
        SubmissionModerated {
            submission_event_hash: c.hash("submission_event_hash", &self.submission_event_hash),
            decision,
            reason,
        }
    }
}

impl ToDomain for pb::deliberation::ModerationAppealed {
    type Event = ModerationAppealed;
    fn to_domain(self, c: &mut Checker<'_>) -> ModerationAppealed {
        ModerationAppealed { submission_event_hash: c.hash("submission_event_hash", &self.submission_event_hash) }
    }
}

impl ToDomain for pb::recommendation::RecommendationDrafted {
    type Event = RecommendationDrafted;
    fn to_domain(self, c: &mut Checker<'_>) -> RecommendationDrafted {
        RecommendationDrafted {
            recommendation_id: c.pseudonym("recommendation_id", &self.recommendation_id),
            title: c.text("title", &self.title, TEXT_BYTES_MAX),
            text_hash: c.hash("text_hash", &self.text_hash),
        }
    }
}

impl ToDomain for pb::recommendation::RecommendationAmended {
    type Event = RecommendationAmended;
    fn to_domain(self, c: &mut Checker<'_>) -> RecommendationAmended {
        RecommendationAmended {
            recommendation_id: c.pseudonym("recommendation_id", &self.recommendation_id),
            text_hash: c.hash("text_hash", &self.text_hash),
            reason: c.text("reason", &self.reason, TEXT_BYTES_MAX),
        }
    }
}

impl ToDomain for pb::recommendation::RecommendationWithdrawn {
    type Event = RecommendationWithdrawn;
    fn to_domain(self, c: &mut Checker<'_>) -> RecommendationWithdrawn {
        RecommendationWithdrawn {
            recommendation_id: c.pseudonym("recommendation_id", &self.recommendation_id),
            reason: c.text("reason", &self.reason, TEXT_BYTES_MAX),
        }
    }
}

impl ToDomain for pb::recommendation::VoteRecorded {
    type Event = VoteRecorded;
    fn to_domain(self, c: &mut Checker<'_>) -> VoteRecorded {
        VoteRecorded {
            recommendation_id: c.pseudonym("recommendation_id", &self.recommendation_id),
            tally: Tally { in_favour: self.in_favour, against: self.against, abstaining: self.abstaining },
        }
    }
}

impl ToDomain for pb::recommendation::RecommendationAdopted {
    type Event = RecommendationAdopted;
    fn to_domain(self, c: &mut Checker<'_>) -> RecommendationAdopted {
        RecommendationAdopted {
            recommendation_id: c.pseudonym("recommendation_id", &self.recommendation_id),
            final_text_hash: c.hash("final_text_hash", &self.final_text_hash),
            tally: Tally { in_favour: self.in_favour, against: self.against, abstaining: self.abstaining },
        }
    }
}

impl ToDomain for pb::recommendation::FinalReportPublished {
    type Event = FinalReportPublished;
    fn to_domain(self, c: &mut Checker<'_>) -> FinalReportPublished {
        FinalReportPublished { content_hash: c.hash("content_hash", &self.content_hash) }
    }
}

impl ToDomain for pb::response::ResponseIssued {
    type Event = ResponseIssued;
    fn to_domain(self, c: &mut Checker<'_>) -> ResponseIssued {
        ResponseIssued {
            recommendation_event_hash: c.hash("recommendation_event_hash", &self.recommendation_event_hash),
            decision: c.decision("decision", self.decision),
            rationale: c.personal_text(
                "rationale",
                &self.rationale,
                "sealed_rationale",
                self.sealed_rationale.as_ref(),
                RATIONALE_BYTES_MAX,
            ),
            responsible_body: c.text("responsible_body", &self.responsible_body, TEXT_BYTES_MAX),
            due_on: c.date("due_on", &self.due_on),
        }
    }
    fn payload_version(&self) -> u32 {
        version_sealing(self.sealed_rationale.is_some())
    }
}

impl ToDomain for pb::response::ResponseAmended {
    type Event = ResponseAmended;
    fn to_domain(self, c: &mut Checker<'_>) -> ResponseAmended {
        ResponseAmended {
            recommendation_event_hash: c.hash("recommendation_event_hash", &self.recommendation_event_hash),
            decision: c.decision("decision", self.decision),
            rationale: c.personal_text(
                "rationale",
                &self.rationale,
                "sealed_rationale",
                self.sealed_rationale.as_ref(),
                RATIONALE_BYTES_MAX,
            ),
            responsible_body: c.text("responsible_body", &self.responsible_body, TEXT_BYTES_MAX),
            due_on: c.date("due_on", &self.due_on),
            reason: c.text("reason", &self.reason, TEXT_BYTES_MAX),
        }
    }
    fn payload_version(&self) -> u32 {
        version_sealing(self.sealed_rationale.is_some())
    }
}

impl Checker<'_> {
    /// Citations: `min` to [`CITATIONS_MAX`], each a 32-byte event hash named once, with a
    /// note of at most [`TEXT_BYTES_MAX`] bytes (empty allowed).
    fn citations(&mut self, citations: &[pb::deliberation::InputCitation], min: usize) -> Vec<InputCitation> {
        if citations.len() < min || citations.len() > CITATIONS_MAX {
            self.violations.push(violation("citations", format!("must hold {min} to {CITATIONS_MAX} citations")));
        }
        let mut seen = std::collections::HashSet::new();
        let mut checked = Vec::with_capacity(citations.len().min(CITATIONS_MAX));
        for (i, citation) in citations.iter().take(CITATIONS_MAX).enumerate() {
            let field = format!("citations[{i}].input_event_hash");
            let input_event_hash = self.hash(&field, &citation.input_event_hash);
            if !seen.insert(input_event_hash) {
                self.violations.push(violation(field, "cites the same input as an earlier citation"));
            }
            if citation.note.len() > TEXT_BYTES_MAX {
                self.violations.push(violation(
                    format!("citations[{i}].note"),
                    format!("is {} bytes; the limit is {TEXT_BYTES_MAX}", citation.note.len()),
                ));
            } else {
                self.characters(&format!("citations[{i}].note"), &citation.note);
            }
            checked.push(InputCitation { input_event_hash, note: citation.note.clone() });
        }
        checked
    }
}

impl ToDomain for pb::recommendation::RecommendationInputsCited {
    type Event = RecommendationInputsCited;
    fn to_domain(self, c: &mut Checker<'_>) -> RecommendationInputsCited {
        RecommendationInputsCited {
            recommendation_id: c.pseudonym("recommendation_id", &self.recommendation_id),
            text_hash: c.hash("text_hash", &self.text_hash),
            citations: c.citations(&self.citations, 1),
        }
    }
}

impl ToDomain for pb::response::ResponseInputsConsidered {
    type Event = ResponseInputsConsidered;
    fn to_domain(self, c: &mut Checker<'_>) -> ResponseInputsConsidered {
        let letter_hash =
            if self.letter_hash.is_empty() { None } else { Some(c.hash("letter_hash", &self.letter_hash)) };
        let citations = c.citations(&self.citations, usize::from(letter_hash.is_none()));
        ResponseInputsConsidered {
            recommendation_event_hash: c.hash("recommendation_event_hash", &self.recommendation_event_hash),
            citations,
            letter_hash,
        }
    }
}

impl ToDomain for pb::response::ImplementationUpdated {
    type Event = ImplementationUpdated;
    fn to_domain(self, c: &mut Checker<'_>) -> ImplementationUpdated {
        let status = match pb::response::ImplementationStatus::try_from(self.status) {
            Ok(pb::response::ImplementationStatus::NotStarted) => ImplementationStatus::NotStarted,
            Ok(pb::response::ImplementationStatus::InProgress) => ImplementationStatus::InProgress,
            Ok(pb::response::ImplementationStatus::Completed) => ImplementationStatus::Completed,
            Ok(pb::response::ImplementationStatus::Stalled) => ImplementationStatus::Stalled,
            _ => {
                c.violations.push(violation("status", "must be a status other than IMPLEMENTATION_STATUS_UNSPECIFIED"));
                ImplementationStatus::NotStarted
            }
        };
        let evidence_hash =
            if self.evidence_hash.is_empty() { None } else { Some(c.hash("evidence_hash", &self.evidence_hash)) };
        ImplementationUpdated {
            recommendation_event_hash: c.hash("recommendation_event_hash", &self.recommendation_event_hash),
            status,
            progress_percent: c.range("progress_percent", self.progress_percent, 0, 100),
            note: c.personal_text("note", &self.note, "sealed_note", self.sealed_note.as_ref(), TEXT_BYTES_MAX),
            evidence_hash,
        }
    }
    fn payload_version(&self) -> u32 {
        version_sealing(self.sealed_note.is_some())
    }
}

impl ToDomain for pb::privacy::PersonalDataRetentionSet {
    type Event = PersonalDataRetentionSet;
    fn to_domain(self, c: &mut Checker<'_>) -> PersonalDataRetentionSet {
        PersonalDataRetentionSet {
            retention_days: c.range("retention_days", self.retention_days, 1, RETENTION_DAYS_MAX),
        }
    }
}

impl ToDomain for pb::privacy::ContentErased {
    type Event = ContentErased;
    fn to_domain(self, c: &mut Checker<'_>) -> ContentErased {
        ContentErased {
            event_hash: c.hash("event_hash", &self.event_hash),
            legal_basis: c.text("legal_basis", &self.legal_basis, LEGAL_BASIS_BYTES_MAX),
            erased_on: c.date("erased_on", &self.erased_on),
        }
    }
}
