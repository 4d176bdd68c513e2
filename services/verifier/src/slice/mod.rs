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
use klero_domain::{AssemblyId, AuthorisedBy, CouncilId, DomainEvent, Grant, Proposal, StreamKind};
use klero_fold::{FoldError, LogFold, LoggedEventRef};
use klero_ledger::checkpoint::{LogVerifierKey, SignedCheckpoint};
use klero_ledger::cosignature::{CosignerVerifierKey, WitnessPolicy};
use klero_ledger::envelope::{verify_signatures_batch, Envelope};
use klero_ledger::heads::{self, HeadsProof, StreamHead, StreamRange};
use klero_ledger::merkle::{leaf_hash, verify_batch_inclusion, verify_consistency};
use klero_ledger::Hash256;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod check;
mod plan;

pub use check::*;
pub use plan::*;

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
    /// Witnessed checkpoints from the server's history (FORMAT.md §13.6), each a signed note
    /// with its cosignatures and the consistency proof from its size to the checkpoint's, in
    /// ascending size: they bound when the slice's answers were recorded.
    pub witnessed: Vec<(String, Vec<Hash256>)>,
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
    /// What the server says of its old copies of erased personal data.
    pub erasures_complete: Option<ErasuresComplete>,
}

/// What a server says of the old copies it keeps of erased personal data (FORMAT.md §14.3):
/// its word, which no reader can check, and which a page shows as such.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErasuresComplete {
    /// Each erasure is complete as it is recorded: the store overwrites the key in its only copy.
    AtOnce,
    /// Erasures recorded before this time (Unix milliseconds; 0 for none) are complete in every
    /// copy; later ones once the store next rotates its key-encryption key.
    Before(u64),
}

impl ErasuresComplete {
    /// Whether an erasure recorded at `recorded_at_unix_ms` is complete in every copy.
    pub fn covers(&self, recorded_at_unix_ms: u64) -> bool {
        match self {
            ErasuresComplete::AtOnce => true,
            ErasuresComplete::Before(through) => recorded_at_unix_ms < *through,
        }
    }
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
        for (note, proof) in &self.witnessed {
            out.push_str(&format!("witnessed {}{}\n", BASE64.encode(note.as_bytes()), hashes(proof)));
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
        match self.erasures_complete {
            Some(ErasuresComplete::AtOnce) => out.push_str("erasures-complete at-once\n"),
            Some(ErasuresComplete::Before(through)) => out.push_str(&format!("erasures-complete {through}\n")),
            None => {}
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
        while let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("witnessed ")) {
            count_other(number)?;
            let mut words = line["witnessed ".len()..].split(' ');
            let note =
                words.next().and_then(canonical_base64).and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(
                    || format_failure(number, "must be: witnessed <canonical base64 of a UTF-8 note> <base64 hash>…"),
                )?;
            slice.witnessed.push((
                note,
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
        if let Some((number, line)) = lines.next_if(|(_, line)| line.starts_with("erasures-complete ")) {
            slice.erasures_complete = Some(match &line["erasures-complete ".len()..] {
                "at-once" => ErasuresComplete::AtOnce,
                through => ErasuresComplete::Before(decimal(through).ok_or_else(|| {
                    format_failure(number, "must be: erasures-complete at-once, or erasures-complete <Unix ms>")
                })?),
            });
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
