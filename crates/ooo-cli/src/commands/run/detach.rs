//! `ooo run --detach`: the same run as a background `ooo` process in its own session,
//! its log under the execution's directory. Running it is `super`'s.

use super::*;

/// How long `--detach` waits for the background process to record itself as the
/// execution's owner before returning.
pub(super) const DETACH_WAIT: Duration = Duration::from_secs(15);

/// `ooo run --detach`: the same run as an ordinary `ooo` process in a session of its own
/// (stdin `/dev/null`, stdout and stderr to the execution's `log`), which records itself
/// as the execution's owner like any run. The seed is passed by its saved id and the
/// runtime by name, so the background run is exactly the one checked here. Returns once
/// the owner is recorded (or the process ended early: its log is the error).
pub(super) fn detach(
    args: &RunArgs,
    home: &Home,
    execution_id: &str,
    seed_id: &str,
    runtime: &str,
    resuming: bool,
) -> Result<ExitCode, CliError> {
    use std::os::unix::process::CommandExt;

    let dir = home.execution_dir(execution_id);
    make_private_dir(&dir)?;
    let log = dir.join("log");
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| {
        CliError::new(format!("cannot create {}: {e}", log.display()))
            .hint("check that $OUROBOROS_HOME is writable")
    })?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find the ooo executable: {e}")))?;
    let mut command = std::process::Command::new(exe);
    command.args(detached_args(args, execution_id, seed_id, runtime, resuming));
    command.stdin(std::process::Stdio::null()).stdout(file.try_clone()?).stderr(file);
    // SAFETY: setsid(2) only, between fork and exec: async-signal-safe, touches no
    // memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| CliError::new(format!("cannot start the background run: {e}")))?;
    let pid = child.id();
    let until = std::time::Instant::now() + DETACH_WAIT;
    loop {
        if owned_by(home, execution_id, pid) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(CliError::new(format!(
                "the background run of execution {execution_id} ended at once ({status}): {last}"
            ))
            .hint(format!("its output is in {}", log.display())));
        }
        if std::time::Instant::now() > until {
            stderr_line(&format!(
                "warning: execution {execution_id} has not recorded its start yet (pid {pid}); see {}",
                log.display()
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if args.json {
        let doc = json!({"execution_id": execution_id, "log": log, "pid": pid});
        return piped(|out| Ok(writeln!(out, "{doc}")?));
    }
    piped(|out| {
        writeln!(out, "execution {execution_id} runs in the background (pid {pid})")?;
        writeln!(out, "  follow it: ooo status {execution_id} --follow")?;
        writeln!(out, "  cancel it: ooo cancel {execution_id}")?;
        writeln!(out, "  its output: {}", log.display())?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The background run's arguments: this run's, without `--detach`, the seed by its
/// saved id and the runtime by name, and (a new execution) its id.
pub(super) fn detached_args(
    args: &RunArgs,
    execution_id: &str,
    seed_id: &str,
    runtime: &str,
    resuming: bool,
) -> Vec<String> {
    let mut out = vec!["run".to_owned()];
    if resuming {
        out.extend(["--resume".to_owned(), execution_id.to_owned()]);
    } else {
        out.extend([seed_id.to_owned(), "--execution-id".to_owned(), execution_id.to_owned()]);
    }
    out.extend(["--runtime".to_owned(), runtime.to_owned()]);
    if args.worktree {
        out.push("--worktree".to_owned());
    }
    if let Some(dir) = &args.dir {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        out.extend(["--in".to_owned(), dir.display().to_string()]);
    }
    out.extend([
        "--max-parallel".to_owned(),
        args.max_parallel.to_string(),
        "--max-attempts".to_owned(),
        args.max_attempts.to_string(),
        "--commit-policy".to_owned(),
        args.commit_policy.clone(),
        "--verify-timeout".to_owned(),
        args.verify_timeout.to_string(),
    ]);
    if args.json {
        out.push("--json".to_owned());
    }
    out
}

/// Has process `pid` recorded itself as the owner of execution `id`?
pub(super) fn owned_by(home: &Home, id: &str, pid: u32) -> bool {
    let Ok(store) = SqliteStore::open_read_only(home.ledger_db()) else { return false };
    let Ok(found) = one_execution(&store, id) else { return false };
    Execution::fold(&found, &owner_alive).is_ok_and(|e| e.owner.pid == pid)
}
