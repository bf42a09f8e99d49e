//! Private copies of an agent CLI's own directories for a confined worker.
//!
//! A worker must not write the caller's CLI directories (`CLAUDE_CONFIG_DIR`,
//! `CODEX_HOME`, `GEMINI_CLI_HOME`, the XDG directories): a settings file left there
//! (Claude Code's hooks, Codex's `notify`, git's `core.fsmonitor` under
//! `XDG_CONFIG_HOME`) would run outside any sandbox the next time the user runs that
//! program. So each such variable the caller sets is pointed at a private directory,
//! seeded before every launch with the top-level files of the caller's (settings and
//! credentials; never sessions, logs or anything deeper) and granted to the worker
//! instead. Sessions the CLI writes there stay for the next attempt's `--resume`.
//!
//! A file is copied when the private copy is missing or older than the caller's: a
//! credential a CLI refreshed inside the copy (refresh tokens are single-use) is not put
//! back to the caller's stale one, and a newer login of the caller's reaches the worker.
//!
//! The private directories sit under a base the worker cannot write (only each
//! variable's own directory is granted to it), and everything below the base is reached
//! with `openat(O_NOFOLLOW)`; a file is written under a fresh name (`O_EXCL`) and renamed
//! over its target, which replaces a link rather than following it: a link a worker
//! planted, even while another worker runs, never sends a copy outside. Directories a
//! worker made unreadable are made the caller's again (`fchmod`), and launches of one
//! process prepare one at a time.
//!
//! What does not live here: what the worker is granted (`sandboxed`).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variables that name a CLI's directory, and the subdirectory whose top-level
/// files are copied (`""`: the directory itself).
pub const CLI_DIRS: &[(&str, &str)] = &[
    ("CLAUDE_CONFIG_DIR", ""),
    ("CODEX_HOME", ""),
    ("GEMINI_CLI_HOME", ".gemini"),
    // OpenCode keeps its configuration and credentials under the XDG directories.
    ("XDG_CONFIG_HOME", "opencode"),
    ("XDG_DATA_HOME", "opencode"),
    ("XDG_STATE_HOME", "opencode"),
    ("XDG_CACHE_HOME", ""),
];

/// The largest file copied; bigger ones are not settings.
const MAX_COPIED: u64 = 1 << 20;

/// Launches of this process prepare one at a time (workers of one level start at once
/// and share the directories).
static PREPARING: Mutex<()> = Mutex::new(());

/// For each variable of [`CLI_DIRS`] that `lookup` gives as an existing absolute
/// directory: make `<base>/<VAR>`, copy the caller's top-level files into it, and return
/// `(VAR, private directory)`. `base` must not be writable by the worker.
pub fn prepare(
    base: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> io::Result<Vec<(&'static str, PathBuf)>> {
    let _one_at_a_time = PREPARING.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::new();
    let mut base_fd: Option<OwnedFd> = None;
    for &(var, sub) in CLI_DIRS {
        let Some(theirs) = lookup(var).map(PathBuf::from) else { continue };
        if !theirs.is_absolute() || !theirs.is_dir() {
            continue;
        }
        if base_fd.is_none() {
            std::fs::create_dir_all(base)?;
            base_fd = Some(open_dir(None, base.as_os_str().as_bytes())?);
        }
        let base_fd = base_fd.as_ref().expect("opened above");
        let ours = subdir(base_fd, var)?;
        let (source, target) = if sub.is_empty() {
            (theirs.clone(), ours)
        } else {
            (theirs.join(sub), subdir(&ours, sub)?)
        };
        copy_top_level(&source, &target)?;
        out.push((var, base.join(var)));
    }
    Ok(out)
}

/// The directory `name` in `parent`, made when missing, and the caller's to write: a
/// link or a file there is replaced by a directory, and a directory a worker made
/// unreadable or read-only is given back its mode.
fn subdir(parent: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    let fd = match open_dir(Some(parent), name.as_bytes()) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            chmod_at(parent, name.as_bytes())?;
            open_dir(Some(parent), name.as_bytes())?
        }
        Err(e) => {
            if e.raw_os_error() != Some(libc::ENOENT) {
                // A link (ELOOP) or not a directory (ENOTDIR): remove it, whatever it was.
                unlink(parent, name.as_bytes())?;
            }
            let c = cstring(name.as_bytes())?;
            // SAFETY: mkdirat(2) with a valid directory descriptor and a NUL-terminated
            // name.
            if unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), 0o700) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
            }
            open_dir(Some(parent), name.as_bytes())?
        }
    };
    // SAFETY: fchmod(2) on a descriptor owned here.
    if unsafe { libc::fchmod(fd.as_raw_fd(), 0o700) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Copy the regular files directly in `source` (following the caller's own links) into
/// the directory `target` where the copy there is missing, not a plain file, or older.
fn copy_top_level(source: &Path, target: &OwnedFd) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(source) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if !meta.is_file() || meta.len() > MAX_COPIED {
            continue;
        }
        let name = entry.file_name();
        let name = name.as_bytes();
        if copy_is_current(target, name, &meta) {
            continue;
        }
        let mut content = Vec::new();
        File::open(&path)?.take(MAX_COPIED).read_to_end(&mut content)?;
        replace(target, name, &content)?;
    }
    Ok(())
}

/// Whether `name` in `dir` is a plain file at least as new as the caller's.
fn copy_is_current(dir: &OwnedFd, name: &[u8], theirs: &std::fs::Metadata) -> bool {
    let Ok(c) = cstring(name) else { return false };
    // SAFETY: an all-zero stat is a valid value to be overwritten by fstatat(2).
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat(2) with a valid directory descriptor, a NUL-terminated name and a
    // stat buffer of the right type; links are not followed.
    let found =
        unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) }
            == 0;
    let ours = (st.st_mtime, st.st_mtime_nsec);
    let theirs = (theirs.mtime(), theirs.mtime_nsec());
    found && st.st_mode & libc::S_IFMT == libc::S_IFREG && ours >= theirs
}

/// Write `content` as `name` in `dir`: under a fresh name made with `O_EXCL`, then
/// renamed over `name` (a link there is replaced, never followed).
fn replace(dir: &OwnedFd, name: &[u8], content: &[u8]) -> io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let (temp, fd) = loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = cstring(format!(".ooo-copy-{}-{n}", std::process::id()).as_bytes())?;
        // SAFETY: openat(2) with a valid directory descriptor and a NUL-terminated name.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), temp.as_ptr(), flags, 0o600) };
        if fd >= 0 {
            break (temp, fd);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    };
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    let target = cstring(name)?;
    let written = file.write_all(content);
    // SAFETY: renameat(2) within one valid directory descriptor, NUL-terminated names.
    let renamed = written.is_ok()
        && unsafe {
            libc::renameat(dir.as_raw_fd(), temp.as_ptr(), dir.as_raw_fd(), target.as_ptr())
        } == 0;
    if renamed {
        return Ok(());
    }
    let e = written.err().unwrap_or_else(io::Error::last_os_error);
    let _ = unlink(dir, temp.as_bytes());
    Err(e)
}

/// Give `name` in `parent` (a directory a worker may have made unreadable) mode 0700.
fn chmod_at(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let c = cstring(name)?;
    // SAFETY: fchmodat(2) with a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::fchmodat(parent.as_raw_fd(), c.as_ptr(), 0o700, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Open a directory without following a link at its last component (`parent`: relative
/// to it; `None`: `path` as given, links followed).
fn open_dir(parent: Option<&OwnedFd>, path: &[u8]) -> io::Result<OwnedFd> {
    let c = cstring(path)?;
    let (dirfd, extra) = match parent {
        Some(fd) => (fd.as_raw_fd(), libc::O_NOFOLLOW),
        None => (libc::AT_FDCWD, 0),
    };
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | extra;
    // SAFETY: openat(2) with a valid (or AT_FDCWD) descriptor and a NUL-terminated path.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Remove `name` in `parent` (a file or a link).
fn unlink(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let c = cstring(name)?;
    // SAFETY: unlinkat(2) with a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::unlinkat(parent.as_raw_fd(), c.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in a path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn lookup_from(vars: Vec<(&'static str, PathBuf)>) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.display().to_string())
    }

    #[test]
    fn top_level_files_are_copied_and_nothing_deeper() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("claude");
        std::fs::create_dir_all(theirs.join("projects/p")).unwrap();
        std::fs::write(theirs.join("settings.json"), "{}").unwrap();
        std::fs::write(theirs.join(".credentials.json"), "secret").unwrap();
        std::fs::write(theirs.join("projects/p/session.jsonl"), "old").unwrap();
        let xdg = dir.path().join("config");
        std::fs::create_dir_all(xdg.join("opencode")).unwrap();
        std::fs::create_dir_all(xdg.join("git")).unwrap();
        std::fs::write(xdg.join("opencode/opencode.json"), "{\"model\":\"m\"}").unwrap();
        std::fs::write(xdg.join("git/config"), "[user]\n").unwrap();
        let base = dir.path().join("private");
        let lookup = lookup_from(vec![
            ("CLAUDE_CONFIG_DIR", theirs.clone()),
            ("XDG_CONFIG_HOME", xdg.clone()),
            ("CODEX_HOME", dir.path().join("missing")),
        ]);
        let dirs = prepare(&base, &lookup).unwrap();
        assert_eq!(
            dirs,
            [
                ("CLAUDE_CONFIG_DIR", base.join("CLAUDE_CONFIG_DIR")),
                ("XDG_CONFIG_HOME", base.join("XDG_CONFIG_HOME"))
            ]
        );
        let ours = base.join("CLAUDE_CONFIG_DIR");
        assert_eq!(std::fs::read_to_string(ours.join(".credentials.json")).unwrap(), "secret");
        assert!(ours.join("settings.json").is_file());
        assert!(!ours.join("projects").exists(), "sessions are not copied");
        let config = base.join("XDG_CONFIG_HOME");
        assert!(config.join("opencode/opencode.json").is_file());
        assert!(!config.join("git").exists(), "only the CLI's own subdirectory");
    }

    fn set_mtime(path: &Path, seconds_ago: u64) {
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds_ago);
        File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
    }

    /// A CLI refreshes its credentials inside the copy (the old refresh token then no
    /// longer works): the caller's older file does not overwrite it. A newer file of the
    /// caller's (a new login) does.
    #[test]
    fn a_newer_copy_is_kept_and_a_newer_original_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("codex");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("auth.json"), "old token").unwrap();
        set_mtime(&theirs.join("auth.json"), 3600);
        let base = dir.path().join("private");
        let lookup = lookup_from(vec![("CODEX_HOME", theirs.clone())]);
        prepare(&base, &lookup).unwrap();
        let ours = base.join("CODEX_HOME/auth.json");
        assert_eq!(std::fs::read_to_string(&ours).unwrap(), "old token");
        std::fs::write(&ours, "refreshed token").unwrap();
        prepare(&base, &lookup).unwrap();
        assert_eq!(std::fs::read_to_string(&ours).unwrap(), "refreshed token");
        set_mtime(&ours, 60);
        std::fs::write(theirs.join("auth.json"), "new login").unwrap();
        prepare(&base, &lookup).unwrap();
        assert_eq!(std::fs::read_to_string(&ours).unwrap(), "new login");
        let names: Vec<_> = std::fs::read_dir(base.join("CODEX_HOME")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    /// A worker that made its directory unreadable does not stop the next launch.
    #[test]
    fn a_directory_made_unreadable_is_given_back() {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            eprintln!("skipped: root reads any directory, so the case cannot arise");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("claude");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("settings.json"), "{}").unwrap();
        let base = dir.path().join("private");
        let lookup = lookup_from(vec![("CLAUDE_CONFIG_DIR", theirs.clone())]);
        prepare(&base, &lookup).unwrap();
        let ours = base.join("CLAUDE_CONFIG_DIR");
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o000)).unwrap();
        prepare(&base, &lookup).unwrap();
        assert!(ours.join("settings.json").is_file());
    }

    #[test]
    fn links_a_worker_planted_are_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("gemini-home");
        std::fs::create_dir_all(theirs.join(".gemini")).unwrap();
        std::fs::write(theirs.join(".gemini/settings.json"), "{}").unwrap();
        let codex = dir.path().join("codex");
        std::fs::create_dir_all(&codex).unwrap();
        std::fs::write(codex.join("config.toml"), "model = \"m\"\n").unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("config.toml"), "mine\n").unwrap();
        let base = dir.path().join("private");
        let lookup =
            lookup_from(vec![("GEMINI_CLI_HOME", theirs.clone()), ("CODEX_HOME", codex.clone())]);
        prepare(&base, &lookup).unwrap();
        // Between launches the worker swaps a directory and a file for links.
        let gemini_dir = base.join("GEMINI_CLI_HOME/.gemini");
        std::fs::remove_dir_all(&gemini_dir).unwrap();
        symlink(&victim, &gemini_dir).unwrap();
        let codex_config = base.join("CODEX_HOME/config.toml");
        std::fs::remove_file(&codex_config).unwrap();
        symlink(victim.join("config.toml"), &codex_config).unwrap();
        prepare(&base, &lookup).unwrap();
        assert_eq!(std::fs::read_to_string(victim.join("config.toml")).unwrap(), "mine\n");
        assert!(!victim.join("settings.json").exists(), "a copy went through the link");
        assert!(std::fs::symlink_metadata(&gemini_dir).unwrap().is_dir());
        assert!(std::fs::symlink_metadata(&codex_config).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&codex_config).unwrap(), "model = \"m\"\n");
    }
}
