//! Safety boundaries shared by every layer. Today: argv [`redaction`] for audit records
//! and prompts. (Scopes, the environment allowlist and the sandbox join here.)

pub mod redaction;
