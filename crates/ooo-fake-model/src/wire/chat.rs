//! OpenAI Chat Completions (`POST /v1/chat/completions`, what OpenCode, Ollama, vLLM and
//! OpenRouter speak): the `data:` chunk stream ending in `[DONE]`, the non-streaming
//! completion, and the OpenAI error shape (also used by the Responses API). Nothing
//! about routing or sockets.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Answer, Ids, View, view};
use crate::sse;

fn finish_reason(answer: &Answer) -> &'static str {
    if answer.calls_tools() { "tool_calls" } else { "stop" }
}

fn usage(answer: &Answer) -> Value {
    let (input, output) = (answer.usage.input, answer.usage.output);
    json!({ "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output })
}

pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Chunks sharing one id: a role chunk, content deltas, tool call deltas (name first,
/// then the arguments in two pieces), the finish chunk, an optional usage chunk with no
/// choices, and `[DONE]`.
pub(super) fn stream(answer: &Answer, ids: &Ids, include_usage: bool) -> Vec<String> {
    let id = ids.make("chatcmpl-");
    let created = now();
    let chunk = |choices: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created,
            "model": answer.model, "choices": choices,
        })
    };
    let delta = |delta: Value| json!([{ "index": 0, "delta": delta, "finish_reason": null }]);
    let mut chunks = vec![chunk(delta(json!({ "role": "assistant", "content": "" })))];
    let mut tool_index = 0;
    for part in answer.parts {
        match view(part) {
            View::Text(text) => {
                for piece in sse::halves(text) {
                    chunks.push(chunk(delta(json!({ "content": piece }))));
                }
            }
            View::Function { name, input } => {
                let head = json!({
                    "index": tool_index, "id": ids.make("call_"), "type": "function",
                    "function": { "name": name, "arguments": "" },
                });
                chunks.push(chunk(delta(json!({ "tool_calls": [head] }))));
                for piece in sse::halves(&input.to_string()) {
                    let args = json!({ "index": tool_index, "function": { "arguments": piece } });
                    chunks.push(chunk(delta(json!({ "tool_calls": [args] }))));
                }
                tool_index += 1;
            }
        }
    }
    let finish = json!([{ "index": 0, "delta": {}, "finish_reason": finish_reason(answer) }]);
    chunks.push(chunk(finish));
    if include_usage {
        let mut usage_chunk = chunk(json!([]));
        usage_chunk["usage"] = usage(answer);
        chunks.push(usage_chunk);
    }
    let mut events: Vec<String> = chunks.iter().map(sse::data).collect();
    events.push(sse::done());
    events
}

pub(super) fn completion(answer: &Answer, ids: &Ids) -> Value {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for part in answer.parts {
        match view(part) {
            View::Text(t) => text.get_or_insert_with(String::new).push_str(t),
            View::Function { name, input } => calls.push(json!({
                "id": ids.make("call_"), "type": "function",
                "function": { "name": name, "arguments": input.to_string() },
            })),
        }
    }
    let mut message = json!({ "role": "assistant", "content": text });
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    json!({
        "id": ids.make("chatcmpl-"),
        "object": "chat.completion",
        "created": now(),
        "model": answer.model,
        "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason(answer) }],
        "usage": usage(answer),
    })
}

pub(super) fn error(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("rate_limit_error", json!("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", Value::Null),
        _ => ("server_error", Value::Null),
    };
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Part, TokenCounts};
    use crate::wire::testing::{events, json_events};

    fn answer(parts: &[Part]) -> Answer<'_> {
        Answer { parts, usage: TokenCounts { input: 100, output: 20 }, model: "gpt-x" }
    }

    #[test]
    fn text_stream_joins_back_and_ends_with_usage_then_done() {
        let parts = [Part::Text("Hello \"world\"\n".into())];
        let framed = stream(&answer(&parts), &Ids::new(1), true);
        assert_eq!(events(&framed).last().unwrap().1, "[DONE]");
        let chunks = json_events(&framed);
        assert!(chunks.iter().all(|(name, _)| name.is_none()));
        let text: String = chunks
            .iter()
            .filter_map(|(_, c)| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello \"world\"\n");
        let finish: Vec<_> =
            chunks.iter().filter_map(|(_, c)| c["choices"][0]["finish_reason"].as_str()).collect();
        assert_eq!(finish, ["stop"]);
        let last = &chunks.last().unwrap().1;
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["total_tokens"], 120);
        assert!(chunks.iter().all(|(_, c)| c["model"] == "gpt-x"));
    }

    #[test]
    fn usage_chunk_only_when_asked() {
        let parts = [Part::Text("x".into())];
        let chunks = json_events(&stream(&answer(&parts), &Ids::new(1), false));
        assert!(chunks.iter().all(|(_, c)| c.get("usage").is_none()));
    }

    #[test]
    fn tool_calls_stream_by_index_with_finish_reason_tool_calls() {
        let parts = [
            Part::ToolCall {
                name: "write".into(),
                input: json!({"filePath": "a", "content": "hi"}),
            },
            Part::ToolCall { name: "read".into(), input: json!({"filePath": "b"}) },
        ];
        let chunks = json_events(&stream(&answer(&parts), &Ids::new(1), true));
        let mut calls: Vec<(String, String, String)> = Vec::new();
        for (_, c) in &chunks {
            for call in c["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let i = call["index"].as_u64().unwrap() as usize;
                if let Some(id) = call["id"].as_str() {
                    let name = call["function"]["name"].as_str().unwrap().to_owned();
                    calls.push((id.to_owned(), name, String::new()));
                }
                calls[i].2.push_str(call["function"]["arguments"].as_str().unwrap());
            }
        }
        assert_eq!(calls.len(), 2);
        assert!(calls[0].0.starts_with("call_"));
        assert_eq!(calls[1].1, "read");
        assert_eq!(serde_json::from_str::<Value>(&calls[0].2).unwrap()["content"], "hi");
        let finish: Vec<_> =
            chunks.iter().filter_map(|(_, c)| c["choices"][0]["finish_reason"].as_str()).collect();
        assert_eq!(finish, ["tool_calls"]);
    }

    #[test]
    fn non_streaming_completion_carries_message_and_usage() {
        let parts = [Part::Text("{\"a\":1}".into())];
        let done = completion(&answer(&parts), &Ids::new(1));
        assert_eq!(done["choices"][0]["message"]["content"], "{\"a\":1}");
        assert_eq!(done["choices"][0]["finish_reason"], "stop");
        assert_eq!(done["usage"]["prompt_tokens"], 100);
        let tools = [Part::CustomToolCall { name: "apply_patch".into(), input: "p".into() }];
        let done = completion(&answer(&tools), &Ids::new(1));
        assert_eq!(done["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            done["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"input\":\"p\"}"
        );
    }

    #[test]
    fn error_shape_has_message_type_and_code() {
        let e = error(429, "slow down");
        assert_eq!(e["error"]["message"], "slow down");
        assert_eq!(e["error"]["code"], "rate_limit_exceeded");
        assert_eq!(error(503, "x")["error"]["type"], "server_error");
    }
}
