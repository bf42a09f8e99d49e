//! The Runtime primitive: how ooo talks to agents and models, as traits and types only.
//!
//! Two traits. [`AgentRuntime`] runs a tool-using task (an agent CLI editing a
//! repository) and yields a stream of normalised [`AgentEvent`]s; the run can be cancelled
//! at any time and resumed later from its [`ResumeHandle`]. [`LlmProvider`] answers one
//! completion, optionally as JSON validated against a schema.
//!
//! What lives here: the contract every program (run, interview, auto, the MCP server)
//! programs against, and the error type every adapter returns. What does not: process
//! spawning, wire formats, HTTP, journaling (all in `ooo-runtime`), or any sandbox
//! mechanism (`ooo-sandbox`). Nothing here does I/O.

mod agent;
mod error;
mod llm;

pub use agent::{
    AgentEvent, AgentRun, AgentRuntime, AgentTask, CancelHandle, FileChangeKind, FinalResult,
    ResumeHandle, RunLimits, SandboxClass, Usage,
};
pub use error::{RuntimeError, RuntimeErrorKind};
pub use llm::{
    Completion, CompletionOutput, CompletionRequest, LlmProvider, Message, Role, StructuredOutput,
};

/// The environment variable that counts how deeply agents are nested (an agent calling
/// `ooo` calling an agent). Children get the caller's value plus one.
pub const DEPTH_ENV: &str = "OUROBOROS_DEPTH";

/// A spawn whose child would run above this depth is refused.
pub const MAX_DEPTH: u32 = 5;
