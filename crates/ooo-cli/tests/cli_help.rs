//! What `--help`, `--version` and `completions` promise, through the real binary: every
//! argument of every command says what it is for, the version names the commit it was
//! built from, and bash completes installed plugin names and saved seed ids.

mod common;

use common::TestHome;
use std::process::Command;

/// The subcommands listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Wrapped descriptions continue on lines indented deeper.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Entries under `Arguments:` and `Options:` with no text after their name. An entry
/// starts with `-`, `<` or `[` once its indent is gone; its help follows on the same
/// line, two spaces or more after the name (or, wrapped, on the next lines).
fn undocumented(help: &str) -> Vec<String> {
    let is_entry = |l: &str| l.starts_with(' ') && l.trim_start().starts_with(['-', '<', '[']);
    let mut missing = Vec::new();
    let mut in_list = false;
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            in_list = matches!(*line, "Arguments:" | "Options:");
            continue;
        }
        if !in_list || !is_entry(line) {
            continue;
        }
        let entry = line.trim();
        let described = entry.split("  ").filter(|p| !p.trim().is_empty()).count() > 1;
        let continued = lines.get(i + 1).is_some_and(|next| {
            next.starts_with("   ") && !is_entry(next) && !next.trim().is_empty()
        });
        if !described && !continued {
            missing.push(entry.to_owned());
        }
    }
    missing
}

/// The check itself finds what it looks for.
#[test]
fn an_argument_without_help_is_found() {
    let help = "Usage: x\n\nArguments:\n  <NAME>\n  <OTHER>  Documented\n\nOptions:\n      --json\n  -h, --help  Print help\n";
    assert_eq!(undocumented(help), ["<NAME>", "--json"]);
}

#[test]
fn every_argument_of_every_command_has_help() {
    let t = TestHome::new();
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    let mut missing = Vec::new();
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = t.ok(&args);
        seen += 1;
        for entry in undocumented(&help) {
            missing.push(format!("ooo {}: {entry}", path.join(" ")));
        }
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    assert!(seen > 20, "the walk reached the command tree ({seen} commands)");
    assert!(missing.is_empty(), "arguments without help:\n{}", missing.join("\n"));
    assert!(!t.home().exists(), "--help creates no home");
}

#[test]
fn version_names_the_commit() {
    let t = TestHome::new();
    let version = t.ok(&["--version"]);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .unwrap();
    let commit = if head.status.success() {
        String::from_utf8(head.stdout).unwrap().trim().to_owned()
    } else {
        "unknown".to_owned()
    };
    assert_eq!(version, format!("ooo {} (commit {commit})\n", env!("CARGO_PKG_VERSION")));
    assert!(t.ok(&["plugin", "--version"]).contains(&commit), "subcommands say it too");
}

/// bash completes installed plugins (as commands and after `plugin inspect`) and saved
/// seed ids (after `seed show`), read from the home when completing.
#[test]
fn bash_completes_installed_plugins_and_saved_seeds() {
    if !std::path::Path::new("/bin/bash").exists() {
        eprintln!("skipping: /bin/bash is not installed");
        return;
    }
    let t = TestHome::new();
    let src = t.dir.path().join("greeter");
    std::fs::create_dir_all(&src).unwrap();
    let manifest = serde_json::json!({
        "schema_version": "0.6", "name": "greeter", "version": "1.0.0",
        "source": {"type": "plugin_home", "path": "plugins/greeter"},
        "commands": [{"namespace": "greeter", "name": "hi", "summary": "Hi", "usage": "hi", "risk": "read_only"}],
        "capabilities": [], "permissions": [],
        "entrypoint": {"type": "command", "command": "sh hi.sh"}
    });
    std::fs::write(src.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    t.ok(&["plugin", "install", "greeter", "--from", src.to_str().unwrap()]);
    let seed = t.dir.path().join("seed.yaml");
    std::fs::write(&seed, "goal: g\nontology_schema: {name: n, description: d}\nmetadata: {seed_id: seed_greet_v1, created_at: \"2026-01-01T00:00:00Z\"}\n").unwrap();
    t.ok(&["seed", "save", seed.to_str().unwrap()]);
    let script = t.dir.path().join("ooo.bash");
    std::fs::write(&script, t.ok(&["completions", "bash"])).unwrap();
    let complete = |words: &str, cword: usize| {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; _ooo_with_home ooo; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("/bin/bash")
            .args(["-c", &line])
            .env("OUROBOROS_HOME", t.home())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("ooo plugin inspect ''", 3), "greeter\n");
    assert!(complete("ooo seed show se", 3).lines().any(|l| l == "seed_greet_v1"));
    let first = complete("ooo gre", 1);
    assert!(first.lines().any(|l| l == "greeter"), "{first}");
    let verbs = complete("ooo plugin ins", 2);
    assert!(verbs.lines().any(|l| l == "inspect"), "clap's own completions still work: {verbs}");
}
