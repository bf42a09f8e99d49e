//! `ooo cancel ID`: a cancel record, and SIGINT to a live owner; a dead run is finished
//! as cancelled.

use super::*;

/// `ooo cancel <execution_id>`.
pub fn cancel(id: &str, json: bool) -> Result<ExitCode, CliError> {
    let home = home()?;
    if !home.ledger_db().exists() {
        return Err(unknown_execution(id));
    }
    let store: SharedStore = Arc::new(Mutex::new(Box::new(open_ledger()?)));
    let exec = fold(&store, &home, id)?;
    let core = ScopedCore::new(
        Arc::clone(&store),
        events::principal(),
        events::aggregate(id)?,
        Grants::new([Grant::new(Capability::Ledger, Access::Write)]),
        home.seeds_dir(),
    );
    let by = format!("user:{}", login());
    let outcome = match exec.status {
        ExecStatus::Running => {
            // Signalled once: a second SIGINT would make the owner exit at once, without
            // finishing the execution.
            let first = !exec.cancel_requested;
            if first {
                events::append(&core, &Record::CancelRequested(CancelRequested { by }))?;
            }
            let signalled = first && exec.owner.host == host_name() && signal(&exec.owner);
            if signalled {
                "cancel requested; the owner was interrupted"
            } else {
                "cancel requested"
            }
        }
        ExecStatus::Interrupted => {
            if !exec.cancel_requested {
                events::append(&core, &Record::CancelRequested(CancelRequested { by }))?;
            }
            let counts = exec.counts();
            let finished = ExecutionFinished { verdict: Verdict::Cancelled, counts };
            events::append(&core, &Record::Finished(finished))?;
            "cancelled (its process had already stopped)"
        }
        _ => "already finished; nothing to cancel",
    };
    if json {
        let doc = json!({"execution_id": id, "outcome": outcome, "owner_pid": exec.owner.pid});
        return piped(|out| Ok(writeln!(out, "{doc}")?));
    }
    piped(|out| Ok(writeln!(out, "execution {id}: {outcome}")?))
}

/// SIGINT to the execution's owner, when it is still the process that started (its
/// start time matches).
pub(super) fn signal(owner: &events::Owner) -> bool {
    if !owner_alive(owner) {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(owner.pid) else { return false };
    // SAFETY: kill(2) with a pid checked alive (by its start time) just above and a
    // valid signal number; it touches no memory of ours.
    unsafe { libc::kill(pid, libc::SIGINT) == 0 }
}

// ---------------------------------------------------------------------------------------
// Garbage collection.
