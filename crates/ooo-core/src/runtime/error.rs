//! The one error type every runtime adapter returns: what happened, and what to try.

use std::time::Duration;

/// What went wrong, in categories a program can act on (retry, re-login, give up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeErrorKind {
    /// The CLI is not installed, or not at the configured path.
    NotInstalled,
    /// The CLI is older than the adapter supports.
    VersionTooOld,
    /// Not logged in, no key, or the key was refused (401/403).
    Auth,
    /// The model or endpoint does not exist (404), or the base URL is wrong.
    NotFound,
    /// 429 after every retry.
    RateLimited,
    /// 5xx after every retry, or the connection failed.
    Unavailable,
    /// Any other 4xx: the request itself was refused.
    BadRequest,
    /// The stream or the output did not follow the wire format.
    Protocol,
    /// The model's JSON did not match the requested schema.
    SchemaMismatch,
    /// No output for longer than the idle limit.
    IdleTimeout,
    /// The run took longer than its wall-clock limit.
    WallClockTimeout,
    /// Cancelled by the caller.
    Cancelled,
    /// The CLI exited without reporting a result.
    NoResult,
    /// The agent reported a failure.
    AgentFailed,
    /// `OUROBOROS_DEPTH` would exceed the limit.
    DepthExceeded,
    /// The task cannot be run as given (a resume handle from another runtime, ...).
    InvalidTask,
    /// Starting or talking to the process failed.
    Io,
}

impl RuntimeErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeErrorKind::NotInstalled => "not_installed",
            RuntimeErrorKind::VersionTooOld => "version_too_old",
            RuntimeErrorKind::Auth => "auth",
            RuntimeErrorKind::NotFound => "not_found",
            RuntimeErrorKind::RateLimited => "rate_limited",
            RuntimeErrorKind::Unavailable => "unavailable",
            RuntimeErrorKind::BadRequest => "bad_request",
            RuntimeErrorKind::Protocol => "protocol",
            RuntimeErrorKind::SchemaMismatch => "schema_mismatch",
            RuntimeErrorKind::IdleTimeout => "idle_timeout",
            RuntimeErrorKind::WallClockTimeout => "wall_clock_timeout",
            RuntimeErrorKind::Cancelled => "cancelled",
            RuntimeErrorKind::NoResult => "no_result",
            RuntimeErrorKind::AgentFailed => "agent_failed",
            RuntimeErrorKind::DepthExceeded => "depth_exceeded",
            RuntimeErrorKind::InvalidTask => "invalid_task",
            RuntimeErrorKind::Io => "io",
        }
    }
}

/// A runtime failure: its kind, a message saying what happened, and a hint saying what
/// to do. Rendered by the binary as `error: {message}` and `hint: {hint}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{runtime}: {message}")]
pub struct RuntimeError {
    pub kind: RuntimeErrorKind,
    /// The adapter that failed (`claude`, `anthropic`, ...).
    pub runtime: String,
    pub message: String,
    pub hint: String,
    /// HTTP status, when the failure was an HTTP answer.
    pub status: Option<u16>,
    /// How long the provider asked us to wait, when it said.
    pub retry_after: Option<Duration>,
}

impl RuntimeError {
    pub fn new(
        kind: RuntimeErrorKind,
        runtime: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        RuntimeError {
            kind,
            runtime: runtime.into(),
            message: message.into(),
            hint: hint.into(),
            status: None,
            retry_after: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }
}
