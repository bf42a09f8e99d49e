//! The capability channel's server: a table from tool name (the wire contract of
//! `ooo-channel`) to a [`ScopedCore`] method, served as MCP (newline-delimited JSON-RPC)
//! over a socket the plugin inherited.
//!
//! Every check (which capability a tool needs, with which access) and every record
//! lives in the core's `ScopedCore`; this module only decodes arguments, calls, and
//! encodes answers, counting each call against the invocation's [`quota`]s (a call
//! over one is answered with a JSON-RPC error naming it). What does not live here: the
//! capability model, state and the other primitives (`ooo-core`), the quota accounting
//! itself (`quota`), and launching the plugin (`ooo-plugin`).

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ooo_channel::{self as wire, tools};
use ooo_core::capability::{
    Access, Capability, CoreError, Grant as CoreGrant, Grants, Principal, ScopedCore,
};
use ooo_core::handoff::Handoff;
use ooo_core::ledger::{AggregateRef, LedgerError, SqliteStore, Store};
use ooo_core::progress::Progress;
use ooo_core::provenance::Provenance;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServiceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::quota::{self, BoundedReader, Exceeded, Meter, Quotas};

/// The projection holding state, and its fold, now in the core (kept here by name for
/// the callers that reach it through this crate).
pub use ooo_core::state::{STATE, StateProjection};

/// One declared capability, as the manifest spells it: name and access.
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

type Handler = fn(&ScopedCore, &JsonObject) -> Result<Value, CoreError>;

/// One tool: its name, the grant it needs (for `tools/list`; the core checks again on
/// every call), its description and argument schema, and the core method it calls.
struct ToolDef {
    name: &'static str,
    capability: Capability,
    accepted: &'static [Access],
    description: &'static str,
    schema: fn() -> Value,
    handler: Handler,
    /// Whether a call appends a ledger event (counted against the ledger quotas).
    appends: bool,
}

const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: tools::LEDGER_APPEND,
        appends: true,
        capability: Capability::Ledger,
        accepted: &[Access::Write],
        description: "Append an evidence event (a JSON object) to this invocation's record.",
        schema: || json!({"type": "object", "properties": {"kind": {"type": "string"}, "data": {"type": "object"}}, "required": ["data"]}),
        handler: |core, args| {
            let a: wire::LedgerAppend = decode(args)?;
            appended(core.append_evidence(a.kind.as_deref(), a.data))
        },
    },
    ToolDef {
        name: tools::LEDGER_READ,
        appends: false,
        capability: Capability::Ledger,
        accepted: &[Access::Read, Access::Write],
        description: "Read this invocation's events.",
        schema: || json!({"type": "object"}),
        handler: |core, _| {
            let events: Vec<wire::EventSummary> = core
                .own_events()?
                .into_iter()
                .map(|e| wire::EventSummary {
                    seq: e.seq,
                    event_type: e.event_type,
                    payload: e.payload,
                })
                .collect();
            Ok(json!(events))
        },
    },
    ToolDef {
        name: tools::STATE_GET,
        appends: false,
        capability: Capability::State,
        accepted: &[Access::Read, Access::Write],
        description: "Read a key of this plugin's state.",
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
        handler: |core, args| {
            let a: wire::StateKey = decode(args)?;
            Ok(core.state_get(&a.key)?.unwrap_or(Value::Null))
        },
    },
    ToolDef {
        name: tools::STATE_LIST,
        appends: false,
        capability: Capability::State,
        accepted: &[Access::Read, Access::Write],
        description: "List this plugin's state keys.",
        schema: || json!({"type": "object", "properties": {"prefix": {"type": "string"}}}),
        handler: |core, args| {
            let a: wire::StateList = decode(args)?;
            Ok(json!(core.state_keys(a.prefix.as_deref().unwrap_or(""))?))
        },
    },
    ToolDef {
        name: tools::STATE_PUT,
        appends: true,
        capability: Capability::State,
        accepted: &[Access::Write],
        description: "Set a key of this plugin's state to a JSON value.",
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}, "value": {}}, "required": ["key", "value"]}),
        handler: |core, args| {
            let a: wire::StatePut = decode(args)?;
            core.state_put(&a.key, &a.value)?;
            Ok(json!(wire::Done { ok: true }))
        },
    },
    ToolDef {
        name: tools::STATE_DELETE,
        appends: true,
        capability: Capability::State,
        accepted: &[Access::Write],
        description: "Delete a key of this plugin's state.",
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
        handler: |core, args| {
            let a: wire::StateKey = decode(args)?;
            core.state_delete(&a.key)?;
            Ok(json!(wire::Done { ok: true }))
        },
    },
    ToolDef {
        name: tools::PROVENANCE_RECORD,
        appends: true,
        capability: Capability::Provenance,
        accepted: &[Access::Write, Access::Attach],
        description: "Record an external system touched: kind, identifier, action.",
        schema: || json!({"type": "object", "properties": {"kind": {"type": "string"}, "identifier": {"type": "string"}, "action": {"type": "string"}}, "required": ["kind", "identifier", "action"]}),
        handler: |core, args| {
            let a: wire::ProvenanceRecord = decode(args)?;
            appended(core.record_provenance(&Provenance {
                kind: a.kind,
                identifier: a.identifier,
                action: a.action,
            }))
        },
    },
    ToolDef {
        name: tools::HANDOFF_ATTACH,
        appends: true,
        capability: Capability::Handoff,
        accepted: &[Access::Attach, Access::Write],
        description: "Attach a result document or an artifact hash to the invocation.",
        schema: || json!({"type": "object", "properties": {"name": {"type": "string"}, "document": {}, "sha256": {"type": "string"}}, "required": ["name"]}),
        handler: |core, args| {
            let a: wire::HandoffAttach = decode(args)?;
            appended(core.attach_handoff(&Handoff {
                name: a.name,
                document: a.document,
                sha256: a.sha256,
            }))
        },
    },
    ToolDef {
        name: tools::PROGRESS_REPORT,
        appends: true,
        capability: Capability::Progress,
        accepted: &[Access::Write, Access::Attach, Access::Execute],
        description: "Report a step and a fraction done (0 to 1).",
        schema: || json!({"type": "object", "properties": {"step": {"type": "string"}, "fraction": {"type": "number"}}, "required": ["step"]}),
        handler: |core, args| {
            let a: wire::ProgressReport = decode(args)?;
            appended(core.report_progress(&Progress { step: a.step, fraction: a.fraction }))
        },
    },
    ToolDef {
        name: tools::SEED_READ,
        appends: false,
        capability: Capability::Seed,
        accepted: &[Access::Read],
        description: "Read a saved seed by id.",
        schema: || json!({"type": "object", "properties": {"seed_id": {"type": "string"}}, "required": ["seed_id"]}),
        handler: |core, args| {
            let a: wire::SeedRead = decode(args)?;
            let yaml = core.read_seed(&a.seed_id)?;
            Ok(json!(wire::SeedText { seed_id: a.seed_id, yaml }))
        },
    },
];

fn decode<T: DeserializeOwned>(args: &JsonObject) -> Result<T, CoreError> {
    serde_json::from_value(Value::Object(args.clone()))
        .map_err(|e| CoreError::InvalidArgument(format!("bad arguments: {e}")))
}

fn appended(seq: Result<u64, CoreError>) -> Result<Value, CoreError> {
    Ok(json!(wire::Appended { seq: seq? }))
}

/// JSON-RPC error code of a request refused by a channel quota (server-defined range).
pub const QUOTA_EXCEEDED_CODE: i32 = -32001;

/// The JSON-RPC error of a request over a quota: names the quota, its limit and the
/// amount the request would have made.
pub fn quota_error(e: &Exceeded) -> McpError {
    McpError::new(
        rmcp::model::ErrorCode(QUOTA_EXCEEDED_CODE),
        e.to_string(),
        Some(json!({"quota": e.quota.as_str(), "limit": e.limit, "observed": e.observed})),
    )
}

fn to_mcp(e: CoreError) -> McpError {
    match e {
        CoreError::Ledger(l) => McpError::internal_error(l.to_string(), None),
        other => McpError::invalid_params(other.to_string(), None),
    }
}

/// The server side of one plugin's channel.
#[derive(Clone)]
pub struct CapabilityServer {
    core: Arc<ScopedCore>,
    meter: Arc<Meter>,
}

impl CapabilityServer {
    /// A server held to the default [`Quotas`].
    pub fn new(session: Session) -> Result<Self, LedgerError> {
        Self::with_quotas(session, Quotas::default())
    }

    /// A server held to `quotas` for this one invocation.
    pub fn with_quotas(session: Session, quotas: Quotas) -> Result<Self, LedgerError> {
        let mut ledger = SqliteStore::open(&session.ledger_path)?;
        // The channel appends only core events (state, provenance, ...): their projections.
        ledger.register_all(ooo_core::PROJECTIONS);
        let store: Box<dyn Store + Send> = Box::new(ledger);
        // The manifest was validated when it loaded: unknown names cannot occur; skip any.
        let grants = Grants::new(
            session.declared.iter().filter_map(|g| CoreGrant::parse(&g.name, &g.access).ok()),
        );
        let core = ScopedCore::new(
            Arc::new(Mutex::new(store)),
            Principal::Plugin(session.plugin.clone()),
            AggregateRef::new("plugin_invocation", &session.invocation_id)?,
            grants,
            session.seeds_dir.clone(),
        );
        Ok(Self { core: Arc::new(core), meter: Arc::new(Meter::new(quotas)) })
    }

    /// The first quota this invocation's channel hit, if any.
    pub fn quota_exceeded(&self) -> Option<Exceeded> {
        self.meter.exceeded()
    }

    fn listed(&self) -> impl Iterator<Item = &'static ToolDef> + '_ {
        TOOLS.iter().filter(|t| self.core.allows(t.capability, t.accepted))
    }

    /// The tools this plugin may call.
    pub fn tool_names(&self) -> Vec<&'static str> {
        self.listed().map(|t| t.name).collect()
    }

    /// Tools the plugin asked for without the capability.
    pub fn refused(&self) -> Vec<String> {
        self.core.refused()
    }

    /// `capability:access` of every grant used so far.
    pub fn used(&self) -> Vec<String> {
        self.core.used()
    }

    /// Run one tool call: counted against the quotas (a call that appends counts its
    /// arguments' JSON size as ledger bytes), then checked by the core against the
    /// declared capabilities. Counting comes first, so a call the core refuses still
    /// counts: the quotas bound what a plugin may attempt, not only what succeeds.
    pub fn call(&self, name: &str, args: &JsonObject) -> Result<Value, McpError> {
        let tool = TOOLS.iter().find(|t| t.name == name);
        let appends = tool
            .filter(|t| t.appends)
            .map(|_| serde_json::to_vec(args).map_or(u64::MAX, |bytes| bytes.len() as u64));
        self.meter.admit_call(appends).map_err(|e| quota_error(&e))?;
        let tool = tool.ok_or_else(|| McpError::invalid_params(format!("no tool {name}"), None))?;
        (tool.handler)(&self.core, args).map_err(to_mcp)
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
        let tools = self
            .listed()
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

/// What a channel reports when the plugin is done with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelReport {
    /// `capability:access` of every grant used.
    pub used: Vec<String>,
    /// Tools the plugin asked for without the capability.
    pub refused: Vec<String>,
    /// The first quota the invocation hit, if any.
    pub quota_exceeded: Option<Exceeded>,
}

/// A running channel: serve `ours` until the plugin closes its end (or goes over the
/// request-byte quota), then report the capabilities it used.
pub struct Channel {
    thread: std::thread::JoinHandle<ChannelReport>,
}

impl Channel {
    /// Start serving on `ours` in a thread. Reading goes through a [`BoundedReader`], and
    /// no line is buffered past the request-byte quota.
    pub fn serve(server: CapabilityServer, ours: UnixStream) -> std::io::Result<Self> {
        // Kept to answer a request cut off by the byte quota once the server has stopped.
        let answer = ours.try_clone()?;
        ours.set_nonblocking(true)?;
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(_) => return ChannelReport::default(),
            };
            let tracker = server.clone();
            let meter = server.meter.clone();
            runtime.block_on(async move {
                let Ok(stream) = tokio::net::UnixStream::from_std(ours) else { return };
                // `tokio::io::split` halves do not shut the socket down when dropped, so
                // `answer` can still write after the server stops.
                let (r, w) = tokio::io::split(stream);
                let limit = usize::try_from(meter.quotas().request_bytes).unwrap_or(usize::MAX);
                let transport = rmcp::transport::async_rw::AsyncRwTransport::new_server(
                    BoundedReader::new(r, meter),
                    w,
                )
                .with_max_line_length(limit.saturating_add(1));
                // A plugin that never speaks MCP just closes the socket: that is fine.
                if let Ok(service) = server.serve(transport).await {
                    let _ = service.waiting().await;
                }
            });
            drop(runtime);
            let exceeded = tracker.quota_exceeded();
            if let Some(e) = exceeded.filter(|e| e.quota == quota::Quota::RequestBytes) {
                answer_cut_off(answer, &e);
            }
            ChannelReport {
                used: tracker.used(),
                refused: tracker.refused(),
                quota_exceeded: exceeded,
            }
        });
        Ok(Self { thread })
    }

    /// Wait for the plugin to close the channel; the capabilities it used.
    pub fn finish(self) -> Vec<String> {
        self.finish_all().used
    }

    /// Wait for the plugin to close the channel: (capabilities used, tools refused).
    pub fn finish_report(self) -> (Vec<String>, Vec<String>) {
        let r = self.finish_all();
        (r.used, r.refused)
    }

    /// Wait for the plugin to close the channel: everything it reports.
    pub fn finish_all(self) -> ChannelReport {
        self.thread.join().unwrap_or_default()
    }
}

/// The one JSON-RPC error for the request the byte quota cut off (`id: null`: its id was
/// never read whole), written with a short timeout: a plugin that does not read does not
/// hold the channel open.
fn answer_cut_off(stream: UnixStream, e: &Exceeded) {
    use std::io::Write;
    let error = quota_error(e);
    let line = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": error.code.0, "message": error.message, "data": error.data},
    });
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(1)));
    let mut stream = stream;
    let _ = writeln!(stream, "{line}");
}
