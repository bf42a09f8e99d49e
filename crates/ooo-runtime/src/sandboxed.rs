//! Agent workers in `ooo-sandbox`: the [`Launcher`] that confines a runtime's CLI. The
//! worker sees the system, the CLI's own installation (read-only), the workspace, private
//! copies of the CLI's configuration directories (writable; see [`crate::private_dirs`]:
//! never the caller's own), a private `HOME`, and reaches
//! only the hosts it is given (its model provider) through ooo's proxy; the CLIs honour
//! `HTTP_PROXY`/`HTTPS_PROXY`. Which hosts and directories a worker gets is the caller's
//! decision ([`WorkerGrant`]); this module only turns a spec and a grant into a confined
//! command.

use std::path::{Path, PathBuf};

use ooo_sandbox::{Limits, Network, Policy, Sandbox, Terminal};

use crate::private_dirs;
use crate::process::{Launch, Launcher, ProcessSpec};

/// The [`Launcher::name`] of [`SandboxLauncher`]: a CLI launched by it is confined
/// ([`crate::cli::CliSettings::confined`]).
pub const LAUNCHER_NAME: &str = "sandbox";

/// What a worker may touch besides its workspace (the spec's working directory).
#[derive(Debug, Clone)]
pub struct WorkerGrant {
    /// Its `HOME` (created by the caller, private to the worker, writable).
    pub home: PathBuf,
    /// Where the private copies of the CLI's directories are made: a directory the
    /// worker is not granted (not inside `home` nor the workspace).
    pub cli_dirs: PathBuf,
    /// More read-only paths (a toolchain, say).
    pub read: Vec<PathBuf>,
    /// More writable paths.
    pub write: Vec<PathBuf>,
    /// Usually the model provider's host only.
    pub network: Network,
    pub limits: Limits,
    /// Paths inside the granted ones the worker must not see (the seed file, which holds
    /// the checks, when it lies in the workspace).
    pub hide: Vec<PathBuf>,
}

/// Runs each CLI process in the sandbox.
pub struct SandboxLauncher {
    sandbox: Sandbox,
    grant: WorkerGrant,
}

impl SandboxLauncher {
    pub fn new(sandbox: Sandbox, grant: WorkerGrant) -> Self {
        Self { sandbox, grant }
    }

    /// The sandbox policy for one spec (after making the CLI's private directories).
    fn policy(&self, spec: &ProcessSpec) -> std::io::Result<Policy> {
        let lookup = |name: &str| spec.env.get(name).cloned();
        let private = private_dirs::prepare(&self.grant.cli_dirs, &lookup)?;
        let mut env: Vec<(String, String)> = spec
            .env
            .iter()
            .filter(|(k, _)| k.as_str() != "HOME" && !private.iter().any(|(var, _)| var == k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.push(("HOME".into(), self.grant.home.display().to_string()));
        env.extend(private.iter().map(|(var, dir)| ((*var).to_owned(), dir.display().to_string())));
        let mut write = vec![spec.cwd.clone(), self.grant.home.clone()];
        write.extend(self.grant.write.iter().cloned());
        write.extend(private.into_iter().map(|(_, dir)| dir));
        let mut read = self.grant.read.clone();
        read.extend(install_root(&spec.program));
        Ok(Policy {
            read,
            write,
            cwd: spec.cwd.clone(),
            env,
            network: self.grant.network.clone(),
            limits: self.grant.limits,
            terminal: Terminal::None,
            hide: self.grant.hide.clone(),
            ..Policy::default()
        })
    }
}

impl Launcher for SandboxLauncher {
    fn command(&self, spec: &ProcessSpec) -> std::io::Result<Launch> {
        // Inside, only the real path of the installation exists (not `..` through
        // directories that are not mounted, nor a link's own directory).
        let program = spec.program.canonicalize().unwrap_or_else(|_| spec.program.clone());
        let confined = self
            .sandbox
            .command(self.policy(spec)?, program.as_os_str(), &spec.args)
            .map_err(|e| std::io::Error::other(format!("{e} (hint: {})", e.hint())))?;
        let mut confined = confined;
        let command = std::mem::replace(&mut confined.command, std::process::Command::new("/"));
        Ok(Launch { command, keep_alive: Some(Box::new(confined)) })
    }

    fn name(&self) -> &'static str {
        LAUNCHER_NAME
    }
}

/// The directory a CLI is installed in, to be readable: the `node_modules` it lives in
/// (an npm package needs its dependencies), else the directory of its real path. Nothing
/// for programs of the system (already mounted).
fn install_root(program: &Path) -> Option<PathBuf> {
    let real = program.canonicalize().ok()?;
    if real.starts_with("/usr") || real.starts_with("/bin") {
        return None;
    }
    let node_modules =
        real.ancestors().find(|a| a.file_name().is_some_and(|n| n == "node_modules"));
    Some(node_modules.unwrap_or(real.parent()?).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_npm_cli_gets_its_node_modules_and_a_system_one_nothing() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("node_modules/@scope/cli/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("cli.js"), "").unwrap();
        let expected = root.path().join("node_modules").canonicalize().unwrap();
        assert_eq!(install_root(&bin.join("cli.js")), Some(expected));
        assert_eq!(install_root(Path::new("/bin/sh")), None);
        let plain = root.path().join("tool");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(install_root(&plain), Some(root.path().canonicalize().unwrap()));
    }
}
