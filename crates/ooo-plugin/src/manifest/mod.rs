//! Plugin manifests (`ouroboros.plugin.json`): loading, validation and the typed model.
//!
//! Loading follows upstream's order, stopping at the first failure: read and parse JSON;
//! a root object; a supported `schema_version`; our JSON Schema for that version
//! ([`schema`]); then the rules a schema cannot express ([`rules`]). Every failure names
//! the file, the JSON pointer, what was expected and what was found. What each scope
//! opens (variables, hosts, paths) is listed by [`opens`].

pub mod opens;
pub mod rules;
pub mod schema;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The manifest file name inside a plugin directory.
pub const MANIFEST_FILE: &str = "ouroboros.plugin.json";

/// Schema versions this build reads (`0.5` is reserved upstream and never valid).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1", "0.2", "0.3", "0.4", "0.6"];

/// Largest manifest read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Why a manifest is not acceptable: one line with the file, pointer, expected and found.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestError {
    pub file: PathBuf,
    /// JSON pointer (`""` is the root); `None` when the file could not be read as JSON.
    pub pointer: Option<String>,
    pub message: String,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.pointer.as_deref() {
            None => String::new(),
            Some("") => " at (root)".to_owned(),
            Some(p) => format!(" at {p}"),
        };
        write!(
            f,
            "{}{at}: {}; expected {}, found {}",
            self.file.display(),
            self.message,
            self.expected,
            self.found
        )
    }
}

impl std::error::Error for ManifestError {}

impl ManifestError {
    pub(crate) fn new(
        file: &Path,
        pointer: Option<&str>,
        message: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            pointer: pointer.map(str::to_owned),
            message: message.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub source: SourceSpec,
    pub commands: Vec<Command>,
    pub capabilities: Vec<Capability>,
    pub permissions: Vec<Permission>,
    pub entrypoint: Entrypoint,
    #[serde(default)]
    pub audit: Option<Audit>,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    #[serde(rename = "x-ouroboros", default, skip_serializing_if = "Option::is_none")]
    pub x_ouroboros: Option<Extension>,
}

/// `as_str` (the manifest's spelling, as serde writes it) and `Display` for an enum.
macro_rules! named {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

/// How much a command or a scope may change: parsed when the manifest loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    ReadOnly,
    Write,
    Destructive,
}

named!(Risk { ReadOnly => "read_only", Write => "write", Destructive => "destructive" });

/// The manifest's `source.type`: where the plugin says it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    LocalPath,
    PluginHome,
    /// Shipped with ooo: never installed from outside.
    FirstParty,
}

named!(SourceType {
    LocalPath => "local_path",
    PluginHome => "plugin_home",
    FirstParty => "first_party",
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    #[serde(rename = "type")]
    pub kind: SourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub namespace: String,
    pub name: String,
    pub summary: String,
    pub usage: String,
    pub risk: Risk,
    #[serde(default)]
    pub requires_confirmation: bool,
    #[serde(default)]
    pub arguments: Vec<Argument>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub result_states: Vec<String>,
    /// Our per-command extension.
    #[serde(rename = "x-ouroboros", default, skip_serializing_if = "Option::is_none")]
    pub x_ouroboros: Option<CommandExtension>,
}

/// `commands[].x-ouroboros`: scopes this one command needs beyond the plugin's required
/// ones. An optional top-level scope gates nothing by itself, and upstream's command
/// `permissions` only inform the audit (and cannot name scopes with `_`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CommandExtension {
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Argument {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    pub name: ooo_core::capability::Capability,
    pub access: ooo_core::capability::Access,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    pub scope: String,
    pub risk: Risk,
    pub required: bool,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entrypoint {
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub name: String,
    pub entrypoint: Entrypoint,
    pub failure_policy: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub description: String,
}

/// Our `x-ouroboros` extension: what the plugin may receive, each behind a scope.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Extension {
    /// Caller environment variable -> the scope that must be trusted to pass it.
    #[serde(default)]
    pub env: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// `x-ouroboros.build`: how `install` and `update` make the files the plugin runs from
/// its source (see `crate::build`). Shown to the user with the permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// Split by shell-word rules and run in the plugin's directory of a copy of the source.
    pub command: String,
    /// Files the build must leave, relative to the plugin directory; installed with it.
    pub outputs: Vec<String>,
    /// Hosts the build may reach; none when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub scope: String,
    #[serde(default)]
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsAccess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_scope: Option<String>,
}

impl Manifest {
    /// The namespace all commands share (the first command's).
    pub fn namespace(&self) -> &str {
        &self.commands[0].namespace
    }

    pub fn command(&self, name: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.name == name)
    }

    pub fn permission(&self, scope: &str) -> Option<&Permission> {
        self.permissions.iter().find(|p| p.scope == scope)
    }

    /// The declared build step, if any.
    pub fn build(&self) -> Option<&Build> {
        self.x_ouroboros.as_ref().and_then(|x| x.build.as_ref())
    }

    /// Scopes marked `required: true`, in declaration order.
    pub fn required_scopes(&self) -> Vec<&str> {
        self.permissions.iter().filter(|p| p.required).map(|p| p.scope.as_str()).collect()
    }

    /// Scopes that must be trusted to run `command`: the plugin's required scopes, then
    /// the command's `x-ouroboros.scopes`. The command's own `permissions` gate nothing,
    /// as upstream (real manifests list optional scopes there that read-only commands
    /// may use); a command that must not run without a scope says so in the extension.
    pub fn scopes_for<'a>(&'a self, command: &'a Command) -> Vec<&'a str> {
        let mut scopes = self.required_scopes();
        for scope in command.x_ouroboros.iter().flat_map(|x| &x.scopes) {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
        scopes
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validate manifest bytes read from `file` (used in messages only).
pub fn parse(bytes: &[u8], file: &Path) -> Result<Manifest, ManifestError> {
    parse_checked(bytes, file, true)
}

/// `parse`, with the JSON Schema pass only when `schema` (see [`load_installed`]).
fn parse_checked(bytes: &[u8], file: &Path, schema: bool) -> Result<Manifest, ManifestError> {
    let (doc, version) = document(bytes, file)?;
    if let Some(v) = schema.then(|| schema::first_violation(&doc, &version)).flatten() {
        return Err(ManifestError::new(file, Some(&v.pointer), v.message, v.expected, v.found));
    }
    let manifest = model(doc, file)?;
    rules::check(&manifest, file)?;
    Ok(manifest)
}

/// Every problem of the manifest bytes, not only the first: a file that is not a JSON
/// object with a supported `schema_version` has one; otherwise every schema violation,
/// or, when the schema passes, every rule failure (with the manifest, so callers can
/// check more).
pub fn problems(bytes: &[u8], file: &Path) -> (Option<Manifest>, Vec<ManifestError>) {
    let (doc, version) = match document(bytes, file) {
        Ok(d) => d,
        Err(e) => return (None, vec![e]),
    };
    let violations: Vec<ManifestError> = schema::violations(&doc, &version)
        .into_iter()
        .map(|v| ManifestError::new(file, Some(&v.pointer), v.message, v.expected, v.found))
        .collect();
    if !violations.is_empty() {
        return (None, violations);
    }
    match model(doc, file) {
        Ok(m) => {
            let found = rules::problems(&m, file);
            (Some(m), found)
        }
        Err(e) => (None, vec![e]),
    }
}

/// The bytes as a JSON object with a supported `schema_version` (returned with it).
fn document(bytes: &[u8], file: &Path) -> Result<(Value, String), ManifestError> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ManifestError::new(
            file,
            None,
            "manifest is not valid UTF-8",
            "UTF-8 JSON text",
            "invalid bytes",
        )
    })?;
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        ManifestError::new(
            file,
            None,
            format!("manifest is not valid JSON: {e}"),
            "a JSON object",
            format!("a parse error at line {}, column {}", e.line(), e.column()),
        )
    })?;
    if !doc.is_object() {
        return Err(ManifestError::new(
            file,
            Some(""),
            "manifest must be a JSON object",
            "object",
            type_name(&doc),
        ));
    }
    let version = match doc.get("schema_version") {
        Some(Value::String(v)) => v.clone(),
        other => {
            return Err(ManifestError::new(
                file,
                Some("/schema_version"),
                "manifest is missing `schema_version`",
                "a string such as \"0.1\"",
                other.map_or("nothing", type_name),
            ));
        }
    };
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(ManifestError::new(
            file,
            Some("/schema_version"),
            format!("schema_version {version:?} is not supported"),
            format!("one of {}", SUPPORTED_VERSIONS.join(", ")),
            format!("{version:?}"),
        ));
    }
    Ok((doc, version))
}

/// The typed model of a document that passed the schema.
fn model(doc: Value, file: &Path) -> Result<Manifest, ManifestError> {
    serde_json::from_value(doc).map_err(|e| {
        ManifestError::new(
            file,
            Some(""),
            format!("manifest does not fit the model: {e}"),
            "a valid manifest",
            "see message",
        )
    })
}

/// Load `<dir>/ouroboros.plugin.json`, or a manifest file given directly. Only a
/// regular file is read (not a FIFO, device or a link to one), and at most
/// [`MAX_MANIFEST_BYTES`] of it.
pub fn load(path: &Path) -> Result<(Manifest, Vec<u8>), ManifestError> {
    load_checked(path, true)
}

/// Load an installed plugin's manifest without the JSON Schema pass (compiling the
/// schema costs a few milliseconds per process, most of a plugin call's overhead). Its
/// bytes passed that pass when installed and are covered by the artifact digest, which
/// the firewall re-checks before any plugin code runs; the model's types and the
/// cross-field rules still apply here.
pub fn load_installed(path: &Path) -> Result<(Manifest, Vec<u8>), ManifestError> {
    load_checked(path, false)
}

fn load_checked(path: &Path, schema: bool) -> Result<(Manifest, Vec<u8>), ManifestError> {
    let (bytes, file) = read(path)?;
    let manifest = parse_checked(&bytes, &file, schema)?;
    Ok((manifest, bytes))
}

/// The manifest file of `path` (a plugin directory or the file itself) and its bytes:
/// only a regular file, at most [`MAX_MANIFEST_BYTES`].
pub fn read(path: &Path) -> Result<(Vec<u8>, PathBuf), ManifestError> {
    use std::io::Read;
    let file = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_owned() };
    let unreadable = |e: std::io::Error| {
        ManifestError::new(
            &file,
            None,
            format!("manifest cannot be read: {e}"),
            "a readable file",
            "none",
        )
    };
    let handle = std::fs::File::open(&file).map_err(unreadable)?;
    let meta = handle.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(ManifestError::new(
            &file,
            None,
            "manifest is not a regular file",
            "a JSON file",
            "a special file",
        ));
    }
    let mut bytes = Vec::new();
    handle.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestError::new(
            &file,
            None,
            "manifest is too large",
            format!("at most {MAX_MANIFEST_BYTES} bytes"),
            "more",
        ));
    }
    Ok((bytes, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_spelled_as_serde_writes_them() {
        for risk in [Risk::ReadOnly, Risk::Write, Risk::Destructive] {
            assert_eq!(serde_json::to_value(risk).unwrap(), risk.as_str());
            assert_eq!(serde_json::from_value::<Risk>(risk.as_str().into()).unwrap(), risk);
        }
        for kind in [SourceType::LocalPath, SourceType::PluginHome, SourceType::FirstParty] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(format!("[{:<11}]", Risk::Write), "[write      ]", "padding is honoured");
        assert!(serde_json::from_value::<Risk>("reckless".into()).is_err());
    }
}
