//! The completion side of the runtime contract: messages in, text or validated JSON out.

use serde::{Deserialize, Serialize};

use super::{RuntimeError, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
    }
}

/// Ask for JSON matching `schema` (a JSON Schema object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredOutput {
    /// A short name for the schema (some APIs require one): `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    pub schema: serde_json::Value,
}

/// One completion.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub messages: Vec<Message>,
    /// `None` uses the provider's configured model.
    pub model: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub structured: Option<StructuredOutput>,
}

impl CompletionRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        CompletionRequest {
            messages,
            model: None,
            temperature: None,
            max_tokens: None,
            structured: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum CompletionOutput {
    Text(String),
    /// Parsed and validated against the requested schema.
    Json(serde_json::Value),
}

/// The answer to one completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub output: CompletionOutput,
    /// The raw text the model produced (for JSON output, the text it was parsed from).
    pub raw_text: String,
    pub usage: Usage,
    /// The model that actually answered, as the provider reported it.
    pub model: String,
}

/// A model that answers single completions.
pub trait LlmProvider: Send + Sync {
    /// Provider name (`anthropic`, `openai`, `claude`, ...).
    fn name(&self) -> &str;
    /// One completion. With `structured`, the output is JSON valid against the schema
    /// (native JSON mode where the provider has one, otherwise instructions plus
    /// extraction and validation), or an error.
    fn complete(&self, request: &CompletionRequest) -> Result<Completion, RuntimeError>;
}
