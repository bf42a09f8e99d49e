//! Where a plugin comes from, and the canonical `source_identity` that trust is bound to.
//!
//! Git URLs are normalised as upstream does: cut at `#`, drop a `git+` wrapper before
//! `https://`, `http://` or `ssh://`, drop `user:pass@` and lowercase the host for those
//! schemes, strip one trailing `.git`. The scheme is kept (`http` and `https` are
//! different subjects). Local sources are directories, given absolute or relative to
//! the current directory (as `cargo install --path`), stored absolute with symlinks
//! resolved, so the identity does not depend on where `ooo` ran.

use std::path::{Path, PathBuf};

/// Prefixes that make a string a git URL rather than a path.
const URL_PREFIXES: &[&str] = &[
    "http://",
    "https://",
    "git+http://",
    "git+https://",
    "git+ssh://",
    "ssh://",
    "git@",
    "file://",
];

/// A place to install from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A git repository, with the URL as typed.
    Git { url: String },
    /// A local directory (absolute, symlinks resolved).
    Local { path: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path} cannot be used: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error(
        "subdirectory-form sources ({0}) are not supported; use `ooo plugin add <repo-url> --plugin <name>`"
    )]
    SubdirectoryForm(String),
}

/// Does `text` name a git repository (as opposed to a local path)?
pub fn is_url(text: &str) -> bool {
    URL_PREFIXES.iter().any(|p| text.starts_with(p))
}

impl Source {
    /// Parse a user-supplied source: a git URL, or a directory (relative ones are taken
    /// from the current directory).
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        if text.contains("#plugins/") {
            return Err(SourceError::SubdirectoryForm(text.to_owned()));
        }
        if is_url(text) {
            return Ok(Self::Git { url: text.to_owned() });
        }
        let resolved = Path::new(text)
            .canonicalize()
            .map_err(|source| SourceError::Unreadable { path: text.to_owned(), source })?;
        if !resolved.is_dir() {
            return Err(SourceError::NotADirectory(text.to_owned()));
        }
        Ok(Self::Local { path: resolved })
    }

    /// `git` or `local`, as the lockfile's `source_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Git { .. } => "git",
            Self::Local { .. } => "local",
        }
    }

    /// The canonical identity trust is bound to.
    pub fn identity(&self) -> String {
        match self {
            Self::Git { url } => normalize_repo_url(url),
            Self::Local { path } => path.display().to_string(),
        }
    }
}

/// Upstream's `normalize_repo_url`.
pub fn normalize_repo_url(url: &str) -> String {
    let mut url = url.split('#').next().unwrap_or("").to_owned();
    for wrapper in ["git+https://", "git+http://", "git+ssh://"] {
        if url.starts_with(wrapper) {
            url = url["git+".len()..].to_owned();
            break;
        }
    }
    for scheme in ["https://", "http://", "ssh://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let mut rest = rest.to_owned();
            if let (Some(at), Some(slash)) = (rest.find('@'), rest.find('/'))
                && at < slash
            {
                rest = rest[at + 1..].to_owned();
            }
            let (host, tail) = match rest.split_once('/') {
                Some((host, path)) => (host.to_lowercase(), format!("/{path}")),
                None => (rest.to_lowercase(), String::new()),
            };
            url = format!("{scheme}{host}{tail}");
            break;
        }
    }
    match url.strip_suffix(".git") {
        Some(stripped) => stripped.to_owned(),
        None => url,
    }
}

/// The URL without `user:password@` (for anything stored: lockfile, ledger, catalogs).
/// Private repositories are reached through git's credential helpers instead.
pub fn without_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    match (rest.find('@'), rest.find('/')) {
        (Some(at), Some(slash)) if at < slash => format!("{scheme}{}", &rest[at + 1..]),
        (Some(at), None) => format!("{scheme}{}", &rest[at + 1..]),
        _ => url.to_owned(),
    }
}

/// The URL handed to `git clone` (a `git+` wrapper removed).
pub fn clone_url(url: &str) -> &str {
    url.strip_prefix("git+").unwrap_or(url).split('#').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's own test vectors (with its code host replaced by example.com), and edge
    /// cases checked against upstream's function.
    #[test]
    fn url_normalisation_vectors() {
        let cases = [
            (
                "https://user:secret@git.example.com/Q00/repo.git#frag",
                "https://git.example.com/Q00/repo",
            ),
            ("http://git.example.com/x/y", "http://git.example.com/x/y"),
            ("git+https://git.example.com/Q00/plug", "https://git.example.com/Q00/plug"),
            ("git+https://git.example.com/Q00/plug.git", "https://git.example.com/Q00/plug"),
            ("git+ssh://git@git.example.com/Q00/plug", "ssh://git.example.com/Q00/plug"),
            ("git+ssh://git@git.example.com/Q00/plug.git", "ssh://git.example.com/Q00/plug"),
            ("ssh://git@Git.Example.com/Q00/plug.git", "ssh://git.example.com/Q00/plug"),
            ("git@Git.Example.com:Q00/plug.git", "git@Git.Example.com:Q00/plug"),
            ("git+git://h/x.git", "git+git://h/x"),
            ("HTTPS://git.example.com/x.git", "HTTPS://git.example.com/x"),
            ("https://Git.Example.com:443/A/B.git/", "https://git.example.com:443/A/B.git/"),
            ("https://h/x.git?ref=1", "https://h/x.git?ref=1"),
            ("https://user@Host", "https://user@host"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_repo_url(input), expected, "{input}");
        }
        assert_ne!(
            normalize_repo_url("http://git.example.com/x/y"),
            normalize_repo_url("https://git.example.com/x/y")
        );
    }

    #[test]
    fn parsing_sources() {
        assert_eq!(Source::parse("https://example.com/a/b.git").unwrap().kind(), "git");
        assert!(matches!(Source::parse("no/such/dir"), Err(SourceError::Unreadable { .. })));
        let here = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(
            Source::parse(".").unwrap(),
            Source::Local { path: here },
            "relative: from here"
        );
        assert!(matches!(
            Source::parse("https://h/r#plugins/x"),
            Err(SourceError::SubdirectoryForm(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let s = Source::parse(link.to_str().unwrap()).unwrap();
        assert_eq!(
            s.identity(),
            dir.path().canonicalize().unwrap().display().to_string(),
            "symlinks resolved"
        );
        assert_eq!(clone_url("git+https://h/r.git#x"), "https://h/r.git");
        assert_eq!(
            without_credentials("https://user:tok@h.example/r.git"),
            "https://h.example/r.git"
        );
        assert_eq!(without_credentials("ssh://git@h.example/r"), "ssh://h.example/r");
        assert_eq!(without_credentials("https://h.example/a@b"), "https://h.example/a@b");
        assert_eq!(without_credentials("git@h.example:r.git"), "git@h.example:r.git");
    }
}
