//! Households added to the sortition pools in `../shared/data/sortition`, which have none: the
//! same people, with two address columns as the Sortition Foundation's files carry them.
//!
//! Housemates share their `area` (a street lies in one ward), and households come in sizes 1, 2,
//! 1, 2, 2, … in turn: 1.6 people to a household, the figure. People are ordered by area,
//! then by SHA-256 of their id, so the same pool always gets the same households.

use klero_ledger::Hash256;

/// Household sizes, repeated: eight people in five households.
const SIZES: [usize; 5] = [1, 2, 1, 2, 2];
/// The column housemates share.
const GROUP_COLUMN: &str = "area";
/// The columns added, as in the Sortition Foundation's `check_same_address_columns`.
pub const ADDRESS_COLUMNS: [&str; 2] = ["address_line_1", "postcode"];

/// `people_csv` (a header `id,…`, plain comma-separated rows without quotes) with
/// `address_line_1,postcode` appended to every row.
pub fn add_households(people_csv: &str) -> String {
    let mut lines = people_csv.lines().filter(|line| !line.trim().is_empty());
    let header = lines.next().expect("a header");
    let group = header.split(',').position(|h| h == GROUP_COLUMN);
    let rows: Vec<&str> = lines.collect();
    let mut order: Vec<(String, Hash256, usize)> = rows
        .iter()
        .enumerate()
        .map(|(row, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            let area = group.map_or("", |g| cells[g]).to_string();
            (area, Hash256::of(cells[0].as_bytes()), row)
        })
        .collect();
    order.sort();
    let mut household_of = vec![0usize; rows.len()];
    let (mut household, mut left, mut area) = (0usize, 0usize, None::<&str>);
    for (position, (person_area, _, row)) in order.iter().enumerate() {
        // A household never spans two areas: a new area starts a new household.
        if left == 0 || area != Some(person_area.as_str()) {
            household = if position == 0 { 0 } else { household + 1 };
            left = SIZES[household % SIZES.len()];
            area = Some(person_area.as_str());
        }
        household_of[*row] = household;
        left -= 1;
    }
    let mut out = format!("{header},{}\n", ADDRESS_COLUMNS.join(","));
    for (row, line) in rows.iter().enumerate() {
        let h = household_of[row];
        out.push_str(&format!("{line},{} Lot Street,KL{} {}\n", h + 1, h / 100 + 1, h % 100));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn households_average_about_one_point_six_and_never_span_two_areas() {
        let mut people = String::from("id,area\n");
        for i in 0..1000 {
            people.push_str(&format!("p{i},{}\n", ["north", "south", "east"][i % 3]));
        }
        let with = add_households(&people);
        let mut households: std::collections::HashMap<String, Vec<String>> = Default::default();
        for line in with.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            households.entry(format!("{}|{}", cells[2], cells[3])).or_default().push(cells[1].to_string());
        }
        let mean = 1000.0 / households.len() as f64;
        assert!((1.55..=1.65).contains(&mean), "{mean} people to a household");
        assert!(households.values().all(|areas| areas.iter().all(|a| *a == areas[0])));
        assert!(households.values().all(|h| h.len() <= 2));
        assert_eq!(with, add_households(&people), "the same pool gets the same households");
    }
}
