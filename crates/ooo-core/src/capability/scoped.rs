//! [`ScopedCore`]: the core as one principal may use it. Every method names the grant it
//! needs, checks it, records the use (or the refusal), then writes or reads the ledger.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Access, Capability, Grant, Grants};
use crate::event_types::{self, RecordTypes};
use crate::handoff::Handoff;
use crate::ledger::{
    Actor, AggregateRef, AppendOptions, Event, EventQuery, EventType, LedgerError, NewEvent, Store,
};
use crate::progress::Progress;
use crate::provenance::Provenance;
use crate::state::{self, STATE};

/// Who acts through a [`ScopedCore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An installed plugin, by name.
    Plugin(String),
    /// A first-party program (`run`, `interview`, ...), by name.
    Program(String),
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Plugin(n) | Principal::Program(n) => n,
        }
    }

    fn actor(&self) -> Result<Actor, LedgerError> {
        match self {
            Principal::Plugin(n) => Actor::plugin(n),
            Principal::Program(n) => Actor::program(n),
        }
    }

    fn records(&self) -> RecordTypes {
        match self {
            Principal::Plugin(_) => event_types::PLUGIN,
            Principal::Program(_) => event_types::PROGRAM,
        }
    }

    /// The payload field naming the principal.
    fn field(&self) -> &'static str {
        match self {
            Principal::Plugin(_) => "plugin",
            Principal::Program(_) => "program",
        }
    }

    /// The principal's state namespace (see [`crate::state`]).
    pub fn state_namespace(&self) -> String {
        match self {
            Principal::Plugin(n) => n.clone(),
            Principal::Program(n) => format!("program:{n}"),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Plugin(n) => write!(f, "plugin {n}"),
            Principal::Program(n) => write!(f, "program {n}"),
        }
    }
}

/// Why a [`ScopedCore`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{principal} has no {capability} capability with {} access", accepted.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" or "))]
    NotGranted { principal: String, capability: Capability, accepted: Vec<Access> },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no saved seed {0}")]
    NoSuchSeed(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl CoreError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            CoreError::NotGranted { capability, accepted, .. } => format!(
                "declare the {capability} capability with {} access in the manifest's capabilities",
                accepted[0]
            ),
            CoreError::InvalidArgument(_) => "fix the arguments of the call".to_owned(),
            CoreError::NoSuchSeed(_) => "list saved seeds with `ooo seed list`".to_owned(),
            CoreError::Ledger(_) => "run `ooo ledger verify` to check the ledger".to_owned(),
        }
    }
}

/// The core, scoped to one principal's grants and one aggregate (the invocation or the
/// execution its records belong to).
pub struct ScopedCore {
    store: Arc<Mutex<Box<dyn Store + Send>>>,
    principal: Principal,
    aggregate: AggregateRef,
    grants: Grants,
    seeds_dir: PathBuf,
    used: Mutex<BTreeSet<Grant>>,
    refused: Mutex<BTreeSet<String>>,
}

impl ScopedCore {
    /// A handle over `store`, which must have [`crate::PROJECTIONS`] registered: state
    /// is read from the state projection its appends keep up to date.
    pub fn new(
        store: Arc<Mutex<Box<dyn Store + Send>>>,
        principal: Principal,
        aggregate: AggregateRef,
        grants: Grants,
        seeds_dir: PathBuf,
    ) -> Self {
        ScopedCore {
            store,
            principal,
            aggregate,
            grants,
            seeds_dir,
            used: Mutex::default(),
            refused: Mutex::default(),
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Would a call needing `capability` with one of `accepted` pass? (No record.)
    pub fn allows(&self, capability: Capability, accepted: &[Access]) -> bool {
        self.grants.find(capability, accepted).is_some()
    }

    /// Check a grant and record its use, or record the refusal of `operation`.
    pub fn require(
        &self,
        operation: &str,
        capability: Capability,
        accepted: &[Access],
    ) -> Result<(), CoreError> {
        match self.grants.find(capability, accepted) {
            Some(grant) => {
                self.used.lock().map(|mut u| u.insert(grant)).ok();
                Ok(())
            }
            None => {
                self.refused.lock().map(|mut r| r.insert(operation.to_owned())).ok();
                Err(CoreError::NotGranted {
                    principal: self.principal.to_string(),
                    capability,
                    accepted: accepted.to_vec(),
                })
            }
        }
    }

    /// `capability:access` of every grant used so far, sorted.
    pub fn used(&self) -> Vec<String> {
        self.used.lock().map(|u| u.iter().map(Grant::to_string).collect()).unwrap_or_default()
    }

    /// Operations refused for want of a grant, sorted.
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    fn append(&self, event_type: &str, payload: Value) -> Result<u64, CoreError> {
        let event = NewEvent::new(
            self.aggregate.clone(),
            EventType::parse(event_type)?,
            self.principal.actor()?,
            payload,
        )?;
        let mut store = self.lock()?;
        let stored = store.append(&[event], AppendOptions::default())?;
        Ok(stored[0].seq)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn Store + Send>>, CoreError> {
        self.store
            .lock()
            .map_err(|_| CoreError::InvalidArgument("the ledger lock is poisoned".into()))
    }

    /// Record evidence (a JSON object) under the principal's aggregate. Needs
    /// `ledger:write`.
    pub fn append_evidence(&self, kind: Option<&str>, data: Value) -> Result<u64, CoreError> {
        self.require("ledger_append", Capability::Ledger, &[Access::Write])?;
        if !data.is_object() {
            return Err(CoreError::InvalidArgument("data must be a JSON object".into()));
        }
        let payload =
            json!({ self.principal.field(): self.principal.name(), "kind": kind, "data": data });
        self.append(self.principal.records().evidence, payload)
    }

    /// The events of the principal's own aggregate. Needs `ledger:read` (or write).
    pub fn own_events(&self) -> Result<Vec<Event>, CoreError> {
        self.require("ledger_read", Capability::Ledger, &[Access::Read, Access::Write])?;
        let query = EventQuery {
            aggregate_type: Some(self.aggregate.kind().to_owned()),
            aggregate_id: Some(self.aggregate.id().to_owned()),
            ..Default::default()
        };
        Ok(self.lock()?.query(&query)?)
    }

    /// A key of the principal's state. Needs `state:read` (or write).
    pub fn state_get(&self, key: &str) -> Result<Option<Value>, CoreError> {
        self.require("state_get", Capability::State, &[Access::Read, Access::Write])?;
        let row = state::row_key(&self.principal.state_namespace(), key);
        Ok(self.lock()?.projection_get(STATE, &row)?)
    }

    /// The principal's state keys starting with `prefix`. Needs `state:read` (or write).
    pub fn state_keys(&self, prefix: &str) -> Result<Vec<String>, CoreError> {
        self.require("state_list", Capability::State, &[Access::Read, Access::Write])?;
        let namespace = self.principal.state_namespace();
        let rows = self.lock()?.projection_scan(STATE, &state::row_key(&namespace, prefix))?;
        Ok(rows.into_iter().map(|(k, _)| k[namespace.len() + 1..].to_owned()).collect())
    }

    /// Set a key of the principal's state. Needs `state:write`.
    pub fn state_put(&self, key: &str, value: &Value) -> Result<u64, CoreError> {
        self.require("state_put", Capability::State, &[Access::Write])?;
        let p = &self.principal;
        let payload = state::put_payload(p.field(), p.name(), key, value);
        self.append(p.records().state_put, payload)
    }

    /// Delete a key of the principal's state. Needs `state:write`.
    pub fn state_delete(&self, key: &str) -> Result<u64, CoreError> {
        self.require("state_delete", Capability::State, &[Access::Write])?;
        let p = &self.principal;
        let payload = state::deleted_payload(p.field(), p.name(), key);
        self.append(p.records().state_deleted, payload)
    }

    /// Record an external thing touched. Needs `provenance:write` (or attach).
    pub fn record_provenance(&self, record: &Provenance) -> Result<u64, CoreError> {
        self.require(
            "provenance_record",
            Capability::Provenance,
            &[Access::Write, Access::Attach],
        )?;
        let p = &self.principal;
        let payload = json!({ p.field(): p.name(), "kind": record.kind, "identifier": record.identifier, "action": record.action });
        self.append(p.records().provenance, payload)
    }

    /// Attach a document or an artifact hash. Needs `handoff:attach` (or write).
    pub fn attach_handoff(&self, handoff: &Handoff) -> Result<u64, CoreError> {
        self.require("handoff_attach", Capability::Handoff, &[Access::Attach, Access::Write])?;
        if let Some(sha) = &handoff.sha256
            && !(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(CoreError::InvalidArgument(format!("sha256 {sha:?} is not 64 hex digits")));
        }
        let p = &self.principal;
        let payload = json!({ p.field(): p.name(), "name": handoff.name, "document": handoff.document, "sha256": handoff.sha256 });
        self.append(p.records().handoff, payload)
    }

    /// Report progress. Needs `progress:write` (or attach, or execute).
    pub fn report_progress(&self, progress: &Progress) -> Result<u64, CoreError> {
        self.require(
            "progress_report",
            Capability::Progress,
            &[Access::Write, Access::Attach, Access::Execute],
        )?;
        let p = &self.principal;
        let payload = json!({ p.field(): p.name(), "step": progress.step, "fraction": progress.recorded_fraction() });
        self.append(p.records().progress, payload)
    }

    /// A saved seed's YAML, by id. Needs `seed:read`.
    pub fn read_seed(&self, seed_id: &str) -> Result<String, CoreError> {
        self.require("seed_read", Capability::Seed, &[Access::Read])?;
        let safe = !seed_id.is_empty()
            && !seed_id.starts_with('.')
            && seed_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !safe {
            return Err(CoreError::InvalidArgument(format!("{seed_id:?} is not a seed id")));
        }
        std::fs::read_to_string(self.seeds_dir.join(format!("{seed_id}.yaml")))
            .map_err(|_| CoreError::NoSuchSeed(seed_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::SqliteStore;

    fn core(dir: &std::path::Path, principal: Principal, grants: &[(&str, &str)]) -> ScopedCore {
        let mut ledger = SqliteStore::open(dir.join("ledger.db")).unwrap();
        ledger.register_all(crate::PROJECTIONS);
        let store: Box<dyn Store + Send> = Box::new(ledger);
        let grants = Grants::new(grants.iter().map(|(c, a)| Grant::parse(c, a).unwrap()));
        ScopedCore::new(
            Arc::new(Mutex::new(store)),
            principal,
            AggregateRef::new("execution", "e-1").unwrap(),
            grants,
            dir.join("seeds"),
        )
    }

    #[test]
    fn calls_without_a_grant_are_refused_and_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let c = core(dir.path(), Principal::Plugin("p".into()), &[("state", "read")]);
        let err = c.state_put("k", &json!(1)).unwrap_err();
        assert!(matches!(err, CoreError::NotGranted { capability: Capability::State, .. }));
        assert!(
            err.to_string().contains("plugin p has no state capability with write access"),
            "{err}"
        );
        assert!(err.hint().contains("declare the state capability with write"));
        assert_eq!(c.state_get("k").unwrap(), None);
        assert_eq!(c.used(), vec!["state:read".to_string()]);
        assert_eq!(c.refused(), vec!["state_put".to_string()]);
    }

    #[test]
    fn state_is_namespaced_per_principal_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = core(dir.path(), Principal::Plugin("run".into()), &[("state", "write")]);
        let program = core(dir.path(), Principal::Program("run".into()), &[("state", "write")]);
        plugin.state_put("a/b", &json!({"x": 1})).unwrap();
        program.state_put("a/b", &json!(2)).unwrap();
        assert_eq!(plugin.state_get("a/b").unwrap(), Some(json!({"x": 1})));
        assert_eq!(program.state_get("a/b").unwrap(), Some(json!(2)));
        assert_eq!(program.state_keys("a/").unwrap(), vec!["a/b".to_string()]);
        program.state_delete("a/b").unwrap();
        assert_eq!(program.state_get("a/b").unwrap(), None);
        assert_eq!(plugin.state_get("a/b").unwrap(), Some(json!({"x": 1})));
    }

    #[test]
    fn records_land_under_the_aggregate_with_the_principal_as_actor() {
        let dir = tempfile::tempdir().unwrap();
        let c = core(
            dir.path(),
            Principal::Program("run".into()),
            &[
                ("ledger", "write"),
                ("provenance", "write"),
                ("handoff", "attach"),
                ("progress", "write"),
            ],
        );
        c.append_evidence(Some("verdict"), json!({"ok": true})).unwrap();
        c.record_provenance(&Provenance {
            kind: "repo".into(),
            identifier: "/r".into(),
            action: "read".into(),
        })
        .unwrap();
        c.attach_handoff(&Handoff {
            name: "result".into(),
            document: Some(json!({"a": 1})),
            sha256: None,
        })
        .unwrap();
        c.report_progress(&Progress { step: "plan".into(), fraction: Some(7.0) }).unwrap();
        let events = c.own_events().unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "program.evidence.recorded",
                "program.provenance.recorded",
                "program.handoff.attached",
                "program.progress.reported"
            ]
        );
        assert!(events.iter().all(|e| e.actor == "program:run" && e.aggregate_id == "e-1"));
        assert_eq!(events[3].payload["fraction"], 1.0);
        let bad = Handoff { name: "x".into(), document: None, sha256: Some("nothex".into()) };
        assert!(matches!(c.attach_handoff(&bad), Err(CoreError::InvalidArgument(_))));
    }

    #[test]
    fn seeds_are_read_by_safe_ids_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("seeds")).unwrap();
        std::fs::write(dir.path().join("seeds/seed_1.yaml"), "goal: x\n").unwrap();
        let c = core(dir.path(), Principal::Plugin("p".into()), &[("seed", "read")]);
        assert_eq!(c.read_seed("seed_1").unwrap(), "goal: x\n");
        assert!(matches!(c.read_seed("../ledger"), Err(CoreError::InvalidArgument(_))));
        assert!(matches!(c.read_seed("nope"), Err(CoreError::NoSuchSeed(_))));
    }
}
