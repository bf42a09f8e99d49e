//! The SQLite ledger as an auditor meets it: read-only opens that create and change
//! nothing, the check of the newest event before every append, and restoring a ledger
//! from an exported chain.

mod common;

use common::tamper;
use ooo_core::ledger::{
    Actor, AggregateRef, AppendOptions, Event, EventQuery, EventType, FaultKind, LedgerError,
    NewEvent, Projection, ProjectionRows, SqliteStore, Store,
};
use rusqlite::Connection;
use serde_json::json;
use std::path::PathBuf;

fn note(id: &str, i: u64) -> NewEvent {
    NewEvent::new(
        AggregateRef::new("note", id).unwrap(),
        EventType::parse("note.recorded").unwrap(),
        Actor::user("tester").unwrap(),
        json!({ "i": i }),
    )
    .unwrap()
}

/// Counts events per aggregate id.
struct PerId;

impl Projection for PerId {
    fn name(&self) -> &str {
        "per_id"
    }
    fn event_types(&self) -> &[&str] {
        &["note"]
    }
    fn apply(&self, e: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        let n = rows.get(&e.aggregate_id)?.and_then(|v| v.as_u64()).unwrap_or(0);
        rows.put(&e.aggregate_id, &json!(n + 1))
    }
}

fn ledger_with(n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store.register(&PerId);
    let batch: Vec<NewEvent> = (1..=n).map(|i| note(&format!("n{}", i % 3), i)).collect();
    store.append(&batch, AppendOptions::default()).unwrap();
    (dir, path)
}

fn all(store: &SqliteStore) -> Vec<Event> {
    store.query(&EventQuery::default()).unwrap()
}

#[test]
fn read_only_open_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-home").join("ledger.db");
    let err = SqliteStore::open_read_only(&missing).err().expect("no ledger");
    assert!(matches!(err, LedgerError::NoLedger { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("no ledger at {}", missing.display()));
    assert!(!dir.path().join("no-home").exists());

    let empty = dir.path().join("ledger.db");
    std::fs::write(&empty, b"").unwrap();
    let err = SqliteStore::open_read_only(&empty).err().expect("no ledger");
    assert!(matches!(err, LedgerError::NoLedger { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing created");
}

#[test]
fn read_only_open_reads_everything_and_writes_nothing() {
    let (_d, path) = ledger_with(12);
    let before = std::fs::read(&path).unwrap();
    let mut store = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(all(&store).len(), 12);
    assert!(store.verify().unwrap().is_intact());
    assert_eq!(store.projection_get("per_id", "n1").unwrap(), Some(json!(4)));
    let err = store.append_one(note("x", 1)).unwrap_err();
    assert!(matches!(err, LedgerError::ReadOnly { .. }), "{err:?}");
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn read_only_open_refuses_what_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    Connection::open(&path).unwrap().execute_batch("CREATE TABLE recipes (name TEXT)").unwrap();
    let err = SqliteStore::open_read_only(&path).err().unwrap();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err:?}");
}

#[test]
fn append_refuses_to_chain_onto_an_edited_head() {
    let (_d, path) = ledger_with(5);
    tamper(&path, "UPDATE events SET payload = '{\"i\":500}' WHERE seq = 5");
    let mut store = SqliteStore::open(&path).unwrap();
    match store.append_one(note("x", 6)) {
        Err(LedgerError::BrokenHead { seq: 5, .. }) => {}
        other => panic!("expected BrokenHead at 5, got {other:?}"),
    }
    assert_eq!(store.head().unwrap().unwrap().seq, 5, "nothing appended");

    // Only its prev_hash changed: refused too.
    let (_d, path) = ledger_with(3);
    tamper(&path, &format!("UPDATE events SET prev_hash = '{}' WHERE seq = 3", "e".repeat(64)));
    let err = SqliteStore::open(&path).unwrap().append_one(note("x", 4)).unwrap_err();
    assert!(matches!(err, LedgerError::BrokenHead { seq: 3, .. }), "{err:?}");
}

/// The check before an append looks at the newest event only (constant time); a break
/// further back is `verify`'s to find.
#[test]
fn an_older_break_is_left_to_verify() {
    let (_d, path) = ledger_with(5);
    tamper(&path, "UPDATE events SET payload = '{\"i\":200}' WHERE seq = 2");
    let mut store = SqliteStore::open(&path).unwrap();
    store.append_one(note("x", 6)).unwrap();
    let fault = store.verify().unwrap().fault.expect("verify finds it");
    assert_eq!((fault.seq, fault.kind), (2, FaultKind::Edited));
}

#[test]
fn restore_reproduces_the_chain_and_its_projections() {
    let (_d, path) = ledger_with(30);
    let source = SqliteStore::open(&path).unwrap();
    let events = all(&source);
    let dir = tempfile::tempdir().unwrap();
    let mut restored = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    restored.register(&PerId);
    assert_eq!(restored.restore(&events).unwrap(), 30);
    assert_eq!(all(&restored), events);
    let report = restored.verify().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.head_hash, source.verify().unwrap().head_hash);
    assert_eq!(
        restored.projection_scan("per_id", "").unwrap(),
        source.projection_scan("per_id", "").unwrap()
    );
    // Appends continue the restored chain.
    restored.append_one(note("x", 31)).unwrap();
    assert!(restored.verify().unwrap().is_intact());
    // And a ledger that holds events is never overwritten.
    let err = restored.restore(&events).unwrap_err();
    assert!(matches!(err, LedgerError::NotEmpty { events: 31, .. }), "{err:?}");
}

#[test]
fn restore_refuses_a_broken_or_partial_chain_and_stores_nothing() {
    let (_d, path) = ledger_with(6);
    let events = all(&SqliteStore::open(&path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut target = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    target.register(&PerId);

    let mut forged = events.clone();
    forged[3].payload = json!({"i": "forged"});
    match target.restore(&forged) {
        Err(LedgerError::ImportBroken { fault }) => {
            assert_eq!((fault.seq, fault.kind), (4, FaultKind::Edited))
        }
        other => panic!("expected ImportBroken, got {other:?}"),
    }
    let err = target.restore(&events[2..]).unwrap_err();
    assert!(matches!(err, LedgerError::ImportNotFromGenesis { first_seq: 3 }), "{err:?}");
    assert!(target.head().unwrap().is_none());
    assert!(target.projection_scan("per_id", "").unwrap().is_empty());
}

/// A projection that fails rolls the whole import back.
#[test]
fn restore_is_one_transaction() {
    struct Fails;
    impl Projection for Fails {
        fn name(&self) -> &str {
            "fails"
        }
        fn event_types(&self) -> &[&str] {
            &["note"]
        }
        fn apply(&self, e: &Event, _: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
            if e.seq == 4 {
                return Err(LedgerError::Projection {
                    projection: "fails".into(),
                    message: "no".into(),
                });
            }
            Ok(())
        }
    }
    let (_d, path) = ledger_with(6);
    let events = all(&SqliteStore::open(&path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut target = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    target.register(&PerId);
    target.register(&Fails);
    let err = target.restore(&events).unwrap_err();
    assert!(matches!(err, LedgerError::Projection { .. }), "{err:?}");
    assert!(target.head().unwrap().is_none());
    assert!(target.projection_scan("per_id", "").unwrap().is_empty());
}
