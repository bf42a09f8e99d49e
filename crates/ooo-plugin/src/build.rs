//! A plugin's build step (`x-ouroboros.build`), run by install and update before the
//! new tree is judged: compiled plugins install from their source with one command.
//!
//! The build runs on a copy of the source (the repository checkout, or for a local
//! directory the git work tree it is in, as git sees it: ignored files such as `target/`
//! stay behind), in the plugin's directory of that copy, in the sandbox: it reads the
//! system, its copy, the directories on `PATH` and the toolchain homes of
//! [`TOOLCHAIN_HOMES`]; it writes only its own build directory (its copy, a private
//! `HOME` and `TMPDIR`); it reaches only the hosts it declares, through ooo's proxy
//! (`ooo-sandbox`), and no network when it declares none. Its environment
//! is an allowlist: no secret of the caller reaches it. Then each declared output is
//! copied into the staging tree, never through a link, and hashed.
//!
//! What is not here: deciding to build (the manager), the digests (`digest`), and the
//! check that the entrypoint can start (`runnable`).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::firewall::launch::{LaunchSpec, launch_in_background};
use crate::git;
use crate::manifest::{Build, rules};
use crate::sandbox::{self, Policy};
use crate::tree;

/// How long a build may take when the manifest says nothing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Caller variables a build gets as they are (besides `LC_*`).
const PASSED: &[&str] = &[
    "PATH",
    "USER",
    "LOGNAME",
    "LANG",
    "TERM",
    "TZ",
    "NO_COLOR",
    "RUSTUP_TOOLCHAIN",
    "CARGO_NET_OFFLINE",
];

/// Where toolchains keep their programs and package caches: `(variable, default under
/// HOME)`. Each one that exists is passed as an absolute path (the build's `HOME` is a
/// private one) and is readable, never writable.
pub const TOOLCHAIN_HOMES: &[(&str, Option<&str>)] = &[
    ("CARGO_HOME", Some(".cargo")),
    ("RUSTUP_HOME", Some(".rustup")),
    ("GOROOT", None),
    ("GOPATH", Some("go")),
    ("GOMODCACHE", None),
];

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the source of {name}'s build cannot be prepared from {}: {source}", root.display())]
    Prepare { name: String, root: PathBuf, source: io::Error },
    #[error("{name} is at {}, outside the source root {}", plugin.display(), root.display())]
    OutsideRoot { name: String, plugin: PathBuf, root: PathBuf },
    #[error("the sandbox for {name}'s build cannot be set up: {source}")]
    Sandbox { name: String, source: sandbox::SandboxError },
    #[error("{name}'s build `{command}` {ended}{}", tail_text(tail))]
    Failed { name: String, command: String, ended: String, tail: Vec<String> },
    #[error("{name}'s build `{command}` did not leave its output {output}: {detail}")]
    Output { name: String, command: String, output: String, detail: String },
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = tail.iter().map(|l| format!("\n  | {l}")).collect();
    format!("; its last lines:{}", lines.concat())
}

/// One built file, as installed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BuiltOutput {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// What a build did, for the install report, the ledger and `inspect`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Built {
    pub command: String,
    /// Hosts it could reach (their ports); empty: none.
    pub network: Vec<String>,
    pub outputs: Vec<BuiltOutput>,
    pub duration_ms: u64,
    /// `full`, `partial: ...` or `unavailable`.
    pub sandbox: String,
}

/// Where one build happens: `work` (created here, removed by the caller) holds the copy
/// of the source, the private home and the temporary directory.
pub struct Job<'a> {
    pub name: &'a str,
    pub spec: &'a Build,
    /// The directory the source was fetched into (checkout or local directory).
    pub source_root: &'a Path,
    /// The plugin's directory inside it.
    pub plugin_dir: &'a Path,
    pub work: &'a Path,
    /// `config.toml`'s sandbox mode (fail closed unless `allow-partial`).
    pub sandbox_mode: sandbox::Mode,
    /// Show the build's output on a terminal (else it is kept for an error message).
    pub show_output: bool,
}

impl Job<'_> {
    /// Build, and copy the outputs into `staging` (the plugin tree being installed).
    pub fn run(&self, staging: &Path) -> Result<Built, BuildError> {
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
        let plugin_dir = canonical(self.plugin_dir);
        let root = build_root(&canonical(self.source_root), &plugin_dir);
        let rel = plugin_dir.strip_prefix(&root).map_err(|_| BuildError::OutsideRoot {
            name: self.name.to_owned(),
            plugin: plugin_dir.clone(),
            root: root.clone(),
        })?;
        let copy = self.work.join("src");
        let (home, tmp) = (self.work.join("home"), self.work.join("tmp"));
        self.prepare(&root, &copy, &[&home, &tmp])?;
        let cwd = copy.join(rel);
        let words = rules::entrypoint_words(&self.spec.command).unwrap_or_default();
        let Some(first) = words.first() else {
            return Err(self.failed("could not start: the command is empty".into(), Vec::new()));
        };
        let program = if first.contains('/') && !first.starts_with('/') {
            cwd.join(first).into_os_string()
        } else {
            first.into()
        };
        let sandbox_err = |source| BuildError::Sandbox { name: self.name.to_owned(), source };
        let policy = Policy {
            read: readable_toolchain_dirs(),
            write: vec![self.work.to_owned()],
            write_beneath: Vec::new(),
            hide: Vec::new(),
            network: if self.spec.network.is_empty() {
                sandbox::Network::None
            } else {
                sandbox::network_for(&self.spec.network).map_err(sandbox_err)?
            },
        };
        let spec = LaunchSpec {
            program,
            args: words[1..].to_vec(),
            cwd: cwd.clone(),
            env: environment(&home, &tmp, &copy),
            timeout: self.spec.timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            grace: Duration::from_secs(5),
        };
        let sandbox = sandbox::Sandbox::new(self.sandbox_mode).map_err(sandbox_err)?;
        let level = sandbox.level();
        let confined =
            sandbox::confine(&sandbox, &policy, &spec, false, false).map_err(sandbox_err)?;
        let (done, kept) = launch_in_background(&spec, confined, None, self.show_output);
        if done.ended.exit_code() != 0 {
            return Err(self.failed(done.ended.to_string(), last_lines(&kept, 20)));
        }
        let outputs = self
            .spec
            .outputs
            .iter()
            .map(|output| {
                copy_output(&cwd, staging, output).map_err(|e| BuildError::Output {
                    name: self.name.to_owned(),
                    command: self.spec.command.clone(),
                    output: output.clone(),
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Built {
            command: self.spec.command.clone(),
            network: self.spec.network.clone(),
            outputs,
            duration_ms: done.duration.as_millis() as u64,
            sandbox: level.to_string(),
        })
    }

    /// The copy of the source and the private directories.
    fn prepare(&self, root: &Path, copy: &Path, dirs: &[&Path]) -> Result<(), BuildError> {
        let fail = |source| BuildError::Prepare {
            name: self.name.to_owned(),
            root: root.to_owned(),
            source,
        };
        let top = git::toplevel(root).and_then(|top| top.canonicalize().ok());
        match top.filter(|top| top == root) {
            Some(_) => {
                let files = git::work_tree_files(root).map_err(|e| fail(io::Error::other(e)))?;
                tree::copy_listed(root, &files, copy).map_err(fail)?;
            }
            None => tree::copy_tree(root, copy).map_err(fail)?,
        }
        for dir in dirs {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        Ok(())
    }

    fn failed(&self, ended: String, tail: Vec<String>) -> BuildError {
        BuildError::Failed {
            name: self.name.to_owned(),
            command: self.spec.command.clone(),
            ended,
            tail,
        }
    }
}

/// The directory whose copy the build sees: a local plugin inside a git work tree gets
/// the whole work tree (a workspace member needs its workspace), anything else the
/// directory it was fetched into.
fn build_root(source_root: &Path, plugin_dir: &Path) -> PathBuf {
    git::toplevel(plugin_dir)
        .and_then(|top| top.canonicalize().ok())
        .filter(|top| plugin_dir.starts_with(top))
        .unwrap_or_else(|| source_root.to_owned())
}

/// A toolchain home's directory: the variable's value, or its default under `HOME`.
fn toolchain_home(var: &str, default: Option<&str>) -> Option<PathBuf> {
    let path = match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => PathBuf::from(std::env::var_os("HOME")?).join(default?),
    };
    (path.is_absolute() && path.is_dir()).then_some(path)
}

/// What a build may read besides the system and its copy: the directories on `PATH`
/// (not `/` or `HOME` itself) and the toolchain homes.
fn readable_toolchain_dirs() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.is_absolute() && d != Path::new("/") && Some(d) != home.as_ref());
    let homes = TOOLCHAIN_HOMES.iter().filter_map(|(var, default)| toolchain_home(var, *default));
    on_path.chain(homes.flat_map(|home| without_credentials(&home))).collect()
}

/// Files in a toolchain home that hold the user's credentials (registry tokens).
const CREDENTIALS: &[&str] =
    &["credentials", "credentials.toml", ".npmrc", "auth.json", ".git-credentials"];

/// A toolchain home as what can be mounted: the home itself, or, when it holds a
/// credentials file, each of its entries but that file.
pub fn without_credentials(home: &Path) -> Vec<PathBuf> {
    if !CREDENTIALS.iter().any(|c| home.join(c).exists()) {
        return vec![home.to_owned()];
    }
    let Ok(entries) = fs::read_dir(home) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| !CREDENTIALS.iter().any(|c| e.file_name() == *c))
        .map(|e| e.path())
        .collect()
}

/// The build's environment: the allowlist, the toolchain homes as absolute paths, a
/// private `HOME` and `TMPDIR`, and `OUROBOROS_BUILD_ROOT` (the top of the copy).
fn environment(home: &Path, tmp: &Path, copy: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| PASSED.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect();
    for (var, default) in TOOLCHAIN_HOMES {
        if let Some(dir) = toolchain_home(var, *default) {
            env.push(((*var).to_owned(), dir.display().to_string()));
        }
    }
    env.push(("HOME".into(), home.display().to_string()));
    env.push(("TMPDIR".into(), tmp.display().to_string()));
    env.push(("OUROBOROS_BUILD_ROOT".into(), copy.display().to_string()));
    env
}

/// Copy one output from the build directory into the staging tree, hashing it. It must
/// be a regular file reached without a link, and it replaces whatever the source had
/// at that path.
fn copy_output(built: &Path, staging: &Path, output: &str) -> io::Result<BuiltOutput> {
    let from = tree::inside(built, output)?;
    let meta = fs::symlink_metadata(&from).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => io::Error::new(e.kind(), "there is no such file"),
        _ => e,
    })?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not a regular file (a link, a directory or a special file)",
        ));
    }
    let to = tree::inside(staging, output)?;
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
        // Created just now, or checked by `inside`: a real directory of the staging tree.
        tree::inside(staging, output)?;
    }
    match fs::symlink_metadata(&to) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&to)?,
        Ok(_) => fs::remove_file(&to)?,
        Err(_) => {}
    }
    fs::copy(&from, &to)?;
    let mut hasher = Sha256::new();
    let mut file = fs::File::open(&to)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(BuiltOutput { path: output.to_owned(), sha256: format!("sha256:{sha256}"), bytes })
}

/// The last `n` non-empty lines of `bytes` (lossy UTF-8, progress redraws cut at `\r`).
fn last_lines(bytes: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.rsplit('\r').next().unwrap_or(l).trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_skip_blank_and_redrawn_ones() {
        let out = b"a\n\nprogress 1\rprogress 2\nb\n";
        assert_eq!(last_lines(out, 2), ["progress 2", "b"]);
    }

    #[test]
    fn outputs_never_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let (built, staging) = (dir.path().join("built"), dir.path().join("staging"));
        fs::create_dir_all(built.join("bin")).unwrap();
        fs::create_dir_all(&staging).unwrap();
        fs::write(built.join("bin/tool"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path(), staging.join("bin")).unwrap();
        assert!(copy_output(&built, &staging, "bin/tool").is_err(), "staging link");
        fs::remove_file(staging.join("bin")).unwrap();
        let out = copy_output(&built, &staging, "bin/tool").unwrap();
        assert_eq!(out.bytes, 1);
        std::os::unix::fs::symlink("/etc/hostname", built.join("bin/link")).unwrap();
        assert!(copy_output(&built, &staging, "bin/link").is_err(), "a built link");
    }
}
