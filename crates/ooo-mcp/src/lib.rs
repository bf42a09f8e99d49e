//! `ooo-mcp`: MCP tool surfaces over the core primitives.
//!
//! Today: the scoped surface a plugin sees on its capability channel
//! ([`capability`]), served over an inherited socket while the plugin runs. Each tool
//! exists only for a capability the manifest declares with that access, every call is
//! checked again, its effect is appended to the ledger as the plugin's actor under the
//! invocation, and the tools used are reported for `capabilities_used`. Each
//! invocation's channel is held to the [`quota`]s (request bytes, tool calls, ledger
//! events and bytes). (The full
//! surface for `ooo mcp serve` joins here later.)

pub mod capability;
pub mod quota;
