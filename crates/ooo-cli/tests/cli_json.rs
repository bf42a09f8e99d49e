//! The one `--json` convention (README, "`--json`") through the real binary: a list is
//! JSON lines, a failure under `--json` is one `{"error": ...}` object on standard output
//! (nothing on standard error) with the exit code it has without `--json`, and a usage
//! error stays the argument parser's, on standard error.

mod common;

use common::{TestHome, with_filters};
use insta::assert_snapshot;
use serde_json::Value;

/// Every line of `text` parsed as one JSON object.
fn objects(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

#[test]
fn a_failure_under_json_is_one_error_object_on_stdout() {
    let failing: [&[&str]; 5] = [
        &["ledger", "verify"],
        &["seed", "show", "seed_missing"],
        &["seed", "lineage", "seed_missing"],
        &["plugin", "inspect", "nope"],
        &["runtime", "check", "nope"],
    ];
    for args in failing {
        // A fresh home each time: `ledger verify` fails only where there is no ledger.
        let t = TestHome::new();
        let human = t.ooo().args(args).output().unwrap();
        let out = t.ooo().args(args).arg("--json").output().unwrap();
        assert_ne!(human.status.code(), Some(0), "{args:?} should fail");
        assert_eq!(out.status.code(), human.status.code(), "{args:?}: the same exit code");
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let found = objects(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(found.len(), 1, "{args:?}: one object");
        let error = &found[0]["error"];
        // The same message and hint a person sees, as fields.
        let mut expected = format!("error: {}\n", error["message"].as_str().unwrap());
        for cause in error["causes"].as_array().unwrap() {
            expected.push_str(&format!("caused by: {}\n", cause.as_str().unwrap()));
        }
        if let Some(hint) = error["hint"].as_str() {
            expected.push_str(&format!("hint: {hint}\n"));
        }
        assert_eq!(String::from_utf8(human.stderr).unwrap(), expected, "{args:?}");
    }
    let t = TestHome::new();
    with_filters(&t, || {
        assert_snapshot!("error_under_json", t.shown(&["seed", "show", "seed_missing", "--json"]))
    });
}

#[test]
fn lists_are_json_lines_with_numbers_as_numbers() {
    let t = TestHome::new();
    assert_eq!(t.ok(&["plugin", "list", "--json"]), "", "an empty list is no lines");
    assert_eq!(t.ok(&["seed", "list", "--json"]), "", "an empty list is no lines");
    t.note("one", None);
    t.note("two", None);
    let events = objects(&t.ok(&["ledger", "log", "--json"]));
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("a number")).collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(objects(&t.ok(&["ledger", "export"])), events, "export is the same lines");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds/hello-cli.yaml");
    t.ok(&["seed", "save", example.to_str().unwrap()]);
    let seeds = objects(&t.ok(&["seed", "list", "--json"]));
    assert_eq!(seeds.len(), 1);
    assert_eq!(seeds[0]["seed_id"], "seed_hello_cli_example");
}

#[test]
fn a_usage_error_is_the_parsers_whatever_the_flags() {
    let t = TestHome::new();
    let out = t.ooo().args(["seed", "list", "--json", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}
