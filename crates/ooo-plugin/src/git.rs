//! Fetching plugin sources with the system `git`: shallow clones pinned to the resolved
//! commit. Nothing from the repository is executed: no hooks are cloned, LFS smudging is
//! off, and git never prompts (a private repository fails instead of hanging). Also the
//! few questions asked of a local work tree: its top level and the files it holds.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git is not installed or cannot run: {0}")]
    Missing(std::io::Error),
    #[error("git {step} failed for {url}: {stderr}")]
    Failed { step: &'static str, url: String, stderr: String },
}

/// A checked-out source tree and the commit it is at.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    pub sha: String,
}

fn git(
    args: &[&str],
    cwd: Option<&Path>,
    show_progress: bool,
) -> Result<std::process::Output, GitError> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if show_progress { Stdio::inherit() } else { Stdio::piped() });
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.output().map_err(GitError::Missing)
}

fn run(
    step: &'static str,
    url: &str,
    args: &[&str],
    cwd: Option<&Path>,
    show_progress: bool,
) -> Result<String, GitError> {
    let out = git(args, cwd, show_progress)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        let stderr =
            String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("").to_owned();
        Err(GitError::Failed { step, url: url.to_owned(), stderr })
    }
}

fn looks_like_commit(reference: &str) -> bool {
    (7..=40).contains(&reference.len()) && reference.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Clone `url` into `dest` (which must not exist), at `reference` (tag, branch or
/// commit) or the default branch. `show_progress` lets git draw its progress on stderr.
pub fn clone(
    url: &str,
    reference: Option<&str>,
    dest: &Path,
    show_progress: bool,
) -> Result<Checkout, GitError> {
    let dest_text = dest.to_string_lossy();
    let quiet = if show_progress { "--progress" } else { "--quiet" };
    match reference {
        Some(r) if looks_like_commit(r) => {
            run("init", url, &["init", "--quiet", &dest_text], None, false)?;
            run("remote add", url, &["remote", "add", "origin", url], Some(dest), false)?;
            // A shallow fetch of one commit needs server support; fall back to a full fetch.
            if run(
                "fetch",
                url,
                &["fetch", "--depth", "1", quiet, "origin", r],
                Some(dest),
                show_progress,
            )
            .is_err()
            {
                run("fetch", url, &["fetch", quiet, "origin"], Some(dest), show_progress)?;
            }
            let target = if run(
                "rev-parse",
                url,
                &["rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"],
                Some(dest),
                false,
            )
            .is_ok_and(|sha| sha.starts_with(r))
            {
                "FETCH_HEAD".to_owned()
            } else {
                r.to_owned()
            };
            run(
                "checkout",
                url,
                &["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", &target],
                Some(dest),
                false,
            )?;
        }
        Some(r) => {
            run(
                "clone",
                url,
                &[
                    "clone",
                    "--depth",
                    "1",
                    "--no-tags",
                    quiet,
                    "--branch",
                    r,
                    "--",
                    url,
                    &dest_text,
                ],
                None,
                show_progress,
            )?;
        }
        None => {
            run(
                "clone",
                url,
                &["clone", "--depth", "1", "--no-tags", quiet, "--", url, &dest_text],
                None,
                show_progress,
            )?;
        }
    }
    let sha = run("rev-parse", url, &["rev-parse", "HEAD"], Some(dest), false)?;
    if let Some(r) = reference.filter(|r| looks_like_commit(r))
        && !sha.starts_with(&r.to_ascii_lowercase())
    {
        return Err(GitError::Failed {
            step: "checkout",
            url: url.to_owned(),
            stderr: format!("{r} is not a commit of this repository"),
        });
    }
    Ok(Checkout { dir: dest.to_owned(), sha })
}

/// The top directory of the git work tree `dir` is in, if it is in one.
pub fn toplevel(dir: &Path) -> Option<PathBuf> {
    let text = dir.to_string_lossy();
    run("rev-parse", &text, &["rev-parse", "--show-toplevel"], Some(dir), false)
        .ok()
        .filter(|top| !top.is_empty())
        .map(PathBuf::from)
}

/// The files of the work tree at `top` that git would see: tracked and untracked ones,
/// without those `.gitignore` excludes (build output, caches), relative to `top`.
pub fn work_tree_files(top: &Path) -> Result<Vec<PathBuf>, GitError> {
    let text = top.to_string_lossy();
    let out =
        git(&["ls-files", "-z", "--cached", "--others", "--exclude-standard"], Some(top), false)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            step: "ls-files",
            url: text.into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let mut files: Vec<PathBuf> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}
