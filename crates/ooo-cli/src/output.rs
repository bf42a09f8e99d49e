//! Writing to standard output: the human event table, and treating a closed
//! pipe (`ooo ledger log | head`) as a normal end rather than a crash.

use std::io::{self, Write};

use ooo_core::ledger::Event;

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

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Write rows as left-aligned columns separated by two spaces; the last column is not padded.
pub fn write_table(out: &mut impl Write, rows: &[[String; 6]]) -> io::Result<()> {
    let mut widths = [0usize; 6];
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
        write_table(&mut out, &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "SEQ  T   A  B  C  D\n10   TT  A  B  C  {}\n");
    }
}
