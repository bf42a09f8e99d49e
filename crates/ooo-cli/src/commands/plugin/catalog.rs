//! `ooo plugin catalog list|refresh|remove` and `ooo plugin search <word>`: the
//! registered catalogs and what they offer, rendered for people and for `--json`. The
//! work is `ooo_plugin::manager`'s.

use std::io::Write;
use std::process::ExitCode;

use ooo_plugin::manager::Manager;

use crate::cli::CatalogCommand;
use crate::error::CliError;
use crate::output::piped;

/// One JSON document as a line.
fn json_line(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    writeln!(out, "{}", serde_json::to_string(value).map_err(std::io::Error::other)?)
}

pub fn run(manager: &Manager, cmd: CatalogCommand) -> Result<ExitCode, CliError> {
    match cmd {
        CatalogCommand::List { json } => {
            let catalogs = manager.catalog_list()?;
            piped(|out| {
                if json {
                    for c in &catalogs {
                        json_line(out, c)?;
                    }
                    return Ok(());
                }
                if catalogs.is_empty() {
                    writeln!(
                        out,
                        "no catalogs registered; add one with `ooo plugin add <git-url|dir>`"
                    )?;
                }
                for c in &catalogs {
                    let at = c.reference.as_ref().map(|r| format!(" at {r}")).unwrap_or_default();
                    writeln!(out, "{} ({}{at}): {}", c.location, c.kind, c.plugins.join(", "))?;
                }
                Ok(())
            })
        }
        CatalogCommand::Refresh { location, json } => {
            let rows = manager.catalog_refresh(location.as_deref())?;
            let failed = rows.iter().any(|r| r.error.is_some());
            piped(|out| {
                for r in &rows {
                    if json {
                        json_line(out, r)?;
                        continue;
                    }
                    match &r.error {
                        Some(e) => writeln!(out, "{}: not refreshed: {e}", r.location)?,
                        None if r.added.is_empty() && r.removed.is_empty() => {
                            writeln!(out, "{}: unchanged", r.location)?
                        }
                        None => {
                            let mut parts = Vec::new();
                            if !r.added.is_empty() {
                                parts.push(format!("now offers {}", r.added.join(", ")));
                            }
                            if !r.removed.is_empty() {
                                parts.push(format!("no longer offers {}", r.removed.join(", ")));
                            }
                            writeln!(out, "{}: {}", r.location, parts.join("; "))?
                        }
                    }
                }
                Ok(())
            })?;
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        CatalogCommand::Remove { location } => {
            let removed = manager.catalog_remove(&location)?;
            piped(|out| {
                for c in &removed {
                    writeln!(
                        out,
                        "unregistered catalog {} ({}); plugins installed from it stay installed",
                        c.location,
                        c.plugins.join(", ")
                    )?;
                }
                Ok(())
            })
        }
    }
}

pub fn search(manager: &Manager, word: &str, json: bool) -> Result<ExitCode, CliError> {
    let found = manager.search(word)?;
    piped(|out| {
        if json {
            for f in &found {
                json_line(out, f)?;
            }
            return Ok(());
        }
        if found.is_empty() {
            writeln!(
                out,
                "no plugin in the registered catalogs matches {word:?}; add a catalog with `ooo plugin add <git-url|dir>`, or read them again with `ooo plugin catalog refresh`"
            )?;
            return Ok(());
        }
        for f in &found {
            let version = if f.offer.version.is_empty() {
                String::new()
            } else {
                format!(" {}", f.offer.version)
            };
            let installed =
                f.installed.as_ref().map(|v| format!(" [installed {v}]")).unwrap_or_default();
            let about = if f.offer.description.is_empty() {
                String::new()
            } else {
                format!(": {}", f.offer.description)
            };
            writeln!(out, "{}{version}{about}{installed}", f.offer.name)?;
            writeln!(out, "    from {}", f.catalog)?;
        }
        writeln!(out, "install one with: ooo plugin install <name>")?;
        Ok(())
    })
}
