//! Quotas, and a pool grouped into types: people with identical values on every quota feature
//! are interchangeable, so lotteries and draws work on types, not on people.
//!
//! Households break that symmetry: a volunteer who shares a household with another in the pool
//! cannot sit beside them, so they are not interchangeable with someone of the same values who
//! lives alone. Each such volunteer is a type of their own, and [`Instance::households`] says
//! which of those types may take at most one seat between them.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One quota: seats for one value of one feature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quota {
    pub feature: String,
    pub value: String,
    /// Fewest seats for this value.
    pub min: u32,
    /// Most seats for this value.
    pub max: u32,
}

/// A group of interchangeable people: the same value on every feature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonType {
    /// One value index per feature (into `Instance::values[feature]`).
    pub values: Vec<usize>,
    /// The pseudonymous ids of its members, sorted.
    pub members: Vec<String>,
    /// Whether this is one volunteer who shares a household with others in the pool (a type of
    /// one member, listed in one of [`Instance::households`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shares_household: bool,
}

/// A panel, as seats per type (in the order of `Instance::types`).
pub type Panel = Vec<u32>;

/// A selection problem: the quotas, and the pool grouped into types.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    /// Feature names, in the order they first appear among the quotas.
    pub features: Vec<String>,
    /// For each feature, its value names, in the order of the quotas.
    pub values: Vec<Vec<String>>,
    /// (feature, value) → (min, max) seats.
    pub bounds: Vec<Vec<(u32, u32)>>,
    /// Types, sorted by their value vectors (each value by its index among the quotas).
    pub types: Vec<PersonType>,
    /// Seats on the panel.
    pub panel_size: u32,
    /// Households of two or more volunteers in the pool, each as its members' types (ascending);
    /// a panel seats at most one of each. Ordered by their first type. Empty without households.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub households: Vec<Vec<usize>>,
}

/// The household a row's household columns name, or `None` if they are all empty: the cells
/// normalised (trimmed, lowercased, runs of white space made one space, so that "12 High St"
/// and "12  high st" agree), joined by the unit separator 0x1F (docs/FORMAT.md §9).
pub fn household_key<'a>(cells: impl Iterator<Item = &'a str>) -> Option<Vec<u8>> {
    let normalised: Vec<String> =
        cells.map(|cell| cell.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()).collect();
    if normalised.iter().all(String::is_empty) {
        return None;
    }
    Some(normalised.join("\u{1f}").into_bytes())
}

/// The salted commitment to a household that `PoolMember.household` carries (docs/FORMAT.md §9):
/// SHA-256("KLERO-HOUSEHOLD-V1" 0x00 || salt || key), with `key` from [`household_key`]. The salt
/// stays with the council: addresses are few enough to guess one by one without it.
pub fn household_commitment(salt: &[u8; 32], key: &[u8]) -> klero_ledger::Hash256 {
    klero_ledger::Hash256::of_parts(&[HOUSEHOLD_DOMAIN, salt, key])
}

const HOUSEHOLD_DOMAIN: &[u8] = b"KLERO-HOUSEHOLD-V1\0";

/// A volunteer as [`Instance::group`] has read them: value numbers in feature order.
struct ReadVolunteer<'p> {
    values: Vec<usize>,
    id: &'p str,
    household: Option<&'p [u8]>,
}

/// One volunteer as [`Instance::group`] reads them.
pub struct Volunteer<'p, F> {
    /// Pseudonymous id.
    pub id: &'p str,
    /// Who they live with: volunteers with equal keys share a household. `None` for a volunteer
    /// who names none, and so shares with nobody. On the record the key is a salted commitment
    /// (docs/FORMAT.md §9); offline it may be the address itself, since only equality counts.
    pub household: Option<&'p [u8]>,
    /// Their value of a feature.
    pub value_of: F,
}

impl<F> std::fmt::Debug for Volunteer<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volunteer").field("id", &self.id).field("household", &self.household).finish_non_exhaustive()
    }
}

/// Most people in a pool.
pub const POOL_PEOPLE_MAX: usize = 100_000;
/// Most quota features.
pub const FEATURES_MAX: usize = 32;
/// Most values of one feature.
pub const VALUES_PER_FEATURE_MAX: usize = 64;

/// Why a pool cannot be grouped into types under the quotas. Each variant names the person or
/// the quota at fault, so the caller can point at the line or field that holds it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("need 1 to {FEATURES_MAX} quota features of at most {VALUES_PER_FEATURE_MAX} values each")]
    FeatureCount,
    #[error("the panel size must be at least 1")]
    EmptyPanel,
    #[error("more than {POOL_PEOPLE_MAX} people")]
    TooManyPeople,
    #[error("id {id:?} is empty or repeated")]
    IdEmptyOrRepeated { id: String },
    #[error("{id} has no value for {feature}")]
    MissingValue { id: String, feature: String },
    #[error("{id} has {feature} = {value}, which has no quota")]
    ValueWithoutQuota { id: String, feature: String, value: String },
}

impl Instance {
    /// Groups `people` into types under the quotas. The feature and value order is the quota
    /// order, so the same quotas and pool always give the same types in the same order, whatever
    /// the order of the people (docs/FORMAT.md §9, type order).
    pub fn group<'p, I, F>(quotas: &[Quota], people: I, panel_size: u32) -> Result<Instance, PoolError>
    where
        I: IntoIterator<Item = Volunteer<'p, F>>,
        F: Fn(&str) -> Option<&'p str>,
    {
        let mut features: Vec<String> = Vec::new();
        let mut values: Vec<Vec<String>> = Vec::new();
        let mut bounds: Vec<Vec<(u32, u32)>> = Vec::new();
        for quota in quotas {
            let f = match features.iter().position(|f| *f == quota.feature) {
                Some(f) => f,
                None => {
                    features.push(quota.feature.clone());
                    values.push(Vec::new());
                    bounds.push(Vec::new());
                    features.len() - 1
                }
            };
            values[f].push(quota.value.clone());
            bounds[f].push((quota.min, quota.max));
        }
        if features.is_empty()
            || features.len() > FEATURES_MAX
            || values.iter().any(|v| v.len() > VALUES_PER_FEATURE_MAX)
        {
            return Err(PoolError::FeatureCount);
        }
        if panel_size == 0 {
            return Err(PoolError::EmptyPanel);
        }
        let mut read: Vec<ReadVolunteer<'p>> = Vec::new();
        let mut seen = HashSet::new();
        for (count, Volunteer { id, household, value_of }) in people.into_iter().enumerate() {
            if count >= POOL_PEOPLE_MAX {
                return Err(PoolError::TooManyPeople);
            }
            if id.is_empty() || !seen.insert(id) {
                return Err(PoolError::IdEmptyOrRepeated { id: id.to_string() });
            }
            let mut key = Vec::with_capacity(features.len());
            for (f, feature) in features.iter().enumerate() {
                let value = value_of(feature)
                    .ok_or_else(|| PoolError::MissingValue { id: id.to_string(), feature: feature.clone() })?;
                let v =
                    values[f].iter().position(|known| known == value).ok_or_else(|| PoolError::ValueWithoutQuota {
                        id: id.to_string(),
                        feature: feature.clone(),
                        value: value.to_string(),
                    })?;
                key.push(v);
            }
            read.push(ReadVolunteer { values: key, id, household });
        }
        let mut household_sizes: HashMap<&[u8], usize> = HashMap::new();
        for volunteer in &read {
            if let Some(household) = volunteer.household {
                *household_sizes.entry(household).or_default() += 1;
            }
        }
        // Type key: the values, then None for those who share no household (one type per
        // value list) or Some(id) for each who does: a type of their own, sorted after the
        // type of the same values that shares nothing, and by id among themselves.
        let mut types: BTreeMap<(Vec<usize>, Option<&str>), Vec<String>> = BTreeMap::new();
        let mut housemates: HashMap<&str, &[u8]> = HashMap::new();
        for ReadVolunteer { values, id, household } in read {
            let shared = household.filter(|h| household_sizes[h] > 1);
            if let Some(household) = shared {
                housemates.insert(id, household);
            }
            types.entry((values, shared.map(|_| id))).or_default().push(id.to_string());
        }
        let mut households: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
        let types: Vec<PersonType> = types
            .into_iter()
            .enumerate()
            .map(|(t, ((values, housemate), mut members))| {
                if let Some(household) = housemate.and_then(|id| housemates.get(id)) {
                    households.entry(household).or_default().push(t);
                }
                members.sort();
                PersonType { values, members, shares_household: housemate.is_some() }
            })
            .collect();
        let mut households: Vec<Vec<usize>> = households.into_values().collect();
        households.sort();
        Ok(Instance { features, values, bounds, types, panel_size, households })
    }

    /// [`Instance::group`] for members given as (id, [(feature, value)]), as the selection
    /// events carry them.
    pub fn from_members(
        quotas: &[Quota],
        members: &[(String, Vec<(String, String)>)],
        panel_size: u32,
    ) -> Result<Instance, PoolError> {
        let people = members.iter().map(|(id, pairs)| {
            let value_of = move |feature: &str| pairs.iter().find(|(f, _)| f == feature).map(|(_, v)| v.as_str());
            Volunteer { id: id.as_str(), household: None, value_of }
        });
        Instance::group(quotas, people, panel_size)
    }

    /// Takes the bounds of `quotas` (a relaxation of the quotas the instance was grouped
    /// under): the types stay, since they depend on values only.
    pub fn set_bounds(&mut self, quotas: &[Quota]) {
        for quota in quotas {
            let Some(f) = self.features.iter().position(|f| *f == quota.feature) else { continue };
            let Some(v) = self.values[f].iter().position(|v| *v == quota.value) else { continue };
            self.bounds[f][v] = (quota.min, quota.max);
        }
    }

    /// People in the pool.
    pub fn people(&self) -> usize {
        self.types.iter().map(|t| t.members.len()).sum()
    }

    /// Whether a panel (seats per type) meets every quota and fills the panel exactly.
    pub fn panel_meets_quotas(&self, counts: &[u32]) -> bool {
        if counts.len() != self.types.len() || counts.iter().map(|&c| c as u64).sum::<u64>() != self.panel_size as u64 {
            return false;
        }
        if counts.iter().zip(&self.types).any(|(c, t)| *c as usize > t.members.len()) {
            return false;
        }
        for f in 0..self.features.len() {
            let mut seats = vec![0u64; self.values[f].len()];
            for (count, person_type) in counts.iter().zip(&self.types) {
                seats[person_type.values[f]] += *count as u64;
            }
            if seats.iter().zip(&self.bounds[f]).any(|(s, (min, max))| *s < *min as u64 || *s > *max as u64) {
                return false;
            }
        }
        true
    }

    /// Whether a panel seats at most one volunteer of each household.
    pub fn panel_keeps_households_apart(&self, counts: &[u32]) -> bool {
        self.households
            .iter()
            .all(|types| types.iter().map(|&t| counts.get(t).copied().unwrap_or(0) as u64).sum::<u64>() <= 1)
    }

    /// The household (an index into [`Instance::households`]) of a type, if it shares one.
    pub fn household_of_type(&self, t: usize) -> Option<usize> {
        if !self.types.get(t)?.shares_household {
            return None;
        }
        self.households.iter().position(|types| types.binary_search(&t).is_ok())
    }

    /// The type a member belongs to.
    pub fn type_of(&self, member_id: &str) -> Option<usize> {
        self.types.iter().position(|t| t.members.binary_search_by(|m| m.as_str().cmp(member_id)).is_ok())
    }
}
