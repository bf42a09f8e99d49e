//! The four wire formats: which one a request speaks (routing by method and path), and
//! how a [`Reply`] looks in it, as a JSON body or a list of framed SSE events. Pure
//! functions of the request and the reply: the script lives in [`crate::script`], the
//! socket, delays and faults in [`crate::answer`].

mod anthropic;
mod chat;
mod gemini;
mod responses;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::Recorded;
use crate::reply::{Content, Part, Reply, TokenCounts};

/// The model name reported when a request names none.
pub(crate) const DEFAULT_MODEL: &str = "fake-model";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Anthropic,
    Chat,
    Responses,
    Gemini,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `HEAD /` or `GET /`: a liveness probe (Claude Code sends one).
    Root,
    /// `GET /v1/models`.
    Models,
    /// A token count (Anthropic `count_tokens`, Gemini `:countTokens`).
    CountTokens(Wire),
    /// A model generation: the only kind that takes a scripted reply.
    Generate(Generation),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    pub wire: Wire,
    pub stream: bool,
    /// The model the request named (`DEFAULT_MODEL` when none).
    pub model: String,
    /// Whether the request offered any tools.
    pub tooled: bool,
    /// Chat Completions `stream_options.include_usage`: add a usage chunk.
    pub include_usage: bool,
}

pub(crate) fn route(req: &Recorded) -> Route {
    match (req.method.as_str(), req.path.as_str()) {
        ("HEAD" | "GET", "/") => Route::Root,
        ("GET", "/v1/models") => Route::Models,
        ("POST", "/v1/messages/count_tokens") => Route::CountTokens(Wire::Anthropic),
        ("POST", "/v1/messages") => Route::Generate(generation(Wire::Anthropic, req)),
        ("POST", "/v1/chat/completions") => Route::Generate(generation(Wire::Chat, req)),
        ("POST", "/v1/responses") => Route::Generate(generation(Wire::Responses, req)),
        ("POST", path) => gemini_route(path, req),
        _ => Route::Unknown,
    }
}

/// `/v1beta/models/<model>:<method>` (also under `/v1/`).
fn gemini_route(path: &str, req: &Recorded) -> Route {
    let Some(rest) = path.strip_prefix("/v1beta/models/").or(path.strip_prefix("/v1/models/"))
    else {
        return Route::Unknown;
    };
    let Some((model, method)) = rest.rsplit_once(':') else {
        return Route::Unknown;
    };
    let stream = match method {
        "streamGenerateContent" => true,
        "generateContent" => false,
        "countTokens" => return Route::CountTokens(Wire::Gemini),
        _ => return Route::Unknown,
    };
    let mut generation = generation(Wire::Gemini, req);
    generation.stream = stream;
    generation.model = model.to_owned();
    Route::Generate(generation)
}

fn generation(wire: Wire, req: &Recorded) -> Generation {
    let body = &req.body;
    Generation {
        wire,
        stream: body["stream"] == json!(true),
        model: body["model"].as_str().unwrap_or(DEFAULT_MODEL).to_owned(),
        tooled: body["tools"].as_array().is_some_and(|tools| !tools.is_empty()),
        include_usage: body["stream_options"]["include_usage"] == json!(true),
    }
}

/// A response body: nothing, one JSON document, or SSE events (each already framed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Empty,
    Json(Value),
    Events(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub status: u16,
    pub body: Body,
}

/// A successful answer, ready to render.
pub(crate) struct Answer<'a> {
    pub parts: &'a [Part],
    pub usage: TokenCounts,
    pub model: &'a str,
}

impl Answer<'_> {
    fn calls_tools(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }
}

/// A part as the wire formats without freeform tools see it: text, or a function call
/// (freeform input becomes the arguments `{"input": <text>}`).
enum View<'a> {
    Text(&'a str),
    Function { name: &'a str, input: Value },
}

fn view(part: &Part) -> View<'_> {
    match part {
        Part::Text(text) => View::Text(text),
        Part::ToolCall { name, input } => View::Function { name, input: input.clone() },
        Part::CustomToolCall { name, input } => {
            View::Function { name, input: json!({ "input": input }) }
        }
    }
}

/// `reply` as the answer to `generation`.
pub(crate) fn render(generation: &Generation, reply: &Reply, ids: &Ids) -> Rendered {
    let parts = match &reply.content {
        Content::Error { status, message } => {
            return error(Some(generation.wire), *status, message);
        }
        Content::Parts(parts) => parts,
    };
    let model = reply.model.as_deref().unwrap_or(&generation.model);
    let answer = Answer { parts, usage: reply.usage, model };
    let body = match (generation.wire, generation.stream) {
        (Wire::Anthropic, true) => Body::Events(anthropic::stream(&answer, ids)),
        (Wire::Anthropic, false) => Body::Json(anthropic::message(&answer, ids)),
        (Wire::Chat, true) => Body::Events(chat::stream(&answer, ids, generation.include_usage)),
        (Wire::Chat, false) => Body::Json(chat::completion(&answer, ids)),
        (Wire::Responses, true) => Body::Events(responses::stream(&answer, ids)),
        (Wire::Responses, false) => Body::Json(responses::response(&answer, ids)),
        (Wire::Gemini, true) => Body::Events(gemini::stream(&answer, ids)),
        (Wire::Gemini, false) => Body::Json(gemini::response(&answer, ids)),
    };
    Rendered { status: 200, body }
}

/// An HTTP error in the wire format's error shape (a generic shape when the request
/// matched no wire format).
pub(crate) fn error(wire: Option<Wire>, status: u16, message: &str) -> Rendered {
    let body = match wire {
        Some(Wire::Anthropic) => anthropic::error(status, message),
        Some(Wire::Chat | Wire::Responses) => chat::error(status, message),
        Some(Wire::Gemini) => gemini::error(status, message),
        None => chat::error(status, message),
    };
    Rendered { status, body: Body::Json(body) }
}

/// Answers that take nothing from the script.
pub(crate) fn fixed(route: &Route) -> Rendered {
    let body = match route {
        Route::Root => Body::Empty,
        Route::Models => Body::Json(json!({
            "object": "list",
            "data": [{ "id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "ooo-fake-model" }],
        })),
        Route::CountTokens(Wire::Gemini) => Body::Json(json!({ "totalTokens": 100 })),
        Route::CountTokens(_) => Body::Json(json!({ "input_tokens": 100 })),
        Route::Generate(_) | Route::Unknown => {
            return error(None, 404, "fake model: no such route");
        }
    };
    Rendered { status: 200, body }
}

/// Unique-looking ids (`toolu_…`, `call_…`, `msg_…`): a per-fake seed mixed with a
/// counter, so two fakes in one test (a resumed session) do not repeat each other's ids.
#[derive(Debug)]
pub(crate) struct Ids {
    seed: u64,
    next: AtomicU64,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Ids { seed, next: AtomicU64::new(1) }
    }

    pub(crate) fn make(&self, prefix: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{:016x}{:04x}", splitmix(self.seed ^ n), n & 0xffff)
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Reading back what the renderers emit, for the unit tests of each wire format.

    use serde_json::Value;

    /// Split framed SSE text into `(event name, data)` pairs (one data line per event).
    pub(crate) fn events(framed: &[String]) -> Vec<(Option<String>, String)> {
        framed
            .iter()
            .map(|e| {
                assert!(e.ends_with("\n\n"), "{e:?}");
                let mut name = None;
                let mut data = String::new();
                for line in e.trim_end_matches('\n').split('\n') {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = d.to_owned();
                    } else {
                        panic!("unexpected line {line:?}");
                    }
                }
                (name, data)
            })
            .collect()
    }

    pub(crate) fn json_events(framed: &[String]) -> Vec<(Option<String>, Value)> {
        events(framed)
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(n, d)| (n, serde_json::from_str(&d).unwrap()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str, body: Value) -> Recorded {
        Recorded {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            body,
        }
    }

    #[test]
    fn routes_each_wire_format_by_path() {
        let anthropic = route(&post("/v1/messages", json!({"model": "m", "stream": true})));
        let Route::Generate(g) = anthropic else { panic!("{anthropic:?}") };
        assert_eq!(
            (g.wire, g.stream, g.model.as_str(), g.tooled),
            (Wire::Anthropic, true, "m", false)
        );

        let chat = route(&post(
            "/v1/chat/completions",
            json!({"tools": [{}], "stream": true, "stream_options": {"include_usage": true}}),
        ));
        let Route::Generate(g) = chat else { panic!("{chat:?}") };
        assert_eq!(
            (g.wire, g.tooled, g.include_usage, g.model.as_str()),
            (Wire::Chat, true, true, DEFAULT_MODEL)
        );

        let gemini = route(&post("/v1beta/models/gemini-x:streamGenerateContent", json!({})));
        let Route::Generate(g) = gemini else { panic!("{gemini:?}") };
        assert_eq!((g.wire, g.stream, g.model.as_str()), (Wire::Gemini, true, "gemini-x"));

        let router = route(&post("/v1beta/models/flash:generateContent", json!({"stream": true})));
        let Route::Generate(g) = router else { panic!("{router:?}") };
        assert!(!g.stream, "the path decides for Gemini");

        assert!(matches!(
            route(&post("/v1/responses", json!({}))),
            Route::Generate(Generation { wire: Wire::Responses, .. })
        ));
        assert_eq!(
            route(&post("/v1/messages/count_tokens", json!({}))),
            Route::CountTokens(Wire::Anthropic)
        );
        assert_eq!(
            route(&post("/v1beta/models/x:countTokens", json!({}))),
            Route::CountTokens(Wire::Gemini)
        );
        assert_eq!(route(&post("/chat/completions", json!({}))), Route::Unknown);
        assert_eq!(route(&post("/v1beta/models/x:embed", json!({}))), Route::Unknown);
    }

    #[test]
    fn empty_tools_count_as_untooled() {
        let Route::Generate(g) = route(&post("/v1/messages", json!({"tools": []}))) else {
            panic!()
        };
        assert!(!g.tooled);
    }

    #[test]
    fn ids_are_distinct_and_prefixed() {
        let ids = Ids::new(7);
        let (a, b) = (ids.make("toolu_"), ids.make("toolu_"));
        assert_ne!(a, b);
        assert!(a.starts_with("toolu_") && a.len() == "toolu_".len() + 20, "{a}");
        assert_ne!(Ids::new(8).make("x"), Ids::new(9).make("x"));
    }

    #[test]
    fn errors_take_each_wire_shape() {
        let shape = |wire| match error(wire, 429, "slow down").body {
            Body::Json(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(shape(Some(Wire::Anthropic))["error"]["type"], "rate_limit_error");
        assert_eq!(shape(Some(Wire::Anthropic))["type"], "error");
        assert_eq!(shape(Some(Wire::Chat))["error"]["message"], "slow down");
        assert_eq!(shape(Some(Wire::Gemini))["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(shape(Some(Wire::Gemini))["error"]["code"], 429);
        assert_eq!(shape(None)["error"]["message"], "slow down");
    }

    fn streamed(wire: Wire, reply: &Reply) -> Vec<(Option<String>, Value)> {
        let generation = Generation {
            wire,
            stream: true,
            model: "m".into(),
            tooled: false,
            include_usage: true,
        };
        let Body::Events(framed) = render(&generation, reply, &Ids::new(3)).body else {
            panic!("a stream")
        };
        testing::json_events(&framed)
    }

    /// The text a client rebuilds from the deltas of one wire format.
    fn joined_text(wire: Wire, events: &[(Option<String>, Value)]) -> String {
        let piece = |e: &Value| -> Option<String> {
            let text = match wire {
                Wire::Anthropic => e["delta"]["text"].as_str(),
                Wire::Chat => e["choices"][0]["delta"]["content"].as_str(),
                Wire::Responses if e["type"] == "response.output_text.delta" => e["delta"].as_str(),
                Wire::Responses => None,
                Wire::Gemini => e["candidates"][0]["content"]["parts"][0]["text"].as_str(),
            };
            text.map(str::to_owned)
        };
        events.iter().filter_map(|(_, e)| piece(e)).collect()
    }

    proptest::proptest! {
        /// Whatever the text (unicode, newlines, quotes, `data:` look-alikes), every
        /// stream frames it as whole SSE events whose deltas join back to it.
        #[test]
        fn any_text_round_trips_through_every_stream(text in ".*|\\PC*|[\"\\\\\n\r:a-z ]*") {
            let reply = Reply::text(text.clone());
            for wire in [Wire::Anthropic, Wire::Chat, Wire::Responses, Wire::Gemini] {
                let events = streamed(wire, &reply);
                proptest::prop_assert_eq!(joined_text(wire, &events), text.clone(), "{:?}", wire);
            }
        }

        /// Tool arguments streamed in pieces parse back to the scripted JSON.
        #[test]
        fn any_tool_input_round_trips_through_anthropic(content in proptest::prelude::any::<String>()) {
            let input = json!({ "file_path": "a", "content": content });
            let events = streamed(Wire::Anthropic, &Reply::tool_call("Write", input.clone()));
            let partial: String = events
                .iter()
                .filter_map(|(_, e)| e["delta"]["partial_json"].as_str())
                .collect();
            proptest::prop_assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), input);
        }
    }
}
