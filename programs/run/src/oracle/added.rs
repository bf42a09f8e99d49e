//! Files a worker may not *add*: absent at the base commit, present now, and changing
//! what the check means without touching a file that existed. New files are otherwise
//! welcome (new tests, new modules); these are the exceptions, as a deny-list.
//!
//! # The deny-list
//!
//! Whatever the command runs:
//! * `sitecustomize.py`, `usercustomize.py`, and `*.pth` in a `site-packages` or
//!   `dist-packages` directory (Python runs them at start-up; a `.pth` elsewhere is
//!   only data, a PyTorch model say);
//! * `.cargo/config.toml` and `.cargo/config` in any directory (cargo's configuration);
//! * a file named like a program the command runs by name (`pytest`, `sh`, `node`), in
//!   the workspace's root or in a directory a `PATH=` assignment of the command names;
//! * for `python -m X`, a module `X.py` or package `X/` where the command runs, when
//!   neither was there at the base.
//!
//! Per runner the command names (any word, like [`super::RUNNER_FILES`]):
//! * pytest: `conftest.py` anywhere (pytest loads those on the way to, and under, the
//!   tests it collects; anywhere is the safe superset), and `pytest.ini`, `.pytest.ini`,
//!   `pyproject.toml`, `tox.ini`, `setup.cfg` in a *run directory*;
//! * cargo: `rust-toolchain(.toml)` in a run directory, `build.rs` next to a
//!   `Cargo.toml` the base commit has;
//! * npm, npx, yarn, pnpm, node, bun, jest, vitest, mocha: `package.json`, `.npmrc`,
//!   `.yarnrc(.yml)`, `jest.config.*`, `vitest.config.*`, `vitest.workspace.*`,
//!   `.mocharc*`, `babel.config.*` and `.babelrc*` in a run directory;
//! * make: `Makefile`, `makefile`, `GNUmakefile` in a run directory (GNU make prefers
//!   the last two, so one added beside a committed `Makefile` replaces it);
//! * go: `go.work` in a run directory, and `go.mod` in a directory that held base files
//!   (it cuts the tests below it out of `./...`).
//!
//! A *run directory* is the workspace's root, or a directory the command names (`cd
//! app`, `tests/test_a.py`) and every directory above it: where a runner started from
//! there looks for its configuration.
//!
//! # What is looked at
//!
//! The work tree is read by this module, not listed by git (whose ignore rules the worker
//! could write): every file and link, without following links, except inside `.git`, and
//! inside a `node_modules` directory or a virtual environment (a directory holding
//! `pyvenv.cfg`) that holds no file of the base commit. Those are installed dependencies,
//! not the check (pytest does not collect in them either); a check that runs a virtual
//! environment's own Python from the workspace trusts whatever is installed there.
//!
//! What does not live here: changes to files that existed at the base (see
//! [`super::tampered`]) and the evidence (the diff, made by the parent module).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{Entry, OracleError};

/// Programs that run the command after them (`env X=1 pytest`, `timeout 60 make`).
const WRAPPERS: &[&str] =
    &["env", "exec", "command", "builtin", "nohup", "time", "nice", "timeout", "stdbuf", "xargs"];

const PYTEST_CONFIG: &[&str] =
    &["pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"];
const NODE_CONFIG: &[&str] = &[
    "package.json",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    "jest.config.*",
    "vitest.config.*",
    "vitest.workspace.*",
    ".mocharc*",
    "babel.config.*",
    ".babelrc*",
];
const MAKEFILES: &[&str] = &["Makefile", "makefile", "GNUmakefile"];

/// A test runner whose configuration files are on the deny-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Runner {
    Pytest,
    Cargo,
    Node,
    Make,
    Go,
}

impl Runner {
    /// The runner a program name (without its directory) is, if any.
    fn of(program: &str) -> Option<Runner> {
        match program {
            "pytest" | "py.test" => Some(Runner::Pytest),
            "cargo" | "cargo-nextest" => Some(Runner::Cargo),
            "npm" | "npx" | "yarn" | "pnpm" | "node" | "bun" | "jest" | "vitest" | "mocha" => {
                Some(Runner::Node)
            }
            "make" | "gmake" => Some(Runner::Make),
            "go" => Some(Runner::Go),
            _ => None,
        }
    }
}

/// What a command runs, as far as its text says.
#[derive(Debug, Default)]
struct Runs {
    runners: BTreeSet<Runner>,
    /// Programs named without a directory (looked up on `PATH`).
    programs: BTreeSet<String>,
    /// The top-level modules run by `python -m`.
    modules: BTreeSet<String>,
    /// Workspace directories (relative, `""` the root) a `PATH=` assignment names.
    path_dirs: BTreeSet<String>,
}

impl Runs {
    fn of(command: &str) -> Runs {
        let mut runs = Runs::default();
        runs.read(command, 3);
        runs
    }

    /// Read `command`, looking `depth` levels into words that are scripts themselves.
    fn read(&mut self, command: &str, depth: u8) {
        let tokens = super::shell_words(command);
        for token in &tokens {
            if depth > 0 && token.contains(char::is_whitespace) {
                self.read(token, depth - 1);
            }
            self.runners.extend(Runner::of(base_name(token)));
        }
        for words in simple_commands(&tokens) {
            for value in words.iter().filter_map(|w| w.strip_prefix("PATH=")) {
                self.path_dirs.extend(value.split(':').filter_map(path_dir));
            }
            self.simple(&words);
        }
    }

    /// One simple command: assignments, the program, and past any wrapper the next one.
    fn simple(&mut self, words: &[String]) {
        let mut rest = words;
        loop {
            rest = skip_while(rest, is_assignment);
            let Some((program, args)) = rest.split_first() else { return };
            if !program.contains('/') {
                self.programs.insert(program.clone());
            }
            let name = base_name(program);
            if name.starts_with("python")
                && let Some(module) = module_run(args)
            {
                self.runners.extend(Runner::of(&module));
                self.modules.insert(module);
            }
            if !WRAPPERS.contains(&name) {
                return;
            }
            // A wrapper's options and numbers (`nice -n 5`, `timeout 60s`).
            rest = skip_while(args, |w| {
                w.starts_with('-') || w.starts_with(|c: char| c.is_ascii_digit())
            });
        }
    }
}

fn skip_while(words: &[String], skip: impl Fn(&str) -> bool) -> &[String] {
    let n = words.iter().take_while(|w| skip(w)).count();
    &words[n..]
}

fn base_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// `NAME=value` with a shell variable name.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The top-level module of `-m X` in a Python command's arguments (before any script).
fn module_run(args: &[String]) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let module = match arg.as_str() {
            "-m" => args.next()?.as_str(),
            a if a.starts_with("-m") => &a[2..],
            a if a.starts_with('-') => continue,
            _ => return None,
        };
        return module.split('.').next().filter(|m| !m.is_empty()).map(str::to_owned);
    }
    None
}

/// A `PATH` entry as a workspace directory (`bin`, `./bin`, `$PWD/bin`, `.`, empty), if
/// it is one.
fn path_dir(entry: &str) -> Option<String> {
    let pwd = ["$PWD", "${PWD}"].iter().find_map(|p| entry.strip_prefix(p));
    let relative = match pwd {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        Some(_) => return None,
        None if entry.starts_with('/') => return None,
        None => entry,
    };
    if relative.is_empty() || relative == "." {
        return Some(String::new());
    }
    super::normalise_word(relative).filter(|d| !d.contains('$'))
}

/// The simple commands of a shell line split into words (see [`super::shell_words`]):
/// a new one after `;`, `|`, `&`, `(`, `)`, a backquote or a newline; the word after a
/// redirection (`>`, `<`, `2>&1`) is a file, not a word of the command. A word holding
/// whitespace (a script given to a shell) is kept whole.
fn simple_commands(tokens: &[String]) -> Vec<Vec<String>> {
    let mut split = CommandSplit::default();
    for token in tokens {
        if token.contains(char::is_whitespace) {
            split.word(token.clone());
            continue;
        }
        let chars: Vec<char> = token.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let after_redirect = i > 0 && matches!(chars[i - 1], '<' | '>');
            match c {
                '<' | '>' => split.redirect(),
                '&' if after_redirect || chars.get(i + 1) == Some(&'>') => {}
                ';' | '|' | '&' | '(' | ')' | '`' | '\n' => split.end_command(),
                _ => split.current.push(c),
            }
        }
        split.end_word();
    }
    split.end_command();
    split.commands
}

#[derive(Default)]
struct CommandSplit {
    commands: Vec<Vec<String>>,
    words: Vec<String>,
    current: String,
    /// The next word is a redirection's file.
    redirect: bool,
}

impl CommandSplit {
    fn word(&mut self, word: String) {
        if std::mem::take(&mut self.redirect) {
            return;
        }
        self.words.push(word);
    }

    fn end_word(&mut self) {
        let word = std::mem::take(&mut self.current);
        if !word.is_empty() {
            self.word(word);
        }
    }

    fn redirect(&mut self) {
        // `2>`: the number is the descriptor, not a word.
        if self.current.chars().all(|c| c.is_ascii_digit()) {
            self.current.clear();
        }
        self.end_word();
        self.redirect = true;
    }

    fn end_command(&mut self) {
        self.end_word();
        let words = std::mem::take(&mut self.words);
        if !words.is_empty() {
            self.commands.push(words);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The deny-list.

/// What the rules need besides the path.
struct Context<'a> {
    runs: Runs,
    run_dirs: BTreeSet<String>,
    base: &'a BTreeMap<String, Entry>,
    base_dirs: &'a BTreeSet<String>,
}

/// Why adding `path` (absent at the base) changes what the check means, if it does.
fn forbidden(path: &str, cx: &Context<'_>) -> Option<&'static str> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let site_dir = dir.split('/').any(|d| d == "site-packages" || d == "dist-packages");
    if matches!(name, "sitecustomize.py" | "usercustomize.py") || site_dir && name.ends_with(".pth")
    {
        return Some("Python runs it at start-up");
    }
    if base_name(dir) == ".cargo" && matches!(name, "config" | "config.toml") {
        return Some("cargo reads it as configuration");
    }
    let on_path = dir.is_empty() || cx.runs.path_dirs.contains(dir);
    if on_path && cx.runs.programs.contains(name) {
        return Some("it stands in for a program the check runs");
    }
    if let Some(why) = shadowed_module(path, cx) {
        return Some(why);
    }
    cx.runs.runners.iter().find_map(|runner| runner_forbids(*runner, dir, name, cx))
}

/// Why an added link to a directory at `path` is forbidden: what a runner finds through
/// it is not where this walk looks (outside the work tree, or in a directory it skips),
/// or it stands where the check runs (`.cargo/`, a package `python -m` runs, a program's
/// stand-in: the names that matter there are the link's, not its target's).
fn linked_dir(
    repo: &Path,
    path: &str,
    cx: &Context<'_>,
    hidden: &dyn Fn(&Path) -> bool,
) -> Option<&'static str> {
    // A base directory replaced by a link is a change to the files in it (reported so).
    if cx.base_dirs.contains(path) {
        return None;
    }
    let root = repo.canonicalize().ok()?;
    let target = repo.join(path).canonicalize().ok()?;
    match target.strip_prefix(&root) {
        Err(_) => return Some("a link to a directory outside the work tree"),
        Ok(rel) if hidden(rel) => {
            return Some("a link into a directory the check's files are not looked for in");
        }
        Ok(_) => {}
    }
    let (dir, _) = path.rsplit_once('/').unwrap_or(("", path));
    cx.run_dirs.contains(dir).then_some("a link to a directory where the check runs")
}

/// Whether the walk skips `rel` (a path relative to `repo`) or a directory above it.
fn hidden_from_walk(
    repo: &Path,
    rel: &Path,
    base_dirs: &BTreeSet<String>,
    looked_into: &dyn Fn(&str, &str) -> bool,
) -> bool {
    let mut path = String::new();
    for part in rel.iter() {
        let name = part.to_string_lossy();
        path = join(&path, &name);
        if !looked_into(&path, &name) && skipped(repo, &path, &name, base_dirs) {
            return true;
        }
    }
    false
}

/// A module or package that `python -m` would run instead of the one at the base.
fn shadowed_module(path: &str, cx: &Context<'_>) -> Option<&'static str> {
    let shadows = cx.runs.modules.iter().any(|module| {
        cx.run_dirs.iter().any(|dir| {
            let at = if dir.is_empty() { module.clone() } else { format!("{dir}/{module}") };
            let file = format!("{at}.py");
            let package = path.strip_prefix(&at).is_some_and(|rest| rest.starts_with('/'));
            (path == file || package) && !cx.base.contains_key(&file) && !cx.base_dirs.contains(&at)
        })
    });
    shadows.then_some("it shadows the module `python -m` runs")
}

fn runner_forbids(runner: Runner, dir: &str, name: &str, cx: &Context<'_>) -> Option<&'static str> {
    let run_dir = cx.run_dirs.contains(dir);
    let config = |names: &[&str]| run_dir && names.iter().any(|n| super::glob_matches(n, name));
    match runner {
        Runner::Pytest if name == "conftest.py" => Some("pytest loads it (fixtures and hooks)"),
        Runner::Pytest if config(PYTEST_CONFIG) => Some("pytest reads its configuration from it"),
        Runner::Cargo if config(&["rust-toolchain", "rust-toolchain.toml"]) => {
            Some("it chooses the Rust toolchain")
        }
        Runner::Cargo if name == "build.rs" && cx.base.contains_key(&join(dir, "Cargo.toml")) => {
            Some("cargo runs it before building the crate")
        }
        Runner::Node if config(NODE_CONFIG) => {
            Some("the test runner reads its configuration from it")
        }
        Runner::Make if config(MAKEFILES) => Some("make reads its rules from it"),
        Runner::Go if config(&["go.work"]) => Some("it chooses the modules go builds"),
        Runner::Go if name == "go.mod" && !dir.is_empty() && cx.base_dirs.contains(dir) => {
            Some("it cuts the packages below it out of the module")
        }
        _ => None,
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// Every directory holding a base file (`""` the root), by path.
fn directories(base: &BTreeMap<String, Entry>) -> BTreeSet<String> {
    let mut dirs = BTreeSet::from([String::new()]);
    for path in base.keys() {
        dirs.extend(path.match_indices('/').map(|(i, _)| path[..i].to_owned()));
    }
    dirs
}

/// The root, and every base directory a word names (a file's directory for a file) with
/// the directories above it.
fn run_directories(
    words: &BTreeSet<String>,
    base: &BTreeMap<String, Entry>,
    base_dirs: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut dirs = BTreeSet::from([String::new()]);
    for word in words {
        let dir = if base_dirs.contains(word) {
            word.as_str()
        } else if base.contains_key(word) {
            word.rsplit_once('/').map_or("", |(d, _)| d)
        } else {
            continue;
        };
        dirs.insert(dir.to_owned());
        dirs.extend(dir.match_indices('/').map(|(i, _)| dir[..i].to_owned()));
    }
    dirs
}

/// The files and links added to `repo` since the base that `command`'s deny-list
/// forbids, with why, sorted. `words` are the command's candidate words.
pub(super) fn forbidden_additions(
    repo: &Path,
    command: &str,
    words: &BTreeSet<String>,
    base: &BTreeMap<String, Entry>,
) -> Result<Vec<(String, &'static str)>, OracleError> {
    let base_dirs = directories(base);
    let cx = Context {
        runs: Runs::of(command),
        run_dirs: run_directories(words, base, &base_dirs),
        base,
        base_dirs: &base_dirs,
    };
    // A directory whose name matters to the check is looked into even when it looks
    // like installed dependencies (a `pyvenv.cfg` planted in `.cargo/` hides nothing).
    let looked_into = |path: &str, name: &str| {
        name == ".cargo"
            || cx.run_dirs.contains(path)
            || cx.runs.modules.contains(name)
            || cx.runs.programs.contains(name)
    };
    let hidden = |rel: &Path| hidden_from_walk(repo, rel, &base_dirs, &looked_into);
    let mut out: Vec<(String, &'static str)> = untracked(repo, base, &base_dirs, &looked_into)?
        .into_iter()
        .filter_map(|(path, to_dir)| {
            let linked = || linked_dir(repo, &path, &cx, &hidden);
            let why = forbidden(&path, &cx).or_else(|| to_dir.then(linked)?);
            why.map(|why| (path, why))
        })
        .collect();
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The work tree.

/// Every file and link under `repo` that the base does not track, relative and
/// `/`-separated, each with whether it is a link to a directory (see the module docs for
/// what is not looked into; `looked_into` names directories never skipped). A directory
/// that cannot be read is skipped: the check, run as the same user with fewer rights,
/// cannot read it either.
fn untracked(
    repo: &Path,
    base: &BTreeMap<String, Entry>,
    base_dirs: &BTreeSet<String>,
    looked_into: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<(String, bool)>, OracleError> {
    let io = |source| OracleError::Io { path: repo.to_owned(), source };
    std::fs::read_dir(repo).map_err(io)?;
    let mut out = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(repo.join(&dir)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = join(&dir, &name);
            match entry.file_type() {
                Ok(t)
                    if t.is_dir()
                        && (looked_into(&path, &name)
                            || !skipped(repo, &path, &name, base_dirs)) =>
                {
                    pending.push(path);
                }
                Ok(t) if t.is_dir() => {}
                Ok(t) if (t.is_file() || t.is_symlink()) && !base.contains_key(&path) => {
                    let to_dir = t.is_symlink() && repo.join(&path).is_dir();
                    out.push((path, to_dir));
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// `.git`, and installed dependencies the base has no file in.
fn skipped(repo: &Path, path: &str, name: &str, base_dirs: &BTreeSet<String>) -> bool {
    if name == ".git" {
        return true;
    }
    let installed = name == "node_modules" || repo.join(path).join("pyvenv.cfg").is_file();
    installed && !base_dirs.contains(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(command: &str) -> Runs {
        Runs::of(command)
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// `.git`, installed dependencies and virtual environments are not looked into,
    /// unless the base has files there; links are listed, not followed.
    #[test]
    fn the_walk_skips_git_dependencies_and_virtual_environments() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            ".git/config",
            "node_modules/jest/package.json",
            ".venv/pyvenv.cfg",
            ".venv/lib/python3.12/site-packages/x.pth",
            "tests/pyvenv.cfg",
            "tests/conftest.py",
            "tests/test_a.py",
            "src/new.py",
        ];
        for file in files {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink("/etc", root.join("src/link")).unwrap();
        let entry = Entry { mode: "100644".into(), oid: "0".repeat(40) };
        let base = BTreeMap::from([("tests/test_a.py".to_owned(), entry)]);
        let never = |_: &str, _: &str| false;
        let mut found = untracked(root, &base, &directories(&base), &never).unwrap();
        found.sort();
        let expected = ["src/link", "src/new.py", "tests/conftest.py", "tests/pyvenv.cfg"];
        assert_eq!(found, expected.map(|p| (p.to_owned(), p == "src/link")));
    }

    /// The review's bypasses: a `pyvenv.cfg` planted to have `.cargo/` or a shadowing
    /// package skipped, and a link to a directory standing in for one.
    #[test]
    fn planted_virtual_environments_and_directory_links_hide_nothing() {
        let added = |command: &str, files: &[&str], links: &[(&str, &str)]| {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            for file in files.iter().chain(&["tests/test_a.py", "Cargo.toml"]) {
                std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
                std::fs::write(root.join(file), "x").unwrap();
            }
            for (link, target) in links {
                std::os::unix::fs::symlink(target, root.join(link)).unwrap();
            }
            let entry = Entry { mode: "100644".into(), oid: "0".repeat(40) };
            let base: BTreeMap<String, Entry> = ["tests/test_a.py", "Cargo.toml"]
                .iter()
                .map(|p| (p.to_string(), entry.clone()))
                .collect();
            let words = crate::oracle::candidate_words(command);
            let found = forbidden_additions(root, command, &words, &base).unwrap();
            found.into_iter().map(|(p, _)| p).collect::<Vec<_>>()
        };
        assert_eq!(
            added("cargo test", &[".cargo/pyvenv.cfg", ".cargo/config.toml"], &[]),
            [".cargo/config.toml"]
        );
        let fake = ["pytest/pyvenv.cfg", "pytest/__init__.py", "pytest/__main__.py"];
        let found = added("python -m pytest tests", &fake, &[]);
        assert!(found.contains(&"pytest/__main__.py".to_owned()), "{found:?}");
        assert_eq!(added("cargo test", &["cfg/config.toml"], &[(".cargo", "cfg")]), [".cargo"]);
        assert_eq!(
            added("python -m pytest", &["fake/__main__.py"], &[("pytest", "fake")]),
            ["pytest"]
        );
        // A link deeper down into a skipped directory, or out of the work tree.
        let planted = [".hooks/pyvenv.cfg", ".hooks/h/conftest.py", "tests/new/t.py"];
        let found = added("pytest", &planted, &[("tests/new/x", "../../.hooks/h")]);
        assert_eq!(found, ["tests/new/x"]);
        assert_eq!(
            added("pytest", &["tests/new/t.py"], &[("tests/new/x", "/usr")]),
            ["tests/new/x"]
        );
        // A link to a directory that is walked anyway is judged by what is in it.
        assert_eq!(
            added(
                "pytest",
                &["lib/a/helpers.py", "tests/new/t.py"],
                &[("tests/new/x", "../../lib")]
            ),
            Vec::<String>::new()
        );
        // A real virtual environment elsewhere, and a link to a file, stay fine.
        let venv = [".venv/pyvenv.cfg", ".venv/lib/site-packages/x.pth"];
        assert_eq!(added("python -m pytest", &venv, &[]), Vec::<String>::new());
        assert_eq!(
            added("cargo test", &["docs/a.md"], &[("README.md", "docs/a.md")]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn commands_are_split_into_programs_and_arguments() {
        let cmds = |c: &str| simple_commands(&crate::oracle::shell_words(c));
        assert_eq!(
            cmds("cd app && pytest -q tests/x.py 2>&1 | tee out.log; ./run.sh>out"),
            vec![
                vec!["cd", "app"],
                vec!["pytest", "-q", "tests/x.py"],
                vec!["tee", "out.log"],
                vec!["./run.sh"]
            ]
        );
        assert_eq!(cmds("make test &> log"), vec![vec!["make", "test"]]);
        assert_eq!(cmds("sh -c 'a; b'"), vec![vec!["sh", "-c", "a; b"]]);
    }

    #[test]
    fn programs_modules_runners_and_path_directories_are_found() {
        let r =
            runs("PATH=./bin:$PWD/tools:$PATH timeout 60s env X=1 python3 -u -m pytest.main tests");
        assert_eq!(r.programs, set(&["timeout", "env", "python3"]));
        assert_eq!(r.modules, set(&["pytest"]));
        assert_eq!(r.runners, BTreeSet::from([Runner::Pytest]));
        assert_eq!(r.path_dirs, set(&["bin", "tools"]));
        let r = runs("sh -c \"cd web && npm test\" && make -C sub check");
        assert_eq!(r.programs, set(&["sh", "cd", "npm", "make"]));
        assert_eq!(r.runners, BTreeSet::from([Runner::Node, Runner::Make]));
        assert!(runs("python tests/run.py -m x").modules.is_empty(), "a script's own -m");
        assert!(runs("./pytest tests").programs.is_empty(), "a path is not looked up");
    }

    /// The rules without a work tree: `base` holds `tests/test_a.py`, `app/Cargo.toml`,
    /// `app/src/lib.rs`, `pkg/util.go` and `go.mod`.
    fn judge(command: &str, path: &str) -> Option<&'static str> {
        let base: BTreeMap<String, Entry> =
            ["tests/test_a.py", "app/Cargo.toml", "app/src/lib.rs", "pkg/util.go", "go.mod"]
                .iter()
                .map(|p| (p.to_string(), Entry { mode: "100644".into(), oid: "0".repeat(40) }))
                .collect();
        let base_dirs = directories(&base);
        let words = crate::oracle::candidate_words(command);
        let cx = Context {
            runs: Runs::of(command),
            run_dirs: run_directories(&words, &base, &base_dirs),
            base: &base,
            base_dirs: &base_dirs,
        };
        forbidden(path, &cx)
    }

    #[test]
    fn pytest_configuration_added_is_forbidden_new_tests_are_not() {
        let cmd = "pytest tests/test_a.py";
        for path in ["conftest.py", "tests/conftest.py", "tests/sub/conftest.py", "pytest.ini"] {
            assert!(judge(cmd, path).is_some(), "{path}");
        }
        for path in ["tests/pytest.ini", "tests/pyproject.toml", "setup.cfg", "tox.ini"] {
            assert!(judge(cmd, path).is_some(), "{path}: on the way to the tests");
        }
        for path in ["tests/test_new.py", "src/mod.py", "docs/pyproject.toml", "tests/data.json"] {
            assert_eq!(judge(cmd, path), None, "{path}");
        }
        assert_eq!(judge("cargo test", "conftest.py"), None, "not pytest");
    }

    #[test]
    fn runner_independent_additions_are_forbidden() {
        for path in [
            "sitecustomize.py",
            "lib/usercustomize.py",
            "venv/lib/python3.12/site-packages/evil.pth",
            ".cargo/config.toml",
            "app/.cargo/config",
        ] {
            assert!(judge("sh tests/check.sh", path).is_some(), "{path}");
        }
        assert_eq!(judge("sh tests/check.sh", "models/net.pth"), None, "not a site directory");
        assert!(judge("pytest -q", "pytest").is_some(), "a stand-in in the root");
        assert!(judge("sh tests/check.sh", "sh").is_some());
        assert!(judge("PATH=bin:$PATH node t.js", "bin/node").is_some());
        assert_eq!(judge("node t.js", "bin/node"), None, "bin is not on PATH");
        assert_eq!(judge("pytest -q", "tests/pytest"), None);
        assert!(judge("python -m pytest", "pytest.py").is_some());
        assert!(judge("python -m pytest", "pytest/__init__.py").is_some());
        assert!(judge("python -m tests.test_a", "tests/helper.py").is_none(), "tests/ was there");
    }

    #[test]
    fn cargo_node_make_and_go_configuration_added_is_forbidden() {
        assert!(judge("cargo test", "rust-toolchain.toml").is_some());
        assert!(judge("cd app && cargo test", "app/rust-toolchain").is_some());
        assert!(judge("cargo test", "app/build.rs").is_some(), "a crate of the base");
        assert_eq!(judge("cargo test", "newcrate/build.rs"), None, "the worker's own crate");
        assert_eq!(judge("cargo test", "app/src/new.rs"), None);
        for path in ["package.json", "jest.config.mjs", ".mocharc.yml", ".npmrc", "babel.config.js"]
        {
            assert!(judge("npm test", path).is_some(), "{path}");
        }
        assert_eq!(judge("npm test", "src/feature.test.js"), None);
        assert!(judge("make test", "GNUmakefile").is_some());
        assert_eq!(judge("make test", "sub/Makefile"), None, "make runs in the root");
        assert!(judge("go test ./...", "go.work").is_some());
        assert!(judge("go test ./...", "pkg/go.mod").is_some());
        assert_eq!(judge("go test ./...", "newpkg/go.mod"), None);
        assert_eq!(judge("go test ./...", "pkg/new_test.go"), None);
    }
}
