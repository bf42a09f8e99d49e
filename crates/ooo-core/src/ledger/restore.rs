//! What a chain must be before a backend restores it ([`crate::ledger::Store::restore`],
//! `ooo ledger import`): the whole chain, from the genesis hash, intact, and made of
//! events an append could have stored (valid names, actor, payload, time and id).
//!
//! What does not live here: reading an export file (`export`) and storing the events
//! (each backend's `restore`, which calls [`check`] first).

use std::collections::HashMap;

use super::chain::{Fault, FaultKind, verify_events};
use super::event::check_payload;
use super::{Actor, AggregateRef, Event, EventType, LedgerError, timestamp};

/// Refuse a chain that is not whole, not intact, or holds an event that is not valid.
/// An empty chain passes (there is nothing to restore).
pub fn check(events: &[Event]) -> Result<(), LedgerError> {
    let Some(first) = events.first() else { return Ok(()) };
    if first.seq != 1 {
        return Err(LedgerError::ImportNotFromGenesis { first_seq: first.seq });
    }
    if let Some(fault) = verify_events(events).fault {
        return Err(LedgerError::ImportBroken { fault });
    }
    let mut ids: HashMap<&str, u64> = HashMap::with_capacity(events.len());
    for event in events {
        let malformed = |detail: String| LedgerError::ImportBroken {
            fault: Fault { seq: event.seq, kind: FaultKind::Malformed, detail },
        };
        valid(event).map_err(|e| malformed(e.to_string()))?;
        if let Some(earlier) = ids.insert(&event.id, event.seq) {
            return Err(malformed(format!("its id {} is also event {earlier}'s", event.id)));
        }
    }
    Ok(())
}

/// The checks an append makes on what it stores.
fn valid(event: &Event) -> Result<(), LedgerError> {
    AggregateRef::new(&event.aggregate_type, &event.aggregate_id)?;
    EventType::parse(&event.event_type)?;
    Actor::parse(&event.actor)?;
    check_payload(&event.payload)?;
    if !timestamp::is_ledger_form(&event.occurred_at) {
        return Err(LedgerError::invalid(
            "occurred_at",
            format!("{:?} is not UTC with six fractional digits", event.occurred_at),
        ));
    }
    if ulid::Ulid::from_string(&event.id).is_err() {
        return Err(LedgerError::invalid("id", format!("{:?} is not a ULID", event.id)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::{HashedFields, event_hash};
    use crate::ledger::chain::test_chain;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Event> {
        let mut events = test_chain((1..=n).map(|i| json!({ "n": i })));
        // test_chain's ids are fixed strings; give them real ULIDs and re-chain.
        let mut prev = crate::ledger::canonical::GENESIS_PREV_HASH.to_owned();
        for e in &mut events {
            e.id = ulid::Ulid::new().to_string();
            e.prev_hash = prev;
            e.hash = event_hash(&e.prev_hash, HashedFields::from(&*e));
            prev = e.hash.clone();
        }
        events
    }

    #[test]
    fn a_whole_intact_chain_passes() {
        check(&chain(5)).unwrap();
        check(&[]).unwrap();
    }

    #[test]
    fn a_segment_is_refused() {
        let events = chain(5);
        let err = check(&events[2..]).unwrap_err();
        assert!(matches!(err, LedgerError::ImportNotFromGenesis { first_seq: 3 }), "{err:?}");
    }

    #[test]
    fn a_broken_chain_is_refused_at_its_fault() {
        let mut events = chain(5);
        events[3].payload = json!({"n": "forged"});
        match check(&events) {
            Err(LedgerError::ImportBroken { fault }) => {
                assert_eq!((fault.seq, fault.kind), (4, FaultKind::Edited));
            }
            other => panic!("expected ImportBroken, got {other:?}"),
        }
    }

    #[test]
    fn an_invalid_event_is_refused_even_when_hashed_consistently() {
        let mut events = chain(3);
        events[2].actor = "root".into();
        events[2].hash = event_hash(&events[2].prev_hash, HashedFields::from(&events[2]));
        match check(&events) {
            Err(LedgerError::ImportBroken { fault }) => {
                assert_eq!((fault.seq, fault.kind), (3, FaultKind::Malformed));
                assert!(fault.detail.contains("actor"), "{}", fault.detail);
            }
            other => panic!("expected ImportBroken, got {other:?}"),
        }
    }
}
