//! `ooo config show | check`: the effective settings and where each comes from (a
//! default, `config.toml` with its line, or the environment), and a check of the file.
//!
//! Both only read: the home is not created. What does not live here: parsing and
//! validating `config.toml` (`ooo_core::config`, the one place it is read) and what each
//! setting does (the firewall enforces the sandbox, `ooo_runtime::registry` picks the
//! runtime).

use std::collections::BTreeMap;
use std::process::ExitCode;

use ooo_core::config::{Config, Located, SandboxSetting};
use ooo_core::home::{HOME_ENV, Home};
use ooo_runtime::registry::RUNTIME_ENV;
use serde::Serialize;

use super::existing_home;
use crate::cli::ConfigCommand;
use crate::error::CliError;
use crate::output::piped;

pub fn run(cmd: ConfigCommand) -> Result<ExitCode, CliError> {
    match cmd {
        ConfigCommand::Show { json } => show(json),
        ConfigCommand::Check => check(),
    }
}

/// Where an effective setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Source {
    #[serde(rename = "default")]
    Default,
    #[serde(rename = "config.toml")]
    File,
    #[serde(rename = "environment")]
    Environment,
}

/// One effective setting.
#[derive(Debug, Serialize)]
struct Setting {
    key: String,
    /// `None` when unset: what applies instead is in `note`.
    value: Option<String>,
    source: Source,
    /// The line in config.toml (source `config.toml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    /// The variable it was read from (source `environment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    variable: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl Setting {
    fn from_file(key: String, value: String, lines: &BTreeMap<String, usize>) -> Self {
        let line = lines.get(&key).copied();
        Self { key, value: Some(value), source: Source::File, line, variable: None, note: None }
    }

    /// An unset setting: `note` says what applies instead.
    fn default(key: &str, value: Option<String>, note: Option<&str>) -> Self {
        Self {
            key: key.to_owned(),
            value,
            source: Source::Default,
            line: None,
            variable: None,
            note: note.map(str::to_owned),
        }
    }

    fn from_env(key: &str, variable: &'static str, value: String) -> Self {
        Self {
            key: key.to_owned(),
            value: Some(value),
            source: Source::Environment,
            line: None,
            variable: Some(variable),
            note: None,
        }
    }

    /// The SOURCE column: `config.toml line 2`, `environment (OUROBOROS_HOME)`, `default`.
    fn source_text(&self) -> String {
        match (self.source, self.line, self.variable) {
            (Source::File, Some(line), _) => format!("config.toml line {line}"),
            (Source::File, None, _) => "config.toml".to_owned(),
            (Source::Environment, _, Some(var)) => format!("environment ({var})"),
            (Source::Environment, _, None) => "environment".to_owned(),
            (Source::Default, _, _) => "default".to_owned(),
        }
    }

    /// The VALUE column: the value (`-` when unset), then the note in parentheses.
    fn value_text(&self) -> String {
        let value = self.value.as_deref().unwrap_or("-");
        match &self.note {
            Some(note) => format!("{value} ({note})"),
            None => value.to_owned(),
        }
    }
}

/// The whole effective configuration, as `config show --json` prints it.
#[derive(Debug, Serialize)]
struct Effective {
    config_file: String,
    config_file_exists: bool,
    settings: Vec<Setting>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn effective(home: &Home, located: Located) -> Effective {
    let Located { config, lines } = located;
    let exists = lines.is_some();
    let lines = lines.unwrap_or_default();
    let mut settings = vec![match env(HOME_ENV) {
        Some(_) => Setting::from_env("home", HOME_ENV, home.root().display().to_string()),
        None => Setting::default("home", Some(home.root().display().to_string()), None),
    }];
    settings.push(match config.sandbox {
        Some(SandboxSetting::Require) => {
            Setting::from_file("sandbox".into(), "require".into(), &lines)
        }
        Some(SandboxSetting::AllowPartial) => {
            Setting::from_file("sandbox".into(), "allow-partial".into(), &lines)
        }
        None => Setting::default(
            "sandbox",
            Some("require".into()),
            Some("fail closed: nothing runs without the full sandbox; `allow-partial` opts down"),
        ),
    });
    let configured_default = config.runtime.default.clone();
    settings.push(match (env(RUNTIME_ENV), configured_default) {
        (Some(name), configured) => Setting {
            note: configured.map(|c| {
                let at = lines.get("runtime.default").map(|n| format!(" line {n}"));
                format!("overrides {c:?} in config.toml{}", at.unwrap_or_default())
            }),
            ..Setting::from_env("runtime.default", RUNTIME_ENV, name)
        },
        (None, Some(name)) => Setting::from_file("runtime.default".into(), name, &lines),
        (None, None) => Setting::default(
            "runtime.default",
            None,
            Some("the first available runtime; see `ooo runtime list`"),
        ),
    });
    let gate = match config.run.verify_gate {
        ooo_core::config::VerifyGate::Warn => "warn",
        ooo_core::config::VerifyGate::Block => "block",
    };
    for (key, value, note) in [
        (
            "run.verify_gate",
            gate.to_owned(),
            "criteria without a check are listed; `block` refuses",
        ),
        ("run.worktree_cap", config.run.worktree_cap.to_string(), "finished run worktrees kept"),
    ] {
        settings.push(if lines.contains_key(key) {
            Setting::from_file(key.into(), value, &lines)
        } else {
            Setting::default(key, Some(value), Some(note))
        });
    }
    for (name, entry) in &config.runtime.entries {
        // Every key the table sets, whatever keys a table may have.
        let fields = match serde_json::to_value(entry) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        let mut table: Vec<Setting> = fields
            .into_iter()
            .map(|(field, value)| {
                let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                Setting::from_file(format!("runtime.{name}.{field}"), value, &lines)
            })
            .collect();
        // In the file's order.
        table.sort_by_key(|s| s.line);
        settings.extend(table);
    }
    Effective {
        config_file: home.config_toml().display().to_string(),
        config_file_exists: exists,
        settings,
    }
}

fn show(json: bool) -> Result<ExitCode, CliError> {
    let home = existing_home()?;
    let effective = effective(&home, Config::load_located(&home.config_toml())?);
    piped(|out| {
        if json {
            serde_json::to_writer(&mut *out, &effective).map_err(std::io::Error::from)?;
            writeln!(out)?;
            return Ok(());
        }
        let state = if effective.config_file_exists {
            ""
        } else {
            " (absent: every setting not in the environment is a default)"
        };
        writeln!(out, "config file: {}{state}", effective.config_file)?;
        // Values (paths) last, so the columns do not depend on how long they are.
        let rows: Vec<[String; 3]> = std::iter::once(["KEY", "SOURCE", "VALUE"].map(str::to_owned))
            .chain(
                effective.settings.iter().map(|s| [s.key.clone(), s.source_text(), s.value_text()]),
            )
            .collect();
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (w0, w1) = (width(0), width(1));
        for [key, source, value] in &rows {
            writeln!(out, "{key:<w0$}  {source:<w1$}  {value}")?;
        }
        Ok(())
    })
}

fn check() -> Result<ExitCode, CliError> {
    let home = existing_home()?;
    let path = home.config_toml();
    let located = Config::load_located(&path)?;
    piped(|out| {
        match &located.lines {
            Some(_) => writeln!(out, "ok: {} is valid", path.display())?,
            None => {
                writeln!(out, "ok: there is no {}; every setting is a default", path.display())?
            }
        }
        Ok(())
    })
}
