//! The SQLite ledger through the public `Store` API: chain integrity, tamper detection
//! at the right sequence number, projections in the append transaction, queries, and
//! refusal of files that are not (current) ledgers.

mod common;

use common::tamper;
use ooo_core::ledger::{
    Actor, AggregateRef, AppendOptions, Durability, Event, EventQuery, EventType, FaultKind,
    Follower, LedgerError, NewEvent, Projection, ProjectionRows, SqliteStore, Store,
};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn event(kind: &str, id: &str, ty: &str, payload: Value) -> NewEvent {
    NewEvent::new(
        AggregateRef::new(kind, id).unwrap(),
        EventType::parse(ty).unwrap(),
        Actor::user("tester").unwrap(),
        payload,
    )
    .unwrap()
}

fn ledger_with(n: u64) -> (tempfile::TempDir, PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let batch: Vec<NewEvent> = (1..=n)
        .map(|i| event("note", &format!("n{}", i % 3), "note.recorded", json!({"i": i})))
        .collect();
    store.append(&batch, AppendOptions::default()).unwrap();
    (dir, path, store)
}

fn fault_of(path: &Path) -> (u64, FaultKind) {
    let f = SqliteStore::open(path).unwrap().verify().unwrap().fault.expect("tampering detected");
    (f.seq, f.kind)
}

#[test]
fn many_appends_verify() {
    let (_d, path, mut store) = ledger_with(500);
    for i in 0..100 {
        store.append_one(event("note", "x", "note.recorded", json!({"one": i}))).unwrap();
    }
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, 600);
    let head = store.head().unwrap().unwrap();
    assert_eq!(head.seq, 600);
    assert_eq!(report.head_hash.as_deref(), Some(head.hash.as_str()));
    // Reopening keeps everything.
    drop(store);
    assert_eq!(SqliteStore::open(&path).unwrap().verify().unwrap().verified, 600);
}

#[test]
fn edited_payload_byte_is_caught_at_its_seq() {
    let (_d, path, _s) = ledger_with(100);
    tamper(&path, "UPDATE events SET payload = replace(payload, '42', '43') WHERE seq = 42");
    assert_eq!(fault_of(&path), (42, FaultKind::Edited));
}

#[test]
fn edited_actor_is_caught() {
    let (_d, path, _s) = ledger_with(20);
    tamper(&path, "UPDATE events SET actor = 'user:mallory' WHERE seq = 7");
    assert_eq!(fault_of(&path), (7, FaultKind::Edited));
}

#[test]
fn deleted_row_is_caught() {
    let (_d, path, _s) = ledger_with(100);
    tamper(&path, "DELETE FROM events WHERE seq = 58");
    assert_eq!(fault_of(&path), (58, FaultKind::Missing));
}

#[test]
fn deleted_first_row_is_caught() {
    let (_d, path, _s) = ledger_with(10);
    tamper(&path, "DELETE FROM events WHERE seq = 1");
    assert_eq!(fault_of(&path), (1, FaultKind::Missing));
}

#[test]
fn swapped_rows_are_caught() {
    let (_d, path, _s) = ledger_with(100);
    tamper(
        &path,
        "UPDATE events SET seq = -1 WHERE seq = 30;
         UPDATE events SET seq = 30 WHERE seq = 31;
         UPDATE events SET seq = 31 WHERE seq = -1;",
    );
    assert_eq!(fault_of(&path), (30, FaultKind::Reordered));
}

#[test]
fn non_json_payload_is_malformed() {
    let (_d, path, mut store) = ledger_with(10);
    tamper(&path, "UPDATE events SET payload = '{not json' WHERE seq = 4");
    assert_eq!(fault_of(&path), (4, FaultKind::Malformed));
    assert!(matches!(
        store.query(&EventQuery::default()),
        Err(LedgerError::MalformedRow { seq: 4, .. })
    ));
    // The ledger still accepts appends after the damage (they chain onto the head).
    store.append_one(event("note", "y", "note.recorded", json!({}))).unwrap();
}

#[test]
fn triggers_refuse_updates_through_sql() {
    let (_d, path, _s) = ledger_with(3);
    let conn = Connection::open(&path).unwrap();
    let err = conn.execute("UPDATE events SET actor = 'user:x' WHERE seq = 1", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(conn.execute("DELETE FROM events", []).is_err());
}

/// Counts events per aggregate: an explicit projection folded in the append transaction.
struct CountPerAggregate;

impl Projection for CountPerAggregate {
    fn name(&self) -> &str {
        "count_per_aggregate"
    }
    fn event_types(&self) -> &[&str] {
        &["note"]
    }
    fn apply(&self, e: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        if e.payload.get("fail").is_some() {
            return Err(LedgerError::Projection {
                projection: self.name().into(),
                message: "asked to fail".into(),
            });
        }
        let key = format!("{}:{}", e.aggregate_type, e.aggregate_id);
        let n = rows.get(&key)?.and_then(|v| v.as_u64()).unwrap_or(0);
        if e.event_type == "note.retracted" {
            rows.delete(&key)
        } else {
            rows.put(&key, &json!(n + 1))
        }
    }
}

#[test]
fn projections_commit_with_events_and_roll_back_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    store.register(&CountPerAggregate);
    let opts = AppendOptions::default();
    store
        .append(
            &[
                event("note", "a", "note.recorded", json!({})),
                event("note", "a", "note.recorded", json!({})),
                event("note", "b", "note.recorded", json!({})),
            ],
            opts,
        )
        .unwrap();
    assert_eq!(store.projection_get("count_per_aggregate", "note:a").unwrap(), Some(json!(2)));
    // A failing projection aborts the whole batch: no event, no row change.
    let err = store
        .append(
            &[
                event("note", "a", "note.recorded", json!({})),
                event("note", "b", "note.recorded", json!({"fail": 1})),
            ],
            opts,
        )
        .unwrap_err();
    assert!(matches!(err, LedgerError::Projection { .. }), "{err}");
    assert_eq!(store.head().unwrap().unwrap().seq, 3);
    assert_eq!(store.projection_get("count_per_aggregate", "note:a").unwrap(), Some(json!(2)));
    store.append(&[event("note", "b", "note.retracted", json!({}))], opts).unwrap();
    let rows = store.projection_scan("count_per_aggregate", "note:").unwrap();
    assert_eq!(rows, vec![("note:a".to_string(), json!(2))]);
    // Rebuilding from the ledger gives the same rows: the ledger is the source of truth.
    assert_eq!(store.rebuild_projection(&CountPerAggregate).unwrap(), 4);
    assert_eq!(store.projection_scan("count_per_aggregate", "").unwrap(), rows);
}

/// Registered once, a projection folds exactly the event types it declares, on every
/// append and on a rebuild; other events never reach it.
#[test]
fn registered_projections_fold_only_their_event_types() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    store.register(&CountPerAggregate);
    store.register(&CountPerAggregate); // once per name, however often registered
    store
        .append(
            &[
                event("note", "a", "note.recorded", json!({})),
                event("task", "t", "task.created", json!({"fail": 1})),
                event("note", "a", "notes.recorded", json!({})),
            ],
            AppendOptions::default(),
        )
        .unwrap();
    store.append_one(event("note", "a", "note.edited.twice", json!({}))).unwrap();
    let rows = store.projection_scan("count_per_aggregate", "").unwrap();
    assert_eq!(rows, vec![("note:a".to_string(), json!(2))]);
    assert_eq!(store.rebuild_projection(&CountPerAggregate).unwrap(), 2);
    assert_eq!(store.projection_scan("count_per_aggregate", "").unwrap(), rows);
    // A store with nothing registered folds nothing.
    let mut bare = SqliteStore::open(dir.path().join("bare.db")).unwrap();
    bare.append_one(event("note", "a", "note.recorded", json!({}))).unwrap();
    assert!(bare.projection_scan("count_per_aggregate", "").unwrap().is_empty());
}

#[test]
fn queries_filter_by_seq_aggregate_type_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    store
        .append(
            &[
                event("plugin", "p1", "plugin.installed", json!({})),
                event("plugin", "p1", "plugin.trusted", json!({})),
                event("plugins_x", "q", "plugins_x.added", json!({})),
                event("note", "n", "note.recorded", json!({})),
            ],
            AppendOptions { durability: Durability::Relaxed },
        )
        .unwrap();
    let seqs = |q: EventQuery| store.query(&q).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(EventQuery { event_type_prefix: Some("plugin".into()), ..Default::default() }),
        [1, 2]
    );
    assert_eq!(
        seqs(EventQuery { event_type_prefix: Some("plugins_".into()), ..Default::default() }),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(EventQuery {
            aggregate_type: Some("plugin".into()),
            aggregate_id: Some("p1".into()),
            ..Default::default()
        }),
        [1, 2]
    );
    assert_eq!(
        seqs(EventQuery { from_seq: Some(2), to_seq: Some(3), ..Default::default() }),
        [2, 3]
    );
    assert_eq!(seqs(EventQuery { limit: Some(2), ..Default::default() }), [1, 2]);
    assert_eq!(seqs(EventQuery { limit: Some(2), newest: true, ..Default::default() }), [3, 4]);
    assert_eq!(
        seqs(EventQuery {
            occurred_from: Some("2000-01-01T00:00:00.000000Z".into()),
            ..Default::default()
        }),
        [1, 2, 3, 4]
    );
    assert_eq!(
        seqs(EventQuery {
            occurred_before: Some("2000-01-01T00:00:00.000000Z".into()),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
}

#[test]
fn follower_sees_events_from_another_connection() {
    let (_d, path, store) = ledger_with(5);
    let mut follower = Follower::new(&store, EventQuery::default(), 5)
        .with_poll_interval(Duration::from_millis(10));
    assert!(follower.poll().unwrap().is_empty());
    let writer = std::thread::spawn(move || {
        let mut other = SqliteStore::open(&path).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        other.append_one(event("note", "late", "note.recorded", json!({"late": true}))).unwrap();
    });
    let got = follower.wait(Some(Duration::from_secs(10))).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].seq, 6);
    assert!(follower.wait(Some(Duration::from_millis(30))).unwrap().is_empty());
}

#[test]
fn non_sqlite_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    std::fs::write(&path, b"this is my diary, not a database").unwrap();
    assert!(matches!(SqliteStore::open(&path), Err(LedgerError::NotADatabase { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), b"this is my diary, not a database");
}

#[test]
fn corrupt_sqlite_file_is_refused() {
    let (_d, path, store) = ledger_with(50);
    drop(store);
    // Keep the header, destroy the schema page.
    let mut bytes = std::fs::read(&path).unwrap();
    let end = 4096.min(bytes.len());
    for b in &mut bytes[100..end] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let err = SqliteStore::open(&path).err().expect("corrupt file refused");
    assert!(
        matches!(err, LedgerError::Corrupt { .. } | LedgerError::NotADatabase { .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing overwritten");
}

#[test]
fn foreign_database_with_a_migrations_table_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, dirty BOOL); INSERT INTO schema_migrations VALUES (1, 0);")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(SqliteStore::open(&path), Err(LedgerError::NotALedger { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), before, "not switched to WAL, not stamped");
    let mode: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn readers_open_while_a_writer_holds_the_lock() {
    let (_d, path, _s) = ledger_with(5);
    let writer = Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let reader = SqliteStore::open(&path).unwrap();
    assert_eq!(reader.query(&EventQuery::default()).unwrap().len(), 5);
    assert!(reader.verify().unwrap().is_intact());
    // Generous bound: the busy timeout is 30 s, so waiting on the lock would be obvious.
    assert!(started.elapsed() < Duration::from_secs(10), "reader waited for the writer");
    writer.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn event_type_prefix_is_exact_about_case_and_wildcards() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
    store
        .append(
            &[
                event("t", "1", "axb.c", json!({})),
                event("t", "2", "a_b.c", json!({})),
                event("t", "3", "a_b.e", json!({})),
                event("t", "4", "a_b.c.d", json!({})),
                event("t", "5", "a_bc.d", json!({})),
            ],
            AppendOptions::default(),
        )
        .unwrap();
    let seqs = |p: &str| {
        store
            .query(&EventQuery { event_type_prefix: Some(p.into()), ..Default::default() })
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs("a_b"), [2, 3, 4]);
    assert_eq!(seqs("a_b."), [2, 3, 4]);
    assert_eq!(seqs("A_B"), Vec::<u64>::new());
    assert_eq!(seqs("a%"), Vec::<u64>::new());
    assert_eq!(seqs("a_b.c"), [2, 4]);
}

#[test]
fn foreign_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    Connection::open(&path).unwrap().execute_batch("CREATE TABLE recipes (name TEXT)").unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(
        matches!(&err, LedgerError::NotALedger { detail, .. } if detail.contains("recipes")),
        "{err:?}"
    );
}

#[test]
fn newer_schema_is_refused_without_change() {
    let (_d, path, store) = ledger_with(3);
    drop(store);
    Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 'x')", [])
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    match SqliteStore::open(&path) {
        Err(LedgerError::SchemaTooNew { found: 99, supported, .. }) => assert_eq!(supported, 1),
        other => panic!("expected SchemaTooNew, got {:?}", other.err()),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn new_ledger_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, path, _s) = ledger_with(1);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

mod query_semantics {
    //! The SQL built for each query must select exactly what `EventQuery::matches` says.
    use super::*;
    use proptest::prelude::*;

    fn types() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a.b", "a_b.c", "axb.c", "a.b.c", "ab.c", "a.x", "b.a"])
            .prop_map(String::from)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn sql_filters_agree_with_matches(
            specs in prop::collection::vec((types(), 0u8..3), 1..25),
            prefix in prop::option::of(prop::sample::select(vec!["a", "a.", "a_b", "a.b", "A", "ab", "b"])),
            agg in prop::option::of(0u8..3),
            from in prop::option::of(1u64..30),
            to in prop::option::of(1u64..30),
            limit in prop::option::of(1u64..10),
            newest in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut store = SqliteStore::open(dir.path().join("ledger.db")).unwrap();
            let batch: Vec<NewEvent> =
                specs.iter().map(|(t, a)| event("t", &format!("x{a}"), t, json!({}))).collect();
            let all = store.append(&batch, AppendOptions { durability: Durability::Relaxed }).unwrap();
            let query = EventQuery {
                from_seq: from,
                to_seq: to,
                aggregate_type: agg.map(|_| "t".to_string()),
                aggregate_id: agg.map(|a| format!("x{a}")),
                event_type_prefix: prefix.map(String::from),
                limit,
                newest,
                ..Default::default()
            };
            let mut expected: Vec<u64> = all.iter().filter(|e| query.matches(e)).map(|e| e.seq).collect();
            if let Some(n) = limit {
                let n = n as usize;
                if newest {
                    expected = expected[expected.len().saturating_sub(n)..].to_vec();
                } else {
                    expected.truncate(n);
                }
            }
            let got: Vec<u64> = store.query(&query).unwrap().iter().map(|e| e.seq).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
