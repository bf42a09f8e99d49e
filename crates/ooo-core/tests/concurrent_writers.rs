//! Several OS processes appending to one ledger at once, many processes creating a new
//! ledger at once, and a writer killed with SIGKILL in the middle of a stream. The test binary re-executes itself as the writer process
//! (selected by `OOO_TEST_WRITER_DB`), so no helper binary is needed.

use ooo_core::ledger::{Actor, AggregateRef, EventQuery, EventType, NewEvent, SqliteStore, Store};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const WRITER_DB: &str = "OOO_TEST_WRITER_DB";
const WRITER_COUNT: &str = "OOO_TEST_WRITER_COUNT";
const WRITER_NAME: &str = "OOO_TEST_WRITER_NAME";

/// The writer side, run only when re-executed by the tests below (`--ignored`).
#[test]
#[ignore = "helper process for the multi-process tests"]
fn writer_child() {
    let db = std::env::var(WRITER_DB).expect("run by the multi-process tests");
    let count: u64 = std::env::var(WRITER_COUNT).unwrap().parse().unwrap();
    let name = std::env::var(WRITER_NAME).unwrap();
    let mut store = match SqliteStore::open(&db) {
        Ok(store) => store,
        Err(e) => panic!("OPEN FAILED: {e}"),
    };
    let mut out = std::io::stdout().lock();
    for i in 0..count {
        let event = NewEvent::new(
            AggregateRef::new("writer", &name).unwrap(),
            EventType::parse("test.appended").unwrap(),
            Actor::program(&name).unwrap(),
            json!({ "i": i }),
        )
        .unwrap();
        let stored = match store.append_one(event) {
            Ok(stored) => stored,
            Err(e) => panic!("APPEND FAILED: {e}"),
        };
        // Printed only after append returned: the parent trusts these are durable.
        writeln!(out, "APPENDED {} {}", stored.seq, stored.id).unwrap();
        out.flush().unwrap();
    }
}

fn spawn_writer(db: &Path, name: &str, count: u64) -> std::process::Child {
    writer(db, name, count).stderr(Stdio::null()).spawn().unwrap()
}

fn writer(db: &Path, name: &str, count: u64) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "writer_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(WRITER_DB, db)
        .env(WRITER_COUNT, count.to_string())
        .env(WRITER_NAME, name)
        .stdout(Stdio::piped());
    cmd
}

fn appended_lines(child: &mut std::process::Child) -> impl Iterator<Item = (u64, String)> + '_ {
    BufReader::new(child.stdout.as_mut().unwrap()).lines().map_while(Result::ok).filter_map(
        |line| {
            // libtest may print "test writer_child ... " on the same line as the first report.
            let rest = line[line.find("APPENDED ")? + "APPENDED ".len()..].to_owned();
            let (seq, id) = rest.split_once(' ')?;
            Some((seq.parse().ok()?, id.to_owned()))
        },
    )
}

#[test]
fn four_processes_append_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    SqliteStore::open(&db).unwrap(); // create first so all writers race on appends only
    let mut children: Vec<_> = (0..4).map(|w| spawn_writer(&db, &format!("w{w}"), 500)).collect();
    let mut reported = Vec::new();
    for child in &mut children {
        reported.extend(appended_lines(child).collect::<Vec<_>>());
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(reported.len(), 2000);
    let store = SqliteStore::open(&db).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, 2000);
    let events = store.query(&EventQuery::default()).unwrap();
    for w in 0..4 {
        let mine: Vec<u64> = events
            .iter()
            .filter(|e| e.aggregate_id == format!("w{w}"))
            .map(|e| e.payload["i"].as_u64().unwrap())
            .collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>(), "writer w{w} lost or reordered events");
    }
}

/// First use: 20 processes open a ledger that does not exist yet and append one event
/// each. Every one must succeed, every round (opening used to race: one process saw
/// another's half-initialised database as a foreign one, or was refused as busy).
#[test]
fn many_processes_create_a_new_ledger_at_once() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        // A child that fails panics with the error, on the inherited stderr.
        let mut children: Vec<_> =
            (0..20).map(|w| writer(&db, &format!("w{w}"), 1).spawn().unwrap()).collect();
        let mut reported = 0;
        for (w, child) in children.iter_mut().enumerate() {
            reported += appended_lines(child).count();
            assert!(child.wait().unwrap().success(), "round {round}: writer w{w} failed");
        }
        assert_eq!(reported, 20, "round {round}");
        let report = SqliteStore::open(&db).unwrap().verify().unwrap();
        assert!(report.is_intact(), "round {round}: {report:?}");
        assert_eq!(report.verified, 20, "round {round}");
    }
}

#[test]
fn sigkilled_writer_leaves_a_verifiable_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let mut child = spawn_writer(&db, "victim", 1_000_000);
    let reported: Vec<(u64, String)> = appended_lines(&mut child).take(300).collect();
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    assert_eq!(reported.len(), 300);
    let store = SqliteStore::open(&db).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.verified >= 300);
    for (seq, id) in reported {
        let found = store
            .query(&EventQuery { from_seq: Some(seq), to_seq: Some(seq), ..Default::default() })
            .unwrap();
        assert_eq!(found.len(), 1, "event {seq} was reported appended but is missing");
        assert_eq!(found[0].id, id);
    }
}
