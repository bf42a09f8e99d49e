//! Any bytes, read as what github-pr-ops parses: a pull request reference, a policy,
//! and a GitHub answer. Each must refuse or accept, never panic.
#![no_main]

use github_pr_ops::facts::{Checks, PullRequest, Reviews};
use github_pr_ops::policy::Policy;
use github_pr_ops::target::{PullRef, Repo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = PullRef::parse(&text);
    let _ = Repo::parse(&text);
    let _ = Policy::parse("fuzz", &text);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = PullRequest::from_json("o", "r", &v);
        let list = v.as_array().cloned().unwrap_or_default();
        let _ = Reviews::from_json(&list);
        let _ = Checks::from_json(&list, &list);
    }
});
