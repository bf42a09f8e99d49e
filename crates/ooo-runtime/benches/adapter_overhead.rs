//! What driving an agent CLI through `ooo-runtime` adds to running the CLI by hand, run
//! by hand: `cargo bench -p ooo-runtime --bench adapter_overhead [-- --quick] [--runs N]
//! [--cli claude,codex,gemini,opencode]` (or `OOO_BENCH_RUNS=N`). Goal: under 20 ms added
//! (median) per run.
//!
//! Each CLI (claude and codex by default, the fastest) runs the same scripted task against
//! the loopback fake model, which answers one text reply, "DONE". The runtime row is
//! `CliRuntime::start` and draining every event until `Final` (spec building, binary
//! resolution, the environment allowlist, the reader threads, the parser, waiting for the
//! exit and the process-group check included). The baseline is measured in the same run:
//! the bare CLI, `std::process::Command` with the identical argv, environment and working
//! directory that `CliRuntime::process_spec` returns, stdin `/dev/null`, stdout read to
//! EOF, then `wait`. The two alternate run by run (A B A B ...) after one warm-up of each,
//! so drift on a noisy machine hits both. A run that fails (no successful `Final`, a
//! non-zero exit, no "DONE", a reply left unconsumed) stops the bench: it never reports
//! figures of failed runs. A CLI that is not installed in `target/npm` is skipped.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ooo_core::runtime::{AgentEvent, AgentRuntime, AgentTask, RunLimits};
use ooo_fake_model::{FakeModel, Reply};
use ooo_runtime::cli::{CliRuntime, CliSettings};
use ooo_runtime::registry::cli_adapter;

#[path = "../tests/support/cli_setup.rs"]
mod cli_setup;

use cli_setup::{MODEL, base_env, configure, installed_at, npm_root, processes_under};
/// What the fake model answers, and what each run must show.
const ANSWER: &str = "DONE";
const PROMPT: &str = "say DONE";
/// The added median this bench is about.
const GOAL_MS: f64 = 20.0;

const ALL_CLIS: [&str; 4] = ["claude", "codex", "gemini", "opencode"];

/// One CLI set up against its own fake model in a private directory.
struct Rig {
    cli: &'static str,
    fake: FakeModel,
    dir: tempfile::TempDir,
    runtime: CliRuntime,
}

impl Rig {
    /// `None` (with a message) when the CLI is not installed.
    fn new(cli: &'static str) -> Option<Rig> {
        let bin = npm_root().join(installed_at(cli));
        if !bin.exists() {
            println!("{cli:<9} skipped: not installed at {} (run .ci/run)", bin.display());
            return None;
        }
        let fake = FakeModel::start();
        // OpenCode first asks for a title without tools: answer it aside from the script.
        fake.on_untooled(Reply::text("a title"));
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "work", "xdg/config", "xdg/data", "xdg/state", "xdg/cache"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("rig dirs");
        }
        let mut env = base_env(dir.path());
        let mut settings =
            CliSettings { path: Some(bin), model: Some(MODEL.into()), ..CliSettings::default() };
        configure(cli, dir.path(), fake.base_url(), &mut env, &mut settings);
        let adapter = cli_adapter(cli).expect("a known CLI");
        let runtime = CliRuntime::new(adapter, settings).with_caller_env(env);
        Some(Rig { cli, fake, dir, runtime })
    }

    fn task(&self) -> AgentTask {
        let mut task = AgentTask::new(PROMPT, self.dir.path().join("work"));
        task.limits =
            RunLimits { idle: Duration::from_secs(60), wall_clock: Duration::from_secs(120) };
        task
    }

    /// One run through `ooo-runtime`: start, every event until the end.
    fn through_runtime(&self) -> Duration {
        self.fake.push(Reply::text(ANSWER));
        let task = self.task();
        let start = Instant::now();
        let mut run = self.runtime.start(task).unwrap_or_else(|e| panic!("{}: {e:?}", self.cli));
        let mut events = Vec::new();
        let outcome = loop {
            match run.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        drop(run);
        let elapsed = start.elapsed();
        if let Err(err) = outcome {
            panic!("{}: the run through ooo-runtime failed: {err:?}\n{events:#?}", self.cli);
        }
        let ok = events
            .iter()
            .any(|e| matches!(e, AgentEvent::Final(f) if f.success && f.text.contains(ANSWER)));
        assert!(ok, "{}: no successful Final event with {ANSWER:?}: {events:#?}", self.cli);
        self.assert_reply_consumed();
        elapsed
    }

    /// The same run by hand: the identical program, argv, environment and directory.
    fn bare(&self) -> Duration {
        self.fake.push(Reply::text(ANSWER));
        let spec = self.runtime.process_spec(&self.task()).expect("process spec");
        let start = Instant::now();
        let mut child = Command::new(&spec.program)
            .args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(&spec.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{}: cannot start {}: {e}", self.cli, spec.program.display())
            });
        let mut stdout = Vec::new();
        child.stdout.take().expect("piped stdout").read_to_end(&mut stdout).expect("stdout");
        let status = child.wait().expect("wait");
        let elapsed = start.elapsed();
        let stdout = String::from_utf8_lossy(&stdout);
        assert!(status.success(), "{}: the bare CLI failed ({status}):\n{stdout}", self.cli);
        assert!(
            stdout.contains(ANSWER),
            "{}: no {ANSWER:?} in the bare output:\n{stdout}",
            self.cli
        );
        self.assert_reply_consumed();
        elapsed
    }

    /// Processes still running in this rig's directory (what a run left behind).
    fn leftovers(&self) -> usize {
        processes_under(self.dir.path()).len()
    }

    fn assert_reply_consumed(&self) {
        assert_eq!(self.fake.remaining(), 0, "{}: the scripted reply was not used", self.cli);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_ms(samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    ms(sorted[sorted.len() / 2])
}

/// The nearest-rank 90th percentile.
fn p90_ms(samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (samples.len() * 9).div_ceil(10).max(1);
    ms(sorted[rank - 1])
}

struct Options {
    runs: usize,
    clis: Vec<&'static str>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{flag}=")).map(str::to_owned).or_else(|| {
                (a == flag).then(|| args.get(i + 1).cloned().expect("a value after the flag"))
            })
        })
    };
    let quick = args.iter().any(|a| a == "--quick");
    let runs = value_of("--runs")
        .or_else(|| std::env::var("OOO_BENCH_RUNS").ok())
        .map(|n| n.parse::<usize>().expect("--runs / OOO_BENCH_RUNS: a number"))
        .unwrap_or(if quick { 5 } else { 15 });
    assert!(runs > 0, "at least one run");
    let clis = value_of("--cli")
        .map(|list| {
            list.split(',')
                .map(|name| {
                    let name = name.trim();
                    *ALL_CLIS.iter().find(|c| **c == name).unwrap_or_else(|| {
                        panic!("unknown CLI {name:?}; known: {}", ALL_CLIS.join(", "))
                    })
                })
                .collect()
        })
        .unwrap_or_else(|| vec!["claude", "codex"]);
    Options { runs, clis }
}

fn main() {
    let Options { runs, clis } = options();
    println!(
        "adapter overhead benchmark, {runs} runs per row, runtime and bare CLI alternating, one text reply from the fake model; goal: under {GOAL_MS:.0} ms added (median)"
    );
    for cli in clis {
        let Some(rig) = Rig::new(cli) else { continue };
        // Warm up the page cache, the CLI's own first-run set-up and the fake.
        rig.through_runtime();
        rig.bare();
        let mut bare: Vec<Duration> = Vec::with_capacity(runs);
        let mut ours: Vec<Duration> = Vec::with_capacity(runs);
        let (mut left_ours, mut left_bare) = (0, 0);
        for _ in 0..runs {
            ours.push(rig.through_runtime());
            left_ours += rig.leftovers();
            bare.push(rig.bare());
            left_bare += rig.leftovers();
        }
        let (base, median) = (median_ms(&bare), median_ms(&ours));
        let added = median - base;
        println!(
            "{cli:<9} bare CLI (baseline)   median {base:>7.1} ms   p90 {:>7.1} ms",
            p90_ms(&bare)
        );
        println!(
            "{cli:<9} through ooo-runtime   median {median:>7.1} ms   p90 {:>7.1} ms   added {added:>+6.1} ms   ratio {:>5.3}   {}",
            p90_ms(&ours),
            median / base,
            if added < GOAL_MS { "within goal" } else { "OVER GOAL" }
        );
        if left_ours + left_bare > 0 {
            println!(
                "{cli:<9} note: processes still running right after a run: {left_ours} through ooo-runtime, {left_bare} bare (summed over the runs)"
            );
        }
    }
}
