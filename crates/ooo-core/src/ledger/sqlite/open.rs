//! Opening the SQLite ledger file: for writing (creating and migrating it on first use,
//! safely when many processes start at once) and for reading only (never creating or
//! changing anything, also on read-only media).
//!
//! What does not live here: the schema and its migrations (`schema`), and what is done
//! with the connection once open (appends, queries and verification, in `super`).
//!
//! First use by many processes at once: creating the file, checking it is ours,
//! switching it to WAL and migrating it is a sequence, and two processes must not
//! interleave it. Interleaved, one saw another's half-initialised database (a foreign
//! database to it), and switching the journal mode upgrades a read transaction to a
//! write one, which SQLite refuses at once with `SQLITE_BUSY` (without its busy handler)
//! when another connection is writing. So everything that may initialise runs under
//! [`InitLock`]; a ledger that is already initialised (every open but the first) is
//! opened without taking it and without any write.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::errors::{BUSY_TIMEOUT_MS, map_err};
use super::schema::{self, LATEST_VERSION};
use crate::ledger::LedgerError;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Page cache per connection, in KiB. The default (2 MiB) makes appends to a large
/// ledger re-read index pages from disk; memory is only used as pages are touched.
const CACHE_KIB: u32 = 32 * 1024;

/// What is at the ledger's path, before SQLite is allowed to look at it.
enum OnDisk {
    Missing,
    /// A zero-length file: created, not initialised yet.
    Empty,
    /// A file with the SQLite header.
    Sqlite,
}

/// Look at the file without SQLite: a file that is not SQLite is refused before SQLite
/// can touch it.
fn inspect(path: &Path) -> Result<OnDisk, LedgerError> {
    let io_err = |source: io::Error| LedgerError::Io { path: path.to_owned(), source };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(OnDisk::Missing),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(LedgerError::CannotOpen { path: path.to_owned(), detail: e.to_string() });
        }
        Err(e) => return Err(io_err(e)),
    };
    if file.metadata().map_err(io_err)?.len() == 0 {
        return Ok(OnDisk::Empty);
    }
    let mut header = [0u8; 16];
    match file.read_exact(&mut header) {
        Ok(()) if &header == SQLITE_MAGIC => Ok(OnDisk::Sqlite),
        Ok(()) => Err(LedgerError::NotADatabase { path: path.to_owned() }),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(LedgerError::NotADatabase { path: path.to_owned() })
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Create the missing file, owner-only (SQLite gives its `-wal` and `-shm` files the
/// same mode).
fn create(path: &Path) -> Result<(), LedgerError> {
    match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LedgerError::CannotOpen { path: path.to_owned(), detail: e.to_string() }),
    }
}

/// A connection to `open_as` (the path, or a URI for it), with errors naming `path`.
fn connect(open_as: &Path, path: &Path, flags: OpenFlags) -> Result<Connection, LedgerError> {
    let err = |e| map_err(e, path);
    let conn = Connection::open_with_flags(open_as, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(err)?;
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(err)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{CACHE_KIB}")).map_err(err)?;
    Ok(conn)
}

/// Open the ledger for appending, creating it (mode 0600) if missing and migrating it to
/// the current schema. A file that is not ours is refused before anything is written.
pub fn read_write(path: &Path) -> Result<Connection, LedgerError> {
    if let Some(conn) = initialised(path) {
        return Ok(conn);
    }
    let _lock = InitLock::acquire(path);
    // Under the lock, nobody else is initialising: whatever we find is settled.
    if let OnDisk::Missing = inspect(path)? {
        create(path)?;
    }
    let mut conn = connect(path, path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let version = schema::check_compatible(&conn, path)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| map_err(e, path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::CannotOpen {
            path: path.to_owned(),
            detail: format!("cannot switch to WAL journal (got {mode})"),
        });
    }
    if version < LATEST_VERSION {
        schema::migrate(&mut conn, path)?;
    }
    Ok(conn)
}

/// The common case: a current ledger, already in WAL mode, opened without the lock and
/// without writing anything. Anything else (missing, empty, being initialised right now,
/// needing a migration, or an error) is `None`, and the caller takes the locked path,
/// which reports errors. A zero-length file is never handed to SQLite here: SQLite deletes
/// the `-wal` file of a database it finds empty, which must only happen under the lock.
fn initialised(path: &Path) -> Option<Connection> {
    if !matches!(inspect(path), Ok(OnDisk::Sqlite)) {
        return None;
    }
    let conn = connect(path, path, OpenFlags::SQLITE_OPEN_READ_WRITE).ok()?;
    let version = schema::check_compatible(&conn, path).ok()?;
    // A query, not an assignment: it never switches anything.
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).ok()?;
    (version == LATEST_VERSION && mode.eq_ignore_ascii_case("wal")).then_some(conn)
}

/// Open the ledger for reading only: nothing is created, migrated or written, and a
/// missing or never-initialised ledger is [`LedgerError::NoLedger`].
///
/// A WAL database is normally read through its `-shm` index (shared memory, with locks,
/// so a reader sees a consistent snapshot while others append) and its `-wal` file,
/// which SQLite creates when they are missing. Where it cannot (a read-only directory:
/// another user's home, a read-only mount, a copy made read-only), SQLite still reads a
/// WAL database when both files exist, or when the database is opened `immutable=1`.
/// We try the normal way first, and fall back to `immutable=1` only when that fails for
/// lack of write access and there is no `-wal` file with content: every committed event
/// is then in the database file itself. `immutable` reads take no locks and ignore any
/// `-wal` file, so they are right only for a file nobody appends to, which is what a
/// directory we cannot write and no pending WAL content say (following such a copy shows
/// nothing new). A copy that includes a non-empty `-wal` is read the normal way, which
/// works with read-only `-wal` and `-shm` files.
pub fn read_only(path: &Path) -> Result<Connection, LedgerError> {
    let no_ledger = || LedgerError::NoLedger { path: path.to_owned() };
    match inspect(path)? {
        OnDisk::Missing | OnDisk::Empty => return Err(no_ledger()),
        OnDisk::Sqlite => {}
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY;
    let open = |open_as: &Path, flags| -> Result<(Connection, i64), LedgerError> {
        let conn = connect(open_as, path, flags)?;
        let version = schema::check_compatible(&conn, path)?;
        Ok((conn, version))
    };
    let (conn, version) = match open(path, flags) {
        Ok(found) => found,
        Err(LedgerError::CannotOpen { .. } | LedgerError::ReadOnly { .. })
            if wal_is_empty(path) =>
        {
            open(&immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)?
        }
        Err(LedgerError::CannotOpen { detail, .. } | LedgerError::ReadOnly { detail, .. }) => {
            return Err(LedgerError::CannotOpen {
                path: path.to_owned(),
                detail: format!(
                    "{detail}; its -wal file holds events not yet in the database file, and SQLite reads them only with a -shm file it can open or create next to it (copy ledger.db-shm too, or read from a writable directory)"
                ),
            });
        }
        Err(e) => return Err(e),
    };
    match version {
        0 => Err(no_ledger()),
        LATEST_VERSION => Ok(conn),
        older => Err(LedgerError::CannotOpen {
            path: path.to_owned(),
            detail: format!(
                "its schema (version {older}) must be migrated to version {LATEST_VERSION} first, which needs write access"
            ),
        }),
    }
}

/// The `-wal` file next to `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Is there no `-wal` file, or an empty one (nothing committed that is not in the
/// database file)?
fn wal_is_empty(path: &Path) -> bool {
    match fs::metadata(wal_path(path)) {
        Ok(meta) => meta.len() == 0,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// `file://<absolute path>?immutable=1`, with the characters a URI path cannot hold
/// literally (`%`, `?`, `#`) percent-encoded. (An empty authority, `file:///...`, keeps
/// a path starting with `//` from being read as a host.)
fn immutable_uri(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut uri = b"file://".to_vec();
    for &byte in absolute.as_os_str().as_bytes() {
        match byte {
            b'%' | b'?' | b'#' => uri.extend_from_slice(format!("%{byte:02X}").as_bytes()),
            _ => uri.push(byte),
        }
    }
    uri.extend_from_slice(b"?immutable=1");
    PathBuf::from(OsString::from_vec(uri))
}

/// An exclusive lock held while a ledger may be initialised: `flock(2)` on the directory
/// that holds the database. A directory lock adds no file to the home, and cannot clash
/// with SQLite's own locks, which are `fcntl` locks on the database file (and are dropped
/// when any descriptor of that file is closed, so we must not open the file to lock it).
/// The kernel releases it when the process dies. Where a file system cannot lock a
/// directory (some network file systems) initialisation goes ahead unlocked, as safe as
/// SQLite's locking alone makes it.
struct InitLock {
    _dir: Option<File>,
}

impl InitLock {
    fn acquire(path: &Path) -> Self {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let locked = File::open(dir).ok().filter(|d| d.lock().is_ok());
        Self { _dir: locked }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_uri_escapes_what_a_uri_path_cannot_hold() {
        let uri = immutable_uri(Path::new("/tmp/a%b?c#d/ledger.db"));
        assert_eq!(uri, Path::new("file:///tmp/a%25b%3Fc%23d/ledger.db?immutable=1"));
    }

    #[test]
    fn wal_path_appends_a_suffix() {
        assert_eq!(wal_path(Path::new("/h/ledger.db")), Path::new("/h/ledger.db-wal"));
    }
}
