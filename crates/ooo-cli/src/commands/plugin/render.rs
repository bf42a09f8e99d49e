//! Renderers more than one verb shares: one JSON document a line, an install or update
//! report, a build step, permission changes and what each scope opens. What each verb prints alone lives in
//! its own module.

use std::io::Write;
use std::process::ExitCode;

use ooo_plugin::build::Built;
use ooo_plugin::changes::Change;
use ooo_plugin::manager::{InstallReport, PermissionChange};
use ooo_plugin::manifest::opens::{Resource, ScopeOpens};

use crate::error::CliError;
use crate::output::piped;

/// A list under `--json`: one JSON object a line (README, "`--json`").
pub fn write_json_lines<T: serde::Serialize>(
    out: &mut dyn Write,
    items: &[T],
) -> std::io::Result<()> {
    items.iter().try_for_each(|item| write_json(out, item))
}

/// Print `value` as one JSON document with `--json`, else as `human` renders it.
pub fn shown<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: fn(&mut dyn Write, &T) -> std::io::Result<()>,
) -> Result<ExitCode, CliError> {
    piped(|out| {
        if json {
            write_json(out, value)?;
        } else {
            human(out, value)?;
        }
        Ok(())
    })
}

/// One JSON document as a line.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::to_string(value).map_err(std::io::Error::other)?)
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

/// Every resource in `opens`, one a line at `indent`, so that nothing is granted
/// silently; a scope that opens none says so.
pub fn write_opens(out: &mut dyn Write, indent: &str, opens: &[Resource]) -> std::io::Result<()> {
    if opens.is_empty() {
        return writeln!(out, "{indent}opens no variable, host or path (it gates commands)");
    }
    opens.iter().try_for_each(|r| writeln!(out, "{indent}opens {r}"))
}

/// Each scope with its risk and what it opens, then what every call gets without one.
pub fn write_scopes(
    out: &mut dyn Write,
    indent: &str,
    scopes: &[ScopeOpens],
    without_scope: &[Resource],
) -> std::io::Result<()> {
    let deeper = format!("{indent}  ");
    for s in scopes {
        let req = if s.required { "required" } else { "optional" };
        writeln!(out, "{indent}scope {} ({}, {req})", s.scope, s.risk)?;
        write_opens(out, &deeper, &s.opens)?;
    }
    writeln!(out, "{indent}every call, without a scope:")?;
    write_opens(out, &deeper, without_scope)
}

/// A build step as the user reviews it before trusting: the command, where it could
/// connect, the sandbox it had, and the digests of its source and of each output.
pub fn write_build(out: &mut dyn Write, b: &Built, source_digest: &str) -> std::io::Result<()> {
    let network = if b.network.is_empty() { "none".to_owned() } else { b.network.join(", ") };
    writeln!(out, "  built with `{}` (sandbox: {}; network: {network})", b.command, b.sandbox)?;
    writeln!(out, "    source {source_digest}")?;
    for o in &b.outputs {
        writeln!(out, "    output {} {} ({} bytes)", o.path, o.sha256, o.bytes)?;
    }
    Ok(())
}

pub fn write_install(out: &mut dyn Write, r: &InstallReport) -> std::io::Result<()> {
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
    write_scopes(out, "  ", &r.scopes, &r.without_scope)?;
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
