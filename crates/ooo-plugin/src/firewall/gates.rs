//! The firewall's gates, one function each, in the contract's order: disabled, digest
//! re-check, required scopes trusted, cancellation, confirmation, `before_invocation`
//! hooks, then again cancellation and the digest, and the sandbox the config requires.
//! Each gate only decides, from what it is given, whether the command may go on; what
//! it needs is looked up, and the refusal recorded, by the pipeline in the parent
//! module (`invoke`). Launching and auditing are not here.

use crate::lockfile::LockEntry;
use crate::trust::TrustState;

/// A gate's refusal: the audit status of the `plugin.failed` it records, and the
/// message naming the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    pub status: &'static str,
    pub message: String,
}

impl Blocked {
    fn new(message: String) -> Self {
        Self { status: "blocked", message }
    }

    fn subject_changed(message: String) -> Self {
        Self { status: "trust_subject_changed", message }
    }
}

/// What a gate answers: go on, or this refusal.
pub type Gate = Result<(), Blocked>;

/// `--scope a --scope b`.
fn scope_flags(scopes: &[String]) -> String {
    scopes.iter().map(|s| format!("--scope {s}")).collect::<Vec<_>>().join(" ")
}

/// A disabled plugin runs nothing until it is trusted again.
pub fn not_disabled(name: &str, state: TrustState, missing: &[String]) -> Gate {
    if state != TrustState::Disabled {
        return Ok(());
    }
    Err(Blocked::new(format!(
        "{name} is disabled; re-enable it with `ooo plugin trust {name} {}`",
        scope_flags(missing)
    )))
}

/// The installed files are the ones that were trusted (`actual` is their digest now, or
/// why it could not be taken).
pub fn files_unchanged(entry: &LockEntry, actual: Result<&str, String>) -> Gate {
    let name = &entry.name;
    let actual = actual.map_err(|e| {
        Blocked::subject_changed(format!(
            "{name}'s installed files cannot be checked ({e}); reinstall it"
        ))
    })?;
    if actual == entry.artifact_digest {
        return Ok(());
    }
    Err(Blocked::subject_changed(format!(
        "{name}'s installed files changed since they were trusted ({actual}, installed {}); check with `ooo plugin verify {name}`, then reinstall with `ooo plugin install {name} --from {}{}` and trust it again",
        entry.artifact_digest,
        shlex::try_quote(&entry.source_identity).unwrap_or_default(),
        // The commit that was trusted, not whatever a branch points at now.
        entry
            .git_sha
            .as_ref()
            .or(entry.requested_ref.as_ref())
            .map(|r| format!(" --ref {r}"))
            .unwrap_or_default()
    )))
}

/// Every scope the command requires is trusted.
pub fn scopes_trusted(name: &str, missing: &[String]) -> Gate {
    if missing.is_empty() {
        return Ok(());
    }
    Err(Blocked::new(format!(
        "{name} is not trusted for {}; grant it with `ooo plugin trust {name} {}`",
        missing.join(", "),
        scope_flags(missing)
    )))
}

/// The user has not pressed Ctrl-C.
pub fn not_cancelled(cancelled: bool) -> Gate {
    if cancelled {
        return Err(Blocked::new("cancelled before the command started".into()));
    }
    Ok(())
}

/// A command that asks first runs only with `--confirm` (`flag`) or a yes at the
/// prompt (`answer`: `None` when there is no terminal). Returns how it was confirmed,
/// for `plugin.invoked`.
pub fn confirmed(
    target: &str,
    command: &str,
    flag: bool,
    answer: Option<bool>,
) -> Result<&'static str, Blocked> {
    match (flag, answer) {
        (true, _) => Ok("--confirm flag"),
        (false, Some(true)) => Ok("confirmed at the prompt"),
        (false, Some(false)) => Err(Blocked::new(format!(
            "declined at the prompt; run `ooo {target} {command}` again to be asked again"
        ))),
        (false, None) => Err(Blocked::new(format!(
            "`{target} {command}` asks for confirmation and there is no terminal to ask on; to run it anyway: `ooo --confirm {target} {command} ...`"
        ))),
    }
}

/// No fail_closed `before_invocation` hook refused.
pub fn hooks_allow(allowed: bool) -> Gate {
    if allowed {
        return Ok(());
    }
    Err(Blocked::new("a fail_closed before_invocation hook refused the command".into()))
}

/// The files did not change while the prompt and the hooks ran (`current`: their digest
/// now, when it could be taken).
pub fn still_unchanged(entry: &LockEntry, current: Option<&str>) -> Gate {
    if current == Some(entry.artifact_digest.as_str()) {
        return Ok(());
    }
    let name = &entry.name;
    Err(Blocked::subject_changed(format!(
        "{name}'s installed files changed while the command was being prepared; check with `ooo plugin verify {name}`"
    )))
}

/// The sandbox can run: every mechanism is there, or `sandbox = "allow-partial"` lets it
/// run with what there is, and the policy can be enforced as written.
pub fn sandbox_available(error: Option<&crate::sandbox::SandboxError>) -> Gate {
    match error {
        None => Ok(()),
        Some(e) => Err(Blocked::new(format!("sandbox: {e}; {}", e.hint()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LockEntry {
        LockEntry {
            name: "demo".into(),
            version: "1.0.0".into(),
            source_kind: "git".into(),
            repository: Some("https://example.com/o/p.git".into()),
            git_sha: Some("abc123".into()),
            manifest_checksum: "sha256:00".into(),
            installed_at: "2026-05-08T03:14:00Z".into(),
            plugin_home: "/h/plugins/demo".into(),
            source_type: "plugin_home".into(),
            source_identity: "https://example.com/o/p".into(),
            artifact_digest: "sha256:11".into(),
            requested_ref: None,
            source_digest: None,
        }
    }

    #[test]
    fn disabled_blocks_and_names_the_scopes_to_trust() {
        assert_eq!(not_disabled("demo", TrustState::Trusted, &[]), Ok(()));
        assert_eq!(not_disabled("demo", TrustState::Installed, &["demo:read".into()]), Ok(()));
        let b = not_disabled("demo", TrustState::Disabled, &["demo:read".into()]).unwrap_err();
        assert_eq!(b.status, "blocked");
        assert_eq!(
            b.message,
            "demo is disabled; re-enable it with `ooo plugin trust demo --scope demo:read`"
        );
    }

    #[test]
    fn changed_files_block_with_the_trusted_commit() {
        let e = entry();
        assert_eq!(files_unchanged(&e, Ok("sha256:11")), Ok(()));
        let b = files_unchanged(&e, Ok("sha256:22")).unwrap_err();
        assert_eq!(b.status, "trust_subject_changed");
        assert!(b.message.contains("(sha256:22, installed sha256:11)"), "{}", b.message);
        assert!(b.message.contains("--from https://example.com/o/p --ref abc123"), "{}", b.message);
        let unreadable = files_unchanged(&e, Err("no such file".into())).unwrap_err();
        assert_eq!(unreadable.status, "trust_subject_changed");
        assert!(unreadable.message.contains("cannot be checked (no such file)"));
    }

    #[test]
    fn untrusted_scopes_block_with_the_trust_command() {
        assert_eq!(scopes_trusted("demo", &[]), Ok(()));
        let b = scopes_trusted("demo", &["demo:read".into(), "demo:write".into()]).unwrap_err();
        assert_eq!(
            b.message,
            "demo is not trusted for demo:read, demo:write; grant it with `ooo plugin trust demo --scope demo:read --scope demo:write`"
        );
    }

    #[test]
    fn cancellation_blocks() {
        assert_eq!(not_cancelled(false), Ok(()));
        assert_eq!(
            not_cancelled(true).unwrap_err().message,
            "cancelled before the command started"
        );
    }

    #[test]
    fn confirmation_by_flag_or_prompt_only() {
        assert_eq!(confirmed("demo", "wipe", true, None), Ok("--confirm flag"));
        assert_eq!(confirmed("demo", "wipe", true, Some(false)), Ok("--confirm flag"));
        assert_eq!(confirmed("demo", "wipe", false, Some(true)), Ok("confirmed at the prompt"));
        let declined = confirmed("demo", "wipe", false, Some(false)).unwrap_err();
        assert!(declined.message.starts_with("declined at the prompt"));
        let no_terminal = confirmed("demo", "wipe", false, None).unwrap_err();
        assert!(no_terminal.message.contains("`ooo --confirm demo wipe ...`"));
    }

    #[test]
    fn a_refusing_hook_blocks() {
        assert_eq!(hooks_allow(true), Ok(()));
        assert!(hooks_allow(false).unwrap_err().message.contains("before_invocation hook"));
    }

    #[test]
    fn files_changing_during_preparation_block() {
        let e = entry();
        assert_eq!(still_unchanged(&e, Some("sha256:11")), Ok(()));
        for current in [Some("sha256:22"), None] {
            let b = still_unchanged(&e, current).unwrap_err();
            assert_eq!(b.status, "trust_subject_changed");
            assert!(b.message.contains("while the command was being prepared"));
        }
    }

    #[test]
    fn a_missing_sandbox_blocks_with_its_fix() {
        assert_eq!(sandbox_available(None), Ok(()));
        let e = crate::sandbox::SandboxError::new(
            ooo_sandbox::ErrorKind::Unavailable,
            "missing Landlock",
            "boot with lsm=landlock",
        );
        let b = sandbox_available(Some(&e)).unwrap_err();
        assert!(b.message.contains("missing Landlock") && b.message.contains("lsm=landlock"));
    }
}
