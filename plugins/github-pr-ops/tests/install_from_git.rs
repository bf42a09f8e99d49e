//! From source to a review in two commands, through the real `ooo` binary: this
//! repository, committed to a local git repository, is registered with
//! `ooo plugin add <file-url> --plugin github-pr-ops`, which clones it, runs the plugin's
//! build step (`cargo build` in the sandbox, writing only its copy) and installs the
//! built binary; after `trust`, `review` judges a pull request of the fake GitHub.
//!
//! The build compiles the plugin in release mode (a minute or two). It reads the crates
//! already in cargo's cache and is told not to use the network (`CARGO_NET_OFFLINE`);
//! cargo's and rustup's homes are read, never written (the sandbox allows no write
//! outside the build's directory).

mod common;

use common::fake_github::{FakeGitHub, HEAD, PR_URL};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ooo_binary() -> PathBuf {
    let ooo = Path::new(env!("CARGO_BIN_EXE_github-pr-ops")).with_file_name("ooo");
    assert!(
        ooo.exists(),
        "{} is missing: build it with `cargo build -p ooo-cli` (cargo test --workspace does)",
        ooo.display()
    );
    ooo
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["-c", "init.defaultBranch=main", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// This workspace's files as git sees them (committed or not, ignored ones left out),
/// committed to a new repository at `dest`.
fn repository_of_this_workspace(dest: &Path) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let listed = git(&workspace, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
    for rel in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).unwrap());
        let from = workspace.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&from) else { continue };
        if !meta.is_file() {
            continue;
        }
        let to = dest.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git(dest, &["init", "-q"]);
    git(dest, &["add", "-A"]);
    git(dest, &["commit", "-q", "-m", "the workspace"]);
}

/// Where a toolchain keeps its files: the variable cargo test runs with, else its
/// default under this user's home.
fn toolchain_home(var: &str, default: &str) -> Option<String> {
    std::env::var(var).ok().or_else(|| {
        let home = std::env::var("HOME").ok()?;
        let dir = Path::new(&home).join(default);
        dir.is_dir().then(|| dir.display().to_string())
    })
}

struct Ooo {
    dir: tempfile::TempDir,
    api: String,
}

impl Ooo {
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(ooo_binary());
        cmd.env_clear()
            .env("OUROBOROS_HOME", self.dir.path().join("home"))
            .env("HOME", self.dir.path().join("user-home"))
            .env("USER", "tester")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("GITHUB_API_URL", &self.api)
            .env("GITHUB_TOKEN", "test-token")
            .env("CARGO_NET_OFFLINE", "true");
        for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
            if let Some(dir) = toolchain_home(var, default) {
                cmd.env(var, dir);
            }
        }
        if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        cmd.current_dir(self.dir.path()).stdin(Stdio::null()).args(args).output().unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ooo {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn add_from_a_git_url_builds_installs_and_reviews() {
    let gh = FakeGitHub::ready();
    let ooo = Ooo { dir: tempfile::tempdir().unwrap(), api: gh.url.clone() };
    let repo = ooo.dir.path().join("repo");
    repository_of_this_workspace(&repo);
    let url = format!("file://{}", repo.display());

    // The fake GitHub is where this user's GitHub is: config.toml adds its host to the
    // manifest's (api.github.com), as for a GitHub Enterprise server.
    let home = ooo.dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let fake_host = gh.url.trim_start_matches("http://").trim_end_matches('/');
    fs::write(
        home.join("config.toml"),
        format!("[plugins.github-pr-ops]\nhosts = [\"{fake_host}\"]\n"),
    )
    .unwrap();
    let added = ooo.ok(&["plugin", "add", &url, "--plugin", "github-pr-ops"]);
    assert!(added.contains("installed github-pr-ops 0.1.0 from "), "{added}");
    // What was built, and where it could connect, is shown before anything is trusted.
    assert!(
        added.contains(
            "built with `sh ./build.sh` (sandbox: full; network: index.crates.io, static.crates.io)"
        ) || added.contains("built with `sh ./build.sh` (sandbox: partial"),
        "{added}"
    );
    assert!(added.contains("output bin/github-pr-ops sha256:"), "{added}");

    ooo.ok(&["plugin", "trust", "github-pr-ops", "--scope", "github:read"]);
    let review: Value =
        serde_json::from_str(&ooo.ok(&["github-pr", "review", PR_URL, "--json"])).unwrap();
    assert_eq!(review["ready"], true, "{review}");
    assert_eq!(review["pull_request"]["head_sha"], HEAD);
    assert!(gh.log().iter().all(|e| e.authorization.as_deref() == Some("Bearer test-token")));

    // The digests pin the source and the built binary: inspect shows both, verify agrees.
    let inspect: Value =
        serde_json::from_str(&ooo.ok(&["plugin", "inspect", "github-pr-ops", "--json"])).unwrap();
    let source = inspect["source_digest"].as_str().unwrap();
    assert!(source.starts_with("sha256:") && source != inspect["artifact_digest"], "{inspect}");
    let output = &inspect["build"]["outputs"][0];
    assert_eq!(output["path"], "bin/github-pr-ops", "{inspect}");
    let installed = ooo.dir.path().join("home/plugins/github-pr-ops/bin/github-pr-ops");
    assert_eq!(output["bytes"], std::fs::metadata(&installed).unwrap().len());
    assert!(ooo.ok(&["plugin", "verify", "github-pr-ops"]).starts_with("ok "));
    let leftovers: Vec<String> = std::fs::read_dir(ooo.dir.path().join("home/plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["github-pr-ops"], "the build's copy is gone");
}
