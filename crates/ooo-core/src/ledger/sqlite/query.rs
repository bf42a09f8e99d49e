//! SQL for reading events: the `EventQuery` -> SQL translation and row decoding.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, params_from_iter};

use crate::ledger::{Event, EventQuery};

pub const COLUMNS: &str = "seq, id, aggregate_type, aggregate_id, event_type, payload, occurred_at, actor, prev_hash, hash";

/// Build `SELECT` text and parameters for `query` (oldest first).
pub fn select(query: &EventQuery) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<&str> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let int = |v: u64| SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    if let Some(s) = query.from_seq {
        clauses.push("seq >= ?");
        params.push(int(s));
    }
    if let Some(s) = query.to_seq {
        clauses.push("seq <= ?");
        params.push(int(s));
    }
    if let Some(t) = &query.aggregate_type {
        clauses.push("aggregate_type = ?");
        params.push(SqlValue::Text(t.clone()));
    }
    if let Some(i) = &query.aggregate_id {
        clauses.push("aggregate_id = ?");
        params.push(SqlValue::Text(i.clone()));
    }
    if let Some(p) = &query.event_type_prefix {
        // `p` itself, or anything in [p + ".", p + "/"): '/' sorts right after '.', and
        // SQLite's default BINARY collation makes this exact and index-friendly (LIKE
        // would be case-insensitive and unindexed).
        let stem = p.strip_suffix('.').unwrap_or(p);
        if p.ends_with('.') {
            clauses.push("(event_type >= ? AND event_type < ?)");
        } else {
            clauses.push("(event_type = ? OR (event_type >= ? AND event_type < ?))");
            params.push(SqlValue::Text(p.clone()));
        }
        params.push(SqlValue::Text(format!("{stem}.")));
        params.push(SqlValue::Text(format!("{stem}/")));
    }
    if let Some(t) = &query.occurred_from {
        clauses.push("occurred_at >= ?");
        params.push(SqlValue::Text(t.clone()));
    }
    if let Some(t) = &query.occurred_before {
        clauses.push("occurred_at < ?");
        params.push(SqlValue::Text(t.clone()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let sql = match (query.limit, query.newest) {
        (Some(n), true) => {
            params.push(int(n));
            format!(
                "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM events{filter} ORDER BY seq DESC LIMIT ?) ORDER BY seq"
            )
        }
        (Some(n), false) => {
            params.push(int(n));
            format!("SELECT {COLUMNS} FROM events{filter} ORDER BY seq LIMIT ?")
        }
        (None, _) => format!("SELECT {COLUMNS} FROM events{filter} ORDER BY seq"),
    };
    (sql, params)
}

pub fn params(values: &[SqlValue]) -> impl rusqlite::Params + '_ {
    params_from_iter(values.iter())
}

/// A row that could not be decoded: its raw sequence number and why.
pub struct BadRow {
    pub seq: i64,
    pub detail: String,
}

/// Decode one row selected with [`COLUMNS`].
pub fn decode(row: &Row<'_>) -> rusqlite::Result<Result<Event, BadRow>> {
    let raw_seq: i64 = row.get(0)?;
    let bad = |detail: String| Ok(Err(BadRow { seq: raw_seq, detail }));
    let Ok(seq) = u64::try_from(raw_seq) else {
        return bad(format!("sequence number {raw_seq} is negative"));
    };
    let mut text = Vec::with_capacity(9);
    for i in 1..10 {
        match row.get::<_, String>(i) {
            Ok(s) => text.push(s),
            Err(e) => return bad(format!("column {i} is not text: {e}")),
        }
    }
    let payload = match serde_json::from_str(&text[4]) {
        Ok(v) => v,
        Err(e) => return bad(format!("payload is not JSON: {e}")),
    };
    let mut it = text.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let (id, aggregate_type, aggregate_id, event_type) = (next(), next(), next(), next());
    let _payload_text = next();
    Ok(Ok(Event {
        seq,
        id,
        aggregate_type,
        aggregate_id,
        event_type,
        payload,
        occurred_at: next(),
        actor: next(),
        prev_hash: next(),
        hash: next(),
    }))
}
