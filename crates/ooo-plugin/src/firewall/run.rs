//! One invocation under way ([`Run`]): its ruleset, its audit events, its hooks and
//! launching the command with the capability channel. Which events a hook emits is
//! here too; the gates and the set-up are not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use ooo_channel::{CORE_FD, CORE_FD_ENV};
use ooo_core::ledger::{Actor, Store};

use super::audit::{self, Context};
use super::launch::{self, Ended, LaunchSpec, launch};
use super::{DEFAULT_HOOK_TIMEOUT, Outcome, Request, channel_grants};
use crate::manager::{Manager, ManagerError};
use crate::manifest::{Command, Hook, Manifest, rules};

/// The program and its first arguments from the entrypoint; relative paths are inside
/// the plugin.
pub(super) fn program_of(
    entrypoint: &str,
    live: &Path,
) -> Option<(std::ffi::OsString, Vec<String>)> {
    let words = rules::entrypoint_words(entrypoint)?;
    let first = &words[0];
    let program = if first.contains('/') && !first.starts_with('/') {
        live.join(first).into_os_string()
    } else {
        first.into()
    };
    Some((program, words[1..].to_vec()))
}

/// A sandbox that is missing or cannot be set up, as a start failure.
fn sandbox_failure(e: &crate::sandbox::SandboxError) -> Ended {
    Ended::StartFailed { not_found: false, message: format!("sandbox: {e} (hint: {})", e.hint()) }
}

/// The record of a launch that never started.
fn not_started(ended: Ended) -> launch::Launched {
    launch::Launched {
        ended,
        duration: Duration::ZERO,
        stdout: None,
        stderr: None,
        pid: None,
        refused_connections: Vec::new(),
    }
}

pub(super) struct Run<'a> {
    pub(super) manager: &'a Manager,
    pub(super) ledger: &'a mut dyn Store,
    pub(super) actor: &'a Actor,
    pub(super) ctx: Context,
    pub(super) manifest: &'a Manifest,
    pub(super) env: Vec<(String, String)>,
    pub(super) live: PathBuf,
    pub(super) policy: crate::sandbox::Policy,
    /// The sandbox, or why there is none (a gate refuses the command then).
    pub(super) sandbox: Result<crate::sandbox::Sandbox, crate::sandbox::SandboxError>,
}

impl Run<'_> {
    /// The sandbox level the command runs at (for the audit and stderr).
    pub(super) fn level(&self) -> String {
        match &self.sandbox {
            Ok(s) => s.level().to_string(),
            Err(_) => "unavailable".into(),
        }
    }

    /// The confined command for one launch; a sandbox that cannot be set up is a start
    /// failure naming the cause and the fix.
    pub(super) fn confine(
        &self,
        spec: &LaunchSpec,
        channel: bool,
        terminal: bool,
    ) -> Result<crate::sandbox::Confined, Ended> {
        let sandbox = self.sandbox.as_ref().map_err(sandbox_failure)?;
        crate::sandbox::confine(sandbox, &self.policy, spec, channel, terminal)
            .map_err(|e| sandbox_failure(&e))
    }

    pub(super) fn record(
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

    /// `plugin.invoked` and one `plugin.permission_used` per required scope, in one
    /// durable commit before the process exists: a crash from here on leaves evidence.
    pub(super) fn record_invoked(
        &mut self,
        confirmation: &str,
        timeout: Duration,
        level: &str,
        required: &[String],
    ) -> Result<(), ManagerError> {
        let ooo_pid = std::process::id();
        let ooo_start = audit::process_start(ooo_pid).unwrap_or_default();
        let network = match &self.policy.network {
            crate::sandbox::Network::None => "denied".to_owned(),
            crate::sandbox::Network::All => "allowed".to_owned(),
            crate::sandbox::Network::Hosts(hosts) => {
                let hosts: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                format!("hosts: {}", hosts.join(", "))
            }
        };
        let mut payloads = vec![self.ctx.payload(
            ooo_core::event_types::plugin::INVOKED,
            "success",
            None,
            &[],
            &[
                ("ooo_pid", ooo_pid.to_string()),
                ("ooo_start", ooo_start),
                ("confirmation", confirmation.to_owned()),
                ("timeout_seconds", timeout.as_secs().to_string()),
                ("sandbox", level.to_string()),
                ("network", network),
            ],
        )];
        for scope in required {
            payloads.push(self.ctx.payload(
                ooo_core::event_types::plugin::PERMISSION_USED,
                "success",
                None,
                std::slice::from_ref(scope),
                &[],
            ));
        }
        audit::append_all(self.ledger, self.actor, &self.ctx, payloads)?;
        Ok(())
    }

    /// Start the command with the capability channel: an MCP server on one end of a
    /// socket pair, the other end the plugin's fd [`CORE_FD`] (named by
    /// [`CORE_FD_ENV`]). No channel when the entrypoint does not split into words.
    pub(super) fn launch_command(
        &mut self,
        command: &Command,
        req: &Request,
        timeout: Duration,
    ) -> Result<(launch::Launched, Option<ooo_mcp::capability::Channel>), ManagerError> {
        let Some((program, mut args)) = program_of(&self.manifest.entrypoint.command, &self.live)
        else {
            let ended = Ended::StartFailed {
                not_found: false,
                message: "the entrypoint command does not split into words (or is empty)".into(),
            };
            return Ok((not_started(ended), None));
        };
        args.push(command.name.clone());
        args.extend(req.args.iter().cloned());
        let io = |source| ManagerError::Io { path: self.live.clone(), source };
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(io)?;
        let session = ooo_mcp::capability::Session {
            plugin: self.ctx.plugin.clone(),
            invocation_id: self.ctx.invocation_id.clone(),
            ledger_path: self.manager.ledger_path(),
            seeds_dir: self.manager.seeds_dir(),
            declared: channel_grants(self.manifest),
        };
        let server = ooo_mcp::capability::CapabilityServer::new(session)?;
        let served = ooo_mcp::capability::Channel::serve(server, ours).map_err(io)?;
        let mut env = self.env.clone();
        env.push((CORE_FD_ENV.into(), CORE_FD.to_string()));
        let spec =
            LaunchSpec { program, args, cwd: self.live.clone(), env, timeout, grace: req.grace };
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
        let launched = match self.confine(&spec, true, terminal) {
            Ok(confined) => launch(&spec, confined, Some(theirs.into())),
            Err(ended) => not_started(ended),
        };
        Ok((launched, Some(served)))
    }

    pub(super) fn blocked(
        &mut self,
        status: &str,
        message: String,
    ) -> Result<Outcome, ManagerError> {
        self.record(ooo_core::event_types::plugin::FAILED, status, Some(&message), &[], &[])?;
        Ok(Outcome::Blocked { invocation_id: self.ctx.invocation_id.clone(), message })
    }

    /// Run the hooks named `name` (only for schema versions whose hooks run). Returns
    /// false when a fail_closed hook failed.
    pub(super) fn hooks(
        &mut self,
        name: &str,
        extra: serde_json::Value,
    ) -> Result<bool, ManagerError> {
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
            let launched = match self.confine(&spec, false, false) {
                Ok(confined) => launch(&spec, confined, None),
                Err(ended) => not_started(ended),
            };
            let code = launched.ended.exit_code();
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
    pub(super) fn for_hook(name: &str) -> Self {
        match name {
            "before_tool_call" => Self {
                family: "0.4",
                start: Some(ooo_core::event_types::plugin::TOOL_INTERCEPT_REQUESTED),
                ok: ooo_core::event_types::plugin::TOOL_INTERCEPT_COMPLETED,
                failed: ooo_core::event_types::plugin::TOOL_INTERCEPT_COMPLETED,
                blocked: ooo_core::event_types::plugin::TOOL_INTERCEPT_BLOCKED,
            },
            "after_tool_call" => Self {
                family: "0.4",
                start: None,
                ok: ooo_core::event_types::plugin::TOOL_OBSERVE_RECORDED,
                failed: ooo_core::event_types::plugin::TOOL_OBSERVE_RECORDED,
                blocked: ooo_core::event_types::plugin::TOOL_OBSERVE_RECORDED,
            },
            _ => Self {
                family: "0.3",
                start: Some(ooo_core::event_types::plugin::HOOK_INVOKED),
                ok: ooo_core::event_types::plugin::HOOK_COMPLETED,
                failed: ooo_core::event_types::plugin::HOOK_FAILED,
                blocked: ooo_core::event_types::plugin::HOOK_BLOCKED,
            },
        }
    }
}
