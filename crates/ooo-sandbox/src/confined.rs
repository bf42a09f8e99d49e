//! [`Sandbox`] (what this machine can enforce, and the mode) and [`Confined`] (one
//! command ready to spawn, with what must live as long as it: the mount descriptors,
//! the proxy and its socket directory). Building the command lives here; running it
//! (timeouts, output, process groups) is the caller's.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bwrap::{self, FdMount, Plan};
use crate::error::{ErrorKind, SandboxError};
use crate::init::{self, Args};
use crate::landlock_rules::{self, Rules, Tcp};
use crate::policy::{Network, Policy};
use crate::proxy::{Decision, Proxy};
use crate::support::{Level, Missing, Mode, Support};

/// Device files a confined process may write (the rest of the minimal `/dev` is read).
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// The loopback port inside the sandbox where the bridge to the proxy listens.
pub const PROXY_PORT: u16 = 3128;
/// Descriptors handed to `bwrap` are moved at or above this number, clear of the
/// standard streams and of the capability channel.
const FIRST_MOUNT_FD: i32 = 10;

/// The sandbox of this process: what the machine can enforce and what the user allows.
#[derive(Debug, Clone)]
pub struct Sandbox {
    mode: Mode,
    support: &'static Support,
    init: Option<PathBuf>,
}

impl Sandbox {
    /// Probe the machine. With [`Mode::Require`], a missing mechanism is an error that
    /// names it and how to get it.
    pub fn new(mode: Mode) -> Result<Self, SandboxError> {
        let support = Support::get();
        if mode == Mode::Require && !support.missing.is_empty() {
            return Err(unavailable(&support.missing));
        }
        Ok(Self { mode, support, init: None })
    }

    /// Use this binary as the init helper (default: this process's own binary when it
    /// can act as one, else `ooo-sandbox-init` next to it).
    pub fn with_init(mut self, path: PathBuf) -> Self {
        self.init = Some(path);
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The level every command of this sandbox runs at (a command can be lower: see
    /// [`Confined::level`]).
    pub fn level(&self) -> Level {
        self.support.level()
    }

    /// The machine's level with what one command also lacks: an error under
    /// [`Mode::Require`].
    fn level_with(&self, extra: &[Missing]) -> Result<Level, SandboxError> {
        if extra.is_empty() {
            return Ok(self.level());
        }
        if self.mode == Mode::Require {
            return Err(unavailable(extra));
        }
        let mut all = self.support.missing.clone();
        all.extend_from_slice(extra);
        Ok(Level::Partial(all))
    }

    /// Confine `program args` by `policy`.
    pub fn command(
        &self,
        policy: Policy,
        program: &OsStr,
        args: &[OsString],
    ) -> Result<Confined, SandboxError> {
        check_policy(&policy)?;
        if self.support.namespaces() {
            self.namespaced(policy, program, args)
        } else {
            self.partial(policy, program, args)
        }
    }

    fn init_path(&self) -> Result<PathBuf, SandboxError> {
        if let Some(p) = &self.init {
            return Ok(p.clone());
        }
        let exe = std::env::current_exe()
            .map_err(|e| setup(format!("cannot find this program's path: {e}")))?;
        if init::current_exe_is_capable() {
            return Ok(exe);
        }
        let dir = exe.parent().map(Path::to_owned).unwrap_or_default();
        let beside = [dir.join(crate::INIT_BINARY), dir.join("..").join(crate::INIT_BINARY)];
        if let Some(helper) = beside.into_iter().find(|p| p.is_file()) {
            return Ok(helper);
        }
        Err(SandboxError::new(
            ErrorKind::Setup,
            format!(
                "the sandbox's init helper `{}` was not found next to {}",
                crate::INIT_BINARY,
                exe.display()
            ),
            "build it (`cargo build -p ooo-sandbox --bin ooo-sandbox-init`) or call `ooo_sandbox::init::dispatch_if_requested()` first in main",
        ))
    }

    fn namespaced(
        &self,
        policy: Policy,
        program: &OsStr,
        args: &[OsString],
    ) -> Result<Confined, SandboxError> {
        let init = self.init_path()?;
        let bwrap = self.support.bwrap.clone().expect("namespaces imply bwrap");
        let mut held = Vec::new();
        let mut mounts = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let reads = policy.read.iter().filter(|p| !bwrap::system_covers(p)).map(|p| (p, false));
        for (path, writable) in reads.chain(policy.write.iter().map(|p| (p, true))) {
            if !seen.insert((path.clone(), writable)) {
                continue;
            }
            let fd = open_path(path)?;
            mounts.push(FdMount { fd: fd.as_raw_fd(), dest: path.clone(), writable });
            held.push(fd);
        }
        let fd_mounts = policy.write_fds.into_iter().map(|(fd, dest)| (fd, dest, true));
        for (fd, dest, writable) in
            fd_mounts.chain(policy.read_fds.into_iter().map(|(fd, dest)| (fd, dest, false)))
        {
            let fd = above(fd)?;
            mounts.push(FdMount { fd: fd.as_raw_fd(), dest, writable });
            held.push(fd);
        }
        let mut env = policy.env;
        let (proxy, proxy_dir) = match &policy.network {
            Network::Hosts(rules) => {
                let dir = ProxyDir::new()?;
                let proxy = Proxy::start(&dir.0.join("proxy.sock"), rules.clone())
                    .map_err(|e| setup(format!("cannot start the network proxy: {e}")))?;
                set_proxy_env(&mut env);
                (Some(proxy), Some(dir))
            }
            Network::None | Network::All => (None, None),
        };
        let cgroup = crate::cgroup::Cgroup::create(&policy.limits);
        let cgroup_procs = cgroup.as_ref().map(|c| c.procs()).unwrap_or_default();
        let mut missing = Vec::new();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root && !cgroup.as_ref().is_some_and(|c| c.bounds_processes()) {
            missing.push(Missing::RootProcessLimit);
        }
        if policy.network == Network::All && self.support.landlock_abi < 6 {
            missing.push(Missing::AbstractSocketScope);
        }
        let level = self.level_with(&missing)?;
        let init_args = Args {
            write: policy
                .write
                .iter()
                .cloned()
                .chain(mounts.iter().filter(|m| m.writable).map(|m| m.dest.clone()))
                .chain(["/tmp", "/dev/shm"].map(PathBuf::from))
                .chain(DEVICES.iter().map(PathBuf::from))
                .collect(),
            keep_fds: policy.keep_fds.clone(),
            tcp: match &policy.network {
                Network::All => Tcp::Any,
                Network::Hosts(_) => Tcp::ConnectOnly(vec![PROXY_PORT]),
                Network::None => Tcp::ConnectOnly(Vec::new()),
            },
            limits: policy.limits,
            // Without a cgroup's memory limit, the address space bounds shared memory.
            address_space: if cgroup.as_ref().is_some_and(|c| c.bounds_memory()) {
                0
            } else {
                policy.limits.memory_bytes
            },
            bridge: proxy_dir
                .as_ref()
                .map(|_| (PROXY_PORT, Path::new(bwrap::PROXY_DIR_INSIDE).join("proxy.sock"))),
            require_landlock: !self.support.missing.contains(&Missing::Landlock),
            foreground: policy.terminal == crate::Terminal::Inherit,
            program: program.to_owned(),
            args: args.to_vec(),
        };
        let argv = bwrap::argv(&Plan {
            mounts: &mounts,
            cwd: &policy.cwd,
            share_network: policy.network == Network::All,
            terminal: policy.terminal,
            init: &init,
            proxy_dir: proxy_dir.as_ref().map(|d| d.0.as_path()),
            init_argv: init_args.to_argv(),
            memory_bytes: policy.limits.memory_bytes,
            hide: &policy.hide,
        });

        let mut command = Command::new(bwrap);
        command.args(argv).env_clear().envs(env).current_dir("/");
        let mut keep: Vec<i32> = policy.keep_fds.clone();
        keep.extend(mounts.iter().map(|m| m.fd));
        keep.sort_unstable();
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only system calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                crate::fds::cloexec_all_but(&keep)?;
                // bwrap (and so the whole sandbox) dies with the thread that started it;
                // if that already happened, do not start at all.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                    || libc::getppid() != parent
                {
                    return Err(std::io::Error::other(
                        "the process that started the sandbox is gone",
                    ));
                }
                crate::cgroup::Cgroup::join_in_child(&cgroup_procs)
            });
        }
        Ok(Confined { command, level, proxy, cgroup, _proxy_dir: proxy_dir, _held: held })
    }

    /// Without namespaces (`allow-partial` only): Landlock, seccomp and rlimits on the
    /// host's file system and network.
    fn partial(
        &self,
        policy: Policy,
        program: &OsStr,
        args: &[OsString],
    ) -> Result<Confined, SandboxError> {
        let confines_network = match &policy.network {
            Network::All => true,
            Network::None => self.support.landlock_abi >= 4,
            // Landlock filters TCP by port, not by host: a host list cannot be enforced.
            Network::Hosts(_) => false,
        };
        if !confines_network {
            return Err(unavailable(&[Missing::NetworkConfinement]));
        }
        if let Some(path) = policy.hide.first() {
            return Err(SandboxError::new(
                ErrorKind::Unavailable,
                format!("{} cannot be hidden without namespaces", path.display()),
                format!("{}; or do not grant a path that contains it", Missing::Bubblewrap.fix()),
            ));
        }
        let mut write: Vec<PathBuf> = policy.write.clone();
        write.extend(policy.write_fds.iter().map(|(_, p)| p.clone()));
        write.extend(DEVICES.iter().map(PathBuf::from));
        let mut read: Vec<PathBuf> = policy.read.clone();
        read.extend(policy.read_fds.iter().map(|(_, p)| p.clone()));
        read.extend(crate::policy::SYSTEM_DIRS.iter().chain(&["/etc"]).map(PathBuf::from));
        let tcp = match &policy.network {
            Network::All => Tcp::Any,
            // Without a network namespace hosts cannot be enforced: ports only.
            Network::Hosts(rules) => Tcp::ConnectOnly(
                rules.iter().flat_map(|r| r.port.map_or(vec![80, 443], |p| vec![p])).collect(),
            ),
            Network::None => Tcp::ConnectOnly(Vec::new()),
        };
        let ruleset = landlock_rules::prepare(&Rules { read, write, tcp })
            .map_err(|e| setup(format!("Landlock: {e}")))?;
        let filters = if self.support.missing.contains(&Missing::Seccomp) {
            Vec::new()
        } else {
            crate::seccomp::programs().map_err(setup)?
        };
        let mut keep = policy.keep_fds.clone();
        keep.sort_unstable();
        let limits = policy.limits;
        let ruleset = std::sync::Mutex::new(ruleset);
        let mut command = Command::new(program);
        command.args(args).env_clear().envs(policy.env).current_dir(&policy.cwd);
        // SAFETY: only system calls between fork and exec (the ruleset was built before).
        unsafe {
            command.pre_exec(move || {
                if policy.terminal == crate::Terminal::None {
                    libc::setsid();
                }
                crate::rlimits::apply(&limits, limits.memory_bytes)?;
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(r) = ruleset.lock().ok().and_then(|mut r| r.take()) {
                    landlock_rules::restrict(r)?;
                }
                crate::fds::cloexec_all_but(&keep)?;
                crate::seccomp::apply(&filters)
            });
        }
        let held = policy.write_fds.into_iter().chain(policy.read_fds).map(|(fd, _)| fd).collect();
        Ok(Confined {
            command,
            level: self.level(),
            proxy: None,
            cgroup: None,
            _proxy_dir: None,
            _held: held,
        })
    }
}

/// A command ready to spawn. Keep it alive until the process ended: it owns the proxy
/// and the descriptors the mounts are made from.
pub struct Confined {
    /// `bwrap` with its arguments (or, in a partial sandbox, the program itself), with
    /// the policy's environment. Set stdio, a process group, etc. as needed, then spawn.
    pub command: Command,
    pub level: Level,
    proxy: Option<Proxy>,
    cgroup: Option<crate::cgroup::Cgroup>,
    _proxy_dir: Option<ProxyDir>,
    _held: Vec<OwnedFd>,
}

impl Confined {
    /// The cgroups holding the process and memory limits (empty when none could be
    /// made: only the rlimits apply then).
    pub fn cgroup(&self) -> &[PathBuf] {
        self.cgroup.as_ref().map_or(&[], |c| c.dirs())
    }

    /// Every connection the proxy allowed or refused so far.
    pub fn decisions(&self) -> Vec<Decision> {
        self.proxy.as_ref().map(Proxy::decisions).unwrap_or_default()
    }
}

fn set_proxy_env(env: &mut Vec<(String, String)>) {
    let url = format!("http://127.0.0.1:{PROXY_PORT}");
    const NAMES: [&str; 6] =
        ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];
    env.retain(|(k, _)| !NAMES.contains(&k.as_str()) && k != "NO_PROXY" && k != "no_proxy");
    env.extend(NAMES.iter().map(|n| (n.to_string(), url.clone())));
}

/// A private directory for the proxy's socket, removed with it.
struct ProxyDir(PathBuf);

impl ProxyDir {
    fn new() -> Result<Self, SandboxError> {
        use std::os::unix::fs::DirBuilderExt;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ooo-sandbox-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| setup(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for ProxyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_policy(policy: &Policy) -> Result<(), SandboxError> {
    let fd_paths = policy.write_fds.iter().chain(&policy.read_fds).map(|(_, p)| p);
    let all = policy.read.iter().chain(&policy.write).chain(fd_paths);
    for path in all.clone().chain([&policy.cwd]).chain(&policy.hide) {
        if !path.is_absolute() || path.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(bad(format!("{} is not an absolute path without `..`", path.display())));
        }
    }
    let inside = |p: &Path| p.starts_with("/tmp") || all.clone().any(|m| p.starts_with(m));
    if !inside(&policy.cwd) {
        return Err(bad(format!(
            "the working directory {} is not one of the sandbox's paths",
            policy.cwd.display()
        )));
    }
    if policy.keep_fds.iter().any(|fd| (0..3).contains(fd) || *fd >= FIRST_MOUNT_FD) {
        return Err(bad(format!(
            "kept descriptors must be 3..{FIRST_MOUNT_FD}: {:?}",
            policy.keep_fds
        )));
    }
    Ok(())
}

/// Open a path to mount (following links: the policy names it on purpose), as a
/// descriptor at or above [`FIRST_MOUNT_FD`], so what is mounted is what was checked.
fn open_path(path: &Path) -> Result<OwnedFd, SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| bad(format!("{} contains NUL", path.display())))?;
    // SAFETY: a NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(bad(format!("{}: {e}", path.display())));
    }
    // SAFETY: a descriptor we just opened and own.
    above(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn above(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    // SAFETY: duplicating a descriptor we own.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, FIRST_MOUNT_FD) };
    if dup < 0 {
        return Err(setup(format!("dup: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

fn unavailable(missing: &[Missing]) -> SandboxError {
    let names: Vec<&str> = missing.iter().map(|m| m.name()).collect();
    let fixes: Vec<&str> = missing.iter().map(|m| m.fix()).collect();
    SandboxError::new(
        ErrorKind::Unavailable,
        format!("this machine cannot run the full sandbox: missing {}", names.join(", ")),
        format!(
            "{}; or, to run with what there is, set `sandbox = \"allow-partial\"` in config.toml (the audit records the level)",
            fixes.join("; ")
        ),
    )
}

fn bad(message: String) -> SandboxError {
    SandboxError::new(ErrorKind::BadPolicy, message, "fix the paths the sandbox is given")
}

fn setup(message: String) -> SandboxError {
    SandboxError::new(
        ErrorKind::Setup,
        message,
        "check the temporary directory and the descriptor limit",
    )
}
