//! Shared by the firewall tests: a shell-script test plugin (each command leaves a
//! marker in its state directory), installing it trusted, and reading an invocation's
//! events back (checked against upstream's audit-event schema when `../shared` exists).

use super::TestHome;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The test plugin's script: each command leaves a marker in the state dir, so a test
/// can tell whether it ran.
pub const SCRIPT: &str = r#"#!/bin/sh
cmd="$1"; shift
mkdir -p "$OUROBOROS_PLUGIN_STATE_DIR"
echo "$cmd" >> "$OUROBOROS_PLUGIN_STATE_DIR/ran"
case "$cmd" in
  say) echo "said: $*"; echo "secret seen: ${API_TOKEN:-none}" ;;
  fail) echo "failing" >&2; exit 3 ;;
  sleep) sh -c 'sleep 60; : "$0"' "$OUROBOROS_PLUGIN_STATE_DIR" & echo $! > "$OUROBOROS_PLUGIN_STATE_DIR/grandchild"; echo $$ > "$OUROBOROS_PLUGIN_STATE_DIR/child"; wait ;;
  wipe) echo wiped ;;
  daemon) (sleep 30; echo late) & echo started ;;
  trapint) sh -c 'trap "" INT; sleep 60; : "$0"' "$OUROBOROS_PLUGIN_STATE_DIR" & echo $! > "$OUROBOROS_PLUGIN_STATE_DIR/straggler"; trap 'echo caught; exit 130' INT; echo ready > "$OUROBOROS_PLUGIN_STATE_DIR/ready"; while :; do sleep 0.1; done ;;
esac
"#;

pub fn manifest(name: &str, version: &str, entrypoint: &str, hooks: Value) -> Value {
    let mut m = json!({
        "schema_version": "0.3", "name": name, "version": version,
        "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
        "commands": [
            {"namespace": format!("{name}-ns"), "name": "say", "summary": "Say", "usage": "say", "risk": "read_only"},
            {"namespace": format!("{name}-ns"), "name": "fail", "summary": "Fail", "usage": "fail", "risk": "read_only"},
            {"namespace": format!("{name}-ns"), "name": "sleep", "summary": "Sleep", "usage": "sleep", "risk": "read_only", "timeout_seconds": 2},
            {"namespace": format!("{name}-ns"), "name": "wipe", "summary": "Wipe", "usage": "wipe", "risk": "destructive", "requires_confirmation": true},
            {"namespace": format!("{name}-ns"), "name": "daemon", "summary": "Leave a child behind", "usage": "daemon", "risk": "read_only"},
            {"namespace": format!("{name}-ns"), "name": "trapint", "summary": "Catch Ctrl-C and exit 130", "usage": "trapint", "risk": "read_only", "timeout_seconds": 30}
        ],
        "capabilities": [{"name": "ledger", "access": "write"}],
        "permissions": [
            {"scope": "demo:run", "risk": "read_only", "required": true},
            {"scope": "plugin:lifecycle:read", "risk": "read_only", "required": true},
            {"scope": "plugin:lifecycle:policy", "risk": "write", "required": true}
        ],
        "entrypoint": {"type": "command", "command": entrypoint}
    });
    if !hooks.as_array().unwrap().is_empty() {
        m["hooks"] = hooks;
    }
    m
}

/// Install a trusted test plugin; returns its source directory.
pub fn install(t: &TestHome, name: &str, entrypoint: &str, hooks: Value) -> PathBuf {
    install_manifest(t, name, &manifest(name, "1.0.0", entrypoint, hooks))
}

/// Install and trust the test plugin with this manifest (see [`manifest`]).
pub fn install_manifest(t: &TestHome, name: &str, manifest: &Value) -> PathBuf {
    let dir = t.dir.path().join("src").join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    fs::write(dir.join("run.sh"), SCRIPT).unwrap();
    fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        dir.join("hook-ok.sh"),
        "#!/bin/sh\necho \"$OUROBOROS_HOOK_NAME\" >> \"$OUROBOROS_PLUGIN_STATE_DIR/hooks\"\n",
    )
    .unwrap();
    fs::write(dir.join("hook-fail.sh"), "#!/bin/sh\necho \"$OUROBOROS_HOOK_NAME\" >> \"$OUROBOROS_PLUGIN_STATE_DIR/hooks\"\nexit 1\n").unwrap();
    for f in ["hook-ok.sh", "hook-fail.sh"] {
        fs::set_permissions(dir.join(f), fs::Permissions::from_mode(0o755)).unwrap();
    }
    t.ok(&["plugin", "install", name, "--from", dir.to_str().unwrap()]);
    trust_all(t, name);
    dir
}

/// Grant every scope the test plugin's manifest declares.
pub fn trust_all(t: &TestHome, name: &str) {
    let scopes = ["demo:run", "plugin:lifecycle:read", "plugin:lifecycle:policy"];
    let mut args = vec!["plugin", "trust", name];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    t.ok(&args);
}

/// `ooo <args>` on a pseudo-terminal (util-linux `script`), stdin and stdout piped;
/// `args` is one shell command line. Callers skip when `/usr/bin/script` is missing.
pub fn spawn_on_terminal(t: &TestHome, args: &str) -> std::process::Child {
    let bin = assert_cmd::cargo::cargo_bin("ooo");
    std::process::Command::new("/usr/bin/script")
        .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .env("OUROBOROS_HOME", t.home())
        .env("USER", "tester")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn ran(t: &TestHome, name: &str) -> Vec<String> {
    fs::read_to_string(t.home().join("plugin-state").join(name).join("ran"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Events of the newest invocation.
pub fn last_invocation(t: &TestHome) -> Vec<Value> {
    let all: Vec<Value> = t
        .ok(&["ledger", "log", "--json", "--aggregate", "plugin_invocation"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = all.last().unwrap()["aggregate_id"].as_str().unwrap().to_owned();
    all.into_iter().filter(|e| e["aggregate_id"] == id.as_str()).collect()
}

pub fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["event_type"].as_str().unwrap().to_owned()).collect()
}

/// Payloads validate against upstream's audit-event schema of their family.
pub fn check_schema(events: &[Value]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/upstream/core-schemas");
    if !dir.exists() {
        eprintln!("skipping audit schema check: {} is absent", dir.display());
        return;
    }
    for e in events {
        let family = e["payload"]["schema_version"].as_str().unwrap();
        let schema: Value = serde_json::from_str(
            &fs::read_to_string(dir.join(family).join("audit-event.schema.json")).unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&e["payload"])
            .map(|err| format!("{} at {}", err, err.instance_path().as_str()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", e["event_type"]);
    }
}

/// Running (a zombie waiting to be reaped by init does not count).
/// Whether a live process has `marker` in its command line (a plugin's pids are those
/// of its sandbox's pid namespace, not the host's, so its processes are found by what
/// they carry).
pub fn running_with(marker: &Path) -> bool {
    let marker = marker.as_os_str().as_encoded_bytes();
    let Ok(procs) = fs::read_dir("/proc") else { return false };
    procs.filter_map(Result::ok).any(|p| {
        let pid: Option<i32> = p.file_name().to_str().and_then(|n| n.parse().ok());
        let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
        pid.is_some_and(alive) && cmdline.windows(marker.len()).any(|w| w == marker)
    })
}

pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(text) = fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never appeared", path.display());
}
