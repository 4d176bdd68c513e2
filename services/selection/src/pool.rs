//! Pools and quotas, read from the Sortition Foundation's CSV layout, and grouped into types:
//! people with identical values on every quota feature are interchangeable.
//!
//! The files come from spreadsheets, so they are read as RFC 4180 CSV by the `csv` crate: a
//! value may be quoted (and hold commas, quotes or line breaks), lines may end in CRLF, a
//! UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped, blank lines are ignored, and values
//! are trimmed. Errors name the line a record starts on.

use crate::{InputFile, SelectionError};
use klero_draw::{Instance, PoolError, Quota};

/// Every non-blank record of `text`, each with the line it starts on.
fn csv_rows(text: &str, file: InputFile) -> Result<Vec<(usize, Vec<String>)>, SelectionError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| {
            let line = error.position().map_or(0, |p| p.line() as usize);
            SelectionError::Input { file, line, reason: format!("not valid CSV: {error}") }
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(rows)
}

/// Reads `feature,value,min,max` rows (with that header).
pub fn parse_features_csv(text: &str) -> Result<Vec<Quota>, SelectionError> {
    let mut rows = csv_rows(text, InputFile::Features)?.into_iter();
    match rows.next() {
        Some((_, header)) if header == ["feature", "value", "min", "max"] => {}
        _ => {
            return Err(SelectionError::Input {
                file: InputFile::Features,
                line: 1,
                reason: "the header must be feature,value,min,max".into(),
            })
        }
    }
    let mut quotas = Vec::new();
    for (line, row) in rows {
        let [feature, value, min, max] = &row[..] else {
            return Err(SelectionError::Input { file: InputFile::Features, line, reason: "expected 4 columns".into() });
        };
        let number = |text: &str, what: &str| {
            text.parse::<u32>().map_err(|_| SelectionError::Input {
                file: InputFile::Features,
                line,
                reason: format!("{what} must be a whole number"),
            })
        };
        let (min, max) = (number(min, "min")?, number(max, "max")?);
        if min > max {
            return Err(SelectionError::Input {
                file: InputFile::Features,
                line,
                reason: format!("min {min} is above max {max}"),
            });
        }
        if feature.is_empty() || value.is_empty() {
            return Err(SelectionError::Input {
                file: InputFile::Features,
                line,
                reason: "feature and value must not be empty".into(),
            });
        }
        if quotas.iter().any(|q: &Quota| q.feature == *feature && q.value == *value) {
            return Err(SelectionError::Input {
                file: InputFile::Features,
                line,
                reason: format!("{feature} = {value} appears twice"),
            });
        }
        quotas.push(Quota { feature: feature.clone(), value: value.clone(), min, max });
    }
    Ok(quotas)
}

/// Reads `id,<feature>,…` rows and groups the people into types. Columns that are not quota
/// features are ignored; a person whose value has no quota is refused by name and line.
pub fn build_instance(quotas: &[Quota], people_csv: &str, panel_size: u32) -> Result<Instance, SelectionError> {
    let mut rows = csv_rows(people_csv, InputFile::People)?.into_iter();
    let (_, header) = rows.next().ok_or(SelectionError::Input {
        file: InputFile::People,
        line: 1,
        reason: "the file is empty".into(),
    })?;
    if header.first().map(String::as_str) != Some("id") {
        return Err(SelectionError::Input {
            file: InputFile::People,
            line: 1,
            reason: "the first column must be id".into(),
        });
    }
    for quota in quotas {
        if !header.contains(&quota.feature) {
            return Err(SelectionError::Input {
                file: InputFile::People,
                line: 1,
                reason: format!("no column for feature {}", quota.feature),
            });
        }
    }
    let rows: Vec<(usize, Vec<String>)> = rows.collect();
    if let Some((line, _)) = rows.iter().find(|(_, row)| row.len() != header.len()) {
        return Err(SelectionError::Input {
            file: InputFile::People,
            line: *line,
            reason: format!("expected {} columns", header.len()),
        });
    }
    let people = rows.iter().map(|(_, row)| {
        let header = &header;
        let value_of = move |feature: &str| header.iter().position(|h| h == feature).map(|column| row[column].as_str());
        (row[0].as_str(), value_of)
    });
    Instance::group(quotas, people, panel_size).map_err(|error| {
        // Point at the line of the person the error names; a repeated id at its second line.
        let line_of = |id: &str, occurrence: usize| {
            rows.iter().filter(|(_, row)| row[0] == id).nth(occurrence).map_or(1, |(line, _)| *line)
        };
        let (file, line) = match &error {
            PoolError::FeatureCount => (InputFile::Features, 1),
            PoolError::EmptyPanel => (InputFile::Arguments, 0),
            PoolError::TooManyPeople => {
                (InputFile::People, rows.get(klero_draw::POOL_PEOPLE_MAX).map_or(1, |(l, _)| *l))
            }
            PoolError::IdEmptyOrRepeated { id } => (InputFile::People, line_of(id, if id.is_empty() { 0 } else { 1 })),
            PoolError::MissingValue { id, .. } | PoolError::ValueWithoutQuota { id, .. } => {
                (InputFile::People, line_of(id, 0))
            }
        };
        SelectionError::Input { file, line, reason: error.to_string() }
    })
}
