//! A fake GitHub REST API on loopback for the plugin's tests: routes answer with the
//! JSON fixtures in `tests/fixtures/` (realistic bodies, checked against GitHub's OpenAPI
//! description by the tests), scenarios edit them, and every request and answer is kept
//! so a test can assert what the plugin asked for (and what it never asked for).

#![allow(dead_code)]

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub const OWNER: &str = "octo-org";
pub const REPO: &str = "octo-repo";
pub const NUMBER: u64 = 42;
pub const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const PR_URL: &str = "https://github.com/octo-org/octo-repo/pull/42";

/// One answer: status, extra headers, JSON body (`Null` for none).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self { status: 200, headers: Vec::new(), body }
    }
    pub fn status(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the server saw and answered.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub request_body: Value,
    pub status: u16,
    pub body: Value,
}

/// Routes are keyed by method, path and `page` (1 when absent). Each holds a queue of
/// replies: answered in turn, the last one repeating.
type Routes = HashMap<(String, String, u32), Vec<Reply>>;

pub struct FakeGitHub {
    pub url: String,
    routes: Arc<Mutex<Routes>>,
    log: Arc<Mutex<Vec<Exchange>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn repo_path(rest: &str) -> String {
    format!("/repos/{OWNER}/{REPO}{rest}")
}

impl FakeGitHub {
    /// An empty server: every path answers 404 until routed.
    pub fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let log: Arc<Mutex<Vec<Exchange>>> = Arc::default();
        let thread = {
            let (server, routes, log) = (server.clone(), routes.clone(), log.clone());
            std::thread::spawn(move || serve(&server, &routes, &log))
        };
        Self { url, routes, log, server, thread: Some(thread) }
    }

    /// A pull request that the default policy calls ready: open, mergeable, one approval,
    /// checks green, push permission.
    pub fn ready() -> Self {
        let gh = Self::start();
        gh.route("GET", &repo_path(""), Reply::ok(fixture("repo.json")));
        gh.route("GET", &repo_path("/pulls/42"), Reply::ok(fixture("pull.json")));
        gh.route("GET", &repo_path("/pulls/42/reviews"), Reply::ok(fixture("reviews.json")));
        gh.route(
            "GET",
            &repo_path(&format!("/commits/{HEAD}/check-runs")),
            Reply::ok(fixture("check_runs.json")),
        );
        gh.route(
            "GET",
            &repo_path(&format!("/commits/{HEAD}/status")),
            Reply::ok(fixture("status.json")),
        );
        gh.route("GET", &repo_path("/pulls"), Reply::ok(fixture("pulls.json")));
        gh.route("PUT", &repo_path("/pulls/42/merge"), Reply::ok(fixture("merge.json")));
        gh
    }

    /// Answer `method path` (page 1) with `reply` from now on.
    pub fn route(&self, method: &str, path: &str, reply: Reply) {
        self.route_page(method, path, 1, vec![reply]);
    }

    /// Answer `method path?page=N` with these replies in turn (the last repeats).
    pub fn route_page(&self, method: &str, path: &str, page: u32, replies: Vec<Reply>) {
        self.routes.lock().unwrap().insert((method.into(), path.into(), page), replies);
    }

    /// Change the body page 1 of a GET route answers with.
    pub fn edit(&self, path: &str, change: impl FnOnce(&mut Value)) {
        let mut routes = self.routes.lock().unwrap();
        let replies = routes.get_mut(&("GET".to_owned(), path.to_owned(), 1)).expect("routed");
        change(&mut replies.last_mut().unwrap().body);
    }

    pub fn log(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    pub fn requests(&self, method: &str, path: &str) -> Vec<Exchange> {
        self.log().into_iter().filter(|e| e.method == method && e.path == path).collect()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether a merge request's `sha` is the pull request's current head: the body the
/// next GET of the pull request would answer with.
fn head_is(routes: &Routes, merge_path: &str, request: &Value) -> bool {
    let pull = merge_path.trim_end_matches("/merge");
    let current = routes
        .get(&("GET".to_owned(), pull.to_owned(), 1))
        .and_then(|queue| queue.first())
        .and_then(|reply| reply.body.pointer("/head/sha").cloned());
    current.is_some() && request.get("sha") == current.as_ref()
}

fn serve(server: &tiny_http::Server, routes: &Mutex<Routes>, log: &Mutex<Vec<Exchange>>) {
    while let Ok(mut request) = server.recv() {
        let url = request.url().to_owned();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let page = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("page="))
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let method = request.method().as_str().to_owned();
        let mut text = String::new();
        let _ = request.as_reader().read_to_string(&mut text);
        let request_body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let reply = {
            let mut routes = routes.lock().unwrap();
            // Like GitHub, a merge names the head it expects: another head is refused.
            let stale = method == "PUT"
                && path.ends_with("/merge")
                && !head_is(&routes, path, &request_body);
            match routes.get_mut(&(method.clone(), path.to_owned(), page)) {
                Some(_) if stale => Reply::status(409, fixture("error_409.json")),
                Some(queue) if queue.len() > 1 => queue.remove(0),
                Some(queue) => queue[0].clone(),
                None => Reply::status(
                    404,
                    serde_json::json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
                ),
            }
        };
        let authorization = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("authorization"))
            .map(|h| h.value.as_str().to_owned());
        log.lock().unwrap().push(Exchange {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            authorization,
            request_body,
            status: reply.status,
            body: reply.body.clone(),
        });
        let body = if reply.body.is_null() { String::new() } else { reply.body.to_string() };
        let mut response = tiny_http::Response::from_string(body).with_status_code(reply.status);
        response.add_header(
            tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8")
                .unwrap(),
        );
        for (name, value) in &reply.headers {
            let value = value.replace("{base}", &format!("http://{}", server.server_addr()));
            response.add_header(
                tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap(),
            );
        }
        let _ = request.respond(response);
    }
}
