//! Choosing a slice for a target from the heads tree at a checkpoint ([`plan_slice`]), and
//! cutting it from a whole log ([`cut`]).

use super::*;

/// Assemblies on one page of the index, and of the dashboard (which holds them whole): the
/// server's choice; a reader accepts any page of up to [`PAGE_ASSEMBLIES_MAX`].
pub const INDEX_PAGE_ASSEMBLIES: u64 = 20;
pub const DASHBOARD_PAGE_ASSEMBLIES: u64 = 10;
/// Councils on one page of the programme, each whole.
pub const PROGRAMME_PAGE_COUNCILS: u64 = 5;

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
    // The registry whose grants authorise what the slice shows: the platform's, or a
    // council's for a council's assemblies (FORMAT.md §15.2).
    let registry = |stream: &str, plan: &mut SlicePlan| {
        prove(&StreamRange::exact(stream), plan);
        plan.streams.insert(stream.to_string(), None);
    };
    let subject = |target: &SliceTarget| {
        subject.ok_or_else(|| PlanError::NotFound(format!("the event {} names is not in the log", target.path())))
    };
    match target {
        SliceTarget::Assembly(_) | SliceTarget::Input(_) | SliceTarget::Submissions { .. } => {
            let assembly = match target {
                SliceTarget::Input(_) => match StreamKind::parse_stream(subject(target)?.0) {
                    Some((StreamKind::Deliberation, Some(assembly))) => assembly,
                    _ => {
                        return Err(PlanError::Invalid(
                            "that event is not evidence or a public submission: only those can be followed".into(),
                        ))
                    }
                },
                SliceTarget::Assembly(id) | SliceTarget::Submissions { assembly: id, .. } => id.clone(),
                _ => return Err(PlanError::Invalid("not an assembly's slice".into())),
            };
            let assembly_stream = StreamKind::Assembly.stream_name(&assembly);
            registry(&klero_domain::registry_stream_for(&assembly_stream), &mut plan);
            let inside = prove(&StreamRange::subtree(&assembly_stream), &mut plan);
            if inside.is_empty() {
                return Err(PlanError::NotFound(format!("assembly {assembly}")));
            }
            for head in &heads.heads()[inside] {
                plan.streams.insert(head.stream.clone(), None);
            }
        }
        SliceTarget::Event(_) => {
            let (stream, revision) = subject(target)?;
            registry(&klero_domain::registry_stream_for(stream), &mut plan);
            if klero_domain::registry_of_stream(stream).is_none() {
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
            registry(klero_domain::REGISTRY_STREAM, &mut plan);
            let after_stream = after.as_ref().map(|id| StreamKind::Assembly.stream_name(id));
            let inside = heads.positions(&StreamRange::children_after("assembly", after_stream.as_deref()));
            if inside.start > 0 {
                plan.head_positions.insert(inside.start as u64 - 1);
            }
            let mut assemblies: Vec<AssemblyId> = Vec::new();
            let mut councils = BTreeSet::new();
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
                    if let Some(council) = assembly.council() {
                        councils.insert(format!("{}{council}", klero_domain::COUNCIL_STREAM_PREFIX));
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
            for council in councils {
                registry(&council, &mut plan);
            }
        }
        SliceTarget::Programme { after } => {
            plan.page = Some(PROGRAMME_PAGE_COUNCILS);
            let inside =
                heads.positions(&StreamRange::children_after("council", after.as_ref().map(|c| c.stream()).as_deref()));
            if inside.start > 0 {
                plan.head_positions.insert(inside.start as u64 - 1);
            }
            let mut end = inside.end;
            let mut councils = Vec::new();
            for position in inside {
                let head = &heads.heads()[position];
                let Some(Some(council)) = klero_domain::registry_of_stream(&head.stream) else {
                    return Err(PlanError::Invalid(format!("{} is no council's registry", head.stream)));
                };
                if councils.len() as u64 == PROGRAMME_PAGE_COUNCILS {
                    end = position;
                    break;
                }
                plan.head_positions.insert(position as u64);
                plan.streams.insert(head.stream.clone(), None);
                councils.push(council.to_string());
            }
            if end < heads.heads().len() {
                plan.head_positions.insert(end as u64);
            }
            for council in councils {
                let assemblies = prove(&StreamRange::name_prefix(&format!("assembly/{council}.")), &mut plan);
                for head in &heads.heads()[assemblies] {
                    plan.streams.insert(head.stream.clone(), None);
                }
            }
        }
        SliceTarget::Council(council) => {
            let council_stream = format!("{}{council}", klero_domain::COUNCIL_STREAM_PREFIX);
            if prove(&StreamRange::exact(&council_stream), &mut plan).is_empty() {
                return Err(PlanError::NotFound(format!("council {council}")));
            }
            plan.streams.insert(council_stream, None);
            let inside = prove(&StreamRange::name_prefix(&format!("assembly/{council}.")), &mut plan);
            for head in &heads.heads()[inside] {
                plan.streams.insert(head.stream.clone(), None);
            }
        }
    }
    Ok(plan)
}

/// The documents and sealed text a page of `target` shows, among `events` (the slice's own,
/// decoded, by log index): every sealed field and every committed document, except those of
/// public submissions nothing in the slice cites (a page counts those), of residents'
/// submissions no moderator published, and, for an event page, all but the event's own. A
/// receipt's page shows the input it follows.
/// Listings show none; a page of submissions shows its submissions'. A resident's contact is
/// never shown ([`DomainEvent::shown_sealed_fields`]).
pub fn shown_events<'e>(
    target: &SliceTarget,
    events: &'e BTreeMap<u64, (DomainEvent, Hash256)>,
) -> Vec<(u64, &'e DomainEvent)> {
    if matches!(target, SliceTarget::Index { .. } | SliceTarget::Dashboard { .. } | SliceTarget::Programme { .. }) {
        return Vec::new();
    }
    // A resident's submission shows only while its latest moderation publishes it: pending
    // and withheld ones stay sealed.
    let mut published: HashMap<Hash256, bool> = HashMap::new();
    for (event, _) in events.values() {
        if let DomainEvent::SubmissionModerated(moderated) = event {
            published.insert(
                moderated.submission_event_hash,
                moderated.decision == klero_domain::ModerationDecision::Publish,
            );
        }
    }
    // An event page folds the registry only, so it cannot show that a moderator published one.
    let may_show = |event: &DomainEvent, hash: &Hash256| {
        !matches!(event, DomainEvent::ResidentSubmitted(_))
            || (!matches!(target, SliceTarget::Event(_)) && published.get(hash).copied().unwrap_or(false))
    };
    if let SliceTarget::Submissions { page, .. } = target {
        let first = page.saturating_sub(1).saturating_mul(SUBMISSIONS_PAGE);
        return events
            .iter()
            .filter(|(_, (event, _))| {
                matches!(event, DomainEvent::PublicSubmissionReceived(_) | DomainEvent::ResidentSubmitted(_))
            })
            .skip(usize::try_from(first).unwrap_or(usize::MAX))
            .take(SUBMISSIONS_PAGE as usize)
            .filter(|(_, (event, hash))| may_show(event, hash))
            .map(|(index, (event, _))| (*index, event))
            .collect();
    }
    let events: BTreeMap<u64, &(DomainEvent, Hash256)> = events
        .iter()
        .filter(|(_, (event, hash))| may_show(event, hash))
        .map(|(index, entry)| (*index, entry))
        .collect();
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
            // A receipt's page shows the input it follows, cited or not.
            (SliceTarget::Input(at), _) if *at == **index => true,
            (_, DomainEvent::PublicSubmissionReceived(_) | DomainEvent::ResidentSubmitted(_)) => cited.contains(hash),
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
        for (hash, kind) in event.committed_documents() {
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
        // A whole log in memory keeps no witnessed history.
        witnessed: Vec::new(),
        page: plan.page,
        heads_proof: heads_proof.proof,
        heads: heads_proof.leaves.iter().map(|(position, head)| (*position, head.entry())).collect(),
        inclusion: tree.batch_inclusion_proof(&indices, size).unwrap_or_default(),
        events: events.into_iter().collect(),
        openings: openings
            .iter()
            .filter(|o| {
                shown_indices.contains(&o.log_index)
                    && page_events.get(&o.log_index).is_some_and(|(event, _)| {
                        event.shown_sealed_fields().iter().any(|(field, _)| *field == o.field)
                    })
            })
            .cloned()
            .collect(),
        documents: inline.into_iter().collect(),
        documents_held: held.into_iter().collect(),
        erasures_complete: None,
    })
}
