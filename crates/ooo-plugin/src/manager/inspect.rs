//! `inspect`: everything known about one installed plugin as a typed [`Inspection`]
//! (its lockfile entry, trust, the latest install or update as the ledger recorded it,
//! and a summary of its manifest), which serialises for `--json`. Rendering it for
//! people is the command line's; changing anything is the other verbs'.

use serde::{Deserialize, Serialize};

use ooo_core::ledger::{EventQuery, Store};

use super::{Manager, ManagerError, PermissionChange};
use crate::build::Built;
use crate::manifest::{self, Manifest, Risk};
use crate::trust::{self, TrustState};

/// One installed plugin, as `ooo plugin inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub name: String,
    pub version: String,
    pub source_kind: String,
    pub source_identity: String,
    pub artifact_digest: String,
    /// The digest of the source before its build step, when it has one.
    pub source_digest: Option<String>,
    pub build: Option<Built>,
    pub trust_state: TrustState,
    pub granted_scopes: Vec<String>,
    pub missing_required_scopes: Vec<String>,
    pub installed_at: String,
    pub plugin_home: String,
    pub repository: Option<String>,
    pub git_sha: Option<String>,
    pub requested_ref: Option<String>,
    pub disabled: Option<Disabled>,
    pub last_change: Option<LastChange>,
    pub manifest: ManifestSummary,
}

/// Why the plugin is disabled, and the ledger event that did it.
#[derive(Debug, Clone, Serialize)]
pub struct Disabled {
    pub reason: String,
    pub ledger_seq: u64,
}

/// The latest `plugin.installed` or `plugin.updated` event.
#[derive(Debug, Clone, Serialize)]
pub struct LastChange {
    pub ledger_seq: u64,
    pub event_type: String,
    pub at: String,
    /// What it replaced; `None` for a first install.
    pub previous: Option<Previous>,
    pub permissions_added: Option<Vec<PermissionChange>>,
    pub permissions_removed: Option<Vec<PermissionChange>>,
}

/// The install an update or reinstall replaced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Previous {
    pub version: String,
    pub artifact_digest: String,
}

/// What the manifest declares, as `inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestSummary {
    pub schema_version: String,
    pub description: String,
    pub namespace: String,
    pub commands: Vec<CommandSummary>,
    pub capabilities: Vec<manifest::Capability>,
    pub permissions: Vec<manifest::Permission>,
    /// Each declared scope with every resource it opens (variables, hosts, paths).
    pub scopes: Vec<manifest::opens::ScopeOpens>,
    /// What every invocation gets without a scope.
    pub without_scope: Vec<manifest::opens::Resource>,
    /// Hook names.
    pub hooks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandSummary {
    pub name: String,
    pub summary: String,
    pub risk: Risk,
    pub requires_confirmation: bool,
    pub permissions: Vec<String>,
}

impl ManifestSummary {
    fn of(m: &Manifest) -> Self {
        Self {
            schema_version: m.schema_version.clone(),
            description: m.description.clone(),
            namespace: m.namespace().to_owned(),
            commands: m
                .commands
                .iter()
                .map(|c| CommandSummary {
                    name: c.name.clone(),
                    summary: c.summary.clone(),
                    risk: c.risk,
                    requires_confirmation: c.requires_confirmation,
                    permissions: c.permissions.clone(),
                })
                .collect(),
            capabilities: m.capabilities.clone(),
            permissions: m.permissions.clone(),
            scopes: m.scopes_opening(),
            without_scope: m.opened_without_scope(),
            hooks: m.hooks.iter().map(|h| h.name.clone()).collect(),
        }
    }
}

/// One field of an event payload, when it is there and has the expected shape.
fn field<T: serde::de::DeserializeOwned>(payload: &serde_json::Value, key: &str) -> Option<T> {
    payload.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
}

impl Manager {
    /// Everything known about one installed plugin.
    pub fn inspect(&self, ledger: &dyn Store, name: &str) -> Result<Inspection, ManagerError> {
        let entry = self.entry(name)?;
        let row = self
            .list(ledger)?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| ManagerError::NotInstalled(name.to_owned()))?;
        let m = self.installed_manifest(&entry)?;
        let disabled = trust::disable(ledger, name)?
            .filter(|d| {
                d.source_type == entry.source_type && d.source_identity == entry.source_identity
            })
            .map(|d| Disabled { reason: d.reason, ledger_seq: d.disabled_at_seq });
        // What the latest install or update changed and built (from the ledger, the
        // record of it).
        let last_install = ledger
            .query(&EventQuery {
                aggregate_type: Some("plugin".into()),
                aggregate_id: Some(name.to_owned()),
                ..Default::default()
            })?
            .into_iter()
            .rev()
            .find(|e| {
                matches!(
                    e.event_type.as_str(),
                    ooo_core::event_types::plugin::INSTALLED
                        | ooo_core::event_types::plugin::UPDATED
                )
            });
        let build = last_install.as_ref().and_then(|e| field(&e.payload, "build"));
        let last_change = last_install.map(|e| LastChange {
            ledger_seq: e.seq,
            previous: field(&e.payload, "previous"),
            permissions_added: field(&e.payload, "permissions_added"),
            permissions_removed: field(&e.payload, "permissions_removed"),
            event_type: e.event_type,
            at: e.occurred_at,
        });
        Ok(Inspection {
            name: row.name,
            version: row.version,
            source_kind: row.source_kind,
            source_identity: row.source_identity,
            artifact_digest: row.artifact_digest,
            source_digest: entry.source_digest,
            build,
            trust_state: row.trust_state,
            granted_scopes: row.granted_scopes,
            missing_required_scopes: row.missing_required_scopes,
            installed_at: entry.installed_at,
            plugin_home: entry.plugin_home,
            repository: entry.repository,
            git_sha: entry.git_sha,
            requested_ref: entry.requested_ref,
            disabled,
            last_change,
            manifest: ManifestSummary::of(&m),
        })
    }
}
