//! Pools and quotas, read from the Sortition Foundation's CSV layout, and grouped into types:
//! people with identical values on every quota feature are interchangeable.

use crate::SelectionError;
use std::collections::BTreeMap;

/// One quota: seats for one value of one feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    pub feature: String,
    pub value: String,
    pub min: u32,
    pub max: u32,
}

/// A group of interchangeable people: the same value on every feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonType {
    /// One value index per feature (into `Instance::values[feature]`).
    pub values: Vec<usize>,
    /// The pseudonymous ids of its members, sorted.
    pub members: Vec<String>,
}

/// A selection problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Feature names, in the order of the features file.
    pub features: Vec<String>,
    /// For each feature, its value names, in the order of the features file.
    pub values: Vec<Vec<String>>,
    /// (feature, value) → (min, max) seats.
    pub bounds: Vec<Vec<(u32, u32)>>,
    /// Types, sorted by their value vectors.
    pub types: Vec<PersonType>,
    pub panel_size: u32,
}

/// Most people in a pool; most features and values.
pub const POOL_PEOPLE_MAX: usize = 100_000;
pub const FEATURES_MAX: usize = 32;
pub const VALUES_PER_FEATURE_MAX: usize = 64;

fn csv_rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n + 1, l.trim_end_matches('\r').split(',').map(str::trim).collect()))
}

/// Reads `feature,value,min,max` rows (with that header).
pub fn parse_features_csv(text: &str) -> Result<Vec<Quota>, SelectionError> {
    let mut rows = csv_rows(text);
    match rows.next() {
        Some((_, header)) if header == ["feature", "value", "min", "max"] => {}
        _ => {
            return Err(SelectionError::Input {
                file: "features",
                line: 1,
                reason: "the header must be feature,value,min,max".into(),
            })
        }
    }
    let mut quotas = Vec::new();
    for (line, row) in rows {
        let [feature, value, min, max] = row[..] else {
            return Err(SelectionError::Input { file: "features", line, reason: "expected 4 columns".into() });
        };
        let number = |text: &str, what: &str| {
            text.parse::<u32>().map_err(|_| SelectionError::Input {
                file: "features",
                line,
                reason: format!("{what} must be a whole number"),
            })
        };
        let (min, max) = (number(min, "min")?, number(max, "max")?);
        if min > max {
            return Err(SelectionError::Input {
                file: "features",
                line,
                reason: format!("min {min} is above max {max}"),
            });
        }
        if feature.is_empty() || value.is_empty() {
            return Err(SelectionError::Input {
                file: "features",
                line,
                reason: "feature and value must not be empty".into(),
            });
        }
        if quotas.iter().any(|q: &Quota| q.feature == feature && q.value == value) {
            return Err(SelectionError::Input {
                file: "features",
                line,
                reason: format!("{feature} = {value} appears twice"),
            });
        }
        quotas.push(Quota { feature: feature.into(), value: value.into(), min, max });
    }
    Ok(quotas)
}

/// Reads `id,<feature>,…` rows and groups the people into types. Columns that are not quota
/// features are ignored; a person whose value has no quota is refused by name.
pub fn build_instance(quotas: &[Quota], people_csv: &str, panel_size: u32) -> Result<Instance, SelectionError> {
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
    if features.is_empty() || features.len() > FEATURES_MAX || values.iter().any(|v| v.len() > VALUES_PER_FEATURE_MAX) {
        return Err(SelectionError::Input {
            file: "features",
            line: 1,
            reason: format!("need 1 to {FEATURES_MAX} features of at most {VALUES_PER_FEATURE_MAX} values"),
        });
    }
    let mut rows = csv_rows(people_csv);
    let (_, header) =
        rows.next().ok_or(SelectionError::Input { file: "people", line: 1, reason: "the file is empty".into() })?;
    if header.first() != Some(&"id") {
        return Err(SelectionError::Input { file: "people", line: 1, reason: "the first column must be id".into() });
    }
    let columns: Vec<usize> = features
        .iter()
        .map(|f| {
            header.iter().position(|h| h == f).ok_or_else(|| SelectionError::Input {
                file: "people",
                line: 1,
                reason: format!("no column for feature {f}"),
            })
        })
        .collect::<Result<_, _>>()?;
    let mut by_values: BTreeMap<Vec<usize>, Vec<String>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (count, (line, row)) in rows.enumerate() {
        if count >= POOL_PEOPLE_MAX {
            return Err(SelectionError::Input {
                file: "people",
                line,
                reason: format!("more than {POOL_PEOPLE_MAX} people"),
            });
        }
        if row.len() != header.len() {
            return Err(SelectionError::Input {
                file: "people",
                line,
                reason: format!("expected {} columns", header.len()),
            });
        }
        let id = row[0];
        if id.is_empty() || !seen.insert(id.to_string()) {
            return Err(SelectionError::Input {
                file: "people",
                line,
                reason: format!("id {id:?} is empty or repeated"),
            });
        }
        let mut key = Vec::with_capacity(features.len());
        for (f, &column) in columns.iter().enumerate() {
            let value = row[column];
            let v = values[f].iter().position(|known| known == value).ok_or_else(|| SelectionError::Input {
                file: "people",
                line,
                reason: format!("{id} has {} = {value}, which has no quota", features[f]),
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
    if panel_size == 0 {
        return Err(SelectionError::Input {
            file: "arguments",
            line: 0,
            reason: "the panel size must be at least 1".into(),
        });
    }
    Ok(Instance { features, values, bounds, types, panel_size })
}

impl Instance {
    /// Builds an instance from quotas and members given as (id, [(feature, value)]), as the
    /// selection events carry them. Types come out in the same order as from the CSV files.
    pub fn from_members(
        quotas: &[Quota],
        members: &[(String, Vec<(String, String)>)],
        panel_size: u32,
    ) -> Result<Instance, SelectionError> {
        let mut features: Vec<&str> = Vec::new();
        for quota in quotas {
            if !features.contains(&quota.feature.as_str()) {
                features.push(&quota.feature);
            }
        }
        let mut csv = String::from("id");
        for feature in &features {
            csv.push(',');
            csv.push_str(feature);
        }
        csv.push('\n');
        for (id, values) in members {
            csv.push_str(id);
            for feature in &features {
                let value = values.iter().find(|(f, _)| f == feature).map(|(_, v)| v.as_str()).ok_or_else(|| {
                    SelectionError::Input { file: "pool", line: 0, reason: format!("{id} has no value for {feature}") }
                })?;
                csv.push(',');
                csv.push_str(value);
            }
            csv.push('\n');
        }
        build_instance(quotas, &csv, panel_size)
    }

    pub fn people(&self) -> usize {
        self.types.iter().map(|t| t.members.len()).sum()
    }

    /// Whether a panel (seats per type) meets every quota and fills the panel exactly.
    pub fn panel_meets_quotas(&self, counts: &[u32]) -> bool {
        if counts.iter().sum::<u32>() != self.panel_size {
            return false;
        }
        if counts.iter().zip(&self.types).any(|(c, t)| *c as usize > t.members.len()) {
            return false;
        }
        for f in 0..self.features.len() {
            let mut seats = vec![0u32; self.values[f].len()];
            for (count, person_type) in counts.iter().zip(&self.types) {
                seats[person_type.values[f]] += count;
            }
            if seats.iter().zip(&self.bounds[f]).any(|(s, (min, max))| s < min || s > max) {
                return false;
            }
        }
        true
    }
}
