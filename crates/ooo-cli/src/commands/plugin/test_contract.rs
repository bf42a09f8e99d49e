//! `ooo plugin test-contract <dir>`: check a plugin directory against the contract
//! offline and render each check. The checks are `ooo_plugin::contract`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::error::CliError;
use crate::output::piped;

pub fn run(dir: PathBuf, json: bool) -> Result<ExitCode, CliError> {
    let scratch = std::env::temp_dir().join(format!("ooo-test-contract-{}", std::process::id()));
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
                    if c.detail.is_empty() { String::new() } else { format!(": {}", c.detail) }
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
