//! The visitor's verifier: Kleroterion's own verifier and pages, compiled to WebAssembly.
//!
//! A page's script (`klero-web`'s `assets/klero.js`) knows nothing of the record's schema. It
//! asks [`plan`] which slice the page it is on needs, fetches that slice from the server, and
//! hands it to [`check`] with what the browser already trusts (the keys it pinned, the newest
//! checkpoint it saw). `check` runs `klero-verifier` on the slice (keys, checkpoint, witnesses,
//! stream heads, inclusion, chains, signatures, authority, rules, openings, documents), folds
//! it, and renders the page with `klero-pages`: the same code that rendered the server's page.
//! The script then compares the two and shows what was derived.
//!
//! Bytes in, JSON out: the interface is [`ffi`]'s two calls, each taking a JSON request (and a
//! slice's text) and returning JSON.

pub mod ffi;

mod compose;
pub use compose::{compose, compose_appeal, AppealRequest, ComposeRequest, Composed, COMPOSE_RANDOM_BYTES};

use klero_domain::{AssemblyId, CouncilId};
use klero_ledger::bundle::ProofBundle;
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::cosignature::{CosignerVerifierKey, WitnessPolicy};
use klero_ledger::Hash256;
use klero_pages::{Page, ReceiptCheck};
use klero_verifier::slice::{stated_policy, verify_slice, Slice, SliceOptions, VerifiedSlice};
use klero_verifier::{Failure, FailureClass};
use serde::{Deserialize, Serialize};

/// The page at `address` (a path and query, as the browser's location gives them), if it
/// shows anything from the record.
pub fn page_of(address: &str) -> Result<Option<Page>, String> {
    let (_, address) = klero_pages::Lang::of_path(address);
    let (path, query) = address.split_once('?').unwrap_or((address, ""));
    let param = |name: &str| -> Option<&str> {
        query.split('&').find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name).map(|(_, value)| value))
    };
    let assembly = |text: &str| AssemblyId::parse(text).map_err(|e| format!("assembly id {text:?} {e}"));
    let after = || param("after").map(assembly).transpose();
    let index = |text: &str| text.parse::<u64>().map_err(|_| format!("{text:?} is not a log index"));
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    Ok(match parts.as_slice() {
        [] => Some(Page::Index { after: after()? }),
        ["dashboard"] => Some(Page::Dashboard { after: after()? }),
        ["programme"] => Some(Page::Programme {
            after: param("after")
                .map(|text| CouncilId::parse(text).map_err(|e| format!("council id {text:?} {e}")))
                .transpose()?,
        }),
        ["councils", id] => Some(Page::Council(CouncilId::parse(id).map_err(|e| format!("council id {id:?} {e}"))?)),
        ["assemblies", id] => Some(Page::Assembly(assembly(id)?)),
        ["assemblies", id, "data"] => Some(Page::Data(assembly(id)?)),
        ["assemblies", id, "submissions"] => Some(Page::Submissions {
            assembly: assembly(id)?,
            page: match param("page") {
                None => 1,
                Some(text) => text
                    .parse::<u64>()
                    .ok()
                    .filter(|page| *page > 0)
                    .ok_or_else(|| format!("page {text:?} is not 1 or more"))?,
            },
        }),
        ["events", n] => Some(Page::Event(index(n)?)),
        ["receipt"] => match param("log_index") {
            Some(n) => Some(Page::Trace { log_index: index(n)?, receipt: None }),
            None => None,
        },
        _ => None,
    })
}

/// What the script asks [`say`] for: a message of the pages' catalogue, in a language, with its
/// arguments.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SayRequest {
    pub lang: String,
    pub id: String,
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The message, so that the script's words come from the same catalogue as the pages'.
pub fn say(request: &SayRequest) -> String {
    let lang = if request.lang == "cy" { klero_pages::Lang::Cy } else { klero_pages::Lang::En };
    let args: Vec<(&str, klero_pages::Arg)> = request
        .args
        .iter()
        .map(|(name, value)| {
            let arg = match value.as_u64() {
                Some(n) => klero_pages::Arg::Number(n),
                None => klero_pages::Arg::Text(value.as_str().map_or_else(|| value.to_string(), str::to_string)),
            };
            (name.as_str(), arg)
        })
        .collect();
    lang.ta(&request.id, &args)
}

/// What [`plan`] tells the script.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The slice to fetch, under `/api/v1/slices/`; `None` when the page shows nothing from the
    /// record.
    pub slice: Option<String>,
}

/// Which slice the page at `address` needs.
pub fn plan(address: &str) -> Result<Plan, String> {
    Ok(Plan { slice: page_of(address)?.map(|page| page.slice_target().path()) })
}

/// The keys and witness policy a browser trusts for a server, pinned on first use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    pub log_key: String,
    pub trust_root: String,
    #[serde(default)]
    pub witnesses: Vec<String>,
    #[serde(default)]
    pub witness_quorum: u64,
}

/// A checkpoint a browser saw: its size and root (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub size: u64,
    pub root: String,
}

/// What the script asks of [`check`].
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CheckRequest {
    /// The page's path and query.
    pub page: String,
    /// The keys this browser pinned for the server, if any.
    #[serde(default)]
    pub pins: Option<Pins>,
    /// The newest checkpoint this browser saw from the server.
    #[serde(default)]
    pub seen: Option<Seen>,
    /// A receipt the visitor gave (a proof bundle, FORMAT.md §5): the page is then its trace.
    #[serde(default)]
    pub receipt: Option<String>,
    /// The stream heads this page's slice showed on an earlier visit ([`CheckResult::heads`]).
    #[serde(default)]
    pub heads: Option<HeadsSeen>,
}

/// The stream heads a page's slice showed: at which checkpoint size, each stream's last
/// revision. Kept by the script per page, and checked on the next visit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsSeen {
    pub size: u64,
    pub streams: std::collections::BTreeMap<String, u64>,
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckResult {
    pub ok: bool,
    pub failure: Option<FailureReport>,
    /// The page derived from the slice: its title and the inside of its `<body>`.
    pub title: Option<String>,
    pub body: Option<String>,
    /// The checkpoint the page was derived at.
    pub checkpoint: Option<Seen>,
    /// The keys the slice names, to pin on first use.
    pub keys: Option<Pins>,
    pub summary: Option<Summary>,
    /// The stream heads the slice showed, to check on the next visit.
    pub heads: Option<HeadsSeen>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailureReport {
    pub class: &'static str,
    pub position: Option<u64>,
    pub reason: String,
}

impl From<&Failure> for FailureReport {
    fn from(failure: &Failure) -> FailureReport {
        FailureReport { class: failure.class.as_str(), position: failure.position, reason: failure.reason.clone() }
    }
}

/// What was checked, for the badge's details.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub events: usize,
    pub signatures: u64,
    pub streams: usize,
    pub tree_size: u64,
    pub cosigned_by: Vec<String>,
    pub openings: usize,
    pub documents: usize,
}

fn failed(failure: Failure, keys: Option<Pins>) -> CheckResult {
    CheckResult { ok: false, failure: Some(FailureReport::from(&failure)), keys, ..CheckResult::default() }
}

fn fail_with(class: FailureClass, reason: impl Into<String>) -> Failure {
    Failure { class, position: None, line: None, reason: reason.into() }
}

/// Checks `slice_text` for the page of `request` and derives the page from it.
pub fn check(request: &CheckRequest, slice_text: &str) -> CheckResult {
    let page = match page_of(&request.page) {
        Ok(Some(page)) => page,
        Ok(None) => return failed(fail_with(FailureClass::Format, "this page shows nothing from the record"), None),
        Err(reason) => return failed(fail_with(FailureClass::Format, reason), None),
    };
    let slice = match Slice::parse(slice_text) {
        Ok(slice) => slice,
        Err(failure) => return failed(failure, None),
    };
    let keys = Pins {
        log_key: slice.log_key.clone(),
        trust_root: klero_ledger::hash::to_hex(&slice.trust_root),
        witnesses: slice.witnesses.clone(),
        witness_quorum: slice.witness_quorum,
    };
    match check_slice(request, page, &slice) {
        Ok((page, verified)) => {
            match klero_pages::render(&page, &verified, klero_pages::Lang::of_path(&request.page).0) {
                Ok(rendered) => CheckResult {
                    ok: true,
                    failure: None,
                    title: Some(rendered.title),
                    body: Some(rendered.body),
                    checkpoint: Some(Seen {
                        size: verified.checkpoint.checkpoint().tree_size,
                        root: verified.checkpoint.checkpoint().root_hash.to_hex(),
                    }),
                    keys: Some(keys),
                    heads: Some(HeadsSeen {
                        size: verified.checkpoint.checkpoint().tree_size,
                        streams: verified.heads.iter().map(|(stream, head)| (stream.clone(), head.revision)).collect(),
                    }),
                    summary: Some(Summary {
                        events: verified.events.len(),
                        signatures: verified.signatures_verified,
                        streams: verified.heads.len(),
                        tree_size: verified.checkpoint.checkpoint().tree_size,
                        cosigned_by: verified.cosigned_by.clone(),
                        openings: verified.openings.len(),
                        documents: verified.documents.len(),
                    }),
                },
                Err(error) => failed(fail_with(FailureClass::Format, error.to_string()), Some(keys)),
            }
        }
        Err(failure) => failed(failure, Some(keys)),
    }
}

/// The checks, with what the browser trusts, and for a receipt its own checks too.
fn check_slice(request: &CheckRequest, page: Page, slice: &Slice) -> Result<(Page, VerifiedSlice), Failure> {
    let mut options = SliceOptions::default();
    match &request.pins {
        Some(pins) => {
            options.pinned_log_key = Some(
                LogVerifierKey::parse_vkey(&pins.log_key)
                    .map_err(|e| fail_with(FailureClass::Pin, format!("the pinned log key does not parse: {e}")))?,
            );
            options.pinned_trust_root = Some(
                Hash256::from_hex(&pins.trust_root)
                    .map_err(|_| fail_with(FailureClass::Pin, "the pinned trust root is not 64 hex digits"))?
                    .0,
            );
            if !pins.witnesses.is_empty() {
                let witnesses = pins
                    .witnesses
                    .iter()
                    .map(|vkey| CosignerVerifierKey::parse_vkey(vkey))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| fail_with(FailureClass::Pin, format!("a pinned witness key does not parse: {e}")))?;
                options.witness_policy = Some(
                    WitnessPolicy::new(witnesses, pins.witness_quorum as usize)
                        .map_err(|e| fail_with(FailureClass::Pin, format!("the pinned witness policy: {e}")))?,
                );
            }
        }
        // First use: the witness policy the server states is the one checked (and pinned).
        None => options.witness_policy = stated_policy(slice)?,
    }
    if let Some(heads) = &request.heads {
        options.earlier_heads = Some((heads.size, heads.streams.clone()));
    }
    if let Some(seen) = &request.seen {
        let root = Hash256::from_hex(&seen.root)
            .map_err(|_| fail_with(FailureClass::Format, "the checkpoint this browser kept is not readable"))?;
        options.earlier_checkpoints.push((seen.size, root));
    }
    let mut page = page;
    let mut receipt_event = None;
    if let Some(receipt) = &request.receipt {
        let bundle = ProofBundle::parse(receipt)
            .map_err(|e| fail_with(FailureClass::Format, format!("that is not a receipt Kleroterion gave: {e}")))?;
        let log_key = LogVerifierKey::parse_vkey(&slice.log_key)
            .map_err(|e| fail_with(FailureClass::Format, format!("the log key does not parse: {e}")))?;
        let verified = bundle.verify(&log_key).map_err(|e| {
            fail_with(FailureClass::Checkpoint, format!("the receipt does not check out against the log's key: {e}"))
        })?;
        let tree = verified.checkpoint.checkpoint();
        options.earlier_checkpoints.push((tree.tree_size, tree.root_hash));
        receipt_event = Some((bundle.leaf_index, verified.event_hash));
        page = Page::Trace {
            log_index: bundle.leaf_index,
            receipt: Some(ReceiptCheck { leaf_index: bundle.leaf_index, receipt_tree_size: tree.tree_size }),
        };
    }
    let verified = verify_slice(slice, &page.slice_target(), &options)?;
    if let Some((index, hash)) = receipt_event {
        if verified.events.get(&index).map(|(_, h)| *h) != Some(hash) {
            return Err(Failure {
                class: FailureClass::Inclusion,
                position: Some(index),
                line: None,
                reason: "the record holds another event where your receipt's is".into(),
            });
        }
    }
    Ok((page, verified))
}
