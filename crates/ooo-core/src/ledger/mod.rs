//! The ledger: an append-only, hash-chained log of everything that happens.
//!
//! Every primitive and program records what it did here as [`Event`]s. Each event carries
//! a global sequence number and `hash = sha256(prev_hash || canonical bytes)`, so editing,
//! deleting or reordering a stored row is detected by [`Store::verify`]. The canonical form
//! is defined once, in [`canonical`], and documented in `docs/LEDGER-FORMAT.md` so other
//! implementations can verify an exported chain.
//!
//! Layout: [`event`] (the event model and its validation), [`canonical`] (bytes and hash),
//! [`chain`] (verification over any stream of events), [`store`] (the backend-neutral
//! `Store` trait, queries and projections), [`follow`] (tailing new events), [`restore`]
//! (what an imported chain must be) and [`sqlite`] (the embedded backend). Nothing here
//! knows about plugins, seeds or any domain.

pub mod canonical;
pub mod chain;
mod error;
pub mod event;
pub mod export;
pub mod follow;
pub mod restore;
pub mod sqlite;
pub mod store;
pub mod timestamp;

pub use chain::{ChainVerifier, Fault, FaultKind, VerifyReport, verify_events};
pub use error::LedgerError;
pub use event::{Actor, AggregateRef, Event, EventType, NewEvent};
pub use follow::Follower;
pub use sqlite::SqliteStore;
pub use store::{
    AppendOptions, ChainHead, Durability, EventQuery, Projection, ProjectionRows, Projections,
    Store,
};
