//! Repairing what an interrupted install left behind, under the lockfile lock: staging
//! copies are deleted; a backup is put back when the swap happened but the lockfile
//! write did not, and dropped when the lockfile already names the new tree (then the
//! `plugin.installed` event the crash may have cost is appended, marked `recovered`, so
//! the ledger never lacks an install the lockfile has). A first install leaves an empty
//! marker file in place of a backup: the same rules, with no previous tree to restore.
//! Installing itself is in the parent module.

use std::fs;

use serde_json::json;

use ooo_core::ledger::{Actor, EventQuery, Store};

use super::{Manager, ManagerError, io_err};
use crate::lockfile::{LockEntry, Lockfile};
use crate::tree::remove_tree;
use crate::trust;

impl Manager {
    /// Repair what an interrupted install left in `plugins/` (call holding the lock): a
    /// backup whose plugin has no live tree, or whose live tree does not match the
    /// lockfile (the swap happened, the lockfile write did not), is put back (a marker
    /// of a first install: the unrecorded tree is removed); other backups and every
    /// staging directory are deleted.
    pub(super) fn recover(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        lockfile: &Lockfile,
    ) -> Result<(), ManagerError> {
        let plugins = self.plugins_dir();
        let Ok(dir) = fs::read_dir(&plugins) else { return Ok(()) };
        let entries = lockfile.read()?;
        for item in dir.filter_map(Result::ok) {
            let file_name = item.file_name().to_string_lossy().into_owned();
            let path = item.path();
            if file_name.starts_with(".staging-") {
                remove_tree(&path).map_err(io_err(&path))?;
            } else if let Some(rest) = file_name.strip_prefix(".backup-") {
                let Some((name, _)) = rest.rsplit_once('-') else { continue };
                let live = self.home.plugin_dir(name);
                let recorded =
                    entries.iter().find(|e| e.name == name).map(|e| e.artifact_digest.clone());
                let live_matches = live.exists()
                    && recorded
                        .as_deref()
                        .is_some_and(|d| self.digest(&live, false).is_ok_and(|a| a == d));
                let first_install = path.is_file();
                if live_matches {
                    // The install finished on disk; if the process died before its
                    // ledger event, record it now so history matches the lockfile.
                    if let Some(entry) = entries.iter().find(|e| e.name == name) {
                        record_if_missing(ledger, actor, entry)?;
                    }
                } else if live.exists() {
                    remove_tree(&live).map_err(io_err(&live))?;
                }
                if first_install {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                } else if live_matches {
                    remove_tree(&path).map_err(io_err(&path))?;
                } else {
                    fs::rename(&path, &live).map_err(io_err(&path))?;
                }
            }
        }
        // Checkouts belong to whoever is fetching (outside this lock); only ones left by
        // a crash long ago are cleared.
        if let Ok(dir) = fs::read_dir(self.home.cache_dir()) {
            let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(24 * 3600);
            for item in dir.filter_map(Result::ok) {
                let stale = item.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < day_ago);
                if stale
                    && item
                        .file_name()
                        .to_string_lossy()
                        .starts_with(ooo_core::home::CHECKOUT_PREFIX)
                {
                    let _ = remove_tree(&item.path());
                }
            }
        }
        Ok(())
    }
}

/// Append `plugin.installed` (marked `recovered`) when the ledger's latest install or
/// update of `entry.name` is not for exactly this subject.
fn record_if_missing(
    ledger: &mut dyn Store,
    actor: &Actor,
    entry: &LockEntry,
) -> Result<(), ManagerError> {
    let subject = Manager::subject(entry);
    let events = ledger.query(&EventQuery {
        aggregate_type: Some("plugin".into()),
        aggregate_id: Some(entry.name.clone()),
        ..Default::default()
    })?;
    // The latest install, update or removal: after a removal nothing is installed.
    let latest = events.iter().rev().find(|e| {
        e.event_type == ooo_core::event_types::plugin::INSTALLED
            || e.event_type == ooo_core::event_types::plugin::UPDATED
            || e.event_type == ooo_core::event_types::plugin::REMOVED
    });
    let recorded = latest
        .filter(|e| e.event_type != ooo_core::event_types::plugin::REMOVED)
        .and_then(|e| serde_json::from_value(e.payload["subject"].clone()).ok());
    if recorded.as_ref() == Some(&subject) {
        return Ok(());
    }
    trust::record(
        ledger,
        &entry.name,
        ooo_core::event_types::plugin::INSTALLED,
        actor,
        json!({
            "name": entry.name,
            "subject": subject,
            "source_kind": entry.source_kind,
            "repository": entry.repository,
            "git_sha": entry.git_sha,
            "requested_ref": entry.requested_ref,
            "manifest_checksum": entry.manifest_checksum,
            "recovered": true,
        }),
    )?;
    Ok(())
}
