//! Tile paths, bundles and the witness's request body (FORMAT.md §12–13): parsed or refused,
//! never a panic; a parsed path has exactly one spelling.
#![no_main]
use klero_ledger::tiles::{parse_entry_bundle, parse_envelope_bundle, parse_hash_tile, TilePath};
use klero_ledger::witness::AddCheckpointRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(tile) = TilePath::parse(text) {
            assert_eq!(tile.to_path(), text);
            let _ = tile.tree_size_needed();
        }
    }
    if let Ok(request) = AddCheckpointRequest::parse(data) {
        assert_eq!(AddCheckpointRequest::parse(request.to_body().as_bytes()), Ok(request));
    }
    if let Some((&width, bundle)) = data.split_first() {
        let width = usize::from(width);
        let _ = parse_entry_bundle(bundle, width);
        let _ = parse_envelope_bundle(bundle, width);
        let _ = parse_hash_tile(bundle, width);
    }
});
