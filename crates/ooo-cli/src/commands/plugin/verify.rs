//! `ooo plugin verify [name]`: re-hash installed plugins against the lockfile; exits 1
//! when one changed (its trust is withdrawn by the manager).

use std::process::ExitCode;

use serde_json::json;

use super::session::Session;
use crate::error::CliError;
use crate::output::piped;

pub fn run(s: &mut Session, name: Option<String>, json: bool) -> Result<ExitCode, CliError> {
    let rows = s.manager.verify(&mut s.ledger, &s.actor, name.as_deref())?;
    let all_ok = rows.iter().all(|r| r.ok);
    piped(|out| {
        if json {
            writeln!(out, "{}", json!({"ok": all_ok, "plugins": rows}))?;
        } else {
            for r in &rows {
                if r.ok {
                    writeln!(out, "ok       {}  {}", r.name, r.expected)?;
                } else {
                    let found = r.actual.clone().or(r.detail.clone()).unwrap_or_default();
                    writeln!(
                        out,
                        "CHANGED  {}  installed {}, now {found}; its trust was withdrawn",
                        r.name, r.expected
                    )?;
                }
            }
            if rows.is_empty() {
                writeln!(out, "no plugins installed")?;
            }
        }
        Ok(())
    })?;
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
