//! Writing a [`Plan`] to the client: the HTTP head, a JSON body or chunked SSE events,
//! and the scripted misbehaviour (a delay, a cut mid-event, a stall). What to send is
//! decided in [`crate::script`]; the events themselves come from [`crate::wire`].

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::relay::Client;
use crate::reply::Fault;
use crate::script::Plan;
use crate::wire::Body;

const POLL: Duration = Duration::from_millis(10);

/// Send `plan` to `client`; `stopping` turns true when the fake is dropped.
pub(crate) fn deliver(plan: &Plan, client: &mut Client, stopping: &AtomicBool) -> io::Result<()> {
    let quit = |client: &Client| stopping.load(Ordering::SeqCst) || client.is_gone();
    if let Some(delay) = plan.delay
        && !sleep_unless(delay, || quit(client))
    {
        client.close();
        return Ok(());
    }
    let body = if plan.head_only { Body::Empty } else { plan.rendered.body.clone() };
    let segments = segments(&body);
    client.write_all(head(plan, &body).as_bytes())?;
    match plan.fault {
        None => {
            for segment in &segments {
                client.write_all(segment)?;
            }
            if matches!(body, Body::Events(_)) {
                client.write_all(b"0\r\n\r\n")?;
            }
            client.flush()
        }
        Some(Fault::Cut) => {
            client.write_all(&cut_prefix(&body, &segments))?;
            client.close();
            Ok(())
        }
        Some(Fault::Stall) => {
            if let (Body::Events(_), Some(first)) = (&body, segments.first()) {
                client.write_all(first)?;
            }
            client.flush()?;
            while !quit(client) {
                thread::sleep(POLL);
            }
            client.close();
            Ok(())
        }
    }
}

/// Sleep for `wait` in short steps; false when `give_up` turned true first.
fn sleep_unless(wait: Duration, give_up: impl Fn() -> bool) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if give_up() {
            return false;
        }
        thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    true
}

fn head(plan: &Plan, body: &Body) -> String {
    let status = plan.rendered.status;
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    match body {
        Body::Empty => head.push_str("content-length: 0\r\n"),
        Body::Json(value) => {
            head.push_str("content-type: application/json\r\n");
            head.push_str(&format!("content-length: {}\r\n", value.to_string().len()));
        }
        Body::Events(_) => {
            head.push_str("content-type: text/event-stream\r\n");
            head.push_str("cache-control: no-cache\r\n");
            head.push_str("transfer-encoding: chunked\r\n");
        }
    }
    if let Some(seconds) = plan.retry_after {
        head.push_str(&format!("retry-after: {seconds}\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Unknown",
    }
}

/// The body as written: one segment for JSON, one chunk per SSE event.
fn segments(body: &Body) -> Vec<Vec<u8>> {
    match body {
        Body::Empty => Vec::new(),
        Body::Json(value) => vec![value.to_string().into_bytes()],
        Body::Events(events) => events.iter().map(|e| chunk(e.as_bytes())).collect(),
    }
}

fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
    chunk.extend_from_slice(bytes);
    chunk.extend_from_slice(b"\r\n");
    chunk
}

/// What a cut answer sends: the first half of the events whole, then the first half of
/// the next event's bytes (as a complete chunk, so the client sees the broken event),
/// or the first half of a JSON body.
fn cut_prefix(body: &Body, segments: &[Vec<u8>]) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::Json(value) => {
            let text = value.to_string().into_bytes();
            text[..text.len() / 2].to_vec()
        }
        Body::Events(events) => {
            let whole = events.len() / 2;
            let mut prefix: Vec<u8> = segments[..whole].concat();
            let broken = events[whole].as_bytes();
            prefix.extend(chunk(&broken[..broken.len() / 2]));
            prefix
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Rendered;
    use serde_json::json;

    fn plan(body: Body) -> Plan {
        Plan {
            rendered: Rendered { status: 200, body },
            retry_after: None,
            delay: None,
            fault: None,
            head_only: false,
        }
    }

    #[test]
    fn head_frames_each_body_kind() {
        let events = Body::Events(vec!["data: 1\n\n".into()]);
        let sse = head(&plan(events.clone()), &events);
        assert!(sse.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(sse.contains("content-type: text/event-stream\r\n"), "{sse}");
        assert!(sse.contains("transfer-encoding: chunked\r\n"), "{sse}");
        let json_body = Body::Json(json!({"a": 1}));
        let mut limited = plan(json_body.clone());
        limited.rendered.status = 429;
        limited.retry_after = Some(3);
        let text = head(&limited, &json_body);
        assert!(text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{text}");
        assert!(
            text.contains("content-length: 7\r\n") && text.contains("retry-after: 3\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn cut_stops_inside_an_event() {
        let events: Vec<String> = (0..4).map(|n| format!("data: {{\"n\":{n}}}\n\n")).collect();
        let body = Body::Events(events.clone());
        let prefix = String::from_utf8(cut_prefix(&body, &segments(&body))).unwrap();
        assert!(prefix.contains("{\"n\":1}") && !prefix.contains("{\"n\":2}"), "{prefix:?}");
        assert!(
            prefix.ends_with("7\r\ndata: {\r\n"),
            "the last chunk holds half an event: {prefix:?}"
        );
        let single = Body::Events(vec![events[0].clone()]);
        let prefix = cut_prefix(&single, &segments(&single));
        assert!(!prefix.is_empty() && !prefix.ends_with(b"\n\n\r\n"));
    }

    #[test]
    fn cut_json_sends_half_the_body() {
        let body = Body::Json(json!({"long": "enough to cut"}));
        let prefix = cut_prefix(&body, &segments(&body));
        assert!(serde_json::from_slice::<serde_json::Value>(&prefix).is_err());
    }
}
