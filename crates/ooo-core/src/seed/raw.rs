//! Reading seed text (YAML or JSON) into a JSON value without losing what JSON cannot
//! hold: YAML's non-finite floats and non-string keys are reported as problems with
//! their path instead of being silently turned into `null` or dropped.
//!
//! Size is checked before any parsing; YAML alias expansion is bounded by the parser's
//! budget. Nothing here knows the Seed's fields.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::Problem;
use super::fields::child;

/// Largest seed file accepted, in bytes (the same limit as upstream).
pub const MAX_SEED_BYTES: usize = 1_000_000;

/// Deepest nesting accepted, so every valid seed can be written and read back as YAML.
pub const MAX_DEPTH: usize = 48;

/// Any YAML/JSON node, as parsed.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v).map(Node::Int).or_else(|_| Ok(Node::Float(v as f64)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v).map(Node::UInt).or_else(|_| Ok(Node::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not allowed in a seed"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Which syntax to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// A parsed document and the problems met converting it (nodes JSON cannot represent,
/// duplicate keys). Those nodes are left out of the value, so validation can go on and
/// report everything at once.
#[derive(Debug)]
pub struct Parsed {
    pub value: Value,
    pub problems: Vec<Problem>,
}

/// Parse seed text. A syntax error or an oversized text is one problem at the root.
pub fn parse(text: &str, format: Format) -> Result<Parsed, Vec<Problem>> {
    if text.len() > MAX_SEED_BYTES {
        return Err(vec![Problem::new(
            "",
            format!("is {} bytes, over the {MAX_SEED_BYTES}-byte limit", text.len()),
        )]);
    }
    let node: Node = match format {
        Format::Json => serde_json::from_str(text).map_err(|e| vec![json_syntax(&e)])?,
        Format::Yaml => serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|e| vec![yaml_syntax(&e)])?,
    };
    if depth(&node) > MAX_DEPTH {
        return Err(vec![Problem::new("", format!("nests deeper than {MAX_DEPTH} levels"))]);
    }
    let mut problems = Vec::new();
    let value = to_json(node, "", &mut problems);
    Ok(Parsed { value, problems })
}

fn depth(node: &Node) -> usize {
    match node {
        Node::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Node::Map(entries) => {
            1 + entries.iter().map(|(k, v)| depth(k).max(depth(v))).max().unwrap_or(0)
        }
        _ => 0,
    }
}

/// A map key as the user wrote it, for messages.
fn key_text(node: &Node) -> String {
    match node {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::UInt(u) => u.to_string(),
        Node::Float(f) => f.to_string(),
        Node::Str(s) => format!("{s:?}"),
        Node::Seq(_) => "a list".into(),
        Node::Map(_) => "a mapping".into(),
    }
}

/// YAML 1.2 scalars: only `true`/`false` are booleans, so `no`, `on` or `y` in a
/// constraint stay text (upstream's YAML 1.1 reader would turn them into booleans and then
/// reject them). Duplicate keys are errors; alias expansion stays within the budget.
fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options
}

/// A YAML syntax error as a reader wants it: where (line and column of the text, as
/// the parser located it) and what, in the parser's words for users, without its
/// rendering (source snippet, "error:" prefix) or advice meant for programmers.
fn yaml_syntax(e: &serde_saphyr::Error) -> Problem {
    use serde_saphyr::MessageFormatter;
    let what = serde_saphyr::UserMessageFormatter.format_message(e.without_snippet());
    let what = first_line(&what);
    match e.location().filter(|l| l.line() > 0) {
        Some(at) => Problem::new(
            "",
            format!("is not valid YAML at line {}, column {}: {what}", at.line(), at.column()),
        ),
        None => Problem::new("", format!("is not valid YAML: {what}")),
    }
}

/// A JSON syntax error, worded like [`yaml_syntax`].
fn json_syntax(e: &serde_json::Error) -> Problem {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = text.strip_suffix(&suffix).unwrap_or(&text);
    if e.line() == 0 {
        return Problem::new("", format!("is not valid JSON: {what}"));
    }
    Problem::new(
        "",
        format!("is not valid JSON at line {}, column {}: {what}", e.line(), e.column()),
    )
}

fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim().to_owned()
}

fn to_json(node: Node, path: &str, problems: &mut Vec<Problem>) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(i.into()),
        Node::UInt(u) => Value::Number(u.into()),
        Node::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                problems.push(Problem::new(path, format!("must be a finite number, found {f}")));
                Value::Null
            }
        },
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, n)| to_json(n, &format!("{path}[{i}]"), problems))
                .collect(),
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let Node::Str(key) = k else {
                    problems.push(Problem::new(
                        path,
                        format!("has a key that is not a string: {}", key_text(&k)),
                    ));
                    continue;
                };
                let here = child(path, &key);
                if map.contains_key(&key) {
                    problems.push(Problem::new(&here, "appears twice"));
                    continue;
                }
                let value = to_json(v, &here, problems);
                map.insert(key, value);
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_read_the_same() {
        let y = parse("goal: x\nlist: [1, 2.5, true, null]\n", Format::Yaml).unwrap();
        let j = parse(r#"{"goal": "x", "list": [1, 2.5, true, null]}"#, Format::Json).unwrap();
        assert_eq!(y.value, j.value);
        assert!(y.problems.is_empty() && j.problems.is_empty());
    }

    #[test]
    fn what_json_cannot_hold_is_a_problem() {
        let p = parse("a:\n  b: x\n  1: x\n  [c]: y\n", Format::Yaml).unwrap().problems;
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].to_string(), "a has a key that is not a string: 1");
        assert_eq!(p[1].to_string(), "a has a key that is not a string: a list");
        // Non-finite floats are refused by the YAML reader itself, with a position.
        let p = parse("a:\n  b: .inf\n", Format::Yaml).unwrap_err();
        assert!(p[0].message.contains("line 2"), "{p:?}");
    }

    #[test]
    fn yaml_1_2_booleans() {
        let v = parse("a: [no, y, on, true, False]\n", Format::Yaml).unwrap().value;
        assert_eq!(v, serde_json::json!({"a": ["no", "y", "on", true, false]}));
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            text.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse(&text, Format::Yaml).is_err(), "10^13 nodes must not be expanded");
    }

    #[test]
    fn duplicate_keys_and_syntax_errors() {
        let p = parse("{\"a\": 1, \"a\": 2}", Format::Json).unwrap().problems;
        assert_eq!((p[0].path.as_str(), p[0].message.as_str()), ("a", "appears twice"));
        let p = parse("a: [1, 2", Format::Yaml).unwrap_err();
        assert!(p[0].message.starts_with("is not valid YAML"), "{p:?}");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let p = parse(&deep, Format::Json).unwrap_err();
        assert!(p[0].message.contains("deeper"), "{p:?}");
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok, Format::Json).is_ok());
    }

    #[test]
    fn size_limit_before_parsing() {
        let big = format!("goal: \"{}\"", "x".repeat(MAX_SEED_BYTES));
        let p = parse(&big, Format::Yaml).unwrap_err();
        assert!(p[0].message.contains("over the 1000000-byte limit"));
    }
}
