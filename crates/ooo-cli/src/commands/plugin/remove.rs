//! `ooo plugin remove <name> [--purge]`: uninstall a plugin (and with `--purge` its
//! state), saying what stays.

use std::process::ExitCode;

use super::session::Session;
use crate::error::CliError;
use crate::output::piped;

pub fn run(s: &mut Session, name: String, purge: bool) -> Result<ExitCode, CliError> {
    let state = s.manager.state_dir(&name);
    let removed = s.manager.remove(&mut s.ledger, &s.actor, &name, purge)?;
    piped(|out| {
        if !removed {
            writeln!(out, "purged {name}'s state at {} (it was removed before)", state.display())?;
            return Ok(());
        }
        writeln!(
            out,
            "removed {name}: installed files, lockfile entry, trust and disable record (its ledger history and catalogs stay)"
        )?;
        if !purge && state.exists() {
            writeln!(
                out,
                "its state is kept at {}; delete it with `ooo plugin remove {name} --purge`",
                state.display()
            )?;
        }
        Ok(())
    })
}
