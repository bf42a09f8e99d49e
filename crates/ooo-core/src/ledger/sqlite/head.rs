//! The newest event, read inside an append's transaction and checked against its own
//! hash before a new event is chained onto it.
//!
//! This is the constant-time guard on every append (one row, whatever the ledger's
//! length): an edited newest event (its content or its `prev_hash` changed, or a row that
//! no longer decodes) is refused, so nothing new is ever chained onto a forged hash. It
//! does not look further back: `Store::verify` walks the whole chain and finds breaks
//! anywhere, and deleting the newest events is not detectable from the chain alone (see
//! docs/LEDGER-FORMAT.md).

use std::path::Path;

use rusqlite::Connection;

use super::errors::map_err;
use super::query;
use crate::ledger::canonical::{GENESIS_PREV_HASH, HashedFields, event_hash};
use crate::ledger::{ChainHead, LedgerError};

/// The newest event's seq and hash, or `None` for an empty ledger; an error when that
/// event does not match its own hash.
pub fn checked(conn: &Connection, path: &Path) -> Result<Option<ChainHead>, LedgerError> {
    let err = |e| map_err(e, path);
    let broken = |seq: u64, detail: &str| LedgerError::BrokenHead {
        path: path.to_owned(),
        seq,
        detail: detail.to_owned(),
    };
    let sql = format!("SELECT {} FROM events ORDER BY seq DESC LIMIT 1", query::COLUMNS);
    let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let Some(row) = rows.next().map_err(err)? else { return Ok(None) };
    let event = match query::decode(row).map_err(err)? {
        Ok(event) => event,
        Err(bad) => return Err(broken(bad.seq.max(0) as u64, &bad.detail)),
    };
    if event_hash(&event.prev_hash, HashedFields::from(&event)) != event.hash {
        return Err(broken(event.seq, "its content or prev_hash was changed"));
    }
    if event.seq == 1 && event.prev_hash != GENESIS_PREV_HASH {
        return Err(broken(1, "the first event does not link to the genesis hash"));
    }
    Ok(Some(ChainHead { seq: event.seq, hash: event.hash }))
}
