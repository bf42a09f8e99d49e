//! Running a plugin process: its own process group (handed the terminal when there is
//! one, so interactive plugins and Ctrl-C work as in a shell), the command's timeout,
//! cancellation by SIGINT/SIGTERM to `ooo`, and SIGTERM-then-SIGKILL to the whole group.
//! Standard input is inherited; standard output and error pass through unchanged and
//! are fingerprinted (sha256 and byte count) when they are not a terminal.
//! [`launch_in_background`] is the variant for work that is not a plugin command (a
//! build step, a contract check): no standard input, the terminal kept, and its output
//! kept for the caller (or, when asked, shown on ooo's standard error when that is a
//! terminal); ooo's standard output stays its own.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ooo_channel::CORE_FD;
use sha2::{Digest, Sha256};

/// What to start.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub program: OsString,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Cancelled,
    /// Could not start; the error kind tells not-found (127) from the rest (126).
    StartFailed {
        not_found: bool,
        message: String,
    },
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "exited with status {code}"),
            Self::Signaled(sig) => write!(f, "killed by signal {sig}"),
            Self::TimedOut => f.write_str("timed out; its process group was terminated"),
            Self::Cancelled => f.write_str("cancelled; its process group was terminated"),
            Self::StartFailed { message, .. } => write!(f, "could not start: {message}"),
        }
    }
}

impl Ended {
    /// The exit code `ooo` itself returns.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Exited(code) => *code,
            Self::Signaled(sig) => 128 + sig,
            Self::TimedOut => 124,
            Self::Cancelled => 130,
            Self::StartFailed { not_found: true, .. } => 127,
            Self::StartFailed { .. } => 126,
        }
    }
}

/// A fingerprint of one output stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPrint {
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Launched {
    pub ended: Ended,
    pub duration: Duration,
    /// `None` when the stream went straight to a terminal.
    pub stdout: Option<StreamPrint>,
    pub stderr: Option<StreamPrint>,
    pub pid: Option<u32>,
    /// Connections the sandbox's proxy refused (`host:port`), for the audit.
    pub refused_connections: Vec<String>,
}

/// Cancellation requested by a signal to `ooo` (Ctrl-C when ooo holds the terminal, or
/// `kill -INT`/`-TERM`). Registered once per process.
pub fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register(sig, Arc::clone(&flag));
        }
        flag
    })
    .clone()
}

/// How much of a background process's output is kept (the end of it).
const KEPT_OUTPUT: usize = 64 * 1024;

/// Where a stream copy goes.
#[derive(Clone)]
enum Sink {
    Stdout,
    Stderr,
    /// The last [`KEPT_OUTPUT`] bytes, in memory.
    Keep(Arc<std::sync::Mutex<Vec<u8>>>),
}

impl Sink {
    fn write(&self, bytes: &[u8]) {
        // A reader that went away must not stop the process: keep draining.
        let _ = match self {
            Self::Stdout => io::stdout().write_all(bytes),
            Self::Stderr => io::stderr().write_all(bytes),
            Self::Keep(kept) => {
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(bytes);
                let excess = kept.len().saturating_sub(KEPT_OUTPUT);
                kept.drain(..excess);
                Ok(())
            }
        };
    }

    fn flush(&self) {
        let _ = match self {
            Self::Stdout => io::stdout().flush(),
            Self::Stderr => io::stderr().flush(),
            Self::Keep(_) => Ok(()),
        };
    }
}

fn tee(mut from: impl Read + Send + 'static, to: Sink) -> JoinHandle<StreamPrint> {
    std::thread::spawn(move || {
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            hasher.update(&buf[..n]);
            bytes += n as u64;
            to.write(&buf[..n]);
        }
        to.flush();
        StreamPrint {
            sha256: hasher.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            bytes,
        }
    })
}

fn kill_group(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory involved.
    unsafe {
        libc::kill(-(pid as i32), sig);
    }
}

/// SIGTERM to the group (with SIGCONT, so a stopped member can act on it), then SIGKILL
/// to whatever is left after `grace`. The leader is still unreaped (a zombie) here, and
/// zombies do not count as alive.
fn end_group(pid: u32, grace: Duration) {
    terminate_group(pid);
    let deadline = Instant::now() + grace;
    while group_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_group(pid, libc::SIGKILL);
}

/// Whether process group `pgid` has a member that is not a zombie (from `/proc`).
fn group_alive(pgid: u32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        // Without /proc, assume so: the caller waits out the grace period.
        return true;
    };
    procs.filter_map(Result::ok).any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else { return false };
        // After the command name: state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

/// Wait until `pid` exits without reaping it (`WNOWAIT`): until ooo reaps it, its pid,
/// and with it the process group id, cannot be reused, so signalling the group stays
/// safe. `None` when waiting failed.
fn wait_exit(pid: u32) -> Option<std::process::ExitStatus> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child; WNOWAIT leaves it waitable for `reap`.
        let r = unsafe {
            libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if r == 0 {
            // SAFETY: filled in by a successful waitid(WEXITED).
            let value = unsafe { info.si_status() };
            // Back to the wait(2) status encoding ExitStatus understands.
            let raw = match info.si_code {
                libc::CLD_EXITED => (value & 0xff) << 8,
                libc::CLD_DUMPED => value | 0x80,
                _ => value,
            };
            return Some(std::process::ExitStatus::from_raw(raw));
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// Reap the child (after its exit was seen), then any of our own children left in its
/// group; the status `wait` reports wins over the one seen without reaping.
fn reap(
    child: &mut Child,
    pid: u32,
    seen: Option<std::process::ExitStatus>,
) -> Option<std::process::ExitStatus> {
    let status = match seen {
        Some(_) => child.wait().ok().or(seen),
        // The waiter failed: the child may still run; it was killed with its group above
        // only when forced, so do not block on it here.
        None => child.try_wait().ok().flatten(),
    };
    // SAFETY: waitpid on our own children in that group, without blocking.
    while unsafe { libc::waitpid(-(pid as i32), std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    status
}

/// SIGTERM, then SIGCONT: a stopped process only acts on SIGTERM once continued.
fn terminate_group(pid: u32) {
    kill_group(pid, libc::SIGTERM);
    kill_group(pid, libc::SIGCONT);
}

/// Start the confined process and wait for it, enforcing the timeout and cancellation.
/// `confined` is the sandboxed command for `spec` (see `crate::sandbox::confine`); the
/// spec's timeout and grace apply to it.
/// `channel`, when given, becomes the child's fd [`CORE_FD`] (the capability channel) and is
/// closed in ooo as soon as the child started, so the channel ends with the plugin.
pub fn launch(
    spec: &LaunchSpec,
    confined: crate::sandbox::Confined,
    channel: Option<std::os::fd::OwnedFd>,
) -> Launched {
    start(spec, confined, channel, Streams::PassThrough)
}

/// Where the process's standard streams go.
enum Streams {
    /// A plugin command: stdin inherited (with the terminal), stdout and stderr through.
    PassThrough,
    /// Background work: no stdin; output into `kept`, or to a terminal stderr if `show`.
    Background { kept: Sink, show: bool },
}

/// Run work that is not a plugin command (a build step, a contract check) with the same
/// timeout, cancellation and group kill: standard input is `/dev/null` and the terminal
/// stays with ooo; standard output and error are kept, or with `show`, both go to ooo's
/// standard error when that is a terminal. Returns the end of the kept output (empty
/// when it was shown). `channel` as in [`launch`].
pub fn launch_in_background(
    spec: &LaunchSpec,
    confined: crate::sandbox::Confined,
    channel: Option<std::os::fd::OwnedFd>,
    show: bool,
) -> (Launched, Vec<u8>) {
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let streams = Streams::Background { kept: Sink::Keep(Arc::clone(&kept)), show };
    let done = start(spec, confined, channel, streams);
    let kept = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
    (done, kept)
}

/// [`launch`] or [`launch_in_background`].
fn start(
    spec: &LaunchSpec,
    mut confined: crate::sandbox::Confined,
    channel: Option<std::os::fd::OwnedFd>,
    streams: Streams,
) -> Launched {
    use std::os::fd::AsRawFd;
    let channel_raw = channel.as_ref().map(|fd| fd.as_raw_fd());
    let cancel = cancel_flag();
    let started = Instant::now();
    // Hand the terminal over only when ooo is in the foreground (not `ooo ... &`), and
    // give back exactly the group that had it.
    // SAFETY: plain queries of our own process group and of fd 0.
    let foreground = unsafe { libc::tcgetpgrp(0) };
    let give_terminal = matches!(streams, Streams::PassThrough)
        && io::stdin().is_terminal()
        && foreground == unsafe { libc::getpgrp() };
    let restore_terminal = move || {
        if give_terminal {
            // SAFETY: plain syscalls on fd 0, ignoring the SIGTTOU a background group gets.
            unsafe {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, foreground);
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
        }
    };
    let err_tty = io::stderr().is_terminal();
    // `bwrap` (or, in a partial sandbox, the program) with the spec's environment; it
    // lives in `confined`, which keeps the sandbox's proxy and mounts alive until the end.
    let cmd: &mut Command = &mut confined.command;
    let (out_sink, err_sink) = match streams {
        Streams::PassThrough => {
            cmd.stdin(Stdio::inherit())
                .stdout(if io::stdout().is_terminal() { Stdio::inherit() } else { Stdio::piped() })
                .stderr(if err_tty { Stdio::inherit() } else { Stdio::piped() });
            (Sink::Stdout, Sink::Stderr)
        }
        Streams::Background { show: true, .. } if err_tty => {
            // Shown on ooo's stderr (its stdout stays its report), but through pipes: the
            // build never holds the terminal itself, so it cannot push keystrokes into it
            // (TIOCSTI) or read from it.
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            (Sink::Stderr, Sink::Stderr)
        }
        Streams::Background { kept, .. } => {
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            (kept.clone(), kept)
        }
    };
    // SAFETY: only async-signal-safe calls between fork and exec: a new process group,
    // made the terminal's foreground group when ooo has a terminal.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if give_terminal {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            }
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            // After the sandbox's own set-up (which closed every descriptor it does not
            // keep), the channel becomes `CORE_FD`.
            if let Some(fd) = channel_raw {
                // The channel becomes `CORE_FD`, inherited across exec (dup2 clears
                // close-on-exec; when it already is that fd, clear it by hand).
                if fd == CORE_FD {
                    libc::fcntl(CORE_FD, libc::F_SETFD, 0);
                } else if libc::dup2(fd, CORE_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }

            Ok(())
        });
    }
    let mut child: Child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            restore_terminal(); // the child may have taken it before exec failed
            let not_found = e.kind() == io::ErrorKind::NotFound;
            return Launched {
                ended: Ended::StartFailed { not_found, message: e.to_string() },
                duration: started.elapsed(),
                stdout: None,
                stderr: None,
                pid: None,
                refused_connections: refused(&confined),
            };
        }
    };
    drop(channel); // the child holds its own copy now
    let pid = child.id();
    let out = child.stdout.take().map(|s| tee(s, out_sink));
    let err = child.stderr.take().map(|s| tee(s, err_sink));
    let mut forced: Option<Ended> = None;
    let mut term_sent: Option<Instant> = None;
    // A waiter thread reports the exit at once, so a short plugin is not charged a
    // polling interval; this loop only wakes to enforce cancel and timeout. The child
    // is reaped only at the very end, after the last signal to its group.
    let (exited_tx, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited_tx.send(wait_exit(pid));
    });
    let status = loop {
        match exited.recv_timeout(Duration::from_millis(20)) {
            Ok(status) => break status,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if forced.is_none() {
            if cancel.load(Ordering::SeqCst) {
                forced = Some(Ended::Cancelled);
            } else if started.elapsed() >= spec.timeout {
                forced = Some(Ended::TimedOut);
            }
            if forced.is_some() {
                terminate_group(pid);
                term_sent = Some(Instant::now());
            }
        } else if term_sent.is_some_and(|t| t.elapsed() >= spec.grace) {
            kill_group(pid, libc::SIGKILL);
            term_sent = None;
        }
    };
    restore_terminal();
    let interrupted = status.as_ref().and_then(|s| s.signal()) == Some(libc::SIGINT);
    // On a terminal, Ctrl-C reaches the plugin's group, not ooo: a plugin that caught it
    // and exited 130 (128 + SIGINT, the shell convention) was cancelled too.
    let interrupted =
        interrupted || (give_terminal && status.as_ref().and_then(|s| s.code()) == Some(130));
    if interrupted && forced.is_none() {
        forced = Some(Ended::Cancelled);
        // Nothing of the group outlives a cancel: the rest gets the grace period too.
        end_group(pid, spec.grace);
    } else if forced.is_some() {
        kill_group(pid, libc::SIGKILL); // SIGTERM and the grace period came before
    }
    // Members of the group that outlive the leader and keep our pipes open would make
    // ooo wait forever: after a grace period they are terminated too.
    let deadline = Instant::now() + spec.grace;
    let mut escalated = false;
    // The pipes usually close a moment after the exit: poll quickly first.
    let mut pause = Duration::from_micros(100);
    while [&out, &err].iter().any(|h| h.as_ref().is_some_and(|h| !h.is_finished())) {
        if escalated && Instant::now() >= deadline + Duration::from_secs(2) {
            // Something outside the group (it left with setsid) holds the pipe: stop
            // waiting; its output is not fingerprinted.
            let status = reap(&mut child, pid, status);
            return Launched {
                ended: ended_of(forced, status),
                duration: started.elapsed(),
                stdout: None,
                stderr: None,
                pid: Some(pid),
                refused_connections: refused(&confined),
            };
        }
        if !escalated && Instant::now() >= deadline {
            terminate_group(pid);
            std::thread::sleep(Duration::from_millis(200));
            kill_group(pid, libc::SIGKILL);
            escalated = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
    let status = reap(&mut child, pid, status);
    let stdout = out.and_then(|h| h.join().ok());
    let stderr = err.and_then(|h| h.join().ok());
    Launched {
        ended: ended_of(forced, status),
        duration: started.elapsed(),
        stdout,
        stderr,
        pid: Some(pid),
        refused_connections: refused(&confined),
    }
}

/// The connections the sandbox's proxy refused, as `host:port`.
fn refused(confined: &crate::sandbox::Confined) -> Vec<String> {
    confined
        .decisions()
        .iter()
        .filter(|d| !d.allowed)
        .map(|d| format!("{}:{}", d.host, d.port))
        .collect()
}

fn ended_of(forced: Option<Ended>, status: Option<std::process::ExitStatus>) -> Ended {
    match (forced, status) {
        (Some(f), _) => f,
        (None, Some(s)) => match (s.code(), s.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(libc::SIGINT)) => Ended::Cancelled,
            (None, Some(sig)) => Ended::Signaled(sig),
            (None, None) => Ended::Exited(1),
        },
        (None, None) => {
            Ended::StartFailed { not_found: false, message: "lost track of the process".into() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit is seen without reaping: the status matches what `wait` reports later,
    /// for an exit code and for a signal.
    #[test]
    fn exits_are_seen_without_reaping() {
        let mut exited = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let seen = wait_exit(exited.id()).unwrap();
        assert_eq!(seen.code(), Some(3));
        assert_eq!(exited.wait().unwrap().code(), Some(3), "still waitable after");
        let mut killed = Command::new("sh").args(["-c", "kill -TERM $$"]).spawn().unwrap();
        let seen = wait_exit(killed.id()).unwrap();
        assert_eq!(seen.signal(), Some(libc::SIGTERM));
        assert_eq!(killed.wait().unwrap().signal(), Some(libc::SIGTERM));
    }

    /// A group whose only member is an unreaped zombie is not alive.
    #[test]
    fn zombies_do_not_keep_a_group_alive() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        // SAFETY: setpgid in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        assert!(group_alive(pid));
        kill_group(pid, libc::SIGKILL);
        wait_exit(pid).unwrap();
        assert!(!group_alive(pid), "only the zombie leader is left");
        child.wait().unwrap();
    }
}
