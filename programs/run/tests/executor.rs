//! The run loop with a scripted runtime, a real `ScopedCore` over a temporary SQLite
//! ledger, a real git repository and the real sandbox for the gate: success, retry with
//! feedback, a false claim of success, a tampered oracle, an unverified criterion, a
//! runtime error, parallel criteria, cancel (flag and ledger), resume after a crash, a
//! ledger that refuses appends, and the order of every record.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use ooo_core::capability::{Grant, Grants, ScopedCore};
use ooo_core::ledger::{Event, SqliteStore, Store};
use ooo_core::runtime::{LlmProvider, RuntimeError, RuntimeErrorKind};
use ooo_core::seed::{MetadataDefaults, Seed, load_str};
use ooo_run::events::{
    self, AttemptDispatched, AttemptSealed, CancelRequested, CriterionSettled, CriterionStatus,
    ExecStatus, Execution, ExecutionStarted, Owner, Record, ResumeError, Verdict, kind,
    owner_alive,
};
use ooo_run::executor::{CommitPolicy, Executor, Progress, RunError, RunResult, Settings};
use ooo_run::gate::{GateSettings, GateStatus};
use ooo_run::plan::{Plan, PlanSource};
use ooo_run::workspace::{self, Workspace};
use ooo_runtime::scripted::{Script, ScriptedProvider, ScriptedRuntime};
use ooo_sandbox::Sandbox;

mod support;
use support::{processes_with, sandbox, wait_until};

const ID: &str = "01JEXEC0000000000000000001";

const CHECK_A: &str = "v=$(cat src/a.txt 2>/dev/null)\n[ \"$v\" = A ] || { echo \"a is '$v', wanted the letter\"; exit 1; }\necho A-OK\n";
const CHECK_B: &str = "v=$(cat src/b.txt 2>/dev/null)\n[ \"$v\" = B ] || { echo \"b is '$v'\"; exit 1; }\necho B-OK\n";

// ---------------------------------------------------------------------------------------
// Set-up

type SharedStore = Arc<Mutex<Box<dyn Store + Send>>>;

/// A ledger, a repository with two committed checks, the sandbox and a scripted runtime.
struct Env {
    _dir: tempfile::TempDir,
    store: SharedStore,
    core: ScopedCore,
    ws: PathBuf,
    base: String,
    sandbox: Sandbox,
    rt: ScriptedRuntime,
    cancel: Arc<AtomicBool>,
    progress: Mutex<Vec<(Instant, Progress)>>,
}

fn env() -> Option<Env> {
    let sandbox = sandbox()?;
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let mut ledger = SqliteStore::open(root.join("ledger.db")).unwrap();
    ledger.register_all(ooo_core::PROJECTIONS);
    let store: SharedStore = Arc::new(Mutex::new(Box::new(ledger)));
    let core = scoped(&store, &root, &["ledger:write"]);
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join("tests")).unwrap();
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::write(ws.join("tests/a.sh"), CHECK_A).unwrap();
    std::fs::write(ws.join("tests/b.sh"), CHECK_B).unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "base"]);
    let base = git(&ws, &["rev-parse", "HEAD"]);
    Some(Env {
        _dir: dir,
        store,
        core,
        ws,
        base,
        sandbox,
        rt: ScriptedRuntime::new(),
        cancel: Arc::new(AtomicBool::new(false)),
        progress: Mutex::new(Vec::new()),
    })
}

fn scoped(store: &SharedStore, root: &Path, grants: &[&str]) -> ScopedCore {
    let grants = Grants::new(grants.iter().map(|g| {
        let (cap, access) = g.split_once(':').unwrap();
        Grant::parse(cap, access).unwrap()
    }));
    ScopedCore::new(
        Arc::clone(store),
        events::principal(),
        events::aggregate(ID).unwrap(),
        grants,
        root.join("seeds"),
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
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

/// A seed with the given criteria (YAML list items).
fn seed(criteria: &str) -> Seed {
    let text = format!(
        "goal: Make the letters right\ntask_type: code\nacceptance_criteria:\n{criteria}\
         ontology_schema: {{name: letters, description: two files}}\n\
         metadata: {{seed_id: seed_letters, ambiguity_score: 0.1}}\n"
    );
    load_str(&text, ooo_core::seed::raw::Format::Yaml, &MetadataDefaults::generate())
        .map(|v| v.seed)
        .unwrap_or_else(|e| panic!("{e:?}"))
}

const AC_A: &str = "  - description: src/a.txt holds the letter A\n    verify_command: sh tests/a.sh\n    expected_artifacts: [src/a.txt]\n";
const AC_B: &str =
    "  - description: src/b.txt holds the letter B\n    verify_command: sh tests/b.sh\n";
const AC_DOCS: &str = "  - description: The docs read well\n";

fn two() -> Seed {
    seed(&format!("{AC_A}{AC_B}"))
}

fn settings() -> Settings {
    Settings {
        gate: GateSettings { timeout: Duration::from_secs(60), ..GateSettings::default() },
        ..Settings::default()
    }
}

impl Env {
    fn workspace(&self) -> Workspace {
        Workspace { root: self.ws.clone(), base_commit: self.base.clone(), worktree: None }
    }

    fn run_with(
        &self,
        seed: &Seed,
        ws: &Workspace,
        settings: &Settings,
        provider: Option<&dyn LlmProvider>,
    ) -> Result<RunResult, RunError> {
        let on_progress =
            |p: &Progress| self.progress.lock().unwrap().push((Instant::now(), p.clone()));
        let ex = self.executor(provider, &on_progress);
        ex.start(seed, "seed_letters", ws, settings, ID)
    }

    fn run(&self, seed: &Seed, settings: &Settings) -> RunResult {
        self.run_with(seed, &self.workspace(), settings, None)
            .unwrap_or_else(|e| panic!("{e} ({})", e.hint()))
    }

    fn executor<'a>(
        &'a self,
        provider: Option<&'a dyn LlmProvider>,
        on_progress: &'a (dyn Fn(&Progress) + Sync),
    ) -> Executor<'a> {
        Executor {
            core: &self.core,
            runtime: &self.rt,
            provider,
            sandbox: &self.sandbox,
            cancel: Arc::clone(&self.cancel),
            on_progress,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.core.own_events().unwrap()
    }

    fn records(&self) -> Vec<Record> {
        self.events().iter().filter_map(events::parse).collect()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.records().iter().map(Record::kind).collect()
    }

    fn seals(&self) -> Vec<AttemptSealed> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::AttemptSealed(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn fold(&self) -> Execution {
        Execution::fold(&self.events(), &owner_alive).unwrap()
    }

    fn append(&self, record: Record) {
        events::append(&self.core, &record).unwrap();
    }
}

fn prompts(rt: &ScriptedRuntime) -> Vec<String> {
    rt.tasks().into_iter().map(|t| t.prompt).collect()
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn two_verified_criteria_succeed_with_every_record_in_order_and_a_commit_each() {
    let Some(env) = env() else { return };
    env.rt.push(Script::succeed("done").write("src/a.txt", "A").usage(100, 20));
    env.rt.push(Script::succeed("done").write("src/b.txt", "B").usage(50, 10));
    let worktrees = env.ws.parent().unwrap().join("worktrees");
    let ws = workspace::prepare(&env.ws, ID, true, &worktrees).unwrap();
    let settings = Settings { commit_policy: CommitPolicy::Ac, ..settings() };
    let r = env.run_with(&two(), &ws, &settings, None).unwrap();
    assert_eq!((r.verdict, r.exit_code), (Verdict::Success, 0), "{r:#?}");
    assert!(r.criteria.iter().all(|c| c.status == CriterionStatus::Accepted && c.attempts == 1));
    assert_eq!(r.criteria[0].last_verdict.as_ref().map(|v| v.status), Some(GateStatus::Passed));
    assert_eq!((r.criteria[0].tokens_in, r.criteria[0].tokens_out), (100, 20));
    assert_eq!(r.tokens, 180);
    assert_eq!(r.criteria[0].files_changed, ["src/a.txt"]);
    assert_eq!(
        env.kinds(),
        [
            kind::STARTED,
            kind::PLAN_RECORDED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CRITERION_ACCEPTED,
            kind::COMMIT_RECORDED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CRITERION_ACCEPTED,
            kind::COMMIT_RECORDED,
            kind::EVALUATION_RECORDED,
            kind::FINISHED,
        ]
    );
    // Commits: one per criterion, recorded, in the repository, and nothing left over.
    assert_eq!(r.commits.len(), 2);
    assert_eq!(git(&ws.root, &["rev-parse", "HEAD"]), r.commits[1]);
    assert_eq!(git(&ws.root, &["status", "--porcelain"]), "");
    assert_eq!(r.worktree, ws.worktree);
    // The user's own checkout is untouched: still at the base, nothing changed.
    assert_eq!(git(&env.ws, &["rev-parse", "HEAD"]), env.base);
    assert_eq!(git(&env.ws, &["status", "--porcelain"]), "");
    let exec = env.fold();
    assert_eq!(exec.status, ExecStatus::Succeeded);
    let runtime = &env.seals()[0].verdict["runtime"];
    assert_eq!(runtime["claimed_success"], json!(true));
    assert_eq!(runtime["runtime"], json!("scripted"));
    // The live view saw the same story.
    let progress: Vec<Progress> =
        env.progress.lock().unwrap().iter().map(|p| p.1.clone()).collect();
    assert!(matches!(progress.first(), Some(Progress::Planned { levels: 2, criteria: 2 })));
    assert!(progress.contains(&Progress::Accepted { criterion: 1, attempts: 1 }));
    assert_eq!(progress.last(), Some(&Progress::Finished { verdict: Verdict::Success }));
}

#[test]
fn a_failed_attempt_is_retried_with_feedback_and_passes() {
    let Some(env) = env() else { return };
    env.rt.push(Script::succeed("done").write("src/a.txt", "Z"));
    env.rt.push(Script::succeed("fixed").write("src/a.txt", "A"));
    let r = env.run(&seed(AC_A), &settings());
    assert_eq!((r.verdict, r.exit_code), (Verdict::Success, 0), "{r:#?}");
    assert_eq!(r.criteria[0].attempts, 2);
    let prompts = prompts(&env.rt);
    assert_eq!(prompts.len(), 2);
    assert!(!prompts[0].contains("did not pass"));
    assert!(prompts[1].contains("did not pass ooo's check"), "{}", prompts[1]);
    assert!(prompts[1].contains("a is 'Z', wanted the letter"), "{}", prompts[1]);
    for p in &prompts {
        assert!(!p.contains("sh tests/a.sh"), "the verify command leaked: {p}");
    }
    let statuses: Vec<Value> = env.seals().iter().map(|s| s.verdict["status"].clone()).collect();
    assert_eq!(statuses, [json!("failed"), json!("passed")]);
}

#[test]
fn a_worker_claiming_success_while_the_check_fails_ends_failed() {
    let Some(env) = env() else { return };
    for _ in 0..3 {
        env.rt.push(Script::succeed("All done, every test passes.").write("src/a.txt", "nope"));
    }
    let r = env.run(&seed(AC_A), &settings());
    assert_eq!((r.verdict, r.exit_code), (Verdict::Failed, 1), "{r:#?}");
    assert_eq!(r.criteria[0].status, CriterionStatus::Failed);
    assert_eq!(r.criteria[0].attempts, 3);
    for s in env.seals() {
        assert_eq!(s.verdict["status"], json!("failed"));
        assert_eq!(s.verdict["runtime"]["claimed_success"], json!(true));
    }
    let attempt = [kind::ATTEMPT_DISPATCHED, kind::ATTEMPT_SEALED];
    let mut expected = vec![kind::STARTED, kind::PLAN_RECORDED];
    expected.extend(attempt.repeat(3));
    expected.extend([kind::CRITERION_FAILED, kind::FINISHED]);
    assert_eq!(env.kinds(), expected);
}

#[test]
fn a_worker_editing_its_test_is_oracle_tampered_then_failed() {
    let Some(env) = env() else { return };
    for _ in 0..2 {
        env.rt.push(
            Script::succeed("done").write("tests/a.sh", "echo A-OK\n").write("src/a.txt", "x"),
        );
    }
    let settings = Settings { max_attempts: 2, ..settings() };
    let r = env.run(&seed(AC_A), &settings);
    assert_eq!((r.verdict, r.exit_code), (Verdict::Failed, 1), "{r:#?}");
    let last = r.criteria[0].last_verdict.as_ref().unwrap();
    assert_eq!(last.status, GateStatus::OracleTampered);
    assert_eq!(last.tampered[0].path, Path::new("tests/a.sh"));
    assert!(prompts(&env.rt)[1].contains("tests/a.sh (modified)"));
}

#[test]
fn a_criterion_without_a_check_is_unverified_and_not_retried() {
    let Some(env) = env() else { return };
    env.rt.push(Script::succeed("wrote the docs").write("docs.md", "# docs"));
    let r = env.run(&seed(AC_DOCS), &settings());
    assert_eq!((r.verdict, r.exit_code), (Verdict::Unverified, 3), "{r:#?}");
    assert_eq!(r.criteria[0].status, CriterionStatus::Unverified);
    assert_eq!(env.rt.tasks().len(), 1);
    assert_eq!(
        env.kinds(),
        [
            kind::STARTED,
            kind::PLAN_RECORDED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CRITERION_UNVERIFIED,
            kind::FINISHED
        ]
    );
}

#[test]
fn a_runtime_error_is_a_failed_attempt_with_its_kind() {
    let Some(env) = env() else { return };
    env.rt.push(Script::error(RuntimeError::new(
        RuntimeErrorKind::NotInstalled,
        "scripted",
        "no such CLI",
        "install it",
    )));
    let r = env.run(&seed(AC_A), &settings());
    assert_eq!((r.verdict, r.exit_code), (Verdict::Failed, 1), "{r:#?}");
    assert_eq!(r.criteria[0].attempts, 1, "not retried: another attempt cannot install it");
    let seal = &env.seals()[0];
    assert_eq!(seal.verdict["status"], json!("failed"));
    assert_eq!(seal.verdict["runtime_error_kind"], json!("not_installed"));
    assert_eq!(seal.verdict["runtime"]["error"]["kind"], json!("not_installed"));
}

#[test]
fn criteria_of_one_level_run_at_the_same_time() {
    let Some(env) = env() else { return };
    let provider = ScriptedProvider::new();
    provider.push_json(json!({"levels": [[0, 1]], "reason": "independent"}));
    // The queue order between the two threads is not fixed: each script does both.
    for _ in 0..2 {
        env.rt.push(
            Script::succeed("done")
                .sleep(Duration::from_millis(400))
                .write("src/a.txt", "A")
                .write("src/b.txt", "B"),
        );
    }
    let r = env.run_with(&two(), &env.workspace(), &settings(), Some(&provider)).unwrap();
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert!(matches!(r.plan.source, PlanSource::Model { .. }));
    let kinds = env.kinds();
    assert_eq!(&kinds[2..4], [kind::ATTEMPT_DISPATCHED, kind::ATTEMPT_DISPATCHED], "{kinds:?}");
    let progress = env.progress.lock().unwrap();
    let at = |want: &dyn Fn(&Progress) -> bool| -> Vec<Instant> {
        progress.iter().filter(|(_, p)| want(p)).map(|(t, _)| *t).collect()
    };
    let starts = at(&|p| matches!(p, Progress::AttemptStarted { .. }));
    let ends = at(&|p| matches!(p, Progress::GateVerdict { .. }));
    assert!(starts.iter().max() < ends.iter().min(), "the attempts did not overlap");
}

#[test]
fn cancel_mid_run_ends_cancelled_within_five_seconds() {
    let Some(env) = env() else { return };
    env.rt.push(Script::succeed("late").sleep(Duration::from_secs(60)));
    env.rt.push(Script::succeed("never").write("src/b.txt", "B"));
    let cancel = Arc::clone(&env.cancel);
    let began = Instant::now();
    let r = std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            cancel.store(true, Ordering::SeqCst);
        });
        env.run(&two(), &settings())
    });
    assert!(began.elapsed() < Duration::from_secs(5), "took {:?}", began.elapsed());
    assert_eq!((r.verdict, r.exit_code), (Verdict::Cancelled, 130), "{r:#?}");
    assert_eq!(env.rt.tasks().len(), 1, "nothing dispatched after the cancel");
    assert_eq!(env.seals()[0].verdict["status"], json!("cancelled"));
    assert_eq!(
        env.kinds(),
        [
            kind::STARTED,
            kind::PLAN_RECORDED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CANCEL_REQUESTED,
            kind::FINISHED
        ]
    );
    assert_eq!(env.fold().status, ExecStatus::Cancelled);
}

#[test]
fn a_cancel_recorded_by_another_process_is_obeyed() {
    let Some(env) = env() else { return };
    env.rt.push(Script::succeed("late").sleep(Duration::from_secs(60)));
    let other = scoped(&env.store, env.ws.parent().unwrap(), &["ledger:write"]);
    let began = Instant::now();
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            let by = CancelRequested { by: "ooo cancel (pid 1)".into() };
            events::append(&other, &Record::CancelRequested(by)).unwrap();
        });
        env.run(&seed(AC_A), &settings())
    });
    assert!(began.elapsed() < Duration::from_secs(5), "took {:?}", began.elapsed());
    assert_eq!(r.verdict, Verdict::Cancelled);
    let cancels = env.kinds().iter().filter(|k| **k == kind::CANCEL_REQUESTED).count();
    assert_eq!(cancels, 1, "the other process's record is not repeated");
}

/// Run `seed` and set the cancel flag once `sleep <marker>` runs (at most 10 s after the
/// start): the result and how long after the cancel the run ended.
fn run_cancelled_at(env: &Env, seed: &Seed, marker: &str) -> (RunResult, Duration) {
    let cancel = Arc::clone(&env.cancel);
    let sleeping = format!("sleep\0{marker}");
    let (r, cancelled_at) = std::thread::scope(|s| {
        let canceller = s.spawn(|| {
            let seen =
                wait_until(Duration::from_secs(10), || !processes_with(&sleeping).is_empty());
            cancel.store(true, Ordering::SeqCst);
            (seen, Instant::now())
        });
        let r = env.run(seed, &settings());
        let (seen, at) = canceller.join().unwrap();
        assert!(seen, "{marker} was never seen running");
        (r, at)
    });
    (r, Instant::now().saturating_duration_since(cancelled_at))
}

/// A cancel while a criterion's verify command runs (a 62 s sleep, longer than the
/// gate's 60 s timeout) kills it at once: the attempt is sealed `cancelled` (not failed:
/// the criterion stays open), the run ends `cancelled`, nothing is left running.
#[test]
fn a_cancel_while_a_verify_command_runs_kills_it_and_seals_the_attempt_cancelled() {
    let Some(env) = env() else { return };
    let marker = format!("62.{:06}", std::process::id() % 1_000_000);
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let ac = format!("  - description: waits\n    verify_command: sleep {marker}\n");
    let (r, took) = run_cancelled_at(&env, &seed(&ac), &marker);
    assert!(took < Duration::from_secs(5), "ended {took:?} after the cancel");
    assert_eq!((r.verdict, r.exit_code), (Verdict::Cancelled, 130), "{r:#?}");
    let seals = env.seals();
    assert_eq!(seals.len(), 1);
    assert_eq!(seals[0].verdict["status"], json!("cancelled"), "{}", seals[0].verdict);
    assert_ne!(r.criteria[0].status, CriterionStatus::Failed);
    assert_eq!(
        env.kinds(),
        [
            kind::STARTED,
            kind::PLAN_RECORDED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CANCEL_REQUESTED,
            kind::FINISHED
        ]
    );
    assert!(wait_until(Duration::from_secs(2), || processes_with(&marker).is_empty()));
}

/// A cancel while the evaluation's mechanical check runs ends the run `cancelled`, not
/// with an evaluation: none is recorded, and the check is killed at once.
#[test]
fn a_cancel_during_the_evaluation_ends_the_run_cancelled() {
    let Some(env) = env() else { return };
    let marker = format!("63.{:06}", std::process::id() % 1_000_000);
    std::fs::create_dir_all(env.ws.join(".ouroboros")).unwrap();
    let check = format!("[[check]]\nname = \"slow\"\ncommand = \"sleep {marker}\"\n");
    std::fs::write(env.ws.join(".ouroboros/mechanical.toml"), check).unwrap();
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let (r, took) = run_cancelled_at(&env, &seed(AC_A), &marker);
    assert!(took < Duration::from_secs(5), "ended {took:?} after the cancel");
    assert_eq!((r.verdict, r.exit_code), (Verdict::Cancelled, 130), "{r:#?}");
    assert_eq!(r.criteria[0].status, CriterionStatus::Accepted);
    let exec = env.fold();
    assert_eq!((exec.status, exec.evaluation), (ExecStatus::Cancelled, None));
    let kinds = env.kinds();
    assert_eq!(&kinds[kinds.len() - 2..], [kind::CANCEL_REQUESTED, kind::FINISHED]);
    assert!(!kinds.contains(&kind::EVALUATION_RECORDED), "{kinds:?}");
    assert!(wait_until(Duration::from_secs(2), || processes_with(&marker).is_empty()));
}

#[test]
fn resume_after_a_crash_does_not_redo_the_accepted_criterion() {
    let Some(env) = env() else { return };
    let seed = two();
    let me = Owner::current().unwrap();
    let ghost = Owner { start_time: me.start_time + 1, ..me };
    let key = |i: usize| seed.acceptance_criteria[i].semantic_ac_key.clone();
    env.append(Record::Started(ExecutionStarted {
        execution_id: ID.into(),
        seed_id: "seed_letters".into(),
        seed_hash: ooo_core::seed::content_hash(&seed),
        workspace: env.ws.to_string_lossy().into_owned(),
        base_commit: Some(env.base.clone()),
        worktree: None,
        branch: None,
        runtime: "scripted".into(),
        max_parallel: 3,
        max_attempts: 3,
        owner: ghost.clone(),
    }));
    env.append(Record::PlanRecorded(Plan::sequential(2, "test")));
    let dispatched = |criterion: usize| {
        Record::AttemptDispatched(AttemptDispatched {
            criterion,
            attempt: 1,
            semantic_ac_key: key(criterion),
            owner: ghost.clone(),
        })
    };
    env.append(dispatched(0));
    std::fs::write(env.ws.join("src/a.txt"), "A").unwrap();
    env.append(Record::AttemptSealed(AttemptSealed {
        criterion: 0,
        attempt: 1,
        verdict: json!({"status": "passed"}),
        tokens: 10,
        cost_usd: 0.0,
        duration_ms: 5,
        files_changed: vec!["src/a.txt".into()],
    }));
    env.append(Record::CriterionAccepted(CriterionSettled { criterion: 0, attempts: 1 }));
    env.append(dispatched(1));
    // ... and the process died here.
    let exec = env.fold();
    assert_eq!(exec.status, ExecStatus::Interrupted);

    env.rt.push(Script::succeed("done").write("src/b.txt", "B"));
    let on_progress = |_: &Progress| {};
    let ex = env.executor(None, &on_progress);
    let r = ex.resume(&seed, &env.workspace(), &settings(), &exec).unwrap();
    assert_eq!((r.verdict, r.exit_code), (Verdict::Success, 0), "{r:#?}");
    let prompts = prompts(&env.rt);
    assert_eq!(prompts.len(), 1, "only the unfinished criterion ran");
    assert!(prompts[0].contains("(2 of 2)"), "{}", prompts[0]);
    assert_eq!((r.criteria[0].attempts, r.criteria[1].attempts), (1, 2));
    let kinds = env.kinds();
    let tail = &kinds[kinds.iter().position(|k| *k == kind::RESUMED).unwrap()..];
    assert_eq!(
        tail,
        [
            kind::RESUMED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CRITERION_ACCEPTED,
            kind::EVALUATION_RECORDED,
            kind::FINISHED
        ]
    );

    // A finished execution held by this (live) process cannot be resumed by another.
    let mut held = env.fold();
    held.status = ExecStatus::Running;
    let err = ex.resume(&seed, &env.workspace(), &settings(), &held).unwrap_err();
    assert!(matches!(err, RunError::Resume(ResumeError::Held { .. })), "{err}");
}

#[test]
fn a_ledger_that_refuses_appends_stops_the_run_and_leaves_the_repository_alone() {
    let Some(mut env) = env() else { return };
    env.core = scoped(&env.store, env.ws.parent().unwrap(), &["ledger:read"]);
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let err = env.run_with(&seed(AC_A), &env.workspace(), &settings(), None).unwrap_err();
    assert!(matches!(err, RunError::Ledger(_)), "{err}");
    assert!(err.hint().contains("--resume"), "{}", err.hint());
    assert!(env.rt.tasks().is_empty(), "no worker ran");
    assert_eq!(git(&env.ws, &["status", "--porcelain"]), "");
}

#[test]
fn resume_of_an_execution_that_died_before_its_plan_plans_again() {
    let Some(env) = env() else { return };
    let seed = seed(AC_A);
    let me = Owner::current().unwrap();
    let ghost = Owner { start_time: me.start_time + 1, ..me };
    env.append(Record::Started(ExecutionStarted {
        execution_id: ID.into(),
        seed_id: "seed_letters".into(),
        seed_hash: ooo_core::seed::content_hash(&seed),
        workspace: env.ws.to_string_lossy().into_owned(),
        base_commit: Some(env.base.clone()),
        worktree: None,
        branch: None,
        runtime: "scripted".into(),
        max_parallel: 3,
        max_attempts: 3,
        owner: ghost,
    }));
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let on_progress = |_: &Progress| {};
    let ex = env.executor(None, &on_progress);
    let exec = env.fold();
    // Another seed is refused before anything is recorded.
    let err = ex.resume(&two(), &env.workspace(), &settings(), &exec).unwrap_err();
    assert!(matches!(err, RunError::SeedChanged { .. }), "{err}");
    assert_eq!(env.kinds(), [kind::STARTED]);
    let r = ex.resume(&seed, &env.workspace(), &settings(), &exec).unwrap();
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert_eq!(&env.kinds()[..3], [kind::STARTED, kind::RESUMED, kind::PLAN_RECORDED]);
}

/// Every criterion verified, but the semantic stage sees reward hacking (risk 0.9): the
/// evaluation vetoes, the run fails, and the evaluation is on the record.
#[test]
fn a_reward_hacking_veto_fails_a_verified_run() {
    let Some(env) = env() else { return };
    let provider = ScriptedProvider::new();
    provider.push_json(json!({"levels": [[0], [1]], "reason": "in order"}));
    provider.push_json(json!({
        "score": 0.9, "ac_compliance": 1.0, "goal_alignment": 0.9, "drift": 0.1,
        "reward_hacking_risk": 0.9, "notes": "the checks were gamed"
    }));
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    env.rt.push(Script::succeed("done").write("src/b.txt", "B"));
    let r = env.run_with(&two(), &env.workspace(), &settings(), Some(&provider)).unwrap();
    assert_eq!((r.verdict, r.exit_code), (Verdict::Failed, 1), "{r:#?}");
    assert!(r.criteria.iter().all(|c| c.status == CriterionStatus::Accepted));
    let exec = env.fold();
    let evaluation = exec.evaluation.expect("the evaluation is recorded");
    assert_eq!(evaluation["approved"], json!(false), "{evaluation}");
    assert_eq!(evaluation["semantic"]["reward_hacking_risk"], json!(0.9), "{evaluation}");
}

/// Uncommitted edits to a file a check names (an in-place run) would make every attempt
/// `oracle_tampered`: refused before anything is recorded, naming the file. A bad
/// `mechanical.toml` is refused up front too.
#[test]
fn dirty_oracles_and_a_bad_mechanical_file_are_refused_up_front() {
    let Some(env) = env() else { return };
    std::fs::write(env.ws.join("tests/a.sh"), "exit 0\n").unwrap();
    let err = env.run_with(&two(), &env.workspace(), &settings(), None).unwrap_err();
    assert!(matches!(err, RunError::DirtyOracle { .. }), "{err:?}");
    assert!(err.to_string().contains("tests/a.sh") && err.hint().contains("commit or stash"));
    assert!(env.kinds().is_empty(), "nothing recorded");
    git(&env.ws, &["checkout", "--", "tests/a.sh"]);
    std::fs::create_dir_all(env.ws.join(".ouroboros")).unwrap();
    std::fs::write(env.ws.join(".ouroboros/mechanical.toml"), "[[check]]\nnam = \"x\"\n").unwrap();
    let err = env.run_with(&two(), &env.workspace(), &settings(), None).unwrap_err();
    assert!(matches!(err, RunError::Mechanical(_)), "{err:?}");
    assert!(env.kinds().is_empty(), "nothing recorded");
    assert!(env.rt.tasks().is_empty(), "no worker ran");
}

/// Criterion 2's worker breaks what criterion 1's did after 1 was accepted: the checks
/// run again on the final tree, so the run fails instead of ending `success`.
#[test]
fn a_later_worker_breaking_an_accepted_criterion_fails_the_run() {
    let Some(env) = env() else { return };
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    env.rt.push(Script::succeed("done").write("src/b.txt", "B").write("src/a.txt", "broken"));
    let r = env.run_with(&two(), &env.workspace(), &settings(), None).unwrap();
    assert!(r.criteria.iter().all(|c| c.status == CriterionStatus::Accepted), "{r:#?}");
    assert_eq!((r.verdict, r.exit_code), (Verdict::Failed, 1), "{r:#?}");
    let evaluation = env.fold().evaluation.expect("the evaluation is recorded");
    assert_eq!(evaluation["approved"], json!(false), "{evaluation}");
}
