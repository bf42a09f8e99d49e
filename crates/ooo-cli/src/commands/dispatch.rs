//! `ooo <plugin-or-namespace> [command] [args...]`: hand an installed plugin's command
//! to the firewall, after every built-in command had its chance (clap matches those
//! first). Unknown names get the closest installed plugin or built-in as a suggestion.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::CommandFactory;
use ooo_core::ledger::Actor;
use ooo_plugin::firewall::{self, Outcome, Request};
use ooo_plugin::manager::Manager;

use super::plugin::reserved_names;
use super::{home, login};
use crate::cli::Cli;
use crate::error::CliError;
use crate::output::{piped, stderr_line};

fn ask(question: &str) -> Option<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return None;
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok()?;
    Some(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// The closest of `names` to `word`, when close enough to be a typo (a shared prefix,
/// or a swapped or mistyped letter).
fn closest(word: &str, names: impl IntoIterator<Item = String>) -> Option<String> {
    let score = |n: &str| {
        let (jw, edits) =
            (strsim::jaro_winkler(word, n), strsim::normalized_damerau_levenshtein(word, n));
        if jw > 0.8 || edits >= 0.6 { jw.max(edits) } else { 0.0 }
    };
    names
        .into_iter()
        .map(|n| (score(&n), n))
        .filter(|(score, _)| *score > 0.0)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// The closest built-in command, installed plugin or namespace to `word`, if any is close.
fn suggest(word: &str, manager: &Manager) -> Option<String> {
    let mut names: Vec<String> =
        Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for entry in manager.installed().unwrap_or_default() {
        if let Ok(m) = manager.installed_manifest(&entry) {
            names.push(m.namespace().to_owned());
        }
        names.push(entry.name);
    }
    closest(word, names)
}

pub fn run(args: Vec<String>, confirm: bool) -> Result<ExitCode, CliError> {
    let mut words = args.into_iter();
    let target = words.next().unwrap_or_default();
    let command = words.next();
    let rest: Vec<String> = words.collect();
    let home = home()?;
    let mut ledger = super::open_ledger_in(&home)?;
    super::mark_abandoned(&home, &mut ledger)?;
    let manager = Manager::new(home, reserved_names());
    let actor = Actor::user(&login())?;
    for name in manager.disable_first_party_collisions(&mut ledger, &Actor::program("ooo")?)? {
        stderr_line(&format!(
            "warning: plugin {name} collides with a built-in command and was disabled"
        ));
    }
    if firewall::resolve(&manager, &target)?.is_none() {
        let err =
            CliError::new(format!("{target} is neither an ooo command nor an installed plugin"))
                .code(2);
        return Err(match suggest(&target, &manager) {
            Some(s) => err.hint(format!(
                "did you mean `ooo {s}`? (`ooo --help` lists commands, `ooo plugin list` plugins)"
            )),
            None => err.hint("`ooo --help` lists commands, `ooo plugin list` installed plugins"),
        });
    }
    let workdir = std::env::current_dir()
        .map_err(|e| CliError::new(format!("cannot read the current directory: {e}")))?;
    let request = Request {
        target: target.clone(),
        command,
        args: rest,
        confirm,
        workdir,
        grace: Duration::from_secs(5),
    };
    let outcome = firewall::invoke(&manager, &mut ledger, &actor, &request, &ask)?;
    match &outcome {
        Outcome::Commands { plugin, version, commands } => {
            piped(|out| {
                writeln!(out, "{plugin} {version} commands:")?;
                for (name, summary, risk) in commands {
                    writeln!(out, "  {name:<16} {summary} [{risk}]")?;
                }
                Ok(())
            })?;
        }
        Outcome::UnknownCommand { plugin, command, available } => {
            let guess = closest(command, available.iter().cloned())
                .map(|c| format!("did you mean `ooo {target} {c}`? "))
                .unwrap_or_default();
            return Err(CliError::new(format!("{plugin} has no command {command}"))
                .hint(format!(
                    "{guess}its commands: {} (`ooo {target}` describes them)",
                    available.join(", ")
                ))
                .code(2));
        }
        Outcome::Blocked { invocation_id, message } => {
            stderr_line(&format!("blocked: {message}"));
            stderr_line(&format!(
                "(recorded as invocation {invocation_id}: `ooo ledger log --aggregate plugin_invocation:{invocation_id}`)"
            ));
        }
        Outcome::Ran { exit_code, ended, invocation_id } => {
            if *exit_code != 0 {
                stderr_line(&format!(
                    "{target}: {ended} (exit {exit_code}; invocation {invocation_id})"
                ));
            }
        }
    }
    Ok(ExitCode::from(outcome.exit_code().clamp(0, 255) as u8))
}
