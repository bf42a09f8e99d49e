//! The SQLite ledger's schema and its migrations.
//!
//! Versions are recorded in `schema_migrations` (one row per applied migration). A
//! database whose highest version is newer than [`LATEST_VERSION`] is refused before
//! anything is written: an older binary never silently downgrades a newer ledger.
//! Migrations only ever append to [`MIGRATIONS`]; an applied migration is never edited.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::errors::map_err;
use crate::ledger::{LedgerError, timestamp};

/// `PRAGMA application_id` of an ooo ledger ("OOOL").
pub const APPLICATION_ID: i64 = 0x4F4F_4F4C;

struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "events with hash chain; projection rows",
    sql: r#"
        CREATE TABLE events (
            seq            INTEGER PRIMARY KEY,
            id             TEXT NOT NULL UNIQUE,
            aggregate_type TEXT NOT NULL,
            aggregate_id   TEXT NOT NULL,
            event_type     TEXT NOT NULL,
            payload        TEXT NOT NULL,
            occurred_at    TEXT NOT NULL,
            actor          TEXT NOT NULL,
            prev_hash      TEXT NOT NULL,
            hash           TEXT NOT NULL
        );
        CREATE INDEX events_by_aggregate ON events (aggregate_type, aggregate_id, seq);
        CREATE INDEX events_by_type ON events (event_type, seq);
        CREATE INDEX events_by_time ON events (occurred_at);
        CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END;
        CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END;
        CREATE TABLE projection_rows (
            projection TEXT NOT NULL,
            key        TEXT NOT NULL,
            value      TEXT NOT NULL,
            seq        INTEGER NOT NULL,
            PRIMARY KEY (projection, key)
        ) WITHOUT ROWID;
    "#,
}];

/// The schema version this binary writes.
pub const LATEST_VERSION: i64 = 1;

/// Refuse databases that are not ours or are too new, and return the schema version
/// (0 for a brand-new, empty database). Reads only.
///
/// A database is ours when it carries our application id; an application id of 0 is
/// accepted only for a database with no tables at all (one we are about to initialise).
///
/// The application id, the tables and the version are read in one read transaction, so
/// they come from one snapshot: read one by one, a database another process initialised
/// in between looked like "no application id, but tables", which is a foreign database.
pub fn check_compatible(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
    let err = |e| map_err(e, path);
    let snapshot = conn.unchecked_transaction().map_err(err)?;
    let app_id: i64 = snapshot.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(err)?;
    let tables: Vec<String> = snapshot
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(err)?;
    if app_id != APPLICATION_ID {
        if tables.is_empty() && app_id == 0 {
            return Ok(0);
        }
        let detail = if app_id != 0 {
            format!("its application id is {app_id:#x}")
        } else {
            format!("it holds other tables ({})", tables.join(", "))
        };
        return Err(LedgerError::NotALedger { path: path.to_owned(), detail });
    }
    let found = current_version(&snapshot).map_err(err)?;
    if found > LATEST_VERSION {
        return Err(LedgerError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: LATEST_VERSION,
        });
    }
    Ok(found)
}

fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
}

/// Apply every pending migration in one immediate transaction, so two processes opening
/// a new ledger at once cannot both migrate it.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_err(e, path))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )
    .map_err(|e| map_err(e, path))?;
    let found = current_version(&tx).map_err(|e| map_err(e, path))?;
    if found > LATEST_VERSION {
        // Another, newer binary migrated it between our check and this transaction.
        return Err(LedgerError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: LATEST_VERSION,
        });
    }
    let pending = MIGRATIONS.iter().filter(|m| m.version > found);
    for m in pending {
        tx.execute_batch(m.sql).map_err(|e| map_err(e, path))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            (m.version, m.description, timestamp::now()),
        )
        .map_err(|e| map_err(e, path))?;
    }
    let app_id: Option<i64> = tx
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .optional()
        .map_err(|e| map_err(e, path))?;
    if app_id != Some(APPLICATION_ID) {
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
            .map_err(|e| map_err(e, path))?;
    }
    tx.commit().map_err(|e| map_err(e, path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_contiguous_and_latest_matches() {
        for (i, m) in super::MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
        assert_eq!(super::MIGRATIONS.last().unwrap().version, super::LATEST_VERSION);
    }
}
