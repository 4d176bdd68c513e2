//! Nash welfare: the lottery that maximises the product of every volunteer's chance of
//! selection (equivalently, the sum of their logarithms), the objective sortition-algorithms
//! offers as `nash`, and a measure of how unequal a lottery's chances are (the Gini coefficient).
//!
//! The objective is concave in each type's expected seats, so a fully corrective Frank–Wolfe
//! method finds it: the panel that most improves the objective's linearisation is the pricing
//! MIP that LEXIMIN uses (weights nₜ/sₜ, members over expected seats), and the weights of the
//! panels found so far are re-optimised by pairwise Frank–Wolfe steps with an exact line
//! search, which never decrease the objective. The Frank–Wolfe gap bounds how far the
//! result is from the optimum, and the computation stops once it is within [`NASH_TOLERANCE`].

use crate::leximin::{best_panel, Distribution};
use crate::{Instance, Panel, SelectionError};
use std::time::{Duration, Instant};

/// The Nash lottery stops when no panel could raise the sum of log-probabilities by more than
/// this fraction of the number of volunteers (the Frank–Wolfe gap over N).
pub const NASH_TOLERANCE: f64 = 1e-6;

/// What a lottery optimises. LEXIMIN is the default, as in the Sortition Foundation's practice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// Raise the lowest chance, then the next lowest, and so on (Flanigan et al. 2021).
    #[default]
    Leximin,
    /// Raise the product of all chances (the sum of their logarithms).
    Nash,
}

impl Objective {
    /// The name a plan's `algorithm` and `distribution.json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Leximin => "leximin",
            Objective::Nash => "nash",
        }
    }
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(name: &str) -> Result<Objective, String> {
        match name {
            "leximin" => Ok(Objective::Leximin),
            "nash" => Ok(Objective::Nash),
            other => Err(format!("{other:?} is not an objective: leximin or nash")),
        }
    }
}

/// The Nash welfare lottery, with how close to the optimum it is.
#[derive(Clone, Debug)]
pub struct NashLottery {
    pub distribution: Distribution,
    /// The Frank–Wolfe gap over the number of volunteers: the optimum's mean log-probability
    /// exceeds this lottery's by at most this much.
    pub gap: f64,
    /// Whether the gap reached [`NASH_TOLERANCE`] before the time limit.
    pub converged: bool,
}

/// Σ over volunteers of ln(probability), from each type's expected seats: the objective.
fn welfare(instance: &Instance, seats: &[f64]) -> f64 {
    instance
        .types
        .iter()
        .zip(seats)
        .filter(|(_, s)| **s > 0.0)
        .map(|(t, s)| t.members.len() as f64 * (s / t.members.len() as f64).ln())
        .sum()
}

fn expected_seats(panels: &[Panel], weights: &[f64], types: usize) -> Vec<f64> {
    let mut seats = vec![0.0; types];
    for (panel, w) in panels.iter().zip(weights) {
        for (s, c) in seats.iter_mut().zip(panel) {
            *s += w * *c as f64;
        }
    }
    seats
}

/// The weights of `panels` that maximise the objective among lotteries over them, by pairwise
/// Frank–Wolfe: move weight from the panel of lowest gradient value that has some to the one of
/// highest, as far as the objective rises (an exact line search). It converges linearly on a
/// simplex, where plain multiplicative updates crawl once weights are small.
fn optimise_weights(
    instance: &Instance,
    covered: &[bool],
    panels: &[Panel],
    weights: &mut [f64],
    tolerance: f64,
    started: Instant,
    time_limit: Duration,
) {
    let types = instance.types.len();
    let n: Vec<f64> =
        (0..types).map(|t| if covered[t] { instance.types[t].members.len() as f64 } else { 0.0 }).collect();
    let mut seats = expected_seats(panels, weights, types);
    let gradient_of = |t: usize, seats: &[f64]| if n[t] > 0.0 { n[t] / seats[t] } else { 0.0 };
    let mut gradient: Vec<f64> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    for round in 0..MASTER_ROUNDS_MAX {
        // Each step changes the gradient only on the types where the two panels differ, and
        // the panels' values are kept up to date there; a full recomputation now and then keeps
        // rounding from adding up.
        if round % 512 == 0 {
            gradient = (0..types).map(|t| gradient_of(t, &seats)).collect();
            values = panels.iter().map(|p| p.iter().zip(&gradient).map(|(c, g)| *c as f64 * g).sum()).collect();
        }
        let best = (0..panels.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap_or(0);
        let worst = (0..panels.len())
            .filter(|&i| weights[i] > 0.0)
            .min_by(|&a, &b| values[a].total_cmp(&values[b]))
            .unwrap_or(best);
        if values[best] - values[worst] <= tolerance || best == worst {
            return;
        }
        if round % 64 == 0 && started.elapsed() >= time_limit {
            return;
        }
        // Move γ ∈ [0, weights[worst]] from `worst` to `best`: the slope Σ nₜ dₜ / (sₜ + γ dₜ)
        // falls as γ grows, so bisect for where it reaches zero.
        let direction: Vec<(usize, f64)> = (0..types)
            .filter(|&t| panels[best][t] != panels[worst][t])
            .map(|t| (t, panels[best][t] as f64 - panels[worst][t] as f64))
            .collect();
        let slope = |gamma: f64| -> f64 {
            direction.iter().filter(|(t, _)| n[*t] > 0.0).map(|&(t, d)| n[t] * d / (seats[t] + gamma * d)).sum()
        };
        let (mut low, mut high) = (0.0, weights[worst]);
        let gamma = if slope(high) >= 0.0 {
            high
        } else {
            for _ in 0..60 {
                let middle = 0.5 * (low + high);
                if slope(middle) > 0.0 {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            low
        };
        weights[worst] -= gamma;
        weights[best] += gamma;
        for &(t, d) in &direction {
            seats[t] += gamma * d;
            let moved = gradient_of(t, &seats) - gradient[t];
            gradient[t] += moved;
            if moved != 0.0 {
                for (value, panel) in values.iter_mut().zip(panels) {
                    *value += panel[t] as f64 * moved;
                }
            }
        }
    }
}

/// Pairwise steps between two pricings, at most.
const MASTER_ROUNDS_MAX: usize = 200_000;

/// Computes the Nash welfare lottery within `time_limit`. Types that no panel can seat keep a
/// chance of zero and are left out of the product (as maximin would show, at 0).
pub fn nash(instance: &Instance, time_limit: Duration) -> Result<NashLottery, SelectionError> {
    let started = Instant::now();
    let types = instance.types.len();
    // Start from panels that seat every type that can be seated: price the types not yet seated.
    let mut panels: Vec<Panel> = Vec::new();
    let mut covered = vec![false; types];
    loop {
        let weights: Vec<f64> =
            (0..types).map(|t| if covered[t] { 1e-6 } else { 1.0 / instance.types[t].members.len() as f64 }).collect();
        let Some((panel, _)) = best_panel(instance, &weights)? else {
            return Err(crate::infeasibility(instance));
        };
        let newly: Vec<usize> = (0..types).filter(|&t| !covered[t] && panel[t] > 0).collect();
        if !panels.contains(&panel) {
            panels.push(panel);
        }
        if newly.is_empty() {
            break;
        }
        for t in newly {
            covered[t] = true;
        }
    }
    let people: f64 = (0..types).filter(|&t| covered[t]).map(|t| instance.types[t].members.len() as f64).sum();
    let mut weights = vec![1.0 / panels.len() as f64; panels.len()];
    let mut rounds = 0;
    let (mut master_nanos, mut pricing_nanos) = (0u128, 0u128);
    let mut last_gap = 1.0;
    let gap = loop {
        rounds += 1;
        // Re-optimise the weights of the panels found so far.
        let master_started = Instant::now();
        // Only as precisely as the lottery is near the optimum: a quarter of the last gap.
        let tolerance = (last_gap * people / 4.0).max(NASH_TOLERANCE * people / 10.0);
        optimise_weights(instance, &covered, &panels, &mut weights, tolerance, started, time_limit);
        master_nanos += master_started.elapsed().as_nanos();
        // The Frank–Wolfe gap: the best panel for the linearisation, against the lottery.
        let seats = expected_seats(&panels, &weights, types);
        let gradient: Vec<f64> = (0..types)
            .map(|t| if covered[t] && seats[t] > 0.0 { instance.types[t].members.len() as f64 / seats[t] } else { 0.0 })
            .collect();
        let pricing_started = Instant::now();
        let Some((best, value)) = best_panel(instance, &gradient)? else {
            return Err(crate::infeasibility(instance));
        };
        pricing_nanos += pricing_started.elapsed().as_nanos();
        // Σₜ gₜ sₜ = N for the lottery itself.
        let gap = (value - people).max(0.0) / people;
        if std::env::var_os("KLERO_SELECT_TRACE").is_some() {
            eprintln!(
                "nash round {rounds}: gap {gap:.3e}, {} panels, master {} ms, pricing {} ms",
                panels.len(),
                master_nanos / 1_000_000,
                pricing_nanos / 1_000_000
            );
        }
        if gap <= NASH_TOLERANCE || started.elapsed() >= time_limit {
            break gap;
        }
        last_gap = gap;
        if panels.contains(&best) {
            continue; // the weights have not settled yet: more rounds of updates
        }
        // A new panel enters with a small weight; the next round re-optimises all of them.
        let entering = 1.0 / (rounds as f64 + 2.0);
        weights.iter_mut().for_each(|w| *w *= 1.0 - entering);
        weights.push(entering);
        panels.push(best);
    };
    // Drop panels whose weight vanished, then renormalise.
    let kept: Vec<(Panel, f64)> = panels.into_iter().zip(weights).filter(|(_, w)| *w > 1e-12).collect();
    let total: f64 = kept.iter().map(|(_, w)| w).sum();
    let (panels, probabilities): (Vec<Panel>, Vec<f64>) = kept.into_iter().map(|(p, w)| (p, w / total)).unzip();
    let seats = expected_seats(&panels, &probabilities, types);
    let type_probabilities: Vec<f64> =
        seats.iter().zip(&instance.types).map(|(s, t)| s / t.members.len() as f64).collect();
    let panels_generated = panels.len();
    Ok(NashLottery {
        distribution: Distribution {
            panels,
            probabilities,
            type_probabilities,
            stages: 0,
            leximin_complete: false,
            panels_generated,
            maximin_seconds: 0.0,
            stage_times: Vec::new(),
        },
        gap,
        converged: gap <= NASH_TOLERANCE,
    })
}

/// The Nash welfare of a lottery: the mean over volunteers of ln(probability), or −∞ when
/// someone who could be seated has no chance. Higher is better.
pub fn mean_log_probability(instance: &Instance, type_probabilities: &[f64]) -> f64 {
    let seats: Vec<f64> =
        type_probabilities.iter().zip(&instance.types).map(|(p, t)| p * t.members.len() as f64).collect();
    if seats.iter().any(|s| *s <= 0.0) {
        return f64::NEG_INFINITY;
    }
    welfare(instance, &seats) / instance.people() as f64
}

/// The Gini coefficient of the volunteers' chances of selection: 0 when all are equal, towards
/// 1 as they concentrate. Over people, not types: each volunteer counts once.
pub fn gini(instance: &Instance, type_probabilities: &[f64]) -> f64 {
    let mut chances: Vec<f64> = instance
        .types
        .iter()
        .zip(type_probabilities)
        .flat_map(|(t, p)| std::iter::repeat_n(*p, t.members.len()))
        .collect();
    chances.sort_by(f64::total_cmp);
    let n = chances.len() as f64;
    let total: f64 = chances.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let weighted: f64 = chances.iter().enumerate().map(|(i, p)| (i as f64 + 1.0) * p).sum();
    2.0 * weighted / (n * total) - (n + 1.0) / n
}
