//! `ooo`: the agent OS command line.
//!
//! This file only wires things together: parse arguments ([`cli`]), run the command
//! ([`commands`]), render failures with the fix to try ([`error`]) and set the exit code.
//! Exit codes: 0 success; 1 failure (including a broken ledger chain); 2 usage error.

mod cli;
mod commands;
mod error;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            error::render(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
