//! The agent side of the runtime contract: a task in, normalised events out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// How much an agent may touch. Each adapter maps every class to its CLI's own permission
/// flags in one exhaustive `match`, so a class without a mapping does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxClass {
    /// Read the workspace, change nothing.
    ReadOnly,
    /// Edit files in the working directory, run commands there.
    WorkspaceWrite,
    /// The CLI's own checks are off. Never a default; recorded whenever used.
    Unrestricted,
}

impl SandboxClass {
    pub const ALL: [SandboxClass; 3] =
        [SandboxClass::ReadOnly, SandboxClass::WorkspaceWrite, SandboxClass::Unrestricted];

    pub fn as_str(self) -> &'static str {
        match self {
            SandboxClass::ReadOnly => "read_only",
            SandboxClass::WorkspaceWrite => "workspace_write",
            SandboxClass::Unrestricted => "unrestricted",
        }
    }
}

impl std::fmt::Display for SandboxClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Time bounds for one run. Both always apply: a run with no output for `idle` is ended,
/// and so is a run older than `wall_clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLimits {
    #[serde(with = "secs")]
    pub idle: Duration,
    #[serde(with = "secs")]
    pub wall_clock: Duration,
}

impl Default for RunLimits {
    /// Ten minutes of silence, one hour in all: agents think for a while between events.
    fn default() -> Self {
        RunLimits { idle: Duration::from_secs(600), wall_clock: Duration::from_secs(3600) }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Where a session can be picked up again: the runtime that owns it and its native id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeHandle {
    /// Adapter name (`claude`, `codex`, `gemini`, `opencode`, `scripted`).
    pub runtime: String,
    /// The CLI's own session or thread id.
    pub session_id: String,
    /// What the adapter needs to continue the session accurately, opaque to everyone
    /// else (codex: the thread's cumulative token counts, so a resumed run reports only
    /// its own usage). Store it with the handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

impl ResumeHandle {
    pub fn new(runtime: impl Into<String>, session_id: impl Into<String>) -> Self {
        ResumeHandle { runtime: runtime.into(), session_id: session_id.into(), state: None }
    }
}

/// One task for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentTask {
    pub prompt: String,
    /// The directory the agent works in (a repository or a worktree).
    pub cwd: PathBuf,
    pub sandbox: SandboxClass,
    /// Model to ask for; `None` lets the adapter's configured default decide.
    pub model: Option<String>,
    /// Extra instructions placed before the task where the CLI supports a system prompt,
    /// otherwise prepended to the prompt.
    pub system_prompt: Option<String>,
    /// Continue this session instead of starting a new one.
    pub resume: Option<ResumeHandle>,
    pub limits: RunLimits,
}

impl AgentTask {
    /// A workspace-write task with default limits.
    pub fn new(prompt: impl Into<String>, cwd: impl Into<PathBuf>) -> Self {
        AgentTask {
            prompt: prompt.into(),
            cwd: cwd.into(),
            sandbox: SandboxClass::WorkspaceWrite,
            model: None,
            system_prompt: None,
            resume: None,
            limits: RunLimits::default(),
        }
    }
}

/// Tokens and money, as far as the runtime reports them. Counts are for the event that
/// carries them (adapters turn cumulative counters into per-step amounts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// US dollars, only when the runtime itself reports a cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    /// Add `other` into `self`; a cost stays unknown only when both are unknown.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// What a file change did, when the runtime says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeKind {
    Added,
    Modified,
    Deleted,
    /// The runtime reported a write without saying whether the file existed.
    Written,
}

/// How a run ended, as the runtime reported it. A claim, not a verdict: programs verify
/// the work themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalResult {
    pub success: bool,
    /// The agent's last message (or the runtime's error text when `success` is false).
    pub text: String,
    pub resume: Option<ResumeHandle>,
}

/// One normalised event of an agent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The runtime's own id for this session.
    SessionStarted { session_id: String, model: Option<String> },
    /// Text the agent wrote (a whole message, or a streamed piece of one).
    AssistantText { text: String },
    /// The agent called a tool.
    ToolCall { id: String, name: String, input: serde_json::Value },
    /// A tool's answer.
    ToolResult { id: String, output: String, is_error: bool },
    /// A file the agent changed, when the runtime reports it as such.
    FileChange { path: PathBuf, kind: FileChangeKind },
    /// Tokens used since the previous `Usage` event.
    Usage(Usage),
    /// The last event of a run that ended on its own.
    Final(FinalResult),
}

/// Cancels a run from any thread. Cancelling twice, or after the end, does nothing.
pub trait CancelHandle: Send + Sync {
    fn cancel(&self);
}

/// A running task: a blocking stream of events.
///
/// `next_event` returns `Ok(None)` after the [`AgentEvent::Final`] event. When the run
/// fails (timeout, cancel, a CLI that died or never reported a result) it returns the
/// error once, and the partial transcript stays available in [`AgentRun::transcript`].
/// Dropping a run cancels it; either way, when the call that ends it returns, no process
/// the run started is left.
pub trait AgentRun: Send {
    fn next_event(&mut self) -> Result<Option<AgentEvent>, RuntimeError>;
    /// A handle to cancel this run from another thread.
    fn canceller(&self) -> Arc<dyn CancelHandle>;
    /// The raw lines the runtime printed so far (for the journal), oldest first. A
    /// runtime may drop the oldest lines of a very long run to bound memory.
    fn transcript(&self) -> &[String];
    /// How many of the oldest lines were dropped from [`AgentRun::transcript`].
    fn transcript_dropped(&self) -> u64 {
        0
    }
}

/// A tool-using agent runtime (an agent CLI, or a scripted one in tests).
pub trait AgentRuntime: Send + Sync {
    /// Adapter name, as used by `--runtime` and in resume handles.
    fn name(&self) -> &str;
    /// Start a task. Fails before anything runs when the task cannot be started (missing
    /// CLI, depth limit, a resume handle from another runtime).
    fn start(&self, task: AgentTask) -> Result<Box<dyn AgentRun>, RuntimeError>;
}
