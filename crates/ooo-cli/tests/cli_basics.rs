//! `ooo --help`, `--version`, `completions`, and the home directory rules, including
//! bad homes and bad ledger files: one clear error, non-zero exit, nothing overwritten.

mod common;

use common::{TestHome, with_filters};
use insta::assert_snapshot;
use std::os::unix::fs::PermissionsExt;

#[test]
fn help_and_version() {
    let t = TestHome::new();
    assert_snapshot!("help", t.ok(&["--help"]));
    assert_snapshot!("ledger_help", t.ok(&["ledger", "--help"]));
    let version = t.ok(&["--version"]);
    assert!(
        version.starts_with(&format!("ooo {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(!t.home().exists(), "--help must not create the home");
}

#[test]
fn completions_for_each_shell() {
    let t = TestHome::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = t.ok(&["completions", shell]);
        assert!(out.contains("ledger") && out.contains("verify"), "{shell}: {out}");
    }
    let out = t.ooo().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn home_is_created_owner_only() {
    let t = TestHome::new();
    t.note("the first write creates the home", None);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&t.home()), 0o700);
    assert_eq!(mode(&t.ledger_db()), 0o600);
}

#[test]
fn home_that_is_a_file() {
    let t = TestHome::new();
    std::fs::write(t.home(), "precious").unwrap();
    let out = t.ooo().args(["ledger", "log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || assert_snapshot!("home_is_file", String::from_utf8(out.stderr).unwrap()));
    assert_eq!(std::fs::read_to_string(t.home()).unwrap(), "precious");
}

#[test]
fn relative_home_is_refused() {
    let t = TestHome::new();
    let out =
        t.ooo().env("OUROBOROS_HOME", "relative/dir").args(["ledger", "log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: OUROBOROS_HOME must be an absolute path")
    );
}

#[test]
fn ledger_that_is_not_sqlite() {
    let t = TestHome::new();
    std::fs::create_dir(t.home()).unwrap();
    std::fs::write(t.ledger_db(), "my notes, not a database\n").unwrap();
    for args in [&["ledger", "log"][..], &["ledger", "note", "x"], &["ledger", "verify"]] {
        let out = t.ooo().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        with_filters(&t, || assert_snapshot!("not_sqlite", String::from_utf8(out.stderr).unwrap()));
    }
    assert_eq!(std::fs::read_to_string(t.ledger_db()).unwrap(), "my notes, not a database\n");
}

#[test]
fn ledger_that_is_corrupt() {
    let t = TestHome::new();
    t.note("something worth keeping", None);
    let mut bytes = std::fs::read(t.ledger_db()).unwrap();
    let end = bytes.len().min(8192);
    for b in &mut bytes[100..end] {
        *b = 0x5A;
    }
    std::fs::write(t.ledger_db(), &bytes).unwrap();
    let out = t.ooo().args(["ledger", "log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.starts_with("error: ") && err.contains("\nhint: "), "{err}");
    assert_eq!(std::fs::read(t.ledger_db()).unwrap(), bytes, "nothing overwritten");
}

#[test]
fn ledger_from_a_newer_ooo() {
    let t = TestHome::new();
    t.note("from the future", None);
    rusqlite::Connection::open(t.ledger_db())
        .unwrap()
        .execute("INSERT INTO schema_migrations VALUES (7, 'future', 'x')", [])
        .unwrap();
    let out = t.ooo().args(["ledger", "log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || assert_snapshot!("schema_too_new", String::from_utf8(out.stderr).unwrap()));
}

/// An unwritable home. Root ignores permission bits, so as root the binary runs as
/// `nobody` through setpriv; elsewhere the home's write bit is removed.
#[test]
fn unwritable_home() {
    let t = TestHome::new();
    std::fs::create_dir(t.home()).unwrap();
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut cmd = if is_root {
        if !std::path::Path::new("/usr/bin/setpriv").exists() {
            eprintln!("skipping unwritable_home: running as root without setpriv");
            return;
        }
        // nobody must be able to reach the binary and the (read-only) home.
        for dir in [t.dir.path(), &t.home()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let bin = assert_cmd::cargo::cargo_bin("ooo");
        let mut cmd = std::process::Command::new("/usr/bin/setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(bin);
        cmd.env_clear().env("OUROBOROS_HOME", t.home()).env("USER", "nobody");
        cmd
    } else {
        std::fs::set_permissions(t.home(), std::fs::Permissions::from_mode(0o500)).unwrap();
        t.std_ooo()
    };
    let out = cmd.args(["ledger", "note", "x"]).output().unwrap();
    std::fs::set_permissions(t.home(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || {
        assert_snapshot!("unwritable_home", String::from_utf8(out.stderr).unwrap())
    });
    assert!(!t.ledger_db().exists());
}
