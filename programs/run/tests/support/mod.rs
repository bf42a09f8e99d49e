//! Set-up shared by `ooo-run`'s integration tests (included with `mod support;`): the
//! sandbox's init helper, the sandbox itself, git with a fixed identity, and looking for
//! the processes a test left.
//! What does not live here: the tests' repositories and scenarios.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ooo_sandbox::{Mode, Sandbox};

/// The init helper next to the test binaries (`target/<profile>`), built when missing
/// (an integration test cannot name another package's binary).
pub fn init_helper() -> PathBuf {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
            let helper = profile.join(ooo_sandbox::INIT_BINARY);
            if !helper.is_file() {
                let status = Command::new(env!("CARGO"))
                    .args(["build", "-p", "ooo-sandbox", "--bin", ooo_sandbox::INIT_BINARY])
                    .status()
                    .expect("cargo runs");
                assert!(status.success() && helper.is_file(), "cannot build {}", helper.display());
            }
            helper
        })
        .clone()
}

/// The full sandbox, or `None` (skipped, saying why) where the machine lacks a
/// mechanism; under `CI` that is a failure.
pub fn sandbox() -> Option<Sandbox> {
    match Sandbox::new(Mode::Require) {
        Ok(s) => Some(s.with_init(init_helper())),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e} ({})", e.hint());
            None
        }
        Err(e) => panic!("{e}: {}", e.hint()),
    }
}

/// `git -C dir args...` with a fixed identity and no signing; its trimmed stdout, or a
/// panic with its stderr.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Pids (other than this process) whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Whether `done` became true within `limit` (looked at every 10 ms).
pub fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}
