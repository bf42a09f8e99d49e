//! Which runtimes exist on this machine, which one is the default and why, and building
//! a runtime or provider by name from the configuration.
//!
//! Runtimes are the four agent CLIs (found on `PATH` or at a configured path) and HTTP
//! providers: the built-in `anthropic` and `openai` (available when their key variable
//! is set) and any `[runtime.<name>]` table with a `kind`. The default is chosen in this
//! order: `--runtime`, `OUROBOROS_RUNTIME`, `[runtime] default` in `config.toml`, the
//! first available (CLIs first, in [`CLI_NAMES`] order, then HTTP providers).
//!
//! What does not live here: parsing `config.toml` (`ooo_core::config`) and rendering
//! (the binary).

use std::sync::Arc;
use std::time::Duration;

use ooo_core::config::{Config, JsonModeSetting, ProviderKind, RuntimeEntry};
use ooo_core::runtime::{LlmProvider, RunLimits, RuntimeError, RuntimeErrorKind};
use serde::Serialize;

use crate::cli::discover::{check_version, read_version, resolve_binary};
use crate::cli::{CliAdapter, CliProvider, CliRuntime, CliSettings};
use crate::env::{EnvMap, child_env};
use crate::http::{
    AnthropicProvider, HttpProviderSettings, JsonMode, OpenAiCompatibleProvider, RetryPolicy,
};

/// The environment variable that picks the runtime (after `--runtime`).
pub const RUNTIME_ENV: &str = "OUROBOROS_RUNTIME";

/// The agent CLIs, in the order "first available" tries them.
pub const CLI_NAMES: [&str; 4] = ooo_core::config::AGENT_CLIS;

/// Built-in HTTP providers: name, kind, base URL, key variable, default model.
pub const BUILTIN_PROVIDERS: [(&str, ProviderKind, &str, &str, &str); 2] = [
    (
        "anthropic",
        ProviderKind::Anthropic,
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        "claude-sonnet-4-5",
    ),
    ("openai", ProviderKind::Openai, "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4.1"),
];

/// How long `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// The adapter for a CLI name.
pub fn cli_adapter(name: &str) -> Option<Arc<dyn CliAdapter>> {
    match name {
        "claude" => Some(Arc::new(crate::cli::claude::Claude)),
        "codex" => Some(Arc::new(crate::cli::codex::Codex)),
        "gemini" => Some(Arc::new(crate::cli::gemini::Gemini)),
        "opencode" => Some(Arc::new(crate::cli::opencode::OpenCode)),
        _ => None,
    }
}

/// What a runtime is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeType {
    /// An agent CLI: an agent runtime and, through it, a provider.
    Cli,
    /// An HTTP API: a provider only.
    Http,
}

/// One runtime as `ooo runtime list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub name: String,
    #[serde(rename = "type")]
    pub runtime_type: RuntimeType,
    /// Usable now (installed and new enough, or configured with its key present).
    pub available: bool,
    /// The executable, or the base URL.
    pub location: Option<String>,
    pub version: Option<String>,
    pub model: Option<String>,
    /// Why it is not available, and what to do.
    pub problem: Option<String>,
    pub hint: Option<String>,
}

/// The chosen runtime and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub name: String,
    pub reason: String,
}

/// Runtimes, configuration and the caller's environment, in one place.
pub struct Registry {
    config: Config,
    caller: EnvMap,
}

impl Registry {
    pub fn new(config: Config, caller: EnvMap) -> Self {
        Registry { config, caller }
    }

    fn entry(&self, name: &str) -> Option<&RuntimeEntry> {
        self.config.runtime.entries.get(name)
    }

    fn cli_settings(&self, name: &str) -> CliSettings {
        let e = self.entry(name).cloned().unwrap_or_default();
        CliSettings {
            path: e.path,
            model: e.model,
            base_url: e.base_url,
            api_key_env: e.api_key_env,
            confined: false,
        }
    }

    /// The HTTP providers known by name: built-ins (unless a table replaces them) and
    /// every configured table with a `kind`.
    fn http_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN_PROVIDERS.iter().map(|p| p.0.to_owned()).collect();
        for (name, entry) in &self.config.runtime.entries {
            if entry.kind.is_some() && !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Every runtime, CLIs first, each probed (`--version` for CLIs, the key for HTTP).
    pub fn list(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = CLI_NAMES.iter().map(|n| self.probe_cli(n)).collect();
        out.extend(self.http_names().iter().filter_map(|n| self.probe_http(n).ok()));
        out
    }

    /// One runtime, probed as [`Registry::list`] probes it.
    pub fn probe(&self, name: &str) -> Result<Candidate, RuntimeError> {
        if CLI_NAMES.contains(&name) { Ok(self.probe_cli(name)) } else { self.probe_http(name) }
    }

    fn probe_cli(&self, name: &str) -> Candidate {
        let adapter = cli_adapter(name).expect("CLI_NAMES have adapters");
        let settings = self.cli_settings(name);
        let mut c = Candidate {
            name: name.to_owned(),
            runtime_type: RuntimeType::Cli,
            available: false,
            location: None,
            version: None,
            model: settings.model.clone(),
            problem: None,
            hint: None,
        };
        let probe = resolve_binary(adapter.as_ref(), &settings, &self.caller).and_then(|bin| {
            c.location = Some(bin.display().to_string());
            let env = child_env(&self.caller, adapter.env_allowlist(), &[], 1);
            let version = read_version(adapter.as_ref(), &bin, &env, VERSION_TIMEOUT)?;
            c.version = Some(version.clone());
            check_version(adapter.as_ref(), &version)
        });
        match probe {
            Ok(()) => c.available = true,
            Err(e) => {
                c.problem = Some(e.message);
                c.hint = Some(e.hint);
            }
        }
        c
    }

    fn probe_http(&self, name: &str) -> Result<Candidate, RuntimeError> {
        let spec = self.http_spec(name)?;
        let key_present = spec
            .api_key_env
            .as_ref()
            .is_none_or(|v| self.caller.get(v).is_some_and(|k| !k.is_empty()));
        Ok(Candidate {
            name: name.to_owned(),
            runtime_type: RuntimeType::Http,
            available: key_present,
            location: Some(spec.base_url.clone()),
            version: None,
            model: Some(spec.model.clone()),
            problem: (!key_present).then(|| {
                format!("{} is not set", spec.api_key_env.as_deref().unwrap_or("the key variable"))
            }),
            hint: (!key_present).then(|| {
                format!(
                    "export {}=<your key>, or set [runtime.{name}] api_key_env in config.toml",
                    spec.api_key_env.as_deref().unwrap_or("")
                )
            }),
        })
    }

    /// The effective settings of an HTTP provider by name.
    pub fn http_spec(&self, name: &str) -> Result<HttpSpec, RuntimeError> {
        let builtin = BUILTIN_PROVIDERS.iter().find(|p| p.0 == name);
        let entry = self.entry(name);
        let kind = entry
            .and_then(|e| e.kind)
            .or(builtin.map(|b| b.1))
            .ok_or_else(|| unknown_runtime(name))?;
        let pick = |field: Option<&String>, default: Option<&str>| {
            field.cloned().or_else(|| default.map(str::to_owned))
        };
        let base_url = pick(entry.and_then(|e| e.base_url.as_ref()), builtin.map(|b| b.2))
            .ok_or_else(|| missing_setting(name, "base_url"))?;
        let model = pick(entry.and_then(|e| e.model.as_ref()), builtin.map(|b| b.4))
            .ok_or_else(|| missing_setting(name, "model"))?;
        let api_key_env = pick(entry.and_then(|e| e.api_key_env.as_ref()), builtin.map(|b| b.3));
        let json_mode = entry.and_then(|e| e.json_mode);
        Ok(HttpSpec { name: name.to_owned(), kind, base_url, model, api_key_env, json_mode })
    }

    /// The runtime to use: `flag`, else `OUROBOROS_RUNTIME`, else the configured
    /// default, else the first available of `candidates`.
    pub fn select(
        &self,
        flag: Option<&str>,
        candidates: &[Candidate],
    ) -> Result<Selection, RuntimeError> {
        let explicit = [
            (flag.map(str::to_owned), "--runtime".to_owned()),
            (
                self.caller.get(RUNTIME_ENV).filter(|v| !v.is_empty()).cloned(),
                format!("{RUNTIME_ENV} is set"),
            ),
            (self.config.runtime.default.clone(), "[runtime] default in config.toml".to_owned()),
        ];
        if let Some((Some(name), reason)) = explicit.into_iter().find(|(n, _)| n.is_some()) {
            if !self.is_known(&name) {
                return Err(unknown_runtime(&name));
            }
            return Ok(Selection { name, reason });
        }
        candidates
            .iter()
            .find(|c| c.available)
            .map(|c| Selection { name: c.name.clone(), reason: "the first available".to_owned() })
            .ok_or_else(nothing_available)
    }

    /// Is `name` a CLI or a known HTTP provider?
    pub fn is_known(&self, name: &str) -> bool {
        CLI_NAMES.contains(&name) || self.http_names().iter().any(|n| n == name)
    }

    /// The agent CLI `name` as a runtime.
    pub fn cli_runtime(&self, name: &str) -> Result<CliRuntime, RuntimeError> {
        let adapter = cli_adapter(name).ok_or_else(|| {
            if self.is_known(name) {
                RuntimeError::new(
                    RuntimeErrorKind::InvalidTask,
                    name,
                    format!("{name} is an HTTP model provider, not an agent: it cannot edit files"),
                    format!("use one of the agent CLIs ({}) for this", CLI_NAMES.join(", ")),
                )
            } else {
                unknown_runtime(name)
            }
        })?;
        Ok(CliRuntime::new(adapter, self.cli_settings(name)).with_caller_env(self.caller.clone()))
    }

    /// `name` as a completion provider: an HTTP provider, or a CLI through [`CliProvider`].
    pub fn provider(&self, name: &str) -> Result<Arc<dyn LlmProvider>, RuntimeError> {
        self.provider_bounded(name, None)
    }

    /// [`Registry::provider`], with every call bounded by `limit` in all (no retries for
    /// HTTP providers, one attempt within the limit): for checks that must answer in time.
    pub fn provider_bounded(
        &self,
        name: &str,
        limit: Option<Duration>,
    ) -> Result<Arc<dyn LlmProvider>, RuntimeError> {
        if CLI_NAMES.contains(&name) {
            let mut provider = CliProvider::new(self.cli_runtime(name)?);
            if let Some(limit) = limit {
                provider = provider.with_limits(RunLimits { idle: limit, wall_clock: limit });
            }
            return Ok(Arc::new(provider));
        }
        Ok(self.http_provider(&self.http_spec(name)?, limit))
    }

    fn http_provider(&self, spec: &HttpSpec, limit: Option<Duration>) -> Arc<dyn LlmProvider> {
        let mut settings = HttpProviderSettings::new(&spec.base_url, &spec.model);
        if let Some(var) = &spec.api_key_env {
            settings = settings.with_key_env(var);
        }
        if let Some(limit) = limit {
            settings = settings.with_timeout(limit).with_retry(RetryPolicy::none());
        }
        let json_mode = match spec.json_mode {
            Some(JsonModeSetting::Instructions) => JsonMode::Instructions,
            Some(JsonModeSetting::Native) | None => JsonMode::Native,
        };
        match spec.kind {
            ProviderKind::Anthropic => Arc::new(
                AnthropicProvider::new(settings)
                    .with_name(&spec.name)
                    .with_caller_env(self.caller.clone()),
            ),
            ProviderKind::Openai => Arc::new(
                OpenAiCompatibleProvider::new(settings)
                    .with_name(&spec.name)
                    .with_caller_env(self.caller.clone())
                    .with_json_mode(json_mode),
            ),
        }
    }
}

/// The effective settings of one HTTP provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpSpec {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub model: String,
    pub api_key_env: Option<String>,
    pub json_mode: Option<JsonModeSetting>,
}

fn unknown_runtime(name: &str) -> RuntimeError {
    RuntimeError::new(
        RuntimeErrorKind::InvalidTask,
        name,
        format!("no runtime called {name:?}"),
        format!(
            "use one of {}, anthropic, openai, or add a [runtime.{name}] table with kind = \"anthropic\" or \"openai\" to config.toml; `ooo runtime list` shows them",
            CLI_NAMES.join(", ")
        ),
    )
}

fn missing_setting(name: &str, key: &str) -> RuntimeError {
    RuntimeError::new(
        RuntimeErrorKind::InvalidTask,
        name,
        format!("[runtime.{name}] has no {key}"),
        format!("add {key} = \"...\" to [runtime.{name}] in config.toml"),
    )
}

fn nothing_available() -> RuntimeError {
    RuntimeError::new(
        RuntimeErrorKind::NotInstalled,
        "runtime",
        "no agent runtime is available: none of claude, codex, gemini, opencode is on PATH, and no model API key is set",
        "install one, e.g. `npm install -g @anthropic-ai/claude-code` (then log in with `claude`), or export ANTHROPIC_API_KEY or OPENAI_API_KEY; `ooo runtime list` shows what was found",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(config: &str, env: &[(&str, &str)]) -> Registry {
        let config = Config::parse(config, std::path::Path::new("config.toml")).unwrap();
        Registry::new(config, env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn candidate(name: &str, available: bool) -> Candidate {
        Candidate {
            name: name.into(),
            runtime_type: RuntimeType::Cli,
            available,
            location: None,
            version: None,
            model: None,
            problem: None,
            hint: None,
        }
    }

    #[test]
    fn selection_order_is_flag_env_config_first_available() {
        let cands = [candidate("claude", false), candidate("codex", true)];
        let r = registry("[runtime]\ndefault = \"gemini\"\n", &[(RUNTIME_ENV, "opencode")]);
        assert_eq!(r.select(Some("claude"), &cands).unwrap().name, "claude");
        let s = r.select(None, &cands).unwrap();
        assert_eq!((s.name.as_str(), s.reason.as_str()), ("opencode", "OUROBOROS_RUNTIME is set"));
        let r = registry("[runtime]\ndefault = \"gemini\"\n", &[]);
        assert_eq!(r.select(None, &cands).unwrap().name, "gemini");
        let r = registry("", &[]);
        let s = r.select(None, &cands).unwrap();
        assert_eq!((s.name.as_str(), s.reason.as_str()), ("codex", "the first available"));
        assert_eq!(
            r.select(None, &[candidate("claude", false)]).unwrap_err().kind,
            RuntimeErrorKind::NotInstalled
        );
        assert_eq!(r.select(Some("nope"), &cands).unwrap_err().kind, RuntimeErrorKind::InvalidTask);
    }

    #[test]
    fn http_providers_come_from_builtins_and_tables() {
        let r = registry(
            "[runtime.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n[runtime.anthropic]\nmodel = \"claude-x\"\n",
            &[("ANTHROPIC_API_KEY", "k")],
        );
        let spec = r.http_spec("local").unwrap();
        assert_eq!((spec.kind, spec.api_key_env), (ProviderKind::Openai, None));
        let spec = r.http_spec("anthropic").unwrap();
        assert_eq!(
            (spec.model.as_str(), spec.api_key_env.as_deref()),
            ("claude-x", Some("ANTHROPIC_API_KEY"))
        );
        let listed: Vec<(String, bool)> = r
            .http_names()
            .iter()
            .map(|n| (n.clone(), r.probe_http(n).unwrap().available))
            .collect();
        assert_eq!(
            listed,
            vec![("anthropic".into(), true), ("openai".into(), false), ("local".into(), true)]
        );
        let r = registry("[runtime.half]\nkind = \"openai\"\nmodel = \"m\"\n", &[]);
        assert!(r.http_spec("half").unwrap_err().hint.contains("base_url"));
    }

    #[test]
    fn an_http_provider_is_not_an_agent() {
        let r = registry("", &[]);
        assert!(r.cli_runtime("anthropic").err().unwrap().message.contains("cannot edit files"));
    }
}
