//! Writing to standard output: buffered output that treats a closed
//! pipe (`ooo ledger log | head`) as a normal end rather than a crash, and the human
//! event table.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use ooo_core::ledger::{Event, LedgerError};

use crate::error::CliError;

/// Why writing output stopped: the ledger failed, or standard output did.
pub enum Failure {
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

/// Write one line to standard error; a closed stderr is ignored (never a panic).
pub fn stderr_line(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Run `body` with buffered standard output. A reader that closed the pipe ends the
/// command normally (exit 0, nothing on stderr), as `ooo ledger log | head` expects.
pub fn piped(
    body: impl FnOnce(&mut dyn Write) -> Result<(), Failure>,
) -> Result<ExitCode, CliError> {
    let mut out = BufWriter::new(io::stdout().lock());
    let result = body(&mut out).and_then(|()| out.flush().map_err(Failure::Io));
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Io(e)) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(Failure::Io(e)) => Err(e.into()),
        Err(Failure::Ledger(e)) => Err(e.into()),
    }
}

/// Longest payload shown in the human table before it is cut with `…`.
const PAYLOAD_WIDTH: usize = 60;

/// Did writing fail only because the reader went away?
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

pub const TABLE_HEADER: [&str; 6] = ["SEQ", "TIME (UTC)", "ACTOR", "AGGREGATE", "EVENT", "PAYLOAD"];

/// The cells of one table row.
pub fn table_row(e: &Event) -> [String; 6] {
    // `2026-11-25T11:37:24.123456Z` -> `2026-11-25 11:37:24`
    let time = e.occurred_at.get(..19).unwrap_or(&e.occurred_at).replacen('T', " ", 1);
    [
        e.seq.to_string(),
        time,
        e.actor.clone(),
        format!("{}:{}", e.aggregate_type, e.aggregate_id),
        e.event_type.clone(),
        truncate(&e.payload.to_string(), PAYLOAD_WIDTH),
    ]
}

/// Cut `text` to `max` characters, marking a cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The human event table. Column widths only grow, so rows printed in later batches
/// (`--follow`) line up with earlier ones; the header is printed with the first batch.
pub struct TableWriter {
    widths: [usize; 6],
    header_done: bool,
}

impl TableWriter {
    pub fn new() -> Self {
        Self { widths: TABLE_HEADER.map(|h| h.chars().count()), header_done: false }
    }

    pub fn write(&mut self, out: &mut dyn Write, events: &[Event]) -> io::Result<()> {
        let mut rows = Vec::with_capacity(events.len() + 1);
        if !self.header_done {
            rows.push(TABLE_HEADER.map(str::to_owned));
            self.header_done = true;
        }
        rows.extend(events.iter().map(table_row));
        write_table(out, &rows, &mut self.widths)
    }
}

/// Write rows as left-aligned columns separated by two spaces; the last column is not
/// padded. `widths` is widened to fit these rows.
fn write_table(
    out: &mut dyn Write,
    rows: &[[String; 6]],
    widths: &mut [usize; 6],
) -> io::Result<()> {
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_short_text_and_marks_cuts() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdefgh", 5), "abcd…");
        assert_eq!(truncate("ééééééé", 3), "éé…");
    }

    #[test]
    fn table_aligns_columns() {
        let rows = [
            ["SEQ".into(), "T".into(), "A".into(), "B".into(), "C".into(), "D".into()],
            ["10".into(), "TT".into(), "A".into(), "B".into(), "C".into(), "{}".into()],
        ];
        let mut out = Vec::new();
        let mut widths = [0; 6];
        write_table(&mut out, &rows, &mut widths).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "SEQ  T   A  B  C  D\n10   TT  A  B  C  {}\n");
        // A later, narrower batch keeps the earlier widths.
        let mut out = Vec::new();
        write_table(&mut out, &[rows[1].clone()], &mut widths).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "10   TT  A  B  C  {}\n");
    }
}
