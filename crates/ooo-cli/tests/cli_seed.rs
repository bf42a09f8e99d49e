//! `ooo seed ...` end to end in a temporary home, with snapshots.

mod common;

use common::{TestHome, with_filters};
use insta::assert_snapshot;
use std::path::PathBuf;

const VALID: &str = r#"goal: Build a hello CLI
constraints:
- No dependencies
acceptance_criteria:
- CLI exits 0
- description: Prints a greeting
  verify_command: ./hello
  output_assertion: hello
  expected_artifacts: [src/main.rs]
ontology_schema:
  name: HelloCli
  description: Hello CLI domain
  fields:
  - {name: greeting, type: string, description: What is printed}
evaluation_principles: [clarity]
exit_conditions: [all criteria pass]
metadata:
  seed_id: seed_hello_v1
  created_at: "2026-07-02T00:00:00Z"
plugin_notes: {owner: docs}
"#;

const INVALID: &str = r#"goal: ""
acceptance_criteria:
- description: Writes the report
  expected_artifacts: [/tmp/report.txt, out/ok.txt]
  output_assertion: done
- 42
ontology_schema: {name: X, description: Y, colour: blue}
metadata: {ambiguity_score: 3}
"#;

fn write(t: &TestHome, name: &str, text: &str) -> PathBuf {
    let path = t.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn validate_valid_and_invalid() {
    let t = TestHome::new();
    let good = write(&t, "good.yaml", VALID);
    let bad = write(&t, "bad.yaml", INVALID);
    with_filters(&t, || {
        assert_snapshot!("validate_ok", t.ok(&["seed", "validate", good.to_str().unwrap()]));
        let out = t.ooo().args(["seed", "validate", bad.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_snapshot!("validate_bad_human", String::from_utf8(out.stderr).unwrap());
        let out =
            t.ooo().args(["seed", "validate", "--json", bad.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_snapshot!("validate_bad_json", String::from_utf8(out.stdout).unwrap());
    });
    assert!(!t.home().exists(), "validating touches no home");
}

#[test]
fn validate_refuses_oversized_and_missing_files() {
    let t = TestHome::new();
    let big = write(&t, "big.yaml", &format!("goal: \"{}\"\n", "x".repeat(1_000_001)));
    let out = t.ooo().args(["seed", "validate", big.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the 1000000-byte seed limit"));
    let out = t.ooo().args(["seed", "validate", "/nonexistent/seed.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: cannot read /nonexistent/seed.yaml")
    );
}

#[test]
fn show_json_has_keys_on_every_criterion() {
    let t = TestHome::new();
    let good = write(&t, "good.yaml", VALID);
    let out = t.ok(&["seed", "show", "--json", good.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let acs = v["acceptance_criteria"].as_array().unwrap();
    assert_eq!(acs.len(), 2);
    for c in acs {
        assert!(c.is_object());
        assert!(c["semantic_ac_key"].as_str().unwrap().starts_with("ac_"));
    }
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.first().unwrap().as_str(), "goal");
    assert_eq!(keys.last().unwrap().as_str(), "plugin_notes");
    with_filters(&t, || {
        assert_snapshot!("show_yaml", t.ok(&["seed", "show", good.to_str().unwrap()]))
    });
}

#[test]
fn save_list_lineage_diff() {
    let t = TestHome::new();
    let v1 = write(&t, "v1.yaml", VALID);
    let v2_text = VALID
        .replace(
            "seed_id: seed_hello_v1",
            "seed_id: seed_hello_v2\n  parent_seed_id: seed_hello_v1",
        )
        .replace("goal: Build a hello CLI", "goal: Build a hello CLI with colour")
        .replace("- No dependencies", "- No dependencies\n- Works offline")
        .replace("output_assertion: hello", "output_assertion: hello there");
    let v2 = write(&t, "v2.yaml", &v2_text);
    with_filters(&t, || {
        assert_snapshot!("save_created", t.ok(&["seed", "save", v1.to_str().unwrap()]));
        assert_snapshot!("save_again", t.ok(&["seed", "save", v1.to_str().unwrap()]));
        t.ok(&["seed", "save", v2.to_str().unwrap()]);
        assert_snapshot!("list", t.ok(&["seed", "list"]));
        assert_snapshot!("lineage", t.ok(&["seed", "lineage", "seed_hello_v2"]));
        assert_snapshot!("diff_human", t.ok(&["seed", "diff", "seed_hello_v1", "seed_hello_v2"]));
        assert_snapshot!(
            "diff_json",
            t.ok(&["seed", "diff", "--json", "seed_hello_v1", v2.to_str().unwrap()])
        );
    });
    let list: Vec<serde_json::Value> = t
        .ok(&["seed", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["parent_seed_id"], "seed_hello_v1");
    // The ledger holds one seed.created per seed.
    let events = t.ok(&["ledger", "log", "--json", "--type", "seed.created"]);
    assert_eq!(events.lines().count(), 2);
    t.ok(&["ledger", "verify"]);
}

#[test]
fn changed_seed_under_the_same_id_is_refused() {
    let t = TestHome::new();
    let v1 = write(&t, "v1.yaml", VALID);
    t.ok(&["seed", "save", v1.to_str().unwrap()]);
    let changed =
        write(&t, "changed.yaml", &VALID.replace("Build a hello CLI", "Build something else"));
    let out = t.ooo().args(["seed", "save", changed.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || assert_snapshot!("save_conflict", String::from_utf8(out.stderr).unwrap()));
}

#[test]
fn tampered_saved_seed_is_refused() {
    let t = TestHome::new();
    let v1 = write(&t, "v1.yaml", VALID);
    t.ok(&["seed", "save", v1.to_str().unwrap()]);
    let saved = t.home().join("seeds/seed_hello_v1.yaml");
    let text =
        std::fs::read_to_string(&saved).unwrap().replace("No dependencies", "Any dependencies");
    std::fs::write(&saved, text).unwrap();
    let out = t.ooo().args(["seed", "show", "seed_hello_v1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("was changed on disk"), "{err}");
    // Saving the recorded seed again repairs the file, and says so.
    with_filters(&t, || {
        assert_snapshot!("save_repairs", t.shown(&["seed", "save", v1.to_str().unwrap()]))
    });
    t.ok(&["seed", "show", "seed_hello_v1"]);
    std::fs::remove_file(&saved).unwrap();
    let out = t.ok(&["seed", "save", "--json", v1.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["created"].as_bool(), report["repaired"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(saved.exists());
    assert_eq!(t.ok(&["ledger", "log", "--json", "--type", "seed.created"]).lines().count(), 1);
}

#[test]
fn unknown_seed_reference() {
    let t = TestHome::new();
    let out = t.ooo().args(["seed", "show", "seed_nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || assert_snapshot!("show_unknown", String::from_utf8(out.stderr).unwrap()));
    let out = t.ooo().args(["seed", "show", "../../etc/passwd"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither a seed file nor a saved seed id")
    );
}

/// The README's first command is the one `cli_run.rs`'s
/// `the_readme_first_command_runs_the_example_seed` runs (and `.ci/run` runs as is):
/// a change to it must change that test too.
#[test]
fn readme_first_command_is_the_one_tested() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let first = readme.lines().skip_while(|l| !l.starts_with("```sh")).nth(1).unwrap();
    assert_eq!(
        first,
        "cargo run --release -q -- run examples/seeds/hello.yaml --in target/hello && cargo run --release -q -- ledger verify",
        "README changed: update cli_run.rs's test of the first command"
    );
    // The example seed it runs is valid, and saving it records one event.
    let t = TestHome::new();
    let example = root.join("examples/seeds/hello.yaml");
    let out = t.ok(&["seed", "save", example.to_str().unwrap()]);
    assert!(out.starts_with("saved seed seed_hello_example"), "{out}");
    assert!(t.ok(&["ledger", "verify"]).starts_with("ok: 1 event(s) verified"));
}

#[test]
fn save_needs_a_stable_identity() {
    let t = TestHome::new();
    let no_time =
        write(&t, "no-time.yaml", &VALID.replace("  created_at: \"2026-07-02T00:00:00Z\"\n", ""));
    let out = t.ooo().args(["seed", "save", no_time.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("metadata.created_at is required to save the seed"), "{err}");
    assert!(!t.home().join("seeds").exists());
}

/// `validate` applies the rules `save` applies: the id must be written in the file and be
/// a file-safe name.
#[test]
fn validate_applies_the_save_rules() {
    let t = TestHome::new();
    let no_id = write(&t, "no-id.yaml", &VALID.replace("  seed_id: seed_hello_v1\n", ""));
    let bad_id = write(&t, "bad-id.yaml", &VALID.replace("seed_hello_v1", "../escape"));
    with_filters(&t, || {
        assert_snapshot!("validate_no_id", t.shown(&["seed", "validate", no_id.to_str().unwrap()]));
        assert_snapshot!(
            "validate_bad_id_json",
            t.shown(&["seed", "validate", "--json", bad_id.to_str().unwrap()])
        );
    });
}

/// A top-level key that is not a seed field but looks like one is most likely a typo:
/// the warning names the field.
#[test]
fn validate_names_the_field_a_misspelt_key_meant() {
    let t = TestHome::new();
    let typo = write(&t, "typo.yaml", &VALID.replace("constraints:", "constriants:"));
    with_filters(&t, || {
        assert_snapshot!("validate_typo", t.shown(&["seed", "validate", typo.to_str().unwrap()]))
    });
}

#[test]
fn validate_reads_standard_input() {
    let t = TestHome::new();
    let out = t.ooo().args(["seed", "validate", "-"]).write_stdin(VALID).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: standard input is a valid seed"));
    let json = VALID.replace("goal: Build a hello CLI", "goal: 42");
    let out = t.ooo().args(["seed", "validate", "--json", "-"]).write_stdin(json).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["file"], "standard input");
    assert_eq!(report["problems"][0]["path"], "goal", "{report}");
}

/// YAML syntax errors say where (the line and column of the mistake) and what, in
/// words for a reader of the file, not the parser's.
#[test]
fn yaml_errors_name_the_line_in_plain_words() {
    let t = TestHome::new();
    let unclosed =
        write(&t, "unclosed.yaml", "goal: g\nconstraints:\n  - a\n  - b: [\nmetadata: {}\n");
    let duplicate = write(&t, "duplicate.yaml", "goal: g\nconstraints: []\ngoal: h\n");
    let two = write(&t, "two.yaml", "goal: g\n---\ngoal: h\n");
    with_filters(&t, || {
        let shown: String = [&unclosed, &duplicate, &two]
            .iter()
            .map(|f| t.shown(&["seed", "validate", f.to_str().unwrap()]))
            .collect();
        assert_snapshot!("validate_yaml_errors", shown);
    });
}

/// `diff --exit-code` exits 1 when the seeds differ and 0 when they do not; a criterion
/// whose contract changed shows the fields that differ.
#[test]
fn diff_exit_code_and_changed_fields() {
    let t = TestHome::new();
    let v1 = write(&t, "v1.yaml", VALID);
    let same = write(&t, "same.yaml", VALID);
    let v2 = write(
        &t,
        "v2.yaml",
        &VALID.replace("verify_command: ./hello", "verify_command: ./hello --loud"),
    );
    let (a, b, c) = (v1.to_str().unwrap(), same.to_str().unwrap(), v2.to_str().unwrap());
    let code = |args: &[&str]| t.ooo().args(args).output().unwrap().status.code();
    assert_eq!(code(&["seed", "diff", "--exit-code", a, b]), Some(0));
    assert_eq!(code(&["seed", "diff", "--exit-code", a, c]), Some(1));
    assert_eq!(
        code(&["seed", "diff", a, c]),
        Some(0),
        "without the flag a difference is not a failure"
    );
    with_filters(&t, || assert_snapshot!("diff_changed_fields", t.shown(&["seed", "diff", a, c])));
}
