//! The fake seen from a client: each wire format over real HTTP, the script, keys, and
//! the scripted failures (cut, stall, delay), read with a raw socket client.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use common::{connect, parse, post, request_bytes, send};
use ooo_fake_model::{FakeModel, Reply};
use proptest::prelude::*;
use serde_json::{Value, json};

fn chat_body() -> Value {
    json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": []})
}

fn chat_text(events: &[Value]) -> String {
    events.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}

#[test]
fn anthropic_stream_arrives_chunked_with_named_events() {
    let fake = FakeModel::start();
    fake.push(Reply::text("Hello from the fake model."));
    let body = json!({"model": "claude-x", "stream": true, "max_tokens": 10, "messages": []});
    let response =
        send(fake.base_url(), "POST", "/v1/messages?beta=true", &[("x-api-key", "k")], Some(&body));
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let names: Vec<String> = response
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    let text: String = response
        .data_json()
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Hello from the fake model.");

    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].path.as_str(), seen[0].query.as_str()), ("/v1/messages", "beta=true"));
    assert_eq!(seen[0].header("X-API-Key"), Some("k"));
    assert_eq!(seen[0].body["model"], "claude-x");
}

#[test]
fn anthropic_without_stream_is_one_json_message() {
    let fake = FakeModel::start();
    fake.push(Reply::tool_call("Write", json!({"file_path": "a", "content": "hi"})));
    let response = post(fake.base_url(), "/v1/messages", json!({"model": "m", "messages": []}));
    let message = response.json();
    assert_eq!(message["content"][0]["type"], "tool_use");
    assert_eq!(message["stop_reason"], "tool_use");
}

#[test]
fn chat_stream_ends_with_usage_chunk_then_done() {
    let fake = FakeModel::start();
    fake.push(Reply::text("hi there").usage(7, 3).model("served-model"));
    let response = post(fake.base_url(), "/v1/chat/completions", chat_body());
    assert_eq!(response.data().last().map(String::as_str), Some("[DONE]"));
    let chunks = response.data_json();
    assert_eq!(chat_text(&chunks), "hi there");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        (usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64()),
        (Some(7), Some(3))
    );
    assert_eq!(chunks[0]["model"], "served-model");
}

#[test]
fn responses_stream_completes_for_codex() {
    let fake = FakeModel::start();
    fake.push(Reply::custom_tool_call("apply_patch", "*** Begin Patch\n*** End Patch\n"));
    let body =
        json!({"model": "gpt-5.5", "stream": true, "input": [], "tools": [{"type": "custom"}]});
    let response = post(fake.base_url(), "/v1/responses", body);
    let events = response.data_json();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["output"][0]["type"], "custom_tool_call");
    assert_eq!(last["response"]["usage"]["output_tokens"], 20);
}

#[test]
fn gemini_stream_and_router_call() {
    let fake = FakeModel::start();
    fake.on_untooled(Reply::text(r#"{"reasoning": "simple", "model_choice": "flash"}"#));
    fake.push(Reply::tool_call("write_file", json!({"file_path": "a", "content": "hi\n"})));
    let router =
        post(fake.base_url(), "/v1beta/models/flash-lite:generateContent", json!({"contents": []}));
    let routed =
        router.json()["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap().to_owned();
    assert_eq!(serde_json::from_str::<Value>(&routed).unwrap()["model_choice"], "flash");

    let body = json!({"contents": [], "tools": [{"functionDeclarations": []}]});
    let response =
        post(fake.base_url(), "/v1beta/models/gemini-x:streamGenerateContent?alt=sse", body);
    assert!(!response.text().contains("[DONE]") && !response.text().contains("event:"));
    let chunks = response.data_json();
    let call = &chunks[0]["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "write_file");
    assert_eq!(chunks.last().unwrap()["modelVersion"], "gemini-x");
    assert_eq!(fake.remaining(), 0);
}

#[test]
fn error_reply_has_status_body_shape_and_retry_after() {
    let fake = FakeModel::start();
    fake.push(Reply::error(429, "slow down").retry_after(1));
    let response = post(fake.base_url(), "/v1/chat/completions", chat_body());
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.json()["error"]["message"], "slow down");
}

#[test]
fn an_empty_script_fails_loudly() {
    let fake = FakeModel::start();
    let response = post(fake.base_url(), "/v1/messages", json!({"stream": true}));
    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"]["message"], "fake model: script exhausted");
}

#[test]
fn required_key_is_checked_on_every_route_but_the_probe() {
    let fake = FakeModel::start();
    fake.require_key("sk-test");
    fake.fallback(Reply::text("ok"));
    let body = json!({"model": "m"});
    let refused = post(fake.base_url(), "/v1/chat/completions", body.clone());
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "invalid_api_key");
    let bearer = [("authorization", "Bearer sk-test")];
    let accepted = send(fake.base_url(), "POST", "/v1/chat/completions", &bearer, Some(&body));
    assert_eq!(accepted.status, 200);
    assert_eq!(send(fake.base_url(), "HEAD", "/", &[], None).status, 200);
    assert_eq!(send(fake.base_url(), "GET", "/v1/models", &[], None).status, 401);
}

#[test]
fn probes_and_model_list_answer_without_the_script() {
    let fake = FakeModel::start();
    let head = send(fake.base_url(), "HEAD", "/", &[], None);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(send(fake.base_url(), "GET", "/", &[], None).status, 200);
    let models = send(fake.base_url(), "GET", "/v1/models", &[], None).json();
    assert_eq!(models["data"][0]["id"], "fake-model");
    assert_eq!(send(fake.base_url(), "POST", "/v2/unknown", &[], None).status, 404);
    assert_eq!(fake.requests().len(), 4);
    assert!(fake.generations().is_empty());
}

#[test]
fn keep_alive_connection_serves_requests_in_turn() {
    let fake = FakeModel::start();
    fake.push(Reply::text("one"));
    fake.push(Reply::text("two"));
    let mut stream = connect(fake.base_url());
    for expected in ["one", "two"] {
        let body = json!({"model": "m"});
        stream
            .write_all(&request_bytes("POST", "/v1/chat/completions", &[], Some(&body), false))
            .unwrap();
        let raw = read_until(&mut stream, |raw| {
            let text = String::from_utf8_lossy(raw);
            text.contains("\r\n\r\n") && text.ends_with('}')
        });
        assert_eq!(parse(&raw, false).json()["choices"][0]["message"]["content"], expected);
    }
}

#[test]
fn cut_sends_part_of_the_stream_then_closes() {
    let fake = FakeModel::start();
    fake.push(Reply::text("partial answer").cut_mid_stream());
    let response = post(fake.base_url(), "/v1/chat/completions", chat_body());
    assert_eq!(response.status, 200);
    assert!(!response.complete, "no terminating chunk");
    let text = response.text();
    assert!(!text.contains("[DONE]"));
    assert!(!text.ends_with("\n\n"), "the last event is broken: {text:?}");
    assert!(text.starts_with("data: {"));
}

#[test]
fn cut_json_answer_is_short_of_its_length() {
    let fake = FakeModel::start();
    fake.push(Reply::text("partial").cut_mid_stream());
    let response = post(fake.base_url(), "/v1/messages", json!({"model": "m"}));
    assert!(!response.complete);
    assert!(serde_json::from_slice::<Value>(&response.body).is_err());
}

#[test]
fn stall_sends_the_first_event_then_hangs_until_the_fake_is_dropped() {
    let fake = FakeModel::start();
    fake.push(Reply::text("never finished").stall());
    let mut stream = connect(fake.base_url());
    let body = json!({"model": "m", "stream": true});
    stream.write_all(&request_bytes("POST", "/v1/messages", &[], Some(&body), true)).unwrap();
    let raw = read_until(&mut stream, |raw| String::from_utf8_lossy(raw).contains("message_start"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK") && !text.contains("ping"), "{text}");

    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut more = [0u8; 64];
    let err = stream.read(&mut more).expect_err("nothing more while stalled");
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err}");

    let started = Instant::now();
    drop(fake);
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(stream.read(&mut more).unwrap_or(0), 0, "dropping the fake closes the stream");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn stall_ends_when_the_client_leaves() {
    let fake = FakeModel::start();
    fake.push(Reply::text("x").stall());
    fake.push(Reply::text("next"));
    let mut stream = connect(fake.base_url());
    let body = json!({"model": "m", "stream": true});
    stream
        .write_all(&request_bytes("POST", "/v1/chat/completions", &[], Some(&body), false))
        .unwrap();
    read_until(&mut stream, |raw| String::from_utf8_lossy(raw).contains("data: "));
    drop(stream);
    // The fake still serves others while (and after) one answer stalls.
    let response = post(fake.base_url(), "/v1/chat/completions", chat_body());
    assert_eq!(chat_text(&response.data_json()), "next");
}

#[test]
fn delay_waits_before_answering() {
    let fake = FakeModel::start();
    fake.push(Reply::text("late").delay(Duration::from_millis(300)));
    let started = Instant::now();
    let response = post(fake.base_url(), "/v1/chat/completions", chat_body());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(chat_text(&response.data_json()), "late");
}

/// Read until `done(bytes so far)` holds (or fail after the stream's read timeout).
fn read_until(stream: &mut std::net::TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&raw) {
        let n = stream.read(&mut buf).expect("more bytes");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
    raw
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any text, through HTTP chunking and SSE framing, joins back unchanged.
    #[test]
    fn any_text_round_trips_over_http(text in any::<String>()) {
        let fake = FakeModel::start();
        fake.push(Reply::text(text.clone()));
        fake.push(Reply::text(text.clone()));
        let chat = post(fake.base_url(), "/v1/chat/completions", chat_body());
        prop_assert!(chat.complete);
        prop_assert_eq!(chat_text(&chat.data_json()), text.clone());
        let gemini = post(fake.base_url(), "/v1beta/models/m:streamGenerateContent?alt=sse", json!({}));
        let joined: String = gemini
            .data_json()
            .iter()
            .map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap().to_owned())
            .collect();
        prop_assert_eq!(joined, text);
    }
}
