//! `ooo plugin ...` end to end in a temporary home.

mod common;

use common::{TestHome, with_filters};
use insta::assert_snapshot;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

fn contract_tree(root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.txt"), "hello\n").unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("sub/b.py"), "x").unwrap();
    symlink("a.txt", root.join("link")).unwrap();
}

#[test]
fn digest_prints_the_digest_and_nothing_else() {
    let t = TestHome::new();
    let tree = t.dir.path().join("tree");
    contract_tree(&tree);
    let out = t.ooo().args(["plugin", "digest", tree.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "sha256:b8e21b61f8cb74d56efc576ac423b45f4a9e331735442653d8394a47630fd9bc\n"
    );
    assert!(!t.home().exists(), "digest does not create a home");
}

#[test]
fn digest_refuses_escaping_links_and_fifos() {
    let t = TestHome::new();
    let tree = t.dir.path().join("tree");
    contract_tree(&tree);
    symlink("../../secret", tree.join("sub/escape")).unwrap();
    let out = t.ooo().args(["plugin", "digest", tree.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    with_filters(&t, || assert_snapshot!("digest_escape", String::from_utf8(out.stderr).unwrap()));
    fs::remove_file(tree.join("sub/escape")).unwrap();
    assert!(
        std::process::Command::new("mkfifo").arg(tree.join("fifo")).status().unwrap().success()
    );
    let out = t.ooo().args(["plugin", "digest", tree.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: fifo is a FIFO"), "{err}");
}

const MANIFEST: &str = r#"{
  "schema_version": "0.6",
  "name": "hello-plugin",
  "version": "0.1.0",
  "source": {"type": "plugin_home", "path": "plugins/hello-plugin"},
  "commands": [{"namespace": "hello", "name": "greet", "summary": "Greet", "usage": "ooo hello greet", "risk": "read_only"}],
  "capabilities": [],
  "permissions": [],
  "entrypoint": {"type": "command", "command": "./hello.sh"}
}"#;

#[test]
fn validate_accepts_and_refuses_with_the_pointer() {
    let t = TestHome::new();
    let dir = t.dir.path().join("hello-plugin");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ouroboros.plugin.json"), MANIFEST).unwrap();
    fs::write(dir.join("hello.sh"), "#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(dir.join("hello.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    with_filters(&t, || {
        assert_snapshot!("validate_ok", t.ok(&["plugin", "validate", dir.to_str().unwrap()]));
        assert_snapshot!(
            "validate_ok_json",
            t.ok(&["plugin", "validate", "--json", dir.to_str().unwrap()])
        );
    });
    fs::write(
        dir.join("ouroboros.plugin.json"),
        MANIFEST.replace("\"read_only\"}]", "\"reckless\"}]"),
    )
    .unwrap();
    let out = t.ooo().args(["plugin", "validate", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || assert_snapshot!("validate_bad", String::from_utf8(out.stderr).unwrap()));
    let out =
        t.ooo().args(["plugin", "validate", "--json", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["pointer"], "/commands/0/risk");
    assert!(!t.home().exists(), "validate keeps no state");
}

/// `validate` applies what `install` applies (rules, names, the installed plugins, the
/// entrypoint) and lists every problem, each at its JSON pointer.
#[test]
fn validate_lists_every_problem_install_would_refuse() {
    let t = TestHome::new();
    let greeter = plugin_dir(&t, "greeter", "1.0.0");
    t.ok(&["plugin", "install", "greeter", "--from", greeter.to_str().unwrap()]);
    let dir = t.dir.path().join("clash");
    fs::create_dir_all(&dir).unwrap();
    let manifest = serde_json::json!({
        "schema_version": "0.6", "name": "ledger", "version": "1.0.0",
        "source": {"type": "plugin_home", "path": "plugins/ledger"},
        "commands": [{"namespace": "greeter-ns", "name": "go", "summary": "Go", "usage": "go", "risk": "read_only", "permissions": ["clash:undeclared"]}],
        "capabilities": [], "permissions": [],
        "entrypoint": {"type": "command", "command": "./bin/clash"},
        "x-ouroboros": {"env": {"API_TOKEN": "clash:secret"}}
    });
    fs::write(dir.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    let path = dir.to_str().unwrap();
    with_filters(&t, || {
        assert_snapshot!("validate_every_problem", t.shown(&["plugin", "validate", path]));
        assert_snapshot!(
            "validate_every_problem_json",
            t.shown(&["plugin", "validate", "--json", path])
        );
    });
    // Several schema violations are all listed too.
    let bad = MANIFEST.replace("\"read_only\"}]", "\"reckless\"}]").replace("\"0.1.0\"", "\"one\"");
    fs::write(dir.join("ouroboros.plugin.json"), bad).unwrap();
    let out = t.ooo().args(["plugin", "validate", "--json", path]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pointers: Vec<&str> =
        v["problems"].as_array().unwrap().iter().map(|p| p["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/commands/0/risk", "/version"], "{v}");
    // Without a pointer (not JSON at all), the hint does not talk about one.
    fs::write(dir.join("ouroboros.plugin.json"), "{ not json").unwrap();
    with_filters(&t, || {
        assert_snapshot!("validate_not_json", t.shown(&["plugin", "validate", path]))
    });
}

/// A plugin directory with a required and an optional permission.
fn plugin_dir(t: &TestHome, name: &str, version: &str) -> std::path::PathBuf {
    let dir = t.dir.path().join("sources").join(name);
    fs::create_dir_all(dir.join("bin")).unwrap();
    let manifest = MANIFEST
        .replace("hello-plugin", name)
        .replace("\"0.1.0\"", &format!("\"{version}\""))
        .replace("\"namespace\": \"hello\"", &format!("\"namespace\": \"{name}-ns\""))
        .replace(
            "\"permissions\": []",
            &format!("\"permissions\": [{{\"scope\": \"{name}:read\", \"risk\": \"read_only\", \"required\": true}}, {{\"scope\": \"{name}:publish\", \"risk\": \"destructive\", \"required\": false}}]"),
        );
    fs::write(dir.join("ouroboros.plugin.json"), manifest).unwrap();
    fs::write(dir.join("hello.sh"), "#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(dir.join("hello.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn lifecycle_install_trust_list_inspect_remove() {
    let t = TestHome::new();
    let src = plugin_dir(&t, "greeter", "1.0.0");
    let src_arg = src.to_str().unwrap();
    with_filters(&t, || {
        assert_snapshot!("install", t.ok(&["plugin", "install", "greeter", "--from", src_arg]));
        assert_snapshot!("list_untrusted", t.ok(&["plugin", "list"]));
        let out = t
            .ooo()
            .args(["plugin", "trust", "greeter", "--scope", "greeter:admin"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_snapshot!("trust_undeclared", String::from_utf8(out.stderr).unwrap());
        assert_snapshot!(
            "trust",
            t.ok(&[
                "plugin",
                "trust",
                "greeter",
                "--scope",
                "greeter:read",
                "--scope",
                "greeter:publish"
            ])
        );
        assert_snapshot!("list_trusted_json", t.ok(&["plugin", "list", "--json"]));
        assert_snapshot!("inspect", t.ok(&["plugin", "inspect", "greeter"]));
    });
    let inspect: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "greeter", "--json"])).unwrap();
    assert_eq!(inspect["manifest"]["permissions"][1]["risk"], "destructive");
    assert_eq!(inspect["trust_state"], "trusted");
    assert!(inspect["disabled"].is_null());
    t.ok(&["plugin", "disable", "greeter"]);
    let row: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "list", "--json"])).unwrap();
    assert_eq!(row["trust_state"], "disabled");
    let inspect: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "greeter", "--json"])).unwrap();
    assert_eq!(inspect["disabled"]["reason"], "disabled by the user");
    t.ok(&["plugin", "remove", "greeter"]);
    assert_eq!(t.ok(&["plugin", "list", "--json"]), "", "no plugins: no lines");
    let events: Vec<String> = t
        .ok(&["ledger", "log", "--json", "--aggregate", "plugin:greeter"])
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(events, ["plugin.installed", "plugin.trusted", "plugin.disabled", "plugin.removed"]);
}

#[test]
fn verify_catches_tampering_and_exits_1() {
    let t = TestHome::new();
    let src = plugin_dir(&t, "greeter", "1.0.0");
    t.ok(&["plugin", "install", "greeter", "--from", src.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "greeter", "--scope", "greeter:read"]);
    assert!(t.ok(&["plugin", "verify"]).starts_with("ok "));
    fs::write(t.home().join("plugins/greeter/hello.sh"), "#!/bin/sh\nrm -rf ~\n").unwrap();
    let out = t.ooo().args(["plugin", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let row: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "list", "--json"])).unwrap();
    assert_eq!(row["trust_state"], "installed");
}

#[test]
fn install_refusals_explain_themselves() {
    let t = TestHome::new();
    let out = t.ooo().args(["plugin", "install", "ghost"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || {
        assert_snapshot!("install_unknown", String::from_utf8(out.stderr).unwrap())
    });
    let reserved = plugin_dir(&t, "seed", "1.0.0");
    let out = t
        .ooo()
        .args(["plugin", "install", "seed", "--from", reserved.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"seed\" is a built-in ooo command"));
    let out = t.ooo().args(["plugin", "install", "x", "--from", "no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir cannot be used"));
}

/// `--from ./dir` (and `add ./dir`) is a directory under the current one, as
/// `cargo install --path`; what is recorded is its absolute path.
#[test]
fn relative_sources_are_taken_from_the_current_directory() {
    let t = TestHome::new();
    plugin_dir(&t, "greeter", "1.0.0");
    plugin_dir(&t, "bravo", "1.0.0");
    let cwd = t.dir.path();
    let out = t
        .ooo()
        .current_dir(cwd)
        .args(["plugin", "install", "greeter", "--from", "./sources/greeter"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspect: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "greeter", "--json"])).unwrap();
    let absolute = cwd.join("sources/greeter").canonicalize().unwrap();
    assert_eq!(inspect["source_identity"], absolute.display().to_string());
    let out = t
        .ooo()
        .current_dir(cwd.join("sources"))
        .args(["plugin", "add", "bravo", "--plugin", "bravo"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let catalogs = fs::read_to_string(t.home().join("plugin-catalogs.json")).unwrap();
    let absolute = cwd.join("sources/bravo").canonicalize().unwrap();
    assert!(catalogs.contains(&format!("\"location\": \"{}\"", absolute.display())), "{catalogs}");
}

/// Two `ooo plugin install` processes at once: both land, the lockfile is whole.
#[test]
fn concurrent_install_processes() {
    let t = TestHome::new();
    let a = plugin_dir(&t, "alpha", "1.0.0");
    let b = plugin_dir(&t, "bravo", "1.0.0");
    t.ok(&["plugin", "list"]); // create the home and its ledger first
    let mut children: Vec<_> = [("alpha", &a), ("bravo", &b)]
        .iter()
        .map(|(name, dir)| {
            t.std_ooo()
                .args(["plugin", "install", name, "--from", dir.to_str().unwrap()])
                .spawn()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let rows: Vec<serde_json::Value> = t
        .ok(&["plugin", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "bravo"]);
    let lock = fs::read_to_string(t.home().join("plugins.lock")).unwrap();
    assert_eq!(lock.matches("[[plugin]]").count(), 2, "{lock}");
}

#[test]
fn update_and_inspect_show_what_changed() {
    let t = TestHome::new();
    let src = plugin_dir(&t, "greeter", "1.0.0");
    t.ok(&["plugin", "install", "greeter", "--from", src.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "greeter", "--scope", "greeter:read"]);
    let manifest = fs::read_to_string(src.join("ouroboros.plugin.json")).unwrap().replace("\"1.0.0\"", "\"1.1.0\"").replace(
        "\"permissions\": [",
        "\"permissions\": [{\"scope\": \"greeter:delete\", \"risk\": \"destructive\", \"required\": false}, ",
    );
    fs::write(src.join("ouroboros.plugin.json"), manifest).unwrap();
    let out = t.ok(&["plugin", "update", "greeter"]);
    assert!(out.contains("greeter: 1.0.0 -> 1.1.0"), "{out}");
    assert!(out.contains("permission added: greeter:delete (destructive, optional)"), "{out}");
    assert!(out.contains("earlier grants do not carry over"), "{out}");
    let inspect = t.ok(&["plugin", "inspect", "greeter"]);
    assert!(inspect.contains("last change:      1.0.0 -> 1.1.0, digest sha256:"), "{inspect}");
    assert!(inspect.contains("permission added: greeter:delete (destructive)"), "{inspect}");
    assert!(inspect.contains("trust_state:      installed"), "{inspect}");
}

#[test]
fn create_scaffolds_a_plugin_that_passes_the_contract_and_runs() {
    let t = TestHome::new();
    let parent = t.dir.path().join("work");
    fs::create_dir_all(&parent).unwrap();
    t.ok(&["plugin", "create", "my-tool", "--dir", parent.to_str().unwrap()]);
    let dir = parent.join("my-tool");
    // The whole of stdout is one JSON object: the plugin's `--help` text is not mixed in.
    let report: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "test-contract", "--json", dir.to_str().unwrap()]))
            .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["checks"].as_array().unwrap().len(), 3, "{report}");
    assert!(!report["not_checked"].as_array().unwrap().is_empty(), "what is not checked is said");
    t.ok(&["plugin", "install", "my-tool", "--from", dir.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "my-tool", "--scope", "my-tool:run"]);
    assert_eq!(t.ok(&["my-tool", "hello", "Ada"]), "hello, Ada\n");
    // Refusals: an existing directory, a bad name, a built-in name.
    assert!(
        !t.ooo()
            .args(["plugin", "create", "my-tool", "--dir", parent.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        !t.ooo()
            .args(["plugin", "create", "Bad_Name", "--dir", parent.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        !t.ooo()
            .args(["plugin", "create", "ledger", "--dir", parent.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn test_contract_fails_a_command_without_help() {
    let t = TestHome::new();
    let parent = t.dir.path().join("work");
    fs::create_dir_all(&parent).unwrap();
    t.ok(&["plugin", "create", "no-help", "--dir", parent.to_str().unwrap()]);
    let dir = parent.join("no-help");
    fs::write(dir.join("run.sh"), "#!/bin/sh\nexit 2\n").unwrap();
    let out = t.ooo().args(["plugin", "test-contract", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("FAIL hello --help: exited with status 2"), "{text}");
    fs::write(dir.join("ouroboros.plugin.json"), "{}").unwrap();
    let out = t.ooo().args(["plugin", "test-contract", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("FAIL manifest"));
}

/// A command that asks the core for a capability its manifest does not declare fails
/// the contract test (the dry run goes through a real capability channel).
#[test]
fn test_contract_catches_undeclared_capability_use() {
    let t = TestHome::new();
    let parent = t.dir.path().join("work");
    fs::create_dir_all(&parent).unwrap();
    t.ok(&["plugin", "create", "greedy", "--dir", parent.to_str().unwrap()]);
    let dir = parent.join("greedy");
    let script = r#"import json, os, sys
fd = int(os.environ["OUROBOROS_CORE_FD"])
r = os.fdopen(fd, "rb", buffering=0); w = os.fdopen(os.dup(fd), "wb", buffering=0)
def send(o): w.write((json.dumps(o) + "\n").encode())
def recv():
    line = b""
    while not line.endswith(b"\n"):
        c = r.read(1)
        if not c: return None
        line += c
    return json.loads(line)
send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}); recv()
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "state_put", "arguments": {"key": "k", "value": 1}}}); recv()
print("usage: greedy hello")
"#;
    fs::write(dir.join("greedy.py"), script).unwrap();
    let manifest = fs::read_to_string(dir.join("ouroboros.plugin.json"))
        .unwrap()
        .replace("./run.sh", "python3 ./greedy.py");
    fs::write(dir.join("ouroboros.plugin.json"), manifest).unwrap();
    let out = t.ooo().args(["plugin", "test-contract", dir.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "FAIL hello uses only declared capabilities: asked for undeclared tools: state_put"
        ),
        "{text}"
    );
}

/// Asking again for scopes a plugin holds changes nothing and records nothing; the
/// disable message names the scopes that re-enable it.
#[test]
fn trust_again_records_nothing_and_disable_names_the_scopes() {
    let t = TestHome::new();
    let src = plugin_dir(&t, "greeter", "1.0.0");
    t.ok(&["plugin", "install", "greeter", "--from", src.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "greeter", "--scope", "greeter:read"]);
    let events =
        || t.ok(&["ledger", "log", "--json", "--aggregate", "plugin:greeter"]).lines().count();
    let before = events();
    with_filters(&t, || {
        assert_snapshot!(
            "trust_again",
            t.shown(&["plugin", "trust", "greeter", "--scope", "greeter:read"])
        );
        assert_snapshot!("disable", t.shown(&["plugin", "disable", "greeter"]));
    });
    assert_eq!(events(), before + 1, "only the disable was recorded");
    // Trusting a disabled plugin grants again and re-enables it: that is recorded.
    let again = t.ok(&["plugin", "trust", "greeter", "--scope", "greeter:read"]);
    assert!(again.starts_with("granted greeter greeter:read"), "{again}");
    assert_eq!(events(), before + 2);
}

/// `remove` keeps the plugin's state; `remove --purge` afterwards deletes it.
#[test]
fn remove_purge_after_a_plain_remove_deletes_the_kept_state() {
    let t = TestHome::new();
    let src = plugin_dir(&t, "greeter", "1.0.0");
    t.ok(&["plugin", "install", "greeter", "--from", src.to_str().unwrap()]);
    let state = t.home().join("plugin-state/greeter");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("memo"), "kept").unwrap();
    with_filters(&t, || {
        assert_snapshot!("remove_keeps_state", t.shown(&["plugin", "remove", "greeter"]));
        assert_snapshot!(
            "remove_purge_later",
            t.shown(&["plugin", "remove", "greeter", "--purge"])
        );
    });
    assert!(!state.exists());
    let out = t.ooo().args(["plugin", "remove", "greeter", "--purge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "nothing left to remove");
}

/// Installing over an installed plugin from another source, or with a lower version,
/// says what would change and needs --force (or a yes on a terminal).
#[test]
fn replacing_from_another_source_or_with_a_lower_version_needs_consent() {
    let t = TestHome::new();
    let first = plugin_dir(&t, "greeter", "1.0.0");
    t.ok(&["plugin", "install", "greeter", "--from", first.to_str().unwrap()]);
    // The same plugin, byte for byte, in another directory: another source.
    let other = t.dir.path().join("elsewhere/greeter");
    fs::create_dir_all(&other).unwrap();
    for file in ["ouroboros.plugin.json", "hello.sh"] {
        fs::copy(first.join(file), other.join(file)).unwrap();
    }
    let other = other.to_str().unwrap();
    with_filters(&t, || {
        assert_snapshot!(
            "replace_other_source",
            t.shown(&["plugin", "install", "greeter", "--from", other])
        );
    });
    let src = first.to_str().unwrap();
    let manifest = fs::read_to_string(first.join("ouroboros.plugin.json")).unwrap();
    fs::write(first.join("ouroboros.plugin.json"), manifest.replace("\"1.0.0\"", "\"0.9.0\""))
        .unwrap();
    let out = t.ooo().args(["plugin", "install", "greeter", "--from", src]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("with 0.9.0 from") && err.contains("a lower version"), "{err}");
    let inspect: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "greeter", "--json"])).unwrap();
    assert_eq!(inspect["version"], "1.0.0", "nothing was replaced");
    let out = t.ok(&["plugin", "install", "greeter", "--from", src, "--force"]);
    assert!(out.starts_with("greeter: 1.0.0 -> 0.9.0 from "), "{out}");
    // The same source at a higher version is an ordinary upgrade.
    let manifest = fs::read_to_string(first.join("ouroboros.plugin.json")).unwrap();
    fs::write(first.join("ouroboros.plugin.json"), manifest.replace("\"0.9.0\"", "\"2.0.0\""))
        .unwrap();
    assert!(
        t.ok(&["plugin", "install", "greeter", "--from", src])
            .starts_with("greeter: 0.9.0 -> 2.0.0")
    );
}

/// On a terminal, install shows its progress: copying and hashing the plugin's tree.
#[test]
fn install_shows_progress_on_a_terminal() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("skipping: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let t = TestHome::new();
    let src = plugin_dir(&t, "greeter", "1.0.0");
    fs::write(src.join("data.bin"), vec![7u8; 3_000_000]).unwrap();
    let line = format!(
        "{} plugin install greeter --from {}",
        assert_cmd::cargo::cargo_bin("ooo").display(),
        src.display()
    );
    let out = std::process::Command::new("/usr/bin/script")
        .args(["-qec", &line, "/dev/null"])
        .env("OUROBOROS_HOME", t.home())
        .env("USER", "tester")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("installed greeter 1.0.0"), "{screen}");
    for what in ["copying", "hashing"] {
        assert!(
            screen.contains(&format!("{what} [####################] 100% of 3.0 MB")),
            "{screen}"
        );
    }
}

/// A plugin whose scopes open variables, hosts and the workspace: `x-ouroboros` patched
/// into the greeter manifest (`greeter:read` read_only, `greeter:publish` destructive).
fn plugin_with_resources(t: &TestHome, write_scope: &str) -> std::path::PathBuf {
    let dir = plugin_dir(t, "opener", "1.0.0");
    let path = dir.join("ouroboros.plugin.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    m["x-ouroboros"] = serde_json::json!({
        "env": {"OPENER_TOKEN": "opener:publish", "OPENER_USER": "opener:read"},
        "network": {"scope": "opener:read", "hosts": ["api.example.com:443", "*.example.org"]},
        "fs": {"workspace": "write", "write_scope": write_scope}
    });
    fs::write(&path, m.to_string()).unwrap();
    dir
}

/// Consent names things: install, inspect and trust (human and `--json`) list every
/// variable, host and path each scope opens, and what comes without a scope.
#[test]
fn install_inspect_and_trust_name_what_each_scope_opens() {
    let t = TestHome::new();
    let src = plugin_with_resources(&t, "opener:publish");
    let src_arg = src.to_str().unwrap();
    with_filters(&t, || {
        let installed = t.ok(&["plugin", "install", "opener", "--from", src_arg]);
        assert_snapshot!("install_names_resources", installed);
        let inspected = t.ok(&["plugin", "inspect", "opener"]);
        assert_snapshot!("inspect_names_resources", inspected);
        let trusted = t.ok(&[
            "plugin",
            "trust",
            "opener",
            "--scope",
            "opener:read",
            "--scope",
            "opener:publish",
        ]);
        assert_snapshot!("trust_names_resources", trusted);
    });
    // The same, as data.
    let v: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "opener", "--json"])).unwrap();
    let scopes = &v["manifest"]["scopes"];
    assert_eq!(
        scopes[0],
        serde_json::json!({"scope": "opener:read", "risk": "read_only", "required": true, "opens": [
            {"kind": "env", "variable": "OPENER_USER"},
            {"kind": "network", "host": "api.example.com", "port": 443},
            {"kind": "network", "host": "*.example.org", "port": null}
        ]})
    );
    assert_eq!(
        scopes[1]["opens"],
        serde_json::json!([
            {"kind": "env", "variable": "OPENER_TOKEN"},
            {"kind": "path", "path": "<workspace>", "access": "write"}
        ])
    );
    assert_eq!(
        v["manifest"]["without_scope"][0],
        serde_json::json!({"kind": "path", "path": "<workspace>", "access": "read"})
    );
    let v: serde_json::Value = serde_json::from_str(&t.ok(&[
        "plugin",
        "trust",
        "opener",
        "--scope",
        "opener:read",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["opened"], serde_json::json!([]), "already held: nothing newly opened");
    let t2 = TestHome::new();
    let src2 = plugin_with_resources(&t2, "opener:publish");
    let v: serde_json::Value = serde_json::from_str(&t2.ok(&[
        "plugin",
        "install",
        "opener",
        "--from",
        src2.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["scopes"][1]["opens"][1]["access"], "write");
    let v: serde_json::Value = serde_json::from_str(&t2.ok(&[
        "plugin",
        "trust",
        "opener",
        "--scope",
        "opener:publish",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["opened"][0]["scope"], "opener:publish");
    assert_eq!(
        v["opened"][0]["opens"][0],
        serde_json::json!({"kind": "env", "variable": "OPENER_TOKEN"})
    );
}

/// A read_only scope that would open workspace write is refused at install (and by
/// validate), naming the scope, the resource and the fix; nothing is installed.
#[test]
fn a_read_only_scope_asking_for_workspace_write_is_refused() {
    let t = TestHome::new();
    let src = plugin_with_resources(&t, "opener:read");
    let src_arg = src.to_str().unwrap();
    let out = t.ooo().args(["plugin", "install", "opener", "--from", src_arg]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/x-ouroboros/fs/write_scope"), "{err}");
    assert!(err.contains("\"opener:read\" has risk read_only but opens workspace write"), "{err}");
    assert!(err.contains("set \"risk\": \"write\" at /permissions/0"), "{err}");
    let listed = t.ok(&["plugin", "list", "--json"]);
    assert!(!listed.contains("opener"), "nothing installed: {listed}");
    let out = t.ooo().args(["plugin", "validate", src_arg]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("opens workspace write"));
}
