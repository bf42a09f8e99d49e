//! The CLI driver against misbehaving CLIs, played by small shell scripts standing in
//! for `claude` (the adapter is the real one; only the executable is fake): a CLI that
//! exits 0 without a result, one that prints garbage between valid events, one that never
//! exits, one that dies by a signal, one whose output is cut mid-line; the nesting limit;
//! the environment allowlist; and the journal keeping the partial transcript.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ooo_core::runtime::{
    AgentEvent, AgentRun, AgentRuntime, AgentTask, DEPTH_ENV, RunLimits, RuntimeError,
    RuntimeErrorKind,
};
use ooo_runtime::cli::{CliRuntime, CliSettings};
use ooo_runtime::env::EnvMap;
use ooo_runtime::journal::{JournaledRuntime, MemoryJournal, RuntimeInfo, event_types};
use ooo_runtime::registry::cli_adapter;

const INIT: &str =
    r#"{"type":"system","subtype":"init","session_id":"s-1","model":"m","tools":[]}"#;
const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"DONE","session_id":"s-1","total_cost_usd":0.01,"usage":{"input_tokens":10,"output_tokens":2}}"#;

struct FakeCli {
    dir: tempfile::TempDir,
}

impl FakeCli {
    /// A `claude` that runs `body` (sh) after answering `--version`.
    fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '2.1.332 (Claude Code)'; exit 0; fi\n{body}\n"
        );
        let path = dir.path().join("claude");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        FakeCli { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("claude")
    }

    fn runtime(&self, caller: EnvMap) -> CliRuntime {
        let settings = CliSettings { path: Some(self.path()), ..CliSettings::default() };
        CliRuntime::new(cli_adapter("claude").unwrap(), settings).with_caller_env(caller)
    }

    fn task(&self, idle_ms: u64) -> AgentTask {
        let mut task = AgentTask::new("do it", self.dir.path().join("work"));
        task.limits =
            RunLimits { idle: Duration::from_millis(idle_ms), wall_clock: Duration::from_secs(30) };
        task
    }
}

fn caller(pairs: &[(&str, &str)]) -> EnvMap {
    let mut env: EnvMap = [("PATH".to_string(), "/usr/bin:/bin".to_string())].into_iter().collect();
    for (k, v) in pairs {
        env.insert(k.to_string(), v.to_string());
    }
    env
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

fn run(cli: &FakeCli, idle_ms: u64) -> (Vec<AgentEvent>, Option<RuntimeError>) {
    let rt = cli.runtime(caller(&[]));
    let mut run = rt.start(cli.task(idle_ms)).unwrap();
    drain(run.as_mut())
}

fn no_process_under(dir: &Path) -> bool {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        !String::from_utf8_lossy(&cmd).contains(&needle)
    })
}

#[test]
fn exit_zero_without_a_result_is_no_result() {
    let cli = FakeCli::new(&format!("echo '{INIT}'; echo oops >&2; exit 0"));
    let (events, err) = run(&cli, 5000);
    let err = err.unwrap();
    assert_eq!(err.kind, RuntimeErrorKind::NoResult);
    assert!(err.message.contains("exit code 0") && err.message.contains("oops"), "{err:?}");
    assert!(matches!(events[0], AgentEvent::SessionStarted { .. }));
}

#[test]
fn garbage_and_unknown_events_are_skipped() {
    let cli = FakeCli::new(&format!(
        "echo '{INIT}'; echo 'not json at all'; echo '{{\"type\":\"from_the_future\"}}'; echo '{{\"type\":'; echo '{RESULT}'"
    ));
    let (events, err) = run(&cli, 5000);
    assert!(err.is_none(), "{err:?}");
    assert!(matches!(events.last(), Some(AgentEvent::Final(f)) if f.success && f.text == "DONE"));
}

#[test]
fn a_cli_that_never_exits_hits_the_idle_limit_and_is_gone() {
    let cli = FakeCli::new(&format!("echo '{INIT}'; sleep 60 & sleep 60"));
    let t = Instant::now();
    let (_, err) = run(&cli, 500);
    assert_eq!(err.unwrap().kind, RuntimeErrorKind::IdleTimeout);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(no_process_under(cli.dir.path()));
}

#[test]
fn a_result_followed_by_a_hang_is_still_the_result() {
    let cli = FakeCli::new(&format!("echo '{INIT}'; echo '{RESULT}'; sleep 60"));
    let rt = cli.runtime(caller(&[])).with_result_grace(Duration::from_millis(300));
    let t = Instant::now();
    let (events, err) = drain(rt.start(cli.task(30_000)).unwrap().as_mut());
    assert!(err.is_none(), "{err:?}");
    assert!(matches!(events.last(), Some(AgentEvent::Final(f)) if f.success && f.text == "DONE"));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(no_process_under(cli.dir.path()));
}

#[test]
fn non_utf8_stderr_does_not_break_a_run() {
    let cli = FakeCli::new(&format!(
        "printf '\\377\\376\\n' >&2; echo '{INIT}'; echo 'more' >&2; echo '{RESULT}'"
    ));
    let (events, err) = run(&cli, 5000);
    assert!(err.is_none(), "{err:?}");
    assert!(matches!(events.last(), Some(AgentEvent::Final(f)) if f.success));
}

#[test]
fn a_cli_killed_by_a_signal_is_reported() {
    let cli = FakeCli::new(&format!("echo '{INIT}'; kill -9 $$"));
    let (_, err) = run(&cli, 5000);
    let err = err.unwrap();
    assert_eq!(err.kind, RuntimeErrorKind::NoResult);
    assert!(err.message.contains("a signal"), "{err:?}");
}

#[test]
fn output_cut_mid_line_is_not_a_result() {
    let cli = FakeCli::new(&format!("echo '{INIT}'; printf '%s' '{}'", &RESULT[..40]));
    let (_, err) = run(&cli, 5000);
    assert_eq!(err.unwrap().kind, RuntimeErrorKind::NoResult);
}

#[test]
fn the_child_sees_only_the_allowlist_and_its_depth() {
    let cli = FakeCli::new(&format!(
        "env > \"$(dirname \"$0\")/env.txt\"; echo '{INIT}'; echo '{RESULT}'"
    ));
    let rt = cli.runtime(caller(&[
        ("ANTHROPIC_API_KEY", "sk-ant-0123456789"),
        ("OPENAI_API_KEY", "sk-openai-0123456789"),
        ("AWS_SECRET_ACCESS_KEY", "aws-0123456789"),
        (DEPTH_ENV, "2"),
    ]));
    let (_, err) = drain(rt.start(cli.task(5000)).unwrap().as_mut());
    assert!(err.is_none(), "{err:?}");
    let env = std::fs::read_to_string(cli.dir.path().join("env.txt")).unwrap();
    assert!(env.contains("ANTHROPIC_API_KEY=sk-ant-0123456789"), "{env}");
    assert!(!env.contains("OPENAI_API_KEY"), "{env}");
    assert!(!env.contains("AWS_SECRET_ACCESS_KEY"), "{env}");
    assert!(env.contains(&format!("{DEPTH_ENV}=3")), "{env}");
}

#[test]
fn depth_above_the_limit_is_refused_before_anything_runs() {
    let cli = FakeCli::new("touch \"$(dirname \"$0\")/ran\"");
    let rt = cli.runtime(caller(&[(DEPTH_ENV, "5")]));
    let err = rt.start(cli.task(5000)).err().unwrap();
    assert_eq!(err.kind, RuntimeErrorKind::DepthExceeded);
    assert!(!cli.dir.path().join("ran").exists());
}

#[test]
fn a_missing_cli_names_the_install_command() {
    let settings =
        CliSettings { path: Some("/nonexistent/claude".into()), ..CliSettings::default() };
    let rt = CliRuntime::new(cli_adapter("claude").unwrap(), settings).with_caller_env(caller(&[]));
    let dir = tempfile::tempdir().unwrap();
    let err = rt.start(AgentTask::new("x", dir.path())).err().unwrap();
    assert_eq!(err.kind, RuntimeErrorKind::NotInstalled);
    assert!(err.hint.contains("npm install"), "{err:?}");
}

#[test]
fn the_journal_keeps_the_partial_transcript_of_a_failed_run() {
    let cli = FakeCli::new(&format!("echo '{INIT}'; echo 'partial work'; exit 3"));
    let sink = Arc::new(MemoryJournal::default());
    let rt = JournaledRuntime::new(
        Arc::new(cli.runtime(caller(&[]))),
        sink.clone(),
        RuntimeInfo::default(),
    );
    let (_, err) = drain(rt.start(cli.task(5000)).unwrap().as_mut());
    assert_eq!(err.unwrap().kind, RuntimeErrorKind::NoResult);
    let records = sink.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].0, event_types::RUN_FINISHED);
    let tail = records[1].1["transcript_tail"].as_array().unwrap();
    assert_eq!(tail.len(), 2);
    assert_eq!(tail[1], "partial work");
    assert_eq!(records[1].1["result"], "no_result");
}
