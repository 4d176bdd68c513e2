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

pub mod addresses;
pub mod leximin;
pub mod nash;
pub mod pool;
pub mod simplex;

/// The algorithm version a selection plan commits to. The LEXIMIN probabilities are unique,
/// but the lottery realising them is not; each version fixes which one the same input gives.
/// Version 2: stage LPs by our revised simplex, with smoothed pricing after the first stage.
pub const ALGORITHM_VERSION: &str = "klero-selection 2";

pub use addresses::{read_address_list, AddressList};
pub use klero_draw::letters;
pub use klero_draw::{
    draw, draw_replacement, draw_reserves, household_commitment, household_key, replacement, verify_draw, Instance,
    Panel, PublishedLottery, Quota, Seating, Volunteer, WEIGHT_TOTAL,
};
pub use leximin::{best_panel, leximin, leximin_with_progress, Distribution, StageTime};
pub use nash::{gini, mean_log_probability, nash, NashLottery, Objective, NASH_TOLERANCE};
pub use pool::{build_instance, decode_csv, parse_features_csv, read_features, FeaturesFile, QuotaFlex, TextEncoding};

/// Which input a selection error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFile {
    /// The quotas: `feature,value,min,max`.
    Features,
    /// The pool: `id,<feature>,…`.
    People,
    /// The address list of a letter lottery: a header, then one address a row.
    Addresses,
    /// The other arguments, such as the panel size (line 0).
    Arguments,
}

impl std::fmt::Display for InputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputFile::Features => "features",
            InputFile::People => "people",
            InputFile::Addresses => "addresses",
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
/// value with too few volunteers, the first pair of features that cannot be met together, or
/// the households, when the quotas could be met only by seating housemates together.
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
    if !instance.households.is_empty() {
        let apart = Instance { households: Vec::new(), ..instance.clone() };
        // The same types without the household constraints: everyone free to sit beside whom
        // they live with.
        if matches!(best_panel(&apart, &vec![0.0; apart.types.len()]), Ok(Some(_))) {
            return SelectionError::Infeasible {
                conflict: format!(
                    "the quotas can be met only by seating two volunteers of one household ({} households of two or more)",
                    instance.households.len()
                ),
            };
        }
    }
    for a in 0..instance.features.len() {
        for b in a + 1..instance.features.len() {
            let mut pair = Instance { households: Vec::new(), ..instance.clone() };
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

/// One quota as a relaxation changes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaChange {
    pub feature: String,
    pub value: String,
    /// The quota as planned.
    pub min: u32,
    pub max: u32,
    /// The quota relaxed: never tighter than planned.
    pub relaxed_min: u32,
    pub relaxed_max: u32,
}

/// The smallest change to the quotas that lets a panel meet them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relaxation {
    /// Only the quotas that change, in quota order.
    pub changes: Vec<QuotaChange>,
    /// Σ (min − relaxed min) + (relaxed max − max): seats of change over every quota.
    pub total_change: u32,
}

/// The relaxation of the quotas with the least total change (seats lowered off minimums plus
/// seats added to maximums) under which some panel of the pool meets them all, keeping the
/// quotas named in `keep` (feature, value) as planned and at most one seat per household.
/// `None` if no relaxation of the other quotas can do it.
///
/// The least total change equals the fewest seats by which any panel misses the quotas, so
/// it is one MIP: a panel, and for each quota how far it falls below the minimum and above
/// the maximum, minimising the sum.
pub fn smallest_relaxation(
    instance: &Instance,
    keep: &[(String, String)],
) -> Result<Option<Relaxation>, SelectionError> {
    smallest_relaxation_within(instance, keep, &[])
}

/// [`smallest_relaxation`], never past the bounds of `flex` (the features file's `min_flex`
/// and `max_flex`): `None` when no relaxation within them lets a panel form.
pub fn smallest_relaxation_within(
    instance: &Instance,
    keep: &[(String, String)],
    flex: &[QuotaFlex],
) -> Result<Option<Relaxation>, SelectionError> {
    use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    problem.set_time_limit(std::time::Duration::from_secs(60));
    let seats: Vec<_> =
        instance.types.iter().map(|t| problem.add_integer_var(0.0, (0, t.members.len() as i32))).collect();
    let mut total = LinearExpr::empty();
    for &v in &seats {
        total.add(v, 1.0);
    }
    problem.add_constraint(total, ComparisonOp::Eq, instance.panel_size as f64);
    let k = instance.panel_size as i32;
    let mut shortfalls = Vec::new();
    for (f, bounds) in instance.bounds.iter().enumerate() {
        for (value, &(min, max)) in bounds.iter().enumerate() {
            let (feature, value_name) = (&instance.features[f], &instance.values[f][value]);
            let kept = keep.iter().any(|(kf, kv)| kf == feature && kv == value_name);
            let bounds = flex.iter().find(|q| &q.feature == feature && &q.value == value_name);
            // How far the minimum may fall and the maximum rise.
            let (lower_by, raise_by) = match (kept, bounds) {
                (true, _) => (0, 0),
                (false, Some(b)) => {
                    ((min - b.min_flex.min(min)) as i32, b.max_flex.map_or(k, |m| m.saturating_sub(max) as i32))
                }
                (false, None) => (min as i32, k),
            };
            let below = problem.add_integer_var(1.0, (0, lower_by.min(min as i32)));
            let above = problem.add_integer_var(1.0, (0, raise_by));
            let mut expr = LinearExpr::empty();
            for (t, person_type) in instance.types.iter().enumerate() {
                if person_type.values[f] == value {
                    expr.add(seats[t], 1.0);
                }
            }
            let mut at_least = expr.clone();
            at_least.add(below, 1.0);
            problem.add_constraint(at_least, ComparisonOp::Ge, min as f64);
            let mut at_most = expr;
            at_most.add(above, -1.0);
            problem.add_constraint(at_most, ComparisonOp::Le, max as f64);
            shortfalls.push((f, value, min, max, below, above));
        }
    }
    for household in &instance.households {
        let mut expr = LinearExpr::empty();
        for &t in household {
            expr.add(seats[t], 1.0);
        }
        problem.add_constraint(expr, ComparisonOp::Le, 1.0);
    }
    let solution = match problem.solve() {
        Ok(outcome) => outcome.into_solution().map_err(|e| SelectionError::Solver {
            reason: format!("the relaxation MIP stopped early: {:?}", e.termination_reason()),
        })?,
        Err(microlp::Error::Infeasible) => return Ok(None),
        Err(error) => return Err(SelectionError::Solver { reason: format!("the relaxation MIP: {error}") }),
    };
    if solution.status() != microlp::SolutionStatus::Optimal {
        return Err(SelectionError::Solver { reason: "the relaxation MIP did not prove its optimum".into() });
    }
    let mut changes = Vec::new();
    let mut total_change = 0;
    for (f, value, min, max, below, above) in shortfalls {
        let lowered = solution.var_value(below).round().max(0.0) as u32;
        let raised = solution.var_value(above).round().max(0.0) as u32;
        if lowered + raised > 0 {
            total_change += lowered + raised;
            changes.push(QuotaChange {
                feature: instance.features[f].clone(),
                value: instance.values[f][value].clone(),
                min,
                max,
                relaxed_min: min - lowered,
                relaxed_max: max + raised,
            });
        }
    }
    Ok(Some(Relaxation { changes, total_change }))
}

impl Relaxation {
    /// The quotas with this relaxation applied, in the order given.
    pub fn apply(&self, quotas: &[Quota]) -> Vec<Quota> {
        quotas
            .iter()
            .map(|quota| {
                let change = self.changes.iter().find(|c| c.feature == quota.feature && c.value == quota.value);
                match change {
                    Some(c) => Quota { min: c.relaxed_min, max: c.relaxed_max, ..quota.clone() },
                    None => quota.clone(),
                }
            })
            .collect()
    }
}

impl std::fmt::Display for Relaxation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .changes
            .iter()
            .map(|c| {
                format!("{} = {}: {}..{} to {}..{}", c.feature, c.value, c.min, c.max, c.relaxed_min, c.relaxed_max)
            })
            .collect();
        write!(f, "{} (total change {} seats)", parts.join("; "), self.total_change)
    }
}
