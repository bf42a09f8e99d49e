//! The capability channel end to end: a plugin (a small Python MCP client) talks to
//! the core over its inherited fd 3. It sees only the tools its manifest declares, calls
//! are recorded as the plugin's actor, undeclared ones are refused, the terminal audit
//! event lists what it really used, and the per-invocation quotas stop a flood.

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
    install_client(t, "talker", CLIENT)
}

/// Installs and trusts plugin `name` (command `talk`, ledger and state write) running
/// the Python `client`; returns its source folder.
fn install_client(t: &TestHome, name: &str, client: &str) -> std::path::PathBuf {
    let dir = t.dir.path().join("src").join(name);
    fs::create_dir_all(&dir).unwrap();
    let manifest = json!({
        "schema_version": "0.6", "name": name, "version": "1.0.0",
        "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
        "commands": [{"namespace": name, "name": "talk", "summary": "Use the channel", "usage": "talk", "risk": "read_only"}],
        "capabilities": [{"name": "ledger", "access": "write"}, {"name": "state", "access": "write"}],
        "permissions": [{"scope": format!("{name}:run"), "risk": "read_only", "required": true}],
        "entrypoint": {"type": "command", "command": "python3 ./client.py"}
    });
    fs::write(dir.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    fs::write(dir.join("client.py"), client).unwrap();
    fs::set_permissions(dir.join("client.py"), fs::Permissions::from_mode(0o644)).unwrap();
    t.ok(&["plugin", "install", name, "--from", dir.to_str().unwrap()]);
    t.ok(&["plugin", "trust", name, "--scope", &format!("{name}:run")]);
    dir
}

/// The client above without its calls: connection and `call` only.
fn client_prelude() -> &'static str {
    CLIENT.split("send({\"jsonrpc\": \"2.0\", \"id\": 2").next().unwrap()
}

/// Events the plugin itself appended (its actor), and the terminal event, of the newest
/// invocation.
fn plugin_events_and_terminal(t: &TestHome, name: &str) -> (usize, Value) {
    let events: Vec<Value> = t
        .ok(&["ledger", "log", "--json", "--aggregate", "plugin_invocation"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_plugin =
        events.iter().filter(|e| e["actor"] == format!("plugin:{name}").as_str()).count();
    let terminal = events
        .iter()
        .rev()
        .find(|e| e["event_type"] == "plugin.completed" || e["event_type"] == "plugin.failed")
        .unwrap()
        .clone();
    (by_plugin, terminal)
}

/// A plugin flooding `ledger_append` is cut off at the ledger-event quota: each call
/// over it gets a JSON-RPC error naming the quota and its limit, later writes are
/// refused while reads still answer, the ledger holds no more than the quota, and the
/// terminal audit event records the quota once.
#[test]
fn a_ledger_flood_stops_at_the_quota_and_is_recorded() {
    let t = TestHome::new();
    let flood = format!(
        "{}{}",
        client_prelude(),
        r#"
ok, errors = 0, []
for i in range(600):
    res = call(10 + i, "ledger_append", {"kind": "flood", "data": {"i": i, "pad": "x" * 100}})
    if "result" in res and not res["result"].get("isError"): ok += 1
    else: errors.append(res.get("error"))
after_put = call(9000, "state_put", {"key": "k", "value": 1})
after_get = call(9001, "state_get", {"key": "k"})
print(json.dumps({"ok": ok, "errors": len(errors), "first": errors[0], "last": errors[-1], "put": after_put, "get": after_get}))
"#
    );
    install_client(&t, "flooder", &flood);
    let out = t.ooo().args(["flooder", "talk"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], 500, "{report}");
    assert_eq!(report["errors"], 100, "{report}");
    let first = &report["first"];
    assert_eq!(first["code"], -32001, "{report}");
    assert_eq!(first["data"], json!({"quota": "ledger_events", "limit": 500, "observed": 501}));
    assert!(first["message"].as_str().unwrap().contains("ledger_events exceeded: limit 500"));
    assert_eq!(report["last"]["data"]["quota"], "ledger_events", "the first hit is reported");
    assert_eq!(report["put"]["error"]["data"]["quota"], "ledger_events", "writes are closed");
    assert!(report["get"]["result"].is_object(), "reads still answer: {report}");
    let (appended, terminal) = plugin_events_and_terminal(&t, "flooder");
    assert_eq!(appended, 500, "the ledger holds no more than the quota");
    let prov = &terminal["payload"]["provenance"];
    assert_eq!(prov["quota_exceeded"], "ledger_events", "{terminal}");
    assert_eq!(prov["quota_limit"], "500");
    assert_eq!(prov["quota_observed"], "501");
    // Recorded once, and the terminal event still fits upstream's audit-event schema.
    let log = t.ok(&["ledger", "log", "--json", "--aggregate", "plugin_invocation"]);
    assert_eq!(log.lines().filter(|l| l.contains("\"quota_exceeded\"")).count(), 1);
    common::firewall::check_schema(std::slice::from_ref(&terminal));
}

/// A request line longer than the byte quota is not buffered: reading stops at the
/// quota, the plugin gets one JSON-RPC error (`id: null`), nothing is appended, and the
/// terminal audit event records the quota.
#[test]
fn a_request_past_the_byte_quota_ends_the_channel_and_is_recorded() {
    let t = TestHome::new();
    let flood = format!(
        "{}{}",
        client_prelude(),
        r#"
big = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ledger_append", "arguments": {"data": {"pad": "x" * (9 * 1024 * 1024)}}}}) + "\n"
try:
    w.write(big.encode())
except BrokenPipeError:
    pass
print(json.dumps({"answer": recv()}))
"#
    );
    install_client(&t, "bigline", &flood);
    let out = t.ooo().args(["bigline", "talk"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let answer = &report["answer"];
    assert_eq!(answer["id"], Value::Null, "{report}");
    assert_eq!(answer["error"]["data"]["quota"], "request_bytes", "{report}");
    assert_eq!(answer["error"]["data"]["limit"], 8 * 1024 * 1024);
    let (appended, terminal) = plugin_events_and_terminal(&t, "bigline");
    assert_eq!(appended, 0, "nothing of the cut-off request reaches the ledger");
    let prov = &terminal["payload"]["provenance"];
    assert_eq!(prov["quota_exceeded"], "request_bytes", "{terminal}");
    assert_eq!(prov["quota_limit"], (8 * 1024 * 1024).to_string());
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
