//! The canonical form of an event and its hash: the one definition every implementation
//! must share to verify our chain (documented in `docs/LEDGER-FORMAT.md`).
//!
//! Canonical bytes: the JSON object
//! `{"actor","aggregate_id","aggregate_type","event_type","id","occurred_at","payload","seq"}`
//! serialised by RFC 8785 (JSON Canonicalization Scheme: keys sorted by UTF-16 code
//! units, no insignificant whitespace, UTF-8, numbers in ECMAScript form).
//! `hash = lowercase_hex(sha256(ascii(prev_hash) || canonical bytes))`, where `prev_hash`
//! is the previous event's `hash`, or [`GENESIS_PREV_HASH`] for the first event.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Event;

/// The `prev_hash` of the first event: 64 zeros.
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields covered by the hash, in a form serde can canonicalise.
#[derive(Serialize)]
struct CanonicalEvent<'a> {
    seq: u64,
    id: &'a str,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    event_type: &'a str,
    payload: &'a Value,
    occurred_at: &'a str,
    actor: &'a str,
}

/// The borrowed fields of an event that the hash covers.
#[derive(Debug, Clone, Copy)]
pub struct HashedFields<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a Value,
    pub occurred_at: &'a str,
    pub actor: &'a str,
}

impl<'a> From<&'a Event> for HashedFields<'a> {
    fn from(e: &'a Event) -> Self {
        Self {
            seq: e.seq,
            id: &e.id,
            aggregate_type: &e.aggregate_type,
            aggregate_id: &e.aggregate_id,
            event_type: &e.event_type,
            payload: &e.payload,
            occurred_at: &e.occurred_at,
            actor: &e.actor,
        }
    }
}

/// RFC 8785 bytes of the hashed fields.
pub fn canonical_bytes(f: HashedFields<'_>) -> Vec<u8> {
    let view = CanonicalEvent {
        seq: f.seq,
        id: f.id,
        aggregate_type: f.aggregate_type,
        aggregate_id: f.aggregate_id,
        event_type: f.event_type,
        payload: f.payload,
        occurred_at: f.occurred_at,
        actor: f.actor,
    };
    // Serialising plain strings, integers and a `Value` cannot fail: JCS only rejects
    // non-finite floats, which `serde_json::Value` cannot hold.
    serde_json_canonicalizer::to_vec(&view).expect("canonical JSON of a ledger event")
}

/// `sha256(prev_hash || canonical)` as lowercase hex.
pub fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical);
    to_hex(&hasher.finalize())
}

/// The hash an event should carry, given the hash of the event before it.
pub fn event_hash(prev_hash: &str, fields: HashedFields<'_>) -> String {
    chain_hash(prev_hash, &canonical_bytes(fields))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(payload: &Value) -> HashedFields<'_> {
        HashedFields {
            seq: 1,
            id: "01JDQ8Z5T1M7V6Y3C8W0A2B4E6",
            aggregate_type: "note",
            aggregate_id: "n1",
            event_type: "note.recorded",
            payload,
            occurred_at: "2026-11-25T11:37:24.123456Z",
            actor: "user:ada",
        }
    }

    #[test]
    fn canonical_bytes_are_sorted_and_compact() {
        let payload = json!({"z": 1.0, "a": "é\u{1}", "m": [true, null]});
        let bytes = canonical_bytes(fields(&payload));
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"actor":"user:ada","aggregate_id":"n1","aggregate_type":"note","#,
                r#""event_type":"note.recorded","id":"01JDQ8Z5T1M7V6Y3C8W0A2B4E6","#,
                r#""occurred_at":"2026-11-25T11:37:24.123456Z","#,
                r#""payload":{"a":"é\u0001","m":[true,null],"z":1},"seq":1}"#
            )
        );
    }

    /// A fixed vector, computed independently (Python: sha256 of 64 zeros followed by
    /// the canonical text). If this changes, every existing ledger stops verifying.
    #[test]
    fn known_hash_vector() {
        let payload = json!({"text": "hello"});
        let h = event_hash(GENESIS_PREV_HASH, fields(&payload));
        assert_eq!(h, "9d812a1e739f296c86639e6e0b76afc5b482f837858a3a2b8713ef37cacc0b8d");
    }
}
