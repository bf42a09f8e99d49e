//! `ooo-plugin`: the plugin manager.
//!
//! What lives here: [`manifest`]s, the canonical tree [`digest`] of an installed plugin
//! (with its stat cache), the [`lockfile`], [`trust`], [`catalog`]s, the install
//! lifecycle ([`manager`]) with its [`build`] step and [`runnable`] check, and running a
//! plugin command ([`firewall`]) in the [`sandbox`].
//!
//! Depends on `ooo-core` only (and `ooo-mcp` later); knows no plugin's domain.

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
pub mod sandbox;
pub mod source;
mod tree;
pub mod trust;
