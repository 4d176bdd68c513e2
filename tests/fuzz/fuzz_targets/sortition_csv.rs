//! The Sortition Foundation's CSV files (quotas and the pool): any text is read or refused
//! by name and line, never a panic. Input: the panel size, the features file, a NUL, the pool.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&panel_size, rest)) = data.split_first() else { return };
    let (features, people) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let (Ok(features), Ok(people)) = (std::str::from_utf8(features), std::str::from_utf8(people)) else { return };
    if let Ok(quotas) = klero_selection::parse_features_csv(features) {
        let _ = klero_selection::build_instance(&quotas, people, u32::from(panel_size), &[]);
        // The pool's last column named as its household column, as `--households` would.
        if let Some(last) = people.lines().next().and_then(|header| header.split(',').next_back()) {
            let _ = klero_selection::build_instance(&quotas, people, u32::from(panel_size), &[last.trim().to_string()]);
        }
    }
});
