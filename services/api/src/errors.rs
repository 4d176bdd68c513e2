//! Every failure becomes the right gRPC status, with a message that names the field or rule and
//! rich details (google.rpc BadRequest, PreconditionFailure, ErrorInfo) where they help.

use klero_catalogue::FieldViolation;
use klero_domain::Rejection;
use klero_log::LogError;
use klero_store::StoreError;
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

const ERROR_DOMAIN: &str = "kleroterion";

pub fn invalid_field(field: &str, description: impl Into<String>) -> Status {
    invalid_fields(vec![FieldViolation { field: field.to_string(), description: description.into() }])
}

/// INVALID_ARGUMENT with a BadRequest detail listing every violation.
pub fn invalid_fields(violations: Vec<FieldViolation>) -> Status {
    let message = violations.iter().map(|v| format!("{} {}", v.field, v.description)).collect::<Vec<_>>().join("; ");
    let mut details = ErrorDetails::new();
    for violation in &violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, format!("invalid argument: {message}"), details)
}

fn with_info(code: Code, message: String, reason: &str, metadata: HashMap<String, String>) -> Status {
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata))
}

/// PERMISSION_DENIED or FAILED_PRECONDITION, naming the rule.
pub fn rejection(rejection: Rejection, event_index: Option<usize>) -> Status {
    let at = event_index.map(|i| format!("event {i}: ")).unwrap_or_default();
    match rejection {
        Rejection::NotAuthorised { rule, message } => {
            with_info(Code::PermissionDenied, format!("{at}{rule}: {message}"), rule, HashMap::new())
        }
        Rejection::RuleBroken { rule, message } => {
            let mut details = ErrorDetails::new();
            details.add_precondition_failure_violation("RULE", rule, message.clone());
            Status::with_error_details(Code::FailedPrecondition, format!("{at}{rule}: {message}"), details)
        }
    }
}

pub fn store(error: StoreError) -> Status {
    match error {
        StoreError::WrongExpectedRevision { stream, expected, actual } => {
            conflict(&stream, &expected.to_string(), actual)
        }
        StoreError::DuplicateEventId { event_id, reason } => {
            Status::already_exists(format!("event id {event_id}: {reason}"))
        }
        StoreError::StreamNotFound { stream } => Status::not_found(format!("stream {stream} not found")),
        StoreError::Corrupt { .. } => Status::data_loss(error.to_string()),
        StoreError::Unavailable { reason } => Status::unavailable(format!("store unavailable: {reason}")),
        StoreError::LimitExceeded { limit, actual, max } => {
            Status::resource_exhausted(format!("limit exceeded: {limit} is {actual}, the maximum is {max}"))
        }
        StoreError::InvalidArgument { field, reason } => invalid_field(field, reason),
    }
}

/// ABORTED with the stream's current revision, so the client can re-read and retry.
pub fn conflict(stream: &str, expected: &str, actual: Option<u64>) -> Status {
    let current = actual.map_or("none".to_string(), |r| r.to_string());
    let metadata =
        HashMap::from([("stream".to_string(), stream.to_string()), ("current_revision".to_string(), current.clone())]);
    with_info(
        Code::Aborted,
        format!("wrong expected revision on stream {stream}: expected {expected}, current revision is {current}"),
        "WRONG_EXPECTED_REVISION",
        metadata,
    )
}

pub fn log(error: LogError) -> Status {
    match error {
        LogError::InvalidArgument { field, reason } => invalid_field(field, reason),
        LogError::Envelope(e) => invalid_field("event.author_encoding", e.to_string()),
        LogError::BadSignature { index, event_id } => Status::unauthenticated(format!(
            "signature of event {index} ({event_id}) does not verify against its author key"
        )),
        LogError::Conflict { stream, expected, actual } => conflict(&stream, &expected.to_string(), actual),
        LogError::DuplicateEventId { event_id, reason } => {
            Status::already_exists(format!("event id {event_id}: {reason}"))
        }
        LogError::Corrupt { .. } | LogError::CheckpointNotHeld { .. } | LogError::Chain(_) => {
            Status::data_loss(error.to_string())
        }
        LogError::Checkpoint(e) => Status::internal(format!("checkpoint: {e}")),
        LogError::Proof(e) => Status::out_of_range(format!("proof: {e}")),
        LogError::Store(e) => store(e),
    }
}
