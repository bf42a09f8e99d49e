//! Manifest rules a JSON Schema cannot express, checked after the schema in upstream's
//! order (source path, command permissions, hooks, audit events), then ours
//! (`x-ouroboros`, where a `read_only` scope cannot open workspace write). [`check`]
//! reports the first failure, at the pointer upstream uses; [`problems`] lists them all
//! (for `ooo plugin validate`).
//!
//! [`warnings`] lists what loads but will not work: several namespaces or repeated
//! command names (refused at install), an entrypoint that does not split into words.

use std::path::Path;

use super::{Manifest, ManifestError, Risk, SourceType};

const LIFECYCLE_READ: &str = "plugin:lifecycle:read";
const LIFECYCLE_POLICY: &str = "plugin:lifecycle:policy";
const TOOL_INTERCEPT: &str = "plugin:tool:intercept";
const TOOL_OBSERVE: &str = "plugin:tool:observe";
const REWIND_OBSERVE: &str = "plugin:rewind:observe";

const STANDARD_EVENTS: &[&str] = &[
    ooo_core::event_types::plugin::INVOKED,
    ooo_core::event_types::plugin::PERMISSION_USED,
    ooo_core::event_types::plugin::COMPLETED,
    ooo_core::event_types::plugin::FAILED,
];
const HOOK_EVENTS: &[&str] = &[
    ooo_core::event_types::plugin::HOOK_INVOKED,
    ooo_core::event_types::plugin::HOOK_COMPLETED,
    ooo_core::event_types::plugin::HOOK_BLOCKED,
    ooo_core::event_types::plugin::HOOK_FAILED,
];
const TOOL_EVENTS: &[&str] = &[
    ooo_core::event_types::plugin::TOOL_INTERCEPT_REQUESTED,
    ooo_core::event_types::plugin::TOOL_INTERCEPT_COMPLETED,
    ooo_core::event_types::plugin::TOOL_INTERCEPT_BLOCKED,
    ooo_core::event_types::plugin::TOOL_OBSERVE_RECORDED,
];

/// Versions whose hooks actually run (0.2 hooks load but never run).
pub fn hooks_run(version: &str) -> bool {
    matches!(version, "0.3" | "0.4" | "0.6")
}

fn tool_hooks_allowed(version: &str) -> bool {
    matches!(version, "0.4" | "0.6")
}

struct Checker<'a> {
    m: &'a Manifest,
    file: &'a Path,
}

impl Checker<'_> {
    fn fail(
        &self,
        pointer: &str,
        message: &str,
        expected: &str,
        found: impl Into<String>,
    ) -> Result<(), ManifestError> {
        Err(ManifestError::new(self.file, Some(pointer), message, expected, found))
    }

    fn problem(
        &self,
        pointer: &str,
        message: &str,
        expected: &str,
        found: impl Into<String>,
    ) -> ManifestError {
        ManifestError::new(self.file, Some(pointer), message, expected, found)
    }

    fn declared(&self, scope: &str) -> bool {
        self.m.permission(scope).is_some()
    }

    fn required(&self, scope: &str) -> bool {
        self.m.permission(scope).is_some_and(|p| p.required)
    }

    fn source_path(&self) -> Result<(), ManifestError> {
        let s = &self.m.source;
        let Some(path) = s
            .path
            .as_deref()
            .filter(|_| matches!(s.kind, SourceType::LocalPath | SourceType::PluginHome))
        else {
            return Ok(());
        };
        match relative_path_problem(path) {
            Some(p) => self.fail(
                "/source/path",
                &format!("source.path for {:?} {p}", s.kind),
                "a relative POSIX path inside the plugin",
                path,
            ),
            None => Ok(()),
        }
    }

    /// Ours: one declaration per scope (upstream's uniqueItems compares whole objects,
    /// so the same scope could be declared twice with different risks).
    fn unique_scopes(&self, out: &mut Vec<ManifestError>) {
        for (i, p) in self.m.permissions.iter().enumerate() {
            if self.m.permissions[..i].iter().any(|q| q.scope == p.scope) {
                out.push(self.problem(
                    &format!("/permissions/{i}/scope"),
                    "scope is declared twice",
                    "each scope once",
                    p.scope.as_str(),
                ));
            }
        }
    }

    fn command_permissions(&self, out: &mut Vec<ManifestError>) {
        for (i, c) in self.m.commands.iter().enumerate() {
            for (j, scope) in c.permissions.iter().enumerate() {
                if !self.declared(scope) {
                    out.push(self.problem(
                        &format!("/commands/{i}/permissions/{j}"),
                        "command permission must be declared in top-level permissions",
                        "a scope listed in permissions[].scope",
                        scope.as_str(),
                    ));
                }
            }
        }
    }

    fn hooks(&self, out: &mut Vec<ManifestError>) {
        for (i, h) in self.m.hooks.iter().enumerate() {
            out.extend(self.hook(i, h).err());
        }
    }

    /// The first problem of hook `i`.
    fn hook(&self, i: usize, h: &super::Hook) -> Result<(), ManifestError> {
        let version = self.m.schema_version.as_str();
        let here = format!("/hooks/{i}/permissions");
        let has = |scope: &str| h.permissions.iter().any(|p| p == scope);
        if version == "0.6" && h.name == "on_rewind" && !self.required(REWIND_OBSERVE) {
            return self.fail(
                "/permissions",
                "v0.6 on_rewind permission must be required",
                "plugin:rewind:observe with required: true",
                format!("{:?}", h.permissions),
            );
        }
        for (j, scope) in h.permissions.iter().enumerate() {
            if !self.declared(scope) {
                return self.fail(
                    &format!("{here}/{j}"),
                    "hook permission must be declared in top-level permissions",
                    "a scope listed in permissions[].scope",
                    scope.as_str(),
                );
            }
        }
        if !hooks_run(version) {
            return Ok(());
        }
        match h.name.as_str() {
            "on_error" | "on_cancel" => {
                if !has(LIFECYCLE_READ) {
                    return self.fail(
                        &here,
                        &format!("{} hook must declare plugin:lifecycle:read", h.name),
                        LIFECYCLE_READ,
                        format!("{:?}", h.permissions),
                    );
                }
                if !self.required(LIFECYCLE_READ) {
                    return self.fail(
                        "/permissions",
                        "plugin:lifecycle:read must be a required permission",
                        "required: true",
                        "optional or missing",
                    );
                }
            }
            "before_invocation" | "after_invocation" => {
                let lifecycle: Vec<&String> =
                    h.permissions.iter().filter(|p| p.starts_with("plugin:lifecycle:")).collect();
                if lifecycle.is_empty() {
                    return self.fail(
                        &here,
                        "lifecycle hook must declare a lifecycle permission",
                        "plugin:lifecycle:read or plugin:lifecycle:policy",
                        format!("{:?}", h.permissions),
                    );
                }
                if !lifecycle.iter().any(|p| self.required(p)) {
                    return self.fail(
                        "/permissions",
                        "a lifecycle hook's permission must be required",
                        "required: true on one of its scopes",
                        format!("{lifecycle:?}"),
                    );
                }
                if h.failure_policy == "fail_closed" {
                    if !has(LIFECYCLE_POLICY) {
                        return self.fail(
                            &here,
                            "a fail_closed lifecycle hook must declare plugin:lifecycle:policy",
                            LIFECYCLE_POLICY,
                            format!("{:?}", h.permissions),
                        );
                    }
                    if !self.required(LIFECYCLE_POLICY) {
                        return self.fail(
                            "/permissions",
                            "plugin:lifecycle:policy must be a required permission",
                            "required: true",
                            "optional",
                        );
                    }
                }
            }
            "before_tool_call" | "after_tool_call" if tool_hooks_allowed(version) => {
                let tool: Vec<&String> =
                    h.permissions.iter().filter(|p| p.starts_with("plugin:tool:")).collect();
                if tool.is_empty() {
                    return self.fail(
                        &here,
                        "tool-call hook must declare a tool-call permission",
                        "plugin:tool:intercept or plugin:tool:observe",
                        format!("{:?}", h.permissions),
                    );
                }
                let optional: Vec<&&String> = tool.iter().filter(|p| !self.required(p)).collect();
                if !optional.is_empty() {
                    return self.fail(
                        "/permissions",
                        "tool-call permissions must be required",
                        "required: true",
                        format!("optional tool-call permissions {optional:?}"),
                    );
                }
                if h.name == "after_tool_call" && !has(TOOL_OBSERVE) {
                    return self.fail(
                        &here,
                        "after_tool_call must declare plugin:tool:observe",
                        TOOL_OBSERVE,
                        format!("{:?}", h.permissions),
                    );
                }
                if h.name == "before_tool_call"
                    && h.failure_policy == "fail_closed"
                    && !has(TOOL_INTERCEPT)
                {
                    return self.fail(
                        &here,
                        "a fail_closed before_tool_call must declare plugin:tool:intercept",
                        TOOL_INTERCEPT,
                        format!("{:?}", h.permissions),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn audit(&self) -> Result<(), ManifestError> {
        let version = self.m.schema_version.as_str();
        let Some(audit) = self.m.audit.as_ref().filter(|_| hooks_run(version)) else {
            return Ok(());
        };
        let mut needed: Vec<&str> = STANDARD_EVENTS.to_vec();
        if !self.m.hooks.is_empty() {
            needed.extend(HOOK_EVENTS);
        }
        if tool_hooks_allowed(version)
            && self.m.hooks.iter().any(|h| h.name.ends_with("_tool_call"))
        {
            needed.extend(TOOL_EVENTS);
        }
        let mut missing: Vec<&str> =
            needed.into_iter().filter(|e| !audit.events.iter().any(|a| a == e)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        self.fail(
            "/audit/events",
            "explicit audit.events must include every event the runtime emits",
            "all runtime events",
            format!("missing {missing:?}"),
        )
    }

    fn extension(&self, out: &mut Vec<ManifestError>) {
        for (i, c) in self.m.commands.iter().enumerate() {
            let scopes = c.x_ouroboros.iter().flat_map(|x| &x.scopes);
            for (j, scope) in scopes.enumerate() {
                if !self.declared(scope) {
                    out.push(self.problem(
                        &format!("/commands/{i}/x-ouroboros/scopes/{j}"),
                        "command scope must be declared in top-level permissions",
                        "a scope listed in permissions[].scope",
                        scope.as_str(),
                    ));
                }
            }
        }
        let Some(x) = &self.m.x_ouroboros else { return };
        for (var, scope) in &x.env {
            let scope = scope.as_str().unwrap_or_default();
            if !self.declared(scope) {
                out.push(self.problem(
                    &format!("/x-ouroboros/env/{var}"),
                    "env scope must be declared in top-level permissions",
                    "a scope listed in permissions[].scope",
                    scope,
                ));
            }
        }
        if let Some(net) = &x.network
            && !self.declared(&net.scope)
        {
            out.push(self.problem(
                "/x-ouroboros/network/scope",
                "network scope must be declared in top-level permissions",
                "a scope listed in permissions[].scope",
                net.scope.as_str(),
            ));
        }
        if let Some(build) = &x.build {
            if entrypoint_words(&build.command).is_none() {
                out.push(self.problem(
                    "/x-ouroboros/build/command",
                    "the build command does not split into words by shell rules",
                    "a command line such as \"sh ./build.sh\"",
                    build.command.as_str(),
                ));
            }
            for (i, output) in build.outputs.iter().enumerate() {
                if let Some(problem) = relative_path_problem(output) {
                    out.push(self.problem(
                        &format!("/x-ouroboros/build/outputs/{i}"),
                        &format!("a build output {problem}"),
                        "a relative POSIX path inside the plugin",
                        output.as_str(),
                    ));
                } else if output.trim_start_matches("./") == super::MANIFEST_FILE {
                    // The manifest is validated, diffed and trusted before the build: a
                    // build must not be able to replace it.
                    out.push(self.problem(
                        &format!("/x-ouroboros/build/outputs/{i}"),
                        "a build output cannot be the manifest",
                        "a path such as bin/<name>",
                        output.as_str(),
                    ));
                }
            }
        }
        if let Some(fs) = &x.fs {
            if let Some(scope) = &fs.write_scope
                && !self.declared(scope)
            {
                out.push(self.problem(
                    "/x-ouroboros/fs/write_scope",
                    "write_scope must be declared in top-level permissions",
                    "a scope listed in permissions[].scope",
                    scope.as_str(),
                ));
            }
            // Ours: a read_only scope cannot open workspace write (risk is what the
            // user consents to; write to the caller's files is not read-only). Network
            // and environment variables do not contradict read_only (reading a remote
            // service needs both); `opens` lists them for consent.
            if fs.workspace.as_deref() == Some("write")
                && let Some(scope) = &fs.write_scope
                && let Some(i) = self.m.permissions.iter().position(|p| &p.scope == scope)
                && self.m.permissions[i].risk == Risk::ReadOnly
            {
                out.push(self.problem(
                    "/x-ouroboros/fs/write_scope",
                    &format!(
                        "scope {scope:?} has risk read_only but opens workspace write (path {} with write access)",
                        super::opens::WORKSPACE
                    ),
                    &format!(
                        "a write_scope whose risk is write or destructive (fix: set \"risk\": \"write\" at /permissions/{i}, or name a scope of risk write)"
                    ),
                    format!("{scope} (read_only)"),
                ));
            }
            if fs.workspace.as_deref() == Some("write") && fs.write_scope.is_none() {
                out.push(self.problem(
                    "/x-ouroboros/fs",
                    "workspace: write needs a write_scope the user can trust",
                    "a write_scope",
                    "none",
                ));
            }
        }
    }
}

/// Why `path` is not a relative POSIX path that stays inside its directory, if it is not.
fn relative_path_problem(path: &str) -> Option<&'static str> {
    let mut chars = path.chars();
    let drive = matches!((chars.next(), chars.next()), (Some(c), Some(':')) if c.is_alphabetic());
    if path.contains('\\') {
        Some("must use forward slashes only")
    } else if drive {
        Some("must not be drive-qualified")
    } else if path.starts_with('/') {
        Some("must be relative, not absolute")
    } else if path.split('/').any(|seg| seg == "..") {
        Some("must not contain '..' segments")
    } else {
        None
    }
}

/// Check the rules in order; the first failure is returned.
pub fn check(m: &Manifest, file: &Path) -> Result<(), ManifestError> {
    problems(m, file).into_iter().next().map_or(Ok(()), Err)
}

/// Every rule failure, in the order [`check`] meets them (at most one per hook).
pub fn problems(m: &Manifest, file: &Path) -> Vec<ManifestError> {
    let c = Checker { m, file };
    let mut out = Vec::new();
    out.extend(c.source_path().err());
    c.command_permissions(&mut out);
    c.hooks(&mut out);
    out.extend(c.audit().err());
    c.unique_scopes(&mut out);
    c.extension(&mut out);
    out
}

/// Problems that do not stop a manifest from loading but stop it from installing or
/// running. Each is `(pointer, message)`.
pub fn warnings(m: &Manifest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut namespaces: Vec<&str> = m.commands.iter().map(|c| c.namespace.as_str()).collect();
    namespaces.dedup();
    namespaces.sort();
    namespaces.dedup();
    if namespaces.len() > 1 {
        out.push(("/commands".to_owned(), format!("commands declare several namespaces {namespaces:?}; one plugin must own one namespace (install refuses it)")));
    }
    let mut names: Vec<&str> = m.commands.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    let dup: Vec<&str> = names.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    if !dup.is_empty() {
        out.push((
            "/commands".to_owned(),
            format!("duplicate command names {dup:?} (install refuses it)"),
        ));
    }
    if entrypoint_words(&m.entrypoint.command).is_none() {
        out.push(("/entrypoint/command".to_owned(), "does not split into words by shell rules, or is empty (invocation fails with exit 126)".to_owned()));
    }
    if m.schema_version == "0.2" && !m.hooks.is_empty() {
        out.push((
            "/hooks".to_owned(),
            "schema 0.2 hooks are loaded but never run; use schema 0.3 or later".to_owned(),
        ));
    }
    out
}

/// The entrypoint command split by POSIX shell-word rules; `None` when it does not
/// split or yields nothing.
pub fn entrypoint_words(command: &str) -> Option<Vec<String>> {
    shlex::split(command).filter(|w| !w.is_empty())
}
