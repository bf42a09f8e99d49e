//! `ooo-fake-model`: a loopback fake model API for tests and benchmarks. It speaks the
//! real wire formats the agent CLIs and the HTTP providers use, and answers from a
//! script each test writes:
//!
//! * Anthropic Messages, `POST /v1/messages` (Claude Code), streaming or not;
//! * OpenAI Chat Completions, `POST /v1/chat/completions` (OpenCode, local servers);
//! * OpenAI Responses, `POST /v1/responses` (Codex CLI);
//! * Gemini, `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` and
//!   `:generateContent` (Gemini CLI);
//! * and the side routes clients probe: `HEAD /`, `GET /`, `GET /v1/models`, token counts.
//!
//! ```
//! use ooo_fake_model::{FakeModel, Reply};
//! let fake = FakeModel::start();
//! fake.push(Reply::tool_call("Write", serde_json::json!({"file_path": "a", "content": "hi"})));
//! fake.push(Reply::text("DONE"));
//! // point a client at fake.base_url(), then inspect fake.requests()
//! assert!(fake.base_url().starts_with("http://127.0.0.1:"));
//! ```
//!
//! Each generation request, whatever its wire format, takes the oldest reply routed to a
//! word its body contains ([`FakeModel::push_for`]); else the next queued [`Reply`];
//! then the fallback ([`FakeModel::fallback`]); then a loud 500 "fake model: script
//! exhausted". [`FakeModel::on_untooled`] answers requests that offer no tools (title
//! generators, Gemini's model router) without touching the queue.
//!
//! What does not live here: any client. The HTTP providers are in `ooo-runtime`; this
//! crate only plays the model's side, and only on 127.0.0.1.

mod answer;
mod relay;
mod reply;
mod script;
mod server;
mod sse;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

pub use reply::Reply;
pub use script::Recorded;

use relay::Relay;
use script::Script;
use server::Shared;
use wire::Ids;

/// A running fake model API on 127.0.0.1. Serves on background threads until dropped;
/// dropping it closes every connection (stalled ones included).
pub struct FakeModel {
    base_url: String,
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    relay: Relay,
    dispatcher: Option<JoinHandle<()>>,
}

impl FakeModel {
    /// Start on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test cannot go on without one); see
    /// [`FakeModel::try_start`].
    pub fn start() -> FakeModel {
        match Self::try_start() {
            Ok(fake) => fake,
            Err(e) => panic!("fake model: cannot listen on 127.0.0.1: {e}"),
        }
    }

    pub fn try_start() -> io::Result<FakeModel> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let upstream = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("tiny_http is not listening on IP"))?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let relay = Relay::start(upstream, Arc::clone(&stopping))?;
        let shared = Arc::new(Shared {
            script: Mutex::new(Script::default()),
            ids: Ids::new(seed(relay.addr())),
            stopping,
            clients: relay.clients(),
        });
        let dispatcher = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            thread::spawn(move || server::serve(&server, &shared))
        };
        let base_url = format!("http://{}", relay.addr());
        Ok(FakeModel { base_url, shared, server, relay, dispatcher: Some(dispatcher) })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash. Clients add their own prefix
    /// (`/v1` for OpenAI-compatible base URLs).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Queue a reply for the next generation request.
    pub fn push(&self, reply: Reply) {
        self.shared.script().push(reply);
    }

    /// Queue `reply` for the next generation request whose JSON body contains `needle`
    /// (a word of one worker's prompt, a planner's instructions). Routed replies are
    /// looked at before the untooled reply and the queue, so workers running at once,
    /// each with its own conversation, get their own replies whatever order they ask in.
    pub fn push_for(&self, needle: impl Into<String>, reply: Reply) {
        self.shared.script().push_for(needle.into(), reply);
    }

    /// Answer with `reply` whenever the queue is empty (instead of a 500).
    pub fn fallback(&self, reply: Reply) {
        self.shared.script().set_fallback(reply);
    }

    /// Answer generation requests that offer no tools with `reply`, without consuming
    /// the queue: OpenCode's title request, Gemini's router call, side requests. By
    /// default such requests take from the queue like any other.
    pub fn on_untooled(&self, reply: Reply) {
        self.shared.script().set_untooled(reply);
    }

    /// Refuse (401, in the wire format's error shape) every request but `HEAD /` and
    /// `GET /` that does not carry `key` as `x-api-key`, `Authorization: Bearer`,
    /// `x-goog-api-key` or `?key=`.
    pub fn require_key(&self, key: impl Into<String>) {
        self.shared.script().require_key(key.into());
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.script().recorded().to_vec()
    }

    /// The generation requests received so far (no probes, model lists or counts).
    pub fn generations(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_generation).collect()
    }

    /// How many queued and routed replies are still waiting for a request.
    pub fn remaining(&self) -> usize {
        self.shared.script().remaining()
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.join();
        }
        self.relay.stop();
    }
}

/// Ids differ between fakes (and runs), so a resumed session never sees an id twice.
fn seed(addr: SocketAddr) -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ (u64::from(addr.port()) << 48)
}
