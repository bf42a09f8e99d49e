//! Agent workers in `ooo-sandbox` (`SandboxLauncher`): the real Claude Code CLI against
//! the loopback fake model, confined as `ooo run` confines its workers. It writes its
//! workspace, cannot write outside it, and reaches its model only through ooo's proxy:
//! granted another host, it cannot reach it at all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ooo_core::runtime::{AgentEvent, AgentRuntime, AgentTask, RunLimits, RuntimeError};
use ooo_fake_model::{FakeModel, Reply};
use ooo_runtime::cli::{CliRuntime, CliSettings};
use ooo_runtime::registry::cli_adapter;
use ooo_runtime::sandboxed::{SandboxLauncher, WorkerGrant};
use ooo_sandbox::{HostRule, Limits, Mode, Network, Sandbox};
use serde_json::json;

#[path = "support/cli_setup.rs"]
mod cli_setup;

use cli_setup::{MODEL, base_env, configure, installed_at, npm_root};

/// The sandbox's init helper, built when missing (integration tests of this crate cannot
/// name another package's binary).
fn init_helper() -> PathBuf {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
            let helper = profile.join(ooo_sandbox::INIT_BINARY);
            let status = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "ooo-sandbox", "--bin", ooo_sandbox::INIT_BINARY])
                .status()
                .expect("cargo runs");
            assert!(status.success() && helper.is_file(), "cannot build {}", helper.display());
            helper
        })
        .clone()
}

/// Claude and the sandbox, or `None` (skipped, saying why) outside CI.
fn prerequisites() -> Option<(PathBuf, Sandbox)> {
    let claude = npm_root().join(installed_at("claude"));
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !claude.exists() {
        assert!(!ci, "claude is not installed at {}; run .ci/run", claude.display());
        eprintln!("skipped: claude is not installed at {} (run .ci/run)", claude.display());
        return None;
    }
    match Sandbox::new(Mode::Require) {
        Ok(s) => Some((claude, s.with_init(init_helper()))),
        Err(e) => {
            assert!(!ci, "{e}: {}", e.hint());
            eprintln!("skipped: {e} ({})", e.hint());
            None
        }
    }
}

struct Worker {
    fake: FakeModel,
    dir: tempfile::TempDir,
    runtime: CliRuntime,
}

fn worker(claude: PathBuf, sandbox: Sandbox, network: impl Fn(&FakeModel) -> Network) -> Worker {
    let fake = FakeModel::start();
    let dir = tempfile::tempdir().unwrap();
    for sub in ["home", "work", "xdg/config", "xdg/data", "xdg/state", "xdg/cache", "worker-home"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let mut env = base_env(dir.path());
    let mut settings =
        CliSettings { path: Some(claude), model: Some(MODEL.into()), ..CliSettings::default() };
    configure("claude", dir.path(), fake.base_url(), &mut env, &mut settings);
    let grant = WorkerGrant {
        home: dir.path().join("worker-home"),
        cli_dirs: dir.path().join("worker-cli"),
        read: Vec::new(),
        write: Vec::new(),
        network: network(&fake),
        limits: Limits::default(),
        hide: Vec::new(),
    };
    let launcher = SandboxLauncher::new(sandbox, grant);
    let runtime = CliRuntime::new(cli_adapter("claude").unwrap(), settings)
        .with_caller_env(env)
        .with_launcher(Arc::new(launcher));
    Worker { fake, dir, runtime }
}

fn the_model(fake: &FakeModel) -> Network {
    let host = fake.base_url().trim_start_matches("http://").trim_end_matches('/').to_owned();
    Network::Hosts(vec![HostRule::parse(&host).unwrap()])
}

fn run(w: &Worker, prompt: &str) -> (Vec<AgentEvent>, Option<RuntimeError>) {
    let mut task = AgentTask::new(prompt, w.dir.path().join("work"));
    task.limits = RunLimits { idle: Duration::from_secs(60), wall_clock: Duration::from_secs(120) };
    let mut run = w.runtime.start(task).unwrap();
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
fn a_confined_worker_writes_its_workspace_and_nothing_else() {
    let Some((claude, sandbox)) = prerequisites() else { return };
    let w = worker(claude, sandbox, the_model);
    let inside = w.dir.path().join("work/hello.txt");
    let outside = w.dir.path().join("outside.txt");
    w.fake.push(Reply::tool_call("Write", json!({"file_path": inside, "content": "hi"})));
    w.fake.push(Reply::tool_call("Write", json!({"file_path": outside, "content": "pwned"})));
    w.fake.push(Reply::text("DONE"));
    let (events, err) = run(&w, "write hello.txt");
    assert!(err.is_none(), "{err:?}\n{events:#?}");
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "hi", "the workspace is writable");
    assert!(!outside.exists(), "a write outside the workspace reached the host");
    assert!(w.fake.requests().len() >= 3, "the model was reached through the proxy");
}

/// Granted another host only: the proxy refuses the model's (403) and the run fails,
/// quickly (the adapter ends Claude's retries of a refusal).
#[test]
fn without_a_grant_for_its_host_the_model_is_out_of_reach() {
    let Some((claude, sandbox)) = prerequisites() else { return };
    let w = worker(claude, sandbox, |_| {
        Network::Hosts(vec![HostRule::parse("api.example.com").unwrap()])
    });
    w.fake.push(Reply::text("DONE"));
    let (events, err) = run(&w, "say hi");
    let failed =
        err.is_some() || events.iter().any(|e| matches!(e, AgentEvent::Final(f) if !f.success));
    assert!(failed, "the run cannot succeed without its model: {events:#?}");
    assert!(w.fake.requests().is_empty(), "a request reached the model without a grant");
}
