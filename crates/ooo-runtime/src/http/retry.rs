//! When to try a call again: on 429, 5xx and connection failures, after the wait the
//! provider asked for (`Retry-After`, in seconds or as an HTTP date) or a jittered
//! exponential backoff, within a cap on attempts and on any single wait. What does not
//! live here: deciding what a failure is (`classify`), making the call.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

use ooo_core::runtime::{RuntimeError, RuntimeErrorKind};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// How a provider retries a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 never retries).
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles with each retry.
    pub initial_backoff: Duration,
    /// No backoff is longer than this.
    pub max_backoff: Duration,
    /// The longest wait accepted from a provider's `Retry-After`; asked for more, the
    /// call gives up at once (with the asked wait in the error).
    pub max_wait: Duration,
    /// Wait a random time between half and all of each backoff, so that many callers
    /// do not retry in step. `Retry-After` waits are honoured exactly.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// Four attempts, backoff 0.5 s, 1 s, 2 s (jittered), at most 60 s for a `Retry-After`.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..Self::default() }
    }

    /// How long to wait after failed attempt number `attempt` (1-based) before the next,
    /// or `None` when the call should give up: attempts used up, or the provider asked
    /// for a longer wait than `max_wait`.
    pub fn wait_after(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(asked) = retry_after {
            return (asked <= self.max_wait).then_some(asked);
        }
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let backoff = self.initial_backoff.saturating_mul(doubling).min(self.max_backoff);
        Some(if self.jitter { jittered(backoff, attempt) } else { backoff })
    }
}

/// A random duration between half of `backoff` and all of it.
fn jittered(backoff: Duration, attempt: u32) -> Duration {
    let random = RandomState::new().hash_one(attempt);
    let half = backoff / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % nanos.saturating_add(1))
}

/// Failures worth another attempt: rate limits and an unavailable server.
pub(crate) fn is_retryable(error: &RuntimeError) -> bool {
    matches!(error.kind, RuntimeErrorKind::RateLimited | RuntimeErrorKind::Unavailable)
}

/// Run `attempt` until it succeeds, fails for good, or the policy says stop.
pub(crate) fn run<T>(
    policy: &RetryPolicy,
    attempt: impl FnMut() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    run_with_sleep(policy, attempt, std::thread::sleep)
}

fn run_with_sleep<T>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut() -> Result<T, RuntimeError>,
    mut sleep: impl FnMut(Duration),
) -> Result<T, RuntimeError> {
    let mut number = 1;
    loop {
        let error = match attempt() {
            Ok(value) => return Ok(value),
            Err(error) if !is_retryable(&error) => return Err(error),
            Err(error) => error,
        };
        let Some(wait) = policy.wait_after(number, error.retry_after) else {
            return Err(gave_up(error, number));
        };
        sleep(wait);
        number += 1;
    }
}

/// Say in the error how many attempts were made.
fn gave_up(mut error: RuntimeError, attempts: u32) -> RuntimeError {
    if attempts > 1 {
        error.message = format!("{} (after {attempts} attempts)", error.message);
    }
    error
}

/// A `Retry-After` value: delay seconds, or an HTTP date (a date in the past is no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let now = OffsetDateTime::from(now);
    Some(Duration::try_from(when - now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use proptest::prelude::*;

    use super::*;

    fn error(kind: RuntimeErrorKind, retry_after: Option<Duration>) -> RuntimeError {
        RuntimeError::new(kind, "t", "failed", "hint").with_retry_after(retry_after)
    }

    fn steady() -> RetryPolicy {
        RetryPolicy { jitter: false, ..RetryPolicy::default() }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_after_the_last_attempt() {
        let p = RetryPolicy { max_attempts: 6, max_backoff: Duration::from_secs(3), ..steady() };
        let waits: Vec<_> = (1..=6).map(|n| p.wait_after(n, None)).collect();
        let ms = |v: u64| Some(Duration::from_millis(v));
        assert_eq!(waits, [ms(500), ms(1000), ms(2000), ms(3000), ms(3000), None]);
        assert_eq!(RetryPolicy::none().wait_after(1, None), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_max_wait() {
        let p = steady();
        assert_eq!(p.wait_after(1, Some(Duration::from_secs(7))), Some(Duration::from_secs(7)));
        assert_eq!(p.wait_after(1, Some(Duration::from_secs(61))), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        let date = parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now);
        assert_eq!(date, Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn run_retries_only_retryable_failures() {
        let slept = RefCell::new(Vec::new());
        let mut outcomes = vec![
            Err(error(RuntimeErrorKind::RateLimited, Some(Duration::from_secs(2)))),
            Err(error(RuntimeErrorKind::Unavailable, None)),
            Ok(7),
        ]
        .into_iter();
        let got =
            run_with_sleep(&steady(), || outcomes.next().unwrap(), |d| slept.borrow_mut().push(d));
        assert_eq!(got.unwrap(), 7);
        assert_eq!(*slept.borrow(), [Duration::from_secs(2), Duration::from_secs(1)]);

        let mut calls = 0;
        let refused = run_with_sleep(
            &steady(),
            || -> Result<(), _> {
                calls += 1;
                Err(error(RuntimeErrorKind::Auth, None))
            },
            |_| panic!("no wait for a refused key"),
        );
        assert_eq!((refused.unwrap_err().kind, calls), (RuntimeErrorKind::Auth, 1));
    }

    #[test]
    fn giving_up_says_how_many_attempts() {
        let p = RetryPolicy { max_attempts: 3, ..steady() };
        let err = run_with_sleep(
            &p,
            || -> Result<(), _> { Err(error(RuntimeErrorKind::Unavailable, None)) },
            |_| {},
        )
        .unwrap_err();
        assert_eq!(err.message, "failed (after 3 attempts)");
        assert_eq!(err.kind, RuntimeErrorKind::Unavailable);
    }

    proptest! {
        #[test]
        fn jittered_waits_stay_within_half_and_whole(attempt in 1u32..10, ms in 1u64..10_000) {
            let p = RetryPolicy {
                max_attempts: 10,
                initial_backoff: Duration::from_millis(ms),
                max_backoff: Duration::from_secs(30),
                ..RetryPolicy::default()
            };
            let full = RetryPolicy { jitter: false, ..p }.wait_after(attempt, None).unwrap();
            let wait = p.wait_after(attempt, None).unwrap();
            prop_assert!(wait >= full / 2 && wait <= full, "{wait:?} vs {full:?}");
        }
    }
}
