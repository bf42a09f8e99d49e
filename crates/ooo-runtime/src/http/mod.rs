//! HTTP model providers: [`AnthropicProvider`] (the Messages API) and
//! [`OpenAiCompatibleProvider`] (Chat Completions: OpenAI, OpenRouter, Ollama, vLLM,
//! llama.cpp server, LM Studio), both streaming, both answering
//! [`LlmProvider::complete`] with text or schema-checked JSON.
//!
//! The shared pieces are modules of their own: [`sse`] (the event-stream parser),
//! [`retry`] (backoff and `Retry-After`), `classify` (HTTP failures as
//! [`RuntimeError`]s with hints), `transport` (the client, the key, the stream loop).
//!
//! What does not live here: extracting and validating JSON from text
//! ([`crate::structured`], shared with the CLI provider), reading the configuration,
//! and the agent CLIs ([`crate::cli`]).

mod anthropic;
mod classify;
mod openai;
pub mod retry;
pub mod sse;
mod transport;

use std::time::Duration;

pub use anthropic::AnthropicProvider;
pub use openai::{JsonMode, OpenAiCompatibleProvider};
pub use retry::RetryPolicy;

#[cfg(doc)]
use ooo_core::runtime::{LlmProvider, RuntimeError};

/// Where a provider is and how it is called. The key is never stored: `api_key_env`
/// names the variable it is read from at call time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProviderSettings {
    /// `https://api.anthropic.com` for Anthropic; for Chat Completions the URL before
    /// `/chat/completions` (`https://api.openai.com/v1`, `http://localhost:11434/v1`).
    pub base_url: String,
    /// The NAME of the environment variable holding the key; `None` sends no key (local
    /// servers).
    pub api_key_env: Option<String>,
    /// The model used when a request names none.
    pub model: String,
    pub retry: RetryPolicy,
    /// The longest one attempt may take, the whole streamed answer included.
    pub timeout: Duration,
}

/// Five minutes: long answers stream for a while.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

impl HttpProviderSettings {
    /// Settings with no key, the default retry policy and [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        HttpProviderSettings {
            base_url: base_url.into(),
            api_key_env: None,
            model: model.into(),
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Read the key from the variable `name` (its name, not the key).
    pub fn with_key_env(mut self, name: impl Into<String>) -> Self {
        self.api_key_env = Some(name.into());
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
