//! Every way a request to the core can fail, typed. Each variant says what the caller should
//! do; the front ends map each to their status (gRPC codes in `klero-api`, docs/API.md).

use klero_catalogue::FieldViolation;
use klero_domain::Rejection;
use klero_ledger::envelope::EventId;
use klero_log::LogError;
use klero_store::StoreError;

/// Why the core refused or failed a request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplicationError {
    /// A field of the request is malformed or out of range. Fix it; do not retry as is.
    #[error("invalid argument: {}", describe(.violations))]
    InvalidArgument { violations: Vec<FieldViolation> },
    /// An author signature does not verify against its key. Nothing was appended.
    #[error("signature of event {index} ({event_id}) does not verify against its author key")]
    BadSignature { index: usize, event_id: EventId },
    /// The author may not write the event, or it breaks a rule, at its place in the log.
    /// `event_index` is the event of a batch refused.
    #[error("{}{rejection}", event_index.map(|i| format!("event {i}: ")).unwrap_or_default())]
    Rejected { event_index: Option<usize>, rejection: Rejection },
    /// The stream is not at the expected revision. Re-read it, decide again, and retry.
    #[error("wrong expected revision on stream {stream}: expected {expected}, current revision is {}", current.map_or("none".to_string(), |r| r.to_string()))]
    Conflict { stream: String, expected: String, current: Option<u64> },
    /// The event id is taken by other content, or by part of another batch. Send exactly the
    /// original bytes, or choose a new id.
    #[error("event id {event_id}: {reason}")]
    DuplicateEventId { event_id: EventId, reason: String },
    /// Nothing by that name.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A size or count limit was exceeded; make the request smaller.
    #[error("limit exceeded: {limit} is {actual}, the maximum is {max}")]
    LimitExceeded { limit: &'static str, actual: u64, max: u64 },
    /// A position or size beyond the log.
    #[error("{reason}")]
    OutOfRange { reason: String },
    /// The core cannot serve this now. Retry later with the same bytes.
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
    /// The storage failed an operation (a full disk, a failing device). Appends stop until an
    /// operator fixes it and restarts the server; reads may go on.
    #[error("storage failed: {reason}")]
    StorageFailed { reason: String },
    /// The record fails a check. The server refuses to go on; an operator must investigate.
    #[error("data loss: {reason}")]
    Corrupt { reason: String },
    /// A fault of this server, not of the request.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

fn describe(violations: &[FieldViolation]) -> String {
    violations.iter().map(|v| format!("{} {}", v.field, v.description)).collect::<Vec<_>>().join("; ")
}

impl ApplicationError {
    /// One invalid field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> ApplicationError {
        ApplicationError::InvalidArgument {
            violations: vec![FieldViolation { field: field.into(), description: description.into() }],
        }
    }
}

impl From<StoreError> for ApplicationError {
    fn from(error: StoreError) -> ApplicationError {
        match error {
            StoreError::WrongExpectedRevision { stream, expected, actual } => {
                ApplicationError::Conflict { stream, expected: expected.to_string(), current: actual }
            }
            StoreError::DuplicateEventId { event_id, reason } => {
                ApplicationError::DuplicateEventId { event_id, reason }
            }
            StoreError::StreamNotFound { stream } => ApplicationError::NotFound { what: format!("stream {stream}") },
            StoreError::Corrupt { .. } => ApplicationError::Corrupt { reason: error.to_string() },
            StoreError::Unavailable { reason } => ApplicationError::Unavailable { reason: format!("store: {reason}") },
            StoreError::Io(failure) => ApplicationError::StorageFailed { reason: failure.to_string() },
            StoreError::LimitExceeded { limit, actual, max } => ApplicationError::LimitExceeded { limit, actual, max },
            StoreError::InvalidArgument { field, reason } => ApplicationError::invalid_field(field, reason),
        }
    }
}

impl From<LogError> for ApplicationError {
    fn from(error: LogError) -> ApplicationError {
        match error {
            LogError::InvalidArgument { field, reason } => ApplicationError::invalid_field(field, reason),
            LogError::Envelope(e) => ApplicationError::invalid_field("author_encoding", e.to_string()),
            LogError::BadSignature { index, event_id } => ApplicationError::BadSignature { index, event_id },
            LogError::Conflict { stream, expected, actual } => {
                ApplicationError::Conflict { stream, expected: expected.to_string(), current: actual }
            }
            LogError::DuplicateEventId { event_id, reason } => ApplicationError::DuplicateEventId { event_id, reason },
            LogError::Corrupt { .. }
            | LogError::CheckpointNotHeld { .. }
            | LogError::Chain(_)
            | LogError::VerifiedPrefixDiffers { .. } => ApplicationError::Corrupt { reason: error.to_string() },
            LogError::Checkpoint(e) => ApplicationError::Internal { reason: format!("checkpoint: {e}") },
            LogError::Proof(e) => ApplicationError::OutOfRange { reason: format!("proof: {e}") },
            LogError::Store(e) => e.into(),
        }
    }
}
