//! Expected-artifact paths: the portability rules an acceptance criterion's
//! `expected_artifacts` entries must meet, matching upstream's checks, so that every path
//! a valid seed names can be created on POSIX and Windows workspaces alike.
//!
//! Only path text is judged here; nothing touches the file system.

/// Most artifacts one criterion may list.
pub const MAX_ARTIFACTS: usize = 253;
/// Longest artifact, in characters.
pub const MAX_ARTIFACT_CHARS: usize = 2_038;
/// Longest path component, in UTF-8 bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest normalised path, in UTF-8 bytes.
pub const MAX_PATH_BYTES: usize = 255;
/// Budget for verify command + output assertion + all artifact paths, in characters.
pub const MAX_CONTRACT_CHARS: usize = 64_000;

const WINDOWS_FORBIDDEN: &[char] = &['<', '>', ':', '"', '|', '?', '*'];

fn is_control(c: char) -> bool {
    (c as u32) < 32 || c as u32 == 127
}

/// `NONE` (any case, surrounding spaces ignored) means "no value" in generated seeds.
pub fn is_none_sentinel(text: &str) -> bool {
    text.trim_matches(' ').eq_ignore_ascii_case("NONE")
}

fn is_reserved_windows_stem(stem: &str) -> bool {
    let upper = stem.to_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$") {
        return true;
    }
    let digits = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³"];
    ["COM", "LPT"]
        .iter()
        .any(|prefix| upper.strip_prefix(prefix).is_some_and(|rest| digits.contains(&rest)))
}

fn windows_component_error(component: &str) -> Option<&'static str> {
    if component.ends_with(' ') || component.ends_with('.') {
        return Some("contains a Windows path component ending in a space or dot");
    }
    if component.contains(WINDOWS_FORBIDDEN) {
        return Some("contains a Windows-forbidden path character");
    }
    let stem = component.split('.').next().unwrap_or("").trim_end_matches(' ');
    if is_reserved_windows_stem(stem) {
        return Some("contains a Windows-reserved path component");
    }
    None
}

/// The path's components as POSIX sees them (empty and `.` components dropped).
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// Why `artifact` is not a portable workspace-relative path, or `None` when it is.
pub fn path_error(artifact: &str) -> Option<String> {
    if artifact.is_empty() || artifact.chars().any(is_control) {
        return Some("contains an empty value or control character".into());
    }
    if is_none_sentinel(artifact) {
        return Some(
            "contains NONE mixed with artifact paths; use NONE only as the entire field".into(),
        );
    }
    if artifact.contains('\\') {
        return Some("contains a backslash; use POSIX '/' separators".into());
    }
    if artifact.contains(',') {
        return Some(
            "contains a comma; artifact list strings use comma+whitespace delimiters".into(),
        );
    }
    let parts = components(artifact);
    let bytes = artifact.as_bytes();
    let has_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if parts.is_empty() && !artifact.starts_with('/') && !has_drive {
        return Some("resolves to the workspace root".into());
    }
    if artifact.starts_with('/') || has_drive || parts.contains(&"..") {
        return Some("is absolute or escapes workspace".into());
    }
    if let Some(error) = parts.iter().find_map(|c| windows_component_error(c)) {
        return Some(error.into());
    }
    if parts.iter().any(|c| c.len() > MAX_COMPONENT_BYTES) {
        return Some(format!(
            "contains a path component longer than {MAX_COMPONENT_BYTES} filesystem bytes"
        ));
    }
    if parts.join("/").len() > MAX_PATH_BYTES {
        return Some(format!(
            "contains a canonical path longer than {MAX_PATH_BYTES} portable filesystem bytes"
        ));
    }
    if artifact.chars().any(char::is_whitespace) && !artifact.contains('/') {
        return Some("is ambiguous prose; prefix a top-level spaced path with ./".into());
    }
    None
}

/// Split a generated artifact list (`"a.txt, b/c.txt"`, or `NONE`) into paths.
pub fn parse_list(value: &str) -> Result<Vec<String>, String> {
    if value.chars().any(is_control) {
        return Err("expected_artifacts entries cannot contain control characters".into());
    }
    let stripped = value.trim_matches(' ');
    if stripped.is_empty() || is_none_sentinel(stripped) {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let mut rest = value;
    // Split on a comma followed by at least one whitespace character.
    while let Some(at) = find_delimiter(rest) {
        items.push(rest[..at].trim_matches(' ').to_owned());
        let after = &rest[at + 1..];
        rest = after.trim_start_matches(char::is_whitespace);
    }
    items.push(rest.trim_matches(' ').to_owned());
    if items.iter().any(String::is_empty) {
        return Err("expected_artifacts entries cannot be empty".into());
    }
    Ok(items)
}

fn find_delimiter(text: &str) -> Option<usize> {
    text.char_indices()
        .find(|(i, c)| *c == ',' && text[i + 1..].chars().next().is_some_and(char::is_whitespace))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_paths_pass() {
        for ok in
            ["src/main.rs", "README.md", "./my file.txt", "docs/a b.md", "a/./b", ".hidden", "dir/"]
        {
            assert_eq!(path_error(ok), None, "{ok}");
        }
    }

    #[test]
    fn each_rule_has_its_reason() {
        let cases = [
            ("", "control"),
            ("a\tb", "control"),
            ("none", "NONE"),
            ("a\\b", "backslash"),
            ("a,b", "comma"),
            (".", "workspace root"),
            ("./", "workspace root"),
            ("/etc/passwd", "absolute"),
            ("C:/x", "absolute"),
            ("c:x", "absolute"),
            ("a/../../b", "absolute"),
            ("..", "absolute"),
            ("a/b.", "ending in a space or dot"),
            ("a /b", "ending in a space or dot"),
            ("a/b:c", "forbidden"),
            ("what?", "forbidden"),
            ("con", "reserved"),
            ("dir/NUL.txt", "reserved"),
            ("com1.log", "reserved"),
            ("LPT²", "reserved"),
            ("my file.txt", "ambiguous prose"),
        ];
        for (path, reason) in cases {
            let got = path_error(path).unwrap_or_else(|| panic!("{path:?} accepted"));
            assert!(got.contains(reason), "{path:?}: {got}");
        }
        assert!(path_error("com10").is_none());
        assert!(path_error("console.txt").is_none());
    }

    #[test]
    fn length_limits_are_in_bytes() {
        let long = "é".repeat(128); // 256 bytes
        assert!(path_error(&long).unwrap().contains("component longer"));
        let ok_component = "a".repeat(255);
        assert_eq!(path_error(&ok_component), None);
        let two = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        assert!(path_error(&two).unwrap().contains("canonical path longer"));
    }

    #[test]
    fn lists_split_on_comma_and_whitespace() {
        assert_eq!(
            parse_list("a.txt, b/c.txt,  d,\u{2003}e").unwrap(),
            ["a.txt", "b/c.txt", "d", "e"]
        );
        assert!(parse_list("a.txt,\tb").is_err(), "a tab is a control character");
        assert_eq!(parse_list(" NONE ").unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("   ").unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("a,b").unwrap(), ["a,b"], "no whitespace: not a delimiter");
        assert!(parse_list("a, , b").is_err());
        assert!(parse_list("a\n, b").is_err());
    }
}
