//! An execution's records appended through a real `ScopedCore` over a temporary SQLite
//! ledger and folded back: a clean success, a failed criterion, an interrupted attempt
//! and its resume, a live owner blocking resume, cancellation, out-of-order records and
//! exit codes.

use std::sync::{Arc, Mutex};

use serde_json::json;

use ooo_core::capability::{Grant, Grants, ScopedCore};
use ooo_core::ledger::{Event, SqliteStore, Store};
use ooo_run::events::{
    self, AttemptDispatched, AttemptSealed, AttemptStatus, CancelRequested, CommitRecorded,
    CriterionRechecked, CriterionSettled, CriterionStatus, ExecStatus, Execution,
    ExecutionFinished, ExecutionResumed, ExecutionStarted, FoldError, Owner, Record, ResumeError,
    Verdict, exit_code, owner_alive, resume_point, verdict_for,
};
use ooo_run::plan::{Plan, PlanSource};

const ID: &str = "01JEXEC0000000000000000000";

struct Fixture {
    _dir: tempfile::TempDir,
    core: ScopedCore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    ledger.register_all(ooo_core::PROJECTIONS);
    let store: Box<dyn Store + Send> = Box::new(ledger);
    let grants = Grants::new([
        Grant::parse("ledger", "write").unwrap(),
        Grant::parse("state", "write").unwrap(),
    ]);
    let core = ScopedCore::new(
        Arc::new(Mutex::new(store)),
        events::principal(),
        events::aggregate(ID).unwrap(),
        grants,
        dir.path().join("seeds"),
    );
    Fixture { _dir: dir, core }
}

impl Fixture {
    fn append(&self, record: Record) -> u64 {
        events::append(&self.core, &record).unwrap()
    }

    fn events(&self) -> Vec<Event> {
        self.core.own_events().unwrap()
    }

    fn fold(&self) -> Result<Execution, FoldError> {
        Execution::fold(&self.events(), &owner_alive)
    }
}

/// This test process: alive.
fn me() -> Owner {
    Owner::current().unwrap()
}

/// A process that ran on this host and is gone (this pid, another start time).
fn ghost() -> Owner {
    let me = me();
    Owner { start_time: me.start_time + 1, ..me }
}

fn started(owner: Owner) -> Record {
    Record::Started(ExecutionStarted {
        execution_id: ID.into(),
        seed_id: "seed_abc".into(),
        seed_hash: "sha256:00ff".into(),
        workspace: "/repo".into(),
        base_commit: Some("a1b2c3".into()),
        worktree: Some("/repo/.ooo/worktrees/run-1".into()),
        branch: Some(format!("ooo/run-{ID}")),
        runtime: "claude".into(),
        max_parallel: 3,
        max_attempts: 3,
        owner,
    })
}

fn planned(levels: Vec<Vec<usize>>) -> Record {
    Record::PlanRecorded(Plan { levels, source: PlanSource::Model { model: "m".into() } })
}

fn dispatched(criterion: usize, attempt: u32, owner: Owner) -> Record {
    Record::AttemptDispatched(AttemptDispatched {
        criterion,
        attempt,
        semantic_ac_key: format!("ac_{criterion:016x}"),
        owner,
    })
}

fn sealed(criterion: usize, attempt: u32, status: &str) -> Record {
    let exit_code = i32::from(status != "passed");
    Record::AttemptSealed(AttemptSealed {
        criterion,
        attempt,
        verdict: json!({"status": status, "evidence": {"exit_code": exit_code}}),
        tokens: 1200,
        cost_usd: 0.01,
        duration_ms: 4000,
        files_changed: vec!["src/lib.rs".into()],
    })
}

fn settled(criterion: usize, attempts: u32) -> CriterionSettled {
    CriterionSettled { criterion, attempts }
}

fn finished(verdict: Verdict, exec: &Execution) -> Record {
    Record::Finished(ExecutionFinished { verdict, counts: exec.counts() })
}

#[test]
fn a_clean_success_folds_back() {
    let f = fixture();
    f.append(started(me()));
    f.core.state_put("unrelated", &json!(1)).unwrap(); // not a run record: skipped
    f.append(planned(vec![vec![0, 1]]));
    f.append(dispatched(0, 1, me()));
    f.append(dispatched(1, 1, me()));
    f.append(sealed(1, 1, "passed"));
    f.append(sealed(0, 1, "passed"));
    f.append(Record::CriterionAccepted(settled(0, 1)));
    f.append(Record::CriterionAccepted(settled(1, 1)));
    f.append(Record::CommitRecorded(CommitRecorded {
        criterion: Some(0),
        sha: "c0".into(),
        criteria: vec![],
    }));
    let running = f.fold().unwrap();
    assert_eq!(running.status, ExecStatus::Running);
    assert_eq!(verdict_for(&running.counts()), Verdict::Success);
    f.append(finished(Verdict::Success, &running));

    let events = f.events();
    assert!(events.iter().all(|e| e.actor == "program:run" && e.aggregate_id == ID));
    assert_eq!(events::parse(&events[0]).map(|r| r.kind()), Some(events::kind::STARTED));
    assert_eq!(events::parse(&events[1]), None);

    let exec = f.fold().unwrap();
    assert_eq!(exec.status, ExecStatus::Succeeded);
    assert_eq!((exec.id.as_str(), exec.seed_id.as_str()), (ID, "seed_abc"));
    assert_eq!(exec.owner, me());
    assert_eq!(exec.plan.as_ref().unwrap().levels, vec![vec![0, 1]]);
    assert!(exec.criteria.iter().all(|c| c.status == CriterionStatus::Accepted));
    let a = &exec.criteria[0].attempts[0];
    assert_eq!((a.n, a.tokens, a.duration_ms, a.gate_status()), (1, 1200, 4000, Some("passed")));
    assert_eq!(exec.criteria[0].semantic_ac_key.as_deref(), Some("ac_0000000000000000"));
    assert_eq!(exec.commits.len(), 1);
    assert_eq!(exec.counts().accepted, 2);
    assert_eq!(resume_point(&exec).unwrap(), Vec::<usize>::new());
    assert_eq!(exit_code(exec.verdict.unwrap()), 0);
    // Pure and deterministic: the same events fold to the same state.
    assert_eq!(Execution::fold(&events, &owner_alive).unwrap(), exec);
}

#[test]
fn a_failed_criterion_fails_the_execution() {
    let f = fixture();
    f.append(started(me()));
    f.append(planned(vec![vec![0], vec![1]]));
    f.append(dispatched(0, 1, me()));
    f.append(sealed(0, 1, "passed"));
    f.append(Record::CriterionAccepted(settled(0, 1)));
    f.append(dispatched(1, 1, me()));
    f.append(sealed(1, 1, "failed"));
    f.append(dispatched(1, 2, me()));
    f.append(sealed(1, 2, "oracle_tampered"));
    f.append(Record::CriterionFailed(settled(1, 2)));
    let before = f.fold().unwrap();
    assert_eq!(verdict_for(&before.counts()), Verdict::Failed);
    f.append(finished(Verdict::Failed, &before));

    let exec = f.fold().unwrap();
    assert_eq!(exec.status, ExecStatus::Failed);
    let c = &exec.criteria[1];
    assert_eq!(c.status, CriterionStatus::Failed);
    assert_eq!(c.attempts.len(), 2);
    assert_eq!(c.attempts[1].gate_status(), Some("oracle_tampered"));
    assert_eq!(exec.counts().failed, 1);
    assert_eq!(resume_point(&exec).unwrap(), vec![1], "the failed one is redone, not the accepted");
    assert_eq!(exit_code(exec.verdict.unwrap()), 1);
}

#[test]
fn an_interrupted_attempt_is_redone_on_resume_but_accepted_work_is_not() {
    let f = fixture();
    f.append(started(ghost()));
    f.append(planned(vec![vec![0], vec![1]]));
    f.append(dispatched(0, 1, ghost()));
    f.append(sealed(0, 1, "passed"));
    f.append(Record::CriterionAccepted(settled(0, 1)));
    f.append(dispatched(1, 1, ghost()));
    // ooo was killed here.

    let exec = f.fold().unwrap();
    assert_eq!(exec.status, ExecStatus::Interrupted);
    assert_eq!(exec.criteria[1].status, CriterionStatus::Interrupted);
    assert_eq!(exec.criteria[1].attempts[0].status, AttemptStatus::Interrupted);
    assert_eq!(resume_point(&exec).unwrap(), vec![1]);
    assert_eq!(exec.attempts_used(1), 1, "the interrupted attempt counts as used");

    // A new process resumes and finishes it.
    f.append(Record::Resumed(ExecutionResumed { owner: me() }));
    f.append(dispatched(1, 2, me()));
    f.append(sealed(1, 2, "passed"));
    f.append(Record::CriterionAccepted(settled(1, 2)));
    let resumed = f.fold().unwrap();
    assert_eq!(resumed.status, ExecStatus::Running);
    assert_eq!(resumed.owner, me());
    f.append(finished(Verdict::Success, &resumed));
    let done = f.fold().unwrap();
    assert_eq!(done.status, ExecStatus::Succeeded);
    let attempts = &done.criteria[1].attempts;
    assert_eq!(attempts[0].status, AttemptStatus::Interrupted);
    assert_eq!(attempts[1].gate_status(), Some("passed"));
    assert_eq!(done.criteria[0].attempts.len(), 1, "criterion 0 was not redone");
}

#[test]
fn a_failed_execution_resumed_redoes_only_the_failed_criterion() {
    let f = fixture();
    f.append(started(ghost()));
    f.append(planned(vec![vec![0, 1]]));
    f.append(dispatched(0, 1, ghost()));
    f.append(dispatched(1, 1, ghost()));
    f.append(sealed(0, 1, "passed"));
    f.append(sealed(1, 1, "failed"));
    f.append(Record::CriterionAccepted(settled(0, 1)));
    f.append(Record::CriterionFailed(settled(1, 1)));
    let failed = f.fold().unwrap();
    f.append(finished(Verdict::Failed, &failed));
    assert_eq!(resume_point(&f.fold().unwrap()).unwrap(), vec![1]);

    f.append(Record::Resumed(ExecutionResumed { owner: me() }));
    let reopened = f.fold().unwrap();
    assert_eq!((reopened.status, reopened.verdict), (ExecStatus::Running, None));
    assert_eq!(reopened.criteria[1].status, CriterionStatus::Pending);
    f.append(dispatched(1, 2, me()));
    f.append(sealed(1, 2, "passed"));
    f.append(Record::CriterionAccepted(settled(1, 2)));
    let done = f.fold().unwrap();
    assert_eq!(verdict_for(&done.counts()), Verdict::Success);
    assert_eq!(done.criteria[0].attempts.len(), 1);
}

#[test]
fn a_live_owner_blocks_resume() {
    let f = fixture();
    f.append(started(me()));
    f.append(planned(vec![vec![0]]));
    f.append(dispatched(0, 1, me()));
    let exec = f.fold().unwrap();
    assert_eq!(exec.status, ExecStatus::Running);
    assert_eq!(exec.criteria[0].status, CriterionStatus::Running);
    let err = resume_point(&exec).unwrap_err();
    assert!(matches!(&err, ResumeError::Held { pid, .. } if *pid == std::process::id()));
    assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
    assert!(err.hint().contains("ooo cancel"), "{}", err.hint());

    // A dead starter with an attempt held by a live worker process is still held.
    let g = fixture();
    g.append(started(ghost()));
    g.append(planned(vec![vec![0]]));
    g.append(Record::Resumed(ExecutionResumed { owner: ghost() }));
    g.append(dispatched(0, 1, me()));
    let exec = g.fold().unwrap();
    assert_eq!(exec.status, ExecStatus::Interrupted);
    assert!(matches!(resume_point(&exec), Err(ResumeError::Held { .. })));
}

#[test]
fn cancel_requested_then_cancelled() {
    let f = fixture();
    f.append(started(me()));
    f.append(planned(vec![vec![0]]));
    f.append(dispatched(0, 1, me()));
    f.append(Record::CancelRequested(CancelRequested { by: "ooo cancel (pid 4242)".into() }));
    let exec = f.fold().unwrap();
    assert!(exec.cancel_requested);
    assert_eq!(exec.status, ExecStatus::Running);
    f.append(sealed(0, 1, "failed"));
    f.append(Record::CriterionFailed(settled(0, 1)));
    f.append(finished(Verdict::Cancelled, &exec));
    // A second cancel racing the end is harmless.
    f.append(Record::CancelRequested(CancelRequested { by: "ctrl-c".into() }));
    let exec = f.fold().unwrap();
    assert_eq!(exec.status, ExecStatus::Cancelled);
    assert_eq!(exit_code(exec.verdict.unwrap()), 130);
}

fn fold_error(records: Vec<Record>) -> FoldError {
    let f = fixture();
    for r in records {
        f.append(r);
    }
    f.fold().unwrap_err()
}

#[test]
fn out_of_order_records_are_errors_naming_them() {
    let err = fold_error(vec![started(me()), planned(vec![vec![0]]), sealed(0, 1, "passed")]);
    assert_eq!(
        err,
        FoldError::OutOfOrder {
            seq: 3,
            kind: events::kind::ATTEMPT_SEALED.into(),
            why: "attempt 1 of criterion 0 is not open".into()
        }
    );
    assert!(err.to_string().contains("record #3 (run.attempt.sealed) is out of order"), "{err}");
    assert!(err.hint().contains("ooo ledger verify"));

    let cases = [
        (vec![started(me()), dispatched(0, 1, me())], "no plan is recorded yet"),
        (
            vec![started(me()), planned(vec![vec![0]]), dispatched(0, 2, me())],
            "attempt 2 of criterion 0, expected 1",
        ),
        (
            vec![started(me()), planned(vec![vec![0]]), dispatched(3, 1, me())],
            "criterion 3 is not in the plan",
        ),
        (
            vec![
                started(me()),
                planned(vec![vec![0]]),
                dispatched(0, 1, me()),
                sealed(0, 1, "failed"),
                Record::CriterionAccepted(settled(0, 1)),
            ],
            "no attempt the gate passed",
        ),
        (
            vec![
                started(me()),
                planned(vec![vec![0]]),
                dispatched(0, 1, me()),
                dispatched(0, 2, me()),
            ],
            "attempt 1 of criterion 0 is still open",
        ),
        (
            vec![
                started(me()),
                planned(vec![vec![0]]),
                Record::Finished(ExecutionFinished {
                    verdict: Verdict::Unverified,
                    counts: Default::default(),
                }),
                dispatched(0, 1, me()),
            ],
            "the execution has finished",
        ),
        (vec![started(me()), started(me())], "already started"),
    ];
    for (records, expected) in cases {
        let err = fold_error(records).to_string();
        assert!(err.contains(expected), "expected {expected:?}, got {err}");
    }

    let err = fold_error(vec![planned(vec![vec![0]]), started(me())]);
    assert!(matches!(err, FoldError::NotStarted { seq: 1, .. }), "{err}");
    assert_eq!(Execution::fold(&[], &owner_alive), Err(FoldError::Empty));
}

fn rechecked(criterion: usize, attempt: u32, status: &str) -> Record {
    Record::CriterionRechecked(CriterionRechecked {
        criterion,
        attempt,
        verdict: json!({"status": status}),
    })
}

/// A criterion sealed `passed` and never accepted (the process died in between) is
/// checked again on resume: that verdict decides, and a failed one cannot be accepted.
#[test]
fn a_recheck_decides_instead_of_the_sealed_verdict() {
    let f = fixture();
    f.append(started(ghost()));
    f.append(planned(vec![vec![0]]));
    f.append(dispatched(0, 1, ghost()));
    f.append(sealed(0, 1, "passed"));
    let exec = f.fold().unwrap();
    assert!(exec.criteria[0].sealed_unsettled(), "{:?}", exec.criteria[0]);
    assert_eq!(resume_point(&exec).unwrap(), [0]);

    f.append(Record::Resumed(ExecutionResumed { owner: me() }));
    f.append(rechecked(0, 1, "failed"));
    let c = &f.fold().unwrap().criteria[0];
    assert_eq!((c.deciding_status(), c.sealed_unsettled()), (Some("failed"), true));
    // A new attempt clears the re-check.
    f.append(dispatched(0, 2, me()));
    f.append(sealed(0, 2, "passed"));
    f.append(Record::CriterionAccepted(settled(0, 2)));
    let c = &f.fold().unwrap().criteria[0];
    assert_eq!((c.status, c.recheck.clone()), (CriterionStatus::Accepted, None));

    let base = || vec![started(me()), planned(vec![vec![0]]), dispatched(0, 1, me())];
    let cases = [
        (vec![rechecked(0, 1, "passed")], "attempt 1 of criterion 0 is not its last sealed"),
        (
            vec![sealed(0, 1, "passed"), rechecked(0, 2, "passed")],
            "attempt 2 of criterion 0 is not its last sealed",
        ),
        (
            vec![
                sealed(0, 1, "passed"),
                rechecked(0, 1, "failed"),
                Record::CriterionAccepted(settled(0, 1)),
            ],
            "no attempt the gate passed",
        ),
    ];
    for (tail, expected) in cases {
        let mut records = base();
        records.extend(tail);
        let err = fold_error(records).to_string();
        assert!(err.contains(expected), "expected {expected:?}, got {err}");
    }
}

#[test]
fn a_malformed_record_is_an_error() {
    let f = fixture();
    f.append(started(me()));
    f.core
        .append_evidence(Some(events::kind::ATTEMPT_DISPATCHED), json!({"criterion": "x"}))
        .unwrap();
    assert!(matches!(f.fold(), Err(FoldError::Malformed { seq: 2, .. })));
}

#[test]
fn an_exempt_criterion_is_settled_and_the_run_unverified() {
    let f = fixture();
    f.append(started(me()));
    f.append(planned(vec![vec![0, 1]]));
    f.append(dispatched(0, 1, me()));
    f.append(dispatched(1, 1, me()));
    f.append(sealed(0, 1, "unverified"));
    f.append(sealed(1, 1, "exempt"));
    f.append(Record::CriterionUnverified(settled(0, 1)));
    f.append(Record::CriterionUnverified(settled(1, 1)));
    let exec = f.fold().unwrap();
    assert_eq!(exec.criteria[0].status, CriterionStatus::Unverified);
    assert_eq!(exec.criteria[1].status, CriterionStatus::Exempt);
    let counts = exec.counts();
    assert_eq!((counts.unverified, counts.exempt), (1, 1));
    assert_eq!(verdict_for(&counts), Verdict::Unverified);
    f.append(finished(Verdict::Unverified, &exec));
    assert_eq!(exit_code(f.fold().unwrap().verdict.unwrap()), 3);
}

#[test]
fn exit_codes() {
    assert_eq!(exit_code(Verdict::Success), 0);
    assert_eq!(exit_code(Verdict::Failed), 1);
    assert_eq!(exit_code(Verdict::Unverified), 3);
    assert_eq!(exit_code(Verdict::Cancelled), 130);
}
