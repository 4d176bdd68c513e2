//! The published lottery and the draw from a revealed seed (docs/FORMAT.md §10).
//!
//! Probabilities are published as integer weights out of [`WEIGHT_TOTAL`], so the draw and its
//! check use exact integer arithmetic on every machine. The draw:
//!
//! 1. `u = (first 8 bytes of SHA-256("KLERO-DRAW-V1" 0x00 | seed), big-endian) mod WEIGHT_TOTAL`;
//!    the panel drawn is the first whose running total of weights exceeds `u`.
//! 2. Within each type, members are ranked by `SHA-256("KLERO-DRAW-MEMBER-V1" 0x00 | seed | id)`,
//!    ascending (ties by id), and the panel's seats for that type go to the first in rank.
//! 3. A replacement for a withdrawn member is the next member of the same type, in that rank,
//!    who has never been seated.

use crate::leximin::{Distribution, Panel};
use crate::pool::Instance;
use crate::SelectionError;
use klero_ledger::Hash256;

/// The published weights of all panels sum to exactly this.
pub const WEIGHT_TOTAL: u64 = 1_000_000_000;
const DRAW_DOMAIN: &[u8] = b"KLERO-DRAW-V1\0";
const MEMBER_DOMAIN: &[u8] = b"KLERO-DRAW-MEMBER-V1\0";

/// The lottery as published: panels and integer weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedLottery {
    pub panels: Vec<Panel>,
    /// One weight per panel, each at least 1, summing to [`WEIGHT_TOTAL`].
    pub weights: Vec<u64>,
}

impl PublishedLottery {
    /// Rounds a distribution to integer weights by largest remainder; panels that round to
    /// zero are dropped. Each probability moves by less than one part in 10^9 per panel.
    pub fn from_distribution(distribution: &Distribution) -> PublishedLottery {
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

    /// Each type's selection probability, as an exact fraction over `WEIGHT_TOTAL × n_t`.
    pub fn type_probability(&self, instance: &Instance, t: usize) -> f64 {
        let seats: u128 = self.panels.iter().zip(&self.weights).map(|(p, w)| p[t] as u128 * *w as u128).sum();
        seats as f64 / (WEIGHT_TOTAL as f64 * instance.types[t].members.len() as f64)
    }
}

fn rank(seed: &[u8], id: &str) -> Hash256 {
    Hash256::of_parts(&[MEMBER_DOMAIN, seed, id.as_bytes()])
}

/// The index of the panel the seed draws.
pub fn draw_panel_index(lottery: &PublishedLottery, seed: &[u8]) -> usize {
    let digest = Hash256::of_parts(&[DRAW_DOMAIN, seed]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.0[..8]);
    let u = u64::from_be_bytes(first) % WEIGHT_TOTAL;
    let mut running = 0u64;
    for (i, w) in lottery.weights.iter().enumerate() {
        running += w;
        if u < running {
            return i;
        }
    }
    lottery.weights.len() - 1
}

/// Members of a type in draw order for this seed.
fn ranked_members<'a>(instance: &'a Instance, t: usize, seed: &[u8]) -> Vec<&'a String> {
    let mut members: Vec<&String> = instance.types[t].members.iter().collect();
    members.sort_by(|a, b| rank(seed, a).cmp(&rank(seed, b)).then(a.cmp(b)));
    members
}

/// The panel the seed draws, as sorted pseudonymous ids.
pub fn draw(instance: &Instance, lottery: &PublishedLottery, seed: &[u8]) -> Vec<String> {
    let panel = &lottery.panels[draw_panel_index(lottery, seed)];
    let mut ids: Vec<String> = Vec::new();
    for (t, &seats) in panel.iter().enumerate() {
        ids.extend(ranked_members(instance, t, seed).into_iter().take(seats as usize).cloned());
    }
    ids.sort();
    ids
}

/// The replacement for `withdrawn`: the next never-seated member of the same type, in draw order.
pub fn draw_replacement(
    instance: &Instance,
    seed: &[u8],
    withdrawn: &str,
    ever_seated: &[String],
) -> Result<String, SelectionError> {
    let t = instance.types.iter().position(|t| t.members.iter().any(|m| m == withdrawn)).ok_or_else(|| {
        SelectionError::Input { file: "arguments", line: 0, reason: format!("{withdrawn} is not in the pool") }
    })?;
    ranked_members(instance, t, seed).into_iter().find(|m| !ever_seated.contains(m)).cloned().ok_or_else(|| {
        SelectionError::Input {
            file: "arguments",
            line: 0,
            reason: format!("no one of {withdrawn}'s type is left to replace them"),
        }
    })
}

/// Everything an observer checks: every panel meets the quotas, the weights sum to the total,
/// the published per-type probabilities match the lottery, and the seed draws this panel.
pub fn verify_draw(
    instance: &Instance,
    lottery: &PublishedLottery,
    published_probabilities: &[f64],
    seed: &[u8],
    panel: &[String],
) -> Result<(), String> {
    if lottery.panels.len() != lottery.weights.len() {
        return Err("one weight per panel".into());
    }
    if let Some(bad) =
        lottery.panels.iter().position(|p| p.len() != instance.types.len() || !instance.panel_meets_quotas(p))
    {
        return Err(format!("panel {bad} of the lottery breaks the quotas"));
    }
    if lottery.weights.iter().sum::<u64>() != WEIGHT_TOTAL || lottery.weights.contains(&0) {
        return Err(format!("the weights must be positive and sum to {WEIGHT_TOTAL}"));
    }
    for (t, published) in published_probabilities.iter().enumerate() {
        let exact = lottery.type_probability(instance, t);
        if (exact - published).abs() > 1e-9 {
            return Err(format!("type {t}: published probability {published} but the lottery gives {exact}"));
        }
    }
    let drawn = draw(instance, lottery, seed);
    let mut claimed = panel.to_vec();
    claimed.sort();
    if drawn != claimed {
        return Err("the seed draws a different panel".into());
    }
    Ok(())
}
