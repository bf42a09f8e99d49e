//! Provenance: which external thing a principal touched, and how (a repository read, a
//! ticket updated). Recorded as an event under the principal's aggregate. What does not
//! live here: anything about a particular external system.

use serde::{Deserialize, Serialize};

/// One external thing touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// What kind of thing (`repository`, `file`, `url`, ...), as the principal says.
    pub kind: String,
    /// Which one.
    pub identifier: String,
    /// What was done (`read`, `updated`, ...).
    pub action: String,
}
