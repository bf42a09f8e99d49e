//! The fake GitHub server's response fixtures (`tests/fixtures/`) match GitHub's OpenAPI
//! description of the same operations, and that check does fail on a body that doesn't.
//! Skipped, with a note on stderr, when the description isn't installed (see `common::openapi`).

mod common;

use common::openapi::OpenApi;
use serde_json::{Value, json};

const REPO: &str = "/repos/octo-org/octo-repo";
const HEAD_SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn fixtures_match_github_openapi() {
    let Some(api) = OpenApi::shared() else { return };
    let cases = [
        ("pull.json", "GET", format!("{REPO}/pulls/42"), 200),
        ("reviews.json", "GET", format!("{REPO}/pulls/42/reviews"), 200),
        ("check_runs.json", "GET", format!("{REPO}/commits/{HEAD_SHA}/check-runs"), 200),
        ("status.json", "GET", format!("{REPO}/commits/{HEAD_SHA}/status"), 200),
        ("repo.json", "GET", REPO.to_owned(), 200),
        ("pulls.json", "GET", format!("{REPO}/pulls"), 200),
        ("merge.json", "PUT", format!("{REPO}/pulls/42/merge"), 200),
        ("error_404.json", "GET", format!("{REPO}/pulls/42"), 404),
        ("error_409.json", "PUT", format!("{REPO}/pulls/42/merge"), 409),
        // 403 isn't listed for this operation: checked against `basic-error`.
        ("error_403_rate.json", "GET", format!("{REPO}/pulls/42"), 403),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, method, path, status)| {
            api.check(method, path, *status, &fixture(name)).err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_check_rejects_what_github_would_not_send() {
    let Some(api) = OpenApi::shared() else { return };
    let pull_path = format!("{REPO}/pulls/42");

    let mut pull = fixture("pull.json");
    pull["number"] = json!("42");
    let err = api.check("GET", &pull_path, 200, &pull).unwrap_err();
    assert!(err.contains("/number"), "{err}");

    let mut pull = fixture("pull.json");
    pull.as_object_mut().unwrap().remove("head");
    assert!(api.check("GET", &pull_path, 200, &pull).is_err());

    // `/pulls/comments` is a literal template of its own (an array), not `{pull_number}`.
    let comments = format!("{REPO}/pulls/comments");
    assert!(api.check("GET", &comments, 200, &fixture("pull.json")).is_err());
    assert!(api.check("GET", &comments, 200, &json!([])).is_ok());

    // "Is it merged?" answers 204 with no body.
    let merged = format!("{REPO}/pulls/42/merge");
    assert!(api.check("GET", &merged, 204, &Value::Null).is_ok());
    assert!(api.check("GET", &merged, 204, &json!({})).is_err());

    assert!(api.check("GET", "/no/such/endpoint/at/all", 200, &Value::Null).is_err());
}
