//! The execution lock: one process at a time runs an execution.
//!
//! The process that starts or resumes execution `id` holds an exclusive `flock(2)` on
//! its lock file (`Home::execution_lock`, in the execution's directory under ooo's home)
//! from before its first record to its end; the kernel releases it when the process
//! dies, however it dies. A second `ooo run --resume` of the same execution is refused
//! while the lock is held ([`LockError::Held`], naming the holder's pid, which the holder
//! writes into the file). The owner recorded in `run.execution.started` / `.resumed`
//! (pid and start time) stays the ledger's account of who ran it; the lock is what makes
//! owning exclusive: two processes that both saw the execution stopped cannot both go
//! on, and a resumer folds the execution again once it holds the lock, so it never works
//! from records another process was still adding to.
//!
//! What does not live here: where the file is (`ooo_core::home::Home`), deciding whether
//! a recorded owner is alive ([`crate::events::owner_alive`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while this process runs an execution; dropping it releases the lock.
#[derive(Debug)]
pub struct ExecutionLock {
    execution: String,
    path: PathBuf,
    _file: File,
}

/// Why an execution could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("execution {execution} is being run by {}", holder(*pid))]
    Held { execution: String, pid: Option<u32> },
    #[error("cannot lock execution {execution} at {}: {source}", .path.display())]
    Io { execution: String, path: PathBuf, source: std::io::Error },
}

fn holder(pid: Option<u32>) -> String {
    pid.map_or_else(|| "another process".to_owned(), |pid| format!("pid {pid}"))
}

impl LockError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            LockError::Held { execution, .. } => {
                format!("`ooo status {execution} --follow` to watch, or `ooo cancel {execution}`")
            }
            LockError::Io { .. } => "check that $OUROBOROS_HOME is writable".into(),
        }
    }
}

impl ExecutionLock {
    /// Lock execution `execution` at `path` (its directory made, owner-only, when
    /// missing), without waiting: [`LockError::Held`] while another process holds it.
    pub fn acquire(path: &Path, execution: &str) -> Result<ExecutionLock, LockError> {
        let io = |source| LockError::Io {
            execution: execution.to_owned(),
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    execution: execution.to_owned(),
                    pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Who holds it, for the message of the process refused.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(ExecutionLock { execution: execution.to_owned(), path: path.to_owned(), _file: file })
    }

    /// The execution it locks.
    pub fn execution_id(&self) -> &str {
        &self.execution
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid the holder wrote (`None` while it has not yet, or when unreadable).
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_a_second_holder_naming_the_first_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/exec-x/lock");
        let first = ExecutionLock::acquire(&path, "x").unwrap();
        assert_eq!(first.execution_id(), "x");
        // flock(2) locks conflict between two opens of the file in one process too.
        let err = ExecutionLock::acquire(&path, "x").unwrap_err();
        assert!(
            matches!(err, LockError::Held { pid: Some(pid), .. } if pid == std::process::id()),
            "{err:?}"
        );
        let pid = std::process::id();
        assert_eq!(err.to_string(), format!("execution x is being run by pid {pid}"));
        assert!(
            err.hint().contains("ooo status x --follow") && err.hint().contains("ooo cancel x")
        );
        drop(first);
        // A child forked meanwhile by another test's thread shares the descriptor until
        // it execs: a refusal right after the release is tried again.
        let again = (0..1500)
            .find_map(|_| match ExecutionLock::acquire(&path, "x") {
                Ok(lock) => Some(lock),
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                }
            })
            .expect("the lock is free once released");
        assert_eq!(std::fs::read_to_string(again.path()).unwrap(), format!("{pid}\n"));
    }
}
