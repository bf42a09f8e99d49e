//! `ooo ledger ...` end to end: the real binary in a temporary OUROBOROS_HOME, with
//! snapshots of human and `--json` output. Also the ledger as an auditor meets it: read
//! commands that create nothing and read a read-only copy, many first writers at once,
//! appends refused onto an edited head, and restoring from an export.

mod common;

use common::{TestHome, tamper, with_filters};
use insta::assert_snapshot;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn seeded() -> TestHome {
    let t = TestHome::new();
    t.note("checked the staging deploy by hand", None);
    t.note("seed approved in review", Some("seed:abc123"));
    t.note(
        "a longer note whose payload will not fit into the human table column at all",
        Some("seed:abc123"),
    );
    t
}

#[test]
fn log_human_and_json() {
    let t = seeded();
    with_filters(&t, || {
        assert_snapshot!("log_human", t.ok(&["ledger", "log"]));
        assert_snapshot!("log_json", t.ok(&["ledger", "log", "--json"]));
    });
}

#[test]
fn log_json_lines_carry_every_field() {
    let t = seeded();
    let out = t.ok(&["ledger", "log", "--json"]);
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        for field in [
            "seq",
            "id",
            "event_type",
            "aggregate_type",
            "aggregate_id",
            "occurred_at",
            "actor",
            "payload",
            "prev_hash",
            "hash",
        ] {
            assert!(line.get(field).is_some(), "line {i} lacks {field}");
        }
        assert_eq!(line["actor"], "user:tester");
        assert_eq!(line["seq"], i as u64 + 1);
    }
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
}

#[test]
fn log_filters() {
    let t = seeded();
    let seqs = |args: &[&str]| -> Vec<u64> {
        let mut full = vec!["ledger", "log", "--json"];
        full.extend_from_slice(args);
        t.ok(&full)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&["--aggregate", "seed:abc123"]), [2, 3]);
    assert_eq!(seqs(&["--aggregate", "note"]), [1]);
    assert_eq!(seqs(&["--type", "note"]), [1, 2, 3]);
    assert_eq!(seqs(&["--type", "plugin"]), Vec::<u64>::new());
    assert_eq!(seqs(&["--since", "2"]), [2, 3]);
    assert_eq!(seqs(&["--limit", "2"]), [2, 3], "without --since, --limit keeps the newest");
    assert_eq!(seqs(&["--since", "1", "--limit", "2"]), [1, 2]);
    assert_eq!(seqs(&["--after", "2000-01-01T00:00:00Z"]), [1, 2, 3]);
    assert_eq!(seqs(&["--before", "2000-01-01T00:00:00Z"]), Vec::<u64>::new());
    // A date alone is midnight UTC; --limit after --after keeps the first N after it.
    assert_eq!(seqs(&["--after", "2000-01-01"]), [1, 2, 3]);
    assert_eq!(seqs(&["--after", "2000-01-01", "--limit", "2"]), [1, 2]);
    assert_eq!(seqs(&["--before", "9999-12-31", "--limit", "2"]), [2, 3], "newest N before");
    assert_eq!(seqs(&["--after", "9999-12-31"]), Vec::<u64>::new());
}

#[test]
fn bad_filter_values_are_one_clear_error() {
    let t = seeded();
    let out = t.ooo().args(["ledger", "log", "--after", "yesterday"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: invalid event: time: \"yesterday\" is not RFC 3339"), "{err}");
    let out = t.ooo().args(["ledger", "note", "x", "--aggregate", "nocolon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || {
        assert_snapshot!("note_bad_aggregate", String::from_utf8(out.stderr).unwrap())
    });
}

#[test]
fn verify_intact_human_and_json() {
    let t = seeded();
    with_filters(&t, || {
        assert_snapshot!("verify_ok_human", t.ok(&["ledger", "verify"]));
        assert_snapshot!("verify_ok_json", t.ok(&["ledger", "verify", "--json"]));
    });
}

#[test]
fn verify_empty_ledger() {
    let t = TestHome::new();
    std::fs::create_dir(t.home()).unwrap();
    ooo_core::ledger::SqliteStore::open(t.ledger_db()).unwrap();
    with_filters(&t, || assert_snapshot!("verify_empty", t.ok(&["ledger", "verify"])));
}

/// `log`, `verify` and `export` only read: on a home that does not exist they create
/// neither the home nor the ledger, and say there is none.
#[test]
fn read_commands_create_nothing() {
    let t = TestHome::new();
    for args in [&["ledger", "verify"][..], &["ledger", "log"], &["ledger", "export"]] {
        let out = t.ooo().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        with_filters(&t, || assert_snapshot!("no_ledger", String::from_utf8(out.stderr).unwrap()));
        assert!(!t.home().exists(), "{args:?} created the home");
    }
    // An existing home without a ledger stays without one.
    std::fs::create_dir(t.home()).unwrap();
    t.ooo().args(["ledger", "verify"]).assert().code(1);
    assert_eq!(std::fs::read_dir(t.home()).unwrap().count(), 0);
}

#[test]
fn verify_of_an_empty_export_fails() {
    let t = seeded();
    let file = t.dir.path().join("empty.jsonl");
    std::fs::write(&file, "\n").unwrap();
    let out =
        t.ooo().args(["ledger", "verify", "--file", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || {
        assert_snapshot!("verify_empty_export", String::from_utf8(out.stderr).unwrap())
    });
    let out = t.ooo().args(["ledger", "verify", "--file", "-"]).write_stdin("").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Is this test process root (which ignores permission bits)?
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `ooo` reading the home `home` as someone who cannot write it. Root ignores permission
/// bits, so as root it runs as `nobody` through setpriv (the test dir is opened up for
/// nobody to reach); otherwise as ourselves. `None` as root without setpriv.
fn reader(t: &TestHome, home: &Path) -> Option<std::process::Command> {
    let mut cmd = if is_root() {
        if !Path::new("/usr/bin/setpriv").exists() {
            return None;
        }
        std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = std::process::Command::new("/usr/bin/setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(assert_cmd::cargo::cargo_bin("ooo"));
        cmd
    } else {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("ooo"))
    };
    cmd.env_clear()
        .env("OUROBOROS_HOME", home)
        .env("HOME", t.dir.path().join("user-home"))
        .env("USER", "auditor")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    Some(cmd)
}

/// Every file in `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// A copy of some of a home's files in a directory made read-only (0555, files 0444);
/// the directory is made writable again when dropped, so the test's temp dir can go.
struct ReadOnlyCopy {
    dir: PathBuf,
}

impl ReadOnlyCopy {
    fn new(t: &TestHome, files: &[&str]) -> Self {
        let dir = t.dir.path().join("copy");
        std::fs::create_dir(&dir).unwrap();
        for f in files {
            let to = dir.join(f);
            std::fs::copy(t.home().join(f), &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        Self { dir }
    }
}

impl Drop for ReadOnlyCopy {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
    }
}

fn run_reader(t: &TestHome, home: &Path, args: &[&str]) -> Option<String> {
    let out = reader(t, home)?.args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

/// A copy of a ledger that its reader cannot write (a read-only directory, a 0444 file,
/// another user): `log`, `verify` and `export` read it all and change nothing.
#[test]
fn a_read_only_copy_can_be_logged_verified_and_exported() {
    let t = seeded();
    let read_only = ReadOnlyCopy::new(&t, &["ledger.db"]);
    let copy = read_only.dir.as_path();
    let before = contents(copy);
    let Some(log) = run_reader(&t, copy, &["ledger", "log", "--json"]) else {
        eprintln!("skipping: running as root without setpriv");
        return;
    };
    assert_eq!(log, t.ok(&["ledger", "log", "--json"]));
    assert_eq!(run_reader(&t, copy, &["ledger", "export"]).unwrap(), t.ok(&["ledger", "export"]));
    let verified: Value =
        serde_json::from_str(&run_reader(&t, copy, &["ledger", "verify", "--json"]).unwrap())
            .unwrap();
    let original: Value = serde_json::from_str(&t.ok(&["ledger", "verify", "--json"])).unwrap();
    assert_eq!((verified["ok"].as_bool(), verified["verified"].as_u64()), (Some(true), Some(3)));
    assert_eq!(verified["head_hash"], original["head_hash"]);
    run_reader(&t, copy, &["ledger", "log"]).unwrap();
    assert_eq!(contents(copy), before, "the copy was changed or added to");
}

/// A copy taken while a writer was connected: the newest events are still in the
/// `-wal` file, and a read-only reader sees them too.
#[test]
fn a_read_only_copy_with_its_wal_shows_every_event() {
    let t = seeded();
    // An open connection keeps SQLite from folding the WAL back into the file on exit.
    let held = rusqlite::Connection::open(t.ledger_db()).unwrap();
    held.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap();
    t.note("four, in the wal", None);
    t.note("five, in the wal", None);
    let read_only = ReadOnlyCopy::new(&t, &["ledger.db", "ledger.db-wal", "ledger.db-shm"]);
    let copy = read_only.dir.as_path();
    drop(held);
    assert!(std::fs::metadata(copy.join("ledger.db-wal")).unwrap().len() > 0);
    let before = contents(copy);
    let Some(log) = run_reader(&t, copy, &["ledger", "log", "--json"]) else {
        eprintln!("skipping: running as root without setpriv");
        return;
    };
    let seqs: Vec<u64> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert!(run_reader(&t, copy, &["ledger", "verify"]).unwrap().starts_with("ok: 5 event(s)"));
    assert_eq!(contents(copy), before);
}

/// First use by many processes at once: 20 `ooo ledger note` on a home that does not
/// exist yet all succeed, round after round.
#[test]
fn twenty_first_writers_at_once_all_succeed() {
    for round in 0..10 {
        let t = TestHome::new();
        let children: Vec<_> = (0..20)
            .map(|i| {
                t.std_ooo()
                    .args(["ledger", "note", &format!("writer {i}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}, writer {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let report: Value = serde_json::from_str(&t.ok(&["ledger", "verify", "--json"])).unwrap();
        assert_eq!((report["ok"].as_bool(), report["verified"].as_u64()), (Some(true), Some(20)));
    }
}

/// An append first checks the event it links to; an edited newest event is refused,
/// naming it and the way to restore.
#[test]
fn a_note_is_refused_onto_an_edited_head() {
    let t = seeded();
    tamper(&t.ledger_db(), "UPDATE events SET payload = '{\"text\":\"rewritten\"}' WHERE seq = 3");
    let out = t.ooo().args(["ledger", "note", "one more"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || {
        assert_snapshot!("note_onto_edited_head", String::from_utf8(out.stderr).unwrap())
    });
    let report: Value = serde_json::from_str(
        &String::from_utf8(t.ooo().args(["ledger", "verify", "--json"]).output().unwrap().stdout)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["head_seq"], 2, "nothing was appended after the edited event");
    assert_eq!(report["fault"]["seq"], 3);
}

/// Export, lose the ledger, import: the chain verifies to the same head, and what the
/// projections answered (plugin trust, saved seeds) reads as before.
#[test]
fn import_restores_a_lost_ledger() {
    let t = TestHome::new();
    common::firewall::install(&t, "demo", "./run.sh", serde_json::json!([]));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seeds/hello-cli.yaml");
    t.ok(&["seed", "save", example.to_str().unwrap()]);
    t.note("before the disk failed", None);
    let export = t.dir.path().join("ledger.jsonl");
    std::fs::write(&export, t.ok(&["ledger", "export"])).unwrap();
    let head = t.ok(&["ledger", "verify", "--json"]);
    let plugins = t.ok(&["plugin", "list", "--json"]);
    let seeds = t.ok(&["seed", "list", "--json"]);

    std::fs::rename(t.ledger_db(), t.dir.path().join("lost.db")).unwrap();
    with_filters(&t, || {
        assert_snapshot!("import_restored", t.ok(&["ledger", "import", export.to_str().unwrap()]))
    });
    assert_eq!(t.ok(&["ledger", "verify", "--json"]), head);
    assert_eq!(t.ok(&["plugin", "list", "--json"]), plugins);
    let inspect: Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "demo", "--json"])).unwrap();
    assert_eq!(inspect["trust_state"], "trusted");
    assert_eq!(t.ok(&["seed", "list", "--json"]), seeds);
    assert!(seeds.contains("seed_hello_cli_example"), "{seeds}");
    // The restored ledger takes new events on its chain.
    t.note("after the restore", None);
    assert!(t.ok(&["ledger", "verify"]).starts_with("ok: "));

    // Into a home that does not exist yet.
    let fresh = TestHome::new();
    fresh
        .ooo()
        .args(["ledger", "import", "-"])
        .write_stdin(std::fs::read(&export).unwrap())
        .assert()
        .success();
    let head: Value = serde_json::from_str(&head).unwrap();
    let restored: Value = serde_json::from_str(&fresh.ok(&["ledger", "verify", "--json"])).unwrap();
    assert_eq!(restored["head_hash"], head["head_hash"]);
    assert_eq!(restored["verified"], head["verified"]);
}

#[test]
fn import_refuses_a_non_empty_ledger_and_a_bad_export() {
    let t = seeded();
    let whole = t.ok(&["ledger", "export"]);
    let file = |name: &str, text: &str| {
        let path = t.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let refused = |args: &[&str]| {
        let out = t.ooo().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let export = file("whole.jsonl", &whole);
    let over_existing = refused(&["ledger", "import", &export]);

    let empty = TestHome::new();
    let on = |text: &str, name: &str| {
        let path = file(name, text);
        let out = empty.ooo().args(["ledger", "import", &path]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        String::from_utf8(out.stderr).unwrap()
    };
    let forged = on(&whole.replace("seed approved", "seed rejected"), "forged.jsonl");
    let segment = on(&t.ok(&["ledger", "export", "--since", "2"]), "segment.jsonl");
    let nothing = on("", "nothing.jsonl");
    let garbage = on(&format!("{whole}not json\n"), "garbage.jsonl");
    with_filters(&t, || {
        assert_snapshot!(
            "import_refused",
            [over_existing, forged, segment, nothing, garbage].join("---\n")
        )
    });
    assert_eq!(t.ok(&["ledger", "export"]), whole, "the existing ledger is untouched");
    // The export is checked before anything is created.
    assert!(!empty.home().exists());
}

#[test]
fn verify_names_the_first_bad_seq() {
    let t = seeded();
    tamper(
        &t.ledger_db(),
        "UPDATE events SET payload = '{\"text\":\"seed rejected in review\"}' WHERE seq = 2",
    );
    let out = t.ooo().args(["ledger", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    with_filters(&t, || {
        assert_snapshot!("verify_edited_human", String::from_utf8(out.stderr).unwrap())
    });
    let out = t.ooo().args(["ledger", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["fault"]["seq"], 2);
    assert_eq!(report["fault"]["kind"], "edited");
    assert_eq!(report["verified"], 1);
}

#[test]
fn verify_reports_missing_and_reordered() {
    let t = seeded();
    t.note("four", None);
    tamper(&t.ledger_db(), "DELETE FROM events WHERE seq = 3");
    let out = t.ooo().args(["ledger", "verify", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["fault"]["seq"].as_u64(), report["fault"]["kind"].as_str()),
        (Some(3), Some("missing"))
    );

    let t = seeded();
    tamper(
        &t.ledger_db(),
        "UPDATE events SET seq = -1 WHERE seq = 1; UPDATE events SET seq = 1 WHERE seq = 2;
         UPDATE events SET seq = 2 WHERE seq = -1;",
    );
    let out = t.ooo().args(["ledger", "verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["fault"]["seq"].as_u64(), report["fault"]["kind"].as_str()),
        (Some(1), Some("reordered"))
    );
}

#[test]
fn export_reverifies_elsewhere() {
    let t = seeded();
    let export = t.ok(&["ledger", "export"]);
    assert_eq!(
        export,
        t.ok(&["ledger", "log", "--json"]),
        "export and log --json share one format"
    );
    let file = t.dir.path().join("export.jsonl");
    std::fs::write(&file, &export).unwrap();
    let elsewhere = TestHome::new();
    let out = elsewhere.ok(&["ledger", "verify", "--file", file.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["verified"], 3);
    // A segment made with --since verifies from its anchor.
    let tail = t.ok(&["ledger", "export", "--since", "2"]);
    assert_eq!(tail.lines().count(), 2);
    elsewhere
        .ooo()
        .args(["ledger", "verify", "--file", "-"])
        .write_stdin(tail.clone())
        .assert()
        .success();
    // A forged line does not.
    let forged = tail.replace("approved", "rejected");
    let out = elsewhere
        .ooo()
        .args(["ledger", "verify", "--file", "-"])
        .write_stdin(forged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken at seq 2: edited"));
}

#[test]
fn follow_prints_events_appended_by_other_processes() {
    let t = seeded();
    let mut child = t
        .std_ooo()
        .args(["ledger", "log", "--follow", "--json", "--type", "note"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut appended = false;
    while seen.len() < 5 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
        if seen.len() == 3 && !appended {
            t.note("appended while following", None);
            t.note("and another", Some("seed:abc123"));
            appended = true;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(seen[4]["payload"]["text"], "and another");
}

#[test]
fn note_json_and_empty_note() {
    let t = TestHome::new();
    let out = t.ok(&["ledger", "note", "--json", "  trimmed  "]);
    let event: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(event["payload"]["text"], "trimmed");
    assert_eq!(event["event_type"], "note.recorded");
    assert_eq!(event["aggregate_type"], "note");
    let out = t.ooo().args(["ledger", "note", "   "]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: the note is empty\nhint: ooo ledger note \"what you observed\"\n"
    );
}

/// A reader that goes away early (`ooo ... | head`) ends the command quietly with exit
/// 0. The output is made far bigger than a pipe buffer, and the pipe is closed before
/// anything is read, so the write really fails with EPIPE.
#[test]
fn closed_pipe_is_not_a_crash() {
    let t = TestHome::new();
    // One argument may be at most 128 KiB (Linux MAX_ARG_STRLEN).
    let big = "x".repeat(120_000);
    for _ in 0..8 {
        t.note(&big, None);
    }
    for args in [
        &["ledger", "export"][..],
        &["ledger", "log"],
        &["ledger", "log", "--json"],
        &["completions", "zsh"],
    ] {
        let mut child =
            t.std_ooo().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
