//! `ooo plugin install <name> [--from SOURCE]`: install (or replace) one plugin and say
//! what to trust next. Nothing is granted here; trusting is `trust`'s module.

use std::process::ExitCode;

use super::render::{write_install, write_json};
use super::session::{Session, replace_policy};
use crate::error::CliError;
use crate::output::piped;

pub fn run(
    s: &mut Session,
    name: String,
    from: Option<String>,
    git_ref: Option<String>,
    force: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    s.manager.replace = replace_policy(force);
    let report =
        s.manager.install(&mut s.ledger, &s.actor, &name, from.as_deref(), git_ref.as_deref())?;
    let entry = s.manager.entry(&name)?;
    let required = s
        .manager
        .installed_manifest(&entry)
        .map(|m| m.required_scopes().iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap_or_default();
    piped(|out| {
        if json {
            write_json(out, &report)?;
        } else {
            write_install(out, &report)?;
            if !required.is_empty() {
                let flags: Vec<String> = required.iter().map(|s| format!("--scope {s}")).collect();
                writeln!(
                    out,
                    "not trusted yet; to allow it to run: ooo plugin trust {name} {}",
                    flags.join(" ")
                )?;
            }
        }
        Ok(())
    })
}
