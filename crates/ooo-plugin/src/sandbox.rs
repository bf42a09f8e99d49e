//! The plugin layer's use of `ooo-sandbox`: what a plugin process may touch (its own
//! files read-only; its state, output and private temporary directories writable; the
//! workspace and the network only as the manifest asks and the user trusted), turned
//! into an `ooo_sandbox::Policy` for each launch. The mechanisms (namespaces, seccomp,
//! Landlock, limits, the host proxy) live in `ooo-sandbox`; timeouts and process
//! groups in `firewall::launch`.

use std::path::PathBuf;

use ooo_core::config::SandboxSetting;
pub use ooo_sandbox::{Confined, Level, Mode, Network, Sandbox, SandboxError};

use crate::firewall::launch::LaunchSpec;

/// What one plugin process may touch.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Read and execute.
    pub read: Vec<PathBuf>,
    /// Read, write, create, remove.
    pub write: Vec<PathBuf>,
    /// Directories beneath a root (the workspace) opened afresh, without following
    /// links, for each launch and writable there: `(root, relative)`. Afresh, because
    /// another call of the same plugin in the same workspace may have removed it (empty)
    /// since this call began.
    pub write_beneath: Vec<(PathBuf, PathBuf)>,
    pub network: Network,
    /// Inside the granted paths, but never shown (ooo's own home).
    pub hide: Vec<PathBuf>,
}

/// The sandbox mode `config.toml`'s `sandbox` setting asks for: fail closed unless
/// `allow-partial`.
pub fn mode(setting: Option<SandboxSetting>) -> Mode {
    match setting {
        Some(SandboxSetting::AllowPartial) => Mode::AllowPartial,
        Some(SandboxSetting::Require) | None => Mode::Require,
    }
}

/// Network access from a manifest's declaration: no hosts means any host.
pub fn network_for(hosts: &[String]) -> Result<Network, SandboxError> {
    if hosts.is_empty() {
        return Ok(Network::All);
    }
    let rules = hosts
        .iter()
        .map(|h| {
            ooo_sandbox::HostRule::parse(h).map_err(|e| {
                SandboxError::new(
                    ooo_sandbox::ErrorKind::BadPolicy,
                    format!("network host {e}"),
                    "fix x-ouroboros.network.hosts in the plugin's manifest",
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Network::Hosts(rules))
}

/// The confined command for `spec` under `policy`. `channel`: the capability channel
/// is kept at its descriptor; `terminal`: the caller's terminal stays the controlling
/// terminal (an interactive plugin command).
pub fn confine(
    sandbox: &Sandbox,
    policy: &Policy,
    spec: &LaunchSpec,
    channel: bool,
    terminal: bool,
) -> Result<Confined, SandboxError> {
    let mut write_fds = Vec::new();
    for (root, relative) in &policy.write_beneath {
        let (fd, _) = crate::safe_path::open_dir_beneath(root, relative, true).map_err(|e| {
            SandboxError::new(
                ooo_sandbox::ErrorKind::BadPolicy,
                format!("{}: {e}", root.join(relative).display()),
                "remove the link from the workspace (ooo does not follow links it did not make)",
            )
        })?;
        write_fds.push((fd, root.join(relative)));
    }
    let sandbox_policy = ooo_sandbox::Policy {
        read: policy.read.clone(),
        write: policy.write.clone(),
        write_fds,
        read_fds: Vec::new(),
        hide: policy.hide.clone(),
        cwd: spec.cwd.clone(),
        env: spec.env.clone(),
        network: policy.network.clone(),
        limits: ooo_sandbox::Limits::default(),
        terminal: if terminal {
            ooo_sandbox::Terminal::Inherit
        } else {
            ooo_sandbox::Terminal::None
        },
        keep_fds: if channel { vec![ooo_channel::CORE_FD] } else { Vec::new() },
    };
    let args: Vec<std::ffi::OsString> = spec.args.iter().map(Into::into).collect();
    sandbox.command(sandbox_policy, &spec.program, &args)
}
