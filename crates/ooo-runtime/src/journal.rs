//! The journal: every agent run and every LLM call, recorded in the ledger under the
//! caller's aggregate, so a user can see what each one cost and how long it took.
//!
//! [`JournaledRuntime`] and [`JournaledProvider`] wrap any runtime or provider. A run
//! appends `runtime.run.started` durably before the agent starts (it spends money) and
//! `runtime.run.finished` when it ends, however it ends (result, error, cancel, or the
//! run dropped unfinished); a completion appends `runtime.llm.called`. Records carry
//! the runtime and its version, the models requested and returned, start time,
//! duration, tokens, cost, the outcome, sha256 of the prompt and the output, and short
//! previews; a failed run also keeps the tail of its transcript. Everything textual is
//! redacted first (credential shapes, and the exact values of secrets in the child's
//! environment): secrets never reach the ledger.
//!
//! What does not live here: the ledger itself (`ooo-core`), and how events are shown.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use ooo_core::ledger::{Actor, AggregateRef, AppendOptions, EventType, NewEvent, Store};
use ooo_core::runtime::{
    AgentEvent, AgentRun, AgentRuntime, AgentTask, CancelHandle, Completion, CompletionOutput,
    CompletionRequest, LlmProvider, RuntimeError, RuntimeErrorKind, SandboxClass, Usage,
};
use ooo_core::safety::redaction::{REDACTED, redact_text};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Event types the journal appends.
pub mod event_types {
    pub const RUN_STARTED: &str = "runtime.run.started";
    pub const RUN_FINISHED: &str = "runtime.run.finished";
    pub const LLM_CALLED: &str = "runtime.llm.called";
}

/// Characters kept in a preview.
pub const PREVIEW_CHARS: usize = 200;
/// Transcript lines kept in the record of a run that did not succeed.
pub const TRANSCRIPT_TAIL_LINES: usize = 20;
/// Bytes of one transcript line kept in that tail.
const TAIL_LINE_BYTES: usize = 2048;

/// Where journal records go. The ledger is the real sink; tests may collect them.
pub trait JournalSink: Send + Sync {
    /// Append one record. `durable` asks for stable storage before returning (used for
    /// records that precede an external effect).
    fn record(&self, event_type: &str, payload: Value, durable: bool) -> Result<(), RuntimeError>;
}

/// Records into a ledger store, under one aggregate, as one actor.
pub struct LedgerJournal {
    store: Mutex<Box<dyn Store + Send>>,
    aggregate: AggregateRef,
    actor: Actor,
}

impl LedgerJournal {
    pub fn new(store: Box<dyn Store + Send>, aggregate: AggregateRef, actor: Actor) -> Self {
        LedgerJournal { store: Mutex::new(store), aggregate, actor }
    }
}

impl JournalSink for LedgerJournal {
    fn record(&self, event_type: &str, payload: Value, durable: bool) -> Result<(), RuntimeError> {
        let ledger_error = |e: ooo_core::ledger::LedgerError| {
            RuntimeError::new(
                RuntimeErrorKind::Io,
                "journal",
                format!("could not record {event_type} in the ledger: {e}"),
                "run `ooo ledger verify` to check the ledger",
            )
        };
        let event = NewEvent::new(
            self.aggregate.clone(),
            EventType::parse(event_type).map_err(ledger_error)?,
            self.actor.clone(),
            payload,
        )
        .map_err(ledger_error)?;
        let durability = if durable {
            ooo_core::ledger::Durability::Durable
        } else {
            ooo_core::ledger::Durability::Relaxed
        };
        let mut store = self.store.lock().map_err(|_| {
            RuntimeError::new(RuntimeErrorKind::Io, "journal", "the ledger lock is poisoned", "")
        })?;
        store.append(&[event], AppendOptions { durability }).map_err(ledger_error)?;
        Ok(())
    }
}

/// Collects records in memory (tests, and `--json` output of one-off checks).
#[derive(Default)]
pub struct MemoryJournal {
    records: Mutex<Vec<(String, Value)>>,
}

impl MemoryJournal {
    pub fn records(&self) -> Vec<(String, Value)> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl JournalSink for MemoryJournal {
    fn record(&self, event_type: &str, payload: Value, _durable: bool) -> Result<(), RuntimeError> {
        if let Ok(mut r) = self.records.lock() {
            r.push((event_type.to_owned(), payload));
        }
        Ok(())
    }
}

/// Called when a record could not be written. The run or call it describes has already
/// happened, so its result is still returned; the handler makes the failure visible
/// (the binary prints a warning).
pub type JournalErrorHandler = Arc<dyn Fn(&RuntimeError) + Send + Sync>;

fn ignore_errors() -> JournalErrorHandler {
    Arc::new(|_| {})
}

/// What the journal says about the runtime itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// The version the runtime reported (`2.1.332 (Claude Code)`), when known.
    pub version: Option<String>,
    /// How processes are launched (`direct`, `sandbox`).
    pub launcher: Option<String>,
    /// Secret values to mask wherever they appear (the child's keys).
    pub secrets: Vec<String>,
}

/// Redacts text for the journal: credential shapes and the known secret values.
#[derive(Debug, Clone, Default)]
struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    fn clean(&self, text: &str) -> String {
        let mut out = redact_text(text);
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
        out
    }

    fn preview(&self, text: &str) -> String {
        let cleaned = self.clean(text);
        let mut p: String = cleaned.chars().take(PREVIEW_CHARS).collect();
        if p.len() < cleaned.len() {
            p.push('…');
        }
        p
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    })
}

fn error_json(err: &RuntimeError, redactor: &Redactor) -> Value {
    json!({
        "kind": err.kind.as_str(),
        "message": redactor.clean(&err.message),
        "status": err.status,
    })
}

/// Wraps an [`AgentRuntime`] so each run is journaled.
pub struct JournaledRuntime {
    inner: Arc<dyn AgentRuntime>,
    sink: Arc<dyn JournalSink>,
    info: RuntimeInfo,
    on_error: JournalErrorHandler,
}

impl JournaledRuntime {
    pub fn new(
        inner: Arc<dyn AgentRuntime>,
        sink: Arc<dyn JournalSink>,
        info: RuntimeInfo,
    ) -> Self {
        JournaledRuntime { inner, sink, info, on_error: ignore_errors() }
    }

    /// Report records that could not be written to `handler`.
    pub fn on_journal_error(mut self, handler: JournalErrorHandler) -> Self {
        self.on_error = handler;
        self
    }
}

impl AgentRuntime for JournaledRuntime {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn start(&self, task: AgentTask) -> Result<Box<dyn AgentRun>, RuntimeError> {
        let redactor = Redactor { secrets: self.info.secrets.clone() };
        let run_id = ulid::Ulid::new().to_string();
        let started_at = now_rfc3339();
        let started = Instant::now();
        let started_payload = json!({
            "run_id": run_id,
            "runtime": self.inner.name(),
            "runtime_version": self.info.version,
            "launcher": self.info.launcher,
            "sandbox": task.sandbox.as_str(),
            "unrestricted": task.sandbox == SandboxClass::Unrestricted,
            "model_requested": task.model,
            "cwd": task.cwd.display().to_string(),
            "resume_of": task.resume.as_ref().map(|h| &h.session_id),
            "started_at": started_at,
            "prompt_sha256": sha256_hex(task.prompt.as_bytes()),
            "prompt_preview": redactor.preview(&task.prompt),
        });
        // Durable before the agent starts: a run that spends money is never unrecorded.
        self.sink.record(event_types::RUN_STARTED, started_payload, true)?;
        let mut record = RunRecord {
            sink: Arc::clone(&self.sink),
            on_error: Arc::clone(&self.on_error),
            redactor,
            run_id,
            runtime: self.inner.name().to_owned(),
            model_requested: task.model.clone(),
            started_at,
            started,
            session_id: None,
            model_returned: None,
            usage: Usage::default(),
            text: String::new(),
            written: false,
        };
        match self.inner.start(task) {
            Ok(inner) => Ok(Box::new(JournaledRun { inner, record })),
            Err(err) => {
                record.finish(Outcome::Error(&err), &[], 0);
                Err(err)
            }
        }
    }
}

enum Outcome<'a> {
    Final {
        success: bool,
        text: &'a str,
    },
    Error(&'a RuntimeError),
    /// The caller dropped the run before it ended.
    Abandoned,
}

struct RunRecord {
    sink: Arc<dyn JournalSink>,
    on_error: JournalErrorHandler,
    redactor: Redactor,
    run_id: String,
    runtime: String,
    model_requested: Option<String>,
    started_at: String,
    started: Instant,
    session_id: Option<String>,
    model_returned: Option<String>,
    usage: Usage,
    /// The agent's text so far (the output when no final text comes).
    text: String,
    written: bool,
}

impl RunRecord {
    fn observe(&mut self, event: &AgentEvent) {
        match event {
            AgentEvent::SessionStarted { session_id, model } => {
                self.session_id = Some(session_id.clone());
                if model.is_some() {
                    self.model_returned.clone_from(model);
                }
            }
            AgentEvent::AssistantText { text } => self.text.push_str(text),
            AgentEvent::Usage(u) => self.usage.add(u),
            _ => {}
        }
    }

    fn finish(&mut self, outcome: Outcome<'_>, transcript: &[String], dropped: u64) {
        if self.written {
            return;
        }
        self.written = true;
        let (result, success, output, error) = match &outcome {
            Outcome::Final { success, text } => {
                (if *success { "success" } else { "agent_failed" }, *success, *text, Value::Null)
            }
            Outcome::Error(err) => {
                (err.kind.as_str(), false, self.text.as_str(), error_json(err, &self.redactor))
            }
            Outcome::Abandoned => ("abandoned", false, self.text.as_str(), Value::Null),
        };
        let joined = transcript.join("\n");
        let mut payload = json!({
            "run_id": self.run_id,
            "runtime": self.runtime,
            "result": result,
            "success": success,
            "error": error,
            "session_id": self.session_id,
            "model_requested": self.model_requested,
            "model_returned": self.model_returned,
            "started_at": self.started_at,
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "usage": usage_json(&self.usage),
            "cost_usd": self.usage.cost_usd,
            "output_sha256": sha256_hex(output.as_bytes()),
            "output_preview": self.redactor.preview(output),
            "transcript_lines": transcript.len() as u64 + dropped,
            "transcript_sha256": sha256_hex(joined.as_bytes()),
        });
        if !success {
            payload["transcript_tail"] = Value::from(self.tail(transcript));
        }
        // The run has already happened: a journal failure must not hide its result.
        if let Err(err) = self.sink.record(event_types::RUN_FINISHED, payload, true) {
            (self.on_error)(&err);
        }
    }

    fn tail(&self, transcript: &[String]) -> Vec<String> {
        let start = transcript.len().saturating_sub(TRANSCRIPT_TAIL_LINES);
        transcript[start..]
            .iter()
            .map(|line| {
                let mut l = self.redactor.clean(line);
                if l.len() > TAIL_LINE_BYTES {
                    let mut cut = TAIL_LINE_BYTES;
                    while !l.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    l.truncate(cut);
                    l.push('…');
                }
                l
            })
            .collect()
    }
}

struct JournaledRun {
    inner: Box<dyn AgentRun>,
    record: RunRecord,
}

impl AgentRun for JournaledRun {
    fn next_event(&mut self) -> Result<Option<AgentEvent>, RuntimeError> {
        match self.inner.next_event() {
            Ok(Some(event)) => {
                self.record.observe(&event);
                if let AgentEvent::Final(f) = &event {
                    let outcome = Outcome::Final { success: f.success, text: &f.text };
                    self.record.finish(
                        outcome,
                        self.inner.transcript(),
                        self.inner.transcript_dropped(),
                    );
                }
                Ok(Some(event))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.record.finish(
                    Outcome::Error(&err),
                    self.inner.transcript(),
                    self.inner.transcript_dropped(),
                );
                Err(err)
            }
        }
    }

    fn canceller(&self) -> Arc<dyn CancelHandle> {
        self.inner.canceller()
    }

    fn transcript(&self) -> &[String] {
        self.inner.transcript()
    }

    fn transcript_dropped(&self) -> u64 {
        self.inner.transcript_dropped()
    }
}

impl Drop for JournaledRun {
    fn drop(&mut self) {
        if !self.record.written {
            self.inner.canceller().cancel();
            let transcript = self.inner.transcript().to_vec();
            self.record.finish(Outcome::Abandoned, &transcript, self.inner.transcript_dropped());
        }
    }
}

/// Wraps an [`LlmProvider`] so each completion is journaled.
pub struct JournaledProvider {
    inner: Arc<dyn LlmProvider>,
    sink: Arc<dyn JournalSink>,
    info: RuntimeInfo,
    on_error: JournalErrorHandler,
}

impl JournaledProvider {
    pub fn new(inner: Arc<dyn LlmProvider>, sink: Arc<dyn JournalSink>, info: RuntimeInfo) -> Self {
        JournaledProvider { inner, sink, info, on_error: ignore_errors() }
    }

    /// Report records that could not be written to `handler`.
    pub fn on_journal_error(mut self, handler: JournalErrorHandler) -> Self {
        self.on_error = handler;
        self
    }
}

impl LlmProvider for JournaledProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Completion, RuntimeError> {
        let redactor = Redactor { secrets: self.info.secrets.clone() };
        let started_at = now_rfc3339();
        let started = Instant::now();
        let result = self.inner.complete(request);
        let prompt: String =
            request.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n\n");
        let (outcome, model, usage, output, error) = match &result {
            Ok(c) => {
                let output = match &c.output {
                    CompletionOutput::Text(t) => t.clone(),
                    CompletionOutput::Json(v) => v.to_string(),
                };
                ("success", Some(c.model.as_str()), c.usage, output, Value::Null)
            }
            Err(err) => (
                err.kind.as_str(),
                None,
                Usage::default(),
                String::new(),
                error_json(err, &redactor),
            ),
        };
        let payload = json!({
            "call_id": ulid::Ulid::new().to_string(),
            "provider": self.inner.name(),
            "provider_version": self.info.version,
            "result": outcome,
            "error": error,
            "model_requested": request.model,
            "model_returned": model,
            "structured": request.structured.as_ref().map(|s| &s.name),
            "started_at": started_at,
            "duration_ms": started.elapsed().as_millis() as u64,
            "usage": usage_json(&usage),
            "cost_usd": usage.cost_usd,
            "prompt_sha256": sha256_hex(prompt.as_bytes()),
            "prompt_preview": redactor.preview(&prompt),
            "output_sha256": sha256_hex(output.as_bytes()),
            "output_preview": redactor.preview(&output),
        });
        // The call has happened (and may have cost money): its answer is returned even
        // when the record fails.
        if let Err(err) = self.sink.record(event_types::LLM_CALLED, payload, false) {
            (self.on_error)(&err);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use ooo_core::runtime::Message;

    use super::*;
    use crate::scripted::{Script, ScriptedProvider, ScriptedRuntime};

    fn journaled(rt: Arc<ScriptedRuntime>) -> (JournaledRuntime, Arc<MemoryJournal>) {
        let sink = Arc::new(MemoryJournal::default());
        let info = RuntimeInfo {
            version: Some("1.0.0".into()),
            launcher: Some("direct".into()),
            secrets: vec!["sk-live-SECRETVALUE123".into()],
        };
        (JournaledRuntime::new(rt, sink.clone(), info), sink)
    }

    fn drain(run: &mut dyn AgentRun) -> Option<RuntimeError> {
        loop {
            match run.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    #[test]
    fn a_run_is_recorded_before_and_after_with_usage_and_redaction() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(ScriptedRuntime::new());
        rt.push(Script::succeed("done with sk-live-SECRETVALUE123").usage(100, 20));
        let (jr, sink) = journaled(rt);
        let mut task = AgentTask::new("use key sk-live-SECRETVALUE123 please", dir.path());
        task.model = Some("m1".into());
        let mut run = jr.start(task).unwrap();
        assert!(drain(run.as_mut()).is_none());
        let records = sink.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, event_types::RUN_STARTED);
        assert_eq!(records[1].0, event_types::RUN_FINISHED);
        let text = serde_json::to_string(&records).unwrap();
        assert!(!text.contains("SECRETVALUE"), "{text}");
        let fin = &records[1].1;
        assert_eq!(fin["result"], "success");
        assert_eq!(fin["usage"]["input_tokens"], 100);
        assert_eq!(fin["model_requested"], "m1");
        assert_eq!(records[0].1["runtime_version"], "1.0.0");
        assert!(fin.get("transcript_tail").is_none());
    }

    #[test]
    fn a_failed_run_keeps_its_transcript_tail() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(ScriptedRuntime::new());
        rt.push(Script { steps: vec![], outcome: None }.say("working"));
        let (jr, sink) = journaled(rt);
        let mut run = jr.start(AgentTask::new("x", dir.path())).unwrap();
        assert_eq!(drain(run.as_mut()).unwrap().kind, RuntimeErrorKind::NoResult);
        let fin = &sink.records()[1].1;
        assert_eq!(fin["result"], "no_result");
        assert_eq!(fin["transcript_tail"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_dropped_run_is_recorded_as_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(ScriptedRuntime::new());
        rt.push(Script::succeed("x"));
        let (jr, sink) = journaled(rt);
        drop(jr.start(AgentTask::new("x", dir.path())).unwrap());
        assert_eq!(sink.records()[1].1["result"], "abandoned");
    }

    #[test]
    fn a_refused_start_is_still_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(ScriptedRuntime::new());
        let (jr, sink) = journaled(rt);
        assert!(jr.start(AgentTask::new("x", dir.path())).is_err());
        assert_eq!(sink.records()[1].1["result"], "no_result");
    }

    #[test]
    fn a_completion_is_recorded_with_its_model() {
        let p = Arc::new(ScriptedProvider::new());
        p.push_text("hello");
        let sink = Arc::new(MemoryJournal::default());
        let jp = JournaledProvider::new(p, sink.clone(), RuntimeInfo::default());
        let mut req = CompletionRequest::new(vec![Message::user("hi")]);
        req.model = Some("m2".into());
        jp.complete(&req).unwrap();
        let (ty, payload) = &sink.records()[0];
        assert_eq!(ty, event_types::LLM_CALLED);
        assert_eq!(payload["model_returned"], "m2");
        assert_eq!(payload["output_preview"], "hello");
    }

    struct FailingSink;

    impl JournalSink for FailingSink {
        fn record(&self, event_type: &str, _: Value, _: bool) -> Result<(), RuntimeError> {
            if event_type == event_types::RUN_STARTED {
                return Ok(());
            }
            Err(RuntimeError::new(RuntimeErrorKind::Io, "journal", "disk full", ""))
        }
    }

    #[test]
    fn a_failed_record_is_reported_and_the_result_kept() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: JournalErrorHandler = {
            let seen = Arc::clone(&seen);
            Arc::new(move |e: &RuntimeError| seen.lock().unwrap().push(e.message.clone()))
        };
        let rt = Arc::new(ScriptedRuntime::new());
        rt.push(Script::succeed("ok"));
        let jr = JournaledRuntime::new(rt, Arc::new(FailingSink), RuntimeInfo::default())
            .on_journal_error(handler.clone());
        let mut run = jr.start(AgentTask::new("x", dir.path())).unwrap();
        assert!(drain(run.as_mut()).is_none());
        let p = Arc::new(ScriptedProvider::new());
        p.push_text("answer");
        let jp = JournaledProvider::new(p, Arc::new(FailingSink), RuntimeInfo::default())
            .on_journal_error(handler);
        let c = jp.complete(&CompletionRequest::new(vec![Message::user("q")])).unwrap();
        assert_eq!(c.output, CompletionOutput::Text("answer".into()));
        assert_eq!(*seen.lock().unwrap(), vec!["disk full".to_string(), "disk full".to_string()]);
    }

    #[test]
    fn journal_payloads_fit_the_ledger() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ooo_core::ledger::SqliteStore::open(tmp.path().join("ledger.db")).unwrap();
        let sink = Arc::new(LedgerJournal::new(
            Box::new(store),
            AggregateRef::new("test", "1").unwrap(),
            Actor::program("test").unwrap(),
        ));
        let rt = Arc::new(ScriptedRuntime::new());
        rt.push(Script::succeed("ok").usage(1, 1));
        let jr = JournaledRuntime::new(rt, sink, RuntimeInfo::default());
        let mut run = jr.start(AgentTask::new("x", tmp.path())).unwrap();
        assert!(drain(run.as_mut()).is_none());
    }
}
