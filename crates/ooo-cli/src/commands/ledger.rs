//! `ooo ledger log | verify | export | note`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;

use ooo_core::ledger::{
    Actor, AggregateRef, Event, EventQuery, EventType, Follower, LedgerError, NewEvent, Store,
    VerifyReport, export, timestamp,
};
use serde_json::json;

use super::{login, open_ledger};
use crate::cli::{ExportArgs, LedgerCommand, LogArgs, NoteArgs, VerifyArgs};
use crate::error::CliError;
use crate::output::{TABLE_HEADER, is_broken_pipe, table_row, write_table};

pub fn run(cmd: LedgerCommand) -> Result<ExitCode, CliError> {
    match cmd {
        LedgerCommand::Log(args) => log(args),
        LedgerCommand::Verify(args) => verify(args),
        LedgerCommand::Export(args) => export_cmd(args),
        LedgerCommand::Note(args) => note(args),
    }
}

/// Why writing a listing stopped: the ledger failed, or standard output did.
enum Failure {
    Ledger(LedgerError),
    Io(io::Error),
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Run `body`, treating a reader that closed the pipe as a normal end.
fn piped(body: impl FnOnce() -> Result<(), Failure>) -> Result<ExitCode, CliError> {
    match body() {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Io(e)) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(Failure::Io(e)) => Err(e.into()),
        Err(Failure::Ledger(e)) => Err(e.into()),
    }
}

fn log_query(args: &LogArgs) -> Result<EventQuery, CliError> {
    let mut query = EventQuery {
        from_seq: args.since,
        limit: args.limit,
        newest: args.since.is_none(),
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
    let store = open_ledger()?;
    // Pin the head first, so nothing appended meanwhile is skipped by --follow.
    let head = store.head()?.map_or(0, |h| h.seq);
    let existing = EventQuery { to_seq: Some(head), ..query.clone() };
    let stdout = io::stdout();
    piped(|| {
        let mut out = BufWriter::new(stdout.lock());
        if args.json {
            stream_json(&store, &existing, &mut out)?;
        } else {
            let events = store.query(&existing)?;
            print_events(&mut out, &events, false, true)?;
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        drop(out);
        let mut follower = Follower::new(&store, query, head);
        loop {
            let fresh = follower.wait(None)?;
            let mut out = stdout.lock();
            print_events(&mut out, &fresh, args.json, false)?;
            out.flush()?;
        }
    })
}

/// Write matching events as JSON lines without holding them all in memory.
fn stream_json(store: &dyn Store, query: &EventQuery, out: &mut impl Write) -> Result<(), Failure> {
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

fn print_events(
    out: &mut impl Write,
    events: &[Event],
    json: bool,
    header: bool,
) -> io::Result<()> {
    if json {
        return events.iter().try_for_each(|e| export::write_line(out, e));
    }
    let mut rows = Vec::with_capacity(events.len() + 1);
    if header {
        rows.push(TABLE_HEADER.map(str::to_owned));
    }
    rows.extend(events.iter().map(table_row));
    write_table(out, &rows)
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
            let store = open_ledger()?;
            let report = store.verify()?;
            (report, store.path().display().to_string())
        }
    };
    if args.json {
        println!("{}", verify_json(&report, &source));
    } else if let Some(f) = &report.fault {
        eprintln!(
            "error: ledger chain broken at seq {}: {} ({}); {} event(s) before it verified",
            f.seq,
            f.kind.as_str(),
            f.detail,
            report.verified
        );
        eprintln!(
            "hint: restore {source} from a backup or export; events from seq {} cannot be trusted",
            f.seq
        );
    } else {
        match (&report.head_seq, &report.head_hash) {
            (Some(seq), Some(hash)) => println!(
                "ok: {} event(s) verified in {source}; head seq {seq} hash {hash}",
                report.verified
            ),
            _ => println!("ok: 0 events in {source}; nothing to verify"),
        }
    }
    Ok(if report.is_intact() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn verify_json(report: &VerifyReport, source: &str) -> serde_json::Value {
    json!({
        "ok": report.is_intact(),
        "source": source,
        "verified": report.verified,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "fault": report.fault,
    })
}

fn export_cmd(args: ExportArgs) -> Result<ExitCode, CliError> {
    let store = open_ledger()?;
    let query = EventQuery { from_seq: args.since, ..Default::default() };
    let stdout = io::stdout();
    piped(|| {
        let mut out = BufWriter::new(stdout.lock());
        stream_json(&store, &query, &mut out)?;
        Ok(out.flush()?)
    })
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
    if args.json {
        let mut out = io::stdout().lock();
        piped(|| Ok(export::write_line(&mut out, &stored)?))?;
    } else {
        println!(
            "recorded note as event {} on {}:{} (hash {})",
            stored.seq, stored.aggregate_type, stored.aggregate_id, stored.hash
        );
    }
    Ok(ExitCode::SUCCESS)
}
