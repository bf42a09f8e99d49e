//! Ending a confined process at once, with everything it started: what a caller does at
//! a timeout or a cancel. What does not live here: starting it (`confined`), and the
//! cgroup's own clean-up when the sandbox is dropped (`cgroup`).

use std::process::Child;
use std::time::{Duration, Instant};

/// Kill the sandbox with everything in it. In a partial sandbox that is the session the
/// command leads. With namespaces it is `bwrap` and its child, the pid namespace's init
/// (everything inside dies with it): that child dies with `bwrap` only once it has asked
/// to (`--die-with-parent`), and a `bwrap` killed in the moment before would leave the
/// sandbox running. So `bwrap` is stopped first (it starts no child after that), its
/// children are killed, then it is.
pub fn kill(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: plain kill(2) calls. `pid` is our unreaped child, so it is not reused;
        // its children are not reaped (so not reused) while it is stopped.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGSTOP);
        }
        wait_stopped(pid);
        for inner in children_of(pid) {
            // SAFETY: as above.
            unsafe {
                libc::kill(inner, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// Wait (at most 100 ms) until `pid` is stopped or gone.
fn wait_stopped(pid: i32) {
    let deadline = Instant::now() + Duration::from_millis(100);
    while Instant::now() < deadline {
        match proc_stat(pid) {
            Some((state, _)) if !matches!(state, 'T' | 't' | 'Z' | 'X') => {
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

/// The processes whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|p| proc_stat(*p).is_some_and(|(_, parent)| parent == pid))
        .collect()
}

/// A process's state letter and parent pid, from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: the command name may hold anything, even `)`.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}
