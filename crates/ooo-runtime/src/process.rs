//! A runtime's child process: started through a [`Launcher`] (the one place a sandbox
//! plugs in), read line by line under an idle and a wall-clock limit, and killed with
//! everything it started.
//!
//! The child gets `/dev/null` as stdin (two of the four CLIs hang forever on an open
//! pipe), its own process group, and exactly the environment it is given. Cancelling or
//! timing out sends SIGTERM to the group and to every descendant found in `/proc` (a
//! descendant that left the group with `setsid` is still found while its parent lives),
//! then SIGKILL after a grace period; the call returns once they are gone. A process that
//! escaped both (reparented to init after `setsid`) is out of reach here: the pid
//! namespace of `ooo-sandbox` closes that gap.
//!
//! What does not live here: which program runs with which arguments (adapters), or what
//! the lines mean (parsers).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ooo_core::runtime::{CancelHandle, RunLimits};

use crate::env::EnvMap;

/// How long a terminated group gets before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(1500);

/// The longest line kept whole; longer lines are cut (the parser then sees invalid JSON
/// and skips it, and the transcript keeps the cut line).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How often a silent child is checked for having exited.
const POLL_EXIT: Duration = Duration::from_millis(200);

/// How long output may stay open after the child exited (a background descendant
/// holding stdout) before it counts as ended.
pub const EXITED_GRACE: Duration = Duration::from_millis(1000);

/// Lines of stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 40;

/// Bytes of one stderr line kept.
const STDERR_LINE_BYTES: usize = 4096;

/// Everything needed to start one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The complete environment (the caller's is cleared).
    pub env: EnvMap,
    pub cwd: PathBuf,
}

/// Turns a spec into a ready [`Command`]. The direct launcher runs the program as it
/// is; the sandbox's launcher ([`crate::sandboxed::SandboxLauncher`]) wraps it in
/// namespaces and filters. Stdio, the process group and limits are set by [`spawn`]
/// afterwards, the same for every launcher.
pub trait Launcher: Send + Sync {
    fn command(&self, spec: &ProcessSpec) -> std::io::Result<Launch>;
    /// A short name for the journal (`direct`, `sandbox`).
    fn name(&self) -> &'static str;
}

/// A command ready to spawn, and what must live as long as its process (a sandbox's
/// proxy and mounts).
pub struct Launch {
    pub command: Command,
    pub keep_alive: Option<Box<dyn Send>>,
}

impl From<Command> for Launch {
    fn from(command: Command) -> Self {
        Launch { command, keep_alive: None }
    }
}

/// Runs the program directly, with only its allowlisted environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectLauncher;

impl Launcher for DirectLauncher {
    fn command(&self, spec: &ProcessSpec) -> std::io::Result<Launch> {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args).env_clear().envs(&spec.env).current_dir(&spec.cwd);
        Ok(cmd.into())
    }

    fn name(&self) -> &'static str {
        "direct"
    }
}

/// What reading the next line produced.
#[derive(Debug, PartialEq, Eq)]
pub enum NextLine {
    Line(String),
    /// stdout closed: the child is exiting (or handed stdout to nobody).
    Eof,
    IdleTimeout,
    WallClockTimeout,
    Cancelled,
    /// The caller's deadline passed (the process is still running).
    Deadline,
}

enum Feed {
    Line(String),
    Eof,
    Cancel,
}

/// A started child, read line by line.
pub struct RunningProcess {
    child: Child,
    /// What the launcher needs alive while the process runs (dropped after it).
    _keep_alive: Option<Box<dyn Send>>,
    pgid: i32,
    feed: Receiver<Feed>,
    canceller: Arc<ProcessCanceller>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Set when stderr reached its end (the reader thread is done).
    stderr_done: Arc<std::sync::atomic::AtomicBool>,
    started: Instant,
    limits: RunLimits,
    finished: bool,
}

/// Cancels a [`RunningProcess`] from any thread: wakes its reader and ends its tree.
pub struct ProcessCanceller {
    /// `None` once the process is over: cancelling then does nothing (its pids may
    /// already belong to other processes).
    wake: Mutex<Option<Sender<Feed>>>,
}

impl ProcessCanceller {
    fn mark_done(&self) {
        if let Ok(mut wake) = self.wake.lock() {
            wake.take();
        }
    }
}

impl CancelHandle for ProcessCanceller {
    /// Wakes the reader, which ends the tree: it snapshots every descendant before the
    /// first signal, so a descendant orphaned by that signal is still reached. (A signal
    /// sent from here first would orphan it before the snapshot.)
    fn cancel(&self) {
        if let Ok(wake) = self.wake.lock()
            && let Some(sender) = wake.as_ref()
        {
            let _ = sender.send(Feed::Cancel);
        }
    }
}

/// Start `spec` through `launcher` with stdin `/dev/null`, stdout and stderr piped, in a
/// new process group.
pub fn spawn(
    launcher: &dyn Launcher,
    spec: &ProcessSpec,
    limits: RunLimits,
) -> std::io::Result<RunningProcess> {
    use std::os::unix::process::CommandExt;

    let Launch { command: mut cmd, keep_alive } = launcher.command(spec)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let (tx, feed) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    let out_tx = tx.clone();
    thread::Builder::new()
        .name("runtime-stdout".into())
        .spawn(move || read_lines(stdout, out_tx))?;
    let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tail, done) = (Arc::clone(&stderr_tail), Arc::clone(&stderr_done));
    thread::Builder::new().name("runtime-stderr".into()).spawn(move || {
        keep_tail(stderr, tail);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    })?;
    let canceller = Arc::new(ProcessCanceller { wake: Mutex::new(Some(tx)) });
    Ok(RunningProcess {
        child,
        _keep_alive: keep_alive,
        pgid: pid as i32,
        feed,
        canceller,
        stderr_tail,
        stderr_done,
        started: Instant::now(),
        limits,
        finished: false,
    })
}

fn read_lines(stdout: impl Read, tx: Sender<Feed>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.by_ref().take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                if buf.is_empty() {
                    continue;
                }
                if tx.send(Feed::Line(String::from_utf8_lossy(&buf).into_owned())).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Feed::Eof);
}

/// Keep the last lines of stderr. Reads bytes (a CLI may print anything), keeps at most
/// [`STDERR_LINE_BYTES`] of a line, and drains to the end whatever it reads, so the
/// child never blocks on or dies of a closed stderr.
fn keep_tail(stderr: impl Read, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        buf.truncate(STDERR_LINE_BYTES);
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

impl RunningProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The handle that cancels this process from another thread.
    pub fn canceller(&self) -> Arc<ProcessCanceller> {
        Arc::clone(&self.canceller)
    }

    /// The next stdout line, or why there is none. On a timeout or a cancel the process
    /// tree is already gone when this returns. When the child has exited but a
    /// background descendant still holds stdout open, the output counts as ended
    /// [`EXITED_GRACE`] after the exit.
    pub fn next_line(&mut self) -> NextLine {
        self.next_line_until(None)
    }

    /// [`RunningProcess::next_line`], giving up at `deadline` with [`NextLine::Deadline`]
    /// (and the process left running: the caller decides).
    pub fn next_line_until(&mut self, deadline: Option<Instant>) -> NextLine {
        if self.finished {
            return NextLine::Eof;
        }
        let idle_from = Instant::now();
        let mut exited_at: Option<Instant> = None;
        let outcome = loop {
            let wall_left = self.limits.wall_clock.saturating_sub(self.started.elapsed());
            let idle_left = self.limits.idle.saturating_sub(idle_from.elapsed());
            if wall_left.is_zero() {
                break NextLine::WallClockTimeout;
            }
            if idle_left.is_zero() {
                break NextLine::IdleTimeout;
            }
            let deadline_left =
                deadline.map_or(POLL_EXIT, |d| d.saturating_duration_since(Instant::now()));
            if deadline_left.is_zero() {
                return NextLine::Deadline;
            }
            match self.feed.recv_timeout(idle_left.min(wall_left).min(POLL_EXIT).min(deadline_left))
            {
                Ok(Feed::Line(line)) => return NextLine::Line(line),
                Ok(Feed::Eof) | Err(RecvTimeoutError::Disconnected) => return NextLine::Eof,
                Ok(Feed::Cancel) => break NextLine::Cancelled,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if exited_at.is_none() && matches!(self.child.try_wait(), Ok(Some(_))) {
                exited_at = Some(Instant::now());
            }
            if exited_at.is_some_and(|t| t.elapsed() >= EXITED_GRACE) {
                return NextLine::Eof;
            }
        };
        self.kill_tree();
        outcome
    }

    /// After [`NextLine::Eof`]: wait for the exit (bounded by the idle limit, then the
    /// tree is killed) and return the exit code (`None` when ended by a signal). Any
    /// descendant still in the group is ended too.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + self.limits.idle.min(Duration::from_secs(30));
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.canceller.mark_done();
                    self.finished = true;
                    // Background children of the CLI must not outlive the run.
                    end_group(self.child.id(), self.pgid);
                    return status.code();
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => {
                    self.kill_tree();
                    return self.child.try_wait().ok().flatten().and_then(|s| s.code());
                }
            }
        }
    }

    /// The last lines the child wrote on stderr. After the exit, waits briefly for the
    /// reader to reach the end, so the last lines are not lost to a race.
    pub fn stderr_tail(&self) -> Vec<String> {
        if self.finished {
            let deadline = Instant::now() + Duration::from_millis(250);
            while !self.stderr_done.load(std::sync::atomic::Ordering::SeqCst)
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(2));
            }
        }
        self.stderr_tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }

    /// End the child and everything it started; returns when they are gone.
    pub fn kill_tree(&mut self) {
        if self.finished {
            return;
        }
        self.canceller.mark_done();
        // Remember every descendant now: once the root is reaped, its children belong
        // to init and can no longer be found from the root.
        let mut tree = Tree::new(self.child.id(), self.pgid);
        tree.signal(libc::SIGTERM);
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            tree.refresh();
            if matches!(self.child.try_wait(), Ok(Some(_))) && !tree.alive() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        tree.refresh();
        tree.signal(libc::SIGKILL);
        let _ = self.child.wait();
        self.finished = true;
        // Members that were still exiting: give them a moment, then they are init's.
        let deadline = Instant::now() + Duration::from_millis(500);
        while tree.alive() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        self.kill_tree();
    }
}

/// SIGTERM then SIGKILL for whatever is left in the group after the leader exited.
fn end_group(root: u32, pgid: i32) {
    let mut tree = Tree::new(root, pgid);
    if !tree.alive() {
        return;
    }
    tree.signal(libc::SIGTERM);
    let deadline = Instant::now() + TERM_GRACE;
    while tree.alive() && Instant::now() < deadline {
        tree.refresh();
        thread::sleep(Duration::from_millis(10));
    }
    tree.refresh();
    tree.signal(libc::SIGKILL);
}

/// A child's process group and every descendant seen so far, each remembered with its
/// start time so a pid reused by an unrelated process is never signalled.
struct Tree {
    root: u32,
    pgid: i32,
    known: BTreeMap<u32, u64>,
}

impl Tree {
    fn new(root: u32, pgid: i32) -> Self {
        let mut tree = Tree { root, pgid, known: BTreeMap::new() };
        tree.refresh();
        tree
    }

    /// Add the live descendants of the root and of every process already known (members
    /// that moved to another group or session are reached too).
    fn refresh(&mut self) {
        let stats: Vec<ProcStat> = proc_stats().collect();
        let mut frontier: Vec<u32> =
            std::iter::once(self.root).chain(self.known.keys().copied()).collect();
        while let Some(parent) = frontier.pop() {
            for s in stats.iter().filter(|s| s.ppid == parent && s.state != 'Z') {
                if self.known.insert(s.pid, s.start_time).is_none() {
                    frontier.push(s.pid);
                }
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe {
            libc::kill(-self.pgid, sig);
            if sig == libc::SIGTERM {
                libc::kill(-self.pgid, libc::SIGCONT);
            }
        }
        for (&pid, &start) in &self.known {
            if start_time_of(pid) == Some(start) {
                // SAFETY: kill(2) on a pid whose start time shows it is the same process.
                unsafe {
                    libc::kill(pid as i32, sig);
                    if sig == libc::SIGTERM {
                        libc::kill(pid as i32, libc::SIGCONT);
                    }
                }
            }
        }
    }

    /// Is any member of the group, or any known descendant, still running?
    fn alive(&self) -> bool {
        group_alive(self.pgid)
            || self.known.iter().any(|(&pid, &start)| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|t| parse_stat(pid, &t))
                    .is_some_and(|s| s.start_time == start && s.state != 'Z')
            })
    }
}

fn start_time_of(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text).filter(|s| s.state != 'Z').map(|s| s.start_time)
}

/// Does the group have a member that is not a zombie?
pub fn group_alive(pgid: i32) -> bool {
    proc_stats().any(|s| s.pgrp == pgid && s.state != 'Z')
}

/// Live descendants of `root` (not `root` itself), from `/proc/*/stat`.
pub fn descendants_of(root: u32) -> Vec<u32> {
    let stats: Vec<ProcStat> = proc_stats().collect();
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for s in stats.iter().filter(|s| s.ppid == parent && s.state != 'Z') {
            if found.insert(s.pid) {
                frontier.push(s.pid);
            }
        }
    }
    found.into_iter().collect()
}

struct ProcStat {
    pid: u32,
    state: char,
    ppid: u32,
    pgrp: i32,
    /// Clock ticks after boot (field 22): with the pid, it names one process for good.
    start_time: u64,
}

fn proc_stats() -> impl Iterator<Item = ProcStat> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            parse_stat(pid, &std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
        })
}

/// `/proc/PID/stat`: `pid (comm) state ppid pgrp ...`; comm may contain spaces and
/// parentheses, so fields are read after the last `)`.
fn parse_stat(pid: u32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    // Fields 6 to 21 lie between pgrp (5) and starttime (22).
    let start_time = fields.nth(16)?.parse().ok()?;
    Some(ProcStat { pid, state, ppid, pgrp, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limits: RunLimits) -> RunningProcess {
        let spec = ProcessSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: [("PATH".to_string(), "/usr/bin:/bin".to_string())].into_iter().collect(),
            cwd: std::env::temp_dir(),
        };
        spawn(&DirectLauncher, &spec, limits).unwrap()
    }

    fn limits(idle_ms: u64, wall_ms: u64) -> RunLimits {
        RunLimits {
            idle: Duration::from_millis(idle_ms),
            wall_clock: Duration::from_millis(wall_ms),
        }
    }

    #[test]
    fn reads_lines_then_eof_and_exit_code() {
        let mut p =
            sh("echo one; echo; printf 'two\\r\\n'; printf three; exit 7", limits(5000, 10000));
        assert_eq!(p.next_line(), NextLine::Line("one".into()));
        assert_eq!(p.next_line(), NextLine::Line("two".into()));
        assert_eq!(p.next_line(), NextLine::Line("three".into()));
        assert_eq!(p.next_line(), NextLine::Eof);
        assert_eq!(p.wait_exit(), Some(7));
    }

    #[test]
    fn stdin_is_dev_null() {
        let mut p = sh("cat; echo after", limits(5000, 10000));
        assert_eq!(p.next_line(), NextLine::Line("after".into()));
    }

    #[test]
    fn environment_is_exactly_the_spec() {
        let mut p = sh("env | sort", limits(5000, 10000));
        let mut lines = Vec::new();
        while let NextLine::Line(l) = p.next_line() {
            lines.push(l);
        }
        assert!(lines.iter().any(|l| l == "PATH=/usr/bin:/bin"), "{lines:?}");
        assert!(!lines.iter().any(|l| l.starts_with("CARGO")), "{lines:?}");
    }

    #[test]
    fn idle_timeout_kills_the_tree() {
        let mut p = sh("echo hi; sleep 30 & sleep 30; echo never", limits(300, 10000));
        let pgid = p.pgid;
        assert_eq!(p.next_line(), NextLine::Line("hi".into()));
        let t = Instant::now();
        assert_eq!(p.next_line(), NextLine::IdleTimeout);
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(!group_alive(pgid));
    }

    #[test]
    fn wall_clock_timeout_even_when_chatty() {
        let mut p = sh("while true; do echo tick; sleep 0.05; done", limits(5000, 400));
        let mut outcome = NextLine::Eof;
        for _ in 0..1000 {
            outcome = p.next_line();
            if outcome != NextLine::Line("tick".into()) {
                break;
            }
        }
        assert_eq!(outcome, NextLine::WallClockTimeout);
    }

    #[test]
    fn cancel_from_another_thread_ends_a_setsid_descendant() {
        let mut p = sh("setsid sleep 60 & echo started; wait", limits(60_000, 60_000));
        assert_eq!(p.next_line(), NextLine::Line("started".into()));
        thread::sleep(Duration::from_millis(100));
        let escaped = descendants_of(p.pid());
        assert!(!escaped.is_empty());
        let c = p.canceller();
        let t = Instant::now();
        thread::spawn(move || c.cancel());
        assert_eq!(p.next_line(), NextLine::Cancelled);
        assert!(t.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(100));
        for pid in escaped {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                stat.is_empty() || parse_stat(pid, &stat).unwrap().state == 'Z',
                "{pid} still runs: {stat}"
            );
        }
    }

    #[test]
    fn cancel_ends_a_setsid_descendant_that_ignores_sigterm() {
        let mut p = sh(
            "setsid sh -c 'trap \"\" TERM; echo $$ > /dev/null; sleep 30' & echo started; wait",
            limits(60_000, 60_000),
        );
        assert_eq!(p.next_line(), NextLine::Line("started".into()));
        thread::sleep(Duration::from_millis(200));
        let escaped = descendants_of(p.pid());
        assert!(!escaped.is_empty());
        p.canceller().cancel();
        assert_eq!(p.next_line(), NextLine::Cancelled);
        for pid in escaped {
            assert_eq!(start_time_of(pid), None, "{pid} survived the cancel");
        }
    }

    #[test]
    fn cancel_after_the_end_does_nothing() {
        let mut p = sh("exit 0", limits(5000, 10000));
        assert_eq!(p.next_line(), NextLine::Eof);
        assert_eq!(p.wait_exit(), Some(0));
        let c = p.canceller();
        c.cancel();
        assert!(c.wake.lock().unwrap().is_none());
    }

    #[test]
    fn stderr_that_is_not_utf8_does_not_break_the_child() {
        let mut p = sh("printf '\\377bad\\n' >&2; echo fine >&2; echo out", limits(5000, 10000));
        assert_eq!(p.next_line(), NextLine::Line("out".into()));
        assert_eq!(p.next_line(), NextLine::Eof);
        assert_eq!(p.wait_exit(), Some(0));
        assert_eq!(p.stderr_tail(), vec!["\u{fffd}bad".to_string(), "fine".to_string()]);
    }

    #[test]
    fn exit_ends_background_children_left_in_the_group() {
        let mut p = sh("sleep 60 & echo bye", limits(5000, 10000));
        let pgid = p.pgid;
        assert_eq!(p.next_line(), NextLine::Line("bye".into()));
        // The background sleep holds stdout open; the exit of the shell still ends output.
        assert_eq!(p.next_line(), NextLine::Eof);
        assert_eq!(p.wait_exit(), Some(0));
        assert!(!group_alive(pgid));
    }

    #[test]
    fn stderr_tail_is_kept() {
        let mut p = sh("echo oops >&2; exit 1", limits(5000, 10000));
        assert_eq!(p.next_line(), NextLine::Eof);
        assert_eq!(p.wait_exit(), Some(1));
        assert_eq!(p.stderr_tail(), vec!["oops".to_string()]);
    }

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let line = "42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2";
        let s = parse_stat(42, line).unwrap();
        assert_eq!((s.state, s.ppid, s.pgrp, s.start_time), ('S', 7, 42, 987654));
        assert!(parse_stat(1, "garbage").is_none());
    }
}
