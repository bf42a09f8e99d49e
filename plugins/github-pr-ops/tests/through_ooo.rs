//! End to end through the real `ooo` binary: install the plugin from a prebuilt folder
//! (the manifest in `plugins/github-pr-ops` without its build step, plus the binary this
//! test run built; `install_from_git.rs` installs from source), trust `github:read`,
//! review (the decision lands in the ledger through the capability channel), then merge:
//! blocked by the firewall without the write scope, declined without confirmation, and
//! merged exactly once, at the reviewed head, with it.
//!
//! `ooo` is the workspace binary next to this plugin's (`cargo test --workspace` builds
//! both; with `-p github-pr-ops` alone, run `cargo build -p ooo-cli` first).

mod common;

use common::fake_github::{FakeGitHub, HEAD, PR_URL, repo_path};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Ooo {
    dir: tempfile::TempDir,
    api: String,
}

fn ooo_binary() -> PathBuf {
    let plugin = Path::new(env!("CARGO_BIN_EXE_github-pr-ops"));
    let ooo = plugin.with_file_name("ooo");
    assert!(
        ooo.exists(),
        "{} is missing: build it with `cargo build -p ooo-cli` (cargo test --workspace does)",
        ooo.display()
    );
    ooo
}

impl Ooo {
    /// A fresh home, and the plugin's folder as a user would build it by hand: the
    /// manifest from the repository, without the build step, and the binary under `bin/`.
    fn new(gh: &FakeGitHub) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src/github-pr-ops");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("ouroboros.plugin.json");
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
        manifest["x-ouroboros"].as_object_mut().unwrap().remove("build").unwrap();
        std::fs::write(src.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
        let bin = src.join("bin/github-pr-ops");
        std::fs::copy(env!("CARGO_BIN_EXE_github-pr-ops"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        // The fake GitHub is where this user's GitHub is: config.toml adds its host to
        // the manifest's (api.github.com), as for a GitHub Enterprise server.
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let fake_host = gh.url.trim_start_matches("http://").trim_end_matches('/');
        std::fs::write(
            dir.path().join("home/config.toml"),
            format!("[plugins.github-pr-ops]\nhosts = [\"{fake_host}\"]\n"),
        )
        .unwrap();
        Self { dir, api: gh.url.clone() }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(ooo_binary())
            .env_clear()
            .env("OUROBOROS_HOME", self.dir.path().join("home"))
            .env("HOME", self.dir.path().join("user-home"))
            .env("USER", "tester")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("GITHUB_API_URL", &self.api)
            .env("GITHUB_TOKEN", "test-token")
            .env("UNRELATED_SECRET_TOKEN", "must-not-leak")
            .current_dir(self.dir.path().join("work"))
            .stdin(Stdio::null())
            .args(args)
            .output()
            .unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "ooo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run `ooo args` on a pseudo-terminal (util-linux `script`), typing `answer`;
    /// `None` where `script` is missing.
    fn on_terminal(&self, args: &[&str], answer: &str) -> Option<String> {
        use std::io::Write;
        if !Path::new("/usr/bin/script").exists() {
            eprintln!(
                "skipping the terminal prompt: /usr/bin/script (util-linux) is not installed"
            );
            return None;
        }
        let line = std::iter::once(ooo_binary().display().to_string())
            .chain(args.iter().map(|a| format!("'{a}'")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("/usr/bin/script")
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("OUROBOROS_HOME", self.dir.path().join("home"))
            .env("USER", "tester")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GITHUB_API_URL", &self.api)
            .env("GITHUB_TOKEN", "test-token")
            .current_dir(self.dir.path().join("work"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        stdin.write_all(answer.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn events(&self, prefix: &str) -> Vec<Value> {
        self.ok(&["ledger", "log", "--json", "--type", prefix])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn src(&self) -> String {
        self.dir.path().join("src/github-pr-ops").display().to_string()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn install_trust_review_and_merge() {
    let gh = FakeGitHub::ready();
    let ooo = Ooo::new(&gh);
    ooo.ok(&["plugin", "install", "github-pr-ops", "--from", &ooo.src()]);

    // Installing grants nothing: the firewall blocks before the plugin runs.
    let out = ooo.run(&["github-pr", "review", PR_URL]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ooo plugin trust github-pr-ops --scope github:read"),
        "{}",
        stderr(&out)
    );
    assert!(gh.log().is_empty(), "nothing reached GitHub");

    ooo.ok(&["plugin", "trust", "github-pr-ops", "--scope", "github:read"]);
    let review: Value =
        serde_json::from_str(&ooo.ok(&["github-pr", "review", PR_URL, "--json"])).unwrap();
    assert_eq!(review["ready"], true, "{review}");
    assert_eq!(review["pull_request"]["head_sha"], HEAD);
    // The token arrived through the manifest's env mapping, and nothing else did.
    assert!(gh.log().iter().all(|e| e.authorization.as_deref() == Some("Bearer test-token")));

    // The decision is in the ledger, as the plugin's own actor, under the invocation.
    let evidence = ooo.events("plugin.evidence.recorded");
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0]["actor"], "plugin:github-pr-ops");
    assert_eq!(evidence[0]["payload"]["kind"], "review_decision");
    assert_eq!(evidence[0]["payload"]["data"]["ready"], true);
    let invocation = evidence[0]["aggregate_id"].as_str().unwrap().to_owned();
    let provenance = ooo.events("plugin.provenance.recorded");
    assert_eq!(provenance[0]["payload"]["identifier"], "octo-org/octo-repo#42");
    assert_eq!(provenance[0]["payload"]["action"], "read");
    assert_eq!(ooo.events("plugin.handoff.attached")[0]["payload"]["name"], "review_decision");
    let story = ooo.ok(&[
        "ledger",
        "log",
        "--json",
        "--aggregate",
        &format!("plugin_invocation:{invocation}"),
    ]);
    let completed: Value =
        serde_json::from_str(story.lines().find(|l| l.contains("\"plugin.completed\"")).unwrap())
            .unwrap();
    let used = &completed["payload"]["capabilities_used"];
    for cap in ["ledger:write", "provenance:write", "handoff:attach"] {
        assert!(used.as_array().unwrap().contains(&json!(cap)), "{used}");
    }

    // merge without the write scope: the firewall blocks it, GitHub sees no merge.
    let merge = ["--confirm", "github-pr", "merge", PR_URL, "--policy", "default"];
    let out = ooo.run(&merge);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ooo plugin trust github-pr-ops --scope github:pull_request:write"),
        "{}",
        stderr(&out)
    );
    let merges = || gh.requests("PUT", &repo_path("/pulls/42/merge"));
    assert!(merges().is_empty());

    // With the scope but no confirmation (no terminal, no --confirm): declined.
    ooo.ok(&["plugin", "trust", "github-pr-ops", "--scope", "github:pull_request:write"]);
    let out = ooo.run(&merge[1..]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("asks for confirmation"), "{}", stderr(&out));
    assert!(merges().is_empty());
    // On a terminal, answering no (the default) does nothing either.
    if let Some(screen) = ooo.on_terminal(&merge[1..], "n\n") {
        assert!(screen.contains("(risk: destructive). Continue? [y/N]"), "{screen}");
        assert!(merges().is_empty(), "declined at the prompt: {screen}");
    }

    // Confirmed: exactly one merge, of the reviewed head.
    let out = ooo.ok(&merge);
    assert!(out.contains("merged octo-org/octo-repo#42"), "{out}");
    let merges = merges();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].request_body, json!({"sha": HEAD, "merge_method": "merge"}));
    let decisions: Vec<Value> = ooo
        .events("plugin.evidence.recorded")
        .into_iter()
        .filter(|e| e["payload"]["kind"] == "merge_decision")
        .collect();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["payload"]["data"]["merged"], true);

    // The whole story verifies, and the plugin's log lists every run and its result.
    ooo.ok(&["ledger", "verify"]);
    let log = ooo.ok(&["plugin", "log", "github-pr-ops", "--json"]);
    let results: Vec<(String, String)> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| (r["command"].as_str().unwrap().into(), r["result"].as_str().unwrap().into()))
        .collect();
    let mut expected = vec![
        ("review", "blocked"),
        ("review", "success"),
        ("merge", "blocked"),
        ("merge", "blocked"),
        ("merge", "success"),
    ];
    if Path::new("/usr/bin/script").exists() {
        expected.insert(4, ("merge", "blocked"));
    }
    let expected: Vec<(String, String)> =
        expected.into_iter().map(|(c, r)| (c.to_owned(), r.to_owned())).collect();
    assert_eq!(results, expected, "{log}");
    let export = ooo.ok(&["ledger", "export"]);
    assert!(
        !export.contains("must-not-leak") && !export.contains("test-token"),
        "no secret is recorded"
    );
    let attempts = ooo.events("plugin.evidence.recorded");
    let kinds: Vec<&str> = attempts.iter().filter_map(|e| e["payload"]["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["review_decision", "merge_attempt", "merge_decision"],
        "the attempt precedes the merge"
    );
}

#[test]
fn saved_policies_live_in_the_plugin_state() {
    let gh = FakeGitHub::ready();
    gh.route("GET", &repo_path("/pulls/42/reviews"), common::fake_github::Reply::ok(json!([])));
    let ooo = Ooo::new(&gh);
    ooo.ok(&["plugin", "install", "github-pr-ops", "--from", &ooo.src()]);
    ooo.ok(&["plugin", "trust", "github-pr-ops", "--scope", "github:read"]);
    let out = ooo.run(&["github-pr", "review", PR_URL, "--json", "--exit-code"]);
    assert_eq!(out.status.code(), Some(3), "no approval: not ready under default");

    // The policy file is read from where the user runs ooo (the workspace, read-only).
    std::fs::write(ooo.dir.path().join("work/solo.toml"), "min_approvals = 0\n").unwrap();
    ooo.ok(&["github-pr", "policy", "set", "solo", "--file", "solo.toml"]);
    assert!(ooo.ok(&["github-pr", "policy", "list"]).contains("solo"));
    let review: Value = serde_json::from_str(&ooo.ok(&[
        "github-pr",
        "review",
        PR_URL,
        "--policy",
        "solo",
        "--json",
    ]))
    .unwrap();
    assert_eq!((review["policy"].as_str(), review["ready"].as_bool()), (Some("solo"), Some(true)));

    // A broken policy is refused and the saved one stays.
    std::fs::write(ooo.dir.path().join("work/solo.toml"), "min_approvals = \"none\"\n").unwrap();
    let out = ooo.run(&["github-pr", "policy", "set", "solo", "--file", "solo.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("policy solo"), "{}", stderr(&out));
    ooo.ok(&["github-pr", "review", PR_URL, "--policy", "solo"]);
}

/// Without `[plugins.github-pr-ops] hosts`, the manifest's hosts are all it may reach:
/// the request to another host is refused by ooo's proxy and never arrives.
#[test]
fn a_host_outside_the_manifest_is_refused() {
    let gh = FakeGitHub::ready();
    let ooo = Ooo::new(&gh);
    std::fs::remove_file(ooo.dir.path().join("home/config.toml")).unwrap();
    ooo.ok(&["plugin", "install", "github-pr-ops", "--from", &ooo.src()]);
    ooo.ok(&["plugin", "trust", "github-pr-ops", "--scope", "github:read"]);
    let out = ooo.run(&["github-pr", "review", PR_URL, "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("403"), "the proxy's refusal is what the plugin saw: {err}");
    assert!(gh.log().is_empty(), "nothing reached the host");
    let failed = ooo.events("plugin.failed");
    let refused = failed.last().unwrap()["payload"]["provenance"]["network_refused"].clone();
    let fake_host = gh.url.trim_start_matches("http://").trim_end_matches('/');
    assert_eq!(refused, fake_host, "the audit names the refused connection");
}
