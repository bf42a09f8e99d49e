//! Typed reads of JSON fields with upstream's lax coercions, collecting every problem
//! with its path instead of stopping at the first. Used by `parse`; knows no Seed field.

use serde_json::{Map, Value};

use super::Problem;

/// Python's `str.isspace`: Unicode whitespace plus the separators U+001C..U+001F.
pub fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// The known word `word` is most likely a typo of: the nearest by edit distance (a swap
/// of neighbours counts once), if it is within a third of the word's length.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(word, k), *k))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Collected problems (errors) and warnings.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Findings {
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    pub fn wrong_type(&mut self, path: &str, expected: &str, found: &Value) {
        self.error(path, format!("must be {expected}, found {}", kind(found)));
    }

    /// Warn about keys the model does not know (upstream ignores them silently), naming
    /// the known key a typo most likely meant.
    pub fn unknown_keys(&mut self, obj: &Map<String, Value>, path: &str, known: &[&str]) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let message = match closest(key, known) {
                Some(near) => format!("unknown key, ignored; did you mean `{near}`?"),
                None => "unknown key, ignored".to_owned(),
            };
            self.warnings.push(Problem::new(&child(path, key), message));
        }
    }

    /// An object at `path`, or a problem.
    pub fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.wrong_type(path, "an object", other);
                None
            }
        }
    }

    /// A list at `path`, or a problem.
    pub fn list<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v [Value]> {
        match v {
            Value::Array(items) => Some(items),
            other => {
                self.wrong_type(path, "a list", other);
                None
            }
        }
    }

    /// A required string (at least one character when `non_empty`).
    pub fn required_str(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        non_empty: bool,
    ) -> String {
        let here = child(path, key);
        match obj.get(key) {
            None => {
                self.error(&here, "is required");
                String::new()
            }
            Some(v) => self.string(v, &here, non_empty).unwrap_or_default(),
        }
    }

    /// A string value (at least one character when `non_empty`).
    pub fn string(&mut self, v: &Value, path: &str, non_empty: bool) -> Option<String> {
        match v {
            Value::String(s) if non_empty && s.is_empty() => {
                self.error(path, "must not be empty");
                None
            }
            Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }

    /// An optional string with a default when the key is missing.
    pub fn str_or(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        default: &str,
        non_empty: bool,
    ) -> String {
        match obj.get(key) {
            None => default.to_owned(),
            Some(v) => self.string(v, &child(path, key), non_empty).unwrap_or_default(),
        }
    }

    /// A string or null.
    pub fn opt_str(&mut self, obj: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.string(v, &child(path, key), false),
        }
    }

    /// A list of strings (missing means empty).
    pub fn str_list(&mut self, obj: &Map<String, Value>, key: &str, path: &str) -> Vec<String> {
        let here = child(path, key);
        let Some(v) = obj.get(key) else { return Vec::new() };
        let Some(items) = self.list(v, &here) else { return Vec::new() };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &index(&here, i), false))
            .collect()
    }

    /// A number in `0..=1` (numeric strings and booleans accepted, as upstream's lax
    /// mode does).
    pub fn unit_float(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        default: f64,
    ) -> f64 {
        let here = child(path, key);
        let Some(v) = obj.get(key) else { return default };
        let number = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => py_strip(s).parse::<f64>().ok(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        };
        match number {
            Some(n) if n.is_finite() && (0.0..=1.0).contains(&n) => n,
            Some(n) if n.is_finite() => {
                self.error(&here, format!("must be between 0 and 1, found {n}"));
                default
            }
            _ => {
                self.wrong_type(&here, "a number between 0 and 1", v);
                default
            }
        }
    }

    /// A boolean (also `0`/`1` and the usual yes/no words, as upstream's lax mode does).
    pub fn boolean(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        default: bool,
    ) -> bool {
        let here = child(path, key);
        let Some(v) = obj.get(key) else { return default };
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
                "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.wrong_type(&here, "a boolean", v);
            default
        })
    }

    /// One of a fixed set of words, or null when `nullable`.
    pub fn choice(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        allowed: &[&str],
        default: Option<&str>,
    ) -> Option<String> {
        let here = child(path, key);
        match obj.get(key) {
            None => default.map(str::to_owned),
            Some(Value::Null) if default.is_none() => None,
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => Some(s.clone()),
            Some(other) => {
                self.error(&here, format!("must be one of {}, found {other}", allowed.join(", ")));
                default.map(str::to_owned)
            }
        }
    }
}
