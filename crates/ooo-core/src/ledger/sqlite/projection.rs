//! Projection rows stored in the `projection_rows` table, scoped to one projection and
//! written inside the caller's transaction.

use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use crate::ledger::{LedgerError, ProjectionRows};

pub struct SqliteRows<'c> {
    pub conn: &'c Connection,
    pub projection: &'c str,
    /// The event being folded; recorded with each row written.
    pub seq: u64,
}

impl ProjectionRows for SqliteRows<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Value>, LedgerError> {
        get(self.conn, self.projection, key)
    }

    fn keys(&mut self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        Ok(scan(self.conn, self.projection, prefix)?.into_iter().map(|(k, _)| k).collect())
    }

    fn put(&mut self, key: &str, value: &Value) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT INTO projection_rows (projection, key, value, seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (projection, key) DO UPDATE SET value = excluded.value, seq = excluded.seq",
            )?
            .execute((self.projection, key, value.to_string(), self.seq as i64))?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("DELETE FROM projection_rows WHERE projection = ?1 AND key = ?2")?
            .execute((self.projection, key))?;
        Ok(())
    }
}

pub fn get(conn: &Connection, projection: &str, key: &str) -> Result<Option<Value>, LedgerError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM projection_rows WHERE projection = ?1 AND key = ?2")?
        .query_row((projection, key), |r| r.get(0))
        .optional()?;
    text.map(|t| parse(projection, &t)).transpose()
}

pub fn scan(
    conn: &Connection,
    projection: &str,
    prefix: &str,
) -> Result<Vec<(String, Value)>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value FROM projection_rows WHERE projection = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
    )?;
    let rows = stmt.query_map((projection, prefix), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, text) = row?;
        out.push((key, parse(projection, &text)?));
    }
    Ok(out)
}

fn parse(projection: &str, text: &str) -> Result<Value, LedgerError> {
    serde_json::from_str(text).map_err(|e| LedgerError::Projection {
        projection: projection.to_owned(),
        message: format!("stored row is not JSON: {e}"),
    })
}
