//! Seeds as files: loading (size check, format by extension, validation), rendering to
//! YAML or JSON with upstream's key order, and the content hash that is a seed's identity.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::raw::{self, Format, MAX_SEED_BYTES};
use super::{Invalid, MetadataDefaults, Seed, Validated, parse};

/// Why a seed file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is {size} bytes, over the {MAX_SEED_BYTES}-byte seed limit")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not UTF-8 text")]
    NotText { path: PathBuf },
    #[error("{path} is not a valid seed ({} problem(s))", invalid.problems.len())]
    Invalid { path: PathBuf, invalid: Invalid },
}

/// JSON for `.json` files, YAML otherwise (YAML also reads most JSON).
pub fn format_for(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Yaml,
    }
}

/// Validate seed text.
pub fn load_str(
    text: &str,
    format: Format,
    defaults: &MetadataDefaults,
) -> Result<Validated, Invalid> {
    let doc =
        raw::parse(text, format).map_err(|problems| Invalid { problems, warnings: Vec::new() })?;
    match (parse::from_value(&doc.value, defaults), doc.problems.is_empty()) {
        (Ok(valid), true) => Ok(valid),
        (Ok(valid), false) => Err(Invalid { problems: doc.problems, warnings: valid.warnings }),
        (Err(mut invalid), _) => {
            let mut problems = doc.problems;
            problems.append(&mut invalid.problems);
            Err(Invalid { problems, warnings: invalid.warnings })
        }
    }
}

/// Load and validate a seed file. Files over the size limit are refused before reading.
pub fn load_file(path: &Path, defaults: &MetadataDefaults) -> Result<Validated, LoadError> {
    let read_err = |source| LoadError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
        return Err(LoadError::Read { path: path.to_owned(), source });
    }
    if meta.len() > MAX_SEED_BYTES as u64 {
        return Err(LoadError::TooLarge { path: path.to_owned(), size: meta.len() });
    }
    load_reader(file, path, defaults)
}

/// Load and validate a seed read from `reader` (standard input, say), named `path` in
/// messages; its extension picks the format (YAML, which also reads JSON, otherwise).
/// At most one byte past the size limit is read.
pub fn load_reader(
    reader: impl std::io::Read,
    path: &Path,
    defaults: &MetadataDefaults,
) -> Result<Validated, LoadError> {
    use std::io::Read;
    let read_err = |source| LoadError::Read { path: path.to_owned(), source };
    let mut bytes = Vec::new();
    reader.take(MAX_SEED_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() > MAX_SEED_BYTES {
        return Err(LoadError::TooLarge { path: path.to_owned(), size: bytes.len() as u64 });
    }
    let text =
        String::from_utf8(bytes).map_err(|_| LoadError::NotText { path: path.to_owned() })?;
    load_str(&text, format_for(path), defaults)
        .map_err(|invalid| LoadError::Invalid { path: path.to_owned(), invalid })
}

/// `sha256:<hex>` over the RFC 8785 canonical JSON of the normalised seed.
pub fn content_hash(seed: &Seed) -> String {
    let canonical =
        serde_json_canonicalizer::to_vec(&seed.to_value()).expect("a seed is plain JSON data");
    let digest = Sha256::digest(&canonical);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The normalised seed as YAML, keys in upstream's order.
pub fn to_yaml(seed: &Seed) -> String {
    serde_saphyr::to_string(&seed.to_value()).expect("a seed renders as YAML")
}

/// The normalised seed as pretty JSON.
pub fn to_json_string(seed: &Seed) -> String {
    serde_json::to_string_pretty(&seed.to_value()).expect("a seed renders as JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_round_trip_keeps_keys_and_hash() {
        let defaults = MetadataDefaults::generate();
        let text = "goal: g\nacceptance_criteria: [a, {criterion: b, verify_command: make}]\nontology_schema: {name: n, description: d}\nmetadata: {seed_id: s1}\nplugin_data: {z: 1, a: [true]}\n";
        let first = load_str(text, Format::Yaml, &defaults).unwrap().seed;
        let yaml = to_yaml(&first);
        let second = load_str(&yaml, Format::Yaml, &defaults).unwrap().seed;
        assert_eq!(first, second);
        assert_eq!(content_hash(&first), content_hash(&second));
        let keys: Vec<String> = first.to_value().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.first().map(String::as_str), Some("goal"));
        assert_eq!(keys.last().map(String::as_str), Some("plugin_data"));
        let json = to_json_string(&first);
        let third = load_str(&json, Format::Json, &defaults).unwrap().seed;
        assert_eq!(first, third);
    }
}
