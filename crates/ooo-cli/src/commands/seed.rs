//! `ooo seed validate | show | save | list | lineage | diff`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ooo_core::home::Home;
use ooo_core::ledger::{Actor, SqliteStore};
use ooo_core::seed::diff::{SeedDiff, diff};
use ooo_core::seed::store::{SaveOutcome, is_storable_id, save_problems};
use ooo_core::seed::{
    Invalid, LoadError, MetadataDefaults, Problem, Seed, SeedStore, content_hash, load_file,
    load_reader, to_json_string, to_yaml,
};
use serde_json::json;

use super::{home, login};
use crate::cli::SeedCommand;
use crate::error::CliError;
use crate::output::{piped, stderr_line, truncate};

pub fn run(cmd: SeedCommand) -> Result<ExitCode, CliError> {
    match cmd {
        SeedCommand::Validate { file, json } => validate(&file, json),
        SeedCommand::Show { seed, json } => show(&seed, json),
        SeedCommand::Save { file, json } => save(&file, json),
        SeedCommand::List { json } => list(json),
        SeedCommand::Lineage { seed_id, json } => lineage(&seed_id, json),
        SeedCommand::Diff { a, b, json, exit_code } => diff_cmd(&a, &b, json, exit_code),
    }
}

fn print_warnings(warnings: &[Problem]) {
    for w in warnings {
        stderr_line(&format!("warning: {w}"));
    }
}

/// Metadata defaults that generate nothing: what `seed save` loads with, so a seed
/// without its own id or time is seen as such.
fn unset() -> MetadataDefaults {
    MetadataDefaults { seed_id: String::new(), created_at: String::new() }
}

/// `seed validate`: the seed's own rules, then the rules `seed save` adds (its id); `-`
/// reads standard input.
fn validate(file: &Path, json: bool) -> Result<ExitCode, CliError> {
    let stdin = file == Path::new("-");
    let name = if stdin { Path::new("standard input") } else { file };
    let shown = name.display().to_string();
    let loaded = if stdin {
        load_reader(std::io::stdin().lock(), name, &unset())
    } else {
        load_file(file, &unset())
    };
    let loaded = loaded.and_then(|valid| match save_problems(&valid.seed) {
        problems if problems.is_empty() => Ok(valid),
        problems => Err(LoadError::Invalid {
            path: name.to_owned(),
            invalid: Invalid { problems, warnings: valid.warnings },
        }),
    });
    match loaded {
        Ok(valid) => {
            let seed = &valid.seed;
            let hash = content_hash(seed);
            piped(|out| {
                if json {
                    let report = json!({
                        "valid": true, "file": shown, "seed_id": seed.id(), "content_hash": hash,
                        "acceptance_criteria": seed.acceptance_criteria.len(),
                        "problems": [], "warnings": valid.warnings,
                    });
                    writeln!(out, "{report}")?;
                } else {
                    print_warnings(&valid.warnings);
                    writeln!(
                        out,
                        "ok: {shown} is a valid seed: id {}, {} acceptance criteria, content hash {hash}",
                        seed.id(),
                        seed.acceptance_criteria.len()
                    )?;
                }
                Ok(())
            })
        }
        Err(LoadError::Invalid { invalid, .. }) => {
            if json {
                let report = json!({
                    "valid": false, "file": shown,
                    "problems": invalid.problems, "warnings": invalid.warnings,
                });
                piped(|out| Ok(writeln!(out, "{report}")?))?;
            } else {
                print_warnings(&invalid.warnings);
                stderr_line(&format!(
                    "error: {shown} is not a valid seed ({} problem(s)):",
                    invalid.problems.len()
                ));
                for p in &invalid.problems {
                    stderr_line(&format!("  {p}"));
                }
            }
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other.into()),
    }
}

/// Open the ledger and the seed store of the home.
fn stores() -> Result<(SqliteStore, SeedStore), CliError> {
    let home: Home = home()?;
    let ledger = super::open_ledger_in(&home)?;
    Ok((ledger, SeedStore::new(&home)))
}

/// A seed from a file path, or else from the saved seed with that id.
fn resolve(arg: &str) -> Result<Seed, CliError> {
    let path = Path::new(arg);
    if path.is_file() {
        let valid = load_file(path, &MetadataDefaults::generate())?;
        print_warnings(&valid.warnings);
        return Ok(valid.seed);
    }
    if !is_storable_id(arg) {
        return Err(CliError::new(format!("{arg} is neither a seed file nor a saved seed id"))
            .hint("pass a path to a .yaml/.json seed, or an id from `ooo seed list`"));
    }
    let (ledger, store) = stores()?;
    Ok(store.load(&ledger, arg)?)
}

fn show(arg: &str, json: bool) -> Result<ExitCode, CliError> {
    let seed = resolve(arg)?;
    let text = if json { to_json_string(&seed) + "\n" } else { to_yaml(&seed) };
    piped(|out| Ok(out.write_all(text.as_bytes())?))
}

fn save(file: &Path, json: bool) -> Result<ExitCode, CliError> {
    // A saved seed needs a stable identity: no generated id or time.
    let valid = load_file(file, &unset())?;
    print_warnings(&valid.warnings);
    let seed = valid.seed;
    let problems = save_problems(&seed);
    if !problems.is_empty() {
        let generated = MetadataDefaults::generate();
        let listed: Vec<String> = problems.iter().map(|p| format!("\n  {p}")).collect();
        return Err(CliError::new(format!(
            "{} cannot be saved: a saved seed keeps its identity, so saving it again is the same seed:{}",
            file.display(),
            listed.concat()
        ))
        .hint(format!("set them in its metadata, for example seed_id: {} and created_at: \"{}\"", generated.seed_id, generated.created_at)));
    }
    let (mut ledger, store) = stores()?;
    if let Some(parent) = &seed.metadata.parent_seed_id
        && store.get(&ledger, parent)?.is_none()
    {
        stderr_line(&format!(
            "warning: parent seed {parent} is not saved here; its lineage stops at it"
        ));
    }
    let actor = Actor::user(&login())?;
    let outcome = store.save(&mut ledger, &seed, &actor)?;
    let (created, path, hash, seq) = match &outcome {
        SaveOutcome::Created { path, content_hash, seq } => (true, path, content_hash, seq),
        SaveOutcome::AlreadySaved { path, content_hash, seq }
        | SaveOutcome::Repaired { path, content_hash, seq, .. } => (false, path, content_hash, seq),
    };
    let repaired = match &outcome {
        SaveOutcome::Repaired { found: Some(found), .. } => {
            Some(format!("it was changed on disk (it hashed to {found})"))
        }
        SaveOutcome::Repaired { found: None, .. } => {
            Some("it was missing or no longer a valid seed".to_owned())
        }
        _ => None,
    };
    piped(|out| {
        if json {
            let report = json!({
                "seed_id": seed.id(), "created": created, "repaired": repaired.is_some(),
                "path": path.display().to_string(), "content_hash": hash, "ledger_seq": seq,
            });
            writeln!(out, "{report}")?;
        } else if created {
            writeln!(
                out,
                "saved seed {} to {} (content hash {hash}, ledger event {seq})",
                seed.id(),
                path.display()
            )?;
        } else if let Some(why) = &repaired {
            writeln!(
                out,
                "repaired {}: {why}; it holds seed {} as saved again (content hash {hash}, ledger event {seq})",
                path.display(),
                seed.id()
            )?;
        } else {
            writeln!(
                out,
                "seed {} is already saved with the same content (ledger event {seq})",
                seed.id()
            )?;
        }
        Ok(())
    })
}

fn list(json: bool) -> Result<ExitCode, CliError> {
    let (ledger, store) = stores()?;
    let seeds = store.list(&ledger)?;
    piped(|out| {
        if json {
            for s in &seeds {
                writeln!(out, "{}", serde_json::to_string(s).map_err(std::io::Error::other)?)?;
            }
            return Ok(());
        }
        if seeds.is_empty() {
            writeln!(out, "no saved seeds; save one with `ooo seed save <file>`")?;
            return Ok(());
        }
        let id_width = seeds.iter().map(|s| s.seed_id.len()).max().unwrap_or(0).max(7);
        writeln!(
            out,
            "{:<id_width$}  {:<19}  {:<19}  GOAL",
            "SEED ID", "SAVED (UTC)", "CONTENT HASH"
        )?;
        for s in &seeds {
            let hash = s.content_hash.strip_prefix("sha256:").unwrap_or(&s.content_hash);
            writeln!(
                out,
                "{:<id_width$}  {:<19}  {:<19}  {}",
                s.seed_id,
                s.saved_at.get(..19).unwrap_or(&s.saved_at).replacen('T', " ", 1),
                format!("sha256:{}", hash.get(..12).unwrap_or(hash)),
                truncate(&s.goal, 60)
            )?;
        }
        Ok(())
    })
}

fn lineage(id: &str, json: bool) -> Result<ExitCode, CliError> {
    let (ledger, store) = stores()?;
    let lineage = store.lineage(&ledger, id)?;
    piped(|out| {
        if json {
            writeln!(out, "{}", serde_json::to_string(&lineage).map_err(std::io::Error::other)?)?;
            return Ok(());
        }
        if let Some(missing) = &lineage.missing_parent {
            writeln!(out, "{missing}  (not saved here)")?;
        }
        for (depth, s) in lineage.ancestors.iter().enumerate() {
            let indent = "   ".repeat(depth);
            let branch =
                if depth == 0 && lineage.missing_parent.is_none() { "" } else { "└─ " };
            let marker = if s.seed_id == id { "  <- this seed" } else { "" };
            writeln!(out, "{indent}{branch}{}  {}{marker}", s.seed_id, truncate(&s.goal, 60))?;
        }
        if lineage.children.is_empty() {
            writeln!(out, "children: none")?;
        } else {
            let names: Vec<&str> = lineage.children.iter().map(|c| c.seed_id.as_str()).collect();
            writeln!(out, "children: {}", names.join(", "))?;
        }
        Ok(())
    })
}

/// `seed diff`; with `exit_code`, exit 1 when the seeds differ (as `git diff --exit-code`).
fn diff_cmd(a: &str, b: &str, json: bool, exit_code: bool) -> Result<ExitCode, CliError> {
    let before = resolve(a)?;
    let after = resolve(b)?;
    let d = diff(&before, &after);
    let shown = piped(|out| {
        if json {
            writeln!(out, "{}", serde_json::to_string(&d).map_err(std::io::Error::other)?)?;
        } else {
            write_diff(out, &d)?;
        }
        Ok(())
    })?;
    Ok(if exit_code && !d.is_empty() { ExitCode::from(1) } else { shown })
}

fn write_diff(out: &mut dyn Write, d: &SeedDiff) -> std::io::Result<()> {
    if d.is_empty() {
        return writeln!(
            out,
            "no differences in goal, task type, constraints, criteria or ontology fields"
        );
    }
    if let Some(c) = &d.goal {
        writeln!(out, "goal:\n  - {}\n  + {}", c.before, c.after)?;
    }
    if let Some(c) = &d.task_type {
        writeln!(out, "task_type: {} -> {}", c.before, c.after)?;
    }
    if !d.constraints_added.is_empty() || !d.constraints_removed.is_empty() {
        writeln!(out, "constraints:")?;
        d.constraints_removed.iter().try_for_each(|c| writeln!(out, "  - {c}"))?;
        d.constraints_added.iter().try_for_each(|c| writeln!(out, "  + {c}"))?;
    }
    if !(d.criteria_added.is_empty()
        && d.criteria_removed.is_empty()
        && d.criteria_changed.is_empty())
    {
        writeln!(out, "acceptance criteria:")?;
        d.criteria_removed
            .iter()
            .try_for_each(|c| writeln!(out, "  - {}  {}", c.key, c.description))?;
        d.criteria_added
            .iter()
            .try_for_each(|c| writeln!(out, "  + {}  {}", c.key, c.description))?;
        for c in &d.criteria_changed {
            let key = match &c.key_after {
                Some(after) => format!("{} -> {after}", c.key),
                None => c.key.clone(),
            };
            let description = c.after["description"].as_str().unwrap_or_default();
            writeln!(out, "  ~ {key}  {description}")?;
            for f in &c.fields {
                writeln!(out, "      {}: {} -> {}", f.field, f.before, f.after)?;
            }
        }
    }
    if !(d.ontology_fields_added.is_empty()
        && d.ontology_fields_removed.is_empty()
        && d.ontology_fields_changed.is_empty())
    {
        writeln!(out, "ontology fields:")?;
        d.ontology_fields_removed.iter().try_for_each(|f| writeln!(out, "  - {f}"))?;
        d.ontology_fields_added.iter().try_for_each(|f| writeln!(out, "  + {f}"))?;
        d.ontology_fields_changed.iter().try_for_each(|f| writeln!(out, "  ~ {f}"))?;
    }
    Ok(())
}
