//! Handoff: a result document or an artifact hash attached to the principal's record, for
//! whoever continues the work (a person, another program, a later run). What does not
//! live here: storing the artifacts themselves.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub name: String,
    /// A JSON document, when the result is small enough to keep in the ledger.
    pub document: Option<Value>,
    /// The sha256 (hex) of an artifact kept elsewhere.
    pub sha256: Option<String>,
}
