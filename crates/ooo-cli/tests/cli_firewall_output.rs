//! What `ooo <plugin> ...` prints, pinned by snapshots (human and `--json`): a plugin's
//! command list, unknown names and commands with their suggestions, a gate's refusal
//! with its fix, and `ooo plugin log`. Also the hooks that only some runs reach:
//! `on_cancel` after Ctrl-C, and schema 0.2 hooks, which load but never run.

mod common;

use common::firewall::{
    install, last_invocation, ran, running_with, spawn_on_terminal, types, wait_for,
};
use common::{TestHome, with_filters};
use insta::assert_snapshot;
use serde_json::json;
use std::fs;
use std::process::Stdio;

#[test]
fn listings_suggestions_refusals_and_the_plugin_log() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    with_filters(&t, || {
        let mut settings = insta::Settings::clone_current();
        // Durations vary run to run.
        // (with the padding before them: the column width follows the digits).
        settings.add_filter(r" +\d+ ms\b", " [N] ms");
        settings.add_filter(r#""duration_ms":\d+"#, r#""duration_ms":[N]"#);
        settings.bind(|| {
            assert_snapshot!("plugin_commands", t.shown(&["demo"]));
            assert_snapshot!("unknown_command", t.shown(&["demo", "sya"]));
            assert_snapshot!("unknown_plugin", t.shown(&["dem", "say"]));
            assert_snapshot!("confirmation_refused", t.shown(&["demo", "wipe"]));
            assert_snapshot!("ran", t.shown(&["demo", "say", "hi", "--password", "hunter2"]));
            assert_snapshot!("plugin_log_human", t.shown(&["plugin", "log", "demo"]));
            assert_snapshot!("plugin_log_json", t.shown(&["plugin", "log", "demo", "--json"]));
        });
    });
}

#[test]
fn on_cancel_hooks_run_after_ctrl_c() {
    let t = TestHome::new();
    let hooks = json!([
        {"name": "on_cancel", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]},
        {"name": "on_error", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]}
    ]);
    install(&t, "demo", "./run.sh", hooks);
    let mut child = t.std_ooo().args(["demo", "sleep"]).stdin(Stdio::null()).spawn().unwrap();
    wait_for(&t.home().join("plugin-state/demo/grandchild"));
    // SAFETY: sending SIGINT to the ooo process we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let hooks = fs::read_to_string(t.home().join("plugin-state/demo/hooks")).unwrap();
    assert!(hooks.lines().any(|h| h == "on_cancel"), "on_cancel ran: {hooks:?}");
    let events = types(&last_invocation(&t));
    assert!(events.contains(&"plugin.hook.invoked".to_string()), "{events:?}");
}

/// On a terminal the plugin owns Ctrl-C: one that catches it and exits 130 was
/// cancelled (on_cancel runs, not on_error). `script` provides the terminal.
#[test]
fn ctrl_c_on_a_terminal_is_a_cancellation() {
    use std::io::Write;
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("skipping: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let t = TestHome::new();
    let hooks = json!([
        {"name": "on_cancel", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]},
        {"name": "on_error", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]}
    ]);
    install(&t, "demo", "./run.sh", hooks);
    let mut child = spawn_on_terminal(&t, "demo trapint");
    wait_for(&t.home().join("plugin-state/demo/ready"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("caught"), "{screen}");
    let hooks = fs::read_to_string(t.home().join("plugin-state/demo/hooks")).unwrap();
    assert_eq!(hooks.lines().collect::<Vec<_>>(), ["on_cancel"], "{screen}");
    // The rest of the group (a background child that ignores SIGINT) is gone too.
    assert!(t.home().join("plugin-state/demo/straggler").exists(), "the straggler started");
    assert!(
        !running_with(&t.home().join("plugin-state/demo")),
        "the plugin's sandbox outlived the cancel"
    );
    let events = last_invocation(&t);
    let done = events.iter().find(|e| e["event_type"] == "plugin.failed").unwrap();
    assert_eq!(done["payload"]["provenance"]["reason"], "cancelled", "{done}");
}

#[test]
fn schema_0_2_hooks_load_but_never_run() {
    let t = TestHome::new();
    let mut m = common::firewall::manifest(
        "old",
        "1.0.0",
        "./run.sh",
        json!([{"name": "before_invocation", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]}]),
    );
    m["schema_version"] = json!("0.2");
    common::firewall::install_manifest(&t, "old", &m);
    t.ok(&["old", "say"]);
    assert_eq!(ran(&t, "old"), ["say"]);
    assert!(!t.home().join("plugin-state/old/hooks").exists(), "a 0.2 hook never runs");
    let events = types(&last_invocation(&t));
    assert!(!events.iter().any(|e| e.starts_with("plugin.hook")), "{events:?}");
}
