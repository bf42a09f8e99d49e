//! The plugin lifecycle against a real home, ledger and (for catalogs) a real git
//! repository created by the test and reached through a file:// URL.

use ooo_core::home::Home;
use ooo_core::ledger::{Actor, EventQuery, SqliteStore, Store};
use ooo_plugin::digest::tree_digest;
use ooo_plugin::manager::{FailPoint, Manager, ManagerError};
use ooo_plugin::trust::TrustState;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Env {
    dir: tempfile::TempDir,
    home: Home,
    ledger: SqliteStore,
    actor: Actor,
}

/// The home's ledger with every projection registered, as the application opens it.
fn open(home: &Home) -> SqliteStore {
    let mut ledger = SqliteStore::open(home.ledger_db()).unwrap();
    ledger.register_all(ooo_core::PROJECTIONS);
    ledger.register_all(ooo_plugin::PROJECTIONS);
    ledger
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::prepare(dir.path().join("home")).unwrap();
    let ledger = open(&home);
    Env { dir, home, ledger, actor: Actor::user("tester").unwrap() }
}

impl Env {
    /// A manager that replaces installed plugins without asking (the tests install
    /// versions from different directories, which are different sources).
    fn manager(&self) -> Manager {
        let mut m = self.cautious_manager();
        m.replace = ooo_plugin::manager::Replace::Force;
        m
    }

    /// A manager as the CLI makes it without a terminal: it refuses to replace a plugin
    /// from another source or with a lower version.
    fn cautious_manager(&self) -> Manager {
        Manager::new(
            self.home.clone(),
            vec!["ledger".into(), "seed".into(), "plugin".into(), "help".into()],
        )
    }

    /// Write a plugin directory with a manifest and a script.
    fn plugin(
        &self,
        parent: &str,
        name: &str,
        version: &str,
        extra_permissions: &[(&str, &str, bool)],
    ) -> PathBuf {
        let dir = self.dir.path().join(parent).join(name);
        fs::create_dir_all(dir.join("bin")).unwrap();
        let mut permissions =
            vec![json!({"scope": format!("{name}:read"), "risk": "read_only", "required": true})];
        for (scope, risk, required) in extra_permissions {
            permissions.push(json!({"scope": scope, "risk": risk, "required": required}));
        }
        let manifest = json!({
            "schema_version": "0.3",
            "name": name,
            "version": version,
            "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
            "commands": [{"namespace": format!("{name}-ns"), "name": "run", "summary": "Run", "usage": "run", "risk": "read_only"}],
            "capabilities": [],
            "permissions": permissions,
            "entrypoint": {"type": "command", "command": "bin/run.sh"}
        });
        fs::write(
            dir.join("ouroboros.plugin.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        fs::write(dir.join("bin/run.sh"), format!("#!/bin/sh\necho {name} {version}\n")).unwrap();
        fs::set_permissions(dir.join("bin/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// Staging copies, backups and markers left in `plugins/`.
    fn leftovers(&self) -> Vec<String> {
        fs::read_dir(self.home.root().join("plugins"))
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    fn lockfile(&self) -> String {
        fs::read_to_string(self.home.root().join("plugins.lock")).unwrap_or_default()
    }

    fn events(&self, name: &str) -> Vec<String> {
        self.ledger
            .query(&EventQuery {
                aggregate_type: Some("plugin".into()),
                aggregate_id: Some(name.into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }
}

fn state_of(e: &Env, m: &Manager, name: &str) -> TrustState {
    m.list(&e.ledger).unwrap().into_iter().find(|r| r.name == name).unwrap().trust_state
}

#[test]
fn install_copies_digests_and_records_without_trusting() {
    let mut e = env();
    let src = e.plugin("src", "alpha", "1.0.0", &[]);
    let m = e.manager();
    let report =
        m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    let installed = e.home.root().join("plugins/alpha");
    assert_eq!(
        report.artifact_digest,
        tree_digest(&src, None).unwrap().digest,
        "installed copy digest equals the source's"
    );
    assert_eq!(tree_digest(&installed, None).unwrap().digest, report.artifact_digest);
    assert!(
        e.lockfile().contains("name = \"alpha\"")
            && e.lockfile().contains("source_kind = \"local\"")
    );
    assert_eq!(e.events("alpha"), ["plugin.installed"]);
    assert_eq!(
        state_of(&e, &m, "alpha"),
        TrustState::Installed,
        "installing never grants anything"
    );
    let row = &m.list(&e.ledger).unwrap()[0];
    assert_eq!(row.missing_required_scopes, ["alpha:read"]);
}

#[test]
fn trust_needs_declared_scopes_and_binds_to_the_bytes() {
    let mut e = env();
    let src = e.plugin("src", "alpha", "1.0.0", &[("alpha:write", "destructive", false)]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    let err = m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:admin".into()]).unwrap_err();
    assert!(err.to_string().contains("does not declare alpha:admin"), "{err}");
    let err = m.trust(&mut e.ledger, &e.actor, "alpha", &[]).unwrap_err();
    assert!(err.to_string().contains("--scope alpha:read"), "{err}");
    let trusted = m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:read".into()]).unwrap();
    assert_eq!(trusted.granted_scopes, ["alpha:read"]);
    assert_eq!(trusted.added[0].risk, ooo_plugin::manifest::Risk::ReadOnly);
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Trusted);
    // Tampering with an installed file: verify says so and the grant is gone.
    fs::write(e.home.root().join("plugins/alpha/bin/run.sh"), "#!/bin/sh\ncurl evil\n").unwrap();
    let rows = m.verify(&mut e.ledger, &e.actor, None).unwrap();
    assert!(!rows[0].ok);
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Installed);
    // And trust refuses tampered bytes.
    let err = m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:read".into()]).unwrap_err();
    assert!(err.to_string().contains("changed since install"), "{err}");
}

#[test]
fn failed_install_leaves_the_previous_state_exactly() {
    let mut e = env();
    let v1 = e.plugin("v1", "alpha", "1.0.0", &[]);
    let v2 = e.plugin("v2", "alpha", "2.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(v1.to_str().unwrap()), None).unwrap();
    m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:read".into()]).unwrap();
    let lock_before = e.lockfile();
    let digest_before = tree_digest(&e.home.root().join("plugins/alpha"), None).unwrap().digest;
    let head_before = e.ledger.head().unwrap().unwrap().seq;
    for point in [FailPoint::AfterSwap, FailPoint::AfterLockfile] {
        let mut failing = e.manager();
        failing.fail_at(point);
        assert!(
            failing
                .install(&mut e.ledger, &e.actor, "alpha", Some(v2.to_str().unwrap()), None)
                .is_err()
        );
        assert_eq!(e.lockfile(), lock_before, "{point:?}");
        assert_eq!(
            tree_digest(&e.home.root().join("plugins/alpha"), None).unwrap().digest,
            digest_before,
            "{point:?}"
        );
        assert_eq!(e.ledger.head().unwrap().unwrap().seq, head_before, "{point:?}");
        assert_eq!(state_of(&e, &m, "alpha"), TrustState::Trusted);
        let leftovers: Vec<_> = fs::read_dir(e.home.root().join("plugins"))
            .unwrap()
            .map(|d| d.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["alpha"], "{point:?}: no staging or backup left behind");
    }
}

/// A process killed after the lockfile write but before the ledger append leaves a
/// backup; the next operation under the lock keeps the new install (the lockfile names
/// it) and appends the missing event, so history never lacks what the lockfile holds.
#[test]
fn a_crash_between_lockfile_and_ledger_is_recorded_on_recovery() {
    let mut e = env();
    let v1 = e.plugin("v1", "alpha", "1.0.0", &[]);
    let v2 = e.plugin("v2", "alpha", "2.0.0", &[]);
    let beta = e.plugin("beta", "beta", "1.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(v1.to_str().unwrap()), None).unwrap();
    let mut crashing = e.manager();
    crashing.fail_at(FailPoint::CrashAfterLockfile);
    crashing
        .install(&mut e.ledger, &e.actor, "alpha", Some(v2.to_str().unwrap()), None)
        .unwrap_err();
    assert!(e.lockfile().contains("2.0.0"), "the lockfile was written");
    assert_eq!(e.events("alpha"), ["plugin.installed"], "the crash cost the event");
    // Any later operation under the lock repairs it.
    m.install(&mut e.ledger, &e.actor, "beta", Some(beta.to_str().unwrap()), None).unwrap();
    assert_eq!(e.events("alpha"), ["plugin.installed", "plugin.installed"]);
    let last = e
        .ledger
        .query(&EventQuery { aggregate_id: Some("alpha".into()), ..Default::default() })
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.payload["recovered"], true);
    assert_eq!(last.payload["subject"]["version"], "2.0.0");
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
    // Recovery runs once: the next operation adds nothing for alpha.
    m.remove(&mut e.ledger, &e.actor, "beta", false).unwrap();
    assert_eq!(e.events("alpha").len(), 2);
}

/// The same crash on a first install (no previous tree, only a marker), and on a
/// reinstall after a removal: the ledger still gets its event.
#[test]
fn a_crashed_first_install_is_recorded_on_recovery() {
    let mut e = env();
    let alpha = e.plugin("alpha-src", "alpha", "1.0.0", &[]);
    let beta = e.plugin("beta-src", "beta", "1.0.0", &[]);
    let m = e.manager();
    let mut crashing = e.manager();
    crashing.fail_at(FailPoint::CrashAfterLockfile);
    crashing
        .install(&mut e.ledger, &e.actor, "alpha", Some(alpha.to_str().unwrap()), None)
        .unwrap_err();
    assert!(e.events("alpha").is_empty());
    m.install(&mut e.ledger, &e.actor, "beta", Some(beta.to_str().unwrap()), None).unwrap();
    assert_eq!(e.events("alpha"), ["plugin.installed"], "recovered");
    // Removed, then the same version crashes in again: recorded again.
    m.remove(&mut e.ledger, &e.actor, "alpha", false).unwrap();
    crashing
        .install(&mut e.ledger, &e.actor, "alpha", Some(alpha.to_str().unwrap()), None)
        .unwrap_err();
    m.remove(&mut e.ledger, &e.actor, "beta", false).unwrap();
    assert_eq!(e.events("alpha"), ["plugin.installed", "plugin.removed", "plugin.installed"]);
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
    // A first install whose lockfile write never happened leaves nothing behind.
    let mut early = e.manager();
    early.fail_at(FailPoint::AfterSwap);
    let gamma = e.plugin("gamma-src", "gamma", "1.0.0", &[]);
    early
        .install(&mut e.ledger, &e.actor, "gamma", Some(gamma.to_str().unwrap()), None)
        .unwrap_err();
    assert!(!e.home.root().join("plugins/gamma").exists());
}

#[test]
fn concurrent_installs_give_a_consistent_lockfile() {
    let e = env();
    let names = ["alpha", "bravo", "charlie", "delta"];
    let sources: Vec<PathBuf> = names.iter().map(|n| e.plugin("src", n, "1.0.0", &[])).collect();
    let handles: Vec<_> = names
        .iter()
        .zip(sources)
        .map(|(name, src)| {
            let home = e.home.clone();
            let name = name.to_string();
            std::thread::spawn(move || {
                let mut ledger = open(&home);
                let m = Manager::new(home, vec![]);
                m.install(
                    &mut ledger,
                    &Actor::user("t").unwrap(),
                    &name,
                    Some(src.to_str().unwrap()),
                    None,
                )
                .unwrap();
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let lock = e.lockfile();
    for n in names {
        assert!(lock.contains(&format!("name = \"{n}\"")), "{n} missing:\n{lock}");
    }
    assert_eq!(e.manager().list(&e.ledger).unwrap().len(), 4);
    assert!(e.ledger.verify().unwrap().is_intact());
}

#[test]
fn disable_survives_update_not_a_change_of_source() {
    let mut e = env();
    let src = e.plugin("src", "alpha", "1.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    m.disable(&mut e.ledger, &e.actor, "alpha").unwrap();
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Disabled);
    // A new version at the same source: still disabled.
    e.plugin("src", "alpha", "1.1.0", &[("alpha:net", "write", false)]);
    let report = m.update(&mut e.ledger, &e.actor, "alpha", None, false).unwrap();
    assert_eq!(report.previous_version.as_deref(), Some("1.0.0"));
    assert_eq!(report.version, "1.1.0");
    assert_eq!(report.permissions_added.len(), 1);
    assert_eq!(report.permissions_added[0].scope, "alpha:net");
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Disabled);
    // The same plugin from another source: refused unless forced (it says what would
    // change), and then not disabled (a different subject).
    let other = e.plugin("elsewhere", "alpha", "1.1.0", &[]);
    let refused = e
        .cautious_manager()
        .install(&mut e.ledger, &e.actor, "alpha", Some(other.to_str().unwrap()), None)
        .unwrap_err();
    assert!(matches!(&refused, ManagerError::ReplaceRefused(r) if r.other_source()), "{refused}");
    m.install(&mut e.ledger, &e.actor, "alpha", Some(other.to_str().unwrap()), None).unwrap();
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Installed);
    assert_eq!(
        e.events("alpha"),
        ["plugin.installed", "plugin.disabled", "plugin.updated", "plugin.installed"]
    );
}

#[test]
fn update_voids_trust_and_reports_the_change() {
    let mut e = env();
    let src = e.plugin("src", "alpha", "1.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:read".into()]).unwrap();
    let same = m.update(&mut e.ledger, &e.actor, "alpha", None, false).unwrap();
    assert!(!same.changed, "nothing changed, nothing recorded");
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Trusted);
    fs::write(src.join("bin/run.sh"), "#!/bin/sh\necho changed\n").unwrap();
    let changed = m.update(&mut e.ledger, &e.actor, "alpha", None, false).unwrap();
    assert!(changed.changed);
    assert_ne!(changed.previous_digest.as_deref(), Some(changed.artifact_digest.as_str()));
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Installed, "new bytes need a new grant");
}

#[test]
fn remove_keeps_history_and_state_unless_purged() {
    let mut e = env();
    let src = e.plugin("src", "alpha", "1.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    fs::create_dir_all(m.state_dir("alpha")).unwrap();
    fs::write(m.state_dir("alpha").join("memo"), "keep").unwrap();
    m.remove(&mut e.ledger, &e.actor, "alpha", false).unwrap();
    assert!(!e.home.root().join("plugins/alpha").exists());
    assert!(!e.lockfile().contains("alpha"));
    assert!(m.state_dir("alpha").join("memo").exists(), "state survives a plain remove");
    assert_eq!(e.events("alpha"), ["plugin.installed", "plugin.removed"]);
    // --purge after a plain remove deletes the state that remove kept.
    assert!(!m.remove(&mut e.ledger, &e.actor, "alpha", true).unwrap(), "nothing installed");
    assert!(!m.state_dir("alpha").exists(), "--purge removes what a plain remove kept");
    assert_eq!(e.events("alpha"), ["plugin.installed", "plugin.removed", "plugin.removed"]);
    m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    fs::create_dir_all(m.state_dir("alpha")).unwrap();
    assert!(m.remove(&mut e.ledger, &e.actor, "alpha", true).unwrap());
    assert!(!m.state_dir("alpha").exists(), "--purge removes state");
    for purge in [false, true] {
        assert!(matches!(
            m.remove(&mut e.ledger, &e.actor, "alpha", purge),
            Err(ManagerError::NotInstalled(_))
        ));
    }
}

#[test]
fn name_rules() {
    let mut e = env();
    let m = e.manager();
    let reserved = e.plugin("src", "ledger", "1.0.0", &[]);
    let err = m
        .install(&mut e.ledger, &e.actor, "ledger", Some(reserved.to_str().unwrap()), None)
        .unwrap_err();
    assert!(err.to_string().contains("built-in ooo command"), "{err}");
    let a = e.plugin("src", "alpha", "1.0.0", &[]);
    m.install(&mut e.ledger, &e.actor, "alpha", Some(a.to_str().unwrap()), None).unwrap();
    // A plugin whose namespace is an installed plugin's name.
    let b = e.plugin("src", "bravo", "1.0.0", &[]);
    let manifest =
        fs::read_to_string(b.join("ouroboros.plugin.json")).unwrap().replace("bravo-ns", "alpha");
    fs::write(b.join("ouroboros.plugin.json"), manifest).unwrap();
    let err =
        m.install(&mut e.ledger, &e.actor, "bravo", Some(b.to_str().unwrap()), None).unwrap_err();
    assert!(err.to_string().contains("already used by the installed plugin alpha"), "{err}");
    // first_party sources are ours alone.
    let c = e.plugin("src", "charlie", "1.0.0", &[]);
    let manifest = fs::read_to_string(c.join("ouroboros.plugin.json"))
        .unwrap()
        .replace("\"plugin_home\"", "\"first_party\"");
    fs::write(c.join("ouroboros.plugin.json"), manifest).unwrap();
    let err =
        m.install(&mut e.ledger, &e.actor, "charlie", Some(c.to_str().unwrap()), None).unwrap_err();
    assert!(err.to_string().contains("first_party"), "{err}");
    // Missing directories, subdirectory forms and unknown names.
    assert!(
        m.install(&mut e.ledger, &e.actor, "x", Some("no/such/dir"), None)
            .unwrap_err()
            .to_string()
            .contains("no/such/dir cannot be used")
    );
    assert!(
        m.install(
            &mut e.ledger,
            &e.actor,
            "x",
            Some("https://example.invalid/r.git#plugins/x"),
            None
        )
        .is_err()
    );
    assert!(matches!(
        m.install(&mut e.ledger, &e.actor, "nobody", None, None),
        Err(ManagerError::Unknown(_))
    ));
    // Nothing refused left a trace.
    assert_eq!(m.list(&e.ledger).unwrap().len(), 1);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Upstream's catalog shape, end to end: a git repository with plugins/*/, added by
/// file:// URL, a plugin installed by name, trusted, listed; then pinned by --ref.
#[test]
fn catalog_from_a_local_git_repository() {
    let mut e = env();
    let repo = e.dir.path().join("catalog-repo");
    e.plugin("catalog-repo/plugins", "alpha", "1.0.0", &[]);
    e.plugin("catalog-repo/plugins", "bravo", "0.2.0", &[]);
    fs::create_dir_all(repo.join("plugins/broken")).unwrap();
    fs::write(repo.join("plugins/broken/ouroboros.plugin.json"), "{}").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    git(&repo, &["tag", "v1"]);
    let url = format!("file://{}", repo.display());
    let m = e.manager();
    let (entry, scan) = m.add(&url, None).unwrap();
    assert_eq!(entry.plugins, ["alpha", "bravo"]);
    assert_eq!(scan.skipped.len(), 1, "the broken manifest is skipped with its reason");
    let report = m.install(&mut e.ledger, &e.actor, "alpha", None, None).unwrap();
    assert_eq!(report.source_kind, "git");
    assert_eq!(report.git_sha.as_ref().map(String::len), Some(40));
    m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:read".into()]).unwrap();
    let rows = m.list(&e.ledger).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].trust_state, TrustState::Trusted);
    assert_eq!(rows[0].source_identity, url);
    assert!(e.lockfile().contains("git_sha = "));
    // A new commit; --ref pins the tag, and the lockfile records what was asked for.
    e.plugin("catalog-repo/plugins", "alpha", "2.0.0", &[]);
    git(&repo, &["commit", "-q", "-am", "v2"]);
    let pinned = m.install(&mut e.ledger, &e.actor, "alpha", Some(&url), Some("v1")).unwrap();
    assert_eq!(pinned.version, "1.0.0");
    assert!(pinned.changed, "the pin is new");
    assert!(e.lockfile().contains("requested_ref = \"v1\""));
    assert_eq!(
        state_of(&e, &m, "alpha"),
        TrustState::Trusted,
        "same bytes from the same source keep their grant"
    );
    let latest = m.update(&mut e.ledger, &e.actor, "alpha", None, false).unwrap();
    assert_eq!(latest.version, "1.0.0", "update follows the pinned ref");
    // A commit sha pins too (fetched by sha, not as a branch or tag).
    let v1_sha = String::from_utf8(
        Command::new("git").args(["rev-parse", "v1"]).current_dir(&repo).output().unwrap().stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let by_sha = m.install(&mut e.ledger, &e.actor, "alpha", Some(&url), Some(&v1_sha)).unwrap();
    assert_eq!(by_sha.version, "1.0.0");
    assert_eq!(by_sha.git_sha.as_deref(), Some(v1_sha.as_str()));
    assert!(e.lockfile().contains(&format!("requested_ref = \"{v1_sha}\"")));
    let short = &v1_sha[..12];
    let by_short = m.install(&mut e.ledger, &e.actor, "alpha", Some(&url), Some(short));
    assert_eq!(by_short.unwrap().git_sha.as_deref(), Some(v1_sha.as_str()), "an abbreviated sha");
    let head = m.install(&mut e.ledger, &e.actor, "alpha", Some(&url), None).unwrap();
    assert_eq!(head.version, "2.0.0");
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Installed);
    // A second catalog offering the same name makes the bare name ambiguous.
    let other = e.dir.path().join("other");
    e.plugin("other/plugins", "alpha", "9.0.0", &[]);
    m.add(other.to_str().unwrap(), None).unwrap();
    let err = m.install(&mut e.ledger, &e.actor, "alpha", None, None).unwrap_err();
    assert!(matches!(err, ManagerError::Ambiguous { .. }), "{err}");
}

#[test]
fn reinstalling_over_tampered_files_replaces_them() {
    let mut e = env();
    let src = e.plugin("src", "alpha", "1.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    let script = e.home.root().join("plugins/alpha/bin/run.sh");
    fs::write(&script, "#!/bin/sh\ncurl evil\n").unwrap();
    let report =
        m.install(&mut e.ledger, &e.actor, "alpha", Some(src.to_str().unwrap()), None).unwrap();
    assert!(report.changed, "tampered files must not count as already installed");
    assert_eq!(fs::read_to_string(&script).unwrap(), "#!/bin/sh\necho alpha 1.0.0\n");
    assert!(m.verify(&mut e.ledger, &e.actor, None).unwrap()[0].ok);
}

#[test]
fn a_hostile_lockfile_cannot_point_outside_the_home() {
    let mut e = env();
    let victim = e.dir.path().join("victim");
    fs::create_dir_all(&victim).unwrap();
    fs::write(victim.join("precious.txt"), "keep").unwrap();
    let lock = format!(
        "schema_version = \"0.1\"\n\n[[plugin]]\nname = \"../../victim\"\nversion = \"1.0.0\"\nsource_kind = \"local\"\nmanifest_checksum = \"sha256:0\"\ninstalled_at = \"2026-01-01T00:00:00Z\"\nplugin_home = \"{}\"\n\n[[plugin]]\nname = \"bravo\"\nversion = \"1.0.0\"\nsource_kind = \"local\"\nmanifest_checksum = \"sha256:0\"\ninstalled_at = \"2026-01-01T00:00:00Z\"\nplugin_home = \"{}\"\n",
        victim.display(),
        victim.display()
    );
    fs::write(e.home.root().join("plugins.lock"), lock).unwrap();
    let m = e.manager();
    assert!(m.remove(&mut e.ledger, &e.actor, "../../victim", true).is_err());
    // bravo's plugin_home points at the victim; remove only ever touches plugins/bravo.
    m.remove(&mut e.ledger, &e.actor, "bravo", true).unwrap();
    assert_eq!(fs::read_to_string(victim.join("precious.txt")).unwrap(), "keep");
}

#[test]
fn an_interrupted_swap_is_repaired_by_the_next_operation() {
    let mut e = env();
    let v1 = e.plugin("v1", "alpha", "1.0.0", &[]);
    let other = e.plugin("src", "bravo", "1.0.0", &[]);
    let m = e.manager();
    m.install(&mut e.ledger, &e.actor, "alpha", Some(v1.to_str().unwrap()), None).unwrap();
    let plugins = e.home.root().join("plugins");
    let digest = tree_digest(&plugins.join("alpha"), None).unwrap().digest;
    // A crash after the swap, before the lockfile write: new files live, old ones in a
    // backup, the lockfile still naming the old digest; plus a stale staging directory.
    fs::rename(plugins.join("alpha"), plugins.join(".backup-alpha-01CRASH")).unwrap();
    fs::create_dir_all(plugins.join("alpha")).unwrap();
    fs::write(plugins.join("alpha/half-written"), "x").unwrap();
    fs::create_dir_all(plugins.join(".staging-bravo-01CRASH")).unwrap();
    m.install(&mut e.ledger, &e.actor, "bravo", Some(other.to_str().unwrap()), None).unwrap();
    assert_eq!(tree_digest(&plugins.join("alpha"), None).unwrap().digest, digest);
    let mut left: Vec<String> = fs::read_dir(&plugins)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["alpha", "bravo"]);
    assert!(m.verify(&mut e.ledger, &e.actor, None).unwrap().iter().all(|r| r.ok));
}

#[test]
fn remove_clears_trust_and_disable_and_keeps_the_catalog() {
    let mut e = env();
    e.plugin("cat/plugins", "alpha", "1.0.0", &[]);
    let m = e.manager();
    let cat = e.dir.path().join("cat");
    m.add(cat.to_str().unwrap(), None).unwrap();
    m.install(&mut e.ledger, &e.actor, "alpha", None, None).unwrap();
    m.trust(&mut e.ledger, &e.actor, "alpha", &["alpha:read".into()]).unwrap();
    m.disable(&mut e.ledger, &e.actor, "alpha").unwrap();
    m.remove(&mut e.ledger, &e.actor, "alpha", false).unwrap();
    assert!(ooo_plugin::trust::grant(&e.ledger, "alpha").unwrap().is_none());
    assert!(ooo_plugin::trust::disable(&e.ledger, "alpha").unwrap().is_none());
    // The catalog still offers it, and reinstalling the same bytes starts untrusted.
    m.install(&mut e.ledger, &e.actor, "alpha", None, None).unwrap();
    assert_eq!(state_of(&e, &m, "alpha"), TrustState::Installed);
}
