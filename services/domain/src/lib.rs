//! Kleroterion's domain: the event catalogue as domain types and the rules of every stage.
//!
//! Pure: no I/O, no clock, no randomness, no protobuf. The edge (`klero-api`) decodes payloads
//! into [`events::DomainEvent`] and calls [`rules::DomainState::decide`] before an append and
//! [`rules::DomainState::evolve`] after it, in log order. A verifier replays the same calls.

pub mod events;
pub mod personal;
pub mod rules;
pub mod spill;
pub mod tables;
pub mod text;
pub mod types;
pub mod work;

pub use events::{
    Authority, DocumentKind, DomainEvent, DomainEventType, InputKind, ModerationDecision, SubmissionPath,
    DOMAIN_EVENT_TYPES,
};
pub use personal::{DataKey, OpenedText, PersonalText, SealedText};
pub use rules::{
    check_authored_at, response_due_by_unix_ms, Acceptance, AuthorisedBy, DomainState, Grant, Proposal, Recorded,
    Rejection, RuleCode, AUTHORED_AHEAD_OF_RECORDING_MAX_MS, AUTHORED_BEFORE_RECORDING_MAX_MS, DAY_MS,
};
pub use tables::{EventTables, InputRow, InputTable, PersonalRow, PersonalTable, TableHead, TableHeads, TableName};
pub use types::*;

pub use klero_draw::letters as letter_lottery;
pub use klero_draw::PublishedLottery;
