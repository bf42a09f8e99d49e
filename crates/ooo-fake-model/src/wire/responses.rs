//! OpenAI Responses (`POST /v1/responses`, what Codex CLI speaks): the named SSE events
//! from `response.created` to `response.completed` (which Codex requires, with usage),
//! output items for text (`message`), `function_call` and freeform `custom_tool_call`,
//! and the non-streaming response object. Errors use the Chat Completions shape.

use serde_json::{Value, json};

use super::chat::now;
use super::{Answer, Ids};
use crate::reply::Part;
use crate::sse;

/// The `response` object; `status` and `output` vary between created and completed.
fn response_object(answer: &Answer, id: &str, status: &str, output: Value) -> Value {
    let (input, out) = (answer.usage.input, answer.usage.output);
    let mut response = json!({
        "id": id, "object": "response", "created_at": now(), "status": status,
        "model": answer.model, "output": output,
    });
    if status == "completed" {
        response["usage"] = json!({
            "input_tokens": input,
            "input_tokens_details": { "cached_tokens": 0 },
            "output_tokens": out,
            "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": input + out,
        });
    }
    response
}

/// One output item, complete (`done`) or as first announced.
fn item(part: &Part, id: &str, call_id: &str, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    let full = |s: &str| if done { s.to_owned() } else { String::new() };
    match part {
        Part::Text(text) => {
            let content = if done {
                json!([{ "type": "output_text", "text": text, "annotations": [] }])
            } else {
                json!([])
            };
            json!({ "id": id, "type": "message", "status": status, "role": "assistant", "content": content })
        }
        Part::ToolCall { name, input } => json!({
            "id": id, "type": "function_call", "status": status, "name": name,
            "call_id": call_id, "arguments": full(&input.to_string()),
        }),
        Part::CustomToolCall { name, input } => json!({
            "id": id, "type": "custom_tool_call", "status": status, "name": name,
            "call_id": call_id, "input": full(input),
        }),
    }
}

/// An event before framing: its name is also its `type`.
fn event(name: &str, fields: Value) -> (String, Value) {
    let mut data = json!({ "type": name });
    if let (Some(out), Value::Object(fields)) = (data.as_object_mut(), fields) {
        out.extend(fields);
    }
    (name.to_owned(), data)
}

/// The delta events between `output_item.added` and `output_item.done`.
fn deltas(part: &Part, item_id: &str, index: usize) -> Vec<(String, Value)> {
    let (kind, whole, done_key) = match part {
        Part::Text(text) => ("response.output_text", text.clone(), "text"),
        Part::ToolCall { input, .. } => {
            ("response.function_call_arguments", input.to_string(), "arguments")
        }
        Part::CustomToolCall { input, .. } => {
            ("response.custom_tool_call_input", input.clone(), "input")
        }
    };
    let with_text_fields = |mut data: Value| {
        if matches!(part, Part::Text(_)) {
            data["content_index"] = json!(0);
            data["logprobs"] = json!([]);
        }
        data
    };
    let mut events: Vec<(String, Value)> = sse::halves(&whole)
        .into_iter()
        .map(|piece| {
            let data = json!({ "item_id": item_id, "output_index": index, "delta": piece });
            event(&format!("{kind}.delta"), with_text_fields(data))
        })
        .collect();
    let done = json!({ "item_id": item_id, "output_index": index, done_key: whole });
    events.push(event(&format!("{kind}.done"), with_text_fields(done)));
    events
}

pub(super) fn stream(answer: &Answer, ids: &Ids) -> Vec<String> {
    let id = ids.make("resp_");
    let started = response_object(answer, &id, "in_progress", json!([]));
    let mut events = vec![
        event("response.created", json!({ "response": started })),
        event("response.in_progress", json!({ "response": started })),
    ];
    let mut output = Vec::new();
    for (index, part) in answer.parts.iter().enumerate() {
        let (item_id, call_id) = item_ids(part, ids);
        let added = item(part, &item_id, &call_id, false);
        events.push(event(
            "response.output_item.added",
            json!({ "output_index": index, "item": added }),
        ));
        events.extend(deltas(part, &item_id, index));
        let done = item(part, &item_id, &call_id, true);
        events.push(event(
            "response.output_item.done",
            json!({ "output_index": index, "item": done }),
        ));
        output.push(done);
    }
    let completed = response_object(answer, &id, "completed", json!(output));
    events.push(event("response.completed", json!({ "response": completed })));
    frame_in_sequence(events)
}

/// Item ids by kind (`msg_`, `fc_`, `ctc_`) and a `call_` id for tool calls.
fn item_ids(part: &Part, ids: &Ids) -> (String, String) {
    let prefix = match part {
        Part::Text(_) => "msg_",
        Part::ToolCall { .. } => "fc_",
        Part::CustomToolCall { .. } => "ctc_",
    };
    (ids.make(prefix), ids.make("call_"))
}

/// Number the events (`sequence_number`, as the API does) and frame them.
fn frame_in_sequence(events: Vec<(String, Value)>) -> Vec<String> {
    events
        .into_iter()
        .enumerate()
        .map(|(n, (name, mut data))| {
            data["sequence_number"] = json!(n);
            sse::named(&name, &data)
        })
        .collect()
}

pub(super) fn response(answer: &Answer, ids: &Ids) -> Value {
    let output: Vec<Value> = answer
        .parts
        .iter()
        .map(|part| {
            let (item_id, call_id) = item_ids(part, ids);
            item(part, &item_id, &call_id, true)
        })
        .collect();
    response_object(answer, &ids.make("resp_"), "completed", json!(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::TokenCounts;
    use crate::wire::testing::json_events;

    fn answer(parts: &[Part]) -> Answer<'_> {
        Answer { parts, usage: TokenCounts { input: 100, output: 20 }, model: "gpt-5.5" }
    }

    #[test]
    fn text_stream_has_the_events_codex_reads_and_completes_with_usage() {
        let parts = [Part::Text("DONE: wrote file".into())];
        let events = json_events(&stream(&answer(&parts), &Ids::new(1)));
        let names: Vec<_> = events.iter().map(|(n, _)| n.clone().unwrap()).collect();
        for required in [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_text.delta",
            "response.output_item.done",
            "response.completed",
        ] {
            assert!(names.iter().any(|n| n == required), "{required} missing from {names:?}");
        }
        assert_eq!(names.last().unwrap(), "response.completed");
        for (n, (name, data)) in events.iter().enumerate() {
            assert_eq!(data["type"].as_str(), name.as_deref());
            assert_eq!(data["sequence_number"], n);
        }
        let text: String = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert_eq!(text, "DONE: wrote file");
        let completed = &events.last().unwrap().1["response"];
        assert_eq!(completed["usage"]["total_tokens"], 120);
        assert!(completed["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(completed["output"][0]["content"][0]["text"], "DONE: wrote file");
    }

    #[test]
    fn function_and_custom_tool_calls_are_output_items() {
        let parts = [
            Part::ToolCall { name: "exec_command".into(), input: json!({"cmd": "ls"}) },
            Part::CustomToolCall { name: "apply_patch".into(), input: "*** Begin Patch\n".into() },
        ];
        let events = json_events(&stream(&answer(&parts), &Ids::new(1)));
        let done: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("response.output_item.done"))
            .map(|(_, d)| &d["item"])
            .collect();
        assert_eq!(done[0]["type"], "function_call");
        assert_eq!(done[0]["arguments"], "{\"cmd\":\"ls\"}");
        assert!(done[0]["call_id"].as_str().unwrap().starts_with("call_"));
        assert_eq!(done[1]["type"], "custom_tool_call");
        assert_eq!(done[1]["input"], "*** Begin Patch\n");
        assert_eq!(done[1]["name"], "apply_patch");
    }

    #[test]
    fn non_streaming_response_is_the_completed_object() {
        let parts = [Part::Text("hi".into())];
        let r = response(&answer(&parts), &Ids::new(1));
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["output"][0]["content"][0]["text"], "hi");
        assert_eq!(r["usage"]["input_tokens"], 100);
    }
}
