//! `ooo run`, `ooo run --resume`, `ooo run gc`, `ooo status` and `ooo cancel`: the
//! command side of the `ooo-run` program. Everything a run decides (plan, attempts, the
//! gate, the verdict, resume, cancel) lives in `ooo_run`; this file chooses the seed, the
//! workspace, the runtime and its confinement, takes the execution's lock
//! (`Home::execution_lock`, held from before the workspace is touched to the end, so
//! that one process at a time runs an execution), wires Ctrl-C to the cancel flag, prints
//! progress on standard error and the result on standard output. Beside it: `detach`
//! (`--detach`), `toolchain` (what the verify gate may read), `status`, `cancel`, `gc`
//! and `render` (how all of them print).
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
use ooo_run::lock::{ExecutionLock, LockError};
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

mod cancel;
mod detach;
mod gc;
mod render;
mod status;
mod toolchain;

pub use cancel::cancel;
use detach::*;
use gc::*;
use render::*;
pub use status::status;
use toolchain::*;

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
    check_unchecked(&seed, config.run.verify_gate)?;

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
    let lock_path = home.execution_lock(&execution_id);
    if args.detach {
        drop(store);
        // A resume of a run still going is refused here, not in the background's log.
        if earlier.is_some() {
            drop(ExecutionLock::acquire(&lock_path, &execution_id)?);
        }
        return detach(&args, &home, &execution_id, &seed_id, &runtime_name, earlier.is_some());
    }
    // Held until this process ends: one process at a time runs an execution.
    let lock = ExecutionLock::acquire(&lock_path, &execution_id)?;
    let ws = match &earlier {
        Some(exec) => reopen(exec)?,
        None => {
            let cwd = match &args.dir {
                Some(dir) => new_or_existing_repository(dir)?,
                None => std::env::current_dir()
                    .map_err(|e| CliError::new(format!("the current directory: {e}")))?,
            };
            if args.worktree {
                collect_worktrees(&cwd, &home, config.run.worktree_cap)?;
            }
            workspace::prepare(&cwd, &execution_id, args.worktree, &home.worktrees_dir())?
        }
    };

    let worker_home = home.execution_dir(&execution_id).join("home");
    make_private_dir(&worker_home)?;
    let mut read = Vec::new();
    // `.git` read-only, a directory (in place) or a worktree's file (its pointer).
    let git_dir = ws.root.join(".git");
    if git_dir.exists() {
        read.push(git_dir);
    }
    // The seed file holds the checks (verify commands, assertions): a worker must not
    // read them, so when it lies in the workspace it is hidden.
    let hide: Vec<PathBuf> = args
        .seed
        .as_deref()
        .map(Path::new)
        .filter(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .filter(|p| ws.root.canonicalize().is_ok_and(|root| p.starts_with(root)))
        .into_iter()
        .collect();
    let grant = WorkerGrant {
        home: worker_home,
        cli_dirs: home.execution_dir(&execution_id).join("cli"),
        read,
        write: Vec::new(),
        network: Network::Hosts(vec![host]),
        limits: Limits::default(),
        hide,
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
        Some(_) => executor.resume(&seed, &ws, &settings, &lock)?,
        None => executor.start(&seed, &seed_id, &ws, &settings, &lock)?,
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
/// `[run] verify_gate = "warn"` (the default) lists them; `"block"` refuses to run.
fn check_unchecked(seed: &Seed, gate: ooo_core::config::VerifyGate) -> Result<(), CliError> {
    let unchecked: Vec<String> = seed
        .acceptance_criteria
        .iter()
        .enumerate()
        .filter(|(_, ac)| ac.verify_command.is_none() && ac.verify_exemption_reason.is_none())
        .map(|(i, ac)| format!("criterion {} ({})", i + 1, ac.semantic_ac_key))
        .collect();
    if unchecked.is_empty() {
        return Ok(());
    }
    if gate == ooo_core::config::VerifyGate::Block {
        return Err(CliError::new(format!(
            "{} {} neither verify_command nor verify_exemption_reason, and config.toml says [run] verify_gate = \"block\"",
            unchecked.join(", "),
            if unchecked.len() == 1 { "has" } else { "have" }
        ))
        .hint("give each a verify_command (or a verify_exemption_reason), or set verify_gate = \"warn\""));
    }
    for what in unchecked {
        stderr_line(&format!(
            "warning: {what} has neither verify_command nor verify_exemption_reason: it can only end unverified"
        ));
    }
    Ok(())
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

/// `--in DIR`: an existing directory as it is (it must be in a git repository); a
/// missing one made a new repository with an empty first commit, whose author is ooo.
fn new_or_existing_repository(dir: &Path) -> Result<PathBuf, CliError> {
    if dir.exists() {
        return dir.canonicalize().map_err(|e| CliError::new(format!("{}: {e}", dir.display())));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    let git = |args: &[&str]| -> Result<(), CliError> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=ooo", "-c", "user.email=ooo@localhost"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .map_err(|e| CliError::new(format!("cannot run git: {e}")).hint("install git"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(CliError::new(format!(
                "git {} in {}: {}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    git(&["init", "-q"])?;
    git(&["commit", "-q", "--allow-empty", "-m", "start (made by ooo run --in)"])?;
    dir.canonicalize().map_err(|e| CliError::new(format!("{}: {e}", dir.display())))
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
