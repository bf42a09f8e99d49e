//! The canonical tree digest of a plugin directory, byte-compatible with upstream.
//!
//! Records are `MODE \0 RELPATH \0 HEX \0` for every regular file and symlink (never
//! followed, also when it points at a directory): MODE is `0777` for a symlink, `0755`
//! when the owner-execute bit is set, else `0644`; HEX is the sha256 of the content, or
//! of the link target text for a symlink. The whole records are sorted as bytes,
//! concatenated and hashed: `sha256:<hex>`. Symlinks whose target (normalised lexically
//! against their directory) leaves the root, and anything that is not a directory,
//! regular file or symlink, are errors naming the path.
//!
//! Files are hashed in parallel and streamed. A [`StatCache`] keyed by
//! (dev, inode, size, mtime_ns, ctime_ns) skips re-reading unchanged files; the ctime in
//! the key is set by the kernel on every change and cannot be forged by an unprivileged
//! user, so the cache does not weaken tamper detection.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a tree cannot be digested.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("symlink {path} points outside the plugin tree (target {target:?})")]
    EscapingSymlink { path: String, target: String },
    #[error("{path} is a {kind}; plugin trees may hold only files, directories and symlinks")]
    UnsupportedFileType { path: String, kind: &'static str },
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DigestError + '_ {
    move |source| DigestError::Io { path: path.to_owned(), source }
}

/// One record of the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub mode: &'static str,
    /// `/`-separated path relative to the root.
    pub path: String,
    /// Lowercase hex sha256 of the content (or of the link target).
    pub sha256: String,
}

impl Record {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.path.len() + 72);
        out.extend_from_slice(self.mode.as_bytes());
        out.push(0);
        out.extend_from_slice(self.path.as_bytes());
        out.push(0);
        out.extend_from_slice(self.sha256.as_bytes());
        out.push(0);
        out
    }
}

/// A computed digest and the records it covers (for reporting what changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeDigest {
    pub digest: String,
    pub records: Vec<Record>,
    /// Bytes read from disk (files answered by the stat cache are not read).
    pub bytes_read: u64,
}

/// Identity of a file's current content as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl StatKey {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }
}

/// File hashes keyed by [`StatKey`], persisted as JSON under the home.
#[derive(Debug)]
pub struct StatCache {
    entries: Mutex<HashMap<StatKey, String>>,
    dirty: Mutex<bool>,
    racy_window_ns: i128,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<(StatKey, String)>,
}

/// A file changed less than this long before it was hashed is not cached: a write in
/// the same clock tick could leave size and times unchanged (the "racy git" problem).
const RACY_WINDOW_NS: i128 = 2_000_000_000;

impl StatCache {
    /// Load the cache at `path`; a missing or unreadable cache is an empty one.
    pub fn load(path: &Path) -> Self {
        let entries = fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|f| f.version == 1)
            .map(|f| f.entries.into_iter().collect())
            .unwrap_or_default();
        Self {
            entries: Mutex::new(entries),
            dirty: Mutex::new(false),
            racy_window_ns: RACY_WINDOW_NS,
        }
    }

    /// Change how recently changed a file may be and still be cached (tests use zero).
    pub fn with_racy_window(mut self, window: std::time::Duration) -> Self {
        self.racy_window_ns = window.as_nanos() as i128;
        self
    }

    fn get(&self, key: &StatKey) -> Option<String> {
        self.entries.lock().expect("stat cache lock").get(key).cloned()
    }

    fn put(&self, key: StatKey, hash: String) {
        let now =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0);
        if now - key.ctime_ns.max(key.mtime_ns) < self.racy_window_ns {
            return;
        }
        self.entries.lock().expect("stat cache lock").insert(key, hash);
        *self.dirty.lock().expect("stat cache lock") = true;
    }

    /// Number of cached file hashes.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("stat cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep only entries for the given keys (drop files that no longer exist).
    pub fn retain(&self, keep: &dyn Fn(&StatKey) -> bool) {
        let mut entries = self.entries.lock().expect("stat cache lock");
        let before = entries.len();
        entries.retain(|k, _| keep(k));
        if entries.len() != before {
            *self.dirty.lock().expect("stat cache lock") = true;
        }
    }

    /// Write the cache atomically (temp file + rename) if it changed.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if !*self.dirty.lock().expect("stat cache lock") {
            return Ok(());
        }
        let entries: Vec<(StatKey, String)> = self
            .entries
            .lock()
            .expect("stat cache lock")
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let bytes =
            serde_json::to_vec(&CacheFile { version: 1, entries }).map_err(io::Error::other)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        ooo_core::atomic::write_atomic(path, &bytes)
    }
}

/// A file found by the walk, waiting to be hashed.
struct Pending {
    path: PathBuf,
    relative: String,
    mode: &'static str,
    key: StatKey,
}

/// Called with (bytes done, bytes total) as files are hashed, from any thread.
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Compute the digest of the tree at `root`.
pub fn tree_digest(root: &Path, cache: Option<&StatCache>) -> Result<TreeDigest, DigestError> {
    tree_digest_with_progress(root, cache, None)
}

/// [`tree_digest`], reporting progress in bytes (cached files count as done at once).
pub fn tree_digest_with_progress(
    root: &Path,
    cache: Option<&StatCache>,
    progress: Option<ProgressFn<'_>>,
) -> Result<TreeDigest, DigestError> {
    let root = fs::canonicalize(root).map_err(io_err(root))?;
    if !fs::metadata(&root).map_err(io_err(&root))?.is_dir() {
        return Err(DigestError::NotADirectory(root));
    }
    let mut records = Vec::new();
    let mut files = Vec::new();
    walk(&root, &root, &mut records, &mut files)?;
    let read = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicU64::new(0);
    let total: u64 = files.iter().map(|f| f.key.size).sum();
    let hash_one = |f: Pending| {
        let cached = cache.and_then(|c| c.get(&f.key));
        let sha256 = match cached {
            Some(hash) => hash,
            None => {
                let hash = hash_file(&f.path, &f.key)?;
                read.fetch_add(f.key.size, std::sync::atomic::Ordering::Relaxed);
                if let Some(c) = cache {
                    c.put(f.key, hash.clone());
                }
                hash
            }
        };
        if let Some(report) = progress {
            let now = done.fetch_add(f.key.size, std::sync::atomic::Ordering::Relaxed) + f.key.size;
            report(now, total);
        }
        Ok(Record { mode: f.mode, path: f.relative, sha256 })
    };
    // Small trees (the common plugin) are hashed on this thread: starting the pool
    // costs more than it saves.
    let hashed: Vec<Record> = if files.len() < 32 {
        files.into_iter().map(hash_one).collect::<Result<_, DigestError>>()?
    } else {
        files.into_par_iter().map(hash_one).collect::<Result<_, DigestError>>()?
    };
    records.extend(hashed);
    let mut bytes: Vec<Vec<u8>> = records.iter().map(Record::bytes).collect();
    bytes.sort();
    let mut hasher = Sha256::new();
    for b in &bytes {
        hasher.update(b);
    }
    records.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(TreeDigest {
        digest: format!("sha256:{}", hex(&hasher.finalize())),
        records,
        bytes_read: read.into_inner(),
    })
}

fn walk(
    root: &Path,
    dir: &Path,
    records: &mut Vec<Record>,
    files: &mut Vec<Pending>,
) -> Result<(), DigestError> {
    let mut entries: Vec<fs::DirEntry> =
        fs::read_dir(dir).map_err(io_err(dir))?.collect::<Result<_, _>>().map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // vanished meanwhile
            Err(e) => return Err(io_err(&path)(e)),
        };
        let relative = relative_path(root, &path);
        let ft = meta.file_type();
        if ft.is_dir() {
            walk(root, &path, records, files)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err(&path))?;
            let candidate = if target.is_absolute() {
                normalize(&target)
            } else {
                normalize(&path.parent().unwrap_or(root).join(&target))
            };
            let target_text = target.as_os_str().as_bytes();
            if !candidate.starts_with(root) {
                return Err(DigestError::EscapingSymlink {
                    path: relative,
                    target: String::from_utf8_lossy(target_text).into_owned(),
                });
            }
            records.push(Record {
                mode: "0777",
                path: relative,
                sha256: hex(&Sha256::digest(target_text)),
            });
        } else if ft.is_file() {
            let mode = if meta.mode() & 0o100 != 0 { "0755" } else { "0644" };
            files.push(Pending { path, relative, mode, key: StatKey::of(&meta) });
        } else {
            use std::os::unix::fs::FileTypeExt;
            let kind = if ft.is_fifo() {
                "FIFO"
            } else if ft.is_socket() {
                "socket"
            } else if ft.is_block_device() || ft.is_char_device() {
                "device"
            } else {
                "special file"
            };
            return Err(DigestError::UnsupportedFileType { path: relative, kind });
        }
    }
    Ok(())
}

fn relative_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    String::from_utf8_lossy(rel.as_os_str().as_bytes()).into_owned()
}

/// Lexical normalisation (`os.path.normpath`): drop `.`, fold `..` into the parent.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Hash a file, making sure the handle opened is the file that was listed (not a
/// symlink or another file swapped in between), so the hash is cached under its own key.
fn hash_file(path: &Path, listed: &StatKey) -> Result<String, DigestError> {
    let mut file = fs::File::open(path).map_err(io_err(path))?;
    let opened = file.metadata().map_err(io_err(path))?;
    if opened.dev() != listed.dev || opened.ino() != listed.ino || !opened.is_file() {
        return Err(DigestError::Io {
            path: path.to_owned(),
            source: io::Error::other("the file was replaced while the tree was being hashed"),
        });
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn write(path: &Path, text: &str, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The contract's vector (computed by upstream's implementation).
    #[test]
    fn contract_vector() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a.txt"), "hello\n", 0o644);
        write(&root.join("run.sh"), "#!/bin/sh\necho hi\n", 0o755);
        write(&root.join("sub/b.py"), "x", 0o644);
        symlink("a.txt", root.join("link")).unwrap();
        let d = tree_digest(root, None).unwrap();
        assert_eq!(
            d.digest,
            "sha256:b8e21b61f8cb74d56efc576ac423b45f4a9e331735442653d8394a47630fd9bc"
        );
        assert_eq!(d.records.len(), 4);
    }

    #[test]
    fn progress_reaches_the_total() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            write(&dir.path().join(format!("f{i}")), &"x".repeat(i * 10), 0o644);
        }
        let last = std::sync::Mutex::new((0u64, 0u64));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let report = |done: u64, total: u64| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut l = last.lock().unwrap();
            if done > l.0 {
                *l = (done, total);
            }
        };
        tree_digest_with_progress(dir.path(), None, Some(&report)).unwrap();
        assert_eq!(calls.into_inner(), 20);
        let (done, total) = *last.lock().unwrap();
        assert_eq!((done, total), (1900, 1900));
    }

    #[test]
    fn empty_tree() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            tree_digest(dir.path(), None).unwrap().digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn escaping_symlinks_and_fifos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        write(&root.join("ok.txt"), "x", 0o644);
        symlink("../outside", root.join("sub-link")).unwrap();
        let err = tree_digest(&root, None).unwrap_err();
        assert!(
            matches!(&err, DigestError::EscapingSymlink { path, .. } if path == "sub-link"),
            "{err}"
        );
        fs::remove_file(root.join("sub-link")).unwrap();
        symlink("/etc/passwd", root.join("abs")).unwrap();
        assert!(matches!(tree_digest(&root, None), Err(DigestError::EscapingSymlink { .. })));
        fs::remove_file(root.join("abs")).unwrap();
        // A dangling link inside the tree, and a link to a directory, are fine.
        symlink("missing.txt", root.join("dangling")).unwrap();
        fs::create_dir(root.join("d")).unwrap();
        symlink("d", root.join("dir-link")).unwrap();
        tree_digest(&root, None).unwrap();
        let status =
            std::process::Command::new("mkfifo").arg(root.join("d/pipe")).status().unwrap();
        assert!(status.success());
        let err = tree_digest(&root, None).unwrap_err();
        assert!(
            matches!(&err, DigestError::UnsupportedFileType { path, kind: "FIFO" } if path == "d/pipe"),
            "{err}"
        );
    }

    #[test]
    fn any_change_changes_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a.txt"), "one", 0o644);
        let first = tree_digest(root, None).unwrap().digest;
        fs::set_permissions(root.join("a.txt"), fs::Permissions::from_mode(0o744)).unwrap();
        let exec = tree_digest(root, None).unwrap().digest;
        assert_ne!(first, exec, "the owner-execute bit counts");
        fs::set_permissions(root.join("a.txt"), fs::Permissions::from_mode(0o654)).unwrap();
        assert_eq!(tree_digest(root, None).unwrap().digest, first, "other mode bits do not");
        fs::rename(root.join("a.txt"), root.join("b.txt")).unwrap();
        assert_ne!(tree_digest(root, None).unwrap().digest, first, "names count");
    }

    #[test]
    fn cache_answers_unchanged_files_and_misses_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        write(&root.join("a.txt"), "aaaa", 0o644);
        write(&root.join("b.txt"), "bbbb", 0o644);
        let cache_path = dir.path().join("cache.json");
        let no_window = std::time::Duration::ZERO;
        let cache = StatCache::load(&cache_path).with_racy_window(no_window);
        let cold = tree_digest(&root, Some(&cache)).unwrap();
        assert_eq!(cold.bytes_read, 8);
        cache.save(&cache_path).unwrap();
        let cache = StatCache::load(&cache_path).with_racy_window(no_window);
        assert_eq!(cache.len(), 2);
        let warm = tree_digest(&root, Some(&cache)).unwrap();
        assert_eq!(warm.digest, cold.digest);
        assert_eq!(warm.bytes_read, 0, "unchanged files come from the cache");
        // Rewriting a file gives it a new ctime: it is read again and the digest moves.
        write(&root.join("a.txt"), "AAAA", 0o644);
        let changed = tree_digest(&root, Some(&cache)).unwrap();
        assert_eq!(changed.bytes_read, 4);
        assert_ne!(changed.digest, cold.digest);
    }

    #[test]
    fn recently_changed_files_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("p/a.txt"), "aaaa", 0o644);
        let cache = StatCache::load(&dir.path().join("cache.json"));
        tree_digest(&dir.path().join("p"), Some(&cache)).unwrap();
        assert!(
            cache.is_empty(),
            "a file changed within the racy window must be re-read next time"
        );
    }
}
