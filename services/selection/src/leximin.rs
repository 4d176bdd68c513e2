//! LEXIMIN by column generation (Flanigan et al., Nature 2021), on types of interchangeable
//! people.
//!
//! Stage by stage, the lowest probability among the types not yet fixed is maximised. Each
//! stage solves the dual LP by cutting planes: the dual has one weight per type and one
//! constraint per panel; a mixed-integer "pricing" problem finds the panel whose constraint is
//! most violated, which is added and the LP re-solved from its last basis. When no panel is
//! violated the stage is optimal; the types with positive dual weight are tight in every
//! optimal distribution and are fixed at the stage's value. A final LP over the panels found
//! gives the distribution.

use crate::pool::Instance;
use crate::SelectionError;
use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem, Variable};
use std::time::{Duration, Instant};

/// A panel, as seats per type.
pub type Panel = Vec<u32>;

/// A lottery over panels.
#[derive(Clone, Debug)]
pub struct Distribution {
    /// The panels with positive probability.
    pub panels: Vec<Panel>,
    /// Their probabilities, summing to 1.
    pub probabilities: Vec<f64>,
    /// Each type's selection probability (that of each of its members).
    pub type_probabilities: Vec<f64>,
    /// LEXIMIN stages solved; the first stage's value is the maximin optimum.
    pub stages: usize,
    /// Whether every stage was solved. If the time limit stopped the refinement after the
    /// first stage, the lowest probability is still the maximin optimum, but the types above
    /// it are only guaranteed the value of the last stage solved.
    pub leximin_complete: bool,
    /// Panels generated along the way.
    pub panels_generated: usize,
}

/// Time spent in pricing, for the trace.
static PRICING_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Numerical tolerance for "violated" and "positive".
const EPSILON: f64 = 1e-9;
/// Longest one pricing MIP may run.
const PRICING_TIME_MAX: Duration = Duration::from_secs(60);
/// Cutting-plane rounds allowed per stage; far above what the test pools need.
const ROUNDS_PER_STAGE_MAX: usize = 10_000;

fn solver_error(context: &str, error: impl std::fmt::Display) -> SelectionError {
    SelectionError::Solver { reason: format!("{context}: {error}") }
}

/// The panel maximising Σ weight × seats under the quotas, or `None` if no panel meets them.
pub fn best_panel(instance: &Instance, weights: &[f64]) -> Result<Option<(Panel, f64)>, SelectionError> {
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    // A bound on any one pricing problem; the test pools need milliseconds.
    problem.set_time_limit(PRICING_TIME_MAX);
    let seats: Vec<Variable> = instance
        .types
        .iter()
        .zip(weights)
        .map(|(t, w)| problem.add_integer_var(*w, (0, t.members.len() as i32)))
        .collect();
    let mut total = LinearExpr::empty();
    for &v in &seats {
        total.add(v, 1.0);
    }
    problem.add_constraint(total, ComparisonOp::Eq, instance.panel_size as f64);
    for (f, bounds) in instance.bounds.iter().enumerate() {
        for (value, &(min, max)) in bounds.iter().enumerate() {
            let mut expr = LinearExpr::empty();
            for (t, person_type) in instance.types.iter().enumerate() {
                if person_type.values[f] == value {
                    expr.add(seats[t], 1.0);
                }
            }
            problem.add_constraint(expr.clone(), ComparisonOp::Ge, min as f64);
            problem.add_constraint(expr, ComparisonOp::Le, max as f64);
        }
    }
    match problem.solve() {
        Ok(outcome) => {
            let solution = outcome
                .into_solution()
                .map_err(|e| solver_error("pricing stopped early", format!("{:?}", e.termination_reason())))?;
            let panel: Panel = seats.iter().map(|&v| solution.var_value(v).round().max(0.0) as u32).collect();
            if !instance.panel_meets_quotas(&panel) {
                return Err(SelectionError::Solver {
                    reason: "the MIP solver returned a panel that breaks the quotas".into(),
                });
            }
            let value = panel.iter().zip(weights).map(|(c, w)| *c as f64 * w).sum();
            Ok(Some((panel, value)))
        }
        Err(microlp::Error::Infeasible) => Ok(None),
        Err(error) => Err(solver_error("pricing", error)),
    }
}

/// Share of a type's members a panel seats: the type's probability if that panel is drawn.
fn shares(instance: &Instance, panel: &Panel) -> Vec<f64> {
    panel.iter().zip(&instance.types).map(|(c, t)| *c as f64 / t.members.len() as f64).collect()
}

/// Computes the LEXIMIN distribution, within `time_limit`.
pub fn leximin(instance: &Instance, time_limit: Duration) -> Result<Distribution, SelectionError> {
    let started = Instant::now();
    let types = instance.types.len();
    let uniform: Vec<f64> = instance.types.iter().map(|t| 1.0 / t.members.len() as f64).collect();
    let first = best_panel(instance, &uniform)?.ok_or_else(|| crate::infeasibility(instance))?;
    let mut panels: Vec<Panel> = vec![first.0];
    // Panels whose constraints the next stage's LP starts with: those binding at the last
    // optimum. Every panel stays in `panels` for the final distribution.
    let mut active: Vec<usize> = vec![0];
    let mut fixed: Vec<Option<f64>> = vec![None; types];
    let mut stages = 0;
    let mut leximin_complete = true;
    let mut last_value = 0.0;
    while fixed.iter().any(Option::is_none) {
        stages += 1;
        let stage_started = Instant::now();
        let panels_before = panels.len();
        let (value, weights) = match solve_stage(instance, &mut panels, &mut active, &fixed, started, time_limit) {
            Ok(solved) => solved,
            // The maximin stage must finish; later refinements stop at the time limit, and
            // every type not yet fixed keeps at least the last stage's value.
            Err(SelectionError::TimeLimit { .. }) if stages > 1 => {
                stages -= 1;
                leximin_complete = false;
                for f in fixed.iter_mut().filter(|f| f.is_none()) {
                    *f = Some(last_value);
                }
                break;
            }
            Err(error) => return Err(error),
        };
        last_value = value;
        if std::env::var_os("KLERO_SELECT_TRACE").is_some() {
            eprintln!(
                "stage {stages}: value {value:.6}, {} new panels, {:?} ({} ms pricing), unfixed {}",
                panels.len() - panels_before,
                stage_started.elapsed(),
                PRICING_NANOS.swap(0, std::sync::atomic::Ordering::Relaxed) / 1_000_000,
                fixed.iter().filter(|f| f.is_none()).count()
            );
        }
        let mut newly_fixed = 0;
        for t in 0..types {
            if fixed[t].is_none() && weights[t] > 1e-7 {
                fixed[t] = Some(value);
                newly_fixed += 1;
            }
        }
        if newly_fixed == 0 {
            // Numerical corner: fix the unfixed type with the largest weight to make progress.
            let (t, _) = (0..types)
                .filter(|&t| fixed[t].is_none())
                .map(|t| (t, weights[t]))
                .fold((usize::MAX, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
            fixed[t] = Some(value);
        }
    }
    let fixed: Vec<f64> = fixed.into_iter().map(|f| f.unwrap_or(0.0)).collect();
    let (panels_used, probabilities) = final_distribution(instance, &panels, &fixed)?;
    let mut type_probabilities = vec![0.0; types];
    for (panel, p) in panels_used.iter().zip(&probabilities) {
        for (t, share) in shares(instance, panel).into_iter().enumerate() {
            type_probabilities[t] += p * share;
        }
    }
    Ok(Distribution {
        panels: panels_used,
        probabilities,
        type_probabilities,
        stages,
        leximin_complete,
        panels_generated: panels.len(),
    })
}

/// One LEXIMIN stage: the best lowest probability among unfixed types, given the fixed ones.
/// Returns the value and the optimal dual weights per type.
fn solve_stage(
    instance: &Instance,
    panels: &mut Vec<Panel>,
    active: &mut Vec<usize>,
    fixed: &[Option<f64>],
    started: Instant,
    time_limit: Duration,
) -> Result<(f64, Vec<f64>), SelectionError> {
    let types = instance.types.len();
    // Dual: minimise ŷ − Σ_fixed f_t·y_t  s.t.  Σ_unfixed y_t = 1,  y ≥ 0,
    //       ŷ − Σ_t share_t(P)·y_t ≥ 0 for every panel P.
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    let y: Vec<Variable> =
        (0..types).map(|t| problem.add_var(-fixed[t].unwrap_or(0.0), (0.0, f64::INFINITY))).collect();
    let y_hat = problem.add_var(1.0, (f64::NEG_INFINITY, f64::INFINITY));
    let mut unfixed_sum = LinearExpr::empty();
    for t in 0..types {
        if fixed[t].is_none() {
            unfixed_sum.add(y[t], 1.0);
        }
    }
    problem.add_constraint(unfixed_sum, ComparisonOp::Eq, 1.0);
    let panel_row = |panel: &Panel| {
        let mut row = LinearExpr::empty();
        row.add(y_hat, 1.0);
        for (t, share) in shares(instance, panel).into_iter().enumerate() {
            if share > 0.0 {
                row.add(y[t], -share);
            }
        }
        row
    };
    for &p in active.iter() {
        problem.add_constraint(panel_row(&panels[p]), ComparisonOp::Ge, 0.0);
    }
    let mut solution = problem
        .solve()
        .map_err(|e| solver_error("stage LP", e))?
        .into_solution()
        .map_err(|e| solver_error("stage LP stopped", format!("{:?}", e.termination_reason())))?;
    for _round in 0..ROUNDS_PER_STAGE_MAX {
        if started.elapsed() > time_limit {
            return Err(SelectionError::TimeLimit { seconds: time_limit.as_secs() });
        }
        let weights: Vec<f64> = y.iter().map(|&v| solution.var_value(v).max(0.0)).collect();
        let y_hat_value = solution.var_value(y_hat);
        let per_seat: Vec<f64> = weights.iter().zip(&instance.types).map(|(w, t)| w / t.members.len() as f64).collect();
        let pricing_started = Instant::now();
        let (panel, value) = best_panel(instance, &per_seat)?.ok_or_else(|| crate::infeasibility(instance))?;
        PRICING_NANOS.fetch_add(pricing_started.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        let known = panels.iter().position(|p| *p == panel);
        let already_a_row = known.is_some_and(|p| active.contains(&p));
        if value <= y_hat_value + EPSILON || already_a_row {
            let objective = solution.objective();
            // The next stage starts from the constraints that bind here.
            active.retain(|&p| {
                let load: f64 = shares(instance, &panels[p]).iter().zip(&weights).map(|(s, w)| s * w).sum();
                y_hat_value - load <= 1e-7
            });
            return Ok((objective, weights));
        }
        let row = panel_row(&panel);
        match known {
            Some(p) => active.push(p),
            None => {
                panels.push(panel);
                active.push(panels.len() - 1);
            }
        }
        solution = solution
            .add_constraint(row, ComparisonOp::Ge, 0.0)
            .map_err(|e| solver_error("stage LP (warm)", e))?
            .into_solution()
            .map_err(|e| solver_error("stage LP stopped", format!("{:?}", e.termination_reason())))?;
    }
    Err(SelectionError::Solver { reason: "a stage did not converge within its round limit".into() })
}

/// The lottery over the panels found that gives every type at least its fixed probability.
fn final_distribution(
    instance: &Instance,
    panels: &[Panel],
    fixed: &[f64],
) -> Result<(Vec<Panel>, Vec<f64>), SelectionError> {
    // Maximise the smallest slack above the fixed probabilities (it is about 0 at the leximin
    // point); this also keeps the solution away from needless extremes.
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    let lambda: Vec<Variable> = panels.iter().map(|_| problem.add_var(0.0, (0.0, 1.0))).collect();
    let slack = problem.add_var(1.0, (-1.0, 1.0));
    let mut total = LinearExpr::empty();
    for &l in &lambda {
        total.add(l, 1.0);
    }
    problem.add_constraint(total, ComparisonOp::Eq, 1.0);
    let all_shares: Vec<Vec<f64>> = panels.iter().map(|p| shares(instance, p)).collect();
    for (t, &f) in fixed.iter().enumerate() {
        let mut row = LinearExpr::empty();
        for (p, share) in all_shares.iter().enumerate() {
            if share[t] > 0.0 {
                row.add(lambda[p], share[t]);
            }
        }
        row.add(slack, -1.0);
        problem.add_constraint(row, ComparisonOp::Ge, f - 1e-7);
    }
    let solution = problem
        .solve()
        .map_err(|e| solver_error("final LP", e))?
        .into_solution()
        .map_err(|e| solver_error("final LP stopped", format!("{:?}", e.termination_reason())))?;
    let mut used = Vec::new();
    let mut probabilities = Vec::new();
    for (p, &l) in lambda.iter().enumerate() {
        let value = solution.var_value(l);
        if value > 1e-12 {
            used.push(panels[p].clone());
            probabilities.push(value);
        }
    }
    let sum: f64 = probabilities.iter().sum();
    for p in &mut probabilities {
        *p /= sum;
    }
    Ok((used, probabilities))
}
