//! A deliberately small HTTP/1.1 client over a raw socket, so the tests see exactly the
//! bytes the fake sends: partial bodies, missing terminators, closed connections.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body with chunked framing removed.
    pub body: Vec<u8>,
    /// Whether the body ended as its framing promised (terminating chunk or full length).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// SSE `data:` payloads in order.
    pub fn data(&self) -> Vec<String> {
        self.text().lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_owned).collect()
    }

    /// SSE `data:` payloads parsed as JSON (without `[DONE]`).
    pub fn data_json(&self) -> Vec<Value> {
        self.data()
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }
}

pub fn connect(base_url: &str) -> TcpStream {
    let stream = TcpStream::connect(base_url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    close: bool,
) -> Vec<u8> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut text =
        format!("{method} {path} HTTP/1.1\r\nhost: fake\r\ncontent-length: {}\r\n", body.len());
    if close {
        text.push_str("connection: close\r\n");
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&body);
    text.into_bytes()
}

/// One request on a fresh connection (`connection: close`), read to the end.
pub fn send(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response {
    let mut stream = connect(base_url);
    stream.write_all(&request_bytes(method, path, headers, body, true)).unwrap();
    let mut raw = Vec::new();
    // A cut connection may end in a reset: keep what arrived.
    let _ = stream.read_to_end(&mut raw);
    parse(&raw, method == "HEAD")
}

pub fn post(base_url: &str, path: &str, body: Value) -> Response {
    send(base_url, "POST", path, &[], Some(&body))
}

/// Parse a raw response (head, then a chunked or length-delimited body).
pub fn parse(raw: &[u8], head_only: bool) -> Response {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let (body, complete) = if head_only {
        (Vec::new(), true)
    } else if chunked {
        dechunk(rest)
    } else {
        let length: usize =
            headers.iter().find(|(n, _)| n == "content-length").unwrap().1.parse().unwrap();
        (rest[..rest.len().min(length)].to_vec(), rest.len() >= length)
    };
    Response { status, headers, body, complete }
}

/// Remove chunked framing; `complete` when the terminating chunk arrived.
pub fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        if size == 0 {
            return (body, true);
        }
        let data = &rest[eol + 2..];
        if data.len() < size {
            body.extend_from_slice(data);
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        rest = data.get(size + 2..).unwrap_or_default();
    }
}
