//! The crate graph is the layer model (README, "Layout"): these tests fail when an
//! arrow points the wrong way, when a new workspace member has no layer, when a
//! domain word leaks into the domain-free crates, when `ooo-plugin` spells the
//! channel's wire contract itself instead of taking it from `ooo-channel`, or when code
//! outside `ooo_core::home` builds a path inside the home itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which workspace crates each layer may depend on, by member path. `*` means any.
const LAYERS: &[(&str, &[&str])] = &[
    ("crates/ooo-core", &[]),
    ("crates/ooo-channel", &[]),
    ("crates/ooo-sandbox", &[]),
    ("crates/ooo-plugin-sdk", &["ooo-channel"]),
    ("crates/ooo-mcp", &["ooo-core", "ooo-channel"]),
    ("crates/ooo-runtime", &["ooo-core", "ooo-sandbox", "ooo-fake-model"]),
    ("crates/ooo-fake-model", &[]),
    ("crates/ooo-plugin", &["ooo-core", "ooo-sandbox", "ooo-mcp", "ooo-channel"]),
    ("programs/", &["ooo-core", "ooo-runtime", "ooo-sandbox"]),
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
    "crates/ooo-sandbox",
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

/// Literals of the channel's wire contract that only `ooo-channel` may spell, and the
/// crates that must take them from it.
const CHANNEL_LITERALS: &[&str] = &["OUROBOROS_CORE_FD"];
const CHANNEL_CLIENTS: &[&str] = &["crates/ooo-plugin/src"];

/// The one file that names the paths inside the home (`ooo_core::home::Home`).
const HOME_MODULE: &str = "crates/ooo-core/src/home.rs";

/// What building a path inside the home by hand looks like: joining onto the home's root,
/// or joining one of the names that only the home uses. Paths under `target`, outside a
/// `src` folder, or after a file's `#[cfg(test)]` are not scanned: tests build fixtures.
const HOME_JOINS: &[&str] = &[
    "root().join(",
    "join(\"seeds\")",
    "join(\"cache\")",
    "join(\"runs\")",
    "join(\"ledger.db\")",
    "join(\"config.toml\")",
    "join(CONFIG_FILE)",
    "join(\"plugins.lock\")",
    "join(\"plugin-state\")",
    "join(\"plugin-catalogs.json\")",
    "join(\"digest-stat-cache.json\")",
    "\".checkout-",
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
    lines_containing(root, dirs, DOMAIN_WORDS, true)
}

fn channel_literal_leaks(root: &Path, dirs: &[&str]) -> Vec<String> {
    lines_containing(root, dirs, CHANNEL_LITERALS, false)
}

/// Every file under `dirs` (skipping `target`).
fn files_under(root: &Path, dirs: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> =
        dirs.iter().map(|d| root.join(d)).filter(|p| p.exists()).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    files
}

/// `path:line: word` for each of `words` in `lines`.
fn hits<'a>(
    root: &Path,
    path: &Path,
    lines: impl Iterator<Item = &'a str>,
    words: &[&str],
    ignore_case: bool,
) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = if ignore_case { line.to_lowercase() } else { line.to_owned() };
        for word in words.iter().filter(|w| line.contains(**w)) {
            let shown = path.strip_prefix(root).unwrap_or(path).display();
            found.push(format!("{shown}:{}: {word}", n + 1));
        }
    }
    found
}

/// Every `path:line: word` under `dirs` (skipping `target`) where a line holds one of
/// `words`, compared case-insensitively when `ignore_case`.
fn lines_containing(root: &Path, dirs: &[&str], words: &[&str], ignore_case: bool) -> Vec<String> {
    let mut leaks = Vec::new();
    for path in files_under(root, dirs) {
        if let Ok(text) = std::fs::read_to_string(&path) {
            leaks.extend(hits(root, &path, text.lines(), words, ignore_case));
        }
    }
    leaks
}

/// Every place in the shipped Rust code of `crates/` and `programs/`, other than
/// [`HOME_MODULE`], that builds a path inside the home by hand.
fn home_path_joins(root: &Path) -> Vec<String> {
    let mut joins = Vec::new();
    for path in files_under(root, &["crates", "programs"]) {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let in_src = relative.components().any(|c| c.as_os_str() == "src");
        if !in_src
            || relative == Path::new(HOME_MODULE)
            || path.extension().is_none_or(|e| e != "rs")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let shipped = text.lines().take_while(|l| l.trim() != "#[cfg(test)]");
        joins.extend(hits(root, &path, shipped, HOME_JOINS, false));
    }
    joins
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

/// Write `text` to `path` under `root`, creating its folders: a file planted for a test.
fn plant(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn domain_check_finds_planted_words() {
    let dir = tempfile::tempdir().unwrap();
    plant(dir.path(), "crates/ooo-core/src/x.rs", "fn a() {}\n// merge the GitHub PR\n");
    plant(dir.path(), "programs/auto/m.json", "{\"url\": \"https://Linear.app/x\"}");
    let mut leaks = domain_leaks(dir.path(), DOMAIN_FREE);
    leaks.sort();
    assert_eq!(leaks, ["crates/ooo-core/src/x.rs:2: github", "programs/auto/m.json:1: linear.app"]);
}

#[test]
fn plugin_takes_the_channel_contract_from_ooo_channel() {
    let leaks = channel_literal_leaks(&workspace_root(), CHANNEL_CLIENTS);
    assert!(
        leaks.is_empty(),
        "use ooo_channel::{{CORE_FD_ENV, CORE_FD}} instead of the literal:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn channel_literal_check_finds_planted_literals() {
    let dir = tempfile::tempdir().unwrap();
    plant(
        dir.path(),
        "crates/ooo-plugin/src/firewall/x.rs",
        "fn a() {}\nconst FD: &str = \"OUROBOROS_CORE_FD\";\n",
    );
    plant(
        dir.path(),
        "crates/ooo-channel/src/lib.rs",
        "pub const CORE_FD_ENV: &str = \"OUROBOROS_CORE_FD\";\n",
    );
    let leaks = channel_literal_leaks(dir.path(), CHANNEL_CLIENTS);
    assert_eq!(leaks, ["crates/ooo-plugin/src/firewall/x.rs:2: OUROBOROS_CORE_FD"]);
}

#[test]
fn only_home_names_the_paths_in_the_home() {
    let joins = home_path_joins(&workspace_root());
    assert!(
        joins.is_empty(),
        "use a method of ooo_core::home::Home (add one there) instead of joining:\n{}",
        joins.join("\n")
    );
}

#[test]
fn home_path_check_finds_planted_joins() {
    let dir = tempfile::tempdir().unwrap();
    let plant = |path: &str, text: &str| plant(dir.path(), path, text);
    plant("crates/ooo-plugin/src/x.rs", "fn a(h: &Home) {\n    h.root().join(\"plugins\");\n}\n");
    plant("crates/ooo-cli/src/y.rs", "fn b(h: &Path) -> PathBuf {\n    h.join(\"seeds\")\n}\n");
    plant("crates/ooo-core/src/home.rs", "fn c(&self) { self.root.join(\"seeds\"); }\n");
    plant("crates/ooo-cli/tests/t.rs", "fn d(h: &Path) { h.join(\"seeds\"); }\n");
    plant(
        "crates/ooo-core/src/z.rs",
        "fn e() {}\n#[cfg(test)]\nmod t { fn f(d: &Path) { d.join(\"ledger.db\"); } }\n",
    );
    let mut joins = home_path_joins(dir.path());
    joins.sort();
    assert_eq!(
        joins,
        [
            "crates/ooo-cli/src/y.rs:2: join(\"seeds\")",
            "crates/ooo-plugin/src/x.rs:2: root().join(",
        ]
    );
}
