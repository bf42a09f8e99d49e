//! A catalog (a git repository with `plugins/*/`) through the real binary: `add`,
//! install by name, `inspect --json`, `update` after a new commit, `verify` and `remove`,
//! pinned by snapshots of human and `--json` output; `--ref` on a local directory.

mod common;

use common::{TestHome, with_filters};
use insta::assert_snapshot;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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
    fs::set_permissions(dir.join("hello.sh"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// A git catalog `catalog` offering alpha 1.0.0 at tag `v1` and 2.0.0 at `main`.
fn two_versions(t: &TestHome) -> PathBuf {
    let repo = t.dir.path().join("catalog");
    write_plugin(&repo, "alpha", "1.0.0", false);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    git(&repo, &["tag", "v1"]);
    write_plugin(&repo, "alpha", "2.0.0", false);
    git(&repo, &["commit", "-q", "-am", "v2"]);
    repo
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

/// `--ref` on a local directory reads that version from the git repository the
/// directory is in (not the files as they are now); a plain directory has no versions,
/// so `--ref` there is refused rather than ignored.
#[test]
fn ref_on_a_local_directory_is_honoured_in_git_and_refused_elsewhere() {
    let t = TestHome::new();
    let repo = two_versions(&t);
    write_plugin(&repo, "alpha", "3.0.0", true); // not committed
    let plugin = repo.join("plugins/alpha");
    let out =
        t.ok(&["plugin", "install", "alpha", "--from", plugin.to_str().unwrap(), "--ref", "v1"]);
    assert!(out.starts_with("installed alpha 1.0.0 from "), "{out}");
    let inspect: serde_json::Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "alpha", "--json"])).unwrap();
    assert_eq!(inspect["requested_ref"], "v1");
    assert_eq!(inspect["source_identity"], plugin.canonicalize().unwrap().display().to_string());
    assert_eq!(inspect["git_sha"].as_str().unwrap().len(), 40);
    // Without --ref, the directory as it is now.
    let out = t.ok(&["plugin", "install", "alpha", "--from", plugin.to_str().unwrap()]);
    assert!(out.starts_with("alpha: 1.0.0 -> 3.0.0 from "), "{out}");

    let plain = t.dir.path().join("plain");
    write_plugin(&plain, "bravo", "1.0.0", false);
    let dir = plain.join("plugins/bravo");
    with_filters(&t, || {
        assert_snapshot!(
            "ref_on_a_plain_directory",
            t.shown(&[
                "plugin",
                "install",
                "bravo",
                "--from",
                dir.to_str().unwrap(),
                "--ref",
                "v1"
            ])
        )
    });
}

/// Catalogs outlive the plugins installed from them, and are managed on their own:
/// list, refresh (what a new commit offers), search, remove.
#[test]
fn catalogs_are_listed_refreshed_searched_and_removed() {
    let t = TestHome::new();
    let repo = t.dir.path().join("catalog");
    write_plugin(&repo, "alpha", "1.0.0", false);
    write_plugin(&repo, "bravo", "0.2.0", false);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let url = format!("file://{}", repo.display());
    t.ok(&["plugin", "add", &url, "--plugin", "alpha"]);
    t.ok(&["plugin", "remove", "alpha"]);
    assert!(
        t.ok(&["plugin", "install", "alpha"]).starts_with("installed alpha 1.0.0"),
        "the catalog stayed"
    );
    write_plugin(&repo, "charlie", "3.0.0", false);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "charlie"]);
    with_filters(&t, || {
        assert_snapshot!("catalog_list", t.shown(&["plugin", "catalog", "list"]));
        assert_snapshot!("catalog_refresh", t.shown(&["plugin", "catalog", "refresh"]));
        assert_snapshot!("search", t.shown(&["plugin", "search", "TEST PLUGIN"]));
        assert_snapshot!("search_json", t.shown(&["plugin", "search", "charlie", "--json"]));
        assert_snapshot!("catalog_unregister", t.shown(&["plugin", "catalog", "remove", &url]));
    });
    assert_eq!(t.ok(&["plugin", "catalog", "list", "--json"]), "");
    let out = t.ooo().args(["plugin", "install", "bravo"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in any known catalog"));
    assert!(t.ok(&["plugin", "list"]).contains("alpha"), "installed plugins stay installed");
}

/// `update --dry-run` shows the version, permission and file changes and changes
/// nothing; `update --ref` moves to that version.
#[test]
fn update_dry_run_and_ref() {
    let t = TestHome::new();
    let repo = t.dir.path().join("catalog");
    write_plugin(&repo, "alpha", "1.0.0", false);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    git(&repo, &["tag", "v1"]);
    let url = format!("file://{}", repo.display());
    t.ok(&["plugin", "install", "alpha", "--from", &url]);
    write_plugin(&repo, "alpha", "1.1.0", true);
    fs::write(repo.join("plugins/alpha/README"), "new\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v2"]);
    with_filters(&t, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\b[0-9a-f]{40}\b", "[GIT-SHA]");
        settings.bind(|| {
            assert_snapshot!("update_dry_run", t.shown(&["plugin", "update", "alpha", "--dry-run"]))
        });
    });
    let version = |t: &TestHome| {
        let v: serde_json::Value =
            serde_json::from_str(&t.ok(&["plugin", "inspect", "alpha", "--json"])).unwrap();
        v["version"].as_str().unwrap().to_owned()
    };
    assert_eq!(version(&t), "1.0.0", "a dry run changes nothing");
    assert!(t.ok(&["plugin", "update", "alpha"]).contains("alpha: 1.0.0 -> 1.1.0"));
    let back = t.ok(&["plugin", "update", "alpha", "--ref", "v1"]);
    assert!(back.contains("alpha: 1.1.0 -> 1.0.0") && back.contains("removed  README"), "{back}");
    assert_eq!(version(&t), "1.0.0");
}

/// A catalog registered at a ref installs that ref when a plugin is installed by name
/// later (not the default branch).
#[test]
fn install_by_name_reads_the_catalog_at_its_ref() {
    let t = TestHome::new();
    let repo = two_versions(&t);
    let url = format!("file://{}", repo.display());
    t.ok(&["plugin", "add", &url, "--ref", "v1"]);
    let out = t.ok(&["plugin", "install", "alpha"]);
    assert!(out.starts_with("installed alpha 1.0.0 from "), "{out}");
    // An explicit --ref still wins.
    let out = t.ok(&["plugin", "install", "alpha", "--ref", "main", "--force"]);
    assert!(out.contains("2.0.0"), "{out}");
}

/// `add --plugin` over a plugin installed from another source is refused without a
/// terminal, and the `--force` the refusal names works on `add` too.
#[test]
fn add_with_plugin_over_another_source_takes_force() {
    let t = TestHome::new();
    let local = t.dir.path().join("local");
    write_plugin(&local, "alpha", "1.0.0", false);
    t.ok(&["plugin", "install", "alpha", "--from", local.join("plugins/alpha").to_str().unwrap()]);
    let repo = t.dir.path().join("catalog");
    write_plugin(&repo, "alpha", "1.1.0", false);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let url = format!("file://{}", repo.display());
    let refused = t.std_ooo().args(["plugin", "add", &url, "--plugin", "alpha"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let out = t.ok(&["plugin", "add", &url, "--plugin", "alpha", "--force"]);
    assert!(out.contains("1.1.0"), "{out}");
}
