//! Kleroterion's fair and verifiable selection.
//!
//! - [`pool`]: pools and quotas from the Sortition Foundation's CSV layout, grouped into types.
//! - [`leximin`]: the LEXIMIN lottery over quota-meeting panels, by column generation: each
//!   stage's LP is solved by [`simplex`], the pricing MIP by `microlp` (both pure Rust: no
//!   cmake, no system libraries).
//! - [`simplex`]: a revised primal simplex for LPs that grow a column at a time.
//! - [`publish`]: a distribution rounded to the integer weights of a [`PublishedLottery`].
//!
//! Checking a draw needs none of this: the domain and the verifier use `klero-draw`, which this
//! crate builds on.

pub mod leximin;
pub mod pool;
pub mod simplex;

/// The algorithm version a selection plan commits to. The LEXIMIN probabilities are unique,
/// but the lottery realising them is not; each version fixes which one the same input gives.
/// Version 2: stage LPs by our revised simplex, with smoothed pricing after the first stage.
pub const ALGORITHM_VERSION: &str = "klero-selection 2";

pub use klero_draw::{draw, draw_replacement, verify_draw, Instance, Panel, PublishedLottery, Quota, WEIGHT_TOTAL};
pub use leximin::{best_panel, leximin, leximin_with_progress, Distribution};
pub use pool::{build_instance, decode_csv, parse_features_csv, TextEncoding};

/// Which input a selection error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFile {
    /// The quotas: `feature,value,min,max`.
    Features,
    /// The pool: `id,<feature>,…`.
    People,
    /// The other arguments, such as the panel size (line 0).
    Arguments,
}

impl std::fmt::Display for InputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputFile::Features => "features",
            InputFile::People => "people",
            InputFile::Arguments => "arguments",
        })
    }
}

/// Why a selection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// `column` (from 1) where one cell is at fault.
    #[error("{file} line {line}{}: {reason}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Input { file: InputFile, line: usize, column: Option<usize>, reason: String },
    /// No panel meets the quotas; the message names the quotas in conflict.
    #[error("no panel can meet the quotas: {conflict}")]
    Infeasible { conflict: String },
    #[error("the LP/MIP solver failed: {reason}")]
    Solver { reason: String },
    #[error("stopped at the time limit of {seconds} s")]
    TimeLimit { seconds: u64 },
}

/// Names the quotas in conflict: a feature whose bounds cannot add up to the panel size, a
/// value with too few volunteers, or the first pair of features that cannot be met together.
pub fn infeasibility(instance: &Instance) -> SelectionError {
    let k = instance.panel_size as u64;
    for (f, bounds) in instance.bounds.iter().enumerate() {
        let (min_sum, max_sum): (u64, u64) =
            bounds.iter().fold((0, 0), |(a, b), (min, max)| (a + *min as u64, b + *max as u64));
        if min_sum > k || max_sum < k {
            return SelectionError::Infeasible {
                conflict: format!("feature {}: the minimums sum to {min_sum} and the maximums to {max_sum}, but the panel has {k} seats", instance.features[f]),
            };
        }
        for (v, (min, _)) in bounds.iter().enumerate() {
            let available: usize = instance.types.iter().filter(|t| t.values[f] == v).map(|t| t.members.len()).sum();
            if (*min as usize) > available {
                return SelectionError::Infeasible {
                    conflict: format!(
                        "{} = {}: the minimum is {min} but only {available} volunteers have it",
                        instance.features[f], instance.values[f][v]
                    ),
                };
            }
        }
    }
    for a in 0..instance.features.len() {
        for b in a + 1..instance.features.len() {
            let mut pair = instance.clone();
            for (f, bounds) in pair.bounds.iter_mut().enumerate() {
                if f != a && f != b {
                    for bound in bounds.iter_mut() {
                        *bound = (0, instance.panel_size);
                    }
                }
            }
            if matches!(best_panel(&pair, &vec![0.0; pair.types.len()]), Ok(None)) {
                return SelectionError::Infeasible {
                    conflict: format!(
                        "the quotas on {} and on {} cannot be met together",
                        instance.features[a], instance.features[b]
                    ),
                };
            }
        }
    }
    SelectionError::Infeasible { conflict: "the quotas on three or more features together".into() }
}

/// Rounds a distribution to integer weights by largest remainder; panels that round to zero
/// are dropped. Each probability moves by less than one part in 10^9 per panel.
pub fn publish(distribution: &Distribution) -> PublishedLottery {
    let exact: Vec<f64> = distribution.probabilities.iter().map(|p| p * WEIGHT_TOTAL as f64).collect();
    let mut weights: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let short = WEIGHT_TOTAL.saturating_sub(weights.iter().sum());
    let mut order: Vec<usize> = (0..exact.len()).collect();
    // Largest remainder first; ties by index, so rounding is deterministic.
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &i in order.iter().take(short as usize) {
        weights[i] += 1;
    }
    let (panels, weights) = distribution.panels.iter().cloned().zip(weights).filter(|(_, w)| *w > 0).unzip();
    PublishedLottery { panels, weights }
}
