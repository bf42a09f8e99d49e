//! The verify gate with real git and the real sandbox, on a small repository: a check
//! script (`tests/check.sh`, the oracle) and a source file the "worker" changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ooo_core::seed::AcceptanceCriterion;
use ooo_run::gate::{self, CancelFlag, GateError, GateSettings, GateStatus, GateVerdict};
use ooo_run::oracle::{self, OracleError, TamperKind};
use ooo_sandbox::Sandbox;

mod support;
use support::{processes_with, sandbox, wait_until};

const CHECK: &str = r#"#!/bin/sh
value=$(cat src/value.txt)
if [ "$value" = "42" ]; then
  echo "value is 42: VALUE-OK"
else
  echo "value is $value, expected 42" >&2
  exit 1
fi
"#;

/// A repository in `root/ws` with the check script and `src/value.txt` (41) committed.
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    base: String,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let ws = root.join("ws");
        std::fs::create_dir_all(ws.join("tests")).unwrap();
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::write(ws.join("tests/check.sh"), CHECK).unwrap();
        std::fs::write(ws.join("src/value.txt"), "41\n").unwrap();
        let repo = Repo { _dir: dir, root, ws, base: String::new() };
        repo.git(&["init", "-q"]);
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "base"]);
        let base = repo.git(&["rev-parse", "HEAD"]);
        Repo { base, ..repo }
    }

    fn git(&self, args: &[&str]) -> String {
        support::git(&self.ws, args)
    }

    fn write(&self, path: &str, content: &str) {
        let full = self.ws.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    fn check(&self, sandbox: &Sandbox, criterion: &AcceptanceCriterion) -> GateVerdict {
        self.check_with(sandbox, criterion, &settings())
    }

    fn check_with(
        &self,
        sandbox: &Sandbox,
        criterion: &AcceptanceCriterion,
        settings: &GateSettings,
    ) -> GateVerdict {
        match gate::check(sandbox, &self.ws, &self.base, criterion, settings) {
            Ok(v) => v,
            Err(e) => panic!("{e} ({})", e.hint()),
        }
    }
}

fn settings() -> GateSettings {
    GateSettings { timeout: Duration::from_secs(60), ..GateSettings::default() }
}

fn criterion(
    command: Option<&str>,
    artifacts: &[&str],
    assertion: Option<&str>,
) -> AcceptanceCriterion {
    AcceptanceCriterion {
        description: "the value is 42".into(),
        semantic_ac_key: "ac_0000000000000000".into(),
        verify_command: command.map(String::from),
        expected_artifacts: artifacts.iter().map(|a| a.to_string()).collect(),
        output_assertion: assertion.map(String::from),
        verify_exemption_reason: None,
        investment: None,
    }
}

fn the_check() -> AcceptanceCriterion {
    criterion(Some("sh tests/check.sh"), &["src/value.txt"], Some("VALUE-OK"))
}

#[test]
fn passes_when_the_change_satisfies_the_check() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    repo.write("src/value.txt", "42\n");
    let v = repo.check(&sandbox, &the_check());
    assert_eq!(v.status, GateStatus::Passed, "{v:#?}");
    assert_eq!((v.exit_code, v.timed_out, v.assertion_met), (Some(0), false, Some(true)));
    assert!(v.output_tail.contains("value is 42: VALUE-OK"), "{v:#?}");
    assert_eq!(v.output_sha256.as_deref().map(str::len), Some(64));
    assert_eq!(v.command.as_deref(), Some("sh tests/check.sh"));
    assert!(
        v.tampered.is_empty() && v.missing_artifacts.is_empty() && v.empty_artifacts.is_empty()
    );
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["status"], "passed");
    eprintln!("a passing check took {} ms", v.duration_ms);
}

#[test]
fn fails_with_the_output_tail_when_the_check_fails() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let v = repo.check(&sandbox, &the_check());
    assert_eq!(v.status, GateStatus::Failed, "{v:#?}");
    assert_eq!(v.exit_code, Some(1));
    assert!(v.output_tail.contains("value is 41, expected 42"), "stderr is captured: {v:#?}");
    assert_eq!(v.assertion_met, Some(false));
}

#[test]
fn the_command_gets_a_fresh_home_and_only_the_given_environment() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let command = "echo \"home=$HOME tmp=$TMPDIR mark=$MARK user=${USER:-none}\" && touch \"$HOME/h\" \"$TMPDIR/t\" && ls -A \"$HOME\"";
    let mut settings = settings();
    settings.env = vec![("MARK".into(), "m1".into()), ("HOME".into(), "/root".into())];
    let v = repo.check_with(&sandbox, &criterion(Some(command), &[], None), &settings);
    assert_eq!(v.status, GateStatus::Passed, "{v:#?}");
    assert!(
        v.output_tail.starts_with(
            "home=/tmp/ooo-verify/home tmp=/tmp/ooo-verify/tmp mark=m1 user=none\nh\n"
        ),
        "{v:#?}"
    );
}

#[test]
fn an_edited_check_is_oracle_tampered_even_though_it_would_pass() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    repo.write("tests/check.sh", "echo VALUE-OK\nexit 0\n");
    let manual = Command::new("sh").arg("tests/check.sh").current_dir(&repo.ws).output().unwrap();
    assert!(manual.status.success(), "the edited check would pass");
    let v = repo.check(&sandbox, &the_check());
    assert_eq!(v.status, GateStatus::OracleTampered, "{v:#?}");
    assert_eq!(v.tampered.len(), 1);
    let t = &v.tampered[0];
    assert_eq!((t.path.as_path(), t.kind), (Path::new("tests/check.sh"), TamperKind::Modified));
    assert!(
        t.diff.contains("--- a/tests/check.sh") && t.diff.contains("+++ b/tests/check.sh"),
        "{}",
        t.diff
    );
    assert!(
        t.diff.contains("+exit 0") && t.diff.contains("-value=$(cat src/value.txt)"),
        "{}",
        t.diff
    );
    assert_eq!((v.exit_code, v.output_sha256.as_deref()), (None, None), "the command did not run");
    assert_eq!(serde_json::to_value(&v).unwrap()["status"], "oracle_tampered");
}

#[test]
fn tampering_is_found_however_it_is_hidden() {
    let Some(sandbox) = sandbox() else { return };
    type Hide = fn(&Repo);
    let cases: [(&str, Hide, TamperKind); 7] = [
        (
            "deleted",
            |r| std::fs::remove_file(r.ws.join("tests/check.sh")).unwrap(),
            TamperKind::Deleted,
        ),
        (
            "replaced by a link",
            |r| {
                r.write("mine.sh", "echo VALUE-OK\n");
                std::fs::remove_file(r.ws.join("tests/check.sh")).unwrap();
                std::os::unix::fs::symlink("../mine.sh", r.ws.join("tests/check.sh")).unwrap();
            },
            TamperKind::TypeChanged,
        ),
        (
            "a parent directory replaced by a link",
            |r| {
                r.write("mine/check.sh", CHECK);
                std::fs::rename(r.ws.join("tests"), r.ws.join("old")).unwrap();
                std::os::unix::fs::symlink("mine", r.ws.join("tests")).unwrap();
            },
            TamperKind::TypeChanged,
        ),
        (
            "replaced by a directory",
            |r| {
                std::fs::remove_file(r.ws.join("tests/check.sh")).unwrap();
                r.write("tests/check.sh/inner", "x");
            },
            TamperKind::TypeChanged,
        ),
        (
            "hidden from git by skip-worktree",
            |r| {
                r.git(&["update-index", "--skip-worktree", "tests/check.sh"]);
                r.write("tests/check.sh", "echo VALUE-OK\n");
            },
            TamperKind::Modified,
        ),
        (
            "same size and time as the original",
            |r| {
                let path = r.ws.join("tests/check.sh");
                let meta = std::fs::metadata(&path).unwrap();
                let same_size = CHECK.replace("exit 1", "exit 0");
                std::fs::write(&path, same_size).unwrap();
                let file = std::fs::File::options().write(true).open(&path).unwrap();
                file.set_modified(meta.modified().unwrap()).unwrap();
            },
            TamperKind::Modified,
        ),
        (
            "staged only",
            |r| {
                r.write("tests/check.sh", "exit 0\n");
                r.git(&["add", "tests/check.sh"]);
                r.write("tests/check.sh", CHECK);
            },
            TamperKind::Modified,
        ),
    ];
    for (name, hide, kind) in cases {
        let repo = Repo::new();
        repo.write("src/value.txt", "42\n");
        hide(&repo);
        let v = repo.check(&sandbox, &the_check());
        assert_eq!(v.status, GateStatus::OracleTampered, "{name}: {v:#?}");
        assert_eq!(v.tampered.len(), 1, "{name}: {v:#?}");
        assert_eq!(v.tampered[0].kind, kind, "{name}: {v:#?}");
        assert!(v.tampered[0].diff.contains("tests/check.sh"), "{name}: {}", v.tampered[0].diff);
    }
}

#[test]
fn a_new_test_file_is_not_oracle() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let all = "for f in tests/*.sh; do sh \"$f\" || exit 1; done";
    assert_eq!(
        oracle::oracle_paths(&repo.ws, &repo.base, all).unwrap(),
        [Path::new("tests/check.sh")]
    );
    repo.write("src/value.txt", "42\n");
    repo.write("tests/extra.sh", "echo EXTRA-OK\n");
    let v = repo.check(&sandbox, &criterion(Some(all), &[], Some("EXTRA-OK")));
    assert_eq!(v.status, GateStatus::Passed, "{v:#?}");
    // A check the worker wrote itself, named by the command: not oracle either.
    let named = "sh tests/new_check.sh && sh tests/check.sh";
    repo.write("tests/new_check.sh", "echo NEW-OK\n");
    assert_eq!(
        oracle::oracle_paths(&repo.ws, &repo.base, named).unwrap(),
        [Path::new("tests/check.sh")]
    );
    let v = repo.check(&sandbox, &criterion(Some(named), &[], Some("NEW-OK")));
    assert_eq!(v.status, GateStatus::Passed, "{v:#?}");
}

/// Runner configuration or a stand-in the worker adds changes what the check means
/// without touching a file of the base: oracle tampered, the added file named with its
/// content as evidence, and the check does not run. New tests and modules are fine.
#[test]
fn added_runner_configuration_is_oracle_tampered_new_tests_are_not() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    repo.write("src/value.txt", "42\n");
    let pytest = criterion(Some("pytest -q tests"), &[], None);
    repo.write("tests/test_new.py", "def test_new(): pass\n");
    repo.write("src/helpers/__init__.py", "");
    let v = repo.check(&sandbox, &pytest);
    assert!(v.status != GateStatus::OracleTampered && v.tampered.is_empty(), "{v:#?}");
    let make = criterion(Some("make check"), &[], None);
    let cargo = criterion(Some("cargo test"), &[], None);
    let cases = [
        (&pytest, "tests/conftest.py", "def pytest_collection_modifyitems(items): items.clear()"),
        (&pytest, "pytest.ini", "[pytest]\naddopts = --co"),
        (&the_check(), "sitecustomize.py", "import os"),
        (&the_check(), "sh", "#!/bin/sh"),
        (&make, "GNUmakefile", "check: ; @true"),
        (&cargo, ".cargo/config.toml", "[alias]\ntest = \"version\""),
    ];
    for (criterion, path, content) in cases {
        repo.write(path, &format!("{content}\n"));
        let v = repo.check(&sandbox, criterion);
        std::fs::remove_file(repo.ws.join(path)).unwrap();
        assert_eq!(v.status, GateStatus::OracleTampered, "{path}: {v:#?}");
        assert_eq!(v.exit_code, None, "{path}: the check ran");
        let [t] = v.tampered.as_slice() else { panic!("{path}: {v:#?}") };
        assert_eq!((t.path.as_path(), t.kind), (Path::new(path), TamperKind::Added));
        let first = content.lines().next().unwrap();
        assert!(t.diff.contains(&format!("+++ b/{path}")), "{path}: {}", t.diff);
        assert!(t.diff.contains(&format!("+{first}")), "{path}: {}", t.diff);
    }
    // Added by the check's own run (the worker's code), it is found afterwards.
    let planting = criterion(Some("touch sitecustomize.py && sh tests/check.sh"), &[], None);
    let v = repo.check(&sandbox, &planting);
    assert_eq!(v.status, GateStatus::OracleTampered, "{v:#?}");
    assert_eq!(v.exit_code, Some(0), "{v:#?}");
    std::fs::remove_file(repo.ws.join("sitecustomize.py")).unwrap();
    assert_eq!(repo.check(&sandbox, &the_check()).status, GateStatus::Passed);
}

#[test]
fn a_named_directory_protects_every_file_in_it() {
    let Some(_sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let paths =
        oracle::oracle_paths(&repo.ws, &repo.base, "cd . && ./tests/ FOO=src/value.txt").unwrap();
    assert_eq!(paths, [Path::new("src/value.txt"), Path::new("tests/check.sh")]);
    assert!(oracle::tampered(&repo.ws, &repo.base, &paths).unwrap().is_empty());
}

#[test]
fn missing_or_empty_artifacts_fail() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    repo.write("src/value.txt", "42\n");
    let artifacts = ["dist/report.txt", "dist/empty.txt", "dist/empty_dir", "src/value.txt"];
    let c = criterion(
        Some("mkdir -p dist/empty_dir && : > dist/empty.txt && sh tests/check.sh"),
        &artifacts,
        Some("VALUE-OK"),
    );
    let v = repo.check(&sandbox, &c);
    assert_eq!(v.status, GateStatus::Failed, "{v:#?}");
    assert_eq!(v.exit_code, Some(0));
    assert_eq!(v.missing_artifacts, ["dist/report.txt"]);
    assert_eq!(v.empty_artifacts, ["dist/empty.txt", "dist/empty_dir"]);
    // Made by the check itself (build output), they count.
    let make = "mkdir -p dist/empty_dir && echo r > dist/report.txt && echo e > dist/empty.txt && touch dist/empty_dir/f && sh tests/check.sh";
    let v = repo.check(&sandbox, &criterion(Some(make), &artifacts, Some("VALUE-OK")));
    assert_eq!(v.status, GateStatus::Passed, "{v:#?}");
}

#[test]
fn a_missing_output_assertion_fails() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    repo.write("src/value.txt", "42\n");
    let v = repo.check(&sandbox, &criterion(Some("sh tests/check.sh"), &[], Some("NEVER-PRINTED")));
    assert_eq!(v.status, GateStatus::Failed, "{v:#?}");
    assert_eq!((v.exit_code, v.assertion_met), (Some(0), Some(false)));
}

#[test]
fn a_hanging_check_times_out_and_leaves_nothing_running() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let marker = format!("600.{:06}", std::process::id() % 1_000_000);
    let command = format!("echo started; sleep {marker} & sleep {marker}");
    let settings = GateSettings { timeout: Duration::from_secs(2), ..settings() };
    let watched = marker.clone();
    let seen_running = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        processes_with(&watched).len()
    });
    let started = Instant::now();
    let v = repo.check_with(&sandbox, &criterion(Some(&command), &[], None), &settings);
    let took = started.elapsed();
    assert!(seen_running.join().unwrap() >= 2, "the sleeps were visible while running");
    assert_eq!(v.status, GateStatus::Failed, "{v:#?}");
    assert!(v.timed_out && v.exit_code.is_none(), "{v:#?}");
    assert!(took < Duration::from_secs(2 + 5), "took {took:?}");
    assert!(v.output_tail.contains("started"), "{v:#?}");
    assert_nothing_left(&marker);
}

/// A cancel reaches a check already running: the sandbox is killed at once (not at the
/// 60 s timeout), nothing is judged, nothing is left running, the output so far is kept.
#[test]
fn a_cancel_kills_a_running_check_at_once() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let marker = format!("61.{:06}", std::process::id() % 1_000_000);
    let command = format!("echo started; sleep {marker} & sleep {marker}");
    let flag = Arc::new(AtomicBool::new(false));
    let settings = GateSettings { cancel: Some(CancelFlag(Arc::clone(&flag))), ..settings() };
    // The sleeps themselves (the command's text is in `sh`'s and `bwrap`'s arguments too).
    let sleeping = format!("sleep\0{marker}");
    let canceller = std::thread::spawn(move || {
        assert!(wait_until(Duration::from_secs(10), || processes_with(&sleeping).len() >= 2));
        flag.store(true, Ordering::SeqCst);
        Instant::now()
    });
    let v = repo.check_with(&sandbox, &criterion(Some(&command), &[], None), &settings);
    let returned = Instant::now();
    let cancelled_at = canceller.join().expect("the sleeps were seen running");
    let took = returned.saturating_duration_since(cancelled_at);
    assert!(took < Duration::from_secs(5), "ended {took:?} after the cancel");
    assert_eq!(v.status, GateStatus::Cancelled, "{v:#?}");
    assert!(!v.passed() && !v.timed_out && v.exit_code.is_none(), "{v:#?}");
    assert!(v.output_tail.contains("started"), "{v:#?}");
    assert_nothing_left(&marker);
}

/// A cancel the moment the sandbox starts (while `bwrap` sets it up, before its child
/// has asked to die with it) leaves nothing running either; tried 30 times, since the
/// moment is short.
#[test]
fn a_cancel_while_the_sandbox_starts_leaves_nothing_running() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    for i in 0..30 {
        let marker = format!("64.{i:02}{:04}", std::process::id() % 10_000);
        let command = format!("echo started; sleep {marker} & sleep {marker}");
        let flag = Arc::new(AtomicBool::new(false));
        let settings = GateSettings { cancel: Some(CancelFlag(Arc::clone(&flag))), ..settings() };
        let watched = marker.clone();
        let canceller = std::thread::spawn(move || {
            wait_until(Duration::from_secs(10), || processes_with(&watched).len() >= 2);
            std::thread::sleep(Duration::from_millis(i % 3));
            flag.store(true, Ordering::SeqCst);
        });
        let v = repo.check_with(&sandbox, &criterion(Some(&command), &[], None), &settings);
        canceller.join().unwrap();
        assert_eq!(v.status, GateStatus::Cancelled, "{v:#?}");
        assert_nothing_left(&marker);
    }
}

/// A cancel set before the check runs nothing.
#[test]
fn a_check_cancelled_before_it_starts_runs_nothing() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let flag = Arc::new(AtomicBool::new(true));
    let settings = GateSettings { cancel: Some(CancelFlag(flag)), ..settings() };
    let v = repo.check_with(&sandbox, &criterion(Some("touch ran"), &[], None), &settings);
    assert_eq!(v.status, GateStatus::Cancelled, "{v:#?}");
    assert!(!repo.ws.join("ran").exists(), "the command ran");
}

/// The sandbox's processes go with it (allowing the kernel a moment to reap them).
fn assert_nothing_left(marker: &str) {
    wait_until(Duration::from_secs(2), || processes_with(marker).is_empty());
    assert_eq!(processes_with(marker), Vec::<u32>::new(), "left running");
}

#[test]
fn the_check_cannot_touch_or_read_outside_the_workspace() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    std::fs::write(repo.root.join("outside.txt"), "keep me").unwrap();
    std::fs::write(repo.root.join("secret.txt"), "s3cr3t-token").unwrap();
    let root = repo.root.display();
    let command =
        format!("cat {root}/secret.txt; rm -rf {root}; cat /etc/shadow; echo done; exit 0");
    let v = repo.check(&sandbox, &criterion(Some(&command), &[], Some("s3cr3t-token")));
    assert_eq!(v.status, GateStatus::Failed, "{v:#?}");
    assert_eq!(v.assertion_met, Some(false), "{v:#?}");
    assert!(!v.output_tail.contains("s3cr3t-token") && v.output_tail.contains("done"), "{v:#?}");
    assert_eq!(std::fs::read_to_string(repo.root.join("outside.txt")).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(repo.root.join("secret.txt")).unwrap(), "s3cr3t-token");
}

#[test]
fn no_network_inside_the_check() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let command = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2); print('CONNECTED')\" || echo refused"
    );
    let v = repo.check(&sandbox, &criterion(Some(&command), &[], Some("CONNECTED")));
    assert_eq!(v.status, GateStatus::Failed, "{v:#?}");
    assert!(v.output_tail.contains("refused"), "{v:#?}");
}

#[test]
fn without_a_command_a_criterion_is_unverified_or_exempt_never_passed() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    repo.write("src/value.txt", "42\n");
    let mut c = criterion(None, &["src/value.txt"], Some("VALUE-OK"));
    let v = repo.check(&sandbox, &c);
    assert_eq!(v.status, GateStatus::Unverified, "{v:#?}");
    assert!(v.missing_artifacts.is_empty() && v.exit_code.is_none());
    c.verify_exemption_reason = Some("prose only".into());
    assert_eq!(repo.check(&sandbox, &c).status, GateStatus::Exempt);
    c.verify_command = Some("   ".into());
    assert_eq!(repo.check(&sandbox, &c).status, GateStatus::Exempt);
    c.verify_exemption_reason = None;
    let v = repo.check(&sandbox, &c);
    assert_eq!(v.status, GateStatus::Unverified);
    assert!(!v.passed());
    assert_eq!(serde_json::to_value(&v).unwrap()["status"], "unverified");
}

#[test]
fn bad_repositories_and_commits_are_typed_errors_with_a_hint() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    let unknown = gate::check(
        &sandbox,
        &repo.ws,
        "0123456789abcdef0123456789abcdef01234567",
        &the_check(),
        &settings(),
    );
    match unknown {
        Err(GateError::Oracle(e @ OracleError::UnknownCommit { .. })) => {
            assert!(e.hint().contains("git -C"))
        }
        other => panic!("{other:?}"),
    }
    let plain = tempfile::tempdir().unwrap();
    match oracle::oracle_paths(plain.path(), "HEAD", "sh x") {
        Err(e @ OracleError::NotARepository { .. }) => assert!(e.hint().contains("git"), "{e}"),
        other => panic!("{other:?}"),
    }
    match gate::check(&sandbox, &repo.root.join("nope"), &repo.base, &the_check(), &settings()) {
        Err(e @ GateError::Workspace { .. }) => assert!(e.hint().contains("exists")),
        other => panic!("{other:?}"),
    }
}

/// Code the check runs (the worker's) tries to rewrite the check while it runs: the
/// oracle is read-only inside, so the write fails, the real check still decides, and
/// the committed file is unchanged.
#[test]
fn the_oracle_cannot_be_rewritten_while_the_check_runs() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new();
    // The worker's code, run by a wrapper the command names: it tries to replace the
    // check with `exit 0` before the check runs.
    repo.write(
        "src/run.sh",
        "printf 'exit 0\\n' > tests/check.sh 2>/dev/null; sh tests/check.sh\n",
    );
    let v = repo.check(&sandbox, &criterion(Some("sh src/run.sh tests/check.sh"), &[], None));
    assert_eq!(v.status, GateStatus::Failed, "the real check ran and failed: {v:#?}");
    assert_eq!(std::fs::read_to_string(repo.ws.join("tests/check.sh")).unwrap(), CHECK);
}

/// Another worker of the same level (here: a thread) rewrites a file the check reads
/// while the check runs, and puts it back before the gate compares: the check reads the
/// base commit's copy all the same, so the change cannot make it pass or fail.
#[test]
fn the_check_reads_the_base_content_whatever_is_written_meanwhile() {
    let Some(sandbox) = sandbox() else { return };
    let mut repo = Repo::new();
    repo.write("tests/expected.txt", "expected-base\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "expected"]);
    repo.base = repo.git(&["rev-parse", "HEAD"]);
    let path = repo.ws.join("tests/expected.txt");
    let meddler = {
        let path = path.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // In place (the same inode), as a shell's `>` would.
            std::fs::write(&path, "expected-evil\n").unwrap();
            std::thread::sleep(Duration::from_millis(1200));
            std::fs::write(&path, "expected-base\n").unwrap();
        })
    };
    // It reads the file at about 1 s and ends at about 2 s: the change is there when it
    // reads, and gone when the gate compares.
    let command = "sleep 1; cat tests/expected.txt; sleep 1";
    let check = criterion(Some(command), &[], Some("expected-base"));
    let v = repo.check(&sandbox, &check);
    meddler.join().unwrap();
    assert_eq!(v.status, GateStatus::Passed, "{v:#?}");
    assert!(v.output_tail.contains("expected-base"), "{v:#?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "expected-base\n");
}
