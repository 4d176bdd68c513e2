//! Quotas, and a pool grouped into types: people with identical values on every quota feature
//! are interchangeable, so lotteries and draws work on types, not on people.

use std::collections::{BTreeMap, HashSet};

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
    /// Groups `people` (pseudonymous id, then a value lookup by feature) into types under the
    /// quotas. The feature and value order is the quota order, so the same quotas and pool
    /// always give the same types in the same order, whatever the order of the people.
    pub fn group<'p, I, F>(quotas: &[Quota], people: I, panel_size: u32) -> Result<Instance, PoolError>
    where
        I: IntoIterator<Item = (&'p str, F)>,
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
        let mut by_values: BTreeMap<Vec<usize>, Vec<String>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for (count, (id, value_of)) in people.into_iter().enumerate() {
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
            by_values.entry(key).or_default().push(id.to_string());
        }
        let types = by_values
            .into_iter()
            .map(|(values, mut members)| {
                members.sort();
                PersonType { values, members }
            })
            .collect();
        Ok(Instance { features, values, bounds, types, panel_size })
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
            (id.as_str(), value_of)
        });
        Instance::group(quotas, people, panel_size)
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

    /// The type a member belongs to.
    pub fn type_of(&self, member_id: &str) -> Option<usize> {
        self.types.iter().position(|t| t.members.binary_search_by(|m| m.as_str().cmp(member_id)).is_ok())
    }
}
