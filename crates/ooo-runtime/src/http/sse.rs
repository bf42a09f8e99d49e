//! Server-sent events, parsed incrementally from bytes as they arrive: `event:`, `data:`
//! (several lines join with `\n`), `id:`, comments, and LF, CRLF or CR line ends, split
//! anywhere between reads. A pure state machine over bytes (no I/O), so it can be
//! property-tested and fuzzed. What does not live here: what the events mean (each
//! provider), reading the socket (`transport`).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name, when the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, when present.
    pub id: Option<String>,
}

/// An event grew beyond [`MAX_EVENT_BYTES`] without ending: not a stream we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge;

/// The largest event (or line) the parser buffers.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The incremental parser. Feed it with [`SseParser::push`]; at the end of the stream,
/// [`SseParser::in_event`] says whether an event was left unfinished.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous byte was a CR, so a following LF belongs to the same line end.
    after_cr: bool,
    started: bool,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    /// Bytes of the current event so far (for the size limit).
    event_bytes: usize,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse `bytes`, returning the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        let mut events = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => events.extend(self.end_line()),
                _ => {
                    self.line.push(byte);
                    self.event_bytes += 1;
                    if self.event_bytes > MAX_EVENT_BYTES {
                        return Err(EventTooLarge);
                    }
                }
            }
        }
        Ok(events)
    }

    /// Whether part of an event is buffered: at the end of a stream, it was cut short.
    pub fn in_event(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some() || self.id.is_some()
    }

    fn end_line(&mut self) -> Option<SseEvent> {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if !std::mem::replace(&mut self.started, true) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    /// A blank line: hand out the event, if it had data (events without data are
    /// dropped, as the SSE specification says).
    fn dispatch(&mut self) -> Option<SseEvent> {
        self.event_bytes = 0;
        let event = self.event.take();
        let id = self.id.take();
        let mut data = self.data.take()?;
        data.pop();
        Some(SseEvent { event, data, id })
    }
}

/// The events in a complete byte stream, and whether it ended inside an event.
pub fn parse(bytes: &[u8]) -> Result<(Vec<SseEvent>, bool), EventTooLarge> {
    let mut parser = SseParser::new();
    let events = parser.push(bytes)?;
    Ok((events, parser.in_event()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: name.map(str::to_owned), data: data.to_owned(), id: None }
    }

    #[test]
    fn named_and_unnamed_events_with_comments() {
        let (events, cut) =
            parse(b": keep-alive\nevent: ping\ndata: {\"type\":\"ping\"}\n\ndata: [DONE]\n\n")
                .unwrap();
        assert_eq!(events, [event(Some("ping"), "{\"type\":\"ping\"}"), event(None, "[DONE]")]);
        assert!(!cut);
    }

    #[test]
    fn multi_line_data_joins_with_newlines() {
        let (events, _) = parse(b"data: a\ndata:b\ndata\ndata:  c\n\n").unwrap();
        assert_eq!(events, [event(None, "a\nb\n\n c")]);
    }

    #[test]
    fn crlf_and_cr_line_ends_even_split_between_reads() {
        let mut parser = SseParser::new();
        let mut events = parser.push(b"event: x\r").unwrap();
        events.extend(parser.push(b"\ndata: 1\r\n\r").unwrap());
        events.extend(parser.push(b"\ndata: 2\r\r").unwrap());
        assert_eq!(events, [event(Some("x"), "1"), event(None, "2")]);
        assert!(!parser.in_event());
    }

    #[test]
    fn events_without_data_are_dropped_and_reset_the_name() {
        let (events, _) = parse(b"event: a\n\ndata: x\n\nid: 7\ndata:\n\n").unwrap();
        assert_eq!(events[0], event(None, "x"));
        assert_eq!(events[1], SseEvent { event: None, data: String::new(), id: Some("7".into()) });
    }

    #[test]
    fn an_unfinished_event_is_reported() {
        assert!(parse(b"data: {\"partial").unwrap().1);
        assert!(parse(b"data: complete line\n").unwrap().1, "no blank line yet");
        assert!(!parse(b"data: x\n\n").unwrap().1);
    }

    #[test]
    fn a_leading_byte_order_mark_is_ignored() {
        let (events, _) = parse("\u{feff}data: x\n\n".as_bytes()).unwrap();
        assert_eq!(events, [event(None, "x")]);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::new();
        let chunk = vec![b'a'; 1024 * 1024];
        let refused = (0..=16).map(|_| parser.push(&chunk)).any(|r| r.is_err());
        assert!(refused);
    }

    /// An event as a server could write it, with the given line end.
    fn write(e: &SseEvent, eol: &str, comment: bool) -> String {
        let mut out = String::new();
        if comment {
            out.push_str(&format!(": comment{eol}"));
        }
        if let Some(name) = &e.event {
            out.push_str(&format!("event: {name}{eol}"));
        }
        for line in e.data.split('\n') {
            out.push_str(&format!("data: {line}{eol}"));
        }
        out.push_str(eol);
        out
    }

    fn arb_event() -> impl Strategy<Value = SseEvent> {
        // Names and data lines never contain CR or LF; data may be empty or start with a space.
        let name = proptest::option::of("[^\r\n:]{1,12}");
        let data = proptest::collection::vec("[^\r\n]{0,20}", 1..4).prop_map(|l| l.join("\n"));
        (name, data).prop_map(|(event, data)| SseEvent { event, data, id: None })
    }

    proptest! {
        /// What a server writes (any line ends, comments) parses back to the same events,
        /// however the bytes are split between reads.
        #[test]
        fn written_events_parse_back(
            events in proptest::collection::vec(arb_event(), 0..6),
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            comment in any::<bool>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let text: String = events.iter().map(|e| write(e, eol, comment)).collect();
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut parser = SseParser::new();
            let mut parsed = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                parsed.extend(parser.push(&bytes[from..cut]).unwrap());
                from = cut;
            }
            prop_assert_eq!(parsed, events);
            prop_assert!(!parser.in_event());
        }

        /// Any bytes, split anywhere: no panic, and the same events as in one piece.
        #[test]
        fn arbitrary_bytes_split_anywhere_agree(bytes in proptest::collection::vec(any::<u8>(), 0..300), at in any::<usize>()) {
            let at = at % (bytes.len() + 1);
            let whole = parse(&bytes).unwrap();
            let mut parser = SseParser::new();
            let mut events = parser.push(&bytes[..at]).unwrap();
            events.extend(parser.push(&bytes[at..]).unwrap());
            prop_assert_eq!((events, parser.in_event()), whole);
        }
    }
}
