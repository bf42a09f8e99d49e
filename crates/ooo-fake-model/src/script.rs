//! The script of one fake: queued replies, the fallback, the reply for untooled
//! requests, the required key, and the record of every request. Deciding what to answer
//! is a pure function of the script and the request; sockets, delays and faults live in
//! [`crate::answer`], the wire formats in [`crate::wire`].

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use crate::reply::{Fault, Reply};
use crate::wire::{self, Ids, Rendered, Route};

/// One request the fake received, whatever it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The query string without `?` (empty when none).
    pub query: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Null` when empty, a JSON string when not JSON.
    pub body: Value,
}

impl Recorded {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Whether this was a model generation (any wire format), as opposed to a probe, a
    /// model list or a token count.
    pub fn is_generation(&self) -> bool {
        matches!(wire::route(self), Route::Generate(_))
    }

    /// The keys the request presents: `x-api-key`, `Authorization: Bearer`,
    /// `x-goog-api-key`, or a `key=` query parameter.
    fn keys(&self) -> impl Iterator<Item = &str> {
        let bearer = self.header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        let query = self.query.split('&').find_map(|kv| kv.strip_prefix("key="));
        [self.header("x-api-key"), bearer, self.header("x-goog-api-key"), query]
            .into_iter()
            .flatten()
    }
}

/// What to send back and how.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub rendered: Rendered,
    pub retry_after: Option<u64>,
    pub delay: Option<Duration>,
    pub fault: Option<Fault>,
    /// A `HEAD` request: the head without a body.
    pub head_only: bool,
}

impl Plan {
    fn immediate(rendered: Rendered) -> Self {
        Plan { rendered, retry_after: None, delay: None, fault: None, head_only: false }
    }

    fn scripted(rendered: Rendered, reply: &Reply) -> Self {
        Plan {
            retry_after: reply.retry_after,
            delay: reply.delay,
            fault: reply.fault,
            ..Self::immediate(rendered)
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Script {
    queue: VecDeque<Reply>,
    /// Replies for the next request whose body contains the needle, oldest first.
    routed: Vec<(String, Reply)>,
    fallback: Option<Reply>,
    untooled: Option<Reply>,
    key: Option<String>,
    recorded: Vec<Recorded>,
}

impl Script {
    pub(crate) fn push(&mut self, reply: Reply) {
        self.queue.push_back(reply);
    }

    pub(crate) fn push_for(&mut self, needle: String, reply: Reply) {
        self.routed.push((needle, reply));
    }

    pub(crate) fn set_fallback(&mut self, reply: Reply) {
        self.fallback = Some(reply);
    }

    pub(crate) fn set_untooled(&mut self, reply: Reply) {
        self.untooled = Some(reply);
    }

    pub(crate) fn require_key(&mut self, key: String) {
        self.key = Some(key);
    }

    pub(crate) fn remaining(&self) -> usize {
        self.queue.len() + self.routed.len()
    }

    pub(crate) fn recorded(&self) -> &[Recorded] {
        &self.recorded
    }

    /// Decide the answer to `request` and record it.
    pub(crate) fn answer(&mut self, request: Recorded, ids: &Ids) -> Plan {
        let route = wire::route(&request);
        let mut plan = self.plan(&route, &request, ids);
        plan.head_only = request.method == "HEAD";
        self.recorded.push(request);
        plan
    }

    fn plan(&mut self, route: &Route, request: &Recorded, ids: &Ids) -> Plan {
        if *route != Route::Root && !self.accepts(request) {
            let wire = match route {
                Route::Generate(generation) => Some(generation.wire),
                Route::CountTokens(wire) => Some(*wire),
                _ => None,
            };
            return Plan::immediate(wire::error(wire, 401, "fake model: missing or wrong API key"));
        }
        match route {
            Route::Generate(generation) => {
                let reply =
                    self.take_routed(&request.body).unwrap_or_else(|| self.take(generation.tooled));
                Plan::scripted(wire::render(generation, &reply, ids), &reply)
            }
            other => Plan::immediate(wire::fixed(other)),
        }
    }

    fn accepts(&self, request: &Recorded) -> bool {
        self.key.as_deref().is_none_or(|key| request.keys().any(|k| k == key))
    }

    /// The oldest routed reply whose needle a string in the request's body contains,
    /// removed.
    fn take_routed(&mut self, body: &Value) -> Option<Reply> {
        let at = self.routed.iter().position(|(needle, _)| contains(body, needle))?;
        Some(self.routed.remove(at).1)
    }

    /// The reply for the next generation: untooled requests get the untooled reply when
    /// one is set (without consuming the queue); otherwise the queue's next reply, the
    /// fallback, or a loud 500.
    fn take(&mut self, tooled: bool) -> Reply {
        if let (false, Some(reply)) = (tooled, &self.untooled) {
            return reply.clone();
        }
        self.queue.pop_front().or_else(|| self.fallback.clone()).unwrap_or_else(Reply::exhausted)
    }
}

/// Whether a string anywhere in `value` contains `needle` (as text, not JSON-escaped).
fn contains(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains(v, needle)),
        Value::Object(map) => map.values().any(|v| contains(v, needle)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::wire::Body;

    fn request(method: &str, path: &str, body: Value) -> Recorded {
        Recorded {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            body,
        }
    }

    fn chat(tools: bool) -> Recorded {
        let tools = if tools { json!([{"type": "function"}]) } else { json!(null) };
        request("POST", "/v1/chat/completions", json!({"model": "m", "tools": tools}))
    }

    /// The text of a non-streaming chat answer, or the error message.
    fn said(plan: &Plan) -> String {
        let Body::Json(body) = &plan.rendered.body else { panic!("{plan:?}") };
        let text = &body["choices"][0]["message"]["content"];
        text.as_str().or(body["error"]["message"].as_str()).unwrap().to_owned()
    }

    #[test]
    fn queue_answers_in_order_then_exhausted_is_a_loud_500() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.push(Reply::text("one"));
        script.push(Reply::text("two"));
        assert_eq!(said(&script.answer(chat(true), &ids)), "one");
        assert_eq!(said(&script.answer(chat(true), &ids)), "two");
        let exhausted = script.answer(chat(true), &ids);
        assert_eq!(exhausted.rendered.status, 500);
        assert_eq!(said(&exhausted), "fake model: script exhausted");
        assert_eq!(script.recorded().len(), 3);
    }

    #[test]
    fn routed_replies_go_to_requests_that_contain_their_needle() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.set_untooled(Reply::text("a title"));
        script.push(Reply::text("queued"));
        script.push_for("Task\nmake beta".into(), Reply::text("for beta"));
        script.push_for("alpha".into(), Reply::text("for alpha 1"));
        script.push_for("alpha".into(), Reply::text("for alpha 2"));
        let about = |word: &str, tools: bool| {
            let mut r = chat(tools);
            let content = format!("## Task\nmake {word}.txt");
            r.body["messages"] = json!([{"role": "user", "content": [{"text": content}]}]);
            r
        };
        assert_eq!(script.remaining(), 4);
        assert_eq!(said(&script.answer(about("alpha", true), &ids)), "for alpha 1");
        assert_eq!(said(&script.answer(about("gamma", true), &ids)), "queued");
        // A routed reply wins over the untooled one (a planner's call offers no tools).
        assert_eq!(said(&script.answer(about("beta", false), &ids)), "for beta");
        assert_eq!(said(&script.answer(about("alpha", true), &ids)), "for alpha 2");
        assert_eq!(said(&script.answer(about("alpha", false), &ids)), "a title");
        assert_eq!(script.remaining(), 0);
    }

    #[test]
    fn fallback_answers_once_the_queue_is_empty() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.set_fallback(Reply::text("again"));
        script.push(Reply::text("first"));
        assert_eq!(said(&script.answer(chat(true), &ids)), "first");
        assert_eq!(said(&script.answer(chat(true), &ids)), "again");
        assert_eq!(said(&script.answer(chat(true), &ids)), "again");
    }

    #[test]
    fn untooled_requests_consume_the_queue_by_default() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.push(Reply::text("one"));
        assert_eq!(said(&script.answer(chat(false), &ids)), "one");
        assert_eq!(script.remaining(), 0);
    }

    #[test]
    fn untooled_reply_leaves_the_queue_for_tooled_requests() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.set_untooled(Reply::text("a title"));
        script.push(Reply::text("the work"));
        assert_eq!(said(&script.answer(chat(false), &ids)), "a title");
        assert_eq!(said(&script.answer(chat(false), &ids)), "a title");
        assert_eq!(script.remaining(), 1);
        assert_eq!(said(&script.answer(chat(true), &ids)), "the work");
    }

    #[test]
    fn probes_and_counts_do_not_consume_the_queue() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.push(Reply::text("kept"));
        let probe = script.answer(request("HEAD", "/", Value::Null), &ids);
        assert_eq!((probe.rendered.status, probe.head_only), (200, true));
        assert_eq!(
            script.answer(request("GET", "/v1/models", Value::Null), &ids).rendered.status,
            200
        );
        let count = script.answer(request("POST", "/v1/messages/count_tokens", json!({})), &ids);
        assert_eq!(count.rendered.body, Body::Json(json!({"input_tokens": 100})));
        assert_eq!(
            script.answer(request("POST", "/nowhere", json!({})), &ids).rendered.status,
            404
        );
        assert_eq!(script.remaining(), 1);
        assert_eq!(script.recorded().len(), 4);
    }

    #[test]
    fn required_key_accepts_any_of_the_usual_headers() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.require_key("sk-test".into());
        script.set_fallback(Reply::text("ok"));
        let with = |name: &str, value: &str| {
            let mut r = chat(true);
            r.headers.push((name.into(), value.into()));
            r
        };
        for (name, value) in [
            ("x-api-key", "sk-test"),
            ("authorization", "Bearer sk-test"),
            ("x-goog-api-key", "sk-test"),
        ] {
            assert_eq!(script.answer(with(name, value), &ids).rendered.status, 200, "{name}");
        }
        let mut query = chat(true);
        query.query = "alt=sse&key=sk-test".into();
        assert_eq!(script.answer(query, &ids).rendered.status, 200);
        let wrong = script.answer(with("x-api-key", "sk-other"), &ids);
        assert_eq!(wrong.rendered.status, 401);
        assert_eq!(said(&wrong), "fake model: missing or wrong API key");
        assert_eq!(script.answer(chat(true), &ids).rendered.status, 401);
        let probe = script.answer(request("GET", "/", Value::Null), &ids);
        assert_eq!(probe.rendered.status, 200, "the liveness probe needs no key");
    }

    #[test]
    fn refused_key_uses_the_wire_error_shape() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.require_key("k".into());
        let plan = script.answer(request("POST", "/v1/messages", json!({})), &ids);
        let Body::Json(body) = plan.rendered.body else { panic!() };
        assert_eq!(body["error"]["type"], "authentication_error");
    }

    #[test]
    fn scripted_modifiers_reach_the_plan() {
        let (mut script, ids) = (Script::default(), Ids::new(1));
        script.push(Reply::error(429, "slow down").retry_after(2).delay(Duration::from_millis(5)));
        let plan = script.answer(chat(true), &ids);
        assert_eq!(plan.rendered.status, 429);
        assert_eq!(plan.retry_after, Some(2));
        assert_eq!(plan.delay, Some(Duration::from_millis(5)));
        script.push(Reply::text("x").cut_mid_stream());
        assert_eq!(script.answer(chat(true), &ids).fault, Some(Fault::Cut));
    }

    #[test]
    fn header_lookup_ignores_case() {
        let mut r = chat(true);
        r.headers.push(("x-api-key".into(), "v".into()));
        assert_eq!(r.header("X-Api-Key"), Some("v"));
        assert!(r.is_generation());
    }
}
