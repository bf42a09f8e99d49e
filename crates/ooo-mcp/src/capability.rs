//! The capability channel's server: tools per declared capability
//! (`ledger`, `state`, `provenance`, `handoff`, `progress`, `seed`), newline-delimited
//! JSON-RPC (MCP) over a socket the plugin inherited.

use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServiceExt};
use serde_json::{Value, json};

use ooo_core::ledger::{
    Actor, AggregateRef, AppendOptions, Event, EventQuery, EventType, LedgerError, NewEvent,
    Projection, ProjectionRows, SqliteStore, Store,
};

/// The projection holding plugin state: `<plugin>/<key>` -> value.
pub const STATE: &str = "plugin_state";

/// One declared capability: name and access (`read`, `write`, `execute`, `attach`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    pub access: String,
}

/// Who is calling, and where effects are recorded.
#[derive(Debug, Clone)]
pub struct Session {
    pub plugin: String,
    pub invocation_id: String,
    pub ledger_path: PathBuf,
    pub seeds_dir: PathBuf,
    pub declared: Vec<Grant>,
}

struct ToolDef {
    name: &'static str,
    capability: &'static str,
    /// Accesses that unlock this tool.
    access: &'static [&'static str],
    description: &'static str,
    schema: fn() -> Value,
}

const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "ledger_append",
        capability: "ledger",
        access: &["write"],
        description: "Append an evidence event (a JSON object) to this invocation's record.",
        schema: || json!({"type": "object", "properties": {"kind": {"type": "string"}, "data": {"type": "object"}}, "required": ["data"]}),
    },
    ToolDef {
        name: "ledger_read",
        capability: "ledger",
        access: &["read", "write"],
        description: "Read this invocation's events.",
        schema: || json!({"type": "object"}),
    },
    ToolDef {
        name: "state_get",
        capability: "state",
        access: &["read", "write"],
        description: "Read a key of this plugin's state.",
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
    },
    ToolDef {
        name: "state_list",
        capability: "state",
        access: &["read", "write"],
        description: "List this plugin's state keys.",
        schema: || json!({"type": "object", "properties": {"prefix": {"type": "string"}}}),
    },
    ToolDef {
        name: "state_put",
        capability: "state",
        access: &["write"],
        description: "Set a key of this plugin's state to a JSON value.",
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}, "value": {}}, "required": ["key", "value"]}),
    },
    ToolDef {
        name: "state_delete",
        capability: "state",
        access: &["write"],
        description: "Delete a key of this plugin's state.",
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
    },
    ToolDef {
        name: "provenance_record",
        capability: "provenance",
        access: &["write", "attach"],
        description: "Record an external system touched: kind, identifier, action.",
        schema: || json!({"type": "object", "properties": {"kind": {"type": "string"}, "identifier": {"type": "string"}, "action": {"type": "string"}}, "required": ["kind", "identifier", "action"]}),
    },
    ToolDef {
        name: "handoff_attach",
        capability: "handoff",
        access: &["attach", "write"],
        description: "Attach a result document or an artifact hash to the invocation.",
        schema: || json!({"type": "object", "properties": {"name": {"type": "string"}, "document": {}, "sha256": {"type": "string"}}, "required": ["name"]}),
    },
    ToolDef {
        name: "progress_report",
        capability: "progress",
        access: &["write", "attach", "execute"],
        description: "Report a step and a fraction done (0 to 1).",
        schema: || json!({"type": "object", "properties": {"step": {"type": "string"}, "fraction": {"type": "number"}}, "required": ["step"]}),
    },
    ToolDef {
        name: "seed_read",
        capability: "seed",
        access: &["read"],
        description: "Read a saved seed by id.",
        schema: || json!({"type": "object", "properties": {"seed_id": {"type": "string"}}, "required": ["seed_id"]}),
    },
];

/// Folds `plugin.state.*` events into [`STATE`]; a purging `plugin.removed` clears the
/// plugin's rows.
pub struct StateProjection;

impl Projection for StateProjection {
    fn name(&self) -> &str {
        STATE
    }
    fn apply(&self, e: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        if e.event_type.as_str() == "plugin.removed" && e.payload["purge"] == true {
            // `plugin remove --purge` forgets the plugin's state with its registration.
            let Some(plugin) = e.payload["name"].as_str() else { return Ok(()) };
            for row in rows.keys(&format!("{plugin}/"))? {
                rows.delete(&row)?;
            }
            return Ok(());
        }
        let (Some(plugin), Some(key)) = (e.payload["plugin"].as_str(), e.payload["key"].as_str())
        else {
            return Ok(());
        };
        let row = format!("{plugin}/{key}");
        match e.event_type.as_str() {
            "plugin.state.put" => rows.put(&row, &e.payload["value"]),
            "plugin.state.deleted" => rows.delete(&row),
            _ => Ok(()),
        }
    }
}

/// The server side of one plugin's channel.
#[derive(Clone)]
pub struct CapabilityServer {
    session: Arc<Session>,
    ledger: Arc<Mutex<SqliteStore>>,
    used: Arc<Mutex<BTreeSet<String>>>,
    refused: Arc<Mutex<BTreeSet<String>>>,
}

fn error(message: impl Into<String>) -> McpError {
    McpError::invalid_params(message.into(), None)
}

impl CapabilityServer {
    pub fn new(session: Session) -> Result<Self, LedgerError> {
        let ledger = SqliteStore::open(&session.ledger_path)?;
        Ok(Self {
            session: Arc::new(session),
            ledger: Arc::new(Mutex::new(ledger)),
            used: Arc::default(),
            refused: Arc::default(),
        })
    }

    fn allowed(&self, tool: &ToolDef) -> bool {
        self.session
            .declared
            .iter()
            .any(|g| g.name == tool.capability && tool.access.contains(&g.access.as_str()))
    }

    /// The tools this plugin may call.
    pub fn tool_names(&self) -> Vec<&'static str> {
        TOOLS.iter().filter(|t| self.allowed(t)).map(|t| t.name).collect()
    }

    /// Tools the plugin asked for without the capability.
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().map(|u| u.iter().cloned().collect()).unwrap_or_default()
    }

    /// `capability:access` of every tool called so far.
    pub fn used(&self) -> Vec<String> {
        self.used.lock().map(|u| u.iter().cloned().collect()).unwrap_or_default()
    }

    fn record(&self, event_type: &str, payload: Value, projection: bool) -> Result<u64, McpError> {
        let s = &self.session;
        let event = (|| {
            NewEvent::new(
                AggregateRef::new("plugin_invocation", &s.invocation_id)?,
                EventType::parse(event_type)?,
                Actor::plugin(&s.plugin)?,
                payload,
            )
        })()
        .map_err(|e| error(e.to_string()))?;
        let mut ledger =
            self.ledger.lock().map_err(|_| McpError::internal_error("ledger lock", None))?;
        let projections: &[&dyn Projection] = if projection { &[&StateProjection] } else { &[] };
        let stored = ledger
            .append(&[event], AppendOptions { projections, ..Default::default() })
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(stored[0].seq)
    }

    /// Run one tool call after checking it against the declared capabilities.
    pub fn call(&self, name: &str, args: &JsonObject) -> Result<Value, McpError> {
        let tool = TOOLS
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| error(format!("no tool {name}")))?;
        if !self.allowed(tool) {
            if let Ok(mut refused) = self.refused.lock() {
                refused.insert(name.to_owned());
            }
            return Err(error(format!(
                "{name} needs the {} capability, which {} does not declare",
                tool.capability, self.session.plugin
            )));
        }
        let grant = self
            .session
            .declared
            .iter()
            .find(|g| g.name == tool.capability)
            .map(|g| format!("{}:{}", g.name, g.access))
            .unwrap_or_default();
        if let Ok(mut used) = self.used.lock() {
            used.insert(grant);
        }
        let s = &self.session;
        let text = |k: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| error(format!("{k} (a string) is required")))
        };
        let state_key = |k: &str| format!("{}/{k}", s.plugin);
        match name {
            "ledger_append" => {
                let data = args
                    .get("data")
                    .cloned()
                    .filter(Value::is_object)
                    .ok_or_else(|| error("data (an object) is required"))?;
                let seq = self.record(
                    "plugin.evidence.recorded",
                    json!({"plugin": s.plugin, "kind": args.get("kind"), "data": data}),
                    false,
                )?;
                Ok(json!({"seq": seq}))
            }
            "ledger_read" => {
                let ledger = self
                    .ledger
                    .lock()
                    .map_err(|_| McpError::internal_error("ledger lock", None))?;
                let events = ledger
                    .query(&EventQuery {
                        aggregate_type: Some("plugin_invocation".into()),
                        aggregate_id: Some(s.invocation_id.clone()),
                        ..Default::default()
                    })
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                Ok(json!(events.iter().map(|e| json!({"seq": e.seq, "event_type": e.event_type, "payload": e.payload})).collect::<Vec<_>>()))
            }
            "state_get" => {
                let key = text("key")?;
                let ledger = self
                    .ledger
                    .lock()
                    .map_err(|_| McpError::internal_error("ledger lock", None))?;
                Ok(ledger
                    .projection_get(STATE, &state_key(&key))
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?
                    .unwrap_or(Value::Null))
            }
            "state_list" => {
                let prefix = args.get("prefix").and_then(Value::as_str).unwrap_or("");
                let ledger = self
                    .ledger
                    .lock()
                    .map_err(|_| McpError::internal_error("ledger lock", None))?;
                let rows = ledger
                    .projection_scan(STATE, &state_key(prefix))
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                Ok(json!(
                    rows.into_iter()
                        .map(|(k, _)| k[s.plugin.len() + 1..].to_owned())
                        .collect::<Vec<_>>()
                ))
            }
            "state_put" => {
                let key = text("key")?;
                let value = args.get("value").cloned().unwrap_or(Value::Null);
                self.record(
                    "plugin.state.put",
                    json!({"plugin": s.plugin, "key": key, "value": value}),
                    true,
                )?;
                Ok(json!({"ok": true}))
            }
            "state_delete" => {
                let key = text("key")?;
                self.record("plugin.state.deleted", json!({"plugin": s.plugin, "key": key}), true)?;
                Ok(json!({"ok": true}))
            }
            "provenance_record" => {
                let seq = self.record("plugin.provenance.recorded", json!({"plugin": s.plugin, "kind": text("kind")?, "identifier": text("identifier")?, "action": text("action")?}), false)?;
                Ok(json!({"seq": seq}))
            }
            "handoff_attach" => {
                let seq = self.record("plugin.handoff.attached", json!({"plugin": s.plugin, "name": text("name")?, "document": args.get("document"), "sha256": args.get("sha256")}), false)?;
                Ok(json!({"seq": seq}))
            }
            "progress_report" => {
                let fraction =
                    args.get("fraction").and_then(Value::as_f64).map(|f| f.clamp(0.0, 1.0));
                let seq = self.record(
                    "plugin.progress.reported",
                    json!({"plugin": s.plugin, "step": text("step")?, "fraction": fraction}),
                    false,
                )?;
                Ok(json!({"seq": seq}))
            }
            "seed_read" => {
                let id = text("seed_id")?;
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    || id.starts_with('.')
                {
                    return Err(error("not a seed id"));
                }
                let text = std::fs::read_to_string(s.seeds_dir.join(format!("{id}.yaml")))
                    .map_err(|_| error(format!("no saved seed {id}")))?;
                Ok(json!({"seed_id": id, "yaml": text}))
            }
            _ => Err(error(format!("no tool {name}"))),
        }
    }
}

impl ServerHandler for CapabilityServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = TOOLS
            .iter()
            .filter(|t| self.allowed(t))
            .map(|t| {
                let schema: JsonObject = serde_json::from_value((t.schema)()).unwrap_or_default();
                Tool::new(t.name, t.description, Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        req: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = req.arguments.clone().unwrap_or_default();
        let value = self.call(&req.name, &args)?;
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(
            value.to_string(),
        )])))
    }
}

/// A running channel: serve `ours` until the plugin closes its end, then report the
/// capabilities it used.
pub struct Channel {
    thread: std::thread::JoinHandle<(Vec<String>, Vec<String>)>,
}

impl Channel {
    /// Start serving on `ours` in a thread.
    pub fn serve(server: CapabilityServer, ours: UnixStream) -> std::io::Result<Self> {
        ours.set_nonblocking(true)?;
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(_) => return (Vec::new(), Vec::new()),
            };
            let tracker = server.clone();
            runtime.block_on(async move {
                let Ok(stream) = tokio::net::UnixStream::from_std(ours) else { return };
                let (r, w) = stream.into_split();
                // A plugin that never speaks MCP just closes the socket: that is fine.
                if let Ok(service) = server.serve((r, w)).await {
                    let _ = service.waiting().await;
                }
            });
            (tracker.used(), tracker.refused())
        });
        Ok(Self { thread })
    }

    /// Wait for the plugin to close the channel; the capabilities it used.
    pub fn finish(self) -> Vec<String> {
        self.finish_report().0
    }

    /// Wait for the plugin to close the channel: (capabilities used, tools refused).
    pub fn finish_report(self) -> (Vec<String>, Vec<String>) {
        self.thread.join().unwrap_or_default()
    }
}
