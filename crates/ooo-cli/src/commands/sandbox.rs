//! `ooo sandbox run | check`: run a command in the sandbox plugins get, and say what
//! this machine can enforce. The sandbox itself is `ooo-sandbox`; this file only turns
//! flags into a policy and reports.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ooo_core::config::Config;
use ooo_sandbox::{HostRule, Network, Policy, Sandbox, Support, Terminal};
use serde_json::json;

use super::home;
use crate::cli::{SandboxCommand, SandboxRunArgs};
use crate::error::CliError;
use crate::output::{piped, stderr_line};

/// Variables passed without `--env`: enough to run a program, nothing secret.
const PASSED: &[&str] = &["PATH", "TERM", "LANG", "TZ", "COLORTERM", "NO_COLOR"];

pub fn run(cmd: SandboxCommand) -> Result<ExitCode, CliError> {
    match cmd {
        SandboxCommand::Run(args) => run_command(args),
        SandboxCommand::Check { json } => check(json),
    }
}

fn sandbox() -> Result<Sandbox, CliError> {
    let config = Config::load(&home()?.config_toml())?;
    Ok(Sandbox::new(ooo_plugin::sandbox::mode(config.sandbox))?)
}

fn absolute(path: &std::path::Path) -> Result<std::path::PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| CliError::new(format!("{}: {e}", path.display())))
}

fn policy(args: &SandboxRunArgs) -> Result<Policy, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::new(format!("the current directory: {e}")))?;
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| PASSED.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect();
    for name in &args.env {
        match std::env::var(name) {
            Ok(value) => env.push((name.clone(), value)),
            Err(_) => {
                return Err(CliError::new(format!("--env {name}: not set in your environment"))
                    .hint("set it, or leave the --env out")
                    .code(2));
            }
        }
    }
    env.push(("HOME".into(), "/tmp".into()));
    let rules = args
        .net
        .iter()
        .map(|h| HostRule::parse(h).map_err(|e| CliError::new(format!("--net {e}")).code(2)))
        .collect::<Result<Vec<_>, _>>()?;
    let write = args.write.iter().map(|p| absolute(p)).collect::<Result<Vec<_>, _>>()?;
    let mut read = vec![cwd.clone()];
    for p in &args.read {
        read.push(absolute(p)?);
    }
    Ok(Policy {
        read,
        write,
        cwd,
        env,
        network: if rules.is_empty() { Network::None } else { Network::Hosts(rules) },
        terminal: if std::io::stdin().is_terminal() { Terminal::Inherit } else { Terminal::None },
        ..Policy::default()
    })
}

fn run_command(args: SandboxRunArgs) -> Result<ExitCode, CliError> {
    let sandbox = sandbox()?;
    let policy = policy(&args)?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let rest: Vec<OsString> = rest.to_vec();
    let mut confined = sandbox.command(policy, program, &rest)?;
    if let ooo_sandbox::Level::Partial(_) = &confined.level {
        stderr_line(&format!("ooo: sandbox: {}", confined.level));
    }
    let mut child = confined
        .command
        .spawn()
        .map_err(|e| CliError::new(format!("cannot start the sandbox: {e}")))?;
    let deadline = args.timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => return Err(CliError::new(format!("waiting for the command: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Killing bwrap ends the sandbox's pid namespace: everything in it.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    for d in confined.decisions().iter().filter(|d| !d.allowed) {
        stderr_line(&format!("ooo: sandbox: refused a connection to {}:{}", d.host, d.port));
    }
    let Some(status) = status else {
        stderr_line("ooo: sandbox: timed out; the command and everything it started were ended");
        return Ok(ExitCode::from(124));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

fn check(json: bool) -> Result<ExitCode, CliError> {
    let config = Config::load(&home()?.config_toml())?;
    let mode = ooo_plugin::sandbox::mode(config.sandbox);
    let support = Support::get();
    let missing: Vec<_> =
        support.missing.iter().map(|m| json!({"mechanism": m.name(), "fix": m.fix()})).collect();
    let usable = support.missing.is_empty() || mode == ooo_sandbox::Mode::AllowPartial;
    if json {
        let doc = json!({
            "level": support.level().to_string(),
            "mode": if mode == ooo_sandbox::Mode::Require { "require" } else { "allow-partial" },
            "bwrap": support.bwrap,
            "landlock_abi": support.landlock_abi,
            "missing": missing,
            "usable": usable,
        });
        piped(|out| Ok(writeln!(out, "{doc}")?))?;
    } else {
        let bwrap = support.bwrap.as_ref().map_or("not found".into(), |p| p.display().to_string());
        let mut text = format!(
            "level: {}\nbwrap: {bwrap}\nLandlock ABI: {}\n",
            support.level(),
            support.landlock_abi
        );
        for m in &support.missing {
            text.push_str(&format!("missing: {}\n  fix: {}\n", m.name(), m.fix()));
        }
        if !usable {
            text.push_str("nothing runs until this is fixed (config.toml: sandbox = \"require\", the default)\n");
        }
        piped(|out| Ok(write!(out, "{text}")?))?;
    }
    Ok(if usable { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
