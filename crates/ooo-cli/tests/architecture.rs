//! The crate graph is the layer model (README, "Layout"): these tests fail when an
//! arrow points the wrong way, when a new workspace member has no layer, or when a
//! domain word leaks into the domain-free crates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which workspace crates each layer may depend on, by member path. `*` means any.
const LAYERS: &[(&str, &[&str])] = &[
    ("crates/ooo-core", &[]),
    ("crates/ooo-channel", &[]),
    ("crates/ooo-plugin-sdk", &["ooo-channel"]),
    ("crates/ooo-mcp", &["ooo-core", "ooo-channel"]),
    ("crates/ooo-runtime", &["ooo-core", "ooo-fake-model"]),
    ("crates/ooo-fake-model", &[]),
    ("crates/ooo-plugin", &["ooo-core", "ooo-mcp", "ooo-channel"]),
    ("programs/", &["ooo-core", "ooo-runtime"]),
    ("plugins/", &["ooo-plugin-sdk"]),
    ("crates/ooo-cli", &["*"]),
];

/// Test-support crates: allowed only as dev-dependencies, never in what ships.
const DEV_ONLY: &[&str] = &["ooo-fake-model"];

/// Crates and folders that must not know any external domain.
const DOMAIN_FREE: &[&str] = &[
    "crates/ooo-core",
    "crates/ooo-plugin",
    "crates/ooo-mcp",
    "crates/ooo-runtime",
    "crates/ooo-fake-model",
    "crates/ooo-channel",
    "programs",
];

/// Words that mark domain knowledge (matched case-insensitively).
const DOMAIN_WORDS: &[&str] = &[
    "github",
    "gitlab",
    "bitbucket",
    "pull_request",
    "pull request",
    "pullrequest",
    "jira",
    "atlassian",
    "confluence",
    "slack",
    "linear.app",
    "notion.so",
    "pagerduty",
];

struct Member {
    name: String,
    /// Path relative to the workspace root.
    path: String,
    /// Names of workspace crates it depends on (any kind of dependency).
    workspace_deps: Vec<String>,
    /// The subset it depends on as normal or build dependencies (what ships).
    shipped_deps: Vec<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_owned()
}

fn members() -> Vec<Member> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str().unwrap());
            let dir = manifest.parent().unwrap().strip_prefix(&root).unwrap();
            Member {
                name: p["name"].as_str().unwrap().to_owned(),
                path: dir.to_string_lossy().into_owned(),
                workspace_deps: p["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d.get("path").is_some())
                    .map(|d| d["name"].as_str().unwrap().to_owned())
                    .collect(),
                shipped_deps: p["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d.get("path").is_some() && d["kind"].as_str() != Some("dev"))
                    .map(|d| d["name"].as_str().unwrap().to_owned())
                    .collect(),
            }
        })
        .collect()
}

fn layer_violations(members: &[Member]) -> Vec<String> {
    let mut problems = Vec::new();
    for m in members {
        let rule = LAYERS.iter().find(|(prefix, _)| {
            m.path == *prefix || (prefix.ends_with('/') && m.path.starts_with(prefix))
        });
        let Some((layer, allowed)) = rule else {
            problems.push(format!("{} ({}) has no layer; add it to LAYERS", m.name, m.path));
            continue;
        };
        for dep in &m.workspace_deps {
            if !allowed.contains(&"*") && !allowed.contains(&dep.as_str()) {
                problems.push(format!("{} (layer {layer}) must not depend on {dep}", m.name));
            }
        }
        for dep in m.shipped_deps.iter().filter(|d| DEV_ONLY.contains(&d.as_str())) {
            problems.push(format!("{} may use {dep} only as a dev-dependency", m.name));
        }
    }
    problems
}

fn domain_leaks(root: &Path, dirs: &[&str]) -> Vec<String> {
    let mut leaks = Vec::new();
    let mut stack: Vec<PathBuf> =
        dirs.iter().map(|d| root.join(d)).filter(|p| p.exists()).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for word in DOMAIN_WORDS {
                if lower.contains(word) {
                    leaks.push(format!(
                        "{}:{}: {word}",
                        path.strip_prefix(root).unwrap_or(&path).display(),
                        n + 1
                    ));
                }
            }
        }
    }
    leaks
}

#[test]
fn crate_graph_follows_the_layers() {
    let members = members();
    assert!(members.iter().any(|m| m.name == "ooo-core"), "cargo metadata lists the workspace");
    let problems = layer_violations(&members);
    assert!(problems.is_empty(), "layer rules broken:\n{}", problems.join("\n"));
}

#[test]
fn layer_check_catches_wrong_arrows_and_unplaced_crates() {
    let fake = vec![
        Member {
            name: "ooo-core".into(),
            path: "crates/ooo-core".into(),
            workspace_deps: vec!["ooo-plugin".into()],
            shipped_deps: vec!["ooo-plugin".into()],
        },
        Member {
            name: "gh".into(),
            path: "plugins/gh".into(),
            workspace_deps: vec!["ooo-core".into()],
            shipped_deps: vec!["ooo-core".into()],
        },
        Member {
            name: "auto".into(),
            path: "programs/auto".into(),
            workspace_deps: vec!["ooo-runtime".into()],
            shipped_deps: vec![],
        },
        Member {
            name: "ooo-runtime".into(),
            path: "crates/ooo-runtime".into(),
            workspace_deps: vec!["ooo-fake-model".into()],
            shipped_deps: vec!["ooo-fake-model".into()],
        },
        Member {
            name: "stray".into(),
            path: "stray".into(),
            workspace_deps: vec![],
            shipped_deps: vec![],
        },
    ];
    let problems = layer_violations(&fake);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("ooo-core (layer crates/ooo-core) must not depend on ooo-plugin"));
    assert!(problems[1].contains("gh (layer plugins/) must not depend on ooo-core"));
    assert!(problems[2].contains("ooo-runtime may use ooo-fake-model only as a dev-dependency"));
    assert!(problems[3].contains("stray (stray) has no layer"));
}

#[test]
fn domain_words_stay_out_of_the_core() {
    let leaks = domain_leaks(&workspace_root(), DOMAIN_FREE);
    assert!(leaks.is_empty(), "domain words in domain-free crates:\n{}", leaks.join("\n"));
}

#[test]
fn domain_check_finds_planted_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("crates/ooo-core/src")).unwrap();
    std::fs::write(
        dir.path().join("crates/ooo-core/src/x.rs"),
        "fn a() {}\n// merge the GitHub PR\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("programs/auto")).unwrap();
    std::fs::write(dir.path().join("programs/auto/m.json"), "{\"url\": \"https://Linear.app/x\"}")
        .unwrap();
    let mut leaks = domain_leaks(dir.path(), DOMAIN_FREE);
    leaks.sort();
    assert_eq!(leaks, ["crates/ooo-core/src/x.rs:2: github", "programs/auto/m.json:1: linear.app"]);
}
