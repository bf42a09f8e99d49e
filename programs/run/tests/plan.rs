//! Planning through a scripted model: a good answer is kept; a duplicate, missing or
//! out-of-range index, a provider error or garbage text fall back to one criterion per
//! level with the reason; the prompt never carries a criterion's check.

use serde_json::json;

use ooo_core::runtime::{LlmProvider, RuntimeError, RuntimeErrorKind};
use ooo_core::seed::raw::Format;
use ooo_core::seed::{MetadataDefaults, Seed, load_str};
use ooo_run::plan::{Plan, PlanSource, SCHEMA_NAME, plan};
use ooo_runtime::scripted::ScriptedProvider;

const SECRET_COMMAND: &str = "cargo test --test secret_oracle_check";
const SECRET_ASSERTION: &str = "SECRET-ASSERTION-7f3a";

fn seed() -> Seed {
    let text = json!({
        "goal": "a tiny calculator",
        "acceptance_criteria": [
            {"description": "add two numbers", "verify_command": SECRET_COMMAND,
             "output_assertion": SECRET_ASSERTION},
            {"description": "subtract two numbers", "verify_command": "sh sub.sh"},
            {"description": "a CLI over add and subtract", "verify_exemption_reason": "manual"}
        ],
        "ontology_schema": {"name": "calc", "description": "d"},
        "metadata": {"seed_id": "seed_plan", "created_at": "2026-07-02T00:00:00Z"}
    });
    load_str(&text.to_string(), Format::Json, &MetadataDefaults::generate()).unwrap().seed
}

fn plan_with(answer: impl FnOnce(&ScriptedProvider)) -> (Plan, ScriptedProvider) {
    let provider = ScriptedProvider::new();
    answer(&provider);
    let p = plan(Some(&provider as &dyn LlmProvider), &seed());
    (p, provider)
}

fn fallback_reason(p: &Plan) -> &str {
    assert_eq!(p.levels, vec![vec![0], vec![1], vec![2]], "fallback is one per level");
    match &p.source {
        PlanSource::Fallback { reason } => reason,
        other => panic!("expected a fallback, got {other:?}"),
    }
}

#[test]
fn a_good_answer_becomes_the_plan() {
    let (p, provider) = plan_with(|s| {
        s.push_json(json!({"levels": [[0, 1], [2]], "reason": "the CLI needs both"}));
    });
    assert_eq!(p.levels, vec![vec![0, 1], vec![2]]);
    assert_eq!(p.source, PlanSource::Model { model: "scripted".into() });
    let requests = provider.requests();
    assert_eq!(requests.len(), 1);
    let structured = requests[0].structured.as_ref().expect("structured output requested");
    assert_eq!(structured.name, SCHEMA_NAME);
    assert_eq!(structured.schema["required"], json!(["levels", "reason"]));
}

#[test]
fn a_json_answer_given_as_text_is_accepted() {
    let (p, _) = plan_with(|s| {
        s.push_text(r#" {"levels": [[2], [0, 1]], "reason": "x"} "#);
    });
    assert_eq!(p.levels, vec![vec![2], vec![0, 1]]);
}

#[test]
fn a_duplicate_index_falls_back() {
    let (p, _) = plan_with(|s| {
        s.push_json(json!({"levels": [[0, 1], [1, 2]], "reason": "r"}));
    });
    assert!(fallback_reason(&p).contains("criterion 1 appears more than once"), "{p:?}");
}

#[test]
fn a_missing_index_falls_back() {
    let (p, _) = plan_with(|s| {
        s.push_json(json!({"levels": [[0], [2]], "reason": "r"}));
    });
    assert!(fallback_reason(&p).contains("criterion 1 is missing"), "{p:?}");
}

#[test]
fn an_out_of_range_index_falls_back() {
    let (p, _) = plan_with(|s| {
        s.push_json(json!({"levels": [[0, 1, 2, 3]], "reason": "r"}));
    });
    assert!(fallback_reason(&p).contains("criterion 3 is out of range 0..3"), "{p:?}");
}

#[test]
fn an_empty_level_falls_back() {
    let (p, _) = plan_with(|s| {
        s.push_json(json!({"levels": [[0, 1], [], [2]], "reason": "r"}));
    });
    assert!(fallback_reason(&p).contains("level 1 is empty"), "{p:?}");
}

#[test]
fn a_provider_error_falls_back_with_its_kind() {
    let (p, _) = plan_with(|s| {
        s.push_error(RuntimeError::new(
            RuntimeErrorKind::RateLimited,
            "scripted",
            "429 after 3 retries",
            "wait",
        ));
    });
    let reason = fallback_reason(&p);
    assert!(reason.contains("rate_limited") && reason.contains("429 after 3 retries"), "{reason}");
}

#[test]
fn an_answer_off_the_schema_falls_back() {
    let (p, _) = plan_with(|s| {
        s.push_json(json!({"levels": "all at once"}));
    });
    assert!(fallback_reason(&p).contains("schema_mismatch"), "{p:?}");
}

#[test]
fn garbage_text_falls_back() {
    let (p, _) = plan_with(|s| {
        s.push_text("Sure! Here is my plan: do them all.");
    });
    assert!(fallback_reason(&p).contains("not a JSON plan"), "{p:?}");
}

#[test]
fn no_provider_falls_back() {
    let p = plan(None, &seed());
    assert_eq!(fallback_reason(&p), "no model configured");
}

#[test]
fn the_prompt_carries_descriptions_but_no_checks() {
    let (_, provider) = plan_with(|s| {
        s.push_json(json!({"levels": [[0], [1], [2]], "reason": "r"}));
    });
    let text: String = provider.requests()[0].messages.iter().map(|m| m.content.as_str()).collect();
    for description in ["add two numbers", "subtract two numbers", "a CLI over add"] {
        assert!(text.contains(description), "{description} missing from {text}");
    }
    for secret in [SECRET_COMMAND, SECRET_ASSERTION, "sub.sh", "manual"] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}
