//! What GitHub says about one pull request, read out of its JSON answers: the pull
//! request itself, the latest review per reviewer, the checks on the head commit, and
//! whether the caller may write to the repository. Pure parsing: fetching is in
//! `github`, judging is in `policy`. A field we need that is missing or of the wrong type
//! is an error, never a guess.

use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("GitHub's answer for {what} has no usable `{field}`")]
pub struct Malformed {
    pub what: &'static str,
    pub field: String,
}

fn missing(what: &'static str, field: &str) -> Malformed {
    Malformed { what, field: field.to_owned() }
}

fn text(v: &Value, pointer: &str, what: &'static str) -> Result<String, Malformed> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| missing(what, pointer))
}

fn flag(v: &Value, pointer: &str, what: &'static str) -> Result<bool, Malformed> {
    v.pointer(pointer).and_then(Value::as_bool).ok_or_else(|| missing(what, pointer))
}

/// The pull request fields the policy looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub owner: String,
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub base: String,
    pub head_sha: String,
    /// `None` while GitHub is still computing mergeability.
    pub mergeable: Option<bool>,
    pub mergeable_state: String,
}

impl PullRequest {
    pub fn from_json(owner: &str, repo: &str, v: &Value) -> Result<Self, Malformed> {
        const W: &str = "the pull request";
        let mergeable = match v.get("mergeable") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Null) | None => None,
            Some(_) => return Err(missing(W, "/mergeable")),
        };
        let head_sha = text(v, "/head/sha", W)?;
        if head_sha.len() != 40 || !head_sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(missing(W, "/head/sha"));
        }
        Ok(Self {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            number: v.get("number").and_then(Value::as_u64).ok_or_else(|| missing(W, "/number"))?,
            title: text(v, "/title", W)?,
            state: text(v, "/state", W)?,
            draft: flag(v, "/draft", W)?,
            merged: flag(v, "/merged", W)?,
            base: text(v, "/base/ref", W)?,
            head_sha,
            mergeable,
            mergeable_state: v
                .get("mergeable_state")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "owner": self.owner, "repo": self.repo, "number": self.number, "title": self.title,
            "state": self.state, "draft": self.draft, "merged": self.merged, "base": self.base,
            "head_sha": self.head_sha, "mergeable": self.mergeable,
            "mergeable_state": self.mergeable_state,
        })
    }
}

/// Reviews reduced to each reviewer's latest decisive state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reviews {
    pub approved_by: Vec<String>,
    pub changes_requested: Vec<String>,
}

impl Reviews {
    /// `reviews` in GitHub's (chronological) order. A reviewer's latest `APPROVED` or
    /// `CHANGES_REQUESTED` counts; `DISMISSED` clears it; comments and pending reviews
    /// change nothing. A deleted user (`user: null`) is GitHub's `ghost`: its requested
    /// changes still count (fail closed), its approvals do not.
    pub fn from_json(reviews: &[Value]) -> Result<Self, Malformed> {
        const W: &str = "a review";
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        for r in reviews {
            let state = text(r, "/state", W)?;
            let Some(login) = r.pointer("/user/login").and_then(Value::as_str) else {
                if state == "CHANGES_REQUESTED" {
                    latest.insert("ghost".to_owned(), state);
                }
                continue;
            };
            match state.as_str() {
                "APPROVED" | "CHANGES_REQUESTED" => {
                    latest.insert(login.to_owned(), state);
                }
                "DISMISSED" => {
                    latest.remove(login);
                }
                _ => {}
            }
        }
        let who =
            |s: &str| latest.iter().filter(|(_, v)| *v == s).map(|(k, _)| k.clone()).collect();
        Ok(Self { approved_by: who("APPROVED"), changes_requested: who("CHANGES_REQUESTED") })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "approvals": self.approved_by.len(),
            "approved_by": self.approved_by,
            "changes_requested": self.changes_requested,
        })
    }
}

/// Overall state of the checks on the head commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksState {
    Success,
    Pending,
    Failure,
    None,
}

impl ChecksState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Failure => "failure",
            Self::None => "none",
        }
    }
}

/// Check runs and commit statuses of the head commit, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    pub passing: Vec<String>,
    pub failing: Vec<String>,
    pub pending: Vec<String>,
}

/// How one check or status ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Pending,
}

impl Checks {
    /// `check_runs` from the check-runs endpoint and `statuses` from the combined status.
    /// Unknown states and conclusions count as failing (fail closed).
    pub fn from_json(check_runs: &[Value], statuses: &[Value]) -> Result<Self, Malformed> {
        let mut checks = Self::default();
        for run in check_runs {
            const W: &str = "a check run";
            let name = text(run, "/name", W)?;
            let outcome = match text(run, "/status", W)?.as_str() {
                "completed" => match run.get("conclusion").and_then(Value::as_str) {
                    Some("success" | "neutral" | "skipped") => Outcome::Pass,
                    _ => Outcome::Fail,
                },
                "queued" | "in_progress" | "waiting" | "requested" | "pending" => Outcome::Pending,
                _ => Outcome::Fail,
            };
            checks.push(name, outcome);
        }
        for status in statuses {
            const W: &str = "a commit status";
            let name = text(status, "/context", W)?;
            let outcome = match text(status, "/state", W)?.as_str() {
                "success" => Outcome::Pass,
                "pending" => Outcome::Pending,
                _ => Outcome::Fail,
            };
            checks.push(name, outcome);
        }
        for list in [&mut checks.passing, &mut checks.failing, &mut checks.pending] {
            list.sort();
            list.dedup();
        }
        Ok(checks)
    }

    fn push(&mut self, name: String, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.passing.push(name),
            Outcome::Fail => self.failing.push(name),
            Outcome::Pending => self.pending.push(name),
        }
    }

    /// Drop the checks a policy ignores.
    pub fn without(&self, ignored: &[String]) -> Self {
        let keep = |l: &Vec<String>| l.iter().filter(|n| !ignored.contains(n)).cloned().collect();
        Self {
            passing: keep(&self.passing),
            failing: keep(&self.failing),
            pending: keep(&self.pending),
        }
    }

    pub fn state(&self) -> ChecksState {
        if !self.failing.is_empty() {
            ChecksState::Failure
        } else if !self.pending.is_empty() {
            ChecksState::Pending
        } else if !self.passing.is_empty() {
            ChecksState::Success
        } else {
            ChecksState::None
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "state": self.state().as_str(),
            "failing": self.failing,
            "pending": self.pending,
            "passing": self.passing.len(),
        })
    }
}

/// Whether the caller may push to the repository, from the repository's `permissions`
/// (present only for an authenticated caller). `None` when GitHub did not say.
pub fn can_write(repository: &Value) -> Option<bool> {
    let p = repository.get("permissions")?.as_object()?;
    let yes = |k: &str| p.get(k).and_then(Value::as_bool) == Some(true);
    Some(yes("admin") || yes("maintain") || yes("push"))
}

/// Everything the policy judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub pull_request: PullRequest,
    pub reviews: Reviews,
    pub checks: Checks,
    pub can_write: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(login: &str, state: &str) -> Value {
        json!({"user": {"login": login}, "state": state})
    }

    #[test]
    fn the_latest_decisive_review_per_reviewer_counts() {
        let r = Reviews::from_json(&[
            review("bob", "CHANGES_REQUESTED"),
            review("alice", "APPROVED"),
            review("bob", "COMMENTED"),
            review("carol", "APPROVED"),
            review("carol", "DISMISSED"),
            json!({"user": null, "state": "APPROVED"}),
        ])
        .unwrap();
        assert_eq!(r.approved_by, ["alice"]);
        assert_eq!(r.changes_requested, ["bob"]);
        let ghost = Reviews::from_json(&[json!({"user": null, "state": "CHANGES_REQUESTED"})]);
        assert_eq!(ghost.unwrap().changes_requested, ["ghost"], "a deleted user's request holds");
        let r =
            Reviews::from_json(&[review("bob", "CHANGES_REQUESTED"), review("bob", "APPROVED")])
                .unwrap();
        assert_eq!((r.approved_by.len(), r.changes_requested.len()), (1, 0));
    }

    #[test]
    fn checks_fail_closed() {
        let run = |name: &str, status: &str, conclusion: Value| json!({"name": name, "status": status, "conclusion": conclusion});
        let c = Checks::from_json(
            &[
                run("build", "completed", json!("success")),
                run("lint", "completed", json!("neutral")),
                run("odd", "completed", json!("something_new")),
                run("slow", "in_progress", Value::Null),
            ],
            &[json!({"context": "ci/legacy", "state": "error"})],
        )
        .unwrap();
        assert_eq!(c.failing, ["ci/legacy", "odd"]);
        assert_eq!(c.pending, ["slow"]);
        assert_eq!(c.state(), ChecksState::Failure);
        assert_eq!(c.without(&["odd".into(), "ci/legacy".into()]).state(), ChecksState::Pending);
        assert_eq!(Checks::from_json(&[], &[]).unwrap().state(), ChecksState::None);
        assert!(Checks::from_json(&[json!({"name": "x"})], &[]).is_err());
    }

    #[test]
    fn pull_request_fields_are_required() {
        let pr = json!({"number": 1, "title": "t", "state": "open", "draft": false, "merged": false,
            "base": {"ref": "main"}, "head": {"sha": "a".repeat(40)}, "mergeable": null});
        let parsed = PullRequest::from_json("o", "r", &pr).unwrap();
        assert_eq!(parsed.mergeable, None);
        for field in ["draft", "merged", "title", "base"] {
            let mut broken = pr.clone();
            broken.as_object_mut().unwrap().remove(field);
            assert!(PullRequest::from_json("o", "r", &broken).is_err(), "{field}");
        }
        let mut short_sha = pr.clone();
        short_sha["head"]["sha"] = json!("abc");
        assert!(PullRequest::from_json("o", "r", &short_sha).is_err());
    }

    #[test]
    fn write_permission() {
        assert_eq!(can_write(&json!({"permissions": {"push": true}})), Some(true));
        assert_eq!(can_write(&json!({"permissions": {"push": false, "pull": true}})), Some(false));
        assert_eq!(can_write(&json!({})), None);
    }
}
