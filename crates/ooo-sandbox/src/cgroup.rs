//! Process and memory limits by cgroup, where the caller may create one (root, or a
//! delegated subtree): a child cgroup per sandbox with `pids.max` and a memory limit,
//! joined by `bwrap` before it starts (so everything in the sandbox is in it), removed
//! when the sandbox is dropped. They bind where rlimits do not: a root caller's process
//! count, shared memory, memfds and tmpfs pages. Without a writable hierarchy nothing is
//! created and the rlimits stand alone ([`crate::Confined::cgroup`] says which).
//! Both layouts are handled: cgroup v2 (one hierarchy) and v1 (`pids` and `memory`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::policy::Limits;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroups one sandbox runs in.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each, for the child to join by writing "0".
    procs: Vec<CString>,
}

impl Cgroup {
    /// Create the cgroups `limits` need where this process may; `None` when nowhere.
    pub(crate) fn create(limits: &Limits) -> Option<Cgroup> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let name = unique_name();
        let mut made = Cgroup { dirs: Vec::new(), procs: Vec::new() };
        if Path::new(ROOT).join("cgroup.controllers").exists() {
            let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
            let dir = Path::new(ROOT).join(path.trim_start_matches('/')).join(&name);
            made.try_add(
                &dir,
                &[("pids.max", limits.processes), ("memory.max", limits.memory_bytes)],
            );
        } else {
            for (controller, file, value) in [
                ("pids", "pids.max", limits.processes),
                ("memory", "memory.limit_in_bytes", limits.memory_bytes),
            ] {
                let Some(path) = v1_path(&own, controller) else { continue };
                let dir =
                    Path::new(ROOT).join(controller).join(path.trim_start_matches('/')).join(&name);
                made.try_add(&dir, &[(file, value)]);
            }
        }
        (!made.dirs.is_empty()).then_some(made)
    }

    /// Make `dir` and write its limits; on any failure leave no trace of it.
    fn try_add(&mut self, dir: &Path, limits: &[(&str, u64)]) {
        if let Some(parent) = dir.parent() {
            remove_stale(parent);
        }
        if std::fs::create_dir(dir).is_err() {
            return;
        }
        let written = limits
            .iter()
            .all(|(file, value)| std::fs::write(dir.join(file), value.to_string()).is_ok());
        let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes()).ok();
        match (written, procs) {
            (true, Some(procs)) => {
                self.dirs.push(dir.to_owned());
                self.procs.push(procs);
            }
            _ => {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }

    /// Whether the process count is bounded by one of them.
    pub(crate) fn bounds_processes(&self) -> bool {
        self.dirs.iter().any(|d| d.join("pids.max").exists())
    }

    /// Whether memory is bounded by one of them.
    pub(crate) fn bounds_memory(&self) -> bool {
        self.dirs
            .iter()
            .any(|d| d.join("memory.max").exists() || d.join("memory.limit_in_bytes").exists())
    }

    /// Where the limits are (for the audit).
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Join every cgroup: only system calls, safe between fork and exec.
    pub(crate) fn join_in_child(procs: &[CString]) -> std::io::Result<()> {
        for path in procs {
            // SAFETY: a NUL-terminated path; "0" moves the writing process itself.
            unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if !ok {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn procs(&self) -> Vec<CString> {
        self.procs.clone()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The sandbox ended before this is dropped; its last processes may take a moment
        // to leave. Anything still in it is the sandbox's (bwrap joined before it
        // started, and children stay in their parent's cgroup): a process that lost its
        // parent before it could die with it (bwrap killed as it started its child) is
        // killed here rather than left running.
        for dir in &self.dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                kill_members(dir);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// SIGKILL every process in the cgroup `dir` (`cgroup.kill` where the kernel has it).
fn kill_members(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else { return };
    for pid in procs.lines().filter_map(|l| l.trim().parse::<libc::pid_t>().ok()) {
        // SAFETY: kill(2) on a member of a cgroup only this sandbox's processes join.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Remove empty cgroups an `ooo` process that was killed left behind
/// (`ooo-sandbox-<pid>-<n>` whose pid is gone).
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("ooo-sandbox-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// This process's path in a v1 hierarchy (`4:memory:/a/b` → `/a/b`).
fn v1_path<'a>(own: &'a str, controller: &str) -> Option<&'a str> {
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == controller).then_some(path)
    })
}

fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("ooo-sandbox-{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where this process may make cgroups (root, a delegated tree): a process left in
    /// one when it is dropped is killed, and the cgroup removed.
    #[test]
    fn dropping_the_cgroup_kills_what_is_left_in_it() {
        let limits = Limits { processes: 64, ..Limits::default() };
        let Some(cgroup) = Cgroup::create(&limits) else {
            eprintln!("skipped: no cgroup can be made here");
            return;
        };
        let procs = cgroup.procs();
        let mut command = std::process::Command::new("sleep");
        command.arg("60");
        // SAFETY: join_in_child makes only system calls.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                Cgroup::join_in_child(&procs)
            });
        }
        let mut child = command.spawn().unwrap();
        let dirs = cgroup.dirs().to_vec();
        let members = std::fs::read_to_string(dirs[0].join("cgroup.procs")).unwrap();
        assert!(members.contains(&child.id().to_string()), "{members}");
        drop(cgroup);
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
        assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    }

    #[test]
    fn v1_paths_are_found_by_controller() {
        let own = "9:name=systemd:/\n8:pids:/x\n4:memory:/process_api/abc\n3:cpu,cpuacct:/\n0::/";
        assert_eq!(v1_path(own, "pids"), Some("/x"));
        assert_eq!(v1_path(own, "memory"), Some("/process_api/abc"));
        assert_eq!(v1_path(own, "cpuacct"), Some("/"));
        assert_eq!(v1_path(own, "blkio"), None);
    }
}
