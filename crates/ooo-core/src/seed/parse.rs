//! From a parsed document to a validated [`Seed`]: upstream's defaults, aliases, input
//! coercions and validation rules, with every problem reported at its path
//! (`acceptance_criteria[2].expected_artifacts[0]`).
//!
//! Coercions (as upstream): a string criterion becomes `{description}`; a criterion
//! object without `description` takes it from `criterion` or `content`; string
//! principles become `{name: principle_N, description}`; string exit conditions become
//! `{name: condition_N, description, criteria}`; `NONE`, blank and "exit code 0"-style
//! assertions mean "absent".

use serde_json::{Map, Value};

use super::artifact::{self, MAX_ARTIFACT_CHARS, MAX_ARTIFACTS, MAX_CONTRACT_CHARS};
use super::fields::{Findings, child, closest, index, py_is_space, py_strip};
use super::model::*;
use super::{Problem, ac_key};

/// Values a seed gets when its metadata leaves them out (they depend on time and chance,
/// so the caller supplies them).
#[derive(Debug, Clone)]
pub struct MetadataDefaults {
    pub seed_id: String,
    pub created_at: String,
}

impl MetadataDefaults {
    /// A fresh `seed_<12 hex>` id and the current time, as upstream generates them.
    pub fn generate() -> Self {
        let random = ulid::Ulid::new().random();
        Self {
            seed_id: format!("seed_{:012x}", random & 0xffff_ffff_ffff),
            created_at: crate::ledger::timestamp::now(),
        }
    }
}

/// A validated seed and the warnings met on the way.
#[derive(Debug, Clone)]
pub struct Validated {
    pub seed: Seed,
    pub warnings: Vec<Problem>,
}

/// Why a document is not a valid seed: every problem found, and the warnings.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

const TOP_LEVEL: &[&str] = &[
    "goal",
    "task_type",
    "brownfield_context",
    "constraints",
    "acceptance_criteria",
    "ontology_schema",
    "evaluation_principles",
    "exit_conditions",
    "metadata",
];

/// Validate a parsed document.
pub fn from_value(doc: &Value, defaults: &MetadataDefaults) -> Result<Validated, Invalid> {
    let mut f = Findings::default();
    let seed = read_seed(doc, defaults, &mut f);
    match seed {
        Some(seed) if f.problems.is_empty() => Ok(Validated { seed, warnings: f.warnings }),
        _ => Err(Invalid { problems: f.problems, warnings: f.warnings }),
    }
}

fn read_seed(doc: &Value, defaults: &MetadataDefaults, f: &mut Findings) -> Option<Seed> {
    let Value::Object(obj) = doc else {
        f.wrong_type("", "an object (a mapping of seed fields)", doc);
        return None;
    };
    let goal = f.required_str(obj, "goal", "", true);
    let task_type = f.str_or(obj, "task_type", "", "code", false);
    let brownfield_context = match obj.get("brownfield_context") {
        None => BrownfieldContext::default(),
        Some(v) => read_brownfield(v, "brownfield_context", f),
    };
    let constraints = f.str_list(obj, "constraints", "");
    let acceptance_criteria = match obj.get("acceptance_criteria") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => f
            .list(v, "acceptance_criteria")
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        read_criterion(item, &index("acceptance_criteria", i), f)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let ontology_schema = match obj.get("ontology_schema") {
        None => {
            f.error("ontology_schema", "is required");
            None
        }
        Some(v) => read_ontology(v, "ontology_schema", f),
    };
    let evaluation_principles = read_list(obj, "evaluation_principles", f, read_principle);
    let exit_conditions = read_list(obj, "exit_conditions", f, read_exit_condition);
    let metadata = match obj.get("metadata") {
        None => {
            f.error("metadata", "is required");
            None
        }
        Some(v) => read_metadata(v, "metadata", defaults, f),
    };
    let extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !TOP_LEVEL.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Extra top-level keys are kept (upstream keeps them as plugin data); one that looks
    // like a misspelt field is most likely a field the seed lost.
    for key in extra.keys() {
        if let Some(near) = closest(key, TOP_LEVEL) {
            f.warnings.push(Problem::new(
                key,
                format!("is not a seed field (kept as extra data); did you mean `{near}`?"),
            ));
        }
    }
    if let Some(directive) = extra.get("conductor_directive")
        && !directive.is_object()
    {
        f.wrong_type("conductor_directive", "a structured object", directive);
    }
    Some(Seed {
        goal,
        task_type,
        brownfield_context,
        constraints,
        acceptance_criteria,
        ontology_schema: ontology_schema?,
        evaluation_principles,
        exit_conditions,
        metadata: metadata?,
        extra,
    })
}

fn read_list<T>(
    obj: &Map<String, Value>,
    key: &str,
    f: &mut Findings,
    read: fn(&Value, usize, &str, &mut Findings) -> Option<T>,
) -> Vec<T> {
    let Some(v) = obj.get(key) else { return Vec::new() };
    let Some(items) = f.list(v, key) else { return Vec::new() };
    items.iter().enumerate().filter_map(|(i, item)| read(item, i, &index(key, i), f)).collect()
}

fn read_brownfield(v: &Value, path: &str, f: &mut Findings) -> BrownfieldContext {
    let Some(obj) = f.object(v, path) else { return BrownfieldContext::default() };
    f.unknown_keys(
        obj,
        path,
        &["project_type", "context_references", "existing_patterns", "existing_dependencies"],
    );
    let refs_path = child(path, "context_references");
    let context_references = match obj.get("context_references") {
        None => Vec::new(),
        Some(v) => f
            .list(v, &refs_path)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        let here = index(&refs_path, i);
                        let r = f.object(item, &here)?;
                        f.unknown_keys(r, &here, &["path", "role", "summary"]);
                        Some(ContextReference {
                            path: f.required_str(r, "path", &here, true),
                            role: f.required_str(r, "role", &here, false),
                            summary: f.str_or(r, "summary", &here, "", false),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    BrownfieldContext {
        project_type: f.str_or(obj, "project_type", path, "greenfield", false),
        context_references,
        existing_patterns: f.str_list(obj, "existing_patterns", path),
        existing_dependencies: f.str_list(obj, "existing_dependencies", path),
    }
}

const CRITERION_KEYS: &[&str] = &[
    "description",
    "semantic_ac_key",
    "verify_command",
    "expected_artifacts",
    "output_assertion",
    "verify_exemption_reason",
    "investment",
];

/// Blank, `NONE` or not a string counts as absent (for the raw pre-check).
fn raw_present(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if !s.trim_matches(' ').is_empty() && !artifact::is_none_sentinel(s))
}

/// Strip an optional text; blank and `NONE` become absent.
fn optional_text(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    f: &mut Findings,
) -> Option<String> {
    let text = f.opt_str(obj, key, path)?;
    let stripped = py_strip(&text);
    (!stripped.is_empty() && !artifact::is_none_sentinel(stripped)).then(|| stripped.to_owned())
}

/// "exit code 0", "passes", "no errors"...: conditions, not output to look for.
fn is_exit_condition_phrase(text: &str) -> bool {
    let lower = text.to_lowercase();
    let skip_space = |s: &str| s.trim_start_matches(py_is_space).to_owned();
    if let Some(rest) = lower.strip_prefix("exit") {
        let rest = skip_space(rest);
        let rest =
            rest.strip_prefix("code").or_else(|| rest.strip_prefix("status")).unwrap_or(&rest);
        return skip_space(rest) == "0";
    }
    if let Some(rest) = lower.strip_prefix("return") {
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        return skip_space(rest) == "0";
    }
    matches!(
        lower.as_str(),
        "success" | "succeeds" | "passed" | "passes" | "ok exit" | "no error" | "no errors"
    )
}

fn read_criterion(item: &Value, path: &str, f: &mut Findings) -> Option<AcceptanceCriterion> {
    let owned;
    let obj = match item {
        Value::String(s) => {
            owned = Map::from_iter([("description".to_owned(), Value::String(s.clone()))]);
            &owned
        }
        Value::Object(m) if !m.contains_key("description") => {
            let renamed =
                ["criterion", "content"].iter().find_map(|k| m.get(*k).filter(|v| v.is_string()));
            match renamed {
                Some(text) => {
                    let mut m = m.clone();
                    m.insert("description".into(), text.clone());
                    owned = m;
                    &owned
                }
                None => m,
            }
        }
        Value::Object(m) => m,
        other => {
            f.wrong_type(path, "a string or an object", other);
            return None;
        }
    };
    let mut known = CRITERION_KEYS.to_vec();
    known.extend(["criterion", "content"]);
    f.unknown_keys(obj, path, &known);
    let raw_failed =
        raw_present(obj.get("output_assertion")) && !raw_present(obj.get("verify_command"));
    if raw_failed {
        f.error(&child(path, "output_assertion"), "requires verify_command");
    }
    let description = py_strip(&f.required_str(obj, "description", path, false)).to_owned();
    let given_key = f.opt_str(obj, "semantic_ac_key", path);
    if let Some(key) = &given_key
        && !ac_key::is_valid(key)
    {
        f.error(
            &child(path, "semantic_ac_key"),
            format!("must look like ac_ and 16 lowercase hex digits, found {key:?}"),
        );
    }
    let verify_command = optional_text(obj, "verify_command", path, f);
    let verify_exemption_reason = optional_text(obj, "verify_exemption_reason", path, f);
    let output_assertion =
        optional_text(obj, "output_assertion", path, f).filter(|a| !is_exit_condition_phrase(a));
    let expected_artifacts =
        read_artifacts(obj.get("expected_artifacts"), &child(path, "expected_artifacts"), f);
    let investment = match obj.get("investment") {
        None | Some(Value::Null) => None,
        Some(v) => read_investment(v, &child(path, "investment"), f),
    };
    if verify_command.is_some() && verify_exemption_reason.is_some() {
        f.error(
            &child(path, "verify_exemption_reason"),
            "is mutually exclusive with verify_command; keep one",
        );
    }
    if output_assertion.is_some() && verify_command.is_none() && !raw_failed {
        f.error(&child(path, "output_assertion"), "requires verify_command");
    }
    check_contract_budget(&verify_command, &output_assertion, &expected_artifacts, path, f);
    let semantic_ac_key = given_key.unwrap_or_else(|| {
        ac_key::derive(
            &description,
            verify_command.as_deref(),
            &expected_artifacts,
            output_assertion.as_deref(),
        )
    });
    Some(AcceptanceCriterion {
        description,
        semantic_ac_key,
        verify_command,
        expected_artifacts,
        output_assertion,
        verify_exemption_reason,
        investment,
    })
}

fn read_artifacts(v: Option<&Value>, path: &str, f: &mut Findings) -> Vec<String> {
    let artifacts = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::String(s)) => match artifact::parse_list(s) {
            Ok(list) => list,
            Err(e) => {
                f.error(path, e);
                return Vec::new();
            }
        },
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(s) = f.string(item, &index(path, i), false) {
                    out.push(s);
                }
            }
            out
        }
        Some(other) => {
            f.wrong_type(path, "a list of paths or a comma-separated string", other);
            return Vec::new();
        }
    };
    for (i, a) in artifacts.iter().enumerate() {
        if let Some(why) = artifact::path_error(a) {
            f.error(
                &index(path, i),
                format!("{a:?} is not a portable workspace-relative path: it {why}"),
            );
        }
    }
    artifacts
}

fn check_contract_budget(
    verify: &Option<String>,
    assertion: &Option<String>,
    artifacts: &[String],
    path: &str,
    f: &mut Findings,
) {
    if artifacts.len() > MAX_ARTIFACTS {
        f.error(
            &child(path, "expected_artifacts"),
            format!("lists {} paths; at most {MAX_ARTIFACTS}", artifacts.len()),
        );
    }
    for (i, a) in artifacts.iter().enumerate() {
        if a.chars().count() > MAX_ARTIFACT_CHARS {
            f.error(
                &index(&child(path, "expected_artifacts"), i),
                format!("is over {MAX_ARTIFACT_CHARS} characters"),
            );
        }
    }
    let chars = [verify, assertion]
        .iter()
        .filter_map(|s| s.as_ref())
        .map(|s| s.chars().count())
        .sum::<usize>()
        + artifacts.iter().map(|a| a.chars().count()).sum::<usize>();
    if chars > MAX_CONTRACT_CHARS {
        f.error(
            path,
            format!("success contract is {chars} characters; the budget is {MAX_CONTRACT_CHARS}"),
        );
    }
}

fn read_investment(v: &Value, path: &str, f: &mut Findings) -> Option<Investment> {
    let obj = f.object(v, path)?;
    f.unknown_keys(obj, path, &["difficulty", "stakes", "provenance", "confidence"]);
    let levels = &["low", "medium", "high"];
    Some(Investment {
        difficulty: f.choice(obj, "difficulty", path, levels, None),
        stakes: f.choice(obj, "stakes", path, levels, None),
        provenance: f
            .choice(
                obj,
                "provenance",
                path,
                &["declared", "measured", "inferred", "absent"],
                Some("declared"),
            )
            .unwrap_or_default(),
        confidence: f.choice(obj, "confidence", path, levels, Some("low")).unwrap_or_default(),
    })
}

fn read_ontology(v: &Value, path: &str, f: &mut Findings) -> Option<OntologySchema> {
    let obj = f.object(v, path)?;
    f.unknown_keys(obj, path, &["name", "description", "fields"]);
    let name = f.required_str(obj, "name", path, true);
    let description = f.required_str(obj, "description", path, true);
    let fields_path = child(path, "fields");
    let fields = match obj.get("fields") {
        None => Vec::new(),
        Some(v) => f
            .list(v, &fields_path)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        let here = index(&fields_path, i);
                        let o = f.object(item, &here)?;
                        f.unknown_keys(
                            o,
                            &here,
                            &["name", "type", "field_type", "description", "required"],
                        );
                        let type_key = if o.contains_key("type") { "type" } else { "field_type" };
                        Some(OntologyField {
                            name: f.required_str(o, "name", &here, true),
                            field_type: f.required_str(o, type_key, &here, true),
                            description: f.required_str(o, "description", &here, true),
                            required: f.boolean(o, "required", &here, true),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    Some(OntologySchema { name, description, fields })
}

fn read_principle(
    item: &Value,
    i: usize,
    path: &str,
    f: &mut Findings,
) -> Option<EvaluationPrinciple> {
    match item {
        Value::String(s) => Some(EvaluationPrinciple {
            name: format!("principle_{}", i + 1),
            description: non_empty(s, path, f),
            weight: 1.0,
        }),
        other => {
            let obj = f.object(other, path)?;
            f.unknown_keys(obj, path, &["name", "description", "weight"]);
            Some(EvaluationPrinciple {
                name: f.required_str(obj, "name", path, true),
                description: f.required_str(obj, "description", path, true),
                weight: f.unit_float(obj, "weight", path, 1.0),
            })
        }
    }
}

fn read_exit_condition(
    item: &Value,
    i: usize,
    path: &str,
    f: &mut Findings,
) -> Option<ExitCondition> {
    match item {
        Value::String(s) => {
            let text = non_empty(s, path, f);
            Some(ExitCondition {
                name: format!("condition_{}", i + 1),
                description: text.clone(),
                evaluation_criteria: text,
            })
        }
        other => {
            let obj = f.object(other, path)?;
            f.unknown_keys(obj, path, &["name", "description", "criteria", "evaluation_criteria"]);
            let criteria_key =
                if obj.contains_key("criteria") { "criteria" } else { "evaluation_criteria" };
            Some(ExitCondition {
                name: f.required_str(obj, "name", path, true),
                description: f.required_str(obj, "description", path, true),
                evaluation_criteria: f.required_str(obj, criteria_key, path, true),
            })
        }
    }
}

fn non_empty(s: &str, path: &str, f: &mut Findings) -> String {
    if s.is_empty() {
        f.error(path, "must not be empty");
    }
    s.to_owned()
}

const METADATA_KEYS: &[&str] = &[
    "seed_id",
    "version",
    "created_at",
    "ambiguity_score",
    "interview_id",
    "parent_seed_id",
    "generation_mode",
    "degraded",
    "unresolved_slots",
    "recovery_reason",
    "decision_provenance",
];

fn read_metadata(
    v: &Value,
    path: &str,
    defaults: &MetadataDefaults,
    f: &mut Findings,
) -> Option<SeedMetadata> {
    let obj = f.object(v, path)?;
    f.unknown_keys(obj, path, METADATA_KEYS);
    let created_at = match obj.get("created_at") {
        None => defaults.created_at.clone(),
        Some(v) => read_datetime(v, &child(path, "created_at"), f),
    };
    let provenance_path = child(path, "decision_provenance");
    let mut decision_provenance = Map::new();
    if let Some(v) = obj.get("decision_provenance")
        && let Some(m) = f.object(v, &provenance_path)
    {
        for (k, count) in m {
            match count
                .as_i64()
                .or_else(|| count.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
            {
                Some(n) => {
                    decision_provenance.insert(k.clone(), Value::from(n));
                }
                None => f.wrong_type(&child(&provenance_path, k), "an integer", count),
            }
        }
    }
    Some(SeedMetadata {
        seed_id: f.str_or(obj, "seed_id", path, &defaults.seed_id, false),
        version: f.str_or(obj, "version", path, "1.0.0", false),
        created_at,
        ambiguity_score: f.unit_float(obj, "ambiguity_score", path, 0.15),
        interview_id: f.opt_str(obj, "interview_id", path),
        parent_seed_id: f.opt_str(obj, "parent_seed_id", path),
        generation_mode: f.str_or(obj, "generation_mode", path, "normal", true),
        degraded: f.boolean(obj, "degraded", path, false),
        unresolved_slots: f.str_list(obj, "unresolved_slots", path),
        recovery_reason: f.opt_str(obj, "recovery_reason", path),
        decision_provenance,
    })
}

/// An ISO 8601 date-time (with or without offset) or a date, kept as written; a Unix
/// timestamp (number or numeric string; seconds, or milliseconds beyond 2e10, as
/// upstream reads them) is turned into RFC 3339.
fn read_datetime(v: &Value, path: &str, f: &mut Findings) -> String {
    let unix = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => py_strip(s).parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    };
    if let Some(secs) = unix {
        let secs = if secs.abs() > 2e10 { secs / 1000.0 } else { secs };
        return match time::OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128) {
            Ok(at) => crate::ledger::timestamp::format(at),
            Err(_) => {
                f.error(path, format!("is not a valid Unix timestamp: {v}"));
                String::new()
            }
        };
    }
    match v {
        Value::String(s) => {
            if !is_iso_datetime(s) {
                f.error(
                    path,
                    format!(
                        "must be an ISO 8601 date-time such as 2026-07-02T00:00:00Z, found {s:?}"
                    ),
                );
            }
            s.clone()
        }
        other => {
            f.wrong_type(path, "a date-time string", other);
            String::new()
        }
    }
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM[:SS[.fraction]]` and an
/// optional `Z` or `±HH[:]MM` offset, with real calendar values: the forms upstream's
/// date-time parser accepts (week dates, ordinal dates and compact forms are not).
fn is_iso_datetime(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone()).is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let num = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(u32::MAX);
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return false;
    }
    let (year, month, day) = (num(0..4) as i32, num(5..7) as u8, num(8..10) as u8);
    let Ok(month) = time::Month::try_from(month) else { return false };
    if time::Date::from_calendar_date(year, month, day).is_err() {
        return false;
    }
    let mut rest = &text[10..];
    if rest.is_empty() {
        return true;
    }
    if !(rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' ')) {
        return false;
    }
    rest = &rest[1..];
    let r = rest.as_bytes();
    let two = |i: usize| {
        r.get(i..i + 2)
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .map(|s| (s[0] - b'0') * 10 + (s[1] - b'0'))
    };
    let (Some(hour), Some(minute)) = (two(0), two(3)) else { return false };
    if r.get(2) != Some(&b':') || hour > 23 || minute > 59 {
        return false;
    }
    let mut i = 5;
    if r.get(i) == Some(&b':') {
        match two(i + 1) {
            Some(sec) if sec <= 59 => i += 3,
            _ => return false,
        }
        if r.get(i) == Some(&b'.') {
            let frac = r[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if frac == 0 {
                return false;
            }
            i += 1 + frac;
        }
    }
    match &rest[i..] {
        "" | "Z" | "z" => true,
        offset => {
            let o = offset.as_bytes();
            (o[0] == b'+' || o[0] == b'-')
                && matches!(o.len(), 5 | 6)
                && o[1..3].iter().all(u8::is_ascii_digit)
                && (o.len() == 5 || o[3] == b':')
                && o[o.len() - 2..].iter().all(u8::is_ascii_digit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_iso_datetime;

    #[test]
    fn iso_datetimes() {
        for ok in [
            "2026-07-02",
            "2026-07-02T00:00:00Z",
            "2026-07-02T10:00",
            "2026-07-02 10:00:00.123456",
            "2026-07-02T10:00:00+09:00",
            "2026-07-02T10:00:00-0500",
            "2024-02-29T00:00:00z",
        ] {
            assert!(is_iso_datetime(ok), "{ok}");
        }
        for bad in [
            "2026-W27-4",
            "20260702T000000Z",
            " 2026-07-02",
            "2026-07-02T",
            "2026-13-01",
            "2025-02-29",
            "2026-07-02T24:00",
            "2026-07-02T10:00:00.",
            "2026-07-02T10:00:00+9",
            "yesterday",
            "2026-07-02Tx",
        ] {
            assert!(!is_iso_datetime(bad), "{bad}");
        }
    }
}
