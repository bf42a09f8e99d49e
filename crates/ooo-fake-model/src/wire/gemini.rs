//! Gemini (`:streamGenerateContent?alt=sse` and `:generateContent`, what Gemini CLI
//! speaks): `data:` lines of `GenerateContentResponse` objects (no event names, no
//! `[DONE]`), function calls as `functionCall` parts, and Google's error shape.

use serde_json::{Value, json};

use super::{Answer, Ids, View, view};
use crate::sse;

fn part_json(part: View) -> Value {
    match part {
        View::Text(text) => json!({ "text": text }),
        View::Function { name, input } => {
            json!({ "functionCall": { "name": name, "args": input } })
        }
    }
}

fn usage(answer: &Answer) -> Value {
    let (input, output) = (answer.usage.input, answer.usage.output);
    json!({
        "promptTokenCount": input,
        "candidatesTokenCount": output,
        "totalTokenCount": input + output,
    })
}

/// One `GenerateContentResponse`; the last one of a stream carries the finish reason,
/// the usage and the model version.
fn chunk(parts: Vec<Value>, last: Option<(&Answer, &str)>) -> Value {
    let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
    let mut chunk = json!({ "candidates": [] });
    if let Some((answer, response_id)) = last {
        candidate["finishReason"] = json!("STOP");
        chunk["usageMetadata"] = usage(answer);
        chunk["modelVersion"] = json!(answer.model);
        chunk["responseId"] = json!(response_id);
    }
    chunk["candidates"] = json!([candidate]);
    chunk
}

/// Text in two pieces, each function call whole, one chunk each.
pub(super) fn stream(answer: &Answer, ids: &Ids) -> Vec<String> {
    let mut pieces: Vec<Value> = Vec::new();
    for part in answer.parts {
        match view(part) {
            View::Text(text) => {
                pieces.extend(sse::halves(text).into_iter().map(|t| json!({ "text": t })));
            }
            function => pieces.push(part_json(function)),
        }
    }
    let last = pieces.pop().unwrap_or_else(|| json!({ "text": "" }));
    let response_id = ids.make("");
    let mut chunks: Vec<Value> = pieces.into_iter().map(|p| chunk(vec![p], None)).collect();
    chunks.push(chunk(vec![last], Some((answer, &response_id))));
    chunks.iter().map(sse::data).collect()
}

pub(super) fn response(answer: &Answer, ids: &Ids) -> Value {
    let parts: Vec<Value> = answer.parts.iter().map(|p| part_json(view(p))).collect();
    chunk(parts, Some((answer, &ids.make(""))))
}

pub(super) fn error(status: u16, message: &str) -> Value {
    let code = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    json!({ "error": { "code": status, "message": message, "status": code } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Part, TokenCounts};
    use crate::wire::testing::json_events;

    fn answer(parts: &[Part]) -> Answer<'_> {
        Answer { parts, usage: TokenCounts { input: 100, output: 20 }, model: "fake-model" }
    }

    #[test]
    fn text_stream_joins_back_and_the_last_chunk_finishes() {
        let parts = [Part::Text("Hello from the fake model.".into())];
        let chunks = json_events(&stream(&answer(&parts), &Ids::new(1)));
        assert!(chunks.iter().all(|(name, _)| name.is_none()));
        let text: String = chunks
            .iter()
            .map(|(_, c)| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Hello from the fake model.");
        let last = &chunks.last().unwrap().1;
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["candidates"][0]["content"]["role"], "model");
        assert_eq!(last["usageMetadata"]["totalTokenCount"], 120);
        assert_eq!(chunks[0].1["candidates"][0].get("finishReason"), None);
    }

    #[test]
    fn function_call_is_a_part_with_args() {
        let input = json!({"file_path": "/w/hello.txt", "content": "hi\n"});
        let parts = [Part::ToolCall { name: "write_file".into(), input: input.clone() }];
        let chunks = json_events(&stream(&answer(&parts), &Ids::new(1)));
        assert_eq!(chunks.len(), 1);
        let call = &chunks[0].1["candidates"][0]["content"]["parts"][0]["functionCall"];
        assert_eq!(call["name"], "write_file");
        assert_eq!(call["args"], input);
    }

    #[test]
    fn non_streaming_response_is_one_object() {
        let parts = [Part::Text("{\"model_choice\":\"flash\"}".into())];
        let r = response(&answer(&parts), &Ids::new(1));
        assert_eq!(
            r["candidates"][0]["content"]["parts"][0]["text"],
            "{\"model_choice\":\"flash\"}"
        );
        assert_eq!(r["usageMetadata"]["promptTokenCount"], 100);
    }

    #[test]
    fn error_has_google_status() {
        assert_eq!(error(400, "bad")["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(error(401, "who")["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(error(500, "x")["error"]["code"], 500);
    }
}
