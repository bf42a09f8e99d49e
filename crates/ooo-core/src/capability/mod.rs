//! The capability model and [`ScopedCore`]: what a plugin or a first-party program may
//! do with the core, checked on every use and recorded.
//!
//! A capability is a primitive (`seed`, `ledger`, `state`, `provenance`, `runtime`,
//! `mcp`, `handoff`, `progress`) times an access (`read`, `write`, `execute`, `attach`),
//! the enums of the plugin manifest. A [`ScopedCore`] is handed to one principal (a
//! plugin invocation, or a program's execution) with its grants; each method checks the
//! grant it needs before touching the ledger, remembers what was used (the audit's
//! `capabilities_used`) and what was refused. The plugin channel serves its tools from a
//! `ScopedCore`; programs call it directly.
//!
//! What does not live here: the wire format of the channel (`ooo-channel`, `ooo-mcp`),
//! which grants a manifest asks for and a user trusted (`ooo-plugin`), and the record
//! types themselves ([`crate::state`], [`crate::provenance`], [`crate::progress`],
//! [`crate::handoff`]).

mod grant;
mod scoped;

pub use grant::{Access, Capability, Grant, Grants, ParseGrantError};
pub use scoped::{CoreError, Principal, ScopedCore};
