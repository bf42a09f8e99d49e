//! The real agent CLIs (claude, codex, gemini, opencode, at the versions `.ci/run`
//! installs into `target/npm`) driven through our adapters against the loopback fake
//! model: plain text, a tool call that really writes a file, an API error, resume,
//! cancel mid-run and the idle timeout, with no process left behind.
//!
//! A CLI that is not installed is skipped with the command that installs it; under
//! `CI=true` it is a failure. Every CLI runs with its own HOME and config directories
//! in a temporary directory and talks only to 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ooo_core::runtime::{
    AgentEvent, AgentRun, AgentRuntime, AgentTask, FinalResult, RunLimits, RuntimeError,
    RuntimeErrorKind,
};
use ooo_core::runtime::{
    CompletionOutput, CompletionRequest, LlmProvider, Message, StructuredOutput,
};
use ooo_fake_model::{FakeModel, Reply};
use ooo_runtime::cli::{CliProvider, CliRuntime, CliSettings};
use ooo_runtime::registry::cli_adapter;
use serde_json::json;

#[path = "support/cli_setup.rs"]
mod cli_setup;

use cli_setup::{MODEL, base_env, configure, installed_at, npm_root, processes_under};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cli {
    Claude,
    Codex,
    Gemini,
    OpenCode,
}

impl Cli {
    fn name(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
            Cli::OpenCode => "opencode",
        }
    }

    fn npm_package(self) -> &'static str {
        match self {
            Cli::Claude => "@anthropic-ai/claude-code@2.1.332",
            Cli::Codex => "@openai/codex@0.171.0",
            Cli::Gemini => "@google/gemini-cli@0.61.0",
            Cli::OpenCode => "opencode-ai@1.18.33",
        }
    }

    /// The model's reply that makes this CLI write `content` to `path`.
    fn write_reply(self, path: &Path, content: &str) -> Reply {
        let p = path.display().to_string();
        match self {
            Cli::Claude => Reply::tool_call("Write", json!({"file_path": p, "content": content})),
            Cli::Codex => Reply::tool_call(
                "exec_command",
                json!({"cmd": format!("printf '%s' '{content}' > '{p}'")}),
            ),
            Cli::Gemini => {
                Reply::tool_call("write_file", json!({"file_path": p, "content": content}))
            }
            Cli::OpenCode => Reply::tool_call("write", json!({"filePath": p, "content": content})),
        }
    }
}

/// The CLI's executable, or `None` (skip) when it is not installed outside CI.
fn binary(cli: Cli) -> Option<PathBuf> {
    let path = npm_root().join(installed_at(cli.name()));
    if path.exists() {
        return Some(path);
    }
    let how = format!(
        "{} is not installed at {}; run .ci/run, or: npm install --prefix target/npm --no-save --ignore-scripts {}",
        cli.name(),
        path.display(),
        cli.npm_package()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{how}");
    eprintln!("skipped: {how}");
    None
}

/// A CLI set up against a fake model in a private directory.
struct Rig {
    cli: Cli,
    fake: FakeModel,
    dir: tempfile::TempDir,
    runtime: CliRuntime,
}

impl Rig {
    fn new(cli: Cli) -> Option<Rig> {
        let bin = binary(cli)?;
        let fake = FakeModel::start();
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "work", "xdg/config", "xdg/data", "xdg/state", "xdg/cache"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut env = base_env(dir.path());
        // Not on any allowlist: must never reach a CLI.
        env.insert("AWS_SECRET_ACCESS_KEY".into(), "must-not-leak-0123456789".into());
        let mut settings =
            CliSettings { path: Some(bin), model: Some(MODEL.into()), ..CliSettings::default() };
        configure(cli.name(), dir.path(), fake.base_url(), &mut env, &mut settings);
        let adapter = cli_adapter(cli.name()).unwrap();
        let runtime = CliRuntime::new(adapter, settings).with_caller_env(env);
        Some(Rig { cli, fake, dir, runtime })
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn task(&self, prompt: &str) -> AgentTask {
        let mut task = AgentTask::new(prompt, self.work());
        task.limits =
            RunLimits { idle: Duration::from_secs(60), wall_clock: Duration::from_secs(120) };
        task
    }

    /// Run to the end: events and the error, if any.
    fn run(&self, task: AgentTask) -> (Vec<AgentEvent>, Option<RuntimeError>) {
        let mut run = self.runtime.start(task).unwrap();
        drain(run.as_mut())
    }

    /// No process runs in this rig's directory any more.
    fn assert_no_process_left(&self) {
        let leftovers = processes_under(self.dir.path());
        assert!(leftovers.is_empty(), "{} left processes: {leftovers:?}", self.cli.name());
    }
}

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

fn final_of(events: &[AgentEvent]) -> &FinalResult {
    events
        .iter()
        .find_map(|e| match e {
            AgentEvent::Final(f) => Some(f),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no final event in {events:#?}"))
}

fn session_of(events: &[AgentEvent]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            AgentEvent::SessionStarted { session_id, .. } => Some(session_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no session in {events:#?}"))
}

fn every_cli(test: impl Fn(Rig)) {
    for cli in [Cli::Claude, Cli::Codex, Cli::Gemini, Cli::OpenCode] {
        if let Some(rig) = Rig::new(cli) {
            eprintln!("== {}", cli.name());
            test(rig);
        }
    }
}

/// OpenCode first asks for a title without tools; answer that aside from the script.
fn aside_titles(rig: &Rig) {
    rig.fake.on_untooled(Reply::text("a title"));
}

#[test]
fn plain_text() {
    every_cli(|rig| {
        aside_titles(&rig);
        rig.fake.push(Reply::text("DONE: hello"));
        let (events, err) = rig.run(rig.task("say hello"));
        assert!(err.is_none(), "{}: {err:?}\n{events:#?}", rig.cli.name());
        let fin = final_of(&events);
        assert!(fin.success && fin.text.contains("DONE: hello"), "{}: {fin:?}", rig.cli.name());
        assert_eq!(fin.resume.as_ref().unwrap().session_id, session_of(&events));
        let leaked = rig.fake.requests().iter().any(|r| format!("{r:?}").contains("must-not-leak"));
        assert!(!leaked, "{}: a secret outside the allowlist reached the model", rig.cli.name());
        rig.assert_no_process_left();
    });
}

#[test]
fn tool_call_writes_a_real_file() {
    every_cli(|rig| {
        aside_titles(&rig);
        let target = rig.work().join("hello.txt");
        rig.fake.push(rig.cli.write_reply(&target, "hi"));
        rig.fake.push(Reply::text("DONE: wrote file"));
        let (events, err) = rig.run(rig.task("create hello.txt containing hi"));
        assert!(err.is_none(), "{}: {err:?}\n{events:#?}", rig.cli.name());
        assert!(final_of(&events).success);
        let content = std::fs::read_to_string(&target)
            .unwrap_or_else(|e| panic!("{}: no file ({e})\n{events:#?}", rig.cli.name()));
        assert_eq!(content.trim_end(), "hi");
        let saw_tool = events
            .iter()
            .any(|e| matches!(e, AgentEvent::ToolCall { .. } | AgentEvent::FileChange { .. }));
        assert!(saw_tool, "{}: no tool call or file change event\n{events:#?}", rig.cli.name());
        rig.assert_no_process_left();
    });
}

#[test]
fn read_only_refuses_a_write() {
    every_cli(|rig| {
        aside_titles(&rig);
        let target = rig.work().join("forbidden.txt");
        rig.fake.push(rig.cli.write_reply(&target, "no"));
        rig.fake.fallback(Reply::text("DONE: could not write"));
        let mut task = rig.task("create forbidden.txt");
        task.sandbox = ooo_core::runtime::SandboxClass::ReadOnly;
        let (events, err) = rig.run(task);
        assert_eq!(rig.fake.remaining(), 0, "{}: the write was never asked for", rig.cli.name());
        assert!(
            !target.exists(),
            "{}: read_only wrote a file\n{events:#?}\n{err:?}",
            rig.cli.name()
        );
        rig.assert_no_process_left();
    });
}

#[test]
fn api_error_is_a_typed_error() {
    every_cli(|rig| {
        aside_titles(&rig);
        rig.fake.push(Reply::error(400, "your request is malformed"));
        rig.fake.fallback(Reply::error(400, "your request is malformed"));
        let (events, err) = rig.run(rig.task("say hello"));
        let failed_final = events.iter().any(|e| matches!(e, AgentEvent::Final(f) if !f.success));
        assert!(
            err.is_some() || failed_final,
            "{}: an API error passed as success\n{events:#?}",
            rig.cli.name()
        );
        if let Some(err) = err {
            assert_eq!(err.kind, RuntimeErrorKind::BadRequest, "{}: {err:?}", rig.cli.name());
            assert!(err.message.contains("malformed"), "{}: {err:?}", rig.cli.name());
            assert!(!err.hint.is_empty(), "{}: no hint in {err:?}", rig.cli.name());
            assert!(
                !matches!(
                    err.kind,
                    RuntimeErrorKind::IdleTimeout | RuntimeErrorKind::WallClockTimeout
                ),
                "{}: an API error must not look like a hang: {err:?}",
                rig.cli.name()
            );
        }
        rig.assert_no_process_left();
    });
}

#[test]
fn refused_key_is_an_auth_error() {
    every_cli(|rig| {
        aside_titles(&rig);
        rig.fake.push(Reply::error(401, "invalid x-api-key"));
        rig.fake.fallback(Reply::error(401, "invalid x-api-key"));
        let (events, err) = rig.run(rig.task("say hello"));
        let err =
            err.unwrap_or_else(|| panic!("{}: a refused key passed\n{events:#?}", rig.cli.name()));
        eprintln!("{}: {:?}: {} / hint: {}", rig.cli.name(), err.kind, err.message, err.hint);
        assert_eq!(err.kind, RuntimeErrorKind::Auth, "{}: {err:?}", rig.cli.name());
        assert!(!err.hint.is_empty());
        rig.assert_no_process_left();
    });
}

#[test]
fn resume_continues_the_session() {
    every_cli(|rig| {
        aside_titles(&rig);
        rig.fake.push(Reply::text("DONE: first"));
        let (events, err) = rig.run(rig.task("remember the word kiwi"));
        assert!(err.is_none(), "{}: {err:?}", rig.cli.name());
        let handle = final_of(&events).resume.clone().unwrap();
        rig.fake.push(Reply::text("DONE: second"));
        let mut task = rig.task("what was the word?");
        task.resume = Some(handle.clone());
        let (events, err) = rig.run(task);
        assert!(err.is_none(), "{}: {err:?}\n{events:#?}", rig.cli.name());
        assert_eq!(session_of(&events), handle.session_id, "{}", rig.cli.name());
        let last = rig
            .fake
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.body.to_string().contains("what was the word"))
            .unwrap();
        assert!(
            last.body.to_string().contains("kiwi"),
            "{}: the history was not re-sent",
            rig.cli.name()
        );
        rig.assert_no_process_left();
    });
}

#[test]
fn cancel_mid_run_leaves_nothing() {
    every_cli(|rig| {
        aside_titles(&rig);
        rig.fake.push(Reply::text("never finished").stall());
        rig.fake.fallback(Reply::text("never finished").stall());
        let mut run = rig.runtime.start(rig.task("think forever")).unwrap();
        let canceller = run.canceller();
        // Cancel once the CLI is waiting on the model.
        let deadline = Instant::now() + Duration::from_secs(60);
        while rig.fake.requests().iter().all(|r| r.method != "POST") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let t = Instant::now();
        canceller.cancel();
        let (_, err) = drain(run.as_mut());
        assert_eq!(err.map(|e| e.kind), Some(RuntimeErrorKind::Cancelled), "{}", rig.cli.name());
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{}: cancel took {:?}",
            rig.cli.name(),
            t.elapsed()
        );
        rig.assert_no_process_left();
    });
}

#[test]
fn idle_timeout_ends_a_stalled_run() {
    every_cli(|rig| {
        aside_titles(&rig);
        rig.fake.push(Reply::text("never finished").stall());
        rig.fake.fallback(Reply::text("never finished").stall());
        let mut task = rig.task("think forever");
        task.limits =
            RunLimits { idle: Duration::from_secs(4), wall_clock: Duration::from_secs(60) };
        let t = Instant::now();
        let (_, err) = rig.run(task);
        let kind = err.map(|e| e.kind);
        assert!(
            matches!(kind, Some(RuntimeErrorKind::IdleTimeout)),
            "{}: {kind:?} after {:?}",
            rig.cli.name(),
            t.elapsed()
        );
        assert!(t.elapsed() < Duration::from_secs(30));
        rig.assert_no_process_left();
    });
}

#[test]
fn every_cli_answers_structured_completions() {
    for cli in [Cli::Claude, Cli::Codex, Cli::Gemini, Cli::OpenCode] {
        let Some(rig) = Rig::new(cli) else { continue };
        aside_titles(&rig);
        rig.fake
            .push(Reply::text("Here you go:\n```json\n{\"verdict\": \"ok\", \"score\": 0.9}\n```"));
        rig.fake.push(Reply::text("no json at all"));
        let provider = CliProvider::new(rig.runtime).with_scratch_parent(rig.dir.path().to_owned());
        let mut request = CompletionRequest::new(vec![
            Message::system("You grade work."),
            Message::user("Grade this."),
        ]);
        request.structured = Some(StructuredOutput {
            name: "grade".into(),
            schema: json!({"type": "object", "required": ["verdict", "score"],
                "properties": {"verdict": {"type": "string"}, "score": {"type": "number"}}}),
        });
        let completion =
            provider.complete(&request).unwrap_or_else(|e| panic!("{}: {e:?}", cli.name()));
        assert_eq!(
            completion.output,
            CompletionOutput::Json(json!({"verdict": "ok", "score": 0.9})),
            "{}",
            cli.name()
        );
        assert!(completion.usage.total_tokens() > 0, "{}: no usage", cli.name());
        let err = provider.complete(&request).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::SchemaMismatch, "{}: {err:?}", cli.name());
        let sent = rig
            .fake
            .generations()
            .iter()
            .map(|r| r.body.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            sent.contains("You grade work.") && sent.contains("JSON Schema"),
            "{}: the prompt lost its parts",
            cli.name()
        );
        // Read-only: the scratch directories are gone, nothing was written.
        let left: Vec<_> = std::fs::read_dir(rig.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("completion"))
            .collect();
        assert!(left.is_empty(), "{}: scratch left: {left:?}", cli.name());
    }
}
