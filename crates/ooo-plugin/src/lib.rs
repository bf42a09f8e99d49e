//! `ooo-plugin`: the plugin manager.
//!
//! What lives here: [`manifest`]s (parsed into typed risk, access and capabilities when
//! they load), where a plugin comes from ([`source`], fetched with [`git`]), the
//! canonical tree [`digest`] of an installed plugin (with its stat cache), the
//! [`lockfile`], [`trust`], [`catalog`]s, the install lifecycle ([`manager`]) with its
//! [`build`] step, [`runnable`] check and the file [`changes`] an update brings, running
//! a plugin command ([`firewall`]) in the [`sandbox`] with the capability channel (its
//! directories opened without following links by [`safe_path`]), and scaffolding and
//! checking a plugin offline ([`contract`]).
//!
//! What does not: the command line (`ooo-cli` renders what this crate returns), the
//! ledger, capabilities and `Home` (`ooo-core`), the channel's server (`ooo-mcp`) and
//! its wire contract (`ooo-channel`, the only place the descriptor and its variable are
//! spelled). Knows no plugin's domain.

pub mod build;
pub mod catalog;
pub mod changes;
pub mod contract;
pub mod digest;
pub mod firewall;
pub mod git;
pub mod lockfile;
pub mod manager;
pub mod manifest;
pub mod runnable;
pub mod safe_path;
pub mod sandbox;
pub mod source;
mod tree;
pub mod trust;

/// The projections of plugin events (trust and disables, runs): whoever opens the home's
/// ledger registers them with it, after `ooo_core::PROJECTIONS`.
pub const PROJECTIONS: &[&dyn ooo_core::ledger::Projection] =
    &[&trust::PluginProjection, &firewall::audit::RunsProjection];
