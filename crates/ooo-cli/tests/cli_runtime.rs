//! `ooo runtime list | check` through the real binary: discovery on a controlled PATH,
//! the selection order and its reasons, config errors, live checks against the loopback
//! fake model (an HTTP provider, and the real Claude Code CLI when installed), and the
//! journal record each check leaves in the ledger.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{TestHome, with_filters};
use ooo_fake_model::{FakeModel, Reply};

/// A directory of fake CLIs that only answer `--version`, plus the system's tools.
fn bin_dir(home: &TestHome, clis: &[(&str, &str)]) -> String {
    let bin = home.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, version) in clis {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:/usr/bin:/bin", bin.display())
}

fn write_config(home: &TestHome, text: &str) {
    std::fs::create_dir_all(home.home()).unwrap();
    std::fs::write(home.home().join("config.toml"), text).unwrap();
}

/// `ooo args` with PATH replaced, shown for a snapshot.
fn shown_with(home: &TestHome, path: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = home.std_ooo();
    cmd.env("PATH", path).args(args).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    format!(
        "{}--- stderr\n{}--- exit {}\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
}

#[test]
fn nothing_installed_says_what_to_install() {
    let home = TestHome::new();
    let path = bin_dir(&home, &[]);
    with_filters(&home, || {
        insta::assert_snapshot!(
            "runtime_list_none",
            shown_with(&home, &path, &[], &["runtime", "list"])
        );
    });
}

#[test]
fn list_finds_clis_checks_versions_and_explains_the_default() {
    let home = TestHome::new();
    let path = bin_dir(&home, &[("claude", "2.1.332 (Claude Code)"), ("codex", "codex-cli 0.1.0")]);
    with_filters(&home, || {
        insta::assert_snapshot!(
            "runtime_list_human",
            shown_with(&home, &path, &[], &["runtime", "list"])
        );
        insta::assert_snapshot!(
            "runtime_list_json",
            shown_with(
                &home,
                &path,
                &[("ANTHROPIC_API_KEY", "sk-test-0123456789")],
                &["runtime", "list", "--json"]
            )
        );
    });
}

#[test]
fn selection_order_is_flag_then_env_then_config() {
    let home = TestHome::new();
    let path = bin_dir(&home, &[("claude", "2.1.332 (Claude Code)")]);
    write_config(&home, "[runtime]\ndefault = \"gemini\"\n");
    let default_of = |env: &[(&str, &str)], extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["runtime", "list", "--json"];
        args.extend(extra);
        let text = shown_with(&home, &path, env, &args);
        let json_line = text.lines().next().unwrap();
        serde_json::from_str::<serde_json::Value>(json_line).unwrap()["default"].clone()
    };
    let d = default_of(&[("OUROBOROS_RUNTIME", "opencode")], &["--runtime", "codex"]);
    assert_eq!((d["name"].as_str(), d["reason"].as_str()), (Some("codex"), Some("--runtime")));
    let d = default_of(&[("OUROBOROS_RUNTIME", "opencode")], &[]);
    assert_eq!(d["name"], "opencode");
    let d = default_of(&[], &[]);
    assert_eq!(
        (d["name"].as_str(), d["reason"].as_str()),
        (Some("gemini"), Some("[runtime] default in config.toml"))
    );
}

#[test]
fn a_bad_config_names_the_file_and_line() {
    let home = TestHome::new();
    let path = bin_dir(&home, &[]);
    write_config(&home, "[runtime.claude]\npath = \"/x\"\nmodle = \"m\"\n");
    with_filters(&home, || {
        insta::assert_snapshot!(
            "runtime_bad_config",
            shown_with(&home, &path, &[], &["runtime", "list"])
        );
    });
}

fn local_provider(home: &TestHome, fake: &FakeModel) {
    write_config(
        home,
        &format!(
            "[runtime.local]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"small-model\"\napi_key_env = \"LOCAL_KEY\"\n",
            fake.base_url()
        ),
    );
}

#[test]
fn check_an_http_provider_round_trip_is_journaled() {
    let home = TestHome::new();
    let path = bin_dir(&home, &[]);
    let fake = FakeModel::start();
    fake.require_key("sk-local-0123456789");
    fake.push(Reply::text("OOO-RUNTIME-OK").model("small-model-2026"));
    local_provider(&home, &fake);
    let out = shown_with(
        &home,
        &path,
        &[("LOCAL_KEY", "sk-local-0123456789")],
        &["runtime", "check", "local", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(report["ok"], true, "{out}");
    assert_eq!(report["model"], "small-model-2026");
    assert!(report["latency_ms"].as_u64().is_some());
    // The call is in the ledger, with the model returned, and without the key.
    let log = home.ok(&["ledger", "log", "--type", "runtime", "--json"]);
    let event: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(event["event_type"], "runtime.llm.called");
    assert_eq!(event["payload"]["model_returned"], "small-model-2026");
    assert_eq!(event["payload"]["model_requested"], serde_json::Value::Null);
    assert!(!log.contains("sk-local-0123456789"));
}

#[test]
fn check_failures_name_the_fix() {
    let home = TestHome::new();
    let path = bin_dir(&home, &[]);
    let fake = FakeModel::start();
    fake.require_key("sk-right-0123456789");
    local_provider(&home, &fake);
    with_filters(&home, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&fake.base_url().replace('.', r"\."), "http://[FAKE]");
        settings.bind(|| {
            insta::assert_snapshot!(
                "runtime_check_no_key",
                shown_with(&home, &path, &[], &["runtime", "check", "local"])
            );
            insta::assert_snapshot!(
                "runtime_check_wrong_key",
                shown_with(
                    &home,
                    &path,
                    &[("LOCAL_KEY", "sk-wrong-0123456789")],
                    &["runtime", "check", "local"]
                )
            );
            insta::assert_snapshot!(
                "runtime_check_unknown",
                shown_with(&home, &path, &[], &["runtime", "check", "nope"])
            );
            insta::assert_snapshot!(
                "runtime_check_missing_cli",
                shown_with(&home, &path, &[], &["runtime", "check", "codex"])
            );
        });
    });
    drop(fake);
    // Nothing listening: the hint asks whether the server runs.
    let out =
        shown_with(&home, &path, &[("LOCAL_KEY", "k-0123456789")], &["runtime", "check", "local"]);
    assert!(out.contains("running?"), "{out}");
}

fn claude_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/npm/node_modules/@anthropic-ai/claude-code-linux-x64/claude");
    if path.exists() {
        return Some(path);
    }
    let how = "claude is not installed under target/npm; run .ci/run, or: npm install --prefix target/npm --no-save --ignore-scripts @anthropic-ai/claude-code@2.1.332";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{how}");
    eprintln!("skipped: {how}");
    None
}

#[test]
fn check_the_real_claude_cli_against_the_fake() {
    let Some(claude) = claude_binary() else { return };
    let home = TestHome::new();
    let path = bin_dir(&home, &[]);
    let fake = FakeModel::start();
    fake.push(Reply::text("OOO-RUNTIME-OK"));
    write_config(
        &home,
        &format!(
            "[runtime.claude]\npath = \"{}\"\nbase_url = \"{}\"\n",
            claude.display(),
            fake.base_url()
        ),
    );
    let config_dir = home.dir.path().join("claude-config");
    let out = shown_with(
        &home,
        &path,
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-test-0123456789"),
            ("CLAUDE_CONFIG_DIR", config_dir.to_str().unwrap()),
        ],
        &["runtime", "check", "claude", "--json"],
    );
    let report: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["ok"], true, "{out}");
    let log = home.ok(&["ledger", "log", "--type", "runtime.run", "--json"]);
    let types: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["runtime.run.started", "runtime.run.finished"]);
    assert!(log.contains("\"runtime_version\":\"2.1.332 (Claude Code)\""), "{log}");
    assert!(!log.contains("sk-ant-test-0123456789"));
}
