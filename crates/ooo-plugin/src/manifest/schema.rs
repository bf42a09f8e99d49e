//! Our manifest JSON Schemas (`schemas/manifest-*.schema.json`, embedded) composed per
//! schema version, and the choice of the one error to report.
//!
//! The reported error is the first by instance path (segments compared as upstream does:
//! text by code point, indexes numerically, a prefix before its extensions), so the same
//! manifest fails at the same JSON pointer in both implementations. An
//! `additionalProperties` error points at the first unexpected key in document order.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};

use super::SUPPORTED_VERSIONS;

const CORE: &str = include_str!("../../schemas/manifest-core.schema.json");
const VERSIONS: &str = include_str!("../../schemas/manifest-versions.schema.json");

/// The complete schema for one version.
pub fn schema_for(version: &str) -> Value {
    let mut schema: Value = serde_json::from_str(CORE).expect("embedded core schema is JSON");
    let versions: Value = serde_json::from_str(VERSIONS).expect("embedded version schema is JSON");
    let defs = versions["$defs"].as_object().expect("$defs");
    schema["properties"]["schema_version"] = json!({ "type": "string", "const": version });
    schema["properties"]["audit"] = json!({
        "type": "object",
        "required": ["events"],
        "additionalProperties": false,
        "properties": { "events": {
            "type": "array", "minItems": 1, "uniqueItems": true,
            "items": { "type": "string", "enum": defs["audit_events"][version] }
        } }
    });
    if let Some(hooks) = defs["hooks"].get(version) {
        schema["properties"]["hooks"] = hooks.clone();
    }
    for (name, def) in defs.iter().filter(|(n, _)| !matches!(n.as_str(), "audit_events" | "hooks"))
    {
        schema["$defs"][name] = def.clone();
    }
    // One document now: references into the core become local.
    let text = schema.to_string().replace("core.json#/$defs/", "#/$defs/");
    serde_json::from_str(&text).expect("composed schema is JSON")
}

/// The compiled validator for one version, built on first use (only the versions a
/// process meets are compiled: start-up stays fast).
fn validator(version: &str) -> &'static Validator {
    static VALIDATORS: [OnceLock<Validator>; 5] = [const { OnceLock::new() }; 5];
    let index = SUPPORTED_VERSIONS.iter().position(|v| *v == version).expect("a supported version");
    VALIDATORS[index].get_or_init(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema_for(version))
            .unwrap_or_else(|e| panic!("embedded manifest schema {version} is invalid: {e}"))
    })
}

/// One schema violation, ready to report.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaViolation {
    pub pointer: String,
    pub message: String,
    pub expected: String,
    pub found: String,
}

/// What the failing keyword wanted, in words.
fn expected_of(kind: &jsonschema::error::ValidationErrorKind) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match kind {
        K::AdditionalProperties { .. } => {
            "only the documented keys, or x-* keys holding objects".into()
        }
        K::Constant { expected_value } => format!("exactly {expected_value}"),
        K::Contains => "a list containing the scope this hook needs".into(),
        K::Enum { options } => format!("one of {options}"),
        K::Maximum { limit } => format!("at most {limit}"),
        K::Minimum { limit } => format!("at least {limit}"),
        K::MaxLength { limit } => format!("at most {limit} characters"),
        K::MinLength { limit } => format!("at least {limit} character(s)"),
        K::MinItems { limit } => format!("at least {limit} item(s)"),
        K::MaxItems { limit } => format!("at most {limit} item(s)"),
        K::Pattern { pattern } => format!("text matching {pattern}"),
        K::Required { property } => format!("the property {property}"),
        K::Type { kind } => format!("a value of type {kind:?}")
            .to_lowercase()
            .replace("single(", "")
            .replace(')', ""),
        K::UniqueItems => "no repeated items".into(),
        _ => "a value the manifest schema allows".into(),
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Index(u64),
    Key(String),
}

fn segments(pointer: &str) -> Vec<Segment> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| {
            let s = s.replace("~1", "/").replace("~0", "~");
            s.parse::<u64>().map(Segment::Index).unwrap_or(Segment::Key(s))
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The first violation of `doc` against the schema of `version`, if any.
pub fn first_violation(doc: &Value, version: &str) -> Option<SchemaViolation> {
    violations(doc, version).into_iter().next()
}

/// Every violation of `doc` against the schema of `version`, first as
/// [`first_violation`] chooses it, then by instance path.
pub fn violations(doc: &Value, version: &str) -> Vec<SchemaViolation> {
    let mut errors: Vec<_> = validator(version).iter_errors(doc).collect();
    // Stable: errors on the same path keep the validator's keyword order.
    errors.sort_by_cached_key(|e| segments(e.instance_path().as_str()));
    errors.iter().map(violation).collect()
}

fn violation(error: &jsonschema::ValidationError<'_>) -> SchemaViolation {
    // Upstream names the object that holds an unexpected key (the root for a top-level
    // one), not the key itself; the key is in `found`.
    let pointer = error.instance_path().as_str().to_owned();
    let mut found = error.instance().to_string();
    if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
        error.kind()
        && let Some(obj) = error.instance().as_object()
        && let Some((key, value)) = obj.iter().find(|(k, _)| unexpected.contains(k))
    {
        found = format!("unexpected key {key:?}: {value}");
    }
    if let jsonschema::error::ValidationErrorKind::Required { .. } = error.kind() {
        found = "an object without it".into();
    }
    SchemaViolation {
        pointer,
        message: error.to_string(),
        expected: expected_of(error.kind()),
        found: truncate(&found, 200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_compiles() {
        for v in SUPPORTED_VERSIONS {
            let _ = validator(v);
        }
        assert!(schema_for("0.1")["properties"].get("hooks").is_none(), "0.1 has no hooks");
        assert!(schema_for("0.6")["properties"].get("hooks").is_some());
    }

    #[test]
    fn segments_sort_like_upstream() {
        let mut paths = vec!["/name", "/commands/10", "/commands/9", "", "/capabilities/0/name"];
        paths.sort_by_key(|p| segments(p));
        assert_eq!(paths, ["", "/capabilities/0/name", "/commands/9", "/commands/10", "/name"]);
    }
}
