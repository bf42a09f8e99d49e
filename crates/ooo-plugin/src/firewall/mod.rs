//! The firewall: the one way a plugin command runs (`ooo <name|namespace> <command>`).
//!
//! Gates, in the contract's order, each refusal appending only `plugin.failed` with the
//! command that fixes it: unknown command (nothing recorded, exit 2) -> disabled ->
//! digest re-check (`trust_subject_changed`) -> required scopes trusted -> cancellation
//! -> confirmation -> `before_invocation` hooks. Then `plugin.invoked` (durable, before
//! the process starts), one `plugin.permission_used` per required scope, the launch
//! ([`launch`]), `plugin.completed` or `plugin.failed`, and the `after_invocation`,
//! `on_error` and `on_cancel` hooks. Events live under `plugin_invocation:<id>`
//! ([`audit`]).

pub mod audit;
pub mod launch;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use ooo_core::ledger::{Actor, Store};
use ooo_core::safety::redaction;

use crate::lockfile::LockEntry;
use crate::manager::{Manager, ManagerError};
use crate::manifest::{Command, Hook, Manifest, rules};
use crate::trust;
use audit::Context;
use launch::{Ended, LaunchSpec, launch};

/// Default command timeout when the manifest gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default hook timeout.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Removes the invocation's private temporary directory when the call ends.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The plugin's output directory in the caller's workspace, made for the call (the
/// sandbox can only grant a directory that exists) and removed again with the
/// directories made for it when the plugin left nothing in it: a workspace gets
/// `.ouroboros/plugin-artifacts/<name>` only from a plugin that writes there.
struct OutputDir {
    /// Made by this call, outermost first.
    made: Vec<PathBuf>,
}

impl OutputDir {
    fn make(dir: &Path) -> Self {
        let mut missing: Vec<PathBuf> =
            dir.ancestors().take_while(|d| !d.exists()).map(Path::to_owned).collect();
        missing.reverse();
        // A workspace the caller cannot write gets no output directory (and the plugin
        // no place to write one).
        let _ = std::fs::create_dir_all(dir);
        Self { made: missing }
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        // remove_dir only removes empty directories: what the plugin wrote stays.
        for dir in self.made.iter().rev() {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// What the caller asked for.
pub struct Request {
    pub target: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    /// The caller passed `--confirm` for a command that asks first.
    pub confirm: bool,
    /// Where the caller is (becomes `OUROBOROS_PLUGIN_WORKDIR`).
    pub workdir: PathBuf,
    /// Seconds between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// What happened.
#[derive(Debug)]
pub enum Outcome {
    /// `ooo <name>` alone: the plugin's commands.
    Commands { plugin: String, version: String, commands: Vec<(String, String, String)> },
    /// No such command (nothing recorded).
    UnknownCommand { plugin: String, command: String, available: Vec<String> },
    /// A gate refused; `plugin.failed` was recorded.
    Blocked { invocation_id: String, message: String },
    /// The plugin ran.
    Ran { invocation_id: String, exit_code: i32, ended: Ended },
}

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Commands { .. } => 0,
            Self::UnknownCommand { .. } => 2,
            Self::Blocked { .. } => 1,
            Self::Ran { exit_code, .. } => *exit_code,
        }
    }
}

/// Answer to the confirmation prompt; `None` when there is no terminal to ask on.
pub type Confirm<'a> = &'a dyn Fn(&str) -> Option<bool>;

/// Find an installed plugin by name or namespace.
pub fn resolve(
    manager: &Manager,
    target: &str,
) -> Result<Option<(LockEntry, Manifest)>, ManagerError> {
    for entry in manager.installed()? {
        let Ok(m) = manager.installed_manifest(&entry) else { continue };
        if entry.name == target || m.commands.iter().any(|c| c.namespace == target) {
            return Ok(Some((entry, m)));
        }
    }
    Ok(None)
}

/// Where one invocation may write, besides the workspace.
struct Dirs {
    state: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    output: PathBuf,
}

/// The plugin's environment: an allowlist of the caller's (never its secrets), a
/// private HOME and TMPDIR, the `OUROBOROS_PLUGIN_*` variables, and each
/// `x-ouroboros.env` variable whose scope is trusted.
fn env_for(
    entry: &LockEntry,
    manifest: &Manifest,
    granted: &[String],
    live: &Path,
    req: &Request,
    dirs: &Dirs,
    invocation_id: &str,
) -> Vec<(String, String)> {
    const ALLOWED: &[&str] =
        &["PATH", "USER", "LOGNAME", "LANG", "TERM", "TZ", "COLORTERM", "NO_COLOR"];
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| ALLOWED.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect();
    env.push(("HOME".into(), dirs.home.display().to_string()));
    env.push(("TMPDIR".into(), dirs.tmp.display().to_string()));
    env.push(("OUROBOROS_PLUGIN_WORKDIR".into(), req.workdir.display().to_string()));
    env.push(("OUROBOROS_PLUGIN_OUTPUT_DIR".into(), dirs.output.display().to_string()));
    env.push(("OUROBOROS_PLUGIN_HOME".into(), live.display().to_string()));
    env.push(("OUROBOROS_PLUGIN_STATE_DIR".into(), dirs.state.display().to_string()));
    env.push(("OUROBOROS_INVOCATION_ID".into(), invocation_id.to_owned()));
    if let Some(x) = &manifest.x_ouroboros {
        for (var, scope) in &x.env {
            let trusted = scope.as_str().is_some_and(|s| granted.iter().any(|g| g == s));
            if let (true, Ok(value)) = (trusted, std::env::var(var)) {
                env.push((var.clone(), value));
            }
        }
    }
    let _ = &entry.name;
    env
}

/// What the sandbox lets this plugin touch, from its manifest and the user's grants.
fn policy_for(
    manifest: &Manifest,
    granted: &[String],
    live: &Path,
    req: &Request,
    dirs: &Dirs,
) -> crate::sandbox::Policy {
    let mut policy = crate::sandbox::Policy {
        read: vec![live.to_owned()],
        write: vec![dirs.state.clone(), dirs.tmp.clone(), dirs.output.clone()],
        network: false,
        connect_ports: Vec::new(),
    };
    let trusted = |scope: &str| granted.iter().any(|g| g == scope);
    if let Some(x) = &manifest.x_ouroboros {
        if let Some(fs) = &x.fs {
            match fs.workspace.as_deref() {
                Some("write") if fs.write_scope.as_deref().is_some_and(trusted) => {
                    policy.write.push(req.workdir.clone())
                }
                Some("read") | Some("write") => policy.read.push(req.workdir.clone()),
                _ => {}
            }
        }
        if let Some(net) = &x.network {
            policy.network = trusted(&net.scope);
        }
    }
    policy
}

/// The program and its first arguments from the entrypoint; relative paths are inside
/// the plugin.
fn program_of(entrypoint: &str, live: &Path) -> Option<(std::ffi::OsString, Vec<String>)> {
    let words = rules::entrypoint_words(entrypoint)?;
    let first = &words[0];
    let program = if first.contains('/') && !first.starts_with('/') {
        live.join(first).into_os_string()
    } else {
        first.into()
    };
    Some((program, words[1..].to_vec()))
}

struct Run<'a> {
    manager: &'a Manager,
    ledger: &'a mut dyn Store,
    actor: &'a Actor,
    ctx: Context,
    manifest: &'a Manifest,
    env: Vec<(String, String)>,
    live: PathBuf,
    policy: crate::sandbox::Policy,
}

impl Run<'_> {
    /// A fresh ruleset for one launch (None where the kernel has no Landlock).
    fn ruleset(&self) -> Result<Option<landlock::RulesetCreated>, ManagerError> {
        let prepared = crate::sandbox::prepare(&self.policy)
            .map_err(|source| ManagerError::Io { path: self.live.clone(), source })?;
        Ok(prepared.ruleset)
    }

    fn record(
        &mut self,
        event_type: &str,
        status: &str,
        message: Option<&str>,
        permissions: &[String],
        provenance: &[(&str, String)],
    ) -> Result<(), ManagerError> {
        let payload = self.ctx.payload(event_type, status, message, permissions, provenance);
        audit::append(self.ledger, self.actor, &self.ctx, payload)?;
        Ok(())
    }

    fn blocked(&mut self, status: &str, message: String) -> Result<Outcome, ManagerError> {
        self.record("plugin.failed", status, Some(&message), &[], &[])?;
        Ok(Outcome::Blocked { invocation_id: self.ctx.invocation_id.clone(), message })
    }

    /// Run the hooks named `name` (only for schema versions whose hooks run). Returns
    /// false when a fail_closed hook failed.
    fn hooks(&mut self, name: &str, extra: serde_json::Value) -> Result<bool, ManagerError> {
        if !rules::hooks_run(&self.manifest.schema_version) {
            return Ok(true);
        }
        let events = HookEvents::for_hook(name);
        let hooks: Vec<Hook> =
            self.manifest.hooks.iter().filter(|h| h.name == name).cloned().collect();
        for hook in hooks {
            let hook_event = |run: &mut Self,
                              ty: &str,
                              status: &str,
                              msg: Option<&str>,
                              extra: &[(&'static str, String)]|
             -> Result<(), ManagerError> {
                let mut prov: Vec<(&str, String)> = vec![
                    ("hook", hook.name.clone()),
                    ("failure_policy", hook.failure_policy.clone()),
                ];
                prov.extend(extra.iter().cloned());
                let mut payload = run.ctx.payload(ty, status, msg, &hook.permissions, &prov);
                payload["schema_version"] = json!(events.family);
                audit::append(run.ledger, run.actor, &run.ctx, payload)?;
                Ok(())
            };
            if let Some(start) = events.start {
                hook_event(self, start, "success", None, &[])?;
            }
            let Some((program, args)) = program_of(&hook.entrypoint.command, &self.live) else {
                hook_event(
                    self,
                    events.failed,
                    "failed",
                    Some("hook entrypoint does not split into words"),
                    &[],
                )?;
                if hook.failure_policy == "fail_closed" {
                    return Ok(false);
                }
                continue;
            };
            let mut env = self.env.clone();
            env.push(("OUROBOROS_HOOK_NAME".into(), hook.name.clone()));
            let payload = json!({"hook": hook.name, "plugin": self.ctx.plugin, "command": self.ctx.command, "argv": self.ctx.argv, "invocation_id": self.ctx.invocation_id, "extra": extra});
            env.push(("OUROBOROS_HOOK_PAYLOAD".into(), payload.to_string()));
            if name.ends_with("_tool_call") {
                // 0.4 tool-call hooks: the call being made (or just made), redacted.
                let call = json!({
                    "tool": format!("{}.{}", self.ctx.namespace, self.ctx.command),
                    "phase": if name == "before_tool_call" { "before" } else { "after" },
                    "argv": self.ctx.argv,
                    "invocation_id": self.ctx.invocation_id,
                    "result": extra,
                });
                env.push(("OUROBOROS_TOOL_CALL".into(), call.to_string()));
            }
            let spec = LaunchSpec {
                program,
                args,
                cwd: self.live.clone(),
                env,
                timeout: hook.timeout_seconds.map_or(DEFAULT_HOOK_TIMEOUT, Duration::from_secs),
                grace: Duration::from_secs(2),
            };
            let code = launch(&spec, self.ruleset()?, None).ended.exit_code();
            if code == 0 {
                hook_event(self, events.ok, "success", None, &[("exit_code", "0".into())])?;
            } else if hook.failure_policy == "fail_closed" {
                let msg = format!("hook {} failed (exit {code}) and blocks the command", hook.name);
                hook_event(
                    self,
                    events.blocked,
                    "blocked",
                    Some(&msg),
                    &[("exit_code", code.to_string())],
                )?;
                return Ok(false);
            } else {
                let msg = format!("hook {} failed (exit {code}); fail_open, continuing", hook.name);
                hook_event(
                    self,
                    events.failed,
                    "failed",
                    Some(&msg),
                    &[("exit_code", code.to_string())],
                )?;
            }
        }
        Ok(true)
    }
}

/// Which audit events a kind of hook emits, and their schema family.
struct HookEvents {
    family: &'static str,
    start: Option<&'static str>,
    ok: &'static str,
    failed: &'static str,
    blocked: &'static str,
}

impl HookEvents {
    fn for_hook(name: &str) -> Self {
        match name {
            "before_tool_call" => Self {
                family: "0.4",
                start: Some("plugin.tool.intercept.requested"),
                ok: "plugin.tool.intercept.completed",
                failed: "plugin.tool.intercept.completed",
                blocked: "plugin.tool.intercept.blocked",
            },
            "after_tool_call" => Self {
                family: "0.4",
                start: None,
                ok: "plugin.tool.observe.recorded",
                failed: "plugin.tool.observe.recorded",
                blocked: "plugin.tool.observe.recorded",
            },
            _ => Self {
                family: "0.3",
                start: Some("plugin.hook.invoked"),
                ok: "plugin.hook.completed",
                failed: "plugin.hook.failed",
                blocked: "plugin.hook.blocked",
            },
        }
    }
}

/// The confirmation prompt: plugin, version, command, redacted argv and risk.
pub fn confirmation_question(ctx: &Context, risk: &str) -> String {
    format!(
        "{} {} wants to run `{} {}` (risk: {risk}). Continue? [y/N] ",
        ctx.plugin,
        ctx.version,
        ctx.command,
        ctx.argv.join(" ")
    )
}

/// Run `ooo <target> <command> [args]` through every gate.
pub fn invoke(
    manager: &Manager,
    ledger: &mut dyn Store,
    actor: &Actor,
    req: &Request,
    confirm: Confirm<'_>,
) -> Result<Outcome, ManagerError> {
    let Some((entry, manifest)) = resolve(manager, &req.target)? else {
        return Err(ManagerError::NotInstalled(req.target.clone()));
    };
    let Some(command_name) = &req.command else {
        let commands = manifest
            .commands
            .iter()
            .map(|c| (c.name.clone(), c.summary.clone(), c.risk.clone()))
            .collect();
        return Ok(Outcome::Commands {
            plugin: entry.name.clone(),
            version: entry.version.clone(),
            commands,
        });
    };
    let Some(command): Option<&Command> = manifest.command(command_name) else {
        return Ok(Outcome::UnknownCommand {
            plugin: entry.name.clone(),
            command: command_name.clone(),
            available: manifest.commands.iter().map(|c| c.name.clone()).collect(),
        });
    };
    // Read before anything is recorded: an invalid config.toml stops the command (the
    // sandbox policy must never fail open), whatever sandbox this kernel offers.
    let sandbox_required = manager.sandbox_required()?;
    let live = manager.live_dir(&entry)?;
    let invocation_id = ulid::Ulid::new().to_string();
    let red = redaction::redact(&req.args);
    let subject = Manager::subject(&entry);
    let required: Vec<&str> = manifest.scopes_for(command);
    let (state, missing) = trust::state(ledger, &subject, &required)?;
    let ctx = Context {
        invocation_id: invocation_id.clone(),
        plugin: entry.name.clone(),
        version: entry.version.clone(),
        source_type: entry.source_type.clone(),
        namespace: command.namespace.clone(),
        command: command.name.clone(),
        argv: red.argv.clone(),
        argv_sha256_original: red.original_sha256.clone(),
        trust_state: state.as_str().to_owned(),
        // Filled with what the plugin really called, for its terminal event.
        capabilities: Vec::new(),
    };
    let state_dir = manager.state_dir(&entry.name);
    let dirs = Dirs {
        home: state_dir.join("home"),
        tmp: manager.runs_dir().join(format!("tmp-{invocation_id}")),
        output: req.workdir.join(".ouroboros").join("plugin-artifacts").join(&entry.name),
        state: state_dir,
    };
    for dir in [&dirs.home, &dirs.tmp] {
        std::fs::create_dir_all(dir)
            .map_err(|source| ManagerError::Io { path: dir.clone(), source })?;
    }
    // The output directory exists for the call, and after it only if the plugin wrote
    // to it.
    let _output = OutputDir::make(&dirs.output);
    let granted = trust::granted_scopes(ledger, &subject)?;
    let env = env_for(&entry, &manifest, &granted, &live, req, &dirs, &invocation_id);
    let policy = policy_for(&manifest, &granted, &live, req, &dirs);
    let _tmp_cleanup = TmpDir(dirs.tmp.clone());
    let mut run =
        Run { manager, ledger, actor, ctx, manifest: &manifest, env, live: live.clone(), policy };
    let name = entry.name.clone();
    let scope_flags = |scopes: &[String]| {
        scopes.iter().map(|s| format!("--scope {s}")).collect::<Vec<_>>().join(" ")
    };

    // Gates.
    if state == trust::TrustState::Disabled {
        return run.blocked(
            "blocked",
            format!(
                "{name} is disabled; re-enable it with `ooo plugin trust {name} {}`",
                scope_flags(&missing)
            ),
        );
    }
    let actual = match run.manager.current_digest(&live) {
        Ok(d) => d,
        Err(e) => {
            return run.blocked(
                "trust_subject_changed",
                format!("{name}'s installed files cannot be checked ({e}); reinstall it"),
            );
        }
    };
    if actual != entry.artifact_digest {
        return run.blocked(
            "trust_subject_changed",
            format!(
                "{name}'s installed files changed since they were trusted ({actual}, installed {}); check with `ooo plugin verify {name}`, then reinstall with `ooo plugin install {name} --from {}{}` and trust it again",
                entry.artifact_digest,
                shlex::try_quote(&entry.source_identity).unwrap_or_default(),
                // The commit that was trusted, not whatever a branch points at now.
                entry
                    .git_sha
                    .as_ref()
                    .or(entry.requested_ref.as_ref())
                    .map(|r| format!(" --ref {r}"))
                    .unwrap_or_default()
            ),
        );
    }
    if !missing.is_empty() {
        return run.blocked(
            "blocked",
            format!(
                "{name} is not trusted for {}; grant it with `ooo plugin trust {name} {}`",
                missing.join(", "),
                scope_flags(&missing)
            ),
        );
    }
    if launch::cancel_flag().load(Ordering::SeqCst) {
        return run.blocked("blocked", "cancelled before the command started".into());
    }
    let mut confirmation = "not required".to_owned();
    if command.requires_confirmation {
        let question = confirmation_question(&run.ctx, &command.risk);
        // --confirm answers for the user: no prompt at all.
        let answer = if req.confirm { Some(true) } else { confirm(&question) };
        confirmation = match (req.confirm, answer) {
            (true, _) => "--confirm flag".into(),
            (false, Some(true)) => "confirmed at the prompt".into(),
            (false, Some(false)) => {
                return run.blocked(
                    "blocked",
                    format!(
                        "declined at the prompt; run `ooo {} {}` again to be asked again",
                        req.target, command.name
                    ),
                );
            }
            (false, None) => {
                return run.blocked(
                    "blocked",
                    format!("`{} {}` asks for confirmation and there is no terminal to ask on; to run it anyway: `ooo --confirm {} {} ...`", req.target, command.name, req.target, command.name),
                );
            }
        };
    }
    if !run.hooks("before_invocation", json!({}))? {
        return run
            .blocked("blocked", "a fail_closed before_invocation hook refused the command".into());
    }

    // The hooks and the prompt took time: check again what may have changed meanwhile.
    if launch::cancel_flag().load(Ordering::SeqCst) {
        return run.blocked("blocked", "cancelled before the command started".into());
    }
    match run.manager.current_digest(&live) {
        Ok(d) if d == entry.artifact_digest => {}
        _ => {
            return run.blocked(
                "trust_subject_changed",
                format!("{name}'s installed files changed while the command was being prepared; check with `ooo plugin verify {name}`"),
            );
        }
    }
    let level = crate::sandbox::level();
    if level != crate::sandbox::Level::Full && sandbox_required {
        return run.blocked(
            "blocked",
            format!("sandbox: {level}, and config.toml says sandbox = \"require\"; run on a kernel with Landlock (ABI 4+) or relax the setting"),
        );
    }
    if level != crate::sandbox::Level::Full {
        let mut err = std::io::stderr().lock();
        let _ = std::io::Write::write_fmt(&mut err, format_args!("ooo: sandbox: {level}\n"));
    }
    let _running = audit::RunLock::acquire(&run.manager.runs_dir(), &invocation_id)?;

    // Run.
    let ooo_pid = std::process::id();
    let ooo_start = audit::process_start(ooo_pid).unwrap_or_default();
    let timeout = command.timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    // plugin.invoked and the permission events in one durable commit, before the
    // process exists: a crash from here on leaves evidence.
    let mut payloads = vec![run.ctx.payload(
        "plugin.invoked",
        "success",
        None,
        &[],
        &[
            ("ooo_pid", ooo_pid.to_string()),
            ("ooo_start", ooo_start),
            ("confirmation", confirmation),
            ("timeout_seconds", timeout.as_secs().to_string()),
            ("sandbox", level.to_string()),
            ("network", if run.policy.network { "allowed".into() } else { "denied".into() }),
        ],
    )];
    for scope in &required {
        payloads.push(run.ctx.payload(
            "plugin.permission_used",
            "success",
            None,
            &[scope.to_string()],
            &[],
        ));
    }
    audit::append_all(run.ledger, run.actor, &run.ctx, payloads)?;
    let required_owned: Vec<String> = required.iter().map(|s| s.to_string()).collect();
    if !run.hooks("before_tool_call", json!({}))? {
        run.record(
            "plugin.failed",
            "blocked",
            Some("a fail_closed before_tool_call hook refused the call"),
            &required_owned,
            &[],
        )?;
        run.hooks("after_invocation", json!({"blocked": true}))?;
        return Ok(Outcome::Blocked {
            invocation_id,
            message: "a fail_closed before_tool_call hook refused the call".into(),
        });
    }
    let mut channel: Option<ooo_mcp::capability::Channel> = None;
    let done = match program_of(&manifest.entrypoint.command, &live) {
        None => launch::Launched {
            ended: Ended::StartFailed {
                not_found: false,
                message: "the entrypoint command does not split into words (or is empty)".into(),
            },
            duration: Duration::ZERO,
            stdout: None,
            stderr: None,
            pid: None,
        },
        Some((program, mut args)) => {
            args.push(command.name.clone());
            args.extend(req.args.iter().cloned());
            let ruleset = run.ruleset()?;
            // The capability channel: an MCP server on one end of a socket pair, the
            // other end the plugin's fd 3 (`OUROBOROS_CORE_FD`).
            let io = |source| ManagerError::Io { path: live.clone(), source };
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(io)?;
            let session = ooo_mcp::capability::Session {
                plugin: name.clone(),
                invocation_id: invocation_id.clone(),
                ledger_path: run.manager.ledger_path(),
                seeds_dir: run.manager.seeds_dir(),
                declared: manifest
                    .capabilities
                    .iter()
                    .map(|c| ooo_mcp::capability::Grant {
                        name: c.name.clone(),
                        access: c.access.clone(),
                    })
                    .collect(),
            };
            let server = ooo_mcp::capability::CapabilityServer::new(session)?;
            let served = ooo_mcp::capability::Channel::serve(server, ours).map_err(io)?;
            let mut env = run.env.clone();
            env.push(("OUROBOROS_CORE_FD".into(), "3".into()));
            let spec =
                LaunchSpec { program, args, cwd: live.clone(), env, timeout, grace: req.grace };
            let done = launch(&spec, ruleset, Some(theirs.into()));
            channel = Some(served);
            done
        }
    };
    let exit_code = done.ended.exit_code();
    // What the plugin really called on its channel.
    run.ctx.capabilities = channel.map(|c| c.finish()).unwrap_or_default();
    let mut prov: Vec<(&str, String)> = vec![
        ("exit_code", exit_code.to_string()),
        ("duration_ms", done.duration.as_millis().to_string()),
    ];
    for (label, print) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
        match print {
            Some(p) => {
                prov.push((
                    if label == "stdout" { "stdout_sha256" } else { "stderr_sha256" },
                    p.sha256.clone(),
                ));
                prov.push((
                    if label == "stdout" { "stdout_bytes" } else { "stderr_bytes" },
                    p.bytes.to_string(),
                ));
            }
            None => prov.push((
                if label == "stdout" { "stdout_capture" } else { "stderr_capture" },
                "terminal".into(),
            )),
        }
    }
    let (event, status, message) = match &done.ended {
        Ended::Exited(0) => ("plugin.completed", "success", None),
        Ended::Exited(code) => {
            ("plugin.failed", "failed", Some(format!("exited with status {code}")))
        }
        Ended::Signaled(sig) => {
            ("plugin.failed", "failed", Some(format!("killed by signal {sig}")))
        }
        Ended::TimedOut => (
            "plugin.failed",
            "failed",
            Some(format!(
                "timed out after {} s; the process group was terminated",
                timeout.as_secs()
            )),
        ),
        Ended::Cancelled => (
            "plugin.failed",
            "failed",
            Some("cancelled (Ctrl-C); the process group was terminated".to_owned()),
        ),
        Ended::StartFailed { message, .. } => {
            ("plugin.failed", "failed", Some(format!("could not start: {message}")))
        }
    };
    match done.ended {
        Ended::Cancelled => prov.push(("reason", "cancelled".into())),
        Ended::TimedOut => prov.push(("reason", "timed_out".into())),
        _ => {}
    }
    run.record(event, status, message.as_deref(), &required_owned, &prov)?;
    // The cancellation is recorded; the hooks that follow it must be allowed to run.
    launch::cancel_flag().store(false, Ordering::SeqCst);
    let extra = json!({"exit_code": exit_code});
    // The contract's order: after_tool_call, after_invocation, then on_error (failures)
    // or on_cancel (Ctrl-C).
    run.hooks("after_tool_call", extra.clone())?;
    run.hooks("after_invocation", extra.clone())?;
    if matches!(done.ended, Ended::Cancelled) {
        run.hooks("on_cancel", extra)?;
    } else if status != "success" {
        run.hooks("on_error", extra)?;
    }
    Ok(Outcome::Ran { invocation_id, exit_code, ended: done.ended })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn context(args: &[String]) -> Context {
        let red = redaction::redact(args);
        Context {
            invocation_id: "01J00000000000000000000000".into(),
            plugin: "demo".into(),
            version: "1.0.0".into(),
            source_type: "plugin_home".into(),
            namespace: "demo-ns".into(),
            command: "run".into(),
            argv: red.argv,
            argv_sha256_original: red.original_sha256,
            trust_state: "trusted".into(),
            capabilities: vec![],
        }
    }

    proptest! {
        /// Secrets at random positions reach neither an audit payload nor the prompt.
        #[test]
        fn secrets_reach_neither_ledger_nor_prompt(
            plain in prop::collection::vec("[a-z][a-z0-9-]{0,8}", 0..6),
            secret in "[A-Za-z0-9]{24,32}",
            form in 0usize..5,
            position in any::<prop::sample::Index>(),
        ) {
            let fragment: Vec<String> = match form {
                0 => vec!["--token".into(), secret.clone()],
                1 => vec![format!("--api-key={secret}")],
                2 => vec![format!("ghp_{secret}")],
                3 => vec![format!("https://h.example/cb?access_token={secret}")],
                _ => vec![format!("DEPLOY_SECRET={secret}")],
            };
            let mut args = plain.clone();
            let at = position.index(args.len() + 1);
            for (i, part) in fragment.into_iter().enumerate() {
                args.insert(at + i, part);
            }
            let ctx = context(&args);
            for event in ["plugin.invoked", "plugin.completed", "plugin.failed"] {
                let payload = ctx.payload(event, "success", None, &[], &[]).to_string();
                prop_assert!(!payload.contains(&secret), "{} leaked into {}", secret, payload);
            }
            let prompt = confirmation_question(&ctx, "destructive");
            prop_assert!(!prompt.contains(&secret), "{} leaked into the prompt", secret);
        }
    }
}
