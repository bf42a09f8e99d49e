//! An execution's ledger records and the state folded from them.
//!
//! Every step of `ooo run` is one record: `ScopedCore::append_evidence(Some(kind), data)`
//! by the principal `Program("run")` under the aggregate `execution:<id>` (an event of
//! type `program.evidence.recorded` whose payload is `{program: "run", kind, data}`). The
//! kinds are the constants of [`kind`]; each has a typed body, and [`Record`] is the
//! union. [`Execution::fold`] turns an execution's events back into its state, purely and
//! deterministically: the only outside fact it needs, whether a recorded owner process is
//! still alive, is passed in (use [`owner_alive`]). A record that cannot follow the ones
//! before it is a [`FoldError`] naming it.
//!
//! Resuming: [`resume_point`] gives the criteria still to do, and refuses while another
//! live process is recorded as holding the execution (the execution's lock,
//! [`crate::lock`], is what makes holding it exclusive). The resuming process then appends
//! `run.execution.resumed` with its own owner identity (only once its checks of the
//! workspace passed, so a resume that fails early records nothing and poisons nothing);
//! that record reopens a finished execution and puts its failed criteria back to pending.
//!
//! Exit codes of `ooo run` ([`exit_code`]):
//! * `0`: success, every criterion accepted by the gate;
//! * `1`: a criterion failed;
//! * `3`: no criterion failed, but unverified (or exempt) criteria remain;
//! * `130`: cancelled (`ooo cancel`, Ctrl-C).
//!
//! What does not live here: deciding verdicts (the gate), running workers (the executor),
//! rendering status (the view).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use ooo_core::capability::{CoreError, Principal, ScopedCore};
use ooo_core::ledger::{AggregateRef, Event, LedgerError};

use crate::plan::Plan;

/// The program name records are written under.
pub const PROGRAM: &str = "run";
/// The aggregate kind of an execution.
pub const AGGREGATE_KIND: &str = "execution";
/// The ledger event type every record is stored as.
pub const EVIDENCE_EVENT: &str = "program.evidence.recorded";

/// The record kinds, in one place.
pub mod kind {
    pub const STARTED: &str = "run.execution.started";
    pub const RESUMED: &str = "run.execution.resumed";
    pub const PLAN_RECORDED: &str = "run.plan.recorded";
    pub const ATTEMPT_DISPATCHED: &str = "run.attempt.dispatched";
    pub const ATTEMPT_SEALED: &str = "run.attempt.sealed";
    pub const CRITERION_ACCEPTED: &str = "run.criterion.accepted";
    pub const CRITERION_FAILED: &str = "run.criterion.failed";
    pub const CRITERION_UNVERIFIED: &str = "run.criterion.unverified";
    pub const CRITERION_RECHECKED: &str = "run.criterion.rechecked";
    pub const COMMIT_RECORDED: &str = "run.commit.recorded";
    pub const CANCEL_REQUESTED: &str = "run.execution.cancel_requested";
    pub const EVALUATION_RECORDED: &str = "run.evaluation.recorded";
    pub const FINISHED: &str = "run.execution.finished";

    /// Every kind.
    pub const ALL: &[&str] = &[
        STARTED,
        RESUMED,
        PLAN_RECORDED,
        ATTEMPT_DISPATCHED,
        ATTEMPT_SEALED,
        CRITERION_ACCEPTED,
        CRITERION_FAILED,
        CRITERION_UNVERIFIED,
        CRITERION_RECHECKED,
        COMMIT_RECORDED,
        CANCEL_REQUESTED,
        EVALUATION_RECORDED,
        FINISHED,
    ];
}

/// The principal records are written by.
pub fn principal() -> Principal {
    Principal::Program(PROGRAM.into())
}

/// The aggregate of execution `id`: `execution:<id>`.
pub fn aggregate(id: &str) -> Result<AggregateRef, LedgerError> {
    AggregateRef::new(AGGREGATE_KIND, id)
}

// ---------------------------------------------------------------------------------------
// Records

/// The process that owns an execution or an attempt: pid, start time (clock ticks after
/// boot, field 22 of `/proc/<pid>/stat`) and host name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub start_time: u64,
    pub host: String,
}

/// `run.execution.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionStarted {
    pub execution_id: String,
    pub seed_id: String,
    pub seed_hash: String,
    pub workspace: String,
    pub base_commit: Option<String>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    pub runtime: String,
    pub max_parallel: u32,
    pub max_attempts: u32,
    pub owner: Owner,
}

/// `run.execution.resumed`: a new process took over a stopped (interrupted, failed or
/// cancelled) execution. Not in issue 12's list: without it a resumer would own nothing
/// until its first dispatch, and two resumers could not tell each other apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResumed {
    pub owner: Owner,
}

/// `run.attempt.dispatched`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptDispatched {
    pub criterion: usize,
    /// 1-based, counting every earlier attempt of the criterion (interrupted ones too).
    pub attempt: u32,
    pub semantic_ac_key: String,
    pub owner: Owner,
}

/// `run.attempt.sealed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptSealed {
    pub criterion: usize,
    pub attempt: u32,
    /// The gate's verdict: an object with `status` (`passed`, `failed`, `oracle_tampered`,
    /// `unverified`, `exempt`) and its evidence.
    pub verdict: Value,
    #[serde(default)]
    pub tokens: u64,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub files_changed: Vec<String>,
}

/// `run.criterion.accepted`, `.failed` and `.unverified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionSettled {
    pub criterion: usize,
    pub attempts: u32,
}

/// `run.criterion.rechecked`: on resume, the gate run again (no worker) on the current
/// tree for a criterion whose last attempt was sealed with a verdict that settles it
/// (`passed`, `unverified`, `exempt`) but that was never settled: the process died in
/// between. This verdict, not the sealed one, decides what follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionRechecked {
    pub criterion: usize,
    /// The sealed attempt checked again.
    pub attempt: u32,
    /// As in [`AttemptSealed::verdict`].
    pub verdict: Value,
}

/// `run.commit.recorded`: a commit in the workspace, after a criterion, after a level
/// whose criteria ran at once, or at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecorded {
    /// The one criterion a criterion's commit is for.
    #[serde(default)]
    pub criterion: Option<usize>,
    pub sha: String,
    /// The criteria a commit of several holds (then `criterion` is `None`): a level's,
    /// or accepted work committed late.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<usize>,
}

impl CommitRecorded {
    /// Whether this commit holds criterion `index`'s accepted work.
    pub fn holds(&self, index: usize) -> bool {
        self.criterion == Some(index) || self.criteria.contains(&index)
    }
}

/// `run.execution.cancel_requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequested {
    /// Who asked: `ctrl-c`, `ooo cancel (pid 123)`, ...
    pub by: String,
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Success,
    Failed,
    Unverified,
    Cancelled,
}

/// How many criteria ended how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub total: usize,
    pub accepted: usize,
    pub failed: usize,
    pub unverified: usize,
    pub exempt: usize,
    /// Pending, running or interrupted.
    pub unfinished: usize,
}

/// `run.execution.finished`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionFinished {
    pub verdict: Verdict,
    pub counts: Counts,
}

/// One record, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Started(ExecutionStarted),
    Resumed(ExecutionResumed),
    PlanRecorded(Plan),
    AttemptDispatched(AttemptDispatched),
    AttemptSealed(AttemptSealed),
    CriterionAccepted(CriterionSettled),
    CriterionFailed(CriterionSettled),
    CriterionUnverified(CriterionSettled),
    CriterionRechecked(CriterionRechecked),
    CommitRecorded(CommitRecorded),
    CancelRequested(CancelRequested),
    /// The evaluation after the criteria (`crate::evaluate::Evaluation`, as JSON).
    EvaluationRecorded(Value),
    Finished(ExecutionFinished),
}

impl Record {
    /// The record's kind (one of [`kind::ALL`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Started(_) => kind::STARTED,
            Record::Resumed(_) => kind::RESUMED,
            Record::PlanRecorded(_) => kind::PLAN_RECORDED,
            Record::AttemptDispatched(_) => kind::ATTEMPT_DISPATCHED,
            Record::AttemptSealed(_) => kind::ATTEMPT_SEALED,
            Record::CriterionAccepted(_) => kind::CRITERION_ACCEPTED,
            Record::CriterionFailed(_) => kind::CRITERION_FAILED,
            Record::CriterionUnverified(_) => kind::CRITERION_UNVERIFIED,
            Record::CriterionRechecked(_) => kind::CRITERION_RECHECKED,
            Record::CommitRecorded(_) => kind::COMMIT_RECORDED,
            Record::CancelRequested(_) => kind::CANCEL_REQUESTED,
            Record::EvaluationRecorded(_) => kind::EVALUATION_RECORDED,
            Record::Finished(_) => kind::FINISHED,
        }
    }

    /// The record's body, as appended.
    pub fn data(&self) -> Result<Value, serde_json::Error> {
        match self {
            Record::Started(r) => serde_json::to_value(r),
            Record::Resumed(r) => serde_json::to_value(r),
            Record::PlanRecorded(r) => serde_json::to_value(r),
            Record::AttemptDispatched(r) => serde_json::to_value(r),
            Record::AttemptSealed(r) => serde_json::to_value(r),
            Record::CriterionAccepted(r)
            | Record::CriterionFailed(r)
            | Record::CriterionUnverified(r) => serde_json::to_value(r),
            Record::CriterionRechecked(r) => serde_json::to_value(r),
            Record::CommitRecorded(r) => serde_json::to_value(r),
            Record::CancelRequested(r) => serde_json::to_value(r),
            Record::EvaluationRecorded(v) => Ok(v.clone()),
            Record::Finished(r) => serde_json::to_value(r),
        }
    }

    /// A record from its kind and body: `Ok(None)` for a kind that is not a run record.
    pub fn from_parts(kind: &str, data: &Value) -> Result<Option<Record>, serde_json::Error> {
        fn body<T: DeserializeOwned>(data: &Value) -> Result<T, serde_json::Error> {
            T::deserialize(data)
        }
        Ok(Some(match kind {
            kind::STARTED => Record::Started(body(data)?),
            kind::RESUMED => Record::Resumed(body(data)?),
            kind::PLAN_RECORDED => Record::PlanRecorded(body(data)?),
            kind::ATTEMPT_DISPATCHED => Record::AttemptDispatched(body(data)?),
            kind::ATTEMPT_SEALED => Record::AttemptSealed(body(data)?),
            kind::CRITERION_ACCEPTED => Record::CriterionAccepted(body(data)?),
            kind::CRITERION_FAILED => Record::CriterionFailed(body(data)?),
            kind::CRITERION_UNVERIFIED => Record::CriterionUnverified(body(data)?),
            kind::CRITERION_RECHECKED => Record::CriterionRechecked(body(data)?),
            kind::COMMIT_RECORDED => Record::CommitRecorded(body(data)?),
            kind::CANCEL_REQUESTED => Record::CancelRequested(body(data)?),
            kind::EVALUATION_RECORDED => Record::EvaluationRecorded(data.clone()),
            kind::FINISHED => Record::Finished(body(data)?),
            _ => return Ok(None),
        }))
    }
}

/// Why a record could not be appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("cannot serialise the {kind} record: {source}")]
    Serialise { kind: &'static str, source: serde_json::Error },
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl AppendError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            AppendError::Serialise { .. } => "this is a bug in ooo run; please report it".into(),
            AppendError::Core(e) => e.hint(),
        }
    }
}

/// Append `record` through `core` (scoped to `Program("run")` and `execution:<id>`).
/// Returns the event's sequence number.
pub fn append(core: &ScopedCore, record: &Record) -> Result<u64, AppendError> {
    let kind = record.kind();
    let data = record.data().map_err(|source| AppendError::Serialise { kind, source })?;
    Ok(core.append_evidence(Some(kind), data)?)
}

/// The run record in `event`, if it is one (and well formed).
pub fn parse(event: &Event) -> Option<Record> {
    try_parse(event).ok().flatten()
}

/// The run record in `event`: `Ok(None)` for events that are not run records, an error
/// for a run record whose body does not parse.
pub fn try_parse(event: &Event) -> Result<Option<Record>, FoldError> {
    let p = &event.payload;
    let ours = event.event_type == EVIDENCE_EVENT
        && p.get("program").and_then(Value::as_str) == Some(PROGRAM);
    let (Some(kind), Some(data)) = (p.get("kind").and_then(Value::as_str), p.get("data")) else {
        return Ok(None);
    };
    if !ours {
        return Ok(None);
    }
    Record::from_parts(kind, data).map_err(|e| FoldError::Malformed {
        seq: event.seq,
        kind: kind.to_owned(),
        message: e.to_string(),
    })
}

// ---------------------------------------------------------------------------------------
// State

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    /// Not finished, and its owner is alive.
    Running,
    Succeeded,
    Failed,
    Unverified,
    Cancelled,
    /// Not finished, and its owner is gone: resume it.
    Interrupted,
}

/// Where one criterion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionStatus {
    Pending,
    Running,
    Accepted,
    Failed,
    Unverified,
    Exempt,
    /// Its last attempt was dispatched and never sealed, and its owner is gone.
    Interrupted,
}

/// Where one attempt is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AttemptStatus {
    Dispatched,
    Sealed { verdict: Value },
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptState {
    /// 1-based.
    pub n: u32,
    pub status: AttemptStatus,
    pub owner: Owner,
    pub tokens: u64,
    pub cost: f64,
    pub duration_ms: u64,
    pub files_changed: Vec<String>,
}

impl AttemptState {
    /// The gate's status for a sealed attempt (`passed`, `failed`, ...).
    pub fn gate_status(&self) -> Option<&str> {
        match &self.status {
            AttemptStatus::Sealed { verdict } => verdict.get("status").and_then(Value::as_str),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionState {
    pub index: usize,
    pub semantic_ac_key: Option<String>,
    pub status: CriterionStatus,
    pub attempts: Vec<AttemptState>,
    /// The verdict of `run.criterion.rechecked` on the last attempt, if it was checked
    /// again; it decides instead of the sealed one.
    #[serde(default)]
    pub recheck: Option<Value>,
}

impl CriterionState {
    fn new(index: usize) -> Self {
        CriterionState {
            index,
            semantic_ac_key: None,
            status: CriterionStatus::Pending,
            attempts: Vec::new(),
            recheck: None,
        }
    }

    /// The gate's status that decides the criterion now: the re-check's, else the last
    /// attempt's (`None` when the last attempt is not sealed).
    pub fn deciding_status(&self) -> Option<&str> {
        match &self.recheck {
            Some(verdict) => verdict.get("status").and_then(Value::as_str),
            None => self.attempts.last().and_then(AttemptState::gate_status),
        }
    }

    /// Sealed with a verdict that settles it (`passed`, `unverified`, `exempt`), yet not
    /// settled: the process died in between, and a resume checks it again.
    pub fn sealed_unsettled(&self) -> bool {
        !self.is_settled()
            && self
                .attempts
                .last()
                .and_then(AttemptState::gate_status)
                .is_some_and(|s| matches!(s, "passed" | "unverified" | "exempt"))
    }

    fn open_attempt(&mut self) -> Option<&mut AttemptState> {
        self.attempts.last_mut().filter(|a| a.status == AttemptStatus::Dispatched)
    }

    fn is_settled(&self) -> bool {
        matches!(
            self.status,
            CriterionStatus::Accepted
                | CriterionStatus::Failed
                | CriterionStatus::Unverified
                | CriterionStatus::Exempt
        )
    }
}

/// An execution, folded from its records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: String,
    pub seed_id: String,
    pub status: ExecStatus,
    /// The process that owns it now: the starter, or the last resumer.
    pub owner: Owner,
    pub started: ExecutionStarted,
    pub plan: Option<Plan>,
    pub criteria: Vec<CriterionState>,
    pub commits: Vec<CommitRecorded>,
    pub cancel_requested: bool,
    /// The last evaluation after the criteria, as recorded.
    pub evaluation: Option<Value>,
    pub verdict: Option<Verdict>,
}

/// Why an execution's records do not fold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("the execution has no run records")]
    Empty,
    #[error("record #{seq} ({kind}) comes before run.execution.started")]
    NotStarted { seq: u64, kind: String },
    #[error("record #{seq} ({kind}) is out of order: {why}")]
    OutOfOrder { seq: u64, kind: String, why: String },
    #[error("record #{seq} ({kind}) is malformed: {message}")]
    Malformed { seq: u64, kind: String, message: String },
}

impl FoldError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            FoldError::Empty => "check the execution id with `ooo status`".into(),
            _ => "the execution's records are inconsistent: run `ooo ledger verify`, then \
                  start a new execution; please report it"
                .into(),
        }
    }
}

impl Execution {
    /// Fold an execution's events (in ledger order; events that are not run records are
    /// skipped). `alive` says whether a recorded owner process still runs.
    pub fn fold(events: &[Event], alive: &dyn Fn(&Owner) -> bool) -> Result<Execution, FoldError> {
        let mut records = Vec::new();
        for event in events {
            if let Some(record) = try_parse(event)? {
                records.push((event.seq, record));
            }
        }
        let mut iter = records.into_iter();
        let (seq, first) = iter.next().ok_or(FoldError::Empty)?;
        let started = match first {
            Record::Started(s) => s,
            other => return Err(FoldError::NotStarted { seq, kind: other.kind().into() }),
        };
        let mut exec = Execution::begin(started);
        for (seq, record) in iter {
            exec.apply(record).map_err(|o| o.at(seq))?;
        }
        exec.settle_liveness(alive);
        Ok(exec)
    }

    fn begin(started: ExecutionStarted) -> Execution {
        Execution {
            id: started.execution_id.clone(),
            seed_id: started.seed_id.clone(),
            status: ExecStatus::Running,
            owner: started.owner.clone(),
            started,
            plan: None,
            criteria: Vec::new(),
            commits: Vec::new(),
            cancel_requested: false,
            evaluation: None,
            verdict: None,
        }
    }

    fn apply(&mut self, record: Record) -> Result<(), OutOfOrder> {
        let kind = record.kind();
        let after_end = matches!(record, Record::CancelRequested(_) | Record::Resumed(_));
        if self.verdict.is_some() && !after_end {
            return Err(OutOfOrder::new(kind, "the execution has finished"));
        }
        match record {
            Record::Started(_) => Err(OutOfOrder::new(kind, "the execution has already started")),
            Record::Resumed(r) => {
                self.reopen(r.owner);
                Ok(())
            }
            Record::PlanRecorded(p) => self.apply_plan(p),
            Record::AttemptDispatched(d) => self.apply_dispatch(d),
            Record::AttemptSealed(s) => self.apply_seal(s),
            Record::CriterionAccepted(c) => self.settle(kind, c, CriterionStatus::Accepted),
            Record::CriterionFailed(c) => self.settle(kind, c, CriterionStatus::Failed),
            Record::CriterionUnverified(c) => self.settle(kind, c, CriterionStatus::Unverified),
            Record::CriterionRechecked(r) => self.apply_recheck(r),
            Record::CommitRecorded(c) => self.apply_commit(c),
            Record::CancelRequested(_) => {
                self.cancel_requested = true;
                Ok(())
            }
            Record::EvaluationRecorded(v) => {
                self.evaluation = Some(v);
                Ok(())
            }
            Record::Finished(f) => {
                self.verdict = Some(f.verdict);
                Ok(())
            }
        }
    }

    /// A new owner takes over: a finished execution is open again, its failed criteria
    /// pending (their attempts kept, so numbering goes on), and an earlier cancel spent.
    fn reopen(&mut self, owner: Owner) {
        self.owner = owner;
        self.verdict = None;
        self.cancel_requested = false;
        for c in &mut self.criteria {
            if c.status == CriterionStatus::Failed {
                c.status = CriterionStatus::Pending;
            }
        }
    }

    fn apply_plan(&mut self, plan: Plan) -> Result<(), OutOfOrder> {
        let kind = kind::PLAN_RECORDED;
        if self.plan.is_some() {
            return Err(OutOfOrder::new(kind, "a plan is already recorded"));
        }
        let count = plan.criteria_count();
        let mut seen = vec![false; count];
        for &i in plan.levels.iter().flatten() {
            if i >= count || std::mem::replace(&mut seen[i], true) {
                return Err(OutOfOrder::new(
                    kind,
                    format!("criterion {i} is out of range or repeated"),
                ));
            }
        }
        self.criteria = (0..count).map(CriterionState::new).collect();
        self.plan = Some(plan);
        Ok(())
    }

    fn criterion(
        &mut self,
        kind: &'static str,
        index: usize,
    ) -> Result<&mut CriterionState, OutOfOrder> {
        if self.plan.is_none() {
            return Err(OutOfOrder::new(kind, "no plan is recorded yet"));
        }
        let count = self.criteria.len();
        self.criteria.get_mut(index).ok_or_else(|| {
            OutOfOrder::new(kind, format!("criterion {index} is not in the plan (0..{count})"))
        })
    }

    fn apply_dispatch(&mut self, d: AttemptDispatched) -> Result<(), OutOfOrder> {
        let kind = kind::ATTEMPT_DISPATCHED;
        let c = self.criterion(kind, d.criterion)?;
        if c.is_settled() {
            return Err(OutOfOrder::new(
                kind,
                format!("criterion {} is already settled", d.criterion),
            ));
        }
        let expected = c.attempts.len() as u32 + 1;
        if d.attempt != expected {
            return Err(OutOfOrder::new(
                kind,
                format!("attempt {} of criterion {}, expected {expected}", d.attempt, d.criterion),
            ));
        }
        if let Some(open) = c.open_attempt() {
            if open.owner == d.owner {
                return Err(OutOfOrder::new(
                    kind,
                    format!("attempt {} of criterion {} is still open", open.n, d.criterion),
                ));
            }
            // Its owner died and another process redoes the criterion.
            open.status = AttemptStatus::Interrupted;
        }
        c.semantic_ac_key = Some(d.semantic_ac_key);
        c.recheck = None;
        c.status = CriterionStatus::Running;
        c.attempts.push(AttemptState {
            n: d.attempt,
            status: AttemptStatus::Dispatched,
            owner: d.owner,
            tokens: 0,
            cost: 0.0,
            duration_ms: 0,
            files_changed: Vec::new(),
        });
        Ok(())
    }

    fn apply_seal(&mut self, s: AttemptSealed) -> Result<(), OutOfOrder> {
        let kind = kind::ATTEMPT_SEALED;
        if s.verdict.get("status").and_then(Value::as_str).is_none() {
            return Err(OutOfOrder::new(kind, "the verdict is not an object with a status"));
        }
        let c = self.criterion(kind, s.criterion)?;
        let Some(open) = c.open_attempt().filter(|a| a.n == s.attempt) else {
            return Err(OutOfOrder::new(
                kind,
                format!("attempt {} of criterion {} is not open", s.attempt, s.criterion),
            ));
        };
        open.status = AttemptStatus::Sealed { verdict: s.verdict };
        open.tokens = s.tokens;
        open.cost = s.cost_usd;
        open.duration_ms = s.duration_ms;
        open.files_changed = s.files_changed;
        Ok(())
    }

    fn settle(
        &mut self,
        kind: &'static str,
        s: CriterionSettled,
        to: CriterionStatus,
    ) -> Result<(), OutOfOrder> {
        let c = self.criterion(kind, s.criterion)?;
        if c.is_settled() {
            return Err(OutOfOrder::new(
                kind,
                format!("criterion {} is already settled", s.criterion),
            ));
        }
        if c.open_attempt().is_some() {
            return Err(OutOfOrder::new(
                kind,
                format!("criterion {} has an attempt still open", s.criterion),
            ));
        }
        let last = c.deciding_status();
        c.status = match (to, last) {
            (CriterionStatus::Accepted, Some("passed")) => to,
            (CriterionStatus::Accepted, _) => {
                return Err(OutOfOrder::new(
                    kind,
                    format!("criterion {} has no attempt the gate passed", s.criterion),
                ));
            }
            (CriterionStatus::Unverified, Some("exempt")) => CriterionStatus::Exempt,
            _ => to,
        };
        Ok(())
    }

    fn apply_recheck(&mut self, r: CriterionRechecked) -> Result<(), OutOfOrder> {
        let kind = kind::CRITERION_RECHECKED;
        if r.verdict.get("status").and_then(Value::as_str).is_none() {
            return Err(OutOfOrder::new(kind, "the verdict is not an object with a status"));
        }
        let c = self.criterion(kind, r.criterion)?;
        if c.is_settled() {
            return Err(OutOfOrder::new(
                kind,
                format!("criterion {} is already settled", r.criterion),
            ));
        }
        let sealed = c.attempts.last().filter(|a| matches!(a.status, AttemptStatus::Sealed { .. }));
        if sealed.map(|a| a.n) != Some(r.attempt) {
            return Err(OutOfOrder::new(
                kind,
                format!(
                    "attempt {} of criterion {} is not its last sealed attempt",
                    r.attempt, r.criterion
                ),
            ));
        }
        c.recheck = Some(r.verdict);
        Ok(())
    }

    fn apply_commit(&mut self, c: CommitRecorded) -> Result<(), OutOfOrder> {
        let kind = kind::COMMIT_RECORDED;
        for &index in c.criterion.iter().chain(&c.criteria) {
            let state = self.criterion(kind, index)?;
            if state.status != CriterionStatus::Accepted {
                return Err(OutOfOrder::new(kind, format!("criterion {index} is not accepted")));
            }
        }
        self.commits.push(c);
        Ok(())
    }

    /// Mark open attempts of dead owners interrupted, and set the execution's status.
    fn settle_liveness(&mut self, alive: &dyn Fn(&Owner) -> bool) {
        for c in &mut self.criteria {
            if let Some(open) = c.open_attempt().filter(|a| !alive(&a.owner)) {
                open.status = AttemptStatus::Interrupted;
            }
            if c.status == CriterionStatus::Running
                && c.attempts.last().is_some_and(|a| a.status == AttemptStatus::Interrupted)
            {
                c.status = CriterionStatus::Interrupted;
            }
        }
        self.status = match self.verdict {
            Some(Verdict::Success) => ExecStatus::Succeeded,
            Some(Verdict::Failed) => ExecStatus::Failed,
            Some(Verdict::Unverified) => ExecStatus::Unverified,
            Some(Verdict::Cancelled) => ExecStatus::Cancelled,
            None if alive(&self.owner) => ExecStatus::Running,
            None => ExecStatus::Interrupted,
        };
    }

    /// How many criteria are where.
    pub fn counts(&self) -> Counts {
        let mut n = Counts { total: self.criteria.len(), ..Counts::default() };
        for c in &self.criteria {
            match c.status {
                CriterionStatus::Accepted => n.accepted += 1,
                CriterionStatus::Failed => n.failed += 1,
                CriterionStatus::Unverified => n.unverified += 1,
                CriterionStatus::Exempt => n.exempt += 1,
                _ => n.unfinished += 1,
            }
        }
        n
    }

    /// Attempts used by criterion `index` (interrupted ones count).
    pub fn attempts_used(&self, index: usize) -> u32 {
        self.criteria.get(index).map_or(0, |c| c.attempts.len() as u32)
    }
}

/// The verdict that `counts` call for, when nothing was cancelled: failed if any
/// criterion failed, unverified if any is unverified, exempt or unfinished, success
/// only when every criterion was accepted (and there was at least one).
pub fn verdict_for(counts: &Counts) -> Verdict {
    if counts.failed > 0 {
        Verdict::Failed
    } else if counts.total == 0 || counts.accepted < counts.total {
        Verdict::Unverified
    } else {
        Verdict::Success
    }
}

/// An out-of-order record before its seq is known.
struct OutOfOrder {
    kind: &'static str,
    why: String,
}

impl OutOfOrder {
    fn new(kind: &'static str, why: impl Into<String>) -> Self {
        OutOfOrder { kind, why: why.into() }
    }

    fn at(self, seq: u64) -> FoldError {
        FoldError::OutOfOrder { seq, kind: self.kind.into(), why: self.why }
    }
}

// ---------------------------------------------------------------------------------------
// Resume and exit codes

/// Why an execution cannot be resumed now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("execution {execution} is held by a live process (pid {pid} on {host})")]
    Held { execution: String, pid: u32, host: String },
    #[error("execution {execution} has no plan recorded")]
    NoPlan { execution: String },
}

impl ResumeError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ResumeError::Held { execution, .. } => format!(
                "wait (`ooo status {execution} --follow`) or stop it (`ooo cancel {execution}`)"
            ),
            ResumeError::NoPlan { .. } => {
                "plan the criteria again, record the plan, then resume".into()
            }
        }
    }
}

/// The criteria still to do, in plan order: every criterion not settled (pending,
/// interrupted) and every failed one. Accepted criteria are never redone; unverified and
/// exempt ones are settled by the seed itself (no check can pass them) and are not redone
/// either. An interrupted attempt counts as used ([`Execution::attempts_used`]) but its
/// criterion is redone. Refused while a live process holds the execution or one of its
/// attempts.
pub fn resume_point(exec: &Execution) -> Result<Vec<usize>, ResumeError> {
    if exec.status == ExecStatus::Running {
        return Err(held(exec, &exec.owner));
    }
    let live_attempt = exec
        .criteria
        .iter()
        .filter_map(|c| c.attempts.last())
        .find(|a| a.status == AttemptStatus::Dispatched);
    if let Some(a) = live_attempt {
        return Err(held(exec, &a.owner));
    }
    let plan =
        exec.plan.as_ref().ok_or_else(|| ResumeError::NoPlan { execution: exec.id.clone() })?;
    let todo = |i: &usize| {
        exec.criteria.get(*i).is_some_and(|c| {
            !matches!(
                c.status,
                CriterionStatus::Accepted | CriterionStatus::Unverified | CriterionStatus::Exempt
            )
        })
    };
    Ok(plan.levels.iter().flatten().copied().filter(todo).collect())
}

fn held(exec: &Execution, owner: &Owner) -> ResumeError {
    ResumeError::Held { execution: exec.id.clone(), pid: owner.pid, host: owner.host.clone() }
}

/// The exit code of `ooo run` for `verdict`: 0 success, 1 failed, 3 unverified, 130
/// cancelled.
pub fn exit_code(verdict: Verdict) -> i32 {
    match verdict {
        Verdict::Success => 0,
        Verdict::Failed => 1,
        Verdict::Unverified => 3,
        Verdict::Cancelled => 130,
    }
}

// ---------------------------------------------------------------------------------------
// Owner processes

/// Why this process's owner identity could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read this process's identity from /proc: {0}")]
pub struct OwnerError(String);

impl OwnerError {
    pub fn hint(&self) -> String {
        "ooo run needs a Linux /proc to record who owns an execution".into()
    }
}

impl Owner {
    /// This process: its pid, start time and host.
    pub fn current() -> Result<Owner, OwnerError> {
        let pid = std::process::id();
        let start_time = start_time(pid).ok_or_else(|| OwnerError(format!("/proc/{pid}/stat")))?;
        Ok(Owner { pid, start_time, host: host_name() })
    }
}

/// The host name (`/proc/sys/kernel/hostname`), or `localhost` when unreadable.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Is `owner` still running? True when a process with its pid runs with the same start
/// time. An owner on another host cannot be checked from here and counts as alive.
pub fn owner_alive(owner: &Owner) -> bool {
    if owner.host != host_name() {
        return true;
    }
    start_time(owner.pid) == Some(owner.start_time)
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks after boot).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// The start time in a `/proc/<pid>/stat` line. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After `)`: field 3 (state) is the first; field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_read_after_the_last_parenthesis() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_start_time(stat), Some(98765));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = Owner::current().unwrap();
        assert!(owner_alive(&me));
        assert!(!owner_alive(&Owner { start_time: me.start_time + 1, ..me.clone() }));
        assert!(owner_alive(&Owner { host: "elsewhere.invalid".into(), ..me }));
    }

    #[test]
    fn every_kind_round_trips() {
        let r = Record::CriterionFailed(CriterionSettled { criterion: 1, attempts: 3 });
        let back = Record::from_parts(r.kind(), &r.data().unwrap()).unwrap();
        assert_eq!(back, Some(r));
        assert_eq!(Record::from_parts("run.other", &Value::Null).unwrap(), None);
        assert_eq!(kind::ALL.len(), 13);
        let e = Record::EvaluationRecorded(serde_json::json!({"approved": true}));
        assert_eq!(Record::from_parts(e.kind(), &e.data().unwrap()).unwrap(), Some(e));
    }

    #[test]
    fn verdicts_follow_counts() {
        let c = |accepted, failed| Counts { total: 2, accepted, failed, ..Counts::default() };
        assert_eq!(verdict_for(&c(2, 0)), Verdict::Success);
        assert_eq!(verdict_for(&c(1, 1)), Verdict::Failed);
        assert_eq!(verdict_for(&c(1, 0)), Verdict::Unverified);
        assert_eq!(verdict_for(&Counts::default()), Verdict::Unverified);
    }
}
