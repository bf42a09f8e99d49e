//! `ooo-plugin-sdk`: the plugin side of ooo's capability channel.
//!
//! A plugin that declares capabilities in its manifest reaches the core through the
//! socket ooo passes as `OUROBOROS_CORE_FD`, speaking MCP (newline-delimited JSON-RPC).
//! This crate makes each capability one call:
//!
//! ```no_run
//! use ooo_plugin_sdk::Core;
//! use serde_json::json;
//!
//! let mut core = Core::connect()?;
//! core.ledger_append("checked", json!({"ok": true}))?;
//! core.state_put("last_run", json!("2026-11-25"))?;
//! # Ok::<(), ooo_plugin_sdk::SdkError>(())
//! ```
//!
//! Run outside ooo (no channel), [`Core::connect`] returns [`SdkError::NoChannel`], so a
//! plugin can run standalone in its own tests. Depends on external crates only.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;

use serde_json::{Value, json};

/// The environment variable carrying the channel's file descriptor.
pub use ooo_channel::CORE_FD_ENV;
use ooo_channel::tools;

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error(
        "no core channel: {CORE_FD_ENV} is not set (run the plugin through `ooo <plugin> <command>`)"
    )]
    NoChannel,
    #[error("{CORE_FD_ENV}={0:?} is not a file descriptor number")]
    BadFd(String),
    #[error("the core refused {tool}: {message}")]
    Refused { tool: String, message: String },
    #[error("the core channel closed")]
    Closed,
    #[error("unexpected answer from the core: {0}")]
    Protocol(String),
    #[error("i/o error on the core channel: {0}")]
    Io(#[from] std::io::Error),
}

/// A connection to the core.
pub struct Core {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Core {
    /// Connect through `OUROBOROS_CORE_FD` and perform the MCP handshake.
    pub fn connect() -> Result<Self, SdkError> {
        let text = std::env::var(CORE_FD_ENV).map_err(|_| SdkError::NoChannel)?;
        let fd: RawFd = text.trim().parse().map_err(|_| SdkError::BadFd(text.clone()))?;
        if fd < 0 {
            return Err(SdkError::BadFd(text));
        }
        // SAFETY: ooo hands this descriptor to the plugin for exactly this use; we take
        // ownership once.
        let stream = unsafe { UnixStream::from_raw_fd(fd) };
        Self::over(stream)
    }

    /// Use an already connected stream (tests, custom launchers).
    pub fn over(stream: UnixStream) -> Result<Self, SdkError> {
        let writer = stream.try_clone()?;
        let mut core = Self { reader: BufReader::new(stream), writer, next_id: 1 };
        core.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "ooo-plugin-sdk", "version": env!("CARGO_PKG_VERSION")}}),
        )?;
        core.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(core)
    }

    fn send(&mut self, message: &Value) -> Result<(), SdkError> {
        let mut line = message.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        Ok(())
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, SdkError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(SdkError::Closed);
            }
            let message: Value =
                serde_json::from_str(&line).map_err(|e| SdkError::Protocol(e.to_string()))?;
            // Skip notifications and anything that is not our answer.
            if message.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(error) = message.get("error") {
                let text =
                    error.get("message").and_then(Value::as_str).unwrap_or("refused").to_owned();
                return Err(SdkError::Refused { tool: method.to_owned(), message: text });
            }
            return message.get("result").cloned().ok_or(SdkError::Protocol(line));
        }
    }

    /// Names of the tools this plugin may call.
    pub fn tools(&mut self) -> Result<Vec<String>, SdkError> {
        let result = self.request("tools/list", json!({}))?;
        Ok(result["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Call a tool; its JSON result.
    pub fn call(&mut self, tool: &str, arguments: Value) -> Result<Value, SdkError> {
        let result = self
            .request("tools/call", json!({"name": tool, "arguments": arguments}))
            .map_err(|e| match e {
                SdkError::Refused { message, .. } => {
                    SdkError::Refused { tool: tool.to_owned(), message }
                }
                other => other,
            })?;
        if result.get("isError") == Some(&json!(true)) {
            return Err(SdkError::Refused {
                tool: tool.to_owned(),
                message: result["content"][0]["text"].as_str().unwrap_or("").to_owned(),
            });
        }
        let text = result["content"][0]["text"].as_str().unwrap_or("null");
        serde_json::from_str(text).map_err(|e| SdkError::Protocol(e.to_string()))
    }

    /// Append an evidence event to this invocation's record.
    pub fn ledger_append(&mut self, kind: &str, data: Value) -> Result<u64, SdkError> {
        Ok(self.call(tools::LEDGER_APPEND, json!({"kind": kind, "data": data}))?["seq"]
            .as_u64()
            .unwrap_or(0))
    }

    pub fn state_get(&mut self, key: &str) -> Result<Value, SdkError> {
        self.call(tools::STATE_GET, json!({"key": key}))
    }

    pub fn state_put(&mut self, key: &str, value: Value) -> Result<(), SdkError> {
        self.call(tools::STATE_PUT, json!({"key": key, "value": value})).map(|_| ())
    }

    pub fn state_delete(&mut self, key: &str) -> Result<(), SdkError> {
        self.call(tools::STATE_DELETE, json!({"key": key})).map(|_| ())
    }

    pub fn state_list(&mut self, prefix: &str) -> Result<Vec<String>, SdkError> {
        let keys = self.call(tools::STATE_LIST, json!({"prefix": prefix}))?;
        Ok(keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect())
    }

    /// Record an external system touched.
    pub fn provenance_record(
        &mut self,
        kind: &str,
        identifier: &str,
        action: &str,
    ) -> Result<u64, SdkError> {
        Ok(self.call(
            tools::PROVENANCE_RECORD,
            json!({"kind": kind, "identifier": identifier, "action": action}),
        )?["seq"]
            .as_u64()
            .unwrap_or(0))
    }

    /// Attach a result document to the invocation.
    pub fn handoff_attach(&mut self, name: &str, document: Value) -> Result<u64, SdkError> {
        Ok(self.call(tools::HANDOFF_ATTACH, json!({"name": name, "document": document}))?["seq"]
            .as_u64()
            .unwrap_or(0))
    }

    /// Report progress (`fraction` from 0 to 1).
    pub fn progress(&mut self, step: &str, fraction: f64) -> Result<(), SdkError> {
        self.call(tools::PROGRESS_REPORT, json!({"step": step, "fraction": fraction})).map(|_| ())
    }

    /// A saved seed's YAML.
    pub fn seed_read(&mut self, seed_id: &str) -> Result<String, SdkError> {
        Ok(self.call(tools::SEED_READ, json!({"seed_id": seed_id}))?["yaml"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in core: answers the handshake, lists two tools, refuses one call.
    fn fake_core(stream: UnixStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            let msg: Value = serde_json::from_str(&line).unwrap();
            line.clear();
            let Some(id) = msg.get("id").cloned() else { continue };
            let reply = match msg["method"].as_str().unwrap() {
                "initialize" => {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}}})
                }
                "tools/list" => {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [{"name": "state_put"}, {"name": "state_get"}]}})
                }
                "tools/call" if msg["params"]["name"] == "state_get" => {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "{\"n\":1}"}], "isError": false}})
                }
                "tools/call" if msg["params"]["name"] == "state_put" => {
                    // A notification first: the client must skip it.
                    writer
                        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n")
                        .unwrap();
                    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "{\"ok\":true}"}], "isError": false}})
                }
                _ => {
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "provenance_record needs the provenance capability"}})
                }
            };
            writer.write_all(format!("{reply}\n").as_bytes()).unwrap();
        }
    }

    #[test]
    fn one_line_per_capability() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || fake_core(theirs));
        let mut core = Core::over(ours).unwrap();
        assert_eq!(core.tools().unwrap(), ["state_put", "state_get"]);
        core.state_put("n", json!(1)).unwrap();
        assert_eq!(core.state_get("n").unwrap(), json!({"n": 1}));
        let err = core.provenance_record("repo", "x", "read").unwrap_err();
        assert!(
            matches!(&err, SdkError::Refused { tool, message } if tool == "provenance_record" && message.contains("capability")),
            "{err}"
        );
        drop(core);
        server.join().unwrap();
    }

    #[test]
    fn without_a_channel_the_error_says_so() {
        // SAFETY: tests in this module do not read the variable concurrently.
        unsafe { std::env::remove_var(CORE_FD_ENV) };
        let err = Core::connect().err().unwrap();
        assert!(matches!(err, SdkError::NoChannel));
        assert!(err.to_string().contains("no core channel"));
    }
}
