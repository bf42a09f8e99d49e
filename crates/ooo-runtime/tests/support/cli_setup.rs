//! Setting the four agent CLIs up against the loopback fake model, each in a private
//! directory with its own HOME and config, as a user would configure them. Shared by
//! `tests/real_clis.rs` and `benches/adapter_overhead.rs` (each includes this file with
//! `#[path]`). What does not live here: the scenarios and the timing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ooo_runtime::cli::CliSettings;
use ooo_runtime::env::EnvMap;
use serde_json::json;

/// The key the fake is given and the CLIs send.
pub const KEY: &str = "sk-fake-test-key-0123456789";
/// The model name each CLI is configured with.
pub const MODEL: &str = "fake-model";

/// Where `.ci/run` installs the CLIs' npm packages.
pub fn npm_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm/node_modules")
}

/// Where each executable is, under [`npm_root`].
pub fn installed_at(cli: &str) -> &'static str {
    match cli {
        "claude" => "@anthropic-ai/claude-code-linux-x64/claude",
        "codex" => ".bin/codex",
        "gemini" => ".bin/gemini",
        "opencode" => "opencode-linux-x64/bin/opencode",
        other => panic!("unknown CLI {other:?}"),
    }
}

/// The caller's environment for a rig under `root`: PATH, a private HOME and XDG dirs.
pub fn base_env(root: &Path) -> EnvMap {
    let p = |s: &str| root.join(s).display().to_string();
    [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("HOME", p("home")),
        ("XDG_CONFIG_HOME", p("xdg/config")),
        ("XDG_DATA_HOME", p("xdg/data")),
        ("XDG_STATE_HOME", p("xdg/state")),
        ("XDG_CACHE_HOME", p("xdg/cache")),
        ("TMPDIR", std::env::temp_dir().display().to_string()),
        ("LANG", "C.UTF-8".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Point the CLI at the fake: its key, base URL and config files, as a user would.
pub fn configure(cli: &str, root: &Path, base: &str, env: &mut EnvMap, settings: &mut CliSettings) {
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    match cli {
        "claude" => {
            set("ANTHROPIC_API_KEY", KEY.into());
            set("CLAUDE_CONFIG_DIR", root.join("claude").display().to_string());
            settings.base_url = Some(base.to_string());
        }
        "codex" => {
            let home = root.join("codex");
            std::fs::create_dir_all(&home).expect("codex home");
            let config = format!(
                r#"model = "gpt-5.5"
model_provider = "fake"
approval_policy = "never"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
apps = false

[model_providers.fake]
name = "fake"
base_url = "{base}/v1"
env_key = "FAKE_OPENAI_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"#
            );
            std::fs::write(home.join("config.toml"), config).expect("codex config");
            set("CODEX_HOME", home.display().to_string());
            set("FAKE_OPENAI_KEY", KEY.into());
            settings.api_key_env = Some("FAKE_OPENAI_KEY".into());
            settings.model = None;
        }
        "gemini" => {
            let gemini = root.join("home/.gemini");
            std::fs::create_dir_all(&gemini).expect("gemini dir");
            let settings_json = json!({
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": false},
                "telemetry": {"enabled": false},
                "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
            });
            std::fs::write(gemini.join("settings.json"), settings_json.to_string())
                .expect("gemini settings");
            set("GEMINI_API_KEY", KEY.into());
            settings.base_url = Some(base.to_string());
        }
        "opencode" => {
            let dir = root.join("xdg/config/opencode");
            std::fs::create_dir_all(&dir).expect("opencode dir");
            let config = json!({
                "model": format!("fake/{MODEL}"),
                "small_model": format!("fake/{MODEL}"),
                "autoupdate": false,
                "share": "disabled",
                "provider": {"fake": {
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "fake",
                    "options": {"baseURL": format!("{base}/v1"), "apiKey": KEY},
                    "models": {MODEL: {"name": MODEL, "tool_call": true, "limit": {"context": 100000, "output": 4096}}}
                }}
            });
            std::fs::write(dir.join("opencode.json"), config.to_string()).expect("opencode config");
            settings.model = Some(format!("fake/{MODEL}"));
        }
        other => panic!("unknown CLI {other:?}"),
    }
}

/// Live processes whose working directory or command line is under `root`.
pub fn processes_under(root: &Path) -> Vec<String> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let needle = root.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) {
            continue;
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cwd.starts_with(&root) || cmdline.contains(&needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}
