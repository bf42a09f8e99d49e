//! Anthropic Messages (`POST /v1/messages`): the SSE stream Claude Code reads
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`), the
//! non-streaming message, and the error shape. Nothing about routing or sockets.

use serde_json::{Value, json};

use super::{Answer, Ids, View, view};
use crate::reply::Part;
use crate::sse;

fn stop_reason(answer: &Answer) -> &'static str {
    if answer.calls_tools() { "tool_use" } else { "end_turn" }
}

fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// The message envelope; `content`, `stop_reason` and the output count vary.
fn envelope(answer: &Answer, id: &str, content: Value, stop: Value, output: u64) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage(answer.usage.input, output),
    })
}

pub(super) fn stream(answer: &Answer, ids: &Ids) -> Vec<String> {
    let start = envelope(answer, &ids.make("msg_"), json!([]), Value::Null, 1);
    let mut events = vec![
        sse::named("message_start", &json!({ "type": "message_start", "message": start })),
        sse::named("ping", &json!({ "type": "ping" })),
    ];
    for (index, part) in answer.parts.iter().enumerate() {
        events.extend(block_events(index, part, ids));
    }
    let delta = json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop_reason(answer), "stop_sequence": null },
        "usage": { "output_tokens": answer.usage.output },
    });
    events.push(sse::named("message_delta", &delta));
    events.push(sse::named("message_stop", &json!({ "type": "message_stop" })));
    events
}

/// `content_block_start`, its deltas (the text or the tool input JSON, in two pieces),
/// and `content_block_stop`.
fn block_events(index: usize, part: &Part, ids: &Ids) -> Vec<String> {
    let (block, delta_type, key, body) = match view(part) {
        View::Text(text) => {
            (json!({ "type": "text", "text": "" }), "text_delta", "text", text.to_owned())
        }
        View::Function { name, input } => (
            json!({ "type": "tool_use", "id": ids.make("toolu_"), "name": name, "input": {} }),
            "input_json_delta",
            "partial_json",
            input.to_string(),
        ),
    };
    let mut events = vec![sse::named(
        "content_block_start",
        &json!({ "type": "content_block_start", "index": index, "content_block": block }),
    )];
    for piece in sse::halves(&body) {
        let delta = json!({
            "type": "content_block_delta",
            "index": index,
            "delta": { "type": delta_type, key: piece },
        });
        events.push(sse::named("content_block_delta", &delta));
    }
    events.push(sse::named(
        "content_block_stop",
        &json!({ "type": "content_block_stop", "index": index }),
    ));
    events
}

pub(super) fn message(answer: &Answer, ids: &Ids) -> Value {
    let content: Vec<Value> = answer
        .parts
        .iter()
        .map(|part| match view(part) {
            View::Text(text) => json!({ "type": "text", "text": text }),
            View::Function { name, input } => {
                json!({ "type": "tool_use", "id": ids.make("toolu_"), "name": name, "input": input })
            }
        })
        .collect();
    let stop = json!(stop_reason(answer));
    envelope(answer, &ids.make("msg_"), json!(content), stop, answer.usage.output)
}

pub(super) fn error(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::TokenCounts;
    use crate::wire::testing::json_events;

    fn answer(parts: &[Part]) -> Answer<'_> {
        Answer { parts, usage: TokenCounts { input: 100, output: 20 }, model: "claude-x" }
    }

    /// Rebuild the message the way a client does: join deltas per block.
    fn replay(events: &[(Option<String>, Value)]) -> (Vec<Value>, Value, Value) {
        let mut blocks: Vec<Value> = Vec::new();
        let mut start = Value::Null;
        let mut delta = Value::Null;
        for (name, data) in events {
            assert_eq!(name.as_deref(), data["type"].as_str(), "event name matches its type");
            match name.as_deref() {
                Some("message_start") => start = data["message"].clone(),
                Some("content_block_start") => blocks.push(data["content_block"].clone()),
                Some("content_block_delta") => {
                    let i = data["index"].as_u64().unwrap() as usize;
                    let d = &data["delta"];
                    let (key, piece) = match d["type"].as_str().unwrap() {
                        "text_delta" => ("text", d["text"].as_str().unwrap()),
                        _ => ("partial", d["partial_json"].as_str().unwrap()),
                    };
                    let joined = format!("{}{piece}", blocks[i][key].as_str().unwrap_or(""));
                    blocks[i][key] = json!(joined);
                }
                Some("message_delta") => delta = data.clone(),
                _ => {}
            }
        }
        (blocks, start, delta)
    }

    #[test]
    fn text_stream_joins_back_with_end_turn_and_usage() {
        let parts = [Part::Text("Hello from the fake model.".into())];
        let events = json_events(&stream(&answer(&parts), &Ids::new(1)));
        assert_eq!(events.first().unwrap().0.as_deref(), Some("message_start"));
        assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"));
        let (blocks, start, delta) = replay(&events);
        assert_eq!(blocks, [json!({"type": "text", "text": "Hello from the fake model."})]);
        assert_eq!(start["model"], "claude-x");
        assert_eq!(start["usage"]["input_tokens"], 100);
        assert!(start["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 20);
    }

    #[test]
    fn tool_use_streams_input_json_and_stops_for_tool_use() {
        let input = json!({"file_path": "/w/hello.txt", "content": "hi"});
        let parts = [
            Part::Text("Writing.".into()),
            Part::ToolCall { name: "Write".into(), input: input.clone() },
        ];
        let (blocks, _, delta) = replay(&json_events(&stream(&answer(&parts), &Ids::new(1))));
        assert_eq!(blocks[1]["type"], "tool_use");
        assert_eq!(blocks[1]["name"], "Write");
        assert!(blocks[1]["id"].as_str().unwrap().starts_with("toolu_"));
        let parsed: Value = serde_json::from_str(blocks[1]["partial"].as_str().unwrap()).unwrap();
        assert_eq!(parsed, input);
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn non_streaming_message_has_blocks_and_stop_reason() {
        let parts =
            [Part::CustomToolCall { name: "apply_patch".into(), input: "*** Begin".into() }];
        let message = message(&answer(&parts), &Ids::new(1));
        assert_eq!(message["content"][0]["input"], json!({"input": "*** Begin"}));
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["usage"]["output_tokens"], 20);
    }

    #[test]
    fn error_names_the_anthropic_type() {
        assert_eq!(error(401, "no")["error"]["type"], "authentication_error");
        assert_eq!(error(529, "busy")["error"]["type"], "overloaded_error");
        assert_eq!(error(500, "x")["error"]["type"], "api_error");
    }
}
