//! `ooo plugin inspect <name>`: one installed plugin in detail, rendered from
//! `ooo_plugin::manager::Inspection` (which `--json` prints as it is). Gathering it is
//! the manager's.

use std::io::Write;
use std::process::ExitCode;

use ooo_plugin::manager::Inspection;

use super::render::{shown, write_build, write_opens};
use super::session::Session;
use crate::error::CliError;

pub fn run(s: &mut Session, name: String, json: bool) -> Result<ExitCode, CliError> {
    let info = s.manager.inspect(&s.ledger, &name)?;
    shown(json, &info, write_inspection)
}

/// `ooo plugin inspect` for people.
fn write_inspection(out: &mut dyn Write, info: &Inspection) -> std::io::Result<()> {
    writeln!(out, "{} {} ({})", info.name, info.version, info.source_kind)?;
    let fields = [
        ("source_identity", Some(&info.source_identity)),
        ("artifact_digest", Some(&info.artifact_digest)),
        ("installed_at", Some(&info.installed_at)),
        ("plugin_home", Some(&info.plugin_home)),
        ("repository", info.repository.as_ref()),
        ("git_sha", info.git_sha.as_ref()),
        ("requested_ref", info.requested_ref.as_ref()),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            writeln!(out, "  {:<17} {value}", format!("{key}:"))?;
        }
    }
    writeln!(out, "  {:<17} {}", "trust_state:", info.trust_state.as_str())?;
    let list = |items: &[String]| {
        if items.is_empty() { "(none)".to_owned() } else { items.join(", ") }
    };
    writeln!(out, "  {:<17} {}", "granted_scopes:", list(&info.granted_scopes))?;
    writeln!(out, "  {:<17} {}", "missing_scopes:", list(&info.missing_required_scopes))?;
    if let Some(d) = &info.disabled {
        writeln!(out, "  {:<17} {}", "disabled:", d.reason)?;
    }
    if let Some((change, previous)) =
        info.last_change.as_ref().and_then(|c| c.previous.as_ref().map(|p| (c, p)))
    {
        writeln!(
            out,
            "  {:<17} {} -> {}, digest {} -> {} (ledger event {})",
            "last change:",
            previous.version,
            info.version,
            previous.artifact_digest,
            info.artifact_digest,
            change.ledger_seq
        )?;
        for (label, changes) in
            [("added", &change.permissions_added), ("removed", &change.permissions_removed)]
        {
            for p in changes.iter().flatten() {
                writeln!(out, "    permission {label}: {} ({})", p.scope, p.risk)?;
            }
        }
    }
    if let (Some(b), Some(source)) = (&info.build, &info.source_digest) {
        write_build(out, b, source)?;
    }
    let m = &info.manifest;
    writeln!(out, "commands (namespace {}):", m.namespace)?;
    for c in &m.commands {
        let confirm = if c.requires_confirmation { ", asks first" } else { "" };
        writeln!(out, "  {:<16} {} [{}{confirm}]", c.name, c.summary, c.risk)?;
    }
    writeln!(out, "permissions:")?;
    for p in &m.scopes {
        let req = if p.required { "required" } else { "optional" };
        writeln!(out, "  {:<24} {:<11} {req}", p.scope, p.risk.as_str())?;
        write_opens(out, "    ", &p.opens)?;
    }
    writeln!(out, "every call, without a scope:")?;
    write_opens(out, "    ", &m.without_scope)?;
    writeln!(out, "capabilities:")?;
    for c in &m.capabilities {
        writeln!(out, "  {:<24} {}", c.name.as_str(), c.access.as_str())?;
    }
    Ok(())
}
