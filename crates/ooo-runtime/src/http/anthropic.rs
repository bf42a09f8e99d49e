//! The Anthropic Messages API (`POST {base}/v1/messages`, `x-api-key`,
//! `anthropic-version: 2023-06-01`), streamed. System messages go in `system`.
//! Structured output uses a forced tool (Anthropic has no JSON mode): the schema is the
//! tool's `input_schema`, `tool_choice` names it, and the tool input is the JSON.
//! What does not live here: the HTTP loop and retries ([`super::transport`]), JSON
//! extraction and validation ([`crate::structured`]).

use ooo_core::runtime::{
    Completion, CompletionOutput, CompletionRequest, LlmProvider, Role, RuntimeError,
    RuntimeErrorKind, StructuredOutput, Usage,
};
use serde_json::{Map, Value, json};

use super::HttpProviderSettings;
use super::classify::Context;
use super::sse::SseEvent;
use super::transport::{Call, Client, StreamState};
use crate::env::EnvMap;
use crate::structured;

const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is sent when a request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// An Anthropic Messages API provider.
pub struct AnthropicProvider {
    client: Client,
    max_tokens: u32,
}

impl AnthropicProvider {
    /// A provider named `anthropic`.
    pub fn new(settings: HttpProviderSettings) -> Self {
        AnthropicProvider {
            client: Client::new("anthropic", settings),
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    /// Report errors and usage under this name (a `[runtime.<name>]` table).
    pub fn with_name(mut self, name: &str) -> Self {
        self.client.set_name(name);
        self
    }

    /// Read the key variable from this environment instead of the process's.
    pub fn with_caller_env(mut self, env: EnvMap) -> Self {
        self.client.set_env(env);
        self
    }

    /// `max_tokens` for requests that set none.
    pub fn with_default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// `/v1/messages`, or `/messages` when the base URL already ends in `/v1`.
    fn path(&self) -> &'static str {
        let base = self.client.settings().base_url.trim_end_matches('/');
        if base.ends_with("/v1") { "/messages" } else { "/v1/messages" }
    }
}

impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &str {
        self.client.name()
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Completion, RuntimeError> {
        let model = request.model.as_deref().unwrap_or(&self.client.settings().model);
        let max_tokens = request.max_tokens.unwrap_or(self.max_tokens);
        let (body, tool) = request_body(request, model, max_tokens);
        let call = Call {
            path: self.path(),
            headers: vec![("anthropic-version", API_VERSION.to_owned())],
            auth: |key| ("x-api-key", key.to_owned()),
            body,
            model,
        };
        let streamed = self.client.stream::<MessageStream>(&call)?;
        let (output, raw_text) = match (&request.structured, tool) {
            (Some(wanted), Some(tool)) => {
                let (value, raw) = json_answer(self.name(), wanted, tool, &streamed)?;
                (CompletionOutput::Json(value), raw)
            }
            _ => (CompletionOutput::Text(streamed.text.clone()), streamed.text),
        };
        let model = streamed.model.unwrap_or_else(|| model.to_owned());
        Ok(Completion { output, raw_text, usage: streamed.usage, model })
    }
}

/// How the structured-output schema was given to the forced tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerTool {
    /// The schema is an object schema: the tool input is the answer.
    Direct,
    /// Tool inputs must be objects: the schema sits under `value`.
    Wrapped,
}

fn request_body(
    request: &CompletionRequest,
    model: &str,
    max_tokens: u32,
) -> (Value, Option<AnswerTool>) {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| {
            let role = if m.role == Role::Assistant { "assistant" } else { "user" };
            json!({ "role": role, "content": m.content })
        })
        .collect();
    let mut body =
        json!({ "model": model, "max_tokens": max_tokens, "stream": true, "messages": messages });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    let tool = request.structured.as_ref().map(|wanted| {
        let (schema, tool) = tool_schema(&wanted.schema);
        body["tools"] = json!([{
            "name": wanted.name,
            "description": "Give the answer as this tool's input.",
            "input_schema": schema,
        }]);
        body["tool_choice"] = json!({ "type": "tool", "name": wanted.name });
        tool
    });
    (body, tool)
}

/// An object schema for the tool input: the schema itself when it describes an object,
/// else wrapped under `value` (with `$defs`/`definitions` kept at the root, where its
/// `$ref`s point).
fn tool_schema(schema: &Value) -> (Value, AnswerTool) {
    let declared = schema.get("type");
    let is_object = declared == Some(&json!("object"))
        || (declared.is_none() && schema.get("properties").is_some());
    if is_object {
        let mut direct = schema.clone();
        direct["type"] = json!("object");
        return (direct, AnswerTool::Direct);
    }
    let mut inner = schema.clone();
    let mut wrapper = Map::new();
    for defs in ["$defs", "definitions"] {
        if let Some(found) = inner.as_object_mut().and_then(|o| o.remove(defs)) {
            wrapper.insert(defs.to_owned(), found);
        }
    }
    wrapper.insert("type".into(), json!("object"));
    wrapper.insert("properties".into(), json!({ "value": inner }));
    wrapper.insert("required".into(), json!(["value"]));
    (Value::Object(wrapper), AnswerTool::Wrapped)
}

/// The JSON answer: the forced tool's input, or (when the model wrote text instead)
/// the JSON found in its text; validated against the schema.
fn json_answer(
    provider: &str,
    wanted: &StructuredOutput,
    tool: AnswerTool,
    streamed: &Streamed,
) -> Result<(Value, String), RuntimeError> {
    let Some(input) = &streamed.tool_input else {
        let value = structured::parse_and_validate(provider, &wanted.schema, &streamed.text)?;
        return Ok((value, streamed.text.clone()));
    };
    let text = if input.trim().is_empty() { "{}" } else { input.as_str() };
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::SchemaMismatch,
            provider,
            format!("the model's answer is not valid JSON ({e})"),
            "retry the call; if the answer was cut short, raise max_tokens",
        )
    })?;
    if tool == AnswerTool::Wrapped {
        value = value.get_mut("value").map(Value::take).unwrap_or(Value::Null);
    }
    structured::validate(provider, &wanted.schema, &value)?;
    Ok((value, input.clone()))
}

/// What a Messages stream said.
#[derive(Debug, Default)]
struct Streamed {
    model: Option<String>,
    usage: Usage,
    text: String,
    /// The JSON input of the first tool call, as streamed.
    tool_input: Option<String>,
}

#[derive(Debug, Default)]
struct MessageStream {
    streamed: Streamed,
    /// The content block index of the first tool call.
    tool_index: Option<u64>,
    stopped: bool,
}

impl MessageStream {
    fn start(&mut self, message: &Value) {
        self.streamed.model = message["model"].as_str().map(str::to_owned);
        self.take_usage(&message["usage"]);
    }

    /// Counts in `message_start` and `message_delta` (cumulative; later ones win).
    fn take_usage(&mut self, usage: &Value) {
        let fields = [
            ("input_tokens", &mut self.streamed.usage.input_tokens),
            ("output_tokens", &mut self.streamed.usage.output_tokens),
            ("cache_read_input_tokens", &mut self.streamed.usage.cache_read_tokens),
            ("cache_creation_input_tokens", &mut self.streamed.usage.cache_write_tokens),
        ];
        for (name, slot) in fields {
            if let Some(count) = usage[name].as_u64() {
                *slot = count;
            }
        }
    }

    fn block_start(&mut self, data: &Value) {
        let block = &data["content_block"];
        match block["type"].as_str() {
            Some("text") => self.streamed.text.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") if self.tool_index.is_none() => {
                self.tool_index = data["index"].as_u64();
                self.streamed.tool_input = Some(String::new());
            }
            _ => {}
        }
    }

    fn delta(&mut self, data: &Value) {
        let delta = &data["delta"];
        match delta["type"].as_str() {
            Some("text_delta") => self.streamed.text.push_str(delta["text"].as_str().unwrap_or("")),
            Some("input_json_delta") if data["index"].as_u64() == self.tool_index => {
                if let Some(input) = &mut self.streamed.tool_input {
                    input.push_str(delta["partial_json"].as_str().unwrap_or(""));
                }
            }
            _ => {}
        }
    }
}

impl StreamState for MessageStream {
    type Output = Streamed;

    fn event(&mut self, event: &SseEvent, ctx: &Context) -> Result<(), RuntimeError> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|_| ctx.protocol("an event whose data is not JSON"))?;
        let kind = data["type"].as_str().or(event.event.as_deref()).unwrap_or_default();
        match kind {
            "message_start" => self.start(&data["message"]),
            "content_block_start" => self.block_start(&data),
            "content_block_delta" => self.delta(&data),
            "message_delta" => self.take_usage(&data["usage"]),
            "message_stop" => self.stopped = true,
            "error" => return Err(ctx.in_stream(error_kind(&data), &data)),
            _ => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.stopped
    }

    fn finish(self, ctx: &Context) -> Result<Streamed, RuntimeError> {
        if !self.stopped {
            return Err(ctx.protocol("the stream ended before message_stop"));
        }
        Ok(self.streamed)
    }
}

/// The kind of an `error` event, by its Anthropic error type.
fn error_kind(data: &Value) -> RuntimeErrorKind {
    match data["error"]["type"].as_str().unwrap_or_default() {
        "overloaded_error" | "api_error" => RuntimeErrorKind::Unavailable,
        "rate_limit_error" => RuntimeErrorKind::RateLimited,
        "authentication_error" | "permission_error" => RuntimeErrorKind::Auth,
        "not_found_error" => RuntimeErrorKind::NotFound,
        _ => RuntimeErrorKind::BadRequest,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ooo_core::runtime::Message;

    use super::*;
    use crate::http::transport::read_stream;

    fn ctx() -> Context<'static> {
        Context {
            provider: "anthropic",
            base_url: "http://127.0.0.1:1",
            model: "m",
            key_env: None,
            key: None,
            timeout: Duration::from_secs(1),
        }
    }

    fn read(stream: &str) -> Result<Streamed, RuntimeError> {
        read_stream::<MessageStream>(&ctx(), stream.as_bytes())
    }

    #[test]
    fn system_messages_go_to_system_and_structured_output_forces_a_tool() {
        let mut request = CompletionRequest::new(vec![
            Message::system("be brief"),
            Message::user("hi"),
            Message::assistant("hello"),
            Message::system("and exact"),
        ]);
        request.temperature = Some(0.5);
        request.structured =
            Some(StructuredOutput { name: "answer".into(), schema: json!({"type": "object"}) });
        let (body, tool) = request_body(&request, "claude-x", 100);
        assert_eq!(body["system"], "be brief\n\nand exact");
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
        );
        assert_eq!((body["stream"].clone(), body["max_tokens"].clone()), (json!(true), json!(100)));
        assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "answer"}));
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(tool, Some(AnswerTool::Direct));
    }

    #[test]
    fn the_messages_path_follows_the_base_url() {
        let at = |base: &str| AnthropicProvider::new(HttpProviderSettings::new(base, "m")).path();
        assert_eq!(at("https://api.anthropic.com"), "/v1/messages");
        assert_eq!(at("https://proxy.example/anthropic/v1/"), "/messages");
    }

    #[test]
    fn non_object_schemas_are_wrapped_with_their_definitions_at_the_root() {
        let schema = json!({"type": "array", "items": {"$ref": "#/$defs/n"}, "$defs": {"n": {"type": "integer"}}});
        let (wrapped, tool) = tool_schema(&schema);
        assert_eq!(tool, AnswerTool::Wrapped);
        assert_eq!(wrapped["$defs"]["n"]["type"], "integer");
        assert_eq!(wrapped["properties"]["value"]["type"], "array");
        assert_eq!(wrapped["required"], json!(["value"]));
        let (direct, tool) = tool_schema(&json!({"properties": {"a": {}}}));
        assert_eq!((direct["type"].clone(), tool), (json!("object"), AnswerTool::Direct));
    }

    #[test]
    fn a_stream_yields_text_usage_and_model() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-real\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1,\"cache_read_input_tokens\":4}}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let streamed = read(stream).unwrap();
        assert_eq!(streamed.text, "Hello");
        assert_eq!(streamed.model.as_deref(), Some("claude-real"));
        let usage = streamed.usage;
        assert_eq!((usage.input_tokens, usage.output_tokens, usage.cache_read_tokens), (12, 9, 4));
    }

    #[test]
    fn tool_input_is_joined_for_the_first_tool_only() {
        let block = |i: u32, kind: &str| {
            format!(
                "data: {{\"type\":\"content_block_start\",\"index\":{i},\"content_block\":{{\"type\":\"{kind}\",\"id\":\"toolu_1\",\"name\":\"answer\",\"input\":{{}}}}}}\n\n"
            )
        };
        let delta = |i: u32, json: &str| {
            format!(
                "data: {{\"type\":\"content_block_delta\",\"index\":{i},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{}}}}}\n\n",
                Value::from(json)
            )
        };
        let stream = [
            block(0, "tool_use"),
            delta(0, "{\"a\":"),
            block(1, "tool_use"),
            delta(1, "{\"other\":1}"),
            delta(0, "1}"),
            "data: {\"type\":\"message_stop\"}\n\n".to_owned(),
        ]
        .concat();
        assert_eq!(read(&stream).unwrap().tool_input.as_deref(), Some("{\"a\":1}"));
    }

    #[test]
    fn an_unfinished_stream_and_an_error_event_fail() {
        let cut = read("data: {\"type\":\"message_start\",\"message\":{}}\n\n").unwrap_err();
        assert_eq!(cut.kind, RuntimeErrorKind::Protocol);
        assert!(cut.message.contains("message_stop"), "{}", cut.message);
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let err = read(overloaded).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::Unavailable);
        assert!(err.message.contains("Overloaded"));
    }

    #[test]
    fn wrapped_answers_are_unwrapped_and_validated() {
        let wanted = StructuredOutput {
            name: "n".into(),
            schema: json!({"type": "array", "items": {"type": "integer"}}),
        };
        let streamed =
            Streamed { tool_input: Some("{\"value\":[1,2]}".into()), ..Streamed::default() };
        let (value, raw) =
            json_answer("anthropic", &wanted, AnswerTool::Wrapped, &streamed).unwrap();
        assert_eq!((value, raw.as_str()), (json!([1, 2]), "{\"value\":[1,2]}"));
        let bad =
            Streamed { tool_input: Some("{\"value\":[\"x\"]}".into()), ..Streamed::default() };
        let err = json_answer("anthropic", &wanted, AnswerTool::Wrapped, &bad).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::SchemaMismatch);
    }
}
