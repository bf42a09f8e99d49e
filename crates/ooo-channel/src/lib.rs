//! `ooo-channel`: the capability channel's wire contract, types only.
//!
//! A plugin reaches the core through a socket it inherits as descriptor [`CORE_FD`],
//! named by [`CORE_FD_ENV`], speaking MCP (newline-delimited JSON-RPC). Each tool is
//! called by its name in [`tools`] with the argument type below and answers with the
//! result type below, as JSON. Both ends use these definitions: the host (`ooo-mcp`)
//! and the SDK (`ooo-plugin-sdk`), the way nushell's `nu-plugin-protocol` serves both
//! sides of its plugin protocol.
//!
//! What does not live here: who may call what (the capability model in `ooo-core`),
//! serving or calling (the two ends), or any behaviour.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The environment variable that names the channel's descriptor.
pub const CORE_FD_ENV: &str = "OUROBOROS_CORE_FD";

/// The descriptor the channel is on in the plugin's process.
pub const CORE_FD: i32 = 3;

/// Tool names.
pub mod tools {
    pub const LEDGER_APPEND: &str = "ledger_append";
    pub const LEDGER_READ: &str = "ledger_read";
    pub const STATE_GET: &str = "state_get";
    pub const STATE_LIST: &str = "state_list";
    pub const STATE_PUT: &str = "state_put";
    pub const STATE_DELETE: &str = "state_delete";
    pub const PROVENANCE_RECORD: &str = "provenance_record";
    pub const HANDOFF_ATTACH: &str = "handoff_attach";
    pub const PROGRESS_REPORT: &str = "progress_report";
    pub const SEED_READ: &str = "seed_read";

    /// Every tool, in the order `tools/list` gives them.
    pub const ALL: [&str; 10] = [
        LEDGER_APPEND,
        LEDGER_READ,
        STATE_GET,
        STATE_LIST,
        STATE_PUT,
        STATE_DELETE,
        PROVENANCE_RECORD,
        HANDOFF_ATTACH,
        PROGRESS_REPORT,
        SEED_READ,
    ];
}

/// `ledger_append`: evidence, a JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerAppend {
    #[serde(default)]
    pub kind: Option<String>,
    pub data: Value,
}

/// `ledger_read` takes no arguments and answers a list of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub seq: u64,
    pub event_type: String,
    pub payload: Value,
}

/// `state_get` and `state_delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateKey {
    pub key: String,
}

/// `state_put`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatePut {
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

/// `state_list`: keys starting with `prefix` (all when absent); answers a list of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateList {
    #[serde(default)]
    pub prefix: Option<String>,
}

/// `provenance_record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenanceRecord {
    pub kind: String,
    pub identifier: String,
    pub action: String,
}

/// `handoff_attach`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffAttach {
    pub name: String,
    #[serde(default)]
    pub document: Option<Value>,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// `progress_report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub step: String,
    #[serde(default)]
    pub fraction: Option<f64>,
}

/// `seed_read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRead {
    pub seed_id: String,
}

/// What `seed_read` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedText {
    pub seed_id: String,
    pub yaml: String,
}

/// What a tool that appends answers: the event's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    pub seq: u64,
}

/// What `state_put` and `state_delete` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub ok: bool,
}
