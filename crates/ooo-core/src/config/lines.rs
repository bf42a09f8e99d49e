//! Where each setting is written in `config.toml`: line numbers from the TOML document's
//! spans, for errors that name the line and for `ooo config show`.
//!
//! What does not live here: what the settings are and which values are valid (the
//! parent module's types).

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
}

/// The line of every key, tables included, by its dotted path (`sandbox`, `runtime`,
/// `runtime.claude`, `runtime.claude.model`). Empty when `text` is not valid TOML.
pub fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(doc) = DeTable::parse(text) {
        walk(text, "", doc.get_ref(), &mut lines);
    }
    lines
}

fn walk(text: &str, prefix: &str, table: &DeTable<'_>, lines: &mut BTreeMap<String, usize>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        lines.entry(path.clone()).or_insert_with(|| line_of(text, key.span().start));
        if let DeValue::Table(inner) = value.get_ref() {
            walk(text, &path, inner, lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_keys_and_tables() {
        let text = "sandbox = \"require\"\n\n[runtime]\ndefault = \"x\"\n[runtime.claude]\nmodel = \"m\"\n";
        let lines = key_lines(text);
        assert_eq!(lines["sandbox"], 1);
        assert_eq!(lines["runtime"], 3);
        assert_eq!(lines["runtime.default"], 4);
        assert_eq!(lines["runtime.claude"], 5);
        assert_eq!(lines["runtime.claude.model"], 6);
        assert!(key_lines("not = [toml").is_empty());
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a", 99), 1);
    }
}
