//! A fixed, complete record: one assembly from its grants to the council's answers, with every
//! event type of the catalogue, built from fixed keys at fixed times. The golden vectors, the
//! view snapshots and the tidy checks all use it, so it never changes by accident.
//!
//! [`lifecycle`] writes every free text plain (version 1 events); [`personal_data`] writes the
//! same record with its personal text sealed (version 2 events, FORMAT.md §14) under fixed
//! data keys, nonces and salts, then sets a retention period and erases one submission.
//! [`councils`] and [`letters_and_reserves`] add what the first two cannot hold: several
//! councils, and a selection invited by letter and drawn with reserves (the letter events, and
//! version 2 of `SelectionPlanned` and `PanelDrawn`).

use crate::{key, ExportBuilder};
use klero_catalogue::EventMessage;
use klero_domain::DataKey;
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::envelope::{AuthorPart, EventId};
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use klero_verifier::Export;
use prost::Message;

/// The proof of work the fixture's call asks of each browser's submission, in bits.
const FIXTURE_WORK_BITS: u32 = 8;

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
    /// Each event's type name, version and payload bytes, in log order.
    pub payloads: Vec<(&'static str, u32, Vec<u8>)>,
    /// The data key of every event that holds sealed text ([`personal_data`] only).
    pub data_keys: Vec<(EventId, DataKey)>,
}

struct Builder {
    export: ExportBuilder,
    /// The assembly the next event belongs to.
    assembly: String,
    next_id: u64,
    recorded_at: u64,
    payloads: Vec<(&'static str, u32, Vec<u8>)>,
    /// Seal personal text ([`personal_data`]) rather than write it plain ([`lifecycle`]).
    seal_personal_text: bool,
    data_keys: Vec<(EventId, DataKey)>,
}

fn fixture_event_id(serial: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&serial.to_be_bytes());
    id[6] = 0x40;
    id[8] |= 0x80;
    id
}

/// Residents taking part (issue 28): a call, a submission signed in a resident's browser (with a
/// sealed contact), one from the web form under the intake key, a withholding, its appeal and a
/// second decision by another moderator, and the call closed. Returns the published browser
/// submission, which the council's answer to R1 considers.
fn participation(b: &mut Builder, council: &SigningKey, facilitator: &SigningKey) -> Hash256 {
    use pb::deliberation::{ModerationDecision, SubmissionPath};
    let first_moderator = key("fixture: first moderator");
    let second_moderator = key("fixture: second moderator");
    let intake = key("fixture: intake");
    let resident = key("fixture: a resident's browser");
    let second_resident = key("fixture: another resident's browser");
    for (who, role, title) in [
        (&first_moderator, pb::registry::Role::Moderator, "Engagement officer"),
        (&second_moderator, pb::registry::Role::Moderator, "Scrutiny officer"),
        (&intake, pb::registry::Role::Intake, "The pages' web form"),
    ] {
        b.append(council, &grant(who, role, title));
    }
    b.append(
        facilitator,
        &pb::deliberation::CallOpened {
            call_id: "streets-call".into(),
            prompt: "What would make the streets near schools safer?".into(),
            recommendation_id: String::new(),
            opens_on: "2027-01-15".into(),
            closes_on: "2027-01-31".into(),
            text_bytes_max: 2_000,
            one_per_key: true,
            names_asked: false,
            consent_hash: sha(DOCUMENTS[10]),
            moderation_policy_hash: sha(DOCUMENTS[11]),
            withhold_reasons: vec!["personal_attack".into(), "off_topic".into()],
            retention_days: 365,
            proof_of_work_bits: FIXTURE_WORK_BITS,
        },
    );
    let mut submitted = Vec::new();
    for (author, path, text, contact) in [
        (
            &resident,
            SubmissionPath::Browser,
            "A crossing patrol at the school gate.",
            Some("email: resident@example.org"),
        ),
        (&intake, SubmissionPath::WebForm, "Wider pavements on the school run.", None),
        (&second_resident, SubmissionPath::Browser, "The council never listens.", None),
    ] {
        let sealed_text = Some(b.seal_always("sealed_text", text));
        let sealed_contact = contact.map(|contact| b.seal_always("sealed_contact", contact));
        // The call asks each browser's submission for work; the web form's owes none.
        let work_nonce = match (path, &sealed_text) {
            (SubmissionPath::Browser, Some(sealed)) => klero_domain::work::find_work(
                "streets-call",
                &author.verifying_key().to_bytes(),
                &Hash256(sealed.commitment.as_slice().try_into().expect("32 bytes")),
                FIXTURE_WORK_BITS,
            ),
            _ => 0,
        };
        let submission = pb::deliberation::ResidentSubmitted {
            call_id: "streets-call".into(),
            path: path as i32,
            sealed_text,
            sealed_contact,
            work_nonce,
        };
        b.append(author, &submission);
        submitted.push(*b.export.peek().last().expect("the submission"));
    }
    let moderate = |b: &mut Builder, who: &SigningKey, at: usize, decision: ModerationDecision, reason: &str| {
        b.append(
            who,
            &pb::deliberation::SubmissionModerated {
                submission_event_hash: submitted[at].0.to_vec(),
                decision: decision as i32,
                reason: reason.into(),
            },
        );
    };
    moderate(b, &first_moderator, 0, ModerationDecision::Publish, "");
    moderate(b, &first_moderator, 1, ModerationDecision::Publish, "");
    moderate(b, &first_moderator, 2, ModerationDecision::Withhold, "off_topic");
    b.append(
        &second_resident,
        &pb::deliberation::ModerationAppealed { submission_event_hash: submitted[2].0.to_vec() },
    );
    moderate(b, &second_moderator, 2, ModerationDecision::Withhold, "off_topic");
    b.append(
        facilitator,
        &pb::deliberation::CallClosed {
            call_id: "streets-call".into(),
            reason: "The panel has begun drafting.".into(),
        },
    );
    submitted[0]
}

/// 32 fixed bytes for one purpose: SHA-256 of the purpose's text.
fn fixed_bytes(purpose: &str) -> [u8; 32] {
    Hash256::of(purpose.as_bytes()).0
}

impl Builder {
    /// An empty builder for the fixture's assembly, recording from the fixture's first time.
    fn new(log_key: LogSigningKey, trust_root: [u8; 32], seal_personal_text: bool) -> Builder {
        Builder {
            export: ExportBuilder::new(log_key, trust_root),
            assembly: ASSEMBLY.into(),
            next_id: 0,
            recorded_at: FIRST_RECORDED_AT_UNIX_MS,
            payloads: Vec::new(),
            seal_personal_text,
            data_keys: Vec::new(),
        }
    }

    /// `text`, when personal text is written plain; empty when it is sealed.
    fn plain(&self, text: &str) -> String {
        if self.seal_personal_text {
            String::new()
        } else {
            text.to_string()
        }
    }

    /// `text` sealed for `field` of the next event, under that event's fixed data key; `None`
    /// when personal text is written plain.
    fn seal(&mut self, field: &str, text: &str) -> Option<pb::privacy::SealedText> {
        if !self.seal_personal_text {
            return None;
        }
        Some(self.seal_always(field, text))
    }

    /// `text` sealed for `field` of the next event, whatever the fixture does with other text:
    /// for events whose text is always sealed (a resident's submission).
    fn seal_always(&mut self, field: &str, text: &str) -> pb::privacy::SealedText {
        let serial = self.next_id + 1;
        let event_id = fixture_event_id(serial);
        let key = DataKey(fixed_bytes(&format!("fixture: data key of event {serial}")));
        let nonce: [u8; 24] =
            fixed_bytes(&format!("fixture: nonce of {field} of event {serial}"))[..24].try_into().expect("24 bytes");
        let salt = fixed_bytes(&format!("fixture: salt of {field} of event {serial}"));
        let sealed = klero_domain::personal::seal(&key, nonce, salt, &event_id, field, text);
        if !self.data_keys.iter().any(|(id, _)| id.0 == event_id) {
            self.data_keys.push((EventId(event_id), key));
        }
        klero_catalogue::sealed_text_message(&sealed)
    }

    fn append<M: EventMessage>(&mut self, author: &SigningKey, message: &M) {
        let assembly = klero_domain::AssemblyId::parse(&self.assembly).expect("id");
        // A registry event goes to the registry whose grants cover the assembly.
        let stream = match M::STREAM_KIND {
            klero_catalogue::StreamKind::Registry => {
                klero_domain::registry_stream_for(&klero_catalogue::StreamKind::Assembly.stream_name(&assembly))
            }
            kind => kind.stream_name(&assembly),
        };
        self.append_on(stream, author, message);
    }

    fn append_on<M: EventMessage>(&mut self, stream: String, author: &SigningKey, message: &M) {
        self.next_id += 1;
        let id = fixture_event_id(self.next_id);
        let payload = message.encode_to_vec();
        let part = AuthorPart {
            event_id: EventId(id),
            stream,
            event_type: M::EVENT_TYPE.to_string(),
            event_version: message.payload_version(),
            author_public_key: author.verifying_key().to_bytes(),
            authored_at_unix_ms: self.recorded_at,
            payload: payload.clone(),
        };
        self.export.append(part, author, self.recorded_at);
        self.payloads.push((M::EVENT_TYPE, message.payload_version(), payload));
        self.recorded_at += STEP_MS;
    }
}

/// The texts of the documents the fixture's events commit to (each by the SHA-256 of its text):
/// what a server that holds them all would keep.
const DOCUMENTS: [&str; 12] = [
    "evidence: school streets trials",
    "submission one",
    "submission two",
    "R1 draft",
    "R2 draft",
    "R3 draft",
    "R1 amended",
    "final report",
    "response letter R1",
    "progress report",
    "consent: your submission is published if a moderator accepts it; your contact is never shown",
    "moderation policy: we withhold personal attacks, and what is off topic",
];

impl Fixture {
    /// The documents the fixture's events commit to, as bytes.
    pub fn documents(&self) -> Vec<Vec<u8>> {
        DOCUMENTS.iter().map(|text| text.as_bytes().to_vec()).collect()
    }

    /// Every sealed field the fixture's data keys open, unless its event's content was erased:
    /// what a server holding the keys shows.
    pub fn openings(&self) -> Vec<klero_verifier::Opening> {
        let erased: Vec<Hash256> = self
            .export
            .events
            .iter()
            .filter_map(|bytes| klero_ledger::envelope::Envelope::parse(bytes.clone()).ok())
            .filter_map(|envelope| match klero_fold::LogFold::decode(&envelope) {
                Ok(klero_domain::DomainEvent::ContentErased(erased)) => Some(erased.event_hash),
                _ => None,
            })
            .collect();
        let mut openings = Vec::new();
        for (index, bytes) in self.export.events.iter().enumerate() {
            let Ok(envelope) = klero_ledger::envelope::Envelope::parse(bytes.clone()) else { continue };
            if erased.contains(&envelope.event_hash()) {
                continue;
            }
            let Some((_, key)) = self.data_keys.iter().find(|(id, _)| *id == envelope.author().event_id) else {
                continue;
            };
            let Ok(event) = klero_fold::LogFold::decode(&envelope) else { continue };
            for (field, sealed) in event.sealed_fields() {
                let opened = klero_domain::personal::open(key, &envelope.author().event_id.0, field, sealed)
                    .expect("the fixture's keys open its text");
                openings.push(klero_verifier::Opening {
                    log_index: index as u64,
                    field: field.to_string(),
                    salt: opened.salt,
                    text: opened.text,
                });
            }
        }
        openings
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

/// The fixtures' LEXIMIN plan for a panel of 4 from `pool`, with `reserve_count` reserves.
fn leximin_plan(pool: &pb::selection::PoolRegistered, reserve_count: u32) -> pb::selection::SelectionPlanned {
    pb::selection::SelectionPlanned {
        panel_size: 4,
        quotas: quotas(),
        algorithm: "leximin".into(),
        algorithm_version: "fixture 1".into(),
        pool_commitment: Hash256::of(&pool.encode_to_vec()).0.to_vec(),
        seed_commitment: Hash256::of(SEED).0.to_vec(),
        randomness_source: "a seed committed before the pool was registered".into(),
        reserve_count,
    }
}

/// The pool: ten volunteers, alternately young and old.
fn pool() -> pb::selection::PoolRegistered {
    pb::selection::PoolRegistered {
        members: (0..10)
            .map(|i| pb::selection::PoolMember {
                id: format!("v{i:02}"),
                household: Vec::new(),
                letter: Vec::new(),
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
    build(false)
}

/// The fixture with its personal text sealed, a retention period, and the first public
/// submission erased. Deterministic, like [`lifecycle`].
pub fn personal_data() -> Fixture {
    build(true)
}

/// `count` assemblies, each convened and nothing more, named `listed-00`, `listed-01`, …: more
/// than one page of the index and the dashboard (FORMAT.md §15.2). Deterministic.
pub fn many_assemblies(count: usize) -> Fixture {
    let council = key("fixture: council");
    let convenor = key("fixture: convenor");
    let log_key = LogSigningKey::new(LOG_NAME, key("fixture: log")).expect("log key");
    let trust_root = council.verifying_key().to_bytes();
    let mut b = Builder::new(log_key.clone(), trust_root, false);
    b.append(
        &council,
        &pb::registry::KeyGranted {
            public_key: convenor.verifying_key().to_bytes().to_vec(),
            role: pb::registry::Role::Convenor as i32,
            scope: "*".into(),
            holder_title: "Head of democratic services".into(),
        },
    );
    for number in 0..count {
        b.assembly = format!("listed-{number:02}");
        let convened = pb::assembly::AssemblyConvened {
            assembly_id: b.assembly.clone(),
            council: "Example Borough Council".into(),
            remit_question: format!("Question {number}: what should the borough do?"),
            area: "Example Borough".into(),
            starts_on: "2027-01-20".into(),
            ends_on: "2027-03-20".into(),
            panel_size: 4,
            adoption_threshold_percent: 60,
            response_deadline_days: 56,
        };
        b.append(&convenor, &convened);
    }
    b.export.checkpoint();
    Fixture { export: b.export.finish(), trust_root, log_key, payloads: b.payloads, data_keys: b.data_keys }
}

/// Two councils on one platform (FORMAT.md §15.2, docs/RULES.md "Councils"): the platform's
/// root registers `north` and `south`, each with its own root; each root grants a convenor
/// for every assembly of its council, who convenes one (`north.schools`, `south.schools`).
/// Deterministic.
pub fn councils() -> Fixture {
    let platform = key("fixture: council");
    let log_key = LogSigningKey::new(LOG_NAME, key("fixture: log")).expect("log key");
    let trust_root = platform.verifying_key().to_bytes();
    let mut b = Builder::new(log_key.clone(), trust_root, false);
    for (council, name) in [("north", "North Council"), ("south", "South Council")] {
        let root = key(&format!("fixture: {council} root"));
        b.append_on(
            format!("{}{council}", klero_domain::COUNCIL_STREAM_PREFIX),
            &platform,
            &pb::registry::CouncilRegistered {
                council_id: council.into(),
                name: name.into(),
                root_public_key: root.verifying_key().to_bytes().to_vec(),
            },
        );
    }
    for council in ["north", "south"] {
        let root = key(&format!("fixture: {council} root"));
        let convenor = key(&format!("fixture: {council} convenor"));
        b.assembly = format!("{council}.schools");
        b.append(
            &root,
            &pb::registry::KeyGranted {
                public_key: convenor.verifying_key().to_bytes().to_vec(),
                role: pb::registry::Role::Convenor as i32,
                scope: "*".into(),
                holder_title: "Head of democratic services".into(),
            },
        );
        b.append(
            &convenor,
            &pb::assembly::AssemblyConvened {
                assembly_id: b.assembly.clone(),
                council: format!("{} Council", if council == "north" { "North" } else { "South" }),
                remit_question: "How should we get children to school safely?".into(),
                area: council.into(),
                starts_on: "2027-01-20".into(),
                ends_on: "2027-03-20".into(),
                panel_size: 4,
                adoption_threshold_percent: 60,
                response_deadline_days: 56,
            },
        );
    }
    b.export.checkpoint();
    Fixture { export: b.export.finish(), trust_root, log_key, payloads: b.payloads, data_keys: b.data_keys }
}

/// The fixture's address list for its letter lottery (FORMAT.md §9.1): thirty addresses in
/// three wards, as a council's CSV export would hold them.
pub fn letter_addresses() -> String {
    let mut csv = String::from("address_line_1,postcode,ward\n");
    for i in 0..30 {
        let (street, ward) = match i % 3 {
            0 => ("Mill Lane", "North"),
            1 => ("Station Road", "South"),
            _ => {
                if i < 24 {
                    ("Church Street", "North")
                } else {
                    ("Quay Side", "East")
                }
            }
        };
        csv.push_str(&format!("{} {street},KL{} {}AA,{ward}\n", i + 1, i % 3 + 1, i / 3 + 1));
    }
    csv
}

/// The council's salt for the fixture's letter commitments.
pub const LETTER_SALT: [u8; 32] = [0x5a; 32];
const LETTER_SEED: &[u8] = b"the fixture's letter seed, 32 b.";

/// A selection invited by letter and drawn with reserves (FORMAT.md §9.1 and §9, steps 4 and
/// 5): a letter lottery of 14 letters from [`letter_addresses`], stratified by ward; twelve
/// volunteers, young and old in turn, each answering an invited letter but `r11` (recruited
/// another way), of whom `r03` (old) and `r04` (young) live together and answered one letter;
/// the young quota relaxed, with its reason; a plan and a draw at version 2; a lottery of one panel; three reserves; and one withdrawal,
/// filled from them. Deterministic.
pub fn letters_and_reserves() -> Fixture {
    selection_by_letter(false)
}

/// [`letters_and_reserves`], but `r11` names the letter of an address the seed did not invite.
/// The rules cannot see it (the list is not on the record); `klero verify --letters` must.
pub fn letters_with_an_uninvited_volunteer() -> Fixture {
    selection_by_letter(true)
}

fn selection_by_letter(uninvited_volunteer: bool) -> Fixture {
    let council = key("fixture: council");
    let convenor = key("fixture: convenor");
    let operator = key("fixture: selection operator");
    let log_key = LogSigningKey::new(LOG_NAME, key("fixture: log")).expect("log key");
    let trust_root = council.verifying_key().to_bytes();
    let mut b = Builder::new(log_key.clone(), trust_root, false);
    b.assembly = "reserves".into();
    use pb::registry::Role;
    for (who, role, title) in [
        (&convenor, Role::Convenor, "Head of democratic services"),
        (&operator, Role::SelectionOperator, "Sortition officer"),
    ] {
        b.append(&council, &pb::registry::KeyGranted { scope: "*".into(), ..grant(who, role, title) });
    }
    b.append(
        &convenor,
        &pb::assembly::AssemblyConvened {
            assembly_id: b.assembly.clone(),
            council: "Example Borough Council".into(),
            remit_question: "Who should stand in when a member cannot go on?".into(),
            area: "Example Borough".into(),
            starts_on: "2027-01-20".into(),
            ends_on: "2027-03-20".into(),
            panel_size: 4,
            adoption_threshold_percent: 60,
            response_deadline_days: 56,
        },
    );

    // The letter lottery: the list's keys and wards, the plan, then the seed.
    let list = letter_addresses();
    let rows: Vec<Vec<&str>> = list.lines().skip(1).map(|line| line.split(',').collect()).collect();
    let keys: Vec<Vec<u8>> =
        rows.iter().map(|cells| klero_draw::household_key(cells.iter().copied()).expect("an address")).collect();
    let addresses: Vec<klero_draw::letters::Address<'_>> =
        keys.iter().zip(&rows).map(|(key, cells)| klero_draw::letters::Address { key, area: cells[2] }).collect();
    let mut sizes = std::collections::BTreeMap::<String, u32>::new();
    for cells in &rows {
        *sizes.entry(cells[2].to_string()).or_default() += 1;
    }
    let areas = klero_draw::letters::allocate_letters(&sizes.into_iter().collect::<Vec<_>>(), 14);
    b.append(
        &operator,
        &pb::selection::LettersPlanned {
            address_list_hash: Hash256::of(list.as_bytes()).0.to_vec(),
            address_count: rows.len() as u32,
            letter_count: 14,
            area_column: "ward".into(),
            areas: areas
                .iter()
                .map(|a| pb::selection::AreaLetters {
                    area: a.area.clone(),
                    addresses: a.addresses,
                    letters: a.letters,
                })
                .collect(),
            seed_commitment: Hash256::of(LETTER_SEED).0.to_vec(),
            randomness_source: "a seed committed before the letters were drawn".into(),
        },
    );
    b.append(&operator, &pb::selection::LettersDrawn { seed: LETTER_SEED.to_vec() });
    let invited = klero_draw::letters::draw_letters(&addresses, 14, &areas, LETTER_SEED).expect("the planned draw");
    let letter_of = |address: usize| klero_draw::letters::letter_commitment(&LETTER_SALT, &keys[address]).0.to_vec();
    let not_invited = (0..rows.len()).find(|i| !invited.contains(i)).expect("an address not invited");

    let household = Hash256::of(b"fixture: the household of r03 and r04").0.to_vec();
    let pool = pb::selection::PoolRegistered {
        members: (0..12)
            .map(|i| pb::selection::PoolMember {
                id: format!("r{i:02}"),
                household: if i == 3 || i == 4 { household.clone() } else { Vec::new() },
                letter: match i {
                    11 if uninvited_volunteer => letter_of(not_invited),
                    11 => Vec::new(),
                    4 => letter_of(invited[3]),
                    _ => letter_of(invited[i]),
                },
                features: vec![pb::selection::FeatureValue {
                    feature: "age".into(),
                    value: if i % 2 == 0 { "young" } else { "old" }.into(),
                }],
            })
            .collect(),
    };
    b.append(&operator, &leximin_plan(&pool, 3));
    b.append(&operator, &pool);
    b.append(
        &operator,
        &pb::selection::QuotasRelaxed {
            quotas: vec![pb::selection::Quota { feature: "age".into(), value: "young".into(), min: 0, max: 3 }],
            reason: "Fewer young volunteers replied than planned: the smallest relaxation that lets a panel form"
                .into(),
        },
    );
    let volunteers = pool.members.iter().map(|m| klero_draw::Volunteer {
        id: &m.id,
        household: (!m.household.is_empty()).then_some(&m.household[..]),
        value_of: |_: &str| Some(m.features[0].value.as_str()),
    });
    let draw_quotas: Vec<klero_draw::Quota> = quotas()
        .iter()
        .map(|q| klero_draw::Quota { feature: q.feature.clone(), value: q.value.clone(), min: q.min, max: q.max })
        .collect();
    let instance = klero_draw::Instance::group(&draw_quotas, volunteers, 4).expect("the pool groups into types");
    // Types: young alone, the young housemate r04, old alone, the old housemate r03. One panel
    // of two young and two old who live alone.
    let lottery =
        klero_draw::PublishedLottery { panels: vec![vec![2, 0, 2, 0]], weights: vec![klero_draw::WEIGHT_TOTAL] };
    b.append(&operator, &klero_catalogue::lottery_message(&lottery));
    let panel = klero_draw::draw(&instance, &lottery, SEED);
    let reserves = klero_draw::draw_reserves(&instance, SEED, &panel, 3);
    b.append(
        &operator,
        &pb::selection::PanelDrawn {
            seed: SEED.to_vec(),
            member_ids: panel.clone(),
            reserve_member_ids: reserves.clone(),
        },
    );
    let withdrawn = panel[0].clone();
    b.append(
        &operator,
        &pb::selection::MemberWithdrew {
            member_id: withdrawn.clone(),
            reason: pb::selection::WithdrawalReason::Unreachable as i32,
        },
    );
    let seated: Vec<String> = panel[1..].to_vec();
    let seating = klero_draw::Seating { seated: &seated, ever_seated: &panel, reserves: &reserves };
    let replacement = klero_draw::replacement(&instance, SEED, &withdrawn, seating).expect("a reserve");
    b.append(
        &operator,
        &pb::selection::ReplacementDrawn { withdrawn_member_id: withdrawn, replacement_member_id: replacement },
    );
    b.export.checkpoint();
    Fixture { export: b.export.finish(), trust_root, log_key, payloads: b.payloads, data_keys: b.data_keys }
}

fn build(seal_personal_text: bool) -> Fixture {
    let council = key("fixture: council");
    let convenor = key("fixture: convenor");
    let operator = key("fixture: selection operator");
    let facilitator = key("fixture: facilitator");
    let secretary = key("fixture: panel secretary");
    let decision_maker = key("fixture: council decision-maker");
    let auditor = key("fixture: auditor");
    let log_key = LogSigningKey::new(LOG_NAME, key("fixture: log")).expect("log key");
    let trust_root = council.verifying_key().to_bytes();
    let mut b = Builder::new(log_key.clone(), trust_root, seal_personal_text);
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
    b.append(&operator, &leximin_plan(&pool, 0));
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
    b.append(
        &operator,
        &pb::selection::PanelDrawn { seed: SEED.to_vec(), member_ids: panel.clone(), reserve_member_ids: Vec::new() },
    );
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
    let evidence_title = "School streets: what the trials found";
    let evidence = pb::deliberation::EvidencePresented {
        session_number: 1,
        speaker_role: "Transport researcher".into(),
        title: b.plain(evidence_title),
        content_hash: sha("evidence: school streets trials"),
        media_type: "application/pdf".into(),
        sealed_title: b.seal("sealed_title", evidence_title),
    };
    b.append(&facilitator, &evidence);
    let evidence_event = *b.export.peek().last().expect("the evidence");
    let mut submission_events = Vec::new();
    for (submitter, text) in [("resident-0001", "submission one"), ("resident-0002", "submission two")] {
        let sealed_text = b.seal("sealed_text", text);
        let submission = pb::deliberation::PublicSubmissionReceived {
            submitter_id: submitter.into(),
            content_hash: if sealed_text.is_some() { Vec::new() } else { sha(text) },
            received_on: "2027-01-25".into(),
            sealed_text,
        };
        b.append(&facilitator, &submission);
        submission_events.push(*b.export.peek().last().expect("the submission"));
    }
    let resident_submission = participation(&mut b, &council, &facilitator);
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
    let response = |b: &mut Builder, hash: &Hash256, decision: pb::response::Decision, rationale: &str| {
        pb::response::ResponseIssued {
            recommendation_event_hash: hash.0.to_vec(),
            decision: decision as i32,
            rationale: b.plain(rationale),
            responsible_body: "Cabinet".into(),
            due_on: "2027-09-01".into(),
            sealed_rationale: b.seal("sealed_rationale", rationale),
        }
    };
    let first =
        response(&mut b, &adoptions[0], pb::response::Decision::Accepted, "Funded from the road safety budget.");
    b.append(&decision_maker, &first);
    b.append(
        &decision_maker,
        &pb::response::ResponseInputsConsidered {
            recommendation_event_hash: adoptions[0].0.to_vec(),
            citations: vec![
                citation(&submission_events[1], "Weighed the cost to parents"),
                citation(&resident_submission, "A crossing patrol is in the plan"),
            ],
            letter_hash: sha("response letter R1"),
        },
    );
    // The second answer comes after its 56-day deadline: it is late, and the views say so.
    b.recorded_at += 60 * DAY_MS;
    let second = response(
        &mut b,
        &adoptions[1],
        pb::response::Decision::NotAccepted,
        "The county sets speed limits on these roads.",
    );
    b.append(&decision_maker, &second);
    let amended_rationale = "Primary schools first; secondary schools after a review.";
    let amended = pb::response::ResponseAmended {
        recommendation_event_hash: adoptions[0].0.to_vec(),
        decision: pb::response::Decision::AcceptedInPart as i32,
        rationale: b.plain(amended_rationale),
        responsible_body: "Cabinet".into(),
        due_on: "2027-12-01".into(),
        reason: "Budget set in February".into(),
        sealed_rationale: b.seal("sealed_rationale", amended_rationale),
    };
    b.append(&decision_maker, &amended);
    let note = "Six of fifteen schools have school streets.";
    let update = pb::response::ImplementationUpdated {
        recommendation_event_hash: adoptions[0].0.to_vec(),
        status: pb::response::ImplementationStatus::InProgress as i32,
        progress_percent: 40,
        note: b.plain(note),
        evidence_hash: sha("progress report"),
        sealed_note: b.seal("sealed_note", note),
    };
    b.append(&decision_maker, &update);
    if seal_personal_text {
        let officer = key("fixture: data protection officer");
        b.append(&council, &grant(&officer, Role::DataProtectionOfficer, "Data protection officer"));
        b.append(&officer, &pb::privacy::PersonalDataRetentionSet { retention_days: 365 });
        b.append(
            &officer,
            &pb::privacy::ContentErased {
                event_hash: submission_events[0].0.to_vec(),
                legal_basis: "UK GDPR Art. 17(1)(b): the submitter withdrew consent".into(),
                erased_on: "2027-05-03".into(),
            },
        );
    }
    b.export.checkpoint();
    Fixture { export: b.export.finish(), trust_root, log_key, payloads: b.payloads, data_keys: b.data_keys }
}
