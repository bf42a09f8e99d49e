//! Per-invocation quotas on the capability channel: the request bytes a plugin may send,
//! the tool calls it may make, and the ledger events and bytes it may append through
//! the channel. [`Quotas`] holds the limits (defaults in one place, below), [`Meter`]
//! counts one invocation against them, and [`BoundedReader`] stops reading the socket at
//! the byte quota, so no request, however long its line, is buffered past it.
//!
//! Going over a quota is recorded once (the first [`Exceeded`]) and closes the channel
//! to writes for the rest of the invocation:
//! * request bytes: reading stops at the limit; the channel ends and the plugin gets one
//!   JSON-RPC error with `id: null` (the cut-off request's id was never read whole);
//! * tool calls: that call and every later one get a JSON-RPC error;
//! * ledger events or bytes: that call and every later call that would append get a
//!   JSON-RPC error; tools that only read (state, the invocation's own events, seeds)
//!   keep answering until the call quota.
//!
//! What does not live here: which tools append (the tool table in `capability`) and
//! recording the quota in the invocation's audit (the firewall in `ooo-plugin`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use serde::Serialize;
use tokio::io::{AsyncRead, ReadBuf};

/// Default request bytes one invocation may send on its channel: 8 MiB.
pub const DEFAULT_REQUEST_BYTES: u64 = 8 * 1024 * 1024;
/// Default tool calls one invocation may make: 1000.
pub const DEFAULT_TOOL_CALLS: u64 = 1000;
/// Default ledger events one invocation may append through its channel: 500.
pub const DEFAULT_LEDGER_EVENTS: u64 = 500;
/// Default ledger bytes (the JSON arguments of appending calls, which the events carry)
/// one invocation may append through its channel: 4 MiB.
pub const DEFAULT_LEDGER_BYTES: u64 = 4 * 1024 * 1024;

/// The limits of one invocation's channel.
///
/// The defaults bound what a hostile plugin can do to the shared ledger (a flood of
/// `ledger_append` wrote 75 MiB in 1.5 s before quotas) while leaving an honest plugin
/// far more than it needs: a few hundred evidence events of up to kilobytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub request_bytes: u64,
    pub tool_calls: u64,
    pub ledger_events: u64,
    pub ledger_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            request_bytes: DEFAULT_REQUEST_BYTES,
            tool_calls: DEFAULT_TOOL_CALLS,
            ledger_events: DEFAULT_LEDGER_EVENTS,
            ledger_bytes: DEFAULT_LEDGER_BYTES,
        }
    }
}

/// Which quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    RequestBytes,
    ToolCalls,
    LedgerEvents,
    LedgerBytes,
}

impl Quota {
    /// The name the audit and the JSON-RPC error use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestBytes => "request_bytes",
            Self::ToolCalls => "tool_calls",
            Self::LedgerEvents => "ledger_events",
            Self::LedgerBytes => "ledger_bytes",
        }
    }
}

/// A quota that was hit: its limit and the amount the refused request would have made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Exceeded {
    pub quota: Quota,
    pub limit: u64,
    pub observed: u64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "channel quota {} exceeded: limit {} per invocation, this request would make {}; \
             the channel accepts no more writes for this invocation",
            self.quota.as_str(),
            self.limit,
            self.observed
        )
    }
}

impl std::error::Error for Exceeded {}

#[derive(Debug, Default)]
struct Counts {
    request_bytes: u64,
    tool_calls: u64,
    ledger_events: u64,
    ledger_bytes: u64,
    /// The first quota hit; from then on the channel refuses writes.
    exceeded: Option<Exceeded>,
}

/// One invocation's use of its channel, counted against its [`Quotas`]. Shared by the
/// reader and the tool dispatch.
#[derive(Debug)]
pub struct Meter {
    quotas: Quotas,
    counts: Mutex<Counts>,
}

impl Meter {
    pub fn new(quotas: Quotas) -> Self {
        Self { quotas, counts: Mutex::new(Counts::default()) }
    }

    pub fn quotas(&self) -> Quotas {
        self.quotas
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember the first quota hit and return it as the error of this request.
    fn over(c: &mut Counts, quota: Quota, limit: u64, observed: u64) -> Exceeded {
        let e = Exceeded { quota, limit, observed };
        c.exceeded.get_or_insert(e);
        e
    }

    /// `n` more request bytes would be read: how many of them may be (all, or up to the
    /// limit; fewer than `n` means the byte quota is now exceeded).
    pub fn admit_bytes(&self, n: u64) -> u64 {
        let mut c = self.counts();
        let room = self.quotas.request_bytes.saturating_sub(c.request_bytes);
        let admitted = n.min(room);
        c.request_bytes += admitted;
        if admitted < n {
            let observed = c.request_bytes + (n - admitted);
            Self::over(&mut c, Quota::RequestBytes, self.quotas.request_bytes, observed);
        }
        admitted
    }

    /// Count one tool call; `appends` with the JSON size of its arguments when it
    /// appends a ledger event. Refused when it goes over a quota, or when it appends
    /// after any quota was hit (the channel is closed to writes).
    pub fn admit_call(&self, appends: Option<u64>) -> Result<(), Exceeded> {
        let mut c = self.counts();
        let q = self.quotas;
        if c.tool_calls >= q.tool_calls {
            let observed = c.tool_calls + 1;
            return Err(Self::over(&mut c, Quota::ToolCalls, q.tool_calls, observed));
        }
        c.tool_calls += 1;
        let Some(bytes) = appends else { return Ok(()) };
        if let Some(first) = c.exceeded {
            return Err(first);
        }
        if c.ledger_events >= q.ledger_events {
            let observed = c.ledger_events + 1;
            return Err(Self::over(&mut c, Quota::LedgerEvents, q.ledger_events, observed));
        }
        if c.ledger_bytes + bytes > q.ledger_bytes {
            let observed = c.ledger_bytes + bytes;
            return Err(Self::over(&mut c, Quota::LedgerBytes, q.ledger_bytes, observed));
        }
        c.ledger_events += 1;
        c.ledger_bytes += bytes;
        Ok(())
    }

    /// The first quota this invocation hit, if any.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.counts().exceeded
    }

    /// Ledger events and bytes admitted so far.
    pub fn ledger_appended(&self) -> (u64, u64) {
        let c = self.counts();
        (c.ledger_events, c.ledger_bytes)
    }
}

/// Reads the channel for the server and stops at the request-byte quota: it hands on
/// bytes up to the limit and then reports end of stream, so neither it nor the line
/// reader above it ever holds more than the quota (see the module doc).
pub struct BoundedReader<R> {
    inner: R,
    meter: Arc<Meter>,
    ended: bool,
}

impl<R> BoundedReader<R> {
    pub fn new(inner: R, meter: Arc<Meter>) -> Self {
        Self { inner, meter, ended: false }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BoundedReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.ended {
            return Poll::Ready(Ok(()));
        }
        // Read at most one byte past what the quota leaves: enough to tell "at the
        // limit" from "over it" without taking more.
        let room = {
            let q = self.meter.quotas().request_bytes;
            let used = q - self.meter.counts().request_bytes.min(q);
            usize::try_from(used.saturating_add(1)).unwrap_or(usize::MAX)
        };
        let want = buf.remaining().min(room);
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(want));
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let n = limited.filled().len();
                let admitted = this.meter.admit_bytes(n as u64) as usize;
                buf.advance(admitted);
                if admitted < n {
                    this.ended = true;
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn small() -> Quotas {
        Quotas { request_bytes: 10, tool_calls: 5, ledger_events: 2, ledger_bytes: 100 }
    }

    #[test]
    fn the_defaults_are_the_documented_numbers() {
        let q = Quotas::default();
        assert_eq!(
            (q.request_bytes, q.tool_calls, q.ledger_events, q.ledger_bytes),
            (8 << 20, 1000, 500, 4 << 20)
        );
    }

    #[test]
    fn ledger_events_are_counted_and_the_first_excess_is_kept() {
        let m = Meter::new(small());
        m.admit_call(Some(10)).unwrap();
        m.admit_call(None).unwrap();
        m.admit_call(Some(10)).unwrap();
        let e = m.admit_call(Some(10)).unwrap_err();
        assert_eq!(e, Exceeded { quota: Quota::LedgerEvents, limit: 2, observed: 3 });
        assert!(e.to_string().contains("ledger_events exceeded: limit 2"), "{e}");
        // Reads still answer; writes stay closed and report the first quota hit.
        m.admit_call(None).unwrap();
        assert_eq!(m.admit_call(Some(1)).unwrap_err().quota, Quota::ToolCalls);
        assert_eq!(m.exceeded(), Some(e), "the first excess is the one recorded");
        assert_eq!(m.ledger_appended(), (2, 20));
    }

    #[test]
    fn ledger_bytes_refuse_the_append_that_would_go_over_and_close_writes() {
        let m = Meter::new(small());
        m.admit_call(Some(60)).unwrap();
        let e = m.admit_call(Some(41)).unwrap_err();
        assert_eq!(e, Exceeded { quota: Quota::LedgerBytes, limit: 100, observed: 101 });
        // A small append after it is refused too: the channel is closed to writes.
        assert_eq!(m.admit_call(Some(1)).unwrap_err(), e);
        assert_eq!(m.ledger_appended(), (1, 60));
    }

    #[test]
    fn tool_calls_are_capped_for_reads_too() {
        let m = Meter::new(small());
        for _ in 0..5 {
            m.admit_call(None).unwrap();
        }
        let e = m.admit_call(None).unwrap_err();
        assert_eq!(e, Exceeded { quota: Quota::ToolCalls, limit: 5, observed: 6 });
        assert_eq!(m.exceeded(), Some(e));
    }

    #[test]
    fn request_bytes_admit_up_to_the_limit() {
        let m = Meter::new(small());
        assert_eq!(m.admit_bytes(4), 4);
        assert_eq!(m.admit_bytes(6), 6);
        assert_eq!(m.exceeded(), None, "exactly at the limit is fine");
        assert_eq!(m.admit_bytes(3), 0);
        assert_eq!(
            m.exceeded(),
            Some(Exceeded { quota: Quota::RequestBytes, limit: 10, observed: 13 })
        );
    }

    #[test]
    fn the_reader_stops_at_the_quota_without_taking_the_rest() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            // One line far longer than the quota.
            let long = vec![b'x'; 1 << 20];
            let meter = Arc::new(Meter::new(small()));
            let mut reader = BoundedReader::new(&long[..], meter.clone());
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await.unwrap();
            assert_eq!(got.len(), 10, "only the quota's bytes are handed on");
            let e = meter.exceeded().unwrap();
            assert_eq!((e.quota, e.limit), (Quota::RequestBytes, 10));
            assert!(e.observed == 11, "one byte past the limit is read to tell: {e:?}");
            // Within the quota, everything passes and nothing is recorded.
            let meter = Arc::new(Meter::new(small()));
            let mut reader = BoundedReader::new(&b"0123456789"[..], meter.clone());
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"0123456789");
            assert_eq!(meter.exceeded(), None);
        });
    }
}
