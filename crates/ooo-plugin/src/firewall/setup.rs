//! The one set-up of an invocation, before any gate: the config's sandbox setting, the
//! trust state, the audit context, the private directories (removed when the call
//! ends), the environment and the sandbox policy. Deciding whether the command may run
//! is `gates`'; running it is `run`'s.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use ooo_core::ledger::{Actor, Store};
use ooo_core::safety::redaction;

use super::Request;
use super::audit::Context;
use super::run::Run;
use crate::lockfile::LockEntry;
use crate::manager::{Manager, ManagerError};
use crate::manifest::{Command, Manifest};
use crate::trust;

/// Removes the invocation's private temporary directory when the call ends.
pub(super) struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The plugin's output directory in the caller's workspace, made for the call (the
/// sandbox can only grant a directory that exists) and removed again with the
/// directories made for it when the plugin left nothing in it: a workspace gets
/// `.ouroboros/plugin-artifacts/<name>` only from a plugin that writes there.
pub(super) struct OutputDir {
    /// Made by this call, outermost first.
    made: Vec<PathBuf>,
    /// The output directory itself.
    path: PathBuf,
    /// The directory, held with a shared `flock` for the whole call: another call of
    /// the same plugin in the same workspace removes it only when nobody holds it.
    lock: Option<OwnedFd>,
}

/// How many times a directory removed by another call's clean-up is made again.
const OUTPUT_DIR_ATTEMPTS: usize = 5;

impl OutputDir {
    /// Make `workdir/relative` without following a link the workspace planted; each
    /// launch mounts it afresh by descriptor, so what the plugin writes lands exactly
    /// there. A workspace the caller cannot write gets no output directory (and the
    /// plugin no place to write one); a planted link refuses the call.
    fn make(workdir: &Path, relative: &Path) -> Result<Self, ManagerError> {
        for _ in 0..OUTPUT_DIR_ATTEMPTS {
            match crate::safe_path::open_dir_beneath(workdir, relative, true) {
                Ok((fd, made)) => {
                    if let Some(held) = hold_shared(fd) {
                        return Ok(Self { made, path: workdir.join(relative), lock: Some(held) });
                    }
                    // Removed by another call's clean-up between making and locking it.
                }
                Err(e) if crate::safe_path::refusal(&e).is_some() => {
                    return Err(ManagerError::Io { path: workdir.join(relative), source: e });
                }
                // A parent removed meanwhile by another call: try again.
                Err(_) => {}
            }
        }
        Ok(Self { made: Vec::new(), path: workdir.join(relative), lock: None })
    }

    fn exists(&self) -> bool {
        self.lock.is_some()
    }
}

/// A shared `flock` on the directory, once it is known still to exist (`None` when it
/// was removed before the lock was taken).
fn hold_shared(fd: OwnedFd) -> Option<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock and fstat on a descriptor we own.
    unsafe {
        if libc::flock(fd.as_raw_fd(), libc::LOCK_SH) != 0 {
            return None;
        }
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd.as_raw_fd(), &mut st) == 0 && st.st_nlink > 0).then_some(fd)
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // Only when no other call holds the directory: they would lose their mount.
        let Some(lock) = &self.lock else { return };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return;
        }
        // The last call out removes the directory when it is empty (whoever made it),
        // and the parents this call made. remove_dir only removes empty directories:
        // what a plugin wrote stays.
        if std::fs::remove_dir(&self.path).is_err() {
            return;
        }
        for dir in self.made.iter().rev().filter(|d| **d != self.path) {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// The plugin's output directory, relative to the workspace.
fn output_relative(name: &str) -> PathBuf {
    Path::new(".ouroboros").join("plugin-artifacts").join(name)
}

/// Where one invocation may write, besides the workspace.
pub(super) struct Dirs {
    /// ooo's home (never shown to the plugin).
    pub(super) home_root: PathBuf,
    pub(super) state: PathBuf,
    pub(super) home: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) output: PathBuf,
}

/// The plugin's environment: an allowlist of the caller's (never its secrets), a
/// private HOME and TMPDIR, the `OUROBOROS_PLUGIN_*` variables, and each
/// `x-ouroboros.env` variable whose scope is trusted.
pub(super) fn env_for(
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
/// `output` is the output directory as (workspace, relative path); `extra_hosts`
/// are the hosts `config.toml` adds to the manifest's (`[plugins.<name>] hosts`).
pub(super) fn policy_for(
    manifest: &Manifest,
    granted: &[String],
    live: &Path,
    req: &Request,
    dirs: &Dirs,
    output: Option<(PathBuf, PathBuf)>,
    extra_hosts: &[String],
) -> Result<crate::sandbox::Policy, crate::sandbox::SandboxError> {
    let mut policy = crate::sandbox::Policy {
        read: vec![live.to_owned()],
        write: vec![dirs.state.clone(), dirs.tmp.clone()],
        write_beneath: output.into_iter().collect(),
        network: crate::sandbox::Network::None,
        hide: Vec::new(),
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
        if let Some(net) = &x.network
            && trusted(&net.scope)
        {
            // No hosts in the manifest means any host; otherwise the user's are added.
            policy.network = if net.hosts.is_empty() {
                crate::sandbox::Network::All
            } else {
                let hosts: Vec<String> = net.hosts.iter().chain(extra_hosts).cloned().collect();
                crate::sandbox::network_for(&hosts)?
            };
        }
    }
    // ooo's own home (ledger, lockfile, other plugins) stays out of sight even when it
    // lies inside a granted workspace.
    if let Some(home) = home_inside(&policy, &dirs.home_root) {
        policy.hide.push(home);
    }
    Ok(policy)
}

/// `home` when a granted read or write path contains it.
fn home_inside(policy: &crate::sandbox::Policy, home: &Path) -> Option<PathBuf> {
    let home = home.canonicalize().unwrap_or_else(|_| home.to_owned());
    let granted = policy.read.iter().chain(&policy.write);
    granted.filter_map(|p| p.canonicalize().ok()).any(|p| home.starts_with(&p)).then_some(home)
}

/// Everything one invocation runs with, set up before the gates (nothing is recorded
/// yet). The directories made for it are removed when it is dropped.
pub(super) struct Setup<'a> {
    pub(super) run: Run<'a>,
    pub(super) state: trust::TrustState,
    /// Required scopes not trusted.
    pub(super) missing: Vec<String>,
    /// Scopes the command requires.
    pub(super) required: Vec<String>,
    pub(super) _output: OutputDir,
    pub(super) _tmp: TmpDir,
}

/// The one set-up of an invocation: config, trust state, its context for the audit,
/// its directories, environment and sandbox policy.
pub(super) fn set_up<'a>(
    manager: &'a Manager,
    ledger: &'a mut dyn Store,
    actor: &'a Actor,
    entry: &LockEntry,
    manifest: &'a Manifest,
    command: &Command,
    req: &Request,
) -> Result<Setup<'a>, ManagerError> {
    // Read before anything is recorded: an invalid config.toml stops the command (the
    // sandbox policy must never fail open), whatever sandbox this kernel offers.
    let config = manager.config()?;
    let sandbox = crate::sandbox::Sandbox::new(crate::sandbox::mode(config.sandbox));
    let extra_hosts = config.plugins.get(&entry.name).map(|p| p.hosts.clone()).unwrap_or_default();
    let live = manager.live_dir(entry)?;
    let invocation_id = ulid::Ulid::new().to_string();
    let red = redaction::redact(&req.args);
    let subject = Manager::subject(entry);
    let required: Vec<&str> = manifest.scopes_for(command);
    let (state, missing) = trust::state(ledger, &subject, &required)?;
    let ctx = Context {
        invocation_id: invocation_id.clone(),
        plugin: entry.name.clone(),
        version: entry.version.clone(),
        source_type: entry.source_type.clone(),
        namespace: command.namespace.clone(),
        command: command.name.clone(),
        argv: red.argv,
        argv_sha256_original: red.original_sha256,
        trust_state: state.as_str().to_owned(),
        // Filled with what the plugin really called, for its terminal event.
        capabilities: Vec::new(),
    };
    let state_dir = manager.state_dir(&entry.name);
    let dirs = Dirs {
        home_root: manager.home_root().to_owned(),
        home: state_dir.join("home"),
        tmp: manager.runs_dir().join(format!("tmp-{invocation_id}")),
        output: req.workdir.join(output_relative(&entry.name)),
        state: state_dir,
    };
    for dir in [&dirs.home, &dirs.tmp] {
        std::fs::create_dir_all(dir)
            .map_err(|source| ManagerError::Io { path: dir.clone(), source })?;
    }
    // The output directory exists for the call, and after it only if the plugin wrote
    // to it.
    let output = OutputDir::make(&req.workdir, &output_relative(&entry.name))?;
    // Made now (a planted link refuses the call here); opened afresh for each launch.
    let output_dir = output.exists().then(|| (req.workdir.clone(), output_relative(&entry.name)));
    let tmp = TmpDir(dirs.tmp.clone());
    let granted = trust::granted_scopes(ledger, &subject)?;
    let env = env_for(entry, manifest, &granted, &live, req, &dirs, &invocation_id);
    let policy = policy_for(manifest, &granted, &live, req, &dirs, output_dir, &extra_hosts);
    // A policy that cannot be enforced as written is refused like a missing sandbox.
    let (policy, sandbox) = match policy {
        Ok(p) => (p, sandbox),
        Err(e) => (crate::sandbox::Policy::default(), Err(e)),
    };
    let required = required.iter().map(|s| s.to_string()).collect();
    Ok(Setup {
        run: Run { manager, ledger, actor, ctx, manifest, env, live, policy, sandbox },
        state,
        missing,
        required,
        _output: output,
        _tmp: tmp,
    })
}
