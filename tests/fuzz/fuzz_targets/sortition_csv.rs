//! The Sortition Foundation's CSV files (quotas, with or without flex columns, and the pool),
//! and a letter lottery's address list: any text is read or refused by name and line, never a
//! panic. Input: the panel size, the features file, a NUL, the pool (also read as addresses).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&panel_size, rest)) = data.split_first() else { return };
    let (features, people) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let (Ok(features), Ok(people)) = (std::str::from_utf8(features), std::str::from_utf8(people)) else { return };
    // The pool's text as an address list, with its last column as the area or without one, and
    // the letters drawn from it: a count from the panel size, in proportion to each area.
    let last_column = people.lines().next().and_then(|header| header.split(',').next_back()).map(str::trim);
    for area_column in [None, last_column] {
        if let Ok(list) = klero_selection::read_address_list(people, area_column) {
            let count = u32::from(panel_size).clamp(1, list.rows.len() as u32);
            let areas = match area_column {
                Some(_) => klero_selection::letters::allocate_letters(&list.area_sizes(), count),
                None => Vec::new(),
            };
            let invited = klero_selection::letters::draw_letters(&list.addresses(), count, &areas, b"fuzz seed")
                .expect("a plan made from the list draws from it");
            assert_eq!(invited.len(), count as usize);
        }
    }
    if let Ok(quotas) = klero_selection::parse_features_csv(features) {
        let _ = klero_selection::build_instance(&quotas, people, u32::from(panel_size), &[]);
        // The pool's last column named as its household column, as `--households` would.
        if let Some(last) = people.lines().next().and_then(|header| header.split(',').next_back()) {
            let _ = klero_selection::build_instance(&quotas, people, u32::from(panel_size), &[last.trim().to_string()]);
        }
    }
});
