//! The `codex` adapter: Codex CLI, `codex exec --json`.
//!
//! Command: `codex exec --json --skip-git-repo-check -C <cwd> --sandbox <mode> [-m M]
//! -c check_for_update_on_startup=false -c analytics.enabled=false [-c provider...]
//! [resume <thread_id>] -- <prompt>`. The options go before `resume` (its own parser has no
//! `--sandbox` or `-C`, and `exec` applies them to the resumed thread too); the prompt
//! comes after `--`. Codex has no system-prompt flag: a system prompt is prepended to
//! the prompt. Turning analytics off spares about 5 s of DNS timeouts offline.
//!
//! Settings map to `-c` overrides (values are TOML). With a `base_url`, a provider `ooo`
//! is defined and selected (`model_provider="ooo"`, `model_providers.ooo.{name, base_url,
//! env_key, wire_api="responses"}`; built-in providers cannot be redefined), its
//! `env_key` being `api_key_env` or else `OPENAI_API_KEY`. `env_key` is a variable's NAME:
//! Codex reads it itself, and the driver lets `api_key_env` through. Without a base URL,
//! `api_key_env` adds nothing to the command: it is the variable the provider configured
//! in `$CODEX_HOME/config.toml` reads (its `env_key`), and the driver passes it.
//!
//! Permissions (`sandbox_mode`): `--sandbox read-only | workspace-write |
//! danger-full-access`; `exec` never asks for approval. Codex's own sandbox is `bwrap`
//! (user namespaces), which cannot start inside `ooo-sandbox` (its seccomp filter refuses
//! nested user namespaces). So when the CLI is confined ([`CliSettings::confined`]: it
//! runs through the sandbox launcher, which is then the OS sandbox of every command Codex
//! runs), `workspace_write` and `unrestricted` both map to `danger-full-access` (the
//! workspace, the network and the rest are what ooo-sandbox grants), and `read_only`
//! stays `read-only`: Codex still refuses its edits, but cannot run any command there
//! either (each would need `bwrap`), so a confined read-only Codex can only read files
//! with its own tools and answer. Unconfined, each class maps to its namesake.
//!
//! Stream: `thread.started` gives the thread id; `item.*` carry `agent_message` (text),
//! `command_execution` and `mcp_tool_call` (tool call and result), `file_change` (one
//! change per path); `turn.completed` carries usage, cumulative over the thread, so each
//! is reported as the difference to the previous one. The resume handle carries the
//! thread's totals, so a resumed run starts from them and reports only its own tokens
//! (a handle without them, such as one typed by hand, counts the earlier runs again).
//! `error` lines are also printed for retries ("Reconnecting..."), so one only
//! fails the run if no `turn.completed` follows; `turn.failed` always does.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

use ooo_core::runtime::{
    AgentEvent, AgentTask, FileChangeKind, FinalResult, ResumeHandle, RuntimeError,
    RuntimeErrorKind, SandboxClass, Usage,
};
use serde::Deserialize;
use serde_json::Value;

use super::{CliAdapter, CliCommand, CliSettings, StreamEnd, StreamParser};

const NAME: &str = "codex";

/// The provider id ooo defines when the settings name a base URL.
const PROVIDER: &str = "ooo";

/// Codex CLI (`@openai/codex`), driven headless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codex;

impl CliAdapter for Codex {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env_allowlist(&self) -> &'static [&'static str] {
        &["CODEX_HOME", "CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"]
    }

    fn command(
        &self,
        task: &AgentTask,
        settings: &CliSettings,
        _caller: &crate::env::EnvMap,
    ) -> Result<CliCommand, RuntimeError> {
        let resume = super::resume_session(NAME, "thread id", task)?;
        let mut args: Vec<OsString> =
            vec!["exec".into(), "--json".into(), "--skip-git-repo-check".into(), "-C".into()];
        args.push(task.cwd.clone().into_os_string());
        args.push("--sandbox".into());
        args.push(sandbox_mode(task.sandbox, settings.confined).into());
        if let Some(model) = task.model.as_ref().or(settings.model.as_ref()) {
            args.push("-m".into());
            args.push(model.into());
        }
        for override_ in config_overrides(settings) {
            args.push("-c".into());
            args.push(override_.into());
        }
        if let Some(id) = resume {
            args.push("resume".into());
            args.push(id.into());
        }
        args.push("--".into());
        args.push(with_system_prompt(task).into());
        Ok(CliCommand { args, env: Vec::new() })
    }

    /// Codex's own sandbox runs its commands through the first `bwrap` on `PATH`, and
    /// an older system one (Debian 12's 0.8) fails every command (`execvp
    /// codex-linux-sandbox`). The `bwrap` Codex ships beside itself goes first on the
    /// child's `PATH` when it is there. (With any `bwrap` on `PATH`, Codex's sandbox
    /// hides `/tmp`: a Codex installed under `/tmp` cannot run commands at all.)
    fn adjust_env(&self, program: &std::path::Path, env: &mut crate::env::EnvMap) {
        let Some(dir) = bundled_bwrap_dir(program) else { return };
        let path = env.get("PATH").cloned().unwrap_or_default();
        let joined = if path.is_empty() {
            dir.display().to_string()
        } else {
            format!("{}:{path}", dir.display())
        };
        env.insert("PATH".into(), joined);
    }

    /// A resumed thread starts from the totals its handle carries, so its first
    /// `turn.completed` (cumulative over the thread) reports only this run's tokens.
    fn parser(&self, task: &AgentTask) -> Box<dyn StreamParser> {
        let total = task
            .resume
            .as_ref()
            .and_then(|h| h.state.as_ref())
            .and_then(|state| {
                serde_json::from_value::<TokenCount>(state["thread_tokens"].clone()).ok()
            })
            .unwrap_or_default();
        Box::new(CodexParser { total, ..CodexParser::default() })
    }

    fn min_version(&self) -> &'static str {
        "0.171.0"
    }

    fn tested_package(&self) -> &'static str {
        "@openai/codex@0.171.0"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @openai/codex@0.171.0, or set [runtime.codex] path in config.toml"
    }
}

/// The `--sandbox` mode for each sandbox class; `confined` (in ooo-sandbox already),
/// Codex starts no sandbox of its own for a class that may write.
fn sandbox_mode(sandbox: SandboxClass, confined: bool) -> &'static str {
    match sandbox {
        SandboxClass::ReadOnly => "read-only",
        SandboxClass::WorkspaceWrite if !confined => "workspace-write",
        SandboxClass::WorkspaceWrite | SandboxClass::Unrestricted => "danger-full-access",
    }
}

/// The directory holding the `bwrap` Codex bundles, from the binary that runs: the npm
/// wrapper (`@openai/codex/bin/codex.js`, whose platform package is a sibling) or the
/// platform binary itself (`vendor/<triple>/bin/codex`).
fn bundled_bwrap_dir(program: &std::path::Path) -> Option<std::path::PathBuf> {
    let real = program.canonicalize().ok()?;
    let beside = real.parent()?.parent()?.join("codex-resources");
    if beside.join("bwrap").is_file() {
        return Some(beside);
    }
    let scope = real.parent()?.parent()?.parent()?; // node_modules/@openai
    let platform = std::fs::read_dir(scope).ok()?.flatten().find(|e| {
        e.file_name().to_string_lossy().starts_with("codex-") && e.path().join("vendor").is_dir()
    })?;
    let vendor = std::fs::read_dir(platform.path().join("vendor")).ok()?;
    vendor.flatten().map(|t| t.path().join("codex-resources")).find(|d| d.join("bwrap").is_file())
}

/// The `-c key=value` overrides: quietness, then the provider the settings describe.
fn config_overrides(settings: &CliSettings) -> Vec<String> {
    let mut out =
        vec!["check_for_update_on_startup=false".to_owned(), "analytics.enabled=false".to_owned()];
    let Some(base_url) = settings.base_url.as_deref() else { return out };
    let env_key = settings.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
    let p = format!("model_providers.{PROVIDER}");
    out.extend([
        format!("model_provider={}", toml_string(PROVIDER)),
        format!("{p}.name={}", toml_string(PROVIDER)),
        format!("{p}.base_url={}", toml_string(base_url)),
        format!("{p}.env_key={}", toml_string(env_key)),
        format!("{p}.wire_api={}", toml_string("responses")),
    ]);
    out
}

/// A TOML basic string (JSON's escapes are a subset of TOML's).
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn with_system_prompt(task: &AgentTask) -> String {
    match &task.system_prompt {
        Some(system) => format!("{system}\n\n{}", task.prompt),
        None => task.prompt.clone(),
    }
}

/// The error for Codex's message: the HTTP status when the message shows one, else the
/// OpenAI error type in the JSON body it often is, else connection words.
fn run_error(message: &str) -> RuntimeError {
    use RuntimeErrorKind::*;
    let body = ErrorBody::parse(message);
    let status = status_in(message).or_else(|| body.as_ref().and_then(ErrorBody::status));
    let said = body.and_then(|b| b.error.message).unwrap_or_else(|| message.to_owned());
    let lower = message.to_ascii_lowercase();
    let kind = match status.and_then(super::kind_for_status) {
        Some(kind) => kind,
        _ if ["connection failed", "stream disconnected", "reconnecting", "timed out"]
            .iter()
            .any(|w| lower.contains(w)) =>
        {
            Unavailable
        }
        _ => AgentFailed,
    };
    let hint = match kind {
        Auth => {
            "log in with `codex login`, or check OPENAI_API_KEY / CODEX_API_KEY (or the variable [runtime.codex] api_key_env names)"
        }
        NotFound => {
            "check the model name ([runtime.codex] model, -m) and the base URL ([runtime.codex] base_url)"
        }
        RateLimited => {
            "the API is rate limiting this key: wait and retry, or run fewer agents at once"
        }
        Unavailable => {
            "the model API is down or unreachable: retry later, and check the base URL and the proxy"
        }
        BadRequest => {
            "the API refused the request: check the model name, the base URL and the size of the prompt"
        }
        _ => "see the run's transcript for what codex reported",
    };
    let error = RuntimeError::new(kind, NAME, said, hint);
    match status {
        Some(s) => error.with_status(s),
        None => error,
    }
}

/// A status code written out in `text`: `status 401`, `status: 429`, `status=503`.
fn status_in(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("status").find_map(|(at, word)| {
        let rest = lower[at + word.len()..].trim_start_matches([' ', ':', '=', '"']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|s| (100..=599).contains(s))
    })
}

/// An OpenAI-style error body: `{"error": {"message", "type", "code"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<Value>,
}

impl ErrorBody {
    fn parse(text: &str) -> Option<ErrorBody> {
        let start = text.find('{')?;
        let end = text.rfind('}')?;
        serde_json::from_str(text.get(start..=end)?).ok()
    }

    /// The status an OpenAI error type or code stands for.
    fn status(&self) -> Option<u16> {
        let code = self.error.code.as_ref().and_then(Value::as_str);
        [self.error.kind.as_deref(), code].into_iter().flatten().find_map(|t| match t {
            "authentication_error" | "invalid_api_key" => Some(401),
            "permission_error" => Some(403),
            "not_found_error" | "model_not_found" => Some(404),
            "rate_limit_exceeded" | "rate_limit_error" | "insufficient_quota" => Some(429),
            "server_error" | "api_error" | "overloaded_error" => Some(500),
            "invalid_request_error" => Some(400),
            _ => None,
        })
    }
}

/// One line of `codex exec --json`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum Line {
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: String },
    #[serde(rename = "item.started")]
    ItemStarted { item: Item },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: Item },
    #[serde(rename = "turn.completed")]
    TurnCompleted { usage: Option<TokenCount> },
    #[serde(rename = "turn.failed")]
    TurnFailed { error: Option<Failure> },
    #[serde(rename = "error")]
    Error { message: String },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Failure {
    message: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item {
    AgentMessage {
        text: String,
    },
    CommandExecution {
        id: String,
        command: String,
        #[serde(default)]
        aggregated_output: String,
        exit_code: Option<i64>,
        #[serde(default)]
        status: String,
    },
    FileChange {
        #[serde(default)]
        changes: Vec<Change>,
        #[serde(default)]
        status: String,
    },
    McpToolCall {
        id: String,
        server: String,
        tool: String,
        #[serde(default)]
        arguments: Value,
        result: Option<Value>,
        error: Option<Failure>,
        #[serde(default)]
        status: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Change {
    path: PathBuf,
    kind: String,
}

/// Token counts as Codex prints them (input includes the cached part).
#[derive(Deserialize, serde::Serialize, Default, Clone, Copy)]
struct TokenCount {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    #[serde(default)]
    cache_write_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

impl TokenCount {
    /// The tokens since `before`, with input counted without the cached part.
    fn since(self, before: TokenCount) -> Usage {
        let input = self.input_tokens.saturating_sub(before.input_tokens);
        let cached = self.cached_input_tokens.saturating_sub(before.cached_input_tokens);
        Usage {
            input_tokens: input.saturating_sub(cached),
            output_tokens: self.output_tokens.saturating_sub(before.output_tokens),
            cache_read_tokens: cached,
            cache_write_tokens: self
                .cache_write_input_tokens
                .saturating_sub(before.cache_write_input_tokens),
            cost_usd: None,
        }
    }
}

/// Reads one run's `--json` output.
#[derive(Default)]
struct CodexParser {
    thread: Option<String>,
    /// Tool items whose start was reported.
    started: HashSet<String>,
    last_message: String,
    /// The thread's token count at the last `turn.completed`.
    total: TokenCount,
    /// The last word on how the run went: a completed turn, or an error.
    end: Option<Result<FinalResult, RuntimeError>>,
    /// `turn.completed` or `turn.failed` came (`error` lines alone may be retried).
    turn_ended: bool,
}

impl StreamParser for CodexParser {
    fn line(&mut self, line: &str) -> Result<Vec<AgentEvent>, RuntimeError> {
        let Ok(parsed) = serde_json::from_str::<Line>(line) else { return Ok(Vec::new()) };
        Ok(match parsed {
            Line::ThreadStarted { thread_id } => self.thread_started(thread_id),
            Line::ItemStarted { item } => self.item_started(item),
            Line::ItemCompleted { item } => self.item_completed(item),
            Line::TurnCompleted { usage } => {
                self.turn_ended = true;
                self.turn_completed(usage.unwrap_or_default())
            }
            Line::TurnFailed { error } => {
                self.turn_ended = true;
                let message = error.map_or_else(|| "the turn failed".to_owned(), |e| e.message);
                self.end = Some(Err(run_error(&message)));
                Vec::new()
            }
            Line::Error { message } => {
                self.end = Some(Err(run_error(&message)));
                Vec::new()
            }
            Line::Other => Vec::new(),
        })
    }

    fn reported_end(&self) -> bool {
        self.turn_ended
    }

    fn finish(&mut self, _exit_code: Option<i32>) -> Result<StreamEnd, RuntimeError> {
        super::stream_end(self.end.take())
    }
}

impl CodexParser {
    fn thread_started(&mut self, thread_id: String) -> Vec<AgentEvent> {
        if self.thread.is_some() {
            return Vec::new();
        }
        self.thread = Some(thread_id.clone());
        vec![AgentEvent::SessionStarted { session_id: thread_id, model: None }]
    }

    fn item_started(&mut self, item: Item) -> Vec<AgentEvent> {
        match tool_call(&item) {
            Some((id, event)) => {
                self.started.insert(id);
                vec![event]
            }
            None => Vec::new(),
        }
    }

    fn item_completed(&mut self, item: Item) -> Vec<AgentEvent> {
        let mut events = Vec::new();
        if let Some((id, call)) = tool_call(&item)
            && !self.started.remove(&id)
        {
            events.push(call);
        }
        match item {
            Item::AgentMessage { text } => {
                self.last_message = text.clone();
                events.push(AgentEvent::AssistantText { text });
            }
            Item::CommandExecution { id, aggregated_output, exit_code, status, .. } => {
                let is_error = status == "failed" || exit_code.is_some_and(|c| c != 0);
                events.push(AgentEvent::ToolResult { id, output: aggregated_output, is_error });
            }
            Item::McpToolCall { id, result, error, status, .. } => {
                let is_error = status == "failed" || error.is_some();
                let output = match (error, result) {
                    (Some(e), _) => e.message,
                    (None, Some(r)) => r.to_string(),
                    (None, None) => String::new(),
                };
                events.push(AgentEvent::ToolResult { id, output, is_error });
            }
            Item::FileChange { changes, status } if status != "failed" => {
                events.extend(
                    changes.into_iter().map(|c| AgentEvent::FileChange {
                        kind: change_kind(&c.kind),
                        path: c.path,
                    }),
                );
            }
            _ => {}
        }
        events
    }

    fn turn_completed(&mut self, total: TokenCount) -> Vec<AgentEvent> {
        let usage = total.since(self.total);
        self.total = total;
        let resume = self.thread.clone().map(|session_id| ResumeHandle {
            state: Some(serde_json::json!({ "thread_tokens": total })),
            ..ResumeHandle::new(NAME, session_id)
        });
        let text = self.last_message.clone();
        // A completed turn outweighs the retry errors printed before it.
        self.end = Some(Ok(FinalResult { success: true, text, resume }));
        if usage.total_tokens() + usage.cache_read_tokens > 0 {
            vec![AgentEvent::Usage(usage)]
        } else {
            Vec::new()
        }
    }
}

/// The tool call an item stands for: its id and the `ToolCall` event.
fn tool_call(item: &Item) -> Option<(String, AgentEvent)> {
    let (id, name, input) = match item {
        Item::CommandExecution { id, command, .. } => {
            (id, "command_execution".to_owned(), serde_json::json!({ "command": command }))
        }
        Item::McpToolCall { id, server, tool, arguments, .. } => {
            (id, format!("{server}.{tool}"), arguments.clone())
        }
        _ => return None,
    };
    Some((id.clone(), AgentEvent::ToolCall { id: id.clone(), name, input }))
}

fn change_kind(kind: &str) -> FileChangeKind {
    match kind {
        "add" => FileChangeKind::Added,
        "delete" => FileChangeKind::Deleted,
        "update" => FileChangeKind::Modified,
        _ => FileChangeKind::Written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codex's bundled `bwrap` is found from the npm wrapper and from the platform
    /// binary, and goes first on the child's PATH.
    #[test]
    fn the_bundled_bwrap_is_found_and_put_first() {
        let root = tempfile::tempdir().unwrap();
        let scope = root.path().join("node_modules/@openai");
        let wrapper = scope.join("codex/bin/codex.js");
        let vendor = scope.join("codex-linux-x64/vendor/x86_64-unknown-linux-musl");
        for dir in [wrapper.parent().unwrap(), &vendor.join("bin"), &vendor.join("codex-resources")]
        {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&wrapper, "").unwrap();
        std::fs::write(vendor.join("bin/codex"), "").unwrap();
        std::fs::write(vendor.join("codex-resources/bwrap"), "").unwrap();
        let resources = vendor.join("codex-resources").canonicalize().unwrap();
        assert_eq!(bundled_bwrap_dir(&wrapper), Some(resources.clone()));
        assert_eq!(bundled_bwrap_dir(&vendor.join("bin/codex")), Some(resources.clone()));
        let mut env = crate::env::EnvMap::new();
        env.insert("PATH".into(), "/usr/bin:/bin".into());
        Codex.adjust_env(&wrapper, &mut env);
        assert_eq!(env["PATH"], format!("{}:/usr/bin:/bin", resources.display()));
        assert_eq!(bundled_bwrap_dir(std::path::Path::new("/bin/sh")), None);
    }

    fn args(cmd: &CliCommand) -> Vec<&str> {
        cmd.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    fn task(sandbox: SandboxClass) -> AgentTask {
        AgentTask { sandbox, ..AgentTask::new("fix the bug", "/w") }
    }

    fn parse(lines: &[&str]) -> (Vec<AgentEvent>, Result<StreamEnd, RuntimeError>) {
        let mut parser = Codex.parser(&AgentTask::new("", "."));
        let events = lines.iter().flat_map(|l| parser.line(l).unwrap()).collect();
        (events, parser.finish(Some(0)))
    }

    #[test]
    fn command_per_sandbox_class() {
        for (class, confined, mode) in [
            (SandboxClass::ReadOnly, false, "read-only"),
            (SandboxClass::WorkspaceWrite, false, "workspace-write"),
            (SandboxClass::Unrestricted, false, "danger-full-access"),
            // In ooo-sandbox, Codex starts no bwrap of its own.
            (SandboxClass::ReadOnly, true, "read-only"),
            (SandboxClass::WorkspaceWrite, true, "danger-full-access"),
            (SandboxClass::Unrestricted, true, "danger-full-access"),
        ] {
            let settings = CliSettings { confined, ..CliSettings::default() };
            let cmd = Codex.command(&task(class), &settings, &Default::default()).unwrap();
            assert_eq!(
                args(&cmd),
                [
                    "exec",
                    "--json",
                    "--skip-git-repo-check",
                    "-C",
                    "/w",
                    "--sandbox",
                    mode,
                    "-c",
                    "check_for_update_on_startup=false",
                    "-c",
                    "analytics.enabled=false",
                    "--",
                    "fix the bug"
                ]
            );
            assert!(cmd.env.is_empty());
        }
    }

    /// A runtime launched through the sandbox launcher is confined; a direct one is not.
    #[test]
    fn the_sandbox_launcher_confines_the_runtime() {
        struct Named;
        impl crate::process::Launcher for Named {
            fn command(
                &self,
                spec: &crate::process::ProcessSpec,
            ) -> std::io::Result<crate::process::Launch> {
                crate::process::DirectLauncher.command(spec)
            }
            fn name(&self) -> &'static str {
                crate::sandboxed::LAUNCHER_NAME
            }
        }
        let settings = CliSettings { path: Some("/bin/sh".into()), ..CliSettings::default() };
        let direct = super::super::CliRuntime::new(std::sync::Arc::new(Codex), settings);
        assert!(!direct.settings().confined);
        let confined = direct.with_launcher(std::sync::Arc::new(Named));
        assert!(confined.settings().confined);
        let spec = confined.process_spec(&task(SandboxClass::WorkspaceWrite)).unwrap();
        let args: Vec<_> = spec.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert!(args.windows(2).any(|w| w == ["--sandbox", "danger-full-access"]), "{args:?}");
    }

    #[test]
    fn command_with_resume_model_system_prompt_and_provider() {
        let mut t = task(SandboxClass::WorkspaceWrite);
        t.resume = Some(ResumeHandle::new("codex", "01a2-b3"));
        t.system_prompt = Some("Be brief.".into());
        let settings = CliSettings {
            model: Some("gpt-5.5".into()),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            api_key_env: Some("MY_KEY".into()),
            ..CliSettings::default()
        };
        let cmd = Codex.command(&t, &settings, &Default::default()).unwrap();
        assert_eq!(
            args(&cmd),
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "-C",
                "/w",
                "--sandbox",
                "workspace-write",
                "-m",
                "gpt-5.5",
                "-c",
                "check_for_update_on_startup=false",
                "-c",
                "analytics.enabled=false",
                "-c",
                "model_provider=\"ooo\"",
                "-c",
                "model_providers.ooo.name=\"ooo\"",
                "-c",
                "model_providers.ooo.base_url=\"http://127.0.0.1:9/v1\"",
                "-c",
                "model_providers.ooo.env_key=\"MY_KEY\"",
                "-c",
                "model_providers.ooo.wire_api=\"responses\"",
                "resume",
                "01a2-b3",
                "--",
                "Be brief.\n\nfix the bug"
            ]
        );
    }

    #[test]
    fn a_key_variable_alone_leaves_the_configured_provider() {
        let settings = CliSettings { api_key_env: Some("K".into()), ..CliSettings::default() };
        assert_eq!(
            config_overrides(&settings),
            ["check_for_update_on_startup=false", "analytics.enabled=false"]
        );
        let settings =
            CliSettings { base_url: Some("http://h/v1".into()), ..CliSettings::default() };
        let overrides = config_overrides(&settings);
        assert!(overrides.contains(&"model_providers.ooo.env_key=\"OPENAI_API_KEY\"".into()));
        assert_eq!(toml_string("a\"b\\c"), r#""a\"b\\c""#);
    }

    #[test]
    fn a_resumed_thread_reports_only_its_own_tokens() {
        let turn = |input: u64, output: u64| {
            format!(
                r#"{{"type":"turn.completed","usage":{{"input_tokens":{input},"cached_input_tokens":0,"output_tokens":{output}}}}}"#
            )
        };
        let mut first = Codex.parser(&AgentTask::new("", "."));
        first.line(r#"{"type":"thread.started","thread_id":"t-1"}"#).unwrap();
        first.line(&turn(200, 40)).unwrap();
        let StreamEnd::Final(AgentEvent::Final(done)) = first.finish(Some(0)).unwrap() else {
            panic!("no final event")
        };
        let mut task = AgentTask::new("", ".");
        task.resume = done.resume;
        let mut resumed = Codex.parser(&task);
        resumed.line(r#"{"type":"thread.started","thread_id":"t-1"}"#).unwrap();
        let events = resumed.line(&turn(400, 80)).unwrap();
        let [AgentEvent::Usage(usage)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!((usage.input_tokens, usage.output_tokens), (200, 40));
    }

    #[test]
    fn foreign_resume_handle_is_refused() {
        let mut t = task(SandboxClass::ReadOnly);
        t.resume = Some(ResumeHandle::new("gemini", "x"));
        let err = Codex.command(&t, &CliSettings::default(), &Default::default()).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);
    }

    #[test]
    fn cumulative_usage_becomes_per_turn() {
        let (events, _) = parse(&[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":10}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":250,"cached_input_tokens":90,"output_tokens":30}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":250,"cached_input_tokens":90,"output_tokens":30}}"#,
        ]);
        let usages: Vec<Usage> = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Usage(u) => Some(*u),
                _ => None,
            })
            .collect();
        assert_eq!(
            usages,
            [
                Usage {
                    input_tokens: 60,
                    output_tokens: 10,
                    cache_read_tokens: 40,
                    ..Usage::default()
                },
                Usage {
                    input_tokens: 100,
                    output_tokens: 20,
                    cache_read_tokens: 50,
                    ..Usage::default()
                },
            ]
        );
    }

    #[test]
    fn tools_files_and_final() {
        let (events, end) = parse(&[
            r#"{"type":"thread.started","thread_id":"t1"}"#,
            r#"{"type":"item.completed","item":{"id":"i0","type":"command_execution","command":"false","aggregated_output":"no","exit_code":1,"status":"failed"}}"#,
            r#"{"type":"item.started","item":{"id":"i1","type":"mcp_tool_call","server":"s","tool":"t","arguments":{"a":1},"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"i1","type":"mcp_tool_call","server":"s","tool":"t","arguments":{"a":1},"result":{"ok":true},"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"i2","type":"file_change","changes":[{"path":"/w/a","kind":"update"},{"path":"/w/b","kind":"delete"}],"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"i3","type":"reasoning","text":"hmm"}}"#,
            r#"{"type":"item.completed","item":{"id":"i4","type":"agent_message","text":"done"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}"#,
        ]);
        assert_eq!(
            events[1],
            AgentEvent::ToolCall {
                id: "i0".into(),
                name: "command_execution".into(),
                input: serde_json::json!({"command": "false"})
            }
        );
        assert_eq!(
            events[2],
            AgentEvent::ToolResult { id: "i0".into(), output: "no".into(), is_error: true }
        );
        assert_eq!(
            events[3],
            AgentEvent::ToolCall {
                id: "i1".into(),
                name: "s.t".into(),
                input: serde_json::json!({"a": 1})
            }
        );
        assert_eq!(
            events[4],
            AgentEvent::ToolResult {
                id: "i1".into(),
                output: r#"{"ok":true}"#.into(),
                is_error: false
            }
        );
        assert_eq!(
            events[5],
            AgentEvent::FileChange { path: "/w/a".into(), kind: FileChangeKind::Modified }
        );
        assert_eq!(
            events[6],
            AgentEvent::FileChange { path: "/w/b".into(), kind: FileChangeKind::Deleted }
        );
        assert_eq!(events[7], AgentEvent::AssistantText { text: "done".into() });
        let Ok(StreamEnd::Final(AgentEvent::Final(result))) = end else { panic!("{end:?}") };
        assert_eq!(result.text, "done");
        assert_eq!(result.resume.unwrap().session_id, "t1");
    }

    #[test]
    fn a_retry_error_followed_by_a_completed_turn_succeeds() {
        let (_, end) = parse(&[
            r#"{"type":"error","message":"Reconnecting... 1/5 (stream disconnected before completion)"}"#,
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"ok"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}"#,
        ]);
        assert!(matches!(end, Ok(StreamEnd::Final(_))));
        let (_, end) = parse(&[
            r#"{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}"#,
        ]);
        assert_eq!(end.unwrap_err().kind, RuntimeErrorKind::Unavailable);
    }

    #[test]
    fn errors_by_status_and_body() {
        let cases = [
            ("unexpected status 401 Unauthorized: bad key", RuntimeErrorKind::Auth, Some(401)),
            ("unexpected status 404 Not Found: no model", RuntimeErrorKind::NotFound, Some(404)),
            (
                "exceeded retry limit, last status: 429 Too Many Requests",
                RuntimeErrorKind::RateLimited,
                Some(429),
            ),
            ("unexpected status 503 Service Unavailable", RuntimeErrorKind::Unavailable, Some(503)),
            (
                r#"{"error": {"message": "nope", "type": "invalid_request_error"}}"#,
                RuntimeErrorKind::BadRequest,
                Some(400),
            ),
            (
                r#"{"error": {"message": "who", "type": "x", "code": "invalid_api_key"}}"#,
                RuntimeErrorKind::Auth,
                Some(401),
            ),
            ("something odd", RuntimeErrorKind::AgentFailed, None),
        ];
        for (message, kind, status) in cases {
            let line = serde_json::json!({"type": "turn.failed", "error": {"message": message}})
                .to_string();
            let (_, end) = parse(&[&line]);
            let err = end.unwrap_err();
            assert_eq!((err.kind, err.status), (kind, status), "{message}");
        }
        let (_, end) = parse(&[
            r#"{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized"}}"#,
        ]);
        assert!(end.unwrap_err().hint.contains("codex login"));
    }

    #[test]
    fn junk_and_unknown_lines_are_ignored() {
        let (events, end) = parse(&[
            "",
            "Reading additional input from stdin...",
            "{\"type\":\"item.completed\",\"item\":{",
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.updated","item":{"id":"x","type":"todo_list","items":[]}}"#,
            r#"{"type":"item.completed","item":{"id":"x","type":"brand_new"}}"#,
            r#"{"type":"item.completed","item":{"id":"x","type":"error","message":"warning"}}"#,
            r#"{"no_type":1}"#,
        ]);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(end.unwrap(), StreamEnd::Missing);
    }
}
