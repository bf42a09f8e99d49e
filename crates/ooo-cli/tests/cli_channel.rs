//! The capability channel end to end: a plugin (a small Python MCP client) talks to
//! the core over its inherited fd 3. It sees only the tools its manifest declares, calls
//! are recorded as the plugin's actor, undeclared ones are refused, and the terminal
//! audit event lists what it really used.

mod common;

use common::TestHome;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const CLIENT: &str = r#"
import json, os, sys
fd = int(os.environ["OUROBOROS_CORE_FD"])
r = os.fdopen(fd, "rb", buffering=0)
w = os.fdopen(os.dup(fd), "wb", buffering=0)
def send(o): w.write((json.dumps(o) + "\n").encode())
def recv():
    line = b""
    while not line.endswith(b"\n"):
        c = r.read(1)
        if not c: return None
        line += c
    return json.loads(line)
def call(i, name, args):
    send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}})
    return recv()
send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test-plugin", "version": "1"}}})
recv()
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
tools = sorted(t["name"] for t in recv()["result"]["tools"])
report = {"tools": tools}
report["put"] = call(3, "state_put", {"key": "counter", "value": {"n": 1}})
report["get"] = call(4, "state_get", {"key": "counter"})
report["evidence"] = call(5, "ledger_append", {"kind": "checked", "data": {"ok": True}})
report["undeclared"] = call(6, "provenance_record", {"kind": "repo", "identifier": "x", "action": "read"})
print(json.dumps(report))
"#;

/// Installs and trusts `talker` (the client above) from a source folder; returns the folder.
fn install_talker(t: &TestHome) -> std::path::PathBuf {
    let dir = t.dir.path().join("src/talker");
    fs::create_dir_all(&dir).unwrap();
    let manifest = json!({
        "schema_version": "0.6", "name": "talker", "version": "1.0.0",
        "source": {"type": "plugin_home", "path": "plugins/talker"},
        "commands": [{"namespace": "talker", "name": "talk", "summary": "Use the channel", "usage": "talk", "risk": "read_only"}],
        "capabilities": [{"name": "ledger", "access": "write"}, {"name": "state", "access": "write"}],
        "permissions": [{"scope": "talker:run", "risk": "read_only", "required": true}],
        "entrypoint": {"type": "command", "command": "python3 ./client.py"}
    });
    fs::write(dir.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    fs::write(dir.join("client.py"), CLIENT).unwrap();
    fs::set_permissions(dir.join("client.py"), fs::Permissions::from_mode(0o644)).unwrap();
    t.ok(&["plugin", "install", "talker", "--from", dir.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "talker", "--scope", "talker:run"]);
    dir
}

#[test]
fn a_plugin_uses_only_its_declared_capabilities() {
    let t = TestHome::new();
    install_talker(&t);
    let out = t.ooo().args(["talker", "talk"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["tools"],
        json!([
            "ledger_append",
            "ledger_read",
            "state_delete",
            "state_get",
            "state_list",
            "state_put"
        ])
    );
    assert!(report["put"]["result"].is_object(), "{report}");
    assert!(
        report["get"]["result"]["content"][0]["text"].as_str().unwrap().contains("\"n\":1"),
        "{report}"
    );
    assert!(
        report["undeclared"]["error"].is_object(),
        "an undeclared capability is refused: {report}"
    );
    let events: Vec<Value> = t
        .ok(&["ledger", "log", "--json", "--aggregate", "plugin_invocation"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_plugin: Vec<&Value> = events.iter().filter(|e| e["actor"] == "plugin:talker").collect();
    let types: Vec<&str> = by_plugin.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["plugin.state.put", "plugin.evidence.recorded"]);
    let done = events.iter().find(|e| e["event_type"] == "plugin.completed").unwrap();
    assert_eq!(done["payload"]["capabilities_used"], json!(["ledger:write", "state:write"]));
}

/// The Rust SDK against the real channel server: one line per capability, refusals as
/// errors, effects in the ledger as the plugin's actor.
#[test]
fn the_sdk_speaks_to_the_real_server() {
    use ooo_core::ledger::{EventQuery, SqliteStore, Store};
    use ooo_mcp::capability::{CapabilityServer, Channel, Grant, Session};
    use ooo_plugin_sdk::{Core, SdkError};

    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.db");
    SqliteStore::open(&ledger_path).unwrap();
    let session = Session {
        plugin: "sdk-user".into(),
        invocation_id: "01JSDKTEST0000000000000000".into(),
        ledger_path: ledger_path.clone(),
        seeds_dir: dir.path().join("seeds"),
        declared: vec![
            Grant { name: "state".into(), access: "write".into() },
            Grant { name: "ledger".into(), access: "write".into() },
        ],
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let channel = Channel::serve(CapabilityServer::new(session).unwrap(), ours).unwrap();
    let mut core = Core::over(theirs).unwrap();
    assert!(core.tools().unwrap().contains(&"state_put".to_string()));
    core.state_put("greeting", json!("hello")).unwrap();
    assert_eq!(core.state_get("greeting").unwrap(), json!("hello"));
    assert_eq!(core.state_list("").unwrap(), ["greeting"]);
    assert!(core.ledger_append("checked", json!({"ok": true})).unwrap() > 0);
    let refused = core.progress("step", 0.5).unwrap_err();
    assert!(matches!(refused, SdkError::Refused { .. }), "{refused}");
    drop(core);
    assert_eq!(channel.finish(), ["ledger:write", "state:write"]);
    let events = SqliteStore::open(&ledger_path).unwrap().query(&EventQuery::default()).unwrap();
    assert!(events.iter().all(|e| e.actor == "plugin:sdk-user"));
    assert_eq!(events.len(), 2);
}

/// State a plugin keeps through the channel is a projection of its `plugin.state.*`
/// events: an update keeps it, a plain remove keeps it for a reinstall, `--purge` clears
/// it (and only this plugin's rows).
#[test]
fn channel_state_survives_update_and_goes_with_purge() {
    use ooo_core::ledger::{SqliteStore, Store};
    use ooo_mcp::capability::STATE;

    let t = TestHome::new();
    let dir = install_talker(&t);
    t.ok(&["talker", "talk"]);
    let row =
        |key: &str| SqliteStore::open(t.ledger_db()).unwrap().projection_get(STATE, key).unwrap();
    assert_eq!(row("talker/counter"), Some(json!({"n": 1})));
    // Another plugin's row, which a purge of talker must leave alone.
    let other = t.dir.path().join("src/other");
    fs::create_dir_all(&other).unwrap();
    let manifest =
        fs::read_to_string(dir.join("ouroboros.plugin.json")).unwrap().replace("talker", "other");
    fs::write(other.join("ouroboros.plugin.json"), manifest).unwrap();
    fs::copy(dir.join("client.py"), other.join("client.py")).unwrap();
    t.ok(&["plugin", "install", "other", "--from", other.to_str().unwrap()]);
    t.ok(&["plugin", "trust", "other", "--scope", "other:run"]);
    t.ok(&["other", "talk"]);
    assert_eq!(row("other/counter"), Some(json!({"n": 1})));

    let manifest = fs::read_to_string(dir.join("ouroboros.plugin.json"))
        .unwrap()
        .replace("\"1.0.0\"", "\"1.1.0\"");
    fs::write(dir.join("ouroboros.plugin.json"), manifest).unwrap();
    t.ok(&["plugin", "update", "talker"]);
    assert_eq!(row("talker/counter"), Some(json!({"n": 1})), "state survives update");
    t.ok(&["plugin", "remove", "talker"]);
    assert_eq!(row("talker/counter"), Some(json!({"n": 1})), "a plain remove keeps state");
    t.ok(&["plugin", "install", "talker", "--from", dir.to_str().unwrap()]);
    t.ok(&["plugin", "remove", "talker", "--purge"]);
    assert_eq!(row("talker/counter"), None, "--purge clears it");
    assert_eq!(row("other/counter"), Some(json!({"n": 1})), "other plugins keep theirs");
}
