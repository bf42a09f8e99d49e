//! How `ooo run` and `ooo status` print: progress lines, the summary, tables.

use super::*;

pub(super) fn progress_line(p: &Progress) -> String {
    match p {
        Progress::Planned { levels, criteria } => {
            format!("planned {criteria} criteria in {levels} level(s)")
        }
        Progress::CriterionStarted { criterion } => format!("ac {}: started", criterion + 1),
        Progress::AttemptStarted { criterion, attempt } => {
            format!("ac {}: attempt {attempt}: worker started", criterion + 1)
        }
        Progress::GateVerdict { criterion, attempt, status } => {
            format!("ac {}: attempt {attempt}: {status}", criterion + 1)
        }
        Progress::Rechecked { criterion, attempt, status } => {
            format!("ac {}: attempt {attempt} checked again on resume: {status}", criterion + 1)
        }
        Progress::Accepted { criterion, attempts } => {
            format!("ac {}: accepted after {attempts} attempt(s)", criterion + 1)
        }
        Progress::Failed { criterion, attempts } => {
            format!("ac {}: failed after {attempts} attempt(s)", criterion + 1)
        }
        Progress::Unverified { criterion, exempt } => {
            let what = if *exempt { "exempt" } else { "unverified (no check to run)" };
            format!("ac {}: {what}", criterion + 1)
        }
        Progress::CancelRequested => "cancel requested: stopping the workers".to_owned(),
        Progress::Finished { verdict } => format!("finished: {}", verdict_name(*verdict)),
    }
}

pub(super) fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Success => "success",
        Verdict::Failed => "failed",
        Verdict::Unverified => "unverified",
        Verdict::Cancelled => "cancelled",
    }
}

pub(super) fn as_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

pub(super) fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The human end of a run.
pub(super) fn summary(r: &RunResult) -> String {
    let mut out = format!(
        "execution {}: {} (exit {})\n",
        r.execution_id,
        verdict_name(r.verdict),
        r.exit_code
    );
    for c in &r.criteria {
        let gate = c.last_verdict.as_ref().map_or("-".to_owned(), |v| as_name(&v.status));
        out.push_str(&format!(
            "  ac {} {}: {}  attempts {}  gate {}  tokens {}  ${:.4}  {}\n",
            c.index + 1,
            c.semantic_ac_key,
            as_name(&c.status),
            c.attempts,
            gate,
            c.tokens_in + c.tokens_out,
            c.cost_usd,
            seconds(c.duration_ms)
        ));
    }
    for sha in &r.commits {
        out.push_str(&format!("  commit {sha}\n"));
    }
    if let Some(wt) = &r.worktree {
        out.push_str(&format!("  worktree {} (branch {})\n", wt.path.display(), wt.branch));
    }
    out.push_str(&format!(
        "  total: {} tokens, ${:.4}, {}\n",
        r.tokens,
        r.cost_usd,
        seconds(r.duration_ms)
    ));
    out
}

// ---------------------------------------------------------------------------------------
// Reading executions.

pub(super) fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
pub(super) fn table<const N: usize>(rows: Vec<[String; N]>) -> String {
    let mut widths = [0usize; N];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------
// Cancel.
