//! The `claude` adapter: Claude Code in print mode, `--output-format stream-json`.
//!
//! Command: `claude -p --output-format stream-json --verbose --permission-mode <mode>
//! [--model M] [--append-system-prompt S] [--resume ID] -- <prompt>`. The prompt is the
//! last argument, after `--`, so a prompt that starts with `-` is not read as an option.
//! Settings use Claude Code's own variables: `base_url` becomes `ANTHROPIC_BASE_URL`, and
//! the value of the variable `api_key_env` names becomes `ANTHROPIC_API_KEY`.
//!
//! Permissions (`permissions`): read_only is `dontAsk` (a tool that is not
//! pre-approved is refused rather than asked for; reading needs no approval),
//! workspace_write `acceptEdits`, unrestricted `bypassPermissions` plus `IS_SANDBOX=1`
//! (Claude Code refuses bypass as root without it). A confined CLI
//! ([`CliSettings::confined`]: ooo-sandbox grants the workspace, the model's host and
//! nothing else) runs workspace_write as `bypassPermissions` too: in print mode
//! `acceptEdits` refuses every command that is not read-only, so a worker could not run
//! the project's tests or build, and the OS sandbox, not Claude Code's prompt, is the
//! boundary.
//!
//! Stream: `system/init` gives the session; `assistant` text and `tool_use` blocks are the
//! agent's text and tool calls; `user` `tool_result` blocks are tool answers, and a
//! successful Write/Edit/MultiEdit/NotebookEdit is also a file change; `result` carries
//! the run's usage and cost and ends the run (`is_error` with an API failure is an error).
//! `stream_event` lines (`--include-partial-messages`) are ignored: the complete
//! `assistant` message follows each partial one. Claude Code retries failed calls for
//! minutes (`system/api_retry`), a refused key (401) included: a second retry of a 401,
//! 403 or 404 ends the run at once with that error (see `retry`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ooo_core::runtime::{
    AgentEvent, AgentTask, FileChangeKind, FinalResult, ResumeHandle, RuntimeError,
    RuntimeErrorKind, SandboxClass, Usage,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::{CliAdapter, CliCommand, CliSettings, StreamEnd, StreamParser};

const NAME: &str = "claude";

/// Claude Code (`@anthropic-ai/claude-code`), driven headless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claude;

impl CliAdapter for Claude {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env_allowlist(&self) -> &'static [&'static str] {
        &[
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_MODEL",
            "ANTHROPIC_SMALL_FAST_MODEL",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_CONFIG_DIR",
        ]
    }

    fn command(
        &self,
        task: &AgentTask,
        settings: &CliSettings,
        caller: &crate::env::EnvMap,
    ) -> Result<CliCommand, RuntimeError> {
        build_command(task, settings, &|name| caller.get(name).cloned())
    }

    fn parser(&self, _task: &AgentTask) -> Box<dyn StreamParser> {
        Box::<ClaudeParser>::default()
    }

    /// The captured streams come from 2.1.197, whose `--permission-mode` already accepts
    /// `dontAsk`; 2.1.332 is the pinned version.
    fn min_version(&self) -> &'static str {
        "2.1.197"
    }

    fn tested_package(&self) -> &'static str {
        "@anthropic-ai/claude-code@2.1.332"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @anthropic-ai/claude-code@2.1.332, or set [runtime.claude] path in config.toml"
    }
}

/// What one sandbox class turns into for Claude Code.
struct Permissions {
    mode: &'static str,
    /// Arguments after the mode.
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

/// The permission table. `read_only` is `dontAsk` (a tool not pre-approved is refused,
/// not asked for) plus `--restricted` (no command-running tools, and the repository's
/// own `.claude/settings.json` cannot pre-approve any) and the editing tools denied
/// outright, since deny rules beat allow rules. `confined`: see the module doc.
fn permissions(sandbox: SandboxClass, confined: bool) -> Permissions {
    match sandbox {
        SandboxClass::ReadOnly => Permissions {
            mode: "dontAsk",
            args: &["--restricted", "--disallowedTools", "Edit,MultiEdit,Write,NotebookEdit"],
            env: &[],
        },
        SandboxClass::WorkspaceWrite if !confined => {
            Permissions { mode: "acceptEdits", args: &[], env: &[] }
        }
        // As root, Claude Code refuses bypass unless told it runs in a sandbox.
        SandboxClass::WorkspaceWrite | SandboxClass::Unrestricted => {
            Permissions { mode: "bypassPermissions", args: &[], env: &[("IS_SANDBOX", "1")] }
        }
    }
}

/// The command for `task`; `lookup` reads the caller's environment (for `api_key_env`).
fn build_command(
    task: &AgentTask,
    settings: &CliSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<CliCommand, RuntimeError> {
    let resume = super::resume_session(NAME, "session id", task)?;
    let permissions = permissions(task.sandbox, settings.confined);
    let mode_env = permissions.env;
    let mut args: Vec<OsString> = vec!["-p".into(), "--output-format".into(), "stream-json".into()];
    args.push("--verbose".into());
    args.push("--permission-mode".into());
    args.push(permissions.mode.into());
    args.extend(permissions.args.iter().map(OsString::from));
    if let Some(model) = task.model.as_ref().or(settings.model.as_ref()) {
        args.push("--model".into());
        args.push(model.into());
    }
    if let Some(system) = &task.system_prompt {
        args.push("--append-system-prompt".into());
        args.push(system.into());
    }
    if let Some(id) = resume {
        args.push("--resume".into());
        args.push(id.into());
    }
    args.push("--".into());
    args.push(task.prompt.clone().into());

    const QUIET: [(&str, &str); 4] = [
        ("DISABLE_AUTOUPDATER", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ("DISABLE_TELEMETRY", "1"),
        ("DISABLE_ERROR_REPORTING", "1"),
    ];
    let mut env: Vec<(String, String)> =
        QUIET.iter().chain(mode_env).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(url) = &settings.base_url {
        env.push(("ANTHROPIC_BASE_URL".into(), url.clone()));
    }
    if let Some(var) = &settings.api_key_env {
        env.push(("ANTHROPIC_API_KEY".into(), api_key(var, lookup)?));
    }
    Ok(CliCommand { args, env })
}

/// The value of the key variable the settings name; unset is an error before anything runs.
fn api_key(var: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, RuntimeError> {
    lookup(var).filter(|v| !v.is_empty()).ok_or_else(|| {
        RuntimeError::new(
            RuntimeErrorKind::Auth,
            NAME,
            format!("{var} is not set (named by [runtime.claude] api_key_env)"),
            format!("export {var}, or remove api_key_env from [runtime.claude]"),
        )
    })
}

/// The error for a failed API call: the kind follows the HTTP status, or else the error
/// code Claude Code put on its last assistant message.
fn api_error(message: String, status: Option<u16>, code: Option<&str>) -> RuntimeError {
    use RuntimeErrorKind::*;
    let kind = match (status.and_then(super::kind_for_status), code) {
        (Some(kind), _) => kind,
        (
            _,
            Some(
                "authentication_failed"
                | "oauth_org_not_allowed"
                | "account_on_hold"
                | "verification_required"
                | "billing_error"
                | "cloud_credential_error",
            ),
        ) => Auth,
        (_, Some("model_not_found")) => NotFound,
        (_, Some("rate_limit")) => RateLimited,
        (_, Some("overloaded" | "server_error")) => Unavailable,
        (_, Some("invalid_request")) => BadRequest,
        _ if message.to_ascii_lowercase().contains("connection error") => Unavailable,
        _ => AgentFailed,
    };
    let hint = match kind {
        Auth => {
            "log in with `claude /login` (or `claude setup-token`), or check ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN (or the variable [runtime.claude] api_key_env names)"
        }
        NotFound => {
            "check the model name ([runtime.claude] model, --model) and the base URL (ANTHROPIC_BASE_URL, [runtime.claude] base_url)"
        }
        RateLimited => {
            "the API is rate limiting this key: wait and retry, or run fewer agents at once"
        }
        Unavailable => {
            "the model API is down or unreachable: retry later, and check ANTHROPIC_BASE_URL and the proxy"
        }
        BadRequest => {
            "the API refused the request: check the model name, the base URL and the size of the prompt"
        }
        _ => "see the run's transcript for what claude reported",
    };
    let error = RuntimeError::new(kind, NAME, message, hint);
    match status {
        Some(s) => error.with_status(s),
        None => error,
    }
}

/// One line of `--output-format stream-json`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    System(SystemLine),
    Assistant(MessageLine),
    User(MessageLine),
    Result(ResultLine),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct SystemLine {
    #[serde(default)]
    subtype: String,
    session_id: Option<String>,
    model: Option<String>,
    /// `api_retry`: which retry this is, and what the failed call got.
    attempt: Option<u32>,
    error_status: Option<u16>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct MessageLine {
    message: Message,
    /// On a synthetic assistant message that reports an API failure (`rate_limit`, ...).
    error: Option<String>,
    /// On a tool answer: what the tool did (`{type: "create", filePath}` for Write).
    tool_use_result: Option<ToolUseResult>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Blocks(Vec<Block>),
    /// The user's own prompt, echoed.
    Text(IgnoredAny),
}

impl Default for Content {
    fn default() -> Self {
        Content::Blocks(Vec::new())
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: Option<ToolOutput>,
        is_error: Option<bool>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ToolOutput {
    Text(String),
    Blocks(Vec<TextBlock>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct TextBlock {
    text: Option<String>,
}

impl ToolOutput {
    fn into_text(self) -> String {
        match self {
            ToolOutput::Text(text) => text,
            ToolOutput::Blocks(blocks) => {
                blocks.into_iter().filter_map(|b| b.text).collect::<Vec<_>>().join("\n")
            }
            ToolOutput::Other(_) => String::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ToolUseResult {
    File {
        #[serde(rename = "type")]
        kind: Option<String>,
        #[serde(rename = "filePath")]
        file_path: PathBuf,
    },
    Other(IgnoredAny),
}

/// The path argument of the file tools.
#[derive(Deserialize)]
struct PathInput {
    file_path: Option<PathBuf>,
    notebook_path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct ResultLine {
    #[serde(default)]
    subtype: String,
    #[serde(default)]
    is_error: bool,
    api_error_status: Option<u16>,
    result: Option<String>,
    session_id: Option<String>,
    total_cost_usd: Option<f64>,
    usage: Option<ClaudeUsage>,
}

#[derive(Deserialize)]
struct ClaudeUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

/// Reads one run's stream-json output.
#[derive(Default)]
struct ClaudeParser {
    session: Option<String>,
    /// File tools called and not answered yet: call id to (tool name, path).
    edits: HashMap<String, (String, PathBuf)>,
    /// The error code of the last synthetic assistant message.
    api_error_code: Option<String>,
    /// What the `result` line said.
    end: Option<Result<FinalResult, RuntimeError>>,
}

impl StreamParser for ClaudeParser {
    fn line(&mut self, line: &str) -> Result<Vec<AgentEvent>, RuntimeError> {
        let Ok(parsed) = serde_json::from_str::<Line>(line) else { return Ok(Vec::new()) };
        Ok(match parsed {
            Line::System(system) if system.subtype == "api_retry" => retry(system)?,
            Line::System(system) => self.system(system),
            Line::Assistant(message) => self.assistant(message),
            Line::User(message) => self.user(message),
            Line::Result(result) => self.result(result),
            Line::Other => Vec::new(),
        })
    }

    fn reported_end(&self) -> bool {
        self.end.is_some()
    }

    fn finish(&mut self, _exit_code: Option<i32>) -> Result<StreamEnd, RuntimeError> {
        super::stream_end(self.end.take())
    }
}

impl ClaudeParser {
    fn system(&mut self, line: SystemLine) -> Vec<AgentEvent> {
        if line.subtype != "init" || self.session.is_some() {
            return Vec::new();
        }
        let Some(id) = line.session_id else { return Vec::new() };
        self.session = Some(id.clone());
        vec![AgentEvent::SessionStarted { session_id: id, model: line.model }]
    }

    fn assistant(&mut self, line: MessageLine) -> Vec<AgentEvent> {
        if let Some(code) = line.error {
            // Claude Code's own report of a failed API call, not the model's words.
            self.api_error_code = Some(code);
            return Vec::new();
        }
        let Content::Blocks(blocks) = line.message.content else { return Vec::new() };
        let mut events = Vec::new();
        for block in blocks {
            match block {
                Block::Text { text } if !text.is_empty() => {
                    events.push(AgentEvent::AssistantText { text })
                }
                Block::ToolUse { id, name, input } => {
                    if let Some(path) = edited_path(&name, &input) {
                        self.edits.insert(id.clone(), (name.clone(), path));
                    }
                    events.push(AgentEvent::ToolCall { id, name, input });
                }
                _ => {}
            }
        }
        events
    }

    fn user(&mut self, line: MessageLine) -> Vec<AgentEvent> {
        let Content::Blocks(blocks) = line.message.content else { return Vec::new() };
        let mut events = Vec::new();
        for block in blocks {
            let Block::ToolResult { tool_use_id, content, is_error } = block else { continue };
            let is_error = is_error.unwrap_or(false);
            let output = content.map(ToolOutput::into_text).unwrap_or_default();
            let edit = self.edits.remove(&tool_use_id);
            events.push(AgentEvent::ToolResult { id: tool_use_id, output, is_error });
            if let (Some((tool, path)), false) = (edit, is_error) {
                let kind = change_kind(&tool, &path, line.tool_use_result.as_ref());
                events.push(AgentEvent::FileChange { path, kind });
            }
        }
        events
    }

    fn result(&mut self, line: ResultLine) -> Vec<AgentEvent> {
        let events: Vec<AgentEvent> = line
            .usage
            .map(|u| usage(u, line.total_cost_usd))
            .filter(|u| u.total_tokens() > 0 || u.cost_usd.is_some_and(|c| c > 0.0))
            .map(AgentEvent::Usage)
            .into_iter()
            .collect();
        let resume = line
            .session_id
            .or_else(|| self.session.clone())
            .map(|session_id| ResumeHandle::new(NAME, session_id));
        let text = line.result.unwrap_or_default();
        let api_failure = line.api_error_status.is_some()
            || self.api_error_code.is_some()
            || text.starts_with("API Error");
        self.end = Some(if !line.is_error {
            Ok(FinalResult { success: true, text, resume })
        } else if api_failure {
            Err(api_error(text, line.api_error_status, self.api_error_code.as_deref()))
        } else {
            // The agent itself stopped short (max turns, an execution error, the budget).
            let text = if text.is_empty() { line.subtype } else { text };
            Ok(FinalResult { success: false, text, resume })
        });
        events
    }
}

/// Claude Code retries a failed call up to 10 times over several minutes, a refused key
/// too. A refusal (401/403) or a missing model (404) that a retry did not cure will not
/// get better: at the second retry the run fails (the first one may refresh a login).
fn retry(line: SystemLine) -> Result<Vec<AgentEvent>, RuntimeError> {
    let code = line.error.as_deref();
    let hopeless = matches!(line.error_status, Some(401 | 403 | 404))
        || matches!(code, Some("authentication_failed" | "model_not_found"));
    if !hopeless || line.attempt.unwrap_or(0) < 2 {
        return Ok(Vec::new());
    }
    let status = line.error_status.map_or_else(String::new, |s| format!("{s} "));
    let message = format!(
        "API Error: {status}({}) on every attempt; claude would keep retrying for minutes",
        code.unwrap_or("unknown")
    );
    Err(api_error(message, line.error_status, code))
}

/// The file a file tool call writes, for the tools that write one.
fn edited_path(tool: &str, input: &Value) -> Option<PathBuf> {
    if !matches!(tool, "Write" | "Edit" | "MultiEdit" | "NotebookEdit") {
        return None;
    }
    let input = PathInput::deserialize(input).ok()?;
    input.file_path.or(input.notebook_path)
}

/// Write says whether it created or replaced the file; the edit tools always modify.
fn change_kind(tool: &str, path: &Path, outcome: Option<&ToolUseResult>) -> FileChangeKind {
    if tool != "Write" {
        return FileChangeKind::Modified;
    }
    match outcome {
        Some(ToolUseResult::File { kind, file_path }) if file_path == path => {
            match kind.as_deref() {
                Some("create") => FileChangeKind::Added,
                Some("update") => FileChangeKind::Modified,
                _ => FileChangeKind::Written,
            }
        }
        _ => FileChangeKind::Written,
    }
}

/// The `result` usage: the whole run's (Anthropic counts input without the cache).
fn usage(u: ClaudeUsage, cost_usd: Option<f64>) -> Usage {
    Usage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
        cache_read_tokens: u.cache_read_input_tokens.unwrap_or(0),
        cache_write_tokens: u.cache_creation_input_tokens.unwrap_or(0),
        cost_usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &CliCommand) -> Vec<&str> {
        cmd.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    fn task(sandbox: SandboxClass) -> AgentTask {
        AgentTask { sandbox, ..AgentTask::new("fix the bug", "/w") }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(lines: &[&str]) -> (Vec<AgentEvent>, Result<StreamEnd, RuntimeError>) {
        let mut parser = Claude.parser(&AgentTask::new("", "."));
        let events = lines.iter().flat_map(|l| parser.line(l).unwrap()).collect();
        (events, parser.finish(Some(0)))
    }

    #[test]
    fn command_per_sandbox_class() {
        let expect = |mode: &[&str]| {
            ["-p", "--output-format", "stream-json", "--verbose", "--permission-mode"]
                .iter()
                .chain(mode)
                .chain(&["--", "fix the bug"])
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        };
        let read_only: &[&str] =
            &["dontAsk", "--restricted", "--disallowedTools", "Edit,MultiEdit,Write,NotebookEdit"];
        let bypass: &[&str] = &["bypassPermissions"];
        // (class, confined in ooo-sandbox, mode): confined, writing needs no prompt.
        for (class, confined, mode) in [
            (SandboxClass::ReadOnly, false, read_only),
            (SandboxClass::ReadOnly, true, read_only),
            (SandboxClass::WorkspaceWrite, false, &["acceptEdits"][..]),
            (SandboxClass::WorkspaceWrite, true, bypass),
            (SandboxClass::Unrestricted, false, bypass),
            (SandboxClass::Unrestricted, true, bypass),
        ] {
            let settings = CliSettings { confined, ..CliSettings::default() };
            let cmd = build_command(&task(class), &settings, &no_env).unwrap();
            assert_eq!(args(&cmd), expect(mode), "{class} confined={confined}");
            let sandbox_env = cmd.env.iter().any(|(k, v)| k == "IS_SANDBOX" && v == "1");
            assert_eq!(sandbox_env, mode == bypass, "{class} confined={confined}");
            assert!(cmd.env.contains(&("DISABLE_AUTOUPDATER".into(), "1".into())));
        }
    }

    #[test]
    fn command_with_resume_model_system_prompt_and_settings() {
        let mut t = task(SandboxClass::WorkspaceWrite);
        t.resume = Some(ResumeHandle::new("claude", "abc-1"));
        t.system_prompt = Some("Be brief.".into());
        let settings = CliSettings {
            model: Some("claude-sonnet-4-5".into()),
            base_url: Some("http://127.0.0.1:9".into()),
            api_key_env: Some("MY_KEY".into()),
            ..CliSettings::default()
        };
        let lookup = |name: &str| (name == "MY_KEY").then(|| "sk-test".to_string());
        let cmd = build_command(&t, &settings, &lookup).unwrap();
        assert_eq!(
            args(&cmd),
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--model",
                "claude-sonnet-4-5",
                "--append-system-prompt",
                "Be brief.",
                "--resume",
                "abc-1",
                "--",
                "fix the bug"
            ]
        );
        assert!(cmd.env.contains(&("ANTHROPIC_BASE_URL".into(), "http://127.0.0.1:9".into())));
        assert!(cmd.env.contains(&("ANTHROPIC_API_KEY".into(), "sk-test".into())));
    }

    #[test]
    fn task_model_wins_and_prompt_stays_one_argument() {
        let mut t = AgentTask::new("-rf everything\n\"quoted\" $HOME", "/w");
        t.model = Some("opus".into());
        let settings = CliSettings { model: Some("sonnet".into()), ..CliSettings::default() };
        let cmd = build_command(&t, &settings, &no_env).unwrap();
        let a = args(&cmd);
        assert_eq!(&a[a.len() - 2..], ["--", "-rf everything\n\"quoted\" $HOME"]);
        assert!(a.windows(2).any(|w| w == ["--model", "opus"]));
    }

    #[test]
    fn foreign_or_bad_resume_handle_and_missing_key_are_refused() {
        let mut t = task(SandboxClass::WorkspaceWrite);
        t.resume = Some(ResumeHandle::new("codex", "x"));
        let err = build_command(&t, &CliSettings::default(), &no_env).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);
        assert!(err.hint.contains("--runtime codex"));
        t.resume = Some(ResumeHandle::new("claude", "--help"));
        let err = build_command(&t, &CliSettings::default(), &no_env).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);

        let settings = CliSettings { api_key_env: Some("NOPE".into()), ..CliSettings::default() };
        let err = build_command(&task(SandboxClass::ReadOnly), &settings, &no_env).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::Auth);
        assert!(err.message.contains("NOPE"));
    }

    #[test]
    fn tool_call_result_and_file_change() {
        let (events, end) = parse(&[
            r#"{"type":"system","subtype":"init","session_id":"s1","model":"m"}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"t1","name":"Edit","input":{"file_path":"/w/a.rs","old_string":"a","new_string":"b"}},{"type":"tool_use","id":"t2","name":"Write","input":{"file_path":"/w/b.rs","content":""}}]}}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"done"}]}]}}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t2","content":"denied","is_error":true}]}}"#,
            r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","session_id":"s1","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":3,"cache_creation_input_tokens":2}}"#,
        ]);
        assert_eq!(
            events[0],
            AgentEvent::SessionStarted { session_id: "s1".into(), model: Some("m".into()) }
        );
        assert!(events.contains(&AgentEvent::ToolResult {
            id: "t1".into(),
            output: "done".into(),
            is_error: false
        }));
        assert!(events.contains(&AgentEvent::FileChange {
            path: "/w/a.rs".into(),
            kind: FileChangeKind::Modified
        }));
        assert!(events.contains(&AgentEvent::ToolResult {
            id: "t2".into(),
            output: "denied".into(),
            is_error: true
        }));
        assert_eq!(events.iter().filter(|e| matches!(e, AgentEvent::FileChange { .. })).count(), 1);
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 3,
            cache_write_tokens: 2,
            cost_usd: Some(0.5),
        };
        assert_eq!(events.last(), Some(&AgentEvent::Usage(usage)));
        let Ok(StreamEnd::Final(AgentEvent::Final(result))) = end else { panic!("{end:?}") };
        assert!(result.success);
        assert_eq!(result.resume, Some(ResumeHandle::new("claude", "s1")));
    }

    #[test]
    fn api_errors_by_status_and_code() {
        let cases = [
            (r#""api_error_status":401"#, None, RuntimeErrorKind::Auth),
            (r#""api_error_status":404"#, None, RuntimeErrorKind::NotFound),
            (r#""api_error_status":429"#, None, RuntimeErrorKind::RateLimited),
            (r#""api_error_status":529"#, None, RuntimeErrorKind::Unavailable),
            (r#""api_error_status":400"#, None, RuntimeErrorKind::BadRequest),
            (r#""api_error_status":null"#, Some("rate_limit"), RuntimeErrorKind::RateLimited),
            (r#""api_error_status":null"#, Some("authentication_failed"), RuntimeErrorKind::Auth),
        ];
        for (status, code, kind) in cases {
            let assistant = code.map(|c| {
                format!(r#"{{"type":"assistant","message":{{"content":[{{"type":"text","text":"API Error"}}]}},"error":"{c}"}}"#)
            });
            let result = format!(
                r#"{{"type":"result","is_error":true,{status},"result":"API Error: boom"}}"#
            );
            let mut lines: Vec<&str> = assistant.iter().map(String::as_str).collect();
            lines.push(&result);
            let (events, end) = parse(&lines);
            assert!(events.is_empty(), "{events:?}");
            let err = end.unwrap_err();
            assert_eq!(err.kind, kind, "{status} {code:?}");
            assert_eq!(err.message, "API Error: boom");
            assert!(!err.hint.is_empty());
        }
        let (_, end) = parse(&[r#"{"type":"result","is_error":true,"api_error_status":403}"#]);
        assert!(end.unwrap_err().hint.contains("claude /login"));
    }

    #[test]
    fn retrying_a_refused_key_fails_at_the_second_retry() {
        let retry = |attempt: u32, status: u16, code: &str| {
            format!(
                r#"{{"type":"system","subtype":"api_retry","attempt":{attempt},"max_retries":10,"retry_delay_ms":539,"error_status":{status},"error":"{code}","session_id":"s"}}"#
            )
        };
        let mut parser = Claude.parser(&AgentTask::new("", "."));
        assert_eq!(parser.line(&retry(1, 401, "authentication_failed")).unwrap(), []);
        let err = parser.line(&retry(2, 401, "authentication_failed")).unwrap_err();
        assert_eq!((err.kind, err.status), (RuntimeErrorKind::Auth, Some(401)));
        assert!(err.hint.contains("claude /login"));
        let err = Claude
            .parser(&AgentTask::new("", "."))
            .line(&retry(3, 404, "model_not_found"))
            .unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::NotFound);
        // Overload and rate limits are worth Claude Code's own retries.
        for (status, code) in [(529, "overloaded"), (429, "rate_limit"), (500, "server_error")] {
            assert_eq!(
                Claude.parser(&AgentTask::new("", ".")).line(&retry(5, status, code)).unwrap(),
                []
            );
        }
    }

    #[test]
    fn agent_failure_without_api_error_is_an_unsuccessful_final() {
        let (_, end) = parse(&[
            r#"{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"s"}"#,
        ]);
        let Ok(StreamEnd::Final(AgentEvent::Final(result))) = end else { panic!("{end:?}") };
        assert!(!result.success);
        assert_eq!(result.text, "error_max_turns");
    }

    #[test]
    fn junk_unknown_and_partial_lines_are_ignored() {
        let (events, end) = parse(&[
            "",
            "not json",
            "{\"type\":\"assistant\"",
            r#"{"type":"stream_event","event":{"type":"content_block_delta"}}"#,
            r#"{"type":"brand_new","x":1}"#,
            r#"{"type":"assistant","message":{"content":"plain"}}"#,
            r#"{"type":"user","message":{"content":"the prompt"}}"#,
            r#"[1,2]"#,
        ]);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(end.unwrap(), StreamEnd::Missing);
    }

    #[test]
    fn write_reports_added_or_modified_from_the_tool_outcome() {
        let call = r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t","name":"Write","input":{"file_path":"/w/x"}}]}}"#;
        for (kind, expect) in
            [("create", FileChangeKind::Added), ("update", FileChangeKind::Modified)]
        {
            let answer = format!(
                r#"{{"type":"user","message":{{"content":[{{"type":"tool_result","tool_use_id":"t","content":"ok"}}]}},"tool_use_result":{{"type":"{kind}","filePath":"/w/x"}}}}"#
            );
            let (events, _) = parse(&[call, &answer]);
            assert_eq!(
                events.last(),
                Some(&AgentEvent::FileChange { path: "/w/x".into(), kind: expect })
            );
        }
        let answer = r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]},"tool_use_result":"text"}"#;
        let (events, _) = parse(&[call, answer]);
        assert_eq!(
            events.last(),
            Some(&AgentEvent::FileChange { path: "/w/x".into(), kind: FileChangeKind::Written })
        );
    }
}
