//! Structured output shared by every provider: the instructions for models without a
//! native JSON mode, extracting the JSON value from a model's text, and validating it
//! against the requested JSON Schema. What does not live here: each API's native JSON
//! mode (the providers).

use jsonschema::Validator;
use ooo_core::runtime::{RuntimeError, RuntimeErrorKind};
use serde_json::Value;

/// How many validation messages an error lists.
const MAX_REPORTED: usize = 5;

/// Instructions appended to the last user message when the provider has no JSON mode.
pub fn instructions(schema: &Value) -> String {
    format!(
        "Answer with one JSON value only, no prose and no code fence, valid against this JSON Schema:\n{}",
        serde_json::to_string_pretty(schema).unwrap_or_else(|_| schema.to_string())
    )
}

/// The JSON value in a model's text: the whole text, else a fenced ```json block, else
/// the first balanced object or array.
pub fn extract_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Some(v);
    }
    fenced_blocks(trimmed)
        .find_map(|block| serde_json::from_str(block.trim()).ok())
        .or_else(|| first_balanced(trimmed))
}

fn fenced_blocks(text: &str) -> impl Iterator<Item = &str> {
    text.split("```").skip(1).step_by(2).map(|block| {
        // Drop an info string such as `json` on the fence line.
        match block.split_once('\n') {
            Some((info, rest)) if !info.trim_start().starts_with(['{', '[']) => rest,
            _ => block,
        }
    })
}

/// Opening brackets tried as the start of the embedded value. Each try scans to the end
/// of the text, so an answer full of unmatched brackets would otherwise cost quadratic
/// time; a model's JSON is among the first few brackets of its answer.
const MAX_STARTS: usize = 32;

/// The first `{...}` or `[...]` that parses, scanning with a string-aware depth count.
fn first_balanced(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let starts = bytes.iter().enumerate().filter(|(_, b)| **b == b'{' || **b == b'[');
    for (start, _) in starts.take(MAX_STARTS) {
        if let Some(end) = balanced_end(&bytes[start..])
            && let Ok(v) = serde_json::from_str(&text[start..start + end])
        {
            return Some(v);
        }
    }
    None
}

fn balanced_end(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Validate `value` against `schema`; a mismatch lists the first problems with their
/// paths.
pub fn validate(runtime: &str, schema: &Value, value: &Value) -> Result<(), RuntimeError> {
    let validator = compile(runtime, schema)?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .take(MAX_REPORTED)
        .map(|e| format!("{} at '{}'", e, e.instance_path()))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(RuntimeError::new(
        RuntimeErrorKind::SchemaMismatch,
        runtime,
        format!("the model's JSON does not match the schema: {}", problems.join("; ")),
        "retry the call; if it keeps failing, use a stronger model or simplify the schema",
    ))
}

/// Extract the JSON value from `text` and validate it.
pub fn parse_and_validate(
    runtime: &str,
    schema: &Value,
    text: &str,
) -> Result<Value, RuntimeError> {
    let value = extract_json(text).ok_or_else(|| {
        RuntimeError::new(
            RuntimeErrorKind::SchemaMismatch,
            runtime,
            format!("the model answered without JSON: {}", preview(text)),
            "retry the call; if it keeps failing, use a model that follows format instructions",
        )
    })?;
    validate(runtime, schema, &value)?;
    Ok(value)
}

fn compile(runtime: &str, schema: &Value) -> Result<Validator, RuntimeError> {
    jsonschema::validator_for(schema).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::InvalidTask,
            runtime,
            format!("the requested JSON Schema is invalid: {e}"),
            "fix the schema the program passes",
        )
    })
}

fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(120).collect();
    if p.len() < text.len() {
        p.push('…');
    }
    p
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn extracts_whole_fenced_and_embedded_json() {
        assert_eq!(extract_json(" {\"a\":1} "), Some(json!({"a":1})));
        assert_eq!(extract_json("Sure:\n```json\n{\"a\":2}\n```\nbye"), Some(json!({"a":2})));
        assert_eq!(extract_json("here {\"a\":\"}{\"} and more"), Some(json!({"a":"}{"})));
        assert_eq!(extract_json("list: [1,2] ok"), Some(json!([1, 2])));
        assert_eq!(extract_json("no json here { broken"), None);
    }

    #[test]
    fn unmatched_brackets_cost_linear_time() {
        // 200k unmatched brackets: at most MAX_STARTS scans, not one per bracket.
        let text = "[".repeat(200_000);
        assert_eq!(extract_json(&text), None);
        let text = format!("{}{{\"a\":1}}", "x".repeat(100_000));
        assert_eq!(extract_json(&text), Some(json!({"a":1})));
    }

    #[test]
    fn validation_names_the_path() {
        let schema =
            json!({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]});
        assert!(validate("t", &schema, &json!({"n": 3})).is_ok());
        let err = validate("t", &schema, &json!({"n": "x"})).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::SchemaMismatch);
        assert!(err.message.contains("/n"), "{}", err.message);
        let err = parse_and_validate("t", &schema, "I cannot").unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::SchemaMismatch);
    }

    #[test]
    fn a_bad_schema_is_the_callers_error() {
        let err = validate("t", &json!({"type": 12}), &json!(1)).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);
    }
}
