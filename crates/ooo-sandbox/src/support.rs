//! What this machine can enforce, probed once per process: `bwrap` and user namespaces,
//! Landlock, seccomp. The [`Mode`] decides what happens when something is missing:
//! refuse (the default) or run with what there is and say so ([`Level::Partial`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::landlock_rules;

/// `config.toml`'s `sandbox` setting, as the sandbox sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Refuse to run when a mechanism is missing (fail closed).
    #[default]
    Require,
    /// `sandbox = "allow-partial"`: run with the mechanisms there are.
    AllowPartial,
}

/// How much of the sandbox a confined process gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Full,
    /// Running without the named mechanisms.
    Partial(Vec<Missing>),
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("full"),
            Self::Partial(missing) => {
                let names: Vec<&str> = missing.iter().map(|m| m.name()).collect();
                write!(f, "partial (without {})", names.join(", "))
            }
        }
    }
}

/// A mechanism this machine lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No `bwrap` on PATH.
    Bubblewrap,
    /// `bwrap` is there but cannot create a user namespace.
    UserNamespaces,
    Landlock,
    Seccomp,
    /// A root caller without a `pids` cgroup: RLIMIT_NPROC does not bind root.
    RootProcessLimit,
    /// Landlock scopes (ABI 6) with the host's network shared: abstract UNIX sockets
    /// of the host (X11, D-Bus) would be reachable.
    AbstractSocketScope,
    /// A host allowlist, or no network, without a network namespace or Landlock's
    /// TCP rules (ABI 4).
    NetworkConfinement,
}

impl Missing {
    pub fn name(self) -> &'static str {
        match self {
            Self::Bubblewrap => "namespaces (bwrap is not installed)",
            Self::UserNamespaces => "namespaces (user namespaces are disabled)",
            Self::Landlock => "Landlock",
            Self::Seccomp => "seccomp",
            Self::RootProcessLimit => "a process limit (root caller without a pids cgroup)",
            Self::AbstractSocketScope => {
                "Landlock scopes (abstract sockets, with the network shared)"
            }
            Self::NetworkConfinement => "network confinement (no network namespace)",
        }
    }

    /// How to get it.
    pub fn fix(self) -> &'static str {
        match self {
            Self::Bubblewrap => {
                "install bubblewrap (Debian/Ubuntu: `sudo apt install bubblewrap`; Fedora: `sudo dnf install bubblewrap`; Arch: `sudo pacman -S bubblewrap`)"
            }
            Self::UserNamespaces => {
                "allow unprivileged user namespaces (`sudo sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04+ also `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for bwrap; in a container, run it with user namespaces allowed, e.g. without a seccomp profile that blocks unshare)"
            }
            Self::Landlock => {
                "boot a kernel with Landlock enabled (5.13+, `lsm=landlock,...` on the kernel command line; check `cat /sys/kernel/security/lsm`)"
            }
            Self::Seccomp => "use a kernel built with CONFIG_SECCOMP_FILTER",
            Self::RootProcessLimit => {
                "run ooo as an unprivileged user, or give it a writable cgroup with the pids controller (cgroup v2: `echo +pids > <parent>/cgroup.subtree_control`; in a container, a writable cgroup namespace)"
            }
            Self::AbstractSocketScope => {
                "use a kernel with Landlock ABI 6 (6.12+), or do not grant the whole network"
            }
            Self::NetworkConfinement => {
                "install bubblewrap and allow user namespaces (see `ooo sandbox check`)"
            }
        }
    }
}

/// What was found.
#[derive(Debug, Clone)]
pub struct Support {
    pub bwrap: Option<PathBuf>,
    pub landlock_abi: i32,
    pub missing: Vec<Missing>,
}

impl Support {
    /// Probed once per process.
    pub fn get() -> &'static Support {
        static SUPPORT: OnceLock<Support> = OnceLock::new();
        SUPPORT.get_or_init(Support::probe)
    }

    fn probe() -> Support {
        let mut missing = Vec::new();
        let bwrap = find_on_path("bwrap");
        match &bwrap {
            None => missing.push(Missing::Bubblewrap),
            Some(path) if !user_namespaces_work(path) => missing.push(Missing::UserNamespaces),
            Some(_) => {}
        }
        let landlock_abi = landlock_rules::abi_version();
        if landlock_abi == 0 {
            missing.push(Missing::Landlock);
        }
        // SAFETY: a query of our own seccomp mode.
        if unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } < 0 {
            missing.push(Missing::Seccomp);
        }
        Support { bwrap, landlock_abi, missing }
    }

    /// Whether namespaces can be used.
    pub fn namespaces(&self) -> bool {
        !self.missing.iter().any(|m| matches!(m, Missing::Bubblewrap | Missing::UserNamespaces))
    }

    pub fn level(&self) -> Level {
        if self.missing.is_empty() { Level::Full } else { Level::Partial(self.missing.clone()) }
    }
}

/// The system's copy first, then absolute `PATH` entries only: a relative entry (`.`,
/// `node_modules/.bin`) would let a repository ship its own `bwrap`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    [PathBuf::from("/usr/bin"), PathBuf::from("/bin")]
        .into_iter()
        .chain(std::env::split_paths(&path).filter(|d| d.is_absolute()))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One throw-away `bwrap` with a user namespace (a few milliseconds, once per process).
fn user_namespaces_work(bwrap: &Path) -> bool {
    let mut cmd = Command::new(bwrap);
    cmd.args(["--unshare-all", "--unshare-user", "--die-with-parent"])
        .args(["--ro-bind", "/", "/", "--", "/bin/true"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status().is_ok_and(|s| s.success())
}
