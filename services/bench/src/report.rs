//! JSON-lines output and the statistics every bench shares.

use serde_json::{json, Value};
use std::time::Duration;

/// One result line. `ratio` is `value / baseline`; BENCHMARKS.md says which way is better.
pub fn emit(bench: &str, metric: &str, value: f64, unit: &str, baseline: f64, extra: Value) {
    let mut line = json!({
        "bench": bench,
        "metric": metric,
        "value": round(value),
        "unit": unit,
        "baseline": round(baseline),
        "ratio": significant(if baseline == 0.0 { 0.0 } else { value / baseline }),
    });
    if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    println!("{line}");
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Four significant digits, so tiny ratios (a 2 µs proof against a 100 ms baseline) stay visible.
fn significant(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(3 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// The median; NaN (reported as null) when a run was left out.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The `q` quantile (0..=1) of latencies, in microseconds.
pub fn quantile_us(latencies: &mut [Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    latencies.sort_unstable();
    let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
    latencies[index].as_secs_f64() * 1e6
}

/// The assembly every bench convenes: the same council, area and dates, with its own id,
/// question and panel size.
pub fn convened(
    assembly_id: impl Into<String>,
    remit_question: &str,
    panel_size: u32,
) -> klero_proto::assembly::AssemblyConvened {
    klero_proto::assembly::AssemblyConvened {
        assembly_id: assembly_id.into(),
        council: "Bench Council".into(),
        remit_question: remit_question.into(),
        area: "Loopback".into(),
        starts_on: "2026-01-01".into(),
        ends_on: "2026-12-31".into(),
        panel_size,
        adoption_threshold_percent: 60,
        response_deadline_days: 56,
    }
}
