//! `ooo ledger import <export.jsonl>`: restore a ledger from an export.
//!
//! The export is read and its whole chain verified before the home is touched; the
//! events then go into the home's ledger, which must hold none, with every projection
//! registered where the binary opens it (`commands::open_ledger_in`) rebuilt from them
//! in the same transaction (so plugin trust, saved seeds, plugin runs and plugin state
//! read as they did). What does not live here: the checks on the chain
//! (`ooo_core::ledger::restore`) and storing it (`Store::restore`).

use std::fs::File;
use std::io::{self, BufReader};
use std::process::ExitCode;

use ooo_core::ledger::{Store, export, restore};

use super::super::{home, open_ledger_in};
use crate::cli::ImportArgs;
use crate::error::CliError;
use crate::output::piped;

pub fn run(args: ImportArgs) -> Result<ExitCode, CliError> {
    let (read, source) = if args.file == "-" {
        (export::read(io::stdin().lock())?, "standard input".to_owned())
    } else {
        let file = File::open(&args.file)
            .map_err(|e| CliError::new(format!("cannot read {}: {e}", args.file)))?;
        (export::read(BufReader::new(file))?, args.file.clone())
    };
    if let Some(bad) = read.bad_line {
        return Err(CliError::new(format!(
            "{source} line {}: not an exported event: {}",
            bad.line, bad.detail
        ))
        .hint("nothing was imported; an export is one JSON event per line, as `ooo ledger export` writes it"));
    }
    if read.events.is_empty() {
        return Err(CliError::new(format!("{source} holds no events: nothing to import")).hint(
            "pass an export of the whole ledger, as `ooo ledger export > ledger.jsonl` writes it",
        ));
    }
    // Check the chain before the home or the ledger is created (restore checks again).
    restore::check(&read.events)?;
    let mut store = open_ledger_in(&home()?)?;
    let imported = store.restore(&read.events)?;
    let head = store.head()?.expect("a ledger that was just restored has a head");
    piped(|out| {
        writeln!(
            out,
            "imported {imported} event(s) from {source} into {}; head seq {} hash {}",
            store.path().display(),
            head.seq,
            head.hash
        )?;
        Ok(())
    })
}
