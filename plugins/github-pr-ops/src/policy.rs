//! Merge policies: what "ready" means for a pull request. A policy is a small TOML
//! document (unknown keys refused); `default` is built in. Evaluating a policy against
//! the [`Facts`] gives the list of blocker codes; no blockers means ready. Anything the
//! facts leave unknown is a blocker, never a pass. Where policies are stored is in
//! `main` (the plugin's state, or a file).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::facts::{Checks, ChecksState, Facts};

/// The name of the built-in policy.
pub const DEFAULT: &str = "default";

/// Why a pull request is not ready. The JSON code of each is its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocker {
    Closed,
    Merged,
    Draft,
    /// `mergeable: false` or `mergeable_state: dirty`.
    Conflicts,
    /// GitHub is still computing mergeability, or reported a state we do not know.
    MergeabilityUnknown,
    /// `mergeable_state: blocked`: the repository's branch protection forbids the merge.
    BranchProtection,
    /// `mergeable_state: behind`: the base moved on and must be merged in first.
    BehindBase,
    ChecksFailing,
    ChecksPending,
    ChangesRequested,
    InsufficientApprovals,
    BaseNotAllowed,
    NoWritePermission,
}

impl Blocker {
    pub fn code(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Merged => "merged",
            Self::Draft => "draft",
            Self::Conflicts => "conflicts",
            Self::MergeabilityUnknown => "mergeability_unknown",
            Self::BranchProtection => "branch_protection",
            Self::BehindBase => "behind_base",
            Self::ChecksFailing => "checks_failing",
            Self::ChecksPending => "checks_pending",
            Self::ChangesRequested => "changes_requested",
            Self::InsufficientApprovals => "insufficient_approvals",
            Self::BaseNotAllowed => "base_not_allowed",
            Self::NoWritePermission => "no_write_permission",
        }
    }
}

/// The codes of `blockers`, for JSON.
pub fn codes(blockers: &[Blocker]) -> Vec<&'static str> {
    blockers.iter().map(|b| b.code()).collect()
}

/// A merge policy. Every field has the built-in default's value when absent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Base branches a pull request may target; `"*"` allows any.
    #[serde(default = "default_bases")]
    pub allowed_bases: Vec<String>,
    #[serde(default = "one")]
    pub min_approvals: u32,
    /// Whether an outstanding "changes requested" review still allows a merge.
    #[serde(default)]
    pub allow_changes_requested: bool,
    /// Whether checks must have succeeded. With this on, a head commit without any
    /// check counts as `checks_pending` (as GitHub's combined status does).
    #[serde(default = "yes")]
    pub require_checks: bool,
    /// Check or status names left out of the judgement.
    #[serde(default)]
    pub ignored_checks: Vec<String>,
    /// Check or status names that must have reported and passed; one that has not
    /// reported yet counts as pending.
    #[serde(default)]
    pub required_checks: Vec<String>,
    #[serde(default)]
    pub allow_draft: bool,
    /// Whether the caller must be able to push to the repository.
    #[serde(default = "yes")]
    pub require_write_permission: bool,
}

fn default_bases() -> Vec<String> {
    vec!["main".into(), "master".into()]
}
fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_bases: default_bases(),
            min_approvals: 1,
            allow_changes_requested: false,
            require_checks: true,
            ignored_checks: Vec::new(),
            required_checks: Vec::new(),
            allow_draft: false,
            require_write_permission: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("policy {name}: {detail}")]
pub struct BadPolicy {
    pub name: String,
    pub detail: String,
}

/// A policy name: lower-case letters, digits, `-` and `_`, as it is also a state key.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Policy {
    pub fn parse(name: &str, text: &str) -> Result<Self, BadPolicy> {
        let bad = |detail: String| BadPolicy { name: name.to_owned(), detail };
        if text.len() > 64 * 1024 {
            return Err(bad("larger than 64 KiB".into()));
        }
        let policy: Self = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
        if policy.allowed_bases.is_empty() {
            return Err(bad("allowed_bases is empty; use [\"*\"] to allow any base".into()));
        }
        Ok(policy)
    }

    /// The blockers, in a fixed order; empty means ready.
    pub fn blockers(&self, facts: &Facts) -> Vec<Blocker> {
        let pr = &facts.pull_request;
        let mut out = Vec::new();
        let mut add = |b: Blocker| {
            if !out.contains(&b) {
                out.push(b);
            }
        };
        if pr.merged {
            add(Blocker::Merged);
        } else if pr.state != "open" {
            add(Blocker::Closed);
        }
        if pr.draft && !self.allow_draft {
            add(Blocker::Draft);
        }
        if pr.state == "open" && !pr.merged {
            match pr.mergeable {
                Some(false) => add(Blocker::Conflicts),
                None => add(Blocker::MergeabilityUnknown),
                Some(true) => {}
            }
            // GitHub's own verdict for this caller. `unstable` (non-required checks
            // failing) and `has_hooks` merge fine; the checks are judged below.
            match pr.mergeable_state.as_str() {
                "clean" | "unstable" | "has_hooks" => {}
                "dirty" => add(Blocker::Conflicts),
                "blocked" => add(Blocker::BranchProtection),
                "behind" => add(Blocker::BehindBase),
                "draft" if self.allow_draft => {}
                "draft" => add(Blocker::Draft),
                _ => add(Blocker::MergeabilityUnknown),
            }
        }
        let checks = facts.checks.without(&self.ignored_checks);
        match checks.state() {
            ChecksState::Failure => add(Blocker::ChecksFailing),
            ChecksState::Pending if self.require_checks => add(Blocker::ChecksPending),
            ChecksState::None if self.require_checks => add(Blocker::ChecksPending),
            _ => {}
        }
        if !self.missing_required_checks(&checks).is_empty() {
            add(Blocker::ChecksPending);
        }
        if !facts.reviews.changes_requested.is_empty() && !self.allow_changes_requested {
            add(Blocker::ChangesRequested);
        }
        if (facts.reviews.approved_by.len() as u64) < u64::from(self.min_approvals) {
            add(Blocker::InsufficientApprovals);
        }
        if !self.allowed_bases.iter().any(|b| b == "*" || *b == pr.base) {
            add(Blocker::BaseNotAllowed);
        }
        if self.require_write_permission && facts.can_write != Some(true) {
            add(Blocker::NoWritePermission);
        }
        out
    }

    /// Required checks that have not reported at all (with the ignored ones removed).
    fn missing_required_checks<'a>(&'a self, checks: &Checks) -> Vec<&'a str> {
        let reported = |n: &String| {
            checks.passing.contains(n) || checks.failing.contains(n) || checks.pending.contains(n)
        };
        self.required_checks.iter().filter(|n| !reported(n)).map(String::as_str).collect()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "allowed_bases": self.allowed_bases, "min_approvals": self.min_approvals,
            "allow_changes_requested": self.allow_changes_requested,
            "require_checks": self.require_checks, "ignored_checks": self.ignored_checks,
            "required_checks": self.required_checks,
            "allow_draft": self.allow_draft, "require_write_permission": self.require_write_permission,
        })
    }
}

/// A blocker explained for people.
pub fn explain(blocker: Blocker, facts: &Facts, policy: &Policy) -> String {
    let pr = &facts.pull_request;
    let checks = facts.checks.without(&policy.ignored_checks);
    let missing = policy.missing_required_checks(&checks);
    match blocker {
        Blocker::Closed => "the pull request is closed".into(),
        Blocker::Merged => "the pull request is already merged".into(),
        Blocker::Draft => "the pull request is a draft".into(),
        Blocker::Conflicts => "the branch has conflicts with its base".into(),
        Blocker::MergeabilityUnknown if pr.mergeable.is_none() => {
            "GitHub is still computing mergeability; try again shortly".into()
        }
        Blocker::MergeabilityUnknown => {
            format!(
                "GitHub reports mergeable_state `{}`, which is not known to be safe",
                pr.mergeable_state
            )
        }
        Blocker::BranchProtection => "the repository's branch protection blocks the merge".into(),
        Blocker::BehindBase => "the branch is behind its base; update it first".into(),
        Blocker::ChecksFailing => format!("failing checks: {}", checks.failing.join(", ")),
        Blocker::ChecksPending => {
            let mut parts = Vec::new();
            if !checks.pending.is_empty() {
                parts.push(format!("pending checks: {}", checks.pending.join(", ")));
            }
            if !missing.is_empty() {
                parts.push(format!("required checks not reported: {}", missing.join(", ")));
            }
            if parts.is_empty() { "no checks reported yet".into() } else { parts.join("; ") }
        }
        Blocker::ChangesRequested => {
            format!("changes requested by {}", facts.reviews.changes_requested.join(", "))
        }
        Blocker::InsufficientApprovals => format!(
            "{} approval(s), the policy needs {}",
            facts.reviews.approved_by.len(),
            policy.min_approvals
        ),
        Blocker::BaseNotAllowed => {
            format!("base `{}` is not one of {}", pr.base, policy.allowed_bases.join(", "))
        }
        Blocker::NoWritePermission if facts.can_write.is_none() => {
            "GitHub did not report your permission on the repository (is a token set?)".into()
        }
        Blocker::NoWritePermission => "you cannot push to this repository".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Checks, PullRequest, Reviews};

    fn ready() -> Facts {
        Facts {
            pull_request: PullRequest {
                owner: "o".into(),
                repo: "r".into(),
                number: 1,
                title: "t".into(),
                state: "open".into(),
                draft: false,
                merged: false,
                base: "main".into(),
                head_sha: "a".repeat(40),
                mergeable: Some(true),
                mergeable_state: "clean".into(),
            },
            reviews: Reviews { approved_by: vec!["alice".into()], changes_requested: vec![] },
            checks: Checks { passing: vec!["build".into()], ..Checks::default() },
            can_write: Some(true),
        }
    }

    #[test]
    fn the_default_policy() {
        let p = Policy::default();
        assert!(p.blockers(&ready()).is_empty());
        type Case = (fn(&mut Facts), &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (|f| f.pull_request.state = "closed".into(), &["closed"]),
            (|f| f.pull_request.draft = true, &["draft"]),
            (|f| f.pull_request.mergeable = Some(false), &["conflicts"]),
            (|f| f.pull_request.mergeable = None, &["mergeability_unknown"]),
            (|f| f.pull_request.mergeable_state = "dirty".into(), &["conflicts"]),
            (|f| f.pull_request.mergeable_state = "blocked".into(), &["branch_protection"]),
            (|f| f.pull_request.mergeable_state = "behind".into(), &["behind_base"]),
            (|f| f.pull_request.mergeable_state = "brand_new".into(), &["mergeability_unknown"]),
            (|f| f.pull_request.mergeable_state = "unstable".into(), &[]),
            (|f| f.checks.failing.push("test".into()), &["checks_failing"]),
            (|f| f.checks.pending.push("test".into()), &["checks_pending"]),
            (|f| f.checks.passing.clear(), &["checks_pending"]),
            (|f| f.reviews.changes_requested.push("bob".into()), &["changes_requested"]),
            (|f| f.reviews.approved_by.clear(), &["insufficient_approvals"]),
            (|f| f.pull_request.base = "release".into(), &["base_not_allowed"]),
            (|f| f.can_write = Some(false), &["no_write_permission"]),
            (|f| f.can_write = None, &["no_write_permission"]),
        ];
        for (change, expected) in cases {
            let mut f = ready();
            change(&mut f);
            assert_eq!(codes(&p.blockers(&f)), expected, "{f:?}");
        }
        let mut merged = ready();
        merged.pull_request.merged = true;
        merged.pull_request.state = "closed".into();
        merged.pull_request.mergeable = None;
        assert_eq!(codes(&p.blockers(&merged)), ["merged"], "no mergeability noise once merged");
    }

    #[test]
    fn policies_from_toml() {
        let p = Policy::parse(
            "relaxed",
            "allowed_bases = [\"*\"]\nmin_approvals = 0\nrequire_checks = false\nignored_checks = [\"flaky\"]\n",
        )
        .unwrap();
        let mut f = ready();
        f.reviews.approved_by.clear();
        f.checks.pending.push("slow".into());
        f.pull_request.base = "release".into();
        assert!(p.blockers(&f).is_empty());
        f.checks.failing.push("flaky".into());
        assert!(p.blockers(&f).is_empty(), "ignored");
        f.checks.failing.push("test".into());
        assert_eq!(codes(&p.blockers(&f)), ["checks_failing"]);
        let strict = Policy::parse("strict", "required_checks = [\"build\", \"e2e\"]\n").unwrap();
        let f = ready();
        assert_eq!(codes(&strict.blockers(&f)), ["checks_pending"], "e2e never reported");
        assert!(explain(Blocker::ChecksPending, &f, &strict).contains("not reported: e2e"));
        assert_eq!(Policy::parse("d", "").unwrap(), Policy::default());
        for bad in
            ["min_approvals = -1", "typo = true", "allowed_bases = []", "min_approvals = \"1\""]
        {
            assert!(Policy::parse("x", bad).is_err(), "{bad}");
        }
        assert!(valid_name("team-a_2") && !valid_name("Team") && !valid_name("a/b"));
    }
}
