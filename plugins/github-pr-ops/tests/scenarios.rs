//! The plugin binary, run standalone (no core channel), against a fake GitHub on
//! loopback: one test per scenario a reviewer meets. Every body the fake served is
//! checked against GitHub's OpenAPI description, so the fixtures cannot drift from the
//! real API's shape.

mod common;

use common::fake_github::{FakeGitHub, HEAD, PR_URL, Reply, fixture, repo_path};
use common::openapi::OpenApi;
use serde_json::{Value, json};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn plugin(gh: &FakeGitHub, args: &[&str]) -> Run {
    plugin_on(&gh.url, args)
}

/// The plugin with `GITHUB_API_URL=api` and a token.
fn plugin_on(api: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_github-pr-ops"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", api)
        .env("GITHUB_TOKEN", "test-token")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every body the fake served matches GitHub's published schema for that answer.
fn served_bodies_match_openapi(gh: &FakeGitHub) {
    let Some(spec) = OpenApi::shared() else { return };
    for e in gh.log() {
        if let Err(problem) = spec.check(&e.method, &e.path, e.status, &e.body) {
            panic!("the fake served a body GitHub would not: {problem}");
        }
    }
}

fn review(gh: &FakeGitHub) -> (Run, Value) {
    let run = plugin(gh, &["review", PR_URL, "--json", "--exit-code"]);
    let doc = run.json();
    served_bodies_match_openapi(gh);
    (run, doc)
}

#[track_caller]
fn assert_blocked(gh: &FakeGitHub, expected: &[&str]) -> Value {
    let (run, doc) = review(gh);
    assert_eq!(doc["blockers"], json!(expected), "{doc}");
    assert_eq!(doc["ready"], json!(expected.is_empty()));
    assert_eq!(run.code, if expected.is_empty() { 0 } else { 3 }, "{}", run.stderr);
    doc
}

#[test]
fn ready() {
    let gh = FakeGitHub::ready();
    let doc = assert_blocked(&gh, &[]);
    let pr = &doc["pull_request"];
    assert_eq!(
        (pr["owner"].as_str(), pr["repo"].as_str(), pr["number"].as_u64()),
        (Some("octo-org"), Some("octo-repo"), Some(42))
    );
    assert_eq!(pr["head_sha"], HEAD);
    assert_eq!(pr["base"], "main");
    assert_eq!(doc["checks"]["state"], "success");
    assert_eq!(doc["reviews"]["approvals"], 1);
    assert_eq!(doc["policy"], "default");
    for e in gh.log() {
        assert_eq!(e.authorization.as_deref(), Some("Bearer test-token"), "{}", e.path);
    }
    let human = plugin(&gh, &["review", PR_URL]);
    assert!(human.stdout.contains("default: READY to merge"), "{}", human.stdout);
}

#[test]
fn failing_check() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path(&format!("/commits/{HEAD}/check-runs")), |b| {
        b["check_runs"][1]["conclusion"] = json!("failure");
    });
    let doc = assert_blocked(&gh, &["checks_failing"]);
    assert_eq!(doc["checks"]["state"], "failure");
    assert_eq!(doc["checks"]["failing"], json!(["test"]));
    let human = plugin(&gh, &["review", PR_URL]);
    assert!(human.stdout.contains("checks_failing: failing checks: test"), "{}", human.stdout);
}

#[test]
fn pending_check() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path(&format!("/commits/{HEAD}/check-runs")), |b| {
        b["check_runs"][0]["status"] = json!("in_progress");
        b["check_runs"][0]["conclusion"] = Value::Null;
        b["check_runs"][0]["completed_at"] = Value::Null;
    });
    let doc = assert_blocked(&gh, &["checks_pending"]);
    assert_eq!(doc["checks"]["pending"], json!(["build"]));
}

#[test]
fn changes_requested_then_approved_by_the_same_reviewer() {
    let gh = FakeGitHub::ready();
    let path = repo_path("/pulls/42/reviews");
    let mut asked = fixture("reviews.json");
    asked[0]["state"] = json!("CHANGES_REQUESTED");
    gh.route("GET", &path, Reply::ok(asked.clone()));
    let doc = assert_blocked(&gh, &["changes_requested", "insufficient_approvals"]);
    assert_eq!(doc["reviews"]["changes_requested"], json!(["alice"]));
    let mut then_approved = asked.clone();
    let mut approval = asked[0].clone();
    approval["id"] = json!(asked[0]["id"].as_u64().unwrap() + 1);
    approval["state"] = json!("APPROVED");
    then_approved.as_array_mut().unwrap().push(approval);
    gh.route("GET", &path, Reply::ok(then_approved));
    let doc = assert_blocked(&gh, &[]);
    assert_eq!(doc["reviews"]["changes_requested"], json!([]));
}

#[test]
fn draft() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| b["draft"] = json!(true));
    assert_blocked(&gh, &["draft"]);
}

#[test]
fn conflict() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| {
        b["mergeable"] = json!(false);
        b["mergeable_state"] = json!("dirty");
    });
    assert_blocked(&gh, &["conflicts"]);
}

#[test]
fn mergeability_unknown() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| {
        b["mergeable"] = Value::Null;
        b["mergeable_state"] = json!("unknown");
    });
    assert_blocked(&gh, &["mergeability_unknown"]);
}

#[test]
fn closed_merged_base_and_permission() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| {
        b["state"] = json!("closed");
        b["base"]["ref"] = json!("release");
    });
    gh.edit(&repo_path(""), |b| b["permissions"]["push"] = json!(false));
    assert_blocked(&gh, &["closed", "base_not_allowed", "no_write_permission"]);
    gh.edit(&repo_path(""), |b| {
        b.as_object_mut().unwrap().remove("permissions");
    });
    gh.edit(&repo_path("/pulls/42"), |b| b["merged"] = json!(true));
    assert_blocked(&gh, &["merged", "base_not_allowed", "no_write_permission"]);
}

#[test]
fn merge_sends_the_judged_head_and_method() {
    let gh = FakeGitHub::ready();
    let run =
        plugin(&gh, &["merge", PR_URL, "--policy", "default", "--method", "squash", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["merged"], true);
    let puts = gh.requests("PUT", &repo_path("/pulls/42/merge"));
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].request_body, json!({"sha": HEAD, "merge_method": "squash"}));
    served_bodies_match_openapi(&gh);
}

#[test]
fn merge_refuses_when_not_ready_without_asking_github_to_merge() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| b["draft"] = json!(true));
    let run = plugin(&gh, &["merge", PR_URL, "--policy", "default"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains("draft"), "{}", run.stdout);
    assert!(gh.requests("PUT", &repo_path("/pulls/42/merge")).is_empty());
    let run = plugin(&gh, &["merge", PR_URL]);
    assert_eq!(run.code, 1, "merge needs an explicit policy");
    assert!(run.stderr.contains("--policy"), "{}", run.stderr);
}

#[test]
fn head_moved_between_review_and_merge() {
    let gh = FakeGitHub::ready();
    // The merge judges head A; a push lands before its merge request: GitHub's head is B
    // and, like GitHub, the fake refuses a merge of A.
    let mut moved = fixture("pull.json");
    moved["head"]["sha"] = json!("b".repeat(40));
    gh.route_page(
        "GET",
        &repo_path("/pulls/42"),
        1,
        vec![Reply::ok(fixture("pull.json")), Reply::ok(moved)],
    );
    let run = plugin(&gh, &["merge", PR_URL, "--policy", "default", "--json"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["merged"], false);
    assert_eq!(doc["refused"]["blockers"], json!(["head_moved"]));
    let puts = gh.requests("PUT", &repo_path("/pulls/42/merge"));
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].request_body["sha"], HEAD, "it asked for exactly the judged head");
    assert_eq!(puts[0].status, 409);
    served_bodies_match_openapi(&gh);

    // A head the caller pinned that is no longer current is refused before any merge.
    let gh = FakeGitHub::ready();
    let reviewed = "b".repeat(40);
    let run = plugin(&gh, &["merge", PR_URL, "--policy", "default", "--head-sha", &reviewed]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains("the head moved"), "{}", run.stdout);
    assert!(gh.requests("PUT", &repo_path("/pulls/42/merge")).is_empty());
}

#[test]
fn a_short_rate_limit_is_waited_out() {
    let gh = FakeGitHub::ready();
    let limited = Reply::status(403, fixture("error_403_rate.json"))
        .header("retry-after", "1")
        .header("x-ratelimit-remaining", "0");
    gh.route_page(
        "GET",
        &repo_path("/pulls/42"),
        1,
        vec![limited, Reply::ok(fixture("pull.json"))],
    );
    let started = std::time::Instant::now();
    let (run, doc) = review(&gh);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(doc["ready"], true);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "it waited");
    assert_eq!(gh.requests("GET", &repo_path("/pulls/42")).len(), 2);
    assert!(run.stderr.contains("rate limited; waiting 1 s"), "{}", run.stderr);
}

#[test]
fn a_long_rate_limit_is_a_clear_error() {
    let gh = FakeGitHub::ready();
    let reset =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            + 3600;
    gh.route(
        "GET",
        &repo_path("/pulls/42"),
        Reply::status(403, fixture("error_403_rate.json"))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    let run = plugin(&gh, &["review", PR_URL]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("rate limited by GitHub"), "{}", run.stderr);
    assert_eq!(gh.requests("GET", &repo_path("/pulls/42")).len(), 1, "no retry storm");
    served_bodies_match_openapi(&gh);
}

#[test]
fn paginated_checks() {
    let gh = FakeGitHub::ready();
    let path = repo_path(&format!("/commits/{HEAD}/check-runs"));
    let first = fixture("check_runs.json");
    let mut second = first.clone();
    second["check_runs"] = json!([first["check_runs"][0].clone()]);
    second["check_runs"][0]["name"] = json!("e2e");
    second["check_runs"][0]["id"] = json!(999);
    second["check_runs"][0]["conclusion"] = json!("timed_out");
    let link = format!(
        "<{{base}}{path}?filter=latest&per_page=100&page=2>; rel=\"next\", <{{base}}{path}?filter=latest&per_page=100&page=2>; rel=\"last\""
    );
    gh.route_page("GET", &path, 1, vec![Reply::ok(first).header("link", &link)]);
    gh.route_page("GET", &path, 2, vec![Reply::ok(second)]);
    let doc = assert_blocked(&gh, &["checks_failing"]);
    assert_eq!(doc["checks"]["failing"], json!(["e2e"]), "the second page was read");
    assert_eq!(doc["checks"]["passing"], 3);
    assert_eq!(gh.requests("GET", &path).len(), 2);
}

#[test]
fn access_errors_say_what_to_do() {
    let gh = FakeGitHub::ready();
    let bad_token =
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"});
    gh.route("GET", &repo_path("/pulls/42"), Reply::status(401, bad_token));
    let run = plugin(&gh, &["review", PR_URL]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("rejected the token"), "{}", run.stderr);

    let run = plugin(&gh, &["review", "https://github.com/octo-org/octo-repo/pull/7"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not found (404)"), "{}", run.stderr);
    served_bodies_match_openapi(&gh);
}

#[test]
fn malformed_urls_are_refused_before_any_request() {
    let gh = FakeGitHub::ready();
    for bad in
        ["https://github.com/octo-org/octo-repo/issues/42", "octo-org/octo-repo", "not a url"]
    {
        let run = plugin(&gh, &["review", bad]);
        assert_eq!(run.code, 1, "{bad}");
        assert!(run.stderr.contains("is not a pull request"), "{}", run.stderr);
    }
    assert!(gh.log().is_empty(), "no request was made");
}

#[test]
fn status_lists_open_pull_requests_across_pages() {
    let gh = FakeGitHub::ready();
    let path = repo_path("/pulls");
    let link = format!("<{{base}}{path}?state=open&per_page=100&page=2>; rel=\"next\"");
    let mut second = fixture("pulls.json");
    second[0]["number"] = json!(43);
    second[0]["id"] = json!(43043);
    gh.route_page("GET", &path, 1, vec![Reply::ok(fixture("pulls.json")).header("link", &link)]);
    gh.route_page("GET", &path, 2, vec![Reply::ok(second)]);
    let mut pr43 = fixture("pull.json");
    pr43["number"] = json!(43);
    pr43["draft"] = json!(true);
    gh.route("GET", &repo_path("/pulls/43"), Reply::ok(pr43));
    gh.route("GET", &repo_path("/pulls/43/reviews"), Reply::ok(json!([])));
    let run = plugin(&gh, &["status", "octo-org/octo-repo", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    let rows = doc["pull_requests"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["number"].as_u64(), rows[0]["ready"].as_bool()), (Some(42), Some(true)));
    assert_eq!(rows[1]["blockers"], json!(["draft", "insufficient_approvals"]));
    assert_eq!(gh.requests("GET", &repo_path("")).len(), 1, "the repository is read once");
    served_bodies_match_openapi(&gh);
}

#[test]
fn a_policy_file_changes_the_judgement() {
    let gh = FakeGitHub::ready();
    gh.route("GET", &repo_path("/pulls/42/reviews"), Reply::ok(json!([])));
    assert_blocked(&gh, &["insufficient_approvals"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("solo.toml");
    std::fs::write(&file, "min_approvals = 0\n").unwrap();
    let run = plugin(&gh, &["review", PR_URL, "--policy-file", file.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["policy"], "solo");
    std::fs::write(&file, "min_aprovals = 0\n").unwrap();
    let run = plugin(&gh, &["review", PR_URL, "--policy-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unknown field"), "{}", run.stderr);
    let run = plugin(&gh, &["review", PR_URL, "--policy", "team"]);
    assert_eq!(run.code, 1, "saved policies need the core channel");
    assert!(run.stderr.contains("no core channel"), "{}", run.stderr);
}

#[test]
fn a_not_ready_review_still_succeeds_unless_asked() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| b["draft"] = json!(true));
    let run = plugin(&gh, &["review", PR_URL, "--json"]);
    assert_eq!(run.code, 0, "the review worked: {}", run.stderr);
    assert_eq!(run.json()["ready"], false);
}

#[test]
fn github_s_own_verdict_counts() {
    let gh = FakeGitHub::ready();
    gh.edit(&repo_path("/pulls/42"), |b| b["mergeable_state"] = json!("blocked"));
    assert_blocked(&gh, &["branch_protection"]);
    gh.edit(&repo_path("/pulls/42"), |b| b["mergeable_state"] = json!("behind"));
    assert_blocked(&gh, &["behind_base"]);
    gh.edit(&repo_path("/pulls/42"), |b| b["mergeable_state"] = json!("unstable"));
    assert_blocked(&gh, &[]);
}

#[test]
fn required_checks_that_never_reported_are_pending() {
    let gh = FakeGitHub::ready();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strict.toml");
    std::fs::write(&file, "required_checks = [\"build\", \"e2e\"]\n").unwrap();
    let run = plugin(&gh, &["review", PR_URL, "--policy-file", file.to_str().unwrap(), "--json"]);
    assert_eq!(run.json()["blockers"], json!(["checks_pending"]));
    let human = plugin(&gh, &["review", PR_URL, "--policy-file", file.to_str().unwrap()]);
    assert!(human.stdout.contains("required checks not reported: e2e"), "{}", human.stdout);
}

#[test]
fn other_rate_limits_and_access_errors() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // 429 with retry-after, and a primary limit that resets in a second: waited out.
    let gh = FakeGitHub::ready();
    let too_many = Reply::status(429, fixture("error_403_rate.json")).header("retry-after", "1");
    let exhausted = Reply::status(403, fixture("error_403_rate.json"))
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", &(now + 1).to_string());
    gh.route_page(
        "GET",
        &repo_path("/pulls/42"),
        1,
        vec![too_many, exhausted, Reply::ok(fixture("pull.json"))],
    );
    let (run, doc) = review(&gh);
    assert_eq!((run.code, doc["ready"].as_bool()), (0, Some(true)), "{}", run.stderr);
    assert_eq!(gh.requests("GET", &repo_path("/pulls/42")).len(), 3);

    // A secondary rate limit (GitHub asks for a minute): a clear error, no waiting.
    let gh = FakeGitHub::ready();
    let secondary = json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest"});
    gh.route(
        "GET",
        &repo_path("/pulls/42"),
        Reply::status(403, secondary).header("x-ratelimit-remaining", "4990"),
    );
    let run = plugin(&gh, &["review", PR_URL]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("rate limited by GitHub"), "{}", run.stderr);

    // A 403 without rate-limit signs is about access.
    let gh = FakeGitHub::ready();
    let denied = json!({"message": "Resource not accessible by personal access token", "documentation_url": "https://docs.github.com/rest"});
    gh.route("GET", &repo_path("/pulls/42"), Reply::status(403, denied));
    let run = plugin(&gh, &["review", PR_URL]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no access to /repos/octo-org/octo-repo/pulls/42 (403)"),
        "{}",
        run.stderr
    );
    served_bodies_match_openapi(&gh);
}

#[test]
fn pagination_never_leaves_the_api() {
    let gh = FakeGitHub::ready();
    let path = repo_path(&format!("/commits/{HEAD}/check-runs"));
    let foreign = "<https://evil.example/steal?page=2>; rel=\"next\"";
    gh.route_page(
        "GET",
        &path,
        1,
        vec![Reply::ok(fixture("check_runs.json")).header("link", foreign)],
    );
    let run = plugin(&gh, &["review", PR_URL]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("leaves the API"), "{}", run.stderr);
}

#[test]
fn a_pull_request_on_another_host_is_refused_before_any_request() {
    let gh = FakeGitHub::ready();
    let ghe_pr = "https://ghe.corp.example/octo-org/octo-repo/pull/42";
    let run = plugin_on("https://api.github.com", &["merge", ghe_pr, "--policy", "default"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("GITHUB_API_URL=https://ghe.corp.example/api/v3"),
        "{}",
        run.stderr
    );
    let run = plugin_on("http://api.github.com", &["review", "octo-org/octo-repo#42"]);
    assert_eq!(run.code, 1, "no token over plain http");
    assert!(gh.log().is_empty());
}
