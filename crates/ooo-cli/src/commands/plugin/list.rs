//! `ooo plugin list`: installed plugins with their trust state, one line (or one JSON
//! object) each. One plugin in detail is `inspect`'s module.

use std::process::ExitCode;

use super::render::write_json_lines;
use super::session::Session;
use crate::error::CliError;
use crate::output::piped;

pub fn run(s: &mut Session, json: bool) -> Result<ExitCode, CliError> {
    let rows = s.manager.list(&s.ledger)?;
    piped(|out| {
        if json {
            return Ok(write_json_lines(out, &rows)?);
        }
        if rows.is_empty() {
            writeln!(out, "no plugins installed; see `ooo plugin add` and `ooo plugin install`")?;
            return Ok(());
        }
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        writeln!(out, "{:<w$}  {:<9}  {:<6}  {:<9}  SCOPES", "NAME", "VERSION", "SOURCE", "TRUST")?;
        for r in &rows {
            let mut scopes = if r.granted_scopes.is_empty() {
                "(none)".to_owned()
            } else {
                r.granted_scopes.join(", ")
            };
            if !r.missing_required_scopes.is_empty() {
                scopes.push_str(&format!("; missing: {}", r.missing_required_scopes.join(", ")));
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
