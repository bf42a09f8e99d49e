//! `ooo plugin add <source> [--plugin NAME]...`: register a catalog, and install the
//! plugins named (or chosen on a terminal). Registering and installing are
//! `ooo_plugin::manager`'s; other verbs live in their own modules.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use super::render::write_install;
use super::session::{Session, replace_policy};
use crate::error::CliError;
use crate::output::{piped, stderr_line};

pub fn run(
    s: &mut Session,
    source: String,
    plugins: Vec<String>,
    git_ref: Option<String>,
    force: bool,
) -> Result<ExitCode, CliError> {
    s.manager.replace = replace_policy(force);
    let (entry, scan) = s.manager.add(&source, git_ref.as_deref())?;
    for (dir, why) in &scan.skipped {
        stderr_line(&format!("skipped {}: {why}", dir.display()));
    }
    let interactive =
        plugins.is_empty() && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let plugins = if interactive { choose(&entry.plugins)? } else { plugins };
    let mut reports = Vec::new();
    for name in &plugins {
        if !entry.plugins.contains(name) {
            return Err(CliError::new(format!(
                "{name} is not in {source} (it offers: {})",
                entry.plugins.join(", ")
            )));
        }
        reports.push(s.manager.install(
            &mut s.ledger,
            &s.actor,
            name,
            Some(&source),
            git_ref.as_deref(),
        )?);
    }
    piped(|out| {
        writeln!(
            out,
            "registered catalog {} ({}): {}",
            entry.location,
            entry.kind,
            entry.plugins.join(", ")
        )?;
        for r in &reports {
            write_install(out, r)?;
        }
        if plugins.is_empty() {
            writeln!(out, "install one with: ooo plugin install <name>")?;
        }
        Ok(())
    })
}

/// Ask on the terminal which of `offered` to install: numbers or names, comma or space
/// separated; an empty answer installs nothing.
fn choose(offered: &[String]) -> Result<Vec<String>, CliError> {
    for (i, name) in offered.iter().enumerate() {
        stderr_line(&format!("  {}) {name}", i + 1));
    }
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "install which? (numbers or names, empty for none): ");
        let _ = err.flush();
    }
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let mut chosen = Vec::new();
    for word in answer.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let name = match word.parse::<usize>() {
            Ok(n) if (1..=offered.len()).contains(&n) => offered[n - 1].clone(),
            _ if offered.iter().any(|o| o == word) => word.to_owned(),
            _ => return Err(CliError::new(format!("{word:?} is not one of the offered plugins"))),
        };
        if !chosen.contains(&name) {
            chosen.push(name);
        }
    }
    Ok(chosen)
}
