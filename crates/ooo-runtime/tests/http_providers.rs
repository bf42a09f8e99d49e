//! The HTTP providers (Anthropic Messages, OpenAI-compatible Chat Completions) against
//! the loopback fake model: streamed text with usage and the answering model,
//! structured output (native and by instructions, and a mismatch), retries on 429 and
//! 5xx, clear errors with hints, a stream cut mid-event, a stall, and a server that is
//! not there. Only 127.0.0.1 is ever contacted; keys come from an injected environment.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ooo_core::runtime::{
    Completion, CompletionOutput, CompletionRequest, LlmProvider, Message, RuntimeError,
    RuntimeErrorKind, StructuredOutput,
};
use ooo_fake_model::{FakeModel, Recorded, Reply};
use ooo_runtime::env::EnvMap;
use ooo_runtime::http::{
    AnthropicProvider, HttpProviderSettings, JsonMode, OpenAiCompatibleProvider, RetryPolicy,
};
use serde_json::{Value, json};

const KEY_VAR: &str = "OOO_TEST_MODEL_KEY";
const KEY: &str = "sk-test-0123456789abcdef";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
        jitter: false,
    }
}

fn settings(base_url: String) -> HttpProviderSettings {
    HttpProviderSettings::new(base_url, "fake-model")
        .with_key_env(KEY_VAR)
        .with_retry(fast_retry())
        .with_timeout(Duration::from_secs(30))
}

fn caller_env() -> EnvMap {
    EnvMap::from([(KEY_VAR.to_owned(), KEY.to_owned())])
}

fn anthropic(fake: &FakeModel) -> AnthropicProvider {
    AnthropicProvider::new(settings(fake.base_url().to_owned())).with_caller_env(caller_env())
}

fn openai(fake: &FakeModel) -> OpenAiCompatibleProvider {
    OpenAiCompatibleProvider::new(settings(format!("{}/v1", fake.base_url())))
        .with_caller_env(caller_env())
}

/// Both providers, pointed at `fake`.
fn providers(fake: &FakeModel) -> Vec<Box<dyn LlmProvider>> {
    vec![Box::new(anthropic(fake)), Box::new(openai(fake))]
}

fn ask(text: &str) -> CompletionRequest {
    CompletionRequest::new(vec![Message::system("You are terse."), Message::user(text)])
}

fn ask_json() -> CompletionRequest {
    let mut request = ask("How many?");
    request.structured = Some(StructuredOutput {
        name: "count".into(),
        schema: json!({
            "type": "object",
            "properties": { "n": { "type": "integer" } },
            "required": ["n"],
            "additionalProperties": false,
        }),
    });
    request
}

fn text(completion: &Completion) -> &str {
    match &completion.output {
        CompletionOutput::Text(text) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

fn json_output(completion: &Completion) -> &Value {
    match &completion.output {
        CompletionOutput::Json(value) => value,
        other => panic!("expected JSON, got {other:?}"),
    }
}

fn failure(provider: &dyn LlmProvider, request: &CompletionRequest) -> RuntimeError {
    match provider.complete(request) {
        Ok(done) => panic!("{} answered {done:?}", provider.name()),
        Err(error) => error,
    }
}

fn last_generation(fake: &FakeModel) -> Recorded {
    fake.generations().pop().expect("a generation request")
}

#[test]
fn anthropic_streams_text_with_usage_and_the_answering_model() {
    let fake = FakeModel::start();
    fake.require_key(KEY);
    fake.push(Reply::text("Hello from the fake model.").usage(11, 7).model("claude-served"));
    let done = anthropic(&fake).complete(&ask("hi")).unwrap();
    assert_eq!(text(&done), "Hello from the fake model.");
    assert_eq!(done.raw_text, "Hello from the fake model.");
    assert_eq!((done.usage.input_tokens, done.usage.output_tokens), (11, 7));
    assert_eq!(done.model, "claude-served");

    let sent = last_generation(&fake);
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.body["system"], "You are terse.");
    assert_eq!(sent.body["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(
        (sent.body["stream"].clone(), sent.body["model"].clone()),
        (json!(true), json!("fake-model"))
    );
}

#[test]
fn openai_compatible_streams_text_with_usage_and_the_answering_model() {
    let fake = FakeModel::start();
    fake.require_key(KEY);
    fake.push(Reply::text("Bonjour, monde \"ünïcode\"\n").usage(5, 3).model("gpt-served"));
    let mut request = ask("hi");
    request.model = Some("asked-model".into());
    let done = openai(&fake).complete(&request).unwrap();
    assert_eq!(text(&done), "Bonjour, monde \"ünïcode\"\n");
    assert_eq!((done.usage.input_tokens, done.usage.output_tokens), (5, 3));
    assert_eq!(done.model, "gpt-served");

    let sent = last_generation(&fake);
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(sent.body["model"], "asked-model");
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert_eq!(sent.body["messages"][0], json!({"role": "system", "content": "You are terse."}));
}

#[test]
fn a_local_server_without_a_key_gets_no_authorization() {
    let fake = FakeModel::start();
    fake.push(Reply::text("local"));
    let local = HttpProviderSettings::new(format!("{}/v1", fake.base_url()), "llama");
    let done =
        OpenAiCompatibleProvider::new(local).with_name("ollama").complete(&ask("hi")).unwrap();
    assert_eq!(text(&done), "local");
    assert_eq!(last_generation(&fake).header("authorization"), None);
}

#[test]
fn anthropic_structured_output_comes_from_a_forced_tool() {
    let fake = FakeModel::start();
    fake.push(Reply::tool_call("count", json!({"n": 3})));
    let done = anthropic(&fake).complete(&ask_json()).unwrap();
    assert_eq!(json_output(&done), &json!({"n": 3}));
    assert_eq!(done.raw_text, "{\"n\":3}");
    let sent = last_generation(&fake);
    assert_eq!(sent.body["tool_choice"], json!({"type": "tool", "name": "count"}));
    assert_eq!(sent.body["tools"][0]["input_schema"]["required"], json!(["n"]));
}

#[test]
fn openai_structured_output_uses_json_schema_response_format() {
    let fake = FakeModel::start();
    fake.push(Reply::text("{\"n\": 3}"));
    let done = openai(&fake).complete(&ask_json()).unwrap();
    assert_eq!(json_output(&done), &json!({"n": 3}));
    let format = &last_generation(&fake).body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "count");
    assert_eq!(format["json_schema"]["strict"], true);
}

#[test]
fn structured_output_falls_back_to_instructions_and_extraction() {
    let fake = FakeModel::start();
    fake.push(Reply::text("Sure! Here it is:\n```json\n{\"n\": 4}\n```\nAnything else?"));
    let provider = openai(&fake).with_json_mode(JsonMode::Instructions);
    let done = provider.complete(&ask_json()).unwrap();
    assert_eq!(json_output(&done), &json!({"n": 4}));
    let sent = last_generation(&fake);
    assert!(sent.body.get("response_format").is_none());
    let user = sent.body["messages"][1]["content"].as_str().unwrap();
    assert!(user.starts_with("How many?") && user.contains("JSON Schema"), "{user}");
}

#[test]
fn a_server_refusing_response_format_is_asked_again_by_instruction() {
    let fake = FakeModel::start();
    fake.push(Reply::error(400, "'response_format' of type 'json_schema' is not supported"));
    fake.push(Reply::text("{\"n\": 5}"));
    let done = openai(&fake).complete(&ask_json()).unwrap();
    assert_eq!(json_output(&done), &json!({"n": 5}));
    let sent = fake.generations();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].body.get("response_format").is_some());
    assert!(sent[1].body.get("response_format").is_none());
    // Any other 400 is the caller's error, not retried.
    fake.push(Reply::error(400, "messages: too long"));
    let err = failure(&openai(&fake), &ask_json());
    assert_eq!(err.kind, RuntimeErrorKind::BadRequest);
    assert_eq!(fake.generations().len(), 3);
}

#[test]
fn json_that_does_not_match_the_schema_is_a_schema_mismatch() {
    let fake = FakeModel::start();
    fake.push(Reply::tool_call("count", json!({"n": "three"})));
    fake.push(Reply::text("{\"n\": \"three\"}"));
    for provider in providers(&fake) {
        let err = failure(provider.as_ref(), &ask_json());
        assert_eq!(err.kind, RuntimeErrorKind::SchemaMismatch, "{}: {err:?}", provider.name());
        assert!(err.message.contains("/n"), "{}: {}", provider.name(), err.message);
    }
}

#[test]
fn rate_limit_with_retry_after_is_waited_out_then_succeeds() {
    let fake = FakeModel::start();
    for provider in providers(&fake) {
        fake.push(Reply::error(429, "slow down").retry_after(1));
        fake.push(Reply::text("after the wait"));
        let before = fake.generations().len();
        let started = Instant::now();
        let done = provider.complete(&ask("hi")).unwrap();
        let waited = started.elapsed();
        assert_eq!(text(&done), "after the wait", "{}", provider.name());
        assert!(
            waited >= Duration::from_secs(1),
            "{}: Retry-After honoured, waited {waited:?}",
            provider.name()
        );
        assert!(waited < Duration::from_secs(20), "{}: waited {waited:?}", provider.name());
        assert_eq!(fake.generations().len() - before, 2);
    }
}

#[test]
fn server_errors_are_retried_until_success() {
    let fake = FakeModel::start();
    for provider in providers(&fake) {
        fake.push(Reply::error(500, "boom"));
        fake.push(Reply::error(503, "busy"));
        fake.push(Reply::text("third time"));
        assert_eq!(
            text(&provider.complete(&ask("hi")).unwrap()),
            "third time",
            "{}",
            provider.name()
        );
    }
    assert_eq!(fake.generations().len(), 6);
}

#[test]
fn server_errors_past_the_last_attempt_are_unavailable() {
    let fake = FakeModel::start();
    fake.fallback(Reply::error(529, "Overloaded"));
    for provider in providers(&fake) {
        let err = failure(provider.as_ref(), &ask("hi"));
        assert_eq!(
            (err.kind, err.status),
            (RuntimeErrorKind::Unavailable, Some(529)),
            "{}",
            provider.name()
        );
        assert!(
            err.message.contains("Overloaded") && err.message.contains("after 3 attempts"),
            "{}",
            err.message
        );
    }
    assert_eq!(fake.generations().len(), 6);
}

#[test]
fn a_refused_key_names_the_variable_and_never_the_key() {
    let fake = FakeModel::start();
    fake.fallback(Reply::error(401, format!("invalid x-api-key: {KEY}")));
    for provider in providers(&fake) {
        let err = failure(provider.as_ref(), &ask("hi"));
        assert_eq!(err.kind, RuntimeErrorKind::Auth, "{}", provider.name());
        assert_eq!(err.hint, format!("check the key in ${KEY_VAR}"));
        let shown = format!("{err} {} {err:?}", err.hint);
        assert!(!shown.contains(KEY), "the key leaked: {shown}");
        assert!(err.message.contains("[redacted]"), "{}", err.message);
    }
    assert_eq!(fake.generations().len(), 2, "a refused key is not retried");
}

#[test]
fn a_wrong_key_against_the_fake_is_an_auth_error() {
    let fake = FakeModel::start();
    fake.require_key("sk-some-other-key");
    fake.fallback(Reply::text("never"));
    for provider in providers(&fake) {
        assert_eq!(
            failure(provider.as_ref(), &ask("hi")).kind,
            RuntimeErrorKind::Auth,
            "{}",
            provider.name()
        );
    }
}

#[test]
fn a_missing_key_variable_fails_before_any_request() {
    let fake = FakeModel::start();
    let unset = "OOO_TEST_VARIABLE_THAT_IS_NEVER_SET";
    let settings = HttpProviderSettings::new(fake.base_url(), "m").with_key_env(unset);
    let err = failure(&AnthropicProvider::new(settings), &ask("hi"));
    assert_eq!(err.kind, RuntimeErrorKind::Auth);
    assert!(err.message.contains(unset) && err.hint.contains(unset), "{err:?}");
    assert!(fake.requests().is_empty());
}

#[test]
fn not_found_points_at_base_url_and_model() {
    let fake = FakeModel::start();
    // An OpenAI base URL without `/v1`: the fake has no `/chat/completions` route.
    let wrong_base = HttpProviderSettings::new(fake.base_url(), "gpt-x").with_retry(fast_retry());
    let err = failure(&OpenAiCompatibleProvider::new(wrong_base), &ask("hi"));
    assert_eq!((err.kind, err.status), (RuntimeErrorKind::NotFound, Some(404)));
    assert_eq!(err.hint, format!("check base_url ({}) and model (gpt-x)", fake.base_url()));

    fake.push(Reply::error(404, "model: claude-nope"));
    let err = failure(&anthropic(&fake), &ask("hi"));
    assert_eq!(err.kind, RuntimeErrorKind::NotFound);
    assert!(
        err.message.contains("model: claude-nope") && err.hint.contains("fake-model"),
        "{err:?}"
    );
}

#[test]
fn a_bad_request_carries_the_providers_message() {
    let fake = FakeModel::start();
    for provider in providers(&fake) {
        fake.push(Reply::error(400, "max_tokens: 999999 > 64000"));
        let err = failure(provider.as_ref(), &ask("hi"));
        assert_eq!(
            (err.kind, err.status),
            (RuntimeErrorKind::BadRequest, Some(400)),
            "{}",
            provider.name()
        );
        assert_eq!(err.hint, "the provider says: max_tokens: 999999 > 64000");
    }
    assert_eq!(fake.generations().len(), 2, "a bad request is not retried");
}

#[test]
fn a_stream_cut_mid_event_is_a_protocol_error() {
    let fake = FakeModel::start();
    for provider in providers(&fake) {
        fake.push(Reply::text("this answer never ends").cut_mid_stream());
        let err = failure(provider.as_ref(), &ask("hi"));
        assert_eq!(err.kind, RuntimeErrorKind::Protocol, "{}: {err:?}", provider.name());
        assert!(err.message.contains("broke off"), "{}", err.message);
    }
    assert_eq!(fake.generations().len(), 2, "a broken stream is not retried");
}

#[test]
fn a_stalled_stream_ends_at_the_timeout() {
    let fake = FakeModel::start();
    fake.push(Reply::text("x").stall());
    let quick = settings(fake.base_url().to_owned()).with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = failure(&AnthropicProvider::new(quick).with_caller_env(caller_env()), &ask("hi"));
    assert_eq!(err.kind, RuntimeErrorKind::WallClockTimeout, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_server_that_is_not_running_is_named_in_the_hint() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let quick = HttpProviderSettings::new(format!("{base}/v1"), "m").with_retry(fast_retry());
    let err = failure(&OpenAiCompatibleProvider::new(quick), &ask("hi"));
    assert_eq!(err.kind, RuntimeErrorKind::Unavailable, "{err:?}");
    assert_eq!(err.hint, format!("is the server at {base}/v1 running?"));
    assert!(err.message.contains("after 3 attempts"), "{}", err.message);
}

#[test]
fn named_providers_report_their_name_and_read_the_callers_key() {
    let fake = FakeModel::start();
    fake.require_key(KEY);
    fake.fallback(Reply::text("configured"));
    let named = |env: EnvMap| -> Vec<Box<dyn LlmProvider>> {
        vec![
            Box::new(anthropic(&fake).with_name("claude-api").with_caller_env(env.clone())),
            Box::new(openai(&fake).with_name("local").with_caller_env(env)),
        ]
    };
    for provider in named(caller_env()) {
        assert_eq!(text(&provider.complete(&ask("hi")).unwrap()), "configured");
    }
    for provider in named(EnvMap::new()) {
        let err = failure(provider.as_ref(), &ask("hi"));
        assert_eq!((err.kind, err.runtime.as_str()), (RuntimeErrorKind::Auth, provider.name()));
        assert!(["claude-api", "local"].contains(&provider.name()));
    }
}
