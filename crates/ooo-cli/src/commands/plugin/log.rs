//! `ooo plugin log <name>`: the recorded invocations of a plugin, oldest first, from
//! `ooo_plugin::firewall::audit::runs` (typed rows; `--json` prints them as they are).

use std::io::Write;
use std::process::ExitCode;

use ooo_plugin::firewall::audit::Run;

use super::render::write_json_lines;
use super::session::Session;
use crate::error::CliError;
use crate::output::piped;

pub fn run(s: &mut Session, name: String, json: bool) -> Result<ExitCode, CliError> {
    let runs = ooo_plugin::firewall::audit::runs(&s.ledger, &name)?;
    piped(|out| {
        if json {
            write_json_lines(out, &runs)?;
        } else {
            write_runs(out, &name, &runs)?;
        }
        Ok(())
    })
}

/// `ooo plugin log` for people: one line a run, oldest first.
fn write_runs(out: &mut dyn Write, name: &str, runs: &[Run]) -> std::io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no invocations of {name} recorded");
    }
    writeln!(
        out,
        "{:<19}  {:<14}  {:<22}  {:>4}  {:>9}  INVOCATION",
        "STARTED (UTC)", "COMMAND", "RESULT", "EXIT", "DURATION"
    )?;
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    for r in runs {
        let started = r.started_at.get(..19).unwrap_or(&r.started_at).replacen('T', " ", 1);
        writeln!(
            out,
            "{:<19}  {:<14}  {:<22}  {:>4}  {:>9}  {}",
            started,
            or_dash(r.command.clone()),
            or_dash(r.result.clone()),
            or_dash(r.exit_code.map(|c| c.to_string())),
            or_dash(r.duration_ms.map(|ms| format!("{ms} ms"))),
            r.invocation_id
        )?;
    }
    Ok(())
}
