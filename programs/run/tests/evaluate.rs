//! The evaluation with the real sandbox, real git and a scripted model: approval needs
//! executed mechanical checks that all passed; the semantic stage vetoes at high
//! reward-hacking risk and never approves alone; a failing or bad `mechanical.toml`, a
//! provider error, each end with a clear reason or error.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use ooo_core::runtime::{LlmProvider, RuntimeError, RuntimeErrorKind};
use ooo_core::seed::raw::Format;
use ooo_core::seed::{MetadataDefaults, Seed, load_str};
use ooo_run::evaluate::{
    CheckSource, CheckStatus, EvaluateError, Evaluation, Evidence, SCHEMA_NAME, evaluate,
    load_mechanical,
};
use ooo_run::gate::{GateSettings, GateStatus, GateVerdict};
use ooo_run::workspace::{Workspace, prepare};
use ooo_runtime::scripted::ScriptedProvider;
use ooo_sandbox::Sandbox;

mod support;
use support::{git, sandbox};

const SECRET_COMMAND: &str = "sh tests/secret_oracle_check.sh";

fn seed() -> Seed {
    let text = json!({
        "goal": "a tiny calculator",
        "acceptance_criteria": [
            {"description": "add two numbers", "verify_command": SECRET_COMMAND},
            {"description": "a CLI over add", "verify_exemption_reason": "manual"}
        ],
        "ontology_schema": {"name": "calc", "description": "d"},
        "metadata": {"seed_id": "seed_eval", "created_at": "2026-07-02T00:00:00Z"}
    });
    load_str(&text.to_string(), Format::Json, &MetadataDefaults::generate()).unwrap().seed
}

/// A repository with `scripts/lint.sh` (passes) and, when given, a committed
/// `mechanical.toml`.
struct Repo {
    _dir: tempfile::TempDir,
    ws: Workspace,
}

impl Repo {
    fn new(mechanical: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        write(&root, "scripts/lint.sh", "echo LINT-OK\n");
        write(&root, "src/lib.txt", "code\n");
        if let Some(text) = mechanical {
            write(&root, ".ouroboros/mechanical.toml", text);
        }
        git(&root, &["init", "-q"]);
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "base"]);
        let ws = prepare(&root, "e1", false, &root.join("wt")).unwrap();
        Repo { _dir: dir, ws }
    }
}

fn write(dir: &Path, path: &str, content: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

fn verdict(status: GateStatus) -> GateVerdict {
    let ran = matches!(status, GateStatus::Passed | GateStatus::Failed);
    GateVerdict {
        status,
        command: ran.then(|| SECRET_COMMAND.to_owned()),
        exit_code: ran.then_some(if status == GateStatus::Passed { 0 } else { 1 }),
        timed_out: false,
        output_sha256: ran.then(|| "0".repeat(64)),
        output_tail: if ran { "SECRET-OUTPUT-TAIL".into() } else { String::new() },
        missing_artifacts: Vec::new(),
        empty_artifacts: Vec::new(),
        assertion_met: None,
        tampered: Vec::new(),
        duration_ms: 5,
    }
}

fn low_risk() -> serde_json::Value {
    json!({"score": 0.9, "ac_compliance": 0.95, "goal_alignment": 0.9, "drift": 0.05,
           "reward_hacking_risk": 0.1, "notes": "the adder is implemented"})
}

fn settings() -> GateSettings {
    GateSettings { timeout: Duration::from_secs(60), ..GateSettings::default() }
}

/// Evaluate `repo` with the given verify verdicts and the model's answers.
fn run(
    sandbox: &Sandbox,
    repo: &Repo,
    verify: &[(usize, GateVerdict)],
    provider: Option<&ScriptedProvider>,
) -> Evaluation {
    let seed = seed();
    let checks = match load_mechanical(&repo.ws) {
        Ok(c) => c,
        Err(e) => panic!("{e} ({})", e.hint()),
    };
    let files = vec!["src/add.rs".to_owned(), "tests/add.rs".to_owned()];
    let evidence = Evidence {
        seed: &seed,
        workspace: &repo.ws,
        verify,
        checks: &checks,
        files_changed: &files,
    };
    let provider = provider.map(|p| p as &dyn LlmProvider);
    let e = evaluate(sandbox, &settings(), provider, &evidence);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["approved"], e.approved);
    e
}

const LINT: &str =
    "[[check]]\nname = \"lint\"\ncommand = \"sh scripts/lint.sh\"\ntimeout_seconds = 30\n";

#[test]
fn no_executed_check_is_not_approved_and_the_model_is_not_asked() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new(None);
    let provider = ScriptedProvider::new();
    provider.push_json(low_risk());
    let verify = [(0, verdict(GateStatus::Unverified)), (1, verdict(GateStatus::Exempt))];
    let e = run(&sandbox, &repo, &verify, Some(&provider));
    assert!(!e.approved);
    assert!(e.reason.contains("no mechanical check was executed"), "{}", e.reason);
    assert!(e.reason.contains("a model verdict alone never approves"), "{}", e.reason);
    assert_eq!(e.semantic, None);
    assert!(provider.requests().is_empty(), "no model call when nothing can approve");
    assert!(e.mechanical.iter().all(|c| c.status == CheckStatus::NotRun), "{e:#?}");
}

#[test]
fn all_checks_passing_and_a_low_risk_are_approved() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new(Some(LINT));
    let provider = ScriptedProvider::new();
    provider.push_json(low_risk());
    let verify = [(0, verdict(GateStatus::Passed)), (1, verdict(GateStatus::Exempt))];
    let e = run(&sandbox, &repo, &verify, Some(&provider));
    assert!(e.approved, "{e:#?}");
    assert!(e.reason.starts_with("approved: 2 mechanical checks passed"), "{}", e.reason);
    let lint = e.mechanical.iter().find(|c| c.source == CheckSource::Mechanical).unwrap();
    assert_eq!(
        (lint.name.as_str(), lint.status, lint.exit_code),
        ("lint", CheckStatus::Passed, Some(0))
    );
    assert!(lint.output_tail.contains("LINT-OK") && lint.output_sha256.is_some(), "{lint:#?}");
    assert_eq!(e.mechanical[0].source, CheckSource::Verify { criterion: 0 });
    assert_eq!(e.mechanical[0].name, "add two numbers");
    let semantic = e.semantic.as_ref().unwrap();
    assert_eq!((semantic.reward_hacking_risk, semantic.model.as_str()), (0.1, "scripted"));

    let requests = provider.requests();
    assert_eq!(requests.len(), 1);
    let structured = requests[0].structured.as_ref().expect("structured output requested");
    assert_eq!(structured.name, SCHEMA_NAME);
    assert!(
        structured.schema["required"].as_array().unwrap().contains(&json!("reward_hacking_risk"))
    );
    let prompt = serde_json::to_string(&requests[0].messages).unwrap();
    for expected in [
        "a tiny calculator",
        "add two numbers [passed]",
        "a CLI over add [exempt]",
        "lint: passed, exit 0",
        "src/add.rs",
    ] {
        assert!(prompt.contains(expected), "{expected} missing from {prompt}");
    }
    for secret in [SECRET_COMMAND, "SECRET-OUTPUT-TAIL", "LINT-OK", "scripts/lint.sh"] {
        assert!(!prompt.contains(secret), "{secret} leaked into {prompt}");
    }
}

#[test]
fn a_high_reward_hacking_risk_vetoes() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new(Some(LINT));
    let provider = ScriptedProvider::new();
    let mut answer = low_risk();
    answer["reward_hacking_risk"] = json!(0.8);
    answer["notes"] = json!("the test special-cases its inputs");
    provider.push_json(answer);
    let e = run(&sandbox, &repo, &[(0, verdict(GateStatus::Passed))], Some(&provider));
    assert!(!e.approved, "{e:#?}");
    assert!(e.reason.contains("vetoed") && e.reason.contains("0.80 >= 0.70"), "{}", e.reason);
    assert!(e.reason.contains("special-cases"), "{}", e.reason);
    assert_eq!(e.semantic.unwrap().reward_hacking_risk, 0.8);
}

#[test]
fn a_failing_mechanical_check_is_not_approved() {
    let Some(sandbox) = sandbox() else { return };
    let failing =
        format!("{LINT}\n[[check]]\nname = \"build\"\ncommand = \"echo broken >&2; exit 3\"\n");
    let repo = Repo::new(Some(&failing));
    let provider = ScriptedProvider::new();
    provider.push_json(low_risk());
    let e = run(&sandbox, &repo, &[(0, verdict(GateStatus::Passed))], Some(&provider));
    assert!(!e.approved, "{e:#?}");
    assert!(
        e.reason.contains("1 of 3 mechanical checks did not pass: build (failed)"),
        "{}",
        e.reason
    );
    let build = e.mechanical.iter().find(|c| c.name == "build").unwrap();
    assert_eq!((build.status, build.exit_code), (CheckStatus::Failed, Some(3)));
    assert!(build.output_tail.contains("broken"), "{build:#?}");
    assert_eq!(e.semantic, None);
    assert!(provider.requests().is_empty());
}

#[test]
fn a_check_that_hangs_is_killed_at_its_timeout() {
    let Some(sandbox) = sandbox() else { return };
    let hangs = "[[check]]\nname = \"hangs\"\ncommand = \"sleep 30\"\ntimeout_seconds = 1\n";
    let repo = Repo::new(Some(hangs));
    let started = std::time::Instant::now();
    let e = run(&sandbox, &repo, &[], None);
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let c = &e.mechanical[0];
    assert!(c.timed_out && c.status == CheckStatus::Failed, "{c:#?}");
    assert!(!e.approved);
}

#[test]
fn the_worker_cannot_weaken_or_add_checks() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new(Some(LINT));
    // The worker rewrites the lint script and the check list.
    write(&repo.ws.root, "scripts/lint.sh", "echo fine\n");
    write(
        &repo.ws.root,
        ".ouroboros/mechanical.toml",
        "[[check]]\nname = \"free\"\ncommand = \"true\"\n",
    );
    let e = run(&sandbox, &repo, &[], None);
    assert_eq!(e.mechanical.len(), 1, "the committed check list is used: {e:#?}");
    assert_eq!(
        (e.mechanical[0].name.as_str(), e.mechanical[0].status),
        ("lint", CheckStatus::OracleTampered)
    );
    assert!(!e.approved && e.reason.contains("lint (oracle tampered)"), "{}", e.reason);

    // Without a committed list, the workspace's file is read.
    let repo = Repo::new(None);
    write(&repo.ws.root, ".ouroboros/mechanical.toml", LINT);
    assert_eq!(load_mechanical(&repo.ws).unwrap().len(), 1);
}

#[test]
fn a_bad_mechanical_toml_is_a_clear_error() {
    let repo = Repo::new(Some("[[check]]\nname = \"lint\"\ncommand = \"true\"\ntimeout = 5\n"));
    let err = load_mechanical(&repo.ws).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EvaluateError::Invalid { line: Some(4), .. }), "{text}");
    assert!(
        text.contains(".ouroboros/mechanical.toml line 4 (as committed in ")
            && text.contains("timeout"),
        "{text}"
    );
    assert!(err.hint().contains("[[check]]"), "{}", err.hint());
    eprintln!("{text}\nhint: {}", err.hint());

    let repo = Repo::new(None);
    write(&repo.ws.root, ".ouroboros/mechanical.toml", "[[check]\nname = 1\n");
    let err = load_mechanical(&repo.ws).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            &repo.ws.root.join(".ouroboros/mechanical.toml line 1").display().to_string()
        ),
        "{text}"
    );
    eprintln!("{text}");
}

#[test]
fn a_provider_error_leaves_the_mechanical_stage_alone_and_says_so() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new(Some(LINT));
    let provider = ScriptedProvider::new();
    provider.push_error(RuntimeError::new(
        RuntimeErrorKind::RateLimited,
        "scripted",
        "slow down",
        "wait",
    ));
    let e = run(&sandbox, &repo, &[(0, verdict(GateStatus::Passed))], Some(&provider));
    assert!(e.approved, "{e:#?}");
    assert_eq!(e.semantic, None);
    assert!(e.reason.contains("on the mechanical stage alone"), "{}", e.reason);
    assert!(
        e.reason.contains("the semantic stage did not run") && e.reason.contains("slow down"),
        "{}",
        e.reason
    );

    let none = run(&sandbox, &repo, &[(0, verdict(GateStatus::Passed))], None);
    assert!(
        none.approved && none.reason.contains("did not run: no model configured"),
        "{}",
        none.reason
    );
}

#[test]
fn a_failed_verify_command_is_not_approved() {
    let Some(sandbox) = sandbox() else { return };
    let repo = Repo::new(Some(LINT));
    let e = run(&sandbox, &repo, &[(0, verdict(GateStatus::Failed))], None);
    assert!(!e.approved && e.reason.contains("add two numbers (failed)"), "{}", e.reason);
    let e = run(&sandbox, &repo, &[(0, verdict(GateStatus::OracleTampered))], None);
    assert!(!e.approved && e.reason.contains("add two numbers (oracle tampered)"), "{}", e.reason);
}
