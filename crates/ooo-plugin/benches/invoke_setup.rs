//! What the sandbox and the capability channel add to starting one plugin, run by hand:
//! `cargo bench -p ooo-plugin --bench invoke_setup [-- --quick]`.
//!
//! Each row starts the same no-op program (`/bin/true`), median of many runs, next to a
//! baseline measured in the same run: a bare spawn (fork, exec, wait) without ooo. The
//! sandbox row is the firewall's real launcher with `ooo-sandbox` for a typical policy
//! (namespaces by `bwrap`, the init helper's rlimits, Landlock, seccomp); the channel
//! row adds the socket pair, the capability server (it opens the ledger) and its thread,
//! joined when the plugin exits. This binary is its own sandbox init helper.
//! End-to-end figures for `ooo <plugin> <cmd>` are in `bench/plugin-invoke.sh`.

use std::path::Path;
use std::time::{Duration, Instant};

use ooo_mcp::capability::{CapabilityServer, Channel, Grant, Session};
use ooo_plugin::firewall::launch::{LaunchSpec, launch};
use ooo_plugin::sandbox::{self, Mode, Policy, Sandbox};

fn spec(dir: &Path) -> LaunchSpec {
    LaunchSpec {
        program: "/bin/true".into(),
        args: Vec::new(),
        cwd: dir.to_owned(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_secs(10),
        grace: Duration::from_secs(1),
    }
}

/// The policy a typical plugin gets: its own files read-only, state/output/tmp writable.
fn policy(dir: &Path) -> Policy {
    Policy {
        read: vec![dir.join("plugin")],
        write: vec![dir.join("state"), dir.join("output"), dir.join("tmp")],
        ..Policy::default()
    }
}

fn session(dir: &Path) -> Session {
    Session {
        plugin: "bench".into(),
        invocation_id: "01JBENCH000000000000000000".into(),
        ledger_path: dir.join("ledger.db"),
        seeds_dir: dir.join("seeds"),
        declared: vec![Grant { name: "state".into(), access: "write".into() }],
    }
}

fn run_once(dir: &Path, sandbox: &Sandbox, with_channel: bool) -> Duration {
    let start = Instant::now();
    let spec = spec(dir);
    let confined = sandbox::confine(sandbox, &policy(dir), &spec, with_channel, false)
        .expect("sandboxed command");
    let done = if with_channel {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let server = CapabilityServer::new(session(dir)).expect("capability server");
        let channel = Channel::serve(server, ours).expect("channel");
        let done = launch(&spec, confined, Some(theirs.into()));
        channel.finish();
        done
    } else {
        launch(&spec, confined, None)
    };
    assert_eq!(done.ended.exit_code(), 0, "the no-op plugin failed: {:?}", done.ended);
    start.elapsed()
}

fn bare_once() -> Duration {
    let start = Instant::now();
    let status = std::process::Command::new("/bin/true").status().expect("bare spawn");
    assert!(status.success());
    start.elapsed()
}

fn median_us(samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    ooo_sandbox::init::dispatch_if_requested();
    let sandbox = Sandbox::new(Mode::Require).expect("the full sandbox");
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 51 } else { 401 };
    let dir = tempfile::tempdir().expect("temp dir");
    for sub in ["plugin", "state", "output", "tmp", "seeds"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("bench dirs");
    }
    ooo_core::ledger::SqliteStore::open(dir.path().join("ledger.db")).expect("ledger");
    println!("invoke set-up benchmark, {runs} runs per row, sandbox level: {}", sandbox.level());
    // Warm up the page cache and the dynamic loader.
    for _ in 0..10 {
        run_once(dir.path(), &sandbox, true);
    }
    // Interleave the rows round by round so drift on a noisy machine hits all of them.
    let rows = [
        ("bare spawn (baseline)", false, false),
        ("launcher + sandbox", true, false),
        ("launcher + sandbox + channel", true, true),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); rows.len()];
    for _ in 0..runs {
        for (i, &(_, sandboxed, channel)) in rows.iter().enumerate() {
            samples[i].push(if sandboxed {
                run_once(dir.path(), &sandbox, channel)
            } else {
                bare_once()
            });
        }
    }
    let medians: Vec<f64> = samples.iter().map(|s| median_us(s)).collect();
    let baseline = medians[0];
    for ((label, _, _), median) in rows.iter().zip(&medians) {
        println!(
            "{label:<30} {median:>9.0} us   +{:>6.0} us   ratio {:>5.2}",
            median - baseline,
            median / baseline
        );
    }
}
