//! The `gemini` adapter: Gemini CLI in headless mode, `--output-format stream-json`.
//!
//! Command: `gemini --output-format stream-json --skip-trust --approval-mode <mode> [-m M]
//! [--resume ID] --prompt=<prompt>`. The prompt is one `--prompt=` argument so that a
//! prompt starting with `-` is still the option's value (yargs would not take it as the
//! value of a separate `-p`). `--skip-trust` matters: in an untrusted folder Gemini CLI
//! falls back to the `default` approval mode. Gemini CLI has no system-prompt flag (its
//! `GEMINI_SYSTEM_MD` replaces the whole built-in prompt), so a system prompt is prepended
//! to the prompt.
//!
//! Settings: `base_url` becomes `GOOGLE_GEMINI_BASE_URL`, the value of the variable
//! `api_key_env` names becomes `GEMINI_API_KEY`. With a base URL, Gemini CLI 0.61 picks the
//! `gateway` auth type unless `security.auth.selectedType = "gemini-api-key"` is set in
//! `$HOME/.gemini/settings.json` (or under `GEMINI_CLI_HOME`), and then exits 41: that
//! setting lives in the user's configuration, not on the command line.
//! `GEMINI_TELEMETRY_ENABLED=false` keeps telemetry off whatever settings.json says.
//!
//! Permissions (`approval_mode`): read_only `plan` (Gemini CLI's read-only mode, on by
//! default in 0.61), workspace_write `auto_edit`, unrestricted `yolo`; a confined CLI
//! ([`CliSettings::confined`]) runs workspace_write as `yolo` (in `auto_edit` every shell
//! command waits for an approval no one gives; ooo-sandbox is the boundary).
//!
//! Stream: `init` gives the session and model; assistant `message` pieces are text (the
//! final text is the pieces since the last tool call); `tool_use`/`tool_result` are tool
//! calls and answers, and a successful `write_file` or `replace` is a file change;
//! `result` carries the usage (`stats`) and ends the run, `status: "error"` as an error.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use ooo_core::runtime::{
    AgentEvent, AgentTask, FileChangeKind, FinalResult, ResumeHandle, RuntimeError,
    RuntimeErrorKind, SandboxClass, Usage,
};
use serde::Deserialize;
use serde_json::Value;

use super::{CliAdapter, CliCommand, CliSettings, StreamEnd, StreamParser};

const NAME: &str = "gemini";

/// Gemini CLI (`@google/gemini-cli`), driven headless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gemini;

impl CliAdapter for Gemini {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env_allowlist(&self) -> &'static [&'static str] {
        &[
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "GOOGLE_GEMINI_BASE_URL",
            "GEMINI_MODEL",
            "GEMINI_CLI_HOME",
            "GOOGLE_CLOUD_PROJECT",
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
        Box::<GeminiParser>::default()
    }

    fn min_version(&self) -> &'static str {
        "0.61.0"
    }

    fn tested_package(&self) -> &'static str {
        "@google/gemini-cli@0.61.0"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @google/gemini-cli@0.61.0, or set [runtime.gemini] path in config.toml"
    }
}

/// The `--approval-mode` for each sandbox class; `confined`: see the module doc.
fn approval_mode(sandbox: SandboxClass, confined: bool) -> &'static str {
    match sandbox {
        SandboxClass::ReadOnly => "plan",
        SandboxClass::WorkspaceWrite if !confined => "auto_edit",
        SandboxClass::WorkspaceWrite | SandboxClass::Unrestricted => "yolo",
    }
}

/// The command for `task`; `lookup` reads the caller's environment (for `api_key_env`).
fn build_command(
    task: &AgentTask,
    settings: &CliSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<CliCommand, RuntimeError> {
    let resume = super::resume_session(NAME, "session id", task)?;
    let mut args: Vec<OsString> =
        vec!["--output-format".into(), "stream-json".into(), "--skip-trust".into()];
    args.push("--approval-mode".into());
    args.push(approval_mode(task.sandbox, settings.confined).into());
    if let Some(model) = task.model.as_ref().or(settings.model.as_ref()) {
        args.push("-m".into());
        args.push(model.into());
    }
    if let Some(id) = resume {
        args.push("--resume".into());
        args.push(id.into());
    }
    let prompt = match &task.system_prompt {
        Some(system) => format!("{system}\n\n{}", task.prompt),
        None => task.prompt.clone(),
    };
    args.push(format!("--prompt={prompt}").into());

    let mut env = vec![("GEMINI_TELEMETRY_ENABLED".to_owned(), "false".to_owned())];
    if let Some(url) = &settings.base_url {
        env.push(("GOOGLE_GEMINI_BASE_URL".into(), url.clone()));
    }
    if let Some(var) = &settings.api_key_env {
        let key = lookup(var).filter(|v| !v.is_empty()).ok_or_else(|| {
            RuntimeError::new(
                RuntimeErrorKind::Auth,
                NAME,
                format!("{var} is not set (named by [runtime.gemini] api_key_env)"),
                format!("export {var}, or remove api_key_env from [runtime.gemini]"),
            )
        })?;
        env.push(("GEMINI_API_KEY".into(), key));
    }
    Ok(CliCommand { args, env })
}

/// The error for a failed run. Gemini CLI quotes the API's answer in its message
/// (`[API Error: {"error":{"code":400,...}}]`): the kind follows that code.
fn run_error(message: &str) -> RuntimeError {
    use RuntimeErrorKind::*;
    let body = ApiErrorBody::parse(message);
    let status = body.as_ref().and_then(|b| b.error.code);
    let said = body.and_then(|b| b.error.message).unwrap_or_else(|| message.to_owned());
    let kind = match status.and_then(super::kind_for_status) {
        Some(kind) => kind,
        _ if message.contains("fetch failed") => Unavailable,
        _ => AgentFailed,
    };
    let hint = match kind {
        Auth => {
            "log in by running `gemini` once interactively, or check GEMINI_API_KEY (or the variable [runtime.gemini] api_key_env names); with a base URL, settings.json needs security.auth.selectedType = \"gemini-api-key\""
        }
        NotFound => {
            "check the model name ([runtime.gemini] model, -m) and the base URL (GOOGLE_GEMINI_BASE_URL, [runtime.gemini] base_url)"
        }
        RateLimited => {
            "the API is rate limiting this key or its quota is used up: wait and retry, or run fewer agents at once"
        }
        Unavailable => {
            "the model API is down or unreachable: retry later, and check the base URL and the proxy"
        }
        BadRequest => {
            "the API refused the request: check the model name, the base URL and the size of the prompt"
        }
        _ => "see the run's transcript for what gemini reported",
    };
    let error = RuntimeError::new(kind, NAME, said, hint);
    match status {
        Some(s) => error.with_status(s),
        None => error,
    }
}

/// A Google API error body: `{"error": {"code": 400, "message": ..., "status": ...}}`.
#[derive(Deserialize)]
struct ApiErrorBody {
    error: ApiError,
}

#[derive(Deserialize)]
struct ApiError {
    code: Option<u16>,
    message: Option<String>,
}

impl ApiErrorBody {
    fn parse(text: &str) -> Option<ApiErrorBody> {
        let start = text.find('{')?;
        let end = text.rfind('}')?;
        serde_json::from_str(text.get(start..=end)?).ok()
    }
}

/// One line of `--output-format stream-json`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Init {
        session_id: String,
        model: Option<String>,
    },
    Message {
        #[serde(default)]
        role: String,
        #[serde(default)]
        content: String,
        #[serde(default)]
        delta: bool,
    },
    ToolUse {
        tool_name: String,
        tool_id: String,
        #[serde(default)]
        parameters: Value,
    },
    ToolResult {
        tool_id: String,
        #[serde(default)]
        status: String,
        output: Option<String>,
        error: Option<Failure>,
    },
    Error {
        #[serde(default)]
        severity: String,
        message: String,
    },
    Result {
        #[serde(default)]
        status: String,
        error: Option<Failure>,
        stats: Option<Stats>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Failure {
    #[serde(default)]
    message: String,
}

/// The `result` stats: `input_tokens` includes `cached`, `input` does not.
#[derive(Deserialize)]
struct Stats {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cached: Option<u64>,
    input: Option<u64>,
}

impl Stats {
    fn usage(&self) -> Usage {
        let cached = self.cached.unwrap_or(0);
        let all_input = self.input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input.unwrap_or(all_input.saturating_sub(cached)),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            cost_usd: None,
        }
    }
}

/// The path argument of the file tools.
#[derive(Deserialize)]
struct PathInput {
    file_path: Option<PathBuf>,
}

/// Reads one run's stream-json output.
#[derive(Default)]
struct GeminiParser {
    session: Option<String>,
    /// The assistant's text since the last tool call.
    text: String,
    /// File tools called and not answered yet: tool id to (change kind, path).
    edits: HashMap<String, (FileChangeKind, PathBuf)>,
    /// The last word on how the run went: the result, or an error.
    end: Option<Result<FinalResult, RuntimeError>>,
    /// A `result` line came (the CLI's last word; `error` lines may be retried).
    result_seen: bool,
}

impl StreamParser for GeminiParser {
    fn line(&mut self, line: &str) -> Result<Vec<AgentEvent>, RuntimeError> {
        let Ok(parsed) = serde_json::from_str::<Line>(line) else { return Ok(Vec::new()) };
        Ok(match parsed {
            Line::Init { session_id, model } => self.init(session_id, model),
            Line::Message { role, content, delta } => self.message(&role, content, delta),
            Line::ToolUse { tool_name, tool_id, parameters } => {
                self.tool_use(tool_name, tool_id, parameters)
            }
            Line::ToolResult { tool_id, status, output, error } => {
                self.tool_result(tool_id, &status, output, error)
            }
            Line::Error { severity, message } => {
                if severity == "error" {
                    self.end = Some(Err(run_error(&message)));
                }
                Vec::new()
            }
            Line::Result { status, error, stats } => self.result(&status, error, stats),
            Line::Other => Vec::new(),
        })
    }

    fn reported_end(&self) -> bool {
        self.result_seen
    }

    fn finish(&mut self, _exit_code: Option<i32>) -> Result<StreamEnd, RuntimeError> {
        super::stream_end(self.end.take())
    }
}

impl GeminiParser {
    fn init(&mut self, session_id: String, model: Option<String>) -> Vec<AgentEvent> {
        if self.session.is_some() {
            return Vec::new();
        }
        self.session = Some(session_id.clone());
        vec![AgentEvent::SessionStarted { session_id, model }]
    }

    fn message(&mut self, role: &str, content: String, delta: bool) -> Vec<AgentEvent> {
        if role != "assistant" || content.is_empty() {
            return Vec::new();
        }
        if !delta {
            self.text.clear();
        }
        self.text.push_str(&content);
        vec![AgentEvent::AssistantText { text: content }]
    }

    fn tool_use(&mut self, name: String, id: String, input: Value) -> Vec<AgentEvent> {
        self.text.clear();
        let kind = match name.as_str() {
            "write_file" => Some(FileChangeKind::Written),
            "replace" | "edit" => Some(FileChangeKind::Modified),
            _ => None,
        };
        let path = PathInput::deserialize(&input).ok().and_then(|p| p.file_path);
        if let (Some(kind), Some(path)) = (kind, path) {
            self.edits.insert(id.clone(), (kind, path));
        }
        vec![AgentEvent::ToolCall { id, name, input }]
    }

    fn tool_result(
        &mut self,
        id: String,
        status: &str,
        output: Option<String>,
        error: Option<Failure>,
    ) -> Vec<AgentEvent> {
        let is_error = status != "success";
        let output = match (output, error) {
            (Some(out), _) => out,
            (None, Some(e)) => e.message,
            (None, None) => String::new(),
        };
        let edit = self.edits.remove(&id);
        let mut events = vec![AgentEvent::ToolResult { id, output, is_error }];
        if let (Some((kind, path)), false) = (edit, is_error) {
            events.push(AgentEvent::FileChange { path, kind });
        }
        events
    }

    fn result(
        &mut self,
        status: &str,
        error: Option<Failure>,
        stats: Option<Stats>,
    ) -> Vec<AgentEvent> {
        let usage = stats.as_ref().map(Stats::usage).filter(|u| u.total_tokens() > 0);
        self.result_seen = true;
        self.end = Some(if status == "success" {
            let resume = self.session.clone().map(|session_id| ResumeHandle::new(NAME, session_id));
            Ok(FinalResult { success: true, text: self.text.clone(), resume })
        } else {
            let message = error.map(|e| e.message).filter(|m| !m.is_empty());
            Err(run_error(
                &message.unwrap_or_else(|| format!("the run ended with status {status}")),
            ))
        });
        usage.map(AgentEvent::Usage).into_iter().collect()
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
        let mut parser = Gemini.parser(&AgentTask::new("", "."));
        let events = lines.iter().flat_map(|l| parser.line(l).unwrap()).collect();
        (events, parser.finish(Some(0)))
    }

    #[test]
    fn command_per_sandbox_class() {
        // (class, confined in ooo-sandbox, mode): confined, shell commands need no prompt.
        for (class, confined, mode) in [
            (SandboxClass::ReadOnly, false, "plan"),
            (SandboxClass::ReadOnly, true, "plan"),
            (SandboxClass::WorkspaceWrite, false, "auto_edit"),
            (SandboxClass::WorkspaceWrite, true, "yolo"),
            (SandboxClass::Unrestricted, false, "yolo"),
        ] {
            let settings = CliSettings { confined, ..CliSettings::default() };
            let cmd = build_command(&task(class), &settings, &no_env).unwrap();
            assert_eq!(
                args(&cmd),
                [
                    "--output-format",
                    "stream-json",
                    "--skip-trust",
                    "--approval-mode",
                    mode,
                    "--prompt=fix the bug"
                ]
            );
            assert_eq!(cmd.env, [("GEMINI_TELEMETRY_ENABLED".to_owned(), "false".to_owned())]);
        }
    }

    #[test]
    fn command_with_resume_model_system_prompt_and_settings() {
        let mut t = task(SandboxClass::WorkspaceWrite);
        t.resume = Some(ResumeHandle::new("gemini", "86bf-5de"));
        t.system_prompt = Some("Be brief.".into());
        t.prompt = "-x= y".into();
        let settings = CliSettings {
            model: Some("gemini-2.5-pro".into()),
            base_url: Some("http://127.0.0.1:9".into()),
            api_key_env: Some("MY_KEY".into()),
            ..CliSettings::default()
        };
        let lookup = |name: &str| (name == "MY_KEY").then(|| "k".to_string());
        let cmd = build_command(&t, &settings, &lookup).unwrap();
        assert_eq!(
            args(&cmd),
            [
                "--output-format",
                "stream-json",
                "--skip-trust",
                "--approval-mode",
                "auto_edit",
                "-m",
                "gemini-2.5-pro",
                "--resume",
                "86bf-5de",
                "--prompt=Be brief.\n\n-x= y"
            ]
        );
        assert!(cmd.env.contains(&("GOOGLE_GEMINI_BASE_URL".into(), "http://127.0.0.1:9".into())));
        assert!(cmd.env.contains(&("GEMINI_API_KEY".into(), "k".into())));
    }

    #[test]
    fn foreign_resume_handle_and_missing_key_are_refused() {
        let mut t = task(SandboxClass::ReadOnly);
        t.resume = Some(ResumeHandle::new("opencode", "ses_1"));
        let err = build_command(&t, &CliSettings::default(), &no_env).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);
        let settings = CliSettings { api_key_env: Some("K".into()), ..CliSettings::default() };
        let err = build_command(&task(SandboxClass::ReadOnly), &settings, &no_env).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::Auth);
    }

    #[test]
    fn final_text_is_the_text_after_the_last_tool_call() {
        let (events, end) = parse(&[
            r#"{"type":"init","session_id":"s","model":"auto"}"#,
            r#"{"type":"message","role":"user","content":"do it"}"#,
            r#"{"type":"message","role":"assistant","content":"Let me ","delta":true}"#,
            r#"{"type":"tool_use","tool_name":"replace","tool_id":"r1","parameters":{"file_path":"/w/a","old_string":"x","new_string":"y"}}"#,
            r#"{"type":"tool_result","tool_id":"r1","status":"success","output":"ok"}"#,
            r#"{"type":"tool_use","tool_name":"write_file","tool_id":"w1","parameters":{"file_path":"/w/b","content":""}}"#,
            r#"{"type":"tool_result","tool_id":"w1","status":"error","error":{"type":"x","message":"denied"}}"#,
            r#"{"type":"message","role":"assistant","content":"Do","delta":true}"#,
            r#"{"type":"message","role":"assistant","content":"ne","delta":true}"#,
            r#"{"type":"result","status":"success","stats":{"input_tokens":30,"cached":10,"output_tokens":5}}"#,
        ]);
        assert_eq!(
            events[0],
            AgentEvent::SessionStarted { session_id: "s".into(), model: Some("auto".into()) }
        );
        assert!(events.contains(&AgentEvent::FileChange {
            path: "/w/a".into(),
            kind: FileChangeKind::Modified
        }));
        assert!(events.contains(&AgentEvent::ToolResult {
            id: "w1".into(),
            output: "denied".into(),
            is_error: true
        }));
        assert_eq!(events.iter().filter(|e| matches!(e, AgentEvent::FileChange { .. })).count(), 1);
        assert_eq!(
            events.last(),
            Some(&AgentEvent::Usage(Usage {
                input_tokens: 20,
                output_tokens: 5,
                cache_read_tokens: 10,
                ..Usage::default()
            }))
        );
        let Ok(StreamEnd::Final(AgentEvent::Final(result))) = end else { panic!("{end:?}") };
        assert_eq!(result.text, "Done");
        assert_eq!(result.resume.unwrap().session_id, "s");
    }

    #[test]
    fn error_results_by_code() {
        for (code, kind) in [
            (401, RuntimeErrorKind::Auth),
            (404, RuntimeErrorKind::NotFound),
            (429, RuntimeErrorKind::RateLimited),
            (503, RuntimeErrorKind::Unavailable),
            (400, RuntimeErrorKind::BadRequest),
        ] {
            let message = format!(
                r#"[API Error: {{"error":{{"code":{code},"message":"nope","status":"X"}}}}]"#
            );
            let line = serde_json::json!({"type": "result", "status": "error", "error": {"type": "unknown", "message": message}, "stats": {"input_tokens": 0}}).to_string();
            let (events, end) = parse(&[&line]);
            assert!(events.is_empty());
            let err = end.unwrap_err();
            assert_eq!((err.kind, err.status, err.message.as_str()), (kind, Some(code), "nope"));
        }
        let (_, end) =
            parse(&[r#"{"type":"result","status":"error","error":{"message":"something else"}}"#]);
        assert_eq!(end.unwrap_err().kind, RuntimeErrorKind::AgentFailed);
    }

    #[test]
    fn warnings_are_ignored_and_errors_kept() {
        let (_, end) =
            parse(&[r#"{"type":"error","severity":"warning","message":"loop detected"}"#]);
        assert_eq!(end.unwrap(), StreamEnd::Missing);
        let (_, end) = parse(&[
            r#"{"type":"error","severity":"error","message":"fetch failed sending request"}"#,
        ]);
        assert_eq!(end.unwrap_err().kind, RuntimeErrorKind::Unavailable);
    }

    #[test]
    fn junk_and_unknown_lines_are_ignored() {
        let (events, end) = parse(&[
            "",
            "Ripgrep is not available. Falling back to GrepTool.",
            "{\"type\":\"init\",\"session_id\":",
            r#"{"type":"thought","content":"hm"}"#,
            r#"{"type":"init"}"#,
            r#"{"type":"message","role":"assistant"}"#,
            r#"null"#,
        ]);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(end.unwrap(), StreamEnd::Missing);
    }
}
