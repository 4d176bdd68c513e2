//! Given/when/then tests of the domain rules, through one `Scenario` helper.

use klero_domain::events::*;
use klero_domain::*;
use klero_ledger::Hash256;

const TRUST_ROOT: [u8; 32] = [1; 32];
const CONVENOR: [u8; 32] = [2; 32];
const OPERATOR: [u8; 32] = [3; 32];
const FACILITATOR: [u8; 32] = [4; 32];
const SECRETARY: [u8; 32] = [5; 32];
const COUNCIL: [u8; 32] = [6; 32];
const DAY_MS: u64 = 86_400_000;

/// A state built by deciding and evolving events one by one, as the server does.
struct Scenario {
    state: DomainState,
    log_index: u64,
    now_ms: u64,
    last_hash: Hash256,
}

fn assembly() -> AssemblyId {
    AssemblyId::parse("test-assembly").expect("id")
}

fn stream(kind: StreamKind) -> String {
    kind.stream_name(&assembly())
}

impl Scenario {
    fn new() -> Scenario {
        Scenario {
            state: DomainState::new(TRUST_ROOT),
            log_index: 0,
            now_ms: 1_800_000_000_000,
            last_hash: Hash256::ZERO,
        }
    }

    /// When: proposes `event` by `author`; on acceptance records it. Returns the decision.
    fn when(&mut self, author: [u8; 32], event: DomainEvent) -> Result<Acceptance, Rejection> {
        let stream = stream(event.stream_kind());
        let acceptance = self
            .state
            .decide(&event, Proposal { stream: &stream, author: &author, recorded_at_unix_ms: self.now_ms })?;
        self.last_hash = Hash256::of(&self.log_index.to_be_bytes());
        self.state.evolve(
            &event,
            Recorded {
                stream: &stream,
                author: &author,
                recorded_at_unix_ms: self.now_ms,
                event_hash: self.last_hash,
                log_index: self.log_index,
            },
        );
        self.log_index += 1;
        Ok(acceptance)
    }

    /// Given: the event must be accepted.
    fn given(&mut self, author: [u8; 32], event: DomainEvent) -> &mut Scenario {
        self.when(author, event.clone()).unwrap_or_else(|r| panic!("given {event:?} was rejected: {r}"));
        self
    }

    fn then_rejected(&mut self, author: [u8; 32], event: DomainEvent, rule: &str) {
        match self.when(author, event) {
            Err(Rejection::RuleBroken { rule: got, .. }) | Err(Rejection::NotAuthorised { rule: got, .. }) => {
                assert_eq!(got.as_str(), rule)
            }
            Ok(_) => panic!("expected rejection by {rule}, but it was accepted"),
        }
    }

    fn grant(&mut self, key: [u8; 32], role: Role) -> &mut Scenario {
        self.given(
            TRUST_ROOT,
            DomainEvent::KeyGranted(KeyGranted {
                public_key: key,
                role,
                scope: Scope::Assembly(assembly()),
                holder_title: "officer".into(),
            }),
        )
    }

    fn with_roles() -> Scenario {
        let mut s = Scenario::new();
        s.grant(CONVENOR, Role::Convenor)
            .grant(OPERATOR, Role::SelectionOperator)
            .grant(FACILITATOR, Role::Facilitator)
            .grant(SECRETARY, Role::PanelSecretary)
            .grant(COUNCIL, Role::CouncilDecisionMaker);
        s
    }

    fn convened() -> Scenario {
        let mut s = Scenario::with_roles();
        s.given(CONVENOR, convened_event());
        s
    }

    fn with_panel() -> Scenario {
        let mut s = Scenario::convened();
        s.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
        s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
        s.given(
            OPERATOR,
            DomainEvent::PanelDrawn(PanelDrawn {
                seed: SEED.to_vec(),
                member_ids: panel_ids(),
                reserve_member_ids: Vec::new(),
            }),
        );
        s
    }

    fn with_adopted(id: &str) -> (Scenario, Hash256) {
        let mut s = Scenario::with_panel();
        s.given(SECRETARY, draft(id));
        s.given(SECRETARY, vote(id, 3, 1, 0));
        s.given(SECRETARY, adopt(id, 3, 1, 0));
        let hash = s.last_hash;
        (s, hash)
    }
}

fn convened_event() -> DomainEvent {
    DomainEvent::AssemblyConvened(AssemblyConvened {
        assembly_id: assembly(),
        council: "Example Council".into(),
        remit_question: "How should we cut emissions?".into(),
        area: "Example".into(),
        starts_on: Date::parse("2026-01-10").expect("date"),
        ends_on: Date::parse("2026-03-10").expect("date"),
        panel_size: 4,
        adoption_threshold_percent: 75,
        response_deadline_days: 56,
    })
}

const SEED: &[u8] = b"a seed of at least sixteen bytes";

fn quotas() -> Vec<Quota> {
    vec![
        Quota { feature: "age".into(), value: "young".into(), min: 1, max: 3 },
        Quota { feature: "age".into(), value: "old".into(), min: 1, max: 3 },
    ]
}

fn pool() -> PoolRegistered {
    let members = (0..8)
        .map(|i| PoolMember {
            id: format!("p{i}"),
            household: None,
            letter: None,
            features: vec![("age".into(), if i % 2 == 0 { "young" } else { "old" }.into())],
        })
        .collect();
    PoolRegistered { members, payload_hash: Hash256::of(b"pool payload") }
}

fn plan() -> SelectionPlanned {
    SelectionPlanned {
        panel_size: 4,
        quotas: quotas(),
        // A plan without a published lottery; `leximin_plan` commits to one.
        algorithm: "hand-picked test panel".into(),
        algorithm_version: "1".into(),
        pool_commitment: Hash256::of(b"pool payload"),
        seed_commitment: Hash256::of(SEED),
        randomness_source: "commit-reveal".into(),
        reserve_count: 0,
    }
}

fn panel_ids() -> Vec<String> {
    vec!["p0".into(), "p1".into(), "p2".into(), "p3".into()]
}

fn draft(id: &str) -> DomainEvent {
    DomainEvent::RecommendationDrafted(RecommendationDrafted {
        recommendation_id: id.into(),
        title: "t".into(),
        text_hash: Hash256::of(id.as_bytes()),
    })
}

fn vote(id: &str, in_favour: u32, against: u32, abstaining: u32) -> DomainEvent {
    DomainEvent::VoteRecorded(VoteRecorded {
        recommendation_id: id.into(),
        tally: Tally { in_favour, against, abstaining },
    })
}

fn adopt(id: &str, in_favour: u32, against: u32, abstaining: u32) -> DomainEvent {
    DomainEvent::RecommendationAdopted(RecommendationAdopted {
        recommendation_id: id.into(),
        final_text_hash: Hash256::of(id.as_bytes()),
        tally: Tally { in_favour, against, abstaining },
    })
}

fn response(hash: Hash256, decision: Decision) -> DomainEvent {
    DomainEvent::ResponseIssued(ResponseIssued {
        recommendation_event_hash: hash,
        decision,
        rationale: "because".into(),
        responsible_body: "Transport Committee".into(),
        due_on: Date::parse("2026-12-01").expect("date"),
    })
}

fn update(hash: Hash256) -> DomainEvent {
    DomainEvent::ImplementationUpdated(ImplementationUpdated {
        recommendation_event_hash: hash,
        status: ImplementationStatus::InProgress,
        progress_percent: 10,
        note: "started".into(),
        evidence_hash: None,
    })
}

fn session(number: u32, attendance: u32) -> DomainEvent {
    DomainEvent::SessionHeld(SessionHeld {
        session_number: number,
        held_on: Date::parse("2026-01-10").expect("date"),
        agenda: "a".into(),
        attendance_count: attendance,
    })
}

#[test]
fn nothing_happens_before_the_assembly_is_convened() {
    Scenario::with_roles().then_rejected(OPERATOR, DomainEvent::SelectionPlanned(plan()), "assembly.convened_first");
    Scenario::convened().then_rejected(CONVENOR, convened_event(), "assembly.convened_once");
}

#[test]
fn only_the_trust_root_grants_and_only_granted_roles_author() {
    let mut s = Scenario::new();
    s.then_rejected(
        CONVENOR,
        DomainEvent::KeyGranted(KeyGranted {
            public_key: CONVENOR,
            role: Role::Convenor,
            scope: Scope::AllAssemblies,
            holder_title: "x".into(),
        }),
        "registry.trust_root_only",
    );
    s.then_rejected(CONVENOR, convened_event(), "authority.role_required");
    let mut s = Scenario::with_roles();
    s.then_rejected(FACILITATOR, convened_event(), "authority.role_required");
    s.given(
        TRUST_ROOT,
        DomainEvent::KeyRevoked(KeyRevoked {
            public_key: CONVENOR,
            role: Role::Convenor,
            scope: Scope::Assembly(assembly()),
            reason: "rotated".into(),
        }),
    );
    s.then_rejected(CONVENOR, convened_event(), "authority.key_revoked");
    s.then_rejected(
        TRUST_ROOT,
        DomainEvent::KeyRevoked(KeyRevoked {
            public_key: CONVENOR,
            role: Role::Convenor,
            scope: Scope::Assembly(assembly()),
            reason: "again".into(),
        }),
        "registry.revoke_requires_grant",
    );
}

#[test]
fn a_grant_for_another_assembly_does_not_cover_this_one() {
    let mut s = Scenario::new();
    let other = AssemblyId::parse("other").expect("id");
    s.given(
        TRUST_ROOT,
        DomainEvent::KeyGranted(KeyGranted {
            public_key: CONVENOR,
            role: Role::Convenor,
            scope: Scope::Assembly(other),
            holder_title: "x".into(),
        }),
    );
    s.then_rejected(CONVENOR, convened_event(), "authority.role_required");
    s.given(
        TRUST_ROOT,
        DomainEvent::KeyGranted(KeyGranted {
            public_key: CONVENOR,
            role: Role::Convenor,
            scope: Scope::AllAssemblies,
            holder_title: "x".into(),
        }),
    );
    s.given(CONVENOR, convened_event());
}

#[test]
fn a_panel_needs_a_plan_a_pool_a_matching_seed_and_the_quotas() {
    let mut s = Scenario::convened();
    let drawn = |seed: &[u8], ids: Vec<String>| {
        DomainEvent::PanelDrawn(PanelDrawn { seed: seed.to_vec(), member_ids: ids, reserve_member_ids: Vec::new() })
    };
    s.then_rejected(OPERATOR, drawn(SEED, panel_ids()), "selection.draw_after_pool");
    s.then_rejected(OPERATOR, DomainEvent::PoolRegistered(pool()), "selection.pool_after_plan");
    s.then_rejected(
        OPERATOR,
        DomainEvent::SelectionPlanned(SelectionPlanned { panel_size: 5, ..plan() }),
        "selection.panel_size_matches",
    );
    s.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    s.then_rejected(
        OPERATOR,
        DomainEvent::PoolRegistered(PoolRegistered { payload_hash: Hash256::of(b"other"), ..pool() }),
        "selection.pool_matches_commitment",
    );
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    s.then_rejected(
        OPERATOR,
        drawn(b"a different seed of sixteen bytes", panel_ids()),
        "selection.seed_matches_commitment",
    );
    s.then_rejected(OPERATOR, drawn(SEED, vec!["p0".into(), "p1".into(), "p2".into()]), "selection.panel_size");
    s.then_rejected(
        OPERATOR,
        drawn(SEED, vec!["p0".into(), "p1".into(), "p2".into(), "stranger".into()]),
        "selection.panel_from_pool",
    );
    // Four young members break the "old: at least 1" and "young: at most 3" quotas.
    s.then_rejected(
        OPERATOR,
        drawn(SEED, vec!["p0".into(), "p2".into(), "p4".into(), "p6".into()]),
        "selection.panel_meets_quotas",
    );
    s.given(OPERATOR, drawn(SEED, panel_ids()));
    s.then_rejected(OPERATOR, drawn(SEED, panel_ids()), "selection.drawn_once");
}

#[test]
fn replacements_follow_withdrawals_and_are_new_people() {
    let mut s = Scenario::with_panel();
    let replace = |old: &str, new: &str| {
        DomainEvent::ReplacementDrawn(ReplacementDrawn {
            withdrawn_member_id: old.into(),
            replacement_member_id: new.into(),
        })
    };
    s.then_rejected(OPERATOR, replace("p1", "p5"), "selection.replace_withdrawn");
    s.then_rejected(
        OPERATOR,
        DomainEvent::MemberWithdrew(MemberWithdrew { member_id: "p7".into(), reason: WithdrawalReason::Personal }),
        "selection.withdraw_seated",
    );
    s.given(
        OPERATOR,
        DomainEvent::MemberWithdrew(MemberWithdrew { member_id: "p1".into(), reason: WithdrawalReason::Personal }),
    );
    s.then_rejected(OPERATOR, replace("p1", "p0"), "selection.replacement_is_new");
    s.then_rejected(OPERATOR, replace("p1", "nobody"), "selection.panel_from_pool");
    s.given(OPERATOR, replace("p1", "p5"));
    s.then_rejected(OPERATOR, replace("p1", "p7"), "selection.replace_withdrawn");
    assert_eq!(s.state.assembly(&assembly()).expect("assembly").seated_count(), 4);
}

#[test]
fn sessions_run_in_order_and_evidence_needs_a_held_session() {
    let mut s = Scenario::convened();
    s.then_rejected(FACILITATOR, session(1, 4), "deliberation.after_panel");
    let mut s = Scenario::with_panel();
    s.then_rejected(FACILITATOR, session(2, 4), "deliberation.session_sequence");
    s.then_rejected(FACILITATOR, session(1, 5), "deliberation.attendance_within_panel");
    let evidence = DomainEvent::EvidencePresented(EvidencePresented {
        session_number: 1,
        speaker_role: "economist".into(),
        title: "t".into(),
        content_hash: Hash256::of(b"slides"),
        media_type: "application/pdf".into(),
    });
    s.then_rejected(FACILITATOR, evidence.clone(), "deliberation.evidence_at_held_session");
    s.given(FACILITATOR, session(1, 4));
    s.given(FACILITATOR, evidence);
}

#[test]
fn votes_only_on_drafted_recommendations_and_adoption_needs_a_vote_meeting_the_threshold() {
    let mut s = Scenario::with_panel();
    s.then_rejected(SECRETARY, vote("R1", 3, 1, 0), "recommendation.exists");
    s.given(SECRETARY, draft("R1"));
    s.then_rejected(SECRETARY, draft("R1"), "recommendation.id_unique");
    s.then_rejected(SECRETARY, adopt("R1", 3, 1, 0), "recommendation.adoption_needs_vote");
    s.then_rejected(SECRETARY, vote("R1", 3, 1, 1), "recommendation.vote_within_panel");
    s.given(SECRETARY, vote("R1", 2, 2, 0));
    s.then_rejected(SECRETARY, adopt("R1", 2, 2, 0), "recommendation.adoption_meets_threshold");
    s.given(SECRETARY, vote("R1", 3, 1, 0));
    s.then_rejected(SECRETARY, adopt("R1", 3, 0, 1), "recommendation.adoption_matches_vote");
    // An amendment voids the earlier vote.
    s.given(
        SECRETARY,
        DomainEvent::RecommendationAmended(RecommendationAmended {
            recommendation_id: "R1".into(),
            text_hash: Hash256::of(b"R1 v2"),
            reason: "clarity".into(),
        }),
    );
    s.then_rejected(SECRETARY, adopt("R1", 3, 1, 0), "recommendation.adoption_needs_vote");
    s.given(SECRETARY, vote("R1", 3, 1, 0));
    s.then_rejected(SECRETARY, adopt("R1", 3, 1, 0), "recommendation.adoption_final_text");
    s.given(
        SECRETARY,
        DomainEvent::RecommendationAdopted(RecommendationAdopted {
            recommendation_id: "R1".into(),
            final_text_hash: Hash256::of(b"R1 v2"),
            tally: Tally { in_favour: 3, against: 1, abstaining: 0 },
        }),
    );
    s.then_rejected(SECRETARY, vote("R1", 3, 1, 0), "recommendation.drafted_only");
}

#[test]
fn a_response_answers_only_an_adopted_recommendation_by_its_exact_hash() {
    let (mut s, adopted) = Scenario::with_adopted("R1");
    s.then_rejected(
        COUNCIL,
        response(Hash256::of(b"not an adoption"), Decision::Accepted),
        "response.names_adopted_recommendation",
    );
    s.then_rejected(SECRETARY, response(adopted, Decision::Accepted), "authority.role_required");
    s.then_rejected(COUNCIL, update(adopted), "response.implementation_needs_acceptance");
    assert_eq!(
        s.when(COUNCIL, response(adopted, Decision::NotAccepted)).expect("accepted"),
        Acceptance { late: false }
    );
    s.then_rejected(COUNCIL, response(adopted, Decision::Accepted), "response.once_per_recommendation");
    s.then_rejected(COUNCIL, update(adopted), "response.implementation_needs_acceptance");
    s.given(
        COUNCIL,
        DomainEvent::ResponseAmended(ResponseAmended {
            recommendation_event_hash: adopted,
            decision: Decision::AcceptedInPart,
            rationale: "revisited".into(),
            responsible_body: "b".into(),
            due_on: Date::parse("2027-01-01").expect("date"),
            reason: "new budget".into(),
        }),
    );
    s.given(COUNCIL, update(adopted));
}

#[test]
fn a_response_after_the_deadline_is_recorded_as_late_not_refused() {
    let (mut s, adopted) = Scenario::with_adopted("R1");
    s.now_ms += 56 * DAY_MS + 1;
    assert_eq!(s.when(COUNCIL, response(adopted, Decision::Accepted)).expect("accepted"), Acceptance { late: true });
    let state = s.state.assembly(&assembly()).expect("assembly");
    assert!(state.responses[&adopted].late);
}

#[test]
fn events_must_go_to_their_own_stream() {
    let s = Scenario::convened();
    let event = session(1, 4);
    let wrong = stream(StreamKind::Selection);
    let rejection = s
        .state
        .decide(&event, Proposal { stream: &wrong, author: &FACILITATOR, recorded_at_unix_ms: 0 })
        .expect_err("wrong stream");
    assert!(matches!(rejection, Rejection::RuleBroken { rule: klero_domain::RuleCode::EventStreamMatches, .. }));
}

/// A LEXIMIN plan over the test pool, with its lottery computed by klero-selection.
fn leximin_plan() -> SelectionPlanned {
    SelectionPlanned { algorithm: "leximin".into(), ..plan() }
}

/// The selection instance of the test quotas over `pool`, households included.
fn instance_of(pool: &PoolRegistered) -> klero_selection::Instance {
    let quotas: Vec<klero_selection::Quota> = quotas()
        .iter()
        .map(|q| klero_selection::Quota { feature: q.feature.clone(), value: q.value.clone(), min: q.min, max: q.max })
        .collect();
    let people = pool.members.iter().map(|m| {
        let value_of = |feature: &str| m.features.iter().find(|(f, _)| f == feature).map(|(_, v)| v.as_str());
        klero_selection::Volunteer { id: &m.id, household: m.household.as_ref().map(|h| &h.0[..]), value_of }
    });
    klero_selection::Instance::group(&quotas, people, 4).expect("instance")
}

fn lottery_for_pool() -> (klero_selection::Instance, klero_selection::PublishedLottery) {
    let instance = instance_of(&pool());
    let distribution = klero_selection::leximin(&instance, std::time::Duration::from_secs(30)).expect("leximin");
    let lottery = klero_selection::publish(&distribution);
    (instance, lottery)
}

fn published(lottery: &klero_selection::PublishedLottery) -> DomainEvent {
    DomainEvent::LotteryPublished(LotteryPublished {
        panels: lottery.weights.iter().cloned().zip(lottery.panels.iter().cloned()).collect(),
    })
}

#[test]
fn a_leximin_panel_must_be_the_draw_from_the_published_lottery() {
    let (instance, lottery) = lottery_for_pool();
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(leximin_plan()));
    s.then_rejected(OPERATOR, published(&lottery), "selection.lottery_after_pool");
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    let drawn = klero_selection::draw(&instance, &lottery, SEED);
    s.then_rejected(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: drawn.clone(),
            reserve_member_ids: Vec::new(),
        }),
        "selection.draw_needs_lottery",
    );

    let mut heavy = lottery.clone();
    heavy.weights[0] += 1;
    s.then_rejected(OPERATOR, published(&heavy), "selection.lottery_meets_quotas");
    let mut lopsided = lottery.clone();
    lopsided.panels[0] = instance.types.iter().map(|t| t.members.len() as u32).collect();
    s.then_rejected(OPERATOR, published(&lopsided), "selection.lottery_meets_quotas");
    s.given(OPERATOR, published(&lottery));
    s.then_rejected(OPERATOR, published(&lottery), "selection.lottery_published_once");

    // A quota-meeting panel that the seed did not draw is refused.
    let other = (0..8).map(|i| format!("p{i}")).collect::<Vec<_>>();
    let alternative: Vec<String> = [0usize, 1, 2, 3, 4, 5, 6, 7]
        .iter()
        .map(|&i| {
            vec![
                other[i % 8].clone(),
                other[(i + 1) % 8].clone(),
                other[(i + 2) % 8].clone(),
                other[(i + 3) % 8].clone(),
            ]
        })
        .find(|candidate| {
            let mut sorted = candidate.clone();
            sorted.sort();
            sorted != drawn
        })
        .expect("another panel");
    s.then_rejected(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: alternative,
            reserve_member_ids: Vec::new(),
        }),
        "selection.panel_is_the_draw",
    );
    s.given(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: drawn.clone(),
            reserve_member_ids: Vec::new(),
        }),
    );

    // Replacements follow the same draw.
    let leaving = drawn[0].clone();
    s.given(
        OPERATOR,
        DomainEvent::MemberWithdrew(MemberWithdrew { member_id: leaving.clone(), reason: WithdrawalReason::Personal }),
    );
    let expected = klero_selection::draw_replacement(&instance, SEED, &leaving, &drawn).expect("replacement");
    let pool_ids: Vec<String> = pool().members.iter().map(|m| m.id.clone()).collect();
    let wrong = pool_ids.iter().find(|id| **id != expected && !drawn.contains(id)).expect("someone else").clone();
    let replace = |new: &str| {
        DomainEvent::ReplacementDrawn(ReplacementDrawn {
            withdrawn_member_id: leaving.clone(),
            replacement_member_id: new.into(),
        })
    };
    s.then_rejected(OPERATOR, replace(&wrong), "selection.replacement_is_the_draw");
    s.given(OPERATOR, replace(&expected));
}

/// The test pool with households: p0 (young) lives with p1 (old), and p2 with p4 (both young).
fn pool_with_households() -> PoolRegistered {
    let mut pool = pool();
    for member in &mut pool.members {
        member.household = match member.id.as_str() {
            "p0" | "p1" => Some(Hash256::of(b"household one")),
            "p2" | "p4" => Some(Hash256::of(b"household two")),
            _ => None,
        };
    }
    pool
}

/// Households on the record (FORMAT.md §9): a lottery, a drawn panel or a replacement that
/// seats two volunteers of one household is refused, whatever the plan, and the LEXIMIN lottery
/// computed under the constraint passes, as do its draw and its replacements.
#[test]
fn no_panel_on_the_record_seats_two_of_one_household() {
    // Without a lottery: a quota-meeting panel with p0 and p1 is refused by the household rule.
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool_with_households()));
    let housemates = vec!["p0".to_string(), "p1".into(), "p3".into(), "p6".into()];
    s.then_rejected(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: housemates,
            reserve_member_ids: Vec::new(),
        }),
        "selection.panel_keeps_households_apart",
    );
    let apart = vec!["p0".to_string(), "p3".into(), "p5".into(), "p6".into()];
    s.given(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn { seed: SEED.to_vec(), member_ids: apart, reserve_member_ids: Vec::new() }),
    );
    s.given(
        OPERATOR,
        DomainEvent::MemberWithdrew(MemberWithdrew { member_id: "p3".into(), reason: WithdrawalReason::Personal }),
    );
    let replace = |new: &str| {
        DomainEvent::ReplacementDrawn(ReplacementDrawn {
            withdrawn_member_id: "p3".into(),
            replacement_member_id: new.into(),
        })
    };
    s.then_rejected(OPERATOR, replace("p1"), "selection.panel_keeps_households_apart");
    s.given(OPERATOR, replace("p7"));

    // With a LEXIMIN lottery computed under the households.
    let pool = pool_with_households();
    let instance = instance_of(&pool);
    assert_eq!(instance.households.len(), 2);
    let distribution = klero_selection::leximin(&instance, std::time::Duration::from_secs(30)).expect("leximin");
    let lottery = klero_selection::publish(&distribution);
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(leximin_plan()));
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool.clone()));
    // A forged lottery: its first panel moves a seat to a housemate, keeping the quotas.
    let mut forged = lottery.clone();
    let p0 = instance.type_of("p0").expect("p0");
    let p1 = instance.type_of("p1").expect("p1");
    let young_alone = instance.type_of("p6").expect("p6");
    let old_alone = instance.type_of("p3").expect("p3");
    forged.panels[0] = vec![0; instance.types.len()];
    forged.panels[0][p0] = 1;
    forged.panels[0][p1] = 1;
    forged.panels[0][young_alone] = 1;
    forged.panels[0][old_alone] = 1;
    assert!(instance.panel_meets_quotas(&forged.panels[0]));
    s.then_rejected(OPERATOR, published(&forged), "selection.lottery_keeps_households_apart");
    s.given(OPERATOR, published(&lottery));
    let drawn = klero_selection::draw(&instance, &lottery, SEED);
    s.given(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: drawn.clone(),
            reserve_member_ids: Vec::new(),
        }),
    );
    // Every replacement, one after another, is the draw's and keeps households apart.
    let mut ever_seated = drawn.clone();
    let mut seated = drawn.clone();
    while let Some(leaving) = seated.first().cloned() {
        let Ok(replacement) = klero_selection::draw_replacement(&instance, SEED, &leaving, &ever_seated) else {
            break;
        };
        s.given(
            OPERATOR,
            DomainEvent::MemberWithdrew(MemberWithdrew {
                member_id: leaving.clone(),
                reason: WithdrawalReason::Personal,
            }),
        );
        s.given(
            OPERATOR,
            DomainEvent::ReplacementDrawn(ReplacementDrawn {
                withdrawn_member_id: leaving.clone(),
                replacement_member_id: replacement.clone(),
            }),
        );
        seated.retain(|m| *m != leaving);
        seated.push(replacement.clone());
        ever_seated.push(replacement);
    }
    let households_seated: Vec<Option<Hash256>> = ever_seated
        .iter()
        .map(|id| pool.members.iter().find(|m| m.id == *id).and_then(|m| m.household))
        .filter(Option::is_some)
        .collect();
    let distinct: std::collections::BTreeSet<_> = households_seated.iter().collect();
    assert_eq!(distinct.len(), households_seated.len(), "no household was ever seated twice: {ever_seated:?}");
}

fn rejection_code(result: Result<Acceptance, Rejection>) -> &'static str {
    result.expect_err("refused").rule().as_str()
}

#[test]
fn each_event_goes_to_its_own_stream() {
    let s = Scenario::with_panel();
    let proposal = |stream| Proposal { stream, author: &SECRETARY, recorded_at_unix_ms: s.now_ms };
    let deliberation = stream(StreamKind::Deliberation);
    assert_eq!(rejection_code(s.state.decide(&draft("R1"), proposal(&deliberation))), "event.stream_matches");
    assert_eq!(rejection_code(s.state.decide(&draft("R1"), proposal("elsewhere"))), "event.stream_matches");
    assert_eq!(rejection_code(s.state.decide(&draft("R1"), proposal("registry"))), "event.stream_matches");
}

#[test]
fn an_assembly_ends_on_or_after_the_day_it_starts() {
    let DomainEvent::AssemblyConvened(mut backwards) = convened_event() else { unreachable!() };
    backwards.ends_on = Date::parse("2026-01-01").expect("date");
    Scenario::with_roles().then_rejected(CONVENOR, DomainEvent::AssemblyConvened(backwards), "assembly.dates_ordered");
}

#[test]
fn a_key_is_not_granted_a_role_it_already_holds() {
    let grant = DomainEvent::KeyGranted(KeyGranted {
        public_key: CONVENOR,
        role: Role::Convenor,
        scope: Scope::Assembly(assembly()),
        holder_title: "again".into(),
    });
    Scenario::with_roles().then_rejected(TRUST_ROOT, grant, "registry.grant_not_duplicate");
}

#[test]
fn the_selection_is_planned_once_with_quotas_that_can_fill_the_panel() {
    let mut s = Scenario::convened();
    let mut impossible = plan();
    impossible.quotas[0].min = 3;
    impossible.quotas[1].min = 3;
    s.then_rejected(OPERATOR, DomainEvent::SelectionPlanned(impossible), "selection.quotas_can_fill_panel");
    s.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    s.then_rejected(OPERATOR, DomainEvent::SelectionPlanned(plan()), "selection.planned_once");
}

#[test]
fn the_pool_is_registered_once_large_enough_and_within_the_quotas() {
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    let mut without_age = pool();
    without_age.members[3].features.clear();
    s.then_rejected(OPERATOR, DomainEvent::PoolRegistered(without_age), "selection.pool_has_quota_features");
    let mut too_few = pool();
    too_few.members.truncate(3);
    s.then_rejected(OPERATOR, DomainEvent::PoolRegistered(too_few), "selection.pool_large_enough");
    let mut unquoted = pool();
    unquoted.members[5].features[0].1 = "middle".into();
    s.then_rejected(OPERATOR, DomainEvent::PoolRegistered(unquoted), "selection.pool_values_have_quotas");
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    s.then_rejected(OPERATOR, DomainEvent::PoolRegistered(pool()), "selection.pool_registered_once");
}

#[test]
fn a_lottery_comes_before_the_draw() {
    let lottery = DomainEvent::LotteryPublished(LotteryPublished { panels: vec![(1_000_000_000, vec![2, 2])] });
    Scenario::with_panel().then_rejected(OPERATOR, lottery, "selection.lottery_before_draw");
}

#[test]
fn recommendations_need_a_panel_and_the_final_report_comes_once_after_an_adoption() {
    Scenario::convened().then_rejected(SECRETARY, draft("R1"), "recommendation.after_panel");
    let report = || DomainEvent::FinalReportPublished(FinalReportPublished { content_hash: Hash256::of(b"report") });
    Scenario::with_panel().then_rejected(SECRETARY, report(), "recommendation.report_after_adoption");
    let (mut s, _) = Scenario::with_adopted("R1");
    s.given(SECRETARY, report());
    s.then_rejected(SECRETARY, report(), "recommendation.report_once");
}

#[test]
fn only_an_issued_response_is_amended() {
    let (mut s, adoption) = Scenario::with_adopted("R1");
    let amended = DomainEvent::ResponseAmended(ResponseAmended {
        recommendation_event_hash: adoption,
        decision: Decision::Accepted,
        rationale: "because".into(),
        responsible_body: "Cabinet".into(),
        due_on: Date::parse("2026-12-01").expect("date"),
        reason: "changed".into(),
    });
    s.then_rejected(COUNCIL, amended, "response.amend_existing");
}

/// Issue 13: once every volunteer of a type has been seated, a withdrawal of that type cannot
/// be replaced. The withdrawal stands, the panel goes on a seat short, and a replacement is
/// refused with a message that says why.
#[test]
fn a_withdrawal_whose_type_is_exhausted_cannot_be_replaced() {
    let (instance, lottery) = lottery_for_pool();
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(leximin_plan()));
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    s.given(OPERATOR, published(&lottery));
    let drawn = klero_selection::draw(&instance, &lottery, SEED);
    s.given(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: drawn.clone(),
            reserve_member_ids: Vec::new(),
        }),
    );
    // Withdraw members of one type, replacing each, until no one of that type is left.
    let mut ever_seated = drawn.clone();
    let mut leaving = drawn[0].clone();
    loop {
        s.given(
            OPERATOR,
            DomainEvent::MemberWithdrew(MemberWithdrew {
                member_id: leaving.clone(),
                reason: WithdrawalReason::Personal,
            }),
        );
        match klero_selection::draw_replacement(&instance, SEED, &leaving, &ever_seated) {
            Ok(next) => {
                s.given(
                    OPERATOR,
                    DomainEvent::ReplacementDrawn(ReplacementDrawn {
                        withdrawn_member_id: leaving.clone(),
                        replacement_member_id: next.clone(),
                    }),
                );
                ever_seated.push(next.clone());
                leaving = next;
            }
            Err(error) => {
                assert!(error.to_string().contains("every volunteer with their values has been seated"), "{error}");
                break;
            }
        }
    }
    let unseated = pool().members.iter().map(|m| m.id.clone()).find(|id| !ever_seated.contains(id)).expect("someone");
    let refused = s.when(
        OPERATOR,
        DomainEvent::ReplacementDrawn(ReplacementDrawn {
            withdrawn_member_id: leaving.clone(),
            replacement_member_id: unseated,
        }),
    );
    let rejection = refused.expect_err("no replacement is possible");
    assert_eq!(rejection.rule().as_str(), "selection.replacement_is_the_draw");
    assert!(rejection.to_string().contains(&format!("no replacement can be drawn for {leaving}")), "{rejection}");
    let seated = s.state.assembly(&assembly()).expect("assembly").selection.seated.len();
    assert_eq!(seated, 3, "the panel goes on one seat short");
}

#[test]
fn an_author_may_sign_at_most_30_days_before_the_recording_and_5_minutes_after() {
    let recorded = 1_800_000_000_000;
    for authored in [recorded, recorded - 30 * DAY_MS, recorded + 5 * 60 * 1000, recorded - 1] {
        assert_eq!(check_authored_at(authored, recorded), Ok(()), "authored at {authored}");
    }
    for authored in [0, 1, recorded - 30 * DAY_MS - 1, recorded + 5 * 60 * 1000 + 1, u64::MAX] {
        let rejection = check_authored_at(authored, recorded).expect_err("implausible");
        assert_eq!(rejection.rule(), RuleCode::EventAuthoredAtPlausible, "authored at {authored}");
        assert!(rejection.to_string().contains(&authored.to_string()), "{rejection}");
    }
    // Near the ends of the clock the window saturates rather than wraps.
    assert_eq!(check_authored_at(0, 0), Ok(()));
    assert_eq!(check_authored_at(u64::MAX, u64::MAX), Ok(()));
}

fn cites(id: &str, text: &str, inputs: &[Hash256]) -> DomainEvent {
    DomainEvent::RecommendationInputsCited(RecommendationInputsCited {
        recommendation_id: id.into(),
        text_hash: Hash256::of(text.as_bytes()),
        citations: inputs.iter().map(|h| InputCitation { input_event_hash: *h, note: "used".into() }).collect(),
    })
}

fn considers(adoption: Hash256, inputs: &[Hash256]) -> DomainEvent {
    DomainEvent::ResponseInputsConsidered(ResponseInputsConsidered {
        recommendation_event_hash: adoption,
        citations: inputs.iter().map(|h| InputCitation { input_event_hash: *h, note: "weighed".into() }).collect(),
        letter_hash: None,
    })
}

fn submitted(s: &mut Scenario, submitter: &str) -> Hash256 {
    s.given(
        FACILITATOR,
        DomainEvent::PublicSubmissionReceived(PublicSubmissionReceived {
            submitter_id: submitter.into(),
            content: SubmissionContent::Document(Hash256::of(submitter.as_bytes())),
            received_on: Date::parse("2026-01-21").expect("date"),
        }),
    );
    s.last_hash
}

/// Convenes a second assembly and records a public submission (a personal document) there,
/// as a replay of the log does; returns the assembly and the submission's event hash.
fn another_assembly_with_a_submission(s: &mut Scenario) -> (AssemblyId, Hash256) {
    let other = AssemblyId::parse("other-assembly").expect("id");
    let DomainEvent::AssemblyConvened(mut convened) = convened_event() else { unreachable!() };
    convened.assembly_id = other.clone();
    let submission = Hash256::of(b"a submission to the other assembly");
    let submitted = DomainEvent::PublicSubmissionReceived(PublicSubmissionReceived {
        submitter_id: "resident-9".into(),
        content: SubmissionContent::Document(Hash256::of(b"resident-9")),
        received_on: Date::parse("2026-01-21").expect("date"),
    });
    let convened = DomainEvent::AssemblyConvened(convened);
    for (event, hash, log_index) in [(convened, Hash256::of(b"other convened"), 1_000), (submitted, submission, 1_001)]
    {
        let stream = event.stream_kind().stream_name(&other);
        let recorded =
            Recorded { stream: &stream, author: &CONVENOR, recorded_at_unix_ms: s.now_ms, event_hash: hash, log_index };
        s.state.evolve(&event, recorded);
    }
    (other, submission)
}

/// Issue 14: a recommendation cites inputs recorded in its assembly, for its current text.
#[test]
fn a_recommendation_cites_recorded_inputs_for_its_current_text() {
    let mut s = Scenario::with_panel();
    let input = submitted(&mut s, "resident-1");
    s.given(SECRETARY, draft("R1"));
    s.given(SECRETARY, cites("R1", "R1", &[input]));
    // An input that is not recorded, or a recommendation event posing as one, is refused.
    let not_an_input = s.last_hash;
    s.then_rejected(SECRETARY, cites("R1", "R1", &[input, Hash256::of(b"nothing")]), "citation.names_recorded_input");
    s.then_rejected(SECRETARY, cites("R1", "R1", &[not_an_input]), "citation.names_recorded_input");
    // Issue 29: every assembly's inputs are kept in one table, so an input of another
    // assembly (a transplanted citation) must still be refused.
    let (other, elsewhere) = another_assembly_with_a_submission(&mut s);
    assert!(s.state.inputs().is_input_of(&other, &elsewhere));
    s.then_rejected(SECRETARY, cites("R1", "R1", &[elsewhere]), "citation.names_recorded_input");
    // Only the current text can be cited for; after an amendment, the amended text.
    s.given(
        SECRETARY,
        DomainEvent::RecommendationAmended(RecommendationAmended {
            recommendation_id: "R1".into(),
            text_hash: Hash256::of(b"R1 amended"),
            reason: "clearer".into(),
        }),
    );
    s.then_rejected(SECRETARY, cites("R1", "R1", &[input]), "citation.current_text");
    s.given(SECRETARY, cites("R1", "R1 amended", &[input]));
    s.then_rejected(SECRETARY, cites("R9", "R9", &[input]), "recommendation.exists");
    s.given(
        SECRETARY,
        DomainEvent::RecommendationWithdrawn(RecommendationWithdrawn {
            recommendation_id: "R1".into(),
            reason: "x".into(),
        }),
    );
    s.then_rejected(SECRETARY, cites("R1", "R1 amended", &[input]), "citation.current_text");
}

/// Issue 14: a response records what it considered once it is issued, and only recorded
/// inputs; an input recorded in another assembly is not one of this assembly's.
#[test]
fn a_response_cites_recorded_inputs_after_it_is_issued() {
    let (mut s, adoption) = Scenario::with_adopted("R1");
    let input = submitted(&mut s, "resident-2");
    s.then_rejected(COUNCIL, considers(adoption, &[input]), "citation.after_response");
    s.given(COUNCIL, response(adoption, Decision::Accepted));
    s.given(COUNCIL, considers(adoption, &[input]));
    s.then_rejected(COUNCIL, considers(adoption, &[Hash256::of(b"elsewhere")]), "citation.names_recorded_input");
    s.then_rejected(COUNCIL, considers(Hash256::of(b"no adoption"), &[input]), "response.names_adopted_recommendation");
}

const OFFICER: [u8; 32] = [7; 32];

fn sealed_submission(s: &mut Scenario, submitter: &str) -> Hash256 {
    let key = personal::DataKey([9; 32]);
    let sealed = personal::seal(&key, [1; 24], [2; 32], &[3; 16], "sealed_text", "I live on Mill Lane.");
    s.given(
        FACILITATOR,
        DomainEvent::PublicSubmissionReceived(PublicSubmissionReceived {
            submitter_id: submitter.into(),
            content: SubmissionContent::Sealed(sealed),
            received_on: Date::parse("2026-01-21").expect("date"),
        }),
    );
    s.last_hash
}

fn erase(event_hash: Hash256) -> DomainEvent {
    DomainEvent::ContentErased(ContentErased {
        event_hash,
        legal_basis: "UK GDPR Art. 17(1)(b)".into(),
        erased_on: Date::parse("2026-03-01").expect("date"),
    })
}

/// Issue 19: only the data protection officer erases, only personal content of the assembly,
/// and only once; plain text in the log is not erasable.
#[test]
fn personal_content_is_erased_once_by_the_data_protection_officer() {
    let mut s = Scenario::with_panel();
    let sealed = sealed_submission(&mut s, "resident-1");
    let with_document = submitted(&mut s, "resident-2");
    s.given(FACILITATOR, session(1, 4));
    // Not granted the role: refused whoever asks.
    s.then_rejected(FACILITATOR, erase(sealed), "authority.role_required");
    s.grant(OFFICER, Role::DataProtectionOfficer);
    // A plain-text event, or an unknown hash, holds nothing that can be erased.
    let plain_session = {
        s.given(FACILITATOR, session(2, 4));
        s.last_hash
    };
    s.then_rejected(OFFICER, erase(plain_session), "privacy.erasure_names_personal_content");
    s.then_rejected(OFFICER, erase(Hash256::of(b"nothing")), "privacy.erasure_names_personal_content");
    s.given(OFFICER, erase(sealed));
    s.given(OFFICER, erase(with_document));
    s.then_rejected(OFFICER, erase(sealed), "privacy.erased_once");
    let item = s.state.personal_item(&assembly(), &sealed).expect("a personal item");
    let erasure = item.erasure.as_ref().expect("erased");
    assert_eq!(erasure.legal_basis, "UK GDPR Art. 17(1)(b)");
}

/// Issue 29: every assembly's personal items are rows of one table, and an assembly's
/// erasures are its own. An erasure that names another assembly's item (transplanted) is
/// refused, and so is a second erasure of one item in the same batch.
#[test]
fn an_erasure_names_an_item_of_its_own_assembly_once_even_within_a_batch() {
    let mut s = Scenario::with_panel();
    s.grant(OFFICER, Role::DataProtectionOfficer);
    let ours = sealed_submission(&mut s, "resident-1");
    let (other, theirs) = another_assembly_with_a_submission(&mut s);
    assert!(s.state.personal_item(&other, &theirs).is_some());
    assert!(s.state.personal_item(&assembly(), &theirs).is_none());
    s.then_rejected(OFFICER, erase(theirs), "privacy.erasure_names_personal_content");
    let stream = stream(StreamKind::Assembly);
    let proposal = Proposal { stream: &stream, author: &OFFICER, recorded_at_unix_ms: s.now_ms };
    match s.state.decide_batch(&[erase(ours), erase(ours)], proposal) {
        Err((1, rejection)) => assert_eq!(rejection.rule().as_str(), "privacy.erased_once"),
        other => panic!("the second erasure in the batch must be refused, got {other:?}"),
    }
    s.given(OFFICER, erase(ours));
    assert!(s.state.personal_items(&assembly()).all(|(hash, item)| item.erasure.is_some() == (hash == ours)));
}

/// Issue 19: a retention period is set once, and makes an item's erasure due that many days
/// after it was recorded.
#[test]
fn the_retention_period_is_set_once_and_dates_each_erasure() {
    let mut s = Scenario::with_panel();
    s.grant(OFFICER, Role::DataProtectionOfficer);
    let recorded_at = s.now_ms;
    let item = sealed_submission(&mut s, "resident-1");
    let retention = |days| DomainEvent::PersonalDataRetentionSet(PersonalDataRetentionSet { retention_days: days });
    assert_eq!(s.state.assembly(&assembly()).expect("a").erasure_due_at_unix_ms(recorded_at), None);
    s.given(OFFICER, retention(30));
    s.then_rejected(OFFICER, retention(60), "privacy.retention_set_once");
    let state = s.state.assembly(&assembly()).expect("assembly");
    assert_eq!(s.state.personal_item(&assembly(), &item).expect("item").recorded_at_unix_ms, recorded_at);
    assert_eq!(state.erasure_due_at_unix_ms(recorded_at), Some(recorded_at + 30 * DAY_MS));
}

/// Reserves on the record (FORMAT.md §9, steps 4 and 5). The reserve list must be exactly the
/// seed's: omitted, truncated, padded, reordered, transplanted from another seed, or given when
/// the plan asks for none, it is refused. Replacements come from the waiting reserves, in the
/// rule's order, and from the pool only once every reserve has been seated.
#[test]
fn the_reserve_list_and_every_replacement_are_the_seeds() {
    // Sixteen volunteers, young and old in turn; p0 lives with p1, and p2 with p4.
    let mut pool = pool_with_households();
    pool.members.extend((8..16).map(|i| PoolMember {
        id: format!("p{i}"),
        household: None,
        letter: None,
        features: vec![("age".into(), if i % 2 == 0 { "young" } else { "old" }.into())],
    }));
    let instance = instance_of(&pool);
    let distribution = klero_selection::leximin(&instance, std::time::Duration::from_secs(30)).expect("leximin");
    let lottery = klero_selection::publish(&distribution);
    let plan = SelectionPlanned { reserve_count: 6, ..leximin_plan() };
    let drawn = klero_selection::draw(&instance, &lottery, SEED);
    let reserves = klero_selection::draw_reserves(&instance, SEED, &drawn, 6);
    assert_eq!(reserves.len(), 6, "{reserves:?}");
    let panel_drawn = |reserve_member_ids: Vec<String>| {
        DomainEvent::PanelDrawn(PanelDrawn { seed: SEED.to_vec(), member_ids: drawn.clone(), reserve_member_ids })
    };

    // A plan without reserves takes no list.
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(leximin_plan()));
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool.clone()));
    s.given(OPERATOR, published(&lottery));
    s.then_rejected(OPERATOR, panel_drawn(reserves.clone()), "selection.reserves_are_the_draw");

    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(plan));
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool.clone()));
    s.given(OPERATOR, published(&lottery));
    let mut reordered = reserves.clone();
    reordered.swap(0, 1);
    let other_seed = b"another seed, not the one committed";
    let transplanted = klero_selection::draw_reserves(&instance, other_seed, &drawn, 6);
    assert_ne!(transplanted, reserves, "another seed draws another list");
    let stranger = pool.members.iter().map(|m| &m.id).find(|id| !drawn.contains(id) && !reserves.contains(id));
    let mut padded = reserves.clone();
    padded.extend(stranger.cloned());
    let mut swapped_in = reserves.clone();
    swapped_in[5] = stranger.expect("someone neither seated nor reserved").clone();
    for lie in [Vec::new(), reserves[..5].to_vec(), padded, reordered, transplanted, swapped_in] {
        s.then_rejected(OPERATOR, panel_drawn(lie), "selection.reserves_are_the_draw");
    }
    s.given(OPERATOR, panel_drawn(reserves.clone()));

    // Withdrawals, each replaced as the rule says, until the reserves are used up and the pool
    // rule takes over. Before each honest replacement, every other candidate is refused.
    let mut seated = drawn.clone();
    let mut ever_seated = drawn.clone();
    let (mut from_reserves, mut from_pool) = (0, 0);
    for round in 0..8 {
        // Once the reserves are used, an old member leaves: old volunteers are left in the pool.
        let waiting = reserves.iter().any(|r| !ever_seated.contains(r));
        let old = seated.iter().position(|m| m[1..].parse::<u32>().is_ok_and(|n| n % 2 == 1));
        let leaving = seated.remove(if waiting { round % seated.len() } else { old.expect("an old member") });
        s.given(
            OPERATOR,
            DomainEvent::MemberWithdrew(MemberWithdrew {
                member_id: leaving.clone(),
                reason: WithdrawalReason::Personal,
            }),
        );
        let seating = klero_selection::Seating { seated: &seated, ever_seated: &ever_seated, reserves: &reserves };
        let Ok(expected) = klero_selection::replacement(&instance, SEED, &leaving, seating) else { break };
        let replace = |new: &str| {
            DomainEvent::ReplacementDrawn(ReplacementDrawn {
                withdrawn_member_id: leaving.clone(),
                replacement_member_id: new.into(),
            })
        };
        if !waiting {
            let pool_rule = klero_selection::draw_replacement(&instance, SEED, &leaving, &ever_seated);
            assert_eq!(Ok(&expected), pool_rule.as_ref(), "round {round}: the pool rule, once the reserves are used");
            from_pool += 1;
        } else {
            assert!(reserves.contains(&expected), "round {round}: a reserve waits, yet {expected} is chosen");
            from_reserves += 1;
            // The pool rule's member, where it is not the reserve, is refused.
            if let Ok(from_pool) = klero_selection::draw_replacement(&instance, SEED, &leaving, &ever_seated) {
                if from_pool != expected && !seated.contains(&from_pool) {
                    s.then_rejected(OPERATOR, replace(&from_pool), "selection.replacement_is_the_draw");
                }
            }
        }
        for other in reserves.iter().filter(|r| **r != expected && !ever_seated.contains(r)) {
            let rejection = s.when(OPERATOR, replace(other)).expect_err("another reserve");
            assert!(
                ["selection.replacement_is_the_draw", "selection.panel_keeps_households_apart"]
                    .contains(&rejection.rule().as_str()),
                "round {round}: {other} refused by {}",
                rejection.rule().as_str()
            );
        }
        s.given(OPERATOR, replace(&expected));
        seated.push(expected.clone());
        ever_seated.push(expected);
    }
    assert_eq!((from_reserves, from_pool), (6, 2), "every reserve was seated before the pool was drawn on");
}

fn letters_plan() -> LettersPlanned {
    LettersPlanned {
        address_list_hash: Hash256::of(b"the council's address list"),
        address_count: 30,
        letter_count: 14,
        area_column: "ward".into(),
        areas: vec![
            klero_domain::letter_lottery::AreaLetters { area: "East".into(), addresses: 2, letters: 1 },
            klero_domain::letter_lottery::AreaLetters { area: "North".into(), addresses: 18, letters: 8 },
            klero_domain::letter_lottery::AreaLetters { area: "South".into(), addresses: 10, letters: 5 },
        ],
        seed_commitment: Hash256::of(b"the letters' seed, sixteen bytes or more"),
        randomness_source: "commit-reveal".into(),
    }
}

/// The letter lottery on the record (FORMAT.md §9.1): planned once with counts that add up,
/// drawn once with the committed seed, both before the pool; and no pool member names a letter
/// unless letters were drawn.
#[test]
fn letters_are_planned_and_drawn_before_anyone_volunteers() {
    let letters_drawn = |seed: &[u8]| DomainEvent::LettersDrawn(LettersDrawn { seed: seed.to_vec() });
    let seed = b"the letters' seed, sixteen bytes or more";
    let mut s = Scenario::convened();
    s.then_rejected(OPERATOR, letters_drawn(seed), "selection.letters_drawn_after_plan");
    let mut lopsided = letters_plan();
    lopsided.areas[0].letters = 3; // more letters than East has addresses
    let mut unsorted = letters_plan();
    unsorted.areas.swap(0, 1);
    let mut short = letters_plan();
    short.letter_count = 13; // the areas send 14
    let mut too_many = letters_plan();
    too_many.letter_count = 31;
    too_many.areas.clear();
    for bad in [lopsided, unsorted, short, too_many] {
        s.then_rejected(OPERATOR, DomainEvent::LettersPlanned(bad), "selection.letters_add_up");
    }
    s.given(OPERATOR, DomainEvent::LettersPlanned(letters_plan()));
    s.then_rejected(OPERATOR, DomainEvent::LettersPlanned(letters_plan()), "selection.letters_planned_once");
    s.then_rejected(
        OPERATOR,
        letters_drawn(b"another seed, sixteen bytes+"),
        "selection.letters_seed_matches_commitment",
    );
    // A pool that names letters before they are drawn is refused.
    s.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    let mut answered = pool();
    answered.members[0].letter = Some(Hash256::of(b"a letter"));
    s.then_rejected(OPERATOR, DomainEvent::PoolRegistered(answered.clone()), "selection.pool_letters_need_draw");
    s.given(OPERATOR, letters_drawn(seed));
    s.then_rejected(OPERATOR, letters_drawn(seed), "selection.letters_drawn_after_plan");
    s.given(OPERATOR, DomainEvent::PoolRegistered(answered));
    // Nothing of the letter lottery comes after the pool.
    let mut late = Scenario::convened();
    late.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    late.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    late.then_rejected(OPERATOR, DomainEvent::LettersPlanned(letters_plan()), "selection.letters_before_pool");
    let mut drawn_late = Scenario::convened();
    drawn_late.given(OPERATOR, DomainEvent::LettersPlanned(letters_plan()));
    drawn_late.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    drawn_late.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    drawn_late.then_rejected(OPERATOR, letters_drawn(seed), "selection.letters_before_pool");
}

/// Relaxed quotas (FORMAT.md §9.2): once, after the pool and before the lottery; only loosening
/// planned quotas; and from then on they apply, so a lottery and a panel that meet only the
/// relaxed quotas are accepted, while one that breaks them is still refused. Omitting the
/// relaxation (the attack of a lottery published without it) leaves the planned quotas in force.
#[test]
fn relaxed_quotas_apply_from_their_event_and_only_loosen() {
    let relax = |quotas: Vec<Quota>| {
        DomainEvent::QuotasRelaxed(QuotasRelaxed { quotas, reason: "too few old volunteers replied".into() })
    };
    let quota = |value: &str, min, max| Quota { feature: "age".into(), value: value.into(), min, max };
    // A plan that needs 2 to 3 old members on a panel of 4, over a pool of 8.
    let strict = SelectionPlanned {
        quotas: vec![quota("young", 1, 2), quota("old", 2, 3)],
        algorithm: "leximin".into(),
        ..plan()
    };
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(strict));
    s.then_rejected(OPERATOR, relax(vec![quota("young", 1, 3)]), "selection.relaxation_before_lottery");
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    for bad in [
        vec![quota("young", 1, 2)],                       // changes nothing
        vec![quota("young", 2, 3)],                       // tightens the minimum
        vec![quota("old", 2, 2)],                         // tightens the maximum
        vec![quota("middle", 0, 4)],                      // no such quota
        vec![quota("young", 1, 3), quota("young", 0, 3)], // names one twice
    ] {
        s.then_rejected(OPERATOR, relax(bad), "selection.relaxation_only_relaxes");
    }
    // Three young and one old meet only the relaxed quotas.
    let instance = instance_of(&pool());
    let young = instance.type_of("p0").expect("young");
    let old = instance.type_of("p1").expect("old");
    let mut three_young = vec![0u32; instance.types.len()];
    three_young[young] = 3;
    three_young[old] = 1;
    let lottery = DomainEvent::LotteryPublished(LotteryPublished { panels: vec![(1_000_000_000, three_young)] });
    s.then_rejected(OPERATOR, lottery.clone(), "selection.lottery_meets_quotas");
    s.given(OPERATOR, relax(vec![quota("young", 1, 3), quota("old", 1, 3)]));
    s.then_rejected(OPERATOR, relax(vec![quota("young", 0, 4)]), "selection.relaxation_before_lottery");
    s.given(OPERATOR, lottery);
    let lottery = klero_selection::PublishedLottery { panels: vec![vec![3, 1]], weights: vec![1_000_000_000] };
    let drawn = klero_selection::draw(&instance, &lottery, SEED);
    s.given(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn { seed: SEED.to_vec(), member_ids: drawn, reserve_member_ids: Vec::new() }),
    );
    let view = s.state.assembly(&assembly()).expect("the assembly").selection.quotas_in_force();
    assert_eq!(view, vec![quota("young", 1, 3), quota("old", 1, 3)]);
    // Once the lottery is out, no relaxation comes; nor after a draw without a lottery.
    let mut no_lottery = Scenario::convened();
    no_lottery.given(OPERATOR, DomainEvent::SelectionPlanned(plan()));
    no_lottery.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    no_lottery.given(
        OPERATOR,
        DomainEvent::PanelDrawn(PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: panel_ids(),
            reserve_member_ids: Vec::new(),
        }),
    );
    no_lottery.then_rejected(OPERATOR, relax(vec![quota("young", 0, 3)]), "selection.relaxation_before_lottery");
}

/// A plan whose algorithm is `nash` (FORMAT.md §9.3) is drawn from a published lottery, as a
/// LEXIMIN plan is: a panel without one is refused.
#[test]
fn a_nash_plan_is_drawn_only_from_its_published_lottery() {
    let mut s = Scenario::convened();
    s.given(OPERATOR, DomainEvent::SelectionPlanned(SelectionPlanned { algorithm: "nash".into(), ..plan() }));
    s.given(OPERATOR, DomainEvent::PoolRegistered(pool()));
    let panel = DomainEvent::PanelDrawn(PanelDrawn {
        seed: SEED.to_vec(),
        member_ids: panel_ids(),
        reserve_member_ids: Vec::new(),
    });
    s.then_rejected(OPERATOR, panel, "selection.draw_needs_lottery");
}
