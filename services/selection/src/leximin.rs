//! LEXIMIN by column generation (Flanigan et al., Nature 2021), on types of interchangeable
//! people.
//!
//! Stage by stage, the lowest probability among the types not yet fixed is maximised over
//! lotteries of panels. Each stage is a primal LP over the panels found so far (see
//! [`StageLp`]), solved by our revised simplex ([`crate::simplex`]); a mixed-integer "pricing"
//! problem (in `microlp`) finds the panel that would most improve the lottery under the LP's
//! dual weights, which is added as a column and the LP re-solved from its last basis. When no
//! panel improves it the stage is optimal; the types with positive dual weight are tight in
//! every optimal lottery (complementary slackness) and are fixed at the stage's value. The
//! last stage's optimal lottery is the distribution.
//!
//! Stages share one LP: only costs and right-hand sides change between them, so each starts
//! from the previous optimum. Panels that cannot improve it are dropped from the LP at each
//! stage's start (see [`StageLp::prune`]).

use crate::simplex::ColumnLp;
use crate::SelectionError;
use klero_draw::{Instance, Panel};
use microlp::{
    ComparisonOp, LinearExpr, OptimizationDirection, Problem, ResumeOptions, SolutionStatus, SolveOptions, Variable,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    /// Time to the proven maximin optimum (the first stage), in seconds.
    pub maximin_seconds: f64,
    /// Each stage solved: its seconds, the types it fixed and the panels it added.
    pub stage_times: Vec<StageTime>,
}

/// What one LEXIMIN stage took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageTime {
    pub seconds: f64,
    pub types_fixed: usize,
    pub panels_added: usize,
}

/// Time spent in pricing, for the trace.
static PRICING_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Exact pricing MIPs solved, and the longest, for the trace.
static EXACT_PRICINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static EXACT_PRICING_MAX_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Weight of the centre in the smoothed dual point priced first.
const SMOOTHING: f64 = 0.8;
/// Numerical tolerance for "violated" and "positive".
const EPSILON: f64 = 1e-9;
/// Longest one pricing MIP may run.
const PRICING_TIME_MAX: Duration = Duration::from_secs(60);
/// A pricing search checks whether it may stop this often.
const PRICING_SLICE: Duration = Duration::from_millis(250);
/// Cutting-plane rounds allowed per stage; far above what the test pools need.
const ROUNDS_PER_STAGE_MAX: usize = 10_000;

fn solver_error(context: &str, error: impl std::fmt::Display) -> SelectionError {
    SelectionError::Solver { reason: format!("{context}: {error}") }
}

/// The panel maximising Σ weight × seats under the quotas and at most one seat per household,
/// or `None` if no panel meets them.
pub fn best_panel(instance: &Instance, weights: &[f64]) -> Result<Option<(Panel, f64)>, SelectionError> {
    Ok(solve_pricing(instance, weights, true, Stop::Optimum, None, None)?.map(|priced| (priced.panel, priced.value)))
}

/// The pricing problem: maximise Σ weight × seats under the quotas, and, if asked, at most one
/// seat per household.
fn pricing_problem(instance: &Instance, weights: &[f64], keep_households_apart: bool) -> (Problem, Vec<Variable>) {
    let mut problem = Problem::new(OptimizationDirection::Maximize);
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
    for household in instance.households.iter().filter(|_| keep_households_apart) {
        let mut expr = LinearExpr::empty();
        for &t in household {
            expr.add(seats[t], 1.0);
        }
        problem.add_constraint(expr, ComparisonOp::Le, 1.0);
    }
    (problem, seats)
}

/// When a pricing search may stop.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// Only at the proven optimum.
    Optimum,
    /// As soon as it holds a panel worth more than this, or has proven that none is.
    Above(f64),
}

/// What a pricing search found: its best panel, that panel's Σ weight × seats, and a proven upper
/// bound on every panel's (the value itself when the panel is proven best).
struct Priced {
    panel: Panel,
    value: f64,
    bound: f64,
}

/// The pricing MIP, with or without the household constraints, searched in slices of
/// [`PRICING_SLICE`] until `stop` allows, from `hint` if given (a panel that meets the
/// constraints, which seeds the search's incumbent). `None` if no panel meets them. With
/// `limits`, no slice starts once their time is up: the search ends with
/// [`SelectionError::TimeLimit`], so that a caller's limit holds to within one slice, where a
/// hard MIP (households) could otherwise run on for [`PRICING_TIME_MAX`].
///
/// A search stopped by its budget returns its incumbent, which microlp marks `Feasible`, not
/// `Optimal`; that is only an answer under [`Stop::Above`], and only with the proven bound.
fn solve_pricing(
    instance: &Instance,
    weights: &[f64],
    keep_households_apart: bool,
    stop: Stop,
    hint: Option<&Panel>,
    limits: Option<&Limits>,
) -> Result<Option<Priced>, SelectionError> {
    let out_of_time = || limits.filter(|limits| limits.out_of_time()).map(Limits::time_limit_error);
    if let Some(error) = out_of_time() {
        return Err(error);
    }
    let (problem, seats) = pricing_problem(instance, weights, keep_households_apart);
    let started = Instant::now();
    let mut options = SolveOptions::default();
    options.time_limit = Some(PRICING_SLICE);
    options.warm_start = hint.map(|panel| seats.iter().zip(panel).map(|(&v, &c)| (v, c as f64)).collect());
    let mut outcome = match problem.solve_with(options) {
        Ok(outcome) => outcome,
        Err(microlp::Error::Infeasible) => return Ok(None),
        Err(error) => return Err(solver_error("pricing", error)),
    };
    loop {
        let best_bound = outcome.stats().best_bound;
        if let Some(solution) = outcome.solution() {
            let panel: Panel = seats.iter().map(|&v| solution.var_value(v).round().max(0.0) as u32).collect();
            if !instance.panel_meets_quotas(&panel)
                || (keep_households_apart && !instance.panel_keeps_households_apart(&panel))
            {
                return Err(SelectionError::Solver {
                    reason: "the MIP solver returned a panel that breaks the quotas or seats housemates".into(),
                });
            }
            let value: f64 = panel.iter().zip(weights).map(|(c, w)| *c as f64 * w).sum();
            let proven = solution.status() == SolutionStatus::Optimal;
            let bound = if proven { value } else { best_bound.unwrap_or(f64::INFINITY).max(value) };
            let settled = proven || matches!(stop, Stop::Above(threshold) if value > threshold || bound <= threshold);
            if settled {
                return Ok(Some(Priced { panel, value, bound }));
            }
        }
        if started.elapsed() >= PRICING_TIME_MAX {
            return Err(SelectionError::Solver {
                reason: format!("a pricing MIP was not settled within {} s", PRICING_TIME_MAX.as_secs()),
            });
        }
        if let Some(error) = out_of_time() {
            return Err(error);
        }
        let mut slice = ResumeOptions::default();
        slice.time_limit = Some(PRICING_SLICE);
        outcome = match outcome.resume_with(slice) {
            Ok(outcome) => outcome,
            Err(microlp::Error::Infeasible) => return Ok(None),
            Err(error) => return Err(solver_error("pricing", error)),
        };
    }
}

/// Share of a type's members a panel seats: the type's probability if that panel is drawn.
fn shares(instance: &Instance, panel: &Panel) -> Vec<f64> {
    panel.iter().zip(&instance.types).map(|(c, t)| *c as f64 / t.members.len() as f64).collect()
}

/// Computes the LEXIMIN distribution, within `time_limit`.
pub fn leximin(instance: &Instance, time_limit: Duration) -> Result<Distribution, SelectionError> {
    leximin_with_progress(instance, time_limit, &mut |_, _| {})
}

/// [`leximin`], telling `progress(types fixed, types)` after every stage: a stage fixes the
/// probability of at least one type, and the distribution is complete when all are fixed.
pub fn leximin_with_progress(
    instance: &Instance,
    time_limit: Duration,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Distribution, SelectionError> {
    let limits = Limits { started: Instant::now(), time: time_limit, stages: usize::MAX };
    leximin_within(instance, limits, progress)
}

/// When the refinement stops: at the time limit, or after a number of stages (which only tests
/// set, to stop it at a chosen point without depending on the machine's speed).
#[derive(Clone, Copy, Debug)]
struct Limits {
    started: Instant,
    time: Duration,
    stages: usize,
}

impl Limits {
    fn reached(&self, stage: usize) -> bool {
        self.out_of_time() || stage > self.stages
    }

    fn out_of_time(&self) -> bool {
        self.started.elapsed() > self.time
    }

    fn time_limit_error(&self) -> SelectionError {
        SelectionError::TimeLimit { seconds: self.time.as_secs() }
    }
}

fn leximin_within(
    instance: &Instance,
    limits: Limits,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Distribution, SelectionError> {
    let started = limits.started;
    let types = instance.types.len();
    let uniform: Vec<f64> = instance.types.iter().map(|t| 1.0 / t.members.len() as f64).collect();
    let first = best_panel(instance, &uniform)?.ok_or_else(|| crate::infeasibility(instance))?;
    let mut stage_lp = StageLp::new(instance);
    stage_lp.add_panel(first.0);
    let mut fixed: Vec<Option<f64>> = vec![None; types];
    let mut stages = 0;
    let mut leximin_complete = true;
    // The lottery of the last stage solved: it gives every fixed type its value and every
    // other type at least that stage's value. Its own panels, not positions in the LP, which
    // a later stage's pruning renumbers.
    let mut lottery: Vec<(Panel, f64)> = Vec::new();
    let mut level = 0.0;
    let mut maximin_seconds = 0.0;
    let mut stage_times = Vec::new();
    while fixed.iter().any(Option::is_none) {
        stages += 1;
        let stage_started = Instant::now();
        let (panels_before, pivots_before) = (stage_lp.panels_generated, stage_lp.lp.pivots);
        let (value, weights) = match solve_stage(instance, &mut stage_lp, &fixed, level, limits, stages) {
            Ok(solved) => solved,
            // The maximin stage must finish; later refinements stop at the time limit, and
            // every type not yet fixed keeps at least the last stage's value.
            Err(SelectionError::TimeLimit { .. }) if stages > 1 => {
                stages -= 1;
                leximin_complete = false;
                break;
            }
            Err(error) => return Err(error),
        };
        lottery = stage_lp.lottery();
        level = value;
        if stages == 1 {
            maximin_seconds = started.elapsed().as_secs_f64();
        }
        if std::env::var_os("KLERO_SELECT_TRACE").is_some() {
            eprintln!(
                "stage {stages}: value {value:.6}, {} new panels, {} pivots (total {} degenerate {} bland {} inversions {} ({} ms) crashes {}), {:?} ({} ms pricing, {} exact, longest {} ms), unfixed {}",
                stage_lp.panels_generated - panels_before,
                stage_lp.lp.pivots - pivots_before,
                stage_lp.lp.pivots,
                stage_lp.lp.degenerate_pivots,
                stage_lp.lp.bland_pivots,
                stage_lp.lp.inversions,
                stage_lp.lp.inversion_nanos / 1_000_000,
                stage_lp.lp.crashes,
                stage_started.elapsed(),
                PRICING_NANOS.swap(0, std::sync::atomic::Ordering::Relaxed) / 1_000_000,
                EXACT_PRICINGS.swap(0, std::sync::atomic::Ordering::Relaxed),
                EXACT_PRICING_MAX_NANOS.swap(0, std::sync::atomic::Ordering::Relaxed) / 1_000_000,
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
            newly_fixed = 1;
        }
        stage_times.push(StageTime {
            seconds: stage_started.elapsed().as_secs_f64(),
            types_fixed: newly_fixed,
            panels_added: stage_lp.panels_generated - panels_before,
        });
        progress(fixed.iter().filter(|f| f.is_some()).count(), types);
    }
    let (panels_used, mut probabilities): (Vec<Panel>, Vec<f64>) = lottery.into_iter().unzip();
    let sum: f64 = probabilities.iter().sum();
    for p in &mut probabilities {
        *p /= sum;
    }
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
        panels_generated: stage_lp.panels_generated,
        maximin_seconds,
        stage_times,
    })
}

/// The primal LP of a stage, kept across stages so that each starts from the last basis:
///
/// maximise δ subject to
///   Σ_P λ_P·share_t(P) − δ − s_t = ℓ     for each type t not yet fixed (ℓ the last stage's value),
///   Σ_P λ_P·share_t(P)     − s_t = f_t   for each fixed type t (f_t its fixed value),
///   Σ_P λ_P = 1,                          λ, s, δ ≥ 0.
///
/// δ is the stage's gain over the last: its value is ℓ + δ. Rows 0..types are the types and
/// row `types` the lottery's total. Columns 1..=types are the surpluses s_t, the panels are
/// in `panel_columns`, and each stage adds its own δ column; an earlier stage's δ column stays,
/// at cost 0, because changing only costs and right-hand sides keeps the basis inverse valid
/// (and a positive old δ only tightens rows, so no optimum uses one); the first pruning after
/// its own stage's drops it if it is not basic. The last stage's optimum stays feasible: fixed
/// types sat at ℓ, and the others at ℓ or above.
///
/// Its duals are the per-type weights y_t = −π_t and the panel bound ŷ = π_total of the
/// cutting-plane formulation: a panel improves the lottery when Σ_t y_t·share_t(P) > ŷ.
struct StageLp {
    lp: ColumnLp,
    types: usize,
    panels: Vec<Panel>,
    panel_index: HashMap<Panel, usize>,
    panel_columns: Vec<usize>,
    /// Panels ever added, counting one pruned and found again each time.
    panels_generated: usize,
    /// The current stage's δ column.
    gain_column: Option<usize>,
    /// The last stage's value, ℓ.
    level: f64,
    /// The right-hand side b_t of each type's row: ℓ, or the type's fixed value.
    rhs: Vec<f64>,
    /// Members of each type: a seat is worth 1/size of the type's probability.
    sizes: Vec<f64>,
}

impl StageLp {
    fn new(instance: &Instance) -> Self {
        let types = instance.types.len();
        let mut b = vec![0.0; types + 1];
        b[types] = 1.0;
        let mut lp = ColumnLp::new(b);
        for t in 0..types {
            lp.add_column(0.0, &[(t, -1.0)]);
        }
        let sizes = instance.types.iter().map(|t| t.members.len() as f64).collect();
        StageLp {
            lp,
            types,
            panels: Vec::new(),
            panel_index: HashMap::new(),
            panel_columns: Vec::new(),
            panels_generated: 0,
            gain_column: None,
            level: 0.0,
            rhs: vec![0.0; types],
            sizes,
        }
    }

    /// Starts a stage: fixes the types given at their values and adds this stage's δ.
    fn start_stage(&mut self, fixed: &[Option<f64>], level: f64) {
        if self.gain_column.is_some() {
            // At the last stage's optimum, before its costs change: its reduced costs say which
            // panels it had no use for.
            self.prune();
        }
        if let Some(old) = self.gain_column {
            self.lp.set_cost(old, 0.0);
        }
        self.level = level;
        for (t, f) in fixed.iter().enumerate() {
            self.rhs[t] = f.unwrap_or(level).max(0.0);
            self.lp.set_rhs(t, self.rhs[t]);
        }
        let gain: Vec<(usize, f64)> = (0..self.types).filter(|&t| fixed[t].is_none()).map(|t| (t, -1.0)).collect();
        self.gain_column = Some(self.lp.add_column(1.0, &gain));
    }

    /// The value of the current solution: the lowest probability among unfixed types.
    fn value(&self) -> f64 {
        self.level + self.lp.objective()
    }

    /// Adds a panel as a column; false if it was already one.
    fn add_panel(&mut self, panel: Panel) -> bool {
        if self.panel_index.contains_key(&panel) {
            return false;
        }
        let mut entries: Vec<(usize, f64)> = Vec::new();
        for (t, &seats) in panel.iter().enumerate() {
            if seats > 0 {
                entries.push((t, seats as f64 / self.sizes[t]));
            }
        }
        entries.push((self.types, 1.0));
        self.panel_columns.push(self.lp.add_column(0.0, &entries));
        self.panel_index.insert(panel.clone(), self.panels.len());
        self.panels.push(panel);
        self.panels_generated += 1;
        true
    }

    /// Drops the panels that cannot improve the current optimum (nonbasic, with a negative
    /// reduced cost), and the δ columns of stages before the one just solved that are not
    /// basic (the one just solved keeps its own until the next pruning). Called at a stage's
    /// optimum, which stays what it was.
    ///
    /// Why: every pivot prices the row of B⁻¹ against every nonbasic column, and most panels
    /// of a finished stage never return to the basis. On pool_2000 the LP held 2,100 panels by
    /// the fourth stage; pruned at each stage's start, about 1,100, and a pivot cost about a
    /// third less. A dropped panel that becomes useful again is found again by pricing. Pruning
    /// within a stage too (every 200 rounds) was tried: pricing then found the same panels
    /// again, and the stages took as long or longer.
    fn prune(&mut self) {
        let surpluses = self.types;
        let mut is_panel = vec![false; self.lp.columns()];
        for &j in &self.panel_columns {
            is_panel[j] = true;
        }
        let current_gain = self.gain_column;
        let new_index = self.lp.remove_nonbasic(|j, reduced_cost| {
            j < surpluses || (is_panel[j] && reduced_cost >= 0.0) || Some(j) == current_gain
        });
        let mut panels = Vec::with_capacity(self.panels.len());
        let mut panel_columns = Vec::with_capacity(self.panels.len());
        self.panel_index.clear();
        for (panel, &j) in std::mem::take(&mut self.panels).into_iter().zip(&self.panel_columns) {
            if let Some(column) = new_index[j] {
                self.panel_index.insert(panel.clone(), panels.len());
                panels.push(panel);
                panel_columns.push(column);
            }
        }
        self.panels = panels;
        self.panel_columns = panel_columns;
        self.gain_column = self.gain_column.and_then(|j| new_index[j]);
    }

    /// The panels of the current solution with their probabilities.
    fn lottery(&self) -> Vec<(Panel, f64)> {
        self.panels
            .iter()
            .zip(&self.panel_columns)
            .map(|(panel, &j)| (panel.clone(), self.lp.value(j)))
            .filter(|&(_, p)| p > 1e-12)
            .collect()
    }
}

/// One LEXIMIN stage: the best lowest probability among unfixed types, given the fixed ones.
/// Returns the value and the optimal dual weight of each type.
fn solve_stage(
    instance: &Instance,
    stage_lp: &mut StageLp,
    fixed: &[Option<f64>],
    level: f64,
    limits: Limits,
    stage: usize,
) -> Result<(f64, Vec<f64>), SelectionError> {
    let types = instance.types.len();
    stage_lp.start_stage(fixed, level);
    // Dual stabilisation (Wentges smoothing): price at a point between the LP's duals and the
    // best dual found so far (the "centre", with the lowest upper bound on the stage's value).
    // The LP's own duals jump from vertex to vertex on this degenerate problem, and panels
    // priced at the smoothed point lead there in fewer rounds. Any dual point is valid for
    // pricing; only the LP's own duals are trusted to end the stage and to fix types.
    // Not in the maximin stage: there every type is free, the mispriced rounds cost a second
    // pricing MIP each, and it measured slower on pool_2000 (20 s against 14 s).
    let smoothing = fixed.iter().any(Option::is_some);
    let mut centre: Option<(Vec<f64>, f64)> = None;
    for _round in 0..ROUNDS_PER_STAGE_MAX {
        if limits.reached(stage) {
            return Err(limits.time_limit_error());
        }
        stage_lp.lp.solve().map_err(|e| solver_error("stage LP", e))?;
        let duals = stage_lp.lp.duals();
        let weights: Vec<f64> = duals[..types].iter().map(|&pi| (-pi).max(0.0)).collect();
        let panel_bound = duals[types];
        let sizes = stage_lp.sizes.clone();
        let improves = |panel: &Panel| -> bool {
            let load: f64 = panel.iter().zip(&weights).zip(&sizes).map(|((&c, w), size)| c as f64 * w / size).sum();
            load > panel_bound + EPSILON
        };
        if let Some((centre_weights, _)) = centre.as_ref().filter(|_| smoothing) {
            let smoothed: Vec<f64> =
                centre_weights.iter().zip(&weights).map(|(c, w)| SMOOTHING * c + (1.0 - SMOOTHING) * w).collect();
            let panel = price(instance, stage_lp, &smoothed, &mut centre, Stop::Optimum, None, &limits)?;
            if improves(&panel) && stage_lp.add_panel(panel) {
                continue;
            }
        }
        // No centre yet, or the smoothed point mispriced: price at the LP's duals. The search
        // may stop at the first improving panel, or once it proves there is none: under
        // households the MIP is hard (tens of milliseconds to a minute on pool_500, against
        // milliseconds without), and proving the optimum of a panel that improves anyway
        // bought nothing.
        let stop = Stop::Above(panel_bound + EPSILON);
        let panel = price(instance, stage_lp, &weights, &mut centre, stop, None, &limits)?;
        // Optimal when no panel improves the lottery. A panel already in the LP cannot (its
        // reduced cost is not positive at the LP optimum); if rounding says otherwise, the
        // stage is optimal within the solver's tolerance.
        if !improves(&panel) || !stage_lp.add_panel(panel) {
            return Ok((stage_lp.value(), weights));
        }
    }
    Err(SelectionError::Solver { reason: "a stage did not converge within its round limit".into() })
}

/// The best panel under per-type dual weights y. Also updates the centre: y gives the upper
/// bound ℓ + max_P Σ_t y_t·share_t(P) − Σ_t b_t·y_t on the stage's value (the dual objective).
fn price(
    instance: &Instance,
    stage_lp: &StageLp,
    weights: &[f64],
    centre: &mut Option<(Vec<f64>, f64)>,
    stop: Stop,
    hint: Option<&Panel>,
    limits: &Limits,
) -> Result<Panel, SelectionError> {
    let per_seat: Vec<f64> = weights.iter().zip(&stage_lp.sizes).map(|(w, size)| w / size).collect();
    let pricing_started = Instant::now();
    let Priced { panel, bound: value, .. } = solve_pricing(instance, &per_seat, true, stop, hint, Some(limits))?
        .ok_or_else(|| crate::infeasibility(instance))?;
    let nanos = pricing_started.elapsed().as_nanos() as u64;
    PRICING_NANOS.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    EXACT_PRICINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    EXACT_PRICING_MAX_NANOS.fetch_max(nanos, std::sync::atomic::Ordering::Relaxed);
    let bound = stage_lp.level + value - weights.iter().zip(&stage_lp.rhs).map(|(y, b)| y * b).sum::<f64>();
    if centre.as_ref().is_none_or(|(_, best)| bound < *best) {
        *centre = Some((weights.to_vec(), bound));
    }
    Ok(panel)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' copy of shared/data/sortition/pool_150_22.
    fn pool_150() -> Instance {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pool_150_22");
        let features = std::fs::read_to_string(dir.join("features.csv")).expect("features");
        let people = std::fs::read_to_string(dir.join("people.csv")).expect("people");
        let quotas = crate::parse_features_csv(&features).expect("quotas");
        crate::build_instance(&quotas, &people, 22, &[]).expect("instance")
    }

    /// A refinement stopped after its first stage gives that stage's lottery: every type at
    /// least the maximin optimum, read from the stage's own panels, though the next stage's
    /// start has already pruned and renumbered the LP's columns.
    #[test]
    fn a_refinement_stopped_after_a_stage_keeps_that_stage_s_lottery() {
        let instance = pool_150();
        let limits = Limits { started: Instant::now(), time: Duration::from_secs(600), stages: 1 };
        let stopped = leximin_within(&instance, limits, &mut |_, _| {}).expect("the maximin stage");
        assert!(!stopped.leximin_complete && stopped.stages == 1);
        assert!(stopped.panels_generated > stopped.panels.len(), "the second stage's start pruned panels");
        // sortition-algorithms 0.12 (maximin, HiGHS, gap 0) reports 10.17% for this pool.
        let lowest = stopped.type_probabilities.iter().cloned().fold(f64::MAX, f64::min);
        assert!((lowest - 0.1017).abs() < 0.0001, "lowest probability {lowest}");
        assert!((stopped.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(stopped.panels.iter().all(|panel| instance.panel_meets_quotas(panel)));
    }

    /// Once the caller's time is up, no pricing search starts a slice: a hard MIP can no longer
    /// hold a ComputeLottery slot past its limit. Without limits the same search answers.
    #[test]
    fn no_pricing_search_runs_once_the_time_is_up() {
        let instance = pool_150();
        let weights: Vec<f64> = instance.types.iter().map(|t| 1.0 / t.members.len() as f64).collect();
        let spent = Limits { started: Instant::now(), time: Duration::ZERO, stages: usize::MAX };
        std::thread::sleep(Duration::from_millis(1));
        let refused = solve_pricing(&instance, &weights, true, Stop::Optimum, None, Some(&spent));
        assert!(matches!(refused, Err(SelectionError::TimeLimit { seconds: 0 })), "{:?}", refused.err());
        let answered = solve_pricing(&instance, &weights, true, Stop::Optimum, None, None).expect("no limit");
        assert!(answered.is_some_and(|priced| instance.panel_meets_quotas(&priced.panel)));
    }
}
