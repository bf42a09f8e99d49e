//! Merging one pull request behind its policy: judge the current facts again, refuse
//! with the blockers when not ready, and otherwise ask GitHub to merge exactly the head
//! commit that was judged (a head that moved in between is refused by GitHub with 409
//! and reported as such, never merged).

use serde_json::{Value, json};

use crate::github::{ApiError, Client};
use crate::policy::Policy;
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

/// What became of a merge request.
#[derive(Debug)]
pub enum Merged {
    /// Merged; the merge commit's sha.
    Done { sha: String },
    /// Not merged: the policy's blockers, or GitHub's reason.
    Refused { reason: String, blockers: Vec<String> },
}

/// The decision, then the merge when it says ready. `expected_head` pins the commit the
/// caller reviewed; the decision document is returned for recording.
pub fn merge(
    client: &Client,
    pr: &PullRef,
    policy_name: &str,
    policy: &Policy,
    method: Method,
    expected_head: Option<&str>,
) -> Result<(Value, Merged), ApiError> {
    let facts = review::gather(client, pr, None)?;
    let mut doc = review::decision(&facts, policy_name, policy);
    doc["method"] = json!(method.as_str());
    let head = facts.pull_request.head_sha.clone();
    let blockers: Vec<String> = policy.blockers(&facts).into_iter().map(str::to_owned).collect();
    if !blockers.is_empty() {
        let reason = format!("not ready under policy `{policy_name}`");
        return Ok((doc, Merged::Refused { reason, blockers }));
    }
    if let Some(expected) = expected_head
        && !head.eq_ignore_ascii_case(expected)
    {
        let reason = format!("the head moved from {expected} to {head}; review it again");
        return Ok((doc, Merged::Refused { reason, blockers: vec!["head_moved".into()] }));
    }
    let path = format!("/repos/{}/{}/pulls/{}/merge", pr.repo.owner, pr.repo.name, pr.number);
    let answer = client.put(&path, &json!({"sha": head, "merge_method": method.as_str()}))?;
    let message = answer.body.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
    let outcome = match answer.status {
        200 => match answer.body.get("sha").and_then(Value::as_str) {
            Some(sha) if answer.body.get("merged") == Some(&Value::Bool(true)) => {
                Merged::Done { sha: sha.to_owned() }
            }
            _ => Merged::Refused {
                reason: format!("GitHub did not merge: {message}"),
                blockers: vec![],
            },
        },
        409 => Merged::Refused {
            reason: format!("the head moved after it was judged ({message}); review it again"),
            blockers: vec!["head_moved".into()],
        },
        405 => Merged::Refused {
            reason: format!("GitHub refused the merge: {message}"),
            blockers: vec!["not_mergeable".into()],
        },
        _ => {
            let answer = client.ok(answer, &path)?;
            return Err(ApiError::Malformed {
                path,
                detail: format!("{} is not a documented answer to a merge", answer.status),
            });
        }
    };
    Ok((doc, outcome))
}
