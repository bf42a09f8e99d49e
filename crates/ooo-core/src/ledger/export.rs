//! The export format: one event per line as a JSON object with the fields of [`Event`]
//! (`seq, id, aggregate_type, aggregate_id, event_type, payload, occurred_at, actor,
//! prev_hash, hash`), oldest first. Anyone holding an export can re-verify it with the
//! canonical form in `canonical`; `ooo ledger verify --file` does exactly that.
//!
//! Exports are untrusted input when read back: every line is checked and a bad line is
//! reported with its number, never a panic.

use std::io::{self, BufRead, Write};

use super::Event;
use super::chain::{Fault, FaultKind, VerifyReport, verify_events};

/// Longest line accepted when reading an export (a 1 MiB payload plus the envelope).
pub const MAX_LINE_BYTES: usize = 2 * 1024 * 1024;

/// Write one event as an export line.
pub fn write_line(out: &mut (impl Write + ?Sized), event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

/// A line of an export that is not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    pub detail: String,
}

/// Parse one export line.
pub fn parse_line(text: &str) -> Result<Event, String> {
    if text.len() > MAX_LINE_BYTES {
        return Err(format!("line is over {MAX_LINE_BYTES} bytes"));
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// What [`read`] found: the events before the first bad line, and that line if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadExport {
    pub events: Vec<Event>,
    pub bad_line: Option<BadLine>,
}

/// Read a whole export. Blank lines are skipped. Stops at the first bad line; a line
/// longer than [`MAX_LINE_BYTES`] is refused without being held in memory whole.
pub fn read(mut input: impl BufRead) -> io::Result<ReadExport> {
    let mut events = Vec::new();
    let stop =
        |events, line, detail| Ok(ReadExport { events, bad_line: Some(BadLine { line, detail }) });
    let mut buf = Vec::new();
    for line_no in 1u64.. {
        buf.clear();
        let read =
            io::Read::take(&mut input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        if buf.len() > MAX_LINE_BYTES {
            return stop(events, line_no, format!("line is over {MAX_LINE_BYTES} bytes"));
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            return stop(events, line_no, "not UTF-8".into());
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        match parse_line(text) {
            Ok(event) => events.push(event),
            Err(detail) => return stop(events, line_no, detail),
        }
    }
    Ok(ReadExport { events, bad_line: None })
}

/// Read and verify an export. A line that does not parse is a `malformed` fault at the
/// sequence number that was expected there.
pub fn verify(input: impl BufRead) -> io::Result<VerifyReport> {
    let ReadExport { events, bad_line } = read(input)?;
    let report = verify_events(&events);
    Ok(match bad_line {
        Some(bad) if report.fault.is_none() => {
            let seq = report.head_seq.map_or(report.first_seq, |s| s.saturating_add(1));
            let detail = format!("line {}: {}", bad.line, bad.detail);
            VerifyReport {
                fault: Some(Fault { seq, kind: FaultKind::Malformed, detail }),
                ..report
            }
        }
        _ => report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::test_chain;
    use proptest::prelude::*;
    use serde_json::json;

    fn chain(payloads: &[String]) -> Vec<Event> {
        test_chain(payloads.iter().enumerate().map(|(i, t)| json!({ "text": t, "n": i })))
    }

    fn export(events: &[Event]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in events {
            write_line(&mut out, e).unwrap();
        }
        out
    }

    #[test]
    fn bad_line_is_reported_with_its_number() {
        let mut bytes = export(&chain(&["a".into(), "b".into()]));
        bytes.extend_from_slice(b"{\"seq\": \"three\"}\n");
        let report = verify(&bytes[..]).unwrap();
        let fault = report.fault.unwrap();
        assert_eq!((fault.seq, fault.kind), (3, FaultKind::Malformed));
        assert!(fault.detail.starts_with("line 3:"), "{}", fault.detail);
        assert_eq!(report.verified, 2);
    }

    #[test]
    fn overlong_line_is_refused() {
        let mut bytes = vec![b'x'; MAX_LINE_BYTES + 10];
        bytes.push(b'\n');
        let r = read(&bytes[..]).unwrap();
        assert_eq!(r.bad_line.unwrap().line, 1);
    }

    proptest! {
        #[test]
        fn exports_round_trip_and_verify(texts in prop::collection::vec("[a-zA-Z0-9 é✓]{0,40}", 1..20)) {
            let events = chain(&texts);
            let bytes = export(&events);
            let back = read(&bytes[..]).unwrap();
            prop_assert!(back.bad_line.is_none());
            let back = back.events;
            prop_assert_eq!(&back, &events);
            prop_assert!(verify(&bytes[..]).unwrap().is_intact());
        }

        #[test]
        fn any_changed_byte_is_detected(
            texts in prop::collection::vec("[a-zA-Z0-9 ]{0,20}", 1..8),
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = export(&chain(&texts));
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte && bytes[i] != b'\n' && byte != b'\n');
            bytes[i] = byte;
            let report = verify(&bytes[..]).unwrap();
            prop_assert!(!report.is_intact(), "mutation at {} to {:?} went unnoticed", i, byte as char);
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = verify(&bytes[..]).unwrap();
        }

        #[test]
        fn arbitrary_json_lines_never_panic(lines in prop::collection::vec(
            prop_oneof![
                Just("{}".to_string()),
                "\\{\"seq\":[0-9]{1,20}\\}",
                "[ -~]{0,80}",
            ], 0..10)) {
            let text = lines.join("\n");
            let _ = verify(text.as_bytes()).unwrap();
        }
    }
}
