//! The embedded SQLite ledger backend.
//!
//! Concurrency: every append runs in a `BEGIN IMMEDIATE` transaction (the write lock is
//! taken before the head is read, so two processes can never chain onto the same head)
//! and waits up to [`errors::BUSY_TIMEOUT_MS`] for another writer. Readers never block
//! writers (WAL), and opening an up-to-date ledger takes no write lock.
//!
//! Durability: `journal_mode=WAL` with `synchronous=FULL` for [`Durability::Durable`]
//! appends: SQLite syncs the WAL on every commit, so an event is on stable storage when
//! `append` returns, which is what an event announcing an external effect needs.
//! [`Durability::Relaxed`] switches the connection to `synchronous=NORMAL` for that
//! commit: still atomic and safe against a process crash, but the last commits may be
//! lost on power failure. We default to FULL because the ledger is evidence.
//!
//! Safety on open: a file that is not SQLite, an SQLite file that is not a ledger, and a
//! ledger with a newer schema are all refused before anything is written.

mod errors;
mod projection;
mod query;
mod schema;

use std::cell::RefCell;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde_json::Value;

pub use errors::BUSY_TIMEOUT_MS;
use errors::map_err;
pub use schema::{APPLICATION_ID, LATEST_VERSION};

use super::canonical::{GENESIS_PREV_HASH, HashedFields, event_hash};
use super::chain::{self, ChainIndex, ChainVerifier};
use super::event::check_payload;
use super::{
    AppendOptions, ChainHead, Durability, Event, EventQuery, FaultKind, LedgerError, NewEvent,
    Projection, Store, VerifyReport, timestamp,
};
use projection::SqliteRows;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Page cache per connection, in KiB. The default (2 MiB) makes appends to a large
/// ledger re-read index pages from disk; memory is only used as pages are touched.
const CACHE_KIB: u32 = 32 * 1024;

/// A ledger in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    durability: Durability,
}

impl SqliteStore {
    /// Open the ledger at `path`, creating it (mode 0600) if missing and migrating it to
    /// the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_owned();
        preflight(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|e| map_err(e, &path))?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(|e| map_err(e, &path))?;
        let version = schema::check_compatible(&conn, &path)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| map_err(e, &path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::CannotOpen {
                path,
                detail: format!("cannot switch to WAL journal (got {mode})"),
            });
        }
        conn.execute_batch(&format!("PRAGMA synchronous = FULL; PRAGMA cache_size = -{CACHE_KIB}"))
            .map_err(|e| map_err(e, &path))?;
        if version < LATEST_VERSION {
            // Only a pending migration takes the write lock; readers open without it.
            schema::migrate(&mut conn, &path)?;
        }
        Ok(Self { conn, path, durability: Durability::Durable })
    }

    /// Where this ledger lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn set_durability(&mut self, wanted: Durability) -> Result<(), LedgerError> {
        if self.durability != wanted {
            let level = match wanted {
                Durability::Durable => "FULL",
                Durability::Relaxed => "NORMAL",
            };
            self.conn
                .execute_batch(&format!("PRAGMA synchronous = {level}"))
                .map_err(|e| map_err(e, &self.path))?;
            self.durability = wanted;
        }
        Ok(())
    }

    fn err(&self, e: rusqlite::Error) -> LedgerError {
        map_err(e, &self.path)
    }
}

/// Refuse a non-SQLite file before SQLite can touch it; create a missing file owner-only.
fn preflight(path: &Path) -> Result<(), LedgerError> {
    let io_err = |source: io::Error| LedgerError::Io { path: path.to_owned(), source };
    match fs::File::open(path) {
        Ok(mut file) => {
            let len = file.metadata().map_err(io_err)?.len();
            if len == 0 {
                return Ok(());
            }
            let mut header = [0u8; 16];
            match file.read_exact(&mut header) {
                Ok(()) if &header == SQLITE_MAGIC => Ok(()),
                Ok(()) => Err(LedgerError::NotADatabase { path: path.to_owned() }),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Err(LedgerError::NotADatabase { path: path.to_owned() })
                }
                Err(e) => Err(io_err(e)),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => {
                    Err(LedgerError::CannotOpen { path: path.to_owned(), detail: e.to_string() })
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Err(LedgerError::CannotOpen { path: path.to_owned(), detail: e.to_string() })
        }
        Err(e) => Err(io_err(e)),
    }
}

impl Store for SqliteStore {
    fn append(
        &mut self,
        batch: &[NewEvent],
        opts: AppendOptions<'_>,
    ) -> Result<Vec<Event>, LedgerError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for event in batch {
            check_payload(&event.payload)?;
        }
        self.set_durability(opts.durability)?;
        let path = self.path.clone();
        let err = |e| map_err(e, &path);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let (mut seq, mut prev_hash) = match read_head(&tx).map_err(err)? {
            Some(head) => (head.seq, head.hash),
            None => (0, GENESIS_PREV_HASH.to_owned()),
        };
        let occurred_at = timestamp::now();
        let mut stored = Vec::with_capacity(batch.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (seq, id, aggregate_type, aggregate_id, event_type, payload,
                                         occurred_at, actor, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(err)?;
            for new in batch {
                seq += 1;
                let mut event = Event {
                    seq,
                    id: ulid::Ulid::new().to_string(),
                    aggregate_type: new.aggregate.kind().to_owned(),
                    aggregate_id: new.aggregate.id().to_owned(),
                    event_type: new.event_type.as_str().to_owned(),
                    payload: new.payload.clone(),
                    occurred_at: occurred_at.clone(),
                    actor: new.actor.as_str().to_owned(),
                    prev_hash: std::mem::take(&mut prev_hash),
                    hash: String::new(),
                };
                event.hash = event_hash(&event.prev_hash, HashedFields::from(&event));
                insert
                    .execute(rusqlite::params![
                        seq as i64,
                        event.id,
                        event.aggregate_type,
                        event.aggregate_id,
                        event.event_type,
                        event.payload.to_string(),
                        event.occurred_at,
                        event.actor,
                        event.prev_hash,
                        event.hash,
                    ])
                    .map_err(err)?;
                prev_hash.clone_from(&event.hash);
                stored.push(event);
            }
        }
        for projection in opts.projections {
            for event in &stored {
                let mut rows =
                    SqliteRows { conn: &tx, projection: projection.name(), seq: event.seq };
                projection.apply(event, &mut rows).map_err(|e| match e {
                    LedgerError::Projection { .. } => e,
                    other => LedgerError::Projection {
                        projection: projection.name().to_owned(),
                        message: other.to_string(),
                    },
                })?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(stored)
    }

    fn scan(
        &self,
        query: &EventQuery,
        visit: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), LedgerError> {
        let (sql, values) = query::select(query);
        for_each_row(&self.conn, &sql, &values, &self.path, &mut |row| match row {
            Ok(event) => Ok(visit(event)),
            Err(bad) => Err(LedgerError::MalformedRow { seq: bad.seq, detail: bad.detail }),
        })
    }

    fn head(&self) -> Result<Option<ChainHead>, LedgerError> {
        read_head(&self.conn).map_err(|e| self.err(e))
    }

    fn verify(&self) -> Result<VerifyReport, LedgerError> {
        // One read transaction: the walk and the look-ups see the same snapshot.
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let index = DbIndex { conn: &tx, error: RefCell::new(None) };
        let mut verifier = ChainVerifier::from_genesis(&index);
        let mut fault = None;
        let sql = format!("SELECT {} FROM events ORDER BY seq", query::COLUMNS);
        for_each_row(&tx, &sql, &[], &self.path, &mut |row| {
            let result = match row {
                Ok(event) => verifier.push(&event),
                Err(bad) => {
                    Err(chain::fault(bad.seq.max(0) as u64, FaultKind::Malformed, bad.detail))
                }
            };
            fault = result.err();
            Ok(fault.is_none())
        })?;
        if let Some(e) = index.error.take() {
            return Err(self.err(e));
        }
        Ok(verifier.finish(fault))
    }

    fn projection_get(&self, projection: &str, key: &str) -> Result<Option<Value>, LedgerError> {
        projection::get(&self.conn, projection, key)
    }

    fn projection_scan(
        &self,
        projection: &str,
        key_prefix: &str,
    ) -> Result<Vec<(String, Value)>, LedgerError> {
        projection::scan(&self.conn, projection, key_prefix)
    }

    fn rebuild_projection(&mut self, p: &dyn Projection) -> Result<u64, LedgerError> {
        let path = self.path.clone();
        let err = |e| map_err(e, &path);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        tx.execute("DELETE FROM projection_rows WHERE projection = ?1", [p.name()]).map_err(err)?;
        let mut folded = 0u64;
        let sql = format!("SELECT {} FROM events ORDER BY seq", query::COLUMNS);
        for_each_row(&tx, &sql, &[], &path, &mut |row| {
            let event =
                row.map_err(|bad| LedgerError::MalformedRow { seq: bad.seq, detail: bad.detail })?;
            let mut rows = SqliteRows { conn: &tx, projection: p.name(), seq: event.seq };
            p.apply(&event, &mut rows)?;
            folded += 1;
            Ok(true)
        })?;
        tx.commit().map_err(err)?;
        Ok(folded)
    }
}

/// The newest event's seq and hash.
fn read_head(conn: &Connection) -> rusqlite::Result<Option<ChainHead>> {
    conn.query_row("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", [], |r| {
        Ok(ChainHead { seq: r.get::<_, i64>(0)?.max(0) as u64, hash: r.get(1)? })
    })
    .optional()
}

/// Run `sql` (selecting [`query::COLUMNS`]) and hand each decoded row to `visit` until it
/// returns `false`.
fn for_each_row(
    conn: &Connection,
    sql: &str,
    values: &[rusqlite::types::Value],
    path: &Path,
    visit: &mut dyn FnMut(Result<Event, query::BadRow>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    let err = |e| map_err(e, path);
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let mut rows = stmt.query(query::params(values)).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        if !visit(query::decode(row).map_err(err)?)? {
            break;
        }
    }
    Ok(())
}

/// Look-ups the chain verifier needs, answered by the database. A query failure is kept
/// and reported after the walk instead of being mistaken for "not found".
struct DbIndex<'c> {
    conn: &'c Connection,
    error: RefCell<Option<rusqlite::Error>>,
}

impl DbIndex<'_> {
    fn remember<T>(&self, result: rusqlite::Result<Option<T>>) -> Option<T> {
        result.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert(e);
            None
        })
    }
}

impl ChainIndex for DbIndex<'_> {
    fn seq_of_hash(&self, hash: &str) -> Option<u64> {
        let found = self
            .conn
            .query_row("SELECT seq FROM events WHERE hash = ?1 LIMIT 1", [hash], |r| {
                r.get::<_, i64>(0)
            })
            .optional();
        self.remember(found).and_then(|s| u64::try_from(s).ok())
    }

    fn contains_seq(&self, seq: u64) -> bool {
        let found = self
            .conn
            .query_row("SELECT 1 FROM events WHERE seq = ?1", [seq as i64], |_| Ok(()))
            .optional();
        self.remember(found).is_some()
    }
}
