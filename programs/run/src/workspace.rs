//! Where a run works: the repository itself or a git worktree on `ooo/run-<id>`, its base
//! commit, commits in the workspace, the files a run changed, and the garbage collection
//! of finished worktrees (`ooo run gc`).
//!
//! Everything here is real git through [`std::process::Command`]; the user's git
//! configuration is never written (ooo's commits set their identity with `-c`), and the
//! caller's `GIT_DIR`-style variables are dropped so that git finds the repository from
//! the path it is given.
//!
//! Rules:
//! * [`prepare`] takes `HEAD` as the base commit: the oracle (see [`crate::oracle`]) is
//!   read from it. An in-place run allows uncommitted changes (they are not the oracle);
//!   a worktree run refuses them, since the worktree starts from `HEAD` and would silently
//!   leave them behind.
//! * [`commit_all`] commits only in a worktree run, unless the caller explicitly allows a
//!   commit on the user's own branch ([`WorkspaceError::CommitOutsideWorktree`]).
//! * ooo's commit messages ([`commit_message`]) end with trailers naming the execution
//!   (`Ooo-Execution: <id>`) and, for a criterion's commit, the criterion (`Ooo-Criterion:
//!   <n>`, 1-based as in the subject): [`execution_commits`] finds them again, so a
//!   commit made just before ooo died is recorded on resume instead of made twice.
//! * [`gc`] only ever touches worktrees on `ooo/run-<id>` branches under the worktrees
//!   directory, never a live execution's.
//! * [`check_lineage`] (before a resume) reads only: a resumed run goes on where its
//!   history is, `HEAD` at or after the base commit, a worktree on its branch.
//!
//! What does not live here: the commit policy (`ac`, `final`, `none`: the executor decides
//! when to call [`commit_all`]), recording commits (the ledger events), and what the gate
//! compares against the base commit ([`crate::oracle`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The branch prefix of a worktree run: `ooo/run-<execution id>`.
pub const BRANCH_PREFIX: &str = "ooo/run-";

/// How many dirty paths a [`WorkspaceError::Dirty`] lists.
pub const DIRTY_LISTED: usize = 10;

/// The trailer of ooo's commit messages naming the execution.
pub const EXECUTION_TRAILER: &str = "Ooo-Execution";
/// The trailer of a criterion's commit naming the criterion, 1-based.
pub const CRITERION_TRAILER: &str = "Ooo-Criterion";

/// Who ooo's commits are by (author and committer).
pub const COMMIT_NAME: &str = "ooo";
pub const COMMIT_EMAIL: &str = "ooo@localhost";

/// Variables of the caller's environment that would point git somewhere else than the
/// path it is given (set, for example, when ooo runs inside a git hook).
const GIT_LOCATION_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
];

/// Variables that would override the identity ooo commits with.
const GIT_IDENTITY_VARS: &[&str] = &[
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
];

/// The directory workers and the gate work in, and the commit the oracle is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub root: PathBuf,
    pub base_commit: String,
    pub worktree: Option<Worktree>,
}

/// A worktree made for one execution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
}

/// The branch of execution `id`'s worktree.
pub fn branch_name(id: &str) -> String {
    format!("{BRANCH_PREFIX}{id}")
}

/// Why a workspace could not be prepared, reopened, committed or collected.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{} is not inside a git work tree: {message}", .path.display())]
    NotARepository { path: PathBuf, message: String },
    #[error("the repository {} has no commit yet", .repo.display())]
    NoCommits { repo: PathBuf },
    #[error(
        "the repository {} has uncommitted changes to tracked files, and a worktree starts from HEAD without them: {}{}",
        .repo.display(),
        .paths.join(", "),
        if *.more > 0 { format!(" (and {} more)", .more) } else { String::new() }
    )]
    Dirty { repo: PathBuf, paths: Vec<String>, more: usize },
    #[error(
        "execution id {id:?} cannot name a branch and a directory (letters, digits, `-` and `_` only)"
    )]
    InvalidId { id: String },
    #[error("the worktree directory {} already exists", .path.display())]
    WorktreeExists { path: PathBuf },
    #[error("the execution's worktree {} is gone", .path.display())]
    WorktreeMissing { path: PathBuf },
    #[error("the worktree {} is on {}, not on the execution's branch {expected}", .path.display(), .found.as_deref().unwrap_or("a detached HEAD"))]
    WrongBranch { path: PathBuf, expected: String, found: Option<String> },
    #[error("the execution's base commit {commit} is not in the repository {}", .repo.display())]
    BaseMissing { repo: PathBuf, commit: String },
    #[error(
        "HEAD of {} is {head}, which does not descend from the execution's base commit {base}",
        .root.display()
    )]
    NotDescendant { root: PathBuf, head: String, base: String },
    #[error("refusing to commit in {} itself: this run has no worktree", .root.display())]
    CommitOutsideWorktree { root: PathBuf },
    #[error("`git {args}` failed in {}: {stderr}", .dir.display())]
    Git { dir: PathBuf, args: String, stderr: String },
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("cannot use {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl WorkspaceError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            WorkspaceError::NotARepository { path, .. } => format!(
                "run ooo in a git repository, or make one: `git -C {} init && git -C {} add -A && git -C {} commit -m init`",
                path.display(),
                path.display(),
                path.display()
            ),
            WorkspaceError::NoCommits { repo } => format!(
                "commit something first: `git -C {} add -A && git -C {} commit -m init`",
                repo.display(),
                repo.display()
            ),
            WorkspaceError::Dirty { .. } => {
                "commit them (`git commit -am ...`) or stash them (`git stash`), then run again; or run without --worktree to work in the repository itself".into()
            }
            WorkspaceError::InvalidId { .. } => {
                "use the execution id ooo generated (`ooo status` lists them)".into()
            }
            WorkspaceError::WorktreeExists { path } => format!(
                "remove it (`git worktree remove {}`) or collect finished worktrees with `ooo run gc`",
                path.display()
            ),
            WorkspaceError::WorktreeMissing { .. } => {
                "the worktree was removed (by `ooo run gc` or by hand); start a new run".into()
            }
            WorkspaceError::WrongBranch { path, expected, .. } => {
                format!("switch it back: `git -C {} switch {expected}`", path.display())
            }
            WorkspaceError::BaseMissing { .. } => {
                "the repository's history was rewritten since the run started; start a new run"
                    .into()
            }
            WorkspaceError::NotDescendant { root, base, .. } => format!(
                "check out the run's work again (a branch that contains {base}: `git -C {} branch --contains {base}`)",
                root.display()
            ),
            WorkspaceError::CommitOutsideWorktree { .. } => {
                "run with --worktree to have ooo commit on its own branch, or use --commit-policy none".into()
            }
            WorkspaceError::Git { .. } => {
                "check the repository with `git status` and `git worktree list`".into()
            }
            WorkspaceError::Spawn(_) => "install git and make sure it is on PATH".into(),
            WorkspaceError::Io { .. } => {
                "check that the directory exists and is writable".into()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Preparing and reopening.

/// The workspace of a new execution `execution_id` on the repository holding `repo`:
/// the repository's top level, or (with `worktree`) a new worktree
/// `<worktrees_dir>/<execution_id>` on the new branch `ooo/run-<execution_id>` at `HEAD`.
/// The base commit is `HEAD` either way.
pub fn prepare(
    repo: &Path,
    execution_id: &str,
    worktree: bool,
    worktrees_dir: &Path,
) -> Result<Workspace, WorkspaceError> {
    let top = toplevel(repo)?;
    let base_commit = head(&top)?;
    if !worktree {
        return Ok(Workspace { root: top, base_commit, worktree: None });
    }
    check_id(execution_id)?;
    refuse_dirty(&top)?;
    let dir = absolute(worktrees_dir)?;
    std::fs::create_dir_all(&dir)
        .map_err(|source| WorkspaceError::Io { path: dir.clone(), source })?;
    let path = dir.join(execution_id);
    if path.symlink_metadata().is_ok() {
        return Err(WorkspaceError::WorktreeExists { path });
    }
    let branch = branch_name(execution_id);
    add_worktree(&top, &branch, &path, &base_commit)?;
    let path = canonical(&path)?;
    Ok(Workspace { root: path.clone(), base_commit, worktree: Some(Worktree { path, branch }) })
}

/// The workspace of an execution being resumed: its worktree must still exist and be on
/// its branch, and its base commit must still be in the repository.
pub fn reopen(
    repo: &Path,
    worktree: Option<&Worktree>,
    base_commit: &str,
) -> Result<Workspace, WorkspaceError> {
    let top = toplevel(repo)?;
    if !commit_exists(&top, base_commit)? {
        return Err(WorkspaceError::BaseMissing { repo: top, commit: base_commit.to_owned() });
    }
    let Some(wt) = worktree else {
        return Ok(Workspace { root: top, base_commit: base_commit.to_owned(), worktree: None });
    };
    if !wt.path.is_dir() {
        return Err(WorkspaceError::WorktreeMissing { path: wt.path.clone() });
    }
    let wt_top = toplevel(&wt.path)?;
    if wt_top != canonical(&wt.path)? {
        return Err(WorkspaceError::WorktreeMissing { path: wt.path.clone() });
    }
    on_branch(&wt_top, wt)?;
    Ok(Workspace {
        root: wt_top.clone(),
        base_commit: base_commit.to_owned(),
        worktree: Some(Worktree { path: wt_top, branch: wt.branch.clone() }),
    })
}

/// The workspace still holds the execution's work (reads only): `ws.root` is the top
/// level of a git work tree, the base commit is in its repository, `HEAD` is the base
/// commit or descends from it, and a worktree is still on its branch.
pub fn check_lineage(ws: &Workspace) -> Result<(), WorkspaceError> {
    let top = toplevel(&ws.root)?;
    if top != canonical(&ws.root)? {
        return Err(WorkspaceError::NotARepository {
            path: ws.root.clone(),
            message: format!("git finds the work tree {} instead", top.display()),
        });
    }
    if !commit_exists(&top, &ws.base_commit)? {
        return Err(WorkspaceError::BaseMissing { repo: top, commit: ws.base_commit.clone() });
    }
    let head = head(&top)?;
    if !is_ancestor(&top, &ws.base_commit, &head)? {
        return Err(WorkspaceError::NotDescendant {
            root: top,
            head,
            base: ws.base_commit.clone(),
        });
    }
    match &ws.worktree {
        Some(wt) => on_branch(&top, wt),
        None => Ok(()),
    }
}

/// Whether `ancestor` is `commit` or one of its ancestors.
fn is_ancestor(top: &Path, ancestor: &str, commit: &str) -> Result<bool, WorkspaceError> {
    let args = ["merge-base", "--is-ancestor", ancestor, commit];
    let out = run_git(top, &args)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(git_error(top, &args, &out)),
    }
}

fn toplevel(repo: &Path) -> Result<PathBuf, WorkspaceError> {
    let out = run_git(repo, &["rev-parse", "--show-toplevel"])?;
    if !out.status.success() {
        return Err(WorkspaceError::NotARepository {
            path: repo.to_owned(),
            message: stderr_of(&out),
        });
    }
    canonical(Path::new(stdout_of(&out).trim_end_matches('\n')))
}

fn head(top: &Path) -> Result<String, WorkspaceError> {
    let out = run_git(top, &["rev-parse", "--verify", "-q", "HEAD^{commit}"])?;
    if !out.status.success() {
        return Err(WorkspaceError::NoCommits { repo: top.to_owned() });
    }
    Ok(stdout_of(&out).trim().to_owned())
}

fn commit_exists(top: &Path, commit: &str) -> Result<bool, WorkspaceError> {
    if commit.is_empty() || commit.starts_with('-') {
        return Ok(false);
    }
    let spec = format!("{commit}^{{commit}}");
    Ok(run_git(top, &["cat-file", "-e", &spec])?.status.success())
}

/// The short name of the branch checked out in `dir`, `None` on a detached `HEAD`.
fn current_branch(dir: &Path) -> Result<Option<String>, WorkspaceError> {
    let out = run_git(dir, &["symbolic-ref", "-q", "--short", "HEAD"])?;
    Ok(out.status.success().then(|| stdout_of(&out).trim().to_owned()))
}

fn check_id(id: &str) -> Result<(), WorkspaceError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(WorkspaceError::InvalidId { id: id.to_owned() }) }
}

/// Refuse uncommitted changes to tracked files (staged or not), listing the first ones.
fn refuse_dirty(top: &Path) -> Result<(), WorkspaceError> {
    let out = checked(top, &["status", "--porcelain=v1", "-z", "--untracked-files=no"])?;
    let paths = porcelain_paths(&stdout_of(&out));
    if paths.is_empty() {
        return Ok(());
    }
    let more = paths.len().saturating_sub(DIRTY_LISTED);
    Err(WorkspaceError::Dirty {
        repo: top.to_owned(),
        paths: paths.into_iter().take(DIRTY_LISTED).collect(),
        more,
    })
}

/// The paths of `git status --porcelain=v1 -z`: `XY path`, a rename followed by its
/// source as a separate entry (skipped).
fn porcelain_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut entries = text.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (status, path) = entry.split_at(entry.len().min(3));
        if status.starts_with('R') || status.starts_with('C') {
            entries.next();
        }
        paths.push(path.to_owned());
    }
    paths
}

// ---------------------------------------------------------------------------------------
// Commits and changes.

/// Stage everything in the workspace (new files too, `.gitignore` respected) and commit
/// it as `ooo <ooo@localhost>` (set with `-c`, the user's configuration untouched; no
/// hooks, no signing: the commit records work the gate already judged, and a hook must
/// not change it). Returns the new commit, or `None` when there was nothing to commit.
///
/// Commits happen only in a worktree run, on the execution's own branch. In a run in the
/// repository itself this is [`WorkspaceError::CommitOutsideWorktree`] unless
/// `allow_outside_worktree` says the user asked for commits on their own branch.
pub fn commit_all(
    ws: &Workspace,
    message: &str,
    allow_outside_worktree: bool,
) -> Result<Option<String>, WorkspaceError> {
    match &ws.worktree {
        None if !allow_outside_worktree => {
            return Err(WorkspaceError::CommitOutsideWorktree { root: ws.root.clone() });
        }
        None => {}
        Some(wt) => on_branch(&ws.root, wt)?,
    }
    checked(&ws.root, &["add", "-A"])?;
    let staged = run_git(&ws.root, &["diff", "--cached", "--quiet"])?;
    match staged.status.code() {
        Some(0) => return Ok(None),
        Some(1) => {}
        _ => return Err(git_error(&ws.root, &["diff", "--cached", "--quiet"], &staged)),
    }
    let name = format!("user.name={COMMIT_NAME}");
    let email = format!("user.email={COMMIT_EMAIL}");
    let args = [
        "-c",
        &name,
        "-c",
        &email,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "--no-verify",
        "--allow-empty-message",
        "-m",
        message,
    ];
    let mut command = git_command(&ws.root);
    for var in GIT_IDENTITY_VARS {
        command.env_remove(var);
    }
    let out = command.args(args).output().map_err(WorkspaceError::Spawn)?;
    if !out.status.success() {
        return Err(git_error(&ws.root, &args, &out));
    }
    head(&ws.root).map(Some)
}

/// ooo's commit message for execution `execution_id`: `subject` (it may have a body), a
/// blank line, then the trailers naming the execution and each criterion whose accepted
/// work the commit holds (0-based here, written 1-based; none for the final commit).
pub fn commit_message(subject: &str, execution_id: &str, criteria: &[usize]) -> String {
    let mut message = format!("{}\n\n{EXECUTION_TRAILER}: {execution_id}\n", subject.trim());
    for i in criteria {
        message.push_str(&format!("{CRITERION_TRAILER}: {}\n", i + 1));
    }
    message
}

/// A commit ooo made for an execution, as its trailers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionCommit {
    pub sha: String,
    /// The criteria (0-based) whose work it holds; none for the final commit.
    pub criteria: Vec<usize>,
}

/// ooo's commits for execution `execution_id` between the base commit and `HEAD`, oldest
/// first: those whose message ends with its `Ooo-Execution` trailer ([`commit_message`]).
pub fn execution_commits(
    ws: &Workspace,
    execution_id: &str,
) -> Result<Vec<ExecutionCommit>, WorkspaceError> {
    let range = format!("{}..HEAD", ws.base_commit);
    let out = checked(&ws.root, &["log", "--reverse", "-z", "--format=%H%n%B", &range, "--"])?;
    let text = stdout_of(&out);
    let found = text.split('\0').filter_map(|entry| {
        let (sha, body) = entry.trim_start_matches('\n').split_once('\n')?;
        let trailers = trailers(body);
        let ours = trailers.iter().any(|(k, v)| *k == EXECUTION_TRAILER && *v == execution_id);
        ours.then(|| ExecutionCommit {
            sha: sha.to_owned(),
            criteria: trailers
                .iter()
                .filter(|(k, _)| *k == CRITERION_TRAILER)
                .filter_map(|(_, v)| v.parse::<usize>().ok()?.checked_sub(1))
                .collect(),
        })
    });
    Ok(found.collect())
}

/// The `Key: value` lines of a message's last paragraph (its trailers), if every line
/// of that paragraph is one and it is not the subject's.
fn trailers(body: &str) -> Vec<(&str, &str)> {
    let Some((_, last)) = body.trim_end().rsplit_once("\n\n") else { return Vec::new() };
    let parsed: Vec<(&str, &str)> = last
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| !k.is_empty() && !k.contains(' '))
        .collect();
    if parsed.len() == last.lines().count() { parsed } else { Vec::new() }
}

/// The worktree is still on the execution's branch (a worker may have switched it).
fn on_branch(root: &Path, wt: &Worktree) -> Result<(), WorkspaceError> {
    let found = current_branch(root)?;
    if found.as_deref() == Some(wt.branch.as_str()) {
        return Ok(());
    }
    Err(WorkspaceError::WrongBranch { path: wt.path.clone(), expected: wt.branch.clone(), found })
}

/// The paths changed since the base commit, relative to the workspace's top level,
/// sorted: tracked files added, modified or deleted (committed or not) and new files that
/// `.gitignore` does not ignore. In a run in the repository itself this includes the
/// user's own uncommitted changes made before the run.
pub fn changed_files(ws: &Workspace) -> Result<Vec<String>, WorkspaceError> {
    let diff = checked(
        &ws.root,
        &["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", &ws.base_commit, "--"],
    )?;
    let new = checked(&ws.root, &["ls-files", "--others", "--exclude-standard", "-z"])?;
    let mut paths = BTreeSet::new();
    for out in [&diff, &new] {
        paths.extend(stdout_of(out).split('\0').filter(|p| !p.is_empty()).map(String::from));
    }
    Ok(paths.into_iter().collect())
}

/// Whether the work tree at `dir` has uncommitted changes or new files not ignored.
pub fn is_dirty(dir: &Path) -> Result<bool, WorkspaceError> {
    let out = checked(dir, &["status", "--porcelain=v1", "-z", "--untracked-files=normal"])?;
    Ok(!out.stdout.is_empty())
}

// ---------------------------------------------------------------------------------------
// Garbage collection.

/// What `ooo run gc` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcPolicy {
    /// At most this many finished worktrees are kept (the most recent ones).
    pub keep: usize,
    /// A finished worktree older than this is removed (its branch is kept unless it was
    /// merged). `None`: no age limit.
    pub max_age: Option<Duration>,
}

impl Default for GcPolicy {
    fn default() -> Self {
        Self { keep: 20, max_age: Some(Duration::from_secs(14 * 24 * 3600)) }
    }
}

/// Why a worktree is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GcReason {
    /// Its branch is in the default branch and its work tree is clean: nothing is lost;
    /// the worktree and the branch go.
    Merged,
    /// Older than [`GcPolicy::max_age`]: the worktree goes (uncommitted changes in it
    /// too), the branch and its commits stay.
    Expired,
    /// Beyond [`GcPolicy::keep`]: the oldest finished worktrees go with their branches.
    OverCap,
}

impl GcReason {
    /// Whether the branch is deleted too (`git branch -D`).
    pub fn deletes_branch(self) -> bool {
        matches!(self, GcReason::Merged | GcReason::OverCap)
    }
}

/// One worktree collected (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcAction {
    pub id: String,
    pub path: PathBuf,
    pub branch: String,
    pub reason: GcReason,
    /// The worktree was removed (always false in a dry run).
    pub removed: bool,
    /// The branch was (or, in a dry run, would be) deleted.
    pub branch_deleted: bool,
    /// Why the removal failed, when it did (the other worktrees are still collected).
    pub error: Option<String>,
}

/// A worktree of an execution, as `git worktree list` shows it.
struct Candidate {
    id: String,
    path: PathBuf,
    branch: String,
    made: SystemTime,
}

/// Collect the finished worktrees of the repository holding `repo` that live under
/// `worktrees_dir` on `ooo/run-<id>` branches. Live executions (`is_live(id)`) are never
/// touched and not reported. A finished one is removed when its branch is merged into the
/// default branch (the main work tree's `HEAD`) and its work tree is clean, or when it is
/// older than `policy.max_age` (made when its `.git` file was written); then, of those
/// left, all but the `policy.keep` most recent are removed. `git worktree prune` ends a
/// real run. With `dry_run` nothing is removed and the same actions are reported.
pub fn gc(
    repo: &Path,
    worktrees_dir: &Path,
    policy: &GcPolicy,
    is_live: &dyn Fn(&str) -> bool,
    dry_run: bool,
) -> Result<Vec<GcAction>, WorkspaceError> {
    let top = toplevel(repo)?;
    let (main, mut candidates) = list_worktrees(&top, worktrees_dir)?;
    candidates.retain(|c| !is_live(&c.id));
    candidates.sort_by(|a, b| b.made.cmp(&a.made).then_with(|| a.id.cmp(&b.id)));
    let default_head = head(&main)?;
    let now = SystemTime::now();
    let mut planned = Vec::new();
    let mut kept = 0usize;
    for c in candidates {
        let reason = if is_merged(&main, &c, &default_head)? {
            Some(GcReason::Merged)
        } else if policy
            .max_age
            .is_some_and(|max| now.duration_since(c.made).unwrap_or_default() > max)
        {
            Some(GcReason::Expired)
        } else if kept >= policy.keep {
            Some(GcReason::OverCap)
        } else {
            kept += 1;
            None
        };
        if let Some(reason) = reason {
            planned.push((c, reason));
        }
    }
    let actions =
        planned.into_iter().map(|(c, reason)| collect(&main, c, reason, dry_run)).collect();
    if !dry_run {
        checked(&main, &["worktree", "prune"])?;
    }
    Ok(actions)
}

/// The main work tree and the execution worktrees under `worktrees_dir`.
fn list_worktrees(
    top: &Path,
    worktrees_dir: &Path,
) -> Result<(PathBuf, Vec<Candidate>), WorkspaceError> {
    let out = checked(top, &["worktree", "list", "--porcelain", "-z"])?;
    let text = stdout_of(&out);
    let dir = absolute(worktrees_dir)?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let mut main = None;
    let mut candidates = Vec::new();
    for record in text.split("\0\0").filter(|r| !r.is_empty()) {
        let mut path = None;
        let mut branch = None;
        for field in record.split('\0') {
            if let Some(p) = field.strip_prefix("worktree ") {
                path = Some(PathBuf::from(p));
            } else if let Some(b) = field.strip_prefix("branch refs/heads/") {
                branch = Some(b.to_owned());
            }
        }
        let Some(path) = path else { continue };
        if main.is_none() {
            main = Some(path);
            continue;
        }
        if let Some(c) = candidate(&dir, path, branch) {
            candidates.push(c);
        }
    }
    let main = main.unwrap_or_else(|| top.to_owned());
    Ok((main, candidates))
}

/// An execution's worktree: on `ooo/run-<id>`, inside `dir`, still on disk.
fn candidate(dir: &Path, path: PathBuf, branch: Option<String>) -> Option<Candidate> {
    let branch = branch?;
    let id = branch.strip_prefix(BRANCH_PREFIX)?.to_owned();
    check_id(&id).ok()?;
    let real = std::fs::canonicalize(&path).ok()?;
    if !real.starts_with(dir) || real == dir {
        return None;
    }
    let made = std::fs::symlink_metadata(real.join(".git")).and_then(|m| m.modified()).ok()?;
    Some(Candidate { id, path: real, branch, made })
}

/// The branch is in the default branch and the worktree holds nothing uncommitted.
fn is_merged(main: &Path, c: &Candidate, default_head: &str) -> Result<bool, WorkspaceError> {
    let refname = format!("refs/heads/{}", c.branch);
    let out = run_git(main, &["merge-base", "--is-ancestor", &refname, default_head])?;
    match out.status.code() {
        Some(0) => Ok(!is_dirty(&c.path)?),
        Some(1) => Ok(false),
        _ => Err(git_error(main, &["merge-base", "--is-ancestor", &refname, default_head], &out)),
    }
}

/// Remove one worktree (and its branch when the reason says so), or only report it.
fn collect(main: &Path, c: Candidate, reason: GcReason, dry_run: bool) -> GcAction {
    let mut action = GcAction {
        id: c.id,
        path: c.path,
        branch: c.branch,
        reason,
        removed: false,
        branch_deleted: reason.deletes_branch(),
        error: None,
    };
    if dry_run {
        return action;
    }
    let path = action.path.to_string_lossy().into_owned();
    match checked(main, &["worktree", "remove", "--force", &path]) {
        Ok(_) => action.removed = true,
        Err(e) => {
            action.branch_deleted = false;
            action.error = Some(e.to_string());
            return action;
        }
    }
    if action.branch_deleted
        && let Err(e) = checked(main, &["branch", "-D", "-q", &action.branch])
    {
        action.branch_deleted = false;
        action.error = Some(e.to_string());
    }
    action
}

// ---------------------------------------------------------------------------------------
// Running git.

fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    // Nothing a worker may have written into the repository's configuration runs here,
    // outside the sandbox: no file-system monitor, no hooks.
    command.arg("-C").arg(dir).args([
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
    ]);
    command.stdin(Stdio::null());
    for var in GIT_LOCATION_VARS {
        command.env_remove(var);
    }
    command.env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C");
    command
}

fn run_git(dir: &Path, args: &[&str]) -> Result<Output, WorkspaceError> {
    git_command(dir).args(args).output().map_err(WorkspaceError::Spawn)
}

/// Run git and require success.
fn checked(dir: &Path, args: &[&str]) -> Result<Output, WorkspaceError> {
    let out = run_git(dir, args)?;
    if out.status.success() { Ok(out) } else { Err(git_error(dir, args, &out)) }
}

/// `git worktree add -q -b <branch> <path> <commit>` (the path need not be UTF-8).
fn add_worktree(top: &Path, branch: &str, path: &Path, commit: &str) -> Result<(), WorkspaceError> {
    let out = git_command(top)
        .args(["worktree", "add", "-q", "-b", branch])
        .arg(path)
        .arg(commit)
        .output()
        .map_err(WorkspaceError::Spawn)?;
    if out.status.success() {
        return Ok(());
    }
    let shown = path.display().to_string();
    Err(git_error(top, &["worktree", "add", "-q", "-b", branch, &shown, commit], &out))
}

fn git_error(dir: &Path, args: &[&str], out: &Output) -> WorkspaceError {
    WorkspaceError::Git { dir: dir.to_owned(), args: args.join(" "), stderr: stderr_of(out) }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let text = text.trim();
    if text.is_empty() { format!("git exited with {}", out.status) } else { text.to_owned() }
}

fn canonical(path: &Path) -> Result<PathBuf, WorkspaceError> {
    std::fs::canonicalize(path)
        .map_err(|source| WorkspaceError::Io { path: path.to_owned(), source })
}

fn absolute(path: &Path) -> Result<PathBuf, WorkspaceError> {
    std::path::absolute(path).map_err(|source| WorkspaceError::Io { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_paths_skip_rename_sources() {
        let text = " M a.txt\0R  new.txt\0old.txt\0A  dir/b c\0";
        assert_eq!(porcelain_paths(text), ["a.txt", "new.txt", "dir/b c"]);
        assert!(porcelain_paths("").is_empty());
    }

    #[test]
    fn ids_name_a_branch_and_a_directory() {
        for ok in ["01JABC", "exec_1-x"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a/b", "..", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(branch_name("x1"), "ooo/run-x1");
    }

    #[test]
    fn trailers_are_the_last_paragraph_when_every_line_is_one() {
        let message = commit_message("ooo run x: criterion 2: do: it\n", "x", &[1]);
        assert_eq!(
            message,
            "ooo run x: criterion 2: do: it\n\nOoo-Execution: x\nOoo-Criterion: 2\n"
        );
        assert_eq!(trailers(&message), [("Ooo-Execution", "x"), ("Ooo-Criterion", "2")]);
        let level = commit_message("ooo run x: criteria 1, 3\n\n1. a: b\n3. c", "x", &[0, 2]);
        assert_eq!(
            trailers(&level),
            [("Ooo-Execution", "x"), ("Ooo-Criterion", "1"), ("Ooo-Criterion", "3")]
        );
        assert!(trailers("subject: only\n").is_empty());
        assert!(trailers("s\n\nOoo-Execution: x\nnot a trailer\n").is_empty());
    }
}
