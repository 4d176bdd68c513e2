//! `select`: the LEXIMIN lottery on the pools in ../shared/data/sortition.
//!
//! The baseline is the Sortition Foundation's `sortition-algorithms` 0.12 (maximin with HiGHS)
//! as published beside the pools (shared/data/sortition/README.md). It was not run in this
//! process, because it is a Python package with a native solver; its figures are quoted, and
//! the JSON says so.

use crate::report::emit;
use klero_selection::{build_instance, leximin, parse_features_csv};
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
        if quick && panel_size > 22 {
            continue;
        }
        let dir = data_dir().join(pool);
        let (Ok(features), Ok(people)) =
            (std::fs::read_to_string(dir.join("features.csv")), std::fs::read_to_string(dir.join("people.csv")))
        else {
            eprintln!("select: {} not found; skipping {pool}", dir.display());
            continue;
        };
        let quotas = parse_features_csv(&features).expect("features");
        let instance = build_instance(&quotas, &people, panel_size).expect("instance");
        let started = Instant::now();
        // The leximin refinement stops at the target; the maximin stage always completes.
        let distribution = leximin(&instance, Duration::from_secs_f64(target_seconds)).expect("leximin");
        let seconds = started.elapsed().as_secs_f64();
        let lowest = distribution.type_probabilities.iter().cloned().fold(f64::MAX, f64::min);
        let extra = json!({"pool": pool, "people": instance.people(), "types": instance.types.len(), "panel_size": panel_size,
            "min_probability": lowest, "reference_maximin": if reference_maximin.is_nan() { serde_json::Value::Null } else { json!(reference_maximin) },
            "stages": distribution.stages, "leximin_complete": distribution.leximin_complete, "panels": distribution.panels.len(),
            "maximin_seconds": distribution.maximin_seconds,
            "target_seconds_max": target_seconds,
            "baseline_name": "sortition-algorithms 0.12 (maximin, HiGHS), published figure, not run here; for pool_2000 a lower bound (it did not finish)"});
        emit("select", &format!("seconds_{pool}"), seconds, "s", reference_seconds, extra);
    }
}
