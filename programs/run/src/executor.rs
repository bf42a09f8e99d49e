//! The run loop of `ooo run`: plan the criteria, dispatch workers level by level, let the
//! gate judge every attempt, record every step, and end with a verdict.
//!
//! [`Executor::start`] records `run.execution.started` (with this process as owner) and
//! the plan, then runs the levels; [`Executor::resume`] takes over a stopped execution
//! (refused while a live process holds it), records `run.execution.resumed` and does the
//! criteria still to do, numbering attempts on and never redoing an accepted criterion.
//! Both run under the execution's [`ExecutionLock`], which the caller holds from before
//! the first record to the end: one process at a time runs an execution, and a resume
//! folds the execution again once it holds the lock (so an attempt another process still
//! had open is never dispatched over).
//! Before it records anything, a resume checks that the workspace still holds the run
//! (the recorded worktree on its branch, `HEAD` descending from the base commit, the
//! checks' files as at the base commit: an attempt that died may have changed them); a
//! refusal writes nothing, so the execution stays resumable once the cause is fixed.
//! A criterion whose last attempt was sealed `passed` (or `unverified` / `exempt`) but
//! never settled (the process died in between) is not given to a worker again: the gate
//! runs again on the tree as it is, recorded as `run.criterion.rechecked`, and that
//! verdict decides (passed: accepted; failed: attempts go on with it as feedback). A
//! commit ooo made in the worktree but never recorded (it died in between) is found by
//! its message's trailers (`Ooo-Execution`, `Ooo-Criterion`) and recorded, not made
//! again.
//!
//! Per level, up to [`Settings::max_parallel`] criteria run at once (scoped threads over a
//! shared queue). Per criterion, up to [`Settings::max_attempts`] attempts in this process
//! (a resume gets a fresh budget, so a failed criterion can be tried again). Each attempt:
//! `run.attempt.dispatched`; a `workspace_write` worker gets the worker-safe prompt (the
//! first time) or the retry prompt with the gate's last failure; its events are read to
//! the end for tokens, cost and its claim of success (recorded, never believed); then
//! [`gate::check`] alone decides, and `run.attempt.sealed` records the gate's verdict with
//! the runtime's evidence under `runtime` (see [`RuntimeEvidence`]). Then:
//! * `passed`: `run.criterion.accepted`, and with [`CommitPolicy::Ac`] in a worktree a
//!   commit, recorded as `run.commit.recorded` (in a level whose criteria run at once,
//!   one commit for the level's accepted criteria when its last worker is done: their
//!   files share the workspace and cannot be told apart; its message names the level's
//!   criteria that were not accepted, whose workers' files are in the tree too).
//!   Accepted work whose commit was never made (a level that stopped first, here or in
//!   the process a resume takes over from) goes into the next commit, or one at the end;
//!   each commit's trailers name every criterion it holds;
//! * `unverified` / `exempt`: `run.criterion.unverified` at once (retrying cannot verify
//!   a criterion that has no check);
//! * `failed` / `oracle_tampered`: another attempt with the failure as feedback, and
//!   `run.criterion.failed` when the attempts are used up.
//!
//! A runtime error (the CLI missing, a timeout, no result) is a failed attempt whose
//! verdict (`status: failed`, no gate run: the worker did not finish) carries the error
//! kind; errors that another attempt cannot fix (not installed, auth, ...) end the
//! criterion's attempts at once. A gate that cannot judge (no sandbox, no git) fails the
//! criterion the same way, with the gate's error and hint in the verdict; resuming after
//! the environment is fixed tries it again. Changed files are listed after every attempt
//! (since the base commit: criteria of one level share the workspace, so files are not
//! attributed to one worker).
//!
//! **A failing criterion does not stop the run.** The other criteria of its level finish
//! and later levels still run: a plan's levels order work, they do not make a failure
//! fatal, and the verdict is `failed` anyway. More evidence per run is worth more than the
//! time saved, and `ooo cancel` stops a run that is no longer wanted.
//!
//! **Cancel.** [`Executor::cancel`] (Ctrl-C in this process) or a
//! `run.execution.cancel_requested` record appended by another process (`ooo cancel`)
//! stops dispatching, cancels every running worker through its `CancelHandle`, seals the
//! attempts it interrupted as `cancelled` (no gate run), appends `cancel_requested` when
//! no one did yet, and finishes with verdict `cancelled`. A watcher thread looks at the
//! flag every 25 ms and at the ledger every 500 ms, through the evaluation too; the ledger
//! is read again before every dispatch. The gate gets the run's stop as its cancel
//! ([`GateSettings::cancel`]): a verify command or mechanical check already running is
//! killed with its sandbox at once, its attempt sealed `cancelled` (not failed), and a
//! cancel during the evaluation ends the run `cancelled` with no evaluation recorded.
//!
//! **End.** With [`CommitPolicy::Final`] one commit in the worktree first; then the
//! evaluation ([`Executor::evaluate_after_criteria`]: every accepted criterion's check
//! again, then the mechanical and semantic stages of `crate::evaluate`, which can only
//! lower a success) runs on that committed tree, so what is committed is exactly what
//! was checked again (what the checks themselves write is left uncommitted); then
//! `run.execution.finished` with [`verdict_for`] of the folded counts. A run in which no
//! criterion passed an executed check is never `success`. The [`RunResult`] is built from the folded ledger, so a resumed run
//! reports its earlier attempts too.
//!
//! **Errors.** A ledger append that fails (disk full, no grant) stops the run with a
//! [`RunError`] and its hint: running workers are cancelled (their attempts sealed as
//! `interrupted` when the ledger still takes it), nothing more is dispatched, no
//! `finished` is written, and the execution stays resumable. A commit that fails stops
//! the run the same way. ooo itself changes the user's repository only by
//! the commits the policy asks for, and only in a worktree.
//!
//! What does not live here: the prompts ([`crate::view`]), the gate ([`crate::gate`]), the
//! records and their fold ([`crate::events`]), the plan ([`crate::plan`]), making the
//! worktree ([`crate::workspace`]), the evaluation stage (`crate::evaluate`), rendering.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ooo_core::capability::{CoreError, ScopedCore};
use ooo_core::runtime::{
    AgentEvent, AgentRuntime, AgentTask, CancelHandle, LlmProvider, RunLimits, RuntimeError,
    RuntimeErrorKind, SandboxClass, Usage,
};
use ooo_core::seed::{AcceptanceCriterion, Seed};
use ooo_sandbox::Sandbox;

use crate::events::{
    self, AppendError, AttemptDispatched, AttemptSealed, AttemptStatus, CancelRequested,
    CommitRecorded, CriterionRechecked, CriterionSettled, CriterionStatus, Execution,
    ExecutionFinished, ExecutionResumed, ExecutionStarted, FoldError, Owner, OwnerError, Record,
    ResumeError, Verdict, exit_code, owner_alive, resume_point, verdict_for,
};
use crate::gate::{self, CancelFlag, GateSettings, GateStatus, GateVerdict};
use crate::lock::ExecutionLock;
use crate::plan::{self, Plan};
use crate::view;
use crate::workspace::{self, Workspace, WorkspaceError, Worktree};

/// How often the watcher looks at the cancel flag.
const WATCH_TICK: Duration = Duration::from_millis(25);
/// How often the watcher reads the ledger for a `cancel_requested` from another process.
const LEDGER_POLL: Duration = Duration::from_millis(500);
/// The most of a worker's final message kept as evidence, in characters.
const CLAIM_CHARS: usize = 2000;

// ---------------------------------------------------------------------------------------
// Settings, progress, results, errors

/// When ooo commits the workers' changes (only ever in a worktree it made).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitPolicy {
    /// After each accepted criterion.
    #[default]
    Ac,
    /// Once, at the end of a run that was not cancelled.
    Final,
    /// Never.
    None,
}

/// How a run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Criteria of one level running at once (0 counts as 1).
    pub max_parallel: usize,
    /// Attempts per criterion in one process (a resume gets a fresh budget; 0 counts
    /// as 1).
    pub max_attempts: u32,
    pub commit_policy: CommitPolicy,
    pub gate: GateSettings,
    pub worker_limits: RunLimits,
    /// The model workers ask for; `None` leaves it to the runtime.
    pub model: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_parallel: 3,
            max_attempts: 3,
            commit_policy: CommitPolicy::default(),
            gate: GateSettings::default(),
            worker_limits: RunLimits::default(),
            model: None,
        }
    }
}

/// What the run is doing, for a live view. Sent from worker threads, in ledger order per
/// criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    Planned {
        levels: usize,
        criteria: usize,
    },
    CriterionStarted {
        criterion: usize,
    },
    AttemptStarted {
        criterion: usize,
        attempt: u32,
    },
    /// An attempt was sealed: the gate's status, or `failed` / `cancelled` when the gate
    /// did not run.
    GateVerdict {
        criterion: usize,
        attempt: u32,
        status: String,
    },
    /// On resume, attempt `attempt` (sealed, never settled) was checked again: the gate's
    /// status now.
    Rechecked {
        criterion: usize,
        attempt: u32,
        status: String,
    },
    Accepted {
        criterion: usize,
        attempts: u32,
    },
    Failed {
        criterion: usize,
        attempts: u32,
    },
    Unverified {
        criterion: usize,
        exempt: bool,
    },
    CancelRequested,
    Finished {
        verdict: Verdict,
    },
}

/// What the runtime said about one attempt, kept under `runtime` in the sealed verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeEvidence {
    pub runtime: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: Option<f64>,
    /// The worker's own claim (`Final.success`): recorded, never believed.
    pub claimed_success: Option<bool>,
    pub claim_text: Option<String>,
    pub error: Option<RuntimeFailure>,
    pub files_changed: Vec<String>,
    /// Why the changed files could not be listed (git failed), if it did.
    pub files_changed_error: Option<String>,
    pub worker_ms: u64,
}

/// A runtime error, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeFailure {
    pub kind: RuntimeErrorKind,
    pub message: String,
    pub hint: String,
}

/// One criterion at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionResult {
    pub index: usize,
    pub semantic_ac_key: String,
    pub description: String,
    pub status: CriterionStatus,
    pub attempts: u32,
    /// The gate's verdict on the last attempt it judged.
    pub last_verdict: Option<GateVerdict>,
    pub files_changed: Vec<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub duration_ms: u64,
}

/// A whole run, as printed at the end and given by `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub execution_id: String,
    pub verdict: Verdict,
    pub exit_code: i32,
    pub criteria: Vec<CriterionResult>,
    /// Commit ids, in order.
    pub commits: Vec<String>,
    pub worktree: Option<Worktree>,
    pub tokens: u64,
    pub cost_usd: f64,
    /// This process's time on the run.
    pub duration_ms: u64,
    pub plan: Plan,
}

/// Why a run could not go on. The execution stays resumable (`ooo run --resume`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Owner(#[from] OwnerError),
    #[error("cannot record the execution in the ledger: {0}")]
    Ledger(#[from] AppendError),
    #[error("cannot read the execution's records: {0}")]
    Read(CoreError),
    #[error(transparent)]
    Fold(#[from] FoldError),
    #[error(transparent)]
    Resume(#[from] ResumeError),
    #[error("execution {execution} is not the one this process locked ({locked})")]
    NotLocked { execution: String, locked: String },
    #[error(
        "the seed changed since execution {execution} started (recorded {recorded}, given {given})"
    )]
    SeedChanged { execution: String, recorded: String, given: String },
    #[error(
        "the workspace is not the one execution {execution} started in: its {what} was {recorded}, now {given}"
    )]
    WorkspaceChanged { execution: String, what: &'static str, recorded: String, given: String },
    #[error("execution {execution} cannot go on in this workspace: {source}")]
    NotResumable { execution: String, source: WorkspaceError },
    #[error("cannot commit or list the changes in the workspace: {0}")]
    Workspace(#[from] WorkspaceError),
    #[error(
        "files the checks depend on already differ from the base commit {base}: {}",
        paths.joined()
    )]
    DirtyOracle { base: String, paths: OraclePaths },
    #[error(
        "files the checks of execution {execution} depend on changed since its base commit {base}: {}",
        paths.joined()
    )]
    OracleChanged { execution: String, root: PathBuf, base: String, paths: OraclePaths },
    #[error("cannot read the checks the oracle is made of: {0}")]
    Oracle(#[from] crate::oracle::OracleError),
    #[error(transparent)]
    Mechanical(#[from] crate::evaluate::EvaluateError),
}

impl RunError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            RunError::Owner(e) => e.hint(),
            RunError::Ledger(e) => format!(
                "{}; check free disk space and the ledger's permissions (`df -h`), then continue \
                 with `ooo run --resume <execution_id>`",
                e.hint()
            ),
            RunError::Read(e) => e.hint(),
            RunError::Fold(e) => e.hint(),
            RunError::Resume(e) => e.hint(),
            RunError::NotLocked { .. } => {
                "this is a bug in the caller of ooo run's executor; please report it".into()
            }
            RunError::DirtyOracle { paths, .. } => {
                let mut fix = Vec::new();
                if !paths.changed.is_empty() {
                    fix.push("commit or stash the changes".to_owned());
                }
                if !paths.added.is_empty() {
                    fix.push(format!(
                        "move the added files out of the repository ({})",
                        paths.added.join(" ")
                    ));
                }
                format!(
                    "{} first (the checks are read from the base commit, and every attempt \
                     would count as tampering), or run with --worktree",
                    fix.join(" and ")
                )
            }
            RunError::Oracle(e) => e.hint(),
            RunError::Mechanical(e) => e.hint(),
            RunError::SeedChanged { .. } => {
                "resume with the seed the execution started with, or start a new run".into()
            }
            RunError::WorkspaceChanged { .. } => {
                "resume in the workspace (or worktree) the execution started in".into()
            }
            RunError::NotResumable { execution, source, .. } => {
                format!("{}; then `ooo run --resume {execution}`", source.hint())
            }
            RunError::OracleChanged { execution, root, base, paths } => {
                let mut fix = Vec::new();
                if !paths.changed.is_empty() {
                    fix.push(format!(
                        "restore them (`git -C {} checkout {base} -- {}`)",
                        root.display(),
                        paths.changed.join(" ")
                    ));
                }
                if !paths.added.is_empty() {
                    fix.push(format!(
                        "remove the added ones (`cd {} && rm -r -- {}`)",
                        root.display(),
                        paths.added.join(" ")
                    ));
                }
                format!(
                    "the checks are read from the base commit, so every attempt would count \
                     as tampering: {}, then `ooo run --resume {execution}`",
                    fix.join(" and ")
                )
            }
            RunError::Workspace(e) => {
                format!("{}; the execution can be resumed with `ooo run --resume`", e.hint())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The executor

/// Runs executions. Borrowed parts only: the CLI owns the core, runtime and sandbox.
pub struct Executor<'a> {
    /// Scoped to `Program("run")` and the execution's aggregate
    /// ([`events::aggregate`]), with `ledger:write`.
    pub core: &'a ScopedCore,
    pub runtime: &'a dyn AgentRuntime,
    /// The planner's model; `None` plans one criterion per level.
    pub provider: Option<&'a dyn LlmProvider>,
    pub sandbox: &'a Sandbox,
    /// Set it (Ctrl-C) to cancel the run.
    pub cancel: Arc<AtomicBool>,
    pub on_progress: &'a (dyn Fn(&Progress) + Sync),
}

impl Executor<'_> {
    /// Start the execution `lock` holds, of `seed` in `ws`: record it, plan, run every
    /// level.
    pub fn start(
        &self,
        seed: &Seed,
        seed_id: &str,
        ws: &Workspace,
        settings: &Settings,
        lock: &ExecutionLock,
    ) -> Result<RunResult, RunError> {
        let began = Instant::now();
        let execution_id = lock.execution_id();
        let owner = Owner::current()?;
        // Before anything is recorded: checks that would fail every attempt, and a bad
        // mechanical.toml, are refused up front.
        check_oracles_clean(seed, ws)?;
        crate::evaluate::load_mechanical(ws)?;
        self.append(Record::Started(started_record(
            self,
            seed,
            seed_id,
            ws,
            settings,
            execution_id,
            owner.clone(),
        )))?;
        let plan = plan::plan(self.provider, seed);
        self.append(Record::PlanRecorded(plan.clone()))?;
        let count = seed.acceptance_criteria.len();
        let todo: Vec<usize> = plan.levels.iter().flatten().copied().collect();
        let run = Run::new(self, seed, ws, settings, execution_id, owner);
        run.execute(&plan, &todo, &vec![Earlier::default(); count], began)
    }

    /// Continue the execution `lock` holds, as its records say once the lock is held:
    /// refused while a live process is recorded as holding it (an ooo from before the
    /// lock, or on another host), or when the seed or workspace is not the one it started
    /// with or no longer holds its work (see `check_resumable`). Accepted,
    /// unverified and exempt criteria are kept; the others run again, their attempts
    /// numbered after the recorded ones. An execution that stopped before its plan was
    /// recorded is planned again.
    pub fn resume(
        &self,
        seed: &Seed,
        ws: &Workspace,
        settings: &Settings,
        lock: &ExecutionLock,
    ) -> Result<RunResult, RunError> {
        let began = Instant::now();
        let execution = &self.fold()?;
        if execution.id != lock.execution_id() {
            return Err(RunError::NotLocked {
                execution: execution.id.clone(),
                locked: lock.execution_id().to_owned(),
            });
        }
        // An execution that died between `started` and its plan is planned again.
        let (plan, todo, replanned) = match resume_point(execution) {
            Ok(todo) => {
                let plan = execution.plan.clone().ok_or_else(|| no_plan(execution))?;
                (plan, todo, false)
            }
            Err(ResumeError::NoPlan { .. }) => {
                let plan = plan::plan(self.provider, seed);
                let todo = plan.levels.iter().flatten().copied().collect();
                (plan, todo, true)
            }
            Err(e) => return Err(e.into()),
        };
        check_resumable(seed, ws, execution)?;
        let unrecorded = unrecorded_commits(ws, execution)?;
        let owner = Owner::current()?;
        self.append(Record::Resumed(ExecutionResumed { owner: owner.clone() }))?;
        if replanned {
            self.append(Record::PlanRecorded(plan.clone()))?;
        }
        for commit in &unrecorded {
            self.append(Record::CommitRecorded(commit.clone()))?;
        }
        let earlier: Vec<Earlier> = (0..seed.acceptance_criteria.len())
            .map(|i| Earlier {
                attempts: execution.attempts_used(i),
                failure: execution.criteria.get(i).and_then(last_gate_failure),
                recheck: execution.criteria.get(i).is_some_and(|c| c.sealed_unsettled()),
            })
            .collect();
        let run = Run::new(self, seed, ws, settings, &execution.id, owner);
        *self::lock(&run.carry) = carried(ws, settings, execution, &unrecorded)?;
        run.execute(&plan, &todo, &earlier, began)
    }

    /// The evaluation stage ([`crate::evaluate`]) once every criterion is settled, before
    /// `run.execution.finished`, recorded as `run.evaluation.recorded`. Only a verdict of
    /// success is evaluated, and the evaluation can only lower it: every accepted
    /// criterion's check runs again on the final tree, and not approved (no executed
    /// mechanical check, a failed one, or a `reward_hacking_risk` veto) makes the run
    /// `failed`. A model alone never approves. A check cut short by `gate`'s cancel makes
    /// it `cancelled`, with no evaluation recorded.
    pub fn evaluate_after_criteria(
        &self,
        seed: &Seed,
        ws: &Workspace,
        execution: &Execution,
        gate: &GateSettings,
        verdict: Verdict,
    ) -> Result<Verdict, RunError> {
        if verdict != Verdict::Success {
            return Ok(verdict);
        }
        // Every accepted criterion's check again, on the final tree: a later worker may
        // have broken what an earlier one did, and a verdict from before does not count.
        let mut verify: Vec<(usize, GateVerdict)> = Vec::new();
        for c in execution.criteria.iter().filter(|c| c.status == CriterionStatus::Accepted) {
            let Some(criterion) = seed.acceptance_criteria.get(c.index) else { continue };
            match gate::check(self.sandbox, &ws.root, &ws.base_commit, criterion, gate) {
                Ok(v) if v.status == GateStatus::Cancelled => return Ok(Verdict::Cancelled),
                Ok(v) => verify.push((c.index, v)),
                Err(e) => {
                    let evaluation = crate::evaluate::Evaluation {
                        mechanical: Vec::new(),
                        semantic: None,
                        approved: false,
                        reason: format!(
                            "criterion {} could not be checked again: {e} (hint: {})",
                            c.index + 1,
                            e.hint()
                        ),
                    };
                    let record = serde_json::to_value(&evaluation)
                        .unwrap_or_else(|e| json!({"error": e.to_string()}));
                    self.append(Record::EvaluationRecorded(record))?;
                    return Ok(Verdict::Failed);
                }
            }
        }
        let files_changed = workspace::changed_files(ws).unwrap_or_default();
        let evaluation = match crate::evaluate::load_mechanical(ws) {
            Ok(checks) => crate::evaluate::evaluate(
                self.sandbox,
                gate,
                self.provider,
                &crate::evaluate::Evidence {
                    seed,
                    workspace: ws,
                    verify: &verify,
                    checks: &checks,
                    files_changed: &files_changed,
                },
            ),
            Err(e) => crate::evaluate::Evaluation {
                mechanical: Vec::new(),
                semantic: None,
                approved: false,
                reason: format!("{e} (hint: {})", e.hint()),
            },
        };
        if evaluation.cancelled() {
            return Ok(Verdict::Cancelled);
        }
        let approved = evaluation.approved;
        let record =
            serde_json::to_value(&evaluation).unwrap_or_else(|e| json!({"error": e.to_string()}));
        self.append(Record::EvaluationRecorded(record))?;
        Ok(if approved { verdict } else { Verdict::Failed })
    }

    fn append(&self, record: Record) -> Result<u64, RunError> {
        Ok(events::append(self.core, &record)?)
    }

    fn progress(&self, p: Progress) {
        (self.on_progress)(&p);
    }

    /// The execution as its records say now.
    fn fold(&self) -> Result<Execution, RunError> {
        let events = self.core.own_events().map_err(RunError::Read)?;
        Ok(Execution::fold(&events, &owner_alive)?)
    }
}

/// Every criterion's oracle is as at the base commit (uncommitted edits of the user's
/// to files the checks name would make every attempt `oracle_tampered`).
fn check_oracles_clean(seed: &Seed, ws: &Workspace) -> Result<(), RunError> {
    let paths = changed_oracles(seed, ws)?;
    if paths.is_empty() {
        Ok(())
    } else {
        Err(RunError::DirtyOracle { base: short(&ws.base_commit), paths })
    }
}

/// The files the checks depend on that differ from the base commit: changed (or
/// deleted) ones, and added ones (runner configuration, stand-ins).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OraclePaths {
    pub changed: Vec<String>,
    pub added: Vec<String>,
}

impl OraclePaths {
    fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty()
    }

    fn joined(&self) -> String {
        let added = self.added.iter().map(|p| format!("{p} (added)"));
        self.changed.iter().cloned().chain(added).collect::<Vec<_>>().join(", ")
    }
}

/// The files some criterion's check depends on that differ from the base commit (in the
/// work tree or the index), each once.
fn changed_oracles(seed: &Seed, ws: &Workspace) -> Result<OraclePaths, RunError> {
    let mut paths = OraclePaths::default();
    for ac in &seed.acceptance_criteria {
        let Some(command) = ac.verify_command.as_deref() else { continue };
        for t in crate::oracle::tampered_oracle(&ws.root, &ws.base_commit, command)? {
            let path = t.path.display().to_string();
            let list = match t.kind {
                crate::oracle::TamperKind::Added => &mut paths.added,
                _ => &mut paths.changed,
            };
            if !list.contains(&path) {
                list.push(path);
            }
        }
    }
    Ok(paths)
}

/// A commit id as shown in messages.
fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

fn started_record(
    ex: &Executor<'_>,
    seed: &Seed,
    seed_id: &str,
    ws: &Workspace,
    settings: &Settings,
    execution_id: &str,
    owner: Owner,
) -> ExecutionStarted {
    ExecutionStarted {
        execution_id: execution_id.to_owned(),
        seed_id: seed_id.to_owned(),
        seed_hash: ooo_core::seed::content_hash(seed),
        workspace: ws.root.to_string_lossy().into_owned(),
        base_commit: Some(ws.base_commit.clone()),
        worktree: ws.worktree.as_ref().map(|w| w.path.to_string_lossy().into_owned()),
        branch: ws.worktree.as_ref().map(|w| w.branch.clone()),
        runtime: ex.runtime.name().to_owned(),
        max_parallel: u32::try_from(settings.max_parallel).unwrap_or(u32::MAX),
        max_attempts: settings.max_attempts,
        owner,
    }
}

fn no_plan(execution: &Execution) -> ResumeError {
    ResumeError::NoPlan { execution: execution.id.clone() }
}

/// Before a resume writes anything: the seed must be the one the execution started with;
/// the workspace its own (the recorded base commit, the recorded worktree on its branch),
/// still a git work tree whose `HEAD` is the base commit or descends from it; and the
/// files the checks depend on as at the base commit (an attempt that died may have
/// changed them). A refusal records nothing, so the execution can be resumed once the
/// cause is fixed.
fn check_resumable(seed: &Seed, ws: &Workspace, execution: &Execution) -> Result<(), RunError> {
    let given = ooo_core::seed::content_hash(seed);
    if given != execution.started.seed_hash {
        return Err(RunError::SeedChanged {
            execution: execution.id.clone(),
            recorded: execution.started.seed_hash.clone(),
            given,
        });
    }
    let changed = |what, recorded: String, given: String| RunError::WorkspaceChanged {
        execution: execution.id.clone(),
        what,
        recorded,
        given,
    };
    if let Some(recorded) = execution.started.base_commit.as_deref()
        && recorded != ws.base_commit
    {
        return Err(changed("base commit", recorded.to_owned(), ws.base_commit.clone()));
    }
    let recorded = recorded_worktree(execution);
    if !same_worktree(recorded.as_ref(), ws.worktree.as_ref()) {
        return Err(changed(
            "worktree",
            describe_worktree(recorded.as_ref()),
            describe_worktree(ws.worktree.as_ref()),
        ));
    }
    workspace::check_lineage(ws)
        .map_err(|source| RunError::NotResumable { execution: execution.id.clone(), source })?;
    let paths = changed_oracles(seed, ws)?;
    if !paths.is_empty() {
        return Err(RunError::OracleChanged {
            execution: execution.id.clone(),
            root: ws.root.clone(),
            base: short(&ws.base_commit),
            paths,
        });
    }
    Ok(())
}

/// ooo's commits for the execution in its worktree that no `run.commit.recorded` names:
/// made just before an earlier process died. Recorded on resume instead of made again (a
/// criterion's commit only when the criterion is accepted, as the records require).
fn unrecorded_commits(
    ws: &Workspace,
    execution: &Execution,
) -> Result<Vec<CommitRecorded>, RunError> {
    if ws.worktree.is_none() {
        return Ok(Vec::new());
    }
    let accepted =
        |i: usize| execution.criteria.get(i).is_some_and(|c| c.status == CriterionStatus::Accepted);
    let found = workspace::execution_commits(ws, &execution.id)?
        .into_iter()
        .filter(|c| !execution.commits.iter().any(|r| r.sha == c.sha))
        .filter(|c| c.criteria.iter().all(|&i| accepted(i)))
        .map(|c| recorded_commit(c.sha, &c.criteria))
        .collect();
    Ok(found)
}

/// With [`CommitPolicy::Ac`] in a worktree that has uncommitted work: the accepted
/// criteria no commit holds (a shared level that stopped before its commit). In a clean
/// worktree there is nothing left to commit: their work is in some commit already, or
/// they changed nothing.
fn carried(
    ws: &Workspace,
    settings: &Settings,
    execution: &Execution,
    found: &[CommitRecorded],
) -> Result<Vec<usize>, RunError> {
    if settings.commit_policy != CommitPolicy::Ac || ws.worktree.is_none() {
        return Ok(Vec::new());
    }
    if !workspace::is_dirty(&ws.root)? {
        return Ok(Vec::new());
    }
    let held = |i: usize| execution.commits.iter().chain(found).any(|c| c.holds(i));
    Ok(execution
        .criteria
        .iter()
        .filter(|c| c.status == CriterionStatus::Accepted && !held(c.index))
        .map(|c| c.index)
        .collect())
}

/// The record of a commit holding `criteria`' accepted work (none: the final commit).
fn recorded_commit(sha: String, criteria: &[usize]) -> CommitRecorded {
    match criteria {
        [one] => CommitRecorded { criterion: Some(*one), sha, criteria: Vec::new() },
        many => CommitRecorded { criterion: None, sha, criteria: many.to_vec() },
    }
}

/// The worktree `run.execution.started` recorded, if any (a missing branch is the
/// default one).
fn recorded_worktree(execution: &Execution) -> Option<Worktree> {
    let started = &execution.started;
    started.worktree.as_ref().map(|path| Worktree {
        path: PathBuf::from(path),
        branch: started.branch.clone().unwrap_or_else(|| workspace::branch_name(&execution.id)),
    })
}

/// The same worktree (path, after symbolic links, and branch), or both none.
fn same_worktree(recorded: Option<&Worktree>, given: Option<&Worktree>) -> bool {
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    match (recorded, given) {
        (None, None) => true,
        (Some(r), Some(g)) => r.branch == g.branch && real(&r.path) == real(&g.path),
        _ => false,
    }
}

fn describe_worktree(wt: Option<&Worktree>) -> String {
    match wt {
        Some(wt) => format!("{} on {}", wt.path.display(), wt.branch),
        None => "none (the repository itself)".into(),
    }
}

/// The gate's last failure of a criterion, for the retry prompt after a resume.
fn last_gate_failure(c: &events::CriterionState) -> Option<GateVerdict> {
    c.attempts.iter().rev().find_map(|a| match &a.status {
        AttemptStatus::Sealed { verdict } => serde_json::from_value::<GateVerdict>(verdict.clone())
            .ok()
            .filter(|v| matches!(v.status, GateStatus::Failed | GateStatus::OracleTampered)),
        _ => None,
    })
}

/// What a criterion brings from earlier processes.
#[derive(Debug, Clone, Default)]
struct Earlier {
    attempts: u32,
    failure: Option<GateVerdict>,
    /// Its last attempt was sealed with a verdict that settles it, and it was never
    /// settled: the gate runs again before any worker.
    recheck: bool,
}

// ---------------------------------------------------------------------------------------
// One run in this process

struct Run<'r, 'a> {
    ex: &'r Executor<'a>,
    seed: &'r Seed,
    ws: &'r Workspace,
    settings: &'r Settings,
    id: String,
    owner: Owner,
    /// Cancel seen (flag or ledger), or a fatal error: dispatch nothing more (and the
    /// gate's cancel: a running check is killed).
    stop: Arc<AtomicBool>,
    cancelled: AtomicBool,
    fatal: Mutex<Option<RunError>>,
    workers: Mutex<Vec<(u64, Arc<dyn CancelHandle>)>>,
    next_worker: AtomicU64,
    /// Serialises commits (git's index lock).
    git: Mutex<()>,
    /// With [`CommitPolicy::Ac`], the criteria accepted while other criteria of their
    /// level were still running: committed together when the level ends (see
    /// [`Run::commit_level`]).
    level_accepted: Mutex<Vec<usize>>,
    /// Whether the level now running has more than one worker at a time.
    level_shared: AtomicBool,
    /// Accepted criteria whose commit has not been made: a shared level that stopped
    /// before its commit (here, or in the process this one resumes). The next commit
    /// holds them, or one at the end ([`Run::commit_late`]).
    carry: Mutex<Vec<usize>>,
}

/// How an attempt ended.
enum Judged {
    /// The gate judged the work.
    Gate(GateVerdict),
    /// The gate did not run and the attempt failed (`status: failed`): the worker did not
    /// finish, or the gate could not judge. `retry`: whether another attempt could help.
    Failed { reason: Value, retry: bool },
    /// The run stopped while the worker ran: `cancelled` (a cancel) or `interrupted` (a
    /// fatal error elsewhere in the run). The criterion stays open.
    Stopped { status: &'static str, reason: Value },
}

/// What a criterion does after a judgement.
enum Then {
    /// Settled, or the run stopped: nothing more.
    Done,
    /// Another attempt, if the budget allows.
    Retry,
    /// No further attempt can help: the criterion fails.
    GiveUp,
}

impl Judged {
    fn status(&self) -> &str {
        match self {
            Judged::Gate(v) => gate_status_str(v.status),
            Judged::Failed { .. } => "failed",
            Judged::Stopped { status, .. } => status,
        }
    }
}

fn gate_status_str(s: GateStatus) -> &'static str {
    match s {
        GateStatus::Passed => "passed",
        GateStatus::Failed => "failed",
        GateStatus::OracleTampered => "oracle_tampered",
        GateStatus::Unverified => "unverified",
        GateStatus::Exempt => "exempt",
        GateStatus::Cancelled => "cancelled",
    }
}

/// What reading a worker's events gave.
#[derive(Default)]
struct WorkerOutcome {
    usage: Usage,
    claimed_success: Option<bool>,
    claim_text: Option<String>,
    error: Option<RuntimeError>,
    duration_ms: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl<'r, 'a> Run<'r, 'a> {
    fn new(
        ex: &'r Executor<'a>,
        seed: &'r Seed,
        ws: &'r Workspace,
        settings: &'r Settings,
        id: &str,
        owner: Owner,
    ) -> Self {
        Run {
            ex,
            seed,
            ws,
            settings,
            id: id.to_owned(),
            owner,
            stop: Arc::new(AtomicBool::new(false)),
            cancelled: AtomicBool::new(false),
            fatal: Mutex::new(None),
            workers: Mutex::new(Vec::new()),
            next_worker: AtomicU64::new(0),
            git: Mutex::new(()),
            level_accepted: Mutex::new(Vec::new()),
            level_shared: AtomicBool::new(false),
            carry: Mutex::new(Vec::new()),
        }
    }

    /// Run the levels (only the criteria in `todo`), then finish.
    fn execute(
        &self,
        plan: &Plan,
        todo: &[usize],
        earlier: &[Earlier],
        began: Instant,
    ) -> Result<RunResult, RunError> {
        self.ex.progress(Progress::Planned {
            levels: plan.levels.len(),
            criteria: plan.criteria_count(),
        });
        let watching = AtomicBool::new(true);
        std::thread::scope(|s| {
            s.spawn(|| self.watch(&watching));
            for level in &plan.levels {
                let items: Vec<usize> =
                    level.iter().copied().filter(|i| todo.contains(i)).collect();
                if self.stopping() {
                    break;
                }
                self.run_level(items, earlier);
            }
            // Watched through the evaluation too: a cancel reaches its checks.
            let ended = match lock(&self.fatal).take() {
                Some(e) => Err(e),
                None => self.finish(plan, began),
            };
            watching.store(false, Ordering::SeqCst);
            ended
        })
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Stop because of a cancel (this process's flag or another's record).
    fn request_stop(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.halt();
    }

    /// Dispatch nothing more and cancel every running worker.
    fn halt(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            for (_, handle) in lock(&self.workers).iter() {
                handle.cancel();
            }
        }
    }

    /// Keep the first fatal error and stop the run.
    fn fail(&self, e: RunError) {
        lock(&self.fatal).get_or_insert(e);
        self.halt();
    }

    /// Until `watching` ends: the cancel flag every tick, the ledger every poll.
    fn watch(&self, watching: &AtomicBool) {
        let mut last_poll = Instant::now();
        while watching.load(Ordering::SeqCst) && !self.stopping() {
            if self.ex.cancel.load(Ordering::SeqCst) {
                self.request_stop();
                break;
            }
            if last_poll.elapsed() >= LEDGER_POLL {
                last_poll = Instant::now();
                if self.cancel_recorded() {
                    self.request_stop();
                    break;
                }
            }
            std::thread::sleep(WATCH_TICK);
        }
    }

    /// Has someone (`ooo cancel` in another terminal) recorded a cancel? A ledger that
    /// cannot be read here is not a cancel: appends will report the problem.
    fn cancel_recorded(&self) -> bool {
        self.ex.fold().is_ok_and(|e| e.cancel_requested)
    }

    /// Before a dispatch: is the run to stop? Reads the flag and the ledger.
    fn must_stop_before_dispatch(&self) -> bool {
        if self.ex.cancel.load(Ordering::SeqCst) || self.cancel_recorded() {
            self.request_stop();
        }
        self.stopping()
    }

    /// Up to `max_parallel` criteria at once, from a shared queue.
    fn run_level(&self, items: Vec<usize>, earlier: &[Earlier]) {
        if items.is_empty() {
            return;
        }
        let threads = self.settings.max_parallel.max(1).min(items.len());
        self.level_shared.store(threads > 1, Ordering::SeqCst);
        let level = items.clone();
        let queue = Mutex::new(VecDeque::from(items));
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        if self.stopping() {
                            break;
                        }
                        let Some(i) = lock(&queue).pop_front() else { break };
                        let from = earlier.get(i).cloned().unwrap_or_default();
                        if let Err(e) = self.criterion(i, from) {
                            self.fail(e);
                            break;
                        }
                    }
                });
            }
        });
        if let Err(e) = self.commit_level(&level) {
            self.fail(e);
        }
    }

    /// The commit of the criteria a shared level accepted, once none of its workers runs
    /// any more: their files cannot be told apart in the one workspace, and a commit per
    /// criterion made while another worker was writing would carry half of its work. Not
    /// on a stop (a cancelled worker's half-done files are in the tree); a resume commits
    /// them with its first commit.
    fn commit_level(&self, level: &[usize]) -> Result<(), RunError> {
        let mut accepted = std::mem::take(&mut *lock(&self.level_accepted));
        if self.stopping() {
            lock(&self.carry).extend(accepted);
            return Ok(());
        }
        accepted.extend(std::mem::take(&mut *lock(&self.carry)));
        accepted.sort_unstable();
        if accepted.is_empty() {
            return Ok(());
        }
        let also: Vec<usize> = level.iter().copied().filter(|i| !accepted.contains(i)).collect();
        let subject = self.several_subject(&accepted, "one level", &also);
        self.commit(&accepted, &subject)
    }

    /// Every attempt at criterion `i` until it settles, the attempts run out or the run
    /// stops. A criterion sealed but never settled by an earlier process is first
    /// checked again ([`Run::recheck`]), and dispatched to a worker only if that fails.
    fn criterion(&self, i: usize, earlier: Earlier) -> Result<(), RunError> {
        let Some(ac) = self.seed.acceptance_criteria.get(i) else { return Ok(()) };
        self.ex.progress(Progress::CriterionStarted { criterion: i });
        let mut failure = earlier.failure;
        let mut n = earlier.attempts;
        let mut then = Then::Retry;
        if earlier.recheck {
            if self.must_stop_before_dispatch() {
                return Ok(());
            }
            let judged = self.recheck(i, ac, n)?;
            then = self.after(i, n, judged, &mut failure)?;
        }
        let mut budget = self.settings.max_attempts.max(1);
        while matches!(then, Then::Retry) && budget > 0 {
            if self.must_stop_before_dispatch() {
                return Ok(());
            }
            budget -= 1;
            n += 1;
            let judged = self.attempt(i, ac, n, failure.as_ref())?;
            then = self.after(i, n, judged, &mut failure)?;
        }
        if matches!(then, Then::Done) || self.stopping() {
            return Ok(());
        }
        self.ex.append(Record::CriterionFailed(CriterionSettled { criterion: i, attempts: n }))?;
        self.ex.progress(Progress::Failed { criterion: i, attempts: n });
        Ok(())
    }

    /// Act on how attempt `n` of criterion `i` was judged: settle it when the gate passed
    /// it (or found nothing to check), else say what comes next; a gate failure becomes
    /// the feedback of the next attempt.
    fn after(
        &self,
        i: usize,
        n: u32,
        judged: Judged,
        failure: &mut Option<GateVerdict>,
    ) -> Result<Then, RunError> {
        Ok(match judged {
            Judged::Gate(v) if v.status == GateStatus::Passed => {
                self.accept(i, n)?;
                Then::Done
            }
            Judged::Gate(v) if matches!(v.status, GateStatus::Unverified | GateStatus::Exempt) => {
                self.unverified(i, n, v.status == GateStatus::Exempt)?;
                Then::Done
            }
            Judged::Gate(v) => {
                *failure = Some(v);
                Then::Retry
            }
            Judged::Stopped { .. } => Then::Done,
            Judged::Failed { retry: false, .. } => Then::GiveUp,
            Judged::Failed { .. } => Then::Retry,
        })
    }

    /// Criterion `i`'s last attempt `n` was sealed with a verdict that settles it, but an
    /// earlier process died before settling it. That verdict is not trusted: the gate
    /// runs again on the tree as it is now (no worker), recorded as
    /// `run.criterion.rechecked`, and its verdict decides.
    fn recheck(&self, i: usize, ac: &AcceptanceCriterion, n: u32) -> Result<Judged, RunError> {
        let judged = self.judge(ac, &WorkerOutcome::default());
        if let Judged::Stopped { .. } = judged {
            return Ok(judged);
        }
        let verdict = verdict_json(&judged, None);
        self.ex.append(Record::CriterionRechecked(CriterionRechecked {
            criterion: i,
            attempt: n,
            verdict,
        }))?;
        let status = judged.status().to_owned();
        self.ex.progress(Progress::Rechecked { criterion: i, attempt: n, status });
        Ok(judged)
    }

    /// One attempt: dispatch, worker, gate, seal.
    fn attempt(
        &self,
        i: usize,
        ac: &AcceptanceCriterion,
        n: u32,
        failure: Option<&GateVerdict>,
    ) -> Result<Judged, RunError> {
        self.ex.append(Record::AttemptDispatched(AttemptDispatched {
            criterion: i,
            attempt: n,
            semantic_ac_key: ac.semantic_ac_key.clone(),
            owner: self.owner.clone(),
        }))?;
        self.ex.progress(Progress::AttemptStarted { criterion: i, attempt: n });
        let began = Instant::now();
        let prompt = match failure {
            Some(f) => view::retry_prompt(self.seed, i, f),
            None => view::worker_prompt(self.seed, i),
        };
        let work = self.work(self.task(prompt));
        let judged = self.judge(ac, &work);
        let files = workspace::changed_files(self.ws).map_err(|e| e.to_string());
        self.seal(i, n, &judged, &work, files, millis(began))?;
        Ok(judged)
    }

    fn task(&self, prompt: String) -> AgentTask {
        let mut task = AgentTask::new(prompt, &self.ws.root);
        task.sandbox = SandboxClass::WorkspaceWrite;
        task.model = self.settings.model.clone();
        task.limits = self.settings.worker_limits;
        task
    }

    /// Start the worker and read its events to the end; a cancel reaches it through its
    /// handle, registered for the watcher.
    fn work(&self, task: AgentTask) -> WorkerOutcome {
        let began = Instant::now();
        let mut out = WorkerOutcome::default();
        match self.ex.runtime.start(task) {
            Ok(mut run) => {
                let key = self.register(run.canceller());
                read_events(run.as_mut(), &mut out);
                lock(&self.workers).retain(|(k, _)| *k != key);
                // Dropping the run ends whatever it left running.
                drop(run);
            }
            Err(e) => out.error = Some(e),
        }
        out.duration_ms = millis(began);
        out
    }

    fn register(&self, handle: Arc<dyn CancelHandle>) -> u64 {
        let key = self.next_worker.fetch_add(1, Ordering::SeqCst);
        lock(&self.workers).push((key, Arc::clone(&handle)));
        // A stop between the check before dispatch and now must reach this worker too.
        if self.stopping() {
            handle.cancel();
        }
        key
    }

    /// The gate decides, unless the run stopped or the worker did not finish.
    fn judge(&self, ac: &AcceptanceCriterion, work: &WorkerOutcome) -> Judged {
        if self.stopping() {
            return self.stopped("the worker ran");
        }
        if let Some(e) = &work.error {
            let reason = json!({
                "reason": "the worker did not finish",
                "runtime_error_kind": e.kind.as_str(),
            });
            return Judged::Failed { reason, retry: retryable(e.kind) };
        }
        let ws = &self.ws;
        match gate::check(self.ex.sandbox, &ws.root, &ws.base_commit, ac, &self.gate_settings()) {
            Ok(v) if v.status == GateStatus::Cancelled => self.stopped("its check ran"),
            Ok(v) => Judged::Gate(v),
            Err(e) => {
                let reason = json!({
                    "reason": "the gate could not judge",
                    "gate_error": e.to_string(),
                    "hint": e.hint(),
                });
                Judged::Failed { reason, retry: false }
            }
        }
    }

    /// The run stopped while `during`: `cancelled` (a cancel) or `interrupted` (a fatal
    /// error elsewhere).
    fn stopped(&self, during: &str) -> Judged {
        if self.cancelled.load(Ordering::SeqCst) {
            let reason = json!({"reason": format!("the run was cancelled while {during}")});
            Judged::Stopped { status: "cancelled", reason }
        } else {
            let reason = json!({"reason": format!("the run stopped on an error while {during}")});
            Judged::Stopped { status: "interrupted", reason }
        }
    }

    /// The gate's settings with the run's stop as their cancel.
    fn gate_settings(&self) -> GateSettings {
        let cancel = Some(CancelFlag(Arc::clone(&self.stop)));
        GateSettings { cancel, ..self.settings.gate.clone() }
    }

    fn seal(
        &self,
        i: usize,
        n: u32,
        judged: &Judged,
        work: &WorkerOutcome,
        files: Result<Vec<String>, String>,
        duration_ms: u64,
    ) -> Result<(), RunError> {
        let (files, files_error) = match files {
            Ok(files) => (files, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let evidence = RuntimeEvidence {
            runtime: self.ex.runtime.name().to_owned(),
            tokens_in: work.usage.input_tokens,
            tokens_out: work.usage.output_tokens,
            cost_usd: work.usage.cost_usd,
            claimed_success: work.claimed_success,
            claim_text: work.claim_text.clone(),
            error: work.error.as_ref().map(|e| RuntimeFailure {
                kind: e.kind,
                message: e.message.clone(),
                hint: e.hint.clone(),
            }),
            files_changed: files.clone(),
            files_changed_error: files_error,
            worker_ms: work.duration_ms,
        };
        let verdict = verdict_json(judged, Some(&evidence));
        self.ex.append(Record::AttemptSealed(AttemptSealed {
            criterion: i,
            attempt: n,
            verdict,
            tokens: work.usage.total_tokens(),
            cost_usd: work.usage.cost_usd.unwrap_or(0.0),
            duration_ms,
            files_changed: files,
        }))?;
        let status = judged.status().to_owned();
        self.ex.progress(Progress::GateVerdict { criterion: i, attempt: n, status });
        Ok(())
    }

    fn accept(&self, i: usize, n: u32) -> Result<(), RunError> {
        self.ex
            .append(Record::CriterionAccepted(CriterionSettled { criterion: i, attempts: n }))?;
        self.ex.progress(Progress::Accepted { criterion: i, attempts: n });
        if self.settings.commit_policy == CommitPolicy::Ac && self.ws.worktree.is_some() {
            if self.level_shared.load(Ordering::SeqCst) {
                lock(&self.level_accepted).push(i);
                return Ok(());
            }
            // Accepted work an earlier level left uncommitted (it stopped before its
            // commit) is in this tree too: the commit says so.
            let mut criteria = std::mem::take(&mut *lock(&self.carry));
            criteria.push(i);
            criteria.sort_unstable();
            if criteria.len() > 1 {
                let subject = self.several_subject(&criteria, "some accepted earlier", &[]);
                return self.commit(&criteria, &subject);
            }
            let description = self.seed.acceptance_criteria.get(i).map_or("", |c| &c.description);
            let subject =
                format!("ooo run {}: criterion {}: {}", self.id, i + 1, description.trim());
            self.commit(&[i], &subject)?;
        }
        Ok(())
    }

    fn unverified(&self, i: usize, n: u32, exempt: bool) -> Result<(), RunError> {
        let settled = CriterionSettled { criterion: i, attempts: n };
        self.ex.append(Record::CriterionUnverified(settled))?;
        self.ex.progress(Progress::Unverified { criterion: i, exempt });
        Ok(())
    }

    /// Commit everything in the worktree and record it (nothing to commit: no record).
    /// The message ends with the trailers that find the commit again on resume, should
    /// this process die before recording it.
    fn commit(&self, criteria: &[usize], subject: &str) -> Result<(), RunError> {
        let _guard = lock(&self.git);
        let message = workspace::commit_message(subject, &self.id, criteria);
        if let Some(sha) = workspace::commit_all(self.ws, &message, false)? {
            self.ex.append(Record::CommitRecorded(recorded_commit(sha, criteria)))?;
        }
        Ok(())
    }

    /// With [`CommitPolicy::Ac`] in a worktree, at the end of a run that was not
    /// cancelled: one commit for the accepted criteria no commit holds yet (a level that
    /// stopped before its commit, in this process or an earlier one).
    fn commit_late(&self) -> Result<(), RunError> {
        if self.settings.commit_policy != CommitPolicy::Ac || self.ws.worktree.is_none() {
            return Ok(());
        }
        let late = std::mem::take(&mut *lock(&self.carry));
        if late.is_empty() {
            return Ok(());
        }
        let subject = self.several_subject(&late, "accepted, committed at the end", &[]);
        self.commit(&late, &subject)
    }

    /// The message of a commit of several criteria: their numbers, then each one's
    /// description, then the criteria whose unaccepted work shares the tree.
    fn several_subject(&self, criteria: &[usize], why: &str, also: &[usize]) -> String {
        let numbers: Vec<String> = criteria.iter().map(|i| (i + 1).to_string()).collect();
        let mut subject = format!("ooo run {}: criteria {} ({why})\n", self.id, numbers.join(", "));
        for &i in criteria {
            let description = self.seed.acceptance_criteria.get(i).map_or("", |c| &c.description);
            subject.push_str(&format!("\n{}. {}", i + 1, description.trim()));
        }
        if !also.is_empty() {
            let numbers: Vec<String> = also.iter().map(|i| (i + 1).to_string()).collect();
            subject.push_str(&format!(
                "\n\nAlso in this tree: what the workers of criteria {} (not accepted) wrote \
                 while running at the same time.",
                numbers.join(", ")
            ));
        }
        subject
    }

    /// The final commit, `cancel_requested` if due, `finished`, and the result. The
    /// final commit comes before the evaluation: the re-check then runs on the committed
    /// tree, and nothing it writes is committed.
    fn finish(&self, plan: &Plan, began: Instant) -> Result<RunResult, RunError> {
        let cancelled = self.cancelled.load(Ordering::SeqCst);
        if !cancelled
            && self.settings.commit_policy == CommitPolicy::Final
            && self.ws.worktree.is_some()
        {
            self.commit(&[], &format!("ooo run {}", self.id))?;
        }
        if !cancelled {
            self.commit_late()?;
        }
        let exec = self.ex.fold()?;
        let verdict = if cancelled {
            Verdict::Cancelled
        } else {
            let criteria = verdict_for(&exec.counts());
            let evaluated = self.ex.evaluate_after_criteria(
                self.seed,
                self.ws,
                &exec,
                &self.gate_settings(),
                criteria,
            )?;
            graver(criteria, evaluated)
        };
        // Read again: a cancel recorded during the evaluation is not repeated.
        if verdict == Verdict::Cancelled {
            if !self.cancel_recorded() {
                let by = format!("this process (pid {})", self.owner.pid);
                self.ex.append(Record::CancelRequested(CancelRequested { by }))?;
            }
            self.ex.progress(Progress::CancelRequested);
        }
        let counts = exec.counts();
        self.ex.append(Record::Finished(ExecutionFinished { verdict, counts }))?;
        self.ex.progress(Progress::Finished { verdict });
        Ok(self.result(&exec, plan, verdict, began))
    }

    fn result(&self, exec: &Execution, plan: &Plan, verdict: Verdict, began: Instant) -> RunResult {
        let criteria: Vec<CriterionResult> =
            exec.criteria.iter().map(|c| criterion_result(self.seed, c)).collect();
        RunResult {
            execution_id: self.id.clone(),
            verdict,
            exit_code: exit_code(verdict),
            tokens: criteria.iter().map(|c| c.tokens_in + c.tokens_out).sum(),
            cost_usd: criteria.iter().map(|c| c.cost_usd).sum(),
            criteria,
            commits: exec.commits.iter().map(|c| c.sha.clone()).collect(),
            worktree: self.ws.worktree.clone(),
            duration_ms: millis(began),
            plan: plan.clone(),
        }
    }
}

/// The graver of two verdicts: the evaluation can lower the criteria's verdict, never
/// raise it.
fn graver(a: Verdict, b: Verdict) -> Verdict {
    let rank = |v: Verdict| match v {
        Verdict::Success => 0,
        Verdict::Unverified => 1,
        Verdict::Failed => 2,
        Verdict::Cancelled => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Read `run` to its end (or its error) into `out`.
fn read_events(run: &mut dyn ooo_core::runtime::AgentRun, out: &mut WorkerOutcome) {
    loop {
        match run.next_event() {
            Ok(Some(AgentEvent::Usage(u))) => out.usage.add(&u),
            Ok(Some(AgentEvent::Final(f))) => {
                out.claimed_success = Some(f.success);
                out.claim_text = Some(f.text.chars().take(CLAIM_CHARS).collect());
            }
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                out.error = Some(e);
                return;
            }
        }
    }
}

/// Can another attempt fix a runtime error of this kind? Not when the runtime cannot run
/// at all.
fn retryable(kind: RuntimeErrorKind) -> bool {
    !matches!(
        kind,
        RuntimeErrorKind::NotInstalled
            | RuntimeErrorKind::VersionTooOld
            | RuntimeErrorKind::Auth
            | RuntimeErrorKind::NotFound
            | RuntimeErrorKind::DepthExceeded
            | RuntimeErrorKind::InvalidTask
    )
}

/// The sealed (or re-checked) verdict: the gate's verdict (or why the gate did not run)
/// and, under `runtime`, the runtime's evidence when a worker ran.
fn verdict_json(judged: &Judged, evidence: Option<&RuntimeEvidence>) -> Value {
    let mut verdict = match judged {
        Judged::Gate(v) => serde_json::to_value(v).unwrap_or_else(|_| json!({})),
        Judged::Failed { reason, .. } | Judged::Stopped { reason, .. } => reason.clone(),
    };
    if !verdict.is_object() {
        verdict = json!({});
    }
    if let Some(map) = verdict.as_object_mut() {
        map.insert("status".into(), json!(judged.status()));
        if let Some(evidence) = evidence {
            map.insert("runtime".into(), serde_json::to_value(evidence).unwrap_or(Value::Null));
        }
    }
    verdict
}

/// A criterion's result from its folded state.
fn criterion_result(seed: &Seed, c: &events::CriterionState) -> CriterionResult {
    let ac = seed.acceptance_criteria.get(c.index);
    let mut r = CriterionResult {
        index: c.index,
        semantic_ac_key: c
            .semantic_ac_key
            .clone()
            .or_else(|| ac.map(|a| a.semantic_ac_key.clone()))
            .unwrap_or_default(),
        description: ac.map(|a| a.description.clone()).unwrap_or_default(),
        status: match c.status {
            CriterionStatus::Running => CriterionStatus::Interrupted,
            other => other,
        },
        attempts: u32::try_from(c.attempts.len()).unwrap_or(u32::MAX),
        last_verdict: None,
        files_changed: c.attempts.last().map(|a| a.files_changed.clone()).unwrap_or_default(),
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.0,
        duration_ms: 0,
    };
    for a in &c.attempts {
        r.cost_usd += a.cost;
        r.duration_ms += a.duration_ms;
        if let AttemptStatus::Sealed { verdict } = &a.status {
            let runtime = verdict.get("runtime").cloned().unwrap_or(Value::Null);
            let evidence: RuntimeEvidence = serde_json::from_value(runtime).unwrap_or_default();
            r.tokens_in += evidence.tokens_in;
            r.tokens_out += evidence.tokens_out;
            if let Ok(v) = serde_json::from_value::<GateVerdict>(verdict.clone()) {
                r.last_verdict = Some(v);
            }
        }
    }
    r
}
