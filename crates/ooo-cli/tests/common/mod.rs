//! Shared helpers for CLI tests: a throwaway `OUROBOROS_HOME`, a command builder that
//! never sees the real home, and insta filters for values that change every run.

#![allow(dead_code)]

pub mod firewall;

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub struct TestHome {
    pub dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    /// The home used by `ooo` (created by ooo itself on first use).
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn ledger_db(&self) -> PathBuf {
        self.home().join("ledger.db")
    }

    /// `ooo` with a clean environment pointing at this home.
    pub fn ooo(&self) -> Command {
        Command::from_std(self.std_ooo())
    }

    /// The same, as a plain `std::process::Command` (for spawning and piping).
    pub fn std_ooo(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ooo"));
        cmd.env_clear()
            .env("OUROBOROS_HOME", self.home())
            .env("HOME", self.dir.path().join("user-home"))
            .env("USER", "tester")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1");
        cmd
    }

    /// Run `ooo args...`, expect success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ooo().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ooo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run `ooo args...` (stdin closed) and show stdout, stderr and the exit code as one
    /// text, for snapshots.
    pub fn shown(&self, args: &[&str]) -> String {
        let out = self.std_ooo().args(args).stdin(std::process::Stdio::null()).output().unwrap();
        format!(
            "{}--- stderr\n{}--- exit {}\n",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code().unwrap_or(-1)
        )
    }

    pub fn note(&self, text: &str, aggregate: Option<&str>) {
        let mut args = vec!["ledger", "note", text];
        if let Some(a) = aggregate {
            args.extend(["--aggregate", a]);
        }
        self.ok(&args);
    }
}

/// Whether this machine runs the full sandbox (`ooo-sandbox`: namespaces, Landlock,
/// seccomp). Tests that need it skip with a message where it is missing, except under
/// CI (`CI` set), where a missing mechanism fails them: CI installs what they need.
pub fn full_sandbox() -> bool {
    let support = ooo_sandbox::Support::get();
    if support.missing.is_empty() {
        return true;
    }
    let missing: Vec<&str> = support.missing.iter().map(|m| m.name()).collect();
    assert!(std::env::var_os("CI").is_none(), "CI lacks the full sandbox: {missing:?}");
    eprintln!("skipping: this machine lacks {}", missing.join(", "));
    false
}

/// Open the ledger database directly, without triggers, to tamper with it.
pub fn tamper(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS events_are_append_only_update;
         DROP TRIGGER IF EXISTS events_are_append_only_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Run `body` with insta filters for ULIDs, times, hashes and the temp home path.
pub fn with_filters(home: &TestHome, body: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&home.dir.path().display().to_string()), "[TMP]");
    settings.add_filter(r"\b0{64}\b", "[GENESIS]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[HASH]");
    settings.add_filter(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "[ULID]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", "[TIME]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]");
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[TIME]             ");
    settings.bind(body);
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}
