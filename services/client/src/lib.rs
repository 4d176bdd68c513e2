//! A Rust client for Kleroterion.
//!
//! - [`Author`] holds an author's key, builds the author part of an event from a catalogue
//!   payload, and signs it. The server never sees the secret key.
//! - [`KleroClient`] appends over gRPC. It retries transient failures with the same signed
//!   bytes, which the server treats as idempotent, for up to 30 s; with several servers
//!   (`http://a,http://b`) it moves to the next when one cannot serve, and follows a server's
//!   "append to <writer>" answer. It turns a revision conflict into [`ClientError::Conflict`]
//!   with the stream's current revision, so the caller can decide again.

pub mod export;
pub mod trace;

use klero_catalogue::{EventMessage, StreamKind};
use klero_domain::AssemblyId;
use klero_ledger::envelope::{AuthorPart, EnvelopeError, EventId};
use klero_ledger::{Hash256, SigningKey};
use klero_proto::ledger::ledger_client::LedgerClient;
use klero_proto::ledger::{self as pb, expected_revision::Kind};
use klero_proto::{assembly, registry};
use std::time::Duration;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Transient failures are retried until this long has passed, with doubling waits from 25 ms
/// up to 1 s: a failover on the PostgreSQL store takes about 2 s, and up to about 25 s when the
/// writer's machine vanished (deploy/README.md).
const RETRY_DEADLINE: Duration = Duration::from_secs(30);
/// Reads are retried for less: a read that fails on every server given is answered sooner.
const READ_RETRY_DEADLINE: Duration = Duration::from_secs(5);
const RETRY_FIRST_WAIT: Duration = Duration::from_millis(25);
const RETRY_WAIT_MAX: Duration = Duration::from_secs(1);

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("cannot build the event: {0}")]
    Event(#[from] EnvelopeError),
    /// The assembly id cannot name a stream.
    #[error("assembly id {assembly_id:?} {reason}")]
    AssemblyId { assembly_id: String, reason: String },
    /// The stream moved on: re-read it, decide again, and retry with a new expectation.
    #[error("revision conflict on {stream}: current revision {current_revision:?}")]
    Conflict { stream: String, current_revision: Option<u64>, status: Status },
    /// The server refused the request; the status says why (see docs/API.md).
    #[error("{}: {}", .0.code(), .0.message())]
    Refused(Status),
    /// A receipt did not check out against the server (see [`trace::follow_receipt`]).
    #[error("receipt: {0}")]
    Receipt(String),
}

impl ClientError {
    /// The gRPC code, if the server answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Refused(status) | ClientError::Conflict { status, .. } => Some(status.code()),
            _ => None,
        }
    }
}

/// An event's author: a key and the way to sign catalogue payloads with it.
#[derive(Debug)]
pub struct Author {
    key: SigningKey,
}

/// A signed event ready to send, and what the author put in it.
#[derive(Clone, Debug)]
pub struct SignedEvent {
    pub wire: pb::SignedEvent,
    pub event_id: EventId,
    pub stream: String,
    /// The data key of its sealed fields, sent beside it (never signed, never in the log).
    pub data_key: Option<klero_domain::DataKey>,
}

/// Seals personal text for one event (FORMAT.md §14): a fresh event id and data key, and a
/// fresh random nonce and salt for every field. Sign the event with [`Author::sign_sealed`].
pub struct Sealer {
    event_id: EventId,
    key: klero_domain::DataKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("event_id", &self.event_id).finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ClientError> {
    let mut bytes = [0u8; N];
    // Unlike an event id, a key, nonce or salt must never be guessable: no fallback.
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ClientError::Refused(Status::internal(format!("the OS random source failed: {e}"))))?;
    Ok(bytes)
}

impl Sealer {
    pub fn new() -> Result<Sealer, ClientError> {
        Ok(Sealer { event_id: new_event_id(), key: klero_domain::DataKey(random_bytes()?) })
    }

    /// The event's data key, sent with it and kept by the server.
    pub fn data_key(&self) -> &klero_domain::DataKey {
        &self.key
    }

    /// The id of the event the sealed fields belong to.
    pub fn event_id(&self) -> EventId {
        self.event_id
    }

    /// `text` sealed as the field `field` (its protobuf name, e.g. `sealed_text`).
    pub fn seal(&self, field: &str, text: &str) -> Result<klero_proto::privacy::SealedText, ClientError> {
        let sealed =
            klero_domain::personal::seal(&self.key, random_bytes()?, random_bytes()?, &self.event_id.0, field, text);
        Ok(klero_catalogue::sealed_text_message(&sealed))
    }
}

/// A fresh random (version 4) UUID for an event id.
pub fn new_event_id() -> EventId {
    let mut id = [0u8; 16];
    // The OS random source only fails on a broken system; a time-derived id is then unique
    // enough for idempotency, and the nil id is impossible.
    if getrandom::getrandom(&mut id).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(1);
        id.copy_from_slice(&Hash256::of(&nanos.to_be_bytes()).0[..16]);
    }
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    EventId(id)
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Author {
    pub fn new(key: SigningKey) -> Author {
        Author { key }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `payload` for its stream in `assembly_id` (ignored for registry events), with a
    /// fresh event id and the current time.
    pub fn sign<P: EventMessage>(&self, assembly_id: &str, payload: &P) -> Result<SignedEvent, ClientError> {
        self.sign_with(stream_name(P::STREAM_KIND, assembly_id)?, new_event_id(), now_unix_ms(), payload)
    }

    /// Signs `payload`, whose fields `sealer` sealed, with the sealer's event id, and sends
    /// its data key with it.
    pub fn sign_sealed<P: EventMessage>(
        &self,
        assembly_id: &str,
        payload: &P,
        sealer: &Sealer,
    ) -> Result<SignedEvent, ClientError> {
        let mut signed =
            self.sign_with(stream_name(P::STREAM_KIND, assembly_id)?, sealer.event_id, now_unix_ms(), payload)?;
        signed.data_key = Some(sealer.key.clone());
        Ok(signed)
    }

    /// Signs with everything chosen by the caller, e.g. a stored event id for a retry.
    pub fn sign_with<P: EventMessage>(
        &self,
        stream: String,
        event_id: EventId,
        authored_at_unix_ms: u64,
        payload: &P,
    ) -> Result<SignedEvent, ClientError> {
        let author = AuthorPart {
            event_id,
            stream: stream.clone(),
            event_type: P::EVENT_TYPE.to_string(),
            event_version: payload.payload_version(),
            author_public_key: self.public_key(),
            authored_at_unix_ms,
            payload: payload.encode_to_vec(),
        };
        let signed = author.sign(&self.key)?;
        Ok(SignedEvent {
            wire: pb::SignedEvent {
                author_encoding: signed.encoding().to_vec(),
                signature: signed.signature().to_vec(),
            },
            event_id,
            stream,
            data_key: None,
        })
    }
}

/// The stream of `kind` for an assembly, as the server expects it. A registry event goes to
/// the registry whose grants cover the assembly: its council's (`council/<id>`) for a
/// council's assembly, else the platform's `registry` (also for an id that is no assembly's,
/// such as "" or "*").
pub fn stream_name(kind: StreamKind, assembly_id: &str) -> Result<String, ClientError> {
    if kind == StreamKind::Registry {
        return Ok(match AssemblyId::parse(assembly_id) {
            Ok(assembly) => klero_domain::registry_stream_for(&StreamKind::Assembly.stream_name(&assembly)),
            Err(_) => klero_domain::REGISTRY_STREAM.to_string(),
        });
    }
    let assembly = AssemblyId::parse(assembly_id).map_err(|reason| ClientError::AssemblyId {
        assembly_id: assembly_id.to_string(),
        reason: reason.to_string(),
    })?;
    Ok(kind.stream_name(&assembly))
}

/// A council's registry stream, where the platform registers it (`CouncilRegistered`) and its
/// own trust root grants and revokes.
pub fn council_stream(council_id: &str) -> Result<String, ClientError> {
    let council = klero_domain::CouncilId::parse(council_id).map_err(|reason| ClientError::AssemblyId {
        assembly_id: council_id.to_string(),
        reason: reason.to_string(),
    })?;
    Ok(council.stream())
}

/// The expectation to send with an append.
pub fn expect_exact(revision: u64) -> pb::ExpectedRevision {
    pb::ExpectedRevision { kind: Some(Kind::Exact(revision)) }
}
pub fn expect_no_stream() -> pb::ExpectedRevision {
    pb::ExpectedRevision { kind: Some(Kind::NoStream(true)) }
}

/// Whether a retry of the same call may succeed. `CANCELLED` is what a call gets whose
/// connection closed under it (the server died mid-call: its outcome is unknown, and the same
/// bytes are safe to send again). A server whose storage failed refuses every append until an
/// operator restarts it (`storage failed:`), and a limit stays a limit: those are not retried.
fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Unknown | Code::Cancelled
    ) && !status.message().contains("limit exceeded")
        && !status.message().starts_with("storage failed")
}

fn classify(stream: &str, status: Status) -> ClientError {
    if status.code() == Code::Aborted {
        let current_revision = status
            .get_details_error_info()
            .and_then(|info| info.metadata.get("current_revision").and_then(|r| r.parse().ok()));
        return ClientError::Conflict { stream: stream.to_string(), current_revision, status };
    }
    ClientError::Refused(status)
}

/// A connection to a Kleroterion server, and the other servers of the same log it may move to.
#[derive(Clone, Debug)]
pub struct KleroClient {
    ledger: LedgerClient<Channel>,
    registry: registry::registry_client::RegistryClient<Channel>,
    assemblies: assembly::assemblies_client::AssembliesClient<Channel>,
    query: klero_proto::query::query_client::QueryClient<Channel>,
    documents: klero_proto::documents::documents_client::DocumentsClient<Channel>,
    /// The servers given to [`KleroClient::connect`], and the one in use (empty for a client
    /// made from a channel, which never moves).
    servers: std::sync::Arc<Vec<String>>,
    current: String,
    tls: Option<ClientTls>,
    /// A shorter limit on retries than the defaults, for callers that would rather fail fast.
    retry_deadline_max: Option<Duration>,
}

/// A document downloaded from the server, checked against its hash.
#[derive(Clone, Debug, PartialEq)]
pub struct DownloadedDocument {
    pub info: klero_proto::documents::DocumentInfo,
    pub bytes: Vec<u8>,
}

/// What a client trusts for `https://` servers: a CA (PEM), and its own certificate and key
/// (PEM) for servers that require one.
#[derive(Clone)]
pub struct ClientTls {
    pub ca_pem: Vec<u8>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("client_certificate", &self.identity.is_some()).finish_non_exhaustive()
    }
}

static HTTPS_TRUST: std::sync::OnceLock<ClientTls> = std::sync::OnceLock::new();

/// Sets, once per process, what [`KleroClient::connect`] trusts for `https://` servers (the
/// command line's `--ca`). Returns false if it was set already.
pub fn trust_for_https(tls: ClientTls) -> bool {
    HTTPS_TRUST.set(tls).is_ok()
}

/// The endpoint for `url`, with TLS for `https://`.
fn endpoint(url: &str, tls: Option<&ClientTls>) -> Result<tonic::transport::Endpoint, ClientError> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_string())?;
    if url.starts_with("https://") {
        let tls = tls.ok_or_else(|| {
            ClientError::Refused(Status::failed_precondition(
                "an https:// server needs the CA that signed its certificate (klero … --ca FILE)",
            ))
        })?;
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.identity {
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(config)?;
    }
    Ok(endpoint
        .tcp_nodelay(true)
        // Windows that grow with the bandwidth (documents are megabytes), not 64 KiB.
        .http2_adaptive_window(true)
        .connect_timeout(Duration::from_secs(10)))
}

impl KleroClient {
    /// Connects to `url`, e.g. `http://127.0.0.1:50051`, or `https://…` with the TLS trust set
    /// by [`trust_for_https`] (the system's roots are not used). `url` may name several servers
    /// of one log, separated by commas: the client uses the first it can reach, and moves on
    /// when one cannot serve (see the module's documentation).
    pub async fn connect(url: &str) -> Result<KleroClient, ClientError> {
        KleroClient::connect_with_tls(url, HTTPS_TRUST.get()).await
    }

    /// Connects to `url` over TLS when it is `https://`, trusting `tls`'s CA and presenting its
    /// client certificate, if any.
    pub async fn connect_with_tls(url: &str, tls: Option<&ClientTls>) -> Result<KleroClient, ClientError> {
        let servers: Vec<String> =
            url.split(',').map(str::trim).filter(|server| !server.is_empty()).map(str::to_string).collect();
        let mut last_error = None;
        for server in &servers {
            match endpoint(server, tls)?.connect().await {
                Ok(channel) => {
                    let mut client = KleroClient::from_channel(channel);
                    client.servers = std::sync::Arc::new(servers.clone());
                    client.current = server.clone();
                    client.tls = tls.cloned();
                    return Ok(client);
                }
                Err(error) => last_error = Some(error),
            }
        }
        match last_error {
            Some(error) => Err(error.into()),
            None => Err(ClientError::Refused(Status::invalid_argument(format!("no server URL in {url:?}")))),
        }
    }

    pub fn from_channel(channel: Channel) -> KleroClient {
        let limit = 16 * 1024 * 1024;
        KleroClient {
            ledger: LedgerClient::new(channel.clone())
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
            registry: registry::registry_client::RegistryClient::new(channel.clone()),
            assemblies: assembly::assemblies_client::AssembliesClient::new(channel.clone()),
            query: klero_proto::query::query_client::QueryClient::new(channel.clone()).max_decoding_message_size(limit),
            documents: klero_proto::documents::documents_client::DocumentsClient::new(channel),
            servers: std::sync::Arc::new(Vec::new()),
            current: String::new(),
            tls: None,
            retry_deadline_max: None,
        }
    }

    /// Gives up retrying a call after `deadline` at most (rather than [`RETRY_DEADLINE`] for
    /// writes and [`READ_RETRY_DEADLINE`] for reads): for a caller that knows the server is
    /// gone, such as a test that killed it.
    pub fn with_retry_deadline(mut self, deadline: Duration) -> KleroClient {
        self.retry_deadline_max = Some(deadline);
        self
    }

    /// The server in use now.
    pub fn server(&self) -> &str {
        &self.current
    }

    /// After a transient failure: go where the server said to append (the writer it names), or
    /// to the next server given, unless the server asked for a retry of the same call.
    fn fail_over(&mut self, status: &Status) {
        let message = status.message();
        let named = message.split("append to ").nth(1).and_then(|rest| rest.split_whitespace().next());
        let next = match named.filter(|url| url.starts_with("http://") || url.starts_with("https://")) {
            Some(writer) => writer.to_string(),
            None if message.contains("has just become the log's writer") || self.servers.len() < 2 => return,
            None => {
                let at = self.servers.iter().position(|server| *server == self.current).unwrap_or(0);
                self.servers[(at + 1) % self.servers.len()].clone()
            }
        };
        if next == self.current {
            return;
        }
        // A lazy channel: the retry connects, and fails over again if it cannot.
        if let Ok(endpoint) = endpoint(&next, self.tls.as_ref()) {
            let moved = KleroClient::from_channel(endpoint.connect_lazy());
            *self = KleroClient {
                servers: self.servers.clone(),
                current: next,
                tls: self.tls.clone(),
                retry_deadline_max: self.retry_deadline_max,
                ..moved
            };
        }
    }

    /// Makes a call with the same request until it succeeds, fails for good, or
    /// [`RETRY_DEADLINE`] passes, failing over between tries; the request bytes are the same
    /// each time, so a retry of an append that did land returns its original result.
    async fn retrying<T, F, Fut>(&mut self, stream: &str, call: F) -> Result<T, ClientError>
    where
        F: FnMut(KleroClient) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.retrying_for(RETRY_DEADLINE, stream, call).await
    }

    /// [`KleroClient::retrying`] for a read, with [`READ_RETRY_DEADLINE`].
    async fn reading<T, F, Fut>(&mut self, call: F) -> Result<T, ClientError>
    where
        F: FnMut(KleroClient) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.retrying_for(READ_RETRY_DEADLINE, "", call).await
    }

    async fn retrying_for<T, F, Fut>(&mut self, limit: Duration, stream: &str, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut(KleroClient) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let limit = self.retry_deadline_max.map_or(limit, |most| most.min(limit));
        let deadline = std::time::Instant::now() + limit;
        let mut wait = RETRY_FIRST_WAIT;
        loop {
            match call(self.clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if is_transient(&status) && std::time::Instant::now() + wait < deadline => {
                    self.fail_over(&status);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_WAIT_MAX);
                }
                Err(status) => return Err(classify(stream, status)),
            }
        }
    }

    /// The raw generated clients, for calls this wrapper does not cover.
    pub fn ledger(&mut self) -> &mut LedgerClient<Channel> {
        &mut self.ledger
    }
    pub fn registry(&mut self) -> &mut registry::registry_client::RegistryClient<Channel> {
        &mut self.registry
    }
    pub fn assemblies(&mut self) -> &mut assembly::assemblies_client::AssembliesClient<Channel> {
        &mut self.assemblies
    }
    pub fn query(&mut self) -> &mut klero_proto::query::query_client::QueryClient<Channel> {
        &mut self.query
    }

    /// Appends one signed event, retrying transient failures with the same bytes.
    pub async fn append(
        &mut self,
        event: &SignedEvent,
        expected: Option<pb::ExpectedRevision>,
    ) -> Result<pb::AppendedEvent, ClientError> {
        let request = pb::AppendRequest {
            event: Some(event.wire.clone()),
            expected_revision: expected,
            data_key: event.data_key.as_ref().map(|key| key.0.to_vec()).unwrap_or_default(),
        };
        let response = self
            .retrying(&event.stream, |mut client| {
                let request = request.clone();
                async move { client.ledger.append(request).await }
            })
            .await?;
        response.appended.ok_or_else(|| ClientError::Refused(Status::internal("empty reply")))
    }

    /// Appends signed events to one stream atomically, retrying transient failures.
    pub async fn append_batch(
        &mut self,
        stream: &str,
        events: &[SignedEvent],
        expected: Option<pb::ExpectedRevision>,
    ) -> Result<Vec<pb::AppendedEvent>, ClientError> {
        let request = pb::AppendBatchRequest {
            stream: stream.to_string(),
            events: events.iter().map(|e| e.wire.clone()).collect(),
            expected_revision: expected,
            data_keys: if events.iter().any(|e| e.data_key.is_some()) {
                events.iter().map(|e| e.data_key.as_ref().map(|key| key.0.to_vec()).unwrap_or_default()).collect()
            } else {
                Vec::new()
            },
        };
        let response = self
            .retrying(stream, |mut client| {
                let request = request.clone();
                async move { client.ledger.append_batch(request).await }
            })
            .await?;
        Ok(response.appended)
    }

    pub fn documents(&mut self) -> &mut klero_proto::documents::documents_client::DocumentsClient<Channel> {
        &mut self.documents
    }

    /// Uploads a document in chunks of 1 MiB; returns its SHA-256, the hash an event commits to.
    pub async fn upload_document(
        &mut self,
        bytes: &[u8],
        media_type: &str,
        personal_data: bool,
    ) -> Result<Hash256, ClientError> {
        use klero_proto::documents::{upload_request::Part, UploadHeader, UploadRequest};
        let sha256 = Hash256::of(bytes);
        let header = UploadHeader {
            sha256: sha256.0.to_vec(),
            media_type: media_type.to_string(),
            size: bytes.len() as u64,
            personal_data,
        };
        // One copy into a shared buffer; the chunks are slices of it.
        let shared = tonic::codegen::Bytes::copy_from_slice(bytes);
        let mut messages = vec![UploadRequest { part: Some(Part::Header(header)) }];
        let chunk_bytes = 1024 * 1024;
        messages.extend((0..bytes.len()).step_by(chunk_bytes).map(|start| UploadRequest {
            part: Some(Part::Chunk(shared.slice(start..(start + chunk_bytes).min(bytes.len())))),
        }));
        self.retrying("", |mut client| {
            let messages = messages.clone();
            async move { client.documents.upload(tonic::codegen::tokio_stream::iter(messages)).await }
        })
        .await?;
        Ok(sha256)
    }

    /// Downloads a document an event commits to, and checks its bytes against the hash.
    pub async fn download_document(&mut self, sha256: &Hash256) -> Result<DownloadedDocument, ClientError> {
        use klero_proto::documents::{download_response::Part, DownloadRequest};
        let mut parts = self
            .documents
            .download(DownloadRequest { sha256: sha256.0.to_vec() })
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        let mut info = None;
        let mut bytes = Vec::new();
        while let Some(message) = parts.message().await.map_err(ClientError::Refused)? {
            match message.part {
                Some(Part::Info(i)) => info = Some(i),
                Some(Part::Chunk(chunk)) => bytes.extend_from_slice(&chunk),
                None => {}
            }
        }
        let info = info.ok_or_else(|| ClientError::Refused(Status::internal("a download without its info")))?;
        if Hash256::of(&bytes) != *sha256 {
            return Err(ClientError::Refused(Status::data_loss(format!(
                "the server sent bytes that do not hash to {sha256}"
            ))));
        }
        Ok(DownloadedDocument { info, bytes })
    }

    /// The revision of a stream's last event, to build an `exact` expectation on; `None` if the
    /// stream holds no event (expect `no_stream` then).
    pub async fn stream_revision(&mut self, stream: &str) -> Result<Option<u64>, ClientError> {
        let request = pb::GetStreamHeadRequest { stream: stream.to_string() };
        let head = self
            .reading(|mut client| {
                let request = request.clone();
                async move { client.ledger.get_stream_head(request).await }
            })
            .await?;
        Ok(head.exists.then_some(head.revision))
    }

    /// One view of one assembly with its JSON, of any size (`StreamView`), checked against its
    /// digest.
    pub async fn view(&mut self, view: &str, assembly_id: &str) -> Result<klero_proto::query::View, ClientError> {
        let request = klero_proto::query::GetViewRequest {
            view: view.into(),
            assembly_id: assembly_id.into(),
            digest_only: false,
        };
        let mut parts = self.query().stream_view(request).await.map_err(ClientError::Refused)?.into_inner();
        let malformed = |what: &str| ClientError::Refused(tonic::Status::data_loss(format!("the view stream {what}")));
        let mut head = parts
            .message()
            .await
            .map_err(ClientError::Refused)?
            .and_then(|part| part.view)
            .ok_or_else(|| malformed("did not start with the view"))?;
        let mut json = Vec::new();
        while let Some(part) = parts.message().await.map_err(ClientError::Refused)? {
            if part.view.is_some() {
                return Err(malformed("named the view twice"));
            }
            json.extend_from_slice(&part.json);
        }
        if Hash256::of(&json).0.as_slice() != head.digest.as_slice() {
            return Err(malformed("does not hash to the view's digest"));
        }
        head.json = String::from_utf8(json).map_err(|_| malformed("is not UTF-8"))?;
        Ok(head)
    }

    /// The latest signed checkpoint.
    pub async fn checkpoint(&mut self) -> Result<pb::GetCheckpointResponse, ClientError> {
        self.reading(|mut client| async move { client.ledger.get_checkpoint(pb::GetCheckpointRequest {}).await }).await
    }

    pub async fn inclusion_proof(&mut self, log_index: u64, tree_size: u64) -> Result<Vec<Hash256>, ClientError> {
        let request = pb::GetInclusionProofRequest { log_index, tree_size };
        let response =
            self.reading(|mut client| async move { client.ledger.get_inclusion_proof(request).await }).await?;
        Ok(to_hashes(response.hashes))
    }

    pub async fn consistency_proof(
        &mut self,
        old_tree_size: u64,
        new_tree_size: u64,
    ) -> Result<Vec<Hash256>, ClientError> {
        let request = pb::GetConsistencyProofRequest { old_tree_size, new_tree_size };
        let response =
            self.reading(|mut client| async move { client.ledger.get_consistency_proof(request).await }).await?;
        Ok(to_hashes(response.hashes))
    }

    pub async fn proof_bundle(&mut self, log_index: u64) -> Result<String, ClientError> {
        let request = pb::GetProofBundleRequest { log_index };
        Ok(self.reading(|mut client| async move { client.ledger.get_proof_bundle(request).await }).await?.bundle)
    }
}

fn to_hashes(hashes: Vec<Vec<u8>>) -> Vec<Hash256> {
    // A hash of the wrong length becomes all zeros, which can never verify.
    hashes.into_iter().map(|h| Hash256(<[u8; 32]>::try_from(h.as_slice()).unwrap_or([0; 32]))).collect()
}
