//! `ooo run`, `ooo status`, `ooo cancel` and `ooo run gc` through the real binary, with
//! the real Claude Code CLI (installed by `.ci/run`) as the worker, confined in
//! ooo-sandbox and talking to the loopback fake model: the fake's tool calls make Claude
//! write files, and ooo's gate judges them. Skipped with a message where Claude or the
//! full sandbox is missing, except under CI.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestHome, with_filters};
use ooo_fake_model::{FakeModel, Reply};
use serde_json::{Value, json};

const KEY: &str = "sk-fake-test-key-0123456789";

/// The agent CLI `name`, installed by `.ci/run` at `under` in `target/npm/node_modules`.
fn installed(name: &str, under: &str) -> Option<PathBuf> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm/node_modules").join(under);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{name} is missing: run .ci/run");
    eprintln!("skipped: {name} is not installed at {} (run .ci/run)", path.display());
    None
}

/// A home whose config points the worker CLI at a fresh fake, and a committed repository.
struct Rig {
    t: TestHome,
    fake: FakeModel,
    repo: PathBuf,
    /// The worker's key and configuration directory, for every `ooo` run.
    env: Vec<(&'static str, String)>,
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A rig with Claude Code as the worker.
fn rig(files: &[(&str, &str)]) -> Option<Rig> {
    let claude = installed("claude", "@anthropic-ai/claude-code-linux-x64/claude")?;
    if !common::full_sandbox() {
        return None;
    }
    let fake = FakeModel::start();
    let config = format!(
        "[runtime]\ndefault = \"claude\"\n\n[runtime.claude]\npath = \"{}\"\nbase_url = \"{}\"\napi_key_env = \"FAKE_ANTHROPIC_KEY\"\n",
        claude.display(),
        fake.base_url()
    );
    Some(rig_with(
        TestHome::new(),
        fake,
        &config,
        vec![("FAKE_ANTHROPIC_KEY", KEY.to_owned())],
        files,
    ))
}

/// A rig with Codex as the worker: ooo's config names the fake as its provider
/// (`base_url`, `api_key_env`: the adapter defines a provider from them); Codex's own
/// config in a private `CODEX_HOME` says the rest (a model it knows, no approvals, quiet
/// offline).
fn codex_rig(files: &[(&str, &str)]) -> Option<Rig> {
    let codex = installed("codex", ".bin/codex")?;
    if !common::full_sandbox() {
        return None;
    }
    let t = TestHome::new();
    let fake = FakeModel::start();
    let codex_home = t.dir.path().join("codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        "model = \"gpt-5.5\"\napproval_policy = \"never\"\ncheck_for_update_on_startup = false\n\n[analytics]\nenabled = false\n\n[features]\nplugins = false\napps = false\n",
    )
    .unwrap();
    let config = format!(
        "[runtime]\ndefault = \"codex\"\n\n[runtime.codex]\npath = \"{}\"\nbase_url = \"{}/v1\"\napi_key_env = \"FAKE_OPENAI_KEY\"\n",
        codex.display(),
        fake.base_url()
    );
    let env =
        vec![("FAKE_OPENAI_KEY", KEY.to_owned()), ("CODEX_HOME", codex_home.display().to_string())];
    Some(rig_with(t, fake, &config, env, files))
}

fn rig_with(
    t: TestHome,
    fake: FakeModel,
    config: &str,
    env: Vec<(&'static str, String)>,
    files: &[(&str, &str)],
) -> Rig {
    fake.on_untooled(Reply::text("ok"));
    std::fs::create_dir_all(t.home()).unwrap();
    std::fs::write(t.home().join("config.toml"), config).unwrap();
    let repo = t.dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README"), "a repository\n").unwrap();
    for (name, text) in files {
        std::fs::write(repo.join(name), text).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let repo = repo.canonicalize().unwrap();
    Rig { t, fake, repo, env }
}

impl Rig {
    fn cmd(&self) -> Command {
        let mut cmd = self.t.std_ooo();
        cmd.envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.repo).stdin(Stdio::null());
        cmd
    }

    fn seed(&self, criteria: &[Value]) -> PathBuf {
        let seed = json!({
            "goal": "Write the files the criteria ask for",
            "acceptance_criteria": criteria,
            "ontology_schema": {"name": "Files", "description": "Files", "fields": []},
            "evaluation_principles": ["correctness"],
            "exit_conditions": ["every criterion verified"],
            "metadata": {"seed_id": "seed_run_test", "created_at": "2026-07-02T00:00:00Z"},
        });
        let path = self.t.dir.path().join("seed.json");
        std::fs::write(&path, seed.to_string()).unwrap();
        path
    }

    /// `ooo args...`: (exit code, stdout, stderr).
    fn ooo(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run(&self, seed: &Path, extra: &[&str]) -> (i32, Value, String) {
        let mut args = vec!["run", seed.to_str().unwrap(), "--json"];
        args.extend(extra);
        let (code, out, err) = self.ooo(&args);
        let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (code, doc, err)
    }

    fn status(&self, id: &str) -> Value {
        let (code, out, err) = self.ooo(&["status", id, "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// The one execution's id, once it is recorded.
    fn wait_for_execution(&self) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            let (_, out, _) = self.ooo(&["status", "--json"]);
            // Before the first record, the ledger may be missing or still being made.
            let first = out.lines().next().and_then(|l| serde_json::from_str::<Value>(l).ok());
            if let Some(id) = first.as_ref().and_then(|v| v["execution_id"].as_str()) {
                return id.to_owned();
            }
            if let Some(v) = first {
                eprintln!("status said: {v}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no execution was recorded");
    }

    /// Wait until the fake has had `n` generation requests.
    fn wait_for_generations(&self, n: usize) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.fake.generations().len() < n {
            assert!(Instant::now() < until, "the worker never asked the model");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn write(&self, name: &str, content: &str) -> Reply {
        let path = self.repo.join(name);
        Reply::tool_call("Write", json!({"file_path": path, "content": content}))
    }
}

fn criterion(description: &str, verify: &str) -> Value {
    json!({"description": description, "verify_command": verify})
}

fn statuses(status: &Value) -> Vec<(String, u64, String)> {
    status["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_owned(),
                c["attempts"].as_u64().unwrap(),
                c["last_verdict"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

fn s(status: &str, attempts: u64, verdict: &str) -> (String, u64, String) {
    (status.to_owned(), attempts, verdict.to_owned())
}

/// (a) two criteria verified, in a worktree with a commit each; (h) the status list and
/// `ooo run gc --dry-run`.
#[test]
fn two_criteria_verified_in_a_worktree() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[
        criterion("alpha.txt says alpha", "grep -q alpha alpha.txt"),
        criterion("beta.txt says beta", "grep -q beta beta.txt"),
    ]);
    // In a worktree whose path is not known yet: Claude writes relative to its cwd.
    let bash = |cmd: &str| Reply::tool_call("Bash", json!({"command": cmd}));
    r.fake.push(bash("echo alpha > alpha.txt"));
    r.fake.push(Reply::text("DONE"));
    r.fake.push(bash("echo beta > beta.txt"));
    r.fake.push(Reply::text("DONE"));
    let (code, result, err) = r.run(&seed, &["--worktree"]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    assert_eq!(result["verdict"], "success");
    assert_eq!(result["commits"].as_array().unwrap().len(), 2, "{result:#}");
    let id = result["execution_id"].as_str().unwrap();
    let status = r.status(id);
    assert_eq!(statuses(&status), [s("accepted", 1, "passed"), s("accepted", 1, "passed")]);
    assert!(!r.repo.join("alpha.txt").exists(), "the worker wrote the user's checkout");
    assert!(err.contains("ac 1: accepted after 1 attempt(s)"), "{err}");

    with_filters(&r.t, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"(?m)ooo/run-[0-9A-Z]{26}", "ooo/run-[ULID]");
        settings.bind(|| {
            let (_, out, err) = r.ooo(&["status"]);
            insta::assert_snapshot!("status_list", format!("{out}--- stderr\n{err}"));
            let (code, out, err) = r.ooo(&["run", "gc", "--dry-run", "--keep", "0"]);
            insta::assert_snapshot!(
                "gc_dry_run",
                format!("{out}--- stderr\n{err}--- exit {code}\n")
            );
        });
    });
    let worktree = result["worktree"]["path"].as_str().unwrap();
    assert!(Path::new(worktree).is_dir(), "a dry run removed nothing");
}

/// (g) parallel criteria in one level: a planner model (an HTTP provider in config.toml,
/// here the same fake) puts both criteria in one level, and two Claude workers run at
/// once, each answered in its own conversation. The second worker asks the model while
/// the first one's reply is still held back, which a run one criterion at a time never
/// does.
#[test]
fn independent_criteria_run_in_parallel() {
    let Some(r) = rig(&[]) else { return };
    let planner = format!(
        "\n[runtime.planner]\nkind = \"anthropic\"\nbase_url = \"{}\"\nmodel = \"fake-planner\"\napi_key_env = \"FAKE_ANTHROPIC_KEY\"\n",
        r.fake.base_url()
    );
    let config = r.t.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&planner);
    std::fs::write(&config, text).unwrap();
    let seed = r.seed(&[
        criterion("alpha.txt says alpha", "grep -q alpha alpha.txt"),
        criterion("beta.txt says beta", "grep -q beta beta.txt"),
    ]);
    let plan = json!({"levels": [[0, 1]], "reason": "the two files are independent"});
    r.fake.push_for("into dependency levels", Reply::text(plan.to_string()));
    let verdict = json!({"score": 0.9, "ac_compliance": 1.0, "goal_alignment": 0.9,
        "drift": 0.0, "reward_hacking_risk": 0.0, "notes": "both files are there"});
    r.fake.push_for("You review the result", Reply::text(verdict.to_string()));
    let first = "Criterion to implement now (1 of 2)";
    let second = "Criterion to implement now (2 of 2)";
    let held = Duration::from_secs(4);
    r.fake.push_for(first, r.write("alpha.txt", "alpha\n").delay(held));
    r.fake.push_for(first, Reply::text("DONE"));
    r.fake.push_for(second, r.write("beta.txt", "beta\n"));
    r.fake.push_for(second, Reply::text("DONE"));

    let (code, result, err) = r.run(&seed, &[]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    assert_eq!(result["verdict"], "success", "{result:#}");
    assert!(err.contains("planned 2 criteria in 1 level(s)"), "{err}");
    let status = r.status(result["execution_id"].as_str().unwrap());
    assert_eq!(statuses(&status), [s("accepted", 1, "passed"), s("accepted", 1, "passed")]);
    assert_eq!(r.fake.remaining(), 0, "every scripted reply was asked for");

    // The order the model was asked in: the second worker's first request came before
    // the first worker's second one (which waits for the held reply).
    let asked: Vec<&str> = r
        .fake
        .generations()
        .iter()
        .filter_map(|g| {
            let body = g.body.to_string();
            [(first, "1"), (second, "2")]
                .into_iter()
                .find(|(needle, _)| body.contains(needle))
                .map(|(_, who)| who)
        })
        .collect();
    let second_starts = asked.iter().position(|w| *w == "2").expect("worker 2 asked");
    let first_again = asked.iter().rposition(|w| *w == "1").expect("worker 1 asked");
    assert!(second_starts < first_again, "the workers ran one after the other: {asked:?}");
}

/// (a) with Codex as the worker, in ooo-sandbox (Codex's own sandbox is not started):
/// two criteria verified, its model reached through the proxy at the fake's host only.
#[test]
fn codex_verifies_two_criteria() {
    let Some(r) = codex_rig(&[]) else { return };
    let seed = r.seed(&[
        criterion("alpha.txt says alpha", "grep -q alpha alpha.txt"),
        criterion("beta.txt says beta", "grep -q beta beta.txt"),
    ]);
    for word in ["alpha", "beta"] {
        let path = r.repo.join(format!("{word}.txt"));
        let cmd = format!("printf '%s\\n' {word} > '{}'", path.display());
        r.fake.push(Reply::tool_call("exec_command", json!({"cmd": cmd})));
        r.fake.push(Reply::text("DONE"));
    }
    let (code, result, err) = r.run(&seed, &[]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    assert_eq!(result["verdict"], "success");
    let status = r.status(result["execution_id"].as_str().unwrap());
    assert_eq!(statuses(&status), [s("accepted", 1, "passed"), s("accepted", 1, "passed")]);
    assert_eq!(std::fs::read_to_string(r.repo.join("beta.txt")).unwrap(), "beta\n");
    assert!(err.contains("with codex"), "{err}");
}

/// The verify gate reaches the user's Rust toolchain (read-only, offline): a worker
/// writes a small std-only crate and `cargo run -q -- Ada` judges it.
#[test]
fn the_gate_runs_cargo() {
    let Some(mut r) = rig(&[]) else { return };
    let Some(toolchain) = rust_toolchain() else { return };
    r.env.extend(toolchain);
    let seed = r.seed(&[json!({
        "description": "a Rust program greets the name it is given",
        "verify_command": "cargo run -q -- Ada",
        "output_assertion": "Hello, Ada",
    })]);
    let bash = |cmd: &str| Reply::tool_call("Bash", json!({"command": cmd}));
    r.fake.push(bash("mkdir -p src"));
    r.fake.push(r.write(
        "Cargo.toml",
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    ));
    r.fake.push(r.write(
        "src/main.rs",
        "fn main() {\n    let name = std::env::args().nth(1).unwrap_or_default();\n    println!(\"Hello, {name}\");\n}\n",
    ));
    r.fake.push(Reply::text("DONE"));
    let (code, result, err) = r.run(&seed, &["--max-attempts", "1"]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    let status = r.status(result["execution_id"].as_str().unwrap());
    assert_eq!(statuses(&status), [s("accepted", 1, "passed")], "{result:#}");
}

/// The variables that locate the Rust toolchain the tests run with (`std_ooo` clears
/// the environment and gives ooo another HOME), or `None` (skip) without `cargo`.
fn rust_toolchain() -> Option<Vec<(&'static str, String)>> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("cargo").is_file()));
    if !found {
        eprintln!("skipped: cargo is not on PATH");
        return None;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let mut vars = Vec::new();
    for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
        let dir = std::env::var(var).unwrap_or_else(|_| format!("{home}/{default}"));
        if Path::new(&dir).is_dir() {
            vars.push((var, dir));
        }
    }
    vars.extend(std::env::var("RUSTUP_TOOLCHAIN").ok().map(|t| ("RUSTUP_TOOLCHAIN", t)));
    Some(vars)
}

/// (b) the first attempt fails the gate, the second (told why) passes.
#[test]
fn a_failed_attempt_is_retried_and_passes() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("good.txt says good", "grep -q good good.txt")]);
    r.fake.push(r.write("good.txt", "bad\n"));
    r.fake.push(Reply::text("DONE"));
    r.fake.push(r.write("good.txt", "good\n"));
    r.fake.push(Reply::text("DONE"));
    let (code, result, err) = r.run(&seed, &[]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    let status = r.status(result["execution_id"].as_str().unwrap());
    assert_eq!(statuses(&status), [s("accepted", 2, "passed")]);
    assert!(err.contains("ac 1: attempt 1: failed"), "{err}");
}

/// (c) a worker that says it succeeded while its check fails is not believed.
#[test]
fn a_claimed_success_is_not_believed() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("done.txt says done", "grep -q done done.txt")]);
    // The repository's .git is read-only for workers: no hook can be planted.
    r.fake.push(r.write(".git/hooks/pre-commit", "#!/bin/sh\necho pwned\n"));
    r.fake.push(r.write("done.txt", "not yet\n"));
    r.fake.push(Reply::text("All done: the criterion is met and the tests pass."));
    // The human summary this time.
    let (code, out, err) = r.ooo(&["run", seed.to_str().unwrap(), "--max-attempts", "1"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let id = r.wait_for_execution();
    assert!(out.starts_with(&format!("execution {id}: failed (exit 1)\n")), "{out}");
    assert!(out.contains("  ac 1 "), "{out}");
    assert!(out.contains(": failed  attempts 1  gate failed  tokens "), "{out}");
    assert!(!r.repo.join(".git/hooks/pre-commit").exists(), "a worker wrote .git");
    assert_eq!(std::fs::read_to_string(r.repo.join("done.txt")).unwrap(), "not yet\n");
    let status = r.status(&id);
    assert_eq!(statuses(&status), [s("failed", 1, "failed")]);
    let (code, shown, err) = r.ooo(&["status", &id]);
    assert_eq!(code, 0, "{err}");
    eprintln!("{out}{shown}");
    assert!(shown.contains("AC  STATUS  ATTEMPTS  LAST VERDICT"), "{shown}");
    assert!(
        shown.lines().nth(2).is_some_and(|l| l.starts_with("1   failed  1         failed")),
        "{shown}"
    );
}

/// (d) a worker that edits the test its criterion runs fails as oracle_tampered.
#[test]
fn editing_the_oracle_is_caught() {
    let Some(r) = rig(&[("check.sh", "grep -q fixed fix.txt\n")]) else { return };
    let seed = r.seed(&[criterion("fix.txt is fixed", "sh check.sh")]);
    r.fake.push(r.write("check.sh", "exit 0\n"));
    r.fake.push(Reply::text("DONE"));
    let (code, result, err) = r.run(&seed, &["--max-attempts", "1"]);
    assert_eq!(code, 1, "{result:#}\n{err}");
    let status = r.status(result["execution_id"].as_str().unwrap());
    assert_eq!(statuses(&status), [s("failed", 1, "oracle_tampered")]);
}

/// Bad input: a worker that deletes the repository it works in. The files it could
/// write are gone, but not the repository's history (`.git` is read-only to workers);
/// the criterion fails (the file its check reads is gone: `oracle_tampered`), and the
/// ledger still verifies.
#[test]
fn a_worker_that_deletes_the_repository_fails_and_loses_no_history() {
    let Some(r) = rig(&[("keep.txt", "precious\n")]) else { return };
    let head = || {
        let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&r.repo).output();
        String::from_utf8(out.unwrap().stdout).unwrap()
    };
    let before = head();
    let seed = r.seed(&[criterion("keep.txt still says precious", "grep -q precious keep.txt")]);
    let bash = |cmd: &str| Reply::tool_call("Bash", json!({"command": cmd}));
    // Claude refuses `rm -rf` of its working directory by itself, not file by file.
    r.fake.push(bash("rm -f keep.txt README"));
    r.fake.push(bash("rm -rf .git/objects .git/refs; git update-ref -d HEAD"));
    r.fake.push(Reply::text("DONE: cleaned up"));
    let (code, result, err) = r.run(&seed, &["--max-attempts", "1"]);
    assert_eq!(code, 1, "{result:#}\n{err}");
    let status = r.status(result["execution_id"].as_str().unwrap());
    // keep.txt is what the check reads: deleting it is tampering with the oracle.
    assert_eq!(statuses(&status), [s("failed", 1, "oracle_tampered")]);
    let said = r.fake.generations().last().map(|g| g.body["messages"].to_string());
    assert!(said.as_ref().is_some_and(|m| m.contains("Read-only file system")), "{said:?}");
    assert!(!r.repo.join("keep.txt").exists(), "the worker did delete the file");
    assert_eq!(head(), before, "the history is intact");
    git(&r.repo, &["checkout", "--", "."]);
    assert_eq!(std::fs::read_to_string(r.repo.join("keep.txt")).unwrap(), "precious\n");
    let (code, out, err) = r.ooo(&["ledger", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// (e) `ooo cancel` from another process ends a run waiting on a slow model within 5 s.
#[test]
fn cancel_from_another_process_ends_the_run() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("slow.txt exists", "test -f slow.txt")]);
    r.fake.push(Reply::text("DONE").delay(Duration::from_secs(60)));
    let child = r.spawn(&["run", seed.to_str().unwrap()]);
    let id = r.wait_for_execution();
    r.wait_for_generations(1);
    assert!(!processes_in(&r.repo).is_empty(), "the worker is seen while it runs");
    // While it runs, no one else may take the execution over.
    let (code, _, err) = r.ooo(&["run", "--resume", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is held by a live process"), "{err}");
    assert!(err.contains(&format!("hint: wait (`ooo status {id} --follow`) or stop it")), "{err}");
    let mut follow = r.spawn(&["status", &id, "--follow"]);
    let mut followed = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut followed, &mut first).unwrap();
    assert!(first.starts_with(&format!("execution {id}: running (0/1 accepted)")), "{first}");
    let asked = Instant::now();
    let (code, out, err) = r.ooo(&["cancel", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let out = wait_with_timeout(child, Duration::from_secs(10));
    let took = asked.elapsed();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(5), "the run took {took:?} to stop");
    assert_eq!(r.status(&id)["status"], "cancelled");
    assert_eq!(r.status(&id)["cancel_requested"], true);
    let ended = wait_with_timeout(follow, Duration::from_secs(5));
    assert!(ended.status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut followed, &mut rest).unwrap();
    assert!(rest.contains(&format!("execution {id}: cancelled (0/1 accepted)")), "{rest}");
    assert_eq!(processes_in(&r.repo), Vec::<String>::new(), "a worker outlived the run");
}

/// (f) `kill -9` mid-run, then `--resume`: the accepted criterion is not done again.
#[test]
fn a_killed_run_resumes_without_redoing_accepted_criteria() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[
        criterion("one.txt says one", "grep -q one one.txt"),
        criterion("two.txt says two", "grep -q two two.txt"),
    ]);
    r.fake.push(r.write("one.txt", "one\n"));
    r.fake.push(Reply::text("DONE"));
    r.fake.push(Reply::text("DONE").delay(Duration::from_secs(60)));
    let mut child = r.spawn(&["run", seed.to_str().unwrap()]);
    let id = r.wait_for_execution();
    r.wait_for_generations(3);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.status(&id)["status"], "interrupted");
    let until = Instant::now() + Duration::from_secs(5);
    while !processes_in(&r.repo).is_empty() {
        assert!(Instant::now() < until, "workers outlived ooo: {:?}", processes_in(&r.repo));
        std::thread::sleep(Duration::from_millis(50));
    }
    // While another process holds the execution's lock (a resume going on), a second
    // resume is refused, naming it, and records nothing; detached too.
    let lock_path = r.t.home().join(format!("runs/exec-{id}/lock"));
    let mut held = std::fs::OpenOptions::new().write(true).open(&lock_path).unwrap();
    held.try_lock().unwrap();
    held.set_len(0).unwrap();
    writeln!(held, "4242").unwrap();
    for extra in [&[][..], &["--detach"][..]] {
        let mut args = vec!["run", "--resume", &id];
        args.extend(extra);
        let (code, _, err) = r.ooo(&args);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&format!("execution {id} is being run by pid 4242")), "{err}");
        let hint = format!("hint: `ooo status {id} --follow` to watch, or `ooo cancel {id}`");
        assert!(err.contains(&hint), "{err}");
    }
    assert_eq!(r.status(&id)["status"], "interrupted");
    drop(held);
    let before = r.fake.generations().len();
    r.fake.push(r.write("two.txt", "two\n"));
    r.fake.push(Reply::text("DONE"));
    let (code, out, err) = r.ooo(&["run", "--resume", &id, "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let status = r.status(&id);
    assert_eq!(statuses(&status), [s("accepted", 1, "passed"), s("accepted", 2, "passed")]);
    let after: Vec<_> = r.fake.generations().into_iter().skip(before).collect();
    assert_eq!(after.len(), 2, "only criterion 2 was worked on again");
    assert!(
        after.iter().all(|g| !g.body.to_string().contains("one.txt says one")
            || g.body.to_string().contains("two.txt says two")),
        "criterion 1 was dispatched again"
    );
}

/// A detached run's process group, killed when a test ends (its workers die with it), so
/// a failed assertion leaves nothing running.
struct Detached(u64);

impl Drop for Detached {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0)]).output();
    }
}

/// `ooo run --detach --json`: the execution id, its log, and a guard on its process.
fn detach(r: &Rig, seed: &Path) -> (String, PathBuf, Detached) {
    let started = Instant::now();
    let (code, out, err) = r.ooo(&["run", seed.to_str().unwrap(), "--detach", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "--detach waited for the run");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let guard = Detached(doc["pid"].as_u64().unwrap());
    (doc["execution_id"].as_str().unwrap().to_owned(), doc["log"].as_str().unwrap().into(), guard)
}

/// `--detach`: the id at once, the run in the background (its own session, its output in
/// the execution's log), `ooo status --follow` until its verdict.
#[test]
fn a_detached_run_is_followed_to_its_verdict() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("bg.txt says bg", "grep -q bg bg.txt")]);
    r.fake.push(r.write("bg.txt", "bg\n"));
    r.fake.push(Reply::text("DONE"));
    let (id, log, _guard) = detach(&r, &seed);
    assert_eq!(log, r.t.home().join(format!("runs/exec-{id}/log")));
    let follow = r.spawn(&["status", &id, "--follow"]);
    let out = wait_with_timeout(follow, Duration::from_secs(60));
    let shown = String::from_utf8_lossy(&out.stdout);
    let last = shown.lines().rfind(|l| l.starts_with("execution ")).unwrap_or_default();
    assert!(last.starts_with(&format!("execution {id}: succeeded (1/1 accepted)")), "{shown}");
    assert_eq!(statuses(&r.status(&id)), [s("accepted", 1, "passed")]);
    // The background run printed its result (it got --json too) into the log.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&format!("execution {id}: seed seed_run_test with claude")),
        "{logged}"
    );
    let result = logged.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok());
    assert_eq!(result.unwrap()["verdict"], "success", "{logged}");
    // The human form says how to follow and cancel.
    r.fake.push(Reply::text("DONE"));
    let (code, out, err) = r.ooo(&["run", seed.to_str().unwrap(), "--detach"]);
    assert_eq!(code, 0, "{err}");
    let id = out.strip_prefix("execution ").and_then(|o| o.split(' ').next()).unwrap();
    let pid = out.split("(pid ").nth(1).and_then(|p| p.split(')').next()?.parse().ok());
    let _guard = Detached(pid.unwrap_or_else(|| panic!("{out}")));
    assert!(out.contains(&format!("ooo status {id} --follow\n")), "{out}");
    assert!(out.contains(&format!("ooo cancel {id}\n")), "{out}");
    let follow = r.spawn(&["status", id, "--follow"]);
    assert!(wait_with_timeout(follow, Duration::from_secs(60)).status.success());
}

/// `ooo cancel` of a detached run: it ends `cancelled` with its workers gone.
#[test]
fn a_detached_run_can_be_cancelled() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("slow.txt exists", "test -f slow.txt")]);
    r.fake.push(Reply::text("DONE").delay(Duration::from_secs(60)));
    let (id, _, guard) = detach(&r, &seed);
    r.wait_for_generations(1);
    assert_eq!(r.status(&id)["owner_alive"], true);
    // The owner is the background process, the leader of a session of its own.
    let (_, shown, _) = r.ooo(&["status", &id]);
    let pid = shown.split("running as pid ").nth(1).and_then(|p| p.lines().next()?.parse().ok());
    let pid: u64 = pid.unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(pid, guard.0, "the owner is the process --detach started");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let session = stat.rsplit(')').next().unwrap().split_whitespace().nth(3).unwrap();
    assert_eq!(session, pid.to_string(), "{stat}");
    let asked = Instant::now();
    let (code, out, err) = r.ooo(&["cancel", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, format!("execution {id}: cancel requested; the owner was interrupted\n"));
    while r.status(&id)["status"] != "cancelled" {
        assert!(asked.elapsed() < Duration::from_secs(5), "{}", r.status(&id));
        std::thread::sleep(Duration::from_millis(50));
    }
    let until = Instant::now() + Duration::from_secs(5);
    while !processes_in(&r.repo).is_empty() {
        assert!(Instant::now() < until, "a worker outlived the run: {:?}", processes_in(&r.repo));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ooo cancel` of an execution whose process died: recorded as cancelled at once.
#[test]
fn cancel_of_a_dead_run_finishes_it() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("late.txt exists", "test -f late.txt")]);
    r.fake.push(Reply::text("DONE").delay(Duration::from_secs(60)));
    let mut child = r.spawn(&["run", seed.to_str().unwrap()]);
    let id = r.wait_for_execution();
    r.wait_for_generations(1);
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, out, err) = r.ooo(&["cancel", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("execution {id}: cancelled (its process had already stopped)\n"));
    let status = r.status(&id);
    assert_eq!(status["status"], "cancelled");
    assert_eq!(status["verdict"], "cancelled");
    let (_, out, _) = r.ooo(&["cancel", &id]);
    assert_eq!(out, format!("execution {id}: already finished; nothing to cancel\n"));
}

/// (g) no agent CLI anywhere: exit 1 naming what to install.
#[test]
fn no_runtime_says_what_to_install() {
    let t = TestHome::new();
    let seed = t.dir.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "goal: g\nacceptance_criteria:\n- description: d\n  verify_command: 'true'\nontology_schema: {name: n, description: d, fields: []}\nevaluation_principles: [p]\nexit_conditions: [e]\nmetadata: {seed_id: seed_no_runtime, created_at: \"2026-07-02T00:00:00Z\"}\n",
    )
    .unwrap();
    let out = t
        .std_ooo()
        .env("PATH", "")
        .current_dir(t.dir.path())
        .args(["run", seed.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: no agent CLI is available"), "{err}");
    assert!(
        err.contains("hint: install one, e.g. `npm install -g @anthropic-ai/claude-code`"),
        "{err}"
    );
}

/// `ooo cancel` of an unknown execution: exit 1 pointing at `ooo status`.
#[test]
fn cancel_of_an_unknown_execution_points_at_status() {
    let t = TestHome::new();
    t.note("something", None);
    let out = t.std_ooo().args(["cancel", "01JUNKNOWN0000000000000000"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("hint: list executions with `ooo status`"), "{err}");
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> std::process::Output {
    let until = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!("the run did not stop: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Live processes whose working directory is under `dir` (workers in the repository).
fn processes_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) {
            continue;
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        if cwd.starts_with(dir) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            found.push(format!("{pid}: {}", String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// `[run] verify_gate = "block"`: a criterion with nothing to check refuses the run
/// before anything starts, naming it and the fix; the default only warns.
#[test]
fn the_verify_gate_can_block_unchecked_criteria() {
    let t = TestHome::new();
    let seed = t.dir.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "goal: g\nacceptance_criteria:\n- description: d\nontology_schema: {name: n, description: d, fields: []}\nevaluation_principles: [p]\nexit_conditions: [e]\nmetadata: {seed_id: seed_unchecked, created_at: \"2026-07-02T00:00:00Z\"}\n",
    )
    .unwrap();
    let run = || {
        t.std_ooo()
            .env("PATH", "")
            .current_dir(t.dir.path())
            .args(["run", seed.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let warned = run();
    let err = String::from_utf8_lossy(&warned.stderr);
    assert!(
        err.contains("warning: criterion 1") && err.contains("can only end unverified"),
        "{err}"
    );
    std::fs::write(t.home().join("config.toml"), "[run]\nverify_gate = \"block\"\n").unwrap();
    let blocked = run();
    let err = String::from_utf8_lossy(&blocked.stderr);
    assert_eq!(blocked.status.code(), Some(1), "{err}");
    assert!(
        err.contains("verify_gate = \"block\"") && err.contains("hint: give each a verify_command"),
        "{err}"
    );
    assert!(!err.contains("no agent CLI"), "refused before the runtime is looked for: {err}");
}

/// A seed file inside the workspace holds the checks: the worker cannot read it (it is
/// hidden in its sandbox), so the check's secret text never reaches the model.
#[test]
fn the_seed_in_the_workspace_is_hidden_from_the_worker() {
    let Some(r) = rig(&[]) else { return };
    let outside =
        r.seed(&[criterion("gamma.txt exists", "test -s gamma.txt && echo sekrit-check-7")]);
    let inside = r.repo.join("seed.json");
    std::fs::copy(&outside, &inside).unwrap();
    let bash = |cmd: &str| Reply::tool_call("Bash", json!({"command": cmd}));
    r.fake.push(bash("cat seed.json; wc -c < seed.json; echo gamma > gamma.txt"));
    r.fake.push(Reply::text("DONE"));
    let (code, result, err) = r.run(&inside, &[]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    let asked = format!("{:?}", r.fake.requests());
    assert!(!asked.contains("sekrit-check-7"), "the worker read the seed's checks");
    assert_eq!(
        std::fs::read_to_string(&inside).unwrap().len(),
        std::fs::read_to_string(&outside).unwrap().len()
    );
}

/// `--in DIR`: a directory that does not exist yet becomes a new repository (an empty
/// first commit) and the run works there, for a greenfield seed.
#[test]
fn a_run_in_a_new_directory_makes_its_repository() {
    let Some(r) = rig(&[]) else { return };
    let seed = r.seed(&[criterion("hi.txt says hi", "grep -q hi hi.txt")]);
    let fresh = r.t.dir.path().join("fresh/project");
    let path = fresh.join("hi.txt");
    r.fake.push(Reply::tool_call("Write", json!({"file_path": path, "content": "hi\n"})));
    r.fake.push(Reply::text("DONE"));
    let (code, result, err) = r.run(&seed, &["--in", fresh.to_str().unwrap()]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "hi\n");
    let log = Command::new("git")
        .arg("-C")
        .arg(&fresh)
        .args(["log", "--format=%an %s"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "ooo start (made by ooo run --in)");
    assert!(!r.repo.join("hi.txt").exists(), "the current directory's repository is untouched");
}

/// The README's first command, `ooo run examples/seeds/hello.yaml --in <dir>` then
/// `ooo ledger verify`, with Claude Code against the fake model writing the project:
/// every criterion verified, exit 0, and the ledger's chain intact.
#[test]
fn the_readme_first_command_runs_the_example_seed() {
    let Some(mut r) = rig(&[]) else { return };
    let Some(toolchain) = rust_toolchain() else { return };
    r.env.extend(toolchain);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let hello = r.t.dir.path().join("hello");
    let script = Command::new("python3")
        .arg(root.join(".ci/hello-replies.py"))
        .arg(&hello)
        .output()
        .unwrap();
    assert!(script.status.success(), "{}", String::from_utf8_lossy(&script.stderr));
    let replies: Value = serde_json::from_slice(&script.stdout).unwrap();
    let calls = replies["replies"][0]["tool_calls"].as_array().unwrap();
    let mut first = Reply::text("");
    for (i, call) in calls.iter().enumerate() {
        let reply = Reply::tool_call(call["name"].as_str().unwrap(), call["input"].clone());
        first = if i == 0 { reply } else { first.and(reply) };
    }
    r.fake.push(first);
    r.fake.push(Reply::text("DONE"));
    r.fake.fallback(Reply::text("DONE"));
    let seed = root.join("examples/seeds/hello.yaml");
    let (code, result, err) = r.run(&seed, &["--in", hello.to_str().unwrap()]);
    assert_eq!(code, 0, "{result:#}\n{err}");
    assert_eq!(result["verdict"], "success", "{result:#}");
    let (code, out, err) = r.ooo(&["ledger", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
}
