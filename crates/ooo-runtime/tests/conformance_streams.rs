//! The event streams the real CLIs printed (captured once against a fake model, kept in
//! `../shared/conformance/runtimes/<cli>-<scenario>.stdout.jsonl`, outside this
//! repository) through each adapter's parser: session, texts, tool calls, file changes,
//! usage, and the final result or the error kind. A clone without that folder skips these
//! with a note. Also properties of every parser: no line makes one panic, and how the
//! output is cut into reads, stray blank or foreign lines and CRLF endings change nothing.

use std::path::{Path, PathBuf};

use ooo_core::runtime::{AgentEvent, FileChangeKind, RuntimeError, RuntimeErrorKind, Usage};
use ooo_runtime::cli::claude::Claude;
use ooo_runtime::cli::codex::Codex;
use ooo_runtime::cli::gemini::Gemini;
use ooo_runtime::cli::opencode::OpenCode;
use ooo_runtime::cli::{CliAdapter, StreamEnd};
use proptest::prelude::*;

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/runtimes");

/// The captured files, or `None` (with a note) when this checkout has none.
fn captures() -> Option<Vec<PathBuf>> {
    let dir = Path::new(CAPTURES);
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!(
            "skipped: no captured CLI streams at {} (they live outside the repository)",
            dir.display()
        );
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".stdout.jsonl"))
        .collect();
    files.sort();
    Some(files)
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// The adapter a capture belongs to, by its `<cli>-` prefix.
fn adapter_for(name: &str) -> Box<dyn CliAdapter> {
    match name.split('-').next() {
        Some("claude") => Box::new(Claude),
        Some("codex") => Box::new(Codex),
        Some("gemini") => Box::new(Gemini),
        Some("opencode") => Box::new(OpenCode),
        _ => panic!("{name}: no adapter for this capture"),
    }
}

fn adapters() -> [Box<dyn CliAdapter>; 4] {
    [Box::new(Claude), Box::new(Codex), Box::new(Gemini), Box::new(OpenCode)]
}

/// What a parser made of a run: its events and how it ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<AgentEvent>,
    end: Result<StreamEnd, RuntimeError>,
}

fn parse_lines<'a>(adapter: &dyn CliAdapter, lines: impl IntoIterator<Item = &'a str>) -> Outcome {
    let mut parser = adapter.parser(&ooo_core::runtime::AgentTask::new("", "."));
    let mut events = Vec::new();
    for line in lines {
        events.extend(parser.line(line).expect("no captured line ends a run early"));
    }
    Outcome { events, end: parser.finish(Some(0)) }
}

fn parse_file(path: &Path) -> Outcome {
    let text = std::fs::read_to_string(path).unwrap();
    parse_lines(adapter_for(file_name(path)).as_ref(), text.lines())
}

/// How a capture should end.
#[derive(Debug)]
enum End {
    Final(&'static str),
    Error(RuntimeErrorKind, u16, &'static str),
}

/// What each capture must normalise to.
struct Expect {
    session: &'static str,
    model: Option<&'static str>,
    texts: &'static [&'static str],
    tools: &'static [&'static str],
    files: &'static [(&'static str, FileChangeKind)],
    /// Summed over the run: input, output, cost.
    tokens: (u64, u64),
    cost: Option<f64>,
    end: End,
}

const HELLO: &str = "Hello from the fake model.";
const DONE: &str = "DONE: wrote file";
const HELLO_TXT: &str = "/home/dev/work/hello.txt";
const SCRIPTED_ERROR: End = End::Error(RuntimeErrorKind::BadRequest, 400, "fake: scripted error");

fn expected(name: &str) -> Expect {
    use FileChangeKind::{Added, Modified, Written};
    let e = |session, texts, tools, files, tokens, cost, end| Expect {
        session,
        model: None,
        texts,
        tools,
        files,
        tokens,
        cost,
        end,
    };
    match name {
        "claude-text.stdout.jsonl" => Expect {
            model: Some("claude-opus-4-8[1m]"),
            ..e(
                "ccf77475-fff0-45c4-bc12-bf049f2bda24",
                &[HELLO],
                &[],
                &[],
                (100, 20),
                Some(0.001),
                End::Final(HELLO),
            )
        },
        "claude-write.stdout.jsonl" => Expect {
            model: Some("claude-opus-4-8[1m]"),
            ..e(
                "a3b1858c-617b-404d-98a7-525bf257c1b9",
                &[DONE],
                &["Write"],
                &[(HELLO_TXT, Added)],
                (200, 40),
                Some(0.002),
                End::Final(DONE),
            )
        },
        "claude-write-partial.stdout.jsonl" => Expect {
            model: Some("claude-opus-4-8[1m]"),
            ..e(
                "535f9b8a-b106-445a-8038-c7f3a7d41d05",
                &[DONE],
                &["Write"],
                &[(HELLO_TXT, Added)],
                (200, 40),
                Some(0.002),
                End::Final(DONE),
            )
        },
        "claude-resume.stdout.jsonl" => Expect {
            model: Some("claude-sonnet-4-5"),
            ..e(
                "6cedaf47-4367-4564-b903-2e65e00f2580",
                &[DONE],
                &["Write"],
                &[(HELLO_TXT, Added)],
                (200, 40),
                Some(0.0012),
                End::Final(DONE),
            )
        },
        // The synthetic "API Error" assistant message is Claude Code's, not the model's.
        "claude-error.stdout.jsonl" => Expect {
            model: Some("claude-opus-4-8[1m]"),
            ..e(
                "f25c2860-2908-4375-96c0-5e9d5d58eb8a",
                &[],
                &[],
                &[],
                (0, 0),
                None,
                End::Error(
                    RuntimeErrorKind::BadRequest,
                    400,
                    "API Error: 400 fake: scripted error",
                ),
            )
        },
        "codex-text.stdout.jsonl" => e(
            "01a234d6-7d51-74d1-ae79-c30720ea9605",
            &[HELLO],
            &[],
            &[],
            (100, 20),
            None,
            End::Final(HELLO),
        ),
        "codex-write.stdout.jsonl" => e(
            "01a234d6-815a-7661-b6ca-7b19cc8fd14a",
            &[DONE],
            &["command_execution"],
            &[],
            (200, 40),
            None,
            End::Final(DONE),
        ),
        "codex-write-apply_patch.stdout.jsonl" => e(
            "01a234d6-f8fe-7620-929c-2eb709b3b414",
            &[DONE],
            &[],
            &[(HELLO_TXT, Added)],
            (200, 40),
            None,
            End::Final(DONE),
        ),
        // Codex's usage is cumulative over the thread, earlier runs included (200 + 200).
        "codex-resume.stdout.jsonl" => e(
            "01a234d7-35af-7a91-987c-11d0716b068a",
            &[DONE],
            &["command_execution"],
            &[],
            (400, 80),
            None,
            End::Final(DONE),
        ),
        "codex-error.stdout.jsonl" => {
            e("01a234d6-8696-7011-b71f-765e3061e047", &[], &[], &[], (0, 0), None, SCRIPTED_ERROR)
        }
        "gemini-text.stdout.jsonl" => Expect {
            model: Some("auto"),
            ..e(
                "28e423ad-e1af-4524-b1ef-05caa607fbd8",
                &["Hello from th", "e fake model."],
                &[],
                &[],
                (200, 40),
                None,
                End::Final(HELLO),
            )
        },
        "gemini-write.stdout.jsonl" => Expect {
            model: Some("auto"),
            ..e(
                "1c59a4d7-ecff-41cb-9641-41cd804bc05c",
                &["DONE: wr", "ote file"],
                &["write_file"],
                &[(HELLO_TXT, Written)],
                (300, 60),
                None,
                End::Final(DONE),
            )
        },
        "gemini-resume.stdout.jsonl" => Expect {
            model: Some("gemini-2.5-pro"),
            ..e(
                "86bfa5de-9186-4563-a98f-60431d337314",
                &["DONE: wr", "ote file"],
                &["write_file"],
                &[(HELLO_TXT, Written)],
                (200, 40),
                None,
                End::Final(DONE),
            )
        },
        "gemini-error.stdout.jsonl" => Expect {
            model: Some("auto"),
            ..e("7e126e87-415d-479b-94fd-e0322e53b671", &[], &[], &[], (0, 0), None, SCRIPTED_ERROR)
        },
        "opencode-text.stdout.jsonl" => e(
            "ses_dcb2947acffejHEExrTV2xdK9h",
            &[HELLO],
            &[],
            &[],
            (100, 20),
            Some(0.0),
            End::Final(HELLO),
        ),
        "opencode-write.stdout.jsonl" => e(
            "ses_dcb2935ccffew01gnuTQXUKnA6",
            &[DONE],
            &["write"],
            &[(HELLO_TXT, Added)],
            (200, 40),
            Some(0.0),
            End::Final(DONE),
        ),
        "opencode-anthropic-write.stdout.jsonl" => e(
            "ses_dcb28f3e0ffe853Vp7YHjSQBfe",
            &[DONE],
            &["write"],
            &[(HELLO_TXT, Added)],
            (200, 40),
            Some(0.0),
            End::Final(DONE),
        ),
        "opencode-responses-write.stdout.jsonl" => e(
            "ses_dcb28dfd6ffe5pMXGqX3ylw2Rp",
            &[DONE],
            &["write"],
            &[(HELLO_TXT, Added)],
            (200, 40),
            Some(0.0),
            End::Final(DONE),
        ),
        // The file existed: the first run of the session wrote it.
        "opencode-resume.stdout.jsonl" => e(
            "ses_dcb2891d5ffeVCiZ1owaal18wN",
            &[DONE],
            &["write"],
            &[(HELLO_TXT, Modified)],
            (200, 40),
            Some(0.0),
            End::Final(DONE),
        ),
        "opencode-error.stdout.jsonl" => {
            e("ses_dcb2921d1ffeMjURta7N3kyfzJ", &[], &[], &[], (0, 0), None, SCRIPTED_ERROR)
        }
        other => panic!("{other}: a capture without expectations; add them here"),
    }
}

fn check(name: &str, outcome: &Outcome, expect: &Expect) {
    let events = &outcome.events;
    let sessions: Vec<(&str, Option<&str>)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::SessionStarted { session_id, model } => {
                Some((session_id.as_str(), model.as_deref()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(sessions, [(expect.session, expect.model)], "{name}: session");
    assert!(
        matches!(events.first(), Some(AgentEvent::SessionStarted { .. })),
        "{name}: session first"
    );

    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::AssistantText { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, expect.texts, "{name}: texts");

    let calls: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = calls.iter().map(|(_, n)| *n).collect();
    assert_eq!(names, expect.tools, "{name}: tool calls");
    for (id, _) in &calls {
        let answered = events.iter().any(
            |e| matches!(e, AgentEvent::ToolResult { id: rid, is_error: false, .. } if rid == id),
        );
        assert!(answered, "{name}: tool call {id} has no successful result");
    }

    let files: Vec<(PathBuf, FileChangeKind)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::FileChange { path, kind } => Some((path.clone(), *kind)),
            _ => None,
        })
        .collect();
    let want: Vec<(PathBuf, FileChangeKind)> =
        expect.files.iter().map(|(p, k)| (PathBuf::from(p), *k)).collect();
    assert_eq!(files, want, "{name}: file changes");

    let mut total = Usage::default();
    for event in events {
        if let AgentEvent::Usage(u) = event {
            total.add(u);
        }
    }
    assert_eq!((total.input_tokens, total.output_tokens), expect.tokens, "{name}: tokens");
    match (total.cost_usd, expect.cost) {
        (Some(got), Some(want)) => assert!((got - want).abs() < 1e-9, "{name}: cost {got}"),
        (got, want) => assert_eq!(got, want, "{name}: cost"),
    }
    assert!(
        !events.iter().any(|e| matches!(e, AgentEvent::Final(_))),
        "{name}: Final comes from finish"
    );

    match (&outcome.end, &expect.end) {
        (Ok(StreamEnd::Final(AgentEvent::Final(result))), End::Final(text)) => {
            assert!(result.success, "{name}: {result:?}");
            assert_eq!(result.text, *text, "{name}: final text");
            let resume =
                result.resume.as_ref().unwrap_or_else(|| panic!("{name}: no resume handle"));
            assert_eq!(resume.runtime, name.split('-').next().unwrap(), "{name}: resume runtime");
            assert_eq!(resume.session_id, expect.session, "{name}: resume session");
        }
        (Err(err), End::Error(kind, status, message)) => {
            assert_eq!(err.kind, *kind, "{name}: {err:?}");
            assert_eq!(err.status, Some(*status), "{name}: {err:?}");
            assert_eq!(err.message, *message, "{name}: {err:?}");
            assert_eq!(err.runtime, name.split('-').next().unwrap(), "{name}: {err:?}");
            assert!(!err.hint.is_empty(), "{name}: no hint");
        }
        (got, want) => panic!("{name}: ended {got:?}, expected {want:?}"),
    }
}

#[test]
fn every_capture_normalises_as_expected() {
    let Some(files) = captures() else { return };
    assert!(!files.is_empty(), "{CAPTURES} holds no captures");
    for cli in ["claude", "codex", "gemini", "opencode"] {
        assert!(
            files.iter().any(|f| file_name(f).starts_with(&format!("{cli}-"))),
            "no capture for {cli}"
        );
    }
    for path in &files {
        let name = file_name(path);
        check(name, &parse_file(path), &expected(name));
    }
}

#[test]
fn partial_messages_change_nothing_but_ids() {
    let Some(files) = captures() else { return };
    let find = |name: &str| files.iter().find(|f| file_name(f) == name).cloned();
    let (Some(plain), Some(partial)) =
        (find("claude-write.stdout.jsonl"), find("claude-write-partial.stdout.jsonl"))
    else {
        return;
    };
    let shape = |o: Outcome| {
        o.events
            .into_iter()
            .map(|e| match e {
                AgentEvent::SessionStarted { .. } => "session".to_owned(),
                AgentEvent::ToolCall { name, input, .. } => format!("call {name} {input}"),
                AgentEvent::ToolResult { output, is_error, .. } => {
                    format!("result {output} {is_error}")
                }
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(parse_file(&plain)), shape(parse_file(&partial)));
}

/// Lines as a driver would cut them out of `bytes` read in the given chunk sizes.
fn reassemble(bytes: &[u8], chunks: &[usize]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut rest = bytes;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        for &b in chunk {
            if b == b'\n' {
                lines.push(String::from_utf8(std::mem::take(&mut pending)).unwrap());
            } else {
                pending.push(b);
            }
        }
    }
    if !pending.is_empty() {
        lines.push(String::from_utf8(pending).unwrap());
    }
    lines
}

/// Lines no parser may act on: CLIs print such things between their events.
const NOISE: &[&str] = &[
    "",
    "   ",
    "Reading additional input from stdin...",
    "! permission requested: bash (ls); auto-rejecting",
    r#"{"type":"never_seen_before","session_id":"x"}"#,
    r#"{"no_type":true}"#,
    "[1,2,3]",
    "{",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reads_noise_and_line_endings_do_not_change_the_events(
        chunks in prop::collection::vec(1usize..300, 1..8),
        noise in prop::collection::vec((0usize..64, 0..NOISE.len()), 0..6),
        crlf in any::<bool>(),
    ) {
        let Some(files) = captures() else { return Ok(()) };
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let adapter = adapter_for(file_name(path));
            let reference = parse_lines(adapter.as_ref(), text.lines());

            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for &(at, which) in &noise {
                let at = at % (lines.len() + 1);
                lines.insert(at, NOISE[which].to_owned());
            }
            let ending = if crlf { "\r\n" } else { "\n" };
            let stream: String = lines.iter().map(|l| format!("{l}{ending}")).collect();
            let read = reassemble(stream.as_bytes(), &chunks);
            let outcome = parse_lines(adapter.as_ref(), read.iter().map(String::as_str));
            prop_assert_eq!(&outcome, &reference, "{}", file_name(path));
        }
    }
}

/// A JSON value of any shape, small.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z_/. -]{0,12}".prop_map(serde_json::Value::from),
        prop::sample::select(FIELDS).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Event types and field names the four parsers read, so random lines reach their
/// typed paths rather than stopping at an unknown type.
const FIELDS: &[&str] = &[
    "system",
    "init",
    "assistant",
    "user",
    "result",
    "stream_event",
    "thread.started",
    "item.started",
    "item.completed",
    "turn.completed",
    "turn.failed",
    "error",
    "message",
    "tool_use",
    "tool_result",
    "step_start",
    "step_finish",
    "text",
    "agent_message",
    "command_execution",
    "file_change",
    "mcp_tool_call",
    "type",
    "subtype",
    "session_id",
    "sessionID",
    "model",
    "content",
    "id",
    "name",
    "input",
    "tool_use_id",
    "is_error",
    "api_error_status",
    "total_cost_usd",
    "usage",
    "tool_use_result",
    "filePath",
    "file_path",
    "thread_id",
    "item",
    "changes",
    "path",
    "kind",
    "status",
    "command",
    "aggregated_output",
    "exit_code",
    "role",
    "delta",
    "tool_name",
    "tool_id",
    "parameters",
    "output",
    "stats",
    "part",
    "tool",
    "callID",
    "state",
    "metadata",
    "exists",
    "reason",
    "tokens",
    "cost",
    "data",
    "statusCode",
    "input_tokens",
    "output_tokens",
    "success",
    "stop",
    "Write",
    "write",
    "write_file",
    "create",
];

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_lines(
        text in prop::collection::vec(any::<String>(), 0..4),
        json in prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..4),
        exit in any::<Option<i32>>(),
    ) {
        let mut lines = text;
        for (kind, value) in json {
            let mut line = value;
            if let Some(map) = line.as_object_mut() {
                map.insert("type".into(), kind.into());
            }
            lines.push(line.to_string());
        }
        for adapter in adapters() {
            let mut parser = adapter.parser(&ooo_core::runtime::AgentTask::new("", "."));
            for line in &lines {
                // An error is allowed (a hopeless retry); a panic is not.
                let _ = parser.line(line);
            }
            let _ = parser.finish(exit);
        }
    }

    #[test]
    fn no_parser_panics_on_cut_or_spliced_captures(
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        splice in prop::collection::vec(prop::sample::select(FIELDS), 1..3),
    ) {
        let Some(files) = captures() else { return Ok(()) };
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let line = lines[at.index(lines.len())];
            let boundaries: Vec<usize> =
                (0..=line.len()).filter(|i| line.is_char_boundary(*i)).collect();
            let i = boundaries[cut.index(boundaries.len())];
            let spliced = format!("{}\"{}\"{}", &line[..i], splice.join("\":\""), &line[i..]);
            for mangled in [&line[..i], &line[i..], spliced.as_str()] {
                for adapter in adapters() {
                    let mut parser = adapter.parser(&ooo_core::runtime::AgentTask::new("", "."));
                    for l in &lines[..at.index(lines.len())] {
                        prop_assert!(parser.line(l).is_ok());
                    }
                    let _ = parser.line(mangled);
                    let _ = parser.finish(Some(1));
                }
            }
        }
    }
}
