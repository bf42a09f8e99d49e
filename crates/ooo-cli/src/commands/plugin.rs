//! `ooo plugin ...`: the plugin manager's verbs, rendered for people and for `--json`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use ooo_core::home::Home;
use ooo_core::ledger::Actor;
use ooo_plugin::build::Built;
use ooo_plugin::changes::Change;
use ooo_plugin::digest::{StatCache, tree_digest};
use ooo_plugin::manager::{InstallReport, Manager, PermissionChange, Replace, Replacing};
use serde_json::json;

use super::{home, login};

mod catalog;
mod validate;
use crate::cli::{Cli, PluginCommand};
use crate::error::CliError;
use crate::output::{piped, stderr_line};

/// Names upstream's CLI owns; a plugin taking one would be unreachable there.
const UPSTREAM_BUILTINS: &[&str] = &[
    "auto",
    "init",
    "interview",
    "seed",
    "run",
    "config",
    "status",
    "cancel",
    "codex",
    "mcp",
    "setup",
    "detect",
    "tui",
    "pm",
    "plugin",
    "resume",
    "uninstall",
    "help",
    "version",
    "monitor",
    "job",
    "artifacts",
    "harness",
    "cleanup",
    "doctor",
    "qa",
    "update",
    "workflow-ir",
    "zcode",
    "dispatch",
];

/// Every name a plugin may not take: our real command tree (with aliases) plus upstream's.
pub fn reserved_names() -> Vec<String> {
    let cli = Cli::command();
    let mut names: Vec<String> = cli
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_owned()).chain(c.get_all_aliases().map(str::to_owned))
        })
        .collect();
    names.push("help".into());
    names.extend(UPSTREAM_BUILTINS.iter().map(|s| s.to_string()));
    names.sort();
    names.dedup();
    names
}

pub fn run(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Digest { dir } => digest(&dir),
        PluginCommand::Validate { path, json } => validate::run(&path, json),
        PluginCommand::Create { name, dir } => {
            if reserved_names().contains(&name) {
                return Err(CliError::new(format!(
                    "{name:?} is a built-in ooo command; pick another name"
                )));
            }
            let parent = match dir {
                Some(d) => d,
                None => std::env::current_dir()?,
            };
            let created = ooo_plugin::contract::create(&parent, &name)
                .map_err(|e| CliError::new(e.to_string()))?;
            piped(|out| {
                writeln!(out, "created {}", created.display())?;
                writeln!(out, "check it:   ooo plugin test-contract {}", created.display())?;
                writeln!(
                    out,
                    "install it: ooo plugin install {name} --from {}",
                    created.display()
                )?;
                Ok(())
            })
        }
        PluginCommand::TestContract { dir, json } => {
            let scratch =
                std::env::temp_dir().join(format!("ooo-test-contract-{}", std::process::id()));
            let report = ooo_plugin::contract::test_contract(&dir, &scratch);
            let checks = &report.checks;
            let _ = std::fs::remove_dir_all(&scratch);
            let all_ok = checks.iter().all(|c| c.ok);
            piped(|out| {
                if json {
                    writeln!(
                        out,
                        "{}",
                        json!({"ok": all_ok, "checks": checks, "not_checked": ooo_plugin::contract::NOT_CHECKED})
                    )?;
                } else {
                    for c in checks {
                        writeln!(
                            out,
                            "{} {}{}",
                            if c.ok { "ok  " } else { "FAIL" },
                            c.name,
                            if c.detail.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", c.detail)
                            }
                        )?;
                    }
                    for n in &report.notes {
                        writeln!(out, "note: {n}")?;
                    }
                    for n in ooo_plugin::contract::NOT_CHECKED {
                        writeln!(out, "not checked: {n}")?;
                    }
                }
                Ok(())
            })?;
            Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        other => lifecycle(other),
    }
}

fn lifecycle(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    let home = home()?;
    let mut ledger = super::open_ledger()?;
    let mut manager = Manager::new(home, reserved_names());
    if std::io::stderr().is_terminal() {
        manager.show_progress = true;
        manager.progress = Some(Box::new(progress_bar()));
    }
    let actor = Actor::user(&login())?;
    for name in manager.disable_first_party_collisions(&mut ledger, &Actor::program("ooo")?)? {
        stderr_line(&format!(
            "warning: plugin {name} collides with a built-in command and was disabled"
        ));
    }
    match cmd {
        PluginCommand::Add { source, plugins, git_ref } => {
            let (entry, scan) = manager.add(&source, git_ref.as_deref())?;
            for (dir, why) in &scan.skipped {
                stderr_line(&format!("skipped {}: {why}", dir.display()));
            }
            let interactive = plugins.is_empty()
                && std::io::stdin().is_terminal()
                && std::io::stderr().is_terminal();
            let plugins = if interactive { choose(&entry.plugins)? } else { plugins };
            let mut reports = Vec::new();
            for name in &plugins {
                if !entry.plugins.contains(name) {
                    return Err(CliError::new(format!(
                        "{name} is not in {source} (it offers: {})",
                        entry.plugins.join(", ")
                    )));
                }
                reports.push(manager.install(
                    &mut ledger,
                    &actor,
                    name,
                    Some(&source),
                    git_ref.as_deref(),
                )?);
            }
            piped(|out| {
                writeln!(
                    out,
                    "registered catalog {} ({}): {}",
                    entry.location,
                    entry.kind,
                    entry.plugins.join(", ")
                )?;
                for r in &reports {
                    write_install(out, r)?;
                }
                if plugins.is_empty() {
                    writeln!(out, "install one with: ooo plugin install <name>")?;
                }
                Ok(())
            })
        }
        PluginCommand::Install { name, from, git_ref, force, json } => {
            manager.replace = if force {
                Replace::Force
            } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
                Replace::Ask(Box::new(ask_replace))
            } else {
                Replace::Refuse
            };
            let report =
                manager.install(&mut ledger, &actor, &name, from.as_deref(), git_ref.as_deref())?;
            let entry = manager.entry(&name)?;
            let required = manager
                .installed_manifest(&entry)
                .map(|m| m.required_scopes().iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap_or_default();
            piped(|out| {
                if json {
                    write_json(out, &report)?;
                } else {
                    write_install(out, &report)?;
                    if !required.is_empty() {
                        let flags: Vec<String> =
                            required.iter().map(|s| format!("--scope {s}")).collect();
                        writeln!(
                            out,
                            "not trusted yet; to allow it to run: ooo plugin trust {name} {}",
                            flags.join(" ")
                        )?;
                    }
                }
                Ok(())
            })
        }
        PluginCommand::List { json } => {
            let rows = manager.list(&ledger)?;
            piped(|out| {
                if json {
                    write_json(out, &rows)?;
                    return Ok(());
                }
                if rows.is_empty() {
                    writeln!(
                        out,
                        "no plugins installed; see `ooo plugin add` and `ooo plugin install`"
                    )?;
                    return Ok(());
                }
                let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
                writeln!(
                    out,
                    "{:<w$}  {:<9}  {:<6}  {:<9}  SCOPES",
                    "NAME", "VERSION", "SOURCE", "TRUST"
                )?;
                for r in &rows {
                    let mut scopes = if r.granted_scopes.is_empty() {
                        "(none)".to_owned()
                    } else {
                        r.granted_scopes.join(", ")
                    };
                    if !r.missing_required_scopes.is_empty() {
                        scopes.push_str(&format!(
                            "; missing: {}",
                            r.missing_required_scopes.join(", ")
                        ));
                    }
                    writeln!(
                        out,
                        "{:<w$}  {:<9}  {:<6}  {:<9}  {scopes}",
                        r.name,
                        r.version,
                        r.source_kind,
                        r.trust_state.as_str()
                    )?;
                }
                Ok(())
            })
        }
        PluginCommand::Inspect { name, json } => {
            let info = manager.inspect(&ledger, &name)?;
            piped(|out| {
                if json {
                    writeln!(out, "{info}")?;
                    return Ok(());
                }
                let s = |v: &serde_json::Value| {
                    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
                };
                writeln!(
                    out,
                    "{} {} ({})",
                    s(&info["name"]),
                    s(&info["version"]),
                    s(&info["source_kind"])
                )?;
                for key in [
                    "source_identity",
                    "artifact_digest",
                    "installed_at",
                    "plugin_home",
                    "repository",
                    "git_sha",
                    "requested_ref",
                    "trust_state",
                ] {
                    if !info[key].is_null() {
                        writeln!(out, "  {:<17} {}", format!("{key}:"), s(&info[key]))?;
                    }
                }
                let list = |v: &serde_json::Value| {
                    let items: Vec<String> =
                        v.as_array().map(|a| a.iter().map(s).collect()).unwrap_or_default();
                    if items.is_empty() { "(none)".to_owned() } else { items.join(", ") }
                };
                writeln!(out, "  {:<17} {}", "granted_scopes:", list(&info["granted_scopes"]))?;
                writeln!(
                    out,
                    "  {:<17} {}",
                    "missing_scopes:",
                    list(&info["missing_required_scopes"])
                )?;
                if !info["disabled"].is_null() {
                    writeln!(out, "  {:<17} {}", "disabled:", s(&info["disabled"]["reason"]))?;
                }
                let change = &info["last_change"];
                if !change["previous"].is_null() {
                    writeln!(
                        out,
                        "  {:<17} {} -> {}, digest {} -> {} (ledger event {})",
                        "last change:",
                        s(&change["previous"]["version"]),
                        s(&info["version"]),
                        s(&change["previous"]["artifact_digest"]),
                        s(&info["artifact_digest"]),
                        s(&change["ledger_seq"])
                    )?;
                    for (label, key) in
                        [("added", "permissions_added"), ("removed", "permissions_removed")]
                    {
                        for p in change[key].as_array().into_iter().flatten() {
                            writeln!(
                                out,
                                "    permission {label}: {} ({})",
                                s(&p["scope"]),
                                s(&p["risk"])
                            )?;
                        }
                    }
                }
                if let (Ok(b), Some(source)) = (
                    serde_json::from_value::<Built>(info["build"].clone()),
                    info["source_digest"].as_str(),
                ) {
                    write_build(out, &b, source)?;
                }
                let m = &info["manifest"];
                writeln!(out, "commands (namespace {}):", s(&m["namespace"]))?;
                for c in m["commands"].as_array().into_iter().flatten() {
                    let confirm =
                        if c["requires_confirmation"] == true { ", asks first" } else { "" };
                    writeln!(
                        out,
                        "  {:<16} {} [{}{confirm}]",
                        s(&c["name"]),
                        s(&c["summary"]),
                        s(&c["risk"])
                    )?;
                }
                writeln!(out, "permissions:")?;
                for p in m["permissions"].as_array().into_iter().flatten() {
                    let req = if p["required"] == true { "required" } else { "optional" };
                    writeln!(out, "  {:<24} {:<11} {req}", s(&p["scope"]), s(&p["risk"]))?;
                }
                writeln!(out, "capabilities:")?;
                for c in m["capabilities"].as_array().into_iter().flatten() {
                    writeln!(out, "  {:<24} {}", s(&c["name"]), s(&c["access"]))?;
                }
                Ok(())
            })
        }
        PluginCommand::Trust { name, scopes, json } => {
            let t = manager.trust(&mut ledger, &actor, &name, &scopes)?;
            piped(|out| {
                if json {
                    writeln!(
                        out,
                        "{}",
                        json!({"name": name, "granted": t.added, "already_held": t.already_held, "granted_scopes": t.granted_scopes, "recorded": t.recorded})
                    )?;
                } else if !t.recorded {
                    writeln!(
                        out,
                        "{name} already holds {}; nothing changed, nothing recorded",
                        t.already_held.join(", ")
                    )?;
                } else if t.added.is_empty() && t.granted_scopes.is_empty() {
                    writeln!(out, "{name} is enabled (it needs no scopes)")?;
                } else if t.added.is_empty() {
                    writeln!(
                        out,
                        "{name} is enabled again; it holds: {}",
                        t.granted_scopes.join(", ")
                    )?;
                } else {
                    for p in &t.added {
                        writeln!(
                            out,
                            "granted {name} {} ({}{})",
                            p.scope,
                            p.risk,
                            if p.risk == "destructive" {
                                ": can destroy or publish data"
                            } else {
                                ""
                            }
                        )?;
                    }
                    writeln!(out, "{name} now holds: {}", t.granted_scopes.join(", "))?;
                }
                Ok(())
            })
        }
        PluginCommand::Disable { name } => {
            manager.disable(&mut ledger, &actor, &name)?;
            let entry = manager.entry(&name)?;
            let scopes: String = manager
                .installed_manifest(&entry)
                .map(|m| m.required_scopes().iter().map(|s| format!(" --scope {s}")).collect())
                .unwrap_or_default();
            piped(|out| {
                Ok(writeln!(
                    out,
                    "disabled {name}; re-enable it with `ooo plugin trust {name}{scopes}`"
                )?)
            })
        }
        PluginCommand::Remove { name, purge } => {
            let state = manager.state_dir(&name);
            let removed = manager.remove(&mut ledger, &actor, &name, purge)?;
            piped(|out| {
                if !removed {
                    writeln!(
                        out,
                        "purged {name}'s state at {} (it was removed before)",
                        state.display()
                    )?;
                    return Ok(());
                }
                writeln!(
                    out,
                    "removed {name}: installed files, lockfile entry, trust and disable record (its ledger history and catalogs stay)"
                )?;
                if !purge && state.exists() {
                    writeln!(
                        out,
                        "its state is kept at {}; delete it with `ooo plugin remove {name} --purge`",
                        state.display()
                    )?;
                }
                Ok(())
            })
        }
        PluginCommand::Catalog(cmd) => catalog::run(&manager, cmd),
        PluginCommand::Search { word, json } => catalog::search(&manager, &word, json),
        PluginCommand::Update { name, git_ref, dry_run, json } => {
            let report = manager.update(&mut ledger, &actor, &name, git_ref.as_deref(), dry_run)?;
            piped(|out| {
                if json {
                    write_json(out, &report)?;
                } else {
                    write_install(out, &report)?;
                }
                Ok(())
            })
        }
        PluginCommand::Verify { name, json } => {
            let rows = manager.verify(&mut ledger, &actor, name.as_deref())?;
            let all_ok = rows.iter().all(|r| r.ok);
            piped(|out| {
                if json {
                    writeln!(out, "{}", json!({"ok": all_ok, "plugins": rows}))?;
                } else {
                    for r in &rows {
                        if r.ok {
                            writeln!(out, "ok       {}  {}", r.name, r.expected)?;
                        } else {
                            let found = r.actual.clone().or(r.detail.clone()).unwrap_or_default();
                            writeln!(
                                out,
                                "CHANGED  {}  installed {}, now {found}; its trust was withdrawn",
                                r.name, r.expected
                            )?;
                        }
                    }
                    if rows.is_empty() {
                        writeln!(out, "no plugins installed")?;
                    }
                }
                Ok(())
            })?;
            Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        PluginCommand::Log { name, json } => {
            let mut runs: Vec<serde_json::Value> = ooo_core::ledger::Store::projection_scan(
                &ledger,
                ooo_plugin::firewall::audit::RUNS,
                &format!("run:{name}/"),
            )?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
            runs.sort_by_key(|r| r["started_seq"].as_u64().unwrap_or(0));
            piped(|out| {
                if json {
                    for r in &runs {
                        writeln!(out, "{r}")?;
                    }
                    return Ok(());
                }
                if runs.is_empty() {
                    writeln!(out, "no invocations of {name} recorded")?;
                    return Ok(());
                }
                writeln!(
                    out,
                    "{:<19}  {:<14}  {:<22}  {:>4}  {:>9}  INVOCATION",
                    "STARTED (UTC)", "COMMAND", "RESULT", "EXIT", "DURATION"
                )?;
                let text = |v: &serde_json::Value| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| if v.is_null() { "-".into() } else { v.to_string() })
                };
                for r in &runs {
                    let started = text(&r["started_at"]);
                    let duration =
                        r["duration_ms"].as_str().map_or("-".to_owned(), |ms| format!("{ms} ms"));
                    writeln!(
                        out,
                        "{:<19}  {:<14}  {:<22}  {:>4}  {:>9}  {}",
                        started.get(..19).unwrap_or(&started).replacen('T', " ", 1),
                        text(&r["command"]),
                        text(&r["result"]),
                        text(&r["exit_code"]),
                        duration,
                        text(&r["invocation_id"])
                    )?;
                }
                Ok(())
            })
        }
        PluginCommand::Digest { .. }
        | PluginCommand::Validate { .. }
        | PluginCommand::Create { .. }
        | PluginCommand::TestContract { .. } => {
            unreachable!("handled in run")
        }
    }
}

/// One JSON document as a line.
fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::to_string(value).map_err(std::io::Error::other)?)
}

/// A one-line progress bar on stderr for copying and hashing, redrawn at most ten times
/// a second, and once more when the work is done.
fn progress_bar() -> impl Fn(&str, u64, u64) + Sync {
    let last = std::sync::Mutex::new(std::time::Instant::now() - std::time::Duration::from_secs(1));
    move |what, done, total| {
        let mut last = last.lock().expect("progress lock");
        if done < total && last.elapsed() < std::time::Duration::from_millis(100) {
            return;
        }
        *last = std::time::Instant::now();
        let pct = (done.saturating_mul(100)).checked_div(total).unwrap_or(100).min(100);
        let filled = (pct / 5) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{what} [{}{}] {pct:>3}% of {:.1} MB",
            "#".repeat(filled),
            " ".repeat(20 - filled),
            total as f64 / 1e6
        );
        if done >= total {
            let _ = writeln!(err);
        }
    }
}

/// Ask on the terminal whether to replace an installed plugin (default no).
fn ask_replace(r: &Replacing) -> bool {
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{r}. Replace it? [y/N] ");
        let _ = err.flush();
    }
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Ask on the terminal which of `offered` to install: numbers or names, comma or space
/// separated; an empty answer installs nothing.
fn choose(offered: &[String]) -> Result<Vec<String>, CliError> {
    for (i, name) in offered.iter().enumerate() {
        stderr_line(&format!("  {}) {name}", i + 1));
    }
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "install which? (numbers or names, empty for none): ");
        let _ = err.flush();
    }
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let mut chosen = Vec::new();
    for word in answer.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let name = match word.parse::<usize>() {
            Ok(n) if (1..=offered.len()).contains(&n) => offered[n - 1].clone(),
            _ if offered.iter().any(|o| o == word) => word.to_owned(),
            _ => return Err(CliError::new(format!("{word:?} is not one of the offered plugins"))),
        };
        if !chosen.contains(&name) {
            chosen.push(name);
        }
    }
    Ok(chosen)
}

fn write_permission_changes(
    out: &mut dyn Write,
    label: &str,
    changes: &[PermissionChange],
) -> std::io::Result<()> {
    for p in changes {
        writeln!(
            out,
            "  permission {label}: {} ({}, {})",
            p.scope,
            p.risk,
            if p.required { "required" } else { "optional" }
        )?;
    }
    Ok(())
}

/// A build step as the user reviews it before trusting: the command, where it could
/// connect, the sandbox it had, and the digests of its source and of each output.
fn write_build(out: &mut dyn Write, b: &Built, source_digest: &str) -> std::io::Result<()> {
    let network = if b.network.is_empty() { "none".to_owned() } else { b.network.join(", ") };
    writeln!(out, "  built with `{}` (sandbox: {}; network: {network})", b.command, b.sandbox)?;
    writeln!(out, "    source {source_digest}")?;
    for o in &b.outputs {
        writeln!(out, "    output {} {} ({} bytes)", o.path, o.sha256, o.bytes)?;
    }
    Ok(())
}

fn write_install(out: &mut dyn Write, r: &InstallReport) -> std::io::Result<()> {
    if r.dry_run && r.changed {
        writeln!(out, "dry run: nothing was changed; an update would do this:")?;
    }
    if !r.changed {
        return writeln!(
            out,
            "{} {} is already installed from {} ({})",
            r.name, r.version, r.source_identity, r.artifact_digest
        );
    }
    match (&r.previous_version, &r.previous_digest) {
        (Some(v), Some(d)) => {
            writeln!(out, "{}: {v} -> {} from {}", r.name, r.version, r.source_identity)?;
            writeln!(out, "  digest {d} -> {}", r.artifact_digest)?;
        }
        _ => writeln!(
            out,
            "installed {} {} from {} ({})",
            r.name, r.version, r.source_identity, r.artifact_digest
        )?,
    }
    if let Some(sha) = &r.git_sha {
        writeln!(out, "  commit {sha}")?;
    }
    if let (Some(b), Some(source)) = (&r.build, &r.source_digest) {
        write_build(out, b, source)?;
    }
    write_permission_changes(out, "added", &r.permissions_added)?;
    write_permission_changes(out, "removed", &r.permissions_removed)?;
    // For an update, which files change (a first install adds them all).
    if r.previous_version.is_some() && !r.files_changed.is_empty() {
        let count = |c: Change| r.files_changed.iter().filter(|f| f.change == c).count();
        writeln!(
            out,
            "  files: {} changed, {} added, {} removed",
            count(Change::Changed),
            count(Change::Added),
            count(Change::Removed)
        )?;
        for f in &r.files_changed {
            let label = match f.change {
                Change::Added => "added",
                Change::Removed => "removed",
                Change::Changed => "changed",
            };
            writeln!(out, "    {label:<8} {}", f.path)?;
        }
    }
    if r.previous_digest.as_deref().is_some_and(|d| d != r.artifact_digest) {
        writeln!(
            out,
            "  earlier grants do not carry over to the new files; review and trust again"
        )?;
    }
    Ok(())
}

/// The stat cache file under the home.
fn stat_cache_path(home: &Path) -> std::path::PathBuf {
    home.join("cache").join("digest-stat-cache.json")
}

fn digest(dir: &Path) -> Result<ExitCode, CliError> {
    // Use the home's stat cache when there is a home; never create one just to hash.
    let home = Home::locate_from_env().ok().filter(|h| h.is_dir());
    let cache = home.as_deref().map(|h| StatCache::load(&stat_cache_path(h)));
    let result = tree_digest(dir, cache.as_ref())?;
    if let (Some(home), Some(cache)) = (&home, &cache) {
        let _ = cache.save(&stat_cache_path(home)); // a cache that cannot be written only costs time
    }
    piped(|out| Ok(writeln!(out, "{}", result.digest)?))
}
