//! `ooo run`, `ooo run --resume`, `ooo run gc`, `ooo status` and `ooo cancel`: the
//! command side of the `ooo-run` program. Everything a run decides (plan, attempts, the
//! gate, the verdict, resume, cancel) lives in `ooo_run`; this file chooses the seed, the
//! workspace, the runtime and its confinement, wires Ctrl-C to the cancel flag, prints
//! progress on standard error and the result on standard output.
//!
//! Workers run in `ooo-sandbox` ([`SandboxLauncher`]) with a private `HOME` under the
//! execution's directory (`Home::execution_dir`), the network limited to the runtime's
//! model host, and the workspace's `.git` read-only (a worker cannot plant git hooks or
//! config that ooo's own git commands would run). ooo-sandbox is then the workers' OS
//! sandbox: a CLI that has its own (Codex's `bwrap`, which cannot nest) is told not to
//! start it (`CliSettings::confined`, set by the launcher).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ooo_core::capability::{Access, Capability, Grant, Grants, ScopedCore};
use ooo_core::config::Config;
use ooo_core::home::Home;
use ooo_core::ledger::{Actor, Event, EventQuery, LedgerError, SqliteStore, Store};
use ooo_core::runtime::RuntimeErrorKind;
use ooo_core::seed::store::is_storable_id;
use ooo_core::seed::{MetadataDefaults, Seed, SeedStore, load_file};
use ooo_run::events::{
    self, CancelRequested, ExecStatus, Execution, ExecutionFinished, Record, Verdict, host_name,
    owner_alive, resume_point,
};
use ooo_run::executor::{CommitPolicy, Executor, Progress, RunResult, Settings};
use ooo_run::gate::GateSettings;
use ooo_run::workspace::{self, GcPolicy, Workspace, Worktree};
use ooo_runtime::cli::CliRuntime;
use ooo_runtime::registry::{CLI_NAMES, Candidate, Registry, RuntimeType};
use ooo_runtime::sandboxed::{SandboxLauncher, WorkerGrant};
use ooo_sandbox::{HostRule, Limits, Network, Sandbox};
use serde_json::{Value, json};

use super::{home, login, open_ledger, open_ledger_read_only};
use crate::cli::{RunArgs, RunCommand};
use crate::error::CliError;
use crate::output::{piped, stderr_line};

type SharedStore = Arc<Mutex<Box<dyn Store + Send>>>;

pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    if let Some(RunCommand::Gc { dry_run, keep, json }) = args.command {
        return gc(dry_run, keep, json);
    }
    let settings = settings(&args);
    let home = home()?;
    let config = Config::load(&home.config_toml())?;
    let store: SharedStore = Arc::new(Mutex::new(Box::new(open_ledger()?)));

    // What to run, and (resuming) what was already done.
    let (seed, seed_id, earlier) = match &args.resume {
        Some(id) => {
            let exec = fold(&store, &home, id)?;
            // A live owner is refused before anything else is touched.
            match resume_point(&exec) {
                Ok(_) | Err(events::ResumeError::NoPlan { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let seed = {
                let ledger = lock(&store)?;
                SeedStore::new(&home).load(ledger.as_ref(), &exec.seed_id)?
            };
            let seed_id = exec.seed_id.clone();
            (seed, seed_id, Some(exec))
        }
        None => {
            let arg = args.seed.as_deref().expect("clap requires SEED without --resume");
            let seed = load_seed(arg, &home, &store)?;
            let id = seed.id().to_owned();
            (seed, id, None)
        }
    };
    warn_unchecked(&seed);

    // The runtime and the sandbox, before the workspace is touched: a missing one
    // changes nothing (no worktree is left behind).
    let registry = super::runtime::registry()?;
    let candidates = registry.list();
    let runtime_name =
        select_runtime(&registry, &candidates, args.runtime.as_deref(), earlier.as_ref())?;
    let host = model_host(&config, &runtime_name)?;
    let cli = registry.cli_runtime(&runtime_name)?;
    let sandbox = Sandbox::new(ooo_plugin::sandbox::mode(config.sandbox))?;

    let execution_id = match (&earlier, &args.execution_id) {
        (Some(exec), _) => exec.id.clone(),
        (None, Some(id)) => new_execution_id(id, &store, &home)?,
        (None, None) => ulid::Ulid::new().to_string(),
    };
    if args.detach {
        drop(store);
        return detach(&args, &home, &execution_id, &seed_id, &runtime_name, earlier.is_some());
    }
    let ws = match &earlier {
        Some(exec) => reopen(exec)?,
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| CliError::new(format!("the current directory: {e}")))?;
            workspace::prepare(&cwd, &execution_id, args.worktree, &home.worktrees_dir())?
        }
    };

    let worker_home = home.execution_dir(&execution_id).join("home");
    make_private_dir(&worker_home)?;
    let mut read = Vec::new();
    let git_dir = ws.root.join(".git");
    if git_dir.is_dir() {
        read.push(git_dir);
    }
    let grant = WorkerGrant {
        home: worker_home,
        read,
        write: Vec::new(),
        network: Network::Hosts(vec![host]),
        limits: Limits::default(),
    };
    let runtime: CliRuntime =
        cli.with_launcher(Arc::new(SandboxLauncher::new(sandbox.clone(), grant)));
    let provider = planner(&registry, &candidates);

    let core = ScopedCore::new(
        Arc::clone(&store),
        events::principal(),
        events::aggregate(&execution_id)?,
        Grants::new([Grant::new(Capability::Ledger, Access::Write)]),
        home.seeds_dir(),
    );
    let cancel = Arc::new(AtomicBool::new(false));
    // The first Ctrl-C (or SIGTERM, or `ooo cancel`) cancels cleanly; a second one while
    // the run winds down exits at once (the execution stays resumable).
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&cancel))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&cancel)))
            .map_err(|e| CliError::new(format!("cannot catch Ctrl-C: {e}")))?;
    }
    let announce = match &earlier {
        Some(_) => format!("resuming execution {execution_id} with {runtime_name}"),
        None => format!("execution {execution_id}: seed {seed_id} with {runtime_name}"),
    };
    stderr_line(&announce);
    let on_progress = |p: &Progress| stderr_line(&progress_line(p));
    let executor = Executor {
        core: &core,
        runtime: &runtime,
        provider: provider.as_deref(),
        sandbox: &sandbox,
        cancel,
        on_progress: &on_progress,
    };
    let result = match &earlier {
        Some(exec) => executor.resume(&seed, &ws, &settings, exec)?,
        None => executor.start(&seed, &seed_id, &ws, &settings, &execution_id)?,
    };
    let code = u8::try_from(result.exit_code).unwrap_or(1);
    if args.json {
        let doc = serde_json::to_string(&result).map_err(std::io::Error::other)?;
        piped(|out| Ok(writeln!(out, "{doc}")?))?;
    } else {
        let text = summary(&result);
        piped(|out| Ok(out.write_all(text.as_bytes())?))?;
    }
    Ok(ExitCode::from(code))
}

/// The id a detached run was given by the process that started it: a ULID no execution
/// has.
fn new_execution_id(id: &str, store: &SharedStore, home: &Home) -> Result<String, CliError> {
    if ulid::Ulid::from_string(id).is_err() {
        return Err(CliError::new(format!("--execution-id {id} is not a ULID"))
            .hint("leave --execution-id out: ooo chooses the id"));
    }
    if fold(store, home, id).is_ok() {
        return Err(CliError::new(format!("execution {id} already exists"))
            .hint(format!("continue it with `ooo run --resume {id}`")));
    }
    Ok(id.to_owned())
}

// ---------------------------------------------------------------------------------------
// Detached runs.

/// How long `--detach` waits for the background process to record itself as the
/// execution's owner before returning.
const DETACH_WAIT: Duration = Duration::from_secs(15);

/// `ooo run --detach`: the same run as an ordinary `ooo` process in a session of its own
/// (stdin `/dev/null`, stdout and stderr to the execution's `log`), which records itself
/// as the execution's owner like any run. The seed is passed by its saved id and the
/// runtime by name, so the background run is exactly the one checked here. Returns once
/// the owner is recorded (or the process ended early: its log is the error).
fn detach(
    args: &RunArgs,
    home: &Home,
    execution_id: &str,
    seed_id: &str,
    runtime: &str,
    resuming: bool,
) -> Result<ExitCode, CliError> {
    use std::os::unix::process::CommandExt;

    let dir = home.execution_dir(execution_id);
    make_private_dir(&dir)?;
    let log = dir.join("log");
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| {
        CliError::new(format!("cannot create {}: {e}", log.display()))
            .hint("check that $OUROBOROS_HOME is writable")
    })?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find the ooo executable: {e}")))?;
    let mut command = std::process::Command::new(exe);
    command.args(detached_args(args, execution_id, seed_id, runtime, resuming));
    command.stdin(std::process::Stdio::null()).stdout(file.try_clone()?).stderr(file);
    // SAFETY: setsid(2) only, between fork and exec: async-signal-safe, touches no
    // memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| CliError::new(format!("cannot start the background run: {e}")))?;
    let pid = child.id();
    let until = std::time::Instant::now() + DETACH_WAIT;
    loop {
        if owned_by(home, execution_id, pid) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(CliError::new(format!(
                "the background run of execution {execution_id} ended at once ({status}): {last}"
            ))
            .hint(format!("its output is in {}", log.display())));
        }
        if std::time::Instant::now() > until {
            stderr_line(&format!(
                "warning: execution {execution_id} has not recorded its start yet (pid {pid}); see {}",
                log.display()
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if args.json {
        let doc = json!({"execution_id": execution_id, "log": log, "pid": pid});
        return piped(|out| Ok(writeln!(out, "{doc}")?));
    }
    piped(|out| {
        writeln!(out, "execution {execution_id} runs in the background (pid {pid})")?;
        writeln!(out, "  follow it: ooo status {execution_id} --follow")?;
        writeln!(out, "  cancel it: ooo cancel {execution_id}")?;
        writeln!(out, "  its output: {}", log.display())?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The background run's arguments: this run's, without `--detach`, the seed by its
/// saved id and the runtime by name, and (a new execution) its id.
fn detached_args(
    args: &RunArgs,
    execution_id: &str,
    seed_id: &str,
    runtime: &str,
    resuming: bool,
) -> Vec<String> {
    let mut out = vec!["run".to_owned()];
    if resuming {
        out.extend(["--resume".to_owned(), execution_id.to_owned()]);
    } else {
        out.extend([seed_id.to_owned(), "--execution-id".to_owned(), execution_id.to_owned()]);
    }
    out.extend(["--runtime".to_owned(), runtime.to_owned()]);
    if args.worktree {
        out.push("--worktree".to_owned());
    }
    out.extend([
        "--max-parallel".to_owned(),
        args.max_parallel.to_string(),
        "--max-attempts".to_owned(),
        args.max_attempts.to_string(),
        "--commit-policy".to_owned(),
        args.commit_policy.clone(),
        "--verify-timeout".to_owned(),
        args.verify_timeout.to_string(),
    ]);
    if args.json {
        out.push("--json".to_owned());
    }
    out
}

/// Has process `pid` recorded itself as the owner of execution `id`?
fn owned_by(home: &Home, id: &str, pid: u32) -> bool {
    let Ok(store) = SqliteStore::open_read_only(home.ledger_db()) else { return false };
    let Ok(found) = one_execution(&store, id) else { return false };
    Execution::fold(&found, &owner_alive).is_ok_and(|e| e.owner.pid == pid)
}

fn settings(args: &RunArgs) -> Settings {
    let toolchain = Toolchain::from_env(|var| std::env::var_os(var));
    Settings {
        max_parallel: args.max_parallel.max(1),
        max_attempts: args.max_attempts.max(1),
        commit_policy: match args.commit_policy.as_str() {
            "final" => CommitPolicy::Final,
            "none" => CommitPolicy::None,
            _ => CommitPolicy::Ac,
        },
        gate: GateSettings {
            timeout: Duration::from_secs(args.verify_timeout.max(1)),
            env: toolchain.env,
            read: toolchain.read,
            ..GateSettings::default()
        },
        ..Settings::default()
    }
}

/// What the verify gate needs to run the user's toolchains (`cargo run`, `go test`)
/// offline: their homes and the directories on `PATH` that are not the system's,
/// read-only, and the variables that point at them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Toolchain {
    read: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

/// Toolchain homes: `(variable, default under HOME)`.
const TOOLCHAIN_HOMES: &[(&str, &str)] = &[("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")];

/// Files in a toolchain home that hold the user's credentials (registry tokens): never
/// mounted.
const CREDENTIALS: &[&str] = &["credentials", "credentials.toml"];

/// Directories already in every sandbox (and those of no toolchain of the user's).
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"];

impl Toolchain {
    /// From the caller's environment (`var` reads one variable).
    fn from_env(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Toolchain {
        let user_home = var("HOME").map(PathBuf::from).filter(|h| h.is_absolute());
        let homes: Vec<(&str, PathBuf)> = TOOLCHAIN_HOMES
            .iter()
            .filter_map(|(name, default)| {
                let dir = match var(name) {
                    Some(value) => PathBuf::from(value),
                    None => user_home.as_ref()?.join(default),
                };
                (dir.is_absolute() && dir.is_dir()).then_some((*name, dir))
            })
            .collect();
        let path: Vec<PathBuf> =
            var("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
        let path: Vec<PathBuf> =
            path.into_iter().filter(|d| d.is_absolute() && d.is_dir()).collect();
        let system = |d: &Path| SYSTEM_DIRS.iter().any(|s| d.starts_with(s));
        // Not `/` nor HOME, nor any directory holding a toolchain home (its credentials).
        let grantable = |d: &Path| {
            d != Path::new("/")
                && Some(d) != user_home.as_deref()
                && !homes.iter().any(|(_, h)| h.starts_with(d))
        };
        let mut read = Vec::new();
        for dir in path.iter().filter(|d| !system(d) && grantable(d)) {
            if !read.contains(dir) {
                read.push(dir.clone());
            }
        }
        for dir in homes.iter().flat_map(|(_, home)| without_credentials(home)) {
            if !read.contains(&dir) {
                read.push(dir);
            }
        }
        let mut env: Vec<(String, String)> =
            homes.iter().map(|(n, h)| ((*n).to_owned(), h.display().to_string())).collect();
        // PATH: the system's and the granted directories, in the caller's order.
        let reachable: Vec<&PathBuf> =
            path.iter().filter(|d| system(d) || read.contains(*d)).collect();
        if !reachable.is_empty() {
            let joined = std::env::join_paths(reachable).unwrap_or_default();
            env.push(("PATH".into(), joined.to_string_lossy().into_owned()));
        }
        if let Some(t) = var("RUSTUP_TOOLCHAIN") {
            env.push(("RUSTUP_TOOLCHAIN".into(), t.to_string_lossy().into_owned()));
        }
        // No registry is reachable from the gate: say so rather than time out.
        env.push(("CARGO_NET_OFFLINE".into(), "true".into()));
        Toolchain { read, env }
    }
}

/// A toolchain home as what can be mounted: the home itself, or, when it holds a
/// credentials file, each of its entries but that file.
fn without_credentials(home: &Path) -> Vec<PathBuf> {
    if !CREDENTIALS.iter().any(|c| home.join(c).exists()) {
        return vec![home.to_owned()];
    }
    let Ok(entries) = std::fs::read_dir(home) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| !CREDENTIALS.iter().any(|c| e.file_name() == *c))
        .map(|e| e.path())
        .collect()
}

fn lock(store: &SharedStore) -> Result<std::sync::MutexGuard<'_, Box<dyn Store + Send>>, CliError> {
    store.lock().map_err(|_| CliError::new("the ledger lock is poisoned"))
}

/// A seed file (saved first, so `--resume` finds it by id) or a saved seed id.
fn load_seed(arg: &str, home: &Home, store: &SharedStore) -> Result<Seed, CliError> {
    let seeds = SeedStore::new(home);
    let path = Path::new(arg);
    if path.is_file() {
        let valid = load_file(path, &MetadataDefaults::generate())?;
        for w in &valid.warnings {
            stderr_line(&format!("warning: {w}"));
        }
        let mut ledger = lock(store)?;
        seeds.save(ledger.as_mut(), &valid.seed, &Actor::user(&login())?)?;
        return Ok(valid.seed);
    }
    if !is_storable_id(arg) {
        return Err(CliError::new(format!("{arg} is neither a seed file nor a saved seed id"))
            .hint("pass a path to a .yaml/.json seed, or an id from `ooo seed list`"));
    }
    let ledger = lock(store)?;
    Ok(seeds.load(ledger.as_ref(), arg)?)
}

/// The verify-command gate: criteria with nothing to check can only end unverified.
fn warn_unchecked(seed: &Seed) {
    for (i, ac) in seed.acceptance_criteria.iter().enumerate() {
        if ac.verify_command.is_none() && ac.verify_exemption_reason.is_none() {
            stderr_line(&format!(
                "warning: criterion {} ({}) has neither verify_command nor verify_exemption_reason: it can only end unverified",
                i + 1,
                ac.semantic_ac_key
            ));
        }
    }
}

/// The agent CLI to run workers with: the flag, OUROBOROS_RUNTIME, the configured
/// default, or the first available (a resumed execution keeps its runtime unless told).
fn select_runtime(
    registry: &Registry,
    all: &[Candidate],
    flag: Option<&str>,
    earlier: Option<&Execution>,
) -> Result<String, CliError> {
    let flag = flag.or(earlier.map(|e| e.started.runtime.as_str()));
    // Only agent CLIs can edit files: the first available one, unless one is named.
    let candidates: Vec<_> =
        all.iter().filter(|c| c.runtime_type == RuntimeType::Cli).cloned().collect();
    let name = match registry.select(flag, &candidates) {
        Ok(s) => s.name,
        // Nothing found: an API key alone does not give `ooo run` a worker.
        Err(e) if flag.is_none() && e.kind == RuntimeErrorKind::NotInstalled => {
            return Err(CliError::new(format!(
                "no agent CLI is available to run workers: none of {} is on PATH or configured",
                CLI_NAMES.join(", ")
            ))
            .hint(
                "install one, e.g. `npm install -g @anthropic-ai/claude-code` (then log in with `claude`), or set [runtime.claude] path = \"/path/to/claude\" in $OUROBOROS_HOME/config.toml; `ooo runtime list` shows what was found",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if !CLI_NAMES.contains(&name.as_str()) {
        // The registry's own error says why an HTTP provider cannot be a worker.
        registry.cli_runtime(&name)?;
    }
    if let Some(c) = candidates.iter().find(|c| c.name == name)
        && !c.available
    {
        let err =
            CliError::new(format!("{name}: {}", c.problem.as_deref().unwrap_or("not available")));
        return Err(match &c.hint {
            Some(h) => err.hint(h),
            None => err,
        });
    }
    Ok(name)
}

/// The one host a worker of `runtime` may reach: its configured `base_url`'s, else the
/// CLI's default API host.
fn model_host(config: &Config, runtime: &str) -> Result<HostRule, CliError> {
    let base_url = config.runtime.entries.get(runtime).and_then(|e| e.base_url.clone());
    let host = match (&base_url, runtime) {
        (Some(url), _) => authority(url),
        (None, "claude") => "api.anthropic.com".to_owned(),
        (None, "codex") => "api.openai.com".to_owned(),
        (None, "gemini") => "generativelanguage.googleapis.com".to_owned(),
        (None, other) => {
            return Err(CliError::new(format!(
                "{other} has no base_url: ooo cannot tell which host its workers may reach"
            ))
            .hint(format!(
                "set [runtime.{other}] base_url = \"https://<your provider's API host>/v1\" in config.toml (the same URL its own config uses)"
            )));
        }
    };
    HostRule::parse(&host).map_err(|e| {
        CliError::new(format!("the model host of {runtime} ({host}): {e}"))
            .hint(format!("check [runtime.{runtime}] base_url in config.toml"))
    })
}

/// `https://host:port/path` -> `host:port`.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_owned()
}

/// The planner's model: the first available HTTP provider, if one is configured;
/// otherwise the plan falls back to one criterion per level.
fn planner(
    registry: &Registry,
    all: &[Candidate],
) -> Option<Arc<dyn ooo_core::runtime::LlmProvider>> {
    let http = all.iter().find(|c| c.runtime_type == RuntimeType::Http && c.available)?;
    registry.provider(&http.name).ok()
}

fn make_private_dir(dir: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
        CliError::new(format!("cannot create {}: {e}", dir.display()))
            .hint("check that $OUROBOROS_HOME is writable")
    })
}

/// The workspace an execution started in.
fn reopen(exec: &Execution) -> Result<Workspace, CliError> {
    let started = &exec.started;
    let worktree = started.worktree.as_ref().map(|p| Worktree {
        path: PathBuf::from(p),
        branch: started.branch.clone().unwrap_or_else(|| workspace::branch_name(&exec.id)),
    });
    let base = started.base_commit.as_deref().ok_or_else(|| {
        CliError::new(format!("execution {} recorded no base commit", exec.id))
            .hint("start a new run")
    })?;
    // A worktree that is gone is reported as such (from the repository we are in).
    let recorded = PathBuf::from(&started.workspace);
    let repo = if recorded.is_dir() {
        recorded
    } else {
        std::env::current_dir().map_err(|e| CliError::new(format!("the current directory: {e}")))?
    };
    Ok(workspace::reopen(&repo, worktree.as_ref(), base)?)
}

fn progress_line(p: &Progress) -> String {
    match p {
        Progress::Planned { levels, criteria } => {
            format!("planned {criteria} criteria in {levels} level(s)")
        }
        Progress::CriterionStarted { criterion } => format!("ac {}: started", criterion + 1),
        Progress::AttemptStarted { criterion, attempt } => {
            format!("ac {}: attempt {attempt}: worker started", criterion + 1)
        }
        Progress::GateVerdict { criterion, attempt, status } => {
            format!("ac {}: attempt {attempt}: {status}", criterion + 1)
        }
        Progress::Accepted { criterion, attempts } => {
            format!("ac {}: accepted after {attempts} attempt(s)", criterion + 1)
        }
        Progress::Failed { criterion, attempts } => {
            format!("ac {}: failed after {attempts} attempt(s)", criterion + 1)
        }
        Progress::Unverified { criterion, exempt } => {
            let what = if *exempt { "exempt" } else { "unverified (no check to run)" };
            format!("ac {}: {what}", criterion + 1)
        }
        Progress::CancelRequested => "cancel requested: stopping the workers".to_owned(),
        Progress::Finished { verdict } => format!("finished: {}", verdict_name(*verdict)),
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Success => "success",
        Verdict::Failed => "failed",
        Verdict::Unverified => "unverified",
        Verdict::Cancelled => "cancelled",
    }
}

fn as_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The human end of a run.
fn summary(r: &RunResult) -> String {
    let mut out = format!(
        "execution {}: {} (exit {})\n",
        r.execution_id,
        verdict_name(r.verdict),
        r.exit_code
    );
    for c in &r.criteria {
        let gate = c.last_verdict.as_ref().map_or("-".to_owned(), |v| as_name(&v.status));
        out.push_str(&format!(
            "  ac {} {}: {}  attempts {}  gate {}  tokens {}  ${:.4}  {}\n",
            c.index + 1,
            c.semantic_ac_key,
            as_name(&c.status),
            c.attempts,
            gate,
            c.tokens_in + c.tokens_out,
            c.cost_usd,
            seconds(c.duration_ms)
        ));
    }
    for sha in &r.commits {
        out.push_str(&format!("  commit {sha}\n"));
    }
    if let Some(wt) = &r.worktree {
        out.push_str(&format!("  worktree {} (branch {})\n", wt.path.display(), wt.branch));
    }
    out.push_str(&format!(
        "  total: {} tokens, ${:.4}, {}\n",
        r.tokens,
        r.cost_usd,
        seconds(r.duration_ms)
    ));
    out
}

// ---------------------------------------------------------------------------------------
// Reading executions.

/// The events of every execution, by id, in ledger order.
fn execution_events(store: &dyn Store) -> Result<BTreeMap<String, Vec<Event>>, CliError> {
    let query = EventQuery {
        aggregate_type: Some(events::AGGREGATE_KIND.to_owned()),
        ..EventQuery::default()
    };
    let mut by_id: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in store.query(&query)? {
        by_id.entry(e.aggregate_id.clone()).or_default().push(e);
    }
    Ok(by_id)
}

fn one_execution(store: &dyn Store, id: &str) -> Result<Vec<Event>, CliError> {
    let query = EventQuery {
        aggregate_type: Some(events::AGGREGATE_KIND.to_owned()),
        aggregate_id: Some(id.to_owned()),
        ..EventQuery::default()
    };
    let found = store.query(&query)?;
    if found.is_empty() {
        return Err(unknown_execution(id));
    }
    Ok(found)
}

fn unknown_execution(id: &str) -> CliError {
    CliError::new(format!("no execution {id}")).hint("list executions with `ooo status`")
}

fn fold(store: &SharedStore, home: &Home, id: &str) -> Result<Execution, CliError> {
    let core = ScopedCore::new(
        Arc::clone(store),
        events::principal(),
        events::aggregate(id).map_err(|_| unknown_execution(id))?,
        Grants::new([Grant::new(Capability::Ledger, Access::Read)]),
        home.seeds_dir(),
    );
    let found = core.own_events()?;
    if found.is_empty() {
        return Err(unknown_execution(id));
    }
    Ok(Execution::fold(&found, &owner_alive)?)
}

#[derive(serde::Serialize)]
struct ExecutionLine {
    execution_id: String,
    seed_id: String,
    status: ExecStatus,
    accepted: usize,
    total: usize,
    started_at: String,
    owner_alive: bool,
    worktree: Option<String>,
}

#[derive(serde::Serialize)]
struct CriterionLine {
    index: usize,
    semantic_ac_key: Option<String>,
    status: events::CriterionStatus,
    attempts: usize,
    last_verdict: Option<String>,
    duration_ms: u64,
    tokens: u64,
    cost_usd: f64,
}

fn line(exec: &Execution, first: &Event) -> ExecutionLine {
    let counts = exec.counts();
    ExecutionLine {
        execution_id: exec.id.clone(),
        seed_id: exec.seed_id.clone(),
        status: exec.status,
        accepted: counts.accepted,
        total: counts.total,
        started_at: first.occurred_at.clone(),
        owner_alive: exec.verdict.is_none() && owner_alive(&exec.owner),
        worktree: exec.started.worktree.clone(),
    }
}

fn criteria_lines(exec: &Execution) -> Vec<CriterionLine> {
    exec.criteria
        .iter()
        .map(|c| CriterionLine {
            index: c.index,
            semantic_ac_key: c.semantic_ac_key.clone(),
            status: c.status,
            attempts: c.attempts.len(),
            last_verdict: c.attempts.iter().rev().find_map(|a| a.gate_status()).map(str::to_owned),
            duration_ms: c.attempts.iter().map(|a| a.duration_ms).sum(),
            tokens: c.attempts.iter().map(|a| a.tokens).sum(),
            cost_usd: c.attempts.iter().map(|a| a.cost).sum(),
        })
        .collect()
}

/// `ooo status [<execution_id>] [--follow]`: read-only. `--follow` prints the execution
/// again whenever it changes, until it is no longer running.
pub fn status(id: Option<&str>, follow: bool, json: bool) -> Result<ExitCode, CliError> {
    // Nothing recorded yet: no executions.
    let store = match SqliteStore::open_read_only(super::existing_home()?.ledger_db()) {
        Ok(s) => s,
        Err(LedgerError::NoLedger { .. }) => {
            return match id {
                None => print_lines(&[], json),
                Some(id) => Err(unknown_execution(id)),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let Some(id) = id else {
        let mut lines = Vec::new();
        for (id, found) in &execution_events(&store)? {
            // One unreadable execution does not hide the others.
            match Execution::fold(found, &owner_alive) {
                Ok(exec) => lines.push((found[0].seq, line(&exec, &found[0]))),
                Err(e) => stderr_line(&format!("warning: execution {id}: {e} ({})", e.hint())),
            }
        }
        lines.sort_by_key(|l| std::cmp::Reverse(l.0));
        let lines: Vec<ExecutionLine> = lines.into_iter().map(|(_, l)| l).collect();
        return print_lines(&lines, json);
    };
    let mut shown = 0;
    loop {
        let found = one_execution(&store, id)?;
        let exec = Execution::fold(&found, &owner_alive)?;
        if found.len() != shown {
            shown = found.len();
            let text = execution_view(&exec, &found[0], json)?;
            piped(|out| Ok(out.write_all(text.as_bytes())?))?;
        }
        if !follow || exec.status != ExecStatus::Running {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// How often `ooo status --follow` reads the ledger.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// One execution, criterion by criterion: a table, or one JSON object (one line).
fn execution_view(exec: &Execution, first: &Event, json: bool) -> Result<String, CliError> {
    let head = line(exec, first);
    let criteria = criteria_lines(exec);
    if json {
        let mut doc = serde_json::to_value(&head).map_err(std::io::Error::other)?;
        doc["verdict"] = json!(exec.verdict);
        doc["cancel_requested"] = json!(exec.cancel_requested);
        doc["commits"] = json!(exec.commits.iter().map(|c| &c.sha).collect::<Vec<_>>());
        doc["criteria"] = serde_json::to_value(&criteria).map_err(std::io::Error::other)?;
        return Ok(format!("{doc}\n"));
    }
    let mut text = format!(
        "execution {}: {} ({}/{} accepted), seed {}, started {}{}\n",
        head.execution_id,
        as_name(&head.status),
        head.accepted,
        head.total,
        head.seed_id,
        short_time(&head.started_at),
        if head.owner_alive {
            format!(", running as pid {}", exec.owner.pid)
        } else {
            String::new()
        }
    );
    if let Some(wt) = &head.worktree {
        text.push_str(&format!("worktree {wt}\n"));
    }
    let rows: Vec<[String; 7]> = criteria
        .iter()
        .map(|c| {
            [
                (c.index + 1).to_string(),
                as_name(&c.status),
                c.attempts.to_string(),
                c.last_verdict.clone().unwrap_or_else(|| "-".to_owned()),
                seconds(c.duration_ms),
                c.tokens.to_string(),
                format!("${:.4}", c.cost_usd),
            ]
        })
        .collect();
    let header = ["AC", "STATUS", "ATTEMPTS", "LAST VERDICT", "ELAPSED", "TOKENS", "COST"]
        .map(str::to_owned);
    text.push_str(&table(std::iter::once(header).chain(rows).collect()));
    Ok(text)
}

fn print_lines(lines: &[ExecutionLine], json: bool) -> Result<ExitCode, CliError> {
    if json {
        return piped(|out| {
            for l in lines {
                writeln!(out, "{}", serde_json::to_string(l).map_err(std::io::Error::other)?)?;
            }
            Ok(())
        });
    }
    if lines.is_empty() {
        return piped(|out| Ok(writeln!(out, "no executions; start one with `ooo run <seed>`")?));
    }
    let mut rows = vec![
        ["EXECUTION", "SEED", "STATUS", "ACCEPTED", "STARTED (UTC)", "OWNER"].map(str::to_owned),
    ];
    for l in lines {
        rows.push([
            l.execution_id.clone(),
            l.seed_id.clone(),
            as_name(&l.status),
            format!("{}/{}", l.accepted, l.total),
            short_time(&l.started_at),
            if l.owner_alive { "alive" } else { "-" }.to_owned(),
        ]);
    }
    let text = table(rows);
    piped(|out| Ok(out.write_all(text.as_bytes())?))
}

fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
fn table<const N: usize>(rows: Vec<[String; N]>) -> String {
    let mut widths = [0usize; N];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------
// Cancel.

/// `ooo cancel <execution_id>`.
pub fn cancel(id: &str, json: bool) -> Result<ExitCode, CliError> {
    let home = home()?;
    if !home.ledger_db().exists() {
        return Err(unknown_execution(id));
    }
    let store: SharedStore = Arc::new(Mutex::new(Box::new(open_ledger()?)));
    let exec = fold(&store, &home, id)?;
    let core = ScopedCore::new(
        Arc::clone(&store),
        events::principal(),
        events::aggregate(id)?,
        Grants::new([Grant::new(Capability::Ledger, Access::Write)]),
        home.seeds_dir(),
    );
    let by = format!("user:{}", login());
    let outcome = match exec.status {
        ExecStatus::Running => {
            // Signalled once: a second SIGINT would make the owner exit at once, without
            // finishing the execution.
            let first = !exec.cancel_requested;
            if first {
                events::append(&core, &Record::CancelRequested(CancelRequested { by }))?;
            }
            let signalled = first && exec.owner.host == host_name() && signal(&exec.owner);
            if signalled {
                "cancel requested; the owner was interrupted"
            } else {
                "cancel requested"
            }
        }
        ExecStatus::Interrupted => {
            if !exec.cancel_requested {
                events::append(&core, &Record::CancelRequested(CancelRequested { by }))?;
            }
            let counts = exec.counts();
            let finished = ExecutionFinished { verdict: Verdict::Cancelled, counts };
            events::append(&core, &Record::Finished(finished))?;
            "cancelled (its process had already stopped)"
        }
        _ => "already finished; nothing to cancel",
    };
    if json {
        let doc = json!({"execution_id": id, "outcome": outcome, "owner_pid": exec.owner.pid});
        return piped(|out| Ok(writeln!(out, "{doc}")?));
    }
    piped(|out| Ok(writeln!(out, "execution {id}: {outcome}")?))
}

/// SIGINT to the execution's owner, when it is still the process that started (its
/// start time matches).
fn signal(owner: &events::Owner) -> bool {
    if !owner_alive(owner) {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(owner.pid) else { return false };
    // SAFETY: kill(2) with a pid checked alive (by its start time) just above and a
    // valid signal number; it touches no memory of ours.
    unsafe { libc::kill(pid, libc::SIGINT) == 0 }
}

// ---------------------------------------------------------------------------------------
// Garbage collection.

fn gc(dry_run: bool, keep: usize, json: bool) -> Result<ExitCode, CliError> {
    let home = home()?;
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::new(format!("the current directory: {e}")))?;
    // The live executions: none when nothing was ever recorded.
    let executions = if home.ledger_db().exists() {
        execution_events(&open_ledger_read_only()?)?
    } else {
        BTreeMap::new()
    };
    let is_live = |id: &str| {
        executions.get(id).is_some_and(|found| {
            Execution::fold(found, &owner_alive).map_or(true, |e| e.status == ExecStatus::Running)
        })
    };
    let policy = GcPolicy { keep, ..GcPolicy::default() };
    let actions = workspace::gc(&cwd, &home.worktrees_dir(), &policy, &is_live, dry_run)?;
    let failed = actions.iter().any(|a| a.error.is_some());
    piped(|out| {
        if json {
            for a in &actions {
                writeln!(out, "{}", serde_json::to_string(a).map_err(std::io::Error::other)?)?;
            }
            return Ok(());
        }
        if actions.is_empty() {
            writeln!(out, "nothing to collect")?;
        }
        for a in &actions {
            let verb = match (dry_run, &a.error) {
                (_, Some(e)) => format!("could not remove ({e})"),
                (true, None) => "would remove".to_owned(),
                (false, None) => "removed".to_owned(),
            };
            let branch = if a.branch_deleted {
                format!(" and branch {}", a.branch)
            } else {
                format!(" (branch {} kept)", a.branch)
            };
            writeln!(out, "{verb} {}{branch}: {}", a.path.display(), as_name(&a.reason))?;
        }
        Ok(())
    })?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_host_is_the_base_urls_authority() {
        assert_eq!(authority("http://127.0.0.1:4321"), "127.0.0.1:4321");
        assert_eq!(authority("https://api.example.com/v1?x=1"), "api.example.com");
        assert_eq!(authority("https://user:pw@llm.internal:8443/v1"), "llm.internal:8443");
        assert_eq!(authority("api.example.com/v1"), "api.example.com");
    }

    #[test]
    fn a_cli_without_base_url_gets_its_default_host_and_opencode_needs_one() {
        let config = Config::default();
        assert_eq!(model_host(&config, "claude").unwrap().host, "api.anthropic.com");
        assert_eq!(
            model_host(&config, "gemini").unwrap().host,
            "generativelanguage.googleapis.com"
        );
        let err = model_host(&config, "opencode").unwrap_err();
        assert!(err.hint.unwrap().contains("[runtime.opencode] base_url"));
        // Codex's provider is the one its base_url names (the adapter defines it).
        let mut config = Config::default();
        config.runtime.entries.insert(
            "codex".into(),
            ooo_core::config::RuntimeEntry {
                base_url: Some("http://127.0.0.1:4321/v1".into()),
                ..Default::default()
            },
        );
        let host = model_host(&config, "codex").unwrap();
        assert_eq!((host.host.as_str(), host.port), ("127.0.0.1", Some(4321)));
        assert_eq!(model_host(&Config::default(), "codex").unwrap().host, "api.openai.com");
    }

    #[test]
    fn the_gate_gets_the_toolchains_without_credentials() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        let home = root.join("home");
        let cargo = home.join(".cargo");
        let rustup = root.join("rustup");
        let tools = root.join("tools/bin");
        for dir in [cargo.join("bin"), cargo.join("registry"), rustup.clone(), tools.clone()] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(cargo.join("credentials.toml"), "token").unwrap();
        let path = format!(
            "{}:{}:/usr/bin:relative:{}:{}:/bin",
            tools.display(),
            cargo.join("bin").display(),
            home.display(),
            root.join("missing").display()
        );
        let vars: BTreeMap<&str, String> = [
            ("HOME", home.display().to_string()),
            ("RUSTUP_HOME", rustup.display().to_string()),
            ("PATH", path),
        ]
        .into();
        let t = Toolchain::from_env(|v| vars.get(v).map(Into::into));
        let mut read = t.read.clone();
        read.sort();
        let mut expected =
            vec![tools.clone(), cargo.join("bin"), cargo.join("registry"), rustup.clone()];
        expected.sort();
        assert_eq!(read, expected, "the credentials file and HOME are not mounted");
        let env: BTreeMap<_, _> = t.env.iter().cloned().collect();
        assert_eq!(env["CARGO_HOME"], cargo.display().to_string());
        assert_eq!(env["RUSTUP_HOME"], rustup.display().to_string());
        assert_eq!(
            env["PATH"],
            format!("{}:{}:/usr/bin:/bin", tools.display(), cargo.join("bin").display())
        );
        assert_eq!(env["CARGO_NET_OFFLINE"], "true");
        // Nothing set: no homes, the gate's default PATH.
        let t = Toolchain::from_env(|_| None);
        assert_eq!(t.read, Vec::<PathBuf>::new());
        assert_eq!(t.env, [("CARGO_NET_OFFLINE".to_owned(), "true".to_owned())]);
    }

    fn run_args(words: &[&str]) -> RunArgs {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["ooo", "run"].iter().chain(words)).unwrap();
        match cli.command {
            crate::cli::Command::Run(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_detached_run_gets_the_same_arguments_but_detach() {
        let id = "01JZ0000000000000000000000";
        let args = run_args(&["s.yaml", "--detach", "--worktree", "--json", "--max-attempts", "2"]);
        assert_eq!(
            detached_args(&args, id, "seed_x", "claude", false).join(" "),
            format!(
                "run seed_x --execution-id {id} --runtime claude --worktree --max-parallel 3 --max-attempts 2 --commit-policy ac --verify-timeout 600 --json"
            )
        );
        let args = run_args(&["--resume", id, "--detach", "--commit-policy", "none"]);
        assert_eq!(
            detached_args(&args, id, "seed_x", "codex", true).join(" "),
            format!(
                "run --resume {id} --runtime codex --max-parallel 3 --max-attempts 3 --commit-policy none --verify-timeout 600"
            )
        );
        // The id belongs to a new execution only.
        use clap::Parser;
        assert!(
            crate::cli::Cli::try_parse_from(["ooo", "run", "--resume", id, "--execution-id", id])
                .is_err()
        );
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let rows = vec![["A".to_owned(), "BB".to_owned()], ["ccc".to_owned(), "d".to_owned()]];
        assert_eq!(table(rows), "A    BB\nccc  d\n");
    }
}
