//! The letter lottery (docs/FORMAT.md §9.1): which addresses get an invitation, drawn from a
//! committed address list with a revealed seed, so that anyone holding the list recomputes it.
//!
//! The list stays with the council; the record holds its hash and counts, and each pool member
//! may name the letter they answered by a salted commitment. Only an auditor given the list and
//! the salt can check that every volunteer was invited, and they can check it without trusting
//! anyone.

use klero_ledger::Hash256;

const LETTER_DRAW_DOMAIN: &[u8] = b"KLERO-LETTER-DRAW-V1\0";
const LETTER_DOMAIN: &[u8] = b"KLERO-LETTER-V1\0";

/// Most addresses in one list: more than the Royal Mail's largest local authority holds.
pub const ADDRESSES_MAX: u32 = 5_000_000;
/// Most areas a letter lottery is stratified by.
pub const AREAS_MAX: usize = 1_000;

/// One area of a stratified letter lottery: how many addresses the list holds there, and how
/// many letters go there. A plan lists its areas sorted by name (UTF-8 bytes), each once.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AreaLetters {
    pub area: String,
    pub addresses: u32,
    pub letters: u32,
}

/// One address of the list: its key (the normalised cells of its row, as [`crate::household_key`]
/// makes them) and its area (empty when the lottery is not stratified).
#[derive(Clone, Copy, Debug)]
pub struct Address<'a> {
    pub key: &'a [u8],
    pub area: &'a str,
}

/// Why a letter draw cannot be made from this list and plan. Each names what differs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LetterError {
    #[error("the plan sends {letters} letters to {addresses} addresses; it needs 1 to {addresses} letters")]
    LetterCount { letters: u32, addresses: u32 },
    #[error("the plan's areas must be sorted by name, each once; {area:?} is out of order or repeated")]
    AreasOutOfOrder { area: String },
    #[error("area {area:?}: {letters} letters for {addresses} addresses")]
    AreaOverfilled { area: String, addresses: u32, letters: u32 },
    #[error("the areas hold {addresses} addresses and {letters} letters; the plan says {planned_addresses} and {planned_letters}")]
    AreasDoNotAddUp { addresses: u64, letters: u64, planned_addresses: u32, planned_letters: u32 },
    #[error("the list holds {actual} addresses in area {area:?}; the plan says {planned}")]
    AreaDiffers { area: String, actual: u32, planned: u32 },
    #[error("the list holds {actual} addresses; the plan says {planned}")]
    AddressCountDiffers { actual: u64, planned: u32 },
    #[error("an address of the list is in area {area:?}, which the plan does not name")]
    UnknownArea { area: String },
}

/// An address's rank in the draw: `SHA-256("KLERO-LETTER-DRAW-V1" 0x00 || seed || key)`.
pub fn letter_rank(seed: &[u8], key: &[u8]) -> Hash256 {
    Hash256::of_parts(&[LETTER_DRAW_DOMAIN, seed, key])
}

/// The letter a pool member answered, as `PoolMember.letter` carries it:
/// `SHA-256("KLERO-LETTER-V1" 0x00 || salt || key)`. The salt stays with the council, since
/// addresses are few enough to guess one by one.
pub fn letter_commitment(salt: &[u8; 32], key: &[u8]) -> Hash256 {
    Hash256::of_parts(&[LETTER_DOMAIN, salt, key])
}

/// Letters per area in proportion to its addresses, by largest remainder: each area gets
/// `⌊letters × addresses_a / addresses⌋`, and the letters left go one each to the areas with
/// the largest remainders, ties to the area whose name sorts first. `areas` holds each area's
/// name and addresses; the result is sorted by name.
pub fn allocate_letters(areas: &[(String, u32)], letters: u32) -> Vec<AreaLetters> {
    let mut sorted: Vec<&(String, u32)> = areas.iter().collect();
    sorted.sort();
    let total: u64 = sorted.iter().map(|(_, n)| *n as u64).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut allocation: Vec<(AreaLetters, u64)> = sorted
        .iter()
        .map(|(area, addresses)| {
            let exact = letters as u64 * *addresses as u64;
            let whole = (exact / total) as u32;
            (AreaLetters { area: area.clone(), addresses: *addresses, letters: whole }, exact % total)
        })
        .collect();
    let given: u64 = allocation.iter().map(|(a, _)| a.letters as u64).sum();
    let mut by_remainder: Vec<usize> = (0..allocation.len()).collect();
    // Largest remainder first; the sort is stable, so ties keep the names' order.
    by_remainder.sort_by(|&a, &b| allocation[b].1.cmp(&allocation[a].1));
    for &i in by_remainder.iter().take((letters as u64 - given) as usize) {
        allocation[i].0.letters += 1;
    }
    allocation.into_iter().map(|(a, _)| a).collect()
}

/// Checks a plan's counts on their own: 1 to `address_count` letters, and areas (if any)
/// sorted, each within its addresses, adding up to the plan's totals.
pub fn check_plan(address_count: u32, letter_count: u32, areas: &[AreaLetters]) -> Result<(), LetterError> {
    if letter_count == 0 || letter_count > address_count {
        return Err(LetterError::LetterCount { letters: letter_count, addresses: address_count });
    }
    if areas.is_empty() {
        return Ok(());
    }
    for (i, area) in areas.iter().enumerate() {
        if i > 0 && areas[i - 1].area.as_bytes() >= area.area.as_bytes() {
            return Err(LetterError::AreasOutOfOrder { area: area.area.clone() });
        }
        if area.letters > area.addresses {
            return Err(LetterError::AreaOverfilled {
                area: area.area.clone(),
                addresses: area.addresses,
                letters: area.letters,
            });
        }
    }
    let addresses: u64 = areas.iter().map(|a| a.addresses as u64).sum();
    let letters: u64 = areas.iter().map(|a| a.letters as u64).sum();
    if addresses != address_count as u64 || letters != letter_count as u64 {
        return Err(LetterError::AreasDoNotAddUp {
            addresses,
            letters,
            planned_addresses: address_count,
            planned_letters: letter_count,
        });
    }
    Ok(())
}

/// The addresses the seed invites (docs/FORMAT.md §9.1), as indices into `addresses`: in each
/// area (or in the whole list, when the plan names no areas), the `letters` addresses of lowest
/// rank, ties by key. Returned area by area in the plan's order, each in rank order. The list
/// must be the one the plan counted.
pub fn draw_letters(
    addresses: &[Address<'_>],
    letter_count: u32,
    areas: &[AreaLetters],
    seed: &[u8],
) -> Result<Vec<usize>, LetterError> {
    let count = u32::try_from(addresses.len()).unwrap_or(u32::MAX);
    check_plan(count, letter_count, areas)?;
    let strata: Vec<(&str, u32)> = if areas.is_empty() {
        vec![("", letter_count)]
    } else {
        areas.iter().map(|a| (a.area.as_str(), a.letters)).collect()
    };
    let mut members: Vec<Vec<(Hash256, &[u8], usize)>> = vec![Vec::new(); strata.len()];
    for (i, address) in addresses.iter().enumerate() {
        let stratum = if areas.is_empty() {
            0
        } else {
            areas
                .binary_search_by(|a| a.area.as_bytes().cmp(address.area.as_bytes()))
                .map_err(|_| LetterError::UnknownArea { area: address.area.to_string() })?
        };
        members[stratum].push((letter_rank(seed, address.key), address.key, i));
    }
    let mut invited = Vec::with_capacity(letter_count as usize);
    for (((area, letters), mut ranked), planned) in
        strata.iter().zip(members).zip(areas.iter().map(Some).chain(std::iter::repeat(None)))
    {
        if let Some(planned) = planned {
            if ranked.len() as u32 != planned.addresses {
                return Err(LetterError::AreaDiffers {
                    area: area.to_string(),
                    actual: ranked.len() as u32,
                    planned: planned.addresses,
                });
            }
        }
        ranked.sort();
        invited.extend(ranked.iter().take(*letters as usize).map(|(_, _, i)| *i));
    }
    Ok(invited)
}
