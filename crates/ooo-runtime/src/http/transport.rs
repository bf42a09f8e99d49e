//! One provider's HTTP client: the `ureq` agent, the key read from its variable at call
//! time, a POST whose answer is an SSE stream read into a provider's [`StreamState`],
//! and the retries around it. What does not live here: what a provider sends and how
//! it reads its events (`anthropic`, `openai`), failure kinds ([`super::classify`]).

use std::io::Read;
use std::time::{Duration, SystemTime};

use ooo_core::runtime::RuntimeError;
use serde_json::Value;

use super::HttpProviderSettings;
use super::classify::{Context, provider_message};
use super::retry::{self, parse_retry_after};
use super::sse::{SseEvent, SseParser};
use crate::env::EnvMap;

/// Connecting takes at most this long (or the whole timeout, when shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error answer is read.
const MAX_ERROR_BODY: u64 = 64 * 1024;
const READ_BUFFER: usize = 16 * 1024;

/// An answer being read from its event stream; a fresh one for each attempt.
pub(crate) trait StreamState: Default {
    type Output;
    /// Take one event; an error ends the attempt.
    fn event(&mut self, event: &SseEvent, ctx: &Context) -> Result<(), RuntimeError>;
    /// The stream has said its last word: stop reading.
    fn is_done(&self) -> bool;
    /// The answer, once the stream ended without breaking.
    fn finish(self, ctx: &Context) -> Result<Self::Output, RuntimeError>;
}

/// What one provider call sends.
pub(crate) struct Call<'a> {
    /// Appended to the base URL (`/v1/messages`, `/chat/completions`).
    pub path: &'a str,
    /// Headers besides the key (`anthropic-version`).
    pub headers: Vec<(&'static str, String)>,
    /// The header carrying the key, built from the key.
    pub auth: fn(&str) -> (&'static str, String),
    pub body: Value,
    /// The model asked for (named in errors).
    pub model: &'a str,
}

pub(crate) struct Client {
    name: String,
    settings: HttpProviderSettings,
    /// Where the key variable is read; `None` reads the process environment.
    env: Option<EnvMap>,
    agent: ureq::Agent,
}

impl Client {
    pub(crate) fn new(name: &str, settings: HttpProviderSettings) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(settings.timeout.min(CONNECT_TIMEOUT)))
            .user_agent(concat!("ooo/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { name: name.to_owned(), settings, env: None, agent: config.into() }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn set_name(&mut self, name: &str) {
        self.name = name.to_owned();
    }

    pub(crate) fn set_env(&mut self, env: EnvMap) {
        self.env = Some(env);
    }

    pub(crate) fn settings(&self) -> &HttpProviderSettings {
        &self.settings
    }

    /// The key, read now; `None` when unset, empty, or the provider uses none.
    fn key(&self) -> Option<String> {
        let var = self.settings.api_key_env.as_deref()?;
        let value = match &self.env {
            Some(env) => env.get(var).cloned(),
            None => std::env::var(var).ok(),
        };
        value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// POST `call` and read its event stream into `S`, retrying per the policy.
    pub(crate) fn stream<S: StreamState>(&self, call: &Call) -> Result<S::Output, RuntimeError> {
        let key = self.key();
        let ctx = Context {
            provider: &self.name,
            base_url: &self.settings.base_url,
            model: call.model,
            key_env: self.settings.api_key_env.as_deref(),
            key: key.as_deref(),
            timeout: self.settings.timeout,
        };
        if let (Some(var), None) = (ctx.key_env, &key) {
            return Err(ctx.missing_key(var));
        }
        retry::run(&self.settings.retry, || self.attempt::<S>(&ctx, call, key.as_deref()))
    }

    fn attempt<S: StreamState>(
        &self,
        ctx: &Context,
        call: &Call,
        key: Option<&str>,
    ) -> Result<S::Output, RuntimeError> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), call.path);
        let mut request = self.agent.post(&url).header("accept", "text/event-stream");
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(key) = key {
            let (name, value) = (call.auth)(key);
            request = request.header(name, value);
        }
        let response = request.send_json(&call.body).map_err(|e| ctx.transport(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let is_json = response.body().mime_type() == Some("application/json");
        let reader = response.into_body().into_reader();
        match status {
            200..=299 if is_json => Err(ctx.protocol(&format!(
                "a JSON document instead of an event stream: {}",
                provider_message(&read_error_body(reader))
            ))),
            200..=299 => read_stream::<S>(ctx, reader),
            _ => Err(ctx.status(status, &read_error_body(reader), retry_after)),
        }
    }
}

fn read_error_body(reader: impl Read) -> String {
    let mut bytes = Vec::new();
    // A body that cannot be read whole is quoted as far as it arrived.
    let _ = reader.take(MAX_ERROR_BODY).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Read events from `reader` into a fresh `S` until it is done or the stream ends.
pub(crate) fn read_stream<S: StreamState>(
    ctx: &Context,
    mut reader: impl Read,
) -> Result<S::Output, RuntimeError> {
    let mut parser = SseParser::new();
    let mut state = S::default();
    let mut buffer = vec![0u8; READ_BUFFER];
    while !state.is_done() {
        let read = reader.read(&mut buffer).map_err(|e| ctx.broken_stream(&e))?;
        if read == 0 {
            if parser.in_event() {
                return Err(ctx.protocol("the stream ended in the middle of an event"));
            }
            break;
        }
        let events = parser
            .push(&buffer[..read])
            .map_err(|_| ctx.protocol("an event larger than the parser accepts"))?;
        for event in &events {
            state.event(event, ctx)?;
        }
    }
    state.finish(ctx)
}
