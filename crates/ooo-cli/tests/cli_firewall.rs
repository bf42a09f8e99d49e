//! `ooo <plugin> <command>` end to end: small shell-script plugins installed into a
//! temporary home, run through the real binary.

mod common;

use common::TestHome;
use common::firewall::{
    SCRIPT, check_schema, install, last_invocation, manifest, ran, running_with, spawn_on_terminal,
    trust_all, types, wait_for,
};
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn happy_path_records_the_story_in_order() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let out = t
        .ooo()
        .env("API_TOKEN", "s3cr3t-value")
        .args(["demo", "say", "hello", "--token", "tok-123456"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("said: hello --token tok-123456"),
        "the real argv reaches the plugin: {stdout}"
    );
    assert!(stdout.contains("secret seen: none"), "caller secrets are not passed: {stdout}");
    let events = last_invocation(&t);
    assert_eq!(
        types(&events),
        [
            "plugin.invoked",
            "plugin.permission_used",
            "plugin.permission_used",
            "plugin.permission_used",
            "plugin.completed"
        ]
    );
    check_schema(&events);
    let done = &events[4]["payload"];
    assert_eq!(done["result"]["status"], "success");
    assert_eq!(done["provenance"]["exit_code"], "0");
    assert_eq!(done["provenance"]["stdout_bytes"], stdout.len().to_string());
    let log = t.ok(&["ledger", "log", "--json", "--aggregate", "plugin_invocation"]);
    assert!(!log.contains("tok-123456"), "the token must not reach the ledger");
    assert!(events[0]["payload"]["command"]["argv"].to_string().contains("[redacted]"));
    assert_eq!(
        t.ooo().args(["demo-ns", "say"]).output().unwrap().status.code(),
        Some(0),
        "the namespace works too"
    );
    let runs = t.ok(&["plugin", "log", "demo", "--json"]);
    assert_eq!(runs.lines().count(), 2);
}

#[test]
fn every_gate_refuses_without_running_the_plugin() {
    let t = TestHome::new();
    let src = install(&t, "demo", "./run.sh", json!([]));
    // Unknown command: exit 2, nothing recorded.
    let before = t.ok(&["ledger", "log", "--json"]).lines().count();
    assert_eq!(t.ooo().args(["demo", "nope"]).output().unwrap().status.code(), Some(2));
    assert_eq!(t.ok(&["ledger", "log", "--json"]).lines().count(), before);
    // Confirmation without a terminal.
    let out = t.std_ooo().args(["demo", "wipe"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ooo --confirm demo wipe"));
    assert_eq!(types(&last_invocation(&t)), ["plugin.failed"]);
    // Disabled.
    t.ok(&["plugin", "disable", "demo"]);
    let out = t.ooo().args(["demo", "say"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ooo plugin trust demo"));
    // Not trusted (after re-enable without the run scope: reinstall voids nothing, so
    // remove and install again).
    t.ok(&["plugin", "remove", "demo"]);
    t.ok(&["plugin", "install", "demo", "--from", src.to_str().unwrap()]);
    let out = t.ooo().args(["demo", "say"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("ooo plugin trust demo --scope demo:run"), "{err}");
    check_schema(&last_invocation(&t));
    // Tampered after trust.
    trust_all(&t, "demo");
    fs::write(t.home().join("plugins/demo/run.sh"), "#!/bin/sh\necho pwned > /tmp/pwned\n")
        .unwrap();
    let out = t.ooo().args(["demo", "say"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let failed = &last_invocation(&t)[0]["payload"];
    assert_eq!(failed["result"]["status"], "trust_subject_changed");
    let fix = format!("ooo plugin install demo --from {}", src.canonicalize().unwrap().display());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&fix),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ran(&t, "demo").is_empty(), "no gate let the plugin run");
}

#[test]
fn exits_timeouts_and_start_failures() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    assert_eq!(t.ooo().args(["demo", "fail"]).output().unwrap().status.code(), Some(3));
    assert_eq!(last_invocation(&t).last().unwrap()["payload"]["result"]["status"], "failed");
    let started = Instant::now();
    assert_eq!(t.ooo().args(["demo", "sleep"]).output().unwrap().status.code(), Some(124));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(t.home().join("plugin-state/demo/grandchild").exists(), "the grandchild started");
    assert!(!running_with(&t.home().join("plugin-state/demo")), "the timed-out sandbox is gone");
    let log = t.ok(&["plugin", "log", "demo"]);
    assert!(log.lines().last().unwrap().contains(" sleep           timed_out "), "{log}");
    // A program looked up on PATH when it runs (install checks only paths in the plugin).
    install(&t, "missing", "ooo-test-no-such-program", json!([]));
    assert_eq!(t.ooo().args(["missing", "say"]).output().unwrap().status.code(), Some(127));
    install(&t, "broken", "./run.sh 'unclosed", json!([]));
    assert_eq!(t.ooo().args(["broken", "say"]).output().unwrap().status.code(), Some(126));
}

#[test]
fn lifecycle_hooks_with_their_failure_policies() {
    let t = TestHome::new();
    let closed = json!([{"name": "before_invocation", "entrypoint": {"type": "command", "command": "./hook-fail.sh"}, "failure_policy": "fail_closed", "permissions": ["plugin:lifecycle:policy"]}]);
    install(&t, "strict", "./run.sh", closed);
    assert_eq!(t.ooo().args(["strict", "say"]).output().unwrap().status.code(), Some(1));
    assert!(ran(&t, "strict").is_empty(), "a failing fail_closed hook blocks the command");
    let events = last_invocation(&t);
    assert_eq!(types(&events), ["plugin.hook.invoked", "plugin.hook.blocked", "plugin.failed"]);
    check_schema(&events);
    let open = json!([
        {"name": "before_invocation", "entrypoint": {"type": "command", "command": "./hook-fail.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]},
        {"name": "after_invocation", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]},
        {"name": "on_error", "entrypoint": {"type": "command", "command": "./hook-ok.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:lifecycle:read"]}
    ]);
    install(&t, "lenient", "./run.sh", open);
    assert_eq!(t.ooo().args(["lenient", "fail"]).output().unwrap().status.code(), Some(3));
    assert_eq!(ran(&t, "lenient"), ["fail"], "a failing fail_open hook does not block");
    let hooks = fs::read_to_string(t.home().join("plugin-state/lenient/hooks")).unwrap();
    assert_eq!(
        hooks.lines().collect::<Vec<_>>(),
        ["before_invocation", "after_invocation", "on_error"]
    );
    check_schema(&last_invocation(&t));
}

#[test]
fn ctrl_c_cancels_and_the_group_is_gone() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let mut child = t.std_ooo().args(["demo", "sleep"]).stdin(Stdio::null()).spawn().unwrap();
    wait_for(&t.home().join("plugin-state/demo/grandchild"));
    assert!(running_with(&t.home().join("plugin-state/demo")), "the grandchild is found");
    // SAFETY: sending SIGINT to the ooo process we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!running_with(&t.home().join("plugin-state/demo")), "the plugin's sandbox is gone");
    let done = last_invocation(&t).last().unwrap()["payload"].clone();
    assert_eq!(done["provenance"]["reason"], "cancelled");
    let last: serde_json::Value =
        serde_json::from_str(t.ok(&["plugin", "log", "demo", "--json"]).lines().last().unwrap())
            .unwrap();
    assert_eq!(last["result"], "cancelled", "the log names it");
}

#[test]
fn a_killed_ooo_leaves_an_abandoned_invocation() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    // In the test's directory: a killed ooo cannot remove the output directory it made.
    let mut child = t
        .std_ooo()
        .current_dir(t.dir.path())
        .args(["demo", "sleep"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let plugin_pid: i32 =
        wait_for(&t.home().join("plugin-state/demo/child")).trim().parse().unwrap();
    child.kill().unwrap(); // SIGKILL: ooo cannot record anything
    child.wait().unwrap();
    // SAFETY: clean up the orphaned plugin group the test created.
    unsafe { libc::kill(-plugin_pid, libc::SIGKILL) };
    // The next ooo start that writes (here: `plugin list`; `ledger log` only reads)
    // closes the invocation as abandoned.
    t.ok(&["plugin", "list"]);
    let events = last_invocation(&t);
    assert_eq!(types(&events)[0], "plugin.invoked", "evidence of the run survived the kill");
    let last = &events.last().unwrap()["payload"];
    assert_eq!(last["event_type"], "plugin.failed");
    assert_eq!(last["provenance"]["reason"], "abandoned");
    check_schema(&events);
    assert!(t.ok(&["plugin", "log", "demo"]).contains(" abandoned "));
}

#[test]
fn tool_call_hooks_see_the_call_and_can_block_it() {
    let t = TestHome::new();
    let dir = t.dir.path().join("src").join("tooly");
    fs::create_dir_all(&dir).unwrap();
    let mut m = manifest("tooly", "1.0.0", "./run.sh", json!([]));
    m["schema_version"] = json!("0.4");
    m["permissions"] = json!([
        {"scope": "demo:run", "risk": "read_only", "required": true},
        {"scope": "plugin:tool:intercept", "risk": "write", "required": true},
        {"scope": "plugin:tool:observe", "risk": "read_only", "required": true}
    ]);
    m["hooks"] = json!([
        {"name": "before_tool_call", "entrypoint": {"type": "command", "command": "./gate.sh"}, "failure_policy": "fail_closed", "permissions": ["plugin:tool:intercept"]},
        {"name": "after_tool_call", "entrypoint": {"type": "command", "command": "./observe.sh"}, "failure_policy": "fail_open", "permissions": ["plugin:tool:observe"]}
    ]);
    fs::write(dir.join("ouroboros.plugin.json"), m.to_string()).unwrap();
    fs::write(dir.join("run.sh"), SCRIPT).unwrap();
    // The gate refuses calls whose argv mentions "forbidden"; the observer keeps the payload.
    fs::write(
        dir.join("gate.sh"),
        "#!/bin/sh
case \"$OUROBOROS_TOOL_CALL\" in *forbidden*) exit 1;; esac
",
    )
    .unwrap();
    fs::write(
        dir.join("observe.sh"),
        "#!/bin/sh
echo \"$OUROBOROS_TOOL_CALL\" > \"$OUROBOROS_PLUGIN_STATE_DIR/observed\"
",
    )
    .unwrap();
    for f in ["run.sh", "gate.sh", "observe.sh"] {
        fs::set_permissions(dir.join(f), fs::Permissions::from_mode(0o755)).unwrap();
    }
    t.ok(&["plugin", "install", "tooly", "--from", dir.to_str().unwrap()]);
    t.ok(&[
        "plugin",
        "trust",
        "tooly",
        "--scope",
        "demo:run",
        "--scope",
        "plugin:tool:intercept",
        "--scope",
        "plugin:tool:observe",
    ]);
    assert_eq!(
        t.ooo().args(["tooly", "say", "forbidden"]).output().unwrap().status.code(),
        Some(1)
    );
    assert!(ran(&t, "tooly").is_empty());
    let events = last_invocation(&t);
    assert!(
        types(&events).contains(&"plugin.tool.intercept.blocked".to_string()),
        "{:?}",
        types(&events)
    );
    check_schema(&events);
    assert_eq!(t.ooo().args(["tooly", "say", "fine"]).output().unwrap().status.code(), Some(0));
    let observed: Value = serde_json::from_str(
        &fs::read_to_string(t.home().join("plugin-state/tooly/observed")).unwrap(),
    )
    .unwrap();
    assert_eq!(observed["tool"], "tooly-ns.say");
    assert_eq!(observed["phase"], "after");
    assert_eq!(observed["result"]["exit_code"], 0);
    let events = last_invocation(&t);
    assert_eq!(
        types(&events),
        [
            "plugin.invoked",
            "plugin.permission_used",
            "plugin.permission_used",
            "plugin.permission_used",
            "plugin.tool.intercept.requested",
            "plugin.tool.intercept.completed",
            "plugin.completed",
            "plugin.tool.observe.recorded"
        ]
    );
    check_schema(&events);
}

/// A plugin that takes a built-in's namespace (installed before that built-in existed,
/// here forced into the lockfile) is disabled at start-up: first-party wins.
#[test]
fn first_party_collisions_are_disabled_at_start_up() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let manifest_path = t.home().join("plugins/demo/ouroboros.plugin.json");
    let text = fs::read_to_string(&manifest_path).unwrap().replace("demo-ns", "seed");
    fs::write(&manifest_path, text).unwrap();
    let out = t.ooo().args(["plugin", "list", "--json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("collides with a built-in command"));
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["trust_state"], "disabled");
    let events: Vec<Value> = t
        .ok(&["ledger", "log", "--json", "--type", "plugin.disabled"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payload"]["result"]["status"], "name_collision_with_first_party");
    assert_eq!(events[0]["actor"], "program:ooo");
    // Only once.
    t.ok(&["plugin", "list"]);
    assert_eq!(t.ok(&["ledger", "log", "--json", "--type", "plugin.disabled"]).lines().count(), 1);
    // inspect says why, not "disabled by the user".
    let info: Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "demo", "--json"])).unwrap();
    assert_eq!(info["disabled"]["reason"], "name_collision_with_first_party", "{info}");
}

/// On a terminal, a command that asks first shows one prompt (redacted argv, risk) and
/// runs only on yes. `script` provides the terminal; skipped where it is missing.
#[test]
fn confirmation_prompt_on_a_terminal() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("skipping: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let run_with = |answer: &str| {
        use std::io::Write;
        let mut child = spawn_on_terminal(&t, "demo wipe --token abc123secret");
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(answer.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let declined = run_with("n\n");
    assert!(
        declined.contains("demo 1.0.0 wants to run `wipe --token [redacted]` (risk: destructive)"),
        "{declined}"
    );
    assert!(!declined.contains("abc123secret"), "{declined}");
    assert!(ran(&t, "demo").is_empty());
    let message =
        last_invocation(&t)[0]["payload"]["result"]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("declined at the prompt"), "{message}");
    // --confirm answers for the user: no prompt, whatever is typed.
    let confirmed = {
        use std::io::Write;
        let mut child = spawn_on_terminal(&t, "--confirm demo wipe");
        child.stdin.take().unwrap().write_all(b"n\n").unwrap();
        String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).to_string()
    };
    assert!(!confirmed.contains("Continue?"), "{confirmed}");
    assert!(confirmed.contains("wiped"), "{confirmed}");
    assert_eq!(last_invocation(&t)[0]["payload"]["provenance"]["confirmation"], "--confirm flag");
    fs::remove_file(t.home().join("plugin-state/demo/ran")).unwrap();
    let accepted = run_with("y\n");
    assert!(accepted.contains("wiped"), "{accepted}");
    assert_eq!(ran(&t, "demo"), ["wipe"]);
    let invoked = &last_invocation(&t)[0]["payload"];
    assert_eq!(invoked["provenance"]["confirmation"], "confirmed at the prompt");
}

/// A run that is still going is not abandoned because another ooo starts meanwhile.
#[test]
fn a_live_run_is_not_marked_abandoned() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let child = t.std_ooo().args(["demo", "sleep"]).stdin(Stdio::null()).spawn().unwrap();
    wait_for(&t.home().join("plugin-state/demo/child"));
    t.ok(&["ledger", "verify"]); // another ooo start while the run is live
    let events = last_invocation(&t);
    assert!(!types(&events).contains(&"plugin.failed".to_string()), "{:?}", types(&events));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(124));
    let events = last_invocation(&t);
    assert_eq!(
        types(&events).iter().filter(|t| *t == "plugin.failed").count(),
        1,
        "{:?}",
        types(&events)
    );
}

/// A plugin that leaves a child holding its output pipe does not make ooo wait forever.
#[test]
fn leftover_children_do_not_hang_ooo() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let started = Instant::now();
    let out = t.std_ooo().args(["demo", "daemon"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(String::from_utf8_lossy(&out.stdout).contains("started"));
}

/// Installed manifests are read without the schema pass; a manifest edited after the
/// install (here with a key the schema refuses) is still caught by the digest re-check
/// before anything runs.
#[test]
fn an_edited_installed_manifest_is_refused_before_running() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let path = t.home().join("plugins/demo/ouroboros.plugin.json");
    let mut m: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    m["unexpected"] = json!(true);
    m["commands"][0]["summary"] = json!("Say (edited)");
    fs::write(&path, m.to_string()).unwrap();
    let out = t.ooo().args(["demo", "say"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(last_invocation(&t)[0]["payload"]["result"]["status"], "trust_subject_changed");
    assert!(ran(&t, "demo").is_empty());
    let verify = t.ooo().args(["plugin", "verify", "demo"]).output().unwrap();
    assert_eq!(verify.status.code(), Some(1));
}

/// The caller's workspace gets `.ouroboros/plugin-artifacts/<name>` only from a plugin
/// call that writes there; a call that writes nothing leaves the workspace as it was.
#[test]
fn the_output_directory_exists_only_when_a_plugin_writes_to_it() {
    let t = TestHome::new();
    let src = t.dir.path().join("src/writer");
    fs::create_dir_all(&src).unwrap();
    let manifest = json!({
        "schema_version": "0.6", "name": "writer", "version": "1.0.0",
        "source": {"type": "plugin_home", "path": "plugins/writer"},
        "commands": [
            {"namespace": "writer", "name": "quiet", "summary": "Write nothing", "usage": "quiet", "risk": "read_only"},
            {"namespace": "writer", "name": "report", "summary": "Write a report", "usage": "report", "risk": "read_only"}
        ],
        "capabilities": [], "permissions": [],
        "entrypoint": {"type": "command", "command": "./run.sh"}
    });
    fs::write(src.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    let script = "#!/bin/sh\n[ \"$1\" = report ] && echo done > \"$OUROBOROS_PLUGIN_OUTPUT_DIR/report.txt\"\nexit 0\n";
    fs::write(src.join("run.sh"), script).unwrap();
    fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    t.ok(&["plugin", "install", "writer", "--from", src.to_str().unwrap()]);
    let workspace = t.dir.path().join("workspace");
    fs::create_dir_all(&workspace).unwrap();
    let run = |command: &str| {
        let out = t.ooo().current_dir(&workspace).args(["writer", command]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run("quiet");
    assert!(!workspace.join(".ouroboros").exists(), "nothing written, nothing made");
    run("report");
    let report = workspace.join(".ouroboros/plugin-artifacts/writer/report.txt");
    assert_eq!(fs::read_to_string(report).unwrap(), "done\n");
}

/// `kill -9` of ooo leaves nothing of the plugin running: its sandbox dies with it.
#[test]
fn the_sandbox_dies_with_ooo() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let mut child = t.std_ooo().args(["demo", "sleep"]).stdin(Stdio::null()).spawn().unwrap();
    wait_for(&t.home().join("plugin-state/demo/grandchild"));
    let state = t.home().join("plugin-state/demo");
    assert!(running_with(&state), "the plugin runs");
    child.kill().unwrap(); // SIGKILL: ooo cannot clean up
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running_with(&state) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!running_with(&state), "the plugin outlived ooo");
}

/// Calls of the same plugin at once in one workspace share its output directory: none
/// loses it to another's clean-up (before, one failed now and then with bwrap's "Can't
/// find source path"), and the last one out removes it when it is empty.
#[test]
fn concurrent_calls_share_the_output_directory() {
    let t = TestHome::new();
    install(&t, "demo", "./run.sh", json!([]));
    let workspace = t.dir.path().join("workspace");
    fs::create_dir_all(&workspace).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            t.std_ooo()
                .current_dir(&workspace)
                .args(["demo", "say", "hi"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // (Its parents go only with the call that made them, which may not be the last.)
    let output = workspace.join(".ouroboros/plugin-artifacts/demo");
    assert!(!output.exists(), "the empty output directory is removed");
}
