//! `ooo plugin trust <name> --scope S...`: grant declared scopes and say what the plugin
//! now holds, naming every variable, host and path each granted scope opens. The refusals (undeclared scopes, changed files) are the manager's.

use std::process::ExitCode;

use serde_json::json;

use super::render::write_opens;
use super::session::Session;
use crate::error::CliError;
use crate::output::piped;

pub fn run(
    s: &mut Session,
    name: String,
    scopes: Vec<String>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let t = s.manager.trust(&mut s.ledger, &s.actor, &name, &scopes)?;
    piped(|out| {
        if json {
            writeln!(
                out,
                "{}",
                json!({"name": name, "granted": t.added, "opened": t.opened, "already_held": t.already_held, "granted_scopes": t.granted_scopes, "recorded": t.recorded})
            )?;
        } else if !t.recorded {
            writeln!(
                out,
                "{name} already holds {}; nothing changed, nothing recorded",
                t.already_held.join(", ")
            )?;
        } else if t.added.is_empty() && t.granted_scopes.is_empty() {
            writeln!(out, "{name} is enabled (it needs no scopes)")?;
        } else if t.added.is_empty() {
            writeln!(out, "{name} is enabled again; it holds: {}", t.granted_scopes.join(", "))?;
        } else {
            for p in &t.added {
                writeln!(
                    out,
                    "granted {name} {} ({}{})",
                    p.scope,
                    p.risk,
                    if p.risk == ooo_plugin::manifest::Risk::Destructive {
                        ": can destroy or publish data"
                    } else {
                        ""
                    }
                )?;
                if let Some(o) = t.opened.iter().find(|o| o.scope == p.scope) {
                    write_opens(out, "  ", &o.opens)?;
                }
            }
            writeln!(out, "{name} now holds: {}", t.granted_scopes.join(", "))?;
        }
        Ok(())
    })
}
