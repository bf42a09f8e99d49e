//! `ooo cancel ID`: a cancel record, and SIGINT to a live owner; a dead run is finished
//! as cancelled, under the execution's lock (a resume starting meanwhile is waited for,
//! then cancelled as a live run).

use super::*;

/// `ooo cancel <execution_id>`.
pub fn cancel(id: &str, json: bool) -> Result<ExitCode, CliError> {
    let home = home()?;
    if !home.ledger_db().exists() {
        return Err(unknown_execution(id));
    }
    let store: SharedStore = Arc::new(Mutex::new(Box::new(open_ledger()?)));
    let core = ScopedCore::new(
        Arc::clone(&store),
        events::principal(),
        events::aggregate(id).map_err(|_| unknown_execution(id))?,
        Grants::new([Grant::new(Capability::Ledger, Access::Write)]),
        home.seeds_dir(),
    );
    let by = format!("user:{}", login());
    // A stopped execution is finished here, under its lock; while a resume holds the lock
    // it is about to record itself as the owner, and is then cancelled like any live run.
    let until = std::time::Instant::now() + CANCEL_WAIT;
    let (outcome, exec) = loop {
        let exec = fold(&store, &home, id)?;
        if exec.status != ExecStatus::Interrupted {
            break (settle(&core, &exec, by)?, exec);
        }
        match ExecutionLock::acquire(&home.execution_lock(id), id) {
            Ok(_lock) => {
                let exec = fold(&store, &home, id)?;
                break (settle(&core, &exec, by)?, exec);
            }
            Err(LockError::Held { .. }) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(50));
            }
            // Its own hint would be `ooo cancel`, which is what the user just ran.
            Err(e @ LockError::Held { .. }) => {
                return Err(CliError::new(format!(
                    "{e}, which has not recorded itself as the owner in {}s",
                    CANCEL_WAIT.as_secs()
                ))
                .hint(format!(
                    "it may still be starting: run `ooo cancel {id}` again in a moment, or watch it with `ooo status {id} --follow`"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    };
    if json {
        let doc = json!({"execution_id": id, "outcome": outcome, "owner_pid": exec.owner.pid});
        return piped(|out| Ok(writeln!(out, "{doc}")?));
    }
    piped(|out| Ok(writeln!(out, "execution {id}: {outcome}")?))
}

/// How long `ooo cancel` waits for a resume that holds the lock to record itself.
const CANCEL_WAIT: Duration = Duration::from_secs(15);

/// Cancel `exec` as it is: a live one is asked to (a record, and SIGINT to its owner); a
/// stopped one (the caller holds its lock) is finished as cancelled.
fn settle(core: &ScopedCore, exec: &Execution, by: String) -> Result<&'static str, CliError> {
    Ok(match exec.status {
        ExecStatus::Running => {
            // Signalled once: a second SIGINT would make the owner exit at once, without
            // finishing the execution.
            let first = !exec.cancel_requested;
            if first {
                events::append(core, &Record::CancelRequested(CancelRequested { by }))?;
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
                events::append(core, &Record::CancelRequested(CancelRequested { by }))?;
            }
            let finished = ExecutionFinished { verdict: Verdict::Cancelled, counts: exec.counts() };
            events::append(core, &Record::Finished(finished))?;
            "cancelled (its process had already stopped)"
        }
        _ => "already finished; nothing to cancel",
    })
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
