//! The plan: a Seed's acceptance criteria ordered into dependency levels.
//!
//! Criteria of one level do not depend on each other and may run at once; a level starts
//! only when the levels before it are done. The order comes from one [`LlmProvider`] call
//! with structured output (`{levels: [[int]], reason}`), checked strictly: every criterion
//! index exactly once, in range, no empty level. Anything else (no model, a provider
//! error, text that is not JSON, an invalid answer) falls back to one criterion per level
//! in seed order, and the plan says why ([`PlanSource::Fallback`]).
//!
//! The prompt is built from the criteria's descriptions and the goal only: the planner,
//! like the worker, never sees `verify_command` or `output_assertion`.
//!
//! What does not live here: recording the plan (`events`, `run.plan.recorded`) and running
//! the levels (the executor).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ooo_core::runtime::{
    CompletionOutput, CompletionRequest, LlmProvider, Message, RuntimeError, StructuredOutput,
};
use ooo_core::seed::Seed;

/// Criteria indices (into `Seed::acceptance_criteria`) grouped into levels, run in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub levels: Vec<Vec<usize>>,
    pub source: PlanSource,
}

/// Where a plan came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanSource {
    /// A model's answer, checked; `model` is the model that answered.
    Model { model: String },
    /// One criterion per level in seed order, and why the model's plan was not used.
    Fallback { reason: String },
}

impl Plan {
    /// One criterion per level, in seed order.
    pub fn sequential(count: usize, reason: impl Into<String>) -> Plan {
        Plan {
            levels: (0..count).map(|i| vec![i]).collect(),
            source: PlanSource::Fallback { reason: reason.into() },
        }
    }

    /// How many criteria the plan covers.
    pub fn criteria_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }
}

/// Why a model's plan was not used. Its text is the fallback's reason.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no model configured")]
    NoModel,
    #[error("the model call failed ({}): {}", .0.kind.as_str(), .0.message)]
    Provider(RuntimeError),
    #[error("the model answered text that is not a JSON plan: {0}")]
    NotJson(String),
    #[error("the model's plan is invalid: {0}")]
    Invalid(String),
}

impl PlanError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            PlanError::NoModel => {
                "configure a model provider to plan criteria in parallel levels".into()
            }
            PlanError::Provider(e) => e.hint.clone(),
            PlanError::NotJson(_) | PlanError::Invalid(_) => {
                "nothing to do: the criteria run one per level; try a stronger planning model"
                    .into()
            }
        }
    }
}

/// The name of the structured output's schema.
pub const SCHEMA_NAME: &str = "ooo_run_plan";

/// Order `seed`'s acceptance criteria into levels: the model's plan if it is valid, else
/// one criterion per level with the reason. Never fails.
pub fn plan(provider: Option<&dyn LlmProvider>, seed: &Seed) -> Plan {
    let count = seed.acceptance_criteria.len();
    if count == 0 {
        return Plan::sequential(0, "the seed has no acceptance criteria");
    }
    let Some(provider) = provider else {
        return Plan::sequential(count, PlanError::NoModel.to_string());
    };
    match ask(provider, seed) {
        Ok((levels, model)) => Plan { levels, source: PlanSource::Model { model } },
        Err(e) => Plan::sequential(count, e.to_string()),
    }
}

/// One call to the model and the checked levels, with the model that answered.
fn ask(provider: &dyn LlmProvider, seed: &Seed) -> Result<(Vec<Vec<usize>>, String), PlanError> {
    let completion = provider.complete(&request(seed)).map_err(PlanError::Provider)?;
    let answer = match completion.output {
        CompletionOutput::Json(v) => v,
        CompletionOutput::Text(t) => parse_text(&t)?,
    };
    let levels = validate(&answer, seed.acceptance_criteria.len())?;
    Ok((levels, completion.model))
}

/// A JSON answer given as text (providers without a native JSON mode).
fn parse_text(text: &str) -> Result<Value, PlanError> {
    serde_json::from_str(text.trim()).map_err(|_| PlanError::NotJson(preview(text)))
}

fn preview(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(80) {
        Some((i, _)) => format!("{:?}...", &t[..i]),
        None => format!("{t:?}"),
    }
}

/// The JSON schema the model must answer with.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "levels": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            "reason": {"type": "string"}
        },
        "required": ["levels", "reason"],
        "additionalProperties": false
    })
}

/// The planning request: instructions, then the goal and the criteria's descriptions.
pub fn request(seed: &Seed) -> CompletionRequest {
    let mut request =
        CompletionRequest::new(vec![Message::system(INSTRUCTIONS), Message::user(prompt(seed))]);
    request.temperature = Some(0.0);
    request.max_tokens = Some(2048);
    request.structured = Some(StructuredOutput { name: SCHEMA_NAME.into(), schema: schema() });
    request
}

const INSTRUCTIONS: &str = "You order the acceptance criteria of a software task into \
dependency levels. Criteria in one level must not depend on each other and may be built at \
the same time; a criterion that needs another's work goes in a later level. Answer with JSON: \
`levels`, a list of levels, each a list of criterion numbers, every criterion exactly once; \
and `reason`, one short sentence.";

/// The user message: the goal and each criterion's number and description, nothing else.
fn prompt(seed: &Seed) -> String {
    let mut out = format!("Goal: {}\n\nAcceptance criteria:\n", seed.goal.trim());
    for (i, ac) in seed.acceptance_criteria.iter().enumerate() {
        out.push_str(&format!("{i}. {}\n", ac.description.trim()));
    }
    out
}

/// Check the model's answer: `levels` present, every index in `0..count` exactly once,
/// no empty level.
pub fn validate(answer: &Value, count: usize) -> Result<Vec<Vec<usize>>, PlanError> {
    let invalid = |m: String| PlanError::Invalid(m);
    let raw: Vec<Vec<i64>> =
        answer.get("levels").cloned().ok_or_else(|| invalid("no `levels`".into())).and_then(
            |v| serde_json::from_value(v).map_err(|e| invalid(format!("`levels`: {e}"))),
        )?;
    let mut seen = vec![false; count];
    let mut levels = Vec::with_capacity(raw.len());
    for (n, level) in raw.iter().enumerate() {
        if level.is_empty() {
            return Err(invalid(format!("level {n} is empty")));
        }
        levels.push(check_level(level, &mut seen)?);
    }
    match seen.iter().position(|s| !s) {
        Some(missing) => Err(invalid(format!("criterion {missing} is missing"))),
        None => Ok(levels),
    }
}

fn check_level(level: &[i64], seen: &mut [bool]) -> Result<Vec<usize>, PlanError> {
    let mut out = Vec::with_capacity(level.len());
    for &i in level {
        let index = usize::try_from(i).ok().filter(|&i| i < seen.len()).ok_or_else(|| {
            PlanError::Invalid(format!("criterion {i} is out of range 0..{}", seen.len()))
        })?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(PlanError::Invalid(format!("criterion {index} appears more than once")));
        }
        out.push(index);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_answer_is_kept_in_its_order() {
        let levels = validate(&json!({"levels": [[1, 0], [2]], "reason": "x"}), 3).unwrap();
        assert_eq!(levels, vec![vec![1, 0], vec![2]]);
    }

    #[test]
    fn invalid_answers_name_the_problem() {
        let cases = [
            (json!({"levels": [[0, 0], [1]]}), "criterion 0 appears more than once"),
            (json!({"levels": [[0]]}), "criterion 1 is missing"),
            (json!({"levels": [[0, 1, 2]]}), "criterion 2 is out of range 0..2"),
            (json!({"levels": [[0, -1], [1]]}), "criterion -1 is out of range"),
            (json!({"levels": [[0], [], [1]]}), "level 1 is empty"),
            (json!({"reason": "none"}), "no `levels`"),
            (json!({"levels": [["a"]]}), "`levels`:"),
        ];
        for (answer, expected) in cases {
            let err = validate(&answer, 2).unwrap_err().to_string();
            assert!(err.contains(expected), "{answer}: {err}");
        }
    }

    #[test]
    fn no_model_and_no_criteria_fall_back() {
        let seed = ooo_core::seed::load_str(
            r#"{"goal": "g", "acceptance_criteria": ["a", "b"],
                "ontology_schema": {"name": "n", "description": "d"},
                "metadata": {"seed_id": "s", "created_at": "2026-07-02T00:00:00Z"}}"#,
            ooo_core::seed::raw::Format::Json,
            &ooo_core::seed::MetadataDefaults::generate(),
        )
        .unwrap()
        .seed;
        let p = plan(None, &seed);
        assert_eq!(p.levels, vec![vec![0], vec![1]]);
        assert_eq!(p.source, PlanSource::Fallback { reason: "no model configured".into() });
        let mut empty = seed.clone();
        empty.acceptance_criteria.clear();
        assert!(plan(None, &empty).levels.is_empty());
    }

    #[test]
    fn the_source_serialises_with_its_kind() {
        let s = PlanSource::Model { model: "m".into() };
        assert_eq!(serde_json::to_value(&s).unwrap(), json!({"kind": "model", "model": "m"}));
        let p = Plan::sequential(2, "r");
        let back: Plan = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_eq!(p.criteria_count(), 2);
    }
}
