//! `ooo plugin disable <name>`: stop a plugin from running, and say how to re-enable it.

use std::process::ExitCode;

use super::session::Session;
use crate::error::CliError;
use crate::output::piped;

pub fn run(s: &mut Session, name: String) -> Result<ExitCode, CliError> {
    s.manager.disable(&mut s.ledger, &s.actor, &name)?;
    let entry = s.manager.entry(&name)?;
    let scopes: String = s
        .manager
        .installed_manifest(&entry)
        .map(|m| m.required_scopes().iter().map(|s| format!(" --scope {s}")).collect())
        .unwrap_or_default();
    piped(|out| {
        Ok(writeln!(out, "disabled {name}; re-enable it with `ooo plugin trust {name}{scopes}`")?)
    })
}
