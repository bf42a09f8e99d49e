//! The fake model as a process, for `.ci/run` (the README's first command runs a seed
//! with a real agent CLI against it): `ooo-fake-model --script FILE --url-file FILE`.
//! It serves the replies the script lists, in order, then its fallback, until killed.
//!
//! The script is JSON: `{"replies": [R...], "fallback": R, "untooled": R}` where a reply
//! `R` is `{"text": "..."}` or `{"tool_calls": [{"name": "...", "input": {...}}, ...]}`.
//! What does not live here: the wire formats (the library).

use std::time::Duration;

use ooo_fake_model::{FakeModel, Reply};
use serde_json::Value;

fn reply(value: &Value) -> Result<Reply, String> {
    if let Some(text) = value.get("text").and_then(Value::as_str) {
        return Ok(Reply::text(text));
    }
    let calls = value
        .get("tool_calls")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("a reply needs `text` or `tool_calls`: {value}"))?;
    let mut replies = calls.iter().map(|call| {
        let name = call.get("name").and_then(Value::as_str).ok_or("a tool call needs `name`")?;
        Ok::<Reply, String>(Reply::tool_call(name, call.get("input").cloned().unwrap_or_default()))
    });
    let first = replies.next().ok_or("`tool_calls` is empty")??;
    replies.try_fold(first, |all, next| Ok(all.and(next?)))
}

fn arg(args: &[String], name: &str) -> Result<String, String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().ok_or_else(|| {
        format!("usage: ooo-fake-model --script FILE --url-file FILE (missing {name})")
    })
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let script_path = arg(&args, "--script")?;
    let url_file = arg(&args, "--url-file")?;
    let text = std::fs::read_to_string(&script_path).map_err(|e| format!("{script_path}: {e}"))?;
    let script: Value = serde_json::from_str(&text).map_err(|e| format!("{script_path}: {e}"))?;
    let fake = FakeModel::try_start().map_err(|e| format!("cannot listen: {e}"))?;
    for r in script.get("replies").and_then(Value::as_array).into_iter().flatten() {
        fake.push(reply(r)?);
    }
    if let Some(r) = script.get("fallback") {
        fake.fallback(reply(r)?);
    }
    if let Some(r) = script.get("untooled") {
        fake.on_untooled(reply(r)?);
    }
    std::fs::write(&url_file, fake.base_url()).map_err(|e| format!("{url_file}: {e}"))?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ooo-fake-model: {e}");
        std::process::exit(2);
    }
}
