//! What each permission scope of a manifest opens, named resource by resource: every
//! caller environment variable (`x-ouroboros.env`), every network host and port
//! (`x-ouroboros.network`) and every path with its access (`x-ouroboros.fs`), and what
//! the plugin gets without any scope. `install`, `update`, `inspect` and `trust` show
//! it so that nothing is granted silently.
//!
//! What does not live here: refusing contradictions such as a `read_only` scope that
//! opens workspace write (`rules`), and enforcing any of it (`firewall::setup` and the
//! sandbox). Those must agree with this list; this module only reads the manifest.

use serde::Serialize;

use super::{Manifest, Risk};

/// The caller's working directory at invocation time, as paths are shown.
pub const WORKSPACE: &str = "<workspace>";

/// Read or write access to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathAccess {
    Read,
    Write,
}

impl PathAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// One resource a scope (or the plugin without a scope) opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// The caller's environment variable of this name, passed to the plugin.
    Env { variable: String },
    /// Outbound connections to `host` (`*.` for every subdomain); `port` `None` when the
    /// manifest names none. A network declaration without hosts is shown as host `*`:
    /// the manifest does not limit it.
    Network { host: String, port: Option<u16> },
    /// A path (under [`WORKSPACE`] or the home) and its access.
    Path { path: String, access: PathAccess },
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env { variable } => write!(f, "env {variable}"),
            Self::Network { host, port: Some(port) } => write!(f, "network {host}:{port}"),
            Self::Network { host, port: None } if host == "*" => {
                write!(f, "network * (any host: the manifest lists none)")
            }
            Self::Network { host, port: None } => write!(f, "network {host}"),
            Self::Path { path, access } => write!(f, "path {path} ({})", access.as_str()),
        }
    }
}

/// One declared scope and every resource granting it opens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeOpens {
    pub scope: String,
    pub risk: Risk,
    pub required: bool,
    /// Empty when the scope only gates commands or hooks.
    pub opens: Vec<Resource>,
}

impl Manifest {
    /// Every resource trusting `scope` opens, in manifest order: environment variables,
    /// network hosts, then paths.
    pub fn opened_by(&self, scope: &str) -> Vec<Resource> {
        let Some(x) = &self.x_ouroboros else { return Vec::new() };
        let mut out = Vec::new();
        for (var, s) in &x.env {
            if s.as_str() == Some(scope) {
                out.push(Resource::Env { variable: var.clone() });
            }
        }
        if let Some(net) = x.network.as_ref().filter(|n| n.scope == scope) {
            if net.hosts.is_empty() {
                out.push(Resource::Network { host: "*".into(), port: None });
            }
            for host in &net.hosts {
                out.push(host_and_port(host));
            }
        }
        if let Some(fs) = &x.fs
            && fs.workspace.as_deref() == Some("write")
            && fs.write_scope.as_deref() == Some(scope)
        {
            out.push(Resource::Path { path: WORKSPACE.into(), access: PathAccess::Write });
        }
        out
    }

    /// Every declared scope with what it opens, in declaration order.
    pub fn scopes_opening(&self) -> Vec<ScopeOpens> {
        self.permissions
            .iter()
            .map(|p| ScopeOpens {
                scope: p.scope.clone(),
                risk: p.risk,
                required: p.required,
                opens: self.opened_by(&p.scope),
            })
            .collect()
    }

    /// What every invocation gets without any scope: its output directory in the
    /// workspace, its state directory under the home, and workspace read when
    /// `x-ouroboros.fs.workspace` is declared.
    pub fn opened_without_scope(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        if self
            .x_ouroboros
            .as_ref()
            .and_then(|x| x.fs.as_ref())
            .is_some_and(|fs| matches!(fs.workspace.as_deref(), Some("read") | Some("write")))
        {
            out.push(Resource::Path { path: WORKSPACE.into(), access: PathAccess::Read });
        }
        out.push(Resource::Path {
            path: format!("{WORKSPACE}/.ouroboros/plugin-artifacts/{}", self.name),
            access: PathAccess::Write,
        });
        out.push(Resource::Path {
            path: format!("$OUROBOROS_HOME/plugin-state/{}", self.name),
            access: PathAccess::Write,
        });
        out
    }
}

/// `host[:port]` as the schema allows it (`*.example.org:8443`).
fn host_and_port(spec: &str) -> Resource {
    match spec.rsplit_once(':').and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p))) {
        Some((host, port)) => Resource::Network { host: host.to_owned(), port: Some(port) },
        None => Resource::Network { host: spec.to_owned(), port: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(extension: serde_json::Value) -> Manifest {
        let doc = json!({
            "schema_version": "0.6", "name": "demo-plugin", "version": "1.0.0",
            "source": {"type": "plugin_home", "path": "plugins/demo-plugin"},
            "commands": [{"namespace": "demo", "name": "go", "summary": "s", "usage": "u", "risk": "read_only"}],
            "capabilities": [],
            "permissions": [
                {"scope": "demo:read", "risk": "read_only", "required": true},
                {"scope": "demo:net", "risk": "read_only", "required": false},
                {"scope": "demo:write", "risk": "write", "required": false}
            ],
            "entrypoint": {"type": "command", "command": "bin/demo"},
            "x-ouroboros": extension
        });
        super::super::parse(doc.to_string().as_bytes(), std::path::Path::new("m.json")).unwrap()
    }

    #[test]
    fn each_scope_lists_its_variables_hosts_and_paths() {
        let m = manifest(json!({
            "env": {"DEMO_TOKEN": "demo:net", "DEMO_USER": "demo:read"},
            "network": {"scope": "demo:net", "hosts": ["api.example.com", "*.example.org:8443"]},
            "fs": {"workspace": "write", "write_scope": "demo:write"}
        }));
        let by: Vec<(String, Vec<String>)> = m
            .scopes_opening()
            .into_iter()
            .map(|s| (s.scope, s.opens.iter().map(ToString::to_string).collect()))
            .collect();
        assert_eq!(
            by,
            vec![
                ("demo:read".to_owned(), vec!["env DEMO_USER".to_owned()]),
                (
                    "demo:net".to_owned(),
                    vec![
                        "env DEMO_TOKEN".to_owned(),
                        "network api.example.com".to_owned(),
                        "network *.example.org:8443".to_owned()
                    ]
                ),
                ("demo:write".to_owned(), vec!["path <workspace> (write)".to_owned()]),
            ]
        );
        let unscoped: Vec<String> =
            m.opened_without_scope().iter().map(|r| r.to_string()).collect();
        assert_eq!(
            unscoped,
            [
                "path <workspace> (read)",
                "path <workspace>/.ouroboros/plugin-artifacts/demo-plugin (write)",
                "path $OUROBOROS_HOME/plugin-state/demo-plugin (write)"
            ]
        );
    }

    #[test]
    fn network_without_hosts_is_shown_as_any_host_and_serialises_tagged() {
        let m = manifest(json!({"network": {"scope": "demo:net"}}));
        let opens = m.opened_by("demo:net");
        assert_eq!(opens, vec![Resource::Network { host: "*".into(), port: None }]);
        assert!(opens[0].to_string().contains("any host"));
        assert_eq!(
            serde_json::to_value(&opens).unwrap(),
            json!([{"kind": "network", "host": "*", "port": null}])
        );
        // Without fs, the workspace is not opened at all.
        assert!(
            !m.opened_without_scope()
                .iter()
                .any(|r| matches!(r, Resource::Path { path, .. } if path == WORKSPACE))
        );
    }
}
