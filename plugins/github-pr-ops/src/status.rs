//! The readiness of every open pull request of a repository under one policy. A pull
//! request whose facts cannot be read becomes a row blocked with `unknown` (and the
//! error), so one broken pull request does not hide the others.

use serde_json::{Value, json};

use crate::github::{ApiError, Client};
use crate::policy::{self, Policy};
use crate::review;
use crate::target::{PullRef, Repo};

/// The status document: `{repository, policy, pull_requests: [{number, title, head_sha,
/// base, ready, blockers, error?}]}`.
pub fn status(
    client: &Client,
    repo: &Repo,
    policy_name: &str,
    policy: &Policy,
) -> Result<Value, ApiError> {
    let repository = review::repository(client, repo)?;
    let path = format!("/repos/{}/{}/pulls?state=open&per_page=100", repo.owner, repo.name);
    let pulls = client.get_all(&path, None)?;
    // A progress line only where someone watches it.
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut rows = Vec::new();
    for (i, pull) in pulls.iter().enumerate() {
        let number =
            pull.get("number").and_then(Value::as_u64).ok_or_else(|| ApiError::Malformed {
                path: path.clone(),
                detail: "a pull request without a number".into(),
            })?;
        if progress {
            eprint!("\rgithub-pr-ops: checking {}/{}", i + 1, pulls.len());
        }
        let pr = PullRef { repo: repo.clone(), number, host: None };
        let title = pull.get("title").and_then(Value::as_str).unwrap_or_default();
        rows.push(match review::gather(client, &pr, Some(&repository)) {
            Ok(facts) => {
                let blockers = policy::codes(&policy.blockers(&facts));
                json!({
                    "number": number, "title": facts.pull_request.title,
                    "head_sha": facts.pull_request.head_sha, "base": facts.pull_request.base,
                    "ready": blockers.is_empty(), "blockers": blockers,
                })
            }
            // Access and rate problems concern every row: stop and say so.
            Err(
                e @ (ApiError::BadToken { .. }
                | ApiError::RateLimited { .. }
                | ApiError::Transport { .. }),
            ) => {
                return Err(e);
            }
            Err(e) => json!({
                "number": number, "title": title, "head_sha": null, "base": null,
                "ready": false, "blockers": ["unknown"], "error": e.to_string(),
            }),
        });
    }
    if progress && !pulls.is_empty() {
        eprintln!();
    }
    Ok(json!({"repository": repo.to_string(), "policy": policy_name, "pull_requests": rows}))
}

/// The status document for people: one line per pull request.
pub fn render(doc: &Value) -> String {
    let repo = doc["repository"].as_str().unwrap_or_default();
    let rows = doc["pull_requests"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return format!("{repo}: no open pull requests\n");
    }
    let mut out = format!(
        "{repo}: {} open pull request(s), policy {}\n",
        rows.len(),
        doc["policy"].as_str().unwrap_or_default()
    );
    for r in &rows {
        let verdict = if r["ready"] == Value::Bool(true) {
            "READY".to_owned()
        } else {
            let codes: Vec<&str> =
                r["blockers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            format!("blocked: {}", codes.join(", "))
        };
        let title = truncate(r["title"].as_str().unwrap_or(""), 50);
        out.push_str(&format!("  #{:<6} {title:<50} {verdict}\n", r["number"]));
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
