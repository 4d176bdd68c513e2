//! The pages and the slice API.
//!
//! Every page is rendered from the slice it is derived from (docs/FORMAT.md §15), verified and
//! folded by `klero-verifier` and rendered by `klero-pages`: exactly what a visitor's browser
//! does again with the same slice from `/api/v1/slices/…`. Pages and slices are cached by the
//! checkpoint they were made at.

use crate::{CachedPage, Encoding, PageError, PageLang, Web, HTML};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use klero_application::SliceRequest;
use klero_domain::{AssemblyId, CouncilId};
use klero_ledger::bundle::ProofBundle;
use klero_ledger::merkle::verify_consistency;
use klero_pages::{Page, ReceiptCheck, RenderedPage};
use klero_verifier::slice::{verify_slice, SliceOptions, SliceTarget, VerifiedSlice};
use std::sync::Arc;

/// Verified slices kept: an assembly's page, data page, views, CSV and feed share one.
pub(crate) const SLICES_KEPT: usize = 16;

/// Parses an assembly id from a path or a query, naming the rule it breaks.
pub fn parse_assembly(id: &str) -> Result<AssemblyId, PageError> {
    AssemblyId::parse(id).map_err(|e| PageError::bad_request(format!("assembly id {id:?} {e}")))
}

pub fn parse_council(id: &str) -> Result<CouncilId, PageError> {
    CouncilId::parse(id).map_err(|e| PageError::bad_request(format!("council id {id:?} {e}")))
}

impl From<klero_pages::PageError> for PageError {
    fn from(error: klero_pages::PageError) -> PageError {
        match error {
            klero_pages::PageError::NotFound(message) => PageError::not_found(message),
            klero_pages::PageError::BadRequest(message) => PageError::bad_request(message),
            klero_pages::PageError::Render(message) => {
                tracing::error!(%message, "a page failed to render");
                PageError::with_status(StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered")
            }
        }
    }
}

impl Web {
    /// The size of the checkpoint pages are rendered at now.
    pub(crate) async fn page_size(&self) -> Result<u64, PageError> {
        Ok(self.app.page_checkpoint().await?.checkpoint().tree_size)
    }

    /// The slice of `target` at the checkpoint of `size`, verified and folded as a visitor's
    /// browser does (but for signatures, which the log checked when it recorded the events).
    pub(crate) async fn verified(&self, target: &SliceTarget, size: u64) -> Result<Arc<VerifiedSlice>, PageError> {
        let key = (target.path(), size);
        if let Some((_, kept)) = crate::lock(&self.slices).iter().find(|(k, _)| *k == key) {
            return Ok(kept.clone());
        }
        let request = SliceRequest { target: target.clone(), at_size: Some(size), consistency_from: Vec::new() };
        let slice = self.app.slice(&request).await?;
        let options = SliceOptions { skip_signatures: true, ..SliceOptions::default() };
        let verified = verify_slice(&slice, target, &options).map_err(|failure| {
            tracing::error!(%failure, target = %target.path(), "the server's own slice does not verify");
            PageError::with_status(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the record could not be checked: {failure}"),
            )
        })?;
        let verified = Arc::new(verified);
        let mut kept = crate::lock(&self.slices);
        kept.retain(|(k, _)| *k != key);
        kept.push((key, verified.clone()));
        if kept.len() > SLICES_KEPT {
            kept.remove(0);
        }
        Ok(verified)
    }

    /// A page, from the cache or rendered from its slice.
    async fn page(&self, page: Page, PageLang(lang): PageLang, encoding: Encoding) -> Response<Body> {
        let size = match self.page_size().await {
            Ok(size) => size,
            Err(error) => return error.in_lang(lang).into_response(),
        };
        self.cached(page.path_in(lang), size, encoding, || async {
            let slice = self.verified(&page.slice_target(), size).await.map_err(|e| e.in_lang(lang))?;
            let rendered = klero_pages::render(&page, &slice, lang).map_err(|e| PageError::from(e).in_lang(lang))?;
            let mut cached = CachedPage::html(klero_pages::document(&rendered));
            if !slice.openings.is_empty() || !slice.documents.is_empty() {
                cached.headers.push(("cache-control", crate::open_data::PERSONAL_DATA_CACHE.into()));
            }
            Ok(cached)
        })
        .await
    }
}

#[derive(serde::Deserialize)]
pub struct After {
    after: Option<String>,
}

fn after(query: &After) -> Result<Option<AssemblyId>, PageError> {
    query.after.as_deref().map(parse_assembly).transpose()
}

pub async fn index(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Query(query): Query<After>,
) -> Response<Body> {
    match after(&query) {
        Ok(after) => web.page(Page::Index { after }, lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

pub async fn dashboard(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Query(query): Query<After>,
) -> Response<Body> {
    match after(&query) {
        Ok(after) => web.page(Page::Dashboard { after }, lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

pub async fn programme(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Query(query): Query<After>,
) -> Response<Body> {
    let after = query.after.as_deref().map(parse_council).transpose();
    match after {
        Ok(after) => web.page(Page::Programme { after }, lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

pub async fn council(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Path(id): Path<String>,
) -> Response<Body> {
    match parse_council(&id) {
        Ok(id) => web.page(Page::Council(id), lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

pub async fn assembly(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Path(id): Path<String>,
) -> Response<Body> {
    match parse_assembly(&id) {
        Ok(id) => web.page(Page::Assembly(id), lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct PageNumber {
    page: Option<String>,
}

/// A page number from 1, as `?page=K` gives it; 1 when absent.
fn page_number(query: &PageNumber) -> Result<u64, PageError> {
    let Some(text) = query.page.as_deref() else { return Ok(1) };
    match parse_number("page", text)? {
        0 => Err(PageError::bad_request("page must be 1 or more, not 0")),
        page => Ok(page),
    }
}

pub async fn submissions(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Path(id): Path<String>,
    Query(query): Query<PageNumber>,
) -> Response<Body> {
    match parse_assembly(&id).and_then(|assembly| Ok(Page::Submissions { assembly, page: page_number(&query)? })) {
        Ok(page) => web.page(page, lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

pub async fn data(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Path(id): Path<String>,
) -> Response<Body> {
    match parse_assembly(&id) {
        Ok(id) => web.page(Page::Data(id), lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

/// A whole number given as `name`, with no sign and no leading zero.
pub(crate) fn parse_number(name: &str, text: &str) -> Result<u64, PageError> {
    text.parse::<u64>()
        .ok()
        .filter(|_| text == "0" || !text.starts_with('0'))
        .ok_or_else(|| PageError::bad_request(format!("{name} must be a whole number, not {text:?}")))
}

fn parse_index(text: &str) -> Result<u64, PageError> {
    parse_number("an event's log index", text)
}

pub async fn event(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Path(log_index): Path<String>,
) -> Response<Body> {
    match parse_index(&log_index) {
        Ok(log_index) => web.page(Page::Event(log_index), lang, encoding).await,
        Err(error) => error.in_lang(lang.0).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct ReceiptQuery {
    log_index: Option<String>,
}

pub async fn receipt_form(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    lang: PageLang,
    Query(query): Query<ReceiptQuery>,
) -> Response<Body> {
    match &query.log_index {
        Some(text) => match parse_number("log_index", text) {
            Ok(log_index) => web.page(Page::Trace { log_index, receipt: None }, lang, encoding).await,
            Err(error) => error.in_lang(lang.0).into_response(),
        },
        None => match klero_pages::render_receipt_form(lang.0) {
            Ok(page) => CachedPage::html(klero_pages::document(&page)).into_response(encoding),
            Err(error) => PageError::from(error).in_lang(lang.0).into_response(),
        },
    }
}

#[derive(serde::Deserialize)]
pub struct ReceiptForm {
    receipt: String,
}

/// `POST /receipt`: a pasted receipt, checked here (the page's script checks it in the
/// browser instead, and posts nothing).
pub async fn receipt_posted(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    PageLang(lang): PageLang,
    axum::Form(form): axum::Form<ReceiptForm>,
) -> Response<Body> {
    let page = async {
        // Browsers send a textarea's line breaks as CRLF; the bundle's grammar is LF.
        let text = form.receipt.replace("\r\n", "\n");
        let mut text = text.trim_start().to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let bundle = ProofBundle::parse(&text)
            .map_err(|e| PageError::bad_request(format!("That is not a receipt Kleroterion gave: {e}")))?;
        let verified = bundle.verify(&web.app.verifier_key()).map_err(|e| {
            PageError::bad_request(format!("The receipt does not check out against this log's key: {e}"))
        })?;
        let old = verified.checkpoint.checkpoint();
        let size = web.page_size().await?;
        let current = web.app.page_checkpoint().await?;
        let new = current.checkpoint();
        if old.tree_size > new.tree_size {
            return Err(PageError::bad_request(format!(
                "Your receipt's checkpoint covers {} events, more than this server's record ({}): keep your receipt, it is evidence.",
                old.tree_size, new.tree_size
            )));
        }
        let proof = web.app.consistency_proof(old.tree_size, new.tree_size)?;
        verify_consistency(old.tree_size, new.tree_size, &old.root_hash, &new.root_hash, &proof).map_err(|e| {
            PageError::bad_request(format!(
                "The log today does not extend the checkpoint on your receipt: {e}. Keep your receipt: it is evidence."
            ))
        })?;
        let page = Page::Trace {
            log_index: bundle.leaf_index,
            receipt: Some(ReceiptCheck { leaf_index: bundle.leaf_index, receipt_tree_size: old.tree_size }),
        };
        let slice = web.verified(&page.slice_target(), size).await?;
        let rendered: RenderedPage = klero_pages::render(&page, &slice, lang)?;
        Ok::<_, PageError>(CachedPage::html(klero_pages::document(&rendered)))
    };
    match page.await {
        Ok(page) => page.into_response(encoding),
        Err(error) => error.in_lang(lang).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct SliceQuery {
    /// The checkpoint's size; the latest when absent.
    size: Option<String>,
    /// Sizes of checkpoints the reader saw, comma-separated.
    from: Option<String>,
    after: Option<String>,
    /// A page of an assembly's submissions, from 1.
    page: Option<String>,
}

/// `GET /api/v1/slices/{kind}[/{arg}]`: a slice as text (FORMAT.md §15).
pub async fn slice(
    State(web): State<Arc<Web>>,
    encoding: Encoding,
    Path(path): Path<String>,
    Query(query): Query<SliceQuery>,
) -> Response<Body> {
    let answer = async {
        let after = || query.after.as_deref().map(parse_assembly).transpose();
        let target = match path.split_once('/') {
            Some(("assembly", id)) => SliceTarget::Assembly(parse_assembly(id)?),
            Some(("event", index)) => SliceTarget::Event(parse_index(index)?),
            Some(("input", index)) => SliceTarget::Input(parse_index(index)?),
            Some(("council", id)) => SliceTarget::Council(parse_council(id)?),
            Some(("submissions", id)) => SliceTarget::Submissions {
                assembly: parse_assembly(id)?,
                page: page_number(&PageNumber { page: query.page.clone() })?,
            },
            None if path == "index" => SliceTarget::Index { after: after()? },
            None if path == "dashboard" => SliceTarget::Dashboard { after: after()? },
            None if path == "programme" => SliceTarget::Programme {
                after: query.after.as_deref().map(parse_council).transpose()?,
            },
            _ => return Err(PageError::not_found(
                "There is no such slice: they are assembly/ID, submissions/ID, council/ID, event/N, input/N, index, dashboard and programme.",
            )),
        };
        let at_size = query.size.as_deref().map(|size| parse_number("size", size)).transpose()?;
        let consistency_from = match query.from.as_deref() {
            None | Some("") => Vec::new(),
            Some(list) => list.split(',').map(|from| parse_number("from", from)).collect::<Result<Vec<u64>, _>>()?,
        };
        let slice = web.app.slice(&SliceRequest { target, at_size, consistency_from }).await?;
        let mut page = CachedPage::with(StatusCode::OK, "text/plain; charset=utf-8", slice.encode());
        page.headers.push(("access-control-allow-origin", "*".into()));
        // Opened sealed text, or documents that may be personal data: erasable, so uncached.
        if !slice.openings.is_empty() || !slice.documents.is_empty() {
            page.headers.push(("cache-control", crate::open_data::PERSONAL_DATA_CACHE.into()));
        }
        Ok::<_, PageError>(page.compress())
    };
    match answer.await {
        Ok(page) => page.into_response(encoding),
        Err(error) => {
            let mut response = error.into_plain_response();
            response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            response
        }
    }
}

/// The embedded assets, each also gzipped once. Nothing else is served from `/static/`, and
/// nothing is fetched from anywhere else.
pub async fn asset(encoding: Encoding, Path(file): Path<String>) -> Response<Body> {
    static ASSETS: std::sync::OnceLock<Vec<(&'static str, CachedPage)>> = std::sync::OnceLock::new();
    let assets = ASSETS.get_or_init(|| {
        let mut assets: Vec<(&'static str, CachedPage)> = [
            ("klero.css", include_bytes!("../assets/klero.css").as_slice(), "text/css; charset=utf-8"),
            ("klero.js", include_bytes!("../assets/klero.js").as_slice(), "text/javascript; charset=utf-8"),
            ("klero.wasm", klero_browser_module(), "application/wasm"),
            ("favicon.svg", include_bytes!("../assets/favicon.svg").as_slice(), "image/svg+xml"),
        ]
        .into_iter()
        .map(|(name, body, content_type)| {
            let mut page = CachedPage::with(StatusCode::OK, content_type, body);
            page.gzipped = Some(crate::gzip(body).into());
            // The assets change only with the binary; a day is short enough for an upgrade to show.
            page.headers.push(("cache-control", "public, max-age=86400".into()));
            page.headers.push(("access-control-allow-origin", "*".into()));
            (name, page)
        })
        .collect();
        let mut verifier = CachedPage::with(StatusCode::OK, HTML, crate::standalone::verifier_page());
        verifier.gzipped = Some(crate::gzip(&verifier.body).into());
        verifier.headers.push(("cache-control", "public, max-age=86400".into()));
        // It checks other servers too: it may connect anywhere, and nothing else.
        verifier.headers.push(("content-security-policy", crate::standalone::CONTENT_SECURITY_POLICY.clone()));
        assets.push(("verifier.html", verifier));
        assets
    });
    match assets.iter().find(|(name, _)| *name == file) {
        Some((_, page)) => page.clone().into_response(encoding),
        None => PageError::not_found(format!("There is no asset named {file:?}.")).into_response(),
    }
}

/// The browser's verifier: `klero-browser` compiled to WebAssembly, committed and rebuilt
/// byte for byte by CI (services/browser/README.md).
pub(crate) fn klero_browser_module() -> &'static [u8] {
    include_bytes!("../../browser/klero_browser.wasm")
}
