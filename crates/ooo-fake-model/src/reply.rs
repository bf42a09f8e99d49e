//! What a test scripts: one [`Reply`] per generation request, built with small
//! constructors and modifiers. Data only: how a reply looks on each wire format lives in
//! [`crate::wire`], and when it is sent (delays, cuts, stalls) in [`crate::answer`].

use std::time::Duration;

use serde_json::Value;

/// One scripted answer to a generation request, in whatever wire format the request used.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub(crate) content: Content,
    pub(crate) usage: TokenCounts,
    pub(crate) model: Option<String>,
    pub(crate) delay: Option<Duration>,
    pub(crate) fault: Option<Fault>,
    pub(crate) retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    /// A successful answer: text and tool calls, in order.
    Parts(Vec<Part>),
    /// An HTTP error with a body in the wire format's error shape.
    Error { status: u16, message: String },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    /// A function tool call with JSON arguments.
    ToolCall {
        name: String,
        input: Value,
    },
    /// A freeform tool call (Responses API `custom_tool_call`); other wire formats send
    /// it as a function call with arguments `{"input": <text>}`.
    CustomToolCall {
        name: String,
        input: String,
    },
}

/// Token counts reported in the answer's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenCounts {
    pub input: u64,
    pub output: u64,
}

/// A transport failure to act out instead of a complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Send part of the answer (stopping inside an event), then close the connection.
    Cut,
    /// Send the headers and the first event, then nothing until the client leaves.
    Stall,
}

/// What the captured CLI runs were answered with: 100 tokens in, 20 out.
const DEFAULT_USAGE: TokenCounts = TokenCounts { input: 100, output: 20 };

impl Reply {
    fn with_content(content: Content) -> Self {
        Reply {
            content,
            usage: DEFAULT_USAGE,
            model: None,
            delay: None,
            fault: None,
            retry_after: None,
        }
    }

    /// The model answers with this text and ends its turn.
    pub fn text(text: impl Into<String>) -> Self {
        Self::with_content(Content::Parts(vec![Part::Text(text.into())]))
    }

    /// The model calls a function tool with these JSON arguments.
    pub fn tool_call(name: impl Into<String>, input: Value) -> Self {
        Self::with_content(Content::Parts(vec![Part::ToolCall { name: name.into(), input }]))
    }

    /// The model calls a freeform tool (Codex's `apply_patch`) with this raw input.
    pub fn custom_tool_call(name: impl Into<String>, input: impl Into<String>) -> Self {
        let part = Part::CustomToolCall { name: name.into(), input: input.into() };
        Self::with_content(Content::Parts(vec![part]))
    }

    /// An HTTP error `status` whose body carries `message` in the wire format's error shape.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::with_content(Content::Error { status, message: message.into() })
    }

    /// What the fake answers when the script is empty and no fallback is set.
    pub(crate) fn exhausted() -> Self {
        Self::error(500, "fake model: script exhausted")
    }

    /// Append `other`'s text and tool calls after this reply's (text then a tool call,
    /// or parallel tool calls). Errors have no parts: combining with one changes nothing.
    pub fn and(mut self, other: Reply) -> Self {
        if let (Content::Parts(mine), Content::Parts(theirs)) = (&mut self.content, other.content) {
            mine.extend(theirs);
        }
        self
    }

    /// Report these token counts (default: 100 in, 20 out).
    pub fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = TokenCounts { input: input_tokens, output: output_tokens };
        self
    }

    /// Report this model as the one that answered (default: the model requested).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Wait this long before answering.
    pub fn delay(mut self, wait: Duration) -> Self {
        self.delay = Some(wait);
        self
    }

    /// Add a `Retry-After: <seconds>` header.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Send part of the answer, stopping in the middle of an event, then close the
    /// connection abruptly.
    pub fn cut_mid_stream(mut self) -> Self {
        self.fault = Some(Fault::Cut);
        self
    }

    /// Send the headers and the first event, then hang until the client goes away or the
    /// fake is dropped.
    pub fn stall(mut self) -> Self {
        self.fault = Some(Fault::Stall);
        self
    }
}
