//! The `opencode` adapter: OpenCode's `opencode run --format json`.
//!
//! Command: `opencode run --format json [--model provider/model] [--session ses_...]
//! <message...>`. OpenCode has no system-prompt flag: a system prompt is prepended to the
//! prompt. How the prompt becomes arguments is in `message_args`: `run` re-joins its
//! message arguments itself, so the prompt goes word by word.
//!
//! OpenCode's configuration is a file (`opencode.json`), but 1.18 also merges two
//! variables over it, which is how a run gets its permissions and the settings:
//! * `OPENCODE_PERMISSION` (JSON, merged over `permission`; see `permission`): read_only
//!   denies `edit` (which covers write, edit and patch) and `bash`; workspace_write allows
//!   both; unrestricted allows those, `webfetch` and `external_directory` as well. What
//!   stays `ask` is refused: `run` rejects every permission request unless `--auto`.
//! * `OPENCODE_CONFIG_CONTENT` (JSON, merged as one more config file): `base_url` and
//!   `api_key_env` become `provider.<id>.options.baseURL` and `apiKey: "{env:VAR}"` (the
//!   variable's NAME: OpenCode reads it, the driver lets it through). The provider id is
//!   the model's `provider/` part, so a base URL needs a model (else the task is refused
//!   with a hint); a key variable without a model only passes through, for an
//!   `opencode.json` that reads it. Both variables were checked with `opencode debug config`.
//!
//! Quietness: `OPENCODE_DISABLE_AUTOUPDATE`, `_LSP_DOWNLOAD`, `_MODELS_FETCH`, `_SHARE`.
//! `OPENCODE_DISABLE_DEFAULT_PLUGINS` is not set: those built-in plugins are the provider
//! logins (Copilot, Poe, Cloudflare, ...), which users of those providers need.
//!
//! Stream (every event has `sessionID`): the first event gives the session; `text` parts
//! are the assistant's text; a `tool_use` part is reported once the tool is done, as a
//! tool call and its result, and a completed `write`/`edit` is a file change;
//! `step_finish` carries each step's tokens and cost. There is no result event: a
//! `step_finish` with reason `stop` ends the run. `error` (`{name, data{message,
//! statusCode}}`) is the run's error.

use std::ffi::OsString;
use std::path::PathBuf;

use ooo_core::runtime::{
    AgentEvent, AgentTask, FileChangeKind, FinalResult, ResumeHandle, RuntimeError,
    RuntimeErrorKind, SandboxClass, Usage,
};
use serde::Deserialize;
use serde_json::Value;

use super::{CliAdapter, CliCommand, CliSettings, StreamEnd, StreamParser};

const NAME: &str = "opencode";

/// OpenCode (`opencode-ai`), driven headless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenCode;

impl CliAdapter for OpenCode {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env_allowlist(&self) -> &'static [&'static str] {
        &[
            "OPENCODE_CONFIG",
            "OPENCODE_CONFIG_DIR",
            "OPENCODE_API_KEY",
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GOOGLE_GENERATIVE_AI_API_KEY",
            "OPENROUTER_API_KEY",
        ]
    }

    fn command(
        &self,
        task: &AgentTask,
        settings: &CliSettings,
        _caller: &crate::env::EnvMap,
    ) -> Result<CliCommand, RuntimeError> {
        let resume = super::resume_session(NAME, "session id", task)?;
        let model = task.model.as_ref().or(settings.model.as_ref());
        let mut args: Vec<OsString> = vec!["run".into(), "--format".into(), "json".into()];
        if let Some(model) = model {
            if !model.contains('/') {
                return Err(invalid(
                    format!(
                        "`{model}` is not an opencode model: opencode names models provider/model"
                    ),
                    "name the model with its provider, e.g. anthropic/claude-sonnet-4-5",
                ));
            }
            args.push("--model".into());
            args.push(model.into());
        }
        if let Some(id) = resume {
            args.push("--session".into());
            args.push(id.into());
        }
        let prompt = match &task.system_prompt {
            Some(system) => format!("{system}\n\n{}", task.prompt),
            None => task.prompt.clone(),
        };
        args.extend(message_args(&prompt));

        let mut env: Vec<(String, String)> = [
            ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
            ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
            ("OPENCODE_DISABLE_SHARE", "1"),
            ("OPENCODE_PERMISSION", permission(task.sandbox)),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        if let Some(config) = provider_config(model.map(String::as_str), settings)? {
            env.push(("OPENCODE_CONFIG_CONTENT".into(), config));
        }
        Ok(CliCommand { args, env })
    }

    fn parser(&self, _task: &AgentTask) -> Box<dyn StreamParser> {
        Box::<OpenCodeParser>::default()
    }

    fn min_version(&self) -> &'static str {
        "1.18.33"
    }

    fn tested_package(&self) -> &'static str {
        "opencode-ai@1.18.33"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g opencode-ai@1.18.33, or set [runtime.opencode] path in config.toml"
    }
}

/// The `OPENCODE_PERMISSION` value for each sandbox class.
fn permission(sandbox: SandboxClass) -> &'static str {
    match sandbox {
        SandboxClass::ReadOnly => r#"{"edit":"deny","bash":"deny","webfetch":"ask"}"#,
        SandboxClass::WorkspaceWrite => r#"{"edit":"allow","bash":"allow","webfetch":"ask"}"#,
        SandboxClass::Unrestricted => {
            r#"{"edit":"allow","bash":"allow","webfetch":"allow","external_directory":"allow"}"#
        }
    }
}

/// The `OPENCODE_CONFIG_CONTENT` for the settings' base URL and key variable, if any.
fn provider_config(
    model: Option<&str>,
    settings: &CliSettings,
) -> Result<Option<String>, RuntimeError> {
    if settings.base_url.is_none() && settings.api_key_env.is_none() {
        return Ok(None);
    }
    let Some((provider, _)) = model.and_then(|m| m.split_once('/')) else {
        if settings.base_url.is_none() {
            // A key variable alone: opencode.json may read it (`{env:VAR}`); it passes.
            return Ok(None);
        }
        return Err(invalid(
            "base_url needs a model: opencode sets it per provider, and the provider is the model's `provider/` part",
            "set [runtime.opencode] model = \"provider/model\", or configure the provider's options in opencode.json instead",
        ));
    };
    let mut options = serde_json::Map::new();
    if let Some(url) = &settings.base_url {
        options.insert("baseURL".into(), url.as_str().into());
    }
    if let Some(var) = &settings.api_key_env {
        options.insert("apiKey".into(), format!("{{env:{var}}}").into());
    }
    let config = serde_json::json!({ "provider": { provider: { "options": options } } });
    Ok(Some(config.to_string()))
}

/// The prompt as `run`'s message arguments.
///
/// `opencode run` joins its message arguments with single spaces, and first wraps every
/// argument that contains a space in double quotes (escaping the quotes inside), so a
/// prompt passed as one argument reaches the model as `"fix the bug"`. Passed word by word
/// (split at each space) it arrives exactly. Words go as positionals until the first one
/// starting with `-` (yargs would read it as an option); that word and the rest follow
/// `--`. After `--`, yargs turns number-like words into numbers and OpenCode 1.18 then
/// fails (`G.includes is not a function`): when such a word would follow `--`, the whole
/// prompt goes after `--` as one argument instead, quoted by OpenCode as above.
fn message_args(prompt: &str) -> Vec<OsString> {
    let words: Vec<&str> = prompt.split(' ').collect();
    let first_dash = words.iter().position(|w| w.starts_with('-')).unwrap_or(words.len());
    let (positional, after) = words.split_at(first_dash);
    if after.iter().any(|w| looks_like_number(w)) {
        return vec!["--".into(), prompt.into()];
    }
    let mut args: Vec<OsString> = positional.iter().map(OsString::from).collect();
    if !after.is_empty() {
        args.push("--".into());
        args.extend(after.iter().map(OsString::from));
    }
    args
}

/// What yargs-parser's `looksLikeNumber` accepts (a little more, to be safe): `-1`, `2.5`,
/// `.5`, `1e3`, `0x1f`.
fn looks_like_number(word: &str) -> bool {
    let w = word.strip_prefix('-').unwrap_or(word);
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    let (mantissa, exponent) = match w.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (w, None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digits(int))
                && (frac.is_empty() || digits(frac))
                && int.len() + frac.len() > 0
        }
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

fn invalid(message: impl Into<String>, hint: impl Into<String>) -> RuntimeError {
    RuntimeError::new(RuntimeErrorKind::InvalidTask, NAME, message, hint)
}

/// The error an `error` event stands for.
fn run_error(error: Failure) -> RuntimeError {
    use RuntimeErrorKind::*;
    let status = error.data.status_code;
    let kind = match (error.name.as_str(), status.and_then(super::kind_for_status)) {
        ("ProviderAuthError", _) | (_, Some(Auth)) => Auth,
        ("ProviderModelNotFoundError", _) | (_, Some(NotFound)) => NotFound,
        (_, Some(kind)) => kind,
        _ => AgentFailed,
    };
    let hint = match kind {
        Auth => {
            "log in with `opencode auth login`, or check the provider's key variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, ..., or the one [runtime.opencode] api_key_env names)"
        }
        NotFound => {
            "check the model name (provider/model, [runtime.opencode] model) and the provider's base URL ([runtime.opencode] base_url or opencode.json)"
        }
        RateLimited => {
            "the API is rate limiting this key: wait and retry, or run fewer agents at once"
        }
        Unavailable => {
            "the model API is down or unreachable: retry later, and check the provider's base URL and the proxy"
        }
        BadRequest => {
            "the API refused the request: check the model name, the base URL and the size of the prompt"
        }
        _ => "see the run's transcript for what opencode reported",
    };
    let message = error.data.message.unwrap_or(error.name);
    let error = RuntimeError::new(kind, NAME, message, hint);
    match status {
        Some(s) => error.with_status(s),
        None => error,
    }
}

/// The session id every event carries.
#[derive(Deserialize)]
struct Session {
    #[serde(rename = "sessionID")]
    session_id: Option<String>,
}

/// One line of `--format json`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    StepStart,
    Text {
        part: TextPart,
    },
    ToolUse {
        part: ToolPart,
    },
    StepFinish {
        part: StepPart,
    },
    Error {
        error: Failure,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct TextPart {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct ToolPart {
    tool: String,
    #[serde(rename = "callID")]
    call_id: String,
    state: ToolState,
}

#[derive(Deserialize)]
struct ToolState {
    #[serde(default)]
    status: String,
    #[serde(default)]
    input: Value,
    output: Option<String>,
    error: Option<String>,
    metadata: Option<ToolMetadata>,
}

#[derive(Deserialize)]
struct ToolMetadata {
    /// `write`: whether the file existed before.
    exists: Option<bool>,
    filepath: Option<PathBuf>,
}

/// The path argument of the file tools.
#[derive(Deserialize)]
struct PathInput {
    #[serde(rename = "filePath")]
    file_path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct StepPart {
    #[serde(default)]
    reason: String,
    tokens: Option<Tokens>,
    cost: Option<f64>,
}

/// A step's tokens (`input` without the cache; reasoning counted apart from output).
#[derive(Deserialize)]
struct Tokens {
    #[serde(default)]
    input: u64,
    #[serde(default)]
    output: u64,
    #[serde(default)]
    reasoning: u64,
    #[serde(default)]
    cache: Cache,
}

#[derive(Deserialize, Default)]
struct Cache {
    #[serde(default)]
    read: u64,
    #[serde(default)]
    write: u64,
}

#[derive(Deserialize)]
struct Failure {
    #[serde(default)]
    name: String,
    #[serde(default)]
    data: FailureData,
}

#[derive(Deserialize, Default)]
struct FailureData {
    message: Option<String>,
    #[serde(rename = "statusCode")]
    status_code: Option<u16>,
}

/// Reads one run's `--format json` output.
#[derive(Default)]
struct OpenCodeParser {
    session: Option<String>,
    last_text: String,
    /// The last word on how the run went: a step that stopped, or an error.
    end: Option<Result<FinalResult, RuntimeError>>,
}

impl StreamParser for OpenCodeParser {
    fn line(&mut self, line: &str) -> Result<Vec<AgentEvent>, RuntimeError> {
        let Ok(parsed) = serde_json::from_str::<Line>(line) else { return Ok(Vec::new()) };
        let mut events = Vec::new();
        if self.session.is_none()
            && let Ok(Session { session_id: Some(id) }) = serde_json::from_str(line)
        {
            self.session = Some(id.clone());
            events.push(AgentEvent::SessionStarted { session_id: id, model: None });
        }
        match parsed {
            Line::StepStart => {
                // Another step follows a `stop`: the run is not over after all.
                if matches!(self.end, Some(Ok(_))) {
                    self.end = None;
                }
            }
            Line::Text { part } if !part.text.is_empty() => {
                self.last_text = part.text.clone();
                events.push(AgentEvent::AssistantText { text: part.text });
            }
            Line::ToolUse { part } => events.extend(tool_events(part)),
            Line::StepFinish { part } => events.extend(self.step_finish(part)),
            Line::Error { error } => self.end = Some(Err(run_error(error))),
            Line::Text { .. } | Line::Other => {}
        }
        Ok(events)
    }

    fn reported_end(&self) -> bool {
        matches!(self.end, Some(Ok(_)))
    }

    fn finish(&mut self, _exit_code: Option<i32>) -> Result<StreamEnd, RuntimeError> {
        super::stream_end(self.end.take())
    }
}

impl OpenCodeParser {
    fn step_finish(&mut self, part: StepPart) -> Option<AgentEvent> {
        if part.reason == "stop" {
            let resume = self.session.clone().map(|session_id| ResumeHandle::new(NAME, session_id));
            self.end =
                Some(Ok(FinalResult { success: true, text: self.last_text.clone(), resume }));
        }
        let tokens = part.tokens?;
        let usage = Usage {
            input_tokens: tokens.input,
            output_tokens: tokens.output + tokens.reasoning,
            cache_read_tokens: tokens.cache.read,
            cache_write_tokens: tokens.cache.write,
            cost_usd: part.cost,
        };
        (usage.total_tokens() + usage.cache_read_tokens > 0).then_some(AgentEvent::Usage(usage))
    }
}

/// A finished tool: its call, its result, and the file it wrote.
fn tool_events(part: ToolPart) -> Vec<AgentEvent> {
    let state = part.state;
    let is_error = match state.status.as_str() {
        "completed" => false,
        "error" => true,
        _ => return Vec::new(), // pending or running: reported again when done
    };
    let id = part.call_id;
    let change = if is_error { None } else { file_change(&part.tool, &state) };
    let output = if is_error { state.error } else { state.output };
    let mut events = vec![
        AgentEvent::ToolCall { id: id.clone(), name: part.tool, input: state.input },
        AgentEvent::ToolResult { id, output: output.unwrap_or_default(), is_error },
    ];
    events.extend(change);
    events
}

fn file_change(tool: &str, state: &ToolState) -> Option<AgentEvent> {
    let exists = state.metadata.as_ref().and_then(|m| m.exists);
    let kind = match (tool, exists) {
        ("write", Some(false)) => FileChangeKind::Added,
        ("write", Some(true)) => FileChangeKind::Modified,
        ("write", None) => FileChangeKind::Written,
        ("edit" | "multiedit", _) => FileChangeKind::Modified,
        _ => return None,
    };
    let from_input = PathInput::deserialize(&state.input).ok().and_then(|p| p.file_path);
    let path = from_input.or_else(|| state.metadata.as_ref()?.filepath.clone())?;
    Some(AgentEvent::FileChange { path, kind })
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

    fn env<'a>(cmd: &'a CliCommand, name: &str) -> Option<&'a str> {
        cmd.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn parse(lines: &[&str]) -> (Vec<AgentEvent>, Result<StreamEnd, RuntimeError>) {
        let mut parser = OpenCode.parser(&AgentTask::new("", "."));
        let events = lines.iter().flat_map(|l| parser.line(l).unwrap()).collect();
        (events, parser.finish(Some(0)))
    }

    fn words(args: &[OsString]) -> Vec<&str> {
        args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn command_per_sandbox_class() {
        for (class, permission) in [
            (SandboxClass::ReadOnly, r#"{"edit":"deny","bash":"deny","webfetch":"ask"}"#),
            (SandboxClass::WorkspaceWrite, r#"{"edit":"allow","bash":"allow","webfetch":"ask"}"#),
            (
                SandboxClass::Unrestricted,
                r#"{"edit":"allow","bash":"allow","webfetch":"allow","external_directory":"allow"}"#,
            ),
        ] {
            let cmd = OpenCode
                .command(&task(class), &CliSettings::default(), &Default::default())
                .unwrap();
            assert_eq!(args(&cmd), ["run", "--format", "json", "fix", "the", "bug"]);
            assert_eq!(env(&cmd, "OPENCODE_PERMISSION"), Some(permission));
            assert_eq!(env(&cmd, "OPENCODE_DISABLE_AUTOUPDATE"), Some("1"));
            assert_eq!(env(&cmd, "OPENCODE_CONFIG_CONTENT"), None);
            let parsed: Value = serde_json::from_str(permission).unwrap();
            assert!(parsed.is_object());
        }
    }

    #[test]
    fn command_with_resume_model_system_prompt_and_provider() {
        let mut t = task(SandboxClass::WorkspaceWrite);
        t.resume = Some(ResumeHandle::new("opencode", "ses_1"));
        t.system_prompt = Some("Be brief.".into());
        let settings = CliSettings {
            model: Some("fake/m1".into()),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            api_key_env: Some("MY_KEY".into()),
            ..CliSettings::default()
        };
        let cmd = OpenCode.command(&t, &settings, &Default::default()).unwrap();
        assert_eq!(
            args(&cmd),
            [
                "run",
                "--format",
                "json",
                "--model",
                "fake/m1",
                "--session",
                "ses_1",
                "Be",
                "brief.\n\nfix",
                "the",
                "bug"
            ]
        );
        assert_eq!(
            env(&cmd, "OPENCODE_CONFIG_CONTENT"),
            Some(
                r#"{"provider":{"fake":{"options":{"baseURL":"http://127.0.0.1:9/v1","apiKey":"{env:MY_KEY}"}}}}"#
            )
        );
    }

    #[test]
    fn settings_that_need_a_provider_and_bad_models_are_refused() {
        let settings = CliSettings { api_key_env: Some("K".into()), ..CliSettings::default() };
        let cmd = OpenCode
            .command(&task(SandboxClass::ReadOnly), &settings, &Default::default())
            .unwrap();
        assert_eq!(env(&cmd, "OPENCODE_CONFIG_CONTENT"), None);
        let settings = CliSettings { base_url: Some("http://x".into()), ..CliSettings::default() };
        let err = OpenCode
            .command(&task(SandboxClass::ReadOnly), &settings, &Default::default())
            .unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidTask);
        assert!(err.hint.contains("opencode.json"));
        let mut t = task(SandboxClass::ReadOnly);
        t.model = Some("gpt-5".into());
        assert_eq!(
            OpenCode.command(&t, &CliSettings::default(), &Default::default()).unwrap_err().kind,
            RuntimeErrorKind::InvalidTask
        );
        let mut t = task(SandboxClass::ReadOnly);
        t.resume = Some(ResumeHandle::new("claude", "x"));
        assert_eq!(
            OpenCode.command(&t, &CliSettings::default(), &Default::default()).unwrap_err().kind,
            RuntimeErrorKind::InvalidTask
        );
    }

    #[test]
    fn message_words_rejoin_to_the_prompt() {
        // What `opencode run` does with its message arguments (the words after `--` last).
        fn rejoin(args: &[OsString]) -> String {
            let words = words(args);
            let (before, after) = match words.iter().position(|w| *w == "--") {
                Some(i) => (&words[..i], &words[i + 1..]),
                None => (&words[..], &[][..]),
            };
            before
                .iter()
                .chain(after)
                .map(|w| {
                    if w.contains(' ') {
                        format!("\"{}\"", w.replace('"', "\\\""))
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
        for prompt in
            ["fix the bug", " two  spaces ", "a\nb \"q\" 42 007", "", "x -y --z 3rd", "- item one"]
        {
            let args = message_args(prompt);
            assert_eq!(rejoin(&args), prompt, "{args:?}");
            let dash = args.iter().position(|a| a == "--").unwrap_or(args.len());
            assert!(args[..dash].iter().all(|a| !a.to_str().unwrap().starts_with('-')), "{args:?}");
            assert!(
                args[dash..].iter().all(|a| !looks_like_number(a.to_str().unwrap())),
                "{args:?}"
            );
        }
        assert_eq!(words(&message_args("- fix 3 bugs")), ["--", "- fix 3 bugs"]);
        assert_eq!(words(&message_args("go -v")), ["go", "--", "-v"]);
    }

    #[test]
    fn numbers_as_yargs_sees_them() {
        for yes in ["1", "-1", "2.5", ".5", "5.", "1e3", "1E-3", "0x1f", "007", "-0"] {
            assert!(looks_like_number(yes), "{yes}");
        }
        for no in ["", "-", ".", "e3", "1e", "0x", "1.2.3", "3rd", "v1", "--1", "1,000"] {
            assert!(!looks_like_number(no), "{no}");
        }
    }

    #[test]
    fn tools_files_usage_and_final() {
        let (events, end) = parse(&[
            r#"{"type":"step_start","sessionID":"ses_a","part":{"type":"step-start"}}"#,
            r#"{"type":"tool_use","sessionID":"ses_a","part":{"tool":"edit","callID":"c1","state":{"status":"completed","input":{"filePath":"/w/a"},"output":"ok"}}}"#,
            r#"{"type":"tool_use","sessionID":"ses_a","part":{"tool":"bash","callID":"c2","state":{"status":"error","input":{"command":"x"},"error":"rejected"}}}"#,
            r#"{"type":"tool_use","sessionID":"ses_a","part":{"tool":"write","callID":"c3","state":{"status":"running","input":{}}}}"#,
            r#"{"type":"step_finish","sessionID":"ses_a","part":{"reason":"tool-calls","tokens":{"input":10,"output":2,"reasoning":3,"cache":{"read":4,"write":5}},"cost":0.01}}"#,
            r#"{"type":"step_start","sessionID":"ses_a","part":{}}"#,
            r#"{"type":"text","sessionID":"ses_a","part":{"text":"done"}}"#,
            r#"{"type":"step_finish","sessionID":"ses_a","part":{"reason":"stop","tokens":{"input":1,"output":1},"cost":0}}"#,
        ]);
        assert_eq!(
            events[0],
            AgentEvent::SessionStarted { session_id: "ses_a".into(), model: None }
        );
        assert_eq!(
            events[2],
            AgentEvent::ToolResult { id: "c1".into(), output: "ok".into(), is_error: false }
        );
        assert_eq!(
            events[3],
            AgentEvent::FileChange { path: "/w/a".into(), kind: FileChangeKind::Modified }
        );
        assert_eq!(
            events[5],
            AgentEvent::ToolResult { id: "c2".into(), output: "rejected".into(), is_error: true }
        );
        assert_eq!(
            events[6],
            AgentEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: 5,
                cache_read_tokens: 4,
                cache_write_tokens: 5,
                cost_usd: Some(0.01)
            })
        );
        assert_eq!(events.len(), 9);
        let Ok(StreamEnd::Final(AgentEvent::Final(result))) = end else { panic!("{end:?}") };
        assert_eq!(result.text, "done");
        assert_eq!(result.resume.unwrap().session_id, "ses_a");
    }

    #[test]
    fn a_step_after_stop_reopens_the_run() {
        let (_, end) = parse(&[
            r#"{"type":"step_finish","sessionID":"s","part":{"reason":"stop"}}"#,
            r#"{"type":"step_start","sessionID":"s","part":{}}"#,
        ]);
        assert_eq!(end.unwrap(), StreamEnd::Missing);
    }

    #[test]
    fn errors_by_status_and_name() {
        let cases = [
            (
                r#""name":"APIError","data":{"message":"m","statusCode":401}"#,
                RuntimeErrorKind::Auth,
            ),
            (
                r#""name":"ProviderAuthError","data":{"providerID":"x","message":"m"}"#,
                RuntimeErrorKind::Auth,
            ),
            (
                r#""name":"APIError","data":{"message":"m","statusCode":404}"#,
                RuntimeErrorKind::NotFound,
            ),
            (
                r#""name":"APIError","data":{"message":"m","statusCode":429}"#,
                RuntimeErrorKind::RateLimited,
            ),
            (
                r#""name":"APIError","data":{"message":"m","statusCode":502}"#,
                RuntimeErrorKind::Unavailable,
            ),
            (
                r#""name":"APIError","data":{"message":"m","statusCode":400}"#,
                RuntimeErrorKind::BadRequest,
            ),
            (r#""name":"UnknownError","data":{"message":"m"}"#, RuntimeErrorKind::AgentFailed),
        ];
        for (error, kind) in cases {
            let line = format!(r#"{{"type":"error","sessionID":"s","error":{{{error}}}}}"#);
            let (events, end) = parse(&[&line]);
            assert_eq!(events.len(), 1, "the session only");
            let err = end.unwrap_err();
            assert_eq!((err.kind, err.message.as_str()), (kind, "m"), "{error}");
        }
        let (_, end) = parse(&[r#"{"type":"error","error":{"name":"MessageAbortedError"}}"#]);
        assert_eq!(end.unwrap_err().message, "MessageAbortedError");
    }

    #[test]
    fn junk_and_unknown_lines_are_ignored() {
        let (events, end) = parse(&[
            "",
            "! permission requested: bash (ls); auto-rejecting",
            "{\"type\":\"text\",\"sessionID\":\"s\",\"part\":",
            r#"{"type":"reasoning","part":{"text":"hm"}}"#,
            r#"{"type":"text","part":{}}"#,
            r#"{"type":"tool_use","part":{"tool":"x"}}"#,
        ]);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(end.unwrap(), StreamEnd::Missing);
    }
}
