//! `plugins.lock`: what is installed, in upstream's TOML layout.
//!
//! ```toml
//! schema_version = "0.1"
//!
//! [[plugin]]
//! name = "..."            # sorted by name
//! version, source_kind ("git" | "local"), repository?, git_sha?, manifest_checksum,
//! installed_at (RFC 3339 UTC, seconds), plugin_home, source_type, source_identity,
//! artifact_digest, and ours: requested_ref?, source_digest? (before a build step)
//! ```
//!
//! Upstream lockfiles are read as they are (unknown keys ignored). Every change is a
//! read-modify-write under an exclusive lock on `plugins.lock.lock`, written to a
//! temporary file, synced and renamed (mode 0600), so a crash leaves the old or the new
//! file, never a mix.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The only lockfile schema version.
pub const LOCK_SCHEMA: &str = "0.1";

#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    #[error("{path} cannot be read as a lockfile: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error("{path} has lockfile schema_version {found:?}; this ooo reads {LOCK_SCHEMA:?}")]
    UnsupportedVersion { path: PathBuf, found: String },
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// One installed plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    pub name: String,
    pub version: String,
    /// `git` or `local`.
    pub source_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    pub manifest_checksum: String,
    pub installed_at: String,
    pub plugin_home: String,
    #[serde(default)]
    pub source_type: String,
    #[serde(default)]
    pub source_identity: String,
    #[serde(default)]
    pub artifact_digest: String,
    /// The `--ref` asked for (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ref: Option<String>,
    /// The source tree's digest before its build step, for a plugin that has one
    /// (ours; `artifact_digest` covers the source and the built outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
}

#[derive(Deserialize)]
struct LockDoc {
    schema_version: Option<toml::Value>,
    #[serde(default)]
    plugin: Vec<LockEntry>,
}

/// Parse lockfile text. The last entry of a repeated name wins, as upstream.
pub fn parse(text: &str, path: &Path) -> Result<Vec<LockEntry>, LockfileError> {
    let doc: LockDoc = toml::from_str(text).map_err(|e| LockfileError::Malformed {
        path: path.to_owned(),
        detail: e.to_string().trim().to_owned(),
    })?;
    match &doc.schema_version {
        Some(toml::Value::String(v)) if v == LOCK_SCHEMA => {}
        other => {
            return Err(LockfileError::UnsupportedVersion {
                path: path.to_owned(),
                found: other.as_ref().map_or("nothing".into(), |v| v.to_string()),
            });
        }
    }
    let mut entries: Vec<LockEntry> = Vec::new();
    for entry in doc.plugin {
        entries.retain(|e| e.name != entry.name);
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// A TOML basic string with upstream's escapes.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Render entries in upstream's layout (sorted by name).
pub fn render(entries: &[LockEntry]) -> String {
    let mut sorted: Vec<&LockEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = format!("schema_version = {}\n", quote(LOCK_SCHEMA));
    for e in sorted {
        out.push_str("\n[[plugin]]\n");
        let mut field =
            |key: &str, value: &str| out.push_str(&format!("{key} = {}\n", quote(value)));
        field("name", &e.name);
        field("version", &e.version);
        field("source_kind", &e.source_kind);
        if let Some(r) = &e.repository {
            field("repository", r);
        }
        if let Some(sha) = &e.git_sha {
            field("git_sha", sha);
        }
        field("manifest_checksum", &e.manifest_checksum);
        field("installed_at", &e.installed_at);
        field("plugin_home", &e.plugin_home);
        for (key, value) in [
            ("source_type", &e.source_type),
            ("source_identity", &e.source_identity),
            ("artifact_digest", &e.artifact_digest),
        ] {
            if !value.is_empty() {
                field(key, value);
            }
        }
        if let Some(r) = &e.requested_ref {
            field("requested_ref", r);
        }
        if let Some(d) = &e.source_digest {
            field("source_digest", d);
        }
    }
    out
}

/// The lockfile of a home.
pub struct Lockfile {
    path: PathBuf,
}

/// An exclusive hold on the lockfile; released when dropped.
pub struct LockGuard {
    _file: fs::File,
}

impl Lockfile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, path: &Path) -> impl FnOnce(io::Error) -> LockfileError + '_ {
        let path = path.to_owned();
        move |source| LockfileError::Io { path, source }
    }

    /// Current entries (none when the file does not exist). No lock is needed to read:
    /// writers replace the file atomically.
    pub fn read(&self) -> Result<Vec<LockEntry>, LockfileError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => parse(&text, &self.path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io(&self.path)(e)),
        }
    }

    /// Take the exclusive lock (blocking) for a read-modify-write.
    pub fn lock(&self) -> Result<LockGuard, LockfileError> {
        let lock_path = self.path.with_extension("lock.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(self.io(&lock_path))?;
        file.lock().map_err(self.io(&lock_path))?;
        Ok(LockGuard { _file: file })
    }

    /// Replace the file with `entries` (call while holding [`Lockfile::lock`]).
    pub fn write(&self, _guard: &LockGuard, entries: &[LockEntry]) -> Result<(), LockfileError> {
        ooo_core::atomic::write_atomic(&self.path, render(entries).as_bytes())
            .map_err(self.io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> LockEntry {
        LockEntry {
            name: name.into(),
            version: "0.1.0".into(),
            source_kind: "git".into(),
            repository: Some("git+https://example.com/o/plugins.git".into()),
            git_sha: Some("a".repeat(40)),
            manifest_checksum: "sha256:00".into(),
            installed_at: "2026-05-08T03:14:00Z".into(),
            plugin_home: "/h/.ouroboros/plugins/x".into(),
            source_type: "plugin_home".into(),
            source_identity: "https://example.com/o/plugins".into(),
            artifact_digest: "sha256:11".into(),
            requested_ref: None,
            source_digest: None,
        }
    }

    #[test]
    fn layout_is_upstreams() {
        let mut local = entry("alpha");
        local.source_kind = "local".into();
        local.repository = None;
        local.git_sha = None;
        local.artifact_digest = String::new();
        let text = render(&[entry("zeta"), local]);
        let expected = format!(
            "schema_version = \"0.1\"\n\n[[plugin]]\nname = \"alpha\"\nversion = \"0.1.0\"\nsource_kind = \"local\"\nmanifest_checksum = \"sha256:00\"\ninstalled_at = \"2026-05-08T03:14:00Z\"\nplugin_home = \"/h/.ouroboros/plugins/x\"\nsource_type = \"plugin_home\"\nsource_identity = \"https://example.com/o/plugins\"\n\n[[plugin]]\nname = \"zeta\"\nversion = \"0.1.0\"\nsource_kind = \"git\"\nrepository = \"git+https://example.com/o/plugins.git\"\ngit_sha = \"{}\"\nmanifest_checksum = \"sha256:00\"\ninstalled_at = \"2026-05-08T03:14:00Z\"\nplugin_home = \"/h/.ouroboros/plugins/x\"\nsource_type = \"plugin_home\"\nsource_identity = \"https://example.com/o/plugins\"\nartifact_digest = \"sha256:11\"\n",
            "a".repeat(40)
        );
        assert_eq!(text, expected);
        assert_eq!(render(&[]), "schema_version = \"0.1\"\n");
    }

    #[test]
    fn round_trip_and_tolerance() {
        let mut odd = entry("odd");
        odd.plugin_home = "/we\"ird\\path\n\u{1}".into();
        let entries = vec![entry("b"), odd, entry("a")];
        let back = parse(&render(&entries), Path::new("x")).unwrap();
        let names: Vec<&str> = back.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "odd"]);
        assert_eq!(back[2].plugin_home, "/we\"ird\\path\n\u{1}");
        // Upstream files: unknown keys ignored, a repeated name keeps the last entry.
        let text = "schema_version = \"0.1\"\n[[plugin]]\nname=\"a\"\nversion=\"1.0.0\"\nsource_kind=\"local\"\nmanifest_checksum=\"m\"\ninstalled_at=\"t\"\nplugin_home=\"/p\"\nfuture=1\n[[plugin]]\nname=\"a\"\nversion=\"2.0.0\"\nsource_kind=\"local\"\nmanifest_checksum=\"m\"\ninstalled_at=\"t\"\nplugin_home=\"/p\"\n";
        let e = parse(text, Path::new("x")).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].version, "2.0.0");
        assert!(matches!(
            parse("schema_version = \"9\"", Path::new("x")),
            Err(LockfileError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            parse("plugin = 3", Path::new("x")),
            Err(LockfileError::Malformed { .. })
        ));
        assert!(parse("[[plugin]]\nname = \"x\"", Path::new("x")).is_err(), "required fields");
    }

    #[test]
    fn writes_are_atomic_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let lock = Lockfile::new(dir.path().join("plugins.lock"));
        assert!(lock.read().unwrap().is_empty());
        let guard = lock.lock().unwrap();
        lock.write(&guard, &[entry("a")]).unwrap();
        assert_eq!(lock.read().unwrap().len(), 1);
        let mode = fs::metadata(lock.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}"); // plugins.lock and plugins.lock.lock
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_is_parsed_or_refused(text in "\\PC{0,300}") {
                let _ = parse(&text, Path::new("fuzz"));
            }

            #[test]
            fn rendered_entries_read_back(names in prop::collection::btree_set("[a-z][a-z0-9-]{1,10}[a-z0-9]", 0..6), home in "\\PC{1,40}") {
                let entries: Vec<LockEntry> = names.iter().map(|n| LockEntry { name: n.clone(), plugin_home: home.clone(), ..entry(n) }).collect();
                let back = parse(&render(&entries), Path::new("x")).unwrap();
                prop_assert_eq!(back, entries);
            }
        }
    }
}
