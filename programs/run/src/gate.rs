//! The verify gate: ooo's own judgement of one acceptance criterion, run in the sandbox.
//! Only [`check`] decides whether a criterion passed; what a worker says about its work
//! is never an input here.
//!
//! In order: a criterion without a `verify_command` is [`GateStatus::Exempt`] (with its
//! exemption reason) or [`GateStatus::Unverified`], never passed; a change to the
//! criterion's oracle (see [`crate::oracle`]) is [`GateStatus::OracleTampered`] and the
//! command does not run; otherwise `sh -c <verify_command>` runs confined (the workspace
//! writable, no network, a fresh `HOME` and `TMPDIR`, the given environment and nothing
//! else, stdout and stderr into one pipe) and is killed with the whole sandbox at the
//! timeout. It passes only when it exited 0 in time, every `expected_artifacts` path is
//! inside the workspace and not empty, and the combined output holds `output_assertion`.
//!
//! **Cancel.** With [`GateSettings::cancel`], the gate looks at the flag while the command
//! runs (every 25 ms at most) and, once it is set, kills the whole sandbox at once: the
//! verdict is [`GateStatus::Cancelled`], which judges nothing (neither passed nor failed).
//! A flag already set when [`check`] is called runs nothing.
//!
//! What does not live here: retrying (the executor), what the worker is told about a
//! failure ([`crate::view::retry_prompt`]), recording the verdict (the ledger events).

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ooo_core::seed::AcceptanceCriterion;
use ooo_sandbox::{Limits, Network, Policy, Sandbox, SandboxError, Terminal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::oracle::{self, OracleError, ScratchDir, Tamper};

/// The most output kept in [`GateVerdict::output_tail`], in bytes.
pub const TAIL_BYTES: usize = 4096;

/// `PATH` inside the sandbox when the settings give none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Where `HOME` and `TMPDIR` are made inside the sandbox's private `/tmp`.
const SCRATCH_INSIDE: &str = "/tmp/ooo-verify";

/// How long output may stay open after the command ended (a descendant that escaped a
/// partial sandbox holding the pipe) before the gate stops reading.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Runs the verify command after making its `HOME` and `TMPDIR`: `$1` is the command.
const PRELUDE: &str = "mkdir -p -m 700 \"$HOME\" \"$TMPDIR\" && exec sh -c \"$1\"";

/// The outcome of one criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    /// The command exited 0 in time, the artifacts are there and the assertion held.
    Passed,
    Failed,
    /// The worker changed a file the check depends on; the check did not run.
    OracleTampered,
    /// No verify command and no exemption: nothing was checked.
    Unverified,
    /// No verify command, with the seed's reason why none is needed.
    Exempt,
    /// The run was cancelled before or while the command ran ([`GateSettings::cancel`]):
    /// the command was killed with its sandbox, and nothing was judged.
    Cancelled,
}

/// What the gate found, as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub status: GateStatus,
    /// The verify command (never shown to a worker: see [`crate::view`]).
    pub command: Option<String>,
    /// `None` when the command did not run or was ended by a signal.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Hex SHA-256 of the whole combined output, when the command ran.
    pub output_sha256: Option<String>,
    /// The last [`TAIL_BYTES`] of the combined output.
    pub output_tail: String,
    pub missing_artifacts: Vec<String>,
    pub empty_artifacts: Vec<String>,
    /// Whether the output held `output_assertion`; `None` without one (or when the
    /// command did not run).
    pub assertion_met: Option<bool>,
    pub tampered: Vec<Tamper>,
    pub duration_ms: u64,
}

impl GateVerdict {
    fn empty(status: GateStatus, command: Option<String>) -> Self {
        Self {
            status,
            command,
            exit_code: None,
            timed_out: false,
            output_sha256: None,
            output_tail: String::new(),
            missing_artifacts: Vec::new(),
            empty_artifacts: Vec::new(),
            assertion_met: None,
            tampered: Vec::new(),
            duration_ms: 0,
        }
    }

    pub fn passed(&self) -> bool {
        self.status == GateStatus::Passed
    }
}

/// The most oracle files mounted read-only over the workspace while a check runs (each
/// is a mount and a descriptor); past it, only the comparison after the run protects.
const MAX_READ_ONLY_ORACLE: usize = 512;

/// A cancel flag shared with whoever may cancel (the executor's run). Two are equal when
/// they are the same flag.
#[derive(Debug, Clone)]
pub struct CancelFlag(pub Arc<AtomicBool>);

impl CancelFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl PartialEq for CancelFlag {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CancelFlag {}

/// How the verify command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSettings {
    /// Wall-clock limit; the whole sandbox is killed when it passes.
    pub timeout: Duration,
    /// The command's environment (`PATH` defaults to [`DEFAULT_PATH`]; `HOME` and
    /// `TMPDIR` are always the gate's own).
    pub env: Vec<(String, String)>,
    /// Extra paths mounted read-only (toolchain homes, caches).
    pub read: Vec<PathBuf>,
    pub limits: Limits,
    /// Set, the running command is killed with its whole sandbox at once and the verdict
    /// is [`GateStatus::Cancelled`]. `None`: only the timeout ends it.
    pub cancel: Option<CancelFlag>,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            env: Vec::new(),
            read: Vec::new(),
            limits: Limits::default(),
            cancel: None,
        }
    }
}

/// Why the gate could not judge (as opposed to a criterion that failed).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("the workspace {} cannot be used: {source}", path.display())]
    Workspace { path: PathBuf, source: std::io::Error },
    #[error("cannot work out the criterion's oracle: {0}")]
    Oracle(#[from] OracleError),
    #[error("cannot confine the verify command: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("cannot run the verify command: {0}")]
    Spawn(std::io::Error),
    #[error("cannot make the verify command's scratch directory: {0}")]
    Scratch(std::io::Error),
}

impl GateError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            GateError::Workspace { path, .. } => {
                format!("check that {} exists and is a readable directory", path.display())
            }
            GateError::Oracle(e) => e.hint(),
            GateError::Sandbox(e) => e.hint().to_owned(),
            GateError::Spawn(_) => {
                "check that bubblewrap (`bwrap`) and ooo's sandbox helper are installed; `ooo sandbox` shows what this machine supports".to_owned()
            }
            GateError::Scratch(_) => {
                "check that the temporary directory ($TMPDIR or /tmp) is writable".to_owned()
            }
        }
    }
}

/// Judge `criterion` on `workspace` (a git work tree whose oracle is compared with
/// `base_commit`). See the module docs for the order of the checks.
pub fn check(
    sandbox: &Sandbox,
    workspace: &Path,
    base_commit: &str,
    criterion: &AcceptanceCriterion,
    settings: &GateSettings,
) -> Result<GateVerdict, GateError> {
    let started = Instant::now();
    let workspace = std::fs::canonicalize(workspace)
        .map_err(|source| GateError::Workspace { path: workspace.to_owned(), source })?;
    let Some(command) = criterion.verify_command.as_deref().filter(|c| !c.trim().is_empty()) else {
        return Ok(without_command(&workspace, criterion, started));
    };
    if cancelled(settings) {
        return Ok(GateVerdict::empty(GateStatus::Cancelled, Some(command.to_owned())));
    }
    let tampered = oracle::tampered_oracle(&workspace, base_commit, command)?;
    if !tampered.is_empty() {
        let mut verdict = GateVerdict::empty(GateStatus::OracleTampered, Some(command.to_owned()));
        verdict.tampered = tampered;
        verdict.duration_ms = millis(started);
        return Ok(verdict);
    }
    let assertion = criterion.output_assertion.as_deref().filter(|a| !a.is_empty());
    // While the command runs, its oracle is the base commit's: copies of the base
    // content are mounted read-only over the work tree's files, so neither the code it
    // runs (the worker's) nor a worker of another criterion running meanwhile can change
    // what it reads. (Up to [`MAX_READ_ONLY_ORACLE`] files; the comparison after the run
    // covers the rest. Without namespaces the files are only made read-only.)
    let mut settings = settings.clone();
    let oracle = oracle::oracle_paths(&workspace, base_commit, command)?;
    let guarded = !oracle.is_empty() && oracle.len() <= MAX_READ_ONLY_ORACLE;
    // The copies' directory stays until the run ends: bwrap mounts them by their path.
    let (_copies, pinned) = if guarded && ooo_sandbox::support::Support::get().namespaces() {
        let (dir, pinned) = pin_base_copies(&workspace, base_commit, &oracle)?;
        (Some(dir), pinned)
    } else {
        if guarded {
            settings.read.extend(oracle.iter().map(|p| workspace.join(p)).filter(|p| p.exists()));
        }
        (None, Vec::new())
    };
    let run = run_confined(sandbox, &workspace, command, assertion, &settings, pinned)?;
    if run.ending == Ending::Cancelled {
        return Ok(cut_short(command, &run, started));
    }
    let tampered = oracle::tampered_oracle(&workspace, base_commit, command)?;
    if !tampered.is_empty() {
        let mut verdict = GateVerdict::empty(GateStatus::OracleTampered, Some(command.to_owned()));
        verdict.tampered = tampered;
        verdict.exit_code = run.exit_code;
        verdict.duration_ms = millis(started);
        return Ok(verdict);
    }
    let (missing_artifacts, empty_artifacts) =
        check_artifacts(&workspace, &criterion.expected_artifacts);
    let assertion_met = assertion.map(|_| run.capture.found);
    let timed_out = run.ending == Ending::TimedOut;
    let passed = run.exit_code == Some(0)
        && !timed_out
        && missing_artifacts.is_empty()
        && empty_artifacts.is_empty()
        && assertion_met != Some(false);
    Ok(GateVerdict {
        status: if passed { GateStatus::Passed } else { GateStatus::Failed },
        command: Some(command.to_owned()),
        exit_code: run.exit_code,
        timed_out,
        output_sha256: Some(run.capture.digest()),
        output_tail: run.capture.tail_text(),
        missing_artifacts,
        empty_artifacts,
        assertion_met,
        tampered: Vec::new(),
        duration_ms: millis(started),
    })
}

/// Exempt or unverified: never passed. The artifacts are still reported as evidence.
fn without_command(
    workspace: &Path,
    criterion: &AcceptanceCriterion,
    started: Instant,
) -> GateVerdict {
    let status = match &criterion.verify_exemption_reason {
        Some(reason) if !reason.trim().is_empty() => GateStatus::Exempt,
        _ => GateStatus::Unverified,
    };
    let mut verdict = GateVerdict::empty(status, None);
    let (missing, empty) = check_artifacts(workspace, &criterion.expected_artifacts);
    verdict.missing_artifacts = missing;
    verdict.empty_artifacts = empty;
    verdict.duration_ms = millis(started);
    verdict
}

fn cancelled(settings: &GateSettings) -> bool {
    settings.cancel.as_ref().is_some_and(CancelFlag::is_set)
}

/// A command killed by a cancel: no judgement, the output so far as evidence.
fn cut_short(command: &str, run: &Run, started: Instant) -> GateVerdict {
    let mut verdict = GateVerdict::empty(GateStatus::Cancelled, Some(command.to_owned()));
    verdict.output_sha256 = Some(run.capture.digest());
    verdict.output_tail = run.capture.tail_text();
    verdict.duration_ms = millis(started);
    verdict
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------
// Running the command.

/// What running the command produced.
struct Run {
    exit_code: Option<i32>,
    ending: Ending,
    capture: Capture,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// By itself.
    Exited,
    /// Killed at the timeout.
    TimedOut,
    /// Killed because the cancel flag was set.
    Cancelled,
}

/// The base commit's copies of `oracle` (relative to `workspace`) in a new scratch
/// directory, opened, each with the work-tree path it is mounted over.
fn pin_base_copies(
    workspace: &Path,
    base_commit: &str,
    oracle: &[PathBuf],
) -> Result<(ScratchDir, Vec<(OwnedFd, PathBuf)>), GateError> {
    let into = ScratchDir::new("oracle").map_err(GateError::Scratch)?;
    let mut pinned = Vec::new();
    for (path, copy) in oracle::base_copies(workspace, base_commit, oracle, into.path())? {
        let file = std::fs::File::open(&copy).map_err(GateError::Scratch)?;
        pinned.push((OwnedFd::from(file), workspace.join(path)));
    }
    Ok((into, pinned))
}

fn run_confined(
    sandbox: &Sandbox,
    workspace: &Path,
    command: &str,
    assertion: Option<&str>,
    settings: &GateSettings,
    pinned: Vec<(OwnedFd, PathBuf)>,
) -> Result<Run, GateError> {
    // With namespaces the sandbox's /tmp is private and fresh; without them (a partial
    // sandbox) the scratch space is a host directory granted for this run only.
    let host_scratch = if ooo_sandbox::support::Support::get().namespaces() {
        None
    } else {
        Some(ScratchDir::new("verify").map_err(GateError::Scratch)?)
    };
    let scratch = host_scratch.as_ref().map_or(PathBuf::from(SCRATCH_INSIDE), |s| s.path().into());
    let mut policy = policy(workspace, &scratch, host_scratch.is_some(), settings);
    policy.read_fds = pinned;
    let args: Vec<OsString> =
        vec!["-c".into(), PRELUDE.into(), "ooo-verify".into(), command.into()];
    let mut confined = sandbox.command(policy, "sh".as_ref(), &args)?;
    let (reader, writer) = std::io::pipe().map_err(GateError::Spawn)?;
    let writer_err = writer.try_clone().map_err(GateError::Spawn)?;
    confined.command.stdin(Stdio::null()).stdout(writer).stderr(writer_err);
    let child = confined.command.spawn().map_err(GateError::Spawn);
    // The command keeps its copies of the pipe's write end until dropped: replace them,
    // so the reader sees the end of the output when the sandbox ends.
    confined.command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = child?;
    let capture = Arc::new(Mutex::new(Capture::new(assertion)));
    let reading = match spawn_reader(reader, Arc::clone(&capture)) {
        Ok(reading) => reading,
        Err(e) => {
            ooo_sandbox::kill(&mut child);
            let _ = child.wait();
            return Err(GateError::Spawn(e));
        }
    };
    let (status, ending) = wait_or_kill(&mut child, settings.timeout, settings.cancel.as_ref());
    drain(reading);
    drop(confined);
    let capture = capture.lock().map(|c| c.clone()).unwrap_or_else(|e| e.into_inner().clone());
    Ok(Run { exit_code: status.and_then(|s| s.code()), ending, capture })
}

fn policy(
    workspace: &Path,
    scratch: &Path,
    grant_scratch: bool,
    settings: &GateSettings,
) -> Policy {
    let mut env: Vec<(String, String)> =
        settings.env.iter().filter(|(k, _)| k != "HOME" && k != "TMPDIR").cloned().collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env.push(("HOME".into(), scratch.join("home").to_string_lossy().into_owned()));
    env.push(("TMPDIR".into(), scratch.join("tmp").to_string_lossy().into_owned()));
    let mut write = vec![workspace.to_owned()];
    if grant_scratch {
        write.push(scratch.to_owned());
    }
    // The repository's own files stay as they are: code the check runs (the worker's)
    // must not plant git configuration, filters or hooks that ooo's git would run
    // outside the sandbox, nor repoint a worktree's `.git` file.
    let mut read = settings.read.clone();
    let git = workspace.join(".git");
    if git.exists() {
        read.push(git);
    }
    Policy {
        read,
        write,
        cwd: workspace.to_owned(),
        env,
        network: Network::None,
        limits: settings.limits,
        terminal: Terminal::None,
        ..Policy::default()
    }
}

/// Wait for the child; at the timeout, or once `cancel` is set, kill it (with namespaces,
/// `bwrap` takes the whole sandbox with it; without, the session the command leads is
/// killed too).
fn wait_or_kill(
    child: &mut Child,
    timeout: Duration,
    cancel: Option<&CancelFlag>,
) -> (Option<ExitStatus>, Ending) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let ending = loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), Ending::Exited),
            Ok(None) if cancel.is_some_and(CancelFlag::is_set) => break Ending::Cancelled,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Ok(None) | Err(_) => break Ending::TimedOut,
        }
    };
    ooo_sandbox::kill(child);
    (child.wait().ok(), ending)
}

/// Read the combined output to its end into `capture`.
fn spawn_reader(
    mut reader: std::io::PipeReader,
    capture: Arc<Mutex<Capture>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("verify-output".into()).spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => match capture.lock() {
                    Ok(mut c) => c.feed(&buf[..n]),
                    Err(_) => break,
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}

/// Let the reader reach the end of the output, for at most [`DRAIN_GRACE`]; a reader
/// still blocked then (a process outside a partial sandbox holds the pipe) is left
/// behind, and what it read so far is the output.
fn drain(reading: JoinHandle<()>) {
    let deadline = Instant::now() + DRAIN_GRACE;
    while !reading.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    if reading.is_finished() {
        let _ = reading.join();
    }
}

/// The combined output, streamed: its digest, its tail, whether it held the assertion.
#[derive(Clone)]
struct Capture {
    hasher: Sha256,
    tail: Vec<u8>,
    needle: Vec<u8>,
    /// The end of the output so far that could start a match of `needle`.
    carry: Vec<u8>,
    found: bool,
}

impl Capture {
    fn new(assertion: Option<&str>) -> Self {
        let needle = assertion.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        Self {
            hasher: Sha256::new(),
            tail: Vec::new(),
            found: needle.is_empty(),
            needle,
            carry: Vec::new(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
        if !self.found {
            self.carry.extend_from_slice(chunk);
            self.found = self.carry.windows(self.needle.len()).any(|w| w == self.needle);
            let keep = self.needle.len().saturating_sub(1).min(self.carry.len());
            self.carry.drain(..self.carry.len() - keep);
        }
    }

    fn digest(&self) -> String {
        let digest = self.hasher.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The last [`TAIL_BYTES`] as text, starting at a character boundary.
    fn tail_text(&self) -> String {
        let start = self.tail.len().saturating_sub(TAIL_BYTES);
        let mut tail = &self.tail[start..];
        if start > 0 {
            let skip = tail.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count();
            tail = &tail[skip..];
        }
        String::from_utf8_lossy(tail).into_owned()
    }
}

// ---------------------------------------------------------------------------------------
// Artifacts.

/// The expected artifacts that are missing (or not safely inside the workspace) and
/// those that are empty (a file of no bytes, a directory with no entry).
fn check_artifacts(workspace: &Path, artifacts: &[String]) -> (Vec<String>, Vec<String>) {
    let mut missing = Vec::new();
    let mut empty = Vec::new();
    for artifact in artifacts {
        match artifact_state(workspace, artifact) {
            ArtifactState::Present => {}
            ArtifactState::Missing => missing.push(artifact.clone()),
            ArtifactState::Empty => empty.push(artifact.clone()),
        }
    }
    (missing, empty)
}

enum ArtifactState {
    Present,
    Missing,
    Empty,
}

fn artifact_state(workspace: &Path, artifact: &str) -> ArtifactState {
    if ooo_core::seed::artifact::path_error(artifact).is_some() {
        return ArtifactState::Missing;
    }
    // A link is followed only as far as the workspace: one out of it does not count.
    let Ok(real) = std::fs::canonicalize(workspace.join(artifact)) else {
        return ArtifactState::Missing;
    };
    if !real.starts_with(workspace) {
        return ArtifactState::Missing;
    }
    let Ok(meta) = std::fs::metadata(&real) else { return ArtifactState::Missing };
    let has_content = if meta.is_dir() {
        std::fs::read_dir(&real).is_ok_and(|mut entries| entries.next().is_some())
    } else {
        meta.is_file() && meta.len() > 0
    };
    if has_content { ArtifactState::Present } else { ArtifactState::Empty }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assertion_is_found_across_chunks() {
        let mut c = Capture::new(Some("ALL-OK"));
        for chunk in ["xx AL", "L", "-O", "K yy"] {
            c.feed(chunk.as_bytes());
        }
        assert!(c.found);
        let mut c = Capture::new(Some("ALL-OK"));
        c.feed(b"ALL-O");
        c.feed(b"k");
        assert!(!c.found);
        assert!(Capture::new(None).found);
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_at_a_character_boundary() {
        let mut c = Capture::new(None);
        for _ in 0..3000 {
            c.feed("é".as_bytes());
        }
        c.feed(b"END");
        let tail = c.tail_text();
        assert!(tail.ends_with("END") && tail.len() <= TAIL_BYTES, "{}", tail.len());
        assert!(!tail.contains('\u{FFFD}'));
        let mut whole = Sha256::new();
        for _ in 0..3000 {
            whole.update("é".as_bytes());
        }
        whole.update(b"END");
        let hex: String = whole.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(c.digest(), hex);
    }

    #[test]
    fn artifacts_must_be_inside_and_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let ws = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(ws.join("full.txt"), "x").unwrap();
        std::fs::write(ws.join("empty.txt"), "").unwrap();
        std::fs::create_dir(ws.join("empty_dir")).unwrap();
        std::fs::create_dir(ws.join("dir")).unwrap();
        std::fs::write(ws.join("dir/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", ws.join("out_link")).unwrap();
        std::os::unix::fs::symlink("full.txt", ws.join("in_link")).unwrap();
        let list: Vec<String> = [
            "full.txt",
            "empty.txt",
            "empty_dir",
            "dir",
            "./dir/f",
            "nope",
            "out_link",
            "in_link",
            "../x",
            "/etc/hostname",
        ]
        .map(String::from)
        .into();
        let (missing, empty) = check_artifacts(&ws, &list);
        assert_eq!(missing, ["nope", "out_link", "../x", "/etc/hostname"]);
        assert_eq!(empty, ["empty.txt", "empty_dir"]);
    }
}
