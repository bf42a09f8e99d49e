//! Audit events of one invocation, in upstream's audit-event shape (so each payload
//! validates against the upstream schema of its family), appended under aggregate
//! `plugin_invocation:<id>`; and the `plugin_runs` projection that answers "which
//! invocations of this plugin happened" (as typed [`Run`]s) and "which are still
//! running". Rendering runs for people is the command line's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use ooo_core::ledger::{
    Actor, AggregateRef, AppendOptions, Event, EventType, LedgerError, NewEvent, Projection,
    ProjectionRows, Store, timestamp,
};

pub const RUNS: &str = "plugin_runs";

/// One invocation of a plugin as `ooo plugin log` shows it: a `plugin_runs` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Run {
    pub invocation_id: String,
    pub plugin: String,
    pub command: Option<String>,
    pub started_at: String,
    pub started_seq: u64,
    /// The audit status (`success`, `blocked`, `failed`, ...), `running`, or why a run
    /// that did not finish failed (`timed_out`, `cancelled`, `abandoned`).
    pub result: Option<String>,
    pub message: Option<String>,
    #[serde(deserialize_with = "number")]
    pub exit_code: Option<i64>,
    #[serde(deserialize_with = "number")]
    pub duration_ms: Option<u64>,
    pub ended_at: Option<String>,
}

/// A number, also when the ledger holds it as a decimal string.
fn number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number<T> {
        Number(T),
        Text(String),
    }
    Ok(match Option::<Number<T>>::deserialize(d)? {
        Some(Number::Number(n)) => Some(n),
        Some(Number::Text(s)) => s.parse().ok(),
        None => None,
    })
}

/// Every recorded invocation of `plugin`, oldest first.
pub fn runs(ledger: &dyn Store, plugin: &str) -> Result<Vec<Run>, LedgerError> {
    let mut runs: Vec<Run> = ledger
        .projection_scan(RUNS, &format!("run:{plugin}/"))?
        .into_iter()
        .filter_map(|(_, row)| serde_json::from_value(row).ok())
        .collect();
    runs.sort_by_key(|r| r.started_seq);
    Ok(runs)
}

/// Who and what an invocation is about; shared by all its events.
#[derive(Debug, Clone)]
pub struct Context {
    pub invocation_id: String,
    pub plugin: String,
    pub version: String,
    pub source_type: String,
    pub namespace: String,
    pub command: String,
    /// Redacted argv.
    pub argv: Vec<String>,
    pub argv_sha256_original: Option<String>,
    pub trust_state: String,
    pub capabilities: Vec<String>,
}

impl Context {
    fn argv_summary(&self) -> Value {
        use sha2::{Digest, Sha256};
        let joined = self.argv.join("\0");
        json!({
            "argc": self.argv.len(),
            "byte_length": joined.len(),
            "sha256": Sha256::digest(joined.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        })
    }

    /// One payload. `status` is `success|blocked|failed|trust_subject_changed`; provenance
    /// values must be strings.
    pub fn payload(
        &self,
        event_type: &str,
        status: &str,
        message: Option<&str>,
        permissions: &[String],
        provenance: &[(&str, String)],
    ) -> Value {
        let mut prov = Map::new();
        prov.insert("correlation_id".into(), json!(self.invocation_id));
        if let Some(sha) = &self.argv_sha256_original {
            prov.insert("argv_sha256".into(), json!(sha));
        }
        for (k, v) in provenance {
            prov.insert((*k).into(), json!(v));
        }
        let mut result = json!({"status": status});
        if let Some(m) = message {
            result["message"] = json!(m);
        }
        json!({
            "schema_version": "0.1",
            "event_type": event_type,
            "occurred_at": timestamp::now(),
            "plugin": {"name": self.plugin, "version": self.version, "source_type": self.source_type},
            "command": {"namespace": self.namespace, "name": self.command, "argv": self.argv, "argv_summary": self.argv_summary()},
            "trust_state": self.trust_state,
            "capabilities_used": self.capabilities,
            "permissions_used": permissions,
            "result": result,
            "provenance": prov,
        })
    }
}

/// Append one event for the invocation (durably, with the runs projection).
pub fn append(
    ledger: &mut dyn Store,
    actor: &Actor,
    ctx: &Context,
    payload: Value,
) -> Result<Event, LedgerError> {
    Ok(append_all(ledger, actor, ctx, vec![payload])?.remove(0))
}

/// Append several events of the invocation in one durable transaction.
pub fn append_all(
    ledger: &mut dyn Store,
    actor: &Actor,
    ctx: &Context,
    payloads: Vec<Value>,
) -> Result<Vec<Event>, LedgerError> {
    let aggregate = AggregateRef::new("plugin_invocation", &ctx.invocation_id)?;
    let events = payloads
        .into_iter()
        .map(|payload| {
            let event_type = payload["event_type"]
                .as_str()
                .unwrap_or(ooo_core::event_types::plugin::FAILED)
                .to_owned();
            NewEvent::new(aggregate.clone(), EventType::parse(&event_type)?, actor.clone(), payload)
        })
        .collect::<Result<Vec<_>, _>>()?;
    ledger.append(&events, AppendOptions::default())
}

/// `plugin_runs`: `run:<plugin>/<invocation>` summaries (the result is the audit status,
/// or `timed_out`, `cancelled` or `abandoned` for a run that did not finish), and
/// `running:<invocation>` for invocations with `plugin.invoked` but no terminal event yet.
pub struct RunsProjection;

impl Projection for RunsProjection {
    fn name(&self) -> &str {
        RUNS
    }

    fn event_types(&self) -> &[&str] {
        &[
            ooo_core::event_types::plugin::INVOKED,
            ooo_core::event_types::plugin::COMPLETED,
            ooo_core::event_types::plugin::FAILED,
        ]
    }

    fn apply(&self, event: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        if event.aggregate_type != "plugin_invocation" {
            return Ok(());
        }
        let p = &event.payload;
        let plugin = p["plugin"]["name"].as_str().unwrap_or_default();
        let id = &event.aggregate_id;
        let run_key = format!("run:{plugin}/{id}");
        let mut run = rows.get(&run_key)?.unwrap_or_else(|| {
            json!({"invocation_id": id, "plugin": plugin, "command": p["command"]["name"], "started_at": event.occurred_at, "started_seq": event.seq})
        });
        match event.event_type.as_str() {
            ooo_core::event_types::plugin::INVOKED => {
                run["result"] = json!("running");
                rows.put(&format!("running:{id}"), &json!({"plugin": plugin, "ooo_pid": p["provenance"]["ooo_pid"], "ooo_start": p["provenance"]["ooo_start"], "seq": event.seq}))?;
            }
            ooo_core::event_types::plugin::COMPLETED | ooo_core::event_types::plugin::FAILED => {
                // The audit status is upstream's (`failed`); the log names why a run
                // that did not finish failed.
                run["result"] = match p["provenance"]["reason"].as_str() {
                    Some(why @ ("timed_out" | "cancelled" | "abandoned")) => json!(why),
                    _ => p["result"]["status"].clone(),
                };
                run["message"] = p["result"]["message"].clone();
                run["exit_code"] = p["provenance"]["exit_code"].clone();
                run["duration_ms"] = p["provenance"]["duration_ms"].clone();
                run["ended_at"] = json!(event.occurred_at);
                rows.delete(&format!("running:{id}"))?;
            }
            _ => return Ok(()),
        }
        rows.put(&run_key, &run)
    }
}

/// Held by the `ooo` process running an invocation: an exclusive lock on
/// `cache/runs/<id>.lock`. While it is held the run is alive, whatever pid namespace or
/// host asks; when the process dies the kernel releases it.
pub struct RunLock {
    path: std::path::PathBuf,
    _file: std::fs::File,
}

impl RunLock {
    pub fn acquire(
        dir: &std::path::Path,
        invocation_id: &str,
    ) -> Result<Self, crate::manager::ManagerError> {
        let io = |source| crate::manager::ManagerError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(format!("{invocation_id}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(Self { path, _file: file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Is some process still running this invocation (holding its lock)?
fn still_running(dir: &std::path::Path, invocation_id: &str) -> bool {
    let path = dir.join(format!("{invocation_id}.lock"));
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else { return false };
    match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// Process start time of `pid` (recorded in provenance for people reading the trail).
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// Mark invocations whose `ooo` process is gone (their run lock is free) as failed with
/// reason `abandoned`. Returns how many were marked.
pub fn mark_abandoned(
    ledger: &mut dyn Store,
    actor: &Actor,
    runs_dir: &std::path::Path,
) -> Result<usize, LedgerError> {
    let running = ledger.projection_scan(RUNS, "running:")?;
    let mut marked = 0;
    for (key, _) in running {
        let id = key.trim_start_matches("running:").to_owned();
        if still_running(runs_dir, &id) {
            continue;
        }
        let invoked = ledger.query(&ooo_core::ledger::EventQuery {
            aggregate_type: Some("plugin_invocation".into()),
            aggregate_id: Some(id.clone()),
            event_type_prefix: Some(ooo_core::event_types::plugin::INVOKED.into()),
            ..Default::default()
        })?;
        let Some(invoked) = invoked.into_iter().next() else { continue };
        let p = &invoked.payload;
        let payload = json!({
            "schema_version": "0.1",
            "event_type": ooo_core::event_types::plugin::FAILED,
            "occurred_at": timestamp::now(),
            "plugin": p.get("plugin").cloned().unwrap_or(json!({})),
            "command": p.get("command").cloned().unwrap_or(json!({})),
            "trust_state": p.get("trust_state").cloned().unwrap_or(json!("installed")),
            "capabilities_used": p.get("capabilities_used").cloned().unwrap_or(json!([])),
            "permissions_used": [],
            "result": {"status": "failed", "message": "abandoned: the ooo process running it ended before the plugin did"},
            "provenance": {"correlation_id": id, "reason": "abandoned"},
        });
        let event = NewEvent::new(
            AggregateRef::new("plugin_invocation", &id)?,
            EventType::parse(ooo_core::event_types::plugin::FAILED)?,
            actor.clone(),
            payload,
        )?;
        ledger.append(&[event], AppendOptions::default())?;
        let _ = std::fs::remove_file(runs_dir.join(format!("{id}.lock")));
        marked += 1;
    }
    Ok(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reads_numbers_as_numbers_or_strings() {
        let row = json!({"invocation_id": "i", "plugin": "p", "command": "say", "started_at": "t", "started_seq": 4, "result": "success", "message": null, "exit_code": "0", "duration_ms": 12, "ended_at": "u"});
        let run: Run = serde_json::from_value(row).unwrap();
        assert_eq!((run.exit_code, run.duration_ms), (Some(0), Some(12)));
        let json = serde_json::to_string(&run).unwrap();
        assert!(json.contains(r#""exit_code":0,"duration_ms":12"#), "{json}");
        let running: Run = serde_json::from_value(json!({"invocation_id": "i", "plugin": "p", "command": null, "started_at": "t", "started_seq": 1, "result": "running"})).unwrap();
        assert_eq!((running.exit_code, running.ended_at), (None, None));
    }
}
