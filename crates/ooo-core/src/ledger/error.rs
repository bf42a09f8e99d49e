//! Typed errors of the ledger. Rendering them for humans (with the fix to try) is the
//! binary's job; here each variant carries the facts needed to do that.

use std::path::PathBuf;

use super::Fault;

/// Everything that can go wrong opening, writing or reading a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no ledger at {path}")]
    NoLedger { path: PathBuf },
    #[error("{path} is not an SQLite database (its header is not \"SQLite format 3\")")]
    NotADatabase { path: PathBuf },
    #[error("{path} is an SQLite database but not an ooo ledger: {detail}")]
    NotALedger { path: PathBuf, detail: String },
    #[error("{path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} has ledger schema version {found}, newer than this ooo supports ({supported})")]
    SchemaTooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("cannot open {path}: {detail}")]
    CannotOpen { path: PathBuf, detail: String },
    #[error("the ledger at {path} is read-only: {detail}")]
    ReadOnly { path: PathBuf, detail: String },
    #[error(
        "the ledger stayed locked by another writer (gave up after waiting up to {waited_ms} ms)"
    )]
    Busy { waited_ms: u64 },
    #[error(
        "the newest event in {path} (seq {seq}) does not match its hash ({detail}); nothing was appended"
    )]
    BrokenHead { path: PathBuf, seq: u64, detail: String },
    #[error("{path} already holds {events} event(s); an import restores into an empty ledger only")]
    NotEmpty { path: PathBuf, events: u64 },
    #[error(
        "the chain to import starts at seq {first_seq}, not 1; an import needs the whole chain"
    )]
    ImportNotFromGenesis { first_seq: u64 },
    #[error("the chain to import is broken at seq {}: {} ({})", fault.seq, fault.kind.as_str(), fault.detail)]
    ImportBroken { fault: Fault },
    #[error("invalid event: {field}: {reason}")]
    InvalidEvent { field: &'static str, reason: String },
    #[error("projection {projection} failed: {message}")]
    Projection { projection: String, message: String },
    #[error("stored event {seq} cannot be read: {detail}")]
    MalformedRow { seq: i64, detail: String },
    #[error("ledger database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl LedgerError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidEvent { field, reason: reason.into() }
    }
}
