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

/// Finds the sequence number of the stored event with a given hash, if any.
type LocateByHash<'a> = Box<dyn Fn(&str) -> Option<u64> + 'a>;

/// Incremental verifier; see the module docs for the classification.
pub struct ChainVerifier<'a> {
    expected_seq: u64,
    prev_hash: String,
    verified: u64,
    head_seq: Option<u64>,
    locate: LocateByHash<'a>,
}

impl<'a> ChainVerifier<'a> {
    /// Verify a whole chain, which must start at seq 1 after the genesis hash.
    pub fn from_genesis(locate: impl Fn(&str) -> Option<u64> + 'a) -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_PREV_HASH.to_owned(),
            verified: 0,
            head_seq: None,
            locate: Box::new(locate),
        }
    }

    /// Verify a chain segment anchored on the first event it is given (an export made
    /// with `--since`): that event's `seq` and `prev_hash` are taken as the starting point.
    pub fn from_anchor(
        first_seq: u64,
        prev_hash: &str,
        locate: impl Fn(&str) -> Option<u64> + 'a,
    ) -> Self {
        Self {
            expected_seq: first_seq,
            prev_hash: prev_hash.to_owned(),
            ..Self::from_genesis(locate)
        }
    }

    /// Check the next event. Returns the fault that ends verification, if any.
    pub fn push(&mut self, event: &Event) -> Result<(), Fault> {
        let seq = event.seq;
        if seq > self.expected_seq {
            let last = seq - 1;
            let range = if last == self.expected_seq {
                format!("event {last} is")
            } else {
                format!("events {}..={last} are", self.expected_seq)
            };
            return Err(self.fault(
                self.expected_seq,
                FaultKind::Missing,
                format!("{range} missing"),
            ));
        }
        if seq < self.expected_seq {
            return Err(self.fault(
                seq,
                FaultKind::Reordered,
                format!("seq {seq} appears after seq {}", self.expected_seq - 1),
            ));
        }
        let computed = event_hash(&event.prev_hash, HashedFields::from(event));
        let self_consistent = computed == event.hash;
        if event.prev_hash != self.prev_hash {
            if let Some(later) = (self.locate)(&event.prev_hash).filter(|s| *s > seq) {
                return Err(self.fault(
                    seq,
                    FaultKind::Reordered,
                    format!("it links to event {later}, which comes after it"),
                ));
            }
            // The event before passed every check, so it was rewritten as a whole.
            if self_consistent && self.verified > 0 {
                return Err(self.fault(
                    seq - 1,
                    FaultKind::Edited,
                    format!(
                        "it was rewritten and re-hashed; event {seq} still links to the original"
                    ),
                ));
            }
            return Err(self.fault(
                seq,
                FaultKind::Missing,
                "the event it was chained to is gone (removed, later events renumbered)".to_owned(),
            ));
        }
        if !self_consistent {
            return Err(self.fault(
                seq,
                FaultKind::Edited,
                "its content does not match its hash".to_owned(),
            ));
        }
        self.prev_hash.clone_from(&event.hash);
        self.expected_seq = seq + 1;
        self.verified += 1;
        self.head_seq = Some(seq);
        Ok(())
    }

    /// Report a row that could not be decoded at all.
    pub fn malformed(&mut self, seq: u64, detail: String) -> Fault {
        self.fault(seq, FaultKind::Malformed, detail)
    }

    fn fault(&self, seq: u64, kind: FaultKind, detail: String) -> Fault {
        Fault { seq, kind, detail }
    }

    /// The report so far, ending with `fault` if verification stopped early.
    pub fn finish(self, fault: Option<Fault>) -> VerifyReport {
        let head_hash = self.head_seq.map(|_| self.prev_hash.clone());
        VerifyReport { verified: self.verified, head_seq: self.head_seq, head_hash, fault }
    }
}

/// Verify a complete in-memory chain (used for exports and in tests).
pub fn verify_events(events: &[Event]) -> VerifyReport {
    let index: std::collections::HashMap<&str, u64> =
        events.iter().map(|e| (e.hash.as_str(), e.seq)).collect();
    let locate = |h: &str| index.get(h).copied();
    let mut verifier = match events.first() {
        Some(first) if first.seq != 1 => {
            ChainVerifier::from_anchor(first.seq, &first.prev_hash, locate)
        }
        _ => ChainVerifier::from_genesis(locate),
    };
    for event in events {
        if let Err(fault) = verifier.push(event) {
            return verifier.finish(Some(fault));
        }
    }
    verifier.finish(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::GENESIS_PREV_HASH;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Event> {
        let mut prev = GENESIS_PREV_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = Event {
                    seq,
                    id: format!("id{seq}"),
                    aggregate_type: "note".into(),
                    aggregate_id: "a".into(),
                    event_type: "note.recorded".into(),
                    payload: json!({ "n": seq }),
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
        assert_eq!(fault(&events), Some((5, FaultKind::Missing)));
    }

    #[test]
    fn segment_from_anchor() {
        let events = chain(20);
        let r = verify_events(&events[9..]);
        assert!(r.is_intact());
        assert_eq!(r.verified, 11);
        assert_eq!(r.head_seq, Some(20));
    }
}
