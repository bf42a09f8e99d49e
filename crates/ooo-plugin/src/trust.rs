//! Trust, disables and the plugin history, as ledger events with a projection.
//!
//! Events (aggregate `plugin:<name>`): `plugin.installed`, `plugin.updated`,
//! `plugin.trusted`, `plugin.disabled`, `plugin.removed`, and `plugin.integrity_failed`
//! (an installed tree no longer matches its digest; its grant is dropped). The `plugins` projection,
//! updated in the same transaction, holds `trust:<name>` (the exact subject the grant is
//! bound to and the granted scopes) and `disabled:<name>` (the source the disable is
//! bound to). A grant applies only to the same (name, version, source type, source
//! identity, artifact digest); installing or updating to anything else voids it. A
//! disable survives upgrades from the same source, not a change of source. `trust` is
//! the re-enable verb; `remove` clears both, never the history.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ooo_core::ledger::{
    Actor, AggregateRef, AppendOptions, Event, EventType, LedgerError, NewEvent, Projection,
    ProjectionRows, Store,
};

pub const PROJECTION: &str = "plugins";

/// What trust is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub version: String,
    pub source_type: String,
    pub source_identity: String,
    pub artifact_digest: String,
}

/// A grant as the projection stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub subject: Subject,
    pub granted_scopes: Vec<String>,
}

/// A disable as the projection stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disable {
    pub source_type: String,
    pub source_identity: String,
    pub disabled_at_seq: u64,
    /// Why: `disabled by the user`, or a machine reason such as
    /// `name_collision_with_first_party`.
    #[serde(default = "by_the_user")]
    pub reason: String,
}

fn by_the_user() -> String {
    "disabled by the user".to_owned()
}

/// The trust state of an installed plugin, as `list` and the firewall see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustState {
    Installed,
    Trusted,
    Disabled,
}

impl TrustState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::Trusted => "trusted",
            Self::Disabled => "disabled",
        }
    }
}

/// Folds `plugin.*` events into the `plugins` projection.
pub struct PluginProjection;

fn subject_of(payload: &Value) -> Option<Subject> {
    serde_json::from_value(payload.get("subject")?.clone()).ok()
}

impl Projection for PluginProjection {
    fn name(&self) -> &str {
        PROJECTION
    }

    fn event_types(&self) -> &[&str] {
        &[
            ooo_core::event_types::plugin::INSTALLED,
            ooo_core::event_types::plugin::UPDATED,
            ooo_core::event_types::plugin::TRUSTED,
            ooo_core::event_types::plugin::DISABLED,
            ooo_core::event_types::plugin::REMOVED,
            ooo_core::event_types::plugin::INTEGRITY_FAILED,
        ]
    }

    fn apply(&self, event: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        let p = &event.payload;
        let Some(name) = p.get("name").and_then(Value::as_str) else { return Ok(()) };
        let trust_key = format!("trust:{name}");
        let disabled_key = format!("disabled:{name}");
        match event.event_type.as_str() {
            ooo_core::event_types::plugin::INSTALLED | ooo_core::event_types::plugin::UPDATED => {
                let Some(subject) = subject_of(p) else { return Ok(()) };
                if let Some(grant) =
                    rows.get(&trust_key)?.and_then(|v| serde_json::from_value::<Grant>(v).ok())
                    && grant.subject != subject
                {
                    // A different subject: the old grant does not carry over.
                    rows.delete(&trust_key)?;
                }
                if let Some(disable) =
                    rows.get(&disabled_key)?.and_then(|v| serde_json::from_value::<Disable>(v).ok())
                    && (disable.source_type != subject.source_type
                        || disable.source_identity != subject.source_identity)
                {
                    rows.delete(&disabled_key)?;
                }
            }
            ooo_core::event_types::plugin::TRUSTED => {
                let Some(subject) = subject_of(p) else { return Ok(()) };
                let granted: Vec<String> = p
                    .get("granted_scopes")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                rows.put(&trust_key, &json!(Grant { subject, granted_scopes: granted }))?;
                rows.delete(&disabled_key)?;
            }
            ooo_core::event_types::plugin::DISABLED => {
                let disable = Disable {
                    source_type: p
                        .get("source_type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    source_identity: p
                        .get("source_identity")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    disabled_at_seq: event.seq,
                    reason: p
                        .get("reason")
                        .and_then(Value::as_str)
                        .map_or_else(by_the_user, str::to_owned),
                };
                rows.put(&disabled_key, &json!(disable))?;
                rows.delete(&trust_key)?;
            }
            ooo_core::event_types::plugin::REMOVED => {
                rows.delete(&trust_key)?;
                rows.delete(&disabled_key)?;
            }
            // The installed bytes no longer match what was trusted.
            ooo_core::event_types::plugin::INTEGRITY_FAILED => rows.delete(&trust_key)?,
            _ => {}
        }
        Ok(())
    }
}

/// The current grant for `name`, whatever subject it is bound to.
pub fn grant(ledger: &dyn Store, name: &str) -> Result<Option<Grant>, LedgerError> {
    Ok(ledger
        .projection_get(PROJECTION, &format!("trust:{name}"))?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// The current disable record for `name`.
pub fn disable(ledger: &dyn Store, name: &str) -> Result<Option<Disable>, LedgerError> {
    Ok(ledger
        .projection_get(PROJECTION, &format!("disabled:{name}"))?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// Scopes granted to exactly this subject (empty when the grant is bound elsewhere).
pub fn granted_scopes(ledger: &dyn Store, subject: &Subject) -> Result<Vec<String>, LedgerError> {
    Ok(grant(ledger, &subject.name)?
        .filter(|g| g.subject == *subject)
        .map(|g| g.granted_scopes)
        .unwrap_or_default())
}

/// Is this exact subject trusted for `scope`?
pub fn is_trusted_for(
    ledger: &dyn Store,
    subject: &Subject,
    scope: &str,
) -> Result<bool, LedgerError> {
    if is_disabled(ledger, subject)? {
        return Ok(false);
    }
    Ok(granted_scopes(ledger, subject)?.iter().any(|s| s == scope))
}

/// Is the plugin disabled for this subject's source?
pub fn is_disabled(ledger: &dyn Store, subject: &Subject) -> Result<bool, LedgerError> {
    Ok(disable(ledger, &subject.name)?.is_some_and(|d| {
        d.source_type == subject.source_type && d.source_identity == subject.source_identity
    }))
}

/// Trust state and the required scopes still missing.
pub fn state(
    ledger: &dyn Store,
    subject: &Subject,
    required: &[&str],
) -> Result<(TrustState, Vec<String>), LedgerError> {
    if is_disabled(ledger, subject)? {
        return Ok((TrustState::Disabled, required.iter().map(|s| s.to_string()).collect()));
    }
    let record = grant(ledger, &subject.name)?.filter(|g| g.subject == *subject);
    let granted = record.as_ref().map(|g| g.granted_scopes.clone()).unwrap_or_default();
    let missing: Vec<String> = required
        .iter()
        .filter(|s| !granted.iter().any(|g| g == *s))
        .map(|s| s.to_string())
        .collect();
    let state = if record.is_some() && missing.is_empty() {
        TrustState::Trusted
    } else {
        TrustState::Installed
    };
    Ok((state, missing))
}

/// Append one `plugin.*` event (the store folds it into its registered projections).
pub fn record(
    ledger: &mut dyn Store,
    name: &str,
    event_type: &str,
    actor: &Actor,
    payload: Value,
) -> Result<Event, LedgerError> {
    let event = NewEvent::new(
        AggregateRef::new("plugin", name)?,
        EventType::parse(event_type)?,
        actor.clone(),
        payload,
    )?;
    let mut stored = ledger.append(&[event], AppendOptions::default())?;
    Ok(stored.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ooo_core::ledger::SqliteStore;

    fn subject(version: &str, digest: &str, identity: &str) -> Subject {
        Subject {
            name: "demo".into(),
            version: version.into(),
            source_type: "plugin_home".into(),
            source_identity: identity.into(),
            artifact_digest: digest.into(),
        }
    }

    fn installed(ledger: &mut SqliteStore, s: &Subject) {
        record(
            ledger,
            "demo",
            ooo_core::event_types::plugin::INSTALLED,
            &Actor::user("t").unwrap(),
            json!({"name": "demo", "subject": s}),
        )
        .unwrap();
    }

    /// A ledger in `dir` with the projections registered, as the application opens it.
    fn open(dir: &std::path::Path) -> SqliteStore {
        let mut ledger = SqliteStore::open(dir.join("l.db")).unwrap();
        ledger.register_all(ooo_core::PROJECTIONS);
        ledger.register_all(crate::PROJECTIONS);
        ledger
    }

    fn trusted(ledger: &mut SqliteStore, s: &Subject, scopes: &[&str]) {
        record(
            ledger,
            "demo",
            ooo_core::event_types::plugin::TRUSTED,
            &Actor::user("t").unwrap(),
            json!({"name": "demo", "subject": s, "granted_scopes": scopes}),
        )
        .unwrap();
    }

    #[test]
    fn grants_bind_to_the_exact_subject() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = open(dir.path());
        let a = subject("1.0.0", "sha256:a", "https://h/r");
        installed(&mut ledger, &a);
        assert_eq!(
            state(&ledger, &a, &["x:read"]).unwrap(),
            (TrustState::Installed, vec!["x:read".to_string()])
        );
        trusted(&mut ledger, &a, &["x:read"]);
        assert_eq!(state(&ledger, &a, &["x:read"]).unwrap().0, TrustState::Trusted);
        assert!(is_trusted_for(&ledger, &a, "x:read").unwrap());
        // Any change of version, digest or source voids it.
        for other in [
            subject("1.0.1", "sha256:a", "https://h/r"),
            subject("1.0.0", "sha256:b", "https://h/r"),
            subject("1.0.0", "sha256:a", "https://h/fork"),
        ] {
            assert!(!is_trusted_for(&ledger, &other, "x:read").unwrap());
        }
        // Reinstalling the same subject keeps it; a new subject drops it for good.
        installed(&mut ledger, &a);
        assert!(is_trusted_for(&ledger, &a, "x:read").unwrap());
        let b = subject("1.1.0", "sha256:b", "https://h/r");
        installed(&mut ledger, &b);
        installed(&mut ledger, &a);
        assert!(
            !is_trusted_for(&ledger, &a, "x:read").unwrap(),
            "going back does not restore a voided grant"
        );
    }

    #[test]
    fn disable_survives_upgrades_not_a_source_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = open(dir.path());
        let actor = Actor::user("t").unwrap();
        let a = subject("1.0.0", "sha256:a", "https://h/r");
        installed(&mut ledger, &a);
        trusted(&mut ledger, &a, &["x:read"]);
        record(
            &mut ledger,
            "demo",
            ooo_core::event_types::plugin::DISABLED,
            &actor,
            json!({"name": "demo", "source_type": "plugin_home", "source_identity": "https://h/r"}),
        )
        .unwrap();
        assert_eq!(state(&ledger, &a, &[]).unwrap().0, TrustState::Disabled);
        let upgraded = subject("2.0.0", "sha256:c", "https://h/r");
        installed(&mut ledger, &upgraded);
        assert_eq!(state(&ledger, &upgraded, &[]).unwrap().0, TrustState::Disabled);
        let moved = subject("2.0.0", "sha256:c", "https://elsewhere/r");
        installed(&mut ledger, &moved);
        assert_eq!(state(&ledger, &moved, &[]).unwrap().0, TrustState::Installed);
        // trust re-enables; remove clears everything but the history.
        record(&mut ledger, "demo", ooo_core::event_types::plugin::DISABLED, &actor, json!({"name": "demo", "source_type": "plugin_home", "source_identity": "https://elsewhere/r"})).unwrap();
        trusted(&mut ledger, &moved, &[]);
        assert_eq!(state(&ledger, &moved, &[]).unwrap().0, TrustState::Trusted);
        record(
            &mut ledger,
            "demo",
            ooo_core::event_types::plugin::REMOVED,
            &actor,
            json!({"name": "demo"}),
        )
        .unwrap();
        assert!(grant(&ledger, "demo").unwrap().is_none());
        assert_eq!(ledger.head().unwrap().unwrap().seq, 8, "history is kept");
        // The projection is derived: a rebuild gives the same answer.
        ledger.rebuild_projection(&PluginProjection).unwrap();
        assert!(grant(&ledger, "demo").unwrap().is_none());
    }
}
