//! Reviewing one pull request: fetch the facts GitHub has (the pull request, its
//! reviews, the checks on the head commit, the caller's permission), judge them with a
//! policy, and present the decision as JSON or for people. Merging is in `merge`.

use serde_json::{Value, json};

use crate::facts::{Checks, Facts, PullRequest, Reviews, can_write};
use crate::github::{ApiError, Client};
use crate::policy::{self, Policy};
use crate::target::{PullRef, Repo};

/// Fetch everything the policy needs about `pr`. `repository` is the repository's JSON
/// when the caller already has it (listing many pull requests of one repository).
pub fn gather(
    client: &Client,
    pr: &PullRef,
    repository: Option<&Value>,
) -> Result<Facts, ApiError> {
    let base = format!("/repos/{}/{}", pr.repo.owner, pr.repo.name);
    let path = format!("{base}/pulls/{}", pr.number);
    let body = client.get_json(&path)?;
    let malformed = |path: &str, e: crate::facts::Malformed| ApiError::Malformed {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let pull_request = PullRequest::from_json(&pr.repo.owner, &pr.repo.name, &body)
        .map_err(|e| malformed(&path, e))?;
    let sha = &pull_request.head_sha;
    let reviews_path = format!("{base}/pulls/{}/reviews?per_page=100", pr.number);
    let reviews = Reviews::from_json(&client.get_all(&reviews_path, None)?)
        .map_err(|e| malformed(&reviews_path, e))?;
    let runs_path = format!("{base}/commits/{sha}/check-runs?filter=latest&per_page=100");
    let runs = client.get_all(&runs_path, Some("check_runs"))?;
    let status_path = format!("{base}/commits/{sha}/status?per_page=100");
    let statuses = client.get_all(&status_path, Some("statuses"))?;
    let checks = Checks::from_json(&runs, &statuses).map_err(|e| {
        let path = if e.what == "a commit status" { &status_path } else { &runs_path };
        malformed(path, e)
    })?;
    let can_write = match repository {
        Some(r) => can_write(r),
        None => can_write(&client.get_json(&base)?),
    };
    Ok(Facts { pull_request, reviews, checks, can_write })
}

/// The repository's JSON (for its `permissions`).
pub fn repository(client: &Client, repo: &Repo) -> Result<Value, ApiError> {
    let path = format!("/repos/{}/{}", repo.owner, repo.name);
    client.get_json(&path)
}

/// The decision document: what `review --json` prints and what is recorded.
pub fn decision(facts: &Facts, policy_name: &str, policy: &Policy) -> Value {
    let blockers = policy::codes(&policy.blockers(facts));
    let mut checks = facts.checks.without(&policy.ignored_checks).to_json();
    checks["ignored"] = json!(policy.ignored_checks);
    json!({
        "pull_request": facts.pull_request.to_json(),
        "checks": checks,
        "reviews": facts.reviews.to_json(),
        "can_write": facts.can_write,
        "policy": policy_name,
        "ready": blockers.is_empty(),
        "blockers": blockers,
    })
}

/// The decision for people: a few aligned lines.
pub fn render(facts: &Facts, policy_name: &str, policy: &Policy) -> String {
    let pr = &facts.pull_request;
    let checks = facts.checks.without(&policy.ignored_checks);
    let blockers = policy.blockers(facts);
    let mergeable = match pr.mergeable {
        Some(true) => format!("yes ({})", pr.mergeable_state),
        Some(false) => format!("no ({})", pr.mergeable_state),
        None => "unknown (GitHub is computing it)".into(),
    };
    let list = |l: &[String]| if l.is_empty() { "none".to_owned() } else { l.join(", ") };
    let mut out = format!(
        "{}/{}#{}  {}\n  state     {}{} · base {} · head {}\n  mergeable {}\n  checks    {} ({} passing; failing: {}; pending: {})\n  reviews   approved by: {}; changes requested by: {}\n",
        pr.owner,
        pr.repo,
        pr.number,
        pr.title,
        pr.state,
        if pr.draft { " (draft)" } else { "" },
        pr.base,
        &pr.head_sha[..12],
        mergeable,
        checks.state().as_str(),
        checks.passing.len(),
        list(&checks.failing),
        list(&checks.pending),
        list(&facts.reviews.approved_by),
        list(&facts.reviews.changes_requested),
    );
    if blockers.is_empty() {
        out.push_str(&format!("  policy    {policy_name}: READY to merge\n"));
    } else {
        out.push_str(&format!("  policy    {policy_name}: NOT READY\n"));
        for b in blockers {
            out.push_str(&format!("    - {}: {}\n", b.code(), policy::explain(b, facts, policy)));
        }
    }
    out
}
