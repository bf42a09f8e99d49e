//! Copying a plugin tree into the home: regular files (with their mode), directories and
//! symlinks as links. Anything else (FIFOs, sockets, devices) is refused before it is
//! opened, and a `.git` directory at the top is left behind (it is not the plugin).

use std::fs;
use std::io;
use std::path::Path;

pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    copy_dir(src, dst, true)
}

fn copy_dir(src: &Path, dst: &Path, top: bool) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if top && name == ".git" {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let ft = fs::symlink_metadata(&from)?.file_type();
        if ft.is_dir() {
            copy_dir(&from, &to, false)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file, directory or symlink", from.display()),
            ));
        }
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
