//! The golden slice vectors (klero_testkit::slices), judged by the native code: every honest
//! slice checks and every attacked one fails with its class.

use klero_browser::{check, CheckRequest};
use klero_testkit::slices::slice_cases;

#[test]
fn every_honest_slice_checks_and_every_attack_fails_with_its_class() {
    let cases = slice_cases();
    assert!(cases.len() >= 25, "the cases cover every kind of attack");
    let mut wrong = Vec::new();
    for case in &cases {
        let request: CheckRequest = serde_json::from_value(case.request.clone()).expect("a request");
        let result = check(&request, &case.slice.encode());
        let got = result.failure.as_ref().map(|f| f.class);
        if got != case.expect {
            wrong.push(format!(
                "{}: expected {:?}, got {:?} ({:?})",
                case.name,
                case.expect,
                got,
                result.failure.map(|f| f.reason)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
