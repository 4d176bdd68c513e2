//! The browser's verifier on the golden fixture (tests/tests/golden): every slice cut from it
//! checks, its fold rebuilds every golden view byte for byte, and every page renders.

use klero_browser::{check, CheckRequest};
use klero_domain::AssemblyId;
use klero_projections::ViewName;
use klero_testkit::fixture;
use klero_verifier::slice::{cut, verify_slice, SliceOptions, SliceTarget, WholeLog};
use std::collections::HashMap;

fn golden_views() -> HashMap<String, String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/tests/golden/record-vectors.txt"))
            .expect("record vectors");
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(key, _)| key.starts_with("view[") && key.ends_with("].json"))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn targets(fixture: &fixture::Fixture) -> Vec<(SliceTarget, String)> {
    let id = AssemblyId::parse(fixture::ASSEMBLY).expect("id");
    let mut targets = vec![
        (SliceTarget::Assembly(id.clone()), format!("/assemblies/{id}")),
        (SliceTarget::Submissions { assembly: id.clone(), page: 1 }, format!("/assemblies/{id}/submissions")),
        (SliceTarget::Index { after: None }, "/".to_string()),
        (SliceTarget::Dashboard { after: None }, "/dashboard".to_string()),
    ];
    for index in 0..fixture.export.events.len() as u64 {
        targets.push((SliceTarget::Event(index), format!("/events/{index}")));
    }
    targets
}

#[test]
fn every_slice_of_the_fixture_checks_and_its_views_are_the_golden_ones() {
    let fixture = fixture::lifecycle();
    let export = &fixture.export;
    let note = export.checkpoints.last().expect("the fixture has a checkpoint");
    let golden = golden_views();
    assert!(!golden.is_empty(), "record-vectors.txt holds view lines");
    for (target, page) in targets(&fixture) {
        let documents = HashMap::new();
        let whole = WholeLog {
            envelopes: &export.events,
            log_key: &export.log_key,
            trust_root: export.trust_root,
            documents: &documents,
            openings: &[],
        };
        let slice = cut(&whole, note, &target, &[]).unwrap_or_else(|e| panic!("{page}: {e:?}"));
        let text = slice.encode();
        assert_eq!(klero_verifier::slice::Slice::parse(&text).expect("parses"), slice, "{page}: the text round-trips");
        let verified =
            verify_slice(&slice, &target, &SliceOptions::default()).unwrap_or_else(|f| panic!("{page}: {f}"));
        if let SliceTarget::Assembly(id) = &target {
            for name in ViewName::ALL {
                let rendered = verified.fold.views().render(name, id).expect("view");
                let key = format!("view[{}/{}].json", name.as_str(), fixture::ASSEMBLY);
                assert_eq!(Some(&rendered.json), golden.get(&key), "{page}: {key} differs from the golden vector");
            }
        }
        let result = check(&CheckRequest { page: page.clone(), ..CheckRequest::default() }, &text);
        assert!(result.ok, "{page}: {:?}", result.failure);
        assert!(result.body.as_deref().is_some_and(|body| body.contains("<main")), "{page}: a page is rendered");
    }
}
