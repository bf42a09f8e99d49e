//! `config.toml` through the real binary: `ooo config check` and `ooo config show` on a
//! valid file, an unknown key, a bad value, a TOML syntax error and a check beyond TOML,
//! and the sandbox policy failing closed (an invalid file stops a plugin from running).

mod common;

use common::firewall::{install, ran};
use common::{TestHome, with_filters};
use insta::assert_snapshot;
use serde_json::{Value, json};

fn with_config(text: &str) -> TestHome {
    let t = TestHome::new();
    std::fs::create_dir_all(t.home()).unwrap();
    std::fs::write(t.home().join("config.toml"), text).unwrap();
    t
}

const VALID: &str = r#"# mine
sandbox = "require"

[runtime]
default = "local"

[runtime.claude]
model = "claude-sonnet-4-5"

[runtime.local]
kind = "openai"
base_url = "http://localhost:11434/v1"
model = "llama3.1"
api_key_env = "LOCAL_KEY"
"#;

#[test]
fn a_valid_file_checks_and_shows_where_each_setting_comes_from() {
    let t = with_config(VALID);
    with_filters(&t, || {
        assert_snapshot!("check_valid", t.shown(&["config", "check"]));
        assert_snapshot!("show_valid", t.shown(&["config", "show"]));
        assert_snapshot!("show_valid_json", t.shown(&["config", "show", "--json"]));
    });
    let shown: Value = serde_json::from_str(&t.ok(&["config", "show", "--json"])).unwrap();
    let sandbox = shown["settings"].as_array().unwrap().iter().find(|s| s["key"] == "sandbox");
    assert_eq!(
        sandbox,
        Some(&json!({"key": "sandbox", "value": "require", "source": "config.toml", "line": 2}))
    );
}

#[test]
fn the_environment_overrides_the_file() {
    let t = with_config(VALID);
    let out = t.ooo().env("OUROBOROS_RUNTIME", "claude").args(["config", "show"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("runtime.default ")).unwrap();
    assert!(
        line.contains("claude")
            && line.contains("environment (OUROBOROS_RUNTIME)")
            && line.contains("overrides \"local\" in config.toml line 5"),
        "{line}"
    );
}

#[test]
fn no_file_is_every_default_and_creates_nothing() {
    let t = TestHome::new();
    with_filters(&t, || {
        assert_snapshot!("check_absent", t.shown(&["config", "check"]));
        assert_snapshot!("show_absent", t.shown(&["config", "show"]));
    });
    assert!(!t.home().exists(), "config commands only read");
}

/// Each problem names the file, the line and what is valid, and exits 1.
#[test]
fn each_problem_names_the_file_the_line_and_what_is_valid() {
    let cases = [
        ("unknown_key", "sandbox = \"require\"\nsandbx = \"require\"\n"),
        ("bad_value", "sandbox = \"required\"\n"),
        ("syntax_error", "sandbox = \"require\"\n[runtime\ndefault = \"claude\"\n"),
        ("bad_base_url", "[runtime.local]\nkind = \"openai\"\nbase_url = \"localhost:11434\"\n"),
    ];
    for (name, text) in cases {
        let t = with_config(text);
        let check = t.shown(&["config", "check"]);
        assert!(check.ends_with("--- exit 1\n"), "{name}: {check}");
        assert_eq!(t.shown(&["config", "show"]), check, "{name}: show reports it the same way");
        with_filters(&t, || assert_snapshot!(format!("check_{name}"), check));
    }
}

/// The sandbox policy never fails open: a file that says `sandbox = "required"` (a
/// typo), or `sandbox = "require"` next to a TOML error, stops the plugin before it
/// runs, whatever sandbox this kernel offers.
#[test]
fn an_invalid_file_stops_plugins_from_running() {
    for text in ["sandbox = \"required\"\n", "sandbox = \"require\"\n[runtime\n"] {
        let t = TestHome::new();
        install(&t, "demo", "./run.sh", json!([]));
        std::fs::write(t.home().join("config.toml"), text).unwrap();
        let shown = t.shown(&["demo", "say", "hi"]);
        assert!(shown.ends_with("--- exit 1\n"), "{text:?}: {shown}");
        assert!(shown.contains("config.toml, line "), "{text:?}: {shown}");
        assert!(ran(&t, "demo").is_empty(), "{text:?}: the plugin ran");
        if text.ends_with("\"required\"\n") {
            with_filters(&t, || assert_snapshot!("plugin_refused_bad_config", shown));
        }
    }
}
