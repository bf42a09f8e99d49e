//! `ooo ledger import <export.jsonl>`: restore a ledger from an export.
//!
//! The export is read and its whole chain verified before the home is touched; the
//! events then go into the home's ledger, which must hold none, with every projection
//! this binary knows rebuilt from them in the same transaction (so plugin trust, saved
//! seeds, plugin runs and plugin state read as they did). What does not live here: the
//! checks on the chain (`ooo_core::ledger::restore`) and storing it (`Store::restore`).

use std::fs::File;
use std::io::{self, BufReader};
use std::process::ExitCode;

use ooo_core::ledger::{Projection, SqliteStore, Store, export, restore};

use super::super::home;
use crate::cli::ImportArgs;
use crate::error::CliError;
use crate::output::piped;

/// Every projection folded from ledger events by some part of this binary. A projection
/// added anywhere must be added here, or an imported ledger would lack its rows.
fn known_projections() -> [&'static dyn Projection; 4] {
    [
        &ooo_core::seed::store::SeedIndex,
        &ooo_plugin::trust::PluginProjection,
        &ooo_plugin::firewall::audit::RunsProjection,
        &ooo_core::state::StateProjection,
    ]
}

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
    let mut store = SqliteStore::open(home()?.ledger_db())?;
    let imported = store.restore(&read.events, &known_projections())?;
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
