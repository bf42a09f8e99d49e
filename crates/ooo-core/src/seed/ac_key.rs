//! `semantic_ac_key`: a criterion's identity that survives reordering and reruns.
//!
//! `ac_` + the first 16 hex digits of sha256 over the compact, key-sorted JSON (UTF-8,
//! non-ASCII not escaped) of `{description, verify_command, expected_artifacts,
//! output_assertion}`, with absent values as `null` and no artifacts as `[]`. This is
//! byte-for-byte what upstream hashes (Python `json.dumps(sort_keys=True,
//! separators=(",", ":"), ensure_ascii=False)`), so keys agree across implementations.

use serde_json::json;
use sha2::{Digest, Sha256};

/// Derive the key of a criterion from its contract.
pub fn derive(
    description: &str,
    verify_command: Option<&str>,
    expected_artifacts: &[String],
    output_assertion: Option<&str>,
) -> String {
    // Built with sorted keys by hand: serde_json's map order depends on crate features.
    let text = format!(
        "{{\"description\":{},\"expected_artifacts\":{},\"output_assertion\":{},\"verify_command\":{}}}",
        json!(description),
        json!(expected_artifacts),
        json!(output_assertion),
        json!(verify_command),
    );
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("ac_{hex}")
}

/// Is `key` a well-formed semantic key?
pub fn is_valid(key: &str) -> bool {
    key.len() == 19
        && key.starts_with("ac_")
        && key[3..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors computed with upstream's own `derive_semantic_ac_key` (ouroboros-ai from
    /// PyPI), on the already-normalised criterion fields.
    #[test]
    fn matches_upstream_vectors() {
        assert_eq!(derive("CLI exits 0", None, &[], None), "ac_1aae269ff0479bca");
        assert_eq!(derive("Output contains greeting", None, &[], None), "ac_77a5651d2223727e");
        assert_eq!(
            derive(
                "tests pass ✓ — naïve \"quoted\" \\ back\u{2028}sep\u{7f}",
                Some("cargo test"),
                &["src/main.rs".into(), "docs/a b.md".into()],
                Some("test result: ok"),
            ),
            "ac_dae6cdf1add77ae6"
        );
        assert_eq!(derive("ctrl\u{1}", Some("make"), &[], None), "ac_0c9757d8078fd329");
    }

    #[test]
    fn key_shape() {
        assert!(is_valid("ac_0123456789abcdef"));
        assert!(!is_valid("ac_0123456789ABCDEF"));
        assert!(!is_valid("ac_0123"));
        assert!(!is_valid("xx_0123456789abcdef"));
    }
}
