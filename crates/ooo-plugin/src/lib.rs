//! `ooo-plugin`: the plugin manager.
//!
//! What lives here: the canonical tree [`digest`] of an installed plugin (with its stat
//! cache). Manifests, the lockfile, trust, catalogs and the install lifecycle join as
//! their own modules. Running a plugin command (the firewall) is not here yet.
//!
//! Depends on `ooo-core` only (and `ooo-mcp` later); knows no plugin's domain.

pub mod catalog;
pub mod contract;
pub mod digest;
pub mod firewall;
pub mod git;
pub mod lockfile;
pub mod manager;
pub mod manifest;
pub mod sandbox;
pub mod source;
mod tree;
pub mod trust;
