//! Merging one pull request behind its policy, in two steps so the caller can record
//! the attempt in between: [`judge`] fetches the facts again and decides, [`execute`]
//! asks GitHub to merge exactly the judged head commit. A head that moved in between is
//! refused by GitHub (409) and reported as such, never merged; when the answer to the
//! merge request is lost, the pull request is read again to learn what happened.

use serde_json::{Value, json};

use crate::github::{ApiError, Client};
use crate::policy::{self, Policy};
use crate::review;
use crate::target::PullRef;

/// How GitHub should merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    Merge,
    Squash,
    Rebase,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Squash => "squash",
            Self::Rebase => "rebase",
        }
    }
}

/// The decision before merging.
#[derive(Debug)]
pub enum Judged {
    /// Ready: merge exactly `head`.
    Ready { doc: Value, head: String },
    /// Not merged: why, and the codes (the policy's blockers, or `head_moved`).
    Refused { doc: Value, reason: String, blockers: Vec<String> },
}

/// What became of the merge request.
#[derive(Debug)]
pub enum Merged {
    /// Merged; the merge commit's sha.
    Done { sha: String },
    /// GitHub refused: why, and a code (`head_moved`, `not_mergeable`, `not_merged`).
    Refused { reason: String, code: &'static str },
}

/// Judge the pull request as it is now. `expected_head` pins the commit the caller
/// reviewed.
pub fn judge(
    client: &Client,
    pr: &PullRef,
    policy_name: &str,
    policy: &Policy,
    method: Method,
    expected_head: Option<&str>,
) -> Result<Judged, ApiError> {
    let facts = review::gather(client, pr, None)?;
    let mut doc = review::decision(&facts, policy_name, policy);
    doc["method"] = json!(method.as_str());
    let head = facts.pull_request.head_sha.clone();
    let blockers = policy::codes(&policy.blockers(&facts));
    if !blockers.is_empty() {
        let reason = format!("not ready under policy `{policy_name}`");
        let blockers = blockers.into_iter().map(str::to_owned).collect();
        return Ok(Judged::Refused { doc, reason, blockers });
    }
    if let Some(expected) = expected_head
        && !head.eq_ignore_ascii_case(expected)
    {
        let reason = format!("the head moved from {expected} to {head}; review it again");
        return Ok(Judged::Refused { doc, reason, blockers: vec!["head_moved".into()] });
    }
    Ok(Judged::Ready { doc, head })
}

/// Ask GitHub to merge `head` (a precondition GitHub checks). When the request's fate is
/// unknown (the connection broke after sending), the pull request is read again: merged
/// means done; anything else is the original error.
pub fn execute(
    client: &Client,
    pr: &PullRef,
    head: &str,
    method: Method,
) -> Result<Merged, ApiError> {
    let path = format!("/repos/{}/{}/pulls/{}/merge", pr.repo.owner, pr.repo.name, pr.number);
    let answer = match client.put(&path, &json!({"sha": head, "merge_method": method.as_str()})) {
        Ok(answer) => answer,
        Err(lost @ ApiError::Transport { .. }) => return merged_after_all(client, pr, lost),
        Err(e) => return Err(e),
    };
    let message = answer.body.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(match answer.status {
        200 => match answer.body.get("sha").and_then(Value::as_str) {
            Some(sha) if answer.body.get("merged") == Some(&Value::Bool(true)) => {
                Merged::Done { sha: sha.to_owned() }
            }
            _ => Merged::Refused {
                reason: format!("GitHub did not merge: {message}"),
                code: "not_merged",
            },
        },
        409 => Merged::Refused {
            reason: format!("the head moved after it was judged ({message}); review it again"),
            code: "head_moved",
        },
        405 => Merged::Refused {
            reason: format!("GitHub refused the merge: {message}"),
            code: "not_mergeable",
        },
        _ => {
            let answer = client.ok(answer, &path)?;
            return Err(ApiError::Malformed {
                path,
                detail: format!("{} is not a documented answer to a merge", answer.status),
            });
        }
    })
}

fn merged_after_all(client: &Client, pr: &PullRef, lost: ApiError) -> Result<Merged, ApiError> {
    let path = format!("/repos/{}/{}/pulls/{}", pr.repo.owner, pr.repo.name, pr.number);
    let Ok(now) = client.get_json(&path) else {
        return Err(lost);
    };
    match (now.get("merged"), now.get("merge_commit_sha").and_then(Value::as_str)) {
        (Some(Value::Bool(true)), Some(sha)) => Ok(Merged::Done { sha: sha.to_owned() }),
        _ => Err(lost),
    }
}
