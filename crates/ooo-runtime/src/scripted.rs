//! A scripted runtime and provider for tests of the programs built on the runtime
//! traits: each `start` or `complete` takes the next script from a queue, and every task
//! and request is kept for assertions. A script can also touch the file system the way
//! an agent would (write a file in the task's directory), so a program's verify gate
//! sees real changes.
//!
//! What does not live here: anything that talks to a process or the network.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ooo_core::runtime::{
    AgentEvent, AgentRun, AgentRuntime, AgentTask, CancelHandle, Completion, CompletionOutput,
    CompletionRequest, FileChangeKind, FinalResult, LlmProvider, ResumeHandle, RuntimeError,
    RuntimeErrorKind, Usage,
};

/// The runtime name scripted runs report.
pub const SCRIPTED: &str = "scripted";

/// One step of a scripted agent run.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Emit this event as it is.
    Event(AgentEvent),
    /// Write `content` to `path` (relative to the task's directory) and emit a
    /// `FileChange`.
    WriteFile { path: PathBuf, content: String },
    /// Wait (lets tests cancel mid-run or exercise timeouts).
    Sleep(Duration),
    /// Fail the run with this error.
    Fail(RuntimeError),
}

/// A whole scripted run: its steps, then a final result unless a step failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub steps: Vec<Step>,
    /// `Some((success, text))` ends with a `Final` event; `None` ends without one, which
    /// the run reports as a `NoResult` error, as the CLI driver does.
    pub outcome: Option<(bool, String)>,
}

impl Script {
    /// A run that succeeds with `text`.
    pub fn succeed(text: impl Into<String>) -> Self {
        Script { steps: Vec::new(), outcome: Some((true, text.into())) }
    }

    /// A run whose agent reports failure with `text`.
    pub fn fail_with(text: impl Into<String>) -> Self {
        Script { steps: Vec::new(), outcome: Some((false, text.into())) }
    }

    /// A run that fails with `err` before any result.
    pub fn error(err: RuntimeError) -> Self {
        Script { steps: vec![Step::Fail(err)], outcome: None }
    }

    pub fn then(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    pub fn write(self, path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        self.then(Step::WriteFile { path: path.into(), content: content.into() })
    }

    pub fn say(self, text: impl Into<String>) -> Self {
        self.then(Step::Event(AgentEvent::AssistantText { text: text.into() }))
    }

    pub fn usage(self, input_tokens: u64, output_tokens: u64) -> Self {
        self.then(Step::Event(AgentEvent::Usage(Usage {
            input_tokens,
            output_tokens,
            ..Usage::default()
        })))
    }

    pub fn sleep(self, d: Duration) -> Self {
        self.then(Step::Sleep(d))
    }
}

/// An [`AgentRuntime`] that plays scripts in order.
#[derive(Default)]
pub struct ScriptedRuntime {
    scripts: Mutex<VecDeque<Script>>,
    tasks: Mutex<Vec<AgentTask>>,
    sessions: Mutex<u64>,
}

impl ScriptedRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue the script the next `start` plays.
    pub fn push(&self, script: Script) -> &Self {
        self.scripts.lock().expect("scripts lock").push_back(script);
        self
    }

    /// Every task started so far, in order.
    pub fn tasks(&self) -> Vec<AgentTask> {
        self.tasks.lock().expect("tasks lock").clone()
    }

    /// Scripts not played yet.
    pub fn remaining(&self) -> usize {
        self.scripts.lock().expect("scripts lock").len()
    }
}

impl AgentRuntime for ScriptedRuntime {
    fn name(&self) -> &str {
        SCRIPTED
    }

    fn start(&self, task: AgentTask) -> Result<Box<dyn AgentRun>, RuntimeError> {
        if let Some(handle) = &task.resume
            && handle.runtime != SCRIPTED
        {
            return Err(RuntimeError::new(
                RuntimeErrorKind::InvalidTask,
                SCRIPTED,
                format!("cannot resume a {} session", handle.runtime),
                "resume with the runtime that started it",
            ));
        }
        let script = self.scripts.lock().expect("scripts lock").pop_front().ok_or_else(|| {
            RuntimeError::new(
                RuntimeErrorKind::NoResult,
                SCRIPTED,
                "no script left for this run",
                "push one script per expected run",
            )
        })?;
        let session_id = match &task.resume {
            Some(handle) => handle.session_id.clone(),
            None => {
                let mut n = self.sessions.lock().expect("sessions lock");
                *n += 1;
                format!("scripted-{n}")
            }
        };
        self.tasks.lock().expect("tasks lock").push(task.clone());
        Ok(Box::new(ScriptedRun::new(script, task, session_id)))
    }
}

#[derive(Default)]
struct Cancelled(AtomicBool);

impl CancelHandle for Cancelled {
    fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct ScriptedRun {
    steps: VecDeque<Step>,
    outcome: Option<(bool, String)>,
    task: AgentTask,
    session_id: String,
    started: bool,
    done: bool,
    cancelled: Arc<Cancelled>,
    transcript: Vec<String>,
}

impl ScriptedRun {
    fn new(script: Script, task: AgentTask, session_id: String) -> Self {
        ScriptedRun {
            steps: script.steps.into(),
            outcome: script.outcome,
            task,
            session_id,
            started: false,
            done: false,
            cancelled: Arc::default(),
            transcript: Vec::new(),
        }
    }

    fn cancelled_error() -> RuntimeError {
        RuntimeError::new(RuntimeErrorKind::Cancelled, SCRIPTED, "the run was cancelled", "")
    }

    fn emit(&mut self, event: AgentEvent) -> Result<Option<AgentEvent>, RuntimeError> {
        self.transcript.push(serde_json::to_string(&event).unwrap_or_default());
        Ok(Some(event))
    }

    fn play(&mut self, step: Step) -> Result<Option<AgentEvent>, RuntimeError> {
        match step {
            Step::Event(event) => self.emit(event),
            Step::WriteFile { path, content } => {
                let full = self.task.cwd.join(&path);
                let existed = full.exists();
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_error(&full, e))?;
                }
                std::fs::write(&full, content).map_err(|e| io_error(&full, e))?;
                let kind = if existed { FileChangeKind::Modified } else { FileChangeKind::Added };
                self.emit(AgentEvent::FileChange { path, kind })
            }
            Step::Sleep(d) => {
                let until = std::time::Instant::now() + d;
                while std::time::Instant::now() < until {
                    if self.cancelled.0.load(Ordering::SeqCst) {
                        self.done = true;
                        return Err(Self::cancelled_error());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                self.next_event()
            }
            Step::Fail(err) => {
                self.done = true;
                Err(err)
            }
        }
    }
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::new(
        RuntimeErrorKind::Io,
        SCRIPTED,
        format!("scripted write to {}: {e}", path.display()),
        "",
    )
}

impl AgentRun for ScriptedRun {
    fn next_event(&mut self) -> Result<Option<AgentEvent>, RuntimeError> {
        if self.done {
            return Ok(None);
        }
        if self.cancelled.0.load(Ordering::SeqCst) {
            self.done = true;
            return Err(Self::cancelled_error());
        }
        if !self.started {
            self.started = true;
            let session_id = self.session_id.clone();
            return self
                .emit(AgentEvent::SessionStarted { session_id, model: self.task.model.clone() });
        }
        if let Some(step) = self.steps.pop_front() {
            return self.play(step);
        }
        self.done = true;
        match self.outcome.take() {
            Some((success, text)) => self.emit(AgentEvent::Final(FinalResult {
                success,
                text,
                resume: Some(ResumeHandle::new(SCRIPTED, self.session_id.clone())),
            })),
            None => Err(RuntimeError::new(
                RuntimeErrorKind::NoResult,
                SCRIPTED,
                "the scripted run ended without a result",
                "",
            )),
        }
    }

    fn canceller(&self) -> Arc<dyn CancelHandle> {
        self.cancelled.clone()
    }

    fn transcript(&self) -> &[String] {
        &self.transcript
    }
}

/// An [`LlmProvider`] that answers from a queue: text, JSON, or an error.
#[derive(Default)]
pub struct ScriptedProvider {
    answers: Mutex<VecDeque<Result<CompletionOutput, RuntimeError>>>,
    requests: Mutex<Vec<CompletionRequest>>,
}

impl ScriptedProvider {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push_text(&self, text: impl Into<String>) -> &Self {
        self.push(Ok(CompletionOutput::Text(text.into())))
    }

    pub fn push_json(&self, value: serde_json::Value) -> &Self {
        self.push(Ok(CompletionOutput::Json(value)))
    }

    pub fn push_error(&self, err: RuntimeError) -> &Self {
        self.push(Err(err))
    }

    fn push(&self, answer: Result<CompletionOutput, RuntimeError>) -> &Self {
        self.answers.lock().expect("answers lock").push_back(answer);
        self
    }

    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl LlmProvider for ScriptedProvider {
    fn name(&self) -> &str {
        SCRIPTED
    }

    /// A JSON answer to a structured request is validated against its schema, as real
    /// providers' answers are, so tests see the same `SchemaMismatch`.
    fn complete(&self, request: &CompletionRequest) -> Result<Completion, RuntimeError> {
        self.requests.lock().expect("requests lock").push(request.clone());
        let answer =
            self.answers.lock().expect("answers lock").pop_front().ok_or_else(|| {
                RuntimeError::new(
                    RuntimeErrorKind::NoResult,
                    SCRIPTED,
                    "no scripted answer left",
                    "push one answer per expected call",
                )
            })??;
        if let (Some(structured), CompletionOutput::Json(value)) = (&request.structured, &answer) {
            crate::structured::validate(SCRIPTED, &structured.schema, value)?;
        }
        let raw_text = match &answer {
            CompletionOutput::Text(t) => t.clone(),
            CompletionOutput::Json(v) => v.to_string(),
        };
        Ok(Completion {
            output: answer,
            usage: Usage {
                input_tokens: request.messages.iter().map(|m| m.content.len() as u64 / 4).sum(),
                output_tokens: raw_text.len() as u64 / 4,
                ..Usage::default()
            },
            raw_text,
            model: request.model.clone().unwrap_or_else(|| SCRIPTED.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(run: &mut dyn AgentRun) -> (Vec<AgentEvent>, Option<RuntimeError>) {
        let mut events = Vec::new();
        loop {
            match run.next_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => return (events, None),
                Err(e) => return (events, Some(e)),
            }
        }
    }

    #[test]
    fn plays_steps_writes_files_and_ends_with_final() {
        let dir = tempfile::tempdir().unwrap();
        let rt = ScriptedRuntime::new();
        rt.push(Script::succeed("done").write("src/a.txt", "hi").usage(10, 2));
        let mut run = rt.start(AgentTask::new("do it", dir.path())).unwrap();
        let (events, err) = drain(run.as_mut());
        assert!(err.is_none());
        assert_eq!(std::fs::read_to_string(dir.path().join("src/a.txt")).unwrap(), "hi");
        assert!(
            matches!(&events[0], AgentEvent::SessionStarted { session_id, .. } if session_id == "scripted-1")
        );
        assert!(matches!(&events[1], AgentEvent::FileChange { kind: FileChangeKind::Added, .. }));
        assert!(
            matches!(events.last(), Some(AgentEvent::Final(f)) if f.success && f.text == "done")
        );
        assert_eq!(rt.tasks().len(), 1);
        assert_eq!(run.transcript().len(), events.len());
    }

    #[test]
    fn resume_keeps_the_session_and_foreign_handles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rt = ScriptedRuntime::new();
        rt.push(Script::succeed("again"));
        let mut task = AgentTask::new("more", dir.path());
        task.resume = Some(ResumeHandle::new(SCRIPTED, "s-9"));
        let (events, _) = drain(rt.start(task.clone()).unwrap().as_mut());
        assert!(
            matches!(&events[0], AgentEvent::SessionStarted { session_id, .. } if session_id == "s-9")
        );
        task.resume = Some(ResumeHandle::new("claude", "x"));
        let err = rt.start(task).err().unwrap();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);
    }

    #[test]
    fn cancel_interrupts_a_sleep() {
        let dir = tempfile::tempdir().unwrap();
        let rt = ScriptedRuntime::new();
        rt.push(Script::succeed("late").sleep(Duration::from_secs(30)));
        let mut run = rt.start(AgentTask::new("x", dir.path())).unwrap();
        let c = run.canceller();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            c.cancel();
        });
        let (_, err) = drain(run.as_mut());
        assert_eq!(err.unwrap().kind, RuntimeErrorKind::Cancelled);
    }

    #[test]
    fn missing_result_and_empty_queue_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let rt = ScriptedRuntime::new();
        rt.push(Script { steps: vec![], outcome: None });
        let (_, err) = drain(rt.start(AgentTask::new("x", dir.path())).unwrap().as_mut());
        assert_eq!(err.unwrap().kind, RuntimeErrorKind::NoResult);
        assert_eq!(
            rt.start(AgentTask::new("x", dir.path())).err().unwrap().kind,
            RuntimeErrorKind::NoResult
        );
    }

    #[test]
    fn provider_validates_structured_answers() {
        use ooo_core::runtime::{Message, StructuredOutput};
        let p = ScriptedProvider::new();
        p.push_json(serde_json::json!({"score": "high"}));
        p.push_json(serde_json::json!({"score": 0.9}));
        let mut req = CompletionRequest::new(vec![Message::user("rate")]);
        req.structured = Some(StructuredOutput {
            name: "rating".into(),
            schema: serde_json::json!({"type":"object","required":["score"],"properties":{"score":{"type":"number"}}}),
        });
        assert_eq!(p.complete(&req).unwrap_err().kind, RuntimeErrorKind::SchemaMismatch);
        assert_eq!(
            p.complete(&req).unwrap().output,
            CompletionOutput::Json(serde_json::json!({"score": 0.9}))
        );
        assert_eq!(p.requests().len(), 2);
    }
}
