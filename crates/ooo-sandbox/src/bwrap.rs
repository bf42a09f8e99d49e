//! The `bwrap` command line for a policy: which namespaces, what is mounted where, and
//! the init helper to start. Only argument building lives here; the descriptors the
//! mounts refer to are opened by `confined`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

// The system's program directories are mounted read-only (merged-/usr links are
// copied as links).
use crate::policy::{SYSTEM_DIRS as SYSTEM, Terminal};

/// Where the init helper is mounted inside.
pub(crate) const INIT_INSIDE: &str = "/run/ooo-sandbox/init";
/// Where the proxy's socket directory is mounted inside.
pub(crate) const PROXY_DIR_INSIDE: &str = "/run/ooo-sandbox/proxy";

/// What of `/etc` a program needs to run (users and hosts, certificates, the loader's
/// cache, the time zone, Debian's alternatives). Not `/etc` whole: a root caller's
/// sandbox could read `shadow` and the host keys. Each entry is a mount and costs about
/// 50 µs per spawn, so the list is short.
const ETC: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "nsswitch.conf",
    "resolv.conf",
    "services",
    "localtime",
    "ld.so.cache",
    "alternatives",
    "ssl",
    "ca-certificates",
    "pki",
    "gitconfig",
];

/// Whether `path` is already visible read-only through the system mounts (e.g. a PATH
/// entry `/usr/bin`, or `/bin` on a merged-/usr system, which is a link inside too):
/// such a read mount is left out, as binding onto a link is refused.
pub(crate) fn system_covers(path: &Path) -> bool {
    let Ok(real) = path.canonicalize() else { return false };
    SYSTEM.iter().map(Path::new).any(|dir| {
        let is_real_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
        is_real_dir && real.starts_with(dir)
    })
}

/// One mount by descriptor.
pub(crate) struct FdMount {
    pub fd: i32,
    pub dest: PathBuf,
    pub writable: bool,
}

/// Everything the command line is made of.
pub(crate) struct Plan<'a> {
    pub mounts: &'a [FdMount],
    pub cwd: &'a Path,
    pub share_network: bool,
    pub terminal: Terminal,
    pub init: &'a Path,
    pub proxy_dir: Option<&'a Path>,
    pub init_argv: Vec<OsString>,
    /// The memory limit: the private `/tmp` gets half of it, `/dev/shm` a quarter.
    pub memory_bytes: u64,
    /// Covered after every mount (see [`crate::Policy::hide`]).
    pub hide: &'a [PathBuf],
}

pub(crate) fn argv(plan: &Plan<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        a.extend(items.iter().map(|i| i.as_ref().to_os_string()));
    };
    // No --disable-userns: it costs a second user namespace per spawn, and the seccomp
    // filter already refuses unshare(2), setns(2), clone(2) with namespace flags and clone3.
    push(&[&"--unshare-all", &"--unshare-user", &"--die-with-parent"]);
    push(&[&"--cap-drop", &"ALL", &"--hostname", &"ooo-sandbox"]);
    if plan.share_network {
        push(&[&"--share-net"]);
    }
    if plan.terminal == Terminal::None {
        push(&[&"--new-session"]);
    }
    for dir in SYSTEM {
        let path = Path::new(dir);
        match std::fs::read_link(path) {
            Ok(target) => push(&[&"--symlink", &target, &path]),
            Err(_) if path.is_dir() => push(&[&"--ro-bind", &path, &path]),
            Err(_) => {}
        }
    }
    for name in ETC {
        let path = Path::new("/etc").join(name);
        if path.exists() {
            push(&[&"--ro-bind", &path, &path]);
        }
    }
    // The private /tmp and /dev/shm are memory: half and a quarter of the limit (inside
    // the cgroup's memory limit where there is one; on top of RLIMIT_AS where not).
    let tmp = (plan.memory_bytes / 2).max(1 << 20).to_string();
    let shm = (plan.memory_bytes / 4).max(1 << 20).to_string();
    push(&[&"--proc", &"/proc", &"--dev", &"/dev"]);
    // The kernel's key lists name every key of the caller's user: not for the sandbox.
    for keys in ["/proc/keys", "/proc/key-users"] {
        push(&[&"--ro-bind", &"/dev/null", &keys]);
    }
    push(&[&"--size", &tmp, &"--tmpfs", &"/tmp", &"--size", &shm, &"--tmpfs", &"/dev/shm"]);
    // Mounts and hidden paths together, parents before children: a narrower mount lands
    // on top of a wider one, and a hidden directory is covered before what is mounted
    // beneath it (ooo's home is hidden, the plugin's own directories in it are not).
    enum Step<'m> {
        Mount(&'m FdMount),
        Hide(&'m Path),
    }
    let depth = |p: &Path| p.components().count();
    let mut steps: Vec<(usize, Step<'_>)> = plan
        .mounts
        .iter()
        .map(|m| (depth(&m.dest), Step::Mount(m)))
        .chain(plan.hide.iter().map(|h| (depth(h), Step::Hide(h.as_path()))))
        .collect();
    steps.sort_by_key(|(d, _)| *d);
    let mut hidden_dirs = Vec::new();
    for (_, step) in steps {
        match step {
            Step::Mount(m) => {
                let flag = if m.writable { "--bind-fd" } else { "--ro-bind-fd" };
                push(&[&flag, &m.fd.to_string(), &m.dest]);
            }
            Step::Hide(path) if path.is_dir() => {
                push(&[&"--perms", &"0555", &"--size", &"4096", &"--tmpfs", &path]);
                hidden_dirs.push(path);
            }
            Step::Hide(path) if path.exists() => push(&[&"--ro-bind", &"/dev/null", &path]),
            Step::Hide(_) => {}
        }
    }
    // Read-only only now: the mounts beneath needed their mount points made first.
    for path in hidden_dirs {
        push(&[&"--remount-ro", &path]);
    }
    push(&[&"--ro-bind", &plan.init, &INIT_INSIDE]);
    if let Some(dir) = plan.proxy_dir {
        push(&[&"--ro-bind", &dir, &PROXY_DIR_INSIDE]);
    }
    push(&[&"--chdir", &plan.cwd, &"--", &INIT_INSIDE]);
    a.extend(plan.init_argv.iter().cloned());
    a
}
