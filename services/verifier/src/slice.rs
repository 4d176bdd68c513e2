//! Slices (docs/FORMAT.md §15): the part of the log that one page shows, with everything a
//! reader needs to check it against a signed checkpoint without the rest of the log, and to
//! know that nothing of it was left out.
//!
//! ```text
//! klero-slice/v1
//! log-key <C2SP verifier key>
//! trust-root <hex>
//! witness <witness verifier key>                (zero or more: the server's witness policy)
//! witness-quorum <decimal>                      (with witnesses)
//! checkpoint <base64 of the signed checkpoint note, cosignatures included>
//! consistency <old size> <base64 hash>*         (zero or more: from sizes the reader asked)
//! page <decimal>                                (a listing's number of assemblies)
//! heads-proof <base64 hash>*                    (the batch proof of the head lines)
//! head <position> <base64 of the leaf entry>    (zero or more, ascending position)
//! inclusion <base64 hash>*                      (the batch proof of the event lines)
//! event <log index> <base64 of the envelope>    (zero or more, ascending log index)
//! opening <log index> <field> <hex salt> <base64 text>   (zero or more, §14.5)
//! document <hex sha256> <base64 bytes>          (zero or more, ascending)
//! document-held <hex sha256>                    (zero or more, ascending)
//! end <number of event lines>
//! ```
//!
//! [`verify_slice`] checks one against what a page asked for ([`SliceTarget`]) and what the
//! reader already trusts ([`SliceOptions`]): the keys, the checkpoint and its witnesses, the
//! stream heads of every stream the page needs (so no event and no stream is left out), each
//! event's place in the log, the chains, the signatures, then authority and every rule by
//! folding the events, the openings of sealed text and the documents. What it returns is what
//! a page may show as checked.

use crate::verify::{Failure, FailureClass, Opening};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_domain::{AssemblyId, AuthorisedBy, DomainEvent, Grant, Proposal, StreamKind};
use klero_fold::{FoldError, LogFold, LoggedEventRef};
use klero_ledger::checkpoint::{LogVerifierKey, SignedCheckpoint};
use klero_ledger::cosignature::{CosignerVerifierKey, WitnessPolicy};
use klero_ledger::envelope::{verify_signatures_batch, Envelope};
use klero_ledger::heads::{self, HeadsProof, StreamHead, StreamRange};
use klero_ledger::merkle::{leaf_hash, verify_batch_inclusion, verify_consistency};
use klero_ledger::Hash256;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub const HEADER: &str = "klero-slice/v1";
/// The largest slice a reader accepts.
pub const SLICE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Most event lines in one slice.
pub const SLICE_EVENTS_MAX: usize = 2_000_000;
/// Most assemblies on one page of a listing.
pub const PAGE_ASSEMBLIES_MAX: u64 = 100;
/// Most lines of every other kind together (heads, openings, documents, consistency proofs).
const SLICE_OTHER_LINES_MAX: usize = 4_000_000;
/// Signatures checked in one batch.
const SIGNATURE_BATCH_EVENTS: usize = 256;

/// A slice, parsed: every value as its line gave it, nothing checked yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    pub log_key: String,
    pub trust_root: [u8; 32],
    /// The server's witness policy: verifier keys and the quorum.
    pub witnesses: Vec<String>,
    pub witness_quorum: u64,
    /// The signed checkpoint note, with its cosignatures.
    pub checkpoint: String,
    /// (old size, consistency proof from it to the checkpoint).
    pub consistency: Vec<(u64, Vec<Hash256>)>,
    /// A listing's number of assemblies.
    pub page: Option<u64>,
    pub heads_proof: Vec<Hash256>,
    /// (position in the heads tree, leaf entry).
    pub heads: Vec<(u64, Vec<u8>)>,
    pub inclusion: Vec<Hash256>,
    /// (log index, envelope).
    pub events: Vec<(u64, Vec<u8>)>,
    pub openings: Vec<Opening>,
    /// (SHA-256, the document's bytes).
    pub documents: Vec<(Hash256, Vec<u8>)>,
    /// Documents the server says it holds but did not include (too large, or not text).
    pub documents_held: Vec<Hash256>,
}

impl Slice {
    /// The slice's text (FORMAT.md §15).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(256 + self.events.iter().map(|(_, e)| e.len() * 4 / 3 + 32).sum::<usize>());
        let hashes = |hashes: &[Hash256]| -> String {
            hashes.iter().map(|h| format!(" {}", BASE64.encode(h.0))).collect::<String>()
        };
        out.push_str(HEADER);
        out.push('\n');
        out.push_str(&format!("log-key {}\n", self.log_key));
        out.push_str(&format!("trust-root {}\n", klero_ledger::hash::to_hex(&self.trust_root)));
        for witness in &self.witnesses {
            out.push_str(&format!("witness {witness}\n"));
        }
        if !self.witnesses.is_empty() {
            out.push_str(&format!("witness-quorum {}\n", self.witness_quorum));
        }
        out.push_str(&format!("checkpoint {}\n", BASE64.encode(self.checkpoint.as_bytes())));
        for (size, proof) in &self.consistency {
            out.push_str(&format!("consistency {size}{}\n", hashes(proof)));
        }
        if let Some(page) = self.page {
            out.push_str(&format!("page {page}\n"));
        }
        out.push_str(&format!("heads-proof{}\n", hashes(&self.heads_proof)));
        for (position, entry) in &self.heads {
            out.push_str(&format!("head {position} {}\n", BASE64.encode(entry)));
        }
        out.push_str(&format!("inclusion{}\n", hashes(&self.inclusion)));
        for (index, envelope) in &self.events {
            out.push_str(&format!("event {index} "));
            BASE64.encode_string(envelope, &mut out);
            out.push('\n');
        }
        for opening in &self.openings {
            out.push_str(&crate::openings::encode_opening(opening));
        }
        for (hash, bytes) in &self.documents {
            out.push_str(&format!("document {} {}\n", hash.to_hex(), BASE64.encode(bytes)));
        }
        for hash in &self.documents_held {
            out.push_str(&format!("document-held {}\n", hash.to_hex()));
        }
        out.push_str(&format!("end {}\n", self.events.len()));
        out
    }

    /// Reads a slice strictly: every line in its place, canonical base64 and decimals, lowercase
    /// hex, ascending where the grammar says so. A failure is class `format` with its line.
    pub fn parse(text: &str) -> Result<Slice, Failure> {
        if text.len() > SLICE_BYTES_MAX {
            return Err(format_failure(0, format!("a slice holds at most {SLICE_BYTES_MAX} bytes")));
        }
        let body = text.strip_suffix('\n').ok_or_else(|| format_failure(0, "a slice ends with a line feed"))?;
        let mut lines = body.split('\n').enumerate().map(|(at, line)| (at as u64 + 1, line)).peekable();
        let mut slice = Slice::default();
        let mut next = |expected: &str| -> Result<(u64, &str), Failure> {
            lines.next().ok_or_else(|| format_failure(0, format!("the slice ends before its {expected} line")))
        };
        let (number, line) = next("header")?;
        if line != HEADER {
            return Err(format_failure(number, format!("the first line must be {HEADER}")));
        }
        let (number, line) = next("log-key")?;
        slice.log_key = line
            .strip_prefix("log-key ")
            .ok_or_else(|| format_failure(number, "line 2 must be: log-key <verifier key>"))?
            .to_string();
        let (number, line) = next("trust-root")?;
        slice.trust_root = line
            .strip_prefix("trust-root ")
            .and_then(hex32)
            .ok_or_else(|| format_failure(number, "line 3 must be: trust-root <64 lowercase hex digits>"))?;
        let mut others = 0usize;
        let mut count_other = |number: u64| -> Result<(), Failure> {
            others += 1;
            if others > SLICE_OTHER_LINES_MAX {
                return Err(format_failure(number, "too many lines"));
            }
            Ok(())
        };
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("witness ")) {
            count_other(number)?;
            slice.witnesses.push(line["witness ".len()..].to_string());
        }
        if !slice.witnesses.is_empty() {
            let (number, line) =
                lines.next().ok_or_else(|| format_failure(0, "witnesses need a witness-quorum line"))?;
            slice.witness_quorum = line
                .strip_prefix("witness-quorum ")
                .and_then(decimal)
                .filter(|quorum| (1..=slice.witnesses.len() as u64).contains(quorum))
                .ok_or_else(|| format_failure(number, "must be: witness-quorum <1 to the number of witnesses>"))?;
        }
        let (number, line) = lines.next().ok_or_else(|| format_failure(0, "the slice has no checkpoint line"))?;
        let note = line
            .strip_prefix("checkpoint ")
            .and_then(canonical_base64)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| format_failure(number, "must be: checkpoint <canonical base64 of a UTF-8 note>"))?;
        slice.checkpoint = note;
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("consistency ")) {
            count_other(number)?;
            let mut words = line["consistency ".len()..].split(' ');
            let size = words
                .next()
                .and_then(decimal)
                .ok_or_else(|| format_failure(number, "must be: consistency <old size> <base64 hash>…"))?;
            slice.consistency.push((
                size,
                hash_words(words)
                    .ok_or_else(|| format_failure(number, "a hash is not 32 bytes of canonical base64"))?,
            ));
        }
        if let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("page ")) {
            slice.page = Some(
                decimal(&line["page ".len()..])
                    .filter(|page| (1..=PAGE_ASSEMBLIES_MAX).contains(page))
                    .ok_or_else(|| format_failure(number, format!("must be: page <1 to {PAGE_ASSEMBLIES_MAX}>")))?,
            );
        }
        let (number, line) = lines.next().ok_or_else(|| format_failure(0, "the slice has no heads-proof line"))?;
        slice.heads_proof = line
            .strip_prefix("heads-proof")
            .and_then(
                |rest| if rest.is_empty() { Some(Vec::new()) } else { hash_words(rest.strip_prefix(' ')?.split(' ')) },
            )
            .ok_or_else(|| format_failure(number, "must be: heads-proof <base64 hash>…"))?;
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("head ")) {
            count_other(number)?;
            let (position, entry) = line["head ".len()..]
                .split_once(' ')
                .and_then(|(position, entry)| Some((decimal(position)?, canonical_base64(entry)?)))
                .ok_or_else(|| format_failure(number, "must be: head <position> <base64 leaf entry>"))?;
            if slice.heads.last().is_some_and(|(last, _)| *last >= position) {
                return Err(format_failure(number, "head lines must be in ascending position"));
            }
            slice.heads.push((position, entry));
        }
        let (number, line) = lines.next().ok_or_else(|| format_failure(0, "the slice has no inclusion line"))?;
        slice.inclusion = line
            .strip_prefix("inclusion")
            .and_then(
                |rest| if rest.is_empty() { Some(Vec::new()) } else { hash_words(rest.strip_prefix(' ')?.split(' ')) },
            )
            .ok_or_else(|| format_failure(number, "must be: inclusion <base64 hash>…"))?;
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("event ")) {
            if slice.events.len() == SLICE_EVENTS_MAX {
                return Err(format_failure(number, format!("a slice holds at most {SLICE_EVENTS_MAX} events")));
            }
            let (index, envelope) = line["event ".len()..]
                .split_once(' ')
                .and_then(|(index, envelope)| Some((decimal(index)?, canonical_base64(envelope)?)))
                .ok_or_else(|| format_failure(number, "must be: event <log index> <base64 envelope>"))?;
            if slice.events.last().is_some_and(|(last, _)| *last >= index) {
                return Err(Failure {
                    position: Some(index),
                    ..format_failure(number, "event lines must be in ascending log index")
                });
            }
            slice.events.push((index, envelope));
        }
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("opening ")) {
            count_other(number)?;
            let opening = crate::openings::parse_openings(&format!("klero-openings/v1\n{line}\n"))
                .map_err(|reason| format_failure(number, reason.replace("line 2: ", "")))?
                .pop()
                .ok_or_else(|| format_failure(number, "must be an opening"))?;
            slice.openings.push(opening);
        }
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("document ")) {
            count_other(number)?;
            let (hash, bytes) = line["document ".len()..]
                .split_once(' ')
                .and_then(|(hash, bytes)| Some((Hash256(hex32(hash)?), canonical_base64(bytes)?)))
                .ok_or_else(|| format_failure(number, "must be: document <hex sha256> <base64 bytes>"))?;
            if slice.documents.last().is_some_and(|(last, _)| *last >= hash) {
                return Err(format_failure(number, "document lines must be in ascending hash order"));
            }
            slice.documents.push((hash, bytes));
        }
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("document-held ")) {
            count_other(number)?;
            let hash = hex32(&line["document-held ".len()..])
                .map(Hash256)
                .ok_or_else(|| format_failure(number, "must be: document-held <hex sha256>"))?;
            if slice.documents_held.last().is_some_and(|last| *last >= hash) {
                return Err(format_failure(number, "document-held lines must be in ascending hash order"));
            }
            slice.documents_held.push(hash);
        }
        let (number, line) = lines.next().ok_or_else(|| format_failure(0, "the slice has no end line"))?;
        let end = line.strip_prefix("end ").and_then(decimal);
        if end != Some(slice.events.len() as u64) {
            return Err(format_failure(number, format!("the last line must be: end {}", slice.events.len())));
        }
        if let Some((number, _)) = lines.next() {
            return Err(format_failure(number, "nothing may follow the end line"));
        }
        Ok(slice)
    }
}

fn format_failure(line: u64, reason: impl Into<String>) -> Failure {
    Failure { class: FailureClass::Format, position: None, line: (line > 0).then_some(line), reason: reason.into() }
}

fn failure(class: FailureClass, position: Option<u64>, reason: impl Into<String>) -> Failure {
    Failure { class, position, line: None, reason: reason.into() }
}

fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

fn canonical_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = BASE64.decode(text).ok()?;
    (BASE64.encode(&bytes) == text).then_some(bytes)
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    klero_ledger::hash::from_hex(text).ok()?.try_into().ok()
}

fn hash_words<'a>(words: impl Iterator<Item = &'a str>) -> Option<Vec<Hash256>> {
    words.map(|word| Some(Hash256(canonical_base64(word)?.try_into().ok()?))).collect()
}

/// What a page asked for; the slice must hold exactly what it needs, and all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SliceTarget {
    /// An assembly's record: every event of its streams and of the registry.
    Assembly(AssemblyId),
    /// One event, with the registry (its author's authority) and its neighbours in its stream.
    Event(u64),
    /// The assembly of an input (a receipt's event), as [`SliceTarget::Assembly`]; the input
    /// must be in it.
    Input(u64),
    /// A page of the list of assemblies after `after`: each one's convening, and every
    /// stream's head, with the registry (the convenors' authority).
    Index { after: Option<AssemblyId> },
    /// A page of assemblies after `after`, each whole, with the registry.
    Dashboard { after: Option<AssemblyId> },
}

impl SliceTarget {
    /// The slice's path under `/api/v1/slices/` (API.md).
    pub fn path(&self) -> String {
        match self {
            SliceTarget::Assembly(id) => format!("assembly/{id}"),
            SliceTarget::Event(index) => format!("event/{index}"),
            SliceTarget::Input(index) => format!("input/{index}"),
            SliceTarget::Index { after: None } => "index".into(),
            SliceTarget::Index { after: Some(id) } => format!("index?after={id}"),
            SliceTarget::Dashboard { after: None } => "dashboard".into(),
            SliceTarget::Dashboard { after: Some(id) } => format!("dashboard?after={id}"),
        }
    }
}

/// What the reader already trusts.
#[derive(Clone, Debug, Default)]
pub struct SliceOptions {
    /// The log key the reader pinned: the slice must name it.
    pub pinned_log_key: Option<LogVerifierKey>,
    /// The trust root the reader pinned.
    pub pinned_trust_root: Option<[u8; 32]>,
    /// Witnesses the checkpoint must carry a quorum of cosignatures from.
    pub witness_policy: Option<WitnessPolicy>,
    /// Checkpoints (size, root) the reader saw before: the slice's must be at least as large and
    /// extend each (a consistency proof in the slice).
    pub earlier_checkpoints: Vec<(u64, Hash256)>,
    /// Skip author signatures: for the server, which rendering its own slices, checked them when
    /// it recorded the events. Readers never set it.
    pub skip_signatures: bool,
    /// The stream heads a slice for the same target showed this reader at an earlier checkpoint
    /// (its size, and each stream's last revision): every whole stream of this slice must hold
    /// exactly that many events below that size, or the earlier slice hid some.
    pub earlier_heads: Option<(u64, BTreeMap<String, u64>)>,
}

/// A sealed field opened and checked against the commitment its author signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedOpening {
    pub log_index: u64,
    pub field: String,
    pub text: String,
    pub salt: [u8; 32],
}

/// What a page may show as checked: everything in it held.
#[derive(Debug)]
pub struct VerifiedSlice {
    pub target: SliceTarget,
    pub log_key: LogVerifierKey,
    pub trust_root: [u8; 32],
    pub checkpoint: SignedCheckpoint,
    /// The witnesses whose cosignatures on the checkpoint verified, by name.
    pub cosigned_by: Vec<String>,
    /// The witness policy the slice states (keys, quorum), for a reader to pin.
    pub witnesses: Vec<String>,
    pub witness_quorum: u64,
    /// Every event, by log index, with its event hash.
    pub events: BTreeMap<u64, (Envelope, Hash256)>,
    /// The head of every stream the page needed, at the checkpoint.
    pub heads: BTreeMap<String, StreamHead>,
    /// The fold of the slice's events (all of them for an assembly or a dashboard; the registry
    /// and the convenings for an index; the registry for an event), standing for the prefix the
    /// checkpoint covers.
    pub fold: LogFold,
    /// The recording time of the checkpoint's last event: the views' "now".
    pub as_of_unix_ms: u64,
    /// Opened sealed fields, by commitment.
    pub openings: HashMap<Hash256, VerifiedOpening>,
    /// Documents included, each checked against its hash and committed to by an event.
    pub documents: HashMap<Hash256, Vec<u8>>,
    /// Documents the server says it holds without including them: its statement, not checked.
    pub documents_held: HashSet<Hash256>,
    /// For an index or a dashboard: the assemblies of the page, in order, and whether a next
    /// page follows.
    pub page: Vec<AssemblyId>,
    pub more_after_page: bool,
    /// For an event page: what authorised the event (`None` if it broke the rules, which the
    /// verification reports).
    pub authorised_by: Option<Authorisation>,
    /// How many signatures were checked.
    pub signatures_verified: u64,
}

impl VerifiedSlice {
    /// When each erased event's personal content was erased: the recording time of the
    /// `ContentErased` that names it, by the erased event's hash (a feed entry changes then).
    pub fn erasure_times(&self) -> HashMap<Hash256, u64> {
        self.events
            .values()
            .filter_map(|(envelope, _)| match LogFold::decode(envelope) {
                Ok(DomainEvent::ContentErased(erased)) => {
                    Some((erased.event_hash, envelope.ledger().recorded_at_unix_ms))
                }
                _ => None,
            })
            .collect()
    }
}

/// What authorised an event, as a page names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorisation {
    TrustRoot,
    Grant(Grant),
}

/// Checks `slice` for `target`, trusting only `options`.
pub fn verify_slice(slice: &Slice, target: &SliceTarget, options: &SliceOptions) -> Result<VerifiedSlice, Failure> {
    // Keys.
    let log_key = LogVerifierKey::parse_vkey(&slice.log_key)
        .map_err(|e| failure(FailureClass::Format, None, format!("the log key does not parse: {e}")))?;
    if let Some(pinned) = &options.pinned_log_key {
        if *pinned != log_key {
            return Err(failure(
                FailureClass::Pin,
                None,
                format!(
                    "the page names the log key {}, not the {} this reader trusts",
                    slice.log_key,
                    pinned.to_vkey_string()
                ),
            ));
        }
    }
    if let Some(pinned) = options.pinned_trust_root {
        if pinned != slice.trust_root {
            return Err(failure(
                FailureClass::Pin,
                None,
                format!(
                    "the page names the trust root {}, not the {} this reader trusts",
                    klero_ledger::hash::to_hex(&slice.trust_root),
                    klero_ledger::hash::to_hex(&pinned)
                ),
            ));
        }
    }

    // The checkpoint, its witnesses, and what the reader saw before.
    let signed = log_key.verify(&slice.checkpoint).map_err(|e| {
        failure(FailureClass::Checkpoint, None, format!("the checkpoint does not verify with the log key: {e}"))
    })?;
    let checkpoint = signed.checkpoint().clone();
    let size = checkpoint.tree_size;
    if let Some(policy) = &options.witness_policy {
        policy.check(&slice.checkpoint).map_err(|e| {
            failure(
                FailureClass::Witness,
                None,
                format!("the checkpoint of {size} events lacks the witnesses' cosignatures: {e}"),
            )
        })?;
    }
    let cosigned_by = cosigners(&slice.checkpoint, slice);
    for (earlier_size, earlier_root) in &options.earlier_checkpoints {
        if *earlier_size > size {
            return Err(failure(
                FailureClass::Stale,
                None,
                format!("the record shown is the log of {size} events, but this reader has already seen it hold {earlier_size}: the server showed an older record"),
            ));
        }
        // Between equal sizes there is nothing to prove: the roots must be the same.
        let proof = slice
            .consistency
            .iter()
            .find(|(old, _)| old == earlier_size)
            .map(|(_, proof)| proof.as_slice())
            .or((*earlier_size == size).then_some(&[][..]))
            .ok_or_else(|| {
                failure(
                    FailureClass::Incomplete,
                    None,
                    format!("the slice proves nothing about the log of {earlier_size} events this reader saw"),
                )
            })?;
        verify_consistency(*earlier_size, size, earlier_root, &checkpoint.root_hash, proof).map_err(|e| {
            failure(
                FailureClass::Fork,
                Some(*earlier_size),
                format!("the log of {size} events does not extend the log of {earlier_size} events this reader saw ({e}): the log was rewritten"),
            )
        })?;
    }
    let commitment = checkpoint.stream_heads.ok_or_else(|| {
        failure(
            FailureClass::Checkpoint,
            Some(size),
            "the checkpoint commits to no stream heads, so nothing shows that the page is complete",
        )
    })?;

    // The events, and their places in the log.
    let mut events: BTreeMap<u64, (Envelope, Hash256)> = BTreeMap::new();
    for (index, bytes) in &slice.events {
        let envelope = Envelope::parse(bytes.clone())
            .map_err(|e| failure(FailureClass::Format, Some(*index), format!("the event does not parse: {e}")))?;
        let hash = envelope.event_hash();
        events.insert(*index, (envelope, hash));
    }
    let leaves: Vec<(u64, Hash256)> = events.iter().map(|(index, (_, hash))| (*index, leaf_hash(&hash.0))).collect();
    verify_batch_inclusion(size, &leaves, &slice.inclusion, &checkpoint.root_hash).map_err(|e| {
        failure(
            FailureClass::Inclusion,
            events.keys().next().copied(),
            format!("the events are not in the log of {size} events at the places given ({e}): one was moved, altered or made up"),
        )
    })?;
    let mut ids: HashMap<[u8; 16], u64> = HashMap::new();
    for (index, (envelope, _)) in &events {
        if let Some(first) = ids.insert(envelope.author().event_id.0, *index) {
            return Err(failure(
                FailureClass::Chain,
                Some(*index),
                format!("event id {} was used at {first} already", envelope.author().event_id),
            ));
        }
    }

    // The stream heads of what the page needs.
    let heads_proof = HeadsProof {
        leaves: slice
            .heads
            .iter()
            .map(|(position, entry)| {
                StreamHead::parse_entry(entry)
                    .map(|head| (*position, head))
                    .map_err(|e| failure(FailureClass::Format, None, format!("head {position}: {e}")))
            })
            .collect::<Result<_, _>>()?,
        proof: slice.heads_proof.clone(),
    };
    heads::verify_heads(&commitment, &heads_proof, &[])
        .map_err(|e| failure(FailureClass::Incomplete, None, e.to_string()))?;
    let plan = plan_streams(target, slice, &events, &heads_proof, commitment.count)?;

    // Each stream: exactly the revisions the page needs, on an unbroken chain to its head. The
    // log's last event is there for the record's date whatever its stream.
    let last_index = size.checked_sub(1);
    let mut needed: BTreeSet<u64> = BTreeSet::new();
    for (stream, (head, revisions)) in &plan.streams {
        let of_stream: BTreeMap<u64, u64> = events
            .iter()
            .filter(|(_, (envelope, _))| envelope.author().stream == *stream)
            .map(|(index, (envelope, _))| (envelope.ledger().stream_revision, *index))
            .filter(|(revision, index)| Some(*index) != last_index || revisions.contains(revision))
            .collect();
        let mut previous: Option<(u64, u64)> = None;
        for revision in revisions.iter() {
            let index = *of_stream.get(revision).ok_or_else(|| {
                failure(
                    FailureClass::Incomplete,
                    None,
                    format!(
                        "revision {revision} of {stream} is left out (the checkpoint shows {} events in it)",
                        head.revision + 1
                    ),
                )
            })?;
            let (envelope, hash) = &events[&index];
            let ledger = envelope.ledger();
            match previous {
                Some((prev_revision, prev_index))
                    if prev_revision + 1 == *revision
                        && (prev_index >= index || ledger.previous_event_hash != events[&prev_index].1) =>
                {
                    return Err(failure(
                        FailureClass::Chain,
                        Some(index),
                        format!("revision {revision} of {stream} does not follow revision {prev_revision}"),
                    ));
                }
                _ if *revision == 0 && ledger.previous_event_hash != Hash256::ZERO => {
                    return Err(failure(
                        FailureClass::Chain,
                        Some(index),
                        format!("the first event of {stream} names a previous event"),
                    ));
                }
                _ => {}
            }
            if *revision == head.revision && *hash != head.head_hash {
                return Err(failure(
                    FailureClass::Incomplete,
                    Some(index),
                    format!("the last event of {stream} is not the one the checkpoint commits to: a newer one was left out or this one altered"),
                ));
            }
            if *revision > head.revision {
                return Err(failure(
                    FailureClass::Incomplete,
                    Some(index),
                    format!("{stream} holds revision {revision}, beyond its head at the checkpoint"),
                ));
            }
            needed.insert(index);
            previous = Some((*revision, index));
        }
        if of_stream.len() != revisions.len() {
            let extra = of_stream.iter().find(|(revision, _)| !revisions.contains(revision)).map(|(_, index)| *index);
            return Err(failure(
                FailureClass::Format,
                extra,
                format!("the slice holds an event of {stream} the page does not need"),
            ));
        }
    }
    if let Some(last) = last_index {
        if !events.contains_key(&last) {
            return Err(failure(
                FailureClass::Incomplete,
                Some(last),
                "the log's last event is left out, so the record's date cannot be checked",
            ));
        }
        needed.insert(last);
    }
    if let Some(extra) = events.keys().find(|index| !needed.contains(index)) {
        return Err(failure(FailureClass::Format, Some(*extra), "the slice holds an event the page does not need"));
    }
    let as_of_unix_ms = last_index.map_or(0, |last| events[&last].0.ledger().recorded_at_unix_ms);
    if let Some((earlier_size, earlier)) = &options.earlier_heads {
        check_earlier_heads(&plan, &events, *earlier_size, earlier)?;
    }

    // Signatures.
    let mut signatures_verified = 0;
    if !options.skip_signatures {
        let all: Vec<(u64, Envelope)> =
            events.iter().map(|(index, (envelope, _))| (*index, envelope.clone())).collect();
        for batch in all.chunks(SIGNATURE_BATCH_EVENTS) {
            let envelopes: Vec<Envelope> = batch.iter().map(|(_, envelope)| envelope.clone()).collect();
            if let Err(error) = verify_signatures_batch(&envelopes) {
                let index = batch[error.index].0;
                return Err(failure(
                    FailureClass::Signature,
                    Some(index),
                    "the author's signature does not verify: the event's bytes were changed",
                ));
            }
            signatures_verified += batch.len() as u64;
        }
    }

    // Authority and every rule, by folding what the page shows.
    let mut fold = LogFold::for_slice(slice.trust_root);
    for index in &plan.folded {
        let (envelope, hash) = &events[index];
        fold.fold(LoggedEventRef { log_index: *index, envelope, event_hash: *hash }, None).map_err(fold_failure)?;
    }
    let authorised_by = match target {
        SliceTarget::Event(index) => Some(authorise(&fold, *index, &events[index].0)?),
        _ => None,
    };
    fold.finish_prefix(size, as_of_unix_ms);

    // Sealed text and documents.
    let mut openings = HashMap::new();
    for opening in &slice.openings {
        let (envelope, _) = events.get(&opening.log_index).ok_or_else(|| {
            failure(FailureClass::Opening, Some(opening.log_index), "an opening names an event the slice does not hold")
        })?;
        let decoded = LogFold::decode(envelope).map_err(|_| {
            failure(FailureClass::Opening, Some(opening.log_index), "an opening names an event that does not decode")
        })?;
        let commitment = decoded
            .sealed_fields()
            .into_iter()
            .find(|(field, _)| *field == opening.field)
            .map(|(_, sealed)| sealed.commitment)
            .ok_or_else(|| {
                failure(
                    FailureClass::Opening,
                    Some(opening.log_index),
                    format!("the opening names {}, which is not a sealed field of that event", opening.field),
                )
            })?;
        klero_domain::personal::check_opening(&opening.salt, &opening.text, &commitment).map_err(|_| {
            failure(
                FailureClass::Opening,
                Some(opening.log_index),
                format!("the text shown for {} does not match the commitment its author signed", opening.field),
            )
        })?;
        openings.insert(
            commitment,
            VerifiedOpening {
                log_index: opening.log_index,
                field: opening.field.clone(),
                text: opening.text.clone(),
                salt: opening.salt,
            },
        );
    }
    let mut documents = HashMap::new();
    for (hash, bytes) in &slice.documents {
        if Hash256::of(bytes) != *hash {
            return Err(failure(
                FailureClass::Document,
                None,
                format!("the document named {hash} does not hash to its name: its text was changed"),
            ));
        }
        if fold.committed_document(hash).is_none() {
            return Err(failure(
                FailureClass::Document,
                None,
                format!("no event of the page commits to the document {hash}"),
            ));
        }
        documents.insert(*hash, bytes.clone());
    }

    Ok(VerifiedSlice {
        target: target.clone(),
        log_key,
        trust_root: slice.trust_root,
        checkpoint: signed,
        cosigned_by,
        witnesses: slice.witnesses.clone(),
        witness_quorum: slice.witness_quorum,
        events,
        heads: plan.streams.into_iter().map(|(stream, (head, _))| (stream, head)).collect(),
        fold,
        as_of_unix_ms,
        openings,
        documents,
        documents_held: slice.documents_held.iter().copied().collect(),
        page: plan.page,
        more_after_page: plan.more_after_page,
        authorised_by,
        signatures_verified,
    })
}

/// What an earlier slice of the same page said each whole stream held at `earlier_size`, against
/// what this one shows: a stream with more events below that size (or one the earlier slice did
/// not name) was hidden from the reader then, under a checkpoint whose stream heads lied.
fn check_earlier_heads(
    plan: &StreamPlan,
    events: &BTreeMap<u64, (Envelope, Hash256)>,
    earlier_size: u64,
    earlier: &BTreeMap<String, u64>,
) -> Result<(), Failure> {
    for (stream, (head, revisions)) in &plan.streams {
        if revisions.len() as u64 != head.revision + 1 {
            continue;
        }
        let before: Vec<u64> = events
            .iter()
            .filter(|(index, (envelope, _))| **index < earlier_size && envelope.author().stream == *stream)
            .map(|(index, _)| *index)
            .collect();
        let shown_then = earlier.get(stream).map_or(0, |revision| revision + 1);
        if before.len() as u64 > shown_then {
            let hidden = before[shown_then as usize];
            return Err(failure(
                FailureClass::Incomplete,
                Some(hidden),
                format!(
                    "when this reader last saw this page, the server showed {stream} with {shown_then} events in the log of {earlier_size}, but the log held event {hidden} of it then: the server hid it"
                ),
            ));
        }
    }
    Ok(())
}

/// The witness policy a slice states, for a reader to pin on first use.
pub fn stated_policy(slice: &Slice) -> Result<Option<WitnessPolicy>, Failure> {
    if slice.witnesses.is_empty() {
        return Ok(None);
    }
    let keys = slice
        .witnesses
        .iter()
        .map(|vkey| CosignerVerifierKey::parse_vkey(vkey))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failure(FailureClass::Format, None, format!("a witness key does not parse: {e}")))?;
    WitnessPolicy::new(keys, slice.witness_quorum as usize)
        .map(Some)
        .map_err(|e| failure(FailureClass::Format, None, format!("the witness policy is not usable: {e}")))
}

/// The names of the stated witnesses whose cosignature on `note` verifies.
fn cosigners(note: &str, slice: &Slice) -> Vec<String> {
    match stated_policy(slice) {
        Ok(Some(policy)) => WitnessPolicy::new(policy.witnesses().to_vec(), 0)
            .ok()
            .and_then(|any| any.check(note).ok())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn fold_failure(error: FoldError) -> Failure {
    match error {
        FoldError::Payload { log_index, .. } => failure(FailureClass::Payload, Some(log_index), error.to_string()),
        FoldError::Rejected { log_index, ref rejection } => {
            let class = match rejection {
                klero_domain::Rejection::NotAuthorised { .. } => FailureClass::Authority,
                _ => FailureClass::Rule,
            };
            failure(class, Some(log_index), error.to_string())
        }
        FoldError::OutOfOrder { log_index, .. } => failure(FailureClass::Format, Some(log_index), error.to_string()),
    }
}

/// What authorised the event at `index`, with the registry folded up to it.
fn authorise(fold: &LogFold, index: u64, envelope: &Envelope) -> Result<Authorisation, Failure> {
    let decoded: DomainEvent = LogFold::decode(envelope).map_err(|_| {
        failure(FailureClass::Payload, Some(index), "the event's payload does not decode under the catalogue")
    })?;
    let author = envelope.author();
    let proposal = Proposal {
        stream: &author.stream,
        author: &author.author_public_key,
        recorded_at_unix_ms: envelope.ledger().recorded_at_unix_ms,
    };
    match fold.state().authorise(&decoded, proposal) {
        Ok(AuthorisedBy::TrustRoot) => Ok(Authorisation::TrustRoot),
        Ok(AuthorisedBy::Grant(grant)) => Ok(Authorisation::Grant(grant.clone())),
        Err(rejection) => Err(failure(FailureClass::Authority, Some(index), rejection.to_string())),
    }
}

/// What a target needs: every stream with its head and the revisions to hold, the events to
/// fold (in log order), and a listing's page.
struct StreamPlan {
    streams: BTreeMap<String, (StreamHead, BTreeSet<u64>)>,
    folded: Vec<u64>,
    page: Vec<AssemblyId>,
    more_after_page: bool,
}

fn plan_streams(
    target: &SliceTarget,
    slice: &Slice,
    events: &BTreeMap<u64, (Envelope, Hash256)>,
    heads: &HeadsProof,
    heads_count: u64,
) -> Result<StreamPlan, Failure> {
    let complete = |range: StreamRange| range_heads(heads, heads_count, &range);
    let whole = |heads: Vec<StreamHead>| -> Vec<(String, (StreamHead, BTreeSet<u64>))> {
        heads.into_iter().map(|head| (head.stream.clone(), (head.clone(), (0..=head.revision).collect()))).collect()
    };
    let mut plan =
        StreamPlan { streams: BTreeMap::new(), folded: Vec::new(), page: Vec::new(), more_after_page: false };
    let assembly_of_input = |index: u64| -> Result<AssemblyId, Failure> {
        let (envelope, _) = events
            .get(&index)
            .ok_or_else(|| failure(FailureClass::Incomplete, Some(index), "the event the page is about is left out"))?;
        match StreamKind::parse_stream(&envelope.author().stream) {
            Some((StreamKind::Deliberation, Some(assembly))) => Ok(assembly),
            _ => Err(failure(
                FailureClass::Format,
                Some(index),
                "that event is not evidence or a public submission: only those can be followed",
            )),
        }
    };
    match target {
        SliceTarget::Assembly(_) | SliceTarget::Input(_) => {
            let assembly = match target {
                SliceTarget::Input(index) => assembly_of_input(*index)?,
                SliceTarget::Assembly(id)
                | SliceTarget::Index { after: Some(id) }
                | SliceTarget::Dashboard { after: Some(id) } => id.clone(),
                SliceTarget::Event(_) | SliceTarget::Index { after: None } | SliceTarget::Dashboard { after: None } => {
                    return Err(failure(FailureClass::Format, None, "not an assembly's slice"));
                }
            };
            plan.streams.extend(whole(complete(StreamRange::exact(klero_domain::REGISTRY_STREAM))?));
            let streams = complete(StreamRange::subtree(&StreamKind::Assembly.stream_name(&assembly)))?;
            if streams.is_empty() {
                return Err(failure(FailureClass::Incomplete, None, format!("the log holds no assembly {assembly}")));
            }
            plan.streams.extend(whole(streams));
        }
        SliceTarget::Event(index) => {
            let (envelope, _) = events.get(index).ok_or_else(|| {
                failure(FailureClass::Incomplete, Some(*index), "the event the page is about is left out")
            })?;
            let stream = envelope.author().stream.clone();
            let revision = envelope.ledger().stream_revision;
            plan.streams.extend(whole(complete(StreamRange::exact(klero_domain::REGISTRY_STREAM))?));
            if stream != klero_domain::REGISTRY_STREAM {
                let head = complete(StreamRange::exact(&stream))?.pop().ok_or_else(|| {
                    failure(FailureClass::Incomplete, Some(*index), format!("the checkpoint holds no stream {stream}"))
                })?;
                let mut revisions: BTreeSet<u64> = [revision].into();
                if revision > 0 {
                    revisions.insert(revision - 1);
                }
                if revision < head.revision {
                    revisions.insert(revision + 1);
                }
                plan.streams.insert(stream, (head, revisions));
            }
        }
        SliceTarget::Index { after } | SliceTarget::Dashboard { after } => {
            let page_size = slice
                .page
                .ok_or_else(|| failure(FailureClass::Format, None, "a listing's slice states its page size"))?;
            plan.streams.extend(whole(complete(StreamRange::exact(klero_domain::REGISTRY_STREAM))?));
            let listing = listing_page(heads, heads_count, after.as_ref(), page_size)?;
            plan.more_after_page = listing.more;
            for (assembly, streams) in listing.assemblies {
                plan.page.push(assembly);
                for head in streams {
                    let revisions = match target {
                        SliceTarget::Dashboard { .. } => (0..=head.revision).collect(),
                        _ if StreamKind::parse_stream(&head.stream)
                            .is_some_and(|(kind, _)| kind == StreamKind::Assembly) =>
                        {
                            [0].into()
                        }
                        _ => BTreeSet::new(),
                    };
                    plan.streams.insert(head.stream.clone(), (head, revisions));
                }
            }
        }
    }
    // Everything the plan names is folded, in log order: the events decide on each other.
    plan.folded = events
        .iter()
        .filter(|(_, (envelope, _))| {
            plan.streams
                .get(&envelope.author().stream)
                .is_some_and(|(_, revisions)| revisions.contains(&envelope.ledger().stream_revision))
        })
        .map(|(index, _)| *index)
        .collect();
    // An event page folds only the registry before the event; the event's stream is not
    // folded (its assembly's state is not in the slice), only its author's authority checked.
    if let SliceTarget::Event(index) = target {
        plan.folded.retain(|at| events[at].0.author().stream == klero_domain::REGISTRY_STREAM && at < index);
    }
    Ok(plan)
}

/// Every head of `range`, which the proof must show whole.
fn range_heads(heads: &HeadsProof, count: u64, range: &StreamRange) -> Result<Vec<StreamHead>, Failure> {
    heads::range_complete(&heads.leaves, count, range)
        .map_err(|e| failure(FailureClass::Incomplete, None, format!("{e}: a stream the page needs may be left out")))
}

struct ListingPage {
    assemblies: Vec<(AssemblyId, Vec<StreamHead>)>,
    more: bool,
}

/// A page of the list of assemblies: starting right after `after`'s streams (or at the first
/// assembly), `page_size` assemblies with every stream of each, then the leaf that ends the
/// page. The server chooses where a page ends; it cannot skip a stream in between.
fn listing_page(
    heads: &HeadsProof,
    count: u64,
    after: Option<&AssemblyId>,
    page_size: u64,
) -> Result<ListingPage, Failure> {
    let after_stream = after.map(|id| StreamKind::Assembly.stream_name(id));
    let range = StreamRange::children_after("assembly", after_stream.as_deref());
    let listed: Vec<&(u64, StreamHead)> =
        heads.leaves.iter().filter(|(_, head)| range.contains(&head.stream)).collect();
    let incomplete = |reason: &str| {
        failure(FailureClass::Incomplete, None, format!("{reason}: an assembly may be left out of the list"))
    };
    let Some(first) = listed.first() else {
        // An empty page: the range holds no stream at all.
        range_heads(heads, count, &range)?;
        return Ok(ListingPage { assemblies: Vec::new(), more: false });
    };
    let at = |position: u64| heads.leaves.iter().find(|(p, _)| *p == position);
    if first.0 > 0 && at(first.0 - 1).is_none() {
        return Err(incomplete("the stream before the page is not shown"));
    }
    let mut assemblies: Vec<(AssemblyId, Vec<StreamHead>)> = Vec::new();
    let mut expected = first.0;
    for (position, head) in listed {
        if *position != expected {
            return Err(incomplete("the page's streams are not consecutive"));
        }
        expected += 1;
        let Some((_, Some(assembly))) = StreamKind::parse_stream(&head.stream) else {
            return Err(failure(
                FailureClass::Incomplete,
                None,
                format!("{} is not an assembly's stream", head.stream),
            ));
        };
        let new_assembly = assemblies.last().is_none_or(|(last, _)| *last != assembly);
        if new_assembly && assemblies.len() as u64 == page_size {
            // The first stream of the next page ends this one. Leaves past it may be in the
            // slice as the neighbours of other ranges it proves (the registry's): they are not
            // on the page.
            return Ok(ListingPage { assemblies, more: true });
        }
        match assemblies.last_mut() {
            Some((last, streams)) if *last == assembly => streams.push(head.clone()),
            _ => assemblies.push((assembly, vec![head.clone()])),
        }
    }
    // The page ran to the end of the assemblies: the next leaf, if any, is not an assembly's.
    if expected < count && at(expected).is_none() {
        return Err(incomplete("the stream after the page is not shown"));
    }
    Ok(ListingPage { assemblies, more: false })
}

/// Assemblies on one page of the index, and of the dashboard (which holds them whole): the
/// server's choice; a reader accepts any page of up to [`PAGE_ASSEMBLIES_MAX`].
pub const INDEX_PAGE_ASSEMBLIES: u64 = 20;
pub const DASHBOARD_PAGE_ASSEMBLIES: u64 = 10;

/// What a slice for a target holds, chosen from the heads tree at its checkpoint: the leaves
/// to prove, each stream's revisions (`None`: all), and a listing's page size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlicePlan {
    pub head_positions: BTreeSet<u64>,
    pub streams: BTreeMap<String, Option<BTreeSet<u64>>>,
    pub page: Option<u64>,
}

/// Why a slice cannot be made for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The log holds no such assembly, or no such event before the checkpoint.
    NotFound(String),
    /// The target names something a slice cannot be made for (an event that is not an input).
    Invalid(String),
}

/// The plan of a slice for `target` at the checkpoint whose heads are `heads`. `subject` is the
/// stream and revision of the event an event or input target names (`None` for other targets).
pub fn plan_slice(
    target: &SliceTarget,
    heads: &heads::HeadsTree,
    subject: Option<(&str, u64)>,
) -> Result<SlicePlan, PlanError> {
    let mut plan = SlicePlan::default();
    let prove = |range: &StreamRange, plan: &mut SlicePlan| {
        let inside = heads.positions(range);
        plan.head_positions.extend(inside.start as u64..inside.end as u64);
        if inside.start > 0 {
            plan.head_positions.insert(inside.start as u64 - 1);
        }
        if inside.end < heads.heads().len() {
            plan.head_positions.insert(inside.end as u64);
        }
        inside
    };
    prove(&StreamRange::exact(klero_domain::REGISTRY_STREAM), &mut plan);
    plan.streams.insert(klero_domain::REGISTRY_STREAM.to_string(), None);
    let subject = |target: &SliceTarget| {
        subject.ok_or_else(|| PlanError::NotFound(format!("the event {} names is not in the log", target.path())))
    };
    match target {
        SliceTarget::Assembly(_) | SliceTarget::Input(_) => {
            let assembly = match target {
                SliceTarget::Input(_) => match StreamKind::parse_stream(subject(target)?.0) {
                    Some((StreamKind::Deliberation, Some(assembly))) => assembly,
                    _ => {
                        return Err(PlanError::Invalid(
                            "that event is not evidence or a public submission: only those can be followed".into(),
                        ))
                    }
                },
                SliceTarget::Assembly(id) => id.clone(),
                _ => return Err(PlanError::Invalid("not an assembly's slice".into())),
            };
            let inside = prove(&StreamRange::subtree(&StreamKind::Assembly.stream_name(&assembly)), &mut plan);
            if inside.is_empty() {
                return Err(PlanError::NotFound(format!("assembly {assembly}")));
            }
            for head in &heads.heads()[inside] {
                plan.streams.insert(head.stream.clone(), None);
            }
        }
        SliceTarget::Event(_) => {
            let (stream, revision) = subject(target)?;
            if stream != klero_domain::REGISTRY_STREAM {
                prove(&StreamRange::exact(stream), &mut plan);
                let revisions =
                    [revision.checked_sub(1), Some(revision), Some(revision + 1)].into_iter().flatten().collect();
                plan.streams.insert(stream.to_string(), Some(revisions));
            }
        }
        SliceTarget::Index { after } | SliceTarget::Dashboard { after } => {
            let page_size = if matches!(target, SliceTarget::Index { .. }) {
                INDEX_PAGE_ASSEMBLIES
            } else {
                DASHBOARD_PAGE_ASSEMBLIES
            };
            plan.page = Some(page_size);
            let after_stream = after.as_ref().map(|id| StreamKind::Assembly.stream_name(id));
            let inside = heads.positions(&StreamRange::children_after("assembly", after_stream.as_deref()));
            if inside.start > 0 {
                plan.head_positions.insert(inside.start as u64 - 1);
            }
            let mut assemblies: Vec<AssemblyId> = Vec::new();
            let mut end = inside.end;
            for position in inside {
                let head = &heads.heads()[position];
                let Some((kind, Some(assembly))) = StreamKind::parse_stream(&head.stream) else {
                    return Err(PlanError::Invalid(format!("{} is no assembly's stream", head.stream)));
                };
                if assemblies.last() != Some(&assembly) {
                    if assemblies.len() as u64 == page_size {
                        end = position;
                        break;
                    }
                    assemblies.push(assembly);
                }
                plan.head_positions.insert(position as u64);
                let revisions = match (target, kind) {
                    (SliceTarget::Dashboard { .. }, _) => None,
                    (_, StreamKind::Assembly) => Some([0].into()),
                    _ => Some(BTreeSet::new()),
                };
                plan.streams.insert(head.stream.clone(), revisions);
            }
            if end < heads.heads().len() {
                plan.head_positions.insert(end as u64);
            }
        }
    }
    Ok(plan)
}

/// The documents and sealed text a page of `target` shows, among `events` (the slice's own,
/// decoded, by log index): every sealed field and every committed document, except those of
/// public submissions nothing in the slice cites (a page counts those) and, for an event page,
/// all but the event's own. Listings show none.
pub fn shown_events<'e>(
    target: &SliceTarget,
    events: &'e BTreeMap<u64, (DomainEvent, Hash256)>,
) -> Vec<(u64, &'e DomainEvent)> {
    if matches!(target, SliceTarget::Index { .. } | SliceTarget::Dashboard { .. }) {
        return Vec::new();
    }
    let mut cited: HashSet<Hash256> = HashSet::new();
    for (event, _) in events.values() {
        match event {
            DomainEvent::RecommendationInputsCited(cited_by) => {
                cited.extend(cited_by.citations.iter().map(|c| c.input_event_hash))
            }
            DomainEvent::ResponseInputsConsidered(considered) => {
                cited.extend(considered.citations.iter().map(|c| c.input_event_hash))
            }
            _ => {}
        }
    }
    events
        .iter()
        .filter(|(index, (event, hash))| match (target, event) {
            (SliceTarget::Event(at), _) => *at == **index,
            (_, DomainEvent::PublicSubmissionReceived(_)) => cited.contains(hash),
            _ => true,
        })
        .map(|(index, (event, _))| (*index, event))
        .collect()
}

/// A whole log held in memory (every envelope, in log order) with what its holder can put in
/// a slice: the documents it has by hash (the short text ones are inlined, the rest named as
/// held) and the openings of sealed text it may show.
#[derive(Debug, Clone, Copy)]
pub struct WholeLog<'a> {
    pub envelopes: &'a [Vec<u8>],
    pub log_key: &'a str,
    pub trust_root: [u8; 32],
    pub documents: &'a HashMap<Hash256, Vec<u8>>,
    pub openings: &'a [Opening],
}

/// Cuts the slice of `target` from a whole log, at the checkpoint `note` (which must cover a
/// prefix of it): for auditors who hold an export, and for tests. `consistency_from` names
/// earlier sizes to prove consistency from.
pub fn cut(log: &WholeLog<'_>, note: &str, target: &SliceTarget, consistency_from: &[u64]) -> Result<Slice, PlanError> {
    let WholeLog { envelopes, log_key, trust_root, documents, openings } = *log;
    let key = LogVerifierKey::parse_vkey(log_key).map_err(|e| PlanError::Invalid(format!("log key: {e}")))?;
    let checkpoint = key.verify(note).map_err(|e| PlanError::Invalid(format!("checkpoint: {e}")))?;
    let size = checkpoint.checkpoint().tree_size;
    let prefix = envelopes
        .get(..size as usize)
        .ok_or_else(|| PlanError::Invalid("the checkpoint covers more than the log".into()))?;
    let parsed: Vec<Envelope> = prefix
        .iter()
        .map(|bytes| Envelope::parse(bytes.clone()).map_err(|e| PlanError::Invalid(format!("an envelope: {e}"))))
        .collect::<Result<_, _>>()?;
    let mut chains = klero_ledger::chain::StreamChainChecker::new();
    let mut tree = klero_ledger::merkle::MerkleTree::new();
    for envelope in &parsed {
        let hash = envelope.event_hash();
        chains.check_next(envelope, hash).map_err(|e| PlanError::Invalid(e.to_string()))?;
        tree.push_entry(&hash);
    }
    let heads = chains.heads_tree();
    let subject = match target {
        SliceTarget::Event(index) | SliceTarget::Input(index) => parsed
            .get(*index as usize)
            .map(|envelope| (envelope.author().stream.as_str(), envelope.ledger().stream_revision)),
        _ => None,
    };
    let plan = plan_slice(target, &heads, subject)?;
    let mut events: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut page_events: BTreeMap<u64, (DomainEvent, Hash256)> = BTreeMap::new();
    for (index, envelope) in parsed.iter().enumerate() {
        let wanted = plan.streams.get(&envelope.author().stream).is_some_and(|revisions| {
            revisions.as_ref().is_none_or(|revisions| revisions.contains(&envelope.ledger().stream_revision))
        });
        if wanted {
            events.insert(index as u64, prefix[index].clone());
            if let Ok(event) = LogFold::decode(envelope) {
                page_events.insert(index as u64, (event, envelope.event_hash()));
            }
        }
    }
    if size > 0 {
        events.entry(size - 1).or_insert_with(|| prefix[size as usize - 1].clone());
    }
    let indices: Vec<u64> = events.keys().copied().collect();
    let positions: Vec<u64> = plan.head_positions.iter().copied().collect();
    let heads_proof = heads.prove_positions(&positions);
    let shown = shown_events(target, &page_events);
    let shown_indices: HashSet<u64> = shown.iter().map(|(index, _)| *index).collect();
    let mut inline = BTreeMap::new();
    let mut held = BTreeSet::new();
    for (_, event) in &shown {
        if let Some((hash, kind)) = event.committed_document() {
            if let Some(bytes) = documents.get(&hash) {
                let linked_only = matches!(
                    kind,
                    klero_domain::DocumentKind::Evidence | klero_domain::DocumentKind::ImplementationEvidence
                );
                if !linked_only
                    && !matches!(target, SliceTarget::Event(_))
                    && bytes.len() <= 64 * 1024
                    && std::str::from_utf8(bytes).is_ok()
                {
                    inline.insert(hash, bytes.clone());
                } else {
                    held.insert(hash);
                }
            }
        }
    }
    Ok(Slice {
        log_key: log_key.to_string(),
        trust_root,
        witnesses: Vec::new(),
        witness_quorum: 0,
        checkpoint: note.to_string(),
        consistency: consistency_from
            .iter()
            .filter(|from| **from <= size)
            .map(|from| (*from, tree.consistency_proof(*from, size).unwrap_or_default()))
            .collect(),
        page: plan.page,
        heads_proof: heads_proof.proof,
        heads: heads_proof.leaves.iter().map(|(position, head)| (*position, head.entry())).collect(),
        inclusion: tree.batch_inclusion_proof(&indices, size).unwrap_or_default(),
        events: events.into_iter().collect(),
        openings: openings.iter().filter(|o| shown_indices.contains(&o.log_index)).cloned().collect(),
        documents: inline.into_iter().collect(),
        documents_held: held.into_iter().collect(),
    })
}
