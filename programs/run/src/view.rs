//! The worker-safe view of a Seed: the prompts a worker gets for one acceptance
//! criterion ([`worker_prompt`]) and after a failed check ([`retry_prompt`]).
//!
//! A worker may know what to build (the goal, constraints, the criterion's description
//! and the files it must produce) but never how ooo will check it: no prompt contains a
//! criterion's `verify_command` or `output_assertion`, of this criterion or any other.
//! That is not left to the templates alone: every prompt passes through [`redact`], which
//! removes each of those strings wherever it appears (a description quoting its command,
//! a check's output echoing it), replacing it with a marker made of characters none of
//! them contains, so no occurrence survives or is formed anew. An unmet assertion is
//! described as "the check's output lacked the expected text".
//!
//! What does not live here: running the worker, the gate itself ([`crate::gate`]).

use std::fmt::Write as _;

use ooo_core::seed::{AcceptanceCriterion, Seed};

use crate::gate::{GateStatus, GateVerdict};
use crate::oracle::TamperKind;

/// Markers for a removed secret, tried in order; the first sharing no character with
/// any secret is used.
const MARKERS: &[&str] = &["[redacted]", "<hidden>", "\u{2588}\u{2588}\u{2588}", "\u{E000}"];

/// The prompt for implementing criterion `index` (0-based) of `seed`.
pub fn worker_prompt(seed: &Seed, index: usize) -> String {
    redact(seed, &task_text(seed, index))
}

/// The prompt for another attempt at criterion `index` after the gate's `failure`: the
/// task again, then what failed, the tail of the check's output and the missing files.
pub fn retry_prompt(seed: &Seed, index: usize, failure: &GateVerdict) -> String {
    let mut text = task_text(seed, index);
    text.push_str(&failure_text(failure));
    let mut secrets = secrets(seed);
    secrets.extend(failure.command.iter().cloned());
    redact_with(&secrets, &text)
}

/// Every string a worker must not see: each criterion's command and assertion.
fn secrets(seed: &Seed) -> Vec<String> {
    seed.acceptance_criteria
        .iter()
        .flat_map(|c| [c.verify_command.clone(), c.output_assertion.clone()])
        .flatten()
        .collect()
}

/// `text` without any of `seed`'s verify commands and output assertions.
pub fn redact(seed: &Seed, text: &str) -> String {
    redact_with(&secrets(seed), text)
}

/// `text` with every occurrence of every secret replaced by a marker. A secret that is
/// empty or only whitespace is ignored; for each other one, its form with runs of
/// whitespace collapsed is removed too.
fn redact_with(secrets: &[String], text: &str) -> String {
    let mut needles: Vec<String> = Vec::new();
    for secret in secrets.iter().filter(|s| !s.trim().is_empty()) {
        let collapsed = secret.split_whitespace().collect::<Vec<_>>().join(" ");
        needles.push(secret.clone());
        if collapsed != *secret {
            needles.push(collapsed);
        }
    }
    if needles.is_empty() {
        return text.to_owned();
    }
    let marker = MARKERS
        .iter()
        .find(|m| !needles.iter().any(|n| n.contains(|c| m.contains(c))))
        .copied()
        .unwrap_or("");
    let mut text = text.to_owned();
    // With a marker that shares no character with a needle one pass suffices (a match
    // would have to lie in text that was already searched); with none, every pass makes
    // the text shorter.
    loop {
        let masked = mask(&text, &needles);
        if !masked.iter().any(|m| *m) {
            return text;
        }
        text = replace_masked(&text, &masked, marker);
    }
}

/// For each byte of `text`, whether it lies in an occurrence of a needle.
fn mask(text: &str, needles: &[String]) -> Vec<bool> {
    let mut masked = vec![false; text.len()];
    for needle in needles {
        // Every occurrence, overlapping ones too (`match_indices` would skip those).
        let mut from = 0;
        while let Some(pos) = text[from..].find(needle.as_str()) {
            let start = from + pos;
            masked[start..start + needle.len()].iter_mut().for_each(|m| *m = true);
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    masked
}

/// Each run of masked bytes replaced by one `marker` (runs start and end at character
/// boundaries, since every needle does).
fn replace_masked(text: &str, masked: &[bool], marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for (i, c) in text.char_indices() {
        if masked[i] {
            if !in_run {
                out.push_str(marker);
            }
            in_run = true;
        } else {
            in_run = false;
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The texts, before redaction.

fn task_text(seed: &Seed, index: usize) -> String {
    let total = seed.acceptance_criteria.len();
    let mut out = String::new();
    out.push_str(
        "You are implementing one acceptance criterion of a specification, in the repository \
         that is your working directory.\n\n",
    );
    section(&mut out, "Goal", &seed.goal);
    section(&mut out, "Task type", &seed.task_type);
    list(&mut out, "Constraints", &seed.constraints);
    context(&mut out, seed);
    match seed.acceptance_criteria.get(index) {
        Some(criterion) => current(&mut out, criterion, index, total),
        None => {
            let _ = writeln!(
                out,
                "## Criterion to implement now\n(none: the seed has {total} criteria)\n"
            );
        }
    }
    others(&mut out, seed, index);
    ontology(&mut out, seed);
    out.push_str(
        "## How your work is judged\n\
         ooo checks the criterion itself when you are done; saying that it works is not \
         enough. Do not change existing tests, fixtures or check scripts: a criterion whose \
         existing checks were edited fails. Adding new tests is welcome.\n",
    );
    out
}

fn section(out: &mut String, title: &str, body: &str) {
    if !body.trim().is_empty() {
        let _ = writeln!(out, "## {title}\n{}\n", body.trim());
    }
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "## {title}");
    for item in items {
        let _ = writeln!(out, "- {}", item.trim());
    }
    out.push('\n');
}

fn context(out: &mut String, seed: &Seed) {
    let b = &seed.brownfield_context;
    if b.context_references.is_empty() && b.existing_patterns.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Existing code ({})", b.project_type);
    for r in &b.context_references {
        let _ = writeln!(out, "- {} ({}): {}", r.path, r.role, r.summary);
    }
    for p in &b.existing_patterns {
        let _ = writeln!(out, "- pattern: {p}");
    }
    out.push('\n');
}

fn current(out: &mut String, criterion: &AcceptanceCriterion, index: usize, total: usize) {
    let _ = writeln!(out, "## Criterion to implement now ({} of {total})", index + 1);
    let _ = writeln!(out, "{}\n", criterion.description.trim());
    if !criterion.expected_artifacts.is_empty() {
        out.push_str("It must produce these files (relative to the repository; each must exist and not be empty):\n");
        for artifact in &criterion.expected_artifacts {
            let _ = writeln!(out, "- {artifact}");
        }
        out.push('\n');
    }
}

fn others(out: &mut String, seed: &Seed, index: usize) {
    let others: Vec<(usize, &AcceptanceCriterion)> =
        seed.acceptance_criteria.iter().enumerate().filter(|(i, _)| *i != index).collect();
    if others.is_empty() {
        return;
    }
    out.push_str("## The other criteria (context only: do not implement them now)\n");
    for (i, criterion) in others {
        let _ = writeln!(out, "{}. {}", i + 1, criterion.description.trim());
    }
    out.push('\n');
}

fn ontology(out: &mut String, seed: &Seed) {
    let o = &seed.ontology_schema;
    if o.name.trim().is_empty() && o.fields.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Domain model: {}", o.name.trim());
    if !o.description.trim().is_empty() {
        let _ = writeln!(out, "{}", o.description.trim());
    }
    for f in &o.fields {
        let required = if f.required { ", required" } else { "" };
        let _ = writeln!(out, "- {} ({}{required}): {}", f.name, f.field_type, f.description);
    }
    out.push('\n');
}

/// What failed, for the worker: never the command or the assertion themselves.
fn failure_text(failure: &GateVerdict) -> String {
    let mut out = String::from("## Your previous attempt did not pass ooo's check\n");
    match failure.status {
        GateStatus::OracleTampered => {
            out.push_str(
                "You changed files the check depends on. Restore each to its original \
                 content (remove those you added) and meet the criterion by changing the \
                 implementation instead:\n",
            );
            for t in &failure.tampered {
                let how = match t.kind {
                    TamperKind::Modified => "modified",
                    TamperKind::Deleted => "deleted",
                    TamperKind::TypeChanged => {
                        "replaced by something that is not the original file"
                    }
                    TamperKind::Added => "added: it changes how the check runs",
                };
                let _ = writeln!(out, "- {} ({how})", t.path.display());
            }
        }
        GateStatus::Unverified
        | GateStatus::Exempt
        | GateStatus::Passed
        | GateStatus::Cancelled => {
            out.push_str("The check did not report a failure to act on.\n");
        }
        GateStatus::Failed => failed_text(&mut out, failure),
    }
    out
}

fn failed_text(out: &mut String, failure: &GateVerdict) {
    if failure.timed_out {
        out.push_str("- The check did not finish in time and was stopped (look for something that hangs or waits for input).\n");
    } else if let Some(code) = failure.exit_code.filter(|c| *c != 0) {
        let _ = writeln!(out, "- The check failed (exit code {code}).");
    } else if failure.exit_code.is_none() {
        out.push_str("- The check was ended by a signal.\n");
    }
    if failure.assertion_met == Some(false) {
        out.push_str("- The check's output lacked the expected text.\n");
    }
    for artifact in &failure.missing_artifacts {
        let _ = writeln!(out, "- Missing file: {artifact}");
    }
    for artifact in &failure.empty_artifacts {
        let _ = writeln!(out, "- Empty file or directory: {artifact}");
    }
    if !failure.output_tail.trim().is_empty() {
        let fence = "`".repeat(longest_backtick_run(&failure.output_tail).max(2) + 1);
        let _ = writeln!(
            out,
            "\nThe end of the check's output:\n{fence}\n{}\n{fence}",
            failure.output_tail.trim_end()
        );
    }
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::Tamper;
    use ooo_core::seed::{MetadataDefaults, load_str};
    use proptest::prelude::*;

    const SEED: &str = r#"
goal: Make the counter report its value
task_type: code
constraints: ["keep the public API", "run `sh tests/check.sh` before you finish"]
acceptance_criteria:
  - description: "The value is 42 (check with sh tests/check.sh, expect VALUE-OK)"
    verify_command: sh tests/check.sh
    expected_artifacts: [src/value.txt]
    output_assertion: VALUE-OK
  - description: The report exists
    verify_command: "test -s  report.md"
    output_assertion: REPORT-SECRET
  - description: Docs are written
    verify_exemption_reason: prose only
ontology_schema:
  name: Counter
  description: a counter
  fields:
    - {name: value, type: integer, description: the current value, required: true}
metadata:
  seed_id: seed_view
  ambiguity_score: 0.1
"#;

    fn seed() -> Seed {
        load_str(SEED, ooo_core::seed::raw::Format::Yaml, &MetadataDefaults::generate())
            .map(|v| v.seed)
            .unwrap()
    }

    fn forbidden(seed: &Seed) -> Vec<String> {
        secrets(seed)
    }

    fn assert_clean(seed: &Seed, text: &str) {
        for s in forbidden(seed) {
            assert!(!text.contains(&s), "{s:?} leaked into:\n{text}");
        }
    }

    fn failure(status: GateStatus, tail: &str) -> GateVerdict {
        GateVerdict {
            status,
            command: Some("sh tests/check.sh".into()),
            exit_code: Some(1),
            timed_out: false,
            output_sha256: Some("00".into()),
            output_tail: tail.into(),
            missing_artifacts: vec!["src/value.txt".into()],
            empty_artifacts: vec!["docs".into()],
            assertion_met: Some(false),
            tampered: vec![Tamper {
                path: "tests/check.sh".into(),
                kind: TamperKind::Modified,
                diff: "+echo VALUE-OK; exit 0".into(),
            }],
            duration_ms: 3,
        }
    }

    #[test]
    fn the_worker_prompt_has_the_task_and_not_the_oracle() {
        let seed = seed();
        let prompt = worker_prompt(&seed, 0);
        assert_clean(&seed, &prompt);
        for part in [
            "Make the counter",
            "keep the public API",
            "src/value.txt",
            "The report exists",
            "Counter",
            "value (integer, required)",
            "1 of 3",
        ] {
            assert!(prompt.contains(part), "{part:?} missing from:\n{prompt}");
        }
        assert!(
            prompt
                .contains("check with \u{2588}\u{2588}\u{2588}, expect \u{2588}\u{2588}\u{2588})"),
            "the description quoting its command: {prompt}"
        );
        assert!(!prompt.contains("test -s report.md"), "collapsed whitespace too");
        assert_clean(&seed, &worker_prompt(&seed, 2));
        assert_clean(&seed, &worker_prompt(&seed, 99));
    }

    #[test]
    fn the_retry_prompt_says_what_failed_without_the_oracle() {
        let seed = seed();
        let tail = "+ sh tests/check.sh\nvalue is 41, expected 42\nno VALUE-OK here ``` fence";
        let prompt = retry_prompt(&seed, 0, &failure(GateStatus::Failed, tail));
        assert_clean(&seed, &prompt);
        for part in [
            "exit code 1",
            "lacked the expected text",
            "Missing file: src/value.txt",
            "Empty file or directory: docs",
            "value is 41, expected 42",
            "````",
        ] {
            assert!(prompt.contains(part), "{part:?} missing from:\n{prompt}");
        }
        let tampered = retry_prompt(&seed, 0, &failure(GateStatus::OracleTampered, tail));
        assert_clean(&seed, &tampered);
        assert!(tampered.contains("tests/check.sh (modified)"), "{tampered}");
        let mut added = failure(GateStatus::OracleTampered, tail);
        added.tampered[0] =
            Tamper { path: "conftest.py".into(), kind: TamperKind::Added, diff: String::new() };
        let added = retry_prompt(&seed, 0, &added);
        assert!(added.contains("conftest.py (added: it changes how the check runs)"), "{added}");
        assert!(added.contains("remove those you added"), "{added}");
        let mut timeout = failure(GateStatus::Failed, "");
        timeout.timed_out = true;
        assert!(retry_prompt(&seed, 0, &timeout).contains("did not finish in time"));
    }

    #[test]
    fn redaction_handles_secrets_that_overlap_the_marker() {
        let secrets = vec!["[".to_owned(), "a".to_owned(), "d]x".to_owned(), "<".to_owned()];
        let out = redact_with(&secrets, "a[b] d]x <c> aaa");
        for s in &secrets {
            assert!(!out.contains(s.as_str()), "{s:?} in {out:?}");
        }
        let all = MARKERS.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        let out = redact_with(&all, "x[redacted]y<hidden>z");
        assert!(all.iter().all(|s| !out.contains(s.as_str())), "{out:?}");
        assert_eq!(redact_with(&["  ".into()], "a  b"), "a  b");
    }

    proptest! {
        #[test]
        fn no_secret_survives_redaction(
            secrets in proptest::collection::vec("[a-c\\[\\]<>d ]{1,4}", 1..4),
            text in "[a-e\\[\\]<> ]{0,40}",
        ) {
            let out = redact_with(&secrets, &text);
            for s in secrets.iter().filter(|s| !s.trim().is_empty()) {
                prop_assert!(!out.contains(s.as_str()), "{:?} in {:?}", s, out);
            }
        }

        #[test]
        fn prompts_never_hold_a_command_or_an_assertion(
            command in "[a-z ./]{1,12}",
            assertion in "[A-Z!-]{1,8}",
            tail in "[a-zA-Z ./!-]{0,60}",
        ) {
            let mut seed = seed();
            seed.acceptance_criteria[0].verify_command = Some(command.clone());
            seed.acceptance_criteria[0].output_assertion = Some(assertion.clone());
            seed.goal = format!("{} then {} and {}", seed.goal, command, assertion);
            let tail = format!("{tail}{command}{assertion}{tail}");
            let mut verdict = failure(GateStatus::Failed, &tail);
            verdict.command = Some(command.clone());
            for text in [worker_prompt(&seed, 0), retry_prompt(&seed, 0, &verdict), worker_prompt(&seed, 1)] {
                for s in [&command, &assertion] {
                    if !s.trim().is_empty() {
                        prop_assert!(!text.contains(s.as_str()), "{:?} in {}", s, text);
                    }
                }
            }
        }
    }
}
