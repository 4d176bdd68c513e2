//! A fixed, complete record: one assembly from its grants to the council's answers, with every
//! event type of the catalogue, built from fixed keys at fixed times. The golden vectors, the
//! view snapshots and the tidy checks all use it, so it never changes by accident.

use crate::{key, ExportBuilder};
use klero_catalogue::EventMessage;
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use klero_verifier::Export;
use prost::Message;

/// The assembly of the fixture.
pub const ASSEMBLY: &str = "fixture";
/// The log's name in the fixture's checkpoints.
pub const LOG_NAME: &str = "kleroterion.example/fixture";
/// The first recording time: 2027-01-15T08:00:00Z.
pub const FIRST_RECORDED_AT_UNIX_MS: u64 = 1_800_000_000_000;
/// Between two events.
const STEP_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;
const SEED: &[u8] = b"the fixture's revealed seed, 32b";

/// The fixture: its export (events, a checkpoint of them all) and what went into it.
#[derive(Debug)]
pub struct Fixture {
    pub export: Export,
    pub trust_root: [u8; 32],
    pub log_key: LogSigningKey,
    /// Each event's type name and payload bytes, in log order.
    pub payloads: Vec<(&'static str, Vec<u8>)>,
}

struct Builder {
    export: ExportBuilder,
    next_id: u64,
    recorded_at: u64,
    payloads: Vec<(&'static str, Vec<u8>)>,
}

impl Builder {
    fn append<M: EventMessage>(&mut self, author: &SigningKey, message: &M) {
        self.next_id += 1;
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&self.next_id.to_be_bytes());
        id[6] = 0x40;
        id[8] |= 0x80;
        let stream = match M::STREAM_KIND {
            klero_catalogue::StreamKind::Registry => klero_domain::REGISTRY_STREAM.to_string(),
            kind => kind.stream_name(&klero_domain::AssemblyId::parse(ASSEMBLY).expect("id")),
        };
        let payload = message.encode_to_vec();
        let part = AuthorPart {
            event_id: EventId(id),
            stream,
            event_type: M::EVENT_TYPE.to_string(),
            event_version: M::EVENT_VERSION,
            author_public_key: author.verifying_key().to_bytes(),
            authored_at_unix_ms: self.recorded_at,
            payload: payload.clone(),
        };
        self.export.append(part, author, self.recorded_at);
        self.payloads.push((M::EVENT_TYPE, payload));
        self.recorded_at += STEP_MS;
    }
}

fn sha(text: &str) -> Vec<u8> {
    Hash256::of(text.as_bytes()).0.to_vec()
}

fn grant(key: &SigningKey, role: pb::registry::Role, title: &str) -> pb::registry::KeyGranted {
    pb::registry::KeyGranted {
        public_key: key.verifying_key().to_bytes().to_vec(),
        role: role as i32,
        scope: ASSEMBLY.into(),
        holder_title: title.into(),
    }
}

/// The pool: ten volunteers, alternately young and old.
fn pool() -> pb::selection::PoolRegistered {
    pb::selection::PoolRegistered {
        members: (0..10)
            .map(|i| pb::selection::PoolMember {
                id: format!("v{i:02}"),
                features: vec![pb::selection::FeatureValue {
                    feature: "age".into(),
                    value: if i % 2 == 0 { "young" } else { "old" }.into(),
                }],
            })
            .collect(),
    }
}

fn quotas() -> Vec<pb::selection::Quota> {
    vec![
        pb::selection::Quota { feature: "age".into(), value: "young".into(), min: 1, max: 3 },
        pb::selection::Quota { feature: "age".into(), value: "old".into(), min: 1, max: 3 },
    ]
}

/// Builds the fixture. Deterministic: the same bytes on every run and every machine.
pub fn lifecycle() -> Fixture {
    let council = key("fixture: council");
    let convenor = key("fixture: convenor");
    let operator = key("fixture: selection operator");
    let facilitator = key("fixture: facilitator");
    let secretary = key("fixture: panel secretary");
    let decision_maker = key("fixture: council decision-maker");
    let auditor = key("fixture: auditor");
    let log_key = LogSigningKey::new(LOG_NAME, key("fixture: log")).expect("log key");
    let trust_root = council.verifying_key().to_bytes();
    let mut b = Builder {
        export: ExportBuilder::new(log_key.clone(), trust_root),
        next_id: 0,
        recorded_at: FIRST_RECORDED_AT_UNIX_MS,
        payloads: Vec::new(),
    };
    use pb::registry::Role;
    for (who, role, title) in [
        (&convenor, Role::Convenor, "Head of democratic services"),
        (&operator, Role::SelectionOperator, "Sortition officer"),
        (&facilitator, Role::Facilitator, "Lead facilitator"),
        (&secretary, Role::PanelSecretary, "Panel secretary"),
        (&decision_maker, Role::CouncilDecisionMaker, "Cabinet member"),
        (&auditor, Role::Auditor, "Internal auditor"),
    ] {
        b.append(&council, &grant(who, role, title));
    }
    b.append(
        &council,
        &pb::registry::KeyRevoked {
            public_key: auditor.verifying_key().to_bytes().to_vec(),
            role: Role::Auditor as i32,
            scope: ASSEMBLY.into(),
            reason: "Role ended".into(),
        },
    );
    b.append(
        &convenor,
        &pb::assembly::AssemblyConvened {
            assembly_id: ASSEMBLY.into(),
            council: "Example Borough Council".into(),
            remit_question: "How should the borough cut traffic near schools?".into(),
            area: "Example Borough".into(),
            starts_on: "2027-01-20".into(),
            ends_on: "2027-03-20".into(),
            panel_size: 4,
            adoption_threshold_percent: 60,
            response_deadline_days: 56,
        },
    );
    let pool = pool();
    b.append(
        &operator,
        &pb::selection::SelectionPlanned {
            panel_size: 4,
            quotas: quotas(),
            algorithm: "leximin".into(),
            algorithm_version: "fixture 1".into(),
            pool_commitment: Hash256::of(&pool.encode_to_vec()).0.to_vec(),
            seed_commitment: Hash256::of(SEED).0.to_vec(),
            randomness_source: "a seed committed before the pool was registered".into(),
        },
    );
    b.append(&operator, &pool);
    // One panel of two young and two old volunteers: types are young, then old (quota order).
    let lottery = klero_draw::PublishedLottery { panels: vec![vec![2, 2]], weights: vec![klero_draw::WEIGHT_TOTAL] };
    b.append(&operator, &klero_catalogue::lottery_message(&lottery));
    let instance = klero_draw::Instance::from_members(
        &quotas()
            .iter()
            .map(|q| klero_draw::Quota { feature: q.feature.clone(), value: q.value.clone(), min: q.min, max: q.max })
            .collect::<Vec<_>>(),
        &pool
            .members
            .iter()
            .map(|m| (m.id.clone(), m.features.iter().map(|f| (f.feature.clone(), f.value.clone())).collect()))
            .collect::<Vec<_>>(),
        4,
    )
    .expect("the fixture pool groups into types");
    let panel = klero_draw::draw(&instance, &lottery, SEED);
    b.append(&operator, &pb::selection::PanelDrawn { seed: SEED.to_vec(), member_ids: panel.clone() });
    let withdrawn = panel[0].clone();
    b.append(
        &operator,
        &pb::selection::MemberWithdrew {
            member_id: withdrawn.clone(),
            reason: pb::selection::WithdrawalReason::Personal as i32,
        },
    );
    let replacement = klero_draw::draw_replacement(&instance, SEED, &withdrawn, &panel).expect("a replacement");
    b.append(
        &operator,
        &pb::selection::ReplacementDrawn { withdrawn_member_id: withdrawn, replacement_member_id: replacement },
    );
    b.append(
        &facilitator,
        &pb::deliberation::SessionHeld {
            session_number: 1,
            held_on: "2027-01-23".into(),
            agenda: "Learning phase: what the evidence says".into(),
            attendance_count: 4,
        },
    );
    b.append(
        &facilitator,
        &pb::deliberation::EvidencePresented {
            session_number: 1,
            speaker_role: "Transport researcher".into(),
            title: "School streets: what the trials found".into(),
            content_hash: sha("evidence: school streets trials"),
            media_type: "application/pdf".into(),
        },
    );
    let evidence_event = *b.export.peek().last().expect("the evidence");
    let mut submission_events = Vec::new();
    for (submitter, text) in [("resident-0001", "submission one"), ("resident-0002", "submission two")] {
        b.append(
            &facilitator,
            &pb::deliberation::PublicSubmissionReceived {
                submitter_id: submitter.into(),
                content_hash: sha(text),
                received_on: "2027-01-25".into(),
            },
        );
        submission_events.push(*b.export.peek().last().expect("the submission"));
    }
    b.append(
        &facilitator,
        &pb::deliberation::SessionHeld {
            session_number: 2,
            held_on: "2027-02-06".into(),
            agenda: "Deciding: drafting and voting".into(),
            attendance_count: 3,
        },
    );
    for (id, title) in [("R1", "School streets at every primary"), ("R2", "A 20 mph zone"), ("R3", "Free buses")] {
        b.append(
            &secretary,
            &pb::recommendation::RecommendationDrafted {
                recommendation_id: id.into(),
                title: title.into(),
                text_hash: sha(&format!("{id} draft")),
            },
        );
    }
    b.append(
        &secretary,
        &pb::recommendation::RecommendationAmended {
            recommendation_id: "R1".into(),
            text_hash: sha("R1 amended"),
            reason: "Include secondary schools".into(),
        },
    );
    let citation = |input: &Hash256, note: &str| pb::deliberation::InputCitation {
        input_event_hash: input.0.to_vec(),
        note: note.into(),
    };
    b.append(
        &secretary,
        &pb::recommendation::RecommendationInputsCited {
            recommendation_id: "R1".into(),
            text_hash: sha("R1 amended"),
            citations: vec![
                citation(&evidence_event, "The trials' results"),
                citation(&submission_events[0], "Asked for secondary schools too"),
            ],
        },
    );
    for (id, text, tally) in [("R1", "R1 amended", (3, 1, 0)), ("R2", "R2 draft", (3, 0, 1))] {
        b.append(
            &secretary,
            &pb::recommendation::VoteRecorded {
                recommendation_id: id.into(),
                in_favour: tally.0,
                against: tally.1,
                abstaining: tally.2,
            },
        );
        b.append(
            &secretary,
            &pb::recommendation::RecommendationAdopted {
                recommendation_id: id.into(),
                final_text_hash: sha(text),
                in_favour: tally.0,
                against: tally.1,
                abstaining: tally.2,
            },
        );
    }
    let adoptions: Vec<Hash256> = {
        let export = b.export.peek();
        [export.len() - 3, export.len() - 1].iter().map(|&i| export[i]).collect()
    };
    b.append(
        &secretary,
        &pb::recommendation::RecommendationWithdrawn {
            recommendation_id: "R3".into(),
            reason: "Outside the remit".into(),
        },
    );
    b.append(&secretary, &pb::recommendation::FinalReportPublished { content_hash: sha("final report") });
    let response = |hash: &Hash256, decision: pb::response::Decision, rationale: &str| pb::response::ResponseIssued {
        recommendation_event_hash: hash.0.to_vec(),
        decision: decision as i32,
        rationale: rationale.into(),
        responsible_body: "Cabinet".into(),
        due_on: "2027-09-01".into(),
    };
    b.append(
        &decision_maker,
        &response(&adoptions[0], pb::response::Decision::Accepted, "Funded from the road safety budget."),
    );
    b.append(
        &decision_maker,
        &pb::response::ResponseInputsConsidered {
            recommendation_event_hash: adoptions[0].0.to_vec(),
            citations: vec![citation(&submission_events[1], "Weighed the cost to parents")],
            letter_hash: sha("response letter R1"),
        },
    );
    // The second answer comes after its 56-day deadline: it is late, and the views say so.
    b.recorded_at += 60 * DAY_MS;
    b.append(
        &decision_maker,
        &response(&adoptions[1], pb::response::Decision::NotAccepted, "The county sets speed limits on these roads."),
    );
    b.append(
        &decision_maker,
        &pb::response::ResponseAmended {
            recommendation_event_hash: adoptions[0].0.to_vec(),
            decision: pb::response::Decision::AcceptedInPart as i32,
            rationale: "Primary schools first; secondary schools after a review.".into(),
            responsible_body: "Cabinet".into(),
            due_on: "2027-12-01".into(),
            reason: "Budget set in February".into(),
        },
    );
    b.append(
        &decision_maker,
        &pb::response::ImplementationUpdated {
            recommendation_event_hash: adoptions[0].0.to_vec(),
            status: pb::response::ImplementationStatus::InProgress as i32,
            progress_percent: 40,
            note: "Six of fifteen schools have school streets.".into(),
            evidence_hash: sha("progress report"),
        },
    );
    b.export.checkpoint();
    Fixture { export: b.export.finish(), trust_root, log_key, payloads: b.payloads }
}
