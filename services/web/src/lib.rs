//! Kleroterion's public pages: the record of each assembly as residents read it, and the
//! slices their browser checks it with.
//!
//! [`HttpFrontEnd`] serves, beside the gRPC API and over the same application core:
//! - pages, each rendered by `klero-pages` from the slice of the log it shows (docs/FORMAT.md
//!   §15), verified and folded by `klero-verifier`: complete without JavaScript;
//! - the slices themselves (`/api/v1/slices/…`), from which a visitor's browser derives each
//!   page again with the same code compiled to WebAssembly (`klero-browser`), and compares;
//! - open data: every view with its digest, a CSV of recommendations and responses, an Atom
//!   feed per assembly, all from the same slice as the pages;
//! - the log as C2SP tlog-tiles, with the checkpoint and consistency proofs;
//! - the script, the module and the style sheet, embedded (`assets/`): no third-party request;
//!   and a standalone verifier page that anyone can host.
//!
//! Every response carries a strict Content-Security-Policy and no cookie; the read API sends
//! CORS headers so that pages elsewhere can check this server. Pages are cached by the
//! checkpoint they were rendered at.

mod intake;
pub use intake::IntakeKey;
mod open_data;

pub use open_data::CSV_COLUMNS;
mod pages;
mod proofs;
mod standalone;
mod tiles;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use klero_application::{Application, ApplicationError, FrontEnd, FrontEndError, Shutdown};
use klero_connections::{ConnectionInfo, ConnectionLimits, TrackRequestsLayer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Limits on what visitors may ask of the pages.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Open connections. At the limit a new connection sheds the longest idle one (see
    /// `klero-connections`), or is closed if every connection is busy.
    pub connections_max: usize,
    /// Time a new connection has to finish its TLS handshake, if any, and send a request line.
    pub handshake_timeout: Duration,
    /// A connection with no request in progress for this long is closed (a keep-alive or a
    /// stalled request alike).
    pub idle_timeout: Duration,
    /// At the connection limit, only a connection idle this long may be shed.
    pub shed_idle_min: Duration,
    /// Longest a request may take to answer.
    pub request_timeout: Duration,
    /// Largest request body (a pasted receipt).
    pub body_bytes_max: usize,
    /// Rendered pages kept, by address; emptied whenever the log grows.
    pub cached_pages_max: usize,
    /// Bytes of full tiles and bundles kept in memory (they never change); the oldest go
    /// first.
    pub tile_cache_bytes_max: usize,
    /// Residents' submissions taken from one network (an IPv4 /24, an IPv6 /48) per
    /// `submission_window`, whether or not the rules accept them.
    pub submissions_per_network: u32,
    /// The same, per resident key (a browser's own key; the intake key is not counted).
    pub submissions_per_key: u32,
    pub submission_window: Duration,
    /// Networks and keys counted at once; past it the oldest windows are forgotten first.
    pub submission_counters_max: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connections_max: 1_024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shed_idle_min: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            body_bytes_max: 64 * 1024,
            cached_pages_max: 1_024,
            tile_cache_bytes_max: 64 * 1024 * 1024,
            submissions_per_network: 20,
            submissions_per_key: 5,
            submission_window: Duration::from_secs(600),
            submission_counters_max: 100_000,
        }
    }
}

/// The HTTP front end: serves the public pages on `listener` until shutdown.
#[derive(Debug)]
pub struct HttpFrontEnd {
    pub listener: TcpListener,
    pub limits: HttpLimits,
    /// The key that signs what residents send through the pages' plain form; without it the
    /// form is not offered by the server (`404`).
    pub intake: Option<IntakeKey>,
    /// Serve HTTPS (rustls with ring), optionally requiring client certificates.
    pub tls: Option<klero_application::ServerTls>,
}

/// What every handler shares.
pub(crate) struct Web {
    pub app: Arc<Application>,
    pub limits: HttpLimits,
    pub intake: Option<IntakeKey>,
    /// Residents' submissions counted per network and per key.
    pub submissions: Mutex<intake::SubmissionCounters>,
    cache: Mutex<PageCache>,
    /// Held while a page renders: visitors who miss the cache together wait for one render
    /// rather than each rendering the same page.
    rendering: tokio::sync::Mutex<()>,
    /// Full tiles and bundles made so far.
    tiles: Mutex<tiles::TileCache>,
    /// Verified slices by (target, checkpoint size), newest last.
    slices: Mutex<Vec<(SliceKey, Arc<klero_verifier::slice::VerifiedSlice>)>>,
}

/// A slice's target path and the size of the checkpoint it was cut at.
type SliceKey = (String, u64);

/// Rendered pages, valid for one checkpoint.
#[derive(Default)]
struct PageCache {
    generation: u64,
    pages: HashMap<String, CachedPage>,
}

#[derive(Clone)]
pub(crate) struct CachedPage {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: axum::body::Bytes,
    pub headers: Vec<(&'static str, String)>,
    /// The body gzipped, made once when the page is cached (pages of a large assembly run to
    /// hundreds of kilobytes of HTML, a tenth of that gzipped).
    pub gzipped: Option<axum::body::Bytes>,
}

impl CachedPage {
    pub fn html(body: String) -> CachedPage {
        CachedPage { status: StatusCode::OK, content_type: HTML, body: body.into(), headers: Vec::new(), gzipped: None }
    }
    pub fn with(status: StatusCode, content_type: &'static str, body: impl Into<axum::body::Bytes>) -> CachedPage {
        CachedPage { status, content_type, body: body.into(), headers: Vec::new(), gzipped: None }
    }
    /// Gzips the body, if it is worth it.
    fn compress(mut self) -> CachedPage {
        if self.body.len() >= GZIP_BYTES_MIN && self.gzipped.is_none() {
            self.gzipped = Some(gzip(&self.body).into());
        }
        self
    }
    pub fn into_response(self, encoding: Encoding) -> Response<Body> {
        let gzipped = encoding.gzip && self.gzipped.is_some();
        let body = if gzipped { self.gzipped.unwrap_or_default() } else { self.body };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if gzipped {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Bodies shorter than this go as they are: gzip would save little.
const GZIP_BYTES_MIN: usize = 1_024;

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Whether the visitor takes gzip (`Accept-Encoding`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Encoding {
    pub gzip: bool,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Encoding {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Encoding, Self::Rejection> {
        let gzip = parts
            .headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                name.eq_ignore_ascii_case("gzip") && !refused
            });
        Ok(Encoding { gzip })
    }
}

/// The language a page is asked for in: Welsh under `/cy/`, English elsewhere.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageLang(pub klero_pages::Lang);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<PageLang, Self::Rejection> {
        Ok(PageLang(klero_pages::Lang::of_path(parts.uri.path()).0))
    }
}

pub(crate) const HTML: &str = "text/html; charset=utf-8";

impl Web {
    /// The page at `key` for the checkpoint of size `generation`: from the cache, or rendered
    /// by `render`.
    pub async fn cached<F, Fut>(&self, key: String, generation: u64, encoding: Encoding, render: F) -> Response<Body>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedPage, PageError>>,
    {
        let hit =
            |cache: &PageCache| (cache.generation == generation).then(|| cache.pages.get(&key).cloned()).flatten();
        if let Some(page) = hit(&lock(&self.cache)) {
            return page.into_response(encoding);
        }
        let _rendering = self.rendering.lock().await;
        if let Some(page) = hit(&lock(&self.cache)) {
            return page.into_response(encoding);
        }
        match render().await {
            Ok(page) => {
                let page = page.compress();
                let mut cache = lock(&self.cache);
                if cache.generation != generation {
                    cache.pages.clear();
                    cache.generation = generation;
                }
                if cache.pages.len() >= self.limits.cached_pages_max {
                    cache.pages.clear();
                }
                cache.pages.insert(key, page.clone());
                page.into_response(encoding)
            }
            Err(error) => error.into_response(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a page cannot be shown, as a status and a sentence a visitor can act on.
#[derive(Debug)]
pub(crate) struct PageError {
    pub status: StatusCode,
    pub message: String,
    /// The language of the page it answers (English by default).
    pub lang: klero_pages::Lang,
}

impl PageError {
    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError { status: StatusCode::BAD_REQUEST, message: message.into(), lang: Default::default() }
    }
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError { status: StatusCode::NOT_FOUND, message: message.into(), lang: Default::default() }
    }
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError { status, message: message.into(), lang: Default::default() }
    }
    /// The same error, answered in `lang`.
    pub fn in_lang(self, lang: klero_pages::Lang) -> PageError {
        PageError { lang, ..self }
    }
    pub fn into_response(self) -> Response<Body> {
        let heading = match self.status {
            StatusCode::NOT_FOUND => "error-not-found",
            StatusCode::BAD_REQUEST => "error-bad-request",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "error-try-again",
            _ => "error-went-wrong",
        };
        let heading = self.lang.t(heading);
        let body = klero_pages::document(&klero_pages::render_error(self.lang, &heading, &self.message));
        let mut response = CachedPage::html(body).into_response(Encoding::default());
        *response.status_mut() = self.status;
        response
    }
    /// The error as one line of plain text, for machine clients (tiles, the checkpoint).
    pub fn into_plain_response(self) -> Response<Body> {
        let mut response = CachedPage::with(self.status, "text/plain; charset=utf-8", format!("{}\n", self.message))
            .into_response(Encoding::default());
        *response.status_mut() = self.status;
        response
    }
}

impl From<ApplicationError> for PageError {
    fn from(error: ApplicationError) -> PageError {
        let status = match &error {
            ApplicationError::InvalidArgument { .. } | ApplicationError::BadSignature { .. } => StatusCode::BAD_REQUEST,
            ApplicationError::DuplicateEventId { .. } => StatusCode::CONFLICT,
            ApplicationError::Rejected { rejection: klero_domain::Rejection::NotAuthorised { .. }, .. } => {
                StatusCode::FORBIDDEN
            }
            ApplicationError::Rejected { .. } | ApplicationError::Conflict { .. } => StatusCode::CONFLICT,
            ApplicationError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApplicationError::OutOfRange { .. } => StatusCode::BAD_REQUEST,
            ApplicationError::LimitExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApplicationError::Unavailable { .. } | ApplicationError::StorageFailed { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%error, "page failed");
        }
        PageError::with_status(status, error.to_string())
    }
}

/// The policy every response carries: only this server's own script, styles and images; no
/// frames, no plug-ins, forms only to this server. `'wasm-unsafe-eval'` lets the page's script
/// compile the verifier module it fetched from this server; it allows no other evaluation.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Whether other sites may read what `path` answers: the record's machine-readable parts (the
/// read API, slices, tiles, the checkpoint, documents and the static assets), so that a
/// standalone verifier hosted elsewhere can check this server. Pages stay same-origin.
fn readable_by_other_sites(path: &str) -> bool {
    path == "/checkpoint"
        || ["/api/", "/tile/", "/klero/", "/documents/", "/static/"].iter().any(|prefix| path.starts_with(prefix))
}

async fn secure_headers(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    let cors = readable_by_other_sites(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if cors {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.remove(header::SET_COOKIE);
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
    response
}

/// The router over one core: pages, open data, proofs and assets.
pub fn router(app: Arc<Application>, limits: HttpLimits, intake: Option<IntakeKey>) -> Router {
    let request_timeout = limits.request_timeout;
    let body_bytes_max = limits.body_bytes_max;
    let web = Arc::new(Web {
        app,
        limits,
        intake,
        submissions: Mutex::new(intake::SubmissionCounters::default()),
        cache: Mutex::new(PageCache::default()),
        rendering: tokio::sync::Mutex::new(()),
        tiles: Mutex::new(tiles::TileCache::default()),
        slices: Mutex::new(Vec::new()),
    });
    // The pages, in English at `/…` and in Welsh at `/cy/…` (the handlers read which).
    let mut router = Router::new().route("/cy", get(pages::index));
    for prefix in ["", "/cy"] {
        router = router
            .route(&format!("{prefix}/"), get(pages::index))
            .route(&format!("{prefix}/dashboard"), get(pages::dashboard))
            .route(&format!("{prefix}/programme"), get(pages::programme))
            .route(&format!("{prefix}/councils/{{id}}"), get(pages::council))
            .route(&format!("{prefix}/assemblies/{{id}}"), get(pages::assembly))
            .route(&format!("{prefix}/assemblies/{{id}}/data"), get(pages::data))
            .route(&format!("{prefix}/assemblies/{{id}}/submissions"), get(pages::submissions))
            .route(
                &format!("{prefix}/assemblies/{{id}}/calls/{{call}}/submissions"),
                axum::routing::post(intake::submitted)
                    .layer(axum::extract::DefaultBodyLimit::max(intake::FORM_BYTES_MAX)),
            )
            .route(&format!("{prefix}/events/{{log_index}}"), get(pages::event))
            .route(&format!("{prefix}/receipt"), get(pages::receipt_form).post(pages::receipt_posted))
            .route(&format!("{prefix}/receipt/{{log_index}}/feed.atom"), get(open_data::receipt_feed));
    }
    router
        .route("/assemblies/{id}/views/{file}", get(open_data::view_file))
        .route("/assemblies/{id}/recommendations.csv", get(open_data::csv))
        .route("/programme.csv", get(open_data::programme_csv))
        .route("/assemblies/{id}/feed.atom", get(open_data::atom))
        .route("/documents/{sha256}", get(open_data::document))
        .route("/api/v1/checkpoint", get(proofs::checkpoint))
        .route("/api/v1/events/{log_index}", get(proofs::event))
        .route("/api/v1/receipts/{log_index}", get(proofs::receipt))
        .route("/api/v1/consistency", get(proofs::consistency))
        .route("/api/v1/slices/{*path}", get(pages::slice))
        .route("/api/v1/submissions", axum::routing::post(intake::signed_submission))
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/klero/envelopes/{*path}", get(tiles::tile))
        .route("/static/{file}", get(pages::asset))
        .route("/favicon.ico", get(|| async { axum::response::Redirect::permanent("/static/favicon.svg") }))
        .fallback(|| async { PageError::not_found("There is no page at this address.").into_response() })
        .with_state(web)
        .layer(axum::extract::DefaultBodyLimit::max(body_bytes_max))
        .layer(axum::middleware::from_fn(move |request: Request<Body>, next: axum::middleware::Next| async move {
            match tokio::time::timeout(request_timeout, next.run(request)).await {
                Ok(response) => response,
                Err(_) => PageError::with_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server took too long to answer; try again",
                )
                .into_response(),
            }
        }))
        .layer(axum::middleware::from_fn(secure_headers))
}

#[async_trait::async_trait]
impl FrontEnd for HttpFrontEnd {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn serve(self: Box<Self>, application: Arc<Application>, shutdown: Shutdown) -> Result<(), FrontEndError> {
        let address = self.listener.local_addr()?;
        let limits = ConnectionLimits {
            connections_max: self.limits.connections_max,
            handshake_timeout: self.limits.handshake_timeout,
            handshake_bytes: klero_connections::HTTP1_HANDSHAKE_BYTES,
            idle_timeout: self.limits.idle_timeout,
            shed_idle_min: self.limits.shed_idle_min,
        };
        let tls = self.tls.as_ref().map(|tls| klero_connections::tls_config(pem(tls), &[b"http/1.1"])).transpose()?;
        let listener = PagesListener(klero_connections::accept(self.listener, limits, tls)?);
        tracing::info!(%address, "serving the public pages");
        let router = router(application, self.limits, self.intake)
            .layer(TrackRequestsLayer::new(connection_of))
            .into_make_service_with_connect_info::<PageConnection>();
        axum::serve(listener, router).with_graceful_shutdown(shutdown.signalled()).await?;
        Ok(())
    }
}

/// The pages' connections, from the one connection stack (`klero-connections`).
struct PagesListener(klero_connections::Incoming);

impl axum::serve::Listener for PagesListener {
    type Io = klero_connections::Connection;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (klero_connections::Connection, std::net::SocketAddr) {
        match self.0.next().await {
            Some(connection) => {
                let address = connection.remote_addr();
                (connection, address)
            }
            None => {
                std::future::pending::<()>().await;
                unreachable!("the accepting task ends only when this listener is dropped");
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        Ok(self.0.local_addr())
    }
}

/// A connection's info in each request's extensions, so that requests are counted against it.
#[derive(Clone, Debug)]
struct PageConnection(ConnectionInfo);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, PagesListener>> for PageConnection {
    fn connect_info(stream: axum::serve::IncomingStream<'_, PagesListener>) -> PageConnection {
        PageConnection(stream.io().info())
    }
}

fn connection_of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
    extensions.get::<axum::extract::ConnectInfo<PageConnection>>().map(|info| &info.0 .0)
}

/// The core's TLS material as the connection stack reads it.
fn pem(tls: &klero_application::ServerTls) -> klero_connections::TlsPem<'_> {
    klero_connections::TlsPem { cert: &tls.cert_pem, key: &tls.key_pem, client_ca: tls.client_ca_pem.as_deref() }
}
