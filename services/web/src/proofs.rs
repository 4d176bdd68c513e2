//! The proof API of the public pages (`/api/v1/…`, docs/API.md "Public pages"): the signed
//! checkpoint, an event with its inclusion proof, and consistency proofs, for clients that
//! check the log on their own (pages check whole slices, `pages::slice`). Each answer is bytes
//! a client verifies itself; none is trusted for what it says.

use crate::{PageError, Web};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Response};
use axum::response::IntoResponse;
use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn json_response(value: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A proof API error: a status and a JSON body naming the parameter or the reason.
fn api_error(error: PageError) -> Response<Body> {
    let mut response = json_response(json!({"error": error.message}));
    *response.status_mut() = error.status;
    response
}

/// `GET /api/v1/checkpoint`: the latest signed checkpoint note, covering every event
/// recorded before the request.
pub async fn checkpoint(State(web): State<Arc<Web>>) -> Response<Body> {
    match web.app.fresh_checkpoint().await {
        Ok(checkpoint) => {
            let mut response = Response::new(Body::from(checkpoint.note().to_string()));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            response
        }
        Err(error) => api_error(error.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct TreeSize {
    tree_size: Option<String>,
}

fn parse_u64(name: &str, text: &str) -> Result<u64, PageError> {
    text.parse::<u64>().map_err(|_| PageError::bad_request(format!("{name} must be a whole number, not {text:?}")))
}

/// `GET /api/v1/events/{log_index}?tree_size=N`: the event's envelope (its stored bytes) and
/// its inclusion proof in the tree of `tree_size` events.
pub async fn event(
    State(web): State<Arc<Web>>,
    Path(log_index): Path<String>,
    Query(query): Query<TreeSize>,
) -> Response<Body> {
    let answer = async {
        let log_index = parse_u64("log_index", &log_index)?;
        let tree_size = match &query.tree_size {
            Some(size) => parse_u64("tree_size", size)?,
            None => web.app.log_size(),
        };
        if log_index >= tree_size {
            return Err(PageError::bad_request(format!(
                "log_index {log_index} is not in a tree of {tree_size} events (tree_size must be larger)"
            )));
        }
        let (events, _) = web.app.read_log(log_index, 1).await?;
        let logged = events
            .into_iter()
            .next()
            .ok_or_else(|| PageError::not_found(format!("log index {log_index} is beyond the log")))?;
        let proof = web.app.inclusion_proof(log_index, tree_size)?;
        Ok(json!({
            "log_index": log_index,
            "tree_size": tree_size,
            "envelope": b64(logged.envelope.bytes()),
            "inclusion": proof.iter().map(|h| b64(&h.0)).collect::<Vec<_>>(),
        }))
    };
    match answer.await {
        Ok(value) => json_response(value),
        Err(error) => api_error(error),
    }
}

/// `GET /api/v1/receipts/{log_index}`: the event's receipt, a proof bundle (FORMAT.md §5) that
/// anyone can check offline and paste into `/receipt` to follow the event.
pub async fn receipt(State(web): State<Arc<Web>>, Path(log_index): Path<String>) -> Response<Body> {
    let answer = async {
        let log_index = parse_u64("log_index", &log_index)?;
        Ok::<_, PageError>(web.app.proof_bundle(log_index).await?.encode())
    };
    match answer.await {
        Ok(bundle) => (
            [
                (axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
                (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"receipt-{log_index}.txt\"")),
            ],
            bundle,
        )
            .into_response(),
        Err(error) => error.into_plain_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct Sizes {
    old: Option<String>,
    new: Option<String>,
}

/// `GET /api/v1/consistency?old=M&new=N`: the consistency proof between two tree sizes.
pub async fn consistency(State(web): State<Arc<Web>>, Query(sizes): Query<Sizes>) -> Response<Body> {
    let answer = (|| {
        let old = parse_u64("old", sizes.old.as_deref().ok_or_else(|| PageError::bad_request("old is required"))?)?;
        let new = parse_u64("new", sizes.new.as_deref().ok_or_else(|| PageError::bad_request("new is required"))?)?;
        if old > new {
            return Err(PageError::bad_request(format!("old ({old}) must not be larger than new ({new})")));
        }
        let size = web.app.log_size();
        if new > size {
            return Err(PageError::bad_request(format!("new ({new}) is beyond the log's {size} events")));
        }
        let proof = web.app.consistency_proof(old, new)?;
        Ok(json!({"old": old, "new": new, "hashes": proof.iter().map(|h| b64(&h.0)).collect::<Vec<_>>()}))
    })();
    match answer {
        Ok(value) => json_response(value),
        Err(error) => api_error(error),
    }
}
