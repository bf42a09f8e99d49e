//! Any agent CLI as an [`LlmProvider`], so a user who has only a subscription CLI can
//! still run interviews and planning calls. A completion is one read-only agent run in
//! an empty scratch directory: the messages become the prompt, structured output is
//! asked for by instruction, then extracted and validated. What does not live here: the
//! HTTP providers, which have native JSON modes.

use std::path::PathBuf;
use std::time::Duration;

use ooo_core::runtime::{
    AgentEvent, AgentRuntime, AgentTask, Completion, CompletionOutput, CompletionRequest,
    LlmProvider, Role, RunLimits, RuntimeError, RuntimeErrorKind, SandboxClass, Usage,
};

use super::CliRuntime;
use crate::structured;

/// A CLI answering completions.
pub struct CliProvider {
    runtime: CliRuntime,
    /// Where the scratch directories of the calls are made.
    scratch_parent: PathBuf,
    limits: RunLimits,
}

impl CliProvider {
    pub fn new(runtime: CliRuntime) -> Self {
        CliProvider {
            runtime,
            scratch_parent: std::env::temp_dir(),
            limits: RunLimits {
                idle: Duration::from_secs(300),
                wall_clock: Duration::from_secs(900),
            },
        }
    }

    pub fn with_limits(mut self, limits: RunLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_scratch_parent(mut self, dir: PathBuf) -> Self {
        self.scratch_parent = dir;
        self
    }
}

/// The messages as one prompt; the system message becomes the task's system prompt.
fn render(request: &CompletionRequest) -> (Option<String>, String) {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let turns: Vec<&_> = request.messages.iter().filter(|m| m.role != Role::System).collect();
    let mut prompt = match turns.as_slice() {
        [only] => only.content.clone(),
        _ => turns
            .iter()
            .map(|m| {
                let who = if m.role == Role::User { "User" } else { "Assistant" };
                format!("{who}: {}", m.content)
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
    };
    if let Some(s) = &request.structured {
        prompt.push_str("\n\n");
        prompt.push_str(&structured::instructions(&s.schema));
    }
    prompt.push_str("\n\nAnswer directly; do not use any tool.");
    ((!system.is_empty()).then(|| system.join("\n\n")), prompt)
}

impl LlmProvider for CliProvider {
    fn name(&self) -> &str {
        self.runtime.name()
    }

    fn complete(&self, request: &CompletionRequest) -> Result<Completion, RuntimeError> {
        let name = self.runtime.name().to_owned();
        let scratch = tempfile_dir(&self.scratch_parent, &name)?;
        let (system_prompt, prompt) = render(request);
        let task = AgentTask {
            prompt,
            cwd: scratch.clone(),
            sandbox: SandboxClass::ReadOnly,
            model: request.model.clone(),
            system_prompt,
            resume: None,
            limits: self.limits,
        };
        let result = collect(&self.runtime, task);
        let _ = std::fs::remove_dir_all(&scratch);
        let (text, usage, model) = result?;
        let output = match &request.structured {
            Some(s) => {
                CompletionOutput::Json(structured::parse_and_validate(&name, &s.schema, &text)?)
            }
            None => CompletionOutput::Text(text.clone()),
        };
        Ok(Completion {
            output,
            raw_text: text,
            usage,
            model: model.or_else(|| request.model.clone()).unwrap_or_else(|| name.clone()),
        })
    }
}

/// Run the task to its end: the final text, the summed usage, the model reported.
fn collect(
    runtime: &CliRuntime,
    task: AgentTask,
) -> Result<(String, Usage, Option<String>), RuntimeError> {
    let mut run = runtime.start(task)?;
    let (mut usage, mut model, mut streamed) = (Usage::default(), None, String::new());
    while let Some(event) = run.next_event()? {
        match event {
            AgentEvent::SessionStarted { model: m, .. } => model = m.or(model),
            AgentEvent::AssistantText { text } => streamed.push_str(&text),
            AgentEvent::Usage(u) => usage.add(&u),
            AgentEvent::Final(f) if !f.success => {
                return Err(RuntimeError::new(
                    RuntimeErrorKind::AgentFailed,
                    runtime.name(),
                    format!("the CLI reported a failure: {}", f.text),
                    format!("run `ooo runtime check {}` to see whether it works", runtime.name()),
                ));
            }
            AgentEvent::Final(f) => {
                let text = if f.text.trim().is_empty() { streamed.clone() } else { f.text };
                return Ok((text, usage, model));
            }
            _ => {}
        }
    }
    Err(RuntimeError::new(
        RuntimeErrorKind::NoResult,
        runtime.name(),
        "the CLI ended without a result",
        "run the CLI by hand to see its error",
    ))
}

fn tempfile_dir(parent: &std::path::Path, name: &str) -> Result<PathBuf, RuntimeError> {
    let dir = parent.join(format!("ooo-{name}-completion-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::Io,
            name,
            format!("cannot create the scratch directory {}: {e}", dir.display()),
            "check that the temporary directory is writable (TMPDIR)",
        )
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use ooo_core::runtime::{Message, StructuredOutput};

    use super::*;

    #[test]
    fn one_user_message_is_the_prompt_and_system_goes_apart() {
        let req = CompletionRequest::new(vec![Message::system("be brief"), Message::user("hi")]);
        let (system, prompt) = render(&req);
        assert_eq!(system.as_deref(), Some("be brief"));
        assert!(prompt.starts_with("hi\n\n"));
    }

    #[test]
    fn a_conversation_is_labelled_and_a_schema_is_asked_for() {
        let mut req = CompletionRequest::new(vec![
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ]);
        req.structured = Some(StructuredOutput {
            name: "x".into(),
            schema: serde_json::json!({"type":"object"}),
        });
        let (system, prompt) = render(&req);
        assert!(system.is_none());
        assert!(prompt.starts_with("User: a\n\nAssistant: b\n\nUser: c"));
        assert!(prompt.contains("JSON Schema"));
    }
}
