//! `ooo runtime list | check`: what agent runtimes this machine has, which one is the
//! default and why, and whether one really answers.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ooo_core::config::Config;
use ooo_core::ledger::{Actor, AggregateRef};
use ooo_core::runtime::{
    AgentEvent, AgentRuntime, AgentTask, CompletionOutput, CompletionRequest, LlmProvider, Message,
    RunLimits, RuntimeError, SandboxClass, Usage,
};
use ooo_runtime::env::{caller_env, secret_values};
use ooo_runtime::journal::{
    JournalErrorHandler, JournaledProvider, JournaledRuntime, LedgerJournal, RuntimeInfo,
};
use ooo_runtime::registry::{CLI_NAMES, Candidate, Registry, Selection};
use serde_json::json;

use super::{home, open_ledger};
use crate::cli::RuntimeCommand;
use crate::error::CliError;
use crate::output::{piped, stderr_line};

/// The reply `check` asks for.
pub const CHECK_REPLY: &str = "OOO-RUNTIME-OK";

pub fn run(cmd: RuntimeCommand) -> Result<ExitCode, CliError> {
    match cmd {
        RuntimeCommand::List { runtime, json } => list(runtime.as_deref(), json),
        RuntimeCommand::Check { name, timeout, json } => {
            check(name.as_deref(), Duration::from_secs(timeout), json)
        }
    }
}

/// The registry over this home's configuration and this process's environment.
pub fn registry() -> Result<Registry, CliError> {
    let path = home()?.config_toml();
    let config = Config::load(&path)?;
    Ok(Registry::new(config, caller_env()))
}

fn list(flag: Option<&str>, json: bool) -> Result<ExitCode, CliError> {
    let registry = registry()?;
    let candidates = registry.list();
    let selection = registry.select(flag, &candidates);
    if json {
        let (default, error) = match &selection {
            Ok(s) => (json!(s), json!(null)),
            Err(e) => (
                json!(null),
                json!({"kind": e.kind.as_str(), "message": e.message, "hint": e.hint}),
            ),
        };
        let doc = json!({"runtimes": candidates, "default": default, "error": error});
        return piped(|out| Ok(writeln!(out, "{doc}")?));
    }
    let text = render_list(&candidates, selection.as_ref().ok());
    piped(|out| Ok(out.write_all(text.as_bytes())?))?;
    match selection {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

fn render_list(candidates: &[Candidate], selection: Option<&Selection>) -> String {
    let mut out = String::new();
    let width = candidates.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
    for c in candidates {
        let mark = if selection.is_some_and(|s| s.name == c.name) { "*" } else { " " };
        let kind = match c.runtime_type {
            ooo_runtime::registry::RuntimeType::Cli => "agent cli",
            ooo_runtime::registry::RuntimeType::Http => "http api ",
        };
        let state = if c.available {
            let what = [c.version.as_deref(), c.location.as_deref()];
            what.iter().flatten().copied().collect::<Vec<_>>().join("  ")
        } else {
            format!("unavailable: {}", c.problem.as_deref().unwrap_or("unknown"))
        };
        out.push_str(&format!("{mark} {:width$}  {kind}  {state}\n", c.name));
    }
    if let Some(s) = selection {
        out.push_str(&format!("\ndefault: {} ({})\n", s.name, s.reason));
    }
    out
}

/// What a check found.
#[derive(Debug, serde::Serialize)]
struct CheckReport {
    runtime: String,
    ok: bool,
    latency_ms: u64,
    reply: String,
    model: Option<String>,
    usage: Usage,
}

fn check(name: Option<&str>, timeout: Duration, json: bool) -> Result<ExitCode, CliError> {
    let registry = registry()?;
    let candidate = check_target(&registry, name)?;
    let name = candidate.name.clone();
    if let (false, Some(problem)) = (candidate.available, &candidate.problem) {
        let err = CliError::new(format!("{name}: {problem}"));
        return Err(match &candidate.hint {
            Some(h) => err.hint(h),
            None => err,
        });
    }
    let report = round_trip(&registry, &name, candidate.version, timeout)?;
    print_report(&report, json)?;
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::new(format!("{name} replied {:?} instead of {CHECK_REPLY}", report.reply))
            .hint("the model answered but did not follow the instruction; try another model ([runtime.<name>] model in config.toml)"))
    }
}

/// The runtime named, or the default one, probed once; an unknown name is refused with
/// the list.
fn check_target(registry: &Registry, name: Option<&str>) -> Result<Candidate, CliError> {
    let Some(name) = name else {
        // Choosing the default probes every runtime: keep the chosen one's probe.
        let candidates = registry.list();
        let chosen = registry.select(None, &candidates)?.name;
        return candidates
            .into_iter()
            .find(|c| c.name == chosen)
            .map_or_else(|| Ok(registry.probe(&chosen)?), Ok);
    };
    if !registry.is_known(name) {
        return Err(registry
            .select(Some(name), &[])
            .err()
            .map_or_else(|| CliError::new("unknown runtime"), Into::into));
    }
    Ok(registry.probe(name)?)
}

/// Ask `name` for the fixed reply, journaled under a new `runtime_check` aggregate.
fn round_trip(
    registry: &Registry,
    name: &str,
    version: Option<String>,
    timeout: Duration,
) -> Result<CheckReport, CliError> {
    let aggregate = AggregateRef::new("runtime_check", &ulid::Ulid::new().to_string())?;
    let journal =
        Arc::new(LedgerJournal::new(Box::new(open_ledger()?), aggregate, Actor::program("ooo")?));
    let info = RuntimeInfo {
        version,
        launcher: Some("direct".into()),
        secrets: secret_values(&caller_env()),
    };
    let warn: JournalErrorHandler =
        Arc::new(|e: &RuntimeError| stderr_line(&format!("warning: not journaled: {}", e.message)));
    let started = Instant::now();
    let outcome = if CLI_NAMES.contains(&name) {
        let runtime = JournaledRuntime::new(Arc::new(registry.cli_runtime(name)?), journal, info)
            .on_journal_error(warn);
        check_agent(&runtime, timeout)
    } else {
        let provider =
            JournaledProvider::new(registry.provider_bounded(name, Some(timeout))?, journal, info)
                .on_journal_error(warn);
        check_provider(&provider)
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    let (reply, model, usage) = outcome?;
    Ok(CheckReport {
        ok: reply.contains(CHECK_REPLY),
        runtime: name.to_owned(),
        latency_ms,
        reply,
        model,
        usage,
    })
}

fn print_report(report: &CheckReport, json: bool) -> Result<(), CliError> {
    if json {
        return piped(|out| Ok(writeln!(out, "{}", json!(report))?)).map(|_| ());
    }
    let verdict = if report.ok { "ok" } else { "answered, but not with the expected reply" };
    let line = format!(
        "{}: {verdict} in {} ms ({})\n",
        report.runtime,
        report.latency_ms,
        report.model.as_deref().unwrap_or("model not reported")
    );
    piped(|out| Ok(out.write_all(line.as_bytes())?)).map(|_| ())
}

fn check_prompt() -> String {
    format!("Reply with exactly {CHECK_REPLY} and nothing else. Do not use any tool.")
}

fn check_agent(
    runtime: &dyn AgentRuntime,
    timeout: Duration,
) -> Result<(String, Option<String>, Usage), RuntimeError> {
    let scratch = tempfile::tempdir().map_err(|e| {
        RuntimeError::new(
            ooo_core::runtime::RuntimeErrorKind::Io,
            runtime.name(),
            format!("cannot create a scratch directory: {e}"),
            "check TMPDIR",
        )
    })?;
    let mut task = AgentTask::new(check_prompt(), scratch.path());
    task.sandbox = SandboxClass::ReadOnly;
    task.limits = RunLimits { idle: timeout, wall_clock: timeout };
    let mut run = runtime.start(task)?;
    let (mut model, mut usage, mut text) = (None, Usage::default(), String::new());
    while let Some(event) = run.next_event()? {
        match event {
            AgentEvent::SessionStarted { model: m, .. } => model = m,
            AgentEvent::AssistantText { text: t } => text.push_str(&t),
            AgentEvent::Usage(u) => usage.add(&u),
            AgentEvent::Final(f) if !f.text.is_empty() => text = f.text,
            _ => {}
        }
    }
    Ok((text.trim().to_owned(), model, usage))
}

fn check_provider(
    provider: &dyn LlmProvider,
) -> Result<(String, Option<String>, Usage), RuntimeError> {
    let mut request = CompletionRequest::new(vec![Message::user(check_prompt())]);
    request.max_tokens = Some(32);
    request.temperature = Some(0.0);
    let c = provider.complete(&request)?;
    let text = match c.output {
        CompletionOutput::Text(t) => t,
        CompletionOutput::Json(v) => v.to_string(),
    };
    Ok((text.trim().to_owned(), Some(c.model), c.usage))
}
