//! The GitHub REST client: base URL from `GITHUB_API_URL` (GitHub Enterprise works), a
//! token from `GITHUB_TOKEN` or `GH_TOKEN`, timeouts, pagination through `Link`
//! headers (never leaving the API's origin, so the token goes nowhere else), waiting out
//! short rate limits, and errors people can act on. What the answers mean is in `facts`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The public API, used when `GITHUB_API_URL` is not set.
pub const DEFAULT_API: &str = "https://api.github.com";
/// A rate limit that resets within this long is waited out; a longer one is an error.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Pages followed at most for one listing (100 items each).
const MAX_PAGES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("GITHUB_API_URL `{0}` is not an http(s) URL")]
    BadBaseUrl(String),
    #[error("GitHub rejected the token (401 on {path}); check GITHUB_TOKEN or GH_TOKEN")]
    BadToken { path: String },
    #[error("no access to {path} (403): {message}")]
    Forbidden { path: String, message: String },
    #[error(
        "{path} was not found (404): no such pull request or repository, or the token cannot see it (GitHub answers 404 for private repositories you have no access to)"
    )]
    NotFound { path: String },
    #[error("rate limited by GitHub on {path}; the limit resets in {wait_secs} s, try again then")]
    RateLimited { path: String, wait_secs: u64 },
    #[error("GitHub answered {status} on {path}: {message}")]
    Status { status: u16, path: String, message: String },
    #[error("cannot reach GitHub at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("GitHub's answer on {path} is not what the API documents: {detail}")]
    Malformed { path: String, detail: String },
}

/// One answer: status, the `Link` header's next page, and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub next: Option<String>,
    pub body: Value,
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    /// From the environment the firewall gives the plugin.
    pub fn from_env() -> Result<Self, ApiError> {
        let base = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| DEFAULT_API.to_owned());
        let token = ["GITHUB_TOKEN", "GH_TOKEN"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|t| !t.trim().is_empty()));
        Self::new(&base, token)
    }

    pub fn new(base: &str, token: Option<String>) -> Result<Self, ApiError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        let rest = base.strip_prefix("https://").or_else(|| base.strip_prefix("http://"));
        if rest
            .is_none_or(|r| r.is_empty() || r.starts_with('/') || r.contains(char::is_whitespace))
        {
            return Err(ApiError::BadBaseUrl(base));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("github-pr-ops/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self { agent: config.into(), base, token })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// GET a path under the API (`/repos/...`), or an absolute next-page URL.
    pub fn get(&self, path: &str) -> Result<Answer, ApiError> {
        self.send("GET", path, None)
    }

    /// PUT a JSON body; the answer's status is returned for the caller to judge
    /// (merge answers 405 and 409 with meaning).
    pub fn put(&self, path: &str, body: &Value) -> Result<Answer, ApiError> {
        self.send("PUT", path, Some(body))
    }

    /// Every item of a paginated listing. `key` names the array inside an object answer
    /// (`check_runs`); `None` when the answer is the array itself.
    pub fn get_all(&self, path: &str, key: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        let mut pages = 0;
        while let Some(page) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(ApiError::Malformed {
                    path: path.into(),
                    detail: format!("more than {MAX_PAGES} pages"),
                });
            }
            let answer = self.ok(self.get(&page)?, &page)?;
            let list = match key {
                Some(k) => answer.body.get(k).cloned(),
                None => Some(answer.body),
            };
            let Some(Value::Array(list)) = list else {
                return Err(ApiError::Malformed {
                    path: path.into(),
                    detail: format!(
                        "expected a list{}",
                        key.map(|k| format!(" in `{k}`")).unwrap_or_default()
                    ),
                });
            };
            items.extend(list);
            next = answer.next;
        }
        Ok(items)
    }

    /// Turn any non-2xx answer into the matching error.
    pub fn ok(&self, answer: Answer, path: &str) -> Result<Answer, ApiError> {
        if (200..300).contains(&answer.status) {
            return Ok(answer);
        }
        let path = strip_origin(&self.base, path).to_owned();
        let message =
            answer.body.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_owned();
        Err(match answer.status {
            401 => ApiError::BadToken { path },
            403 => ApiError::Forbidden { path, message },
            404 => ApiError::NotFound { path },
            status => ApiError::Status { status, path, message },
        })
    }

    fn url(&self, path: &str) -> Result<String, ApiError> {
        if path.starts_with('/') {
            return Ok(format!("{}{path}", self.base));
        }
        // A next-page link: follow it only on the API's own origin.
        if path.starts_with(&format!("{}/", self.base)) {
            return Ok(path.to_owned());
        }
        Err(ApiError::Malformed {
            path: path.into(),
            detail: format!("a pagination link leaves {}", self.base),
        })
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, ApiError> {
        let url = self.url(path)?;
        let shown = strip_origin(&self.base, &url).to_owned();
        let mut waited = Duration::ZERO;
        loop {
            let answer = self.send_once(method, &url, &shown, body)?;
            let Some(wait) = answer.1 else {
                return Ok(answer.0);
            };
            if waited + wait > MAX_WAIT {
                return Err(ApiError::RateLimited {
                    path: shown,
                    wait_secs: wait.as_secs().max(1),
                });
            }
            eprintln!("github-pr-ops: rate limited; waiting {} s", wait.as_secs().max(1));
            std::thread::sleep(wait);
            waited += wait;
        }
    }

    /// One request; the second value is how long to wait when it was rate limited.
    fn send_once(
        &self,
        method: &str,
        url: &str,
        shown: &str,
        body: Option<&Value>,
    ) -> Result<(Answer, Option<Duration>), ApiError> {
        let transport =
            |e: ureq::Error| ApiError::Transport { url: url.to_owned(), detail: e.to_string() };
        let auth = self.token.as_ref().map(|t| format!("Bearer {}", t.trim()));
        let response = match method {
            "PUT" => {
                let mut req = self.agent.put(url);
                req = req.header("Accept", "application/vnd.github+json");
                req = req.header("X-GitHub-Api-Version", "2022-11-28");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                let text = body.map(Value::to_string).unwrap_or_default();
                req.header("Content-Type", "application/json").send(text.as_bytes())
            }
            _ => {
                let mut req = self.agent.get(url);
                req = req.header("Accept", "application/vnd.github+json");
                req = req.header("X-GitHub-Api-Version", "2022-11-28");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
        }
        .map_err(transport)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let next = header("link").as_deref().and_then(next_link);
        let wait = rate_limit_wait(
            status,
            header("retry-after").as_deref(),
            header("x-ratelimit-remaining").as_deref(),
            header("x-ratelimit-reset").as_deref(),
            now_secs(),
        );
        let text = response.into_body().read_to_string().map_err(transport)?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| ApiError::Malformed {
                path: shown.to_owned(),
                detail: format!("not JSON ({e})"),
            })?
        };
        Ok((Answer { status, next, body }, wait))
    }
}

fn strip_origin<'a>(base: &str, url: &'a str) -> &'a str {
    url.strip_prefix(base).unwrap_or(url)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

/// How long a rate-limited answer (403 or 429) asks us to wait: `retry-after` seconds,
/// else until `x-ratelimit-reset` when no requests remain. `None` when the answer is not
/// a rate limit (a 403 without these headers is a permission problem). A 429 without
/// either header gets GitHub's documented advice: a minute.
pub fn rate_limit_wait(
    status: u16,
    retry_after: Option<&str>,
    remaining: Option<&str>,
    reset: Option<&str>,
    now: u64,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs.max(1)));
    }
    if remaining.map(str::trim) == Some("0")
        && let Some(reset) = reset.and_then(|s| s.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    (status == 429).then(|| Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let link = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
        assert_eq!(next_link(link).as_deref(), Some("https://api.github.com/x?page=2"));
        let last = r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=1>; rel="first""#;
        assert_eq!(next_link(last), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn rate_limits() {
        assert_eq!(rate_limit_wait(403, Some("5"), None, None, 0), Some(Duration::from_secs(5)));
        assert_eq!(
            rate_limit_wait(403, None, Some("0"), Some("1100"), 1000),
            Some(Duration::from_secs(100))
        );
        assert_eq!(rate_limit_wait(403, None, Some("12"), Some("1100"), 1000), None);
        assert_eq!(rate_limit_wait(403, None, None, None, 0), None, "a plain 403 is access");
        assert_eq!(rate_limit_wait(429, None, None, None, 0), Some(Duration::from_secs(60)));
        assert_eq!(rate_limit_wait(200, Some("5"), None, None, 0), None);
    }

    #[test]
    fn base_urls() {
        assert!(Client::new("https://github.example.com/api/v3/", None).is_ok());
        for bad in ["", "api.github.com", "ftp://x", "https://", "https:///x", "https://a b"] {
            assert!(Client::new(bad, None).is_err(), "{bad:?}");
        }
        let c = Client::new("http://127.0.0.1:9", None).unwrap();
        assert!(c.url("https://evil.example/steal").is_err(), "links stay on the API origin");
        assert!(c.url("http://127.0.0.1:9/x?page=2").is_ok());
        assert!(c.url("http://127.0.0.1:99/x").is_err(), "a longer port is another origin");
    }
}
