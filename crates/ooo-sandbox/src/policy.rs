//! What a confined process may touch: the [`Policy`] a caller hands the sandbox. Only
//! data and its parsing live here; how it is enforced lives in `bwrap`, `init`,
//! `landlock_rules` and `seccomp`, and whether this machine can enforce it in `support`.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// The system's program directories: every sandbox reads them (mounted read-only with
/// namespaces, read-only in Landlock without), so a caller never grants them, and a
/// directory under one of them holds no toolchain of the user's.
pub const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];

/// Everything one confined process may do. Anything not named here is not there: paths
/// that are not listed do not exist inside the sandbox, variables that are not listed are
/// not set, and without [`Network::All`] there is no route out.
#[derive(Debug, Default)]
pub struct Policy {
    /// Mounted read-only (and executable) at the same path inside.
    pub read: Vec<PathBuf>,
    /// Mounted read-write at the same path inside.
    pub write: Vec<PathBuf>,
    /// Directories the caller opened itself (without following links a workspace could
    /// plant, see `openat2`), mounted read-write at the given path inside.
    pub write_fds: Vec<(OwnedFd, PathBuf)>,
    /// Files or directories the caller opened itself, mounted read-only at the given
    /// path inside, over what is there (a copy in place of a workspace file, say). Without
    /// namespaces the path is only made readable.
    pub read_fds: Vec<(OwnedFd, PathBuf)>,
    /// Paths inside the mounted ones the process must not see (ooo's own home under a
    /// workspace, say): an empty read-only directory, or an empty file, in their place.
    pub hide: Vec<PathBuf>,
    /// Working directory inside (must be one of the mounted paths, or `/tmp`).
    pub cwd: PathBuf,
    /// The whole environment of the process, nothing inherited.
    pub env: Vec<(String, String)>,
    pub network: Network,
    pub limits: Limits,
    pub terminal: Terminal,
    /// Descriptors (above 2) the process keeps, e.g. the capability channel. Every other
    /// descriptor above 2 is closed.
    pub keep_fds: Vec<i32>,
}

/// Where the process may connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    /// No network at all: only a loopback interface nobody else shares.
    #[default]
    None,
    /// Only these hosts, through ooo's proxy (`HTTP_PROXY`/`HTTPS_PROXY` are set inside).
    Hosts(Vec<HostRule>),
    /// The host's network, unfiltered.
    All,
}

/// One allowed destination: `host` (exact, case-insensitive, or `*.suffix`) and a port;
/// without a port, 80 and 443.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostRule {
    pub host: String,
    pub port: Option<u16>,
}

impl HostRule {
    /// Parse `host`, `host:port`, `*.host[:port]` or `[v6addr]:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty host".into());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (addr, after) =
                rest.split_once(']').ok_or_else(|| format!("`{text}`: missing `]`"))?;
            match after.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None if after.is_empty() => (addr, None),
                None => return Err(format!("`{text}`: unexpected `{after}` after `]`")),
            }
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                Some(_) => return Err(format!("`{text}`: write an IPv6 address as [addr]:port")),
                None => (text, None),
            }
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{text}`: `{p}` is not a port (1-65535)"))?,
            ),
            None => None,
        };
        let bare = host.strip_prefix("*.").unwrap_or(host);
        let valid = !bare.is_empty()
            && bare.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
            && !host[2.min(host.len())..].contains('*');
        if !valid {
            return Err(format!("`{text}`: not a host name or address"));
        }
        Ok(Self { host: host.to_ascii_lowercase(), port })
    }

    /// Whether a connection to `host:port` is allowed by this rule.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        };
        let port_ok = match self.port {
            Some(p) => p == port,
            None => port == 80 || port == 443,
        };
        host_ok && port_ok
    }
}

impl std::fmt::Display for HostRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host =
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => write!(f, "{host}"),
        }
    }
}

/// Resource limits. Where the caller may create a cgroup (root, or a delegated subtree)
/// the process count and memory are bounded by it (`pids.max`, `memory.max`), shared
/// memory and tmpfs included; rlimits are set too, and without a cgroup they are all
/// there is: RLIMIT_NPROC (which does not bind a root caller), RLIMIT_DATA and
/// RLIMIT_AS (the address space, so shared memory and memfds are bounded too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Processes and threads of the sandbox's user (RLIMIT_NPROC).
    pub processes: u64,
    /// Bytes of memory: the cgroup's limit, else RLIMIT_DATA and RLIMIT_AS. The private
    /// `/tmp` gets half of it and `/dev/shm` a quarter.
    pub memory_bytes: u64,
    /// Largest file the process may write (RLIMIT_FSIZE).
    pub file_bytes: u64,
    /// Open descriptors (RLIMIT_NOFILE).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { processes: 512, memory_bytes: 4 << 30, file_bytes: 8 << 30, open_files: 4096 }
    }
}

/// Whether the process gets a controlling terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Terminal {
    /// A new session without a controlling terminal; keystroke injection (TIOCSTI)
    /// is refused too.
    #[default]
    None,
    /// The caller's terminal stays the controlling terminal (interactive plugins). TIOCSTI
    /// and TIOCLINUX are still refused by the filter.
    Inherit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_rules_parse_and_match() {
        let r = HostRule::parse("API.example.com").unwrap();
        assert!(r.allows("api.example.com", 443) && r.allows("api.example.com.", 80));
        assert!(!r.allows("api.example.com", 8080) && !r.allows("example.com", 443));
        let r = HostRule::parse("*.example.com:8443").unwrap();
        assert!(r.allows("a.b.example.com", 8443));
        assert!(!r.allows("example.com", 8443) && !r.allows("evilexample.com", 8443));
        let r = HostRule::parse("[::1]:9").unwrap();
        assert!(r.allows("::1", 9));
        assert_eq!(r.to_string(), "[::1]:9");
        assert_eq!(HostRule::parse("127.0.0.1:80").unwrap().to_string(), "127.0.0.1:80");
        for bad in ["", "a:0", "a:x", "a b", "*", "a.*.com", "::1", "[::1", "a:70000"] {
            assert!(HostRule::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
