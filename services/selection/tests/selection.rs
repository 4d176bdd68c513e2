//! Fairness, determinism and verifiability of the selection, on small instances where brute
//! force can enumerate every panel, and on the pools in ../shared/data/sortition.

use klero_selection::*;
use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
use std::time::Duration;

fn instance(features: &str, people: &str, k: u32) -> Instance {
    build_instance(&parse_features_csv(features).expect("features"), people, k, &[]).expect("instance")
}

/// Numbers below `bound` from a fixed seed (xorshift), so every machine checks the same pools.
fn fixed_random(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |bound| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    }
}

/// A random pool of `people_count` volunteers over features f0, f1, … with the two `values`
/// each, and loose quotas (each value's minimum 0 or 1, its maximum up to the panel size above):
/// (the features file, the people file).
fn random_loose_pool(
    next: &mut impl FnMut(u64) -> u64,
    values: &[[&str; 2]],
    people_count: usize,
    panel_size: u32,
) -> (String, String) {
    let columns: Vec<String> = (0..values.len()).map(|f| format!("f{f}")).collect();
    let mut people = format!("id,{}\n", columns.join(","));
    for person in 0..people_count {
        let row: Vec<&str> = values.iter().map(|v| v[next(2) as usize]).collect();
        people.push_str(&format!("p{person:02},{}\n", row.join(",")));
    }
    let mut features = String::from("feature,value,min,max\n");
    for (f, pair) in values.iter().enumerate() {
        for value in pair {
            let min = next(2);
            features.push_str(&format!("f{f},{value},{min},{}\n", min + 1 + next(panel_size as u64)));
        }
    }
    (features, people)
}

/// A small pool: 9 people, 2 features; panels of 4.
fn small() -> Instance {
    let features = "feature,value,min,max\nage,young,1,3\nage,old,1,3\narea,north,1,2\narea,south,2,3\n";
    let people = "id,age,area\na,young,north\nb,young,north\nc,young,south\nd,old,south\ne,old,south\nf,old,south\ng,old,north\nh,young,south\ni,young,south\n";
    instance(features, people, 4)
}

/// Every panel (seats per type) that meets the quotas, by enumeration.
fn all_panels(instance: &Instance) -> Vec<Panel> {
    let mut panels = Vec::new();
    let mut current = vec![0u32; instance.types.len()];
    fn walk(instance: &Instance, t: usize, left: u32, current: &mut Vec<u32>, panels: &mut Vec<Panel>) {
        if t == instance.types.len() {
            if left == 0 && instance.panel_meets_quotas(current) && instance.panel_keeps_households_apart(current) {
                panels.push(current.clone());
            }
            return;
        }
        for seats in 0..=left.min(instance.types[t].members.len() as u32) {
            current[t] = seats;
            walk(instance, t + 1, left - seats, current, panels);
        }
        current[t] = 0;
    }
    walk(instance, 0, instance.panel_size, &mut current, &mut panels);
    panels
}

/// The textbook LEXIMIN over every panel of the instance's types.
fn brute_force_leximin(instance: &Instance) -> Vec<f64> {
    let sizes: Vec<f64> = instance.types.iter().map(|t| t.members.len() as f64).collect();
    brute_force_leximin_over(&all_panels(instance), &sizes)
}

/// The textbook LEXIMIN over the panels given (seats per group, groups of `n` interchangeable
/// people): maximise the lowest unfixed probability; fix each group that cannot rise above it
/// (one LP per group); repeat. Shares no code with the crate.
fn brute_force_leximin_over(panels: &[Panel], n: &[f64]) -> Vec<f64> {
    let types = n.len();
    let mut fixed: Vec<Option<f64>> = vec![None; types];
    // Solves: maximise `objective_type`'s probability (or z if None) subject to fixed floors.
    let solve = |fixed: &[Option<f64>], floor: Option<f64>, maximise: Option<usize>| -> f64 {
        let mut problem = Problem::new(OptimizationDirection::Maximize);
        let lambda: Vec<_> = panels.iter().map(|_| problem.add_var(0.0, (0.0, 1.0))).collect();
        let z = problem.add_var(if maximise.is_none() { 1.0 } else { 0.0 }, (0.0, 1.0));
        let mut total = LinearExpr::empty();
        for &l in &lambda {
            total.add(l, 1.0);
        }
        problem.add_constraint(total, ComparisonOp::Eq, 1.0);
        for t in 0..types {
            let mut row = LinearExpr::empty();
            for (p, panel) in panels.iter().enumerate() {
                row.add(lambda[p], panel[t] as f64 / n[t]);
            }
            match (fixed[t], floor) {
                (Some(f), _) => problem.add_constraint(row, ComparisonOp::Ge, f - 1e-9),
                (None, Some(value)) => problem.add_constraint(row, ComparisonOp::Ge, value - 1e-9),
                (None, None) => {
                    row.add(z, -1.0);
                    problem.add_constraint(row, ComparisonOp::Ge, 0.0)
                }
            }
        }
        let solution = match maximise {
            None => problem.solve(),
            Some(t) => {
                let mut objective = LinearExpr::empty();
                for (p, panel) in panels.iter().enumerate() {
                    objective.add(lambda[p], panel[t] as f64 / n[t]);
                }
                let probability = problem.add_var(1.0, (0.0, 1.0));
                objective.add(probability, -1.0);
                problem.add_constraint(objective, ComparisonOp::Eq, 0.0);
                problem.solve()
            }
        };
        solution.expect("solvable").into_solution().expect("solved").objective()
    };
    while fixed.iter().any(Option::is_none) {
        let z = solve(&fixed, None, None);
        let mut progressed = false;
        for t in 0..types {
            if fixed[t].is_none() && solve(&fixed, Some(z), Some(t)) <= z + 1e-7 {
                fixed[t] = Some(z);
                progressed = true;
            }
        }
        assert!(progressed, "some type is tight at each stage");
    }
    fixed.into_iter().map(|f| f.expect("fixed")).collect()
}

#[test]
fn leximin_matches_brute_force_on_small_instances() {
    let instances = [
        small(),
        instance(
            "feature,value,min,max\ng,f,2,3\ng,m,2,3\nage,y,1,2\nage,m,1,3\nage,o,1,2\n",
            "id,g,age\n1,f,y\n2,f,y\n3,f,m\n4,f,o\n5,m,y\n6,m,m\n7,m,m\n8,m,m\n9,m,o\n10,m,o\n11,f,m\n",
            5,
        ),
    ];
    for (number, instance) in instances.iter().enumerate() {
        let expected = brute_force_leximin(instance);
        let distribution = leximin(instance, Duration::from_secs(60)).expect("leximin");
        assert!(distribution.leximin_complete);
        for (t, (ours, truth)) in distribution.type_probabilities.iter().zip(&expected).enumerate() {
            assert!((ours - truth).abs() < 1e-6, "instance {number}, type {t}: {ours} vs brute force {truth}");
        }
        let mut sorted_ours = distribution.type_probabilities.clone();
        sorted_ours.sort_by(f64::total_cmp);
        assert!(sorted_ours[0] > 0.0, "everyone has a chance");
    }
}

/// Small random pools (fixed seeds, so every machine checks the same ones): three features,
/// loose quotas, up to 14 people. They drive the LP through many stages, degenerate bases and
/// smoothed pricing; each result must equal brute force.
#[test]
fn leximin_matches_brute_force_on_random_small_pools() {
    let mut next = fixed_random(0x2545_F491_4F6C_DD1Du64);
    let values = [["a", "b"], ["x", "y"], ["p", "q"]];
    let mut checked = 0;
    for case in 0..16 {
        let people_count = 9 + next(6) as usize;
        let panel_size = 3 + next(3) as u32;
        let (features, people) = random_loose_pool(&mut next, &values, people_count, panel_size);
        let Ok(instance) = build_instance(&parse_features_csv(&features).expect("features"), &people, panel_size, &[])
        else {
            continue;
        };
        if all_panels(&instance).is_empty() {
            continue;
        }
        let expected = brute_force_leximin(&instance);
        let distribution = leximin(&instance, Duration::from_secs(60)).expect("leximin");
        assert!(distribution.leximin_complete);
        for (t, (ours, truth)) in distribution.type_probabilities.iter().zip(&expected).enumerate() {
            assert!((ours - truth).abs() < 1e-6, "case {case}, type {t}: {ours} vs brute force {truth}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} random pools were feasible");
}

/// Every panel of people (a seat or none per person, in row order) that meets the quotas and
/// seats at most one person of each household, enumerated from the rows themselves: no types,
/// no code shared with the crate. `rows` are (values in `features` order, household; "" for
/// someone who names none).
fn all_person_panels(quotas: &[Quota], features: &[&str], rows: &[(Vec<String>, String)], k: usize) -> Vec<Panel> {
    fn walk(
        at: usize,
        chosen: &mut Vec<usize>,
        k: usize,
        rows: &[(Vec<String>, String)],
        valid: &dyn Fn(&[usize]) -> bool,
        panels: &mut Vec<Panel>,
    ) {
        if chosen.len() == k {
            if valid(chosen) {
                let mut panel = vec![0; rows.len()];
                for &person in chosen.iter() {
                    panel[person] = 1;
                }
                panels.push(panel);
            }
            return;
        }
        if at == rows.len() {
            return;
        }
        chosen.push(at);
        walk(at + 1, chosen, k, rows, valid, panels);
        chosen.pop();
        walk(at + 1, chosen, k, rows, valid, panels);
    }
    let valid = |chosen: &[usize]| {
        let quotas_met = quotas.iter().all(|quota| {
            let f = features.iter().position(|f| *f == quota.feature).expect("a quota feature");
            let seats = chosen.iter().filter(|&&person| rows[person].0[f] == quota.value).count() as u32;
            (quota.min..=quota.max).contains(&seats)
        });
        let households: Vec<&String> =
            chosen.iter().map(|&person| &rows[person].1).filter(|household| !household.is_empty()).collect();
        let apart = households.iter().collect::<std::collections::HashSet<_>>().len() == households.len();
        quotas_met && apart
    };
    let mut panels = Vec::new();
    walk(0, &mut Vec::new(), k, rows, &valid, &mut panels);
    panels
}

/// Small random pools where people share households (about 1.6 to a household, as the issue
/// sets): the household-constrained LEXIMIN equals brute force over every panel of people,
/// person by person. The brute force knows nothing of types, so this also checks that making
/// each housemate a type of their own loses nothing.
#[test]
fn household_leximin_matches_brute_force_over_people() {
    let mut next = fixed_random(0x9E37_79B9_7F4A_7C15u64);
    let values = [["a", "b"], ["x", "y"]];
    let (mut checked, mut households_changed_the_lottery) = (0, 0);
    for case in 0..24 {
        let people_count = 8 + next(5) as usize;
        let panel_size = 3 + next(2) as u32;
        let mut rows: Vec<(Vec<String>, String)> = Vec::new();
        let mut csv = String::from("id,f0,f1,home\n");
        for person in 0..people_count {
            let row: Vec<String> = values.iter().map(|v| v[next(2) as usize].to_string()).collect();
            // Households h0.. drawn with replacement among people_count × 5 / 8 of them.
            let household = format!("h{}", next(people_count as u64 * 5 / 8));
            csv.push_str(&format!("p{person:02},{},{household}\n", row.join(",")));
            rows.push((row, household));
        }
        let mut features = String::from("feature,value,min,max\n");
        for (f, pair) in values.iter().enumerate() {
            for value in pair {
                let min = next(2);
                features.push_str(&format!("f{f},{value},{min},{}\n", min + 1 + next(panel_size as u64)));
            }
        }
        let quotas = parse_features_csv(&features).expect("features");
        let person_panels = all_person_panels(&quotas, &["f0", "f1"], &rows, panel_size as usize);
        let built = build_instance(&quotas, &csv, panel_size, &["home".to_string()]);
        if person_panels.is_empty() {
            // No panel of people exists: the crate must say so, naming a reason.
            if let Ok(instance) = built {
                let error = leximin(&instance, Duration::from_secs(60)).expect_err("infeasible");
                assert!(matches!(error, SelectionError::Infeasible { .. }), "case {case}: {error}");
            }
            continue;
        }
        let instance = built.expect("instance");
        assert!(!instance.households.is_empty(), "case {case} has housemates");
        let expected = brute_force_leximin_over(&person_panels, &vec![1.0; rows.len()]);
        let distribution = leximin(&instance, Duration::from_secs(60)).expect("leximin");
        assert!(distribution.leximin_complete);
        for (person, truth) in expected.iter().enumerate() {
            let t = instance.type_of(&format!("p{person:02}")).expect("in the pool");
            let ours = distribution.type_probabilities[t];
            assert!((ours - truth).abs() < 1e-6, "case {case}, person {person}: {ours} vs brute force {truth}");
        }
        for panel in &distribution.panels {
            assert!(instance.panel_keeps_households_apart(panel), "case {case}: a panel seats housemates");
        }
        // The households must change the answer in some pools, or this test checks nothing
        // that the test without households does not.
        let unconstrained = build_instance(&quotas, &csv, panel_size, &[]).expect("instance");
        let free = leximin(&unconstrained, Duration::from_secs(60)).expect("leximin");
        let changed = (0..rows.len()).any(|person| {
            let id = format!("p{person:02}");
            let free_probability = free.type_probabilities[unconstrained.type_of(&id).expect("in the pool")];
            (free_probability - expected[person]).abs() > 1e-6
        });
        households_changed_the_lottery += usize::from(changed);
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} random pools were feasible");
    assert!(households_changed_the_lottery >= 3, "households changed only {households_changed_the_lottery} lotteries");
}

/// The Sortition Foundation's address check: people whose address columns agree, once trimmed,
/// lowercased and with spaces collapsed, live together; empty addresses share with nobody.
#[test]
fn address_columns_name_households_as_the_sortition_foundation_does() {
    let features = "feature,value,min,max\nage,young,1,2\nage,old,1,2\n";
    let people = "id,age,address_line_1,postcode\n\
                  a,young,12 High Street,AB1 2CD\n\
                  b,old, 12  high street ,ab1 2cd\n\
                  c,young,12 High Street,AB1 2CE\n\
                  d,old,,\n\
                  e,old,,\n\
                  f,young,3 Low Road,XY9 8ZZ\n";
    let quotas = parse_features_csv(features).expect("features");
    let columns = ["address_line_1".to_string(), "postcode".to_string()];
    let instance = build_instance(&quotas, people, 2, &columns).expect("instance");
    let households: Vec<Vec<&str>> = instance
        .households
        .iter()
        .map(|types| types.iter().map(|&t| instance.types[t].members[0].as_str()).collect())
        .collect();
    assert_eq!(households, vec![vec!["a", "b"]], "only a and b live together");
    assert!(instance.types.iter().filter(|t| t.shares_household).all(|t| t.members.len() == 1));
    let distribution = leximin(&instance, Duration::from_secs(10)).expect("leximin");
    for panel in &distribution.panels {
        assert!(instance.panel_keeps_households_apart(panel));
    }
    // A column that is not in the file is named.
    let error = build_instance(&quotas, people, 2, &["address".to_string()]).expect_err("no such column");
    assert!(error.to_string().contains("no column address"), "{error}");
    // When only housemates could fill the quotas, the households are named as the conflict.
    let pair = "id,age,home\na,young,1\nb,old,1\nc,old,2\n";
    let quotas = parse_features_csv("feature,value,min,max\nage,young,1,1\nage,old,1,1\n").expect("features");
    let instance = build_instance(&quotas, pair, 2, &["home".to_string()]).expect("instance");
    assert!(leximin(&instance, Duration::from_secs(10)).is_ok(), "a and c can sit together");
    let alone = "id,age,home\na,young,1\nb,old,1\n";
    let instance = build_instance(&quotas, alone, 2, &["home".to_string()]).expect("instance");
    let error = leximin(&instance, Duration::from_secs(10)).expect_err("only housemates fit");
    assert!(error.to_string().contains("household"), "{error}");
}

#[test]
fn every_published_panel_meets_the_quotas_and_the_weights_are_exact() {
    let instance = small();
    let distribution = leximin(&instance, Duration::from_secs(60)).expect("leximin");
    let lottery = klero_selection::publish(&distribution);
    assert!(lottery.panels.iter().all(|p| instance.panel_meets_quotas(p)));
    assert_eq!(lottery.weights.iter().sum::<u64>(), WEIGHT_TOTAL);
    let probabilities: Vec<f64> = (0..instance.types.len()).map(|t| lottery.type_probability(&instance, t)).collect();
    let seed = b"a published seed of enough bytes";
    let panel = draw(&instance, &lottery, seed);
    assert_eq!(panel.len(), 4);
    verify_draw(&instance, &lottery, &probabilities, seed, &panel).expect("the draw verifies");
    // Each check fails when its input is wrong.
    let mut other = panel.clone();
    other[0] = "z".into();
    assert!(verify_draw(&instance, &lottery, &probabilities, seed, &other).is_err());
    let mut shifted = probabilities.clone();
    shifted[0] += 0.01;
    assert!(verify_draw(&instance, &lottery, &shifted, seed, &panel).is_err());
    let mut broken = lottery.clone();
    broken.weights[0] += 1;
    assert!(verify_draw(&instance, &broken, &probabilities, seed, &panel).is_err());
}

#[test]
fn the_same_input_and_seed_give_the_same_output() {
    let run = || {
        let instance = small();
        let lottery = klero_selection::publish(&leximin(&instance, Duration::from_secs(60)).expect("leximin"));
        (lottery.clone(), draw(&instance, &lottery, b"seed one, sixteen+ bytes"))
    };
    assert_eq!(run(), run());
    let instance = small();
    let lottery = run().0;
    let draws: std::collections::BTreeSet<Vec<String>> =
        (0..40u8).map(|s| draw(&instance, &lottery, &[s; 20])).collect();
    assert!(draws.len() > 1, "different seeds draw different panels");
}

#[test]
fn infeasible_quotas_are_detected_and_named() {
    let features = "feature,value,min,max\nage,young,3,4\nage,old,3,4\n";
    let people = "id,age\na,young\nb,young\nc,old\nd,old\ne,old\n";
    let error = leximin(&instance(features, people, 4), Duration::from_secs(10)).expect_err("infeasible");
    assert!(matches!(&error, SelectionError::Infeasible { conflict } if conflict.contains("age")), "{error}");
    let features = "feature,value,min,max\nage,young,2,4\nage,old,0,4\n";
    let people = "id,age\na,young\nb,old\nc,old\nd,old\n";
    let error = leximin(&instance(features, people, 3), Duration::from_secs(10)).expect_err("infeasible");
    assert!(error.to_string().contains("age = young") && error.to_string().contains("only 1"), "{error}");
    let features = "feature,value,min,max\nage,young,2,2\nage,old,0,2\narea,north,2,2\narea,south,0,2\n";
    let people = "id,age,area\na,young,south\nb,young,south\nc,old,north\nd,old,north\n";
    let error = leximin(&instance(features, people, 2), Duration::from_secs(10)).expect_err("infeasible");
    assert!(error.to_string().contains("age and on area"), "{error}");
}

#[test]
fn the_150_person_pool_reaches_the_published_maximin_optimum() {
    // A copy of shared/data/sortition/pool_150_22, kept with the tests so they never depend
    // on where shared/ is checked out.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pool_150_22");
    let features = std::fs::read_to_string(dir.join("features.csv")).expect("features");
    let people = std::fs::read_to_string(dir.join("people.csv")).expect("people");
    let instance = instance(&features, &people, 22);
    let distribution = leximin(&instance, Duration::from_secs(120)).expect("leximin");
    let lowest = distribution.type_probabilities.iter().cloned().fold(f64::MAX, f64::min);
    // sortition-algorithms 0.12 (maximin, HiGHS, gap 0) reports 10.17%.
    assert!((lowest - 0.1017).abs() < 0.0001, "lowest probability {lowest}");
    let lottery = klero_selection::publish(&distribution);
    assert!(lottery.panels.iter().all(|p| instance.panel_meets_quotas(p)));
}

/// Files written the way spreadsheets write them (tests/data/spreadsheet): Excel's "CSV UTF-8"
/// with its byte-order mark, CRLF and quotes where a value holds a comma; LibreOffice quoting
/// every text cell, with a quoted quote and a value across two lines. Both read as the same
/// pool, and a person's line is still the line their record starts on.
#[test]
fn spreadsheet_exports_with_quotes_bom_and_crlf_read_as_the_same_pool() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spreadsheet");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    let excel = instance(&read("excel-features.csv"), &read("excel-people.csv"), 3);
    let libreoffice = instance(&read("libreoffice-features.csv"), &read("libreoffice-people.csv"), 3);
    assert_eq!(excel, libreoffice);
    assert_eq!(excel.features, ["area", "age"]);
    assert_eq!(excel.values[0], ["East Ward, Lower", "West Ward"], "a quoted comma stays in the value");
    assert_eq!(excel.types.iter().map(|t| t.members.len()).sum::<usize>(), 5);

    // p03's record starts on line 4 and spans two; the record after it starts on line 6.
    let quotas = parse_features_csv(&read("libreoffice-features.csv")).expect("features");
    let people = read("libreoffice-people.csv").replace("\"p04\",\"16-29\"", "\"p04\",\"45-60\"");
    let error = build_instance(&quotas, &people, 3, &[]).expect_err("a value with no quota");
    assert!(
        matches!(&error, SelectionError::Input { file: InputFile::People, line: 6, .. }),
        "the error names line 6: {error}"
    );
}

/// Issue 30: spreadsheets save CSV as UTF-8 (with or without a byte-order mark) or as
/// Windows-1252 (Excel's plain "CSV" on Windows). Each is detected from the bytes and said,
/// never guessed silently; what is neither is refused with its line and column.
#[test]
fn csv_bytes_are_read_as_the_encoding_they_are_in_and_say_which() {
    use klero_selection::{decode_csv, TextEncoding};
    let utf8 = "id,area\nJosé,Pen-y-Bont\n";
    assert_eq!(decode_csv(utf8.as_bytes(), InputFile::People), Ok((utf8.to_string(), TextEncoding::Utf8)));
    let with_bom = [&[0xEF, 0xBB, 0xBF][..], utf8.as_bytes()].concat();
    assert_eq!(decode_csv(&with_bom, InputFile::People), Ok((utf8.to_string(), TextEncoding::Utf8WithByteOrderMark)));
    // "Jos\xE9" and a Windows-1252 curly quote and euro sign: the same text, said as such, with
    // where the first byte that is not UTF-8 is.
    let windows = b"id,area\nJos\xE9,\x93Pen-y-Bont\x94 \x80\n";
    let (text, encoding) = decode_csv(windows, InputFile::People).expect("Windows-1252");
    assert_eq!(text, "id,area\nJosé,\u{201C}Pen-y-Bont\u{201D} €\n");
    assert_eq!(encoding, TextEncoding::Windows1252 { first_non_utf8: (2, 4) });
    assert!(encoding.to_string().contains("line 2, column 4"), "{encoding}");
    // A byte Windows-1252 leaves undefined, UTF-16, and a broken UTF-8 file with a BOM: refused
    // with their place.
    let undefined = decode_csv(b"id,area\na,b\nJos\xE9,x\x81\n", InputFile::People).expect_err("0x81");
    assert_eq!(
        undefined,
        SelectionError::Input {
            file: InputFile::People,
            line: 3,
            column: Some(7),
            reason: "byte 0x81 is neither UTF-8 nor Windows-1252: save the file as \"CSV UTF-8\"".into()
        }
    );
    // UTF-8 and Windows-1252 in one file, either way round: refused, never half-misread.
    for mixed in [&b"id,area\nRen\xC3\xA9e,x\nJos\xE9,y\n"[..], &b"id,area\nJos\xE9,y\nRen\xC3\xA9e,x\n"[..]] {
        let error = decode_csv(mixed, InputFile::People).expect_err("mixed");
        assert!(error.to_string().contains("mixes encodings"), "{error}");
    }
    let utf16 = decode_csv(&[0xFF, 0xFE, b'i', 0, b'd', 0], InputFile::Features).expect_err("UTF-16");
    assert!(utf16.to_string().contains("UTF-16"), "{utf16}");
    let broken = decode_csv(&[0xEF, 0xBB, 0xBF, b'i', b'd', b'\n', b'J', 0xE9], InputFile::People).expect_err("BOM");
    assert!(matches!(broken, SelectionError::Input { line: 2, column: Some(2), .. }), "{broken}");
}

/// Issue 30: a malformed row is named by its line and the column at fault.
#[test]
fn malformed_rows_name_their_line_and_column() {
    let features = "feature,value,min,max\narea,east,1,3\narea,west,1,3\n";
    let quotas = parse_features_csv(features).expect("features");
    let cases = [
        ("id,area\na,east\nb\n", 3, Some(2), "expected 2 columns, found 1"),
        ("id,area\na,east\nb,west,extra\n", 3, Some(3), "expected 2 columns, found 3"),
        ("id,area\na,east\nb,north\n", 3, Some(2), "north"),
        ("id,area\na,east\na,west\n", 3, Some(1), "a"),
    ];
    for (people, line, column, says) in cases {
        let error = build_instance(&quotas, people, 1, &[]).expect_err(people);
        assert!(
            matches!(&error, SelectionError::Input { file: InputFile::People, line: l, column: c, reason }
                if *l == line && *c == column && reason.contains(says)),
            "{people:?}: {error}"
        );
        assert!(error.to_string().contains(&format!("line {line}, column {}", column.expect("a column"))), "{error}");
    }
    let cases = [
        ("feature,value,min,max\narea,east,one,3\n", 2, 3, "min must be a whole number, not \"one\""),
        ("feature,value,min,max\narea,east,1,3,9\n", 2, 5, "expected 4 columns, found 5"),
        ("feature,value,min,max\narea,,1,3\n", 2, 2, "must not be empty"),
        ("feature,value,min,max\narea,east,4,3\n", 2, 3, "above max"),
    ];
    for (text, line, column, says) in cases {
        let error = parse_features_csv(text).expect_err(text);
        assert!(
            matches!(&error, SelectionError::Input { file: InputFile::Features, line: l, column: Some(c), reason }
                if *l == line && *c == column && reason.contains(says)),
            "{text:?}: {error}"
        );
    }
}

#[test]
fn malformed_csv_is_refused_with_its_line() {
    let error =
        parse_features_csv("feature,value,min,max\r\narea,\"East Ward,1,3\r\n").expect_err("unterminated quote");
    assert!(matches!(&error, SelectionError::Input { file: InputFile::Features, .. }), "{error}");
    let error = parse_features_csv("\u{feff}feature,value,min,max\narea,east,1\n").expect_err("three columns");
    assert!(
        matches!(&error, SelectionError::Input { file: InputFile::Features, line: 2, reason, .. } if reason.contains("4 columns")),
        "{error}"
    );
    let error = parse_features_csv("feature,value,min\n").expect_err("header");
    assert!(error.to_string().contains("feature,value,min,max"), "{error}");
    // Blank lines, trailing spaces and a BOM change nothing.
    let plain = parse_features_csv("feature,value,min,max\narea,east,1,3\n").expect("plain");
    let padded =
        parse_features_csv("\u{feff}feature, value ,min,max\r\n\r\n area , east ,1, 3\r\n\r\n").expect("padded");
    assert_eq!(plain, padded);
}

/// Issue 30, infeasible quotas: on small pools whose quotas no panel meets, the relaxation
/// found changes the quotas by exactly the fewest seats by which any panel misses them (found
/// by enumerating every panel, households apart), keeps the quotas it is told to keep, never
/// tightens a quota, and lets a lottery be computed under the relaxed quotas.
#[test]
fn the_relaxation_of_infeasible_quotas_is_the_smallest_by_exhaustive_search() {
    let mut next = fixed_random(0x1234_5678_9ABC_DEF1u64);
    let values = [["a", "b"], ["x", "y"], ["p", "q"]];
    let (mut infeasible_pools, mut with_kept, mut with_flex_checked) = (0, 0, 0);
    for case in 0..40 {
        let people_count = 7 + next(5) as usize;
        let panel_size = 3 + next(3) as u32;
        let mut people = String::from("id,f0,f1,f2,home\n");
        for person in 0..people_count {
            let row: Vec<&str> = values.iter().map(|v| v[next(2) as usize]).collect();
            people.push_str(&format!("p{person},{},h{}\n", row.join(","), next(people_count as u64 * 3 / 4)));
        }
        // Tight quotas: each value's range is narrow and often too high. Every third pool adds
        // the Sortition Foundation's min_flex and max_flex columns, which bound the relaxation.
        let with_flex = case % 3 == 2;
        let mut features = String::from(if with_flex {
            "feature,value,min,max,min_flex,max_flex\n"
        } else {
            "feature,value,min,max\n"
        });
        for (f, pair) in values.iter().enumerate() {
            for value in pair {
                let min = next(panel_size as u64);
                let max = min + next(2);
                features.push_str(&format!("f{f},{value},{min},{max}"));
                if with_flex {
                    features.push_str(&format!(",{},{}", min - next(min + 1), max + next(3)));
                }
                features.push('\n');
            }
        }
        let features_file = read_features(&features).expect("features");
        let quotas = features_file.quotas.clone();
        let flex_of = |f: &str, v: &str| {
            features_file.flex.iter().find(|q| q.feature == f && q.value == v).map(|q| (q.min_flex, q.max_flex))
        };
        let instance = build_instance(&quotas, &people, panel_size, &["home".to_string()]).expect("instance");
        if leximin(&instance, Duration::from_secs(10)).is_ok() {
            continue;
        }
        infeasible_pools += 1;
        // Keep the first quota in every other case.
        let keep: Vec<(String, String)> =
            if case % 2 == 0 { vec![(quotas[0].feature.clone(), quotas[0].value.clone())] } else { Vec::new() };
        // Every panel of the types (any counts summing to the panel size, households apart).
        let mut fewest: Option<u32> = None;
        let mut current = vec![0u32; instance.types.len()];
        fn walk(instance: &Instance, t: usize, left: u32, current: &mut Vec<u32>, visit: &mut dyn FnMut(&[u32])) {
            if t == instance.types.len() {
                if left == 0 && instance.panel_keeps_households_apart(current) {
                    visit(current);
                }
                return;
            }
            for seats in 0..=left.min(instance.types[t].members.len() as u32) {
                current[t] = seats;
                walk(instance, t + 1, left - seats, current, visit);
            }
            current[t] = 0;
        }
        walk(&instance, 0, panel_size, &mut current, &mut |panel| {
            let mut missed = 0;
            for (f, bounds) in instance.bounds.iter().enumerate() {
                for (v, &(min, max)) in bounds.iter().enumerate() {
                    let seats: u32 =
                        panel.iter().zip(&instance.types).filter(|(_, t)| t.values[f] == v).map(|(c, _)| *c).sum();
                    let miss = min.saturating_sub(seats) + seats.saturating_sub(max);
                    let kept = keep.iter().any(|(kf, kv)| *kf == instance.features[f] && *kv == instance.values[f][v]);
                    if kept && miss > 0 {
                        return;
                    }
                    if let Some((min_flex, max_flex)) = flex_of(&instance.features[f], &instance.values[f][v]) {
                        if seats < min_flex || max_flex.is_some_and(|m| seats > m) {
                            return;
                        }
                    }
                    missed += miss;
                }
            }
            fewest = Some(fewest.map_or(missed, |f: u32| f.min(missed)));
        });
        let relaxation = smallest_relaxation_within(&instance, &keep, &features_file.flex).expect("the MIP");
        with_flex_checked += usize::from(with_flex && relaxation.is_some());
        assert_eq!(relaxation.as_ref().map(|r| r.total_change), fewest, "case {case}: {features}{people}");
        let Some(relaxation) = relaxation else { continue };
        with_kept += usize::from(!keep.is_empty());
        assert!(relaxation.total_change > 0, "case {case}: infeasible quotas need some change");
        for change in &relaxation.changes {
            assert!(change.relaxed_min <= change.min && change.relaxed_max >= change.max, "case {case}: {change:?}");
            assert!(!keep.contains(&(change.feature.clone(), change.value.clone())), "case {case}: a kept quota moved");
            if let Some((min_flex, max_flex)) = flex_of(&change.feature, &change.value) {
                assert!(change.relaxed_min >= min_flex, "case {case}: below min_flex: {change:?}");
                assert!(max_flex.is_none_or(|m| change.relaxed_max <= m), "case {case}: above max_flex: {change:?}");
            }
        }
        let relaxed =
            build_instance(&relaxation.apply(&quotas), &people, panel_size, &["home".to_string()]).expect("instance");
        assert!(leximin(&relaxed, Duration::from_secs(10)).is_ok(), "case {case}: the relaxed quotas can be met");
    }
    assert!(infeasible_pools >= 10, "only {infeasible_pools} pools were infeasible");
    assert!(with_kept >= 3, "only {with_kept} relaxations kept a quota");
    assert!(with_flex_checked >= 3, "only {with_flex_checked} relaxations were bounded by flex columns");
}

/// Reserves (docs/FORMAT.md §9, steps 4 and 5) on random pools with households: the list never
/// holds a panel member, a repeat or a second member of any household seated or reserved; it
/// holds only the quota values of panel members; it is short only when the pool has run out;
/// and while a waiting reserve has the withdrawn member's values, the replacement has them too,
/// so the panel keeps its quotas exactly.
#[test]
fn reserves_mirror_the_panel_and_replacements_keep_its_quotas() {
    let mut next = fixed_random(0x5EED_0F4E_5E47_E5A1u64);
    let values = [["a", "b"], ["x", "y"]];
    let (mut lists, mut short_lists, mut kept_by_values, mut kept_by_quotas) = (0, 0, 0, 0);
    for case in 0..30 {
        let people_count = 10 + next(10) as usize;
        let panel_size = 3 + next(2) as u32;
        let mut csv = String::from("id,f0,f1,home\n");
        for person in 0..people_count {
            let row: Vec<&str> = values.iter().map(|v| v[next(2) as usize]).collect();
            csv.push_str(&format!("p{person:02},{},h{}\n", row.join(","), next(people_count as u64 * 5 / 8)));
        }
        let mut features = String::from("feature,value,min,max\n");
        for (f, pair) in values.iter().enumerate() {
            for value in pair {
                features.push_str(&format!("f{f},{value},1,{}\n", panel_size - 1));
            }
        }
        let quotas = parse_features_csv(&features).expect("features");
        let instance = build_instance(&quotas, &csv, panel_size, &["home".to_string()]).expect("instance");
        let Ok(distribution) = leximin(&instance, Duration::from_secs(60)) else { continue };
        let lottery = publish(&distribution);
        let seed = format!("reserve seed {case:04}").into_bytes();
        let panel = draw(&instance, &lottery, &seed);
        let count = 1 + next(2 * panel_size as u64) as usize;
        let reserves = draw_reserves(&instance, &seed, &panel, count);
        lists += 1;
        let values_of = |id: &str| &instance.types[instance.type_of(id).expect("in the pool")].values;
        let household_of = |id: &str| instance.household_of_type(instance.type_of(id).expect("in the pool"));
        let mut households_taken: Vec<usize> = panel.iter().filter_map(|id| household_of(id)).collect();
        assert!(reserves.len() <= count);
        for (i, reserve) in reserves.iter().enumerate() {
            assert!(!panel.contains(reserve) && !reserves[..i].contains(reserve), "case {case}: {reserve} repeats");
            if let Some(h) = household_of(reserve) {
                assert!(!households_taken.contains(&h), "case {case}: {reserve}'s household is seated or reserved");
                households_taken.push(h);
            }
            assert!(panel.iter().any(|p| values_of(p) == values_of(reserve)), "case {case}: {reserve} mirrors no seat");
        }
        if reserves.len() < count {
            short_lists += 1;
            // Short only when no one is left to take for any seat.
            let left = instance.types.iter().flat_map(|t| &t.members).find(|m| {
                !panel.contains(m)
                    && !reserves.contains(m)
                    && household_of(m).is_none_or(|h| !households_taken.contains(&h))
                    && panel.iter().any(|p| values_of(p) == values_of(m))
            });
            assert_eq!(left, None, "case {case}: the list stopped at {} of {count}", reserves.len());
        }
        // Members withdraw in random order; each is replaced by the rule.
        let mut seated = panel.clone();
        let mut ever_seated = panel.clone();
        // Whether every replacement so far had its withdrawn member's values.
        let mut values_kept_so_far = true;
        for _ in 0..panel_size + 2 {
            let leaving = seated.remove(next(seated.len() as u64) as usize);
            let waiting_same = reserves.iter().any(|r| {
                !ever_seated.contains(r)
                    && values_of(r) == values_of(&leaving)
                    && household_of(r).is_none_or(|h| ever_seated.iter().all(|s| household_of(s) != Some(h)))
            });
            let seating = Seating { seated: &seated, ever_seated: &ever_seated, reserves: &reserves };
            let Ok(chosen) = replacement(&instance, &seed, &leaving, seating) else { break };
            assert!(!ever_seated.contains(&chosen), "case {case}: {chosen} was seated before");
            if waiting_same {
                assert_eq!(values_of(&chosen), values_of(&leaving), "case {case}: a reserve of the same values waited");
                assert!(reserves.contains(&chosen));
                kept_by_values += 1;
            } else if reserves.contains(&chosen) && values_of(&chosen) != values_of(&leaving) {
                kept_by_quotas += 1;
            }
            values_kept_so_far &= values_of(&chosen) == values_of(&leaving);
            seated.push(chosen.clone());
            ever_seated.push(chosen);
            let mut counts = vec![0u32; instance.types.len()];
            for id in &seated {
                counts[instance.type_of(id).expect("in the pool")] += 1;
            }
            assert!(instance.panel_keeps_households_apart(&counts), "case {case}: housemates seated");
            if values_kept_so_far {
                assert!(instance.panel_meets_quotas(&counts), "case {case}: same-values replacements broke a quota");
            }
        }
    }
    assert!(lists >= 20, "only {lists} pools were feasible");
    assert!(short_lists >= 2 && kept_by_values >= 20, "{short_lists} short lists, {kept_by_values} same-values fills");
    eprintln!("{lists} lists, {short_lists} short, {kept_by_values} same-values fills, {kept_by_quotas} other values");
}

/// Nash welfare (issue 30, part 5) on pools small enough to enumerate every panel: its mean
/// log-probability is within the tolerance of the optimum over all panels (found here by
/// running the weight updates on every panel at once), it is at least LEXIMIN's, and LEXIMIN's
/// lowest chance is at least Nash's: each objective wins on its own measure.
#[test]
fn nash_welfare_is_the_optimum_over_every_panel() {
    let mut next = fixed_random(0x0A5B_0C1D_2E3F_4051u64);
    let values = [["a", "b"], ["x", "y"]];
    let mut checked = 0;
    for case in 0..16 {
        let people_count = 7 + next(6) as usize;
        let panel_size = 3 + next(2) as u32;
        let (features, people) = random_loose_pool(&mut next, &values, people_count, panel_size);
        let Ok(instance) = build_instance(&parse_features_csv(&features).expect("features"), &people, panel_size, &[])
        else {
            continue;
        };
        let panels = all_panels(&instance);
        if panels.is_empty() {
            continue;
        }
        // The optimum: weight updates over every panel, to convergence.
        let n: Vec<f64> = instance.types.iter().map(|t| t.members.len() as f64).collect();
        let seatable: Vec<bool> = (0..n.len()).map(|t| panels.iter().any(|p| p[t] > 0)).collect();
        let people_seatable: f64 = (0..n.len()).filter(|&t| seatable[t]).map(|t| n[t]).sum();
        let mut weights = vec![1.0 / panels.len() as f64; panels.len()];
        for _ in 0..20_000 {
            let mut seats = vec![0.0; n.len()];
            for (p, w) in panels.iter().zip(&weights) {
                for t in 0..n.len() {
                    seats[t] += w * p[t] as f64;
                }
            }
            weights = panels
                .iter()
                .zip(&weights)
                .map(|(p, w)| {
                    w * (0..n.len()).filter(|&t| seatable[t]).map(|t| n[t] * p[t] as f64 / seats[t]).sum::<f64>()
                        / people_seatable
                })
                .collect();
        }
        let mut seats = vec![0.0; n.len()];
        for (p, w) in panels.iter().zip(&weights) {
            for t in 0..n.len() {
                seats[t] += w * p[t] as f64;
            }
        }
        let welfare_of = |probabilities: &[f64]| -> f64 {
            (0..n.len()).filter(|&t| seatable[t]).map(|t| n[t] * probabilities[t].ln()).sum::<f64>() / people_seatable
        };
        let optimum = welfare_of(&seats.iter().zip(&n).map(|(s, n)| s / n).collect::<Vec<_>>());
        let ours = nash(&instance, Duration::from_secs(60)).expect("nash");
        assert!(ours.converged, "case {case}: gap {}", ours.gap);
        let welfare = welfare_of(&ours.distribution.type_probabilities);
        assert!(welfare >= optimum - 1e-5, "case {case}: {welfare} against the optimum {optimum}");
        assert!((ours.distribution.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        for panel in &ours.distribution.panels {
            assert!(instance.panel_meets_quotas(panel), "case {case}: a panel breaks the quotas");
        }
        let leximin = leximin(&instance, Duration::from_secs(60)).expect("leximin");
        let lowest = |p: &[f64]| p.iter().cloned().fold(f64::MAX, f64::min);
        assert!(welfare >= welfare_of(&leximin.type_probabilities) - 1e-6, "case {case}: Nash wins on welfare");
        assert!(
            lowest(&leximin.type_probabilities) >= lowest(&ours.distribution.type_probabilities) - 1e-6,
            "case {case}: LEXIMIN wins on the lowest chance"
        );
        let g = gini(&instance, &ours.distribution.type_probabilities);
        assert!((0.0..1.0).contains(&g), "case {case}: Gini {g}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} pools were feasible");
}

/// The Gini coefficient of selection chances, by hand: everyone equal is 0; half the pool at
/// twice the chance of the other half is 1/6.
#[test]
fn the_gini_coefficient_of_chances_is_the_textbook_one() {
    let instance =
        instance("feature,value,min,max\nage,young,1,2\nage,old,1,2\n", "id,age\na,young\nb,young\nc,old\nd,old\n", 2);
    assert!(gini(&instance, &[0.5, 0.5]).abs() < 1e-12);
    // Two at 0.25 and two at 0.5: mean absolute difference over all ordered pairs is 0.125,
    // halved and divided by the mean 0.375: 1/6.
    assert!((gini(&instance, &[0.25, 0.5]) - 1.0 / 6.0).abs() < 1e-12);
}

/// The Sortition Foundation's features file with its optional `min_flex,max_flex` columns
/// (issue 30, part 7): read as quotas and their bounds, an empty cell setting no bound; a bound
/// on the wrong side of its quota, or a row of the wrong width, is named by line and column.
#[test]
fn flex_columns_are_read_and_checked_by_line_and_column() {
    let file = read_features("feature,value,min,max,min_flex,max_flex\nage,young,2,4,1,6\nage,old,1,3,,\n")
        .expect("a features file with flex");
    assert_eq!(file.quotas.len(), 2);
    assert_eq!(
        file.flex,
        vec![
            QuotaFlex { feature: "age".into(), value: "young".into(), min_flex: 1, max_flex: Some(6) },
            QuotaFlex { feature: "age".into(), value: "old".into(), min_flex: 0, max_flex: None },
        ]
    );
    assert_eq!(parse_features_csv("feature,value,min,max\nage,young,2,4\n").expect("plain").len(), 1);
    for (text, expected) in [
        (
            "feature,value,min,max,min_flex,max_flex\nage,young,2,4,3,6\n",
            "features line 2, column 5: min_flex 3 is above min 2",
        ),
        (
            "feature,value,min,max,min_flex,max_flex\nage,young,2,4,1,3\n",
            "features line 2, column 6: max_flex 3 is below max 4",
        ),
        (
            "feature,value,min,max,min_flex,max_flex\nage,young,2,4\n",
            "features line 2, column 5: expected 6 columns, found 4",
        ),
        (
            "feature,value,min,max,min_flex\nage,young,2,4,1\n",
            "features line 1: the header must be feature,value,min,max, optionally followed by min_flex,max_flex",
        ),
    ] {
        assert_eq!(read_features(text).expect_err(expected).to_string(), expected);
    }
}
