//! Pools and quotas, read from the Sortition Foundation's CSV layout, and grouped into types:
//! people with identical values on every quota feature are interchangeable.
//!
//! The files come from spreadsheets, so they are read as RFC 4180 CSV by the `csv` crate: a
//! value may be quoted (and hold commas, quotes or line breaks), lines may end in CRLF, a
//! UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped, blank lines are ignored, and values
//! are trimmed. A file's bytes are decoded by [`decode_csv`], which tells UTF-8 from Excel's
//! Windows-1252 and says which it found. Errors name the line a record starts on and, where
//! one cell is at fault, its column.

use crate::{InputFile, SelectionError};
use klero_draw::{household_key, Instance, PoolError, Quota, Volunteer};

pub(crate) fn input(file: InputFile, line: usize, column: Option<usize>, reason: impl Into<String>) -> SelectionError {
    SelectionError::Input { file, line, column, reason: reason.into() }
}

/// How a CSV file's bytes were read. Spreadsheets save CSV as UTF-8, with or without Excel's
/// byte-order mark, or (Excel's plain "CSV" on Windows) as Windows-1252. Which one is detected
/// from the bytes, never assumed, and the caller reports it with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8WithByteOrderMark,
    /// Not valid UTF-8, and every byte a Windows-1252 character: `first_non_utf8` is where the
    /// first byte that is not UTF-8 was (line, column).
    Windows1252 {
        first_non_utf8: (usize, usize),
    },
}

impl std::fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextEncoding::Utf8 => f.write_str("UTF-8"),
            TextEncoding::Utf8WithByteOrderMark => f.write_str("UTF-8 with a byte-order mark"),
            TextEncoding::Windows1252 { first_non_utf8: (line, column) } => write!(
                f,
                "Windows-1252 (not UTF-8: the first byte that is not is at line {line}, column {column}; save as \"CSV UTF-8\" to avoid the doubt)"
            ),
        }
    }
}

/// Windows-1252's characters for the bytes 0x80 to 0x9F (the rest above 0x7F are Latin-1's);
/// `None` for the five bytes it leaves undefined.
const WINDOWS_1252_HIGH: [Option<char>; 32] = [
    Some('\u{20AC}'),
    None,
    Some('\u{201A}'),
    Some('\u{0192}'),
    Some('\u{201E}'),
    Some('\u{2026}'),
    Some('\u{2020}'),
    Some('\u{2021}'),
    Some('\u{02C6}'),
    Some('\u{2030}'),
    Some('\u{0160}'),
    Some('\u{2039}'),
    Some('\u{0152}'),
    None,
    Some('\u{017D}'),
    None,
    None,
    Some('\u{2018}'),
    Some('\u{2019}'),
    Some('\u{201C}'),
    Some('\u{201D}'),
    Some('\u{2022}'),
    Some('\u{2013}'),
    Some('\u{2014}'),
    Some('\u{02DC}'),
    Some('\u{2122}'),
    Some('\u{0161}'),
    Some('\u{203A}'),
    Some('\u{0153}'),
    None,
    Some('\u{017E}'),
    Some('\u{0178}'),
];

/// The line and column (both from 1, the column in bytes) of byte `offset` of `bytes`.
fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
    (line, column)
}

/// A CSV file's text from its bytes, and how they were read (see [`TextEncoding`]). UTF-16
/// (Excel's "Unicode Text") and bytes that are neither UTF-8 nor Windows-1252 are refused with
/// their place.
pub fn decode_csv(bytes: &[u8], file: InputFile) -> Result<(String, TextEncoding), SelectionError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(input(file, 1, Some(1), "the file is UTF-16 (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\""));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return match std::str::from_utf8(rest) {
            Ok(text) => Ok((text.to_string(), TextEncoding::Utf8WithByteOrderMark)),
            Err(error) => {
                let (line, column) = line_and_column(bytes, 3 + error.valid_up_to());
                Err(input(
                    file,
                    line,
                    Some(column),
                    "the file starts as UTF-8 (a byte-order mark) but this byte is not UTF-8",
                ))
            }
        };
    }
    let error = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok((text.to_string(), TextEncoding::Utf8)),
        Err(error) => error,
    };
    let first_non_utf8 = line_and_column(bytes, error.valid_up_to());
    // A file with UTF-8 characters and bytes that are not UTF-8 mixes two encodings: read as
    // Windows-1252, its UTF-8 "é" would become "Ã©" without a word.
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        if let Some(at) = chunk.valid().bytes().position(|b| b >= 0x80) {
            let (line, column) = line_and_column(bytes, offset + at);
            let (bad_line, bad_column) = first_non_utf8;
            return Err(input(
                file,
                line,
                Some(column),
                format!("this is UTF-8, but line {bad_line}, column {bad_column} is not: the file mixes encodings; save it as \"CSV UTF-8\""),
            ));
        }
        offset += chunk.valid().len() + chunk.invalid().len();
    }
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 8);
    for (offset, &byte) in bytes.iter().enumerate() {
        let character = match byte {
            0x80..=0x9F => WINDOWS_1252_HIGH[(byte - 0x80) as usize],
            _ => Some(char::from(byte)),
        };
        let Some(character) = character else {
            let (line, column) = line_and_column(bytes, offset);
            return Err(input(
                file,
                line,
                Some(column),
                format!("byte 0x{byte:02X} is neither UTF-8 nor Windows-1252: save the file as \"CSV UTF-8\""),
            ));
        };
        text.push(character);
    }
    Ok((text, TextEncoding::Windows1252 { first_non_utf8 }))
}

/// Every non-blank record of `text`, each with the line it starts on.
pub(crate) fn csv_rows(text: &str, file: InputFile) -> Result<Vec<(usize, Vec<String>)>, SelectionError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| {
            let line = error.position().map_or(0, |p| p.line() as usize);
            input(file, line, None, format!("not valid CSV: {error}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(rows)
}

/// How far a quota may be relaxed when no panel can meet the quotas: the Sortition Foundation's
/// optional `min_flex` and `max_flex` columns. A relaxation never lowers the minimum below
/// `min_flex` nor raises the maximum above `max_flex`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaFlex {
    pub feature: String,
    pub value: String,
    pub min_flex: u32,
    /// `None`: the maximum may rise as far as the panel size.
    pub max_flex: Option<u32>,
}

/// A features file: the quotas, and how far each may be relaxed (empty without flex columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeaturesFile {
    pub quotas: Vec<Quota>,
    pub flex: Vec<QuotaFlex>,
}

/// Reads `feature,value,min,max` rows (with that header), and the Sortition Foundation's
/// optional `min_flex,max_flex` columns after them; see [`read_features`].
pub fn parse_features_csv(text: &str) -> Result<Vec<Quota>, SelectionError> {
    read_features(text).map(|file| file.quotas)
}

/// Reads a features file: the header `feature,value,min,max`, optionally followed by
/// `min_flex,max_flex` (the Sortition Foundation's layout), then one quota a row. A flex cell
/// may be empty (no bound); otherwise `min_flex` is at most `min` and `max_flex` at least `max`.
pub fn read_features(text: &str) -> Result<FeaturesFile, SelectionError> {
    let mut rows = csv_rows(text, InputFile::Features)?.into_iter();
    let with_flex = match rows.next() {
        Some((_, header)) if header == ["feature", "value", "min", "max"] => false,
        Some((_, header)) if header == ["feature", "value", "min", "max", "min_flex", "max_flex"] => true,
        _ => {
            return Err(input(
                InputFile::Features,
                1,
                None,
                "the header must be feature,value,min,max, optionally followed by min_flex,max_flex",
            ))
        }
    };
    let columns = if with_flex { 6 } else { 4 };
    let mut file = FeaturesFile { quotas: Vec::new(), flex: Vec::new() };
    for (line, row) in rows {
        if row.len() != columns {
            // The first column too many, or the first one missing.
            let column = row.len().min(columns) + 1;
            let reason = format!("expected {columns} columns, found {}", row.len());
            return Err(input(InputFile::Features, line, Some(column), reason));
        }
        let (feature, value) = (&row[0], &row[1]);
        let number = |text: &str, what: &str, column: usize| {
            text.parse::<u32>().map_err(|_| {
                input(InputFile::Features, line, Some(column), format!("{what} must be a whole number, not \"{text}\""))
            })
        };
        let (min, max) = (number(&row[2], "min", 3)?, number(&row[3], "max", 4)?);
        if min > max {
            return Err(input(InputFile::Features, line, Some(3), format!("min {min} is above max {max}")));
        }
        if feature.is_empty() || value.is_empty() {
            let column = if feature.is_empty() { 1 } else { 2 };
            return Err(input(InputFile::Features, line, Some(column), "feature and value must not be empty"));
        }
        if file.quotas.iter().any(|q: &Quota| q.feature == *feature && q.value == *value) {
            return Err(input(InputFile::Features, line, Some(2), format!("{feature} = {value} appears twice")));
        }
        if with_flex {
            let min_flex = if row[4].is_empty() { 0 } else { number(&row[4], "min_flex", 5)? };
            let max_flex = if row[5].is_empty() { None } else { Some(number(&row[5], "max_flex", 6)?) };
            if min_flex > min {
                return Err(input(
                    InputFile::Features,
                    line,
                    Some(5),
                    format!("min_flex {min_flex} is above min {min}"),
                ));
            }
            if let Some(max_flex) = max_flex.filter(|m| *m < max) {
                return Err(input(
                    InputFile::Features,
                    line,
                    Some(6),
                    format!("max_flex {max_flex} is below max {max}"),
                ));
            }
            file.flex.push(QuotaFlex { feature: feature.clone(), value: value.clone(), min_flex, max_flex });
        }
        file.quotas.push(Quota { feature: feature.clone(), value: value.clone(), min, max });
    }
    Ok(file)
}

/// Reads `id,<feature>,…` rows and groups the people into types. Columns that are not quota
/// features or household columns are ignored; a person whose value has no quota is refused by
/// name and line.
///
/// `household_columns` name the columns that say where someone lives, as the Sortition
/// Foundation's address check does (for example `address_line_1,postcode`, or one `household`
/// column of ids or commitments). People whose [`household_key`]s agree live together, and no
/// panel seats two of them. Someone whose household columns are all empty lives alone.
pub fn build_instance(
    quotas: &[Quota],
    people_csv: &str,
    panel_size: u32,
    household_columns: &[String],
) -> Result<Instance, SelectionError> {
    let mut rows = csv_rows(people_csv, InputFile::People)?.into_iter();
    let (_, header) = rows.next().ok_or(input(InputFile::People, 1, None, "the file is empty"))?;
    if header.first().map(String::as_str) != Some("id") {
        return Err(input(InputFile::People, 1, Some(1), "the first column must be id"));
    }
    for quota in quotas {
        if !header.contains(&quota.feature) {
            return Err(input(InputFile::People, 1, None, format!("no column for feature {}", quota.feature)));
        }
    }
    let mut household_indices = Vec::with_capacity(household_columns.len());
    for column in household_columns {
        let index = header.iter().position(|h| h == column).ok_or_else(|| {
            input(InputFile::People, 1, None, format!("no column {column}, named as a household column"))
        })?;
        household_indices.push(index);
    }
    let rows: Vec<(usize, Vec<String>)> = rows.collect();
    if let Some((line, row)) = rows.iter().find(|(_, row)| row.len() != header.len()) {
        let column = row.len().min(header.len()) + 1;
        let reason = format!("expected {} columns, found {}", header.len(), row.len());
        return Err(input(InputFile::People, *line, Some(column), reason));
    }
    let keys: Vec<Option<Vec<u8>>> =
        rows.iter().map(|(_, row)| household_key(household_indices.iter().map(|&i| row[i].as_str()))).collect();
    let people = rows.iter().zip(&keys).map(|((_, row), key)| {
        let header = &header;
        let value_of = move |feature: &str| header.iter().position(|h| h == feature).map(|column| row[column].as_str());
        Volunteer { id: row[0].as_str(), household: key.as_deref(), value_of }
    });
    Instance::group(quotas, people, panel_size).map_err(|error| {
        // Point at the line of the person the error names; a repeated id at its second line.
        let line_of = |id: &str, occurrence: usize| {
            rows.iter().filter(|(_, row)| row[0] == id).nth(occurrence).map_or(1, |(line, _)| *line)
        };
        let column_of = |feature: &str| header.iter().position(|h| h == feature).map(|c| c + 1);
        let (file, line, column) = match &error {
            PoolError::FeatureCount => (InputFile::Features, 1, None),
            PoolError::EmptyPanel => (InputFile::Arguments, 0, None),
            PoolError::TooManyPeople => {
                (InputFile::People, rows.get(klero_draw::POOL_PEOPLE_MAX).map_or(1, |(l, _)| *l), None)
            }
            PoolError::IdEmptyOrRepeated { id } => {
                (InputFile::People, line_of(id, if id.is_empty() { 0 } else { 1 }), Some(1))
            }
            PoolError::MissingValue { id, feature } | PoolError::ValueWithoutQuota { id, feature, .. } => {
                (InputFile::People, line_of(id, 0), column_of(feature))
            }
        };
        input(file, line, column, error.to_string())
    })
}
