//! `ooo plugin ...`: one module per verb, rendered for people and for `--json`; the
//! lifecycle verbs share one set-up ([`session::Session`]) and the renderers in
//! [`render`]. The work itself is `ooo_plugin`'s.

use std::process::ExitCode;

use clap::CommandFactory;

mod add;
mod catalog;
mod create;
mod digest;
mod disable;
mod inspect;
mod install;
mod list;
mod log;
mod remove;
mod render;
mod session;
mod test_contract;
mod trust;
mod update;
mod validate;
mod verify;

use crate::cli::{Cli, PluginCommand};
use crate::error::CliError;
use session::Session;

/// Names upstream's CLI owns; a plugin taking one would be unreachable there.
const UPSTREAM_BUILTINS: &[&str] = &[
    "auto",
    "init",
    "interview",
    "seed",
    "run",
    "config",
    "status",
    "cancel",
    "codex",
    "mcp",
    "setup",
    "detect",
    "tui",
    "pm",
    "plugin",
    "resume",
    "uninstall",
    "help",
    "version",
    "monitor",
    "job",
    "artifacts",
    "harness",
    "cleanup",
    "doctor",
    "qa",
    "update",
    "workflow-ir",
    "zcode",
    "dispatch",
];

/// Every name a plugin may not take: our real command tree (with aliases) plus upstream's.
pub fn reserved_names() -> Vec<String> {
    let cli = Cli::command();
    let mut names: Vec<String> = cli
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_owned()).chain(c.get_all_aliases().map(str::to_owned))
        })
        .collect();
    names.push("help".into());
    names.extend(UPSTREAM_BUILTINS.iter().map(|s| s.to_string()));
    names.sort();
    names.dedup();
    names
}

pub fn run(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Digest { dir } => digest::run(&dir),
        PluginCommand::Validate { path, json } => validate::run(&path, json),
        PluginCommand::Create { name, dir } => create::run(name, dir),
        PluginCommand::TestContract { dir, json } => test_contract::run(dir, json),
        lifecycle => {
            let mut s = Session::open()?;
            match lifecycle {
                PluginCommand::Add { source, plugins, git_ref, force } => {
                    add::run(&mut s, source, plugins, git_ref, force)
                }
                PluginCommand::Install { name, from, git_ref, force, json } => {
                    install::run(&mut s, name, from, git_ref, force, json)
                }
                PluginCommand::List { json } => list::run(&mut s, json),
                PluginCommand::Inspect { name, json } => inspect::run(&mut s, name, json),
                PluginCommand::Trust { name, scopes, json } => {
                    trust::run(&mut s, name, scopes, json)
                }
                PluginCommand::Disable { name } => disable::run(&mut s, name),
                PluginCommand::Remove { name, purge } => remove::run(&mut s, name, purge),
                PluginCommand::Catalog(cmd) => catalog::run(&s.manager, cmd),
                PluginCommand::Search { word, json } => catalog::search(&s.manager, &word, json),
                PluginCommand::Update { name, git_ref, dry_run, json } => {
                    update::run(&mut s, name, git_ref, dry_run, json)
                }
                PluginCommand::Verify { name, json } => verify::run(&mut s, name, json),
                PluginCommand::Log { name, json } => log::run(&mut s, name, json),
                PluginCommand::Digest { .. }
                | PluginCommand::Validate { .. }
                | PluginCommand::Create { .. }
                | PluginCommand::TestContract { .. } => unreachable!("handled above"),
            }
        }
    }
}
