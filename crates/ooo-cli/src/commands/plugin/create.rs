//! `ooo plugin create <name> [dir]`: scaffold a new plugin that passes test-contract.
//! The scaffold itself is `ooo_plugin::contract`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use super::reserved_names;
use crate::error::CliError;
use crate::output::piped;

pub fn run(name: String, dir: Option<PathBuf>) -> Result<ExitCode, CliError> {
    if reserved_names().contains(&name) {
        return Err(CliError::new(format!(
            "{name:?} is a built-in ooo command; pick another name"
        )));
    }
    let parent = match dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    let created =
        ooo_plugin::contract::create(&parent, &name).map_err(|e| CliError::new(e.to_string()))?;
    piped(|out| {
        writeln!(out, "created {}", created.display())?;
        writeln!(out, "check it:   ooo plugin test-contract {}", created.display())?;
        writeln!(out, "install it: ooo plugin install {name} --from {}", created.display())?;
        Ok(())
    })
}
