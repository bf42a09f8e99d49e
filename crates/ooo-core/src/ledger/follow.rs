//! Tailing the ledger: wait for new events matching a query, across processes.
//!
//! Works with any [`Store`] by polling for events after the last one seen (an indexed
//! range read, cheap enough at a few polls per second). Nothing here writes.

use std::time::{Duration, Instant};

use super::{Event, EventQuery, LedgerError, Store};

/// Default pause between polls.
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);

/// Yields events newer than a starting point, in order, as they are appended.
pub struct Follower<'s> {
    store: &'s dyn Store,
    query: EventQuery,
    next_seq: u64,
    poll: Duration,
}

impl<'s> Follower<'s> {
    /// Follow events matching `query` (its limit is ignored) with `seq > after_seq`.
    pub fn new(store: &'s dyn Store, query: EventQuery, after_seq: u64) -> Self {
        let query = EventQuery { limit: None, newest: false, ..query };
        Self { store, query, next_seq: after_seq + 1, poll: DEFAULT_POLL }
    }

    /// Change the pause between polls.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The matching events appended since the last call, without waiting.
    ///
    /// Each poll reads only the range between the last head seen and the current head,
    /// so non-matching events are never read twice.
    pub fn poll(&mut self) -> Result<Vec<Event>, LedgerError> {
        let Some(head) = self.store.head()? else { return Ok(Vec::new()) };
        if head.seq < self.next_seq {
            return Ok(Vec::new());
        }
        let from = self.next_seq.max(self.query.from_seq.unwrap_or(0));
        let query = EventQuery {
            from_seq: Some(from),
            to_seq: Some(self.query.to_seq.map_or(head.seq, |t| t.min(head.seq))),
            ..self.query.clone()
        };
        let events = self.store.query(&query)?;
        self.next_seq = head.seq + 1;
        Ok(events)
    }

    /// Wait until at least one matching event arrives, or `timeout` passes (then the
    /// result is empty). `None` waits forever.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Event>, LedgerError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let events = self.poll()?;
            if !events.is_empty() {
                return Ok(events);
            }
            let pause = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(self.poll),
                    _ => return Ok(events),
                },
                None => self.poll,
            };
            std::thread::sleep(pause);
        }
    }
}
