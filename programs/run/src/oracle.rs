//! The oracle of an acceptance criterion: the files its `verify_command` depends on that
//! already existed at the run's base commit (test files, fixtures, check scripts), and
//! whether the worker changed them.
//!
//! A worker that makes a check pass by editing the check has not met the criterion, so
//! the gate refuses a criterion whose oracle differs from the base commit. Which words
//! of the command name files is decided here ([`oracle_paths`]); whether those files
//! still hold their base content is decided here too ([`tampered`]). Running the command
//! and judging its result lives in [`crate::gate`].
//!
//! # How a command names its oracle
//!
//! The command is split like a shell would (`shlex`, or whitespace when it does not
//! parse), each word again at shell operators (`;`, `&&`, `|`, redirections, ...). A word,
//! the value of a `key=value` word and the file part of a `file::test` word (pytest node
//! ids) are candidates; a leading `./` is dropped, and absolute words and words with a
//! `..` component are ignored (the sandbox hides everything outside the workspace
//! anyway). A candidate is oracle when it names a file tracked at the base commit, a
//! directory holding tracked files (all of them count), or is a shell glob (`tests/*.sh`)
//! matching tracked files. Files the worker adds are not oracle (new tests are welcome),
//! except the runner configuration and stand-ins on the deny-list of [`added`]
//! (`conftest.py`, `.cargo/config.toml`, a `Makefile` where there was none, ...): adding
//! one is tampering too ([`TamperKind::Added`]). A command that names its oracle only
//! indirectly (`make test` and a `Makefile` that lists the tests) protects only what it
//! names.
//!
//! # How a change is found
//!
//! Git runs on the host, outside the sandbox, on a repository the worker could write. So
//! nothing here trusts what the worker could have planted: the work tree is read by this
//! module (not through `git diff`, which trusts the index's stat cache, `skip-worktree`
//! and `assume-unchanged` bits, and runs the repository's filters), hashed with
//! `git hash-object --no-filters`, and compared with the base commit's object ids; the
//! index is compared by object id too. Every git call disables `core.fsmonitor` (a
//! program the repository's config could name), replace objects, external diff drivers
//! and text conversion. A path whose parent directory became a link is reported without
//! reading through the link. The executable bit is not compared (file systems disagree
//! about it and it cannot make a check pass).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

mod added;

/// The largest diff kept in a [`Tamper`], in bytes (the end is cut and marked).
pub const MAX_DIFF_BYTES: usize = 64 * 1024;

/// Characters that end a shell word inside a `shlex` word (`a;b`, `x&&y`, `f>out`).
const SHELL_OPERATORS: &[char] = &[';', '|', '&', '(', ')', '<', '>', '`', '\n'];

/// Why the oracle could not be worked out. Each carries what to do in [`OracleError::hint`].
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error("git is not installed or not on PATH: {0}")]
    GitMissing(std::io::Error),
    #[error("{} is not a git repository: {message}", repo.display())]
    NotARepository { repo: PathBuf, message: String },
    #[error("the base commit {commit:?} is not a commit of {}", repo.display())]
    UnknownCommit { repo: PathBuf, commit: String },
    #[error("`git {args}` failed in {}: {message}", repo.display())]
    Git { repo: PathBuf, args: String, message: String },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl OracleError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            OracleError::GitMissing(_) => {
                "install git (Debian/Ubuntu: `sudo apt install git`) and make sure it is on PATH"
                    .to_owned()
            }
            OracleError::NotARepository { repo, .. } => format!(
                "run ooo in a git repository, or create one (`git -C {} init && git -C {0} commit --allow-empty -m base`); when the repository belongs to another user, mark it safe with `git config --global --add safe.directory {0}`",
                repo.display()
            ),
            OracleError::UnknownCommit { repo, .. } => format!(
                "use a commit that exists in the repository (`git -C {} log --oneline -5` lists recent ones)",
                repo.display()
            ),
            OracleError::Git { repo, .. } => {
                format!("check the repository with `git -C {} fsck` and retry", repo.display())
            }
            OracleError::Io { path, .. } => {
                format!("check that {} is readable by this user", path.display())
            }
        }
    }
}

/// How an oracle file differs from its base content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    /// Other content (in the work tree or staged in the index).
    Modified,
    /// Gone from the work tree or from the index.
    Deleted,
    /// Now a link, a directory or something else where a file was (or a file where a
    /// link was), or reached through a parent directory that became a link.
    TypeChanged,
    /// Absent at the base commit and added: configuration or a stand-in that changes how
    /// the check runs (the deny-list of [`added`]).
    Added,
}

/// One changed oracle file, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tamper {
    /// Relative to the repository.
    pub path: PathBuf,
    pub kind: TamperKind,
    /// A unified diff from the base content (`a/<path>`) to what is there now
    /// (`b/<path>`), at most [`MAX_DIFF_BYTES`].
    pub diff: String,
}

/// The tracked files at `base_commit` that `verify_command` names (see the module docs),
/// relative to `repo`, sorted.
pub fn oracle_paths(
    repo: &Path,
    base_commit: &str,
    verify_command: &str,
) -> Result<Vec<PathBuf>, OracleError> {
    let commit = resolve_commit(repo, base_commit)?;
    let words = candidate_words(verify_command);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let tracked = base_entries(repo, &commit)?;
    Ok(tracked.keys().filter(|file| named_by_any(&words, file)).map(PathBuf::from).collect())
}

/// The files of `oracle` (paths relative to `repo`) whose work-tree or index content
/// differs from `base_commit`. Paths that are not tracked at `base_commit` are not oracle
/// and are skipped; so are submodules.
pub fn tampered(
    repo: &Path,
    base_commit: &str,
    oracle: &[PathBuf],
) -> Result<Vec<Tamper>, OracleError> {
    if oracle.is_empty() {
        return Ok(Vec::new());
    }
    let commit = resolve_commit(repo, base_commit)?;
    let base = base_entries(repo, &commit)?;
    let wanted: BTreeSet<String> = oracle.iter().map(|p| slash_path(p)).collect();
    tampered_in(repo, &commit, &base, &wanted)
}

/// [`tampered`] of [`oracle_paths`], reading the base commit once, and the files added
/// that the command's deny-list forbids ([`added`]): the gate's call.
pub fn tampered_oracle(
    repo: &Path,
    base_commit: &str,
    verify_command: &str,
) -> Result<Vec<Tamper>, OracleError> {
    let commit = resolve_commit(repo, base_commit)?;
    let words = candidate_words(verify_command);
    let base = base_entries(repo, &commit)?;
    let wanted: BTreeSet<String> =
        base.keys().filter(|file| named_by_any(&words, file)).cloned().collect();
    let mut out = tampered_in(repo, &commit, &base, &wanted)?;
    for (path, why) in added::forbidden_additions(repo, verify_command, &words, &base)? {
        out.push(added_tamper(repo, &path, why)?);
    }
    Ok(out)
}

/// Copies of the regular files among `paths` (relative to `repo`) as they are at
/// `base_commit`, written into `into` (read-only, executable where git says so), each
/// with the path it stands for. What the gate mounts over the work tree while a check
/// runs: the check reads the base content whatever another worker writes meanwhile.
/// Links, submodules and paths the base does not track are left out.
pub fn base_copies(
    repo: &Path,
    base_commit: &str,
    paths: &[PathBuf],
    into: &Path,
) -> Result<Vec<(PathBuf, PathBuf)>, OracleError> {
    use std::os::unix::fs::OpenOptionsExt;
    let commit = resolve_commit(repo, base_commit)?;
    let base = base_entries(repo, &commit)?;
    let mut out = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let Some(entry) = base.get(&slash_path(path)) else { continue };
        let mode = match entry.mode.as_str() {
            "100755" => 0o555,
            "100644" => 0o444,
            _ => continue,
        };
        let copy = into.join(n.to_string());
        let content = blob(repo, &entry.oid)?;
        let io = |source| OracleError::Io { path: copy.clone(), source };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&copy)
            .map_err(io)?;
        file.write_all(&content).map_err(io)?;
        out.push((path.clone(), copy));
    }
    Ok(out)
}

fn tampered_in(
    repo: &Path,
    commit: &str,
    base: &BTreeMap<String, Entry>,
    wanted: &BTreeSet<String>,
) -> Result<Vec<Tamper>, OracleError> {
    let checked: Vec<(&String, &Entry)> = base
        .iter()
        .filter(|(path, entry)| wanted.contains(*path) && entry.mode != GITLINK)
        .collect();
    if checked.is_empty() {
        return Ok(Vec::new());
    }
    let index = index_entries(repo)?;
    let hashes = worktree_hashes(repo, &checked)?;
    let mut out = Vec::new();
    for (path, entry) in checked {
        let kind = match worktree_change(repo, path, entry, &hashes)? {
            Some(kind) => Some((kind, Side::WorkTree)),
            None => index_change(entry, index.get(path)).map(|kind| (kind, Side::Index)),
        };
        if let Some((kind, side)) = kind {
            let diff = match side {
                Side::WorkTree => worktree_diff(repo, path, entry)?,
                Side::Index => index_diff(repo, commit, path)?,
            };
            out.push(Tamper { path: PathBuf::from(path), kind, diff: cap_diff(diff) });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Which words of the command name files.

/// The normalised words of a command that could name a path.
fn candidate_words(command: &str) -> BTreeSet<String> {
    candidate_words_within(command, 3)
}

/// What a test runner reads besides the files a command names, where it exists at the
/// base commit: its tests and the configuration that decides how they run. Not the
/// manifests that also list dependencies (`Cargo.toml`, `package.json`,
/// `pyproject.toml`): implementing a criterion may rightly change those.
const RUNNER_FILES: &[(&str, &[&str])] = &[
    ("cargo", &[".cargo", "tests"]),
    ("pytest", &["tests", "test", "conftest.py", "pytest.ini", "tox.ini"]),
    ("npm", &["test", "tests", "__tests__", "jest.config.js", "jest.config.ts"]),
    ("npx", &["test", "tests", "__tests__", "jest.config.js", "jest.config.ts"]),
    ("yarn", &["test", "tests", "__tests__", "jest.config.js", "jest.config.ts"]),
    ("jest", &["test", "tests", "__tests__", "jest.config.js", "jest.config.ts"]),
    ("make", &["Makefile", "makefile", "GNUmakefile"]),
];

/// [`candidate_words`], looking `depth` levels into words that are commands themselves
/// (`sh -c "pytest tests/x.py"`).
fn candidate_words_within(command: &str, depth: u8) -> BTreeSet<String> {
    let tokens = shell_words(command);
    let mut out = BTreeSet::new();
    for token in &tokens {
        if depth > 0 && token.contains(char::is_whitespace) {
            out.extend(candidate_words_within(token, depth - 1));
        }
        let program = token.rsplit('/').next().unwrap_or(token);
        if let Some((_, files)) = RUNNER_FILES.iter().find(|(runner, _)| *runner == program) {
            out.extend(files.iter().map(|f| f.to_string()));
        }
    }
    for piece in tokens.iter().flat_map(|t| t.split(SHELL_OPERATORS)) {
        let value = piece.split_once('=').map(|(_, v)| v);
        for candidate in [Some(piece), value].into_iter().flatten() {
            let file_part = candidate.split_once("::").map(|(f, _)| f);
            for word in [Some(candidate), file_part].into_iter().flatten() {
                if let Some(word) = normalise_word(word) {
                    out.insert(word);
                }
            }
        }
    }
    out
}

/// The words of a command as a shell splits them (`shlex`), or at whitespace (quotes
/// dropped) when it does not parse.
fn shell_words(command: &str) -> Vec<String> {
    shlex::split(command).unwrap_or_else(|| {
        command
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
            .collect()
    })
}

/// `./a/b/` -> `a/b`; `None` for words that cannot name a path inside the repository.
fn normalise_word(word: &str) -> Option<String> {
    let mut word = word.trim();
    while let Some(rest) = word.strip_prefix("./") {
        word = rest.trim_start_matches('/');
    }
    let word = word.trim_end_matches('/');
    let inside = !word.is_empty()
        && word != "."
        && !word.starts_with('/')
        && !word.split('/').any(|c| c == "..");
    inside.then(|| word.to_owned())
}

fn named_by_any(words: &BTreeSet<String>, file: &str) -> bool {
    words.iter().any(|word| names(word, file))
}

/// Whether `word` names `file`: the file itself, a directory above it, or a glob
/// matching either.
fn names(word: &str, file: &str) -> bool {
    if file == word || file.strip_prefix(word).is_some_and(|rest| rest.starts_with('/')) {
        return true;
    }
    if !word.contains(['*', '?', '[']) {
        return false;
    }
    let prefixes = file.match_indices('/').map(|(i, _)| &file[..i]);
    prefixes.chain([file]).any(|candidate| glob_matches(word, candidate))
}

/// Shell-style matching: `*` and `?` do not cross `/`; `[abc]`, `[a-z]`, `[!x]`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_from(&p, &t)
}

fn glob_from(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| glob_from(rest, &t[i..]))
        }
        Some('?') => t.first().is_some_and(|&c| c != '/') && glob_from(&p[1..], &t[1..]),
        Some('[') => match (class_end(p), t.first()) {
            (Some(end), Some(&c)) => {
                c != '/' && class_matches(&p[1..end], c) && glob_from(&p[end + 1..], &t[1..])
            }
            (Some(_), None) => false,
            (None, _) => t.first() == Some(&'[') && glob_from(&p[1..], &t[1..]),
        },
        Some(&c) => t.first() == Some(&c) && glob_from(&p[1..], &t[1..]),
    }
}

/// The index of the `]` closing the class that starts at `p[0] == '['`.
fn class_end(p: &[char]) -> Option<usize> {
    let start = if matches!(p.get(1), Some('!' | '^')) { 2 } else { 1 };
    // A `]` right after the opening (or after `!`) is a member, not the end.
    (start + 1..p.len()).find(|&i| p[i] == ']')
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negated, members) = match class.first() {
        Some('!' | '^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut found = false;
    let mut i = 0;
    while i < members.len() {
        if i + 2 < members.len() && members[i + 1] == '-' {
            found |= (members[i]..=members[i + 2]).contains(&c);
            i += 3;
        } else {
            found |= members[i] == c;
            i += 1;
        }
    }
    found != negated
}

// ---------------------------------------------------------------------------------------
// Git.

/// The mode of a submodule entry.
const GITLINK: &str = "160000";
/// The mode of a symbolic link entry.
const SYMLINK: &str = "120000";

/// One tracked entry: its mode (`100644`, `100755`, `120000`, `160000`) and object id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    mode: String,
    oid: String,
}

/// Which side of the repository differs from the base.
enum Side {
    WorkTree,
    Index,
}

/// A git command that ignores what a worker could plant in the repository's config.
fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "core.fsmonitor=false", "-c", "core.quotePath=false"])
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_EXTERNAL_DIFF")
        .stdin(Stdio::null());
    cmd
}

/// Run git in `repo`; a non-zero exit is an error unless `ok` accepts its code.
fn git(repo: &Path, args: &[&str], ok: &[i32]) -> Result<Output, OracleError> {
    let output = git_command(repo).args(args).output().map_err(spawn_error)?;
    let code = output.status.code();
    if code == Some(0) || code.is_some_and(|c| ok.contains(&c)) {
        return Ok(output);
    }
    Err(git_failure(repo, args, &output))
}

fn spawn_error(e: std::io::Error) -> OracleError {
    OracleError::GitMissing(e)
}

fn git_failure(repo: &Path, args: &[&str], output: &Output) -> OracleError {
    let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let lower = message.to_lowercase();
    if lower.contains("not a git repository")
        || lower.contains("cannot change to")
        || lower.contains("dubious ownership")
    {
        return OracleError::NotARepository { repo: repo.to_owned(), message };
    }
    OracleError::Git { repo: repo.to_owned(), args: args.join(" "), message }
}

/// The full object id of `commit`, or why there is none.
fn resolve_commit(repo: &Path, commit: &str) -> Result<String, OracleError> {
    let unknown =
        || OracleError::UnknownCommit { repo: repo.to_owned(), commit: commit.to_owned() };
    if commit.is_empty() || commit.starts_with('-') {
        return Err(unknown());
    }
    // A full id whose tree was read here already is a commit of this repository.
    let known = BASE_TREES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|(r, c, _)| r == repo && c == commit);
    if known {
        return Ok(commit.to_owned());
    }
    let spec = format!("{commit}^{{commit}}");
    let output = git(repo, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec], &[1])?;
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || id.is_empty() {
        return Err(unknown());
    }
    Ok(id)
}

/// Base trees already read, by repository and full commit id: a commit's tree never
/// changes, and a run reads the same one for every check (before it, for the read-only
/// mounts, after it). A few entries at most; the oldest go first.
static BASE_TREES: Mutex<Vec<(PathBuf, String, Tree)>> = Mutex::new(Vec::new());

/// A base commit's entries by path, shared.
type Tree = Arc<BTreeMap<String, Entry>>;

/// How many base trees [`BASE_TREES`] keeps.
const BASE_TREES_KEPT: usize = 4;

/// Every entry tracked at `commit` (a full object id, as [`resolve_commit`] gives it),
/// recursively, by path relative to `repo`; read once per process.
fn base_entries(repo: &Path, commit: &str) -> Result<Tree, OracleError> {
    let cached = |trees: &Vec<(PathBuf, String, Tree)>| {
        trees.iter().find(|(r, c, _)| r == repo && c == commit).map(|(_, _, t)| Arc::clone(t))
    };
    if let Some(tree) = cached(&BASE_TREES.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(tree);
    }
    let tree = Arc::new(read_base_entries(repo, commit)?);
    let mut trees = BASE_TREES.lock().unwrap_or_else(|e| e.into_inner());
    if trees.len() >= BASE_TREES_KEPT {
        trees.remove(0);
    }
    trees.push((repo.to_owned(), commit.to_owned(), Arc::clone(&tree)));
    Ok(tree)
}

fn read_base_entries(repo: &Path, commit: &str) -> Result<BTreeMap<String, Entry>, OracleError> {
    let output = git(repo, &["ls-tree", "-r", "-z", commit], &[])?;
    let mut out = BTreeMap::new();
    for record in output.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        // `<mode> <type> <oid>\t<path>`
        let Some((meta, path)) = record.split_once('\t') else { continue };
        let mut fields = meta.split(' ');
        if let (Some(mode), Some(_), Some(oid)) = (fields.next(), fields.next(), fields.next()) {
            out.insert(path.to_owned(), Entry { mode: mode.to_owned(), oid: oid.to_owned() });
        }
    }
    Ok(out)
}

/// One index entry: its mode, object id and merge stage.
struct IndexEntry {
    entry: Entry,
    stage: String,
}

/// Every index entry, by path relative to `repo` (the last stage wins for conflicts,
/// which are reported as changes anyway).
fn index_entries(repo: &Path) -> Result<HashMap<String, IndexEntry>, OracleError> {
    let output = git(repo, &["ls-files", "--stage", "-z"], &[])?;
    let mut out = HashMap::new();
    for record in output.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        // `<mode> <oid> <stage>\t<path>`
        let Some((meta, path)) = record.split_once('\t') else { continue };
        let mut fields = meta.split(' ');
        if let (Some(mode), Some(oid), Some(stage)) = (fields.next(), fields.next(), fields.next())
        {
            let entry = Entry { mode: mode.to_owned(), oid: oid.to_owned() };
            out.insert(path.to_owned(), IndexEntry { entry, stage: stage.to_owned() });
        }
    }
    Ok(out)
}

/// What a work-tree path is, read without following a final link and without reading
/// through a parent directory that became a link.
enum OnDisk {
    Missing,
    File,
    Link(Vec<u8>),
    Other,
    LinkedParent,
    /// It cannot be read (permissions the worker changed, ...): a change, since the
    /// check could not read it either.
    Unreadable(String),
}

fn on_disk(repo: &Path, path: &str) -> OnDisk {
    let mut dir = repo.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => return OnDisk::LinkedParent,
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return OnDisk::Missing,
            Err(e) if gone(&e) => return OnDisk::Missing,
            Err(e) => return OnDisk::Unreadable(format!("{}: {e}", dir.display())),
        }
    }
    let full = repo.join(path);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(meta) => meta,
        Err(e) if gone(&e) => return OnDisk::Missing,
        Err(e) => return OnDisk::Unreadable(e.to_string()),
    };
    if meta.file_type().is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        return match std::fs::read_link(&full) {
            Ok(target) => OnDisk::Link(target.as_os_str().as_bytes().to_vec()),
            Err(e) => OnDisk::Unreadable(e.to_string()),
        };
    }
    if meta.is_file() { OnDisk::File } else { OnDisk::Other }
}

fn gone(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
}

/// The object ids of the regular work-tree files among `entries`, hashed from their raw
/// bytes (no filters), by path. A file git cannot read has no id (and so differs).
fn worktree_hashes(
    repo: &Path,
    entries: &[(&String, &Entry)],
) -> Result<HashMap<String, String>, OracleError> {
    let files: Vec<&str> = entries
        .iter()
        .filter(|(path, entry)| {
            entry.mode != SYMLINK && matches!(on_disk(repo, path), OnDisk::File)
        })
        .map(|(path, _)| path.as_str())
        .collect();
    let mut out = HashMap::new();
    for chunk in files.chunks(256) {
        match hash_files(repo, chunk) {
            Ok(ids) => out.extend(ids),
            // One unreadable file fails the whole call: hash them one by one.
            Err(OracleError::Git { .. }) => {
                for file in chunk {
                    match hash_files(repo, &[file]) {
                        Ok(ids) => out.extend(ids),
                        Err(OracleError::Git { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn hash_files(repo: &Path, files: &[&str]) -> Result<Vec<(String, String)>, OracleError> {
    let mut args = vec!["hash-object", "--no-filters", "--"];
    args.extend(files.iter().copied());
    let output = git(repo, &args, &[])?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(files
        .iter()
        .zip(text.lines())
        .map(|(f, id)| ((*f).to_owned(), id.trim().to_owned()))
        .collect())
}

/// How the work tree differs from the base entry, if it does.
fn worktree_change(
    repo: &Path,
    path: &str,
    entry: &Entry,
    hashes: &HashMap<String, String>,
) -> Result<Option<TamperKind>, OracleError> {
    let change = match (on_disk(repo, path), entry.mode == SYMLINK) {
        (OnDisk::Missing, _) => Some(TamperKind::Deleted),
        (OnDisk::Unreadable(_), _) => Some(TamperKind::Modified),
        (OnDisk::LinkedParent | OnDisk::Other, _) => Some(TamperKind::TypeChanged),
        (OnDisk::File, true) | (OnDisk::Link(_), false) => Some(TamperKind::TypeChanged),
        (OnDisk::File, false) => {
            (hashes.get(path) != Some(&entry.oid)).then_some(TamperKind::Modified)
        }
        (OnDisk::Link(target), true) => {
            let base = blob(repo, &entry.oid)?;
            (base != target).then_some(TamperKind::Modified)
        }
    };
    Ok(change)
}

/// How the index differs from the base entry, if it does (the executable bit aside).
fn index_change(base: &Entry, index: Option<&IndexEntry>) -> Option<TamperKind> {
    let Some(index) = index else { return Some(TamperKind::Deleted) };
    if (index.entry.mode == SYMLINK) != (base.mode == SYMLINK) || index.entry.mode == GITLINK {
        return Some(TamperKind::TypeChanged);
    }
    (index.stage != "0" || index.entry.oid != base.oid).then_some(TamperKind::Modified)
}

/// The raw content of an object.
fn blob(repo: &Path, oid: &str) -> Result<Vec<u8>, OracleError> {
    Ok(git(repo, &["cat-file", "blob", oid], &[])?.stdout)
}

// ---------------------------------------------------------------------------------------
// Diffs.

/// The diff from the base content to the work tree, made from copies in a scratch
/// directory (`a/<path>` and `b/<path>`), so no filter or driver of the repository runs
/// and no link of the work tree is followed.
fn worktree_diff(repo: &Path, path: &str, entry: &Entry) -> Result<String, OracleError> {
    let scratch = ScratchDir::new("oracle-diff")
        .map_err(|source| OracleError::Io { path: std::env::temp_dir(), source })?;
    let old = Path::new("a").join(path);
    write_entry(scratch.path(), &old, &blob(repo, &entry.oid)?, entry)?;
    let new = Path::new("b").join(path);
    let mut note = String::new();
    let new_arg: OsString = match on_disk(repo, path) {
        OnDisk::Missing => "/dev/null".into(),
        OnDisk::Unreadable(e) => {
            note = format!("{path}: cannot be read: {e}\n");
            "/dev/null".into()
        }
        OnDisk::LinkedParent => {
            note = format!("{path}: a parent directory was replaced by a link\n");
            "/dev/null".into()
        }
        OnDisk::Other => {
            note = format!("{path}: now a directory or special file\n");
            "/dev/null".into()
        }
        OnDisk::File => match copy_file(&repo.join(path), &scratch.path().join(&new)) {
            Ok(()) => new.clone().into(),
            Err(e) => {
                note = format!("{path}: cannot be read: {e}\n");
                "/dev/null".into()
            }
        },
        OnDisk::Link(target) => {
            make_link(&scratch.path().join(&new), &target)?;
            new.clone().into()
        }
    };
    Ok(note + &diff_in(&scratch, old.as_os_str(), &new_arg)?)
}

/// An added file as a [`Tamper`]: why it counts, and the diff from nothing to it.
fn added_tamper(repo: &Path, path: &str, why: &str) -> Result<Tamper, OracleError> {
    let scratch = ScratchDir::new("oracle-diff")
        .map_err(|source| OracleError::Io { path: std::env::temp_dir(), source })?;
    let new = Path::new("b").join(path);
    let mut note = format!("{path}: added, not at the base commit ({why})\n");
    let new_arg: OsString = match on_disk(repo, path) {
        OnDisk::File => match copy_file(&repo.join(path), &scratch.path().join(&new)) {
            Ok(()) => new.into(),
            Err(e) => {
                note.push_str(&format!("{path}: cannot be read: {e}\n"));
                "/dev/null".into()
            }
        },
        OnDisk::Link(target) => {
            make_link(&scratch.path().join(&new), &target)?;
            new.into()
        }
        _ => "/dev/null".into(),
    };
    let diff = note + &diff_in(&scratch, "/dev/null".as_ref(), &new_arg)?;
    Ok(Tamper { path: PathBuf::from(path), kind: TamperKind::Added, diff: cap_diff(diff) })
}

/// `git diff --no-index old new` inside `scratch` (paths relative to it, or `/dev/null`).
fn diff_in(scratch: &ScratchDir, old: &OsStr, new: &OsStr) -> Result<String, OracleError> {
    let mut cmd = git_command(scratch.path());
    cmd.env("GIT_CEILING_DIRECTORIES", scratch.path().parent().unwrap_or(Path::new("/")));
    cmd.args(["diff", "--no-index", "--no-prefix", "--no-color", "--no-ext-diff"])
        .args(["--no-textconv", "--"])
        .arg(old)
        .arg(new);
    let output = cmd.output().map_err(spawn_error)?;
    if !matches!(output.status.code(), Some(0 | 1)) {
        let args = ["diff", "--no-index"];
        return Err(git_failure(scratch.path(), &args, &output));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The diff from the base commit to the index for one path.
fn index_diff(repo: &Path, commit: &str, path: &str) -> Result<String, OracleError> {
    let args =
        ["diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv", commit, "--", path];
    let output = git(repo, &args, &[1])?;
    Ok(format!("(staged in the index)\n{}", String::from_utf8_lossy(&output.stdout)))
}

fn write_entry(root: &Path, rel: &Path, content: &[u8], entry: &Entry) -> Result<(), OracleError> {
    let full = root.join(rel);
    let io = |source| OracleError::Io { path: full.clone(), source };
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    if entry.mode == SYMLINK {
        return make_link(&full, content);
    }
    std::fs::File::create(&full).and_then(|mut f| f.write_all(content)).map_err(io)?;
    if entry.mode == "100755" {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), OracleError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| OracleError::Io { path: parent.to_owned(), source })?;
    }
    std::fs::copy(from, to).map_err(|source| OracleError::Io { path: from.to_owned(), source })?;
    Ok(())
}

fn make_link(at: &Path, target: &[u8]) -> Result<(), OracleError> {
    use std::os::unix::ffi::OsStrExt;
    let io = |source| OracleError::Io { path: at.to_owned(), source };
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), at).map_err(io)
}

/// At most [`MAX_DIFF_BYTES`], cut at a character boundary and marked.
fn cap_diff(diff: String) -> String {
    if diff.len() <= MAX_DIFF_BYTES {
        return diff;
    }
    let marker = format!("\n[diff cut at {MAX_DIFF_BYTES} bytes]\n");
    let mut end = MAX_DIFF_BYTES - marker.len();
    while !diff.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &diff[..end])
}

/// A path as git writes it (`/`-separated, relative, without `./`).
fn slash_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    normalise_word(&text).unwrap_or_else(|| text.into_owned())
}

// ---------------------------------------------------------------------------------------
// Scratch space.

/// A private directory under the system's temporary directory, removed on drop.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new(purpose: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("ooo-run-{purpose}-{}-{n}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Self(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(cmd: &str) -> Vec<String> {
        candidate_words(cmd).into_iter().collect()
    }

    /// A script given to a shell is looked into, and a known test runner brings its
    /// configuration and test directories.
    #[test]
    fn scripts_and_runners_widen_the_oracle() {
        let w = words("bash -c \"cd app && pytest tests/test_a.py\"");
        for expected in ["tests/test_a.py", "conftest.py", "pytest.ini", "tests"] {
            assert!(w.contains(&expected.to_owned()), "{expected} in {w:?}");
        }
        let w = words("cargo test --test api");
        for expected in [".cargo", "tests"] {
            assert!(w.contains(&expected.to_owned()), "{expected} in {w:?}");
        }
        assert!(words("make test").contains(&"Makefile".to_owned()));
        assert!(words("/usr/bin/npm test").contains(&"__tests__".to_owned()));
        assert!(!words("cargo test").contains(&"Cargo.toml".to_owned()), "dependencies may change");
    }

    #[test]
    fn words_are_split_like_a_shell_would() {
        assert_eq!(
            words("sh ./tests/check.sh && run 'tests/a-b.py'::test_x --cov=src/ ../up /abs"),
            [
                "--cov=src",
                "run",
                "sh",
                "src",
                "tests/a-b.py",
                "tests/a-b.py::test_x",
                "tests/check.sh"
            ]
            .map(String::from)
        );
        assert_eq!(words("cd t;./run.sh>out"), ["cd", "out", "run.sh", "t"].map(String::from));
        // Unbalanced quotes: whitespace, quotes dropped.
        assert_eq!(words("sh 'tests/x.sh"), ["sh", "tests/x.sh"].map(String::from));
        assert!(words(". ./ ../x a/../b").is_empty());
    }

    #[test]
    fn globs_match_like_sh() {
        assert!(glob_matches("tests/*.sh", "tests/check.sh"));
        assert!(!glob_matches("tests/*.sh", "tests/sub/check.sh"));
        assert!(glob_matches("t?sts/[a-c]heck.sh", "tests/check.sh"));
        assert!(glob_matches("tests/[!x]*", "tests/check.sh"));
        assert!(!glob_matches("tests/[!c]*", "tests/check.sh"));
        assert!(glob_matches("*", "file"));
        assert!(glob_matches("a[", "a["));
        assert!(names("tests/*", "tests/sub/check.sh"), "a glob naming a directory");
        assert!(names("tests", "tests/sub/check.sh"));
        assert!(!names("test", "tests/check.sh"));
    }

    #[test]
    fn long_diffs_are_cut_at_a_character_boundary() {
        let diff = "é".repeat(MAX_DIFF_BYTES);
        let cut = cap_diff(diff);
        assert!(cut.len() <= MAX_DIFF_BYTES);
        assert!(cut.ends_with(&format!("[diff cut at {MAX_DIFF_BYTES} bytes]\n")));
        assert_eq!(cap_diff("short".into()), "short");
    }
}
