//! Golden outputs that pin what Kleroterion publishes, from the fixed record of
//! `klero_testkit::fixture` (one assembly, every event type):
//! - `payloads.txt`: every event type's payload bytes and what they decode to;
//! - `record-vectors.txt`: the fixture's events and every view's canonical JSON and digest
//!   (docs/FORMAT.md §7), for an independent implementation to reproduce;
//! - `fixture.export`: the fixture as an export file (§8);
//! - `export-vectors.txt`: tampered copies of it, as line edits, and the verdict (class,
//!   position, line) every verifier must reach (§8);
//! - `draw-vectors.txt`: a lottery and what three seeds draw from it, step by step (§9);
//! - `household-vectors.txt`, `reserve-vectors.txt` and `letter-vectors.txt`: households,
//!   reserves and the letter lottery, step by step from the formulas of §9 and §9.1;
//! - `personal-data-vectors.txt`: the fixture with its personal text sealed, a retention
//!   period and an erasure: every sealed field's key, nonce, salt, text, associated data,
//!   ciphertext and commitment, the events, and every view (§14), checked again by
//!   `tests/independent_sealing.py`.
//! - `slice-vectors.txt`: slices of the fixtures (§15), honest and attacked, each with the
//!   browser's request and the verdict (`ok` or the failure class) every verifier must reach;
//!   the browser's WebAssembly module is held to them under Node (`klero-browser`'s tests).
//! - `time-vectors.txt`: checkpoints cosigned at fixed times, and the bound they put on each
//!   answer's recording time (§13.6);
//! - `council-vectors.txt`: two councils on one platform, and one council's slice with the
//!   verdicts on it and on lies about it (§15.2).
//!
//! After an intended change, regenerate with `UPDATE_EXPECT=1 cargo test -p klero-tests --test golden`
//! and bump the version of what changed.

use expect_test::expect_file;
use klero_catalogue::{decode_event, EVENT_CATALOGUE};
use klero_fold::{LogFold, LoggedEventRef};
use klero_ledger::envelope::Envelope;
use klero_ledger::hash::to_hex;
use klero_projections::ViewName;
use klero_testkit::fixture;
use std::fmt::Write as _;

fn folded(fixture: &fixture::Fixture) -> LogFold {
    let mut fold = LogFold::new(fixture.trust_root);
    for (index, bytes) in fixture.export.events.iter().enumerate() {
        let envelope = Envelope::parse(bytes.clone()).expect("envelope");
        let event = LoggedEventRef { log_index: index as u64, envelope: &envelope, event_hash: envelope.event_hash() };
        fold.fold(event, None).unwrap_or_else(|e| panic!("the fixture breaks a rule: {e}"));
    }
    fold
}

#[test]
fn the_fixture_follows_every_rule_and_verifies() {
    let fixture = fixture::lifecycle();
    let fold = folded(&fixture);
    assert_eq!(fold.next_log_index(), fixture.export.events.len() as u64);
    let report = klero_verifier::verify_export(&fixture.export, &mut |_, _| {});
    assert!(report.ok(), "{}", report.to_text());
    assert!(fold.is_late(
        &Envelope::parse(fixture.export.events[fixture.export.events.len() - 3].clone()).expect("e").author().event_id
    ));
}

#[test]
fn every_event_type_has_a_golden_payload_that_decodes() {
    // Version 1 of every type from the plain fixture; version 2 (sealed text) and the privacy
    // events from the one with personal data; version 2 of the selection events from the one
    // with reserves.
    let (plain, personal, councils, reserves) =
        (fixture::lifecycle(), fixture::personal_data(), fixture::councils(), fixture::letters_and_reserves());
    let mut text =
        String::from("# One payload of every event type and version in the catalogue, hex, and what it decodes to.\n");
    for entry in EVENT_CATALOGUE {
        for version in entry.first_version..=entry.event_version {
            let (_, _, payload) = plain
                .payloads
                .iter()
                .chain(&personal.payloads)
                .chain(&councils.payloads)
                .chain(&reserves.payloads)
                .find(|(event_type, v, _)| *event_type == entry.event_type && *v == version)
                .unwrap_or_else(|| panic!("no fixture has a {} event at version {version}: add one", entry.event_type));
            let decoded = decode_event(entry.event_type, version, payload)
                .unwrap_or_else(|v| panic!("{} v{version} does not decode: {v:?}", entry.event_type));
            assert_eq!(klero_catalogue::event_type_of(&decoded), (entry.event_type, version));
            writeln!(text, "payload[{} v{version}]: {}", entry.event_type, to_hex(payload)).ok();
            writeln!(text, "decoded[{} v{version}]: {decoded:?}", entry.event_type).ok();
        }
    }
    expect_file!["payloads.txt"].assert_eq(&text);
}

/// The fixture's events and every view of its assembly: the golden bytes of FORMAT.md §7.
#[test]
fn every_view_of_the_fixture_is_pinned_byte_for_byte() {
    let fixture = fixture::lifecycle();
    let fold = folded(&fixture);
    let mut text = String::from(
        "# Kleroterion golden vectors for the record: docs/FORMAT.md §7 (views) over the events below.\n\
         # One `key: value` per line; values are lowercase hex, or one line of canonical JSON.\n",
    );
    writeln!(text, "trust_root_public_key: {}", to_hex(&fixture.trust_root)).ok();
    writeln!(text, "log_verifier_key: {}", fixture.log_key.verifier().to_vkey_string()).ok();
    for (index, bytes) in fixture.export.events.iter().enumerate() {
        writeln!(text, "event[{index}].envelope: {}", to_hex(bytes)).ok();
    }
    let assembly = klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id");
    for name in ViewName::ALL {
        let view = fold.views().render(name, &assembly).expect("rendered");
        let key = format!("view[{}/{}]", name.as_str(), fixture::ASSEMBLY);
        assert!(!view.json.contains('\n'), "canonical JSON is one line");
        assert_eq!(view.digest, klero_ledger::Hash256::of(view.json.as_bytes()), "the digest is SHA-256 of the JSON");
        assert_eq!(fold.views().digest(name, &assembly), Some(view.digest), "hashed as written, the same digest");
        writeln!(text, "{key}.tree_size: {}", view.tree_size).ok();
        writeln!(text, "{key}.json: {}", view.json).ok();
        writeln!(text, "{key}.digest: {}", view.digest.to_hex()).ok();
    }
    expect_file!["record-vectors.txt"].assert_eq(&text);
}

/// The fixture as an export file (docs/FORMAT.md §8), byte for byte: a file any verifier must
/// accept, with its checkpoints and published view digests.
#[test]
fn the_fixture_export_file_is_pinned_byte_for_byte() {
    let fixture = fixture::lifecycle();
    let fold = folded(&fixture);
    let assembly = klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id");
    let mut export = fixture.export.clone();
    for name in ViewName::ALL {
        let view = fold.views().render(name, &assembly).expect("rendered");
        export.views.push(klero_verifier::PublishedView {
            name: name.as_str().into(),
            assembly_id: fixture::ASSEMBLY.into(),
            tree_size: view.tree_size,
            digest: view.digest,
        });
    }
    let text = export.encode();
    let reread = klero_verifier::Export::parse(&text).expect("the export reads back");
    assert_eq!(reread, export);
    assert!(klero_verifier::verify_export(&reread, &mut |_, _| {}).ok());
    expect_file!["fixture.export"].assert_eq(&text);
}

/// A lottery of three panels over three types, and what three seeds draw from it, each step
/// computed here from the formulas of docs/FORMAT.md §9 and checked against `klero_draw`.
#[test]
fn the_draw_from_a_published_lottery_is_pinned_step_by_step() {
    use klero_draw::{Instance, PublishedLottery, Quota, WEIGHT_TOTAL};
    let sha = |parts: &[&[u8]]| klero_ledger::Hash256::of(&parts.concat());
    let quota = |feature: &str, value: &str, min, max| Quota { feature: feature.into(), value: value.into(), min, max };
    let quotas = [
        quota("age", "16-29", 1, 2),
        quota("age", "30+", 2, 3),
        quota("area", "north", 1, 3),
        quota("area", "south", 1, 3),
    ];
    let people: Vec<(String, Vec<(String, String)>)> = [
        ("p01", "16-29", "north"),
        ("p02", "30+", "north"),
        ("p03", "30+", "south"),
        ("p04", "16-29", "south"),
        ("p05", "30+", "north"),
        ("p06", "30+", "south"),
        ("p07", "16-29", "north"),
        ("p08", "30+", "south"),
        ("p09", "30+", "north"),
        ("p10", "16-29", "south"),
        ("p11", "30+", "south"),
        ("p12", "30+", "north"),
    ]
    .iter()
    .map(|(id, age, area)| (id.to_string(), vec![("age".into(), age.to_string()), ("area".into(), area.to_string())]))
    .collect();
    let instance = Instance::from_members(&quotas, &people, 4).expect("instance");
    // Types in quota order: (16-29, north), (16-29, south), (30+, north), (30+, south).
    let lottery = PublishedLottery {
        panels: vec![vec![1, 0, 2, 1], vec![0, 1, 1, 2], vec![1, 1, 1, 1]],
        weights: vec![250_000_000, 300_000_000, 450_000_000],
    };
    let mut text = String::from(
        "# Kleroterion golden vectors for the draw: docs/FORMAT.md §9.\n\
         # One `key: value` per line. Ids and values are plain text (none holds a space or a colon),\n\
         # hashes lowercase hex, numbers decimal; lists are space-separated.\n",
    );
    for (t, person_type) in instance.types.iter().enumerate() {
        let values: Vec<String> = person_type
            .values
            .iter()
            .enumerate()
            .map(|(f, &v)| format!("{}={}", instance.features[f], instance.values[f][v]))
            .collect();
        writeln!(text, "type[{t}].values: {}", values.join(" ")).ok();
        writeln!(text, "type[{t}].members: {}", person_type.members.join(" ")).ok();
    }
    for (p, (panel, weight)) in lottery.panels.iter().zip(&lottery.weights).enumerate() {
        let seats: Vec<String> = panel.iter().map(u32::to_string).collect();
        writeln!(text, "panel[{p}].seats: {}", seats.join(" ")).ok();
        writeln!(text, "panel[{p}].weight: {weight}").ok();
    }
    let probabilities: Vec<f64> = (0..instance.types.len()).map(|t| lottery.type_probability(&instance, t)).collect();
    for seed in [&b"0123456789abcdef"[..], b"a seed revealed after the lottery", &[0xff; 64]] {
        let key = format!("draw[{}]", to_hex(seed));
        let digest = sha(&[b"KLERO-DRAW-V1\0", seed]);
        let u = u64::from_be_bytes(digest.0[..8].try_into().expect("8 bytes")) % WEIGHT_TOTAL;
        let mut running = 0;
        let panel_index = lottery.weights.iter().position(|w| {
            running += w;
            u < running
        });
        let panel_index = panel_index.expect("the weights sum to the total");
        assert_eq!(panel_index, klero_draw::draw_panel_index(&lottery, seed));
        writeln!(text, "{key}.u: {u}").ok();
        writeln!(text, "{key}.panel_index: {panel_index}").ok();
        let mut drawn = Vec::new();
        for (t, person_type) in instance.types.iter().enumerate() {
            let mut ranked: Vec<(klero_ledger::Hash256, &String)> = person_type
                .members
                .iter()
                .map(|m| (sha(&[b"KLERO-DRAW-MEMBER-V1\0", seed, m.as_bytes()]), m))
                .collect();
            ranked.sort();
            let order: Vec<&str> = ranked.iter().map(|(_, m)| m.as_str()).collect();
            writeln!(text, "{key}.type[{t}].rank: {}", order.join(" ")).ok();
            for (hash, member) in &ranked {
                writeln!(text, "{key}.type[{t}].rank_hash[{member}]: {}", hash.to_hex()).ok();
            }
            drawn.extend(order.iter().take(lottery.panels[panel_index][t] as usize).map(|m| m.to_string()));
        }
        drawn.sort();
        assert_eq!(drawn, klero_draw::draw(&instance, &lottery, seed));
        klero_draw::verify_draw(&instance, &lottery, &probabilities, seed, &drawn).expect("the draw verifies");
        writeln!(text, "{key}.member_ids: {}", drawn.join(" ")).ok();
        // The first member drawn withdraws: the next never-seated member of their type replaces them.
        let replacement = klero_draw::draw_replacement(&instance, seed, &drawn[0], &drawn).expect("a replacement");
        writeln!(text, "{key}.replacement_for[{}]: {replacement}", drawn[0]).ok();
    }
    expect_file!["draw-vectors.txt"].assert_eq(&text);
}

/// Households (issue 30), each step computed here from the formulas of docs/FORMAT.md §9 and
/// checked against `klero_draw`: the normalised key and salted commitment of each address, the
/// type order with housemates, a lottery's draw, and replacements that skip seated households.
#[test]
fn households_are_pinned_from_address_to_replacement() {
    use klero_draw::{Instance, PublishedLottery, Quota, Volunteer, WEIGHT_TOTAL};
    let sha = |parts: &[&[u8]]| klero_ledger::Hash256::of(&parts.concat());
    let quota = |feature: &str, value: &str, min, max| Quota { feature: feature.into(), value: value.into(), min, max };
    let quotas = [quota("age", "16-29", 1, 2), quota("age", "30+", 1, 3)];
    let salt: [u8; 32] = sha(&[b"a council's household salt"]).0;
    // (id, age, address_line_1, postcode): p01 and p02 live together, as do p04, p05 and p07
    // (written three ways); p03, p06 and p08 live alone; p09 names no address.
    let people = [
        ("p01", "16-29", "4 Mill Lane", "KL1 1AA"),
        ("p02", "30+", "4 mill lane", "kl1 1aa"),
        ("p03", "30+", "9 Mill Lane", "KL1 1AA"),
        ("p04", "16-29", "Flat 2, The Old School", "KL2 3BB"),
        ("p05", "30+", "  flat 2,  the old school ", "KL2 3BB"),
        ("p06", "16-29", "1 High Street", "KL3 5CC"),
        ("p07", "30+", "FLAT 2, THE OLD SCHOOL", "kl2  3bb"),
        ("p08", "30+", "2 High Street", "KL3 5CC"),
        ("p09", "30+", "", ""),
    ];
    let mut text = String::from(
        "# Kleroterion golden vectors for households: docs/FORMAT.md §9.\n\
         # One `key: value` per line; hashes and keys lowercase hex, lists space-separated.\n",
    );
    writeln!(text, "salt: {}", to_hex(&salt)).ok();
    let mut commitments: Vec<Option<klero_ledger::Hash256>> = Vec::new();
    for (id, _, raw_line, raw_postcode) in &people {
        let normalise = |cell: &str| cell.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        let (line, postcode) = (normalise(raw_line), normalise(raw_postcode));
        let ours = klero_draw::household_key([*raw_line, *raw_postcode].into_iter());
        if line.is_empty() && postcode.is_empty() {
            assert_eq!(ours, None);
            writeln!(text, "person[{id}].household: none").ok();
            commitments.push(None);
            continue;
        }
        let key = [line.as_bytes(), &[0x1f], postcode.as_bytes()].concat();
        assert_eq!(ours, Some(key.clone()));
        let commitment = sha(&[b"KLERO-HOUSEHOLD-V1\0", &salt, &key]);
        assert_eq!(commitment, klero_draw::household_commitment(&salt, &key));
        writeln!(text, "person[{id}].household_key: {}", to_hex(&key)).ok();
        writeln!(text, "person[{id}].household: {}", commitment.to_hex()).ok();
        commitments.push(Some(commitment));
    }
    let volunteers = people.iter().zip(&commitments).map(|((id, age, _, _), household)| {
        let value_of = move |feature: &str| (feature == "age").then_some(*age);
        Volunteer { id, household: household.as_ref().map(|h| &h.0[..]), value_of }
    });
    let instance = Instance::group(&quotas, volunteers, 3).expect("instance");
    // Types: 16-29 alone (p06), then the 16-29 housemates p01, p04; 30+ alone (p03 p08 p09),
    // then the 30+ housemates p02, p05, p07.
    let ids: Vec<Vec<&str>> = instance.types.iter().map(|t| t.members.iter().map(String::as_str).collect()).collect();
    assert_eq!(
        ids,
        [vec!["p06"], vec!["p01"], vec!["p04"], vec!["p03", "p08", "p09"], vec!["p02"], vec!["p05"], vec!["p07"]]
    );
    assert_eq!(instance.households, [vec![1, 4], vec![2, 5, 6]]);
    for (t, person_type) in instance.types.iter().enumerate() {
        let age = &instance.values[0][person_type.values[0]];
        writeln!(text, "type[{t}].values: age={age}").ok();
        writeln!(text, "type[{t}].members: {}", person_type.members.join(" ")).ok();
    }
    for (h, types) in instance.households.iter().enumerate() {
        let numbers: Vec<String> = types.iter().map(usize::to_string).collect();
        writeln!(text, "household[{h}].types: {}", numbers.join(" ")).ok();
    }
    let lottery = PublishedLottery {
        panels: vec![vec![0, 1, 0, 1, 0, 1, 0], vec![1, 0, 1, 0, 1, 0, 0], vec![1, 0, 0, 2, 0, 0, 0]],
        weights: vec![400_000_000, 350_000_000, 250_000_000],
    };
    let mut seatable = lottery.clone();
    seatable.panels.push(vec![0, 1, 0, 0, 1, 0, 1]);
    seatable.weights = vec![400_000_000, 350_000_000, 200_000_000, 50_000_000];
    assert!(instance.panel_meets_quotas(&seatable.panels[3]));
    let probabilities: Vec<f64> = (0..instance.types.len()).map(|t| seatable.type_probability(&instance, t)).collect();
    assert_eq!(
        klero_draw::verify_draw(&instance, &seatable, &probabilities, b"0123456789abcdef", &[]),
        Err(klero_draw::DrawError::PanelSeatsHousemates { panel: 3 }),
        "a panel seating p01 beside p02 is refused"
    );
    let probabilities: Vec<f64> = (0..instance.types.len()).map(|t| lottery.type_probability(&instance, t)).collect();
    let household_of = |id: &str| people.iter().position(|p| p.0 == id).and_then(|i| commitments[i]);
    for seed in [&b"0123456789abcdef"[..], b"a seed revealed after the lottery"] {
        let key = format!("draw[{}]", to_hex(seed));
        let digest = sha(&[b"KLERO-DRAW-V1\0", seed]);
        let u = u64::from_be_bytes(digest.0[..8].try_into().expect("8 bytes")) % WEIGHT_TOTAL;
        let panel_index = klero_draw::draw_panel_index(&lottery, seed);
        writeln!(text, "{key}.panel_index: {panel_index} (u = {u})").ok();
        let rank = |m: &str| sha(&[b"KLERO-DRAW-MEMBER-V1\0", seed, m.as_bytes()]);
        let mut drawn = Vec::new();
        for (t, person_type) in instance.types.iter().enumerate() {
            let mut ranked: Vec<(klero_ledger::Hash256, &String)> =
                person_type.members.iter().map(|m| (rank(m), m)).collect();
            ranked.sort();
            drawn.extend(ranked.iter().take(lottery.panels[panel_index][t] as usize).map(|(_, m)| m.to_string()));
        }
        drawn.sort();
        assert_eq!(drawn, klero_draw::draw(&instance, &lottery, seed));
        klero_draw::verify_draw(&instance, &lottery, &probabilities, seed, &drawn).expect("the draw verifies");
        writeln!(text, "{key}.member_ids: {}", drawn.join(" ")).ok();
        // Members withdraw one after another, each replaced by the first, in rank among the
        // members of the same age, never seated and from no household ever seated.
        let mut ever_seated = drawn.clone();
        for leaving in drawn.clone() {
            let age = people.iter().find(|p| p.0 == leaving).expect("person").1;
            let seated_households: Vec<klero_ledger::Hash256> =
                ever_seated.iter().filter_map(|m| household_of(m)).collect();
            let mut candidates: Vec<(klero_ledger::Hash256, &str)> = people
                .iter()
                .filter(|p| p.1 == age && !ever_seated.iter().any(|m| m == p.0))
                .filter(|p| household_of(p.0).is_none_or(|h| !seated_households.contains(&h)))
                .map(|p| (rank(p.0), p.0))
                .collect();
            candidates.sort();
            let expected = candidates.first().map(|(_, m)| m.to_string());
            let ours = klero_draw::draw_replacement(&instance, seed, &leaving, &ever_seated).ok();
            assert_eq!(ours, expected, "{key}: replacing {leaving}");
            writeln!(text, "{key}.replacement_for[{leaving}]: {}", expected.as_deref().unwrap_or("none")).ok();
            ever_seated.extend(expected);
        }
    }
    expect_file!["household-vectors.txt"].assert_eq(&text);
}

/// Reserves (issue 30), each step computed here from the text of docs/FORMAT.md §9, steps 4 and
/// 5, using of klero_draw's code only the panel's draw and step 3 (pinned by the vectors
/// above), and checked against it: the seats in rank order, the
/// reserve list round by round, and the replacements as the panel's members withdraw one by
/// one. Then the fixture with reserves (version 2 of `SelectionPlanned` and `PanelDrawn`)
/// verifies, and its draw is the one pinned here.
#[test]
fn reserves_are_pinned_from_the_draw_to_the_last_replacement() {
    use klero_draw::{Instance, PublishedLottery, Quota, Volunteer};
    let sha = |parts: &[&[u8]]| klero_ledger::Hash256::of(&parts.concat());
    let quota = |feature: &str, value: &str, min, max| Quota { feature: feature.into(), value: value.into(), min, max };
    let quotas = [
        quota("age", "16-29", 1, 2),
        quota("age", "30+", 1, 2),
        quota("area", "north", 1, 3),
        quota("area", "south", 0, 2),
    ];
    // (id, age, area, household): q02 and q05 live together, as do q08, q09 and q11.
    let people = [
        ("q01", "16-29", "north", ""),
        ("q02", "30+", "north", "h1"),
        ("q03", "16-29", "south", ""),
        ("q04", "30+", "north", ""),
        ("q05", "16-29", "north", "h1"),
        ("q06", "30+", "south", ""),
        ("q07", "16-29", "north", ""),
        ("q08", "30+", "north", "h2"),
        ("q09", "16-29", "north", "h2"),
        ("q10", "30+", "south", ""),
        ("q11", "30+", "north", "h2"),
        ("q12", "16-29", "north", ""),
        ("q13", "30+", "north", ""),
    ];
    let household_of = |id: &str| people.iter().find(|p| p.0 == id).map(|p| p.3).filter(|h| !h.is_empty());
    let values_of = |id: &str| people.iter().find(|p| p.0 == id).map(|p| (p.1, p.2)).expect("a person");
    let volunteers = people.iter().map(|(id, age, area, household)| Volunteer {
        id,
        household: (!household.is_empty()).then_some(household.as_bytes()),
        value_of: move |feature: &str| Some(if feature == "age" { *age } else { *area }),
    });
    let instance = Instance::group(&quotas, volunteers, 4).expect("instance");
    let mut text = String::from(
        "# Kleroterion golden vectors for reserves: docs/FORMAT.md §9, steps 4 and 5.\n\
         # One `key: value` per line; lists space-separated, in order.\n",
    );
    // A lottery of one panel, so the panel is fixed and the seed decides the reserves.
    let panel_seats: Vec<u32> = {
        let panel = ["q01", "q03", "q04", "q06"];
        instance.types.iter().map(|t| t.members.iter().filter(|m| panel.contains(&m.as_str())).count() as u32).collect()
    };
    let lottery = PublishedLottery { panels: vec![panel_seats], weights: vec![klero_draw::WEIGHT_TOTAL] };
    let mut paths = std::collections::BTreeSet::new();
    for seed in [&b"0123456789abcdef"[..], b"a seed revealed after the lottery"] {
        let key = format!("reserves[{}]", to_hex(seed));
        let rank = |m: &str| sha(&[b"KLERO-DRAW-MEMBER-V1\0", seed, m.as_bytes()]);
        let panel = klero_draw::draw(&instance, &lottery, seed);
        let mut seats: Vec<&str> = panel.iter().map(String::as_str).collect();
        seats.sort_by_key(|m| (rank(m), m.to_string()));
        writeln!(text, "{key}.seats_in_rank_order: {}", seats.join(" ")).ok();
        for count in [2usize, 5, 20] {
            // Rounds: each seat takes the first member of its values, in rank order, who is
            // neither seated nor reserved and whose household has no one seated or reserved.
            let mut reserves: Vec<&str> = Vec::new();
            let mut households: Vec<&str> = seats.iter().filter_map(|m| household_of(m)).collect();
            'rounds: loop {
                let before = reserves.len();
                for seat in &seats {
                    let mut group: Vec<&str> =
                        people.iter().map(|p| p.0).filter(|m| values_of(m) == values_of(seat)).collect();
                    group.sort_by_key(|m| (rank(m), m.to_string()));
                    let next = group.into_iter().find(|m| {
                        !seats.contains(m)
                            && !reserves.contains(m)
                            && household_of(m).is_none_or(|h| !households.contains(&h))
                    });
                    if let Some(member) = next {
                        reserves.push(member);
                        households.extend(household_of(member));
                        if reserves.len() == count {
                            break 'rounds;
                        }
                    }
                }
                if reserves.len() == before {
                    break;
                }
            }
            let ours = klero_draw::draw_reserves(&instance, seed, &panel, count);
            assert_eq!(ours, reserves, "{key}: {count} reserves");
            writeln!(text, "{key}.count[{count}].reserve_member_ids: {}", reserves.join(" ")).ok();
        }
        // Five reserves; the panel's members withdraw one after another, in rank order, and then
        // the first members who replaced them, until the reserves run out.
        let reserves = klero_draw::draw_reserves(&instance, seed, &panel, 5);
        let mut seated: Vec<String> = panel.clone();
        let mut ever_seated: Vec<String> = panel.clone();
        for round in 0..8 {
            let leaving = if round < 4 { seats[round].to_string() } else { ever_seated[round].clone() };
            seated.retain(|m| *m != leaving);
            let seated_households: Vec<&str> = ever_seated.iter().filter_map(|m| household_of(m)).collect();
            let waiting: Vec<&String> = reserves
                .iter()
                .filter(|r| !ever_seated.contains(r) && household_of(r).is_none_or(|h| !seated_households.contains(&h)))
                .collect();
            let bounds = |feature: usize, value: &str| {
                quotas
                    .iter()
                    .find(|q| q.feature == ["age", "area"][feature] && q.value == value)
                    .map(|q| (q.min, q.max))
            };
            let count_of = |feature: usize, value: &str| {
                seated.iter().filter(|m| [values_of(m).0, values_of(m).1][feature] == value).count() as u32
            };
            let keeps = |r: &str| {
                let (incoming, outgoing) = (values_of(r), values_of(&leaving));
                [(incoming.0, outgoing.0), (incoming.1, outgoing.1)].iter().enumerate().all(|(f, (i, o))| {
                    i == o || {
                        let ((_, max), (min, _)) = (bounds(f, i).expect("quota"), bounds(f, o).expect("quota"));
                        count_of(f, i) < max && count_of(f, o) >= min
                    }
                })
            };
            let (expected, how) = if let Some(same) = waiting.iter().find(|r| values_of(r) == values_of(&leaving)) {
                (same.to_string(), "same values")
            } else if let Some(keeping) = waiting.iter().find(|r| keeps(r)) {
                (keeping.to_string(), "keeps the quotas")
            } else if let Some(first) = waiting.first() {
                (first.to_string(), "first waiting")
            } else {
                match klero_draw::draw_replacement(&instance, seed, &leaving, &ever_seated) {
                    Ok(from_pool) => (from_pool, "the pool, step 3"),
                    Err(_) => ("none".to_string(), "no one left"),
                }
            };
            let seating = klero_draw::Seating { seated: &seated, ever_seated: &ever_seated, reserves: &reserves };
            let ours = klero_draw::replacement(&instance, seed, &leaving, seating).unwrap_or_else(|_| "none".into());
            assert_eq!(ours, expected, "{key}: replacing {leaving}");
            paths.insert(how);
            writeln!(text, "{key}.replacement_for[{leaving}]: {expected} ({how})").ok();
            if expected == "none" {
                break;
            }
            seated.push(expected.clone());
            ever_seated.push(expected);
        }
    }
    assert_eq!(paths.len(), 5, "the vectors take every path of step 5 and step 3: {paths:?}");
    // The fixture with reserves verifies, and holds the draw as computed above.
    let fixture = fixture::letters_and_reserves();
    let report = klero_verifier::verify_export(&fixture.export, &mut |_, _| {});
    assert!(report.ok(), "{}", report.to_text());
    for (event_type, version, payload) in &fixture.payloads {
        if event_type.ends_with("PanelDrawn") || event_type.ends_with("ReplacementDrawn") {
            let decoded = decode_event(event_type, *version, payload).expect("decodes");
            writeln!(text, "fixture[reserves].{event_type} v{version}: {decoded:?}").ok();
        }
    }
    expect_file!["reserve-vectors.txt"].assert_eq(&text);
}

/// The letter lottery (issue 30, FORMAT.md §9.1), each step computed here from the text of
/// §9.1 alone and checked against `klero_draw::letters` and the fixture's events: the keys of the
/// fixture's address list, its hash, the letters per ward, every address's rank, the addresses
/// invited and their letter commitments. Then `check_letters` passes the honest fixture and
/// fails, at the right position, a volunteer who names a letter the seed did not draw, the
/// wrong salt and a list with one address changed.
#[test]
fn the_letter_lottery_is_pinned_from_address_list_to_letter() {
    use klero_draw::letters::{allocate_letters, draw_letters, letter_commitment, Address};
    let sha = |parts: &[&[u8]]| klero_ledger::Hash256::of(&parts.concat());
    let list = fixture::letter_addresses();
    let seed: &[u8] = b"the fixture's letter seed, 32 b.";
    let mut text = String::from(
        "# Kleroterion golden vectors for the letter lottery: docs/FORMAT.md §9.1.\n\
         # One `key: value` per line; hashes and keys lowercase hex, lists space-separated.\n",
    );
    let list_hash = sha(&[list.as_bytes()]);
    writeln!(text, "address_list_hash: {}", list_hash.to_hex()).ok();
    writeln!(text, "seed: {}", to_hex(seed)).ok();
    writeln!(text, "salt: {}", to_hex(&fixture::LETTER_SALT)).ok();
    // Keys: every cell trimmed, lowercased, spaces collapsed, joined by 0x1F; the area is the
    // `ward` cell.
    let rows: Vec<Vec<&str>> = list.lines().skip(1).map(|line| line.split(',').collect()).collect();
    let keys: Vec<Vec<u8>> = rows
        .iter()
        .map(|cells| {
            let normalised: Vec<String> =
                cells.iter().map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()).collect();
            normalised.join("\u{1f}").into_bytes()
        })
        .collect();
    let read = klero_selection::read_address_list(&list, Some("ward")).expect("the list reads");
    assert_eq!(read.keys, keys);
    // Letters per ward: ⌊14 × addresses / 30⌋, then the rest by largest remainder, ties by name.
    let mut wards: Vec<(String, u32)> = Vec::new();
    for cells in &rows {
        match wards.iter_mut().find(|(w, _)| w == cells[2]) {
            Some((_, n)) => *n += 1,
            None => wards.push((cells[2].to_string(), 1)),
        }
    }
    wards.sort();
    let mut letters: Vec<u32> = wards.iter().map(|(_, n)| 14 * n / 30).collect();
    let mut by_remainder: Vec<usize> = (0..wards.len()).collect();
    by_remainder.sort_by_key(|&w| (std::cmp::Reverse(14 * wards[w].1 % 30), w));
    let left = 14 - letters.iter().sum::<u32>();
    for &w in by_remainder.iter().take(left as usize) {
        letters[w] += 1;
    }
    let areas = allocate_letters(&wards, 14);
    for ((area, (ward, addresses)), letters) in areas.iter().zip(&wards).zip(&letters) {
        assert_eq!((&area.area, area.addresses, area.letters), (ward, *addresses, *letters));
        writeln!(text, "area[{ward}]: {letters} letters to {addresses} addresses").ok();
    }
    // Ranks, and in each ward the addresses of lowest rank.
    let rank = |key: &[u8]| sha(&[b"KLERO-LETTER-DRAW-V1\0", seed, key]);
    let mut invited: Vec<usize> = Vec::new();
    for (ward, letters) in wards.iter().map(|(w, _)| w).zip(&letters) {
        let mut ranked: Vec<(klero_ledger::Hash256, &[u8], usize)> =
            (0..rows.len()).filter(|&i| rows[i][2] == ward).map(|i| (rank(&keys[i]), &keys[i][..], i)).collect();
        ranked.sort();
        invited.extend(ranked.iter().take(*letters as usize).map(|(_, _, i)| *i));
    }
    for (i, key) in keys.iter().enumerate() {
        writeln!(text, "address[{}].key: {}", i + 2, to_hex(key)).ok();
        writeln!(text, "address[{}].rank: {}", i + 2, rank(key).to_hex()).ok();
    }
    let addresses: Vec<Address<'_>> =
        keys.iter().zip(&rows).map(|(key, cells)| Address { key, area: cells[2] }).collect();
    assert_eq!(draw_letters(&addresses, 14, &areas, seed).expect("the draw"), invited);
    for &i in &invited {
        let commitment = sha(&[b"KLERO-LETTER-V1\0", &fixture::LETTER_SALT, &keys[i]]);
        assert_eq!(commitment, letter_commitment(&fixture::LETTER_SALT, &keys[i]));
        writeln!(text, "invited[line {}]: {} (letter {})", i + 2, rows[i].join(","), commitment.to_hex()).ok();
    }
    // The fixture's plan is this one, and its record verifies.
    let fixture = fixture::letters_and_reserves();
    let (_, version, payload) =
        fixture.payloads.iter().find(|(t, _, _)| t.ends_with("LettersPlanned")).expect("the plan");
    let Ok(klero_domain::DomainEvent::LettersPlanned(plan)) =
        decode_event("klero.selection.v1.LettersPlanned", *version, payload)
    else {
        panic!("the plan decodes");
    };
    assert_eq!((plan.address_list_hash, plan.address_count, &plan.areas), (list_hash, 30, &areas));
    let report = klero_verifier::verify_export(&fixture.export, &mut |_, _| {});
    assert!(report.ok(), "{}", report.to_text());
    let read_list = |column: Option<&str>| {
        klero_selection::read_address_list(&list, column).map(|r| (r.keys, r.areas)).map_err(|e| e.to_string())
    };
    let check = |events: &[Vec<u8>], hash, salt: &[u8; 32]| {
        klero_verifier::letters::check_letters(events.iter().cloned(), hash, salt, &read_list)
    };
    let audits = check(&fixture.export.events, list_hash, &fixture::LETTER_SALT).expect("the honest lottery");
    writeln!(text, "audit: {}", audits[0].to_text().trim_end()).ok();
    assert_eq!((audits[0].invited, audits[0].volunteers, audits[0].volunteers_with_letter), (14, 12, 11));
    // Attacks: a volunteer with a letter not drawn, the wrong salt, and a changed list.
    let pool_at = fixture
        .export
        .events
        .iter()
        .position(|e| Envelope::parse(e.clone()).expect("envelope").author().event_type.ends_with("PoolRegistered"))
        .expect("the pool") as u64;
    let uninvited = fixture::letters_with_an_uninvited_volunteer();
    assert!(klero_verifier::verify_export(&uninvited.export, &mut |_, _| {}).ok(), "the rules cannot see it");
    let failure = check(&uninvited.export.events, list_hash, &fixture::LETTER_SALT).expect_err("an uninvited letter");
    assert_eq!((failure.class, failure.position), (klero_verifier::FailureClass::Letters, Some(pool_at)));
    assert!(failure.reason.contains("r11"), "{failure}");
    writeln!(text, "attack[uninvited volunteer]: {} at {}", failure.class.as_str(), pool_at).ok();
    let failure = check(&fixture.export.events, list_hash, &[0x5b; 32]).expect_err("the wrong salt");
    assert_eq!((failure.class, failure.position), (klero_verifier::FailureClass::Letters, Some(pool_at)));
    let changed = list.replacen("1 Mill Lane", "1 Mill Lane East", 1);
    let failure =
        check(&fixture.export.events, sha(&[changed.as_bytes()]), &fixture::LETTER_SALT).expect_err("another list");
    assert_eq!((failure.class, failure.position), (klero_verifier::FailureClass::Letters, None));
    writeln!(text, "attack[another list]: {}", failure.class.as_str()).ok();
    expect_file!["letter-vectors.txt"].assert_eq(&text);
}

/// Issue 14: a snapshot keeps each input once (since issue 29, in the domain's table of inputs,
/// which the views and the documents read too); the fold taken up from a snapshot answers
/// exactly as the one that wrote it, down to every view's bytes and the next event's decision.
/// (Snapshot bytes themselves are not compared: maps serialise in their own order.)
#[test]
fn a_fold_taken_up_from_its_snapshot_answers_as_the_original() {
    let fixture = fixture::lifecycle();
    let original = folded(&fixture);
    let restored = LogFold::from_snapshot(&original.to_snapshot(), |table, length| {
        let rows = original.kept_rows(table, 0, u32::MAX);
        assert_eq!(rows.len() as u64, length, "the text names every row of {}", table.as_str());
        Ok(rows)
    })
    .expect("the snapshot loads");
    let assembly = klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id");
    for name in ViewName::ALL {
        assert_eq!(restored.views().render(name, &assembly), original.views().render(name, &assembly), "{name:?}");
    }
    let mut kinds: Vec<_> = original.committed_document_kinds().collect();
    let mut restored_kinds: Vec<_> = restored.committed_document_kinds().collect();
    kinds.sort();
    restored_kinds.sort();
    assert_eq!(restored_kinds, kinds, "every committed document, with what commits to it");
    assert_eq!(
        (restored.state().inputs().count_of(&assembly), original.state().inputs().count_of(&assembly)),
        (6, 6),
        "the evidence, two submissions and three residents' own"
    );
    // A citation of a recorded input is decided the same way after the restore.
    let evidence = original.views().inputs().next().expect("an input").2;
    let cite = klero_domain::DomainEvent::RecommendationInputsCited(klero_domain::events::RecommendationInputsCited {
        recommendation_id: "R2".into(),
        text_hash: klero_ledger::Hash256::of(b"R2 draft"),
        citations: vec![klero_domain::events::InputCitation { input_event_hash: evidence, note: String::new() }],
    });
    let secretary = klero_testkit::key("fixture: panel secretary").verifying_key().to_bytes();
    let proposal = klero_domain::Proposal {
        stream: "assembly/fixture/recommendation",
        author: &secretary,
        recorded_at_unix_ms: 1_900_000_000_000,
    };
    assert_eq!(
        restored.decide(std::slice::from_ref(&cite), proposal),
        original.decide(std::slice::from_ref(&cite), proposal)
    );
}

/// The fixture with sealed personal text (docs/FORMAT.md §14), byte for byte: what an
/// independent implementation must reproduce to open, check and erase sealed text.
#[test]
fn the_personal_data_fixture_is_pinned_byte_for_byte() {
    let fixture = fixture::personal_data();
    let fold = folded(&fixture);
    let report = klero_verifier::verify_export(&fixture.export, &mut |_, _| {});
    assert!(report.complete(), "{}", report.to_text());
    let mut text = String::from(
        "# Kleroterion golden vectors for sealed personal text: docs/FORMAT.md §14, over the events below.\n\
         # One `key: value` per line; values are lowercase hex, or one line of JSON.\n",
    );
    writeln!(text, "trust_root_public_key: {}", to_hex(&fixture.trust_root)).ok();
    writeln!(text, "log_verifier_key: {}", fixture.log_key.verifier().to_vkey_string()).ok();
    let mut sealed_fields = 0;
    for (index, bytes) in fixture.export.events.iter().enumerate() {
        writeln!(text, "event[{index}].envelope: {}", to_hex(bytes)).ok();
        let envelope = Envelope::parse(bytes.clone()).expect("envelope");
        let event = LogFold::decode(&envelope).expect("decodes");
        let event_id = envelope.author().event_id;
        let Some((_, key)) = fixture.data_keys.iter().find(|(id, _)| *id == event_id) else { continue };
        writeln!(text, "event[{index}].data_key: {}", to_hex(&key.0)).ok();
        for (field, sealed) in event.sealed_fields() {
            let opened = klero_domain::personal::open(key, &event_id.0, field, sealed).expect("the fixture opens");
            let at = format!("event[{index}].{field}");
            writeln!(
                text,
                "{at}.associated_data: {}",
                to_hex(&klero_domain::personal::associated_data(&event_id.0, field))
            )
            .ok();
            writeln!(text, "{at}.nonce: {}", to_hex(&sealed.nonce)).ok();
            writeln!(text, "{at}.salt: {}", to_hex(&opened.salt)).ok();
            writeln!(text, "{at}.text: {}", serde_json::Value::from(opened.text.as_str())).ok();
            writeln!(text, "{at}.ciphertext: {}", to_hex(&sealed.ciphertext)).ok();
            writeln!(text, "{at}.commitment: {}", sealed.commitment.to_hex()).ok();
            sealed_fields += 1;
        }
        // §14.6: the proof of work of a submission signed in a browser.
        if let klero_domain::DomainEvent::ResidentSubmitted(submitted) = &event {
            if submitted.path == klero_domain::SubmissionPath::Browser {
                let author = envelope.author().author_public_key;
                let mut input = b"klero-work/v1\0".to_vec();
                input.extend_from_slice(submitted.call_id.as_bytes());
                input.push(0);
                input.extend_from_slice(&author);
                input.extend_from_slice(&submitted.text.commitment.0);
                input.extend_from_slice(&submitted.work_nonce.to_be_bytes());
                let hash = klero_domain::work::work_hash(
                    &submitted.call_id,
                    &author,
                    &submitted.text.commitment,
                    submitted.work_nonce,
                );
                assert_eq!(hash, klero_ledger::Hash256::of(&input), "§14.6 as written");
                let at = format!("event[{index}].work");
                writeln!(text, "{at}.input: {}", to_hex(&input)).ok();
                writeln!(text, "{at}.hash: {}", hash.to_hex()).ok();
                writeln!(text, "{at}.bits: {}", klero_domain::work::leading_zero_bits(&hash)).ok();
                writeln!(text, "{at}.nonce: {}", submitted.work_nonce).ok();
            }
        }
    }
    assert_eq!(
        sealed_fields, 11,
        "a title, two submissions, three rationales, a note, three residents' texts and a contact"
    );
    let assembly = klero_domain::AssemblyId::parse(fixture::ASSEMBLY).expect("id");
    for name in ViewName::ALL {
        let view = fold.views().render(name, &assembly).expect("rendered");
        let key = format!("view[{}/{}]", name.as_str(), fixture::ASSEMBLY);
        writeln!(text, "{key}.json: {}", view.json).ok();
        writeln!(text, "{key}.digest: {}", view.digest.to_hex()).ok();
    }
    expect_file!["personal-data-vectors.txt"].assert_eq(&text);
}

/// docs/FORMAT.md §14 is enough for an outsider: a Python program written from it alone, with
/// its own XChaCha20-Poly1305, opens every sealed field of the vectors and checks each
/// commitment.
#[test]
fn an_independent_implementation_opens_and_checks_the_sealed_vectors() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/independent_sealing.py"))
        .arg(root.join("tests/tests/golden/personal-data-vectors.txt"))
        .output()
        .expect("python3 runs (the project's machines all have it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("11 sealed fields opened"), "{stdout}");
    assert!(stdout.contains("2 proofs of work checked"), "{stdout}");
}

/// The golden slice vectors: one case per line group, `case[N].name`, `.page`, `.request`
/// (JSON), `.expect` (`ok` or a failure class) and `.slice` (the slice's text, base64).
#[test]
fn the_slice_vectors_are_pinned_byte_for_byte() {
    use base64::Engine as _;
    let mut out = String::from(
        "# Kleroterion golden slice vectors (docs/FORMAT.md §15): slices of the fixtures, honest and attacked.\n\
         # Each case: the page, the browser's request, the verdict every verifier reaches, and the slice (base64).\n",
    );
    for (n, case) in klero_testkit::slices::slice_cases().iter().enumerate() {
        let _ = writeln!(out, "case[{n}].name: {}", case.name);
        let _ = writeln!(out, "case[{n}].page: {}", case.page);
        let _ = writeln!(out, "case[{n}].request: {}", case.request);
        let _ = writeln!(out, "case[{n}].expect: {}", case.expect.unwrap_or("ok"));
        let _ =
            writeln!(out, "case[{n}].slice: {}", base64::engine::general_purpose::STANDARD.encode(case.slice.encode()));
    }
    expect_file!["slice-vectors.txt"].assert_eq(&out);
}

/// A verifier's failure as the export vectors pin it: class, position and line.
type Verdict<'c> = (&'c str, Option<u64>, Option<usize>);

/// A tampered copy of `fixture.export`: its name, its edits and the verdict intended.
type ExportCase = (&'static str, Vec<Edit>, Option<Verdict<'static>>);

/// One change to `fixture.export`, by the 1-based number of a line of the original file.
enum Edit {
    Replace(usize, String),
    Delete(usize),
    InsertBefore(usize, String),
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edit::Replace(line, text) => write!(f, "replace {line} {text}"),
            Edit::Delete(line) => write!(f, "delete {line}"),
            Edit::InsertBefore(line, text) => write!(f, "insert-before {line} {text}"),
        }
    }
}

fn apply(original: &str, edits: &[Edit]) -> String {
    let mut out = String::new();
    for (at, line) in original.lines().enumerate() {
        let number = at + 1;
        for edit in edits {
            if let Edit::InsertBefore(n, text) = edit {
                if *n == number {
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        let replaced = edits.iter().find_map(|edit| match edit {
            Edit::Replace(n, text) if *n == number => Some(Some(text.as_str())),
            Edit::Delete(n) if *n == number => Some(None),
            _ => None,
        });
        match replaced {
            Some(Some(text)) => out.push_str(text),
            Some(None) => continue,
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A checkpoint line the fixture's log key signs: of the first `size` events, with their true
/// root and stream heads unless the case says otherwise.
fn checkpoint_line(
    events: &[Vec<u8>],
    size: usize,
    root: Option<klero_ledger::Hash256>,
    heads_of: Option<usize>,
) -> String {
    use base64::Engine as _;
    let note = checkpoint_note(events, size, root, heads_of);
    format!("checkpoint {}", base64::engine::general_purpose::STANDARD.encode(note))
}

/// [`checkpoint_line`]'s signed note.
fn checkpoint_note(
    events: &[Vec<u8>],
    size: usize,
    root: Option<klero_ledger::Hash256>,
    heads_of: Option<usize>,
) -> String {
    let prefix_heads = |count: usize| {
        let mut chains = klero_ledger::chain::StreamChainChecker::new();
        for bytes in &events[..count] {
            let envelope = Envelope::parse(bytes.clone()).expect("envelope");
            chains.check_next(&envelope, envelope.event_hash()).expect("chains");
        }
        chains.heads_tree().commitment()
    };
    let mut tree = klero_ledger::merkle::MerkleTree::new();
    for bytes in &events[..size] {
        tree.push_entry(&Envelope::parse(bytes.clone()).expect("envelope").event_hash());
    }
    let checkpoint = klero_ledger::checkpoint::Checkpoint {
        origin: fixture::LOG_NAME.into(),
        tree_size: size as u64,
        root_hash: root.unwrap_or_else(|| tree.root()),
        stream_heads: Some(prefix_heads(heads_of.unwrap_or(size))),
    };
    fixture::lifecycle().log_key.sign(&checkpoint).expect("sign").note().to_string()
}

/// The fixture's log with one more event, by the fixture's facilitator: the event line and the
/// checkpoint line that covers it.
fn one_more_event(event_type: &str, version: u32, payload: Vec<u8>) -> (String, String) {
    use base64::Engine as _;
    let fixture = fixture::lifecycle();
    let facilitator = klero_testkit::key("fixture: facilitator");
    let last = Envelope::parse(fixture.export.events.last().expect("events").clone()).expect("envelope");
    let recorded = last.ledger().recorded_at_unix_ms + 60_000;
    let mut builder = klero_testkit::ExportBuilder::new(fixture.log_key.clone(), fixture.trust_root)
        .extend_from(&fixture.export.events);
    let mut event_id = [0x5a; 16];
    event_id[6] = 0x40;
    event_id[8] = 0x80;
    builder.append(
        klero_ledger::envelope::AuthorPart {
            event_id: klero_ledger::envelope::EventId(event_id),
            stream: format!("assembly/{}/deliberation", fixture::ASSEMBLY),
            event_type: event_type.into(),
            event_version: version,
            author_public_key: facilitator.verifying_key().to_bytes(),
            authored_at_unix_ms: recorded,
            payload,
        },
        &facilitator,
        recorded,
    );
    let events = builder.finish().events;
    let line = format!("event {}", base64::engine::general_purpose::STANDARD.encode(events.last().expect("event")));
    (line, checkpoint_line(&events, events.len(), None, None))
}

/// Tampered exports, as edits of `fixture.export`, and the verdict every verifier must reach
/// (docs/FORMAT.md §8): `ok`, or the failure's class, position and line (`-` for none). Each
/// verdict is asserted here as intended, then pinned in `export-vectors.txt`.
/// `fixture.export`, and the tampered copies of [`the_export_failure_vectors_are_pinned`]:
/// each case's name, edits and intended verdict.
fn export_failure_cases() -> (String, Vec<ExportCase>) {
    use prost::Message as _;
    let original =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fixture.export"))
            .expect("fixture.export");
    let lines: Vec<&str> = original.lines().collect();
    let events = fixture::lifecycle().export.events;
    let size = events.len();
    let (end, last_event) = (lines.len(), lines.len() - 1);
    let first_view = lines.iter().position(|l| l.starts_with("view ")).expect("a view line") + 1;
    let view_words: Vec<&str> = lines[first_view - 1].split(' ').collect();
    let swapped_view =
        |name: &str, assembly: &str| format!("view {name} {assembly} {} {}", view_words[3], view_words[4]);
    let cut_short = &lines[last_event - 1][..lines[last_event - 1].len() - 8];
    let sealed_less = pb_submission_at_version_2();
    let (v2_line, v2_checkpoint) = one_more_event("klero.deliberation.v1.PublicSubmissionReceived", 2, sealed_less);
    let nul_session = klero_proto::deliberation::SessionHeld {
        session_number: 2,
        held_on: "2027-02-01".into(),
        agenda: "Transport\u{0}: a NUL in the agenda".into(),
        attendance_count: 4,
    };
    let (nul_line, nul_checkpoint) =
        one_more_event("klero.deliberation.v1.SessionHeld", 1, nul_session.encode_to_vec());
    let another_root = Some(klero_ledger::Hash256::of(b"another history"));
    let cases: Vec<ExportCase> = vec![
        ("the fixture as it is", vec![], None),
        (
            "the last event left out",
            vec![Edit::Delete(last_event), Edit::Replace(end, format!("end {}", size - 1))],
            Some(("checkpoint", Some(size as u64), None)),
        ),
        (
            "the last event's line cut short",
            vec![Edit::Replace(last_event, cut_short.to_string())],
            Some(("format", Some(size as u64 - 1), Some(last_event))),
        ),
        (
            "the log cut short and re-signed, its views kept",
            vec![
                Edit::Delete(last_event),
                Edit::Replace(end, format!("end {}", size - 1)),
                Edit::Replace(4, checkpoint_line(&events, size - 1, None, None)),
            ],
            Some(("view", Some(size as u64), None)),
        ),
        (
            "a view line naming no view",
            vec![Edit::Replace(first_view, swapped_view("assembly-summary", "fixture"))],
            Some(("format", None, Some(first_view))),
        ),
        (
            "a view line with a malformed assembly id",
            vec![Edit::Replace(first_view, swapped_view("assembly-overview", "Fixture"))],
            Some(("format", None, Some(first_view))),
        ),
        (
            "a signed checkpoint over another root",
            vec![Edit::Replace(4, checkpoint_line(&events, size, another_root, None))],
            Some(("checkpoint", Some(size as u64), None)),
        ),
        (
            "a signed checkpoint whose stream heads name an older event",
            vec![Edit::Replace(4, checkpoint_line(&events, size, None, Some(size - 1)))],
            Some(("checkpoint", Some(size as u64), None)),
        ),
        (
            "two signed checkpoints of one size with different roots",
            vec![Edit::InsertBefore(first_view, checkpoint_line(&events, size, another_root, None))],
            Some(("fork", Some(size as u64), None)),
        ),
        (
            "the end line's count wrong",
            vec![Edit::Replace(end, format!("end {}", size + 1))],
            Some(("format", None, Some(end))),
        ),
        (
            "a version 2 event that seals nothing",
            vec![
                Edit::Replace(4, v2_checkpoint),
                Edit::InsertBefore(end, v2_line),
                Edit::Replace(end, format!("end {}", size + 1)),
            ],
            Some(("payload", Some(size as u64), None)),
        ),
        (
            "an agenda holding a NUL",
            vec![
                Edit::Replace(4, nul_checkpoint),
                Edit::InsertBefore(end, nul_line),
                Edit::Replace(end, format!("end {}", size + 1)),
            ],
            Some(("payload", Some(size as u64), None)),
        ),
    ];
    (original, cases)
}

#[test]
fn the_export_failure_vectors_are_pinned() {
    let (original, cases) = export_failure_cases();
    let mut out = String::from(
        "# Kleroterion golden export vectors (docs/FORMAT.md §8): tampered copies of fixture.export and the verdict.\n\
         # Each case: edits of fixture.export by the 1-based number of a line of the original file (replace N TEXT,\n\
         # delete N, insert-before N TEXT), then `ok` or `CLASS POSITION LINE` (`-` where there is none).\n",
    );
    for (n, (name, edits, intended)) in cases.iter().enumerate() {
        let text = apply(&original, edits);
        let report = klero_verifier::verify_stream(
            std::io::Cursor::new(text.as_bytes()),
            &Default::default(),
            None,
            &mut |_, _| {},
        );
        let verdict = report.first_failure.as_ref().map(|f| (f.class.as_str(), f.position, f.line.map(|l| l as usize)));
        assert_eq!(verdict, *intended, "{name}: {}", report.to_text());
        let _ = writeln!(out, "case[{n}].name: {name}");
        for (k, edit) in edits.iter().enumerate() {
            let _ = writeln!(out, "case[{n}].edit[{k}]: {edit}");
        }
        let show = |value: Option<String>| value.unwrap_or_else(|| "-".into());
        let expect = match verdict {
            None => "ok".to_string(),
            Some((class, position, line)) => {
                format!("{class} {} {}", show(position.map(|p| p.to_string())), show(line.map(|l| l.to_string())))
            }
        };
        let _ = writeln!(out, "case[{n}].expect: {expect}");
    }
    expect_file!["export-vectors.txt"].assert_eq(&out);
}

/// A public submission with its document hash and no sealed text: a version 1 payload.
fn pb_submission_at_version_2() -> Vec<u8> {
    use prost::Message as _;
    klero_proto::deliberation::PublicSubmissionReceived {
        submitter_id: "s0099".into(),
        content_hash: klero_ledger::Hash256::of(b"a submission").0.to_vec(),
        received_on: "2027-02-01".into(),
        sealed_text: None,
    }
    .encode_to_vec()
}

/// The councils fixture (two councils on one platform) and one council's slice (FORMAT.md
/// §15.2, `council/ID`): its events, the slice an auditor of `north` fetches, and the verdict
/// on it and on three lies about it.
#[test]
fn the_council_vectors_are_pinned() {
    use base64::Engine as _;
    use klero_verifier::slice::{cut, verify_slice, SliceOptions, SliceTarget, WholeLog};
    let fixture = fixture::councils();
    let report = klero_verifier::verify_export(&fixture.export, &mut |_, _| {});
    assert!(report.complete(), "{}", report.to_text());
    let mut out = String::from(
        "# Kleroterion golden council vectors (docs/FORMAT.md §15.2, docs/RULES.md \"Councils\"): two councils on one\n\
         # platform, the slice of council `north`, and the verdict every verifier reaches on it and on lies about it.\n",
    );
    writeln!(out, "platform_trust_root: {}", to_hex(&fixture.trust_root)).ok();
    writeln!(out, "log_verifier_key: {}", fixture.log_key.verifier().to_vkey_string()).ok();
    for (index, bytes) in fixture.export.events.iter().enumerate() {
        writeln!(out, "event[{index}].envelope: {}", to_hex(bytes)).ok();
    }
    let log_key = fixture.log_key.verifier().to_vkey_string();
    let (documents, openings) = (Default::default(), Vec::new());
    let whole = WholeLog {
        envelopes: &fixture.export.events,
        log_key: &log_key,
        trust_root: fixture.trust_root,
        documents: &documents,
        openings: &openings,
    };
    let note = fixture.export.checkpoints.last().expect("a checkpoint");
    let north = SliceTarget::Council(klero_domain::CouncilId::parse("north").expect("id"));
    let south = SliceTarget::Council(klero_domain::CouncilId::parse("south").expect("id"));
    let slice = cut(&whole, note, &north, &[]).expect("north's slice");
    let options = SliceOptions::default();
    let verdict =
        |slice: &klero_verifier::slice::Slice, target: &SliceTarget| match verify_slice(slice, target, &options) {
            Ok(_) => "ok".to_string(),
            Err(failure) => failure.class.as_str().to_string(),
        };
    let north_convening = slice
        .events
        .iter()
        .position(|(_, bytes)| {
            Envelope::parse(bytes.clone()).expect("parses").author().event_type == "klero.assembly.v1.AssemblyConvened"
        })
        .expect("north's convening");
    let mut without_convening = slice.clone();
    without_convening.events.remove(north_convening);
    let mut with_south = slice.clone();
    let south_event = fixture
        .export
        .events
        .iter()
        .enumerate()
        .find(|(_, bytes)| Envelope::parse((*bytes).clone()).expect("parses").author().stream == "council/south")
        .map(|(index, bytes)| (index as u64, bytes.clone()))
        .expect("south's registration");
    with_south.events.push(south_event);
    with_south.events.sort_by_key(|(index, _)| *index);
    let cases = [
        ("north's slice, as north's", verdict(&slice, &north)),
        ("north's slice, passed off as south's", verdict(&slice, &south)),
        ("north's convening left out", verdict(&without_convening, &north)),
        ("an event of south's added", verdict(&with_south, &north)),
    ];
    assert_eq!(cases[0].1, "ok");
    assert!(cases[1..].iter().all(|(_, verdict)| verdict != "ok"), "{cases:?}");
    writeln!(out, "slice[council/north]: {}", base64::engine::general_purpose::STANDARD.encode(slice.encode())).ok();
    for (name, verdict) in cases {
        writeln!(out, "verdict[{name}]: {verdict}").ok();
    }
    expect_file!["council-vectors.txt"].assert_eq(&out);
}

/// Witnessed time (FORMAT.md §13.6): the fixture's log with checkpoints cosigned by three
/// witnesses at fixed times, under a policy of two of them; each answer's recording time, its
/// deadline, the bound the witnesses put on it, and the verdicts. Twice: with the witnesses'
/// clocks a minute after the log's, and with them three days after (a log whose clock was set
/// back).
#[test]
fn the_witnessed_time_vectors_are_pinned() {
    use klero_ledger::cosignature::{CosignerKey, WitnessPolicy};
    use klero_testkit::ExportBuilder;
    let fixture = fixture::lifecycle();
    let events = &fixture.export.events;
    let recorded_at =
        |index: usize| Envelope::parse(events[index].clone()).expect("parses").ledger().recorded_at_unix_ms;
    let witnesses: Vec<CosignerKey> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            CosignerKey::new(&format!("witness-{n}.example"), klero_testkit::key(&format!("fixture: witness {n}")))
                .expect("key")
        })
        .collect();
    let policy = WitnessPolicy::new(witnesses.iter().map(|w| w.verifier()).collect(), 2).expect("policy");
    // Witnessed checkpoints at every fourth size and at the end.
    let sizes: Vec<usize> = (4..events.len()).step_by(4).chain([events.len()]).collect();
    let mut out = String::from(
        "# Kleroterion golden witnessed-time vectors (docs/FORMAT.md §13.6): the fixture's events (record-vectors.txt),\n\
         # checkpoints cosigned by three witnesses (a policy of 2), and each answer's times in Unix milliseconds.\n",
    );
    for witness in &witnesses {
        writeln!(out, "witness: {}", witness.verifier().to_vkey_string()).ok();
    }
    writeln!(out, "quorum: 2").ok();
    for (case, lag_seconds) in [("witnesses a minute behind the log", 60u64), ("a log set back three days", 3 * 86_400)]
    {
        let mut export = fixture.export.clone();
        export.checkpoints.clear();
        for &size in &sizes {
            let signed = ExportBuilder::new(fixture.log_key.clone(), fixture.trust_root)
                .extend_from(&events[..size])
                .checkpoint();
            let base = recorded_at(size - 1) / 1000 + lag_seconds;
            // Witness c cosigns late; a and b within seconds: the quorum's time is b's.
            let lines: Vec<_> = witnesses
                .iter()
                .zip([base, base + 5, base + 3_600])
                .map(|(witness, at)| witness.cosign(signed.checkpoint(), at))
                .collect();
            export.checkpoints.push(signed.with_signature_lines(&lines).note().to_string());
        }
        let options = klero_verifier::VerifyOptions { witness_policy: Some(policy.clone()), ..Default::default() };
        let report = klero_verifier::verify_export_with(&export, &options, &mut |_, _| {});
        assert!(report.complete(), "{}", report.to_text());
        assert!(!report.answer_times.is_empty(), "the fixture has answers");
        writeln!(out, "case: {case}").ok();
        for note in &export.checkpoints {
            writeln!(out, "  checkpoint: {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, note))
                .ok();
        }
        for answer in &report.answer_times {
            writeln!(
                out,
                "  answer[{}]: recorded_at {} due_by {} attested_by {} on_time_by_log {} on_time_attested {:?} disagrees {}",
                answer.log_index,
                answer.recorded_at_unix_ms,
                answer.due_by_unix_ms,
                answer.attested_by_unix_ms.map_or("none".to_string(), |t| t.to_string()),
                answer.on_time_by_log(),
                answer.on_time_attested(),
                answer.time_disagrees(klero_verifier::TIME_TOLERANCE_MS)
            )
            .ok();
        }
        let disagreements = report.time_disagreements();
        if lag_seconds > 900 {
            assert_eq!(disagreements, report.answer_times.len(), "every answer of the set-back log");
        } else {
            assert_eq!(disagreements, 0, "an honest clock raises nothing");
        }
    }
    expect_file!["time-vectors.txt"].assert_eq(&out);
}

/// A monitor's verification goes on from the state its last round left
/// (`klero_verifier::ContinuedVerification`). What must never happen: a continued round says
/// ok where a replay from the first event fails, or fails where that replay says ok. So every
/// tampered export above, and the fixture itself, gets the same verdict continued from an
/// honest, checkpointed prefix as verified whole; and what the kept state cannot check (a
/// checkpoint of a past size it never verified, a fork of the size it verified) sends the
/// round back to the first event, where the fork is found.
#[test]
fn a_continued_verification_reaches_the_verdict_of_a_whole_one() {
    use klero_verifier::{verify_export, ContinuedVerification, Export, ExportHeader, Report};
    let verdict = |report: &Report| report.first_failure.as_ref().map(|f| (f.class.as_str().to_string(), f.position));
    let (original, cases) = export_failure_cases();
    let honest = fixture::lifecycle().export;
    let size = honest.events.len();
    let another_root = Some(klero_ledger::Hash256::of(b"another history"));
    // Verifies the first `split` honest events under their own checkpoint, then `whole` from
    // where the kept state resumes; gives that point and the second round's report.
    let continued = |split: usize, whole: &Export| {
        let mut verification = ContinuedVerification::default();
        let prefix = ExportHeader {
            checkpoints: vec![checkpoint_note(&honest.events, split, None, None)],
            views: Vec::new(),
            ..whole.header()
        };
        let first =
            verification.verify(&prefix, honest.events[..split].iter().cloned(), &Default::default(), &mut |_, _| {});
        assert!(first.ok(), "the honest prefix of {split}: {}", first.to_text());
        let from = verification.resumes_at(&whole.header());
        let report = verification.verify(
            &whole.header(),
            whole.events[from as usize..].iter().cloned(),
            &Default::default(),
            &mut |_, _| {},
        );
        (from, report, verification)
    };
    let mut compared = 0;
    for (name, edits, _) in &cases {
        let Ok(mut tampered) = Export::parse(&apply(&original, edits)) else { continue };
        for split in [1, size / 3, size / 2, size - 2] {
            if tampered.events.len() < split || tampered.events[..split] != honest.events[..split] {
                continue;
            }
            // The monitor's anchors: its last checkpoint (of the prefix) beside the log's new one.
            let mut whole = tampered.clone();
            whole.checkpoints.push(checkpoint_note(&honest.events, split, None, None));
            let expected = verify_export(&whole, &mut |_, _| {});
            let (from, report, _) = continued(split, &whole);
            assert_eq!(from, split as u64, "{name}, split at {split}: the kept state covers the prefix");
            assert_eq!(verdict(&report), verdict(&expected), "{name}, split at {split}: {}", report.to_text());
            if expected.ok() {
                assert_eq!((report.root_hash, report.anchored_size), (expected.root_hash, expected.anchored_size));
            }
            compared += 1;
        }
        tampered.checkpoints.clear();
    }
    assert!(compared >= 30, "most cases at every split: {compared}");

    let split = size / 2;
    let with = |extra: Vec<String>, events: Vec<Vec<u8>>| Export {
        checkpoints: [honest.checkpoints.clone(), extra].concat(),
        events,
        ..honest.clone()
    };
    // A fork of the verified size: another root signed for it, checked against the kept
    // tree's edge before any new event.
    let forked = with(vec![checkpoint_note(&honest.events, split, another_root, None)], honest.events.clone());
    let (from, report, _) = continued(split, &forked);
    assert_eq!(from, split as u64);
    // A fork of a size below it: the kept edge cannot answer, so the round starts again.
    let earlier_fork =
        with(vec![checkpoint_note(&honest.events, split - 1, another_root, None)], honest.events.clone());
    let (earlier_from, earlier, _) = continued(split, &earlier_fork);
    assert_eq!(earlier_from, 0);
    assert_eq!(verdict(&earlier).map(|v| v.0), Some("checkpoint".to_string()), "{}", earlier.to_text());
    assert_eq!(verdict(&earlier), verdict(&verify_export(&earlier_fork, &mut |_, _| {})));
    assert_eq!(verdict(&report).map(|v| v.0), Some("checkpoint".to_string()), "{}", report.to_text());
    assert_eq!(verdict(&report), verdict(&verify_export(&forked, &mut |_, _| {})));
    // An honest checkpoint of a size never verified (a witness's older one): from the start,
    // and green.
    let older = with(vec![checkpoint_note(&honest.events, split / 2, None, None)], honest.events.clone());
    let (from, report, _) = continued(split, &older);
    assert_eq!(from, 0);
    assert!(report.ok(), "{}", report.to_text());
    // An event left out of the new ones: a failure, as whole.
    let mut omitted = honest.events.clone();
    omitted.remove(split + 1);
    let omitted = with(vec![], omitted);
    let (from, report, mut verification) = continued(split, &omitted);
    assert_eq!(from, split as u64);
    assert!(!report.ok());
    assert_eq!(verdict(&report), verdict(&verify_export(&omitted, &mut |_, _| {})));
    // After a failure nothing is kept: the next round replays from the first event.
    assert_eq!(verification.resumes_at(&honest.header()), 0);
    let again =
        verification.verify(&honest.header(), honest.events.iter().cloned(), &Default::default(), &mut |_, _| {});
    assert!(again.ok(), "{}", again.to_text());
    // A frozen log: the same checkpoint again, nothing new, still verified.
    let frozen = honest.header();
    assert_eq!(verification.resumes_at(&frozen), size as u64);
    let still = verification.verify(&frozen, std::iter::empty(), &Default::default(), &mut |_, _| {});
    assert!(still.ok() && still.events == size as u64, "{}", still.to_text());
    // Saved and taken up again (a restart), the state goes on to the same verdict; damaged, or
    // with a tree edge no signed checkpoint vouches for, it is refused.
    let prefix = ExportHeader {
        checkpoints: vec![checkpoint_note(&honest.events, split, None, None)],
        views: Vec::new(),
        ..honest.header()
    };
    let mut verification = ContinuedVerification::default();
    let first =
        verification.verify(&prefix, honest.events[..split].iter().cloned(), &Default::default(), &mut |_, _| {});
    assert!(first.ok(), "{}", first.to_text());
    let saved = verification.save().expect("a state to save");
    let log_key = fixture::lifecycle().log_key.verifier();
    let load = |bytes: &[u8], trust_root: [u8; 32]| {
        ContinuedVerification::load(bytes, &log_key, trust_root, &Default::default())
    };
    let mut restarted = load(&saved, honest.trust_root).expect("its own state");
    assert_eq!(restarted.resumes_at(&honest.header()), split as u64);
    let resumed =
        restarted.verify(&honest.header(), honest.events[split..].iter().cloned(), &Default::default(), &mut |_, _| {});
    let whole = verify_export(&honest, &mut |_, _| {});
    assert!(resumed.ok(), "{}", resumed.to_text());
    assert_eq!((resumed.root_hash, resumed.anchored_size), (whole.root_hash, whole.anchored_size));
    let mut restarted = load(&saved, honest.trust_root).expect("its own state");
    let omitted_rest = restarted.verify(
        &omitted.header(),
        omitted.events[split..].iter().cloned(),
        &Default::default(),
        &mut |_, _| {},
    );
    assert_eq!(verdict(&omitted_rest), verdict(&verify_export(&omitted, &mut |_, _| {})));
    let mut damaged = saved.clone();
    damaged[saved.len() / 2] ^= 1;
    assert!(load(&damaged, honest.trust_root).expect_err("damaged").contains("digest"));
    assert!(load(&saved, [7; 32]).is_err(), "another trust root");
    // The tree edge's first subtree changed and the digest made again: no checkpoint signed it.
    let mut at = b"klero continued verification v1\n".len();
    let skip_field = |at: &mut usize| {
        let length = u64::from_be_bytes(saved[*at..*at + 8].try_into().expect("8")) as usize;
        *at += 8 + length;
    };
    skip_field(&mut at);
    at += 32;
    let notes = u64::from_be_bytes(saved[at..at + 8].try_into().expect("8"));
    at += 8;
    for _ in 0..notes {
        skip_field(&mut at);
    }
    at += 8;
    let mut forged = saved[..saved.len() - 32].to_vec();
    forged[at] ^= 1;
    let digest = klero_ledger::Hash256::of(&forged);
    forged.extend_from_slice(&digest.0);
    let refused = load(&forged, honest.trust_root).expect_err("an edge no checkpoint signed");
    assert!(refused.contains("not the signed checkpoint"), "{refused}");
    // And the honest log in three rounds ends where one replay does.
    let whole = verify_export(&honest, &mut |_, _| {});
    let mut verification = ContinuedVerification::default();
    let mut report = None;
    for end in [size / 4, size / 2 + 3, size] {
        let header = ExportHeader {
            checkpoints: vec![checkpoint_note(&honest.events, end, None, None)],
            views: Vec::new(),
            ..honest.header()
        };
        let from = verification.resumes_at(&header) as usize;
        report = Some(verification.verify(
            &header,
            honest.events[from..end].iter().cloned(),
            &Default::default(),
            &mut |_, _| {},
        ));
    }
    let report = report.expect("three rounds");
    assert!(report.ok(), "{}", report.to_text());
    assert_eq!(
        (report.root_hash, report.events, report.anchored_size),
        (whole.root_hash, whole.events, whole.anchored_size)
    );
}
