//! Manifest rules, one case each, on our own fixtures: what loads, what is refused and
//! at which JSON pointer.

use ooo_plugin::manifest::{self, rules};
use serde_json::{Value, json};
use std::path::Path;

fn base(version: &str) -> Value {
    json!({
        "schema_version": version,
        "name": "demo-plugin",
        "version": "1.2.3",
        "source": {"type": "plugin_home", "path": "plugins/demo-plugin"},
        "commands": [{
            "namespace": "demo", "name": "greet", "summary": "Say hello", "usage": "ooo demo greet <name>",
            "risk": "read_only", "permissions": ["demo:read"]
        }],
        "capabilities": [{"name": "ledger", "access": "write", "reason": "record greetings"}],
        "permissions": [
            {"scope": "demo:read", "risk": "read_only", "required": true},
            {"scope": "plugin:lifecycle:read", "risk": "read_only", "required": true},
            {"scope": "plugin:lifecycle:policy", "risk": "write", "required": true},
            {"scope": "plugin:tool:intercept", "risk": "write", "required": true},
            {"scope": "plugin:tool:observe", "risk": "read_only", "required": true},
            {"scope": "plugin:rewind:observe", "risk": "read_only", "required": true},
            {"scope": "net:api", "risk": "read_only", "required": false}
        ],
        "entrypoint": {"type": "command", "command": "bin/demo --flag"}
    })
}

fn with(version: &str, patch: Value) -> Value {
    let mut doc = base(version);
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            doc.as_object_mut().unwrap().remove(k);
        } else {
            doc[k] = v.clone();
        }
    }
    doc
}

fn load(doc: &Value) -> Result<manifest::Manifest, manifest::ManifestError> {
    manifest::parse(doc.to_string().as_bytes(), Path::new("test/ouroboros.plugin.json"))
}

#[track_caller]
fn refused_at(doc: Value, pointer: &str) -> String {
    match load(&doc) {
        Ok(_) => panic!("accepted; expected a failure at {pointer}: {doc}"),
        Err(e) => {
            assert_eq!(e.pointer.as_deref(), Some(pointer), "{e}");
            e.to_string()
        }
    }
}

fn hook(name: &str, policy: &str, perms: &[&str]) -> Value {
    json!({"name": name, "entrypoint": {"type": "command", "command": "bin/hook"}, "failure_policy": policy, "permissions": perms})
}

#[test]
fn every_version_loads_a_plain_manifest() {
    for v in manifest::SUPPORTED_VERSIONS {
        let m = load(&base(v)).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(m.namespace(), "demo");
        assert_eq!(m.description, "");
        assert!(!m.commands[0].requires_confirmation);
    }
}

#[test]
fn version_detection() {
    let e = refused_at(with("0.1", json!({"schema_version": null})), "/schema_version");
    assert!(e.contains("missing `schema_version`"), "{e}");
    let e = refused_at(with("0.5", json!({})), "/schema_version");
    assert!(e.contains("0.1, 0.2, 0.3, 0.4, 0.6"), "{e}");
    refused_at(with("0.1", json!({"schema_version": 1})), "/schema_version");
    refused_at(with("0.10", json!({})), "/schema_version");
}

#[test]
fn not_json_or_not_an_object() {
    let e = manifest::parse(b"{ nope", Path::new("m.json")).unwrap_err();
    assert_eq!(e.pointer, None);
    assert!(e.to_string().starts_with("m.json: manifest is not valid JSON"), "{e}");
    let e = manifest::parse(b"[1]", Path::new("m.json")).unwrap_err();
    assert_eq!(e.pointer.as_deref(), Some(""));
}

#[test]
fn schema_rules_report_the_first_pointer() {
    refused_at(with("0.1", json!({"name": "Bad Name"})), "/name");
    refused_at(with("0.1", json!({"version": "1.0"})), "/version");
    refused_at(with("0.1", json!({"commands": []})), "/commands");
    refused_at(
        with("0.1", json!({"capabilities": [{"name": "telepathy", "access": "read"}]})),
        "/capabilities/0/name",
    );
    refused_at(with("0.1", json!({"source": {"type": "local_path"}})), "/source");
    refused_at(
        with("0.1", json!({"entrypoint": {"type": "command", "command": ""}})),
        "/entrypoint/command",
    );
    refused_at(with("0.1", json!({"name": null})), "");
    // Extra keys: the first one in document order is named; x-* objects are allowed.
    let doc = with("0.1", json!({"zzz": 1, "aaa": 2}));
    // Like upstream, an unexpected key is reported at the object holding it.
    let message = refused_at(doc, "");
    assert!(message.contains("zzz"), "{message}");
    load(&with("0.1", json!({"x-vendor": {"anything": true}}))).unwrap();
    refused_at(with("0.1", json!({"x-vendor": 1})), "/x-vendor");
    // An earlier path wins over a later one.
    refused_at(
        with(
            "0.1",
            json!({"name": "Bad", "capabilities": [{"name": "telepathy", "access": "read"}]}),
        ),
        "/capabilities/0/name",
    );
    let mut timeout = base("0.1");
    timeout["commands"][0]["timeout_seconds"] = json!(0);
    refused_at(timeout, "/commands/0/timeout_seconds");
}

#[test]
fn source_path_rules() {
    for (path, why) in [
        ("a\\b", "forward slashes"),
        ("C:x", "drive-qualified"),
        ("/abs", "not absolute"),
        ("a/../b", "'..'"),
    ] {
        let e = refused_at(
            with("0.1", json!({"source": {"type": "local_path", "path": path}})),
            "/source/path",
        );
        assert!(e.contains(why), "{e}");
    }
    for path in [".", "./a", "a//b", "a/", "..."] {
        load(&with("0.1", json!({"source": {"type": "local_path", "path": path}}))).unwrap();
    }
    // first_party needs no path.
    load(&with("0.1", json!({"source": {"type": "first_party"}}))).unwrap();
}

#[test]
fn a_scope_is_declared_once() {
    let mut doc = base("0.1");
    doc["permissions"][6] = json!({"scope": "demo:read", "risk": "destructive", "required": false});
    refused_at(doc, "/permissions/6/scope");
}

#[test]
fn command_permissions_must_be_declared() {
    let mut doc = base("0.1");
    doc["commands"][0]["permissions"] = json!(["demo:read", "demo:write"]);
    let e = refused_at(doc, "/commands/0/permissions/1");
    assert!(e.contains("declared in top-level permissions"));
}

#[test]
fn hooks_per_version() {
    // 0.1: no hooks at all, not even an empty list.
    refused_at(with("0.1", json!({"hooks": []})), "");
    // 0.2: loads names it never runs, without lifecycle rules.
    load(&with("0.2", json!({"hooks": [hook("after_invocation", "fail_closed", &[])]}))).unwrap();
    // 0.3: lifecycle hooks only, with lifecycle scopes.
    load(&with(
        "0.3",
        json!({"hooks": [hook("before_invocation", "fail_closed", &["plugin:lifecycle:policy"])]}),
    ))
    .unwrap();
    refused_at(
        with(
            "0.3",
            json!({"hooks": [hook("before_tool_call", "fail_open", &["plugin:tool:observe"])]}),
        ),
        "/hooks/0/name",
    );
    refused_at(
        with(
            "0.3",
            json!({"hooks": [hook("after_invocation", "fail_closed", &["plugin:lifecycle:policy"])]}),
        ),
        "/hooks/0/failure_policy",
    );
    refused_at(
        with(
            "0.3",
            json!({"hooks": [hook("before_invocation", "fail_closed", &["plugin:lifecycle:read"])]}),
        ),
        "/hooks/0/permissions",
    );
    refused_at(
        with(
            "0.3",
            json!({"hooks": [hook("on_error", "fail_open", &["plugin:lifecycle:policy"])]}),
        ),
        "/hooks/0/permissions",
    );
    // 0.4: tool-call hooks.
    load(&with(
        "0.4",
        json!({"hooks": [hook("before_tool_call", "fail_closed", &["plugin:tool:intercept"])]}),
    ))
    .unwrap();
    refused_at(
        with(
            "0.4",
            json!({"hooks": [hook("before_tool_call", "fail_closed", &["plugin:tool:observe"])]}),
        ),
        "/hooks/0/permissions",
    );
    refused_at(
        with(
            "0.4",
            json!({"hooks": [hook("after_tool_call", "fail_open", &["plugin:tool:intercept"])]}),
        ),
        "/hooks/0/permissions",
    );
    refused_at(
        with("0.4", json!({"hooks": [hook("on_rewind", "fail_open", &["plugin:rewind:observe"])]})),
        "/hooks/0/name",
    );
    // 0.6: on_rewind, observe-only and with exactly its scope.
    load(&with(
        "0.6",
        json!({"hooks": [hook("on_rewind", "fail_open", &["plugin:rewind:observe"])]}),
    ))
    .unwrap();
    refused_at(
        with(
            "0.6",
            json!({"hooks": [hook("on_rewind", "fail_closed", &["plugin:rewind:observe"])]}),
        ),
        "/hooks/0/failure_policy",
    );
}

#[test]
fn hook_scopes_must_be_declared_and_required() {
    let mut doc =
        with("0.3", json!({"hooks": [hook("on_cancel", "fail_open", &["plugin:lifecycle:read"])]}));
    doc["permissions"] = json!([{"scope": "demo:read", "risk": "read_only", "required": true}]);
    refused_at(doc.clone(), "/hooks/0/permissions/0");
    doc["permissions"] = json!([
        {"scope": "demo:read", "risk": "read_only", "required": true},
        {"scope": "plugin:lifecycle:read", "risk": "read_only", "required": false}
    ]);
    refused_at(doc, "/permissions");
    let mut doc =
        with("0.6", json!({"hooks": [hook("on_rewind", "fail_open", &["plugin:rewind:observe"])]}));
    doc["permissions"][5]["required"] = json!(false);
    let e = refused_at(doc, "/permissions");
    assert!(e.contains("on_rewind"), "{e}");
}

#[test]
fn explicit_audit_events_must_cover_what_runs() {
    load(&with("0.1", json!({"audit": {"events": ["plugin.invoked"]}}))).unwrap();
    let doc = with(
        "0.3",
        json!({
            "audit": {"events": ["plugin.invoked", "plugin.permission_used", "plugin.completed", "plugin.failed"]},
            "hooks": [hook("on_error", "fail_open", &["plugin:lifecycle:read"])]
        }),
    );
    let e = refused_at(doc, "/audit/events");
    assert!(e.contains("plugin.hook.blocked"), "{e}");
    refused_at(
        with("0.1", json!({"audit": {"events": ["plugin.hook.invoked"]}})),
        "/audit/events/0",
    );
}

#[test]
fn our_extension_is_strict() {
    let ok = json!({"x-ouroboros": {"env": {"API_TOKEN": "net:api"}, "network": {"scope": "net:api", "hosts": ["api.example.com", "*.example.org:8443"]}, "fs": {"workspace": "write", "write_scope": "plugin:lifecycle:policy"}}});
    let m = load(&with("0.6", ok)).unwrap();
    assert_eq!(m.x_ouroboros.unwrap().network.unwrap().hosts.len(), 2);
    refused_at(
        with("0.6", json!({"x-ouroboros": {"env": {"API_TOKEN": "undeclared:scope"}}})),
        "/x-ouroboros/env/API_TOKEN",
    );
    refused_at(
        with("0.6", json!({"x-ouroboros": {"network": {"scope": "net:other"}}})),
        "/x-ouroboros/network/scope",
    );
    refused_at(
        with("0.6", json!({"x-ouroboros": {"fs": {"workspace": "write"}}})),
        "/x-ouroboros/fs",
    );
    refused_at(
        with("0.6", json!({"x-ouroboros": {"fs": {"workspace": "everything"}}})),
        "/x-ouroboros/fs/workspace",
    );
    refused_at(with("0.6", json!({"x-ouroboros": {"surprise": {}}})), "/x-ouroboros");
    refused_at(
        with(
            "0.6",
            json!({"x-ouroboros": {"network": {"scope": "net:api", "hosts": ["http://x"]}}}),
        ),
        "/x-ouroboros/network/hosts/0",
    );
}

#[test]
fn a_read_only_scope_cannot_open_workspace_write() {
    let doc = with(
        "0.6",
        json!({"x-ouroboros": {"fs": {"workspace": "write", "write_scope": "demo:read"}}}),
    );
    let e = refused_at(doc, "/x-ouroboros/fs/write_scope");
    assert!(e.contains("\"demo:read\" has risk read_only"), "names the scope: {e}");
    assert!(e.contains("opens workspace write"), "names the resource: {e}");
    assert!(e.contains("set \"risk\": \"write\" at /permissions/0"), "names the fix: {e}");
    // The same scope may read the workspace, and a read_only scope may still carry
    // network and environment (listed for consent, see `opens`).
    load(&with(
        "0.6",
        json!({"x-ouroboros": {"fs": {"workspace": "read", "write_scope": "demo:read"}, "env": {"T": "net:api"}, "network": {"scope": "net:api", "hosts": ["api.example.com"]}}}),
    ))
    .unwrap();
}

#[test]
fn warnings_for_what_will_not_install_or_run() {
    let mut doc = base("0.1");
    doc["commands"] = json!([
        {"namespace": "demo", "name": "go", "summary": "s", "usage": "u", "risk": "read_only"},
        {"namespace": "other", "name": "go", "summary": "s", "usage": "u", "risk": "read_only"}
    ]);
    doc["entrypoint"]["command"] = json!("bin/demo 'unclosed");
    let m = load(&doc).unwrap();
    let w = rules::warnings(&m);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        rules::entrypoint_words("python3 -m demo 'a b'").unwrap()
            == ["python3", "-m", "demo", "a b"]
    );
    assert!(rules::entrypoint_words("   ").is_none());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_bytes_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = manifest::parse(&bytes, Path::new("fuzz.json"));
        }

        /// Replacing any one value of a valid manifest either still loads or fails at a
        /// pointer that names something in the document (or the root).
        #[test]
        fn mutated_manifests_fail_at_a_real_place(version in prop::sample::select(manifest::SUPPORTED_VERSIONS.to_vec()), pick in any::<prop::sample::Index>(), replacement in prop_oneof![Just(json!(null)), Just(json!(7)), Just(json!("X Y")), Just(json!([])), Just(json!({}))]) {
            let mut doc = base(version);
            let mut pointers = Vec::new();
            collect(&doc, String::new(), &mut pointers);
            let target = pick.get(&pointers).clone();
            *doc.pointer_mut(&target).unwrap() = replacement;
            if let Err(e) = load(&doc) {
                let p = e.pointer.clone().unwrap_or_default();
                let exists = p.is_empty() || doc.pointer(&p).is_some() || p.starts_with(&target) || target.starts_with(&p);
                prop_assert!(exists, "{} (changed {})", e, target);
            }
        }
    }

    fn collect(v: &Value, here: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| collect(v, format!("{here}/{k}"), out)),
            Value::Array(a) => {
                a.iter().enumerate().for_each(|(i, v)| collect(v, format!("{here}/{i}"), out))
            }
            _ => {}
        }
        if !here.is_empty() {
            out.push(here);
        }
    }
}

/// A command's `x-ouroboros.scopes` must be declared, and they gate that command on top
/// of the plugin's required scopes; its upstream `permissions` gate nothing.
#[test]
fn command_scopes() {
    let with_scopes = |scopes: Value| {
        let mut doc = base("0.6");
        doc["commands"][0]["x-ouroboros"] = json!({"scopes": scopes});
        doc
    };
    let m = load(&with_scopes(json!(["net:api"]))).unwrap();
    let needed = m.scopes_for(&m.commands[0]);
    assert_eq!(needed.first(), Some(&"demo:read"));
    assert!(needed.contains(&"net:api"), "{needed:?}");
    assert_eq!(needed.iter().filter(|s| **s == "demo:read").count(), 1, "no duplicates");
    let mut optional_in_permissions = base("0.6");
    optional_in_permissions["commands"][0]["permissions"] = json!(["net:api"]);
    let m = load(&optional_in_permissions).unwrap();
    assert!(!m.scopes_for(&m.commands[0]).contains(&"net:api"), "as upstream: audit only");
    refused_at(with_scopes(json!(["net:other"])), "/commands/0/x-ouroboros/scopes/0");
    refused_at(with_scopes(json!(["Bad Scope"])), "/commands/0/x-ouroboros/scopes/0");
    let mut unknown = base("0.6");
    unknown["commands"][0]["x-ouroboros"] = json!({"scope": ["net:api"]});
    assert!(load(&unknown).is_err(), "unknown keys in the command extension are refused");
}
