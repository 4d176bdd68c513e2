//! The selection stage: the plan, the pool, the published lottery, the draw, withdrawals and
//! replacements (docs/RULES.md, `self.*`). Its rules read and change only
//! [`SelectionState`], and the assembly's size.

use super::*;

impl SelectionState {
    pub(super) fn decide(
        &self,
        event: SelectionEvent<'_>,
        convened: &AssemblyConvened,
    ) -> Result<Acceptance, Rejection> {
        match event {
            SelectionEvent::LettersPlanned(letters) => {
                if self.letters.is_some() {
                    return Err(broken(RuleCode::SelectionLettersPlannedOnce, "the letter lottery is already planned"));
                }
                self.require_no_pool()?;
                klero_draw::letters::check_plan(letters.address_count, letters.letter_count, &letters.areas)
                    .map_err(|e| broken(RuleCode::SelectionLettersAddUp, e.to_string()))?;
                Ok(Acceptance::default())
            }
            SelectionEvent::LettersDrawn(drawn) => {
                let Some(letters) = &self.letters else {
                    return Err(broken(RuleCode::SelectionLettersDrawnAfterPlan, "plan the letter lottery first"));
                };
                if self.letters_drawn {
                    return Err(broken(RuleCode::SelectionLettersDrawnAfterPlan, "the letters are already drawn"));
                }
                self.require_no_pool()?;
                if Hash256::of(&drawn.seed) != letters.seed_commitment {
                    return Err(broken(
                        RuleCode::SelectionLettersSeedMatchesCommitment,
                        "SHA-256 of the revealed seed is not the letter plan's seed commitment",
                    ));
                }
                Ok(Acceptance::default())
            }
            SelectionEvent::SelectionPlanned(plan) => {
                if self.plan.is_some() {
                    return Err(broken(RuleCode::SelectionPlannedOnce, "the selection is already planned"));
                }
                if plan.panel_size != convened.panel_size {
                    return Err(broken(
                        RuleCode::SelectionPanelSizeMatches,
                        format!("the plan fills {} seats; the assembly has {}", plan.panel_size, convened.panel_size),
                    ));
                }
                let mut by_feature: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
                for quota in &plan.quotas {
                    let entry = by_feature.entry(&quota.feature).or_default();
                    entry.0 += quota.min as u64;
                    entry.1 += quota.max as u64;
                }
                for (feature, (min_sum, max_sum)) in by_feature {
                    if min_sum > plan.panel_size as u64 || max_sum < plan.panel_size as u64 {
                        return Err(broken(
                            RuleCode::SelectionQuotasCanFillPanel,
                            format!("feature {feature}: minimums sum to {min_sum} and maximums to {max_sum}, which cannot fill {} seats", plan.panel_size),
                        ));
                    }
                }
                Ok(Acceptance::default())
            }
            SelectionEvent::PoolRegistered(pool) => {
                let plan = self
                    .plan
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionPoolAfterPlan, "plan the selection first"))?;
                if self.pool.is_some() {
                    return Err(broken(RuleCode::SelectionPoolRegisteredOnce, "the pool is already registered"));
                }
                if pool.payload_hash != plan.pool_commitment {
                    return Err(broken(
                        RuleCode::SelectionPoolMatchesCommitment,
                        format!(
                            "the pool's payload hashes to {}, the plan committed to {}",
                            pool.payload_hash, plan.pool_commitment
                        ),
                    ));
                }
                if !self.letters_drawn {
                    if let Some(member) = pool.members.iter().find(|m| m.letter.is_some()) {
                        return Err(broken(
                            RuleCode::SelectionPoolLettersNeedDraw,
                            format!("member {} names a letter, but no letter lottery has been drawn", member.id),
                        ));
                    }
                }
                let features: BTreeSet<&str> = plan.quotas.iter().map(|q| q.feature.as_str()).collect();
                for member in &pool.members {
                    let has: BTreeSet<&str> = member.features.iter().map(|(f, _)| f.as_str()).collect();
                    if let Some(missing) = features.iter().find(|f| !has.contains(*f)) {
                        return Err(broken(
                            RuleCode::SelectionPoolHasQuotaFeatures,
                            format!("member {} has no value for feature {missing}", member.id),
                        ));
                    }
                }
                if (pool.members.len() as u64) < plan.panel_size as u64 {
                    return Err(broken(
                        RuleCode::SelectionPoolLargeEnough,
                        format!("{} volunteers cannot fill {} seats", pool.members.len(), plan.panel_size),
                    ));
                }
                selection_instance(plan, pool)
                    .map_err(|e| broken(RuleCode::SelectionPoolValuesHaveQuotas, e.to_string()))?;
                Ok(Acceptance::default())
            }
            SelectionEvent::QuotasRelaxed(relaxed) => {
                let Some(plan) = &self.plan else {
                    return Err(broken(RuleCode::SelectionRelaxationBeforeLottery, "plan the selection first"));
                };
                if self.pool.is_none() || self.relaxation.is_some() || self.lottery.is_some() || self.panel_drawn {
                    return Err(broken(
                        RuleCode::SelectionRelaxationBeforeLottery,
                        "quotas are relaxed once, after the pool and before the lottery and the draw",
                    ));
                }
                let mut named = BTreeSet::new();
                for quota in &relaxed.quotas {
                    let Some(planned) =
                        plan.quotas.iter().find(|q| q.feature == quota.feature && q.value == quota.value)
                    else {
                        return Err(broken(
                            RuleCode::SelectionRelaxationOnlyRelaxes,
                            format!("{} = {} is not a planned quota", quota.feature, quota.value),
                        ));
                    };
                    let loosens = quota.min <= planned.min && quota.max >= planned.max;
                    let changes = quota.min != planned.min || quota.max != planned.max;
                    if !named.insert((&quota.feature, &quota.value)) || !loosens || !changes {
                        return Err(broken(
                            RuleCode::SelectionRelaxationOnlyRelaxes,
                            format!(
                                "{} = {}: {}..={} does not loosen the planned {}..={} once",
                                quota.feature, quota.value, quota.min, quota.max, planned.min, planned.max
                            ),
                        ));
                    }
                }
                Ok(Acceptance::default())
            }
            SelectionEvent::LotteryPublished(lottery) => {
                let instance = self
                    .instance
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionLotteryAfterPool, "register the pool first"))?;
                if self.lottery.is_some() {
                    return Err(broken(RuleCode::SelectionLotteryPublishedOnce, "the lottery is already published"));
                }
                if self.panel_drawn {
                    return Err(broken(RuleCode::SelectionLotteryBeforeDraw, "the panel is already drawn"));
                }
                let total: u128 = lottery.panels.iter().map(|(w, _)| *w as u128).sum();
                if total != klero_draw::WEIGHT_TOTAL as u128 {
                    return Err(broken(
                        RuleCode::SelectionLotteryMeetsQuotas,
                        format!("the weights sum to {total}, not {}", klero_draw::WEIGHT_TOTAL),
                    ));
                }
                if let Some(bad) = lottery
                    .panels
                    .iter()
                    .position(|(_, seats)| seats.len() != instance.types.len() || !instance.panel_meets_quotas(seats))
                {
                    return Err(broken(
                        RuleCode::SelectionLotteryMeetsQuotas,
                        format!(
                            "panel {bad} of the lottery does not give seats to the pool's {} types within the quotas",
                            instance.types.len()
                        ),
                    ));
                }
                if let Some(bad) =
                    lottery.panels.iter().position(|(_, seats)| !instance.panel_keeps_households_apart(seats))
                {
                    return Err(broken(
                        RuleCode::SelectionLotteryKeepsHouseholdsApart,
                        format!("panel {bad} of the lottery seats two volunteers of one household"),
                    ));
                }
                Ok(Acceptance::default())
            }
            SelectionEvent::PanelDrawn(drawn) => {
                let plan = self
                    .plan
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionDrawAfterPool, "plan the selection first"))?;
                let pool = self
                    .pool
                    .as_ref()
                    .ok_or_else(|| broken(RuleCode::SelectionDrawAfterPool, "register the pool first"))?;
                if self.panel_drawn {
                    return Err(broken(RuleCode::SelectionDrawnOnce, "the panel is already drawn"));
                }
                if Hash256::of(&drawn.seed) != plan.seed_commitment {
                    return Err(broken(
                        RuleCode::SelectionSeedMatchesCommitment,
                        "SHA-256 of the revealed seed is not the plan's seed commitment",
                    ));
                }
                let distinct: BTreeSet<&str> = drawn.member_ids.iter().map(String::as_str).collect();
                if distinct.len() != drawn.member_ids.len() || drawn.member_ids.len() as u32 != plan.panel_size {
                    return Err(broken(
                        RuleCode::SelectionPanelSize,
                        format!("the panel must be {} distinct members", plan.panel_size),
                    ));
                }
                if let Some(stranger) = drawn.member_ids.iter().find(|id| !pool.contains_key(*id)) {
                    return Err(broken(RuleCode::SelectionPanelFromPool, format!("{stranger} is not in the pool")));
                }
                check_quotas(&self.quotas_in_force(), drawn.member_ids.iter().map(|id| &pool[id]))?;
                self.check_households_apart(drawn.member_ids.iter())?;
                if uses_lottery(plan) {
                    let (Some(instance), Some(lottery)) = (&self.instance, &self.lottery) else {
                        return Err(broken(
                            RuleCode::SelectionDrawNeedsLottery,
                            "a leximin selection publishes its lottery before the draw",
                        ));
                    };
                    let expected = klero_draw::draw(instance, lottery, &drawn.seed);
                    let mut claimed = drawn.member_ids.clone();
                    claimed.sort();
                    if claimed != expected {
                        return Err(broken(
                            RuleCode::SelectionPanelIsTheDraw,
                            "the seed, applied to the published lottery, draws a different panel",
                        ));
                    }
                }
                let expected_reserves = match &self.instance {
                    Some(instance) => {
                        klero_draw::draw_reserves(instance, &drawn.seed, &drawn.member_ids, plan.reserve_count as usize)
                    }
                    None => Vec::new(),
                };
                if drawn.reserve_member_ids != expected_reserves {
                    return Err(broken(
                        RuleCode::SelectionReservesAreTheDraw,
                        format!(
                            "the plan draws {} reserves, and the seed draws {} of them in another order or from other members",
                            plan.reserve_count,
                            expected_reserves.len()
                        ),
                    ));
                }
                Ok(Acceptance::default())
            }
            SelectionEvent::MemberWithdrew(withdrew) => {
                self.require_panel(RuleCode::SelectionWithdrawSeated)?;
                if !self.seated.contains(&withdrew.member_id) {
                    return Err(broken(
                        RuleCode::SelectionWithdrawSeated,
                        format!("{} is not a seated member", withdrew.member_id),
                    ));
                }
                Ok(Acceptance::default())
            }
            SelectionEvent::ReplacementDrawn(replacement) => {
                if !self.awaiting_replacement.contains(&replacement.withdrawn_member_id) {
                    return Err(broken(
                        RuleCode::SelectionReplaceWithdrawn,
                        format!("{} did not withdraw, or was already replaced", replacement.withdrawn_member_id),
                    ));
                }
                let pool = self.pool.as_ref().ok_or_else(|| broken(RuleCode::SelectionReplaceWithdrawn, "no pool"))?;
                if !pool.contains_key(&replacement.replacement_member_id) {
                    return Err(broken(
                        RuleCode::SelectionPanelFromPool,
                        format!("{} is not in the pool", replacement.replacement_member_id),
                    ));
                }
                if self.ever_seated.contains(&replacement.replacement_member_id) {
                    return Err(broken(
                        RuleCode::SelectionReplacementIsNew,
                        format!("{} has already been seated", replacement.replacement_member_id),
                    ));
                }
                self.check_households_apart(self.seated.iter().chain([&replacement.replacement_member_id]))?;
                let drawn_by_rule = self.lottery.is_some() || !self.reserves.is_empty();
                if let (Some(instance), Some(seed), true) = (&self.instance, &self.seed, drawn_by_rule) {
                    let ever_seated: Vec<String> = self.ever_seated.iter().cloned().collect();
                    let seated: Vec<String> = self.seated.iter().cloned().collect();
                    let seating =
                        klero_draw::Seating { seated: &seated, ever_seated: &ever_seated, reserves: &self.reserves };
                    let expected = klero_draw::replacement(instance, seed, &replacement.withdrawn_member_id, seating)
                        .map_err(|e| broken(RuleCode::SelectionReplacementIsTheDraw, e.to_string()))?;
                    if expected != replacement.replacement_member_id {
                        return Err(broken(
                            RuleCode::SelectionReplacementIsTheDraw,
                            format!("the seed draws {expected} to replace {}", replacement.withdrawn_member_id),
                        ));
                    }
                }
                Ok(Acceptance::default())
            }
        }
    }

    pub(super) fn evolve(&mut self, event: SelectionEvent<'_>) {
        match event {
            SelectionEvent::LettersPlanned(letters) => self.letters = Some(letters.clone()),
            SelectionEvent::LettersDrawn(_) => self.letters_drawn = true,
            SelectionEvent::SelectionPlanned(plan) => self.plan = Some(plan.clone()),
            SelectionEvent::PoolRegistered(pool) => {
                self.pool =
                    Some(pool.members.iter().map(|m| (m.id.clone(), m.features.iter().cloned().collect())).collect());
                self.households = pool.members.iter().filter_map(|m| Some((m.id.clone(), m.household?))).collect();
                self.instance = self.plan.as_ref().and_then(|plan| selection_instance(plan, pool).ok());
            }
            SelectionEvent::QuotasRelaxed(relaxed) => {
                self.relaxation = Some(relaxed.clone());
                let quotas = self.quotas_in_force();
                if let Some(instance) = &mut self.instance {
                    instance.set_bounds(&quotas);
                }
            }
            SelectionEvent::LotteryPublished(lottery) => {
                let (weights, panels) = lottery.panels.iter().cloned().unzip();
                self.lottery = Some(klero_draw::PublishedLottery { panels, weights });
            }
            SelectionEvent::PanelDrawn(drawn) => {
                self.panel_drawn = true;
                self.seed = Some(drawn.seed.clone());
                self.seated = drawn.member_ids.iter().cloned().collect();
                self.reserves = drawn.reserve_member_ids.clone();
                self.ever_seated = self.seated.clone();
            }
            SelectionEvent::MemberWithdrew(withdrew) => {
                self.seated.remove(&withdrew.member_id);
                self.awaiting_replacement.insert(withdrew.member_id.clone());
                self.withdrawals += 1;
            }
            SelectionEvent::ReplacementDrawn(replacement) => {
                self.awaiting_replacement.remove(&replacement.withdrawn_member_id);
                self.seated.insert(replacement.replacement_member_id.clone());
                self.ever_seated.insert(replacement.replacement_member_id.clone());
            }
        }
    }

    /// No two of `members` share a household (`selection.panel_keeps_households_apart`).
    fn check_households_apart<'a>(&self, members: impl Iterator<Item = &'a String>) -> Result<(), Rejection> {
        let mut seen: BTreeMap<&Hash256, &str> = BTreeMap::new();
        for member in members {
            if let Some(household) = self.households.get(member) {
                if let Some(housemate) = seen.insert(household, member) {
                    return Err(broken(
                        RuleCode::SelectionPanelKeepsHouseholdsApart,
                        format!("{housemate} and {member} share a household"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The quotas that apply: the plan's, with the relaxation's bounds where it changes them.
    pub fn quotas_in_force(&self) -> Vec<Quota> {
        let planned = self.plan.as_ref().map(|plan| plan.quotas.clone()).unwrap_or_default();
        let Some(relaxation) = &self.relaxation else { return planned };
        planned
            .into_iter()
            .map(|quota| {
                relaxation
                    .quotas
                    .iter()
                    .find(|r| r.feature == quota.feature && r.value == quota.value)
                    .cloned()
                    .unwrap_or(quota)
            })
            .collect()
    }

    /// Letters go out before anyone volunteers: nothing of the letter lottery comes after the
    /// pool (`selection.letters_before_pool`).
    fn require_no_pool(&self) -> Result<(), Rejection> {
        if self.pool.is_some() {
            return Err(broken(
                RuleCode::SelectionLettersBeforePool,
                "the pool is registered: the letter lottery comes before it",
            ));
        }
        Ok(())
    }

    pub(super) fn require_panel(&self, rule: RuleCode) -> Result<(), Rejection> {
        if !self.panel_drawn {
            return Err(broken(rule, "the panel has not been drawn yet"));
        }
        Ok(())
    }
}

fn selection_instance(
    plan: &SelectionPlanned,
    pool: &PoolRegistered,
) -> Result<klero_draw::Instance, klero_draw::PoolError> {
    let people = pool.members.iter().map(|member| {
        let value_of = |feature: &str| member.features.iter().find(|(f, _)| f == feature).map(|(_, v)| v.as_str());
        klero_draw::Volunteer {
            id: member.id.as_str(),
            household: member.household.as_ref().map(|h| &h.0[..]),
            value_of,
        }
    });
    klero_draw::Instance::group(&plan.quotas, people, plan.panel_size)
}

/// Whether the plan commits to drawing from a published lottery: LEXIMIN or Nash welfare
/// (FORMAT.md §9.3). The rules check the lottery and the draw, not which objective chose it.
fn uses_lottery(plan: &SelectionPlanned) -> bool {
    plan.algorithm == "leximin" || plan.algorithm == "nash"
}

/// Counts the panel's members per (feature, value) and checks every quota.
fn check_quotas<'a>(
    quotas: &[Quota],
    members: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> Result<(), Rejection> {
    let mut counts: HashMap<(&str, &str), u32> = HashMap::new();
    let members: Vec<&BTreeMap<String, String>> = members.collect();
    for quota in quotas {
        counts.insert((&quota.feature, &quota.value), 0);
    }
    for member in &members {
        for (feature, value) in member.iter() {
            if let Some(count) = counts.get_mut(&(feature.as_str(), value.as_str())) {
                *count += 1;
            }
        }
    }
    for quota in quotas {
        let count = counts[&(quota.feature.as_str(), quota.value.as_str())];
        if count < quota.min || count > quota.max {
            return Err(broken(
                RuleCode::SelectionPanelMeetsQuotas,
                format!("{} = {}: {count} seats, quota {}..={}", quota.feature, quota.value, quota.min, quota.max),
            ));
        }
    }
    Ok(())
}
