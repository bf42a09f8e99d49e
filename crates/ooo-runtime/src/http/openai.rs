//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`): OpenAI,
//! OpenRouter, Ollama, vLLM, llama.cpp server, LM Studio. Streamed with
//! `stream_options.include_usage`; the key, when configured, as a bearer token.
//! Structured output asks for `response_format: json_schema` ([`JsonMode::Native`]) or,
//! for servers without it, appends instructions and extracts the JSON from the text
//! ([`JsonMode::Instructions`]); either way the JSON is validated.
//! What does not live here: the HTTP loop and retries ([`super::transport`]), JSON
//! extraction and validation ([`crate::structured`]).

use ooo_core::runtime::{
    Completion, CompletionOutput, CompletionRequest, LlmProvider, Role, RuntimeError,
    RuntimeErrorKind, Usage,
};
use serde_json::{Value, json};

use super::HttpProviderSettings;
use super::classify::Context;
use super::sse::SseEvent;
use super::transport::{Call, Client, StreamState};
use crate::env::EnvMap;
use crate::structured;

/// How structured output is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonMode {
    /// `response_format: {type: "json_schema", json_schema: {name, schema, strict: true}}`.
    #[default]
    Native,
    /// Instructions appended to the last user message, then extraction from the text:
    /// for servers that refuse or ignore `response_format`.
    Instructions,
}

/// A Chat Completions provider.
pub struct OpenAiCompatibleProvider {
    client: Client,
    json_mode: JsonMode,
}

impl OpenAiCompatibleProvider {
    /// A provider named `openai`, asking for JSON natively.
    pub fn new(settings: HttpProviderSettings) -> Self {
        OpenAiCompatibleProvider {
            client: Client::new("openai", settings),
            json_mode: JsonMode::Native,
        }
    }

    /// Report errors and usage under this name (`ollama`, a `[runtime.<name>]` table).
    pub fn with_name(mut self, name: &str) -> Self {
        self.client.set_name(name);
        self
    }

    /// Read the key variable from this environment instead of the process's.
    pub fn with_caller_env(mut self, env: EnvMap) -> Self {
        self.client.set_env(env);
        self
    }

    pub fn with_json_mode(mut self, mode: JsonMode) -> Self {
        self.json_mode = mode;
        self
    }

    /// OpenAI's own API wants `max_completion_tokens` (its reasoning models refuse
    /// `max_tokens`); compatible servers know `max_tokens`.
    fn max_tokens_field(&self) -> &'static str {
        if self.client.settings().base_url.contains("api.openai.com") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        }
    }

    fn request_body(&self, request: &CompletionRequest, model: &str, mode: JsonMode) -> Value {
        let mut messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({ "role": role(m.role), "content": m.content }))
            .collect();
        let mut body = json!({
            "model": model,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = request.max_tokens {
            body[self.max_tokens_field()] = json!(max_tokens);
        }
        match (&request.structured, mode) {
            (Some(wanted), JsonMode::Native) => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": { "name": wanted.name, "schema": wanted.schema, "strict": true },
                });
            }
            (Some(wanted), JsonMode::Instructions) => {
                append_to_last_user(&mut messages, &structured::instructions(&wanted.schema));
            }
            (None, _) => {}
        }
        body["messages"] = json!(messages);
        body
    }
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Add `text` to the last user message (a new one when there is none): some chat
/// templates refuse a system message anywhere but first.
fn append_to_last_user(messages: &mut Vec<Value>, text: &str) {
    let last_user = messages.iter_mut().rev().find(|m| m["role"] == "user");
    match last_user {
        Some(message) => {
            let content = format!("{}\n\n{text}", message["content"].as_str().unwrap_or_default());
            message["content"] = json!(content);
        }
        None => messages.push(json!({ "role": "user", "content": text })),
    }
}

impl LlmProvider for OpenAiCompatibleProvider {
    fn name(&self) -> &str {
        self.client.name()
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Completion, RuntimeError> {
        let model = request.model.as_deref().unwrap_or(&self.client.settings().model);
        let streamed = match self.stream(request, model, self.json_mode) {
            // A server without `response_format` support (llama.cpp, older Ollama, or a
            // schema OpenAI's strict mode refuses) says so with a 400: ask again by
            // instruction, once.
            Err(err)
                if self.json_mode == JsonMode::Native
                    && request.structured.is_some()
                    && refuses_response_format(&err) =>
            {
                self.stream(request, model, JsonMode::Instructions)?
            }
            other => other?,
        };
        let output = match &request.structured {
            Some(wanted) => {
                if streamed.text.trim().is_empty() && !streamed.refusal.is_empty() {
                    return Err(refused(self.name(), &streamed.refusal));
                }
                let value =
                    structured::parse_and_validate(self.name(), &wanted.schema, &streamed.text)?;
                CompletionOutput::Json(value)
            }
            None => CompletionOutput::Text(streamed.text.clone()),
        };
        let model = streamed.model.unwrap_or_else(|| model.to_owned());
        Ok(Completion { output, raw_text: streamed.text, usage: streamed.usage, model })
    }
}

impl OpenAiCompatibleProvider {
    fn stream(
        &self,
        request: &CompletionRequest,
        model: &str,
        mode: JsonMode,
    ) -> Result<Streamed, RuntimeError> {
        let call = Call {
            path: "/chat/completions",
            headers: Vec::new(),
            auth: |key| ("authorization", format!("Bearer {key}")),
            body: self.request_body(request, model, mode),
            model,
        };
        self.client.stream::<ChatStream>(&call)
    }
}

/// A 400 that blames the structured-output request itself.
fn refuses_response_format(err: &RuntimeError) -> bool {
    let message = err.message.to_ascii_lowercase();
    err.kind == RuntimeErrorKind::BadRequest
        && ["response_format", "json_schema", "schema"].iter().any(|w| message.contains(w))
}

fn refused(provider: &str, refusal: &str) -> RuntimeError {
    RuntimeError::new(
        RuntimeErrorKind::SchemaMismatch,
        provider,
        format!("the model refused to answer in the schema: {refusal}"),
        "rephrase the request, or use another model",
    )
}

/// What a Chat Completions stream said.
#[derive(Debug, Default)]
struct Streamed {
    model: Option<String>,
    usage: Usage,
    text: String,
    refusal: String,
    finish_reason: Option<String>,
}

#[derive(Debug, Default)]
struct ChatStream {
    streamed: Streamed,
    done: bool,
}

impl ChatStream {
    fn chunk(&mut self, chunk: &Value) {
        if let (None, Some(model)) = (&self.streamed.model, chunk["model"].as_str())
            && !model.is_empty()
        {
            self.streamed.model = Some(model.to_owned());
        }
        let choice = &chunk["choices"][0];
        let delta = &choice["delta"];
        self.streamed.text.push_str(delta["content"].as_str().unwrap_or_default());
        self.streamed.refusal.push_str(delta["refusal"].as_str().unwrap_or_default());
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.streamed.finish_reason = Some(reason.to_owned());
        }
        if chunk["usage"].is_object() {
            self.streamed.usage = usage(&chunk["usage"]);
        }
    }
}

/// OpenAI usage; OpenRouter adds the cost in dollars. `prompt_tokens` includes the
/// cached part; [`Usage::input_tokens`] is the input not read from cache, as for every
/// other runtime.
fn usage(usage: &Value) -> Usage {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let cached = count("/prompt_tokens_details/cached_tokens");
    Usage {
        input_tokens: count("/prompt_tokens").saturating_sub(cached),
        output_tokens: count("/completion_tokens"),
        cache_read_tokens: count("/prompt_tokens_details/cached_tokens"),
        cache_write_tokens: 0,
        cost_usd: usage["cost"].as_f64(),
    }
}

impl StreamState for ChatStream {
    type Output = Streamed;

    fn event(&mut self, event: &SseEvent, ctx: &Context) -> Result<(), RuntimeError> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|_| ctx.protocol("a chunk whose data is not JSON"))?;
        if chunk.get("error").is_some() {
            return Err(ctx.in_stream(error_kind(&chunk["error"]), &chunk));
        }
        self.chunk(&chunk);
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    /// Without `[DONE]` a stream still counts as whole when a choice finished (some
    /// compatible servers end there); otherwise it broke off.
    fn finish(self, ctx: &Context) -> Result<Streamed, RuntimeError> {
        if !self.done && self.streamed.finish_reason.is_none() {
            return Err(ctx.protocol("the stream ended before [DONE]"));
        }
        Ok(self.streamed)
    }
}

fn error_kind(error: &Value) -> RuntimeErrorKind {
    let said = |field: &str| error[field].as_str().unwrap_or_default().contains("rate_limit");
    if said("type") || said("code") {
        RuntimeErrorKind::RateLimited
    } else {
        RuntimeErrorKind::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ooo_core::runtime::{Message, StructuredOutput};

    use super::*;
    use crate::http::transport::read_stream;

    fn ctx() -> Context<'static> {
        Context {
            provider: "openai",
            base_url: "http://127.0.0.1:1/v1",
            model: "m",
            key_env: None,
            key: None,
            timeout: Duration::from_secs(1),
        }
    }

    fn provider(base_url: &str, mode: JsonMode) -> OpenAiCompatibleProvider {
        OpenAiCompatibleProvider::new(HttpProviderSettings::new(base_url, "m")).with_json_mode(mode)
    }

    fn structured_request() -> CompletionRequest {
        let mut request = CompletionRequest::new(vec![Message::system("s"), Message::user("u")]);
        request.structured =
            Some(StructuredOutput { name: "answer".into(), schema: json!({"type": "object"}) });
        request.max_tokens = Some(50);
        request
    }

    #[test]
    fn native_json_mode_sends_a_strict_json_schema() {
        let body = provider("http://localhost:11434/v1", JsonMode::Native).request_body(
            &structured_request(),
            "m",
            JsonMode::Native,
        );
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(body["response_format"]["json_schema"]["name"], "answer");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_tokens"], 50);
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "s"}));
    }

    #[test]
    fn instructions_mode_appends_to_the_last_user_message() {
        let body = provider("http://x/v1", JsonMode::Instructions).request_body(
            &structured_request(),
            "m",
            JsonMode::Instructions,
        );
        assert!(body.get("response_format").is_none());
        let content = body["messages"][1]["content"].as_str().unwrap();
        assert!(content.starts_with("u\n\n") && content.contains("JSON Schema"), "{content}");
    }

    #[test]
    fn openai_itself_gets_max_completion_tokens() {
        let body = provider("https://api.openai.com/v1", JsonMode::Native).request_body(
            &structured_request(),
            "m",
            JsonMode::Native,
        );
        assert_eq!(
            (body.get("max_tokens"), body["max_completion_tokens"].as_u64()),
            (None, Some(50))
        );
    }

    #[test]
    fn a_stream_yields_text_usage_and_model() {
        let stream = concat!(
            "data: {\"model\":\"served\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"model\":\"served\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"model\":\"served\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"model\":\"served\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":1},\"cost\":0.25}}\n\n",
            "data: [DONE]\n\n",
        );
        let streamed = read_stream::<ChatStream>(&ctx(), stream.as_bytes()).unwrap();
        assert_eq!((streamed.text.as_str(), streamed.model.as_deref()), ("Hi", Some("served")));
        let u = streamed.usage;
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cost_usd),
            (4, 2, 1, Some(0.25))
        );
    }

    #[test]
    fn a_finished_choice_without_done_is_accepted_but_a_bare_end_is_not() {
        let finished =
            "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n";
        assert!(read_stream::<ChatStream>(&ctx(), finished.as_bytes()).is_ok());
        let bare = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
        let err = read_stream::<ChatStream>(&ctx(), bare.as_bytes()).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::Protocol);
    }

    #[test]
    fn an_error_chunk_fails_the_stream() {
        let stream = "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_exceeded\"}}\n\n";
        let err = read_stream::<ChatStream>(&ctx(), stream.as_bytes()).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::RateLimited);
        assert!(err.message.contains("Rate limit reached"));
    }
}
