//! What the user points at: a pull request (`https://<host>/<owner>/<repo>/pull/<n>` or
//! `<owner>/<repo>#<n>`) or a repository (`<owner>/<repo>`). Parsed and refused here,
//! before any request is made. Nothing here talks to the network.

use std::fmt;

/// A repository, with owner and name restricted to the characters GitHub allows, so they
/// can be put into request paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

/// One pull request of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    pub repo: Repo,
    pub number: u64,
    /// The web host of a URL (`github.com`, an Enterprise server); `None` for the short
    /// form `OWNER/REPO#N`, which means "on the configured API".
    pub host: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{pr} is on {host}, but GITHUB_API_URL points at {api_host}; for this pull request set GITHUB_API_URL={expected}"
)]
pub struct WrongApi {
    pub pr: String,
    pub host: String,
    pub api_host: String,
    pub expected: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{input}` is not a pull request: {why} (expected https://github.com/OWNER/REPO/pull/NUMBER or OWNER/REPO#NUMBER)"
)]
pub struct BadPullRef {
    pub input: String,
    pub why: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a repository: expected OWNER/REPO")]
pub struct BadRepo {
    pub input: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl fmt::Display for PullRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.repo, self.number)
    }
}

/// GitHub owners are alphanumeric with inner hyphens; repository names also allow `.`
/// and `_`. `.` and `..` alone are never names.
fn valid_owner(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
}

fn valid_repo_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Repo {
    pub fn parse(input: &str) -> Result<Self, BadRepo> {
        let bad = || BadRepo { input: input.to_owned() };
        let (owner, name) = input.trim().split_once('/').ok_or_else(bad)?;
        let name = name.strip_suffix(".git").unwrap_or(name);
        if !valid_owner(owner) || !valid_repo_name(name) {
            return Err(bad());
        }
        Ok(Self { owner: owner.to_owned(), name: name.to_owned() })
    }
}

impl PullRef {
    pub fn parse(input: &str) -> Result<Self, BadPullRef> {
        let bad = |why| BadPullRef { input: input.to_owned(), why };
        if input.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        let text = input.trim();
        let mut host = None;
        let (owner, name, number) = if let Some(rest) =
            text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"))
        {
            // Drop a query or fragment, then read host/owner/repo/pull/number[/tab].
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            let parts: Vec<&str> = rest.split('/').collect();
            if parts.len() < 5 || parts[0].is_empty() {
                return Err(bad("the URL has no /OWNER/REPO/pull/NUMBER path"));
            }
            let web_host = parts[0].split(':').next().unwrap_or_default().to_ascii_lowercase();
            if web_host.is_empty() || web_host.contains('@') {
                return Err(bad("the URL has no usable host"));
            }
            host = Some(web_host);
            if parts[3] != "pull" && parts[3] != "pulls" {
                return Err(bad("the URL does not point at a pull request"));
            }
            let tail_ok = parts.len() == 5
                || (parts.len() == 6 && parts[5].is_empty())
                || matches!(parts[5], "files" | "commits" | "checks");
            if !tail_ok {
                return Err(bad("the URL has an unexpected path after the number"));
            }
            (parts[1], parts[2], parts[4])
        } else if text.contains("://") {
            return Err(bad("only http and https URLs are understood"));
        } else {
            let (repo, number) =
                text.split_once('#').ok_or_else(|| bad("no pull request number"))?;
            let (owner, name) = repo.split_once('/').ok_or_else(|| bad("no OWNER/REPO"))?;
            (owner, name, number)
        };
        if !valid_owner(owner) {
            return Err(bad("the owner is not a valid GitHub login"));
        }
        if !valid_repo_name(name) {
            return Err(bad("the repository name is not valid"));
        }
        let number: u64 = number
            .parse()
            .ok()
            .filter(|n| *n > 0 && number.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad("the number is not a positive integer"))?;
        Ok(Self { repo: Repo { owner: owner.into(), name: name.into() }, number, host })
    }

    /// Refuse to ask an API about a pull request it does not host: github.com's pull
    /// requests live on api.github.com, an Enterprise server's on that server. The short
    /// form, and loopback test servers, go to whatever API is configured.
    pub fn check_api(&self, api_host: &str) -> Result<(), WrongApi> {
        let Some(host) = &self.host else { return Ok(()) };
        let (expected_host, expected) = match host.as_str() {
            "github.com" | "www.github.com" => {
                ("api.github.com", "https://api.github.com".to_owned())
            }
            other => (other, format!("https://{other}/api/v3")),
        };
        if crate::github::is_loopback(api_host) || api_host.eq_ignore_ascii_case(expected_host) {
            return Ok(());
        }
        Err(WrongApi {
            pr: self.to_string(),
            host: host.clone(),
            api_host: api_host.to_owned(),
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_short_forms() {
        for input in [
            "https://github.com/octo-org/octo-repo/pull/42",
            "https://github.com/octo-org/octo-repo/pull/42/",
            "https://github.com/octo-org/octo-repo/pull/42/files",
            "https://github.com/octo-org/octo-repo/pull/42#issuecomment-1",
            "https://github.example.com/octo-org/octo-repo/pull/42?w=1",
            "octo-org/octo-repo#42",
        ] {
            let p = PullRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(p.to_string(), "octo-org/octo-repo#42", "{input}");
        }
    }

    #[test]
    fn refused_before_any_request() {
        for input in [
            "",
            "42",
            "ftp://github.com/o/r/pull/1",
            "https://github.com/o/r/issues/1",
            "https://github.com/o/r/pull/0",
            "https://github.com/o/r/pull/-1",
            "https://github.com/o/r/pull/1x",
            "https://github.com/o/r/pull/+1",
            "https://github.com/o/r/pull/1/../../x",
            "https://github.com/../r/pull/1",
            "https://github.com/o/../pull/1",
            "https://github.com/o%2F/r/pull/1",
            "https://github.com/o/r/pull/1\n",
            "o/r",
            "o/r#",
            "-o/r#1",
        ] {
            assert!(PullRef::parse(input).is_err(), "accepted {input:?}");
        }
    }

    #[test]
    fn the_api_must_host_the_pull_request() {
        let gh = PullRef::parse("https://github.com/o/r/pull/1").unwrap();
        assert_eq!(gh.host.as_deref(), Some("github.com"));
        assert!(gh.check_api("api.github.com").is_ok());
        let err = gh.check_api("ghe.corp").unwrap_err();
        assert_eq!(err.expected, "https://api.github.com");
        let ghe = PullRef::parse("https://GHE.corp:8443/o/r/pull/1").unwrap();
        assert!(ghe.check_api("ghe.corp").is_ok());
        let err = ghe.check_api("api.github.com").unwrap_err();
        assert!(err.to_string().contains("GITHUB_API_URL=https://ghe.corp/api/v3"), "{err}");
        assert!(ghe.check_api("127.0.0.1").is_ok(), "test servers serve anything");
        let short = PullRef::parse("o/r#1").unwrap();
        assert!(short.host.is_none() && short.check_api("ghe.corp").is_ok());
    }

    #[test]
    fn repositories() {
        assert_eq!(Repo::parse("octo-org/octo.repo").unwrap().to_string(), "octo-org/octo.repo");
        assert_eq!(Repo::parse("o/r.git").unwrap().name, "r");
        for input in ["o", "o/", "/r", "o/r/x", "o/..", "o r/x"] {
            assert!(Repo::parse(input).is_err(), "accepted {input:?}");
        }
    }
}
