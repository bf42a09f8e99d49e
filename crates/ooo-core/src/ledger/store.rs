//! The backend-neutral storage contract: the [`Store`] trait, queries, append options
//! and projections. Callers program against this; SQLite implements it today and a
//! PostgreSQL backend can implement it later without changing them (nothing here is
//! SQL or SQLite specific).
//!
//! Projections are registered with the store once, by whoever opens it for the
//! application ([`Store::register`]; `ooo-cli` registers every projection of the binary
//! where it opens the home's ledger). Each [`Projection`] declares the event types it
//! folds ([`Projection::event_types`]), and every append folds each stored event into
//! every registered projection that declares its type, in the append's transaction.
//! Callers of [`Store::append`] never name projections. A rebuild
//! ([`Store::rebuild_projection`], [`Store::restore`]) folds the same events an append
//! would have, so a rebuilt projection equals one kept up to date.

use serde_json::Value;

use super::{Event, LedgerError, NewEvent, VerifyReport};

/// How durable an append must be when the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// On stable storage (survives power loss). Required before any external effect
    /// the event announces, and the default.
    #[default]
    Durable,
    /// Survives a crash of the process but may be lost on power failure or an OS crash.
    /// For bulk or re-derivable events only.
    Relaxed,
}

/// Options for one append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOptions {
    pub durability: Durability,
}

/// Which events to read. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// First sequence number (inclusive).
    pub from_seq: Option<u64>,
    /// Last sequence number (inclusive).
    pub to_seq: Option<u64>,
    /// Aggregate type, and optionally its id.
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// `plugin` matches `plugin` and `plugin.*`; `plugin.` matches `plugin.*`.
    pub event_type_prefix: Option<String>,
    /// Ledger-form timestamps (see `timestamp::normalize`): inclusive lower bound,
    /// exclusive upper bound.
    pub occurred_from: Option<String>,
    pub occurred_before: Option<String>,
    /// At most this many events.
    pub limit: Option<u64>,
    /// With a limit, take the newest matching events (still returned oldest first).
    pub newest: bool,
}

impl EventQuery {
    /// Does `event` pass every filter except limit/newest? Backends use SQL for this;
    /// the function documents the semantics and lets tests and followers share them.
    pub fn matches(&self, event: &Event) -> bool {
        self.from_seq.is_none_or(|s| event.seq >= s)
            && self.to_seq.is_none_or(|s| event.seq <= s)
            && self.aggregate_type.as_deref().is_none_or(|t| event.aggregate_type == t)
            && self.aggregate_id.as_deref().is_none_or(|i| event.aggregate_id == i)
            && self.event_type_prefix.as_deref().is_none_or(|p| type_matches(p, &event.event_type))
            && self.occurred_from.as_deref().is_none_or(|t| event.occurred_at.as_str() >= t)
            && self.occurred_before.as_deref().is_none_or(|t| event.occurred_at.as_str() < t)
    }
}

/// Segment-aware prefix match of event types.
pub fn type_matches(prefix: &str, event_type: &str) -> bool {
    if let Some(stem) = prefix.strip_suffix('.') {
        event_type.len() > prefix.len()
            && event_type.starts_with(stem)
            && event_type[stem.len()..].starts_with('.')
    } else {
        event_type == prefix
            || (event_type.starts_with(prefix) && event_type[prefix.len()..].starts_with('.'))
    }
}

/// The newest event's position in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

/// A projection's rows, scoped to that projection, inside the append transaction.
/// Keys are strings, values JSON documents.
pub trait ProjectionRows {
    fn get(&mut self, key: &str) -> Result<Option<Value>, LedgerError>;
    fn put(&mut self, key: &str, value: &Value) -> Result<(), LedgerError>;
    fn delete(&mut self, key: &str) -> Result<(), LedgerError>;
    /// Keys starting with `prefix`, sorted.
    fn keys(&mut self, prefix: &str) -> Result<Vec<String>, LedgerError>;
}

/// A read model derived only from events. Its rows change in the same transaction as
/// the events that change them (one source of truth, one commit), and it can be rebuilt
/// from the ledger at any time with [`Store::rebuild_projection`].
pub trait Projection: Send + Sync {
    /// Stable name; also the namespace of its rows.
    fn name(&self) -> &str;
    /// The event types it folds, each an exact type or a prefix as [`type_matches`]
    /// reads it (`plugin.` folds every `plugin.*`). Other events never reach
    /// [`Projection::apply`].
    fn event_types(&self) -> &[&str];
    /// Fold one event into the rows. Returning an error aborts the whole append.
    fn apply(&self, event: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError>;

    /// Does it fold events of `event_type`?
    fn folds(&self, event_type: &str) -> bool {
        self.event_types().iter().any(|t| type_matches(t, event_type))
    }
}

/// The projections registered with a store: what its appends keep up to date and its
/// restores rebuild. One per name; registering a name again replaces the earlier one.
#[derive(Clone, Default)]
pub struct Projections {
    registered: Vec<&'static dyn Projection>,
}

impl Projections {
    /// Add `projection`, replacing one registered under the same name.
    pub fn register(&mut self, projection: &'static dyn Projection) {
        self.registered.retain(|p| p.name() != projection.name());
        self.registered.push(projection);
    }

    /// Every registered projection, in the order registered.
    pub fn all(&self) -> impl Iterator<Item = &'static dyn Projection> + '_ {
        self.registered.iter().copied()
    }

    /// The registered projections that fold events of `event_type`.
    pub fn folding<'a>(
        &'a self,
        event_type: &'a str,
    ) -> impl Iterator<Item = &'static dyn Projection> + 'a {
        self.all().filter(move |p| p.folds(event_type))
    }
}

/// A ledger backend.
pub trait Store {
    /// Keep `projection` up to date from now on: every later append folds the events of
    /// the types it declares into it, and [`Store::restore`] rebuilds it. Done once, by
    /// whoever opens the store for the application.
    fn register(&mut self, projection: &'static dyn Projection);

    /// [`Store::register`] each of `projections`.
    fn register_all(&mut self, projections: &[&'static dyn Projection]) {
        projections.iter().for_each(|p| self.register(*p));
    }

    /// Append events as one transaction, in order, folding each into every registered
    /// projection that declares its type, in the same transaction. Returns the stored
    /// events. Either all are stored (with their projection rows) or none.
    fn append(
        &mut self,
        batch: &[NewEvent],
        opts: AppendOptions,
    ) -> Result<Vec<Event>, LedgerError>;

    /// Stream matching events, oldest first, until `visit` returns `false`.
    fn scan(
        &self,
        query: &EventQuery,
        visit: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), LedgerError>;

    /// The newest event's position, or `None` for an empty ledger.
    fn head(&self) -> Result<Option<ChainHead>, LedgerError>;

    /// Walk the whole chain.
    fn verify(&self) -> Result<VerifyReport, LedgerError>;

    /// One projection row.
    fn projection_get(&self, projection: &str, key: &str) -> Result<Option<Value>, LedgerError>;

    /// Projection rows whose key starts with `key_prefix`, sorted by key.
    fn projection_scan(
        &self,
        projection: &str,
        key_prefix: &str,
    ) -> Result<Vec<(String, Value)>, LedgerError>;

    /// Drop a projection's rows and refold every event of the types it declares (it
    /// need not be registered). Returns the events folded.
    fn rebuild_projection(&mut self, projection: &dyn Projection) -> Result<u64, LedgerError>;

    /// Restore an exported chain into this ledger, which must hold no events: the events
    /// are stored as they are (same seq, ids, times and hashes, so the ledger verifies to
    /// the same head) and every registered projection is rebuilt from them, in one
    /// transaction. The chain is checked first (`restore::check`): whole from genesis,
    /// intact, every event valid. Returns the events stored.
    fn restore(&mut self, events: &[Event]) -> Result<u64, LedgerError>;

    /// Append one durable event.
    fn append_one(&mut self, event: NewEvent) -> Result<Event, LedgerError> {
        let mut stored = self.append(std::slice::from_ref(&event), AppendOptions::default())?;
        Ok(stored.pop().expect("append of one event returns one event"))
    }

    /// Collect matching events.
    fn query(&self, query: &EventQuery) -> Result<Vec<Event>, LedgerError> {
        let mut out = Vec::new();
        self.scan(query, &mut |e| {
            out.push(e);
            true
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::type_matches;

    #[test]
    fn type_prefix_respects_segments() {
        assert!(type_matches("plugin", "plugin"));
        assert!(type_matches("plugin", "plugin.installed"));
        assert!(type_matches("plugin.", "plugin.installed"));
        assert!(!type_matches("plugin.", "plugin"));
        assert!(!type_matches("plugin", "plugins.installed"));
        assert!(!type_matches("plug", "plugin.installed"));
        assert!(type_matches("plugin.trust", "plugin.trust.granted"));
    }
}
