//! Compiled plugins through the real binary: a build step in the manifest's
//! `x-ouroboros.build` runs at install in the sandbox (writing only its copy of the
//! source, connecting only where it declares), is shown with the digests of the source
//! and of each output before anything is trusted, and `install` refuses an entrypoint
//! that is missing or not executable after it.

mod common;

use common::{TestHome, full_sandbox, with_filters};
use insta::assert_snapshot;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The build script of the test plugins: it writes `bin/tool` (a shell script), then
/// whatever `$1` asks for.
const BUILD: &str = r#"#!/bin/sh
set -eu
echo "building tool"
mkdir -p bin
printf '#!/bin/sh\necho "built tool says $*"\n' > bin/tool
chmod +x bin/tool
case "${1:-}" in
  fail) echo "error: the compiler is unhappy" >&2; exit 3 ;;
  forget) rm bin/tool ;;
esac
"#;

/// A plugin source directory `sources/<name>` whose entrypoint is `./bin/tool`, with the
/// build step `build` (none when `Value::Null`).
fn source(t: &TestHome, name: &str, build: Value) -> PathBuf {
    let dir = t.dir.path().join("sources").join(name);
    fs::create_dir_all(&dir).unwrap();
    let mut manifest = json!({
        "schema_version": "0.6", "name": name, "version": "1.0.0",
        "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
        "commands": [{"namespace": format!("{name}-ns"), "name": "say", "summary": "Say", "usage": "say", "risk": "read_only"}],
        "capabilities": [],
        "permissions": [{"scope": format!("{name}:run"), "risk": "read_only", "required": true}],
        "entrypoint": {"type": "command", "command": "./bin/tool"}
    });
    if !build.is_null() {
        manifest["x-ouroboros"] = json!({ "build": build });
    }
    fs::write(dir.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
    fs::write(dir.join("build.sh"), BUILD).unwrap();
    dir
}

fn install(t: &TestHome, name: &str, dir: &Path) -> String {
    t.shown(&["plugin", "install", name, "--from", dir.to_str().unwrap()])
}

/// What is left in the home's `plugins/` besides installed plugins (staging, builds).
fn leftovers(t: &TestHome) -> Vec<String> {
    fs::read_dir(t.home().join("plugins"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_build_step_makes_the_entrypoint_and_is_shown_before_trust() {
    let t = TestHome::new();
    let build = json!({"command": "sh ./build.sh", "outputs": ["bin/tool"]});
    let dir = source(&t, "tool", build);
    with_filters(&t, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"sandbox: (full|partial[^;]*|unavailable)", "sandbox: [LEVEL]");
        settings.bind(|| {
            assert_snapshot!("build_install", install(&t, "tool", &dir));
            assert_snapshot!("build_inspect", t.shown(&["plugin", "inspect", "tool"]));
        });
    });
    assert!(!dir.join("bin").exists(), "the build ran on a copy; the source is untouched");
    assert!(leftovers(&t).is_empty(), "{:?}", leftovers(&t));

    // The JSON report and the ledger keep what was built and its digests.
    let inspect: Value =
        serde_json::from_str(&t.ok(&["plugin", "inspect", "tool", "--json"])).unwrap();
    assert_eq!(inspect["build"]["command"], "sh ./build.sh");
    assert_eq!(inspect["build"]["outputs"][0]["path"], "bin/tool");
    assert_ne!(inspect["source_digest"], inspect["artifact_digest"]);
    let installed: Value = serde_json::from_str(
        t.ok(&["ledger", "log", "--json", "--type", "plugin.installed"]).trim(),
    )
    .unwrap();
    assert_eq!(installed["payload"]["build"], inspect["build"]);
    assert_eq!(installed["payload"]["source_digest"], inspect["source_digest"]);

    // The same source again: nothing to build, nothing changes.
    let again = install(&t, "tool", &dir);
    assert!(again.contains("tool 1.0.0 is already installed"), "{again}");
    t.ok(&["plugin", "trust", "tool", "--scope", "tool:run"]);
    assert_eq!(t.ok(&["tool-ns", "say", "hi"]), "built tool says say hi\n");

    // A changed source is built again by update, and the new binary replaces the old.
    fs::write(dir.join("build.sh"), BUILD.replace("built tool says", "rebuilt tool says")).unwrap();
    let updated = t.ok(&["plugin", "update", "tool"]);
    assert!(updated.contains("built with `sh ./build.sh`"), "{updated}");
    assert!(updated.contains("earlier grants do not carry over"), "{updated}");
    t.ok(&["plugin", "trust", "tool", "--scope", "tool:run"]);
    assert_eq!(t.ok(&["tool-ns", "say", "hi"]), "rebuilt tool says say hi\n");
}

#[test]
fn a_failed_build_installs_nothing_and_shows_its_last_lines() {
    let t = TestHome::new();
    let dir = source(&t, "tool", json!({"command": "sh ./build.sh fail", "outputs": ["bin/tool"]}));
    with_filters(&t, || assert_snapshot!("build_failed", install(&t, "tool", &dir)));
    let dir =
        source(&t, "forgets", json!({"command": "sh ./build.sh forget", "outputs": ["bin/tool"]}));
    with_filters(&t, || assert_snapshot!("build_output_missing", install(&t, "forgets", &dir)));
    assert_eq!(t.ok(&["plugin", "list", "--json"]), "", "nothing installed: no lines");
    assert!(leftovers(&t).is_empty(), "{:?}", leftovers(&t));
}

#[test]
fn the_install_event_lists_a_bounded_number_of_files() {
    let t = TestHome::new();
    let dir = source(&t, "bulky", Value::Null);
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(dir.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(dir.join("vendor")).unwrap();
    for i in 0..500 {
        fs::write(dir.join(format!("vendor/file-{i:04}.txt")), format!("{i}")).unwrap();
    }
    t.ok(&["plugin", "install", "bulky", "--from", dir.to_str().unwrap()]);
    let event: Value = serde_json::from_str(
        t.ok(&["ledger", "log", "--json", "--type", "plugin.installed"]).trim(),
    )
    .unwrap();
    assert_eq!(event["payload"]["files_changed"].as_array().unwrap().len(), 200);
    assert_eq!(event["payload"]["files_changed_count"], 503);
}

#[test]
fn update_dry_run_never_runs_the_new_build() {
    let t = TestHome::new();
    let dir = source(&t, "tool", json!({"command": "sh ./build.sh", "outputs": ["bin/tool"]}));
    t.ok(&["plugin", "install", "tool", "--from", dir.to_str().unwrap()]);
    // The new source's build fails: a dry run that ran it would fail too.
    fs::write(dir.join("build.sh"), BUILD.replace("echo \"building tool\"", "exit 9")).unwrap();
    let dry = t.ok(&["plugin", "update", "tool", "--dry-run"]);
    assert!(!dry.contains("built with"), "{dry}");
    let real = t.std_ooo().args(["plugin", "update", "tool"]).output().unwrap();
    assert_eq!(real.status.code(), Some(1), "{}", String::from_utf8_lossy(&real.stderr));
}

#[test]
fn a_build_cannot_replace_the_manifest() {
    let t = TestHome::new();
    let dir = source(
        &t,
        "sneaky",
        json!({"command": "sh ./build.sh", "outputs": ["bin/tool", "./ouroboros.plugin.json"]}),
    );
    let out = install(&t, "sneaky", &dir);
    assert!(out.contains("a build output cannot be the manifest"), "{out}");
    assert!(out.contains("/x-ouroboros/build/outputs/1"), "{out}");
    assert!(!t.home().join("plugins/sneaky").exists());
}

#[test]
fn install_refuses_an_entrypoint_that_cannot_start() {
    let t = TestHome::new();
    // No build step and no binary: build it.
    let dir = source(&t, "unbuilt", Value::Null);
    with_filters(&t, || assert_snapshot!("entrypoint_missing", install(&t, "unbuilt", &dir)));
    // A build step that does not leave the entrypoint: the build must write it.
    let dir = source(
        &t,
        "elsewhere",
        json!({"command": "sh ./build.sh forget", "outputs": ["build.sh"]}),
    );
    with_filters(&t, || {
        assert_snapshot!("entrypoint_missing_after_build", install(&t, "elsewhere", &dir))
    });
    // There, but not executable: chmod +x.
    let dir = source(&t, "plain", Value::Null);
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(dir.join("bin/tool"), fs::Permissions::from_mode(0o644)).unwrap();
    with_filters(&t, || assert_snapshot!("entrypoint_not_executable", install(&t, "plain", &dir)));
    fs::set_permissions(dir.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(install(&t, "plain", &dir).contains("installed plain 1.0.0"));
}

/// Probes a build runs, each printing `<name>: ok|denied` into `probes.txt` (an output,
/// so it is installed and can be read back).
const PROBES: &str = r#"#!/bin/sh
# The system's Python: a version manager's shim on PATH (pyenv) needs its whole root.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
probe() { name="$1"; shift; if "$@" >/dev/null 2>&1; then echo "$name: ok"; else echo "$name: denied"; fi; }
{
  probe write-own-copy sh -c "echo ok > built.txt"
  probe write-outside sh -c "echo pwned > '$1'"
  probe write-source sh -c "echo pwned > '$2/pwned'"
  probe read-caller-home cat "$3"
  probe connect /bin/bash -c "exec 3<>/dev/tcp/127.0.0.1/$4"
  probe proxied "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:%s/' % sys.argv[1], timeout=5)" "$4"
} > probes.txt
mkdir -p bin && printf '#!/bin/sh\n' > bin/tool && chmod +x bin/tool
"#;

#[test]
fn a_build_writes_only_its_copy_and_connects_only_where_declared() {
    if !full_sandbox() {
        return;
    }
    let t = TestHome::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let outside = t.dir.path().join("outside.txt");
    let secret = t.dir.path().join("user-home/.netrc");
    fs::create_dir_all(secret.parent().unwrap()).unwrap();
    fs::write(&secret, "machine example.com password hunter2").unwrap();
    let probes = |name: &str, network: Value| {
        let dir = t.dir.path().join("sources").join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("probe.sh"), PROBES).unwrap();
        let command = format!(
            "sh ./probe.sh {} {} {} {port}",
            outside.display(),
            dir.display(),
            secret.display()
        );
        let manifest = json!({
            "schema_version": "0.6", "name": name, "version": "1.0.0",
            "source": {"type": "plugin_home", "path": format!("plugins/{name}")},
            "commands": [{"namespace": format!("{name}-ns"), "name": "say", "summary": "Say", "usage": "say", "risk": "read_only"}],
            "capabilities": [], "permissions": [],
            "entrypoint": {"type": "command", "command": "./bin/tool"},
            "x-ouroboros": {"build": {"command": command, "outputs": ["bin/tool", "probes.txt"], "network": network}}
        });
        fs::write(dir.join("ouroboros.plugin.json"), manifest.to_string()).unwrap();
        t.ok(&["plugin", "install", name, "--from", dir.to_str().unwrap()]);
        assert!(!dir.join("pwned").exists() && !outside.exists());
        fs::read_to_string(t.home().join("plugins").join(name).join("probes.txt")).unwrap()
    };
    // What each probe printed, without `write-outside`: inside, the caller's /tmp is
    // the sandbox's private one, so that write may "succeed" there; that it never
    // reached the caller is checked above.
    let results = |text: String| -> Vec<String> {
        text.lines().filter(|l| !l.starts_with("write-outside:")).map(str::to_owned).collect()
    };
    assert_eq!(
        results(probes("offline", json!([]))),
        [
            "write-own-copy: ok",
            "write-source: denied",
            "read-caller-home: denied",
            "connect: denied",
            "proxied: denied"
        ]
    );
    let server = std::thread::spawn({
        let listener = listener.try_clone().unwrap();
        move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            std::io::Write::write_all(&mut conn, ok).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        }
    });
    assert_eq!(
        results(probes("online", json!([format!("127.0.0.1:{port}")]))),
        [
            "write-own-copy: ok",
            "write-source: denied",
            "read-caller-home: denied",
            "connect: denied",
            "proxied: ok"
        ],
        "the declared host is reached through ooo's proxy, and only so"
    );
    assert!(server.join().unwrap().starts_with("GET / HTTP/1.1\r\n"));
    drop(listener);
}

/// `test-contract` on the source of a compiled plugin says how to build it instead of
/// failing every command with "could not start".
#[test]
fn test_contract_names_the_build_of_an_unbuilt_plugin() {
    let t = TestHome::new();
    let dir = source(&t, "tool", json!({"command": "sh ./build.sh", "outputs": ["bin/tool"]}));
    with_filters(&t, || {
        assert_snapshot!(
            "test_contract_unbuilt",
            t.shown(&["plugin", "test-contract", dir.to_str().unwrap()])
        )
    });
}
