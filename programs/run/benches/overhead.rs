//! What `ooo run` adds per criterion, run by hand:
//! `cargo bench -p ooo-run --bench overhead [-- --quick]`.
//!
//! The agent is a zero-latency scripted runtime (it answers at once and writes one
//! file), so what is measured is ooo's own work per criterion: the ledger records
//! (dispatch, seal, accept), the fold before each dispatch, the prompt, the oracle check
//! against the base commit (git), the verify command in the sandbox, and the files
//! changed. The baseline, measured in the same run, is the same number of bare runtime
//! calls (start and read to the end). Rounds alternate so drift hits both. The goal is
//! under 100 ms per criterion. This binary is its own sandbox init helper.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ooo_core::capability::{Grant, Grants, ScopedCore};
use ooo_core::ledger::{SqliteStore, Store};
use ooo_core::runtime::{AgentRuntime, AgentTask};
use ooo_core::seed::{MetadataDefaults, load_str};
use ooo_run::events;
use ooo_run::executor::{Executor, Progress, Settings};
use ooo_run::workspace::Workspace;
use ooo_runtime::scripted::{Script, ScriptedRuntime};
use ooo_sandbox::{Mode, Sandbox};

const CRITERIA: usize = 8;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=b", "-c", "user.email=b@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A seed of [`CRITERIA`] criteria, each checked by a committed script.
fn seed_text() -> String {
    let mut text = String::from("goal: Benchmark\ntask_type: code\nacceptance_criteria:\n");
    for i in 0..CRITERIA {
        text.push_str(&format!(
            "- description: file {i} exists\n  verify_command: sh checks/c.sh {i}\n"
        ));
    }
    text.push_str("ontology_schema:\n  name: Bench\n  description: files\n  fields: []\n");
    text.push_str("metadata:\n  seed_id: seed_bench\n  ambiguity_score: 0.1\n");
    text
}

/// One `ooo run` over a fresh repository and ledger: the elapsed time.
fn one_run(sandbox: &Sandbox) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical");
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join("checks")).expect("dirs");
    std::fs::write(ws.join("checks/c.sh"), "test -s \"out/$1.txt\"\n").expect("check");
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "base"]);
    let base = git(&ws, &["rev-parse", "HEAD"]);
    let mut ledger = SqliteStore::open(root.join("ledger.db")).expect("ledger");
    ledger.register_all(ooo_core::PROJECTIONS);
    let store: Arc<Mutex<Box<dyn Store + Send>>> = Arc::new(Mutex::new(Box::new(ledger)));
    let grants = Grants::new([Grant::parse("ledger", "write").expect("grant")]);
    let id = ulid::Ulid::new().to_string();
    let core = ScopedCore::new(
        store,
        events::principal(),
        events::aggregate(&id).expect("aggregate"),
        grants,
        root.join("seeds"),
    );
    let seed =
        load_str(&seed_text(), ooo_core::seed::raw::Format::Yaml, &MetadataDefaults::generate())
            .map(|v| v.seed)
            .unwrap_or_else(|e| panic!("{e:?}"));
    let runtime = ScriptedRuntime::new();
    for i in 0..CRITERIA {
        runtime.push(Script::succeed("done").write(ws.join(format!("out/{i}.txt")), "x"));
    }
    let quiet = |_: &Progress| {};
    let executor = Executor {
        core: &core,
        runtime: &runtime,
        provider: None,
        sandbox,
        cancel: Arc::new(AtomicBool::new(false)),
        on_progress: &quiet,
    };
    let workspace = Workspace { root: ws, base_commit: base, worktree: None };
    let settings = Settings { max_parallel: 1, ..Settings::default() };
    let lock_path = root.join(format!("runs/exec-{id}/lock"));
    let lock = ooo_run::lock::ExecutionLock::acquire(&lock_path, &id).expect("lock");
    let start = Instant::now();
    let result = executor.start(&seed, "seed_bench", &workspace, &settings, &lock).expect("run");
    let elapsed = start.elapsed();
    assert_eq!(result.exit_code, 0, "every criterion verified: {result:?}");
    elapsed
}

/// The same number of bare runtime calls.
fn bare_calls() -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = ScriptedRuntime::new();
    for i in 0..CRITERIA {
        runtime.push(Script::succeed("done").write(dir.path().join(format!("{i}.txt")), "x"));
    }
    let start = Instant::now();
    for _ in 0..CRITERIA {
        let mut run = runtime.start(AgentTask::new("do it", dir.path())).expect("start");
        while let Ok(Some(_)) = run.next_event() {}
    }
    start.elapsed()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    ooo_sandbox::init::dispatch_if_requested();
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 11 };
    let sandbox = Sandbox::new(Mode::Require).expect("the full sandbox");
    println!(
        "ooo run overhead, {CRITERIA} criteria per run, {rounds} rounds, sandbox {}",
        sandbox.level()
    );
    one_run(&sandbox); // warm up
    let (mut runs, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        runs.push(one_run(&sandbox));
        bare.push(bare_calls());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / CRITERIA as f64;
    let (run, base) = (per(median(&mut runs)), per(median(&mut bare)));
    println!("bare runtime calls (baseline) {base:>9.2} ms per criterion");
    println!("ooo run                       {run:>9.2} ms per criterion");
    println!(
        "added by ooo                  {:>9.2} ms per criterion   ratio {:.1}",
        run - base,
        run / base.max(1e-9)
    );
}
