//! Ledger throughput, run by hand: `cargo bench -p ooo-core --bench ledger [-- --quick]`.
//!
//! Every figure is printed next to a baseline measured in the same run on the same disk:
//! plain SQLite inserts of the same rows (same table shape, WAL, same synchronous level,
//! no hashing, no chain read) and, for verify, a plain scan of the same rows. Ratios,
//! not absolute numbers, are what to compare between machines.

use std::path::Path;
use std::time::Instant;

use ooo_core::ledger::{
    Actor, AggregateRef, AppendOptions, Durability, EventType, NewEvent, SqliteStore, Store,
};
use rusqlite::Connection;
use serde_json::json;

fn event(i: u64) -> NewEvent {
    NewEvent::new(
        AggregateRef::new("bench", &format!("agg-{}", i % 50)).unwrap(),
        EventType::parse("bench.recorded").unwrap(),
        Actor::program("bench").unwrap(),
        json!({ "i": i, "text": "a typical small payload with a few fields", "ok": true }),
    )
    .unwrap()
}

/// A plain table with the same columns, for the baseline.
fn plain_db(path: &Path, synchronous: &str) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};
         CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT, aggregate_type TEXT,
           aggregate_id TEXT, event_type TEXT, payload TEXT, occurred_at TEXT, actor TEXT,
           prev_hash TEXT, hash TEXT);"
    ))
    .unwrap();
    conn
}

fn plain_insert(conn: &Connection, from: u64, count: u64) {
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO events (seq, id, aggregate_type, aggregate_id, event_type, payload,
                  occurred_at, actor, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            )
            .unwrap();
        for i in from..from + count {
            let e = event(i);
            stmt.execute(rusqlite::params![
                i as i64,
                ulid::Ulid::new().to_string(),
                e.aggregate.kind(),
                e.aggregate.id(),
                e.event_type.as_str(),
                e.payload.to_string(),
                "2026-11-25T00:00:00.000000Z",
                e.actor.as_str(),
                "0".repeat(64),
                "f".repeat(64),
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn rate(count: u64, start: Instant) -> f64 {
    count as f64 / start.elapsed().as_secs_f64()
}

fn row(label: &str, ours: f64, baseline: f64) {
    println!(
        "{label:<34} {ours:>12.0}/s   baseline {baseline:>12.0}/s   ratio {:>5.2}",
        ours / baseline
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let singles: u64 = if quick { 200 } else { 2_000 };
    let verify_n: u64 = if quick { 10_000 } else { 100_000 };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "ledger benchmark ({} mode), temp dir {}",
        if quick { "quick" } else { "full" },
        dir.path().display()
    );

    for (label, durability, sync) in [
        ("single append, durable (FULL)", Durability::Durable, "FULL"),
        ("single append, relaxed (NORMAL)", Durability::Relaxed, "NORMAL"),
    ] {
        let plain = plain_db(&dir.path().join(format!("plain-{sync}.db")), sync);
        let t = Instant::now();
        for i in 0..singles {
            plain_insert(&plain, i + 1, 1);
        }
        let baseline = rate(singles, t);
        let mut store = SqliteStore::open(dir.path().join(format!("single-{sync}.db"))).unwrap();
        let opts = AppendOptions { durability };
        let t = Instant::now();
        for i in 0..singles {
            store.append(&[event(i)], opts).unwrap();
        }
        row(label, rate(singles, t), baseline);
    }

    for batch in [100u64, 1_000] {
        let total = if quick { batch * 10 } else { 50_000 };
        let plain = plain_db(&dir.path().join(format!("plain-batch-{batch}.db")), "FULL");
        let t = Instant::now();
        for b in 0..total / batch {
            plain_insert(&plain, b * batch + 1, batch);
        }
        let baseline = rate(total, t);
        let mut store = SqliteStore::open(dir.path().join(format!("batch-{batch}.db"))).unwrap();
        let events: Vec<NewEvent> = (0..batch).map(event).collect();
        let t = Instant::now();
        for _ in 0..total / batch {
            store.append(&events, AppendOptions::default()).unwrap();
        }
        row(&format!("batched append, {batch} per commit"), rate(total, t), baseline);
    }

    // Verify: build a ledger of verify_n events, then walk it; baseline reads the rows.
    let path = dir.path().join("verify.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let events: Vec<NewEvent> = (0..1_000).map(event).collect();
    for _ in 0..verify_n / 1_000 {
        store.append(&events, AppendOptions { durability: Durability::Relaxed }).unwrap();
    }
    let conn = Connection::open(&path).unwrap();
    let t = Instant::now();
    let mut bytes = 0usize;
    {
        let mut stmt = conn.prepare("SELECT * FROM events ORDER BY seq").unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            bytes += r.get_ref(5).unwrap().as_str().unwrap().len();
        }
    }
    let baseline = rate(verify_n, t);
    assert!(bytes > 0);
    let t = Instant::now();
    let report = store.verify().unwrap();
    let ours = rate(verify_n, t);
    assert!(report.is_intact() && report.verified == verify_n);
    row(&format!("verify over {verify_n} events"), ours, baseline);
}
