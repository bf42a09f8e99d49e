//! The event model: what a caller asks to append ([`NewEvent`], built from validated
//! parts) and what the ledger stores and returns ([`Event`]).
//!
//! Validation of names lives here; hashing lives in `canonical`, storage in the backends.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

use super::LedgerError;

/// Largest payload accepted, in bytes of compact JSON. Evidence that big belongs in a
/// file referenced by hash, not in the ledger.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Largest integer magnitude a payload may hold (I-JSON, RFC 7493): the canonical form
/// writes numbers as IEEE doubles, so bigger integers would not survive a round trip.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A stored ledger event, as read back from a backend or an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Global, gap-free sequence number, starting at 1.
    pub seq: u64,
    /// Unique id (a ULID).
    pub id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Dotted, past tense: `plugin.installed`, `note.recorded`.
    pub event_type: String,
    /// A JSON object.
    pub payload: Value,
    /// UTC with microseconds: `2026-11-25T11:37:24.123456Z`.
    pub occurred_at: String,
    /// Who caused it: `user:<name>`, `program:<name>` or `plugin:<name>`.
    pub actor: String,
    /// The previous event's hash (64 zeros for the first event).
    pub prev_hash: String,
    /// `sha256(prev_hash || canonical bytes)`, lowercase hex.
    pub hash: String,
}

/// What causes an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// A human at the keyboard.
    pub fn user(name: &str) -> Result<Self, LedgerError> {
        Self::parse(&format!("user:{name}"))
    }

    /// A first-party program (`auto`, `run`, ...).
    pub fn program(name: &str) -> Result<Self, LedgerError> {
        Self::parse(&format!("program:{name}"))
    }

    /// An installed plugin.
    pub fn plugin(name: &str) -> Result<Self, LedgerError> {
        Self::parse(&format!("plugin:{name}"))
    }

    /// Parse `kind:name` where kind is `user`, `program` or `plugin`.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let (kind, name) = text
            .split_once(':')
            .ok_or_else(|| LedgerError::invalid("actor", format!("{text:?} is not kind:name")))?;
        if !matches!(kind, "user" | "program" | "plugin") {
            return Err(LedgerError::invalid(
                "actor",
                format!("kind {kind:?} is not one of user, program, plugin"),
            ));
        }
        check_identifier("actor", name, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')
        })?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A dotted event type such as `plugin.trusted`: two or more lowercase segments of
/// `[a-z][a-z0-9_]*`. (Past tense is a naming convention that code cannot check.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(String);

impl EventType {
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let segments: Vec<&str> = text.split('.').collect();
        let segment_ok = |s: &&str| {
            let mut chars = s.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if segments.len() < 2 || !segments.iter().all(segment_ok) || text.len() > 128 {
            return Err(LedgerError::invalid(
                "event_type",
                format!("{text:?} is not dotted lowercase like \"note.recorded\""),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The thing an event is about: `<type>:<id>`, for example `plugin_invocation:01J...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateRef {
    kind: String,
    id: String,
}

impl AggregateRef {
    pub fn new(kind: &str, id: &str) -> Result<Self, LedgerError> {
        check_identifier("aggregate_type", kind, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        })?;
        check_identifier("aggregate_id", id, |c| !c.is_control() && !c.is_whitespace())?;
        Ok(Self { kind: kind.to_owned(), id: id.to_owned() })
    }

    /// Parse `T:ID` (split at the first colon; the id may itself contain colons).
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let (kind, id) = text
            .split_once(':')
            .ok_or_else(|| LedgerError::invalid("aggregate", format!("{text:?} is not TYPE:ID")))?;
        Self::new(kind, id)
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for AggregateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// An event a caller wants appended. Sequence, id, time and hashes are assigned by the
/// store inside the append transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub aggregate: AggregateRef,
    pub event_type: EventType,
    pub payload: Value,
    pub actor: Actor,
}

impl NewEvent {
    /// Build an event, checking the payload (a JSON object of safe numbers, at most
    /// [`MAX_PAYLOAD_BYTES`]).
    pub fn new(
        aggregate: AggregateRef,
        event_type: EventType,
        actor: Actor,
        payload: Value,
    ) -> Result<Self, LedgerError> {
        check_payload(&payload)?;
        Ok(Self { aggregate, event_type, payload, actor })
    }
}

fn check_identifier(
    field: &'static str,
    text: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), LedgerError> {
    if text.is_empty() || text.len() > 256 {
        return Err(LedgerError::invalid(field, "must be 1 to 256 bytes"));
    }
    if let Some(bad) = text.chars().find(|c| !allowed(*c)) {
        return Err(LedgerError::invalid(
            field,
            format!("character {bad:?} is not allowed in {text:?}"),
        ));
    }
    Ok(())
}

/// Check that `payload` is an object, small enough, and holds only I-JSON numbers.
pub fn check_payload(payload: &Value) -> Result<(), LedgerError> {
    if !payload.is_object() {
        return Err(LedgerError::invalid("payload", "must be a JSON object"));
    }
    check_numbers(payload)?;
    let size = serde_json::to_vec(payload).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_PAYLOAD_BYTES {
        return Err(LedgerError::invalid(
            "payload",
            format!("{size} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit"),
        ));
    }
    Ok(())
}

fn check_numbers(value: &Value) -> Result<(), LedgerError> {
    match value {
        Value::Number(n) => {
            let safe = if let Some(u) = n.as_u64() {
                u <= MAX_SAFE_INTEGER
            } else if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= MAX_SAFE_INTEGER
            } else {
                n.as_f64().is_some_and(f64::is_finite)
            };
            if safe {
                Ok(())
            } else {
                Err(LedgerError::invalid(
                    "payload",
                    format!("number {n} is outside the safe range ±(2^53-1); store it as a string"),
                ))
            }
        }
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(map) => map.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actors() {
        assert_eq!(Actor::user("ada").unwrap().as_str(), "user:ada");
        assert!(Actor::parse("plugin:review-bot").is_ok());
        assert!(Actor::parse("robot:x").is_err());
        assert!(Actor::parse("user:").is_err());
        assert!(Actor::parse("user:a b").is_err());
        assert!(Actor::parse("nocolon").is_err());
    }

    #[test]
    fn event_types() {
        assert!(EventType::parse("note.recorded").is_ok());
        assert!(EventType::parse("plugin.trust_granted").is_ok());
        for bad in ["note", "Note.recorded", "note..x", ".a.b", "a.b.", "a.1b", "a.b-c", ""] {
            assert!(EventType::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn aggregates() {
        let a = AggregateRef::parse("plugin_invocation:01J:x").unwrap();
        assert_eq!((a.kind(), a.id()), ("plugin_invocation", "01J:x"));
        assert_eq!(a.to_string(), "plugin_invocation:01J:x");
        assert!(AggregateRef::parse("noid").is_err());
        assert!(AggregateRef::parse("Bad:x").is_err());
        assert!(AggregateRef::parse("t:has space").is_err());
        assert!(AggregateRef::parse("t:").is_err());
    }

    #[test]
    fn payload_rules() {
        assert!(check_payload(&json!({"a": [1, 2.5, -3, "x", null]})).is_ok());
        assert!(check_payload(&json!([1])).is_err());
        assert!(check_payload(&json!("text")).is_err());
        assert!(check_payload(&json!({"n": 9_007_199_254_740_991u64})).is_ok());
        assert!(check_payload(&json!({"n": 9_007_199_254_740_992u64})).is_err());
        assert!(check_payload(&json!({"n": {"deep": [-9_007_199_254_740_992i64]}})).is_err());
        let big = "x".repeat(MAX_PAYLOAD_BYTES);
        assert!(check_payload(&json!({ "big": big })).is_err());
    }
}
