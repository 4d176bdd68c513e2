//! `klero witness`: a C2SP tlog-witness. For each log it follows it keeps the latest
//! checkpoint it cosigned, and cosigns a new one only with a valid consistency proof from it.
//! It never cosigns a smaller tree after a larger one, nor two different trees of one size, and
//! its record survives restarts (replaced durably before it answers).
//!
//! - `POST /add-checkpoint`: the spec's call. 200 with the cosignature line; 400 for a
//!   malformed body or an old size above the checkpoint's; 403 when no trusted signature by
//!   the log verifies; 404 for an unknown log; 409 (`text/x.tlog.size`, the size it holds)
//!   when the old size is not the one it cosigned last, or a same-size checkpoint has another
//!   root or other stream heads; 422 when the consistency proof does not verify.
//! - `GET /klero/latest/<origin>`: Kleroterion's own, for monitors: the latest checkpoint it
//!   cosigned for that log, with the log's signature and its cosignature (the spec leaves how
//!   monitors read witnesses open).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_ledger::checkpoint::{split_note, Checkpoint, LogVerifierKey};
use klero_ledger::cosignature::CosignerKey;
use klero_ledger::merkle::{empty_root, verify_consistency};
use klero_ledger::witness::{AddCheckpointRequest, ADD_CHECKPOINT_BYTES_MAX};
use klero_ledger::Hash256;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The state file in the witness's directory.
pub const WITNESS_STATE_FILE: &str = "witness-state";
const WITNESS_STATE_HEADER: &str = "klero-witness-state/v1";
/// Requests handled at once; more wait in the kernel's backlog or get 503.
const REQUESTS_IN_FLIGHT_MAX: usize = 256;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The latest checkpoint cosigned for one log.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cosigned {
    checkpoint: Checkpoint,
    /// The note as received, with this witness's cosignature added.
    note: String,
}

/// What the witness keeps: by origin, the latest checkpoint it cosigned.
#[derive(Debug, Default)]
struct WitnessState {
    logs: BTreeMap<String, Cosigned>,
}

/// Why the witness could not start.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("witness state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl WitnessState {
    /// Reads the state file; a missing file is a witness that cosigned nothing yet. Each line
    /// after the header is `base64(note)`, the note verified again with the log's key.
    fn load(directory: &FsPath, logs: &BTreeMap<String, LogVerifierKey>) -> Result<WitnessState, WitnessError> {
        let path = directory.join(WITNESS_STATE_FILE);
        let bad = |reason: String| WitnessError::State { path: path.clone(), reason };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(WitnessState::default()),
            Err(e) => return Err(bad(e.to_string())),
        };
        let mut lines = text.lines();
        if lines.next() != Some(WITNESS_STATE_HEADER) {
            return Err(bad(format!("the first line is not {WITNESS_STATE_HEADER}")));
        }
        let mut state = WitnessState::default();
        for (number, line) in lines.enumerate() {
            let note = BASE64
                .decode(line)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| bad(format!("line {} is not a base64 note", number + 2)))?;
            let (text, _) = split_note(&note).map_err(|e| bad(format!("line {}: {e}", number + 2)))?;
            let checkpoint = Checkpoint::parse_note_text(text).map_err(|e| bad(format!("line {}: {e}", number + 2)))?;
            // A log no longer configured keeps its record, so it can come back without a rollback.
            if let Some(key) = logs.get(&checkpoint.origin) {
                key.verify(&note).map_err(|e| bad(format!("line {}: {e}", number + 2)))?;
            }
            state.logs.insert(checkpoint.origin.clone(), Cosigned { checkpoint, note });
        }
        Ok(state)
    }

    /// Replaces the state file durably: a temporary file, fsync, rename, fsync the directory.
    fn save(&self, directory: &FsPath) -> std::io::Result<()> {
        let mut text = format!("{WITNESS_STATE_HEADER}\n");
        for cosigned in self.logs.values() {
            text.push_str(&BASE64.encode(cosigned.note.as_bytes()));
            text.push('\n');
        }
        let temporary = directory.join(format!("{WITNESS_STATE_FILE}.tmp"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, directory.join(WITNESS_STATE_FILE))?;
        std::fs::File::open(directory)?.sync_all()
    }
}

/// A witness: its key, the logs it follows, and its record.
#[derive(Debug)]
pub struct Witness {
    key: CosignerKey,
    logs: BTreeMap<String, LogVerifierKey>,
    directory: PathBuf,
    /// Held from reading the latest size to persisting the new one: check and update are one
    /// step, as the spec requires, so two racing requests cannot roll the record back.
    state: tokio::sync::Mutex<WitnessState>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Witness {
    /// Opens the witness's directory (created if missing) and its record.
    pub fn open(key: CosignerKey, logs: Vec<LogVerifierKey>, directory: PathBuf) -> Result<Witness, WitnessError> {
        std::fs::create_dir_all(&directory)?;
        let logs: BTreeMap<String, LogVerifierKey> = logs.into_iter().map(|k| (k.name().to_string(), k)).collect();
        let state = WitnessState::load(&directory, &logs)?;
        Ok(Witness {
            key,
            logs,
            directory,
            state: tokio::sync::Mutex::new(state),
            in_flight: Arc::new(tokio::sync::Semaphore::new(REQUESTS_IN_FLIGHT_MAX)),
        })
    }

    /// The witness's routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/add-checkpoint", post(add_checkpoint))
            .route("/klero/latest/{*origin}", get(latest))
            .with_state(self)
            .layer(axum::extract::DefaultBodyLimit::max(ADD_CHECKPOINT_BYTES_MAX))
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await
    }

    /// Decides a request: the status and the body to answer.
    async fn decide(&self, body: &[u8], now_unix_s: u64) -> (StatusCode, &'static str, String) {
        let refuse = |status, reason: String| (status, "text/plain; charset=utf-8", format!("{reason}\n"));
        let request = match AddCheckpointRequest::parse(body) {
            Ok(request) => request,
            Err(error) => return refuse(StatusCode::BAD_REQUEST, error.to_string()),
        };
        let checkpoint =
            match split_note(&request.checkpoint_note).and_then(|(text, _)| Checkpoint::parse_note_text(text)) {
                Ok(checkpoint) => checkpoint,
                Err(error) => return refuse(StatusCode::BAD_REQUEST, format!("checkpoint: {error}")),
            };
        let Some(log_key) = self.logs.get(&checkpoint.origin) else {
            return refuse(
                StatusCode::NOT_FOUND,
                format!("this witness does not follow the log {}", checkpoint.origin),
            );
        };
        if let Err(error) = log_key.verify(&request.checkpoint_note) {
            return refuse(StatusCode::FORBIDDEN, format!("no trusted signature verifies: {error}"));
        }
        if request.old_size > checkpoint.tree_size {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("old size {} is above the checkpoint's size {}", request.old_size, checkpoint.tree_size),
            );
        }
        let mut state = self.state.lock().await;
        let (latest_size, latest_root, latest_heads) =
            state.logs.get(&checkpoint.origin).map_or((0, empty_root(), None), |c| {
                (c.checkpoint.tree_size, c.checkpoint.root_hash, c.checkpoint.stream_heads)
            });
        if request.old_size != latest_size {
            return (StatusCode::CONFLICT, "text/x.tlog.size", format!("{latest_size}\n"));
        }
        // Kleroterion's additional statement (FORMAT.md §13.2): a second checkpoint of the size
        // it holds with another root, or with other stream heads (§4.1), is a fork. (A checkpoint
        // signed before stream heads existed makes no claim about them.)
        let other_heads = matches!((checkpoint.stream_heads, latest_heads), (Some(new), Some(old)) if new != old);
        if request.old_size == checkpoint.tree_size && (checkpoint.root_hash != latest_root || other_heads) {
            tracing::warn!(
                origin = %checkpoint.origin,
                size = checkpoint.tree_size,
                note = %request.checkpoint_note,
                "a second checkpoint of the same size with another root or other stream heads: the log forked"
            );
            return (StatusCode::CONFLICT, "text/x.tlog.size", format!("{latest_size}\n"));
        }
        if let Err(error) = verify_consistency(
            request.old_size,
            checkpoint.tree_size,
            &latest_root,
            &checkpoint.root_hash,
            &request.consistency_proof,
        ) {
            // Kept in the log: a signed checkpoint inconsistent with one cosigned is evidence.
            tracing::warn!(
                origin = %checkpoint.origin,
                old_size = request.old_size,
                size = checkpoint.tree_size,
                note = %request.checkpoint_note,
                "the consistency proof does not verify: {error}"
            );
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("the consistency proof does not verify: {error}"));
        }
        let line = self.key.cosign(&checkpoint, now_unix_s);
        let mut note = request.checkpoint_note.clone();
        note.push_str(&line.to_line());
        let previous = state.logs.insert(checkpoint.origin.clone(), Cosigned { checkpoint: checkpoint.clone(), note });
        let directory = self.directory.clone();
        let saved = {
            let snapshot = WitnessState { logs: state.logs.clone() };
            tokio::task::spawn_blocking(move || snapshot.save(&directory)).await
        };
        match saved {
            Ok(Ok(())) => (StatusCode::OK, "text/plain; charset=utf-8", line.to_line()),
            outcome => {
                // Not persisted: not cosigned. Put the record back as it was on disk.
                match previous {
                    Some(previous) => state.logs.insert(checkpoint.origin.clone(), previous),
                    None => state.logs.remove(&checkpoint.origin),
                };
                let reason = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(())) => unreachable!(),
                };
                tracing::error!(%reason, "the witness state could not be saved");
                refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the witness could not save its record: {reason}"))
            }
        }
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: axum::body::Bytes) -> Response<Body> {
    let Ok(_permit) = witness.in_flight.clone().try_acquire_owned() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "too many requests at once\n".into(),
        );
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match tokio::time::timeout(REQUEST_TIMEOUT, witness.decide(&body, now)).await {
        Ok((status, content_type, body)) => answer(status, content_type, body),
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "timed out\n".into()),
    }
}

async fn latest(State(witness): State<Arc<Witness>>, Path(origin): Path<String>) -> Response<Body> {
    match witness.state.lock().await.logs.get(&origin) {
        Some(cosigned) => answer(StatusCode::OK, "text/plain; charset=utf-8", cosigned.note.clone()),
        None => answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("this witness has cosigned no checkpoint of {origin}\n"),
        ),
    }
}

impl Witness {
    /// The size and root this witness holds for `origin`, for tests and tools.
    pub async fn latest_cosigned(&self, origin: &str) -> Option<(u64, Hash256)> {
        self.state.lock().await.logs.get(origin).map(|c| (c.checkpoint.tree_size, c.checkpoint.root_hash))
    }
}
