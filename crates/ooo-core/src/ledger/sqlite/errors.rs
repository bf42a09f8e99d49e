//! Turning SQLite error codes into the ledger's typed errors.

use std::path::Path;

use rusqlite::ErrorCode;

use crate::ledger::LedgerError;

/// How long a writer waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT_MS: u64 = 30_000;

pub fn map_err(err: rusqlite::Error, path: &Path) -> LedgerError {
    let path = path.to_owned();
    match &err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let detail = msg.clone().unwrap_or_else(|| e.to_string());
            match e.code {
                // The header was already checked before opening, so SQLite refusing the
                // file now means its content is damaged.
                ErrorCode::NotADatabase => LedgerError::Corrupt { path, detail },
                ErrorCode::DatabaseCorrupt => LedgerError::Corrupt { path, detail },
                ErrorCode::ReadOnly => LedgerError::ReadOnly { path, detail },
                ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
                    LedgerError::CannotOpen { path, detail }
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    LedgerError::Busy { waited_ms: BUSY_TIMEOUT_MS }
                }
                _ => LedgerError::Sqlite(err),
            }
        }
        _ => LedgerError::Sqlite(err),
    }
}
