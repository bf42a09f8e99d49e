//! Event type names of the records a principal makes through [`crate::capability::ScopedCore`],
//! defined once. Plugins and programs write the same records under their own prefix, so
//! `ooo ledger log --type plugin` or `--type program` separates them.
//!
//! What does not live here (yet): the plugin manager's lifecycle events
//! (`plugin.installed`, ...), the firewall's invocation events and the runtime journal's
//! (`ooo_runtime::journal::event_types`), which their own crates define.

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

/// A plugin was removed (its state goes with it when purged).
pub const PLUGIN_REMOVED: &str = "plugin.removed";

/// A seed was saved.
pub const SEED_CREATED: &str = "seed.created";
