//! `config.toml` in the home: the user's settings, parsed strictly. An unknown key, a
//! bad value or a syntax error is an error naming the file, the line and what is valid;
//! nothing is silently ignored. Today it holds the sandbox policy and the runtime
//! settings (`[runtime]`: the default runtime, and one table per CLI or HTTP provider).
//!
//! What does not live here: what the settings mean to each subsystem (the runtime
//! registry decides which runtime is the default; the firewall enforces the sandbox).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod lines;

/// The file name inside the home.
pub const CONFIG_FILE: &str = "config.toml";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A syntax error, an unknown key or a bad value, at `line` when it is known.
    /// `message` says what is valid: "unknown variant `required`, expected `require`".
    #[error("{}{}: {message}", path.display(), line.map(|n| format!(", line {n}")).unwrap_or_default())]
    Invalid { path: PathBuf, line: Option<usize>, message: String },
}

impl ConfigError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ConfigError::Read { path, .. } => {
                format!("check the permissions of {}", path.display())
            }
            ConfigError::Invalid { path, line, .. } => format!(
                "fix {} of {}, then check it with `ooo config check`; the keys and values are documented in the README under \"Configuration\"",
                line.map_or("the file".to_owned(), |n| format!("line {n}")),
                path.display()
            ),
        }
    }
}

/// A configuration and where each of its settings is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub config: Config,
    /// The line of every key by its dotted path (`runtime.claude.model`); `None` when
    /// there is no file (every setting is a default).
    pub lines: Option<BTreeMap<String, usize>>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `"require"` (the default): refuse to run plugins, builds, verify commands and
    /// workers without the full sandbox; `"allow-partial"`: run with the mechanisms this
    /// machine has (the audit records the level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxSetting>,
    #[serde(default, skip_serializing_if = "RuntimeSection::is_empty")]
    pub runtime: RuntimeSection,
    /// `[run]`: settings of `ooo run`.
    #[serde(default, skip_serializing_if = "RunSettings::is_default")]
    pub run: RunSettings,
    /// `[plugins.<name>]`: what you add to one plugin's manifest (e.g. the host of your
    /// own instance of the service it talks to).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, PluginSettings>,
}

/// `[run]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Criteria with neither `verify_command` nor `verify_exemption_reason`: `"warn"`
    /// (the default) lists them and runs; `"block"` refuses to run.
    #[serde(default)]
    pub verify_gate: VerifyGate,
    /// Finished run worktrees kept per repository; older ones are collected when a new
    /// worktree is made (`ooo run gc` does it by hand).
    #[serde(default = "default_worktree_cap")]
    pub worktree_cap: usize,
}

fn default_worktree_cap() -> usize {
    20
}

impl Default for RunSettings {
    fn default() -> Self {
        Self { verify_gate: VerifyGate::default(), worktree_cap: default_worktree_cap() }
    }
}

impl RunSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[run] verify_gate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyGate {
    #[default]
    Warn,
    Block,
}

/// `[plugins.<name>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// Hosts (`host`, `host:port`, `*.suffix`) the plugin may also reach, once its
    /// manifest's network scope is trusted: on top of `x-ouroboros.network.hosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxSetting {
    Require,
    AllowPartial,
}

/// `[runtime]`: `default = "<name>"` and one `[runtime.<name>]` table per runtime.
/// Deserialized by hand (not `#[serde(flatten)]`, which buffers the input and so loses
/// the line numbers of errors inside the tables).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(flatten)]
    pub entries: BTreeMap<String, RuntimeEntry>,
}

impl<'de> Deserialize<'de> for RuntimeSection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RuntimeSection;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table with `default` and [runtime.<name>] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut section = RuntimeSection::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "default" {
                        section.default = Some(map.next_value()?);
                    } else {
                        let entry: RuntimeEntry = map.next_value()?;
                        section.entries.insert(key, entry);
                    }
                }
                Ok(section)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl RuntimeSection {
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.entries.is_empty()
    }
}

/// What kind of HTTP API a `[runtime.<name>]` table with `kind` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The Anthropic Messages API.
    Anthropic,
    /// OpenAI-compatible Chat Completions (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp
    /// server, LM Studio).
    Openai,
}

/// One `[runtime.<name>]` table. For the agent CLIs (`claude`, `codex`, `gemini`,
/// `opencode`) `kind` is absent; any other name is an HTTP provider and needs `kind`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProviderKind>,
    /// A CLI's executable, when not the one on PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The NAME of the environment variable holding the key (never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// How an OpenAI-compatible provider is asked for JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_mode: Option<JsonModeSetting>,
}

/// `json_mode`: `native` sends `response_format` (a server that refuses it is asked
/// again by instruction); `instructions` never sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonModeSetting {
    Native,
    Instructions,
}

impl Config {
    /// The configuration at `path`; an absent file is the default configuration. This is
    /// the one way `config.toml` is read: every command that needs a setting calls it,
    /// and an invalid file is an error for each of them (never a silent default).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Ok(Self::load_located(path)?.config)
    }

    /// [`Config::load`], also saying where each setting is written.
    pub fn load_located(path: &Path) -> Result<Located, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let config = Config::parse(&text, path)?;
                Ok(Located { config, lines: Some(lines::key_lines(&text)) })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Located { config: Config::default(), lines: None })
            }
            Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
        }
    }

    /// Parse `text` (named `path` in errors) and check what TOML alone cannot.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            line: e.span().map(|span| lines::line_of(text, span.start)),
            message: e.message().to_owned(),
        })?;
        config.check().map_err(|(key, message)| ConfigError::Invalid {
            path: path.to_owned(),
            line: lines::key_lines(text).get(&key).copied(),
            message,
        })?;
        Ok(config)
    }

    /// What TOML alone cannot check; an error names the dotted key it is about.
    fn check(&self) -> Result<(), (String, String)> {
        for (name, settings) in &self.plugins {
            if let Some(bad) = settings.hosts.iter().find(|h| !plausible_host(h)) {
                return Err((
                    format!("plugins.{name}.hosts"),
                    format!("`{bad}` is not a host, host:port or *.suffix"),
                ));
            }
        }
        for (name, entry) in &self.runtime.entries {
            let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid_name {
                return Err((
                    format!("runtime.{name}"),
                    format!(
                        "[runtime.{name}]: a runtime name is lowercase letters, digits, '-' and '_', starting with a letter"
                    ),
                ));
            }
            if let Some(var) = &entry.api_key_env
                && (var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err((
                    format!("runtime.{name}.api_key_env"),
                    format!(
                        "[runtime.{name}] api_key_env = {var:?}: give the NAME of an environment variable (like ANTHROPIC_API_KEY), not a key"
                    ),
                ));
            }
            if entry.kind.is_none() && !KNOWN_RUNTIMES.contains(&name.as_str()) {
                let closest = KNOWN_RUNTIMES
                    .iter()
                    .min_by_key(|known| strsim::levenshtein(known, name))
                    .filter(|known| strsim::levenshtein(known, name) <= 2);
                let suggestion =
                    closest.map_or(String::new(), |c| format!("did you mean [runtime.{c}]? "));
                return Err((
                    format!("runtime.{name}"),
                    format!(
                        "[runtime.{name}] is not a runtime ooo knows: {suggestion}the agent CLIs are {}; any other name is an HTTP provider and needs kind = \"anthropic\" or \"openai\"",
                        AGENT_CLIS.join(", ")
                    ),
                ));
            }
            if let Some(url) = &entry.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err((
                    format!("runtime.{name}.base_url"),
                    format!(
                        "[runtime.{name}] base_url = {url:?}: must start with http:// or https://"
                    ),
                ));
            }
        }
        if let Some(default) = &self.runtime.default
            && !KNOWN_RUNTIMES.contains(&default.as_str())
            && self.runtime.entries.get(default).is_none_or(|e| e.kind.is_none())
        {
            return Err((
                "runtime.default".to_owned(),
                format!(
                    "[runtime] default = {default:?} names no runtime: use one of {}, or a [runtime.<name>] table with kind",
                    KNOWN_RUNTIMES.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The agent CLIs ooo drives, by the name of their `[runtime.<name>]` table.
pub const AGENT_CLIS: [&str; 4] = ["claude", "codex", "gemini", "opencode"];

/// Every runtime name that needs no `kind`: the agent CLIs and the built-in providers.
/// A host as `[plugins.<name>] hosts` takes it (the sandbox parses it exactly).
fn plausible_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, Some(p)),
        _ => (host, None),
    };
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

pub const KNOWN_RUNTIMES: [&str; 6] =
    ["claude", "codex", "gemini", "opencode", "anthropic", "openai"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_settings_are_read_with_defaults() {
        assert_eq!(parse("").unwrap().run, RunSettings::default());
        let c = parse("[run]\nverify_gate = \"block\"\nworktree_cap = 5\n").unwrap();
        assert_eq!((c.run.verify_gate, c.run.worktree_cap), (VerifyGate::Block, 5));
        let err = parse("[run]\nverify_gate = \"stop\"\n").unwrap_err().to_string();
        assert!(err.contains("warn") && err.contains("block") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn plugin_hosts_are_read_and_checked() {
        let c =
            parse("[plugins.demo]\nhosts = [\"ghe.example.com\", \"127.0.0.1:8080\"]\n").unwrap();
        assert_eq!(c.plugins["demo"].hosts, ["ghe.example.com", "127.0.0.1:8080"]);
        let err = parse("[plugins.demo]\nhosts = [\"a b\"]\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("`a b` is not a host"), "{err}");
        assert!(parse("[plugins.demo]\nhost = []\n").is_err(), "unknown keys are refused");
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/h/config.toml"))
    }

    #[test]
    fn runtime_tables_parse() {
        let c = parse(
            r#"
sandbox = "require"
[runtime]
default = "local"
[runtime.claude]
path = "/opt/claude"
model = "claude-sonnet-4-5"
[runtime.local]
kind = "openai"
base_url = "http://localhost:11434/v1"
model = "llama3.1"
"#,
        )
        .unwrap();
        assert_eq!(c.sandbox, Some(SandboxSetting::Require));
        assert_eq!(c.runtime.default.as_deref(), Some("local"));
        assert_eq!(c.runtime.entries["local"].kind, Some(ProviderKind::Openai));
        assert_eq!(c.runtime.entries["claude"].path, Some(PathBuf::from("/opt/claude")));
    }

    #[test]
    fn a_misspelt_runtime_table_or_default_is_an_error() {
        let err = parse("[runtime.claud]\nmodel = \"m\"\n").unwrap_err().to_string();
        assert!(err.contains("did you mean [runtime.claude]") && err.contains("line 1"), "{err}");
        let err = parse("[runtime]\ndefault = \"codx\"\n").unwrap_err().to_string();
        assert!(err.contains("names no runtime"), "{err}");
        assert!(
            parse("[runtime]\ndefault = \"local\"\n[runtime.local]\nkind = \"openai\"\n").is_ok()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let err = parse("sandbox = \"required\"\n").unwrap_err().to_string();
        assert!(
            err.contains("/h/config.toml") && err.contains("line 1") && err.contains("require"),
            "{err}"
        );
        let err = parse("[runtime.claude]\nmodle = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("modle"), "{err}");
        let err = parse("[runtime.x]\nkind = \"cohere\"\n").unwrap_err().to_string();
        assert!(err.contains("anthropic") && err.contains("openai"), "{err}");
        let err = parse("[runtime.x]\napi_key_env = \"sk-abc-def\"\n").unwrap_err().to_string();
        assert!(err.contains("NAME of an environment variable"), "{err}");
        assert!(err.contains("line 2"), "checks beyond TOML name the line too: {err}");
        let err = parse("sandbox = \"require\"\n[runtime]\ndefault = \n").unwrap_err().to_string();
        assert!(err.starts_with("/h/config.toml, line 3: "), "{err}");
    }

    #[test]
    fn located_settings_carry_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(Config::load_located(&path).unwrap().lines, None);
        std::fs::write(&path, "# mine\nsandbox = \"require\"\n").unwrap();
        let located = Config::load_located(&path).unwrap();
        assert_eq!(located.config.sandbox, Some(SandboxSetting::Require));
        assert_eq!(located.lines.unwrap()["sandbox"], 2);
    }

    #[test]
    fn a_missing_file_is_the_default() {
        assert_eq!(Config::load(Path::new("/nonexistent/config.toml")).unwrap(), Config::default());
    }
}
