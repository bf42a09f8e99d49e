//! `ooo run gc` and the automatic cap on finished run worktrees.

use super::*;

/// Collect this repository's finished run worktrees beyond `keep` (and merged or
/// expired ones); live executions are never touched.
pub(super) fn gc_actions(
    cwd: &Path,
    home: &Home,
    keep: usize,
    dry_run: bool,
) -> Result<Vec<workspace::GcAction>, CliError> {
    // The live executions: none when nothing was ever recorded.
    let executions = if home.ledger_db().exists() {
        execution_events(&open_ledger_read_only()?)?
    } else {
        BTreeMap::new()
    };
    let is_live = |id: &str| {
        executions.get(id).is_some_and(|found| {
            Execution::fold(found, &owner_alive).map_or(true, |e| e.status == ExecStatus::Running)
        })
    };
    let policy = GcPolicy { keep, ..GcPolicy::default() };
    Ok(workspace::gc(cwd, &home.worktrees_dir(), &policy, &is_live, dry_run)?)
}

/// Before a new worktree: keep at most `[run] worktree_cap` finished ones, so they do
/// not pile up. What was removed is said on stderr.
pub(super) fn collect_worktrees(cwd: &Path, home: &Home, cap: usize) -> Result<(), CliError> {
    for a in gc_actions(cwd, home, cap, false)? {
        if a.removed {
            stderr_line(&format!(
                "ooo: removed the finished worktree {} ({:?})",
                a.path.display(),
                a.reason
            ));
        }
    }
    Ok(())
}

pub(super) fn gc(dry_run: bool, keep: usize, json: bool) -> Result<ExitCode, CliError> {
    let home = home()?;
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::new(format!("the current directory: {e}")))?;
    let actions = gc_actions(&cwd, &home, keep, dry_run)?;
    let failed = actions.iter().any(|a| a.error.is_some());
    piped(|out| {
        if json {
            for a in &actions {
                writeln!(out, "{}", serde_json::to_string(a).map_err(std::io::Error::other)?)?;
            }
            return Ok(());
        }
        if actions.is_empty() {
            writeln!(out, "nothing to collect")?;
        }
        for a in &actions {
            let verb = match (dry_run, &a.error) {
                (_, Some(e)) => format!("could not remove ({e})"),
                (true, None) => "would remove".to_owned(),
                (false, None) => "removed".to_owned(),
            };
            let branch = if a.branch_deleted {
                format!(" and branch {}", a.branch)
            } else {
                format!(" (branch {} kept)", a.branch)
            };
            writeln!(out, "{verb} {}{branch}: {}", a.path.display(), as_name(&a.reason))?;
        }
        Ok(())
    })?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
