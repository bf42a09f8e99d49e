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
//! ledger with a newer schema are all refused before anything is written. Opening (first
//! use by many processes at once, read-only opens) lives in `open`; the check of the
//! newest event before each append in `head`.

mod errors;
mod head;
mod open;
mod projection;
mod query;
mod schema;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Statement, TransactionBehavior};
use serde_json::Value;

pub use errors::BUSY_TIMEOUT_MS;
use errors::map_err;
pub use schema::{APPLICATION_ID, LATEST_VERSION};

use super::canonical::{GENESIS_PREV_HASH, HashedFields, event_hash};
use super::chain::{self, ChainIndex, ChainVerifier};
use super::event::check_payload;
use super::{
    AppendOptions, ChainHead, Durability, Event, EventQuery, FaultKind, LedgerError, NewEvent,
    Projection, Projections, Store, VerifyReport, restore, timestamp,
};
use projection::SqliteRows;

/// One event row, as appended or restored (see [`insert_event`]).
const INSERT_EVENT: &str = concat!(
    "INSERT INTO events (seq, id, aggregate_type, aggregate_id, event_type, payload,",
    " occurred_at, actor, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
);

/// A ledger in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    durability: Durability,
    projections: Projections,
}

impl SqliteStore {
    /// Open the ledger at `path`, creating it (mode 0600) if missing and migrating it to
    /// the current schema. Safe when many processes open a new ledger at once.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_owned();
        let conn = open::read_write(&path)?;
        conn.execute_batch("PRAGMA synchronous = FULL").map_err(|e| map_err(e, &path))?;
        Ok(Self::over(conn, path))
    }

    /// Open an existing ledger for reading only: nothing is created, migrated or written,
    /// and a read-only copy (a read-only directory or file) can be read. A missing or
    /// never-initialised ledger is [`LedgerError::NoLedger`]. Appends to it fail.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_owned();
        let conn = open::read_only(&path)?;
        Ok(Self::over(conn, path))
    }

    /// A store over an open connection: durable appends, no projection registered yet.
    fn over(conn: Connection, path: PathBuf) -> Self {
        Self { conn, path, durability: Durability::Durable, projections: Projections::default() }
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

impl Store for SqliteStore {
    fn register(&mut self, projection: &'static dyn Projection) {
        self.projections.register(projection);
    }

    fn append(
        &mut self,
        batch: &[NewEvent],
        opts: AppendOptions,
    ) -> Result<Vec<Event>, LedgerError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for event in batch {
            check_payload(&event.payload)?;
        }
        self.set_durability(opts.durability)?;
        let path = self.path.clone();
        let projections = self.projections.clone();
        let err = |e| map_err(e, &path);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        // Never chain onto a newest event that no longer matches its hash.
        let (mut seq, mut prev_hash) = match head::checked(&tx, &path)? {
            Some(head) => (head.seq, head.hash),
            None => (0, GENESIS_PREV_HASH.to_owned()),
        };
        let occurred_at = timestamp::now();
        let mut stored = Vec::with_capacity(batch.len());
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(err)?;
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
                insert_event(&mut insert, &event).map_err(err)?;
                prev_hash.clone_from(&event.hash);
                stored.push(event);
            }
        }
        for event in &stored {
            for projection in projections.folding(&event.event_type) {
                fold(&tx, projection, event)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(stored)
    }

    fn restore(&mut self, events: &[Event]) -> Result<u64, LedgerError> {
        restore::check(events)?;
        self.set_durability(Durability::Durable)?;
        let path = self.path.clone();
        let projections = self.projections.clone();
        let err = |e| map_err(e, &path);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let held: i64 =
            tx.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).map_err(err)?;
        if held > 0 {
            return Err(LedgerError::NotEmpty { path, events: held as u64 });
        }
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(err)?;
            for event in events {
                insert_event(&mut insert, event).map_err(err)?;
            }
        }
        // Rebuilt as `rebuild_projection` does, but in this transaction: the events and
        // their read models commit together, or neither does.
        for projection in projections.all() {
            rebuild(&tx, projection, &path)?;
        }
        tx.commit().map_err(err)?;
        Ok(events.len() as u64)
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
        let folded = rebuild(&tx, p, &path)?;
        tx.commit().map_err(err)?;
        Ok(folded)
    }
}

/// Drop a projection's rows and refold every stored event of the types it declares,
/// inside the caller's transaction. Returns the events folded.
fn rebuild(conn: &Connection, p: &dyn Projection, path: &Path) -> Result<u64, LedgerError> {
    conn.execute("DELETE FROM projection_rows WHERE projection = ?1", [p.name()])
        .map_err(|e| map_err(e, path))?;
    let mut folded = 0u64;
    let sql = format!("SELECT {} FROM events ORDER BY seq", query::COLUMNS);
    for_each_row(conn, &sql, &[], path, &mut |row| {
        let event =
            row.map_err(|bad| LedgerError::MalformedRow { seq: bad.seq, detail: bad.detail })?;
        if !p.folds(&event.event_type) {
            return Ok(true);
        }
        let mut rows = SqliteRows { conn, projection: p.name(), seq: event.seq };
        p.apply(&event, &mut rows)?;
        folded += 1;
        Ok(true)
    })?;
    Ok(folded)
}

/// Insert one event row as it is.
fn insert_event(insert: &mut Statement<'_>, event: &Event) -> rusqlite::Result<usize> {
    insert.execute(rusqlite::params![
        i64::try_from(event.seq).unwrap_or(i64::MAX),
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
}

/// Fold one event into a projection's rows inside the caller's transaction; any failure
/// is reported as that projection's.
fn fold(conn: &Connection, projection: &dyn Projection, event: &Event) -> Result<(), LedgerError> {
    let mut rows = SqliteRows { conn, projection: projection.name(), seq: event.seq };
    projection.apply(event, &mut rows).map_err(|e| match e {
        LedgerError::Projection { .. } => e,
        other => LedgerError::Projection {
            projection: projection.name().to_owned(),
            message: other.to_string(),
        },
    })
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
