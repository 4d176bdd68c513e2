//! `klero select`: the fair lottery for a pool, its per-person probabilities, and (with a seed)
//! the draw, written to a directory an organiser can publish.

use anyhow::Context;
use klero_selection::letters::{allocate_letters, letter_commitment, AreaLetters};
use klero_selection::{
    build_instance, decode_csv, draw, leximin_with_progress, read_features, verify_draw, InputFile, Objective,
    SelectionError, TextEncoding, WEIGHT_TOTAL,
};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Options of `klero select`.
#[derive(Debug)]
pub struct SelectArgs<'a> {
    pub features: &'a Path,
    pub people: &'a Path,
    /// Columns of the people file that say where volunteers live; empty for no household check.
    pub household_columns: &'a [String],
    /// `feature=value` quotas a proposed relaxation must keep.
    pub keep_quotas: &'a [String],
    pub panel_size: u32,
    pub seed_hex: Option<&'a str>,
    /// What the lottery optimises.
    pub objective: Objective,
    /// Reserves to draw with the panel (docs/FORMAT.md §9, step 4); needs a seed.
    pub reserves: u32,
    pub out: &'a Path,
    pub time_limit: Duration,
}

/// A CSV file's text, with how its bytes were read said on stderr when it was not plain UTF-8:
/// an officer should know that accents came from Windows-1252, not find out from the names.
fn read_csv(path: &Path, file: InputFile) -> anyhow::Result<(String, TextEncoding)> {
    read_csv_and_hash(path, file).map(|(text, encoding, _)| (text, encoding))
}

/// [`read_csv`], and SHA-256 of the file's bytes, as a plan commits to them.
fn read_csv_and_hash(path: &Path, file: InputFile) -> anyhow::Result<(String, TextEncoding, klero_ledger::Hash256)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (text, encoding) = decode_csv(&bytes, file).with_context(|| format!("reading {}", path.display()))?;
    if encoding != TextEncoding::Utf8 {
        eprintln!("{}: read as {encoding}", path.display());
    }
    Ok((text, encoding, klero_ledger::Hash256::of(&bytes)))
}

/// Options of `klero select letters`.
#[derive(Debug)]
pub struct LetterArgs<'a> {
    pub addresses: &'a Path,
    pub count: u32,
    /// The column that names each address's area, to draw area by area.
    pub area_column: Option<&'a str>,
    /// `area,letters` rows: letters per area instead of in proportion to addresses.
    pub area_letters: Option<&'a Path>,
    pub seed_hex: Option<&'a str>,
    /// 32 bytes in hex: letters.csv then gives each address its letter commitment.
    pub salt_hex: Option<&'a str>,
    pub out: &'a Path,
}

/// An address list read and committed to, with its letters per area: what `LettersPlanned`
/// records (docs/FORMAT.md §9.1).
#[derive(Debug)]
pub struct LetterPlan {
    pub list: klero_selection::AddressList,
    pub address_list_hash: klero_ledger::Hash256,
    pub encoding: TextEncoding,
    pub areas: Vec<AreaLetters>,
}

/// Reads an address list and sets its letters per area: from `area_letters` if given (every
/// area of the list, each once), else in proportion to addresses.
pub fn letter_plan(
    addresses: &Path,
    area_column: Option<&str>,
    count: u32,
    area_letters: Option<&Path>,
) -> anyhow::Result<LetterPlan> {
    let (text, encoding, address_list_hash) = read_csv_and_hash(addresses, InputFile::Addresses)?;
    let list = klero_selection::read_address_list(&text, area_column)
        .with_context(|| format!("reading {}", addresses.display()))?;
    let sizes = list.area_sizes();
    let areas = match (area_column, area_letters) {
        (None, _) => Vec::new(),
        (Some(_), None) => allocate_letters(&sizes, count),
        (Some(_), Some(path)) => {
            let (text, _) = read_csv(path, InputFile::Arguments)?;
            let mut given = std::collections::BTreeMap::new();
            for (number, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
                let (area, letters) = line
                    .rsplit_once(',')
                    .with_context(|| format!("{} line {}: write area,letters", path.display(), number + 1))?;
                let letters: u32 = letters.trim().parse().with_context(|| {
                    format!("{} line {}: {letters:?} is not a number of letters", path.display(), number + 1)
                })?;
                if given.insert(area.trim().to_string(), letters).is_some() {
                    anyhow::bail!("{} line {}: area {area:?} is given twice", path.display(), number + 1);
                }
            }
            let mut areas = Vec::new();
            for (area, addresses) in &sizes {
                let letters = given
                    .remove(area)
                    .with_context(|| format!("{} gives no letters for area {area:?}", path.display()))?;
                areas.push(AreaLetters { area: area.clone(), addresses: *addresses, letters });
            }
            if let Some(stranger) = given.keys().next() {
                anyhow::bail!("{} names area {stranger:?}, which the address list does not hold", path.display());
            }
            areas
        }
    };
    klero_selection::letters::check_plan(list.rows.len() as u32, count, &areas)?;
    Ok(LetterPlan { list, address_list_hash, encoding, areas })
}

/// `klero select letters`: the plan to sign as `LettersPlanned` (letter-plan.json) and, with a
/// seed, the addresses it invites (letters.csv, in draw order, with each letter's commitment
/// when given the salt).
pub fn letters(args: LetterArgs<'_>) -> anyhow::Result<()> {
    let plan = letter_plan(args.addresses, args.area_column, args.count, args.area_letters)?;
    std::fs::create_dir_all(args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let document = json!({
        "format": "klero-letter-plan/v1",
        "address_list_hash": plan.address_list_hash.to_hex(),
        "address_count": plan.list.rows.len(),
        "letter_count": args.count,
        "area_column": args.area_column.unwrap_or_default(),
        "areas": plan.areas,
    });
    std::fs::write(args.out.join("letter-plan.json"), document.to_string())?;
    let mut invited_count = 0;
    if let Some(hex) = args.seed_hex {
        let seed = klero_ledger::hash::from_hex(hex).context("--seed must be hex")?;
        anyhow::ensure!((16..=64).contains(&seed.len()), "--seed must be 16 to 64 bytes");
        let salt: Option<[u8; 32]> = args
            .salt_hex
            .map(|hex| {
                klero_ledger::hash::from_hex(hex)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .context("--salt must be 64 hex digits (32 bytes)")
            })
            .transpose()?;
        let invited = klero_selection::letters::draw_letters(&plan.list.addresses(), args.count, &plan.areas, &seed)?;
        let mut csv = csv_line(plan.list.header.iter().map(String::as_str).chain(salt.map(|_| "letter")));
        for &i in &invited {
            let commitment = salt.map(|salt| letter_commitment(&salt, &plan.list.keys[i]).to_hex());
            csv.push_str(&csv_line(plan.list.rows[i].iter().map(String::as_str).chain(commitment.as_deref())));
        }
        std::fs::write(args.out.join("letters.csv"), csv)?;
        invited_count = invited.len();
    }
    println!(
        "{}",
        json!({"addresses": plan.list.rows.len(), "letters": invited_count, "areas": plan.areas.len(),
               "address_list_hash": plan.address_list_hash.to_hex(), "drawn": args.seed_hex.is_some(),
               "encoding": plan.encoding.to_string()})
    );
    Ok(())
}

/// One CSV row, each cell quoted when it holds a comma, a quote or a line break.
fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = cells
        .map(|cell| {
            if cell.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell.to_string()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

/// No panel meets the quotas: the officer is shown the quotas in conflict and the smallest
/// relaxation (written as `relaxed-features.csv` in the output directory, to read, change if
/// need be, and run again with). Nothing is drawn.
fn propose_relaxation(
    args: &SelectArgs<'_>,
    features: &klero_selection::FeaturesFile,
    instance: &klero_selection::Instance,
    infeasible: SelectionError,
) -> anyhow::Error {
    let quotas = &features.quotas;
    let mut keep = Vec::new();
    for pair in args.keep_quotas {
        let Some((feature, value)) = pair.split_once('=') else {
            return anyhow::anyhow!("--keep-quotas takes feature=value pairs, not {pair:?}");
        };
        if !quotas.iter().any(|q| q.feature == feature && q.value == value) {
            return anyhow::anyhow!("--keep-quotas names {feature}={value}, which has no quota");
        }
        keep.push((feature.to_string(), value.to_string()));
    }
    match klero_selection::smallest_relaxation_within(instance, &keep, &features.flex) {
        Ok(Some(relaxation)) => {
            let relaxed = relaxation.apply(quotas);
            let mut csv = String::from("feature,value,min,max\n");
            for q in &relaxed {
                csv.push_str(&format!("{},{},{},{}\n", q.feature, q.value, q.min, q.max));
            }
            let path = args.out.join("relaxed-features.csv");
            let written = std::fs::create_dir_all(args.out).and_then(|()| std::fs::write(&path, csv));
            let summary = json!({"feasible": false, "conflict": infeasible.to_string(),
                "relaxation": relaxation.changes.iter().map(|c| json!({"feature": c.feature, "value": c.value,
                    "min": c.min, "max": c.max, "relaxed_min": c.relaxed_min, "relaxed_max": c.relaxed_max})).collect::<Vec<_>>(),
                "total_change": relaxation.total_change});
            println!("{summary}");
            match written {
                Ok(()) => anyhow::anyhow!(
                    "{infeasible}. The smallest relaxation: {relaxation}. Written to {}; nothing was drawn",
                    path.display()
                ),
                Err(error) => anyhow::anyhow!("{infeasible}. The smallest relaxation: {relaxation} ({error})"),
            }
        }
        Ok(None) => anyhow::anyhow!("{infeasible}; no relaxation of the other quotas can help (the pool is too small, the kept quotas cannot be met, or their min_flex and max_flex forbid it)"),
        Err(error) => anyhow::anyhow!("{infeasible}; the relaxation could not be computed: {error}"),
    }
}

pub fn run(args: SelectArgs<'_>) -> anyhow::Result<()> {
    let started = Instant::now();
    let (features, features_encoding) = read_csv(args.features, InputFile::Features)?;
    let features_file = read_features(&features).with_context(|| format!("reading {}", args.features.display()))?;
    let quotas = &features_file.quotas;
    let (people, people_encoding) = read_csv(args.people, InputFile::People)?;
    let instance = build_instance(quotas, &people, args.panel_size, args.household_columns)
        .with_context(|| format!("reading {} with {}", args.people.display(), args.features.display()))?;
    let seed = args.seed_hex.map(|hex| klero_ledger::hash::from_hex(hex).context("--seed must be hex")).transpose()?;
    if let Some(seed) = &seed {
        anyhow::ensure!((16..=64).contains(&seed.len()), "--seed must be 16 to 64 bytes");
    }
    anyhow::ensure!(args.reserves == 0 || seed.is_some(), "--reserves draws with the panel, so it needs --seed");
    anyhow::ensure!(
        args.reserves as usize <= klero_catalogue::RESERVES_MAX,
        "--reserves must be at most {}",
        klero_catalogue::RESERVES_MAX
    );
    // Drawn on a terminal only (indicatif hides it elsewhere): types whose probability is fixed.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(instance.types.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "LEXIMIN [{bar:40}] {pos}/{len} types fixed, {elapsed} elapsed, about {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("#>-"),
    );
    // How complete the lottery is, in the objective's own terms.
    let computed = match args.objective {
        Objective::Leximin => {
            leximin_with_progress(&instance, args.time_limit, &mut |fixed, _| bar.set_position(fixed as u64))
                .map(|d| (json!({"leximin_complete": d.leximin_complete}), d))
        }
        Objective::Nash => klero_selection::nash(&instance, args.time_limit)
            .map(|n| (json!({"nash_gap": n.gap, "nash_converged": n.converged}), n.distribution)),
    };
    bar.finish_and_clear();
    let (completion, distribution) = match computed {
        Err(infeasible @ SelectionError::Infeasible { .. }) => {
            return Err(propose_relaxation(&args, &features_file, &instance, infeasible))
        }
        other => other?,
    };
    let lottery = klero_selection::publish(&distribution);
    let probabilities: Vec<f64> = (0..instance.types.len()).map(|t| lottery.type_probability(&instance, t)).collect();
    std::fs::create_dir_all(args.out).with_context(|| format!("creating {}", args.out.display()))?;

    let types: Vec<_> = instance
        .types
        .iter()
        .zip(&probabilities)
        .map(|(t, p)| {
            let values: serde_json::Map<String, serde_json::Value> = instance
                .features
                .iter()
                .enumerate()
                .map(|(f, name)| (name.clone(), json!(instance.values[f][t.values[f]])))
                .collect();
            json!({"values": values, "members": t.members, "probability": p})
        })
        .collect();
    // Which types live together, by type number; never an address.
    let households: Vec<&Vec<usize>> = instance.households.iter().collect();
    let mut document = json!({
        "format": "klero-lottery/v1",
        "algorithm": args.objective.as_str(),
        "algorithm_version": klero_selection::ALGORITHM_VERSION,
        "panel_size": instance.panel_size,
        "weight_total": WEIGHT_TOTAL,
        "types": types,
        "households": households,
        "panels": lottery.panels.iter().zip(&lottery.weights).map(|(p, w)| json!({"weight": w, "seats": p})).collect::<Vec<_>>(),
    });
    merge(&mut document, &completion);
    std::fs::write(args.out.join("distribution.json"), document.to_string())?;
    let mut csv = String::from("id,probability\n");
    let mut per_person: Vec<(&String, f64)> =
        instance.types.iter().zip(&probabilities).flat_map(|(t, p)| t.members.iter().map(move |m| (m, *p))).collect();
    per_person.sort_by(|a, b| a.0.cmp(b.0));
    for (id, p) in &per_person {
        csv.push_str(&format!("{id},{p:.9}\n"));
    }
    std::fs::write(args.out.join("probabilities.csv"), csv)?;
    let mut reserves_drawn = 0;
    if let Some(seed) = &seed {
        let panel = draw(&instance, &lottery, seed);
        verify_draw(&instance, &lottery, &probabilities, seed, &panel)
            .map_err(|reason| anyhow::anyhow!("the draw does not verify: {reason}"))?;
        std::fs::write(args.out.join("panel.csv"), format!("id\n{}\n", panel.join("\n")))?;
        if args.reserves > 0 {
            let reserves = klero_selection::draw_reserves(&instance, seed, &panel, args.reserves as usize);
            std::fs::write(args.out.join("reserves.csv"), format!("id\n{}\n", reserves.join("\n")))?;
            reserves_drawn = reserves.len();
        }
    }
    let min = probabilities.iter().cloned().fold(f64::MAX, f64::min);
    let max = probabilities.iter().cloned().fold(0.0, f64::max);
    let mut summary = json!({"objective": args.objective.as_str(), "min_probability": min, "max_probability": max,
               "gini": klero_selection::gini(&instance, &probabilities),
               "mean_log_probability": klero_selection::mean_log_probability(&instance, &probabilities),
               "panels": lottery.panels.len(), "seconds": started.elapsed().as_secs_f64(),
               "stages": distribution.stages, "maximin_seconds": distribution.maximin_seconds, "types": instance.types.len(),
               "people": instance.people(), "households_shared": instance.households.len(), "drawn": seed.is_some(), "reserves": reserves_drawn,
               "encodings": {"features": features_encoding.to_string(), "people": people_encoding.to_string()}});
    merge(&mut summary, &completion);
    println!("{summary}");
    Ok(())
}

/// Adds `extra`'s keys to the JSON object `into`.
fn merge(into: &mut serde_json::Value, extra: &serde_json::Value) {
    if let (Some(into), Some(extra)) = (into.as_object_mut(), extra.as_object()) {
        into.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}
