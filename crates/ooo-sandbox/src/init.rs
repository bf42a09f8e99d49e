//! The init helper: the first program `bwrap` starts inside the namespaces. It applies
//! what `bwrap` does not (rlimits, `no_new_privs`, Landlock, the seccomp filter,
//! descriptor hygiene) and executes the command. With a host allowlist it first forks:
//! the parent stays as the bridge (a loopback TCP port inside, each connection relayed
//! to ooo's proxy through the UNIX socket mounted in), the child becomes the command.
//!
//! Any binary can be the helper by calling [`dispatch_if_requested`] first thing in
//! `main` (the `ooo` binary does), or [`main`] (the `ooo-sandbox-init` binary). The
//! arguments are an internal contract between [`crate::Sandbox`] and this module,
//! built by [`Args::to_argv`] and read back by [`Args::parse`]; nothing else.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::landlock_rules::{self, Rules, Tcp};
use crate::policy::Limits;

/// The first argument that makes a binary act as the helper.
pub const INIT_FLAG: &str = "--ooo-sandbox-init";
/// Exit code when the helper itself failed (bad arguments, a restriction that could
/// not be applied): the command never ran.
pub const SETUP_FAILED: i32 = 125;

static CAPABLE: AtomicBool = AtomicBool::new(false);

/// Whether this process's binary can act as the helper (it called
/// [`dispatch_if_requested`]).
pub fn current_exe_is_capable() -> bool {
    CAPABLE.load(Ordering::Relaxed)
}

/// Call first thing in `main`: when the process was started as the helper, this never
/// returns; otherwise it only records that this binary can be the helper.
pub fn dispatch_if_requested() {
    CAPABLE.store(true, Ordering::Relaxed);
    if std::env::args_os().nth(1).is_some_and(|a| a == INIT_FLAG) {
        main()
    }
}

/// The helper's whole life: parse, confine, execute. Never returns.
pub fn main() -> ! {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => fail(&format!("bad arguments: {e}")),
    };
    match run(args) {
        Ok(never) => match never {},
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "ooo-sandbox-init: {message}");
    std::process::exit(SETUP_FAILED)
}

/// What the helper is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    pub write: Vec<PathBuf>,
    pub keep_fds: Vec<i32>,
    pub tcp: Tcp,
    pub limits: Limits,
    /// RLIMIT_AS as well (0: not set): when no cgroup bounds memory, the address space
    /// is what bounds shared memory and memfds.
    pub address_space: u64,
    /// Loopback port inside and the proxy's socket path inside.
    pub bridge: Option<(u16, PathBuf)>,
    /// Refuse when the kernel has no Landlock (a full sandbox was required).
    pub require_landlock: bool,
    /// Take the terminal's foreground (an interactive command): Ctrl-C then reaches the
    /// command alone, not `bwrap` outside, whose death would end the sandbox first.
    pub foreground: bool,
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl Args {
    pub(crate) fn to_argv(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![INIT_FLAG.into()];
        for w in &self.write {
            v.extend(["--write".into(), w.clone().into_os_string()]);
        }
        for fd in &self.keep_fds {
            v.extend(["--keep".into(), fd.to_string().into()]);
        }
        let tcp = match &self.tcp {
            Tcp::Any => "any".to_string(),
            Tcp::ConnectOnly(ports) => {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                format!("connect:{}", ports.join(","))
            }
        };
        v.extend(["--tcp".into(), tcp.into()]);
        let l = &self.limits;
        let limits = format!(
            "{},{},{},{},{}",
            l.processes, l.memory_bytes, l.file_bytes, l.open_files, self.address_space
        );
        v.extend(["--limits".into(), limits.into()]);
        if let Some((port, path)) = &self.bridge {
            v.extend(["--bridge".into(), port.to_string().into(), path.clone().into_os_string()]);
        }
        if self.require_landlock {
            v.push("--require-landlock".into());
        }
        if self.foreground {
            v.push("--foreground".into());
        }
        v.push("--".into());
        v.push(self.program.clone());
        v.extend(self.args.iter().cloned());
        v
    }

    pub(crate) fn parse(argv: &[OsString]) -> Result<Self, String> {
        let mut it = argv.iter();
        if it.next().is_none_or(|a| a != INIT_FLAG) {
            return Err(format!("the first argument must be {INIT_FLAG}"));
        }
        let mut args = Args {
            write: Vec::new(),
            keep_fds: Vec::new(),
            tcp: Tcp::Any,
            limits: Limits::default(),
            address_space: 0,
            bridge: None,
            require_landlock: false,
            foreground: false,
            program: OsString::new(),
            args: Vec::new(),
        };
        let value = |name: &str, it: &mut std::slice::Iter<'_, OsString>| {
            it.next().cloned().ok_or_else(|| format!("{name} needs a value"))
        };
        loop {
            let Some(flag) = it.next() else { return Err("no `--` before the command".into()) };
            match flag.to_str() {
                Some("--write") => args.write.push(value("--write", &mut it)?.into()),
                Some("--keep") => args.keep_fds.push(number(&value("--keep", &mut it)?)?),
                Some("--tcp") => args.tcp = parse_tcp(&value("--tcp", &mut it)?)?,
                Some("--limits") => {
                    (args.limits, args.address_space) = parse_limits(&value("--limits", &mut it)?)?
                }
                Some("--bridge") => {
                    let port = number(&value("--bridge", &mut it)?)?;
                    args.bridge = Some((port, value("--bridge", &mut it)?.into()));
                }
                Some("--require-landlock") => args.require_landlock = true,
                Some("--foreground") => args.foreground = true,
                Some("--") => break,
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        args.program = it.next().cloned().ok_or("no command after `--`")?;
        args.args = it.cloned().collect();
        Ok(args)
    }
}

fn number<T: std::str::FromStr>(text: &OsString) -> Result<T, String> {
    text.to_str().and_then(|t| t.parse().ok()).ok_or_else(|| format!("{text:?} is not a number"))
}

fn parse_tcp(text: &OsString) -> Result<Tcp, String> {
    match text.to_str() {
        Some("any") => Ok(Tcp::Any),
        Some(t) if t.starts_with("connect:") => {
            let list = &t["connect:".len()..];
            let ports = list
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<u16>().map_err(|_| format!("bad port {p:?}")))
                .collect::<Result<_, _>>()?;
            Ok(Tcp::ConnectOnly(ports))
        }
        _ => Err(format!("bad --tcp {text:?}")),
    }
}

fn parse_limits(text: &OsString) -> Result<(Limits, u64), String> {
    let parts: Vec<u64> = text
        .to_str()
        .ok_or("limits are not UTF-8")?
        .split(',')
        .map(|p| p.parse::<u64>().map_err(|_| format!("bad limit {p:?}")))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [processes, memory_bytes, file_bytes, open_files, address_space] => {
            Ok((Limits { processes, memory_bytes, file_bytes, open_files }, address_space))
        }
        _ => Err(format!("--limits takes five numbers, got {text:?}")),
    }
}

/// Confine and execute; returns only on failure.
fn run(args: Args) -> Result<std::convert::Infallible, String> {
    let landlock = landlock_rules::prepare(&Rules {
        read: vec![PathBuf::from("/")],
        write: args.write.clone(),
        tcp: args.tcp.clone(),
    })
    .map_err(|e| format!("Landlock: {e}"))?;
    if landlock.is_none() && args.require_landlock {
        return Err("this kernel has no Landlock and a full sandbox is required".into());
    }
    let filters = crate::seccomp::programs()?;
    let program = CString::new(args.program.as_bytes()).map_err(|_| "NUL in the command")?;
    let argv: Vec<CString> = std::iter::once(&args.program)
        .chain(&args.args)
        .map(|a| CString::new(a.as_bytes()).map_err(|_| "NUL in an argument".to_string()))
        .collect::<Result<_, _>>()?;
    let mut keep = args.keep_fds.clone();
    keep.sort_unstable();
    if let Some((port, socket)) = &args.bridge {
        let listener = std::net::TcpListener::bind(("127.0.0.1", *port))
            .map_err(|e| format!("bridge port {port}: {e}"))?;
        // SAFETY: this process has one thread here; the child only makes system calls
        // until it executes the command.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid > 0 {
            drop_descriptors_for_bridge(&keep);
            crate::bridge::serve(listener, socket.clone());
            std::process::exit(wait_for(pid));
        }
        drop(listener);
    }
    if args.foreground {
        take_foreground();
    }
    crate::rlimits::apply(&args.limits, args.address_space).map_err(|e| format!("limits: {e}"))?;
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
    }
    if let Some(ruleset) = landlock {
        landlock_rules::restrict(ruleset).map_err(|e| format!("Landlock: {e}"))?;
    }
    crate::fds::cloexec_all_but(&keep).map_err(|e| format!("descriptors: {e}"))?;
    crate::seccomp::apply(&filters).map_err(|e| format!("seccomp: {e}"))?;
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and a NULL-terminated array that outlive the call.
    unsafe { libc::execvp(program.as_ptr(), ptrs.as_ptr()) };
    let e = std::io::Error::last_os_error();
    let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    let _ = writeln!(std::io::stderr(), "ooo-sandbox: cannot run {:?}: {e}", args.program);
    std::process::exit(code)
}

/// Become a process group of its own and the terminal's foreground group (when standard
/// input is a terminal).
fn take_foreground() {
    // SAFETY: plain system calls on our own process and fd 0; SIGTTOU is ignored while a
    // background group takes the terminal, as shells do.
    unsafe {
        if libc::isatty(0) == 1 {
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::setpgid(0, 0);
            libc::tcsetpgrp(0, libc::getpid());
            libc::signal(libc::SIGTTOU, libc::SIG_DFL);
        }
    }
}

/// The bridge keeps no descriptor of the command's (its channel, its pipes stay
/// the command's alone).
fn drop_descriptors_for_bridge(keep: &[i32]) {
    for fd in keep {
        // SAFETY: closing descriptors this process does not use.
        unsafe { libc::close(*fd) };
    }
}

/// Wait for the command; its exit code (128 + signal when killed).
fn wait_for(pid: libc::pid_t) -> i32 {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            if libc::WIFSIGNALED(status) {
                return 128 + libc::WTERMSIG(status);
            }
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return SETUP_FAILED;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let args = Args {
            write: vec!["/w".into(), "/x y".into()],
            keep_fds: vec![3, 7],
            tcp: Tcp::ConnectOnly(vec![3128]),
            limits: Limits { processes: 1, memory_bytes: 2, file_bytes: 3, open_files: 4 },
            address_space: 5,
            bridge: Some((3128, "/run/ooo/proxy/proxy.sock".into())),
            require_landlock: true,
            foreground: true,
            program: "sh".into(),
            args: vec!["-c".into(), "--write".into()],
        };
        assert_eq!(Args::parse(&args.to_argv()).unwrap(), args);
        let none = Args { tcp: Tcp::ConnectOnly(vec![]), bridge: None, ..args };
        assert_eq!(Args::parse(&none.to_argv()).unwrap(), none);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let parse = |v: &[&str]| Args::parse(&v.iter().map(OsString::from).collect::<Vec<_>>());
        assert!(parse(&["x", "--", "sh"]).is_err());
        assert!(parse(&[INIT_FLAG, "--",]).is_err());
        assert!(parse(&[INIT_FLAG, "sh"]).is_err());
        assert!(parse(&[INIT_FLAG, "--keep", "x", "--", "sh"]).is_err());
        assert!(parse(&[INIT_FLAG, "--limits", "1,2", "--", "sh"]).is_err());
        assert!(parse(&[INIT_FLAG, "--limits", "1,2,3,4", "--", "sh"]).is_err());
        assert!(parse(&[INIT_FLAG, "--tcp", "some", "--", "sh"]).is_err());
    }
}
