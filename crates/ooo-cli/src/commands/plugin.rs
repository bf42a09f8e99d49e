//! `ooo plugin ...`: the plugin manager's verbs.

use std::path::Path;
use std::process::ExitCode;

use ooo_core::home::Home;
use ooo_plugin::digest::{StatCache, tree_digest};
use ooo_plugin::manifest::{self, rules};
use serde_json::json;

use crate::cli::PluginCommand;
use crate::error::CliError;
use crate::output::{piped, stderr_line};

pub fn run(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Digest { dir } => digest(&dir),
        PluginCommand::Validate { path, json } => validate(&path, json),
    }
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

fn validate(path: &Path, json_out: bool) -> Result<ExitCode, CliError> {
    match manifest::load(path) {
        Ok((m, _)) => {
            let warnings = rules::warnings(&m);
            piped(|out| {
                if json_out {
                    let report = json!({
                        "valid": true, "name": m.name, "version": m.version, "schema_version": m.schema_version,
                        "namespace": m.namespace(),
                        "commands": m.commands.iter().map(|c| &c.name).collect::<Vec<_>>(),
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
                }
                Ok(())
            })
        }
        Err(e) if json_out => {
            let report = json!({
                "valid": false,
                "error": {"file": e.file.display().to_string(), "pointer": e.pointer, "message": e.message, "expected": e.expected, "found": e.found},
            });
            piped(|out| Ok(writeln!(out, "{report}")?))?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(CliError::new(e.to_string())
            .hint("fix the manifest at that JSON pointer, then run `ooo plugin validate` again")),
    }
}
