//! `ooo-core`: the stable primitives of the ooo agent OS.
//!
//! What lives here: the tamper-evident [`ledger`] (event model, hash chain, the `Store`
//! trait, projections and the SQLite backend); the [`seed`]; the primitives a principal
//! uses through [`capability::ScopedCore`] ([`state`], [`provenance`], [`progress`],
//! [`handoff`]) and their [`event_types`]; the [`runtime`] traits (no adapters);
//! [`safety`] (redaction); the [`home`] layout and its [`config`].
//!
//! What does not: anything about a particular external domain (code hosts, issue
//! trackers, chat: those live in plugins), argument parsing or terminal rendering (that
//! is `ooo-cli`), and plugin management (`ooo-plugin`). This crate depends on external
//! crates only.

pub mod atomic;
pub mod capability;
pub mod config;
pub mod event_types;
pub mod handoff;
pub mod home;
pub mod ledger;
pub mod progress;
pub mod provenance;
pub mod runtime;
pub mod safety;
pub mod seed;
pub mod state;

/// The projections of this crate's events (saved seeds, state): whoever opens a ledger
/// for the application registers them with it ([`ledger::Store::register`]), with those
/// of the crates above.
pub const PROJECTIONS: &[&dyn ledger::Projection] =
    &[&seed::store::SeedIndex, &state::StateProjection];
