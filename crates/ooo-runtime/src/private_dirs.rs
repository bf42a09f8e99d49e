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
//! The private directories sit under a base the worker cannot write (only each
//! variable's own directory is granted to it), and everything below the base is reached
//! with `openat(O_NOFOLLOW)` and files made with `O_EXCL`: a link a worker planted
//! between two launches, even while another worker runs, never sends a copy outside.
//!
//! What does not live here: what the worker is granted (`sandboxed`).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

/// For each variable of [`CLI_DIRS`] that `lookup` gives as an existing absolute
/// directory: make `<base>/<VAR>`, copy the caller's top-level files into it, and return
/// `(VAR, private directory)`. `base` must not be writable by the worker.
pub fn prepare(
    base: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> io::Result<Vec<(&'static str, PathBuf)>> {
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

/// The directory `name` in `parent`, made when missing; a link or a file there is
/// replaced by a directory.
fn subdir(parent: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    match open_dir(Some(parent), name.as_bytes()) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        // A link (ELOOP) or not a directory (ENOTDIR): remove it, whatever it was.
        Err(_) => unlink(parent, name.as_bytes(), false)?,
    }
    let c = cstring(name.as_bytes())?;
    // SAFETY: mkdirat(2) with a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), 0o700) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    open_dir(Some(parent), name.as_bytes())
}

/// Copy the regular files directly in `source` (following the caller's own links) into
/// the directory `target`, each replacing what was there.
fn copy_top_level(source: &Path, target: &OwnedFd) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(source) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if !meta.is_file() || meta.len() > MAX_COPIED {
            continue;
        }
        let mut content = Vec::new();
        File::open(&path)?.take(MAX_COPIED).read_to_end(&mut content)?;
        let name = entry.file_name();
        let name = name.as_bytes();
        if let Err(e) = unlink(target, name, false)
            && e.raw_os_error() != Some(libc::ENOENT)
        {
            // A directory by that name: leave it, and the file is not copied.
            if e.raw_os_error() == Some(libc::EISDIR) || e.raw_os_error() == Some(libc::EPERM) {
                continue;
            }
            return Err(e);
        }
        let c = cstring(name)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        // SAFETY: openat(2) with a valid directory descriptor and a NUL-terminated name;
        // the descriptor returned is owned here.
        let fd =
            unsafe { libc::openat(target.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let mut file = unsafe { File::from_raw_fd(fd) };
        file.write_all(&content)?;
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

/// Remove `name` in `parent` (a file or a link; `dir`: an empty directory).
fn unlink(parent: &OwnedFd, name: &[u8], dir: bool) -> io::Result<()> {
    let c = cstring(name)?;
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: unlinkat(2) with a valid directory descriptor and a NUL-terminated name.
    if unsafe { libc::unlinkat(parent.as_raw_fd(), c.as_ptr(), flags) } != 0 {
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
        // A worker's change is replaced by the caller's file at the next launch.
        std::fs::write(ours.join("settings.json"), "{\"hooks\":{}}").unwrap();
        prepare(&base, &lookup).unwrap();
        assert_eq!(std::fs::read_to_string(ours.join("settings.json")).unwrap(), "{}");
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
