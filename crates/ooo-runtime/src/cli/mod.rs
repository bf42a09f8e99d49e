//! Agent CLIs as [`AgentRuntime`]s: what each CLI needs ([`CliAdapter`]: its command line,
//! environment, permission table and stdout parser, one module per CLI) and the one
//! driver that runs any of them ([`CliRuntime`]).
//!
//! What does not live here: spawning and killing processes ([`crate::process`]), the
//! child environment allowlist mechanics ([`crate::env`]), and HTTP providers.

pub mod claude;
pub mod codex;
pub mod discover;
mod driver;
pub mod gemini;
pub mod opencode;
mod provider;

pub use driver::{CliRuntime, TRANSCRIPT_CAP_BYTES};
pub use provider::CliProvider;

use std::ffi::OsString;
use std::path::PathBuf;

use ooo_core::runtime::{AgentEvent, AgentTask, FinalResult, RuntimeError, RuntimeErrorKind};

/// What a user configured for one CLI (from `config.toml`'s `[runtime.<name>]`, or
/// defaults). Everything optional falls back to the CLI's own configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliSettings {
    /// The executable; `None` looks the CLI's usual name up on `PATH`.
    pub path: Option<PathBuf>,
    /// Default model when a task names none.
    pub model: Option<String>,
    /// The provider base URL to point the CLI at (a proxy, a local model, a test fake).
    pub base_url: Option<String>,
    /// The name of the environment variable holding the API key, when not the CLI's usual.
    pub api_key_env: Option<String>,
    /// The CLI runs inside ooo's OS sandbox (`ooo-sandbox`, through the launcher named
    /// `sandbox`), which is then the OS sandbox of everything it starts: an adapter must
    /// not ask the CLI for its own (Codex's `bwrap` cannot nest, as the sandbox refuses
    /// nested user namespaces). Set by [`CliRuntime::with_launcher`], not by config.
    pub confined: bool,
}

/// One concrete invocation of a CLI, built by an adapter. The driver adds the
/// environment allowlist, stdin `/dev/null`, a process group and the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliCommand {
    pub args: Vec<OsString>,
    /// Variables set on top of the allowlisted caller environment (quietness switches,
    /// base URLs from settings).
    pub env: Vec<(String, String)>,
}

/// What a CLI's output said once it is over, beyond the events already emitted.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEnd {
    /// The CLI reported its result; the driver emits this last.
    Final(AgentEvent),
    /// It never did (exit without a result event).
    Missing,
}

/// Turns one CLI's machine-readable stdout into normalised events, line by line.
///
/// Unknown event types are ignored (CLIs add them often), and so is a line that is not
/// JSON at all (CLIs print warnings on stdout too): `line` returns no events for it, and
/// the driver keeps every raw line in the transcript anyway. An error event of the CLI
/// becomes a [`RuntimeError`] with a hint, returned by `finish`: CLIs also print errors
/// for retries that then succeed, so the run's last word (its result or an error)
/// decides. `line` fails only when the run can no longer succeed but the CLI would keep
/// going (Claude Code retrying a refused key for minutes): the driver then ends it.
pub trait StreamParser: Send {
    /// Events for one complete line (without its newline).
    fn line(&mut self, line: &str) -> Result<Vec<AgentEvent>, RuntimeError>;
    /// Has the stream reported how the run ended (a result, or a failed turn)? The
    /// driver then gives the CLI a short grace to exit and ends it if it lingers, so a
    /// CLI that reports its result and hangs is not mistaken for an idle one.
    fn reported_end(&self) -> bool;
    /// Called once at end of output with the exit code (`None` when killed by a
    /// signal). Returns the final event, or the error that explains the run's end.
    fn finish(&mut self, exit_code: Option<i32>) -> Result<StreamEnd, RuntimeError>;
}

/// Everything ooo knows about one agent CLI.
pub trait CliAdapter: Send + Sync + 'static {
    /// `claude`, `codex`, `gemini` or `opencode`: the runtime name and default binary.
    fn name(&self) -> &'static str;
    /// Environment variable names (beyond the common allowlist) this CLI may see: its
    /// keys, base URLs, config and session directories.
    fn env_allowlist(&self) -> &'static [&'static str];
    /// The arguments and extra environment for `task`. `caller` is the caller's
    /// environment, for settings that name a variable (`api_key_env`).
    fn command(
        &self,
        task: &AgentTask,
        settings: &CliSettings,
        caller: &crate::env::EnvMap,
    ) -> Result<CliCommand, RuntimeError>;
    /// Adjust the child's environment once the binary is known (`program`, as resolved).
    /// Nothing by default.
    fn adjust_env(&self, _program: &std::path::Path, _env: &mut crate::env::EnvMap) {}
    /// A parser for one run's stdout (`task` is the run's, for state carried in its
    /// resume handle).
    fn parser(&self, task: &AgentTask) -> Box<dyn StreamParser>;
    /// Arguments that print the version (`--version` for all four today).
    fn version_args(&self) -> &'static [&'static str] {
        &["--version"]
    }
    /// The oldest version the adapter was tested with, as `major.minor.patch`.
    fn min_version(&self) -> &'static str;
    /// The fix to print when the CLI is missing.
    fn install_hint(&self) -> &'static str;
    /// The npm package at the version ooo is tested with (`@openai/codex@0.171.0`). The
    /// install hint, `.ci/run` and the README name the same one (a test checks).
    fn tested_package(&self) -> &'static str;
}

/// The session `task` resumes, for the adapter `runtime`: a handle of another runtime,
/// or an id that is empty or could be read as an option, is an `InvalidTask` error.
/// `id_kind` names the id in messages (`session id`, `thread id`).
pub(crate) fn resume_session<'t>(
    runtime: &str,
    id_kind: &str,
    task: &'t AgentTask,
) -> Result<Option<&'t str>, RuntimeError> {
    let Some(handle) = &task.resume else { return Ok(None) };
    let invalid = |message: String, hint: String| {
        RuntimeError::new(RuntimeErrorKind::InvalidTask, runtime, message, hint)
    };
    if handle.runtime != runtime {
        return Err(invalid(
            format!("cannot resume a {} session with {runtime}", handle.runtime),
            format!("resume it with the runtime that started it (--runtime {})", handle.runtime),
        ));
    }
    if handle.session_id.is_empty() || handle.session_id.starts_with('-') {
        return Err(invalid(
            format!("`{}` is not a {runtime} {id_kind}", handle.session_id),
            format!("use the resume handle that a {runtime} run reported"),
        ));
    }
    Ok(Some(&handle.session_id))
}

/// The error kind an HTTP status from a model API stands for, as the four CLIs report
/// it; `None` for anything that is not an error status.
pub(crate) fn kind_for_status(status: u16) -> Option<RuntimeErrorKind> {
    match status {
        401 | 403 => Some(RuntimeErrorKind::Auth),
        404 => Some(RuntimeErrorKind::NotFound),
        429 => Some(RuntimeErrorKind::RateLimited),
        500..=599 => Some(RuntimeErrorKind::Unavailable),
        400..=499 => Some(RuntimeErrorKind::BadRequest),
        _ => None,
    }
}

/// How a stream ended, from the last word a parser kept: the final event, the error, or
/// nothing (the driver reports a missing result).
pub(crate) fn stream_end(
    end: Option<Result<FinalResult, RuntimeError>>,
) -> Result<StreamEnd, RuntimeError> {
    match end {
        Some(Ok(result)) => Ok(StreamEnd::Final(AgentEvent::Final(result))),
        Some(Err(error)) => Err(error),
        None => Ok(StreamEnd::Missing),
    }
}
