//! `ooo status [ID] [--follow] [--json]`: executions from the ledger, read-only.

use super::*;

#[derive(serde::Serialize)]
pub(super) struct ExecutionLine {
    execution_id: String,
    seed_id: String,
    status: ExecStatus,
    accepted: usize,
    total: usize,
    started_at: String,
    owner_alive: bool,
    worktree: Option<String>,
}

#[derive(serde::Serialize)]
pub(super) struct CriterionLine {
    index: usize,
    semantic_ac_key: Option<String>,
    status: events::CriterionStatus,
    attempts: usize,
    last_verdict: Option<String>,
    duration_ms: u64,
    tokens: u64,
    cost_usd: f64,
}

pub(super) fn line(exec: &Execution, first: &Event) -> ExecutionLine {
    let counts = exec.counts();
    ExecutionLine {
        execution_id: exec.id.clone(),
        seed_id: exec.seed_id.clone(),
        status: exec.status,
        accepted: counts.accepted,
        total: counts.total,
        started_at: first.occurred_at.clone(),
        owner_alive: exec.verdict.is_none() && owner_alive(&exec.owner),
        worktree: exec.started.worktree.clone(),
    }
}

pub(super) fn criteria_lines(exec: &Execution) -> Vec<CriterionLine> {
    exec.criteria
        .iter()
        .map(|c| CriterionLine {
            index: c.index,
            semantic_ac_key: c.semantic_ac_key.clone(),
            status: c.status,
            attempts: c.attempts.len(),
            last_verdict: c.attempts.iter().rev().find_map(|a| a.gate_status()).map(str::to_owned),
            duration_ms: c.attempts.iter().map(|a| a.duration_ms).sum(),
            tokens: c.attempts.iter().map(|a| a.tokens).sum(),
            cost_usd: c.attempts.iter().map(|a| a.cost).sum(),
        })
        .collect()
}

/// `ooo status [<execution_id>] [--follow]`: read-only. `--follow` prints the execution
/// again whenever it changes, until it is no longer running.
pub fn status(id: Option<&str>, follow: bool, json: bool) -> Result<ExitCode, CliError> {
    // Nothing recorded yet: no executions.
    let store = match SqliteStore::open_read_only(crate::commands::existing_home()?.ledger_db()) {
        Ok(s) => s,
        Err(LedgerError::NoLedger { .. }) => {
            return match id {
                None => print_lines(&[], json),
                Some(id) => Err(unknown_execution(id)),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let Some(id) = id else {
        let mut lines = Vec::new();
        for (id, found) in &execution_events(&store)? {
            // One unreadable execution does not hide the others.
            match Execution::fold(found, &owner_alive) {
                Ok(exec) => lines.push((found[0].seq, line(&exec, &found[0]))),
                Err(e) => stderr_line(&format!("warning: execution {id}: {e} ({})", e.hint())),
            }
        }
        lines.sort_by_key(|l| std::cmp::Reverse(l.0));
        let lines: Vec<ExecutionLine> = lines.into_iter().map(|(_, l)| l).collect();
        return print_lines(&lines, json);
    };
    let mut shown = 0;
    loop {
        let found = one_execution(&store, id)?;
        let exec = Execution::fold(&found, &owner_alive)?;
        if found.len() != shown {
            shown = found.len();
            let text = execution_view(&exec, &found[0], json)?;
            piped(|out| Ok(out.write_all(text.as_bytes())?))?;
        }
        if !follow || exec.status != ExecStatus::Running {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// How often `ooo status --follow` reads the ledger.
pub(super) const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// One execution, criterion by criterion: a table, or one JSON object (one line).
pub(super) fn execution_view(
    exec: &Execution,
    first: &Event,
    json: bool,
) -> Result<String, CliError> {
    let head = line(exec, first);
    let criteria = criteria_lines(exec);
    if json {
        let mut doc = serde_json::to_value(&head).map_err(std::io::Error::other)?;
        doc["verdict"] = json!(exec.verdict);
        doc["cancel_requested"] = json!(exec.cancel_requested);
        doc["commits"] = json!(exec.commits.iter().map(|c| &c.sha).collect::<Vec<_>>());
        doc["criteria"] = serde_json::to_value(&criteria).map_err(std::io::Error::other)?;
        return Ok(format!("{doc}\n"));
    }
    let mut text = format!(
        "execution {}: {} ({}/{} accepted), seed {}, started {}{}\n",
        head.execution_id,
        as_name(&head.status),
        head.accepted,
        head.total,
        head.seed_id,
        short_time(&head.started_at),
        if head.owner_alive {
            format!(", running as pid {}", exec.owner.pid)
        } else {
            String::new()
        }
    );
    if let Some(wt) = &head.worktree {
        text.push_str(&format!("worktree {wt}\n"));
    }
    let rows: Vec<[String; 7]> = criteria
        .iter()
        .map(|c| {
            [
                (c.index + 1).to_string(),
                as_name(&c.status),
                c.attempts.to_string(),
                c.last_verdict.clone().unwrap_or_else(|| "-".to_owned()),
                seconds(c.duration_ms),
                c.tokens.to_string(),
                format!("${:.4}", c.cost_usd),
            ]
        })
        .collect();
    let header = ["AC", "STATUS", "ATTEMPTS", "LAST VERDICT", "ELAPSED", "TOKENS", "COST"]
        .map(str::to_owned);
    text.push_str(&table(std::iter::once(header).chain(rows).collect()));
    Ok(text)
}

pub(super) fn print_lines(lines: &[ExecutionLine], json: bool) -> Result<ExitCode, CliError> {
    if json {
        return piped(|out| {
            for l in lines {
                writeln!(out, "{}", serde_json::to_string(l).map_err(std::io::Error::other)?)?;
            }
            Ok(())
        });
    }
    if lines.is_empty() {
        return piped(|out| Ok(writeln!(out, "no executions; start one with `ooo run <seed>`")?));
    }
    let mut rows = vec![
        ["EXECUTION", "SEED", "STATUS", "ACCEPTED", "STARTED (UTC)", "OWNER"].map(str::to_owned),
    ];
    for l in lines {
        rows.push([
            l.execution_id.clone(),
            l.seed_id.clone(),
            as_name(&l.status),
            format!("{}/{}", l.accepted, l.total),
            short_time(&l.started_at),
            if l.owner_alive { "alive" } else { "-" }.to_owned(),
        ]);
    }
    let text = table(rows);
    piped(|out| Ok(out.write_all(text.as_bytes())?))
}
