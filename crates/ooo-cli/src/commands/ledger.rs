//! `ooo ledger log | verify | export | note | import`.
//!
//! `log`, `verify` and `export` only read: they open the ledger read-only and never
//! create the home or the database (an auditor may point them at a read-only copy).
//! `note` and `import` write. Restoring from an export lives in `import`.

mod import;

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::process::ExitCode;

use ooo_core::ledger::{
    Actor, AggregateRef, EventQuery, EventType, Follower, NewEvent, Store, VerifyReport, export,
    timestamp,
};
use serde_json::json;

use super::{login, open_ledger, open_ledger_read_only};
use crate::cli::{ExportArgs, LedgerCommand, LogArgs, NoteArgs, VerifyArgs};
use crate::error::CliError;
use crate::output::{Failure, TableWriter, piped, stderr_line};

pub fn run(cmd: LedgerCommand) -> Result<ExitCode, CliError> {
    match cmd {
        LedgerCommand::Log(args) => log(args),
        LedgerCommand::Verify(args) => verify(args),
        LedgerCommand::Export(args) => export_cmd(args),
        LedgerCommand::Note(args) => note(args),
        LedgerCommand::Import(args) => import::run(args),
    }
}

fn log_query(args: &LogArgs) -> Result<EventQuery, CliError> {
    // A limit counts from a start when one is given (--since, --after), else back from
    // the newest event.
    let mut query = EventQuery {
        from_seq: args.since,
        limit: args.limit,
        newest: args.since.is_none() && args.after.is_none(),
        ..Default::default()
    };
    if let Some(agg) = &args.aggregate {
        match agg.split_once(':') {
            Some(_) => {
                let parsed = AggregateRef::parse(agg)?;
                query.aggregate_type = Some(parsed.kind().to_owned());
                query.aggregate_id = Some(parsed.id().to_owned());
            }
            None => query.aggregate_type = Some(agg.clone()),
        }
    }
    if let Some(prefix) = &args.event_type {
        query.event_type_prefix = Some(prefix.clone());
    }
    if let Some(t) = &args.after {
        query.occurred_from = Some(timestamp::normalize(t)?);
    }
    if let Some(t) = &args.before {
        query.occurred_before = Some(timestamp::normalize(t)?);
    }
    Ok(query)
}

fn log(args: LogArgs) -> Result<ExitCode, CliError> {
    let query = log_query(&args)?;
    let store = open_ledger_read_only()?;
    // Pin the head first, so nothing appended meanwhile is skipped by --follow.
    let head = store.head()?.map_or(0, |h| h.seq);
    let existing = EventQuery { to_seq: Some(head), ..query.clone() };
    let mut table = TableWriter::new();
    piped(|out| {
        if args.json {
            stream_json(&store, &existing, out)?;
        } else {
            table.write(out, &store.query(&existing)?)?;
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        let mut follower = Follower::new(&store, query, head);
        loop {
            let fresh = follower.wait(None)?;
            if args.json {
                fresh.iter().try_for_each(|e| export::write_line(out, e))?;
            } else {
                table.write(out, &fresh)?;
            }
            out.flush()?;
        }
    })
}

/// Write matching events as JSON lines without holding them all in memory.
fn stream_json(store: &dyn Store, query: &EventQuery, out: &mut dyn Write) -> Result<(), Failure> {
    let mut write_error = None;
    store.scan(query, &mut |event| match export::write_line(out, &event) {
        Ok(()) => true,
        Err(e) => {
            write_error = Some(e);
            false
        }
    })?;
    write_error.map_or(Ok(()), |e| Err(e.into()))
}

fn verify(args: VerifyArgs) -> Result<ExitCode, CliError> {
    let (report, source) = match &args.file {
        Some(path) if path == "-" => {
            (export::verify(io::stdin().lock())?, "standard input".to_owned())
        }
        Some(path) => {
            let file =
                File::open(path).map_err(|e| CliError::new(format!("cannot read {path}: {e}")))?;
            (export::verify(BufReader::new(file))?, path.clone())
        }
        None => {
            let store = open_ledger_read_only()?;
            let report = store.verify()?;
            (report, store.path().display().to_string())
        }
    };
    if args.file.is_some() && report.verified == 0 && report.is_intact() {
        return Err(CliError::new(format!("{source} holds no events: nothing was verified"))
            .hint("an export is one JSON event per line, as `ooo ledger export` writes it; check that you passed the right file"));
    }
    let segment = if report.first_seq > 1 {
        format!(" (a segment from seq {}, its first prev_hash taken on trust)", report.first_seq)
    } else {
        String::new()
    };
    piped(|out| {
        if args.json {
            writeln!(out, "{}", verify_json(&report, &source))?;
        } else if let Some(f) = &report.fault {
            stderr_line(&format!(
                "error: ledger chain broken at seq {}: {} ({}); {} event(s) before it verified{segment}",
                f.seq,
                f.kind.as_str(),
                f.detail,
                report.verified
            ));
            stderr_line(&format!(
                "hint: restore {source} from a backup or export; events from seq {} on cannot be trusted",
                f.seq
            ));
        } else if let (Some(seq), Some(hash)) = (&report.head_seq, &report.head_hash) {
            writeln!(
                out,
                "ok: {} event(s) verified in {source}{segment}; head seq {seq} hash {hash}",
                report.verified
            )?;
        } else {
            writeln!(out, "ok: 0 events in {source}; nothing to verify")?;
        }
        Ok(())
    })?;
    Ok(if report.is_intact() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn verify_json(report: &VerifyReport, source: &str) -> serde_json::Value {
    json!({
        "ok": report.is_intact(),
        "source": source,
        "first_seq": report.first_seq,
        "verified": report.verified,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "fault": report.fault,
    })
}

fn export_cmd(args: ExportArgs) -> Result<ExitCode, CliError> {
    let store = open_ledger_read_only()?;
    let query = EventQuery { from_seq: args.since, ..Default::default() };
    piped(|out| stream_json(&store, &query, out))
}

fn note(args: NoteArgs) -> Result<ExitCode, CliError> {
    let text = args.text.trim();
    if text.is_empty() {
        return Err(
            CliError::new("the note is empty").hint("ooo ledger note \"what you observed\"")
        );
    }
    let aggregate = match &args.aggregate {
        Some(a) => AggregateRef::parse(a).map_err(|e| {
            CliError::new(e.to_string()).hint("use TYPE:ID, for example --aggregate seed:abc123")
        })?,
        None => AggregateRef::new("note", &ulid::Ulid::new().to_string())?,
    };
    let event = NewEvent::new(
        aggregate,
        EventType::parse("note.recorded")?,
        Actor::user(&login())?,
        json!({ "text": text }),
    )?;
    let mut store = open_ledger()?;
    let stored = store.append_one(event)?;
    piped(|out| {
        if args.json {
            export::write_line(out, &stored)?;
        } else {
            writeln!(
                out,
                "recorded note as event {} on {}:{} (hash {})",
                stored.seq, stored.aggregate_type, stored.aggregate_id, stored.hash
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
