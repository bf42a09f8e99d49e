//! Checks response bodies against GitHub's own OpenAPI description of its REST API
//! (`api.github.com.json` from the `@octokit/openapi` npm package, which `.ci/run` installs
//! under `target/npm`), so what the fake GitHub server serves keeps the real shapes. OpenAPI 3.0
//! schemas become JSON Schema 2020-12 for the `jsonschema` crate: one validator per (path
//! template, method, status), each carrying only the components it references.

#![allow(dead_code)]

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

const DEFAULT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../target/npm/node_modules/@octokit/openapi/generated/api.github.com.json"
);
const INSTALL: &str = "npm install --prefix target/npm @octokit/openapi@23.0.2";
const SCHEMAS: &str = "#/components/schemas/";

type Key = (String, String, u16); // (path template, lowercase method, status)

/// What checking a response needs of the description: `paths`, `components.responses` (which
/// operations often `$ref`), `components.schemas` converted to JSON Schema, and the validators
/// compiled so far (`None` for a response documented without a JSON body).
pub struct OpenApi {
    paths: Map<String, Value>,
    responses: Map<String, Value>,
    schemas: Map<String, Value>,
    validators: Mutex<HashMap<Key, Option<Arc<Validator>>>>,
}

impl OpenApi {
    /// Reads `$OOO_GITHUB_OPENAPI`, else `target/npm/...` at the workspace root. When that's
    /// missing: `None`, after saying so on stderr, or a panic when `CI` is set.
    pub fn load() -> Option<OpenApi> {
        let path = std::env::var_os("OOO_GITHUB_OPENAPI").map_or(DEFAULT.into(), PathBuf::from);
        let Ok(bytes) = std::fs::read(&path) else {
            let missing = format!("no GitHub OpenAPI description at {}", path.display());
            let in_ci = format!("{missing}; `.ci/run` installs it ({INSTALL})");
            assert!(std::env::var_os("CI").is_none(), "{in_ci}");
            eprintln!("skipping OpenAPI check: {missing} (install with `{INSTALL}`)");
            return None;
        };
        let mut doc: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let mut take = |pointer: &str| match doc.pointer_mut(pointer).map(Value::take) {
            Some(Value::Object(map)) => map,
            _ => panic!("{} has no `{pointer}` object", path.display()),
        };
        let (paths, responses) = (take("/paths"), take("/components/responses"));
        let schemas = take("/components/schemas").into_iter().map(|(k, v)| (k, convert(v)));
        Some(OpenApi { paths, responses, schemas: schemas.collect(), validators: Mutex::default() })
    }

    /// [`OpenApi::load`], done once per test binary.
    pub fn shared() -> Option<&'static OpenApi> {
        static SHARED: OnceLock<Option<OpenApi>> = OnceLock::new();
        SHARED.get_or_init(OpenApi::load).as_ref()
    }

    /// Checks `body`, the response with `status` to `method path` (concrete, without query:
    /// `/repos/o/r/pulls/42`). An unlisted status falls back to `default`, then (4xx, 5xx) to
    /// `basic-error`; a response documented without a JSON body only accepts `Value::Null`.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
        let (method, upper) = (method.to_ascii_lowercase(), method.to_ascii_uppercase());
        let template = self
            .template(&method, path)
            .ok_or_else(|| format!("{upper} {path}: no path of the OpenAPI description matches"))?;
        let what = format!("{upper} {template} {status}");
        let key = (template.to_owned(), method, status);
        let mut cache = self.validators.lock().unwrap();
        let validator = match cache.get(&key) {
            Some(validator) => validator.clone(),
            None => {
                let validator = self.compile(&key).map_err(|e| format!("{what}: {e}"))?;
                cache.insert(key, validator.clone());
                validator
            }
        };
        drop(cache);
        let Some(validator) = validator else {
            let error = format!("{what}: documented without a JSON body, but got {body}");
            return if body.is_null() { Ok(()) } else { Err(error) };
        };
        let errors = validator.iter_errors(body).take(5);
        let errors: Vec<_> = errors.map(|e| format!("  at `{}`: {e}", e.instance_path())).collect();
        match errors.join("\n") {
            errors if errors.is_empty() => Ok(()),
            errors => Err(format!("{what}: body doesn't match the OpenAPI description:\n{errors}")),
        }
    }

    /// The `method` operation's template matching `path`, the one with most literal segments.
    fn template(&self, method: &str, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(usize, &str)> = None;
        for (template, item) in &self.paths {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            if parts.len() != segments.len() || item.get(method).is_none() {
                continue;
            }
            let mut literal = 0;
            let matches = parts.iter().zip(&segments).all(|(part, segment)| {
                let param = part.starts_with('{') && part.ends_with('}');
                literal += usize::from(!param);
                if param { !segment.is_empty() } else { part == segment }
            });
            if matches && best.is_none_or(|(most, _)| literal > most) {
                best = Some((literal, template.as_str()));
            }
        }
        best.map(|(_, template)| template)
    }

    /// The validator for one response, `None` when it is documented without a JSON body.
    fn compile(&self, (template, method, status): &Key) -> Result<Option<Arc<Validator>>, String> {
        let responses = &self.paths[template.as_str()][method.as_str()]["responses"];
        let listed = responses.get(status.to_string()).or_else(|| responses.get("default"));
        let schema = match listed {
            Some(response) => {
                let name = response.get("$ref").and_then(Value::as_str);
                let name = name.map(|r| r.trim_start_matches("#/components/responses/"));
                let response = name.map_or(Some(response), |name| self.responses.get(name));
                let content = response.ok_or("dangling response `$ref`")?.get("content");
                let mut bodies = content.and_then(Value::as_object).into_iter().flatten();
                let body = bodies.find(|(media, _)| media.contains("json"));
                body.and_then(|(_, body)| body.get("schema")).cloned()
            }
            None if *status >= 400 => Some(json!({ "$ref": format!("{SCHEMAS}basic-error") })),
            None => return Err("status not documented for this operation".to_owned()),
        };
        let Some(schema) = schema.map(convert) else { return Ok(None) };
        // The root carries the components that the schema references, transitively.
        let (mut components, mut todo) = (Map::new(), Vec::new());
        refs(&schema, &mut todo);
        while let Some(reference) = todo.pop() {
            let name = reference.trim_start_matches(SCHEMAS).split('/').next().unwrap_or_default();
            if !components.contains_key(name) {
                let component =
                    self.schemas.get(name).ok_or_else(|| format!("dangling `$ref` {reference}"))?;
                refs(component, &mut todo);
                components.insert(name.to_owned(), component.clone());
            }
        }
        let mut root = json!({ "components": { "schemas": {} }, "allOf": [null] });
        root["components"]["schemas"] = Value::Object(components);
        root["allOf"][0] = schema;
        let options = jsonschema::options().with_draft(Draft::Draft202012);
        let validator = options.should_validate_formats(false).build(&root);
        validator.map(|v| Some(Arc::new(v))).map_err(|e| format!("cannot compile the schema: {e}"))
    }
}

/// Collects every `$ref` string under `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    out.extend(value.get("$ref").and_then(Value::as_str));
    match value {
        Value::Object(map) => map.values().for_each(|value| refs(value, out)),
        Value::Array(items) => items.iter().for_each(|value| refs(value, out)),
        _ => {}
    }
}

/// OpenAPI 3.0 schema to JSON Schema: drops a `$ref`'s siblings (as OpenAPI 3.0 ignores them);
/// `nullable: true` admits `null` through `type` (and `enum`) if nothing else could reject it,
/// else through `anyOf: [schema, {"type": "null"}]`.
fn convert(value: Value) -> Value {
    let map = match value {
        Value::Object(map) => map,
        Value::Array(items) => return Value::Array(items.into_iter().map(convert).collect()),
        other => return other,
    };
    let nullable = map.get("nullable") == Some(&Value::Bool(true));
    let reference = map.get("$ref").filter(|r| r.is_string()).cloned();
    let mut out: Map<String, Value> = match reference {
        Some(reference) => Map::from_iter([("$ref".to_owned(), reference)]),
        None => map
            .into_iter()
            .filter(|(key, value)| key.as_str() != "nullable" || !value.is_boolean())
            .map(|(key, value)| (key, convert(value)))
            .collect(),
    };
    let composite = ["$ref", "allOf", "anyOf", "oneOf", "not"].iter().any(|k| out.contains_key(*k));
    match out.get("type").cloned() {
        _ if !nullable => Value::Object(out),
        Some(ty @ Value::String(_)) if !composite => {
            out.insert("type".to_owned(), Value::Array(vec![ty, "null".into()]));
            if let Some(Value::Array(values)) = out.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
            Value::Object(out)
        }
        _ => json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
    }
}
