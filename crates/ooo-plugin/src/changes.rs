//! Which files differ between two plugin trees (the installed one and the one an update
//! would install): added, removed, or changed in content, mode or link target. Only
//! regular files and symlinks count, as in the digest; nothing is followed.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// How one path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One path that differs, relative to the tree's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
}

/// The files of `before` and `after` that differ, by path. A missing `before` counts as
/// an empty tree.
pub fn between(before: &Path, after: &Path) -> io::Result<Vec<FileChange>> {
    let old = if before.exists() { fingerprints(before)? } else { BTreeMap::new() };
    let new = fingerprints(after)?;
    let mut out = Vec::new();
    for (path, print) in &new {
        match old.get(path) {
            None => out.push(FileChange { path: path.clone(), change: Change::Added }),
            Some(p) if p != print => {
                out.push(FileChange { path: path.clone(), change: Change::Changed })
            }
            Some(_) => {}
        }
    }
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        out.push(FileChange { path: path.clone(), change: Change::Removed });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// `relative path -> (kind and mode, sha256 of content or link target)`.
fn fingerprints(root: &Path) -> io::Result<BTreeMap<String, (u32, Vec<u8>)>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            if meta.is_dir() {
                pending.push(path);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path)?;
                let hash = Sha256::digest(target.as_os_str().as_encoded_bytes()).to_vec();
                out.insert(rel, (0o120000, hash));
            } else if meta.is_file() {
                let mut hasher = Sha256::new();
                io::copy(&mut fs::File::open(&path)?, &mut hasher)?;
                out.insert(rel, (meta.permissions().mode() & 0o111, hasher.finalize().to_vec()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_removed_changed_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            fs::create_dir_all(d.join("sub")).unwrap();
            fs::write(d.join("same.txt"), "x").unwrap();
        }
        fs::write(a.join("gone.txt"), "x").unwrap();
        fs::write(b.join("sub/new.txt"), "x").unwrap();
        fs::write(a.join("run.sh"), "1").unwrap();
        fs::write(b.join("run.sh"), "2").unwrap();
        fs::write(a.join("mode.sh"), "m").unwrap();
        fs::write(b.join("mode.sh"), "m").unwrap();
        fs::set_permissions(b.join("mode.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let changes: Vec<(String, Change)> =
            between(&a, &b).unwrap().into_iter().map(|c| (c.path, c.change)).collect();
        assert_eq!(
            changes,
            [
                ("gone.txt".into(), Change::Removed),
                ("mode.sh".into(), Change::Changed),
                ("run.sh".into(), Change::Changed),
                ("sub/new.txt".into(), Change::Added),
            ]
        );
    }
}
