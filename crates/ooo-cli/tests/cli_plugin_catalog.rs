//! A catalog (a git repository with `plugins/*/`) through the real binary: `add`,
//! install by name, `inspect --json`, `update` after a new commit, `verify` and `remove`,
//! pinned by snapshots of human and `--json` output.

mod common;

use common::{TestHome, with_filters};
use insta::assert_snapshot;
use std::fs;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn write_plugin(repo: &Path, name: &str, version: &str, extra_scope: bool) {
    let dir = repo.join("plugins").join(name);
    fs::create_dir_all(&dir).unwrap();
    let mut permissions = vec![
        serde_json::json!({"scope": format!("{name}:read"), "risk": "read_only", "required": true}),
    ];
    if extra_scope {
        permissions.push(serde_json::json!({"scope": format!("{name}:delete"), "risk": "destructive", "required": false}));
    }
    let manifest = serde_json::json!({
        "schema_version": "0.6", "name": name, "version": version,
        "description": format!("The {name} test plugin"),
        "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
        "commands": [{"namespace": format!("{name}-ns"), "name": "hello", "summary": "Say hello", "usage": "hello", "risk": "read_only"}],
        "capabilities": [], "permissions": permissions,
        "entrypoint": {"type": "command", "command": "./hello.sh"}
    });
    fs::write(dir.join("ouroboros.plugin.json"), serde_json::to_string_pretty(&manifest).unwrap())
        .unwrap();
    fs::write(dir.join("hello.sh"), "#!/bin/sh\necho hello\n").unwrap();
}

#[test]
fn a_git_catalog_from_add_to_remove() {
    let t = TestHome::new();
    let repo = t.dir.path().join("catalog");
    write_plugin(&repo, "alpha", "1.0.0", false);
    write_plugin(&repo, "bravo", "0.2.0", false);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let url = format!("file://{}", repo.display());
    with_filters(&t, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\b[0-9a-f]{40}\b", "[GIT-SHA]");
        settings.bind(|| {
            assert_snapshot!("catalog_add", t.shown(&["plugin", "add", &url]));
            assert_snapshot!("catalog_install", t.shown(&["plugin", "install", "alpha"]));
            t.shown(&["plugin", "trust", "alpha", "--scope", "alpha:read"]);
            assert_snapshot!(
                "catalog_inspect_json",
                t.shown(&["plugin", "inspect", "alpha", "--json"])
            );
            write_plugin(&repo, "alpha", "1.1.0", true);
            git(&repo, &["commit", "-q", "-am", "v2"]);
            let before: serde_json::Value =
                serde_json::from_str(&t.ok(&["plugin", "inspect", "alpha", "--json"])).unwrap();
            assert_snapshot!("catalog_update", t.shown(&["plugin", "update", "alpha"]));
            let after: serde_json::Value =
                serde_json::from_str(&t.ok(&["plugin", "inspect", "alpha", "--json"])).unwrap();
            // The filters hide digests and shas: check here that both really changed.
            assert_ne!(before["artifact_digest"], after["artifact_digest"]);
            assert_ne!(before["git_sha"], after["git_sha"]);
            assert_snapshot!("catalog_verify_ok", t.shown(&["plugin", "verify"]));
            fs::write(t.home().join("plugins/alpha/hello.sh"), "#!/bin/sh\necho changed\n")
                .unwrap();
            let changed = t.shown(&["plugin", "verify", "--json"]);
            let report: serde_json::Value =
                serde_json::from_str(changed.lines().next().unwrap()).unwrap();
            assert_ne!(report["plugins"][0]["expected"], report["plugins"][0]["actual"]);
            assert_snapshot!("catalog_verify_changed_json", changed);
            assert_snapshot!("catalog_remove", t.shown(&["plugin", "remove", "alpha"]));
            assert_snapshot!("catalog_list_after_remove", t.shown(&["plugin", "list", "--json"]));
        });
    });
}
