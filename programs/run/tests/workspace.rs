//! Workspaces with real git on temporary repositories: in place and as a worktree, the
//! refusals (dirty repository, no commit, no repository), commits only in worktrees,
//! changed files, reopening for resume, and worktree garbage collection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

mod support;
use support::git;

use ooo_run::workspace::{
    self, GcAction, GcPolicy, GcReason, Workspace, WorkspaceError, Worktree, changed_files,
    commit_all, gc, prepare, reopen,
};

/// A repository in `root/repo` with two committed files; worktrees go to `root/wt`.
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let repo = root.join("repo");
        std::fs::create_dir_all(repo.join("src")).unwrap();
        let r = Repo { _dir: dir, root, repo };
        r.write("src/a.txt", "a\n");
        r.write(".gitignore", "target/\n");
        git(&r.repo, &["init", "-q"]);
        git(&r.repo, &["add", "-A"]);
        git(&r.repo, &["commit", "-q", "-m", "base"]);
        r
    }

    fn wt_dir(&self) -> PathBuf {
        self.root.join("wt")
    }

    fn write(&self, path: &str, content: &str) {
        write(&self.repo, path, content);
    }

    fn worktree(&self, id: &str) -> Workspace {
        match prepare(&self.repo, id, true, &self.wt_dir()) {
            Ok(ws) => ws,
            Err(e) => panic!("{e} ({})", e.hint()),
        }
    }
}

fn write(dir: &Path, path: &str, content: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

fn branch_exists(repo: &Path, branch: &str) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn in_place_uses_the_top_level_and_head_even_with_uncommitted_changes() {
    let r = Repo::new();
    r.write("src/a.txt", "changed\n");
    let ws = prepare(&r.repo.join("src"), "e1", false, &r.wt_dir()).unwrap();
    assert_eq!(ws.root, r.repo);
    assert_eq!(ws.base_commit, git(&r.repo, &["rev-parse", "HEAD"]));
    assert_eq!(ws.worktree, None);
    assert!(!r.wt_dir().exists(), "no worktree directory is made");
}

#[test]
fn a_worktree_is_made_on_its_branch_at_head() {
    let r = Repo::new();
    r.write("untracked.txt", "not tracked: allowed\n");
    let ws = r.worktree("e1");
    let wt = ws.worktree.clone().unwrap();
    assert_eq!(wt.branch, "ooo/run-e1");
    assert_eq!(wt.path, r.wt_dir().join("e1"));
    assert_eq!(ws.root, wt.path);
    assert_eq!(ws.base_commit, git(&r.repo, &["rev-parse", "HEAD"]));
    assert_eq!(git(&ws.root, &["rev-parse", "--abbrev-ref", "HEAD"]), "ooo/run-e1");
    assert_eq!(std::fs::read_to_string(ws.root.join("src/a.txt")).unwrap(), "a\n");
    let again = prepare(&r.repo, "e1", true, &r.wt_dir()).unwrap_err();
    assert!(matches!(again, WorkspaceError::WorktreeExists { .. }), "{again}");
    let bad = prepare(&r.repo, "../x", true, &r.wt_dir()).unwrap_err();
    assert!(matches!(bad, WorkspaceError::InvalidId { .. }), "{bad}");
}

#[test]
fn a_dirty_repository_is_refused_for_a_worktree_with_the_paths_listed() {
    let r = Repo::new();
    for i in 0..12 {
        r.write(&format!("f{i:02}.txt"), "x");
    }
    git(&r.repo, &["add", "-A"]);
    git(&r.repo, &["commit", "-q", "-m", "more"]);
    for i in 0..12 {
        r.write(&format!("f{i:02}.txt"), "changed");
    }
    r.write("src/a.txt", "staged\n");
    git(&r.repo, &["add", "src/a.txt"]);
    let err = prepare(&r.repo, "e1", true, &r.wt_dir()).unwrap_err();
    let WorkspaceError::Dirty { paths, more, .. } = &err else { panic!("{err}") };
    assert_eq!(paths.len(), 10);
    assert_eq!(*more, 3);
    assert_eq!(paths[0], "f00.txt");
    let text = err.to_string();
    assert!(text.contains("uncommitted changes") && text.contains("f00.txt, f01.txt"), "{text}");
    assert!(text.contains("(and 3 more)"), "{text}");
    assert!(err.hint().contains("commit") && err.hint().contains("git stash"), "{}", err.hint());
    assert!(!r.wt_dir().join("e1").exists());
    assert!(!branch_exists(&r.repo, "ooo/run-e1"));
}

#[test]
fn a_repository_without_commits_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let err = prepare(dir.path(), "e1", false, &dir.path().join("wt")).unwrap_err();
    assert!(matches!(err, WorkspaceError::NoCommits { .. }), "{err}");
    assert!(err.to_string().contains("has no commit yet"), "{err}");
    assert!(err.hint().contains("git -C") && err.hint().contains("commit"), "{}", err.hint());
}

#[test]
fn a_directory_that_is_not_a_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = prepare(dir.path(), "e1", true, &dir.path().join("wt")).unwrap_err();
    assert!(matches!(err, WorkspaceError::NotARepository { .. }), "{err}");
    assert!(err.to_string().contains("is not inside a git work tree"), "{err}");
    assert!(err.hint().contains("git -C") && err.hint().contains("init"), "{}", err.hint());
    let missing = prepare(&dir.path().join("nope"), "e1", false, dir.path()).unwrap_err();
    assert!(matches!(missing, WorkspaceError::NotARepository { .. }), "{missing}");
}

#[test]
fn commits_happen_in_worktrees_as_ooo() {
    let r = Repo::new();
    let ws = r.worktree("e1");
    assert_eq!(commit_all(&ws, "nothing yet", false).unwrap(), None);
    write(&ws.root, "src/new.txt", "new\n");
    write(&ws.root, "target/out.bin", "ignored\n");
    let sha = commit_all(&ws, "ooo: criterion 1", false).unwrap().expect("a commit");
    assert_eq!(sha, git(&ws.root, &["rev-parse", "HEAD"]));
    assert_eq!(
        git(&ws.root, &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s"]),
        "ooo <ooo@localhost>|ooo <ooo@localhost>|ooo: criterion 1"
    );
    let files = git(&ws.root, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files, "src/new.txt", "ignored files are not committed");
    assert_eq!(
        git(&r.repo, &["rev-parse", "HEAD"]),
        ws.base_commit,
        "the user's branch did not move"
    );
    assert_eq!(commit_all(&ws, "again", false).unwrap(), None);
    assert!(
        git(&r.repo, &["config", "--list", "--local"]).lines().all(|l| !l.starts_with("user."))
    );
    git(&ws.root, &["switch", "-q", "-c", "elsewhere"]);
    write(&ws.root, "src/more.txt", "more\n");
    let err = commit_all(&ws, "m", false).unwrap_err();
    assert!(matches!(err, WorkspaceError::WrongBranch { .. }), "{err}");
}

#[test]
fn commits_outside_a_worktree_are_refused_unless_allowed() {
    let r = Repo::new();
    let ws = prepare(&r.repo, "e1", false, &r.wt_dir()).unwrap();
    r.write("src/a.txt", "changed\n");
    let err = commit_all(&ws, "m", false).unwrap_err();
    assert!(matches!(err, WorkspaceError::CommitOutsideWorktree { .. }), "{err}");
    assert!(err.hint().contains("--worktree"), "{}", err.hint());
    assert_eq!(git(&r.repo, &["status", "--porcelain"]), "M src/a.txt", "nothing was staged");
    let sha = commit_all(&ws, "allowed", true).unwrap().expect("a commit");
    assert_eq!(sha, git(&r.repo, &["rev-parse", "HEAD"]));
}

#[test]
fn changed_files_see_modified_deleted_and_new_files_but_not_ignored_ones() {
    let r = Repo::new();
    let ws = r.worktree("e1");
    write(&ws.root, "src/a.txt", "modified\n");
    write(&ws.root, "src/b.txt", "new\n");
    write(&ws.root, "target/x", "ignored\n");
    write(&ws.root, "c.txt", "committed on the branch\n");
    git(&ws.root, &["add", "c.txt"]);
    git(&ws.root, &["commit", "-q", "-m", "c"]);
    assert_eq!(changed_files(&ws).unwrap(), ["c.txt", "src/a.txt", "src/b.txt"]);
    std::fs::remove_file(ws.root.join("src/a.txt")).unwrap();
    assert_eq!(changed_files(&ws).unwrap(), ["c.txt", "src/a.txt", "src/b.txt"]);
    let in_place = prepare(&r.repo, "e2", false, &r.wt_dir()).unwrap();
    assert!(changed_files(&in_place).unwrap().is_empty());
}

#[test]
fn reopen_checks_the_worktree_its_branch_and_the_base() {
    let r = Repo::new();
    let ws = r.worktree("e1");
    let wt = ws.worktree.clone().unwrap();
    assert_eq!(reopen(&r.repo, Some(&wt), &ws.base_commit).unwrap(), ws);
    let in_place = reopen(&r.repo, None, &ws.base_commit).unwrap();
    assert_eq!((in_place.root, in_place.worktree), (r.repo.clone(), None));

    let missing_base = reopen(&r.repo, Some(&wt), &"0".repeat(40)).unwrap_err();
    assert!(matches!(missing_base, WorkspaceError::BaseMissing { .. }), "{missing_base}");

    git(&ws.root, &["switch", "-q", "-c", "other"]);
    let wrong = reopen(&r.repo, Some(&wt), &ws.base_commit).unwrap_err();
    let WorkspaceError::WrongBranch { found, .. } = &wrong else { panic!("{wrong}") };
    assert_eq!(found.as_deref(), Some("other"));
    assert!(wrong.hint().contains("switch ooo/run-e1"), "{}", wrong.hint());

    let gone = Worktree { path: r.wt_dir().join("nope"), branch: "ooo/run-nope".into() };
    let err = reopen(&r.repo, Some(&gone), &ws.base_commit).unwrap_err();
    assert!(matches!(err, WorkspaceError::WorktreeMissing { .. }), "{err}");
}

/// Set the time a worktree was made (its `.git` file's mtime).
fn age(ws: &Workspace, by: Duration) {
    let file = std::fs::File::options().write(true).open(ws.root.join(".git")).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

/// A worktree with a commit of its own on its branch (not merged), made `ago`.
fn unmerged(r: &Repo, id: &str, ago: Duration) -> Workspace {
    let ws = r.worktree(id);
    write(&ws.root, &format!("{id}.txt"), id);
    commit_all(&ws, id, false).unwrap().unwrap();
    age(&ws, ago);
    ws
}

fn ids(actions: &[GcAction]) -> Vec<(&str, GcReason)> {
    actions.iter().map(|a| (a.id.as_str(), a.reason)).collect()
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn gc_removes_merged_and_expired_skips_live_and_dry_run_removes_nothing() {
    let r = Repo::new();
    let merged = r.worktree("merged");
    let _ = unmerged(&r, "fresh", HOUR);
    let expired = unmerged(&r, "old", 30 * 24 * HOUR);
    let _ = unmerged(&r, "live", 40 * 24 * HOUR);
    let dirty = r.worktree("dirty");
    write(&dirty.root, "work.txt", "uncommitted work");
    let policy = GcPolicy::default();
    let is_live = |id: &str| id == "live";

    let planned = gc(&r.repo, &r.wt_dir(), &policy, &is_live, true).unwrap();
    assert_eq!(ids(&planned), [("merged", GcReason::Merged), ("old", GcReason::Expired)]);
    assert!(planned.iter().all(|a| !a.removed));
    assert!(planned[0].branch_deleted);
    assert!(!planned[1].branch_deleted, "an expired branch keeps its commits");
    assert!(merged.root.exists() && expired.root.exists(), "a dry run removes nothing");

    let done = gc(&r.repo, &r.wt_dir(), &policy, &is_live, false).unwrap();
    assert_eq!(ids(&done), ids(&planned));
    assert!(done.iter().all(|a| a.removed && a.error.is_none()), "{done:#?}");
    assert!(!merged.root.exists() && !expired.root.exists());
    assert!(!branch_exists(&r.repo, "ooo/run-merged"));
    assert!(branch_exists(&r.repo, "ooo/run-old"), "the expired run's commits are kept");
    for kept in ["fresh", "live", "dirty"] {
        assert!(r.wt_dir().join(kept).exists(), "{kept} is kept");
    }
    assert_eq!(std::fs::read_to_string(dirty.root.join("work.txt")).unwrap(), "uncommitted work");
    let listed = git(&r.repo, &["worktree", "list", "--porcelain"]);
    assert!(!listed.contains("ooo/run-merged") && !listed.contains("ooo/run-old"), "{listed}");
    assert!(gc(&r.repo, &r.wt_dir(), &policy, &is_live, false).unwrap().is_empty());
}

#[test]
fn gc_enforces_the_cap_on_the_oldest_finished_worktrees() {
    let r = Repo::new();
    for (i, id) in ["w1", "w2", "w3", "w4", "w5"].into_iter().enumerate() {
        let _ = unmerged(&r, id, HOUR * (10 - i as u32));
    }
    let policy = GcPolicy { keep: 2, max_age: None };
    let is_live = |id: &str| id == "w1";
    let planned = gc(&r.repo, &r.wt_dir(), &policy, &is_live, true).unwrap();
    assert_eq!(ids(&planned), [("w3", GcReason::OverCap), ("w2", GcReason::OverCap)]);
    assert!(planned.iter().all(|a| a.branch_deleted && !a.removed));
    let done = gc(&r.repo, &r.wt_dir(), &policy, &is_live, false).unwrap();
    assert_eq!(ids(&done), ids(&planned));
    assert!(done.iter().all(|a| a.removed && a.branch_deleted), "{done:#?}");
    for (id, kept) in [("w1", true), ("w2", false), ("w3", false), ("w4", true), ("w5", true)] {
        assert_eq!(r.wt_dir().join(id).exists(), kept, "{id}");
        assert_eq!(branch_exists(&r.repo, &workspace::branch_name(id)), kept, "{id}");
    }
}

#[test]
fn gc_ignores_worktrees_that_are_not_ooo_runs() {
    let r = Repo::new();
    git(
        &r.repo,
        &["worktree", "add", "-q", "-b", "feature", r.wt_dir().join("mine").to_str().unwrap()],
    );
    let outside = r.root.join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let ws = prepare(&r.repo, "e1", true, &outside).unwrap();
    let actions =
        gc(&r.repo, &r.wt_dir(), &GcPolicy { keep: 0, max_age: None }, &|_| false, false).unwrap();
    assert!(actions.is_empty(), "{actions:#?}");
    assert!(r.wt_dir().join("mine").exists() && ws.root.exists());
}
