//! The sandbox's one error type: what failed, and the fix to try. Nothing else.

/// Why a confined process could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SandboxError {
    pub kind: ErrorKind,
    pub message: String,
    /// What the user can do about it.
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A mechanism the policy needs is missing on this machine and partial sandboxes
    /// were not allowed.
    Unavailable,
    /// The policy cannot be enforced as written (a path that does not exist, ...).
    BadPolicy,
    /// Setting up failed for another reason (I/O).
    Setup,
}

impl SandboxError {
    pub fn new(kind: ErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { kind, message: message.into(), hint: hint.into() }
    }

    pub fn hint(&self) -> &str {
        &self.hint
    }
}
