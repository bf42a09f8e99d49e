//! What a plugin process may touch, enforced by the kernel (Landlock) rather than
//! recorded after the fact, plus resource limits and `no_new_privs`.
//!
//! File system: read and execute the plugin's own files and the system's program
//! directories; write only the plugin's state, output and private temporary directories;
//! the caller's workspace only as the manifest's `x-ouroboros.fs` asks and the user
//! trusted. `/proc`, `/sys` and the ooo home's core files (ledger, lockfile, other
//! plugins) are not reachable. Network (Landlock ABI 4+): no TCP bind or connect unless
//! `x-ouroboros.network` is declared and its scope trusted, or, for a build step, TCP
//! connect to the ports of the hosts it declares. Where the kernel lacks part of
//! this, the [`Level`] says what is missing, so the audit record and stderr can say so.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr,
};

/// How much of the sandbox this kernel enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Full,
    Partial(String),
    Unavailable,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("full"),
            Self::Partial(missing) => write!(f, "partial: {missing}"),
            Self::Unavailable => f.write_str("unavailable"),
        }
    }
}

/// What one invocation may touch.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Read and execute.
    pub read: Vec<PathBuf>,
    /// Read, write, create, remove.
    pub write: Vec<PathBuf>,
    /// TCP bind/connect allowed.
    pub network: bool,
    /// Without `network`: TCP connect allowed to these ports only (bind never).
    pub connect_ports: Vec<u16>,
}

/// System directories a program needs to run (only those that exist are used).
pub const SYSTEM_READ: &[&str] =
    &["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt"];
/// Devices a program may read and write.
pub const DEVICES: &[&str] =
    &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts"];

/// The Landlock ABI version the running kernel offers (0 when none).
fn kernel_abi() -> ABI {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: the version query takes no pointers (NULL attr, size 0).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    ABI::from(version as i32)
}

/// The kernel's Landlock level, without changing anything.
pub fn level() -> Level {
    match kernel_abi() {
        ABI::Unsupported => Level::Unavailable,
        abi if (abi as i32) < (ABI::V4 as i32) => {
            Level::Partial("no network restriction (Landlock ABI < 4)".into())
        }
        _ => Level::Full,
    }
}

/// A ruleset ready to be applied in the child (between fork and exec).
pub struct Prepared {
    pub ruleset: Option<RulesetCreated>,
    pub level: Level,
}

/// Build the ruleset for `policy` in the parent (this allocates; the child only applies it).
pub fn prepare(policy: &Policy) -> std::io::Result<Prepared> {
    let level = level();
    if level == Level::Unavailable {
        return Ok(Prepared { ruleset: None, level });
    }
    let abi = kernel_abi();
    let err = |e: landlock::RulesetError| std::io::Error::other(e.to_string());
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?;
    if !policy.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi)).map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    if !policy.network {
        for port in &policy.connect_ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp)).map_err(err)?;
        }
    }
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let mut rules: Vec<(PathBuf, landlock::BitFlags<AccessFs>)> = Vec::new();
    rules.extend(SYSTEM_READ.iter().map(|p| (PathBuf::from(p), read)));
    rules.extend(DEVICES.iter().map(|p| (PathBuf::from(p), read | AccessFs::WriteFile)));
    rules.extend(policy.read.iter().map(|p| (p.clone(), read)));
    rules.extend(policy.write.iter().map(|p| (p.clone(), all)));
    for (path, access) in rules {
        // Paths that do not exist on this system are simply not granted.
        if let Ok(fd) = PathFd::new(&path) {
            created = created.add_rule(PathBeneath::new(fd, access)).map_err(err)?;
        }
    }
    Ok(Prepared { ruleset: Some(created), level })
}

/// Apply in the child: resource limits, `no_new_privs` and the ruleset. Only system
/// calls, no allocation: safe between fork and exec.
pub fn apply_in_child(ruleset: Option<RulesetCreated>) -> std::io::Result<()> {
    let limit = |resource, value: libc::rlim_t| {
        // SAFETY: setrlimit/getrlimit on our own process with a valid struct.
        unsafe {
            let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(resource, &mut current) == 0 {
                let wanted = value.min(current.rlim_max);
                let _ =
                    libc::setrlimit(resource, &libc::rlimit { rlim_cur: wanted, rlim_max: wanted });
            }
        }
    };
    limit(libc::RLIMIT_CORE, 0);
    limit(libc::RLIMIT_NOFILE, 4096);
    limit(libc::RLIMIT_NPROC, 4096);
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if let Some(r) = ruleset {
        r.restrict_self().map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))?;
    }
    Ok(())
}
