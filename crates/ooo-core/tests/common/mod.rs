//! Shared by the ledger's integration tests: changing a ledger database behind ooo's
//! back, as someone with access to the file would.

use std::path::Path;

/// Drop the append-only triggers and run `sql` on the database at `path`.
pub fn tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS events_are_append_only_update;
         DROP TRIGGER IF EXISTS events_are_append_only_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}
