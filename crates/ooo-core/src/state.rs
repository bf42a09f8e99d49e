//! State: a principal's own key-value store, kept as a projection of ledger events so it
//! is rebuilt from the ledger and changes in the same transaction as its event.
//!
//! Rows are `<namespace>/<key>`: a plugin's namespace is its name (as before), a
//! program's is `program:<name>` (`:` never occurs in a plugin name, so they cannot
//! collide). What does not live here: who may read or write (the grants of
//! [`crate::capability::ScopedCore`]).

use serde_json::{Value, json};

use crate::event_types::{PLUGIN, PLUGIN_REMOVED, PROGRAM};
use crate::ledger::{Event, LedgerError, Projection, ProjectionRows};

/// The projection's name (and its rows' namespace in the store).
pub const STATE: &str = "plugin_state";

/// The payload of a `*.state.put` event.
pub fn put_payload(owner_field: &str, owner: &str, key: &str, value: &Value) -> Value {
    json!({ owner_field: owner, "key": key, "value": value })
}

/// The payload of a `*.state.deleted` event.
pub fn deleted_payload(owner_field: &str, owner: &str, key: &str) -> Value {
    json!({ owner_field: owner, "key": key })
}

/// The row key of `key` in `namespace`.
pub fn row_key(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}

/// Folds the state events of plugins and programs; a purging `plugin.removed` clears
/// the plugin's rows.
pub struct StateProjection;

impl Projection for StateProjection {
    fn name(&self) -> &str {
        STATE
    }

    fn event_types(&self) -> &[&str] {
        const FOLDED: &[&str] = &[
            PLUGIN.state_put,
            PLUGIN.state_deleted,
            PROGRAM.state_put,
            PROGRAM.state_deleted,
            PLUGIN_REMOVED,
        ];
        FOLDED
    }

    fn apply(&self, e: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        let ty = e.event_type.as_str();
        if ty == PLUGIN_REMOVED && e.payload["purge"] == true {
            let Some(plugin) = e.payload["name"].as_str() else { return Ok(()) };
            for row in rows.keys(&format!("{plugin}/"))? {
                rows.delete(&row)?;
            }
            return Ok(());
        }
        let namespace = if ty == PLUGIN.state_put || ty == PLUGIN.state_deleted {
            e.payload["plugin"].as_str().map(str::to_owned)
        } else if ty == PROGRAM.state_put || ty == PROGRAM.state_deleted {
            e.payload["program"].as_str().map(|p| format!("program:{p}"))
        } else {
            return Ok(());
        };
        let (Some(namespace), Some(key)) = (namespace, e.payload["key"].as_str()) else {
            return Ok(());
        };
        let row = row_key(&namespace, key);
        if ty.ends_with(".put") { rows.put(&row, &e.payload["value"]) } else { rows.delete(&row) }
    }
}
