//! Chain verification over any ordered stream of events (a database, an export file).
//!
//! [`ChainVerifier`] is fed events in ascending `seq` order and stops at the first fault,
//! classifying it:
//! * **missing**: a sequence number is skipped, or events were removed and the rest
//!   renumbered (the row no longer matches its own hash and links to an unknown event);
//! * **reordered**: an event links to an event that appears *after* it, or a sequence
//!   number goes backwards;
//! * **edited**: an event's content no longer matches its hash, or the event before it
//!   was rewritten and re-hashed (the next event still links to the original hash);
//! * **malformed**: a row that cannot even be read as an event.
//!
//! Truncating the newest events is not detectable from the chain alone; compare the head
//! hash with one recorded elsewhere (`ooo ledger verify` prints it).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::Event;
use super::canonical::{GENESIS_PREV_HASH, HashedFields, event_hash};

/// What kind of damage was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Edited,
    Missing,
    Reordered,
    Malformed,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edited => "edited",
            Self::Missing => "missing",
            Self::Reordered => "reordered",
            Self::Malformed => "malformed",
        }
    }
}

/// The first bad sequence number and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    pub seq: u64,
    pub kind: FaultKind,
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Where verification started: 1 for a whole chain, more for an anchored segment
    /// whose first `prev_hash` was taken on trust.
    pub first_seq: u64,
    /// Events checked and found intact (all of them when `fault` is `None`).
    pub verified: u64,
    /// Sequence number and hash of the last intact event.
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub fault: Option<Fault>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.fault.is_none()
    }
}

/// What the verifier may ask about the rest of the chain when it meets a broken link.
pub trait ChainIndex {
    /// The sequence number of the stored event with this hash, if any.
    fn seq_of_hash(&self, hash: &str) -> Option<u64>;
    /// Does an event with this sequence number exist anywhere in the chain?
    fn contains_seq(&self, seq: u64) -> bool;
}

/// Incremental verifier; see the module docs for the classification.
pub struct ChainVerifier<'a> {
    first_seq: u64,
    expected_seq: u64,
    prev_hash: String,
    verified: u64,
    head_seq: Option<u64>,
    index: &'a dyn ChainIndex,
}

impl<'a> ChainVerifier<'a> {
    /// Verify a whole chain, which must start at seq 1 after the genesis hash.
    pub fn from_genesis(index: &'a dyn ChainIndex) -> Self {
        Self::from_anchor(1, GENESIS_PREV_HASH, index)
    }

    /// Verify a chain segment anchored on its first event (an export made with
    /// `--since`): that event's `seq` and `prev_hash` are taken on trust as the start,
    /// and the report says so (`first_seq`).
    pub fn from_anchor(first_seq: u64, prev_hash: &str, index: &'a dyn ChainIndex) -> Self {
        Self {
            first_seq,
            expected_seq: first_seq,
            prev_hash: prev_hash.to_owned(),
            verified: 0,
            head_seq: None,
            index,
        }
    }

    /// Check the next event. Returns the fault that ends verification, if any.
    pub fn push(&mut self, event: &Event) -> Result<(), Fault> {
        let seq = event.seq;
        let expected = self.expected_seq;
        if seq > expected {
            if self.index.contains_seq(expected) {
                return Err(fault(
                    expected,
                    FaultKind::Reordered,
                    format!("it comes after event {seq}"),
                ));
            }
            let range = if seq - 1 == expected {
                format!("event {expected} is")
            } else {
                format!("events {expected}..={} are", seq - 1)
            };
            return Err(fault(expected, FaultKind::Missing, format!("{range} missing")));
        }
        if seq < expected {
            return Err(fault(
                seq,
                FaultKind::Reordered,
                format!("it appears after event {}", expected - 1),
            ));
        }
        let self_consistent = event_hash(&event.prev_hash, HashedFields::from(event)) == event.hash;
        if event.prev_hash != self.prev_hash {
            if let Some(later) = self.index.seq_of_hash(&event.prev_hash).filter(|s| *s > seq) {
                return Err(fault(
                    seq,
                    FaultKind::Reordered,
                    format!("it links to event {later}, which comes after it"),
                ));
            }
            if event_hash(&self.prev_hash, HashedFields::from(event)) == event.hash {
                return Err(fault(seq, FaultKind::Edited, "its prev_hash was changed".to_owned()));
            }
            // The event before passed every check, so it was rewritten as a whole.
            if self_consistent && self.verified > 0 {
                return Err(fault(
                    seq - 1,
                    FaultKind::Edited,
                    format!(
                        "it was rewritten and re-hashed; event {seq} still links to the original"
                    ),
                ));
            }
            return Err(fault(
                seq,
                FaultKind::Missing,
                "the event it was chained to is gone (removed, later events renumbered)".to_owned(),
            ));
        }
        if !self_consistent {
            return Err(fault(
                seq,
                FaultKind::Edited,
                "its content does not match its hash".to_owned(),
            ));
        }
        let Some(next) = seq.checked_add(1) else {
            return Err(fault(
                seq,
                FaultKind::Malformed,
                "sequence number out of range".to_owned(),
            ));
        };
        self.prev_hash.clone_from(&event.hash);
        self.expected_seq = next;
        self.verified += 1;
        self.head_seq = Some(seq);
        Ok(())
    }

    /// The sequence number the next event should have.
    pub fn expected_seq(&self) -> u64 {
        self.expected_seq
    }

    /// The report so far, ending with `fault` if verification stopped early.
    pub fn finish(self, fault: Option<Fault>) -> VerifyReport {
        let head_hash = self.head_seq.map(|_| self.prev_hash.clone());
        VerifyReport {
            first_seq: self.first_seq,
            verified: self.verified,
            head_seq: self.head_seq,
            head_hash,
            fault,
        }
    }
}

/// A fault at `seq`.
pub fn fault(seq: u64, kind: FaultKind, detail: String) -> Fault {
    Fault { seq, kind, detail }
}

/// An in-memory chain's index.
struct SliceIndex<'e> {
    by_hash: HashMap<&'e str, u64>,
    seqs: HashSet<u64>,
}

impl ChainIndex for SliceIndex<'_> {
    fn seq_of_hash(&self, hash: &str) -> Option<u64> {
        self.by_hash.get(hash).copied()
    }
    fn contains_seq(&self, seq: u64) -> bool {
        self.seqs.contains(&seq)
    }
}

/// Verify an in-memory chain (an export, a test). It is anchored on its first event.
pub fn verify_events(events: &[Event]) -> VerifyReport {
    let index = SliceIndex {
        by_hash: events.iter().map(|e| (e.hash.as_str(), e.seq)).collect(),
        seqs: events.iter().map(|e| e.seq).collect(),
    };
    let mut verifier = match events.first() {
        Some(first) if first.seq != 1 => {
            ChainVerifier::from_anchor(first.seq, &first.prev_hash, &index)
        }
        _ => ChainVerifier::from_genesis(&index),
    };
    for event in events {
        if let Err(fault) = verifier.push(event) {
            return verifier.finish(Some(fault));
        }
    }
    verifier.finish(None)
}

/// A chain of `n` valid events, for tests.
#[cfg(test)]
pub(crate) fn test_chain(payloads: impl IntoIterator<Item = serde_json::Value>) -> Vec<Event> {
    let mut prev = GENESIS_PREV_HASH.to_owned();
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let mut e = Event {
                seq: i as u64 + 1,
                id: format!("01JDQ8Z5T1M7V6Y3C8W0A2B4{i:02}"),
                aggregate_type: "note".into(),
                aggregate_id: "a".into(),
                event_type: "note.recorded".into(),
                payload,
                occurred_at: "2026-11-25T00:00:00.000000Z".into(),
                actor: "user:t".into(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            e.hash = event_hash(&e.prev_hash, HashedFields::from(&e));
            prev.clone_from(&e.hash);
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Event> {
        test_chain((1..=n).map(|i| json!({ "n": i })))
    }

    fn fault(events: &[Event]) -> Option<(u64, FaultKind)> {
        verify_events(events).fault.map(|f| (f.seq, f.kind))
    }

    #[test]
    fn intact_chain() {
        let events = chain(50);
        let r = verify_events(&events);
        assert_eq!(r.verified, 50);
        assert_eq!(r.head_hash.as_deref(), Some(events[49].hash.as_str()));
        assert!(verify_events(&[]).is_intact());
    }

    #[test]
    fn edited_payload() {
        let mut events = chain(10);
        events[6].payload = json!({"n": 700});
        assert_eq!(fault(&events), Some((7, FaultKind::Edited)));
    }

    #[test]
    fn edited_and_rehashed() {
        let mut events = chain(10);
        events[3].payload = json!({"n": "forged"});
        events[3].hash = event_hash(&events[3].prev_hash, HashedFields::from(&events[3]));
        assert_eq!(fault(&events), Some((4, FaultKind::Edited)));
    }

    #[test]
    fn deleted_row() {
        let mut events = chain(10);
        events.remove(4);
        assert_eq!(fault(&events), Some((5, FaultKind::Missing)));
        let mut events = chain(10);
        events.drain(2..5);
        let f = verify_events(&events).fault.unwrap();
        assert_eq!((f.seq, f.kind), (3, FaultKind::Missing));
        assert!(f.detail.contains("3..=5"), "{}", f.detail);
    }

    #[test]
    fn deleted_and_renumbered() {
        let mut events = chain(10);
        events.remove(4);
        for e in &mut events[4..] {
            e.seq -= 1;
        }
        assert_eq!(fault(&events), Some((5, FaultKind::Missing)));
    }

    #[test]
    fn swapped_rows() {
        let mut events = chain(10);
        events.swap(4, 5);
        events[4].seq = 5;
        events[5].seq = 6;
        assert_eq!(fault(&events), Some((5, FaultKind::Reordered)));
        // Stream order broken without touching seq values.
        let mut events = chain(10);
        events.swap(4, 5);
        assert_eq!(fault(&events), Some((5, FaultKind::Reordered)));
    }

    #[test]
    fn edited_prev_hash_only() {
        let mut events = chain(10);
        events[5].prev_hash = "f".repeat(64);
        assert_eq!(fault(&events), Some((6, FaultKind::Edited)));
    }

    #[test]
    fn huge_seq_is_not_a_panic() {
        let mut events = chain(1);
        events[0].seq = u64::MAX;
        events[0].hash = event_hash(&events[0].prev_hash, HashedFields::from(&events[0]));
        let r = verify_events(&events);
        assert_eq!(r.fault.map(|f| f.kind), Some(FaultKind::Malformed));
    }

    #[test]
    fn segment_from_anchor() {
        let events = chain(20);
        let r = verify_events(&events[9..]);
        assert!(r.is_intact());
        assert_eq!(r.verified, 11);
        assert_eq!(r.head_seq, Some(20));
        assert_eq!(r.first_seq, 10, "an anchored segment says where it starts");
    }
}
