//! robots.txt handling against Google's own test suite as data
//! (`shared/data/conformance/robots_test_cases.json`): all 145 allow/deny cases.

use image_chat_core::net::robots::Robots;
use image_chat_fixtures::skip::shared_or_skip;
use serde_json::Value;

#[test]
fn all_google_allow_deny_cases_pass() {
    let Some(path) = shared_or_skip("conformance/robots_test_cases.json") else { return };
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = data["allowed"].as_array().unwrap();
    assert_eq!(cases.len(), 145);
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| {
            let robots = Robots::parse(c["robotstxt"].as_str().unwrap());
            robots.allowed_for(c["user_agent"].as_str().unwrap(), c["url"].as_str().unwrap())
                != c["expected_allowed"].as_bool().unwrap()
        })
        .map(|c| format!("{} (line {}): {} {}", c["test"], c["line"], c["user_agent"], c["url"]))
        .collect();
    assert!(failures.is_empty(), "{} of 145 cases failed:\n{}", failures.len(), failures.join("\n"));
}
