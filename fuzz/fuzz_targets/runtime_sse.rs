//! Any bytes as a server-sent event stream: `ooo_runtime::http::sse::parse` on the whole
//! and an `SseParser` fed the same bytes in arbitrary pieces must agree (the same events,
//! the same "ended inside an event", the same refusal) and never panic. The first byte
//! chooses the piece sizes; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ooo_runtime::http::sse::{EventTooLarge, SseEvent, SseParser, parse};

/// The stream cut into pieces of 1 to 16 bytes, sizes drawn from `seed`; seed 0 gives
/// one piece per byte.
fn pieces(bytes: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = if seed == 0 { 1 } else { 1 + (state >> 16) as usize % 16 };
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

fn split_parse(bytes: &[u8], seed: u8) -> Result<(Vec<SseEvent>, bool), EventTooLarge> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    // An empty push is legal and must change nothing.
    events.extend(parser.push(&[])?);
    for piece in pieces(bytes, seed) {
        events.extend(parser.push(piece)?);
    }
    Ok((events, parser.in_event()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = parse(stream);
    assert_eq!(split_parse(stream, seed), whole);
    if let Ok((events, _)) = whole {
        for e in &events {
            // Line ends never leak into a name or an id; data lines join with LF only.
            assert!(!e.event.as_deref().unwrap_or("").contains(['\r', '\n']));
            assert!(!e.id.as_deref().unwrap_or("").contains(['\r', '\n', '\0']));
            assert!(!e.data.contains('\r'));
        }
    }
});
