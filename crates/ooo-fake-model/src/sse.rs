//! Framing of server-sent events: `event:` and `data:` lines ending in a blank line.
//! Only framing: what goes into each event is the business of [`crate::wire`].

use serde_json::Value;

/// An event with a name (Anthropic, Responses API). Compact JSON never contains a raw
/// newline, so one `data:` line always carries the whole payload.
pub(crate) fn named(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// An unnamed event (Chat Completions, Gemini).
pub(crate) fn data(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The Chat Completions end marker.
pub(crate) fn done() -> String {
    "data: [DONE]\n\n".to_owned()
}

/// Split `text` in two at the character boundary nearest its middle, so every stream
/// carries at least two deltas for clients to join. Empty pieces are left out.
pub(crate) fn halves(text: &str) -> Vec<&str> {
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid += 1;
    }
    let (a, b) = text.split_at(mid);
    [a, b].into_iter().filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_keep_every_character_and_respect_boundaries() {
        assert_eq!(halves("Hello from the fake model."), ["Hello from th", "e fake model."]);
        assert_eq!(halves("é"), ["é"]);
        assert_eq!(halves("aé"), ["a", "é"]);
        assert!(halves("").is_empty());
    }

    #[test]
    fn payload_with_newlines_stays_on_one_data_line() {
        let framed = named("x", &serde_json::json!({"t": "a\nb\r\n"}));
        assert_eq!(framed.matches('\n').count(), 3, "{framed:?}");
    }
}
