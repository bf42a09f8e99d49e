//! How a launched command ended, as the audit records it: the terminal event
//! (`plugin.completed` or `plugin.failed`) with its status and message, and the
//! provenance of the run (exit code, duration, output fingerprints, why it stopped, the
//! channel quota it hit).
//! Launching is `launch`'s; appending the event is the parent module's.

use std::time::Duration;

use super::launch::{Ended, Launched};

/// The terminal event of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Terminal {
    pub event: &'static str,
    pub status: &'static str,
    pub message: Option<String>,
}

impl Terminal {
    /// The event for how the command ended, `timeout` being the one it was given.
    pub fn of(ended: &Ended, timeout: Duration) -> Self {
        let failed = |message: String| Terminal {
            event: ooo_core::event_types::plugin::FAILED,
            status: "failed",
            message: Some(message),
        };
        match ended {
            Ended::Exited(0) => Terminal {
                event: ooo_core::event_types::plugin::COMPLETED,
                status: "success",
                message: None,
            },
            Ended::Exited(code) => failed(format!("exited with status {code}")),
            Ended::Signaled(sig) => failed(format!("killed by signal {sig}")),
            Ended::TimedOut => failed(format!(
                "timed out after {} s; the process group was terminated",
                timeout.as_secs()
            )),
            Ended::Cancelled => {
                failed("cancelled (Ctrl-C); the process group was terminated".to_owned())
            }
            Ended::StartFailed { message, .. } => failed(format!("could not start: {message}")),
        }
    }
}

/// The provenance of a finished run: exit code, duration, each stream's fingerprint
/// (or that it went to a terminal), and the reason for a run stopped from outside.
pub fn provenance(done: &Launched) -> Vec<(&'static str, String)> {
    let mut prov = vec![
        ("exit_code", done.ended.exit_code().to_string()),
        ("duration_ms", done.duration.as_millis().to_string()),
    ];
    let streams = [
        (&done.stdout, "stdout_sha256", "stdout_bytes", "stdout_capture"),
        (&done.stderr, "stderr_sha256", "stderr_bytes", "stderr_capture"),
    ];
    for (print, sha_key, bytes_key, capture_key) in streams {
        match print {
            Some(p) => {
                prov.push((sha_key, p.sha256.clone()));
                prov.push((bytes_key, p.bytes.to_string()));
            }
            None => prov.push((capture_key, "terminal".into())),
        }
    }
    if !done.refused_connections.is_empty() {
        // What the plugin tried to reach beyond its hosts, refused by the sandbox's proxy.
        prov.push(("network_refused", done.refused_connections.join(", ")));
    }
    match done.ended {
        Ended::Cancelled => prov.push(("reason", "cancelled".into())),
        Ended::TimedOut => prov.push(("reason", "timed_out".into())),
        _ => {}
    }
    prov
}

/// The provenance of a channel quota the run hit: which (`quota_exceeded`, one of
/// `ooo_mcp::quota::Quota`'s names), its limit and the amount the refused request would
/// have made. Nothing when no quota was hit.
pub fn quota_provenance(
    exceeded: Option<&ooo_mcp::quota::Exceeded>,
) -> Vec<(&'static str, String)> {
    match exceeded {
        Some(e) => vec![
            (QUOTA_EXCEEDED, e.quota.as_str().to_owned()),
            ("quota_limit", e.limit.to_string()),
            ("quota_observed", e.observed.to_string()),
        ],
        None => Vec::new(),
    }
}

/// The provenance key naming the channel quota a run hit.
pub const QUOTA_EXCEEDED: &str = "quota_exceeded";

#[cfg(test)]
mod tests {
    use super::super::launch::StreamPrint;
    use super::*;

    fn launched(ended: Ended, stdout: Option<StreamPrint>) -> Launched {
        Launched {
            ended,
            duration: Duration::from_millis(42),
            stdout,
            stderr: None,
            pid: None,
            refused_connections: Vec::new(),
        }
    }

    #[test]
    fn only_a_zero_exit_completes() {
        let t = Duration::from_secs(5);
        assert_eq!(
            Terminal::of(&Ended::Exited(0), t),
            Terminal {
                event: ooo_core::event_types::plugin::COMPLETED,
                status: "success",
                message: None
            }
        );
        let cases = [
            (Ended::Exited(3), "exited with status 3"),
            (Ended::Signaled(9), "killed by signal 9"),
            (Ended::TimedOut, "timed out after 5 s; the process group was terminated"),
            (Ended::Cancelled, "cancelled (Ctrl-C); the process group was terminated"),
            (
                Ended::StartFailed { not_found: true, message: "no such file".into() },
                "could not start: no such file",
            ),
        ];
        for (ended, message) in cases {
            let terminal = Terminal::of(&ended, t);
            assert_eq!(
                (terminal.event, terminal.status),
                (ooo_core::event_types::plugin::FAILED, "failed")
            );
            assert_eq!(terminal.message.as_deref(), Some(message));
        }
    }

    #[test]
    fn provenance_fingerprints_captured_streams_and_names_why_it_stopped() {
        let print = StreamPrint { sha256: "ab".into(), bytes: 7 };
        let prov = provenance(&launched(Ended::Exited(0), Some(print)));
        assert_eq!(
            prov,
            [
                ("exit_code", "0".to_owned()),
                ("duration_ms", "42".to_owned()),
                ("stdout_sha256", "ab".to_owned()),
                ("stdout_bytes", "7".to_owned()),
                ("stderr_capture", "terminal".to_owned()),
            ]
        );
        let timed_out = provenance(&launched(Ended::TimedOut, None));
        assert_eq!(timed_out.last(), Some(&("reason", "timed_out".to_owned())));
        let cancelled = provenance(&launched(Ended::Cancelled, None));
        assert_eq!(cancelled.last(), Some(&("reason", "cancelled".to_owned())));
    }

    #[test]
    fn a_quota_hit_names_the_quota_its_limit_and_the_amount() {
        use ooo_mcp::quota::{Exceeded, Quota};
        assert!(quota_provenance(None).is_empty());
        let e = Exceeded { quota: Quota::LedgerEvents, limit: 500, observed: 501 };
        assert_eq!(
            quota_provenance(Some(&e)),
            [
                ("quota_exceeded", "ledger_events".to_owned()),
                ("quota_limit", "500".to_owned()),
                ("quota_observed", "501".to_owned()),
            ]
        );
    }
}
