//! `select`: the LEXIMIN lottery on the pools in ../shared/data/sortition.
//!
//! The baseline is the Sortition Foundation's `sortition-algorithms` 0.12 (maximin with HiGHS)
//! as published beside the pools (shared/data/sortition/README.md). It was not run in this
//! process, because it is a Python package with a native solver; its figures are quoted, and
//! the JSON says so.

use crate::report::emit;
use klero_selection::{build_instance, leximin, parse_features_csv, SelectionError};
use klero_testkit::households::{add_households, ADDRESS_COLUMNS};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// (pool, panel size, the time target in s, the reference's time in s, its maximin).
const POOLS: [(&str, u32, f64, f64, f64); 3] = [
    ("pool_150_22", 22, 2.0, 10.6, 0.1017),
    ("pool_500_75", 75, 20.0, 49.7, 0.1133),
    ("pool_2000_200", 200, 120.0, 1500.0, f64::NAN),
];

/// `KLERO_SORTITION_DATA`, or shared/data/sortition beside the workspace.
fn data_dir() -> PathBuf {
    std::env::var_os("KLERO_SORTITION_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/sortition"))
}

pub fn select(quick: bool) {
    for (pool, panel_size, target_seconds, reference_seconds, reference_maximin) in POOLS {
        for households in [false, true] {
            if quick && panel_size > 22 {
                continue;
            }
            // `KLERO_BENCH_SELECT_POOLS=pool_2000_200,…` runs only those pools, and
            // `KLERO_BENCH_SELECT_HOUSEHOLDS=only` or `=never` only those cases.
            if std::env::var("KLERO_BENCH_SELECT_POOLS").is_ok_and(|pools| !pools.split(',').any(|p| p == pool)) {
                continue;
            }
            match std::env::var("KLERO_BENCH_SELECT_HOUSEHOLDS").as_deref() {
                Ok("only") if !households => continue,
                Ok("never") if households => continue,
                _ => {}
            }
            let dir = data_dir().join(pool);
            let (Ok(features), Ok(people)) =
                (std::fs::read_to_string(dir.join("features.csv")), std::fs::read_to_string(dir.join("people.csv")))
            else {
                eprintln!("select: {} not found; skipping {pool}", dir.display());
                continue;
            };
            let quotas = parse_features_csv(&features).expect("features");
            // With households: the pool's people at 1.6 to an address (klero_testkit::households),
            // with the allowance of 1.5 times the time.
            let (people, columns, target_seconds) = if households {
                let columns: Vec<String> = ADDRESS_COLUMNS.iter().map(|c| c.to_string()).collect();
                (add_households(&people), columns, target_seconds * 1.5)
            } else {
                (people, Vec::new(), target_seconds)
            };
            let instance = build_instance(&quotas, &people, panel_size, &columns).expect("instance");
            let time_limit = std::env::var("KLERO_BENCH_SELECT_LIMIT_SECONDS")
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(target_seconds);
            let started = Instant::now();
            // The leximin refinement stops at the limit (the target unless the environment says
            // otherwise). The maximin stage must finish within it: if it does not, the line says
            // so with the time spent, and no probability.
            let distribution = match leximin(&instance, Duration::from_secs_f64(time_limit)) {
                Ok(distribution) => distribution,
                Err(SelectionError::TimeLimit { .. }) => {
                    let name =
                        if households { format!("seconds_{pool}_households") } else { format!("seconds_{pool}") };
                    let extra = json!({"pool": pool, "households": households, "households_shared": instance.households.len(),
                        "people": instance.people(), "types": instance.types.len(), "panel_size": panel_size,
                        "maximin_finished": false, "time_limit_seconds": time_limit,
                        "baseline_name": "sortition-algorithms 0.12 (maximin, HiGHS), published figure, not run here"});
                    emit("select", &name, started.elapsed().as_secs_f64(), "s", reference_seconds, extra);
                    continue;
                }
                Err(error) => panic!("leximin on {pool}: {error}"),
            };
            let seconds = started.elapsed().as_secs_f64();
            let lowest = distribution.type_probabilities.iter().cloned().fold(f64::MAX, f64::min);
            let stages: Vec<serde_json::Value> = distribution
                .stage_times
                .iter()
                .map(|s| json!({"seconds": s.seconds, "types_fixed": s.types_fixed, "panels_added": s.panels_added}))
                .collect();
            let extra = json!({"pool": pool, "households": households, "households_shared": instance.households.len(),
            "stage_times": stages, "time_limit_seconds": time_limit,
            "people": instance.people(), "types": instance.types.len(), "panel_size": panel_size,
            "min_probability": lowest, "reference_maximin": if reference_maximin.is_nan() || households { serde_json::Value::Null } else { json!(reference_maximin) },
            "stages": distribution.stages, "leximin_complete": distribution.leximin_complete, "panels": distribution.panels.len(),
            "maximin_seconds": distribution.maximin_seconds,
            "target_seconds_max": target_seconds,
            "baseline_name": if households {
                "sortition-algorithms 0.12 (maximin, HiGHS) without households, published figure, not run here; with households it is run beside klero by the blackbox test with_households_the_lowest_chance_is_at_least_the_sortition_foundation_maximin"
            } else {
                "sortition-algorithms 0.12 (maximin, HiGHS), published figure, not run here; for pool_2000 a lower bound (it did not finish)"
            }});
            let name = if households { format!("seconds_{pool}_households") } else { format!("seconds_{pool}") };
            emit("select", &name, seconds, "s", reference_seconds, extra);
        }
    }
}

/// `objectives`: LEXIMIN and Nash welfare on the same pool, in the same run (issue 30, part 5):
/// each one's lowest chance, Gini coefficient of chances, mean log-chance (the Nash welfare per
/// volunteer) and time. The value is Nash's seconds, the baseline LEXIMIN's.
pub fn objectives(quick: bool) {
    for (pool, panel_size, target_seconds, _, _) in POOLS {
        if (quick && panel_size > 22)
            || std::env::var("KLERO_BENCH_SELECT_POOLS").is_ok_and(|pools| !pools.split(',').any(|p| p == pool))
        {
            continue;
        }
        let dir = data_dir().join(pool);
        let (Ok(features), Ok(people)) =
            (std::fs::read_to_string(dir.join("features.csv")), std::fs::read_to_string(dir.join("people.csv")))
        else {
            eprintln!("objectives: {} not found; skipping {pool}", dir.display());
            continue;
        };
        let instance =
            build_instance(&parse_features_csv(&features).expect("features"), &people, panel_size, &[]).expect("pool");
        let limit = std::env::var("KLERO_BENCH_SELECT_LIMIT_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(target_seconds);
        let measure = |probabilities: &[f64], seconds: f64, complete: bool| {
            json!({"seconds": seconds, "complete": complete,
                "min_probability": probabilities.iter().cloned().fold(f64::MAX, f64::min),
                "max_probability": probabilities.iter().cloned().fold(0.0, f64::max),
                "gini": klero_selection::gini(&instance, probabilities),
                "mean_log_probability": klero_selection::mean_log_probability(&instance, probabilities)})
        };
        let started = Instant::now();
        let Ok(lexi) = leximin(&instance, Duration::from_secs_f64(limit)) else {
            eprintln!("objectives: the maximin stage of {pool} did not finish in {limit} s; skipping");
            continue;
        };
        let leximin_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let nash = klero_selection::nash(&instance, Duration::from_secs_f64(limit)).expect("nash");
        let nash_seconds = started.elapsed().as_secs_f64();
        let extra = json!({"pool": pool, "people": instance.people(), "types": instance.types.len(), "panel_size": panel_size,
            "time_limit_seconds": limit,
            "leximin": measure(&lexi.type_probabilities, leximin_seconds, lexi.leximin_complete),
            "nash": measure(&nash.distribution.type_probabilities, nash_seconds, nash.converged),
            "nash_gap": nash.gap,
            "baseline_name": "LEXIMIN on the same pool, same run"});
        emit("objectives", &format!("seconds_{pool}"), nash_seconds, "s", leximin_seconds, extra);
    }
}
