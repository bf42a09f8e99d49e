//! Event type names of the records a principal makes through [`crate::capability::ScopedCore`],
//! defined once. Plugins and programs write the same records under their own prefix, so
//! `ooo ledger log --type plugin` or `--type program` separates them.
//!
//! The plugin manager's and the firewall's events are here too ([`plugin`]). What does
//! not live here: the runtime journal's (`ooo_runtime::journal::event_types`), defined
//! with the journal in the crate that writes them.

/// The records one kind of principal writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTypes {
    pub evidence: &'static str,
    pub state_put: &'static str,
    pub state_deleted: &'static str,
    pub provenance: &'static str,
    pub handoff: &'static str,
    pub progress: &'static str,
}

/// What plugins write (the names upstream's audit trail uses).
pub const PLUGIN: RecordTypes = RecordTypes {
    evidence: "plugin.evidence.recorded",
    state_put: "plugin.state.put",
    state_deleted: "plugin.state.deleted",
    provenance: "plugin.provenance.recorded",
    handoff: "plugin.handoff.attached",
    progress: "plugin.progress.reported",
};

/// What first-party programs write.
pub const PROGRAM: RecordTypes = RecordTypes {
    evidence: "program.evidence.recorded",
    state_put: "program.state.put",
    state_deleted: "program.state.deleted",
    provenance: "program.provenance.recorded",
    handoff: "program.handoff.attached",
    progress: "program.progress.reported",
};

/// The plugin manager's and the firewall's own events: a plugin's life (installed,
/// trusted, ...) and each invocation's (invoked, hooks, completed or failed).
pub mod plugin {
    pub const INSTALLED: &str = "plugin.installed";
    pub const UPDATED: &str = "plugin.updated";
    pub const REMOVED: &str = "plugin.removed";
    pub const TRUSTED: &str = "plugin.trusted";
    pub const DISABLED: &str = "plugin.disabled";
    pub const INVOKED: &str = "plugin.invoked";
    pub const COMPLETED: &str = "plugin.completed";
    pub const FAILED: &str = "plugin.failed";
    pub const INTEGRITY_FAILED: &str = "plugin.integrity_failed";
    pub const PERMISSION_USED: &str = "plugin.permission_used";
    pub const HOOK_INVOKED: &str = "plugin.hook.invoked";
    pub const HOOK_COMPLETED: &str = "plugin.hook.completed";
    pub const HOOK_FAILED: &str = "plugin.hook.failed";
    pub const HOOK_BLOCKED: &str = "plugin.hook.blocked";
    pub const TOOL_INTERCEPT_REQUESTED: &str = "plugin.tool.intercept.requested";
    pub const TOOL_INTERCEPT_COMPLETED: &str = "plugin.tool.intercept.completed";
    pub const TOOL_INTERCEPT_BLOCKED: &str = "plugin.tool.intercept.blocked";
    pub const TOOL_OBSERVE_RECORDED: &str = "plugin.tool.observe.recorded";
}

/// A plugin was removed (its state goes with it when purged).
pub const PLUGIN_REMOVED: &str = plugin::REMOVED;

/// A seed was saved.
pub const SEED_CREATED: &str = "seed.created";
