//! Every failure of the core becomes the right gRPC status, with a message that names the
//! field or rule and rich details (google.rpc BadRequest, PreconditionFailure, ErrorInfo) where
//! they help. docs/API.md lists the mapping.

use klero_application::ApplicationError;
use klero_catalogue::FieldViolation;
use klero_domain::Rejection;
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
fn rejection(rejection: Rejection, event_index: Option<usize>) -> Status {
    let at = event_index.map(|i| format!("event {i}: ")).unwrap_or_default();
    match rejection {
        Rejection::NotAuthorised { rule, message } => {
            with_info(Code::PermissionDenied, format!("{at}{rule}: {message}"), rule.as_str(), HashMap::new())
        }
        Rejection::RuleBroken { rule, message } => {
            let mut details = ErrorDetails::new();
            details.add_precondition_failure_violation("RULE", rule.as_str(), message.clone());
            Status::with_error_details(Code::FailedPrecondition, format!("{at}{rule}: {message}"), details)
        }
    }
}

/// ABORTED with the stream's current revision, so the client can re-read and retry.
fn conflict(stream: &str, expected: &str, actual: Option<u64>) -> Status {
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

/// The status of a failure of the core.
pub fn status(error: ApplicationError) -> Status {
    match error {
        ApplicationError::InvalidArgument { violations } => invalid_fields(violations),
        ApplicationError::BadSignature { index, event_id } => Status::unauthenticated(format!(
            "signature of event {index} ({event_id}) does not verify against its author key"
        )),
        ApplicationError::Rejected { event_index, rejection: refused } => rejection(refused, event_index),
        ApplicationError::Conflict { stream, expected, current } => conflict(&stream, &expected, current),
        ApplicationError::DuplicateEventId { event_id, reason } => {
            Status::already_exists(format!("event id {event_id}: {reason}"))
        }
        ApplicationError::NotFound { what } => Status::not_found(format!("{what} not found")),
        ApplicationError::LimitExceeded { limit, actual, max } => {
            Status::resource_exhausted(format!("limit exceeded: {limit} is {actual}, the maximum is {max}"))
        }
        ApplicationError::OutOfRange { reason } => Status::out_of_range(reason),
        ApplicationError::Unavailable { reason } => Status::unavailable(reason),
        // Another server (a replica) may serve; this one needs an operator.
        ApplicationError::StorageFailed { reason } => Status::unavailable(format!("storage failed: {reason}")),
        ApplicationError::Corrupt { reason } => Status::data_loss(reason),
        ApplicationError::Internal { reason } => Status::internal(reason),
    }
}
