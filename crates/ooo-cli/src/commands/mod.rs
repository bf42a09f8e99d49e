//! Command implementations, one module per command group. Each returns the exit code on
//! success and a [`CliError`] on failure; nothing here parses arguments or renders errors.

mod completions;
mod config;
mod dispatch;
mod ledger;
mod plugin;
mod run;
mod runtime;
mod sandbox;
mod seed;

use std::process::ExitCode;

use ooo_core::home::Home;
use ooo_core::ledger::{SqliteStore, Store};

use crate::cli::{Cli, Command};
use crate::error::CliError;

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::External(args) => dispatch::run(args, cli.confirm),
        Command::Ledger(cmd) => ledger::run(cmd),
        Command::Seed(cmd) => seed::run(cmd),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Runtime(cmd) => runtime::run(cmd),
        Command::Config(cmd) => config::run(cmd),
        Command::Sandbox(cmd) => sandbox::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Status { execution_id, follow, json } => {
            run::status(execution_id.as_deref(), follow, json)
        }
        Command::Cancel { execution_id, json } => run::cancel(&execution_id, json),
        Command::Completions { shell } => completions::run(shell),
    }
}

/// The prepared home directory (created owner-only when missing).
pub fn home() -> Result<Home, CliError> {
    Ok(Home::prepare(Home::locate_from_env()?)?)
}

/// The home as it is, for commands that only read: nothing is created.
pub fn existing_home() -> Result<Home, CliError> {
    Ok(Home::at(Home::locate_from_env()?)?)
}

/// Open the ledger in the home for reading only: neither the home nor the ledger is
/// created, nothing is written, and a read-only copy can be read.
pub fn open_ledger_read_only() -> Result<SqliteStore, CliError> {
    Ok(SqliteStore::open_read_only(existing_home()?.ledger_db())?)
}

/// Open (creating if needed) the ledger in the home, after marking plugin invocations
/// whose `ooo` process died as abandoned.
pub fn open_ledger() -> Result<SqliteStore, CliError> {
    let home = home()?;
    let mut ledger = open_ledger_in(&home)?;
    mark_abandoned(&home, &mut ledger)?;
    Ok(ledger)
}

/// Open (creating if needed) the ledger in `home` with every projection of this binary
/// registered: the one place a writable ledger is opened, so every append folds its
/// events into every projection that reads them, and an import rebuilds them all.
pub fn open_ledger_in(home: &Home) -> Result<SqliteStore, CliError> {
    let mut ledger = SqliteStore::open(home.ledger_db())?;
    ledger.register_all(ooo_core::PROJECTIONS);
    ledger.register_all(ooo_plugin::PROJECTIONS);
    Ok(ledger)
}

/// Close invocations whose `ooo` process died (their run lock is free) as abandoned.
pub fn mark_abandoned(home: &Home, ledger: &mut SqliteStore) -> Result<(), CliError> {
    let runs = home.runs_dir();
    ooo_plugin::firewall::audit::mark_abandoned(
        ledger,
        &ooo_core::ledger::Actor::program("ooo")?,
        &runs,
    )?;
    Ok(())
}

/// The login of the person running ooo, made safe for an actor name: `$USER`, else
/// `$LOGNAME`, else the account name of our uid in /etc/passwd, else `uid-<n>`.
pub fn login() -> String {
    let raw = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(account_name);
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn account_name() -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".to_owned();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid-{uid}"))
}
