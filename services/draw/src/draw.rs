//! The published lottery and the draw from a revealed seed (docs/FORMAT.md §9).
//!
//! Probabilities are published as integer weights out of [`WEIGHT_TOTAL`], so the draw and its
//! check use exact integer arithmetic on every machine. The draw:
//!
//! 1. `u = (first 8 bytes of SHA-256("KLERO-DRAW-V1" 0x00 | seed), big-endian) mod WEIGHT_TOTAL`;
//!    the panel drawn is the first whose running total of weights exceeds `u`.
//! 2. Within each type, members are ranked by `SHA-256("KLERO-DRAW-MEMBER-V1" 0x00 | seed | id)`,
//!    ascending (ties by id), and the panel's seats for that type go to the first in rank.
//! 3. A replacement for a withdrawn member is the next member with the same quota values, in
//!    that rank, who has never been seated and shares no household with anyone ever seated.
//! 4. With reserves, an ordered reserve list is drawn with the panel: round after round, each
//!    seat (panel members in rank order) takes the next member of its quota values in rank
//!    order. Reserves fill withdrawals first, in list order, keeping quotas where possible.

use crate::instance::{Instance, Panel};
use klero_ledger::Hash256;

/// The published weights of all panels sum to exactly this.
pub const WEIGHT_TOTAL: u64 = 1_000_000_000;
const DRAW_DOMAIN: &[u8] = b"KLERO-DRAW-V1\0";
const MEMBER_DOMAIN: &[u8] = b"KLERO-DRAW-MEMBER-V1\0";

/// The lottery as published: panels and integer weights.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedLottery {
    pub panels: Vec<Panel>,
    /// One weight per panel, each at least 1, summing to [`WEIGHT_TOTAL`].
    pub weights: Vec<u64>,
}

/// Why a draw, a replacement or a published lottery does not hold. Each variant says what an
/// observer should conclude.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DrawError {
    /// The member named is not in the registered pool.
    #[error("{member_id} is not in the pool")]
    NotInPool { member_id: String },
    /// Everyone with the withdrawn member's quota values has been seated already, or lives with
    /// someone who has: no replacement can be drawn, and the panel stays one seat short.
    #[error(
        "no replacement can be drawn for {withdrawn_member_id}: every volunteer with their values has been seated already, or lives with someone who has"
    )]
    NoReplacementLeft { withdrawn_member_id: String },
    #[error("the lottery has {panels} panels but {weights} weights; it needs one weight per panel")]
    WeightPerPanel { panels: usize, weights: usize },
    #[error("panel {panel} of the lottery breaks the quotas or does not fill the panel exactly")]
    PanelBreaksQuotas { panel: usize },
    #[error("panel {panel} of the lottery seats two volunteers of one household")]
    PanelSeatsHousemates { panel: usize },
    #[error("the weights must be positive and sum to {WEIGHT_TOTAL}")]
    WeightsDoNotSum,
    #[error("type {type_index}: published probability {published} but the lottery gives {exact}")]
    ProbabilityDiffers { type_index: usize, published: f64, exact: f64 },
    #[error("the seed draws a different panel")]
    DifferentPanel,
    #[error("the seed draws a different reserve list")]
    DifferentReserves,
}

impl PublishedLottery {
    /// Each type's selection probability, from exact integer sums over `WEIGHT_TOTAL × n_t`.
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
        running = running.saturating_add(*w);
        if u < running {
            return i;
        }
    }
    lottery.weights.len().saturating_sub(1)
}

/// Members of a type in draw order for this seed.
fn ranked_members<'a>(instance: &'a Instance, t: usize, seed: &[u8]) -> Vec<&'a String> {
    let mut members: Vec<(Hash256, &String)> = instance.types[t].members.iter().map(|m| (rank(seed, m), m)).collect();
    members.sort();
    members.into_iter().map(|(_, m)| m).collect()
}

/// The panel the seed draws, as sorted pseudonymous ids.
pub fn draw(instance: &Instance, lottery: &PublishedLottery, seed: &[u8]) -> Vec<String> {
    let Some(panel) = lottery.panels.get(draw_panel_index(lottery, seed)) else { return Vec::new() };
    let mut ids: Vec<String> = Vec::new();
    for (t, &seats) in panel.iter().enumerate().take(instance.types.len()) {
        ids.extend(ranked_members(instance, t, seed).into_iter().take(seats as usize).cloned());
    }
    ids.sort();
    ids
}

/// The replacement for `withdrawn`: among the members with the same quota values, in draw order,
/// the first who has never been seated and whose household has never had anyone seated. Without
/// households that is the next never-seated member of the withdrawn member's type.
pub fn draw_replacement(
    instance: &Instance,
    seed: &[u8],
    withdrawn: &str,
    ever_seated: &[String],
) -> Result<String, DrawError> {
    let t = instance.type_of(withdrawn).ok_or_else(|| DrawError::NotInPool { member_id: withdrawn.to_string() })?;
    let values = &instance.types[t].values;
    let seated_households: Vec<usize> = ever_seated
        .iter()
        .filter_map(|id| instance.type_of(id))
        .filter_map(|seated| instance.household_of_type(seated))
        .collect();
    let mut candidates: Vec<(Hash256, &String)> = Vec::new();
    for (u, person_type) in instance.types.iter().enumerate() {
        if person_type.values != *values
            || instance.household_of_type(u).is_some_and(|h| seated_households.contains(&h))
        {
            continue;
        }
        candidates.extend(person_type.members.iter().map(|m| (rank(seed, m), m)));
    }
    candidates.sort();
    candidates
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| !ever_seated.contains(m))
        .cloned()
        .ok_or_else(|| DrawError::NoReplacementLeft { withdrawn_member_id: withdrawn.to_string() })
}

/// The ordered reserve list drawn with `panel` (docs/FORMAT.md §9, step 4). Its purpose is to
/// mirror the panel, so that a withdrawal can nearly always be filled by someone with the same
/// quota values: the panel's members are taken in rank order, round after round, and each
/// takes as a reserve the first member in rank order with their quota values who is neither on
/// the panel nor a reserve, and whose household has no one on the panel or among the reserves.
/// A member with no such candidate takes none in that round. The list stops at `count`, or
/// after a round that takes no one.
pub fn draw_reserves(instance: &Instance, seed: &[u8], panel: &[String], count: usize) -> Vec<String> {
    let mut reserves: Vec<String> = Vec::new();
    if count == 0 {
        return reserves;
    }
    let mut taken: std::collections::HashSet<&str> = panel.iter().map(String::as_str).collect();
    let mut taken_households: std::collections::HashSet<usize> =
        panel.iter().filter_map(|id| instance.type_of(id)).filter_map(|t| instance.household_of_type(t)).collect();
    // Every member with given quota values, in rank order, and a cursor past those who can no
    // longer be taken: whoever is taken, or whose household is, stays so.
    let mut by_values: std::collections::BTreeMap<&[usize], RankedGroup<'_>> = std::collections::BTreeMap::new();
    for (t, person_type) in instance.types.iter().enumerate() {
        let household = instance.household_of_type(t);
        let group = &mut by_values.entry(&person_type.values[..]).or_default().members;
        group.extend(person_type.members.iter().map(|m| (rank(seed, m), m, household)));
    }
    for group in by_values.values_mut() {
        group.members.sort();
    }
    let mut seats: Vec<(Hash256, &[usize])> = panel
        .iter()
        .filter_map(|id| Some((rank(seed, id), &instance.types[instance.type_of(id)?].values[..])))
        .collect();
    seats.sort();
    loop {
        let before = reserves.len();
        for (_, values) in &seats {
            let Some(RankedGroup { members: group, cursor }) = by_values.get_mut(values) else { continue };
            while let Some((_, member, household)) = group.get(*cursor) {
                if !taken.contains(member.as_str()) && !household.is_some_and(|h| taken_households.contains(&h)) {
                    break;
                }
                *cursor += 1;
            }
            let Some((_, member, household)) = group.get(*cursor) else { continue };
            taken.insert(member.as_str());
            taken_households.extend(*household);
            reserves.push((*member).clone());
            if reserves.len() == count {
                return reserves;
            }
        }
        if reserves.len() == before {
            return reserves;
        }
    }
}

/// The members of some quota values in rank order (with their household), and how far the
/// reserve draw has gone through them.
#[derive(Default)]
struct RankedGroup<'a> {
    members: Vec<(Hash256, &'a String, Option<usize>)>,
    cursor: usize,
}

/// Who sits now, who ever sat, and the reserve list drawn with the panel: what a replacement
/// is drawn from.
#[derive(Clone, Copy, Debug)]
pub struct Seating<'a> {
    /// Members seated now (the withdrawn member is not among them).
    pub seated: &'a [String],
    /// Everyone ever seated, including the withdrawn member.
    pub ever_seated: &'a [String],
    /// The reserve list, in order; empty when the plan draws none.
    pub reserves: &'a [String],
}

/// The replacement for `withdrawn` (docs/FORMAT.md §9, steps 3 and 4). While a reserve has never
/// been seated, the replacement is a reserve, in list order: the first with the withdrawn
/// member's quota values; else the first whose seat keeps every quota; else the first. Once
/// every reserve has been seated, it is [`draw_replacement`]'s member of the pool.
pub fn replacement(
    instance: &Instance,
    seed: &[u8],
    withdrawn: &str,
    seating: Seating<'_>,
) -> Result<String, DrawError> {
    let t = instance.type_of(withdrawn).ok_or_else(|| DrawError::NotInPool { member_id: withdrawn.to_string() })?;
    let seated_households: Vec<usize> = seating
        .ever_seated
        .iter()
        .filter_map(|id| instance.type_of(id))
        .filter_map(|seated| instance.household_of_type(seated))
        .collect();
    let waiting: Vec<(&String, usize)> = seating
        .reserves
        .iter()
        .filter(|r| !seating.ever_seated.contains(r))
        .filter_map(|r| Some((r, instance.type_of(r)?)))
        .filter(|(_, u)| !instance.household_of_type(*u).is_some_and(|h| seated_households.contains(&h)))
        .collect();
    let Some(first) = waiting.first() else {
        return draw_replacement(instance, seed, withdrawn, seating.ever_seated);
    };
    let values = &instance.types[t].values;
    if let Some((same, _)) = waiting.iter().find(|(_, u)| instance.types[*u].values == *values) {
        return Ok((*same).clone());
    }
    let seats_per_value = |f: usize, v: usize| {
        seating
            .seated
            .iter()
            .filter_map(|id| instance.type_of(id))
            .filter(|&s| instance.types[s].values[f] == v)
            .count()
    };
    let keeps_quotas = |u: usize| {
        let incoming = &instance.types[u].values;
        (0..instance.features.len()).filter(|&f| incoming[f] != values[f]).all(|f| {
            let (_, incoming_max) = instance.bounds[f][incoming[f]];
            let (outgoing_min, _) = instance.bounds[f][values[f]];
            seats_per_value(f, incoming[f]) < incoming_max as usize
                && seats_per_value(f, values[f]) >= outgoing_min as usize
        })
    };
    let chosen = waiting.iter().find(|(_, u)| keeps_quotas(*u)).unwrap_or(first);
    Ok(chosen.0.clone())
}

/// Everything an observer checks: every panel meets the quotas and seats at most one volunteer
/// of each household, the weights sum to the total,
/// the published per-type probabilities match the lottery, and the seed draws this panel.
pub fn verify_draw(
    instance: &Instance,
    lottery: &PublishedLottery,
    published_probabilities: &[f64],
    seed: &[u8],
    panel: &[String],
) -> Result<(), DrawError> {
    if lottery.panels.len() != lottery.weights.len() {
        return Err(DrawError::WeightPerPanel { panels: lottery.panels.len(), weights: lottery.weights.len() });
    }
    if let Some(bad) = lottery.panels.iter().position(|p| !instance.panel_meets_quotas(p)) {
        return Err(DrawError::PanelBreaksQuotas { panel: bad });
    }
    if let Some(bad) = lottery.panels.iter().position(|p| !instance.panel_keeps_households_apart(p)) {
        return Err(DrawError::PanelSeatsHousemates { panel: bad });
    }
    let total: u128 = lottery.weights.iter().map(|&w| w as u128).sum();
    if total != WEIGHT_TOTAL as u128 || lottery.weights.contains(&0) {
        return Err(DrawError::WeightsDoNotSum);
    }
    for (t, published) in published_probabilities.iter().enumerate() {
        let exact = lottery.type_probability(instance, t);
        if (exact - published).abs() > 1e-9 {
            return Err(DrawError::ProbabilityDiffers { type_index: t, published: *published, exact });
        }
    }
    let drawn = draw(instance, lottery, seed);
    let mut claimed = panel.to_vec();
    claimed.sort();
    if drawn != claimed {
        return Err(DrawError::DifferentPanel);
    }
    Ok(())
}
