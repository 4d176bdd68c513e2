//! The address list of a letter lottery (docs/FORMAT.md §9.1), read from the CSV file a
//! council exports from its address register; the draw itself is `klero_draw::letters`.

use crate::pool::{csv_rows, input};
use crate::{InputFile, SelectionError};
use klero_draw::letters::{Address, ADDRESSES_MAX};

/// The rows of an address list, each with its key and area.
#[derive(Clone, Debug)]
pub struct AddressList {
    /// The header row, as written.
    pub header: Vec<String>,
    /// Each address's cells, as written.
    pub rows: Vec<Vec<String>>,
    /// Each address's key: every cell normalised as household keys are (trimmed, lowercased,
    /// runs of white space made one), joined by 0x1F.
    pub keys: Vec<Vec<u8>>,
    /// Each address's area: the cell of the area column, trimmed; empty without one.
    pub areas: Vec<String>,
}

impl AddressList {
    /// The addresses as the draw takes them.
    pub fn addresses(&self) -> Vec<Address<'_>> {
        self.keys.iter().zip(&self.areas).map(|(key, area)| Address { key, area }).collect()
    }

    /// Each area and its addresses, sorted by name.
    pub fn area_sizes(&self) -> Vec<(String, u32)> {
        let mut sizes = std::collections::BTreeMap::<&str, u32>::new();
        for area in &self.areas {
            *sizes.entry(area).or_default() += 1;
        }
        sizes.into_iter().map(|(area, n)| (area.to_string(), n)).collect()
    }
}

/// Reads an address list: a header, then one address a row. Each address must be unique once
/// normalised, or two letters could go to one door; a repeat is refused naming both lines. With
/// `area_column`, every row must name its area there.
pub fn read_address_list(text: &str, area_column: Option<&str>) -> Result<AddressList, SelectionError> {
    let file = InputFile::Addresses;
    let mut rows = csv_rows(text, file)?.into_iter();
    let (_, header) = rows.next().ok_or(input(file, 1, None, "the file is empty"))?;
    let area_at = match area_column {
        Some(name) => Some(
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| input(file, 1, None, format!("no column {name}, named as the area column")))?,
        ),
        None => None,
    };
    let mut list = AddressList { header: header.clone(), rows: Vec::new(), keys: Vec::new(), areas: Vec::new() };
    let mut first_line_of: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    for (line, row) in rows {
        if list.rows.len() as u64 >= ADDRESSES_MAX as u64 {
            return Err(input(file, line, None, format!("more than {ADDRESSES_MAX} addresses")));
        }
        if row.len() != header.len() {
            return Err(input(file, line, None, format!("{} cells; the header has {}", row.len(), header.len())));
        }
        let key = klero_draw::household_key(row.iter().map(String::as_str))
            .ok_or_else(|| input(file, line, None, "an empty address"))?;
        if let Some(first) = first_line_of.insert(key.clone(), line) {
            return Err(input(file, line, None, format!("the same address as line {first}")));
        }
        let area = area_at.map(|column| row[column].trim().to_string()).unwrap_or_default();
        if let (Some(column), true) = (area_at, area.is_empty()) {
            return Err(input(file, line, Some(column + 1), "no area"));
        }
        list.keys.push(key);
        list.areas.push(area);
        list.rows.push(row);
    }
    if list.rows.is_empty() {
        return Err(input(file, 1, None, "no addresses"));
    }
    Ok(list)
}
