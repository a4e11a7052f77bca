//! The srcset parser against web-platform-tests' cases (`shared/data/conformance/srcset_cases.json`):
//! every parse case and every selection case must give the browser's `currentSrc`.

use image_chat_core::extract::srcset;
use image_chat_fixtures::skip::shared_or_skip;
use serde_json::Value;

/// "Wide" viewport of the WPT runs, in CSS pixels; only the selection between `w` candidates
/// depends on it, and none of the cases distinguishes 800 from any other wide width.
const VIEWPORT: f64 = 800.0;

fn cases(group: &str) -> Option<Vec<Value>> {
    let path = shared_or_skip("conformance/srcset_cases.json")?;
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Some(all[group].as_array().unwrap().clone())
}

/// `sizes` as the cases use it: absent (100vw) or a plain px length.
fn source_size(case: &Value) -> f64 {
    case.get("sizes")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().strip_suffix("px"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(VIEWPORT)
}

fn run(group: &str, expected_count: usize) {
    let Some(cases) = cases(group) else { return };
    assert_eq!(cases.len(), expected_count);
    let mut failures = Vec::new();
    for case in &cases {
        let input = case["srcset"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let parsed = srcset::parse(input);
        let got = srcset::select(&parsed, source_size(case)).map(|c| c.url.as_str()).unwrap_or("");
        if got != expect {
            failures.push(format!("{input:?}: expected {expect:?}, got {got:?} from {parsed:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn all_parse_cases_pass() {
    run("parse_srcset", 235);
}

#[test]
fn all_selection_cases_pass() {
    run("select_source", 13);
}
