//! `ooo plugin update <name> [--ref R] [--dry-run]`: fetch the plugin's source again and
//! install it, showing what changed (rendered as install reports are).

use std::process::ExitCode;

use super::render::{shown, write_install};
use super::session::Session;
use crate::error::CliError;

pub fn run(
    s: &mut Session,
    name: String,
    git_ref: Option<String>,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let report = s.manager.update(&mut s.ledger, &s.actor, &name, git_ref.as_deref(), dry_run)?;
    shown(json, &report, write_install)
}
