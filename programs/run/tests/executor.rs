//! The run loop with a scripted runtime, a real `ScopedCore` over a temporary SQLite
//! ledger, a real git repository and the real sandbox for the gate: success, retry with
//! feedback, a false claim of success, a tampered oracle, an unverified criterion, a
//! runtime error, parallel criteria, cancel (flag and ledger), resume after a crash, a
//! ledger that refuses appends, and the order of every record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use ooo_core::capability::{Grant, Grants, ScopedCore};
use ooo_core::ledger::{Event, SqliteStore, Store};
use ooo_core::runtime::{LlmProvider, RuntimeError, RuntimeErrorKind};
use ooo_core::seed::{MetadataDefaults, Seed, load_str};
use ooo_run::events::{
    self, AttemptDispatched, AttemptSealed, AttemptStatus, CancelRequested, CriterionSettled,
    CriterionStatus, ExecStatus, Execution, ExecutionResumed, ExecutionStarted, Owner, Record,
    ResumeError, Verdict, kind, owner_alive,
};
use ooo_run::executor::{CommitPolicy, Executor, Progress, RunError, RunResult, Settings};
use ooo_run::gate::{GateSettings, GateStatus};
use ooo_run::lock::{ExecutionLock, LockError};
use ooo_run::plan::{Plan, PlanSource};
use ooo_run::workspace::{self, Workspace, WorkspaceError, Worktree};
use ooo_runtime::scripted::{Script, ScriptedProvider, ScriptedRuntime};
use ooo_sandbox::Sandbox;

mod support;
use support::{git, processes_with, sandbox, wait_until};

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
    /// Where the execution's lock is (as `Home::execution_lock` would put it).
    lock_path: PathBuf,
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
        lock_path: root.join(format!("runs/exec-{ID}/lock")),
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
        ex.start(seed, "seed_letters", ws, settings, &self.lock())
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

    /// The execution's lock, as `ooo run` takes it, once free. A lock released a moment
    /// ago may still be held for a while by a child another test's thread forked then (a
    /// forked child shares the descriptor until it execs), so a refusal is tried again.
    fn lock(&self) -> ExecutionLock {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match ExecutionLock::acquire(&self.lock_path, ID) {
                Ok(lock) => return lock,
                Err(LockError::Held { .. }) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Resume the execution, holding its lock.
    fn resume(&self, seed: &Seed, ws: &Workspace) -> Result<RunResult, RunError> {
        let on_progress = |_: &Progress| {};
        let ex = self.executor(None, &on_progress);
        ex.resume(seed, ws, &settings(), &self.lock())
    }

    /// In a worktree, an execution of [`two`] whose process died right after accepting
    /// criterion 1 (its file written, nothing committed yet).
    fn crashed_after_accepting_a(&self) -> (Seed, Workspace) {
        let seed = two();
        let worktrees = self.ws.parent().unwrap().join("worktrees");
        let ws = workspace::prepare(&self.ws, ID, true, &worktrees).unwrap();
        let ghost = self.crashed(&seed, &ws);
        self.append(dispatched(&seed, 0, 1, &ghost));
        std::fs::create_dir_all(ws.root.join("src")).unwrap();
        std::fs::write(ws.root.join("src/a.txt"), "A").unwrap();
        self.append(sealed(0, 1, "passed"));
        self.append(Record::CriterionAccepted(CriterionSettled { criterion: 0, attempts: 1 }));
        (seed, ws)
    }

    /// Record the start of an execution of `seed` in `ws` (one criterion per level) by a
    /// process that then died: this pid with another start time. Returns that owner.
    fn crashed(&self, seed: &Seed, ws: &Workspace) -> Owner {
        let me = Owner::current().unwrap();
        let ghost = Owner { start_time: me.start_time + 1, ..me };
        self.append(Record::Started(ExecutionStarted {
            execution_id: ID.into(),
            seed_id: "seed_letters".into(),
            seed_hash: ooo_core::seed::content_hash(seed),
            workspace: ws.root.to_string_lossy().into_owned(),
            base_commit: Some(ws.base_commit.clone()),
            worktree: ws.worktree.as_ref().map(|w| w.path.to_string_lossy().into_owned()),
            branch: ws.worktree.as_ref().map(|w| w.branch.clone()),
            runtime: "scripted".into(),
            max_parallel: 3,
            max_attempts: 3,
            owner: ghost.clone(),
        }));
        let count = seed.acceptance_criteria.len();
        self.append(Record::PlanRecorded(Plan::sequential(count, "test")));
        ghost
    }
}

fn dispatched(seed: &Seed, criterion: usize, attempt: u32, owner: &Owner) -> Record {
    Record::AttemptDispatched(AttemptDispatched {
        criterion,
        attempt,
        semantic_ac_key: seed.acceptance_criteria[criterion].semantic_ac_key.clone(),
        owner: owner.clone(),
    })
}

fn sealed(criterion: usize, attempt: u32, status: &str) -> Record {
    Record::AttemptSealed(AttemptSealed {
        criterion,
        attempt,
        verdict: json!({"status": status}),
        tokens: 10,
        cost_usd: 0.0,
        duration_ms: 5,
        files_changed: Vec::new(),
    })
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

/// With `--commit-policy ac`, criteria that ran at once in one worktree get one commit
/// when the level ends: a commit made when the first was accepted would have carried
/// the other worker's files half-written.
#[test]
fn a_parallel_level_is_committed_once_when_its_workers_are_done() {
    let Some(env) = env() else { return };
    let provider = ScriptedProvider::new();
    provider.push_json(json!({"levels": [[0, 1]], "reason": "independent"}));
    // Whichever thread takes which script: one worker is done at once, the other is
    // still writing (its second file comes after a pause) when the first is accepted.
    env.rt.push(Script::succeed("quick").write("src/a.txt", "A"));
    env.rt.push(
        Script::succeed("slow")
            .write("src/b.txt", "B")
            .sleep(Duration::from_millis(800))
            .write("src/late.txt", "late"),
    );
    let worktrees = env.ws.parent().unwrap().join("worktrees");
    let ws = workspace::prepare(&env.ws, ID, true, &worktrees).unwrap();
    let settings = Settings { commit_policy: CommitPolicy::Ac, ..settings() };
    let seed = seed(&format!(
        "{AC_A}  - description: src/b.txt holds the letter B\n    verify_command: test \"$(cat src/b.txt)\" = B\n"
    ));
    let r = env.run_with(&seed, &ws, &settings, Some(&provider)).unwrap();
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert_eq!(r.commits.len(), 1, "{:?}", r.commits);
    let files = git(&ws.root, &["show", "--name-only", "--format=", &r.commits[0]]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort_unstable();
    assert_eq!(files, ["src/a.txt", "src/b.txt", "src/late.txt"]);
    let message = git(&ws.root, &["log", "-1", "--format=%B", &r.commits[0]]);
    assert!(message.starts_with(&format!("ooo run {ID}: criteria 1, 2 (one level)")), "{message}");
    assert!(message.ends_with("Ooo-Criterion: 1\nOoo-Criterion: 2"), "{message}");
    assert_eq!(commits_recorded(&env), [(None, vec![0, 1])]);
}

/// Each `run.commit.recorded`: (criterion, criteria).
fn commits_recorded(env: &Env) -> Vec<(Option<usize>, Vec<usize>)> {
    env.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::CommitRecorded(c) => Some((c.criterion, c.criteria)),
            _ => None,
        })
        .collect()
}

/// A criterion accepted whose commit was never made (its level stopped, or ooo died,
/// before the commit): the resume's next commit holds it too, and says so.
#[test]
fn accepted_work_left_uncommitted_goes_into_the_next_commit() {
    let Some(env) = env() else { return };
    let (seed, ws) = env.crashed_after_accepting_a();
    // ... and the process died before committing criterion 1.
    env.rt.push(Script::succeed("done").write("src/b.txt", "B"));
    let r = env.resume(&seed, &ws).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert_eq!(commits_recorded(&env), [(None, vec![0, 1])]);
    let message = git(&ws.root, &["log", "-1", "--format=%B"]);
    assert!(message.starts_with(&format!("ooo run {ID}: criteria 1, 2 (")), "{message}");
    let files = git(&ws.root, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.lines().collect::<Vec<_>>(), ["src/a.txt", "src/b.txt"]);
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
    let ghost = env.crashed(&seed, &env.workspace());
    env.append(dispatched(&seed, 0, 1, &ghost));
    std::fs::write(env.ws.join("src/a.txt"), "A").unwrap();
    env.append(sealed(0, 1, "passed"));
    env.append(Record::CriterionAccepted(CriterionSettled { criterion: 0, attempts: 1 }));
    env.append(dispatched(&seed, 1, 1, &ghost));
    // ... and the process died here.
    let exec = env.fold();
    assert_eq!(exec.status, ExecStatus::Interrupted);

    env.rt.push(Script::succeed("done").write("src/b.txt", "B"));
    let r = env.resume(&seed, &env.workspace()).unwrap();
    assert_eq!((r.verdict, r.exit_code), (Verdict::Success, 0), "{r:#?}");
    let prompts = prompts(&env.rt);
    assert_eq!(prompts.len(), 1, "only the unfinished criterion ran");
    assert!(prompts[0].contains("(2 of 2)"), "{}", prompts[0]);
    assert_eq!((r.criteria[0].attempts, r.criteria[1].attempts), (1, 2));
    let attempts = &env.fold().criteria[1].attempts;
    assert_eq!(attempts[0].status, AttemptStatus::Interrupted, "the dead process's attempt");
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

    // A live process recorded as its owner (an ooo from before the lock, or one on
    // another host) is refused even by a process holding the lock.
    let live = Owner::current().unwrap();
    env.append(Record::Resumed(ExecutionResumed { owner: live }));
    let recorded = env.kinds().len();
    let err = env.resume(&seed, &env.workspace()).unwrap_err();
    assert!(matches!(err, RunError::Resume(ResumeError::Held { .. })), "{err}");
    assert_eq!(env.kinds().len(), recorded, "nothing recorded");
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
    // Another seed is refused before anything is recorded.
    let err = env.resume(&two(), &env.workspace()).unwrap_err();
    assert!(matches!(err, RunError::SeedChanged { .. }), "{err}");
    assert_eq!(env.kinds(), [kind::STARTED]);
    let r = env.resume(&seed, &env.workspace()).unwrap();
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
    // An added stand-in for the program the checks run: not a change to stash.
    std::fs::write(env.ws.join("sh"), "#!/bin/sh\nexit 0\n").unwrap();
    let err = env.run_with(&two(), &env.workspace(), &settings(), None).unwrap_err();
    assert!(err.to_string().contains("sh (added)"), "{err}");
    let hint = err.hint();
    assert!(hint.starts_with("move the added files out of the repository (sh)"), "{hint}");
    assert!(!hint.contains("stash"), "{hint}");
    std::fs::remove_file(env.ws.join("sh")).unwrap();
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

/// A resume checks the repository for real: on a `HEAD` whose history lacks the base
/// commit it is refused, saying so, with nothing recorded; back on the run's history the
/// same execution resumes.
#[test]
fn a_resume_on_a_head_not_descending_from_the_base_is_refused_until_fixed() {
    let Some(env) = env() else { return };
    let seed = seed(AC_A);
    let ws = env.workspace();
    let ghost = env.crashed(&seed, &ws);
    env.append(dispatched(&seed, 0, 1, &ghost));
    git(&env.ws, &["checkout", "-q", "--orphan", "elsewhere"]);
    git(&env.ws, &["commit", "-q", "-m", "an unrelated history"]);
    let recorded = env.kinds();
    let err = env.resume(&seed, &ws).unwrap_err();
    assert!(
        matches!(&err, RunError::NotResumable { source: WorkspaceError::NotDescendant { .. }, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&env.base), "{err}");
    assert!(err.hint().contains("--resume"), "{}", err.hint());
    assert_eq!(env.kinds(), recorded, "a refused resume records nothing");
    assert!(env.rt.tasks().is_empty(), "no worker ran");

    git(&env.ws, &["checkout", "-q", "main"]);
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let r = env.resume(&seed, &ws).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
}

/// A worktree execution resumes only in its own worktree, on its own branch.
#[test]
fn a_resume_off_the_recorded_worktree_or_branch_is_refused_until_fixed() {
    let Some(env) = env() else { return };
    let seed = seed(AC_A);
    let worktrees = env.ws.parent().unwrap().join("worktrees");
    let ws = workspace::prepare(&env.ws, ID, true, &worktrees).unwrap();
    let branch = ws.worktree.as_ref().unwrap().branch.clone();
    env.crashed(&seed, &ws);

    git(&ws.root, &["switch", "-q", "-c", "detour"]);
    let err = env.resume(&seed, &ws).unwrap_err();
    assert!(
        matches!(&err, RunError::NotResumable { source: WorkspaceError::WrongBranch { .. }, .. }),
        "{err:?}"
    );
    assert!(err.hint().contains(&format!("switch {branch}")), "{}", err.hint());
    git(&ws.root, &["switch", "-q", &branch]);

    // The repository itself, or another worktree, is not the execution's workspace.
    let in_place = env.workspace();
    let elsewhere = Workspace {
        worktree: Some(Worktree { path: env.ws.clone(), branch: branch.clone() }),
        ..in_place.clone()
    };
    for other in [in_place, elsewhere] {
        let err = env.resume(&seed, &other).unwrap_err();
        assert!(matches!(&err, RunError::WorkspaceChanged { what: "worktree", .. }), "{err:?}");
    }
    assert_eq!(env.kinds(), [kind::STARTED, kind::PLAN_RECORDED], "nothing recorded");

    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let r = env.resume(&seed, &ws).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
}

/// An attempt that died after its worker changed a check: the attempt is interrupted,
/// and the resume is refused (naming the file, with nothing recorded) until the check is
/// restored; then the criterion is tried again.
#[test]
fn an_attempt_that_died_after_changing_a_check_blocks_the_resume_until_restored() {
    let Some(env) = env() else { return };
    let seed = seed(AC_A);
    let ws = env.workspace();
    let ghost = env.crashed(&seed, &ws);
    env.append(dispatched(&seed, 0, 1, &ghost));
    std::fs::write(env.ws.join("tests/a.sh"), "exit 0\n").unwrap();
    assert_eq!(env.fold().criteria[0].status, CriterionStatus::Interrupted);

    let err = env.resume(&seed, &ws).unwrap_err();
    assert!(matches!(&err, RunError::OracleChanged { .. }), "{err:?}");
    assert!(err.to_string().contains("tests/a.sh"), "{err}");
    assert!(err.hint().contains("checkout") && err.hint().contains("--resume"), "{}", err.hint());
    assert_eq!(env.kinds().len(), 3, "nothing recorded: {:?}", env.kinds());
    assert!(env.rt.tasks().is_empty(), "no worker ran");

    git(&env.ws, &["checkout", "--", "tests/a.sh"]);
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let r = env.resume(&seed, &ws).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!((r.verdict, r.criteria[0].attempts), (Verdict::Success, 2), "{r:#?}");
    let attempts = &env.fold().criteria[0].attempts;
    assert_eq!(attempts[0].status, AttemptStatus::Interrupted);
}

/// Two resumes of one execution at once: while the first runs (here, held inside its
/// first attempt), the second cannot take the lock and is told who holds it; the records
/// stay consistent, and once the first is done the execution can be resumed again.
#[test]
fn a_second_resume_while_one_runs_is_refused_naming_the_holder() {
    let Some(env) = env() else { return };
    let seed = seed(AC_A);
    let ws = env.workspace();
    let ghost = env.crashed(&seed, &ws);
    env.append(dispatched(&seed, 0, 1, &ghost));
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let (started, attempt_started) = mpsc::channel();
    let (checked, go_on) = mpsc::channel::<()>();
    let go_on = Mutex::new(go_on);
    let on_progress = |p: &Progress| {
        if matches!(p, Progress::AttemptStarted { .. }) {
            started.send(()).unwrap();
            go_on.lock().unwrap().recv().unwrap();
        }
    };
    let first = std::thread::scope(|s| {
        let first = s.spawn(|| {
            let ex = env.executor(None, &on_progress);
            ex.resume(&seed, &ws, &settings(), &env.lock())
        });
        attempt_started.recv().unwrap();
        let err = ExecutionLock::acquire(&env.lock_path, ID).unwrap_err();
        let pid = std::process::id();
        assert!(matches!(err, LockError::Held { pid: Some(p), .. } if p == pid), "{err:?}");
        assert_eq!(err.to_string(), format!("execution {ID} is being run by pid {pid}"));
        assert!(err.hint().contains(&format!("ooo status {ID} --follow")), "{}", err.hint());
        assert!(err.hint().contains(&format!("ooo cancel {ID}")), "{}", err.hint());
        checked.send(()).unwrap();
        first.join().unwrap()
    });
    let r = first.unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert_eq!(env.rt.tasks().len(), 1, "one worker, from the first resume only");
    let resumed = env.kinds().iter().filter(|k| **k == kind::RESUMED).count();
    assert_eq!(resumed, 1);
    // Released at the end: the execution resumes again, with nothing left to do.
    let again = env.resume(&seed, &ws).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!((again.verdict, again.criteria[0].attempts), (Verdict::Success, 2));
    assert_eq!(env.rt.tasks().len(), 1, "nothing dispatched again");
}

/// The process died after the gate passed criterion 1's attempt and before it was
/// accepted. The resume gives it to no worker: the gate runs again on the tree as it is
/// (recorded), passes, and the criterion is accepted with its one attempt.
#[test]
fn a_criterion_sealed_passed_but_never_accepted_is_checked_again_not_redone() {
    let Some(env) = env() else { return };
    let seed = two();
    let ghost = env.crashed(&seed, &env.workspace());
    env.append(dispatched(&seed, 0, 1, &ghost));
    std::fs::write(env.ws.join("src/a.txt"), "A").unwrap();
    env.append(sealed(0, 1, "passed"));
    // ... and the process died here.
    env.rt.push(Script::succeed("done").write("src/b.txt", "B"));
    let r = env.resume(&seed, &env.workspace()).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    let prompts = prompts(&env.rt);
    assert_eq!(prompts.len(), 1, "only criterion 2 went to a worker");
    assert!(prompts[0].contains("(2 of 2)"), "{}", prompts[0]);
    assert_eq!((r.criteria[0].attempts, r.criteria[1].attempts), (1, 1));
    let kinds = env.kinds();
    let tail = &kinds[kinds.iter().position(|k| *k == kind::RESUMED).unwrap() + 1..];
    assert_eq!(
        &tail[..3],
        [kind::CRITERION_RECHECKED, kind::CRITERION_ACCEPTED, kind::ATTEMPT_DISPATCHED]
    );
    let recheck = env
        .records()
        .into_iter()
        .find_map(|r| match r {
            Record::CriterionRechecked(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!((recheck.criterion, recheck.attempt), (0, 1));
    // The gate really ran: its output is in the verdict.
    assert_eq!(recheck.verdict["status"], json!("passed"), "{}", recheck.verdict);
    assert!(recheck.verdict["output_tail"].as_str().unwrap().contains("A-OK"));
}

/// The same crash, but the tree changed since the seal: the re-check fails, and the
/// criterion goes on to a worker with that failure as feedback.
#[test]
fn a_criterion_sealed_passed_whose_tree_changed_is_tried_again_with_the_failure() {
    let Some(env) = env() else { return };
    let seed = seed(AC_A);
    let ghost = env.crashed(&seed, &env.workspace());
    env.append(dispatched(&seed, 0, 1, &ghost));
    env.append(sealed(0, 1, "passed"));
    std::fs::write(env.ws.join("src/a.txt"), "Z").unwrap();
    env.rt.push(Script::succeed("fixed").write("src/a.txt", "A"));
    let r = env.resume(&seed, &env.workspace()).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!((r.verdict, r.criteria[0].attempts), (Verdict::Success, 2), "{r:#?}");
    let prompts = prompts(&env.rt);
    assert_eq!(prompts.len(), 1);
    assert!(prompts[0].contains("a is 'Z', wanted the letter"), "{}", prompts[0]);
    let kinds = env.kinds();
    let tail = &kinds[kinds.iter().position(|k| *k == kind::RESUMED).unwrap() + 1..];
    assert_eq!(
        &tail[..4],
        [
            kind::CRITERION_RECHECKED,
            kind::ATTEMPT_DISPATCHED,
            kind::ATTEMPT_SEALED,
            kind::CRITERION_ACCEPTED
        ]
    );
}

/// The process died between its commit of criterion 1 (in the worktree) and recording
/// it. The resume finds the commit by its trailers and records it, instead of leaving it
/// out or committing again; the next criterion's commit carries the same trailers.
#[test]
fn a_commit_made_but_not_recorded_is_recorded_on_resume() {
    let Some(env) = env() else { return };
    let (seed, ws) = env.crashed_after_accepting_a();
    let subject = format!("ooo run {ID}: criterion 1: a");
    let message = workspace::commit_message(&subject, ID, &[0]);
    let first = workspace::commit_all(&ws, &message, false).unwrap().unwrap();
    // ... and the process died here.
    env.rt.push(Script::succeed("done").write("src/b.txt", "B"));
    let r = env.resume(&seed, &ws).unwrap_or_else(|e| panic!("{e} ({})", e.hint()));
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert_eq!(r.commits.len(), 2, "{:?}", r.commits);
    assert_eq!(r.commits[0], first);
    let log = git(&ws.root, &["rev-list", &format!("{}..HEAD", env.base)]);
    assert_eq!(log.lines().count(), 2, "no commit made twice: {log}");
    assert_eq!(commits_recorded(&env), [(Some(0), vec![]), (Some(1), vec![])]);
    let body = git(&ws.root, &["log", "-1", "--format=%B"]);
    assert!(body.ends_with(&format!("Ooo-Execution: {ID}\nOoo-Criterion: 2")), "{body}");
    let found = workspace::execution_commits(&ws, ID).unwrap();
    let criteria: Vec<&[usize]> = found.iter().map(|c| c.criteria.as_slice()).collect();
    assert_eq!(criteria, [&[0][..], &[1][..]]);
    assert!(workspace::execution_commits(&ws, "01JOTHER").unwrap().is_empty());
}

/// `--commit-policy final`: the final commit is made first and the final re-check of the
/// accepted criteria runs on it, so what is committed is exactly what was re-checked. A
/// check that leaves a trace shows it: the commit holds the tree the re-check ran on (the
/// attempt's one line), not the one the re-check left behind (two lines, uncommitted).
#[test]
fn the_final_commit_is_the_tree_the_final_recheck_ran_on() {
    let Some(env) = env() else { return };
    let check = "echo run >> checks.log\n[ \"$(cat src/a.txt)\" = A ]\n";
    std::fs::write(env.ws.join("tests/c.sh"), check).unwrap();
    git(&env.ws, &["add", "-A"]);
    git(&env.ws, &["commit", "-q", "-m", "a check that leaves a trace"]);
    let seed = seed("  - description: src/a.txt holds A\n    verify_command: sh tests/c.sh\n");
    env.rt.push(Script::succeed("done").write("src/a.txt", "A"));
    let worktrees = env.ws.parent().unwrap().join("worktrees");
    let ws = workspace::prepare(&env.ws, ID, true, &worktrees).unwrap();
    let settings = Settings { commit_policy: CommitPolicy::Final, ..settings() };
    let r = env.run_with(&seed, &ws, &settings, None).unwrap();
    assert_eq!(r.verdict, Verdict::Success, "{r:#?}");
    assert_eq!(r.commits, [git(&ws.root, &["rev-parse", "HEAD"])]);
    let kinds = env.kinds();
    let commit = kinds.iter().position(|k| *k == kind::COMMIT_RECORDED).unwrap();
    let evaluation = kinds.iter().position(|k| *k == kind::EVALUATION_RECORDED).unwrap();
    assert!(commit < evaluation, "{kinds:?}");
    assert_eq!(git(&ws.root, &["show", "HEAD:src/a.txt"]), "A");
    assert_eq!(git(&ws.root, &["show", "HEAD:checks.log"]), "run");
    let left = std::fs::read_to_string(ws.root.join("checks.log")).unwrap();
    assert_eq!(left, "run\nrun\n", "the re-check ran after the commit");
    let body = git(&ws.root, &["log", "-1", "--format=%B"]);
    assert!(body.ends_with(&format!("Ooo-Execution: {ID}")), "{body}");
}
