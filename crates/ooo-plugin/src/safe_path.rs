//! Directories made for a plugin (its output directory in the caller's workspace, its
//! state directories under the home) opened and created without following links.
//!
//! A workspace is not trusted: it can plant `.ouroboros -> ~` or
//! `.ouroboros/plugin-artifacts/<name> -> ~/.ssh` so that a directory "made for the
//! plugin" is really one of the caller's. [`open_dir_beneath`] walks the relative part
//! one component at a time from a descriptor of the trusted root, with `openat2(2)`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`) and `mkdirat(2)`,
//! so no link anywhere below the root is followed, and hands back a descriptor of the
//! final directory (for bind mounts by descriptor and `*at` calls) with what it made.
//! On kernels without `openat2` (before 5.6, or a seccomp filter answering `ENOSYS`) it
//! falls back to `openat(O_NOFOLLOW | O_DIRECTORY)` per component, which refuses links
//! just as well for single-component names.
//!
//! What does not live here: deciding which directories a plugin gets and removing them
//! (`firewall::setup`), the sandbox's mounts (`ooo-sandbox`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Why [`open_dir_beneath`] refused a path before or while walking it. It travels inside
/// the returned [`io::Error`]; get it back with [`refusal`].
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A component below the root is a symbolic link.
    #[error(
        "{path} is a symbolic link; ooo does not follow links the workspace planted \
         (hint: remove the link, e.g. `rm {path}`, and run the command again)"
    )]
    SymbolicLink { path: PathBuf },
    /// A component below the root exists and is not a directory.
    #[error(
        "{path} is not a directory; ooo needs a directory there \
         (hint: move the file away and run the command again)"
    )]
    NotADirectory { path: PathBuf },
    /// The relative part climbs (`..`) or is absolute.
    #[error(
        "{relative} must stay beneath {root}: `..`, absolute paths and prefixes are \
         refused (hint: give a relative path without `..`)"
    )]
    Escapes { root: PathBuf, relative: PathBuf },
}

/// The [`Refused`] reason carried by an error of [`open_dir_beneath`], if that is why it
/// failed (any other error is the operating system's, e.g. a permission denied).
pub fn refusal(err: &io::Error) -> Option<&Refused> {
    err.get_ref().and_then(|e| e.downcast_ref::<Refused>())
}

fn refused(kind: io::ErrorKind, why: Refused) -> io::Error {
    io::Error::new(kind, why)
}

/// Opens the directory `root/relative`, creating missing components when `create`, and
/// never following a symbolic link below `root`.
///
/// `root` is trusted: links in it are followed (it is opened with `O_PATH |
/// O_DIRECTORY`). Each component of `relative` is opened from the previous one's
/// descriptor with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`
/// (or `O_NOFOLLOW` when the kernel lacks `openat2`), and made with `mkdirat` (mode
/// `0o777` less the umask, as `create_dir_all` does) when missing and `create` is set.
///
/// Returns a descriptor of the final directory (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`)
/// and the directories this call created, outermost first, as `root.join(...)` paths,
/// so that the caller can remove them later. A symbolic link (kind `PermissionDenied`),
/// a non-directory (kind `NotADirectory`) or a `..`/absolute component (kind
/// `InvalidInput`) is refused with a [`Refused`] reason (see [`refusal`]); a missing
/// component without `create` is `NotFound`. Directories made before a refusal are
/// removed again (when still empty).
pub fn open_dir_beneath(
    root: &Path,
    relative: &Path,
    create: bool,
) -> io::Result<(OwnedFd, Vec<PathBuf>)> {
    let mut names = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => names.push(name.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(refused(
                    io::ErrorKind::InvalidInput,
                    Refused::Escapes { root: root.to_owned(), relative: relative.to_owned() },
                ));
            }
        }
    }
    let root_c = cstring(root.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path; the result is checked.
    let fd =
        unsafe { libc::open(root_c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    // SAFETY: a fresh descriptor owned by nobody else.
    let mut current = unsafe { OwnedFd::from_raw_fd(check(fd)?) };
    let mut made: Vec<PathBuf> = Vec::new();
    let mut path = root.to_owned();
    let result = (|| {
        if names.is_empty() {
            return open_component(&current, c".", true, &path);
        }
        for (i, name) in names.iter().enumerate() {
            path.push(name);
            let last = i + 1 == names.len();
            let name_c = cstring(name.as_bytes())?;
            let next = match open_component(&current, &name_c, last, &path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    // SAFETY: valid descriptor and NUL-terminated name. mkdirat never
                    // follows a link in its last component (an existing link is EEXIST).
                    let rc = unsafe { libc::mkdirat(current.as_raw_fd(), name_c.as_ptr(), 0o777) };
                    match check(rc) {
                        Ok(_) => made.push(path.clone()),
                        // Made by someone else meanwhile: open (and check) what is there.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                    open_component(&current, &name_c, last, &path)?
                }
                other => other?,
            };
            current = next;
        }
        Ok(current)
    })();
    match result {
        Ok(fd) => Ok((fd, made)),
        Err(e) => {
            for dir in made.iter().rev() {
                if std::fs::remove_dir(dir).is_err() {
                    break;
                }
            }
            Err(e)
        }
    }
}

/// Whether `openat2` answered `ENOSYS` (or a filter's `EPERM`) once: then every later
/// call uses the fallback straight away.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens one component `name` of directory `dir`, never following a link: `O_PATH` for
/// a component on the way, `O_RDONLY` for the last one. `path` is its full path, for
/// errors.
fn open_component(dir: &OwnedFd, name: &CStr, last: bool, path: &Path) -> io::Result<OwnedFd> {
    let access = if last { libc::O_RDONLY } else { libc::O_PATH };
    let flags = access | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let mut fd = -1;
    if !NO_OPENAT2.load(Ordering::Relaxed) && !tests_force_fallback() {
        // SAFETY: `open_how` is plain data; zero is a valid value of every field.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as u64;
        how.resolve =
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: valid descriptor, NUL-terminated name, `how` of the size passed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if rc >= 0 {
            fd = rc as libc::c_int;
        } else {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOSYS) | Some(libc::EPERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
                _ => return Err(classify(dir, name, path, err)),
            }
        }
    }
    if fd < 0 {
        // SAFETY: valid descriptor and NUL-terminated name.
        fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 {
            return Err(classify(dir, name, path, io::Error::last_os_error()));
        }
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Turns the kernel's answer for a component into a [`Refused`] reason when it is a link
/// (`ELOOP`, or `ENOTDIR` for `O_PATH | O_NOFOLLOW` on a link) or not a directory.
fn classify(dir: &OwnedFd, name: &CStr, path: &Path, err: io::Error) -> io::Error {
    if !matches!(err.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EXDEV)) {
        return err;
    }
    // SAFETY: `stat` is plain data filled by the kernel; valid descriptor and name.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
    };
    if rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        refused(io::ErrorKind::PermissionDenied, Refused::SymbolicLink { path: path.to_owned() })
    } else if rc == 0 && st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        refused(io::ErrorKind::NotADirectory, Refused::NotADirectory { path: path.to_owned() })
    } else {
        err
    }
}

/// Tests walk both ways on one thread without changing what other threads use.
#[cfg(test)]
fn tests_force_fallback() -> bool {
    tests::FORCE_FALLBACK.with(|f| f.get())
}

#[cfg(not(test))]
fn tests_force_fallback() -> bool {
    false
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rel(s: &str) -> &Path {
        Path::new(s)
    }

    thread_local! {
        pub(super) static FORCE_FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Both the `openat2` path and the `openat(O_NOFOLLOW)` fallback must pass the same
    /// tests.
    fn both(test: impl Fn()) {
        test();
        FORCE_FALLBACK.with(|f| f.set(true));
        test();
        FORCE_FALLBACK.with(|f| f.set(false));
    }

    fn is_empty(dir: &Path) -> bool {
        std::fs::read_dir(dir).unwrap().next().is_none()
    }

    #[test]
    fn creates_nested_dirs_and_reports_them_outermost_first() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            let (fd, made) =
                open_dir_beneath(root.path(), rel(".ouroboros/plugin-artifacts/p"), true).unwrap();
            let base = root.path().join(".ouroboros");
            assert_eq!(
                made,
                vec![base.clone(), base.join("plugin-artifacts"), base.join("plugin-artifacts/p")]
            );
            assert!(base.join("plugin-artifacts/p").is_dir());
            // The descriptor is the final directory, usable with *at calls.
            let name = c"probe";
            // SAFETY: valid descriptor and name.
            let rc = unsafe { libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o700) };
            assert_eq!(rc, 0);
            assert!(base.join("plugin-artifacts/p/probe").is_dir());
        });
    }

    #[test]
    fn works_when_the_dirs_exist_and_makes_nothing() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(root.path().join("a/b")).unwrap();
            let (_fd, made) = open_dir_beneath(root.path(), rel("a/b"), true).unwrap();
            assert!(made.is_empty());
            let (_fd, made) = open_dir_beneath(root.path(), rel("a/b"), false).unwrap();
            assert!(made.is_empty());
            let (_fd, made) = open_dir_beneath(root.path(), rel(""), false).unwrap();
            assert!(made.is_empty());
        });
    }

    #[test]
    fn missing_without_create_is_not_found() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            let err = open_dir_beneath(root.path(), rel("a/b"), false).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            assert!(is_empty(root.path()));
        });
    }

    #[test]
    fn refuses_a_link_at_the_last_component_and_creates_nothing_through_it() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            let target = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(root.path().join(".ouroboros/plugin-artifacts")).unwrap();
            let link = root.path().join(".ouroboros/plugin-artifacts/p");
            symlink(target.path(), &link).unwrap();
            let err = open_dir_beneath(root.path(), rel(".ouroboros/plugin-artifacts/p/sub"), true)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert!(matches!(refusal(&err), Some(Refused::SymbolicLink { path }) if *path == link));
            assert!(err.to_string().contains("ooo does not follow links the workspace planted"));
            let err = open_dir_beneath(root.path(), rel(".ouroboros/plugin-artifacts/p"), true)
                .unwrap_err();
            assert!(matches!(refusal(&err), Some(Refused::SymbolicLink { .. })));
            assert!(is_empty(target.path()), "nothing may be made through the link");
        });
    }

    #[test]
    fn refuses_a_link_at_a_middle_component_and_creates_nothing_through_it() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            let target = tempfile::tempdir().unwrap();
            symlink(target.path(), root.path().join(".ouroboros")).unwrap();
            let err = open_dir_beneath(root.path(), rel(".ouroboros/plugin-artifacts/p"), true)
                .unwrap_err();
            match refusal(&err) {
                Some(Refused::SymbolicLink { path }) => {
                    assert_eq!(*path, root.path().join(".ouroboros"))
                }
                other => panic!("expected a link refusal, got {other:?} ({err})"),
            }
            assert!(is_empty(target.path()), "nothing may be made through the link");
        });
    }

    #[test]
    fn refuses_a_dangling_link_without_creating_its_target() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            let target = tempfile::tempdir().unwrap();
            let gone = target.path().join("gone");
            symlink(&gone, root.path().join("out")).unwrap();
            let err = open_dir_beneath(root.path(), rel("out"), true).unwrap_err();
            assert!(matches!(refusal(&err), Some(Refused::SymbolicLink { .. })));
            assert!(!gone.exists());
        });
    }

    #[test]
    fn refuses_parent_and_absolute_components_before_touching_anything() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            for bad in ["../x", "a/../../x", "/etc"] {
                let err = open_dir_beneath(root.path(), rel(bad), true).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
                assert!(matches!(refusal(&err), Some(Refused::Escapes { .. })), "{bad}");
            }
            assert!(is_empty(root.path()));
        });
    }

    #[test]
    fn refuses_a_file_in_the_way() {
        both(|| {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir(root.path().join("a")).unwrap();
            std::fs::write(root.path().join("a/file"), b"x").unwrap();
            let err = open_dir_beneath(root.path(), rel("a/file/c"), true).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotADirectory);
            assert!(matches!(refusal(&err), Some(Refused::NotADirectory { .. })));
            assert!(root.path().join("a/file").is_file());
        });
    }

    #[test]
    fn follows_links_in_the_trusted_root_itself() {
        both(|| {
            let real = tempfile::tempdir().unwrap();
            let holder = tempfile::tempdir().unwrap();
            let root = holder.path().join("root-link");
            symlink(real.path(), &root).unwrap();
            let (_fd, made) = open_dir_beneath(&root, rel("x"), true).unwrap();
            assert_eq!(made, vec![root.join("x")]);
            assert!(real.path().join("x").is_dir());
        });
    }
}
