//! Scaffolding a new plugin (`ooo plugin create`) and checking a plugin directory
//! against the contract offline (`ooo plugin test-contract`): the manifest loads, the
//! entrypoint starts, and every command answers `--help`, each run sandboxed and
//! time-limited, its output kept (ooo's standard output is the report). Nothing is
//! installed or recorded.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::firewall::launch::{LaunchSpec, launch_in_background};
use crate::manifest::{self, rules};
use crate::runnable::NotRunnable;
use crate::sandbox::{self, Policy};

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

const SCRIPT: &str = r#"#!/bin/sh
# Entrypoint of the NAME plugin: `ooo NAMESPACE <command> [args...]` runs
# `./run.sh <command> [args...]` in the plugin's own directory, sandboxed.
set -eu
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  hello)
    if [ "${1:-}" = "--help" ]; then
      echo "usage: ooo NAMESPACE hello [name]"
      echo "Print a greeting (an example command: replace it with yours)."
      exit 0
    fi
    echo "hello, ${1:-world}"
    ;;
  *)
    echo "unknown command: $cmd (try: hello)" >&2
    exit 2
    ;;
esac
"#;

/// Create `<parent>/<name>/` with a manifest and a shell entrypoint that passes
/// [`test_contract`].
pub fn create(parent: &Path, name: &str) -> io::Result<std::path::PathBuf> {
    let valid = (3..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{name:?} is not a plugin name: use 3-64 lowercase letters, digits or '-', not at the ends"
            ),
        ));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists", dir.display()),
        ));
    }
    let namespace = name.to_owned();
    let manifest = json!({
        "schema_version": "0.6",
        "name": name,
        "version": "0.1.0",
        "description": format!("The {name} plugin."),
        "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
        "commands": [{
            "namespace": namespace,
            "name": "hello",
            "summary": "Print a greeting",
            "usage": format!("ooo {namespace} hello [name]"),
            "risk": "read_only",
            "permissions": [format!("{name}:run")],
            "timeout_seconds": 30
        }],
        "capabilities": [],
        "permissions": [{"scope": format!("{name}:run"), "risk": "read_only", "required": true, "reason": "run its commands"}],
        "entrypoint": {"type": "command", "command": "./run.sh"}
    });
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join(manifest::MANIFEST_FILE),
        serde_json::to_string_pretty(&manifest).map_err(io::Error::other)? + "\n",
    )?;
    let script = SCRIPT.replace("NAMESPACE", &namespace).replace("NAME", name);
    fs::write(dir.join("run.sh"), script)?;
    fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// The checks (pass or fail) and notes (information) of a contract test.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// Check a plugin directory offline. `scratch` is a writable directory for the runs.
pub fn test_contract(dir: &Path, scratch: &Path) -> Report {
    let mut checks = Vec::new();
    let mut notes = Vec::new();
    let dir = &dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mut push =
        |name: &str, ok: bool, detail: String| checks.push(Check { name: name.into(), ok, detail });
    let m = match manifest::load(dir) {
        Ok((m, _)) => {
            push(
                "manifest",
                true,
                format!("{} {} (schema {})", m.name, m.version, m.schema_version),
            );
            m
        }
        Err(e) => {
            push("manifest", false, e.to_string());
            return Report { checks, notes };
        }
    };
    let warnings = rules::warnings(&m);
    push(
        "manifest rules",
        warnings.is_empty(),
        warnings.iter().map(|(p, w)| format!("{p}: {w}")).collect::<Vec<_>>().join("; "),
    );
    let Some(words) = rules::entrypoint_words(&m.entrypoint.command) else {
        push("entrypoint", false, "does not split into words".into());
        return Report { checks, notes };
    };
    if let Err(problem) = crate::runnable::check(&m, dir) {
        let (NotRunnable::Missing { path, .. } | NotRunnable::NotExecutable { path, .. }) =
            &problem;
        let detail = match (&problem, m.build()) {
            (NotRunnable::Missing { .. }, Some(b)) => format!(
                "{path} does not exist: it is built by `{}`; run that in {} first",
                b.command,
                dir.display()
            ),
            (NotRunnable::Missing { .. }, None) => format!("{path} does not exist"),
            (NotRunnable::NotExecutable { .. }, _) => {
                format!("{path} is not executable (chmod +x)")
            }
        };
        push("entrypoint", false, detail);
        return Report { checks, notes };
    }
    let program = if words[0].contains('/') && !words[0].starts_with('/') {
        dir.join(&words[0]).into_os_string()
    } else {
        words[0].clone().into()
    };
    let _ = fs::create_dir_all(scratch);
    let policy =
        Policy { read: vec![dir.to_owned()], write: vec![scratch.to_owned()], ..Policy::default() };
    // The plugin's code runs here: in the full sandbox, as every plugin command does.
    let sandbox = match sandbox::Sandbox::new(sandbox::Mode::Require) {
        Ok(s) => s,
        Err(e) => {
            push("sandbox", false, format!("{e} (hint: {})", e.hint()));
            return Report { checks, notes };
        }
    };
    let mut all_used: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for command in &m.commands {
        let mut args: Vec<String> = words[1..].to_vec();
        args.push(command.name.clone());
        args.push("--help".into());
        let spec = LaunchSpec {
            program: program.clone(),
            args,
            cwd: dir.to_owned(),
            env: vec![
                ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
                ("HOME".into(), scratch.display().to_string()),
                ("TMPDIR".into(), scratch.display().to_string()),
            ],
            timeout: Duration::from_secs(10),
            grace: Duration::from_secs(1),
        };
        // A channel to a scratch ledger: what the command asks of the core is observed.
        let channel = dry_run_channel(&m, scratch);
        let mut spec = spec;
        if channel.is_some() {
            spec.env.push((ooo_channel::CORE_FD_ENV.into(), ooo_channel::CORE_FD.to_string()));
        }
        let confined = match sandbox::confine(&sandbox, &policy, &spec, channel.is_some(), false) {
            Ok(c) => c,
            Err(e) => {
                push(&format!("{} --help", command.name), false, format!("sandbox: {e}"));
                continue;
            }
        };
        let (done, refused) = match channel {
            Some((channel, theirs)) => {
                let (done, _) = launch_in_background(&spec, confined, Some(theirs), false);
                let (used, refused) = channel.finish_report();
                all_used.extend(used);
                (done, refused)
            }
            None => (launch_in_background(&spec, confined, None, false).0, Vec::new()),
        };
        let ok = done.ended.exit_code() == 0 && done.stdout.as_ref().is_none_or(|s| s.bytes > 0);
        push(&format!("{} --help", command.name), ok, done.ended.to_string());
        if !refused.is_empty() {
            push(
                &format!("{} uses only declared capabilities", command.name),
                false,
                format!("asked for undeclared tools: {}", refused.join(", ")),
            );
        }
    }
    let declared: Vec<String> =
        m.capabilities.iter().map(|c| format!("{}:{}", c.name, c.access)).collect();
    let unused: Vec<&String> = declared.iter().filter(|d| !all_used.contains(*d)).collect();
    if !unused.is_empty() {
        let list = unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        notes.push(format!(
            "declared but not used by any `--help` dry run (fine if real runs use them): {list}"
        ));
    }
    Report { checks, notes }
}

/// A capability server on a scratch ledger for one dry run, and the plugin's end.
fn dry_run_channel(
    m: &manifest::Manifest,
    scratch: &Path,
) -> Option<(ooo_mcp::capability::Channel, std::os::fd::OwnedFd)> {
    let session = ooo_mcp::capability::Session {
        plugin: m.name.clone(),
        invocation_id: "01TESTC0NTRACT000000000000".into(),
        ledger_path: scratch.join("dry-run-ledger.db"),
        seeds_dir: scratch.join("dry-run-seeds"),
        declared: crate::firewall::channel_grants(m),
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().ok()?;
    let server = ooo_mcp::capability::CapabilityServer::new(session).ok()?;
    let channel = ooo_mcp::capability::Channel::serve(server, ours).ok()?;
    Some((channel, theirs.into()))
}

/// What [`test_contract`] cannot check, said plainly rather than passed silently.
pub const NOT_CHECKED: &[&str] =
    &["capabilities a command uses only in real runs (the dry run is `<command> --help`)"];
