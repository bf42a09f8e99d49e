//! Set-up cost of one sandboxed spawn against a bare spawn, run by hand:
//! `cargo bench -p ooo-sandbox --bench spawn [-- --quick]`.
//!
//! Each row starts `/bin/true` and waits for it, median of many runs, rounds
//! interleaved so drift on a noisy machine hits every row alike. The baseline is a
//! bare `std::process::Command` spawn measured in the same run. The rows add: the
//! namespaces (`bwrap` alone, no init helper); the whole sandbox with no network; the
//! whole sandbox with a host allowlist (the proxy started, the bridge forked). The goal
//! is under 5 ms added per spawn. This binary is its own init helper.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ooo_sandbox::{HostRule, Mode, Network, Policy, Sandbox};

fn policy(dir: &Path, network: Network) -> Policy {
    Policy {
        read: vec![dir.join("plugin")],
        write: vec![dir.join("state"), dir.join("tmp")],
        cwd: dir.join("plugin"),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        network,
        ..Policy::default()
    }
}

fn timed(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let status = cmd.stdin(Stdio::null()).status().expect("spawn");
    assert!(status.success(), "{status}");
    start.elapsed()
}

fn bare() -> Duration {
    timed(Command::new("/bin/true"))
}

/// Namespaces only: what `bwrap` costs before the init helper.
fn bwrap_only(dir: &Path) -> Duration {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"])
        .args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib"])
        .args(["--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin"])
        .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
        .arg("--bind")
        .arg(dir.join("state"))
        .arg(dir.join("state"))
        .args(["--", "/bin/true"]);
    timed(cmd)
}

fn sandboxed(sandbox: &Sandbox, dir: &Path, network: Network) -> Duration {
    let start = Instant::now();
    let mut confined =
        sandbox.command(policy(dir, network), "/bin/true".as_ref(), &[] as &[OsString]).unwrap();
    let status = confined.command.stdin(Stdio::null()).status().expect("spawn");
    assert!(status.success(), "{status}");
    start.elapsed()
}

fn median_us(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    ooo_sandbox::init::dispatch_if_requested();
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 31 } else { 201 };
    let sandbox = Sandbox::new(Mode::Require).expect("the full sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    for sub in ["plugin", "state", "tmp"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("bench dirs");
    }
    let hosts = || Network::Hosts(vec![HostRule::parse("example.com").unwrap()]);
    println!("sandbox spawn benchmark, {runs} runs per row, level: {}", sandbox.level());
    for _ in 0..5 {
        sandboxed(&sandbox, dir.path(), hosts());
    }
    let labels = [
        "bare spawn (baseline)",
        "bwrap namespaces only",
        "sandbox, no network",
        "sandbox, host allowlist",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); labels.len()];
    for _ in 0..runs {
        samples[0].push(bare());
        samples[1].push(bwrap_only(dir.path()));
        samples[2].push(sandboxed(&sandbox, dir.path(), Network::None));
        samples[3].push(sandboxed(&sandbox, dir.path(), hosts()));
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median_us(s)).collect();
    let baseline = medians[0];
    for (label, median) in labels.iter().zip(&medians) {
        println!(
            "{label:<26} {median:>8.0} us   +{:>7.0} us   ratio {:>6.2}",
            median - baseline,
            median / baseline
        );
    }
}
