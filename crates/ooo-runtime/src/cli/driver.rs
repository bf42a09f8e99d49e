//! [`CliRuntime`]: any [`CliAdapter`] as an [`AgentRuntime`]. It resolves the binary,
//! builds the child's environment from the allowlist, checks the nesting depth, starts
//! the process through the [`Launcher`] and turns stdout into events with the adapter's
//! parser. What does not live here: anything specific to one CLI.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ooo_core::runtime::{
    AgentEvent, AgentRun, AgentRuntime, AgentTask, CancelHandle, RuntimeError, RuntimeErrorKind,
};

use super::discover::resolve_binary;
use super::{CliAdapter, CliSettings, StreamEnd, StreamParser};
use crate::env::{EnvMap, caller_env, child_depth, child_env};
use crate::process::{DirectLauncher, Launcher, NextLine, ProcessSpec, RunningProcess, spawn};

/// The transcript keeps at most about this many bytes of raw lines: past it, the oldest
/// half is dropped (and counted), so the end of a long run, where its error is, stays.
pub const TRANSCRIPT_CAP_BYTES: usize = 8 * 1024 * 1024;

/// How long a CLI may keep running after it reported how the run ended, before it is
/// ended (a CLI waiting on a lingering child after its result).
pub const RESULT_GRACE: Duration = Duration::from_secs(10);

/// An agent CLI driven through its adapter.
pub struct CliRuntime {
    adapter: Arc<dyn CliAdapter>,
    settings: CliSettings,
    launcher: Arc<dyn Launcher>,
    caller: EnvMap,
    result_grace: Duration,
}

impl CliRuntime {
    /// A runtime for `adapter` with `settings`, launching directly, with this process's
    /// environment as the caller's.
    pub fn new(adapter: Arc<dyn CliAdapter>, settings: CliSettings) -> Self {
        CliRuntime {
            adapter,
            settings,
            launcher: Arc::new(DirectLauncher),
            caller: caller_env(),
            result_grace: RESULT_GRACE,
        }
    }

    /// How long the CLI may linger after reporting its result (default [`RESULT_GRACE`]).
    pub fn with_result_grace(mut self, grace: Duration) -> Self {
        self.result_grace = grace;
        self
    }

    /// Launch through `launcher` (the sandbox) instead of directly. A launcher named
    /// [`crate::sandboxed::LAUNCHER_NAME`] confines the CLI ([`CliSettings::confined`]): adapters then leave OS
    /// confinement to it.
    pub fn with_launcher(mut self, launcher: Arc<dyn Launcher>) -> Self {
        self.settings.confined = launcher.name() == crate::sandboxed::LAUNCHER_NAME;
        self.launcher = launcher;
        self
    }

    /// Use `caller` as the caller's environment (tests, and callers that curate it).
    pub fn with_caller_env(mut self, caller: EnvMap) -> Self {
        self.caller = caller;
        self
    }

    pub fn adapter(&self) -> &dyn CliAdapter {
        self.adapter.as_ref()
    }

    pub fn settings(&self) -> &CliSettings {
        &self.settings
    }

    /// The executable this runtime would start.
    pub fn binary(&self) -> Result<PathBuf, RuntimeError> {
        resolve_binary(self.adapter.as_ref(), &self.settings, &self.caller)
    }

    /// The exact process spec for `task` (what `start` runs), without running it.
    pub fn process_spec(&self, task: &AgentTask) -> Result<ProcessSpec, RuntimeError> {
        let name = self.adapter.name();
        let depth = child_depth(&self.caller, name)?;
        // The adapter checks the task (a resume handle of another runtime, ...) before
        // the binary is looked for, so that mistake is the one reported.
        let command = self.adapter.command(task, &self.settings, &self.caller)?;
        let program = self.binary()?;
        // The key variable a user named in the settings passes too, and nothing else.
        let mut allow: Vec<&str> = self.adapter.env_allowlist().to_vec();
        allow.extend(self.settings.api_key_env.as_deref());
        let mut env = child_env(&self.caller, &allow, &command.env, depth);
        self.adapter.adjust_env(&program, &mut env);
        Ok(ProcessSpec { program, args: command.args, env, cwd: task.cwd.clone() })
    }
}

impl AgentRuntime for CliRuntime {
    fn name(&self) -> &str {
        self.adapter.name()
    }

    fn start(&self, task: AgentTask) -> Result<Box<dyn AgentRun>, RuntimeError> {
        let name = self.adapter.name();
        if !task.cwd.is_dir() {
            return Err(RuntimeError::new(
                RuntimeErrorKind::InvalidTask,
                name,
                format!("the working directory {} does not exist", task.cwd.display()),
                "run from an existing repository or pass an existing directory",
            ));
        }
        let spec = self.process_spec(&task)?;
        let process = spawn(self.launcher.as_ref(), &spec, task.limits).map_err(|e| {
            RuntimeError::new(
                RuntimeErrorKind::Io,
                name,
                format!("could not start {}: {e}", spec.program.display()),
                self.adapter.install_hint(),
            )
        })?;
        Ok(Box::new(CliRun {
            runtime: name.to_owned(),
            process,
            parser: self.adapter.parser(&task),
            pending: VecDeque::new(),
            transcript: Vec::new(),
            transcript_bytes: 0,
            transcript_dropped: 0,
            end_deadline: None,
            result_grace: self.result_grace,
            state: RunState::Running,
        }))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RunState {
    Running,
    /// The final event was queued; `None` follows once the queue is empty.
    Finished,
    /// An error was returned; nothing follows.
    Failed,
}

struct CliRun {
    runtime: String,
    process: RunningProcess,
    parser: Box<dyn StreamParser>,
    pending: VecDeque<AgentEvent>,
    transcript: Vec<String>,
    transcript_bytes: usize,
    /// Lines dropped from the front of the transcript to respect the cap.
    transcript_dropped: u64,
    /// Set once the parser saw the run's end: the CLI must exit before this.
    end_deadline: Option<Instant>,
    result_grace: Duration,
    state: RunState,
}

impl CliRun {
    fn keep(&mut self, line: &str) {
        self.transcript_bytes += line.len();
        self.transcript.push(line.to_owned());
        if self.transcript_bytes > TRANSCRIPT_CAP_BYTES {
            let drop = self.transcript.len().div_ceil(2);
            let freed: usize = self.transcript[..drop].iter().map(String::len).sum();
            self.transcript.drain(..drop);
            self.transcript_bytes -= freed;
            self.transcript_dropped += drop as u64;
        }
    }

    fn fail(&mut self, err: RuntimeError) -> Result<Option<AgentEvent>, RuntimeError> {
        self.state = RunState::Failed;
        self.process.kill_tree();
        Err(err)
    }

    fn stderr_summary(&self) -> String {
        let tail = self.process.stderr_tail();
        let tail: Vec<&String> = tail.iter().rev().take(5).collect();
        if tail.is_empty() {
            "nothing on stderr".to_owned()
        } else {
            let lines: Vec<&str> = tail.iter().rev().map(|s| s.as_str()).collect();
            format!("stderr: {}", lines.join(" | "))
        }
    }

    fn timeout_error(&self, kind: RuntimeErrorKind) -> RuntimeError {
        let what = match kind {
            RuntimeErrorKind::IdleTimeout => "printed nothing for longer than the idle limit",
            RuntimeErrorKind::WallClockTimeout => "ran longer than the wall-clock limit",
            _ => "was cancelled",
        };
        let hint = match kind {
            RuntimeErrorKind::Cancelled => "nothing to fix: the run was cancelled on request",
            _ => {
                "the agent or its model may be stuck (a provider retrying, a prompt waiting for input); check the transcript in the journal, or raise the limit"
            }
        };
        RuntimeError::new(
            kind,
            &self.runtime,
            format!("the agent {what}; its processes were ended"),
            hint,
        )
    }

    fn end_of_output(&mut self) -> Result<Option<AgentEvent>, RuntimeError> {
        let exit = self.process.wait_exit();
        match self.parser.finish(exit) {
            Ok(StreamEnd::Final(event)) => {
                self.state = RunState::Finished;
                self.pending.push_back(event);
                Ok(self.pending.pop_front())
            }
            Ok(StreamEnd::Missing) => {
                let code = exit.map_or("a signal".to_owned(), |c| format!("exit code {c}"));
                let err = RuntimeError::new(
                    RuntimeErrorKind::NoResult,
                    &self.runtime,
                    format!(
                        "the CLI ended ({code}) without reporting a result; {}",
                        self.stderr_summary()
                    ),
                    "run the same CLI by hand to see its error; a login or configuration problem is the usual cause",
                );
                self.fail(err)
            }
            Err(err) => self.fail(err),
        }
    }
}

impl AgentRun for CliRun {
    fn next_event(&mut self) -> Result<Option<AgentEvent>, RuntimeError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.state != RunState::Running {
                return Ok(None);
            }
            match self.process.next_line_until(self.end_deadline) {
                NextLine::Line(line) => {
                    self.keep(&line);
                    match self.parser.line(&line) {
                        Ok(events) => self.pending.extend(events),
                        Err(err) => return self.fail(err),
                    }
                    self.end_deadline = match (self.parser.reported_end(), self.end_deadline) {
                        (true, None) => Some(Instant::now() + self.result_grace),
                        (true, deadline) => deadline,
                        (false, _) => None,
                    };
                }
                NextLine::Eof => return self.end_of_output(),
                NextLine::Deadline => {
                    // The result is in; the CLI lingers. End it and report the result.
                    self.process.kill_tree();
                    return self.end_of_output();
                }
                NextLine::IdleTimeout => {
                    return self.fail(self.timeout_error(RuntimeErrorKind::IdleTimeout));
                }
                NextLine::WallClockTimeout => {
                    return self.fail(self.timeout_error(RuntimeErrorKind::WallClockTimeout));
                }
                NextLine::Cancelled => {
                    return self.fail(self.timeout_error(RuntimeErrorKind::Cancelled));
                }
            }
        }
    }

    fn canceller(&self) -> Arc<dyn CancelHandle> {
        self.process.canceller()
    }

    fn transcript(&self) -> &[String] {
        &self.transcript
    }

    fn transcript_dropped(&self) -> u64 {
        self.transcript_dropped
    }
}
