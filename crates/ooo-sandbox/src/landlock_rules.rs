//! The Landlock ruleset a confined process restricts itself with: read and execute
//! everywhere it can see, write only where the policy says, TCP only as the network
//! rule says, and the scopes (signals and abstract UNIX sockets stay inside). Inside
//! the namespaces this is a second wall behind the mount and network namespaces;
//! without them (a partial sandbox) it is the main one. Built in the parent (it
//! allocates), applied in the child.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

/// What TCP the process may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tcp {
    /// Not restricted by Landlock.
    Any,
    /// No bind, connect only to these ports.
    ConnectOnly(Vec<u16>),
}

/// The ruleset's inputs.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    pub tcp: Tcp,
}

/// The Landlock ABI version the running kernel offers (0 when none).
pub(crate) fn abi_version() -> i32 {
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
    version.max(0) as i32
}

/// Build the ruleset (`None` when the kernel has no Landlock).
pub(crate) fn prepare(rules: &Rules) -> std::io::Result<Option<RulesetCreated>> {
    let version = abi_version();
    if version == 0 {
        return Ok(None);
    }
    let abi = ABI::from(version);
    let err = |e: landlock::RulesetError| std::io::Error::other(e.to_string());
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(err)?;
    if rules.tcp != Tcp::Any {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi)).map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    if let Tcp::ConnectOnly(ports) = &rules.tcp {
        for port in ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp)).map_err(err)?;
        }
    }
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let paths = rules.read.iter().map(|p| (p, read)).chain(rules.write.iter().map(|p| (p, all)));
    for (path, access) in paths {
        // A path that does not exist is simply not granted; a file (a device) gets only
        // the rights that apply to files.
        let Ok(meta) = std::fs::metadata(path) else { continue };
        let access = if meta.is_dir() { access } else { access & AccessFs::from_file(abi) };
        if let Ok(fd) = PathFd::new(path) {
            created = created.add_rule(PathBeneath::new(fd, access)).map_err(err)?;
        }
    }
    Ok(Some(created))
}

/// Restrict the calling thread (and what it executes).
pub(crate) fn restrict(ruleset: RulesetCreated) -> std::io::Result<()> {
    ruleset.restrict_self().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()))
}
