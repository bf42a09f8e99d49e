//! `ooo ledger ...` end to end: the real binary in a temporary OUROBOROS_HOME, with
//! snapshots of human and `--json` output.

mod common;

use common::{TestHome, tamper, with_filters};
use insta::assert_snapshot;
use std::io::{BufRead, BufReader};
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
    with_filters(&t, || assert_snapshot!("verify_empty", t.ok(&["ledger", "verify"])));
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
