//! `klero monitor`: follows a log over its tiles and raises the alarm when anything fails.
//!
//! Each round it fetches the log's checkpoint and checks its signature (and the witness policy,
//! if given); fetches the envelope bundle, the entry bundle and the level-0 tile of every leaf it
//! has not verified yet, and checks that each envelope hashes to its entry and each entry to its
//! leaf; asks each witness it was given for the latest checkpoint it cosigned; and then replays
//! the log through `klero verify`'s checks (signatures, chains, authority, rules) with the
//! previous checkpoint, the new one and the witnesses' as anchors. So a new checkpoint that is
//! not an extension of the last one, or one whose root another signed checkpoint of that size
//! contradicts (a split view), fails like a forked export.
//!
//! The replay goes on from the state the last round left ([`ContinuedVerification`]), so a
//! round costs its new entries only. A round whose anchors that state cannot check (a
//! witness's checkpoint of a size below the one verified that no round verified) replays the
//! whole log.
//!
//! Its state directory keeps the last checkpoint verified (`checkpoint`), the full envelope
//! bundles verified so far (`envelopes/<N>`), so after a restart it fetches only what is new,
//! and the replay's state (`replay`), so that a restart replays only what came after it. That
//! file is rewritten whenever the log has grown by an eighth since it was last written (and by
//! [`Monitor::save_replay`]): rewriting it costs about what replaying its size does not.

use crate::http_client::{join, HttpClient, HttpError};
use klero_ledger::checkpoint::{LogVerifierKey, SignedCheckpoint};
use klero_ledger::cosignature::WitnessPolicy;
use klero_ledger::envelope::{event_hash_of_envelope_bytes, ENVELOPE_BYTES_MAX};
use klero_ledger::merkle::leaf_hash;
use klero_ledger::tiles::{self, TileKind, TilePath, TILE_WIDTH};
use klero_verifier::{ContinuedVerification, ExportHeader, VerifyOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the monitor follows and trusts.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// The log's tile prefix, e.g. `http://127.0.0.1:8080`.
    pub log_url: String,
    pub log_key: LogVerifierKey,
    pub trust_root: [u8; 32],
    pub witness_policy: Option<WitnessPolicy>,
    /// Witnesses' monitoring prefixes, asked for the latest checkpoint they cosigned.
    pub witness_urls: Vec<String>,
    pub state_dir: PathBuf,
    pub timeout: Duration,
}

/// What a round found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundOutcome {
    /// Everything up to `tree_size` verified; `new_entries` of them this round.
    Verified { tree_size: u64, new_entries: u64, root: String },
    /// Something failed that only a misbehaving log (or a tampered tile) explains.
    Alarm(String),
}

/// Why a round could not finish: the log or a witness could not be reached, or the state
/// directory failed. Not an alarm: the next round tries again.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url}: HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("monitor state {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

const CHECKPOINT_FILE: &str = "checkpoint";
const REPLAY_FILE: &str = "replay";
const ENVELOPES_DIR: &str = "envelopes";
/// Bundles fetched at once.
const FETCHES_IN_FLIGHT: usize = 8;

#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    http: HttpClient,
    /// The last checkpoint verified, as its note.
    last: Option<SignedCheckpoint>,
    /// The replay's state as the last round left it.
    verification: ContinuedVerification,
    /// The size of the replay's state in `replay` (0 with none).
    saved_size: u64,
}

fn state_error(path: &Path, error: impl std::fmt::Display) -> MonitorError {
    MonitorError::State { path: path.to_path_buf(), reason: error.to_string() }
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), MonitorError> {
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Some(directory) = path.parent() {
            std::fs::File::open(directory)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| state_error(path, e))
}

/// One bundle's worth of leaves, checked against its entries and level-0 tile.
struct FetchedBundle {
    index: u64,
    width: u16,
    envelopes: bytes::Bytes,
}

impl Monitor {
    /// Opens the state directory (created if missing) and the last checkpoint verified.
    pub fn open(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        let envelopes = config.state_dir.join(ENVELOPES_DIR);
        std::fs::create_dir_all(&envelopes).map_err(|e| state_error(&envelopes, e))?;
        let path = config.state_dir.join(CHECKPOINT_FILE);
        let last = match std::fs::read_to_string(&path) {
            Ok(note) => Some(config.log_key.verify(&note).map_err(|e| state_error(&path, e))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(state_error(&path, e)),
        };
        let verified_size = last.as_ref().map_or(0, |c| c.checkpoint().tree_size);
        let (verification, saved_size) = Self::open_replay(&config, verified_size);
        Ok(Monitor { http: HttpClient::new(config.timeout), config, last, verification, saved_size })
    }

    /// The replay's state as `replay` keeps it, if it is sound and no larger than the last
    /// checkpoint verified; otherwise none (the next round replays the whole log), with a
    /// warning.
    fn open_replay(config: &MonitorConfig, verified_size: u64) -> (ContinuedVerification, u64) {
        let path = config.state_dir.join(REPLAY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Default::default(),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "the replay's state could not be read: replaying the whole log");
                return Default::default();
            }
        };
        let loaded = ContinuedVerification::load(&bytes, &config.log_key, config.trust_root, &VerifyOptions::default())
            .and_then(|loaded| match loaded.verified_size() {
                size if size <= verified_size => Ok(loaded),
                size => Err(format!("it covers {size} entries, the last checkpoint verified {verified_size}")),
            });
        match loaded {
            Ok(loaded) => {
                let size = loaded.verified_size();
                (loaded, size)
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "the replay's state is not taken up: replaying the whole log");
                Default::default()
            }
        }
    }

    /// Writes the replay's state to `replay` (durably), so that a restart goes on from it.
    pub fn save_replay(&mut self) -> Result<(), MonitorError> {
        if self.verification.verified_size() == self.saved_size {
            return Ok(());
        }
        let Some(bytes) = self.verification.save() else { return Ok(()) };
        write_durably(&self.config.state_dir.join(REPLAY_FILE), &bytes)?;
        self.saved_size = self.verification.verified_size();
        Ok(())
    }

    /// The size verified so far.
    pub fn verified_size(&self) -> u64 {
        self.last.as_ref().map_or(0, |c| c.checkpoint().tree_size)
    }

    async fn fetch(&self, url: &str, bytes_max: usize) -> Result<bytes::Bytes, MonitorError> {
        let answer = self.http.get(url, bytes_max).await?;
        if answer.status != 200 {
            let body = String::from_utf8_lossy(&answer.body).trim_end().chars().take(200).collect();
            return Err(MonitorError::Status { url: url.to_string(), status: answer.status, body });
        }
        Ok(answer.body)
    }

    /// One round; see the module's documentation.
    pub async fn round(&mut self) -> Result<RoundOutcome, MonitorError> {
        let url = join(&self.config.log_url, "checkpoint");
        let note =
            String::from_utf8_lossy(&self.fetch(&url, klero_ledger::checkpoint::NOTE_BYTES_MAX).await?).into_owned();
        let checkpoint = match self.config.log_key.verify(&note) {
            Ok(checkpoint) => checkpoint,
            Err(error) => return Ok(RoundOutcome::Alarm(format!("the log's checkpoint does not verify: {error}"))),
        };
        if let Some(Err(error)) = self.config.witness_policy.as_ref().map(|policy| policy.check(&note)) {
            return Ok(RoundOutcome::Alarm(format!(
                "the log's checkpoint of size {} fails the witness policy: {error}",
                checkpoint.checkpoint().tree_size
            )));
        }
        let (size, root) = (checkpoint.checkpoint().tree_size, checkpoint.checkpoint().root_hash);
        if let Some(last) = &self.last {
            let (last_size, last_root) = (last.checkpoint().tree_size, last.checkpoint().root_hash);
            if size < last_size {
                return Ok(RoundOutcome::Alarm(format!(
                    "the log rolled back: its checkpoint has {size} entries, after one of {last_size}"
                )));
            }
            if size == last_size && root != last_root {
                return Ok(RoundOutcome::Alarm(format!(
                    "the log forked: two signed checkpoints of size {size} with roots {last_root} and {root}"
                )));
            }
        }
        let mut anchors = vec![note.clone()];
        anchors.extend(self.last.as_ref().map(|last| last.note().to_string()));
        for witness in &self.config.witness_urls {
            let url = join(witness, &format!("klero/latest/{}", self.config.log_key.name()));
            let witnessed = match self.http.get(&url, klero_ledger::checkpoint::NOTE_BYTES_MAX).await {
                Ok(answer) if answer.status == 200 => String::from_utf8_lossy(&answer.body).into_owned(),
                Ok(answer) if answer.status == 404 => continue,
                Ok(answer) => {
                    tracing::warn!(%url, status = answer.status, "the witness did not give its checkpoint");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "the witness could not be reached");
                    continue;
                }
            };
            let Ok(signed) = self.config.log_key.verify(&witnessed) else {
                tracing::warn!(%url, "the witness's checkpoint is not signed by the log");
                continue;
            };
            let witnessed_size = signed.checkpoint().tree_size;
            if witnessed_size == size && signed.checkpoint().root_hash != root {
                return Ok(RoundOutcome::Alarm(format!(
                    "split view: the witness at {witness} cosigned a checkpoint of size {size} with root {}, the log shows root {root}",
                    signed.checkpoint().root_hash
                )));
            }
            if witnessed_size <= size {
                anchors.push(witnessed);
            } else {
                tracing::info!(%witness, witnessed_size, size, "the witness has seen a larger tree than the log shows now");
            }
        }
        let bundles = self.fetch_new_bundles(size).await?;
        let (bundles, fetched) = match bundles {
            Ok(bundles) => bundles,
            Err(alarm) => return Ok(RoundOutcome::Alarm(alarm)),
        };
        let header = ExportHeader {
            log_key: self.config.log_key.to_vkey_string(),
            trust_root: self.config.trust_root,
            checkpoints: anchors,
            views: Vec::new(),
        };
        let directory = self.config.state_dir.join(ENVELOPES_DIR);
        let mut verification = std::mem::take(&mut self.verification);
        let from = verification.resumes_at(&header);
        let report = tokio::task::spawn_blocking(move || {
            let failed = std::cell::RefCell::new(None);
            let first_bundle = (from / TILE_WIDTH) as usize;
            let envelopes = bundles
                .into_iter()
                .skip(first_bundle)
                .flat_map(|source| match source.read(&directory) {
                    Ok(envelopes) => envelopes,
                    Err(error) => {
                        failed.replace(Some(error));
                        Vec::new()
                    }
                })
                .skip((from % TILE_WIDTH) as usize);
            let report = verification.verify(&header, envelopes, &VerifyOptions::default(), &mut |_, _| {});
            (report, failed.into_inner(), verification)
        })
        .await
        .map_err(|e| MonitorError::State { path: self.config.state_dir.clone(), reason: e.to_string() })?;
        let (report, failed, verification) = report;
        if let Some(error) = failed {
            // The replay saw the envelopes cut short: start the next round afresh.
            return Err(error);
        }
        self.verification = verification;
        if let Some(failure) = &report.first_failure {
            self.discard_fetched(&fetched);
            return Ok(RoundOutcome::Alarm(format!("the log does not verify: {failure}")));
        }
        self.keep_fetched(&fetched)?;
        write_durably(&self.config.state_dir.join(CHECKPOINT_FILE), note.as_bytes())?;
        let new_entries = size - self.verified_size();
        self.last = Some(checkpoint);
        if size - self.saved_size >= self.saved_size.div_ceil(8).max(1) {
            self.save_replay()?;
        }
        Ok(RoundOutcome::Verified { tree_size: size, new_entries, root: root.to_string() })
    }

    /// Fetches every bundle the monitor does not hold verified, checks each against its entry
    /// bundle and level-0 tile, and writes full ones beside the verified ones (`<N>.new`).
    /// Returns where every bundle of the tree is, and the new full ones; or an alarm.
    #[allow(clippy::type_complexity)]
    async fn fetch_new_bundles(
        &self,
        size: u64,
    ) -> Result<Result<(Vec<BundleSource>, Vec<u64>), String>, MonitorError> {
        let directory = self.config.state_dir.join(ENVELOPES_DIR);
        let count = size.div_ceil(TILE_WIDTH);
        let mut sources = Vec::with_capacity(count as usize);
        let mut wanted = Vec::new();
        for index in 0..count {
            let width = (size - index * TILE_WIDTH).min(TILE_WIDTH) as u16;
            let full = u64::from(width) == TILE_WIDTH;
            if full && directory.join(index.to_string()).exists() {
                sources.push(BundleSource::Kept(index));
            } else {
                sources.push(BundleSource::Kept(index));
                wanted.push((index, width));
            }
        }
        let mut fetched_full = Vec::new();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut pending = wanted.into_iter();
        let mut partial = None;
        loop {
            while in_flight.len() < FETCHES_IN_FLIGHT {
                let Some((index, width)) = pending.next() else { break };
                let (http, base) = (self.http.clone(), self.config.log_url.clone());
                in_flight.spawn(async move { fetch_bundle(&http, &base, index, width).await });
            }
            let Some(joined) = in_flight.join_next().await else { break };
            let bundle = match joined {
                Ok(Ok(Ok(bundle))) => bundle,
                Ok(Ok(Err(alarm))) => return Ok(Err(alarm)),
                Ok(Err(error)) => return Err(error),
                Err(error) => return Err(MonitorError::State { path: directory, reason: error.to_string() }),
            };
            if u64::from(bundle.width) == TILE_WIDTH {
                let path = directory.join(format!("{}.new", bundle.index));
                std::fs::write(&path, &bundle.envelopes).map_err(|e| state_error(&path, e))?;
                sources[bundle.index as usize] = BundleSource::New(bundle.index);
                fetched_full.push(bundle.index);
            } else {
                partial = Some(bundle);
            }
        }
        if let Some(bundle) = partial {
            let index = bundle.index as usize;
            sources[index] = BundleSource::Partial(bundle);
        }
        Ok(Ok((sources, fetched_full)))
    }

    fn keep_fetched(&self, fetched: &[u64]) -> Result<(), MonitorError> {
        let directory = self.config.state_dir.join(ENVELOPES_DIR);
        for index in fetched {
            let from = directory.join(format!("{index}.new"));
            std::fs::rename(&from, directory.join(index.to_string())).map_err(|e| state_error(&from, e))?;
        }
        std::fs::File::open(&directory).and_then(|d| d.sync_all()).map_err(|e| state_error(&directory, e))
    }

    fn discard_fetched(&self, fetched: &[u64]) {
        let directory = self.config.state_dir.join(ENVELOPES_DIR);
        for index in fetched {
            let _ = std::fs::remove_file(directory.join(format!("{index}.new")));
        }
    }
}

/// Where one bundle's envelopes are for the replay.
enum BundleSource {
    /// Verified in an earlier round: `envelopes/<N>`.
    Kept(u64),
    /// Fetched and checked against its tiles this round: `envelopes/<N>.new`.
    New(u64),
    /// The partial bundle at the end, in memory.
    Partial(FetchedBundle),
}

impl BundleSource {
    fn read(self, directory: &Path) -> Result<Vec<Vec<u8>>, MonitorError> {
        let (bytes, width) = match self {
            BundleSource::Kept(index) | BundleSource::New(index) => {
                let name =
                    if matches!(self, BundleSource::New(_)) { format!("{index}.new") } else { index.to_string() };
                let path = directory.join(name);
                (std::fs::read(&path).map_err(|e| state_error(&path, e))?.into(), TILE_WIDTH as usize)
            }
            BundleSource::Partial(bundle) => (bundle.envelopes, usize::from(bundle.width)),
        };
        let envelopes = tiles::parse_envelope_bundle(&bytes, width)
            .map_err(|e| MonitorError::State { path: directory.to_path_buf(), reason: e.to_string() })?;
        Ok(envelopes.into_iter().map(<[u8]>::to_vec).collect())
    }
}

/// Fetches one bundle's envelopes, entries and level-0 tile, and checks that they agree.
async fn fetch_bundle(
    http: &HttpClient,
    base: &str,
    index: u64,
    width: u16,
) -> Result<Result<FetchedBundle, String>, MonitorError> {
    let get = |kind| {
        let path = TilePath { kind, index, width }.to_path();
        let url = join(base, &path);
        async move {
            let bytes_max = 256 * (4 + ENVELOPE_BYTES_MAX);
            let answer = http.get(&url, bytes_max).await?;
            if answer.status != 200 {
                let body = String::from_utf8_lossy(&answer.body).trim_end().chars().take(200).collect();
                return Err(MonitorError::Status { url, status: answer.status, body });
            }
            Ok((path, answer.body))
        }
    };
    let ((envelopes_path, envelopes), (entries_path, entries), (tile_path, tile)) =
        tokio::try_join!(get(TileKind::Envelopes), get(TileKind::Entries), get(TileKind::Hashes { level: 0 }))?;
    let width_items = usize::from(width);
    let parsed = (
        tiles::parse_envelope_bundle(&envelopes, width_items),
        tiles::parse_entry_bundle(&entries, width_items),
        tiles::parse_hash_tile(&tile, width_items),
    );
    let (parsed_envelopes, parsed_entries, leaves) = match parsed {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) => return Ok(Err(format!("{envelopes_path}: {e}"))),
        (_, Err(e), _) => return Ok(Err(format!("{entries_path}: {e}"))),
        (_, _, Err(e)) => return Ok(Err(format!("{tile_path}: {e}"))),
    };
    for (offset, ((envelope, entry), leaf)) in parsed_envelopes.iter().zip(&parsed_entries).zip(&leaves).enumerate() {
        let leaf_index = index * TILE_WIDTH + offset as u64;
        if event_hash_of_envelope_bytes(envelope).0[..] != entry[..] {
            return Ok(Err(format!(
                "leaf {leaf_index}: the envelope in {envelopes_path} does not hash to the entry in {entries_path}"
            )));
        }
        if leaf_hash(entry) != *leaf {
            return Ok(Err(format!(
                "leaf {leaf_index}: the entry in {entries_path} does not hash to the leaf in {tile_path}"
            )));
        }
    }
    Ok(Ok(FetchedBundle { index, width, envelopes }))
}
