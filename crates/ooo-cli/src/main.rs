//! `ooo`: the agent OS command line.
//!
//! This file only wires things together: parse arguments ([`cli`]), run the command
//! ([`commands`]), render failures with the fix to try ([`error`], or [`json`] under
//! `--json`) and set the exit code.
//! Exit codes: 0 success; 1 failure (including a broken ledger chain); 2 usage error.

mod cli;
mod commands;
mod error;
mod json;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// `ooo --version`: the package version and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("OOO_COMMIT"), ")");

fn main() -> ExitCode {
    // Started by the sandbox as its init helper: confine and execute, never return.
    ooo_sandbox::init::dispatch_if_requested();
    let matches = cli::Cli::command().version(VERSION).get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let json = json::requested(&matches);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if json {
                json::render_error(&err)
            } else {
                error::render(&err)
            }
            ExitCode::from(err.exit_code())
        }
    }
}
