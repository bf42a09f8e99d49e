//! Copying a plugin tree into the home: regular files (with their mode), directories and
//! symlinks as links. Anything else (FIFOs, sockets, devices) is refused before it is
//! opened, and a `.git` directory at the top is left behind (it is not the plugin).
//! [`copy_listed`] copies only the files of a list (a work tree as git sees it), and
//! [`inside`] resolves a relative path without following any link on the way.

use std::fs;
use std::io;
use std::path::Path;

pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    copy_dir(src, dst, true, &|_| {})
}

/// [`copy_tree`], calling `copied` with the size of each regular file copied.
pub fn copy_tree_reporting(src: &Path, dst: &Path, copied: &dyn Fn(u64)) -> io::Result<()> {
    copy_dir(src, dst, true, copied)
}

/// The bytes of the regular files [`copy_tree`] would copy (errors count as nothing).
pub fn tree_bytes(src: &Path) -> u64 {
    fn walk(dir: &Path, top: bool) -> u64 {
        let Ok(entries) = fs::read_dir(dir) else { return 0 };
        entries
            .filter_map(Result::ok)
            .filter(|e| !(top && e.file_name() == ".git"))
            .map(|e| match fs::symlink_metadata(e.path()) {
                Ok(m) if m.is_dir() => walk(&e.path(), false),
                Ok(m) if m.is_file() => m.len(),
                _ => 0,
            })
            .sum()
    }
    walk(src, true)
}

/// Copy the files `listed` (relative to `src`) into `dst`, with the same rules; listed
/// paths that no longer exist are skipped (a tracked file deleted in the work tree).
pub fn copy_listed(src: &Path, listed: &[std::path::PathBuf], dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for rel in listed {
        let from = src.join(rel);
        let Ok(meta) = fs::symlink_metadata(&from) else { continue };
        let to = dst.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        copy_entry(&from, &to, meta.file_type(), &|_| {})?;
    }
    Ok(())
}

/// `base/rel`, refused when `rel` leaves `base` or passes through a symlink or a
/// non-directory on the way (the last component itself may be anything, or missing).
pub fn inside(base: &Path, rel: &str) -> io::Result<std::path::PathBuf> {
    let mut path = base.to_owned();
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{rel} leaves its directory"),
            ));
        }
        path.push(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&path) {
            Ok(meta) if !last && !meta.file_type().is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a link or a file, not a directory", parts[..=i].join("/")),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(path)
}

fn copy_entry(from: &Path, to: &Path, ft: fs::FileType, copied: &dyn Fn(u64)) -> io::Result<()> {
    if ft.is_dir() {
        copy_dir(from, to, false, copied)
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)
    } else if ft.is_file() {
        fs::copy(from, to).map(copied)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file, directory or symlink", from.display()),
        ))
    }
}

fn copy_dir(src: &Path, dst: &Path, top: bool, copied: &dyn Fn(u64)) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if top && name == ".git" {
            continue;
        }
        let from = entry.path();
        copy_entry(&from, &dst.join(&name), fs::symlink_metadata(&from)?.file_type(), copied)?;
    }
    Ok(())
}

/// Remove a directory tree if it exists.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
