//! The request loop: tiny_http parses each request (arriving through the relay), the
//! script decides the answer, and one thread per request delivers it straight to the
//! client socket, so a delayed or stalled answer never holds up another request.
//! What does not live here: the decision ([`crate::script`]) and the writing
//! ([`crate::answer`]).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use serde_json::Value;

use crate::answer;
use crate::relay::Clients;
use crate::script::{Recorded, Script};
use crate::wire::Ids;

/// What the request threads share with the [`crate::FakeModel`] handle.
pub(crate) struct Shared {
    pub script: Mutex<Script>,
    pub ids: Ids,
    pub stopping: Arc<AtomicBool>,
    pub clients: Arc<Clients>,
}

impl Shared {
    pub(crate) fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serve until `server.unblock()`.
pub(crate) fn serve(server: &tiny_http::Server, shared: &Arc<Shared>) {
    while let Ok(request) = server.recv() {
        let shared = Arc::clone(shared);
        thread::spawn(move || handle(request, &shared));
    }
}

fn handle(mut request: tiny_http::Request, shared: &Shared) {
    let recorded = record(&mut request);
    let plan = shared.script().answer(recorded, &shared.ids);
    let client = request.remote_addr().and_then(|peer| shared.clients.get(peer));
    let Some(mut client) = client else {
        // Not through the relay (someone found tiny_http's own port): no scripted answer.
        let _ = request.respond(tiny_http::Response::empty(421));
        return;
    };
    // Held until the answer is written: tiny_http closes a `Connection: close`
    // connection as soon as this writer is dropped.
    let _tiny_http_writer = request.into_writer();
    let _ = answer::deliver(&plan, &mut client, &shared.stopping);
}

fn record(request: &mut tiny_http::Request) -> Recorded {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let headers = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_owned()))
        .collect();
    let mut bytes = Vec::new();
    let _ = request.as_reader().read_to_end(&mut bytes);
    Recorded {
        method: request.method().as_str().to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: parse_body(&bytes),
    }
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}
