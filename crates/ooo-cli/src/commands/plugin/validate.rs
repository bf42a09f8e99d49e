//! `ooo plugin validate <dir>`: every rule `install` applies to a plugin, checked
//! without installing anything or creating a home: the manifest (every schema violation,
//! or every rule), the name rules against the plugins installed in `$OUROBOROS_HOME` if
//! there is one, and, for a plugin without a build step, that its entrypoint can start.
//! Every problem is listed with its JSON pointer; warnings (what installs but will not
//! work well) go to stderr. Rendering only: the rules live in `ooo-plugin`.

use std::path::Path;
use std::process::ExitCode;

use ooo_core::home::Home;
use ooo_plugin::manager::Manager;
use ooo_plugin::manifest::{self, Manifest, ManifestError, rules};
use ooo_plugin::runnable::{self, NotRunnable};
use serde_json::json;

use crate::error::CliError;
use crate::output::{piped, stderr_line};

pub fn run(path: &Path, json_out: bool) -> Result<ExitCode, CliError> {
    let (m, problems) = check(path);
    match m {
        Some(m) if problems.is_empty() => valid(&m, json_out),
        _ if json_out => {
            let report = json!({
                "valid": false,
                "problems": problems.iter().map(problem_json).collect::<Vec<_>>(),
                "error": problems.first().map(problem_json),
            });
            piped(|out| Ok(writeln!(out, "{report}")?))?;
            Ok(ExitCode::from(1))
        }
        _ => Err(refusal(path, &problems)),
    }
}

/// The manifest (when it could be read as one) and every problem install would refuse.
fn check(path: &Path) -> (Option<Manifest>, Vec<ManifestError>) {
    let (bytes, file) = match manifest::read(path) {
        Ok(read) => read,
        Err(e) => return (None, vec![e]),
    };
    let (m, mut problems) = manifest::problems(&bytes, &file);
    let Some(m) = m else { return (None, problems) };
    // The name rules need the installed plugins: those of an existing home, read only.
    let home = Home::locate_from_env().ok().filter(|root| root.is_dir());
    if let Some(home) = home.and_then(|root| Home::prepare(root).ok()) {
        let manager = Manager::new(home, super::reserved_names());
        let installed = manager.installed().unwrap_or_default();
        problems.extend(manager.install_problems(&m, &installed, &file));
    }
    // Without a build step, the entrypoint must be there already.
    if m.build().is_none() {
        let dir = file.parent().unwrap_or(Path::new("."));
        for (pointer, problem) in runnable::problems(&m, dir) {
            problems.push(not_runnable(&file, &pointer, problem));
        }
    }
    (Some(m), problems)
}

fn not_runnable(file: &Path, pointer: &str, problem: NotRunnable) -> ManifestError {
    let (message, expected, path) = match problem {
        NotRunnable::Missing { what, path } => (
            format!("the {what} does not exist"),
            "a file in the plugin (build it, or declare x-ouroboros.build)",
            path,
        ),
        NotRunnable::NotExecutable { what, path } => {
            (format!("the {what} is not executable"), "an executable file (chmod +x)", path)
        }
    };
    ManifestError {
        file: file.to_owned(),
        pointer: Some(pointer.to_owned()),
        message,
        expected: expected.to_owned(),
        found: path,
    }
}

fn problem_json(e: &ManifestError) -> serde_json::Value {
    json!({"file": e.file.display().to_string(), "pointer": e.pointer, "message": e.message, "expected": e.expected, "found": e.found})
}

/// One line per problem: `<pointer>: <message>; expected ..., found ...`.
fn problem_line(e: &ManifestError) -> String {
    let at = match e.pointer.as_deref() {
        None => String::new(),
        Some("") => "(root): ".to_owned(),
        Some(p) => format!("{p}: "),
    };
    format!("{at}{}; expected {}, found {}", e.message, e.expected, e.found)
}

fn refusal(path: &Path, problems: &[ManifestError]) -> CliError {
    let again = format!("then run `ooo plugin validate {}` again", path.display());
    let with_pointer = problems.iter().any(|p| p.pointer.is_some());
    let hint = match (problems.len(), with_pointer) {
        (1, true) => format!("fix the manifest at that JSON pointer, {again}"),
        (_, true) => format!("fix each at its JSON pointer, {again}"),
        (_, false) => format!("make it a readable JSON file with a manifest object, {again}"),
    };
    let message = match problems {
        [one] => one.to_string(),
        many => {
            let file = many.first().map(|p| p.file.display().to_string()).unwrap_or_default();
            let lines: Vec<String> =
                many.iter().map(|p| format!("\n  {}", problem_line(p))).collect();
            format!("{file} has {} problems:{}", many.len(), lines.concat())
        }
    };
    CliError::new(message).hint(hint)
}

fn valid(m: &Manifest, json_out: bool) -> Result<ExitCode, CliError> {
    let warnings: Vec<(String, String)> = rules::warnings(m)
        .into_iter()
        .filter(|(_, msg)| !msg.contains("install refuses"))
        .collect();
    piped(|out| {
        if json_out {
            let report = json!({
                "valid": true, "name": m.name, "version": m.version, "schema_version": m.schema_version,
                "namespace": m.namespace(),
                "commands": m.commands.iter().map(|c| &c.name).collect::<Vec<_>>(),
                "build": m.build(),
                "warnings": warnings.iter().map(|(p, msg)| json!({"pointer": p, "message": msg})).collect::<Vec<_>>(),
            });
            writeln!(out, "{report}")?;
        } else {
            for (pointer, message) in &warnings {
                stderr_line(&format!("warning: {pointer}: {message}"));
            }
            writeln!(
                out,
                "ok: {} {} (schema {}), {} command(s) in namespace {}",
                m.name,
                m.version,
                m.schema_version,
                m.commands.len(),
                m.namespace()
            )?;
            if let Some(b) = m.build() {
                let network =
                    if b.network.is_empty() { "none".to_owned() } else { b.network.join(", ") };
                writeln!(out, "built at install with `{}` (network: {network})", b.command)?;
            }
        }
        Ok(())
    })
}
