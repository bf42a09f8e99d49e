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
//!
//! [`invoke`] is a pipeline: one set-up (`setup`: trust state, audit context,
//! directories, environment, sandbox policy), the gates (`gates`, each a function that
//! only decides, run in order by `pass_gates`), the run with its hooks and the launch
//! with the capability channel (`run`), and the terminal event (`ending`). This module
//! holds the request, the outcome and that pipeline. What does not live here: the sandbox itself
//! (`crate::sandbox`), the channel's server (`ooo-mcp`), and rendering outcomes (the
//! command line).

pub mod audit;
mod ending;
mod gates;
pub mod launch;
mod run;
mod setup;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use ooo_core::ledger::{Actor, Store};

use crate::lockfile::LockEntry;
use crate::manager::{Manager, ManagerError};
use crate::manifest::{Command, Manifest, Risk};
use crate::trust;
use audit::Context;
use gates::Blocked;
use launch::Ended;
use run::Run;
use setup::{Setup, set_up};

/// Default command timeout when the manifest gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default hook timeout.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

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
    Commands { plugin: String, version: String, commands: Vec<(String, String, Risk)> },
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

/// What the capability channel may grant a plugin: the capabilities its manifest
/// declares.
pub(crate) fn channel_grants(manifest: &Manifest) -> Vec<ooo_mcp::capability::Grant> {
    manifest
        .capabilities
        .iter()
        .map(|c| ooo_mcp::capability::Grant {
            name: c.name.to_string(),
            access: c.access.to_string(),
        })
        .collect()
}

/// The confirmation prompt: plugin, version, command, redacted argv and risk.
pub fn confirmation_question(ctx: &Context, risk: Risk) -> String {
    format!(
        "{} {} wants to run `{} {}` (risk: {risk}). Continue? [y/N] ",
        ctx.plugin,
        ctx.version,
        ctx.command,
        ctx.argv.join(" ")
    )
}

/// What the gates look at besides the run itself.
struct Checks<'a> {
    state: trust::TrustState,
    /// Required scopes not trusted.
    missing: &'a [String],
}

/// Why the gates stopped: a refusal to record, or a failure to report.
enum Stop {
    Blocked(Blocked),
    Failed(ManagerError),
}

impl From<Blocked> for Stop {
    fn from(b: Blocked) -> Self {
        Stop::Blocked(b)
    }
}

impl From<ManagerError> for Stop {
    fn from(e: ManagerError) -> Self {
        Stop::Failed(e)
    }
}

/// Every gate ([`gates`]) in the contract's order, each given what it looks at; the
/// first refusal stops the command. Returns how the command was confirmed.
fn pass_gates(
    run: &mut Run<'_>,
    entry: &LockEntry,
    command: &Command,
    req: &Request,
    confirm: Confirm<'_>,
    checks: &Checks<'_>,
) -> Result<&'static str, Stop> {
    let name = &entry.name;
    let cancelled = || launch::cancel_flag().load(Ordering::SeqCst);
    gates::not_disabled(name, checks.state, checks.missing)?;
    let actual = run.manager.current_digest(&run.live).map_err(|e| e.to_string());
    gates::files_unchanged(entry, actual.as_deref().map_err(Clone::clone))?;
    gates::scopes_trusted(name, checks.missing)?;
    gates::not_cancelled(cancelled())?;
    let mut confirmation = "not required";
    if command.requires_confirmation {
        let question = confirmation_question(&run.ctx, command.risk);
        // --confirm answers for the user: no prompt at all.
        let answer = if req.confirm { Some(true) } else { confirm(&question) };
        confirmation = gates::confirmed(&req.target, &command.name, req.confirm, answer)?;
    }
    gates::hooks_allow(run.hooks("before_invocation", json!({}))?)?;
    // The hooks and the prompt took time: check again what may have changed meanwhile.
    gates::not_cancelled(cancelled())?;
    gates::still_unchanged(entry, run.manager.current_digest(&run.live).ok().as_deref())?;
    gates::sandbox_available(run.sandbox.as_ref().err())?;
    Ok(confirmation)
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
        let commands =
            manifest.commands.iter().map(|c| (c.name.clone(), c.summary.clone(), c.risk)).collect();
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
    let Setup { mut run, state, missing, required, _output, _tmp } =
        set_up(manager, ledger, actor, &entry, &manifest, command, req)?;
    let invocation_id = run.ctx.invocation_id.clone();
    let level = run.level();
    let passed =
        pass_gates(&mut run, &entry, command, req, confirm, &Checks { state, missing: &missing });
    let confirmation = match passed {
        Ok(how) => how,
        Err(Stop::Blocked(b)) => return run.blocked(b.status, b.message),
        Err(Stop::Failed(e)) => return Err(e),
    };
    if level != crate::sandbox::Level::Full.to_string() {
        let mut err = std::io::stderr().lock();
        let _ = std::io::Write::write_fmt(&mut err, format_args!("ooo: sandbox: {level}\n"));
    }
    let _running = audit::RunLock::acquire(&run.manager.runs_dir(), &invocation_id)?;

    // Run.
    let timeout = command.timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    run.record_invoked(confirmation, timeout, &level, &required)?;
    if !run.hooks("before_tool_call", json!({}))? {
        run.record(
            ooo_core::event_types::plugin::FAILED,
            "blocked",
            Some("a fail_closed before_tool_call hook refused the call"),
            &required,
            &[],
        )?;
        run.hooks("after_invocation", json!({"blocked": true}))?;
        return Ok(Outcome::Blocked {
            invocation_id,
            message: "a fail_closed before_tool_call hook refused the call".into(),
        });
    }
    let (done, channel) = run.launch_command(command, req, timeout)?;
    let exit_code = done.ended.exit_code();
    // What the plugin really called on its channel, and the quota it hit (recorded
    // once, on the terminal event).
    let report = channel.map(|c| c.finish_all()).unwrap_or_default();
    run.ctx.capabilities = report.used;
    let terminal = ending::Terminal::of(&done.ended, timeout);
    let mut prov = ending::provenance(&done);
    prov.extend(ending::quota_provenance(report.quota_exceeded.as_ref()));
    run.record(terminal.event, terminal.status, terminal.message.as_deref(), &required, &prov)?;
    // The cancellation is recorded; the hooks that follow it must be allowed to run.
    launch::cancel_flag().store(false, Ordering::SeqCst);
    let extra = json!({"exit_code": exit_code});
    // The contract's order: after_tool_call, after_invocation, then on_error (failures)
    // or on_cancel (Ctrl-C).
    run.hooks("after_tool_call", extra.clone())?;
    run.hooks("after_invocation", extra.clone())?;
    if matches!(done.ended, Ended::Cancelled) {
        run.hooks("on_cancel", extra)?;
    } else if terminal.status != "success" {
        run.hooks("on_error", extra)?;
    }
    Ok(Outcome::Ran { invocation_id, exit_code, ended: done.ended })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ooo_core::safety::redaction;
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
            for event in [ooo_core::event_types::plugin::INVOKED, ooo_core::event_types::plugin::COMPLETED, ooo_core::event_types::plugin::FAILED] {
                let payload = ctx.payload(event, "success", None, &[], &[]).to_string();
                prop_assert!(!payload.contains(&secret), "{} leaked into {}", secret, payload);
            }
            let prompt = confirmation_question(&ctx, Risk::Destructive);
            prop_assert!(!prompt.contains(&secret), "{} leaked into the prompt", secret);
        }
    }
}
