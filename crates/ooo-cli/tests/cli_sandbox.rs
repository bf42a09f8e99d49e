//! Escape attempts by a hostile plugin, run through the real binary: every attempt must
//! fail under the sandbox, the invocation must still complete with an audit record, and
//! with the permissions granted the same probes succeed (so the probes can tell).

mod common;

use common::{TestHome, full_sandbox};
use serde_json::{Value, json};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Each probe prints `<name>: ok` or `<name>: denied`.
const HOSTILE: &str = r#"#!/bin/sh
cmd="$1"; shift
probe() { name="$1"; shift; if "$@" >/dev/null 2>&1; then echo "$name: ok"; else echo "$name: denied"; fi; }
probe write-outside sh -c "echo pwned > '$1'"
probe read-ledger cat "$2"
probe read-caller-home cat "$3"
probe write-other-state sh -c "echo pwned > '$4/pwned'"
probe write-workspace sh -c "echo hi > '$OUROBOROS_PLUGIN_WORKDIR/from-plugin.txt'"
probe read-own-files cat "$OUROBOROS_PLUGIN_HOME/ouroboros.plugin.json"
probe write-own-state sh -c "echo ok > '$OUROBOROS_PLUGIN_STATE_DIR/mine'"
if [ -n "${MY_SECRET_TOKEN:-}" ]; then echo "read-secret: ok"; else echo "read-secret: denied"; fi
if command -v python3 >/dev/null 2>&1; then
  probe connect python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)" "$5"
  probe proxied python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:%s/' % sys.argv[1], timeout=5)" "$5"
else
  echo "connect: skipped"
fi
"#;

fn manifest(name: &str, granted_extension: bool, port: u16) -> Value {
    let mut m = json!({
        "schema_version": "0.6", "name": name, "version": "1.0.0",
        "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
        "commands": [{"namespace": format!("{name}-ns"), "name": "probe", "summary": "Try to escape", "usage": "probe", "risk": "read_only"}],
        "capabilities": [],
        "permissions": [
            {"scope": "probe:run", "risk": "read_only", "required": true},
            {"scope": "probe:net", "risk": "write", "required": false},
            {"scope": "probe:secret", "risk": "read_only", "required": false},
            {"scope": "probe:workspace", "risk": "write", "required": false}
        ],
        "entrypoint": {"type": "command", "command": "./probe.sh"}
    });
    if granted_extension {
        m["x-ouroboros"] = json!({
            "env": {"MY_SECRET_TOKEN": "probe:secret"},
            "network": {"scope": "probe:net", "hosts": [format!("127.0.0.1:{port}")]},
            "fs": {"workspace": "write", "write_scope": "probe:workspace"}
        });
    }
    m
}

struct Setup {
    t: TestHome,
    outside: std::path::PathBuf,
    caller_file: std::path::PathBuf,
    workspace: std::path::PathBuf,
    listener: std::net::TcpListener,
}

fn setup() -> Option<Setup> {
    if !full_sandbox() {
        return None;
    }
    let t = TestHome::new();
    let outside = t.dir.path().join("outside.txt");
    let caller_home = t.dir.path().join("user-home");
    fs::create_dir_all(&caller_home).unwrap();
    let caller_file = caller_home.join(".netrc");
    fs::write(&caller_file, "machine example.com password hunter2").unwrap();
    let workspace = t.dir.path().join("workspace");
    fs::create_dir_all(&workspace).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    Some(Setup { t, outside, caller_file, workspace, listener })
}

fn install(s: &Setup, name: &str, extension: bool, grant: &[&str]) {
    let dir = s.t.dir.path().join("src").join(name);
    fs::create_dir_all(&dir).unwrap();
    let port = s.listener.local_addr().unwrap().port();
    fs::write(dir.join("ouroboros.plugin.json"), manifest(name, extension, port).to_string())
        .unwrap();
    fs::write(dir.join("probe.sh"), HOSTILE).unwrap();
    fs::set_permissions(dir.join("probe.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    s.t.ok(&["plugin", "install", name, "--from", dir.to_str().unwrap()]);
    let mut args = vec!["plugin", "trust", name, "--scope", "probe:run"];
    for g in grant {
        args.extend(["--scope", g]);
    }
    s.t.ok(&args);
}

fn probe(s: &Setup, name: &str, other_state: &Path) -> (String, Value) {
    let port = s.listener.local_addr().unwrap().port().to_string();
    let out =
        s.t.ooo()
            .current_dir(&s.workspace)
            .env("MY_SECRET_TOKEN", "tok-very-secret")
            .args([
                name,
                "probe",
                s.outside.to_str().unwrap(),
                s.t.ledger_db().to_str().unwrap(),
                s.caller_file.to_str().unwrap(),
                other_state.to_str().unwrap(),
                &port,
            ])
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log: Vec<Value> =
        s.t.ok(&["ledger", "log", "--json", "--aggregate", "plugin_invocation"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    (String::from_utf8(out.stdout).unwrap(), log.last().unwrap().clone())
}

#[test]
fn a_hostile_plugin_gets_nothing_it_was_not_given() {
    let Some(s) = setup() else { return };
    install(&s, "victim", false, &[]);
    let victim_state = s.t.home().join("plugin-state/victim");
    fs::create_dir_all(&victim_state).unwrap();
    install(&s, "hostile", true, &[]); // declares everything, is granted nothing
    let (out, last) = probe(&s, "hostile", &victim_state);
    eprintln!("hostile probes:\n{out}");
    for denied in [
        "read-ledger",
        "read-caller-home",
        "write-other-state",
        "write-workspace",
        "read-secret",
        "connect",
        "proxied",
    ] {
        assert!(
            out.contains(&format!("{denied}: denied"))
                || out.contains(&format!("{denied}: skipped")),
            "{denied} not denied:\n{out}"
        );
    }
    // It can still do its own work.
    assert!(out.contains("read-own-files: ok"), "{out}");
    assert!(out.contains("write-own-state: ok"), "{out}");
    assert!(!s.outside.exists() && !victim_state.join("pwned").exists());
    assert_eq!(last["event_type"], "plugin.completed");
    let invoked: Vec<Value> =
        s.t.ok(&["ledger", "log", "--json", "--type", "plugin.invoked"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(invoked.last().unwrap()["payload"]["provenance"]["sandbox"], "full");
    // Nothing is accepted on the listener.
    s.listener.set_nonblocking(true).unwrap();
    assert!(s.listener.accept().is_err(), "a connection got through");
}

#[test]
fn with_the_permissions_granted_the_same_probes_succeed() {
    let Some(s) = setup() else { return };
    install(&s, "trusted", true, &["probe:net", "probe:secret", "probe:workspace"]);
    let accepting = std::thread::spawn({
        let listener = s.listener.try_clone().unwrap();
        move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            std::io::Write::write_all(
                &mut conn,
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        }
    });
    let other = s.t.dir.path().join("not-a-plugin-state");
    let (out, last) = probe(&s, "trusted", &other);
    eprintln!("granted probes:\n{out}");
    assert!(out.contains("write-workspace: ok"), "{out}");
    assert!(out.contains("read-secret: ok"), "{out}");
    if !out.contains("connect: skipped") {
        // The declared host is reached through ooo's proxy, never directly.
        assert!(out.contains("connect: denied"), "{out}");
        assert!(out.contains("proxied: ok"), "{out}");
        let request = accepting.join().unwrap();
        assert!(request.starts_with("GET / HTTP/1.1\r\n"), "{request}");
    }
    // Core files and other places stay closed even to a trusted plugin.
    assert!(out.contains("read-ledger: denied"), "{out}");
    assert!(out.contains("read-caller-home: denied"), "{out}");
    // Writing outside lands, at most, in the sandbox's private /tmp.
    assert!(!s.outside.exists(), "a write reached the caller's files");
    assert_eq!(last["event_type"], "plugin.completed");
    assert_eq!(fs::read_to_string(s.workspace.join("from-plugin.txt")).unwrap(), "hi\n");
}

/// Plugin state survives an update and is gone after remove --purge.
#[test]
fn state_survives_update_and_goes_with_purge() {
    let t = TestHome::new();
    let dir = t.dir.path().join("src/keeper");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ouroboros.plugin.json"), manifest("keeper", false, 1).to_string()).unwrap();
    fs::write(
        dir.join("probe.sh"),
        "#!/bin/sh\necho kept > \"$OUROBOROS_PLUGIN_STATE_DIR/memory\"\n",
    )
    .unwrap();
    fs::set_permissions(dir.join("probe.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    t.ok(&["plugin", "install", "keeper", "--from", dir.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "keeper", "--scope", "probe:run"]);
    t.ok(&["keeper", "probe"]);
    let memory = t.home().join("plugin-state/keeper/memory");
    assert_eq!(fs::read_to_string(&memory).unwrap(), "kept\n");
    fs::write(dir.join("probe.sh"), "#!/bin/sh\ncat \"$OUROBOROS_PLUGIN_STATE_DIR/memory\"\n")
        .unwrap();
    t.ok(&["plugin", "update", "keeper"]);
    assert!(memory.exists(), "state survives update");
    t.ok(&["plugin", "remove", "keeper", "--purge"]);
    assert!(!memory.exists(), "--purge removes it");
}

/// A link planted where the plugin's output directory goes (`.ouroboros/plugin-artifacts/
/// <name> -> ~/.ssh`) refuses the call: ooo makes that directory without following links
/// and mounts exactly what it made.
#[test]
fn a_planted_link_never_redirects_the_output_directory() {
    let Some(s) = setup() else { return };
    install(&s, "planted", false, &[]);
    let target = s.t.dir.path().join("user-home/.ssh");
    fs::create_dir_all(&target).unwrap();
    let artifacts = s.workspace.join(".ouroboros/plugin-artifacts");
    fs::create_dir_all(&artifacts).unwrap();
    std::os::unix::fs::symlink(&target, artifacts.join("planted")).unwrap();
    let out = s.t.ooo().current_dir(&s.workspace).args(["planted", "probe"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0, "nothing was written through it");
}

/// ooo's home inside the workspace a plugin may write (running `ooo` from `~` with the
/// default `~/.ouroboros`): the plugin runs, writes the workspace, and still cannot
/// see the ledger.
#[test]
fn the_home_inside_a_granted_workspace_stays_hidden() {
    let Some(s) = setup() else { return };
    install(&s, "roomy", true, &["probe:workspace"]);
    let workspace = s.t.dir.path();
    let port = s.listener.local_addr().unwrap().port().to_string();
    let out =
        s.t.ooo()
            .current_dir(workspace)
            .args([
                "roomy",
                "probe",
                s.outside.to_str().unwrap(),
                s.t.ledger_db().to_str().unwrap(),
                s.caller_file.to_str().unwrap(),
                workspace.join("elsewhere").to_str().unwrap(),
                &port,
            ])
            .output()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.t.ledger_db().starts_with(workspace), "the home is inside the workspace");
    assert!(stdout.contains("write-workspace: ok"), "{stdout}");
    assert!(stdout.contains("read-ledger: denied"), "{stdout}");
    assert!(stdout.contains("read-own-files: ok") && stdout.contains("write-own-state: ok"));
}
