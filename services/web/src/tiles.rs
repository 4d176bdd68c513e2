//! The log as C2SP tlog-tiles (docs/FORMAT.md §12): `checkpoint`, `tile/<L>/<N>[.p/<W>]`,
//! `tile/entries/<N>[.p/<W>]`, and Kleroterion's envelope bundles at
//! `klero/envelopes/<N>[.p/<W>]`. Any tlog client reads them; none needs our code.
//!
//! A tile's content never changes once the log holds what it covers, so every tile is served
//! as immutable. Hash tiles are read from the Merkle tree as it keeps them (it keeps every level
//! above its 16-leaf blocks as it grows), so serving one hashes nothing above the leaves; full
//! tiles and bundles are kept in a bounded cache once made.

use crate::{CachedPage, Encoding, PageError, Web};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode, Uri};
use klero_ledger::tiles::{self, TileKind, TilePath};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

const OCTET_STREAM: &str = "application/octet-stream";
/// Tiles never change: a year, and `immutable`, as static-ct-api logs serve them.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The checkpoint changes with the log: the spec asks for no caching beyond a few seconds.
const CHECKPOINT_CACHE: &str = "public, max-age=2";

/// Full tiles and bundles made so far, up to a byte budget; the oldest go first.
#[derive(Default)]
pub(crate) struct TileCache {
    tiles: HashMap<TilePath, CachedPage>,
    order: VecDeque<TilePath>,
    bytes: usize,
}

impl TileCache {
    fn get(&self, tile: &TilePath) -> Option<CachedPage> {
        self.tiles.get(tile).cloned()
    }

    fn insert(&mut self, tile: TilePath, page: CachedPage, bytes_max: usize) {
        let size = page.body.len() + page.gzipped.as_ref().map_or(0, |g| g.len());
        if size > bytes_max || self.tiles.contains_key(&tile) {
            return;
        }
        while self.bytes + size > bytes_max {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(evicted) = self.tiles.remove(&oldest) {
                self.bytes -= evicted.body.len() + evicted.gzipped.as_ref().map_or(0, |g| g.len());
            }
        }
        self.bytes += size;
        self.order.push_back(tile);
        self.tiles.insert(tile, page);
    }
}

/// `GET /checkpoint`: the log's latest checkpoint, with the witnesses' cosignatures when the
/// server has witnesses.
pub async fn checkpoint(State(web): State<Arc<Web>>) -> Response<Body> {
    match web.app.served_checkpoint().await {
        Ok(checkpoint) => {
            let mut page = CachedPage::with(StatusCode::OK, "text/plain; charset=utf-8", checkpoint.note().to_string());
            page.headers.push(("cache-control", CHECKPOINT_CACHE.into()));
            page.into_response(Encoding::default())
        }
        Err(error) => PageError::from(error).into_plain_response(),
    }
}

/// `GET /tile/…` and `GET /klero/envelopes/…`.
pub async fn tile(State(web): State<Arc<Web>>, encoding: Encoding, uri: Uri) -> Response<Body> {
    match tile_page(&web, uri.path().trim_start_matches('/')).await {
        Ok(page) => page.into_response(encoding),
        Err(error) => error.into_plain_response(),
    }
}

async fn tile_page(web: &Web, path: &str) -> Result<CachedPage, PageError> {
    let tile = TilePath::parse(path).map_err(|e| PageError::bad_request(format!("{path}: {e}")))?;
    let log_size = web.app.log_size();
    let needed = tile.tree_size_needed();
    if needed.is_none_or(|needed| needed > log_size) {
        return Err(PageError::not_found(format!(
            "{path} covers leaves beyond the log's {log_size}; fetch the tiles a checkpoint's size needs"
        )));
    }
    if let Some(cached) = web.tiles.lock().unwrap_or_else(|p| p.into_inner()).get(&tile) {
        return Ok(cached);
    }
    let first = tile.first_subtree().expect("tree_size_needed checked it");
    let width = u64::from(tile.width);
    let body = match tile.kind {
        TileKind::Hashes { .. } => tiles::hash_tile(&web.app.subtree_hashes(tile.tree_height(), first, width)?),
        TileKind::Entries => {
            let events = read_leaves(web, first, width).await?;
            tiles::entry_bundle(&events.iter().map(|event| event.event_hash).collect::<Vec<_>>())
        }
        TileKind::Envelopes => {
            let events = read_leaves(web, first, width).await?;
            tiles::envelope_bundle(events.iter().map(|event| event.envelope.bytes()))
        }
    };
    let mut page = CachedPage::with(StatusCode::OK, OCTET_STREAM, body);
    page.headers.push(("cache-control", IMMUTABLE.into()));
    // Entries are hashes, which do not compress; envelopes do.
    if tile.kind == TileKind::Envelopes {
        page = page.compress();
    }
    if tile.is_full() {
        web.tiles.lock().unwrap_or_else(|p| p.into_inner()).insert(tile, page.clone(), web.limits.tile_cache_bytes_max);
    }
    Ok(page)
}

/// Leaves `first .. first + count`, each checked against its Merkle leaf by the log.
async fn read_leaves(web: &Web, first: u64, count: u64) -> Result<Vec<klero_log::LoggedEvent>, PageError> {
    let mut events = Vec::with_capacity(count as usize);
    while (events.len() as u64) < count {
        let next = first + events.len() as u64;
        let (more, _) = web.app.read_log(next, (count - events.len() as u64) as usize).await?;
        if more.is_empty() {
            return Err(PageError::not_found(format!("leaf {next} is not in the log yet")));
        }
        events.extend(more);
    }
    Ok(events)
}
