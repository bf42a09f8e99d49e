//! The one `--json` convention (README, "`--json`"): a list is JSON lines, one object per
//! item; anything else is one object on one line; and a command that fails under
//! `--json` prints one `{"error": {"message", "causes", "hint"}}` object on standard
//! output instead of the `error:` lines on standard error, with the same exit code.
//! Usage errors (exit 2) are reported by the argument parser before any command runs,
//! on standard error, with or without `--json`.
//!
//! What does not live here: each command's result types (they serialise themselves) and
//! the human rendering of errors (`error::render`).

use std::io::Write;

use clap::ArgMatches;
use serde_json::{Value, json};

use crate::error::CliError;

/// Did the command line ask for `--json` (on the innermost subcommand)?
pub fn requested(matches: &ArgMatches) -> bool {
    let mut current = matches;
    while let Some((_, sub)) = current.subcommand() {
        current = sub;
    }
    matches!(current.try_get_one::<bool>("json"), Ok(Some(true)))
}

/// A failure as the `--json` error object.
pub fn error(err: &CliError) -> Value {
    json!({"error": {"message": err.message, "causes": err.causes, "hint": err.hint}})
}

/// Print `err` as the `--json` error object on standard output (a closed pipe is
/// ignored: the exit code still says what happened).
pub fn render_error(err: &CliError) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", error(err));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> ArgMatches {
        crate::cli::Cli::command().try_get_matches_from(args).unwrap()
    }

    #[test]
    fn finds_json_on_the_innermost_subcommand() {
        assert!(requested(&parse(&["ooo", "plugin", "catalog", "list", "--json"])));
        assert!(requested(&parse(&["ooo", "seed", "list", "--json"])));
        assert!(!requested(&parse(&["ooo", "seed", "list"])));
        assert!(!requested(&parse(&["ooo", "config", "check"])));
    }

    #[test]
    fn an_error_keeps_message_causes_and_hint() {
        let err = CliError::new("no such seed").hint("see `ooo seed list`");
        assert_eq!(
            error(&err),
            json!({"error": {"message": "no such seed", "causes": [], "hint": "see `ooo seed list`"}})
        );
    }
}
