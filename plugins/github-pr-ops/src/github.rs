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
    #[error(
        "GITHUB_API_URL `{0}` is not an https URL (plain http is allowed only on loopback, for test servers)"
    )]
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
    #[error("{path} lists more than {MAX_PAGES} pages; refusing to read further")]
    TooManyPages { path: String },
    #[error("GitHub's next-page link for {path} leaves the API ({link}); not followed")]
    ForeignLink { path: String, link: String },
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
        let bad = || ApiError::BadBaseUrl(base.clone());
        let (secure, rest) = match base.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, base.strip_prefix("http://").ok_or_else(bad)?),
        };
        let host = host_of(rest);
        if host.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#', '@']) {
            return Err(bad());
        }
        // The token must not cross a network in clear text.
        if !secure && !is_loopback(host) {
            return Err(bad());
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Never follow a redirect: every request stays on the API's origin.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("github-pr-ops/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self { agent: config.into(), base, token })
    }

    /// The API's host name (without port), for matching pull request URLs.
    pub fn api_host(&self) -> &str {
        let rest = self.base.split_once("://").map_or(self.base.as_str(), |(_, r)| r);
        host_of(rest)
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// GET a path under the API (`/repos/...`) and return the body of a 2xx answer;
    /// anything else is the matching error.
    pub fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        Ok(self.ok(self.send(Method::Get, path, None)?, path)?.body)
    }

    /// PUT a JSON body; the answer's status is returned for the caller to judge
    /// (merge answers 405 and 409 with meaning).
    pub fn put(&self, path: &str, body: &Value) -> Result<Answer, ApiError> {
        self.send(Method::Put, path, Some(body))
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
                return Err(ApiError::TooManyPages { path: path.into() });
            }
            if !page.starts_with('/') && !page.starts_with(&format!("{}/", self.base)) {
                return Err(ApiError::ForeignLink { path: path.into(), link: page });
            }
            let answer = self.ok(self.send(Method::Get, &page, None)?, &page)?;
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

    /// A path under the API, or a next-page link already checked to be on its origin.
    fn url(&self, path: &str) -> String {
        if path.starts_with('/') { format!("{}{path}", self.base) } else { path.to_owned() }
    }

    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, ApiError> {
        let url = self.url(path);
        let shown = strip_origin(&self.base, &url).to_owned();
        let mut waited = Duration::ZERO;
        loop {
            let (answer, wait) = self.send_once(method, &url, &shown, body)?;
            let Some(wait) = wait else {
                return Ok(answer);
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
        method: Method,
        url: &str,
        shown: &str,
        body: Option<&Value>,
    ) -> Result<(Answer, Option<Duration>), ApiError> {
        let transport =
            |e: ureq::Error| ApiError::Transport { url: url.to_owned(), detail: e.to_string() };
        let mut request = ureq::http::Request::builder()
            .uri(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.trim()));
        }
        let built = |e: ureq::http::Error| ApiError::Transport {
            url: url.to_owned(),
            detail: e.to_string(),
        };
        let response = match method {
            Method::Get => self.agent.run(request.method("GET").body(()).map_err(built)?),
            Method::Put => {
                let text = body.map(Value::to_string).unwrap_or_default();
                let request = request.method("PUT").header("Content-Type", "application/json");
                self.agent.run(request.body(text).map_err(built)?)
            }
        }
        .map_err(transport)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let next = header("link").as_deref().and_then(next_link);
        let limits = RateHeaders {
            retry_after: header("retry-after"),
            remaining: header("x-ratelimit-remaining"),
            reset: header("x-ratelimit-reset"),
        };
        let text = response.into_body().read_to_string().map_err(transport)?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| ApiError::Malformed {
                path: shown.to_owned(),
                detail: format!("not JSON ({e})"),
            })?
        };
        let message = body.get("message").and_then(Value::as_str).unwrap_or_default();
        let wait = rate_limit_wait(status, &limits, message, now_secs());
        Ok((Answer { status, next, body }, wait))
    }
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Put,
}

/// The rate-limit headers of one answer.
#[derive(Debug, Default)]
pub struct RateHeaders {
    pub retry_after: Option<String>,
    pub remaining: Option<String>,
    pub reset: Option<String>,
}

/// `host[:port]/...` -> `host` (an IPv6 literal keeps its brackets).
fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

pub fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
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
/// else until `x-ratelimit-reset` when no requests remain; a secondary rate limit
/// (GitHub says so in the message) or a bare 429 gets GitHub's documented advice, a
/// minute. `None` when the answer is not a rate limit (a plain 403 is a permission
/// problem).
pub fn rate_limit_wait(status: u16, h: &RateHeaders, message: &str, now: u64) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = h.retry_after.as_deref().and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs.max(1)));
    }
    if h.remaining.as_deref().map(str::trim) == Some("0")
        && let Some(reset) = h.reset.as_deref().and_then(|s| s.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    let secondary = message.to_ascii_lowercase().contains("secondary rate limit");
    (status == 429 || secondary).then(|| Duration::from_secs(60))
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
        let h = |retry: Option<&str>, remaining: Option<&str>, reset: Option<&str>| RateHeaders {
            retry_after: retry.map(Into::into),
            remaining: remaining.map(Into::into),
            reset: reset.map(Into::into),
        };
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(rate_limit_wait(403, &h(Some("5"), None, None), "", 0), secs(5));
        assert_eq!(rate_limit_wait(403, &h(None, Some("0"), Some("1100")), "", 1000), secs(100));
        assert_eq!(rate_limit_wait(403, &h(None, Some("12"), Some("1100")), "", 1000), None);
        assert_eq!(
            rate_limit_wait(403, &h(None, None, None), "", 0),
            None,
            "a plain 403 is access"
        );
        let secondary = "You have exceeded a secondary rate limit. Please wait a few minutes.";
        assert_eq!(rate_limit_wait(403, &h(None, Some("4000"), None), secondary, 0), secs(60));
        assert_eq!(rate_limit_wait(429, &h(None, None, None), "", 0), secs(60));
        assert_eq!(rate_limit_wait(200, &h(Some("5"), None, None), "", 0), None);
    }

    #[test]
    fn base_urls() {
        let ghe = Client::new("https://github.example.com/api/v3/", None).unwrap();
        assert_eq!(ghe.api_host(), "github.example.com");
        assert_eq!(Client::new("http://127.0.0.1:9", None).unwrap().api_host(), "127.0.0.1");
        assert!(Client::new("http://localhost:8080/api", None).is_ok());
        for bad in [
            "",
            "api.github.com",
            "ftp://x",
            "https://",
            "https:///x",
            "https://a b",
            "http://api.github.com",
            "http://10.0.0.1",
            "https://user@evil.example",
        ] {
            assert!(Client::new(bad, None).is_err(), "{bad:?}");
        }
    }
}
