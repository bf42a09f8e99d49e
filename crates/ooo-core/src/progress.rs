//! Progress: a step name and how much is done, reported while work runs so any reader of
//! the ledger (`ooo status`, the MCP server) can show it. What does not live here:
//! rendering.

use serde::{Deserialize, Serialize};

/// One progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: String,
    /// Between 0 and 1 when known; values outside are clamped when recorded.
    pub fraction: Option<f64>,
}

impl Progress {
    /// The fraction as recorded: clamped to 0..=1, and absent when not a number.
    pub fn recorded_fraction(&self) -> Option<f64> {
        self.fraction.filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 1.0))
    }
}
