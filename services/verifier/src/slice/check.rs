//! Checking a slice against what a page asked for and what the reader already trusts
//! ([`verify_slice`]), and the streams and listing pages a target needs.

use super::*;

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
    /// Page `page` (1 for the first) of an assembly's public submissions, [`SUBMISSIONS_PAGE`]
    /// to a page in the order received: the assembly's record as [`SliceTarget::Assembly`],
    /// with the text of those submissions, cited or not.
    Submissions { assembly: AssemblyId, page: u64 },
    /// A council's whole record, for its auditor: its registry (`council/<id>`) and every
    /// stream of every assembly of the council, and nothing of other councils.
    Council(CouncilId),
    /// A page of the programme's councils after `after`, each whole as [`SliceTarget::Council`].
    Programme { after: Option<CouncilId> },
}

/// Public submissions on one page of an assembly's submissions.
pub const SUBMISSIONS_PAGE: u64 = 100;

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
            SliceTarget::Submissions { assembly, page } => format!("submissions/{assembly}?page={page}"),
            SliceTarget::Council(id) => format!("council/{id}"),
            SliceTarget::Programme { after: None } => "programme".into(),
            SliceTarget::Programme { after: Some(id) } => format!("programme?after={id}"),
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
    /// What the server says of its old copies of erased personal data: its word, not checked.
    pub erasures_complete: Option<ErasuresComplete>,
    /// For an index or a dashboard: the assemblies of the page, in order, and whether a next
    /// page follows (for the programme: whether more councils follow).
    pub page: Vec<AssemblyId>,
    pub more_after_page: bool,
    /// For the programme: the councils of the page, in order.
    pub councils: Vec<CouncilId>,
    /// The witnessed time (FORMAT.md §13.6) under the slice's stated witness policy: (tree
    /// size, attested at in Unix milliseconds, the `t·1000 + 999` bound) for the checkpoint
    /// and each witnessed checkpoint of the slice that meets it, ascending size; and the policy's
    /// quorum and number of witnesses.
    pub witnessed: Vec<(u64, u64)>,
    pub witness_quorum_of: (u64, u64),
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
    /// A resident's own key, which no grant names (docs/RULES.md, Authority).
    Resident,
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
    let witnessed = check_witnessed(slice, &log_key, &checkpoint)?;
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
        if let DomainEvent::ResidentSubmitted(_) = &decoded {
            let hash = events[&opening.log_index].1;
            let published = StreamKind::parse_stream(&envelope.author().stream)
                .and_then(|(_, assembly)| fold.state().assembly(&assembly?)?.resident_submissions.get(&hash).cloned())
                .is_some_and(|submission| submission.published());
            if !published {
                return Err(failure(
                    FailureClass::Opening,
                    Some(opening.log_index),
                    "a page shows a resident's submission only once a moderator published it",
                ));
            }
        }
        if !decoded.shown_sealed_fields().iter().any(|(field, _)| *field == opening.field) {
            return Err(failure(
                FailureClass::Opening,
                Some(opening.log_index),
                format!("a page never shows {}: it is how to reach a resident, not what they said", opening.field),
            ));
        }
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
        erasures_complete: slice.erasures_complete,
        page: plan.page,
        more_after_page: plan.more_after_page,
        councils: plan.councils,
        witnessed,
        witness_quorum_of: (slice.witness_quorum, slice.witnesses.len() as u64),
        authorised_by,
        signatures_verified,
    })
}

/// What an earlier slice of the same page said each whole stream held at `earlier_size`, against
/// what this one shows: a stream with more events below that size (or one the earlier slice did
/// not name) was hidden from the reader then, under a checkpoint whose stream heads lied.
pub(crate) fn check_earlier_heads(
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

/// The witnessed checkpoints of a slice (FORMAT.md §13.6), checked: each signed by the log key,
/// of at most the checkpoint's size, in ascending size, and extended by the checkpoint (its
/// consistency proof). Returns, with the checkpoint's own, the attested time of each that meets
/// the slice's stated witness policy.
fn check_witnessed(
    slice: &Slice,
    log_key: &LogVerifierKey,
    checkpoint: &klero_ledger::checkpoint::Checkpoint,
) -> Result<Vec<(u64, u64)>, Failure> {
    let policy = stated_policy(slice)?;
    let attested = |note: &str| {
        policy
            .as_ref()
            .and_then(|policy| policy.attested_at(note))
            .map(|at| at.saturating_mul(1000).saturating_add(999))
    };
    let mut out = Vec::new();
    let mut last_size = None;
    for (note, proof) in &slice.witnessed {
        let signed = log_key.verify(note).map_err(|e| {
            failure(
                FailureClass::Checkpoint,
                None,
                format!("a witnessed checkpoint does not verify with the log key: {e}"),
            )
        })?;
        let (size, root) = (signed.checkpoint().tree_size, signed.checkpoint().root_hash);
        if size > checkpoint.tree_size || last_size.is_some_and(|last| last >= size) {
            return Err(failure(
                FailureClass::Format,
                Some(size),
                "witnessed checkpoints come in ascending size, none above the checkpoint's",
            ));
        }
        last_size = Some(size);
        verify_consistency(size, checkpoint.tree_size, &root, &checkpoint.root_hash, proof).map_err(|e| {
            failure(
                FailureClass::Fork,
                Some(size),
                format!(
                    "the log of {} events does not extend the witnessed log of {size} events ({e})",
                    checkpoint.tree_size
                ),
            )
        })?;
        if let Some(at) = attested(note) {
            out.push((size, at));
        }
    }
    if let Some(at) = attested(&slice.checkpoint) {
        out.push((checkpoint.tree_size, at));
    }
    Ok(out)
}

impl VerifiedSlice {
    /// When the event at `log_index` was proven recorded by, as the witnesses attest
    /// (FORMAT.md §13.6): the earliest attested time of the slice's checkpoints that cover it.
    pub fn attested_by(&self, log_index: u64) -> Option<u64> {
        self.witnessed.iter().filter(|(size, _)| *size > log_index).map(|(_, at)| *at).min()
    }
}

/// The names of the stated witnesses whose cosignature on `note` verifies.
pub(crate) fn cosigners(note: &str, slice: &Slice) -> Vec<String> {
    match stated_policy(slice) {
        Ok(Some(policy)) => WitnessPolicy::new(policy.witnesses().to_vec(), 0)
            .ok()
            .and_then(|any| any.check(note).ok())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub(crate) fn fold_failure(error: FoldError) -> Failure {
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
pub(crate) fn authorise(fold: &LogFold, index: u64, envelope: &Envelope) -> Result<Authorisation, Failure> {
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
        Ok(AuthorisedBy::Resident) => Ok(Authorisation::Resident),
        Err(rejection) => Err(failure(FailureClass::Authority, Some(index), rejection.to_string())),
    }
}

/// What a target needs: every stream with its head and the revisions to hold, the events to
/// fold (in log order), and a listing's page.
pub(crate) struct StreamPlan {
    streams: BTreeMap<String, (StreamHead, BTreeSet<u64>)>,
    folded: Vec<u64>,
    page: Vec<AssemblyId>,
    more_after_page: bool,
    councils: Vec<CouncilId>,
}

pub(crate) fn plan_streams(
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
    let mut plan = StreamPlan {
        streams: BTreeMap::new(),
        folded: Vec::new(),
        page: Vec::new(),
        more_after_page: false,
        councils: Vec::new(),
    };
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
        SliceTarget::Assembly(_) | SliceTarget::Input(_) | SliceTarget::Submissions { .. } => {
            let assembly = match target {
                SliceTarget::Input(index) => assembly_of_input(*index)?,
                SliceTarget::Assembly(id)
                | SliceTarget::Submissions { assembly: id, .. }
                | SliceTarget::Index { after: Some(id) }
                | SliceTarget::Dashboard { after: Some(id) } => id.clone(),
                SliceTarget::Event(_)
                | SliceTarget::Council(_)
                | SliceTarget::Programme { .. }
                | SliceTarget::Index { after: None }
                | SliceTarget::Dashboard { after: None } => {
                    return Err(failure(FailureClass::Format, None, "not an assembly's slice"));
                }
            };
            let assembly_stream = StreamKind::Assembly.stream_name(&assembly);
            let registry = klero_domain::registry_stream_for(&assembly_stream);
            plan.streams.extend(whole(complete(StreamRange::exact(&registry))?));
            let streams = complete(StreamRange::subtree(&assembly_stream))?;
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
            plan.streams.extend(whole(complete(StreamRange::exact(&klero_domain::registry_stream_for(&stream)))?));
            if klero_domain::registry_of_stream(&stream).is_none() {
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
        SliceTarget::Programme { after } => {
            let page_size = slice
                .page
                .ok_or_else(|| failure(FailureClass::Format, None, "a listing's slice states its page size"))?;
            let listing = council_page(heads, heads_count, after.as_ref(), page_size)?;
            plan.more_after_page = listing.more;
            for (council, head) in listing.councils {
                plan.streams.insert(head.stream.clone(), (head.clone(), (0..=head.revision).collect()));
                plan.streams.extend(whole(complete(StreamRange::name_prefix(&format!("assembly/{council}.")))?));
                plan.councils.push(council);
            }
        }
        SliceTarget::Council(council) => {
            let registry = complete(StreamRange::exact(&format!("{}{council}", klero_domain::COUNCIL_STREAM_PREFIX)))?;
            if registry.is_empty() {
                return Err(failure(FailureClass::Incomplete, None, format!("the log holds no council {council}")));
            }
            plan.streams.extend(whole(registry));
            plan.streams.extend(whole(complete(StreamRange::name_prefix(&format!("assembly/{council}.")))?));
        }
        SliceTarget::Index { after } | SliceTarget::Dashboard { after } => {
            let page_size = slice
                .page
                .ok_or_else(|| failure(FailureClass::Format, None, "a listing's slice states its page size"))?;
            plan.streams.extend(whole(complete(StreamRange::exact(klero_domain::REGISTRY_STREAM))?));
            let listing = listing_page(heads, heads_count, after.as_ref(), page_size)?;
            plan.more_after_page = listing.more;
            // The councils of the page's assemblies: their registries authorise them.
            for (assembly, _) in &listing.assemblies {
                if let Some(council) = assembly.council() {
                    let registry = format!("{}{council}", klero_domain::COUNCIL_STREAM_PREFIX);
                    plan.streams.extend(whole(complete(StreamRange::exact(&registry))?));
                }
            }
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
        let registry = klero_domain::registry_stream_for(&events[index].0.author().stream);
        plan.folded.retain(|at| events[at].0.author().stream == registry && at < index);
    }
    Ok(plan)
}

/// Every head of `range`, which the proof must show whole.
pub(crate) fn range_heads(heads: &HeadsProof, count: u64, range: &StreamRange) -> Result<Vec<StreamHead>, Failure> {
    heads::range_complete(&heads.leaves, count, range)
        .map_err(|e| failure(FailureClass::Incomplete, None, format!("{e}: a stream the page needs may be left out")))
}

pub(crate) struct CouncilPage {
    councils: Vec<(CouncilId, StreamHead)>,
    more: bool,
}

/// A page of the programme's councils: starting right after `after`'s registry (or at the first
/// council), `page_size` councils' registries at consecutive leaves, then the leaf that ends
/// the page (the next council, another stream, or the tree's end). As with assemblies, the
/// server chooses the page's length and cannot skip a council inside it.
pub(crate) fn council_page(
    heads: &HeadsProof,
    count: u64,
    after: Option<&CouncilId>,
    page_size: u64,
) -> Result<CouncilPage, Failure> {
    let range = StreamRange::children_after("council", after.map(|c| c.stream()).as_deref());
    let listed: Vec<&(u64, StreamHead)> =
        heads.leaves.iter().filter(|(_, head)| range.contains(&head.stream)).collect();
    let incomplete = |reason: &str| {
        failure(FailureClass::Incomplete, None, format!("{reason}: a council may be left out of the list"))
    };
    let Some(first) = listed.first() else {
        range_heads(heads, count, &range)?;
        return Ok(CouncilPage { councils: Vec::new(), more: false });
    };
    let at = |position: u64| heads.leaves.iter().find(|(p, _)| *p == position);
    if first.0 > 0 && at(first.0 - 1).is_none() {
        return Err(incomplete("the stream before the page is not shown"));
    }
    let mut councils = Vec::new();
    let mut expected = first.0;
    for (position, head) in listed {
        if *position != expected {
            return Err(incomplete("the page's councils are not consecutive"));
        }
        expected += 1;
        let council = klero_domain::registry_of_stream(&head.stream)
            .flatten()
            .and_then(|id| CouncilId::parse(id).ok())
            .ok_or_else(|| {
                failure(FailureClass::Incomplete, None, format!("{} is not a council's registry", head.stream))
            })?;
        if councils.len() as u64 == page_size {
            return Ok(CouncilPage { councils, more: true });
        }
        councils.push((council, head.clone()));
    }
    if expected < count && at(expected).is_none() {
        return Err(incomplete("the stream after the page is not shown"));
    }
    Ok(CouncilPage { councils, more: false })
}

pub(crate) struct ListingPage {
    assemblies: Vec<(AssemblyId, Vec<StreamHead>)>,
    more: bool,
}

/// A page of the list of assemblies: starting right after `after`'s streams (or at the first
/// assembly), `page_size` assemblies with every stream of each, then the leaf that ends the
/// page. The server chooses where a page ends; it cannot skip a stream in between.
pub(crate) fn listing_page(
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
