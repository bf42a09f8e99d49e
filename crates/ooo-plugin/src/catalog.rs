//! Catalogs: sources the user registered with `ooo plugin add`, so plugins can be
//! installed by name. Stored in `plugin-catalogs.json` in upstream's shape
//! (`{"catalogs": [{"plugins", "source_identity", "source_type"}], "schema_version"}`,
//! keys sorted) plus ours: `location` (the URL as typed, or the directory), `kind`
//! (`git` or `local`) and `reference` (the `--ref` it was read at), which say how to
//! fetch it again, and `offers` (each plugin's version and description, for search).
//!
//! A source is a catalog when it has `plugins/<name>/ouroboros.plugin.json` entries, or
//! is a single plugin directory. Invalid and `first_party` manifests are skipped with a
//! reason; nothing in the source is executed.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::{self, MANIFEST_FILE, Manifest};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub plugins: Vec<String>,
    pub source_identity: String,
    pub source_type: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// A plugin a catalog offers, as it was when the catalog was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
}

impl CatalogEntry {
    /// What it offers: the recorded details, or the bare names of an entry written
    /// before they were recorded.
    pub fn offered(&self) -> Vec<Offer> {
        if !self.offers.is_empty() {
            return self.offers.clone();
        }
        let bare = |name: &String| Offer {
            name: name.clone(),
            version: String::new(),
            description: String::new(),
        };
        self.plugins.iter().map(bare).collect()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogFile {
    #[serde(default)]
    catalogs: Vec<CatalogEntry>,
    #[serde(default = "schema_version")]
    schema_version: String,
}

fn schema_version() -> String {
    "0.1".into()
}

/// A plugin found in a source tree.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// What scanning a source found.
#[derive(Debug, Default)]
pub struct Scan {
    pub candidates: Vec<Candidate>,
    /// `(directory, reason)` for entries that were skipped.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Find the plugins in a checked-out source.
pub fn scan(root: &Path) -> Scan {
    let mut scan = Scan::default();
    let mut consider = |dir: PathBuf| match manifest::load(&dir) {
        Ok((m, _)) if m.source.kind == manifest::SourceType::FirstParty => scan.skipped.push((
            dir,
            "declares source.type first_party, which only ooo's own programs may use".into(),
        )),
        Ok((m, _)) => scan.candidates.push(Candidate { dir, manifest: m }),
        Err(e) => scan.skipped.push((dir, e.to_string())),
    };
    if root.join(MANIFEST_FILE).is_file() {
        consider(root.to_owned());
    }
    if let Ok(entries) = fs::read_dir(root.join("plugins")) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        dirs.sort();
        dirs.into_iter().for_each(&mut consider);
    }
    scan
}

/// The catalog registrations of a home.
pub struct Catalogs {
    path: PathBuf,
}

impl Catalogs {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn load(&self) -> io::Result<CatalogFile> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(CatalogFile::default()),
            Err(e) => Err(e),
        }
    }

    pub fn entries(&self) -> io::Result<Vec<CatalogEntry>> {
        Ok(self.load()?.catalogs)
    }

    /// Read, change and write back under an exclusive lock.
    pub fn update(&self, change: impl FnOnce(&mut Vec<CatalogEntry>)) -> io::Result<()> {
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.path.with_extension("json.lock"))?;
        lock.lock()?;
        let mut file = self.load()?;
        change(&mut file.catalogs);
        for c in &mut file.catalogs {
            c.plugins.sort();
            c.plugins.dedup();
        }
        file.catalogs.retain(|c| !c.plugins.is_empty());
        file.catalogs.sort_by(|a, b| {
            (&a.source_type, &a.source_identity).cmp(&(&b.source_type, &b.source_identity))
        });
        // Upstream writes sorted keys with a two-space indent.
        let sorted: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
            (
                "catalogs",
                serde_json::Value::Array(file.catalogs.iter().map(sorted_entry).collect()),
            ),
            ("schema_version", serde_json::Value::String(file.schema_version.clone())),
        ]);
        let text = serde_json::to_string_pretty(&sorted).map_err(io::Error::other)?;
        ooo_core::atomic::write_atomic(&self.path, text.as_bytes())
    }

    /// Register (or refresh) a catalog's plugin list.
    pub fn register(&self, entry: CatalogEntry) -> io::Result<()> {
        self.update(|all| {
            all.retain(|c| {
                !(c.source_type == entry.source_type && c.source_identity == entry.source_identity)
            });
            all.push(entry);
        })
    }

    /// Unregister the catalogs `which` selects; returns them.
    pub fn unregister(
        &self,
        which: impl Fn(&CatalogEntry) -> bool,
    ) -> io::Result<Vec<CatalogEntry>> {
        let mut removed = Vec::new();
        self.update(|all| {
            let (gone, kept): (Vec<_>, Vec<_>) = all.drain(..).partition(|c| which(c));
            removed = gone;
            *all = kept;
        })?;
        Ok(removed)
    }

    /// Catalogs that offer `name`.
    pub fn offering(&self, name: &str) -> io::Result<Vec<CatalogEntry>> {
        Ok(self.entries()?.into_iter().filter(|c| c.plugins.iter().any(|p| p == name)).collect())
    }
}

fn sorted_entry(c: &CatalogEntry) -> serde_json::Value {
    let mut map: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
        ("kind", c.kind.clone().into()),
        ("location", c.location.clone().into()),
        ("plugins", c.plugins.clone().into()),
        ("source_identity", c.source_identity.clone().into()),
        ("source_type", c.source_type.clone().into()),
        ("offers", serde_json::to_value(&c.offers).expect("offers are JSON")),
    ]);
    if let Some(r) = &c.reference {
        map.insert("reference", r.clone().into());
    }
    serde_json::to_value(map).expect("catalog entry is JSON")
}
