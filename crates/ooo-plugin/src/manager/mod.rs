//! The lifecycle verbs: add, install, update, trust, disable, remove, verify, list and
//! inspect, over one home (`plugins.lock`, `plugins/<name>/`, `plugin-catalogs.json`,
//! `plugin-state/<name>/`) and its ledger.
//!
//! Installs are transactions: the new tree is staged and digested next to the live one,
//! swapped in by rename, then the lockfile is rewritten and `plugin.installed` appended;
//! a failure at any step puts the previous tree and lockfile back, and a crash is
//! repaired by the next operation (`recovery`). Nothing from a plugin is executed here,
//! and installing never grants a permission.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use ooo_core::home::Home;
use ooo_core::ledger::{Actor, LedgerError, Store, timestamp};

use crate::catalog::{self, CatalogEntry, Catalogs};
use crate::digest::{DigestError, StatCache, tree_digest, tree_digest_with_progress};
use crate::git::{self, GitError};
use crate::lockfile::{LockEntry, Lockfile, LockfileError};
use crate::manifest::{self, Manifest, ManifestError, rules};
use crate::source::{self, Source, SourceError};
use crate::tree::{copy_tree, remove_tree};
use crate::trust::{self, Subject, TrustState};

mod recovery;

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("plugin {0} is not installed")]
    NotInstalled(String),
    #[error("plugin {0} is not in any known catalog")]
    Unknown(String),
    #[error("plugin name {name} is offered by {} catalogs: {}", candidates.len(), candidates.join("; "))]
    Ambiguous { name: String, candidates: Vec<String> },
    #[error("{0}")]
    Refused(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ManagerError + '_ {
    move |source| ManagerError::Io { path: path.to_owned(), source }
}

/// A step of an install at which tests can make it fail, to check the rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    AfterSwap,
    AfterLockfile,
    /// Stop right after the lockfile write as a killed process would: no rollback,
    /// no ledger event (recovery must finish the job).
    CrashAfterLockfile,
}

/// A permission and whether it was added or removed, for update and trust reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionChange {
    pub scope: String,
    pub risk: String,
    pub required: bool,
}

/// What an install or update did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub name: String,
    pub version: String,
    pub artifact_digest: String,
    pub source_kind: String,
    pub source_identity: String,
    pub git_sha: Option<String>,
    pub previous_version: Option<String>,
    pub previous_digest: Option<String>,
    pub permissions_added: Vec<PermissionChange>,
    pub permissions_removed: Vec<PermissionChange>,
    /// False when the same bytes from the same source were already installed.
    pub changed: bool,
    pub ledger_seq: Option<u64>,
}

/// One row of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListRow {
    pub name: String,
    pub version: String,
    pub source_kind: String,
    pub source_identity: String,
    pub artifact_digest: String,
    pub trust_state: TrustState,
    pub granted_scopes: Vec<String>,
    pub missing_required_scopes: Vec<String>,
}

/// The outcome of verifying one installed plugin.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRow {
    pub name: String,
    pub expected: String,
    pub actual: Option<String>,
    pub ok: bool,
    pub detail: Option<String>,
}

/// Where a plugin's files come from for one install.
struct Fetched {
    plugin_dir: PathBuf,
    source: Source,
    git_sha: Option<String>,
    requested_ref: Option<String>,
    /// A temporary checkout to delete afterwards.
    scratch: Option<PathBuf>,
}

pub struct Manager {
    home: Home,
    /// Names and namespaces plugins may not take (the built-in command tree).
    reserved: Vec<String>,
    /// Let git draw progress on stderr.
    pub show_progress: bool,
    /// Called with (bytes done, bytes total) while trees are hashed.
    pub progress: Option<Box<dyn Fn(u64, u64) + Sync>>,
    failpoint: Option<FailPoint>,
}

impl Manager {
    pub fn new(home: Home, reserved: Vec<String>) -> Self {
        Self { home, reserved, show_progress: false, progress: None, failpoint: None }
    }

    /// Make the next install fail at `point` (for rollback tests).
    #[doc(hidden)]
    pub fn fail_at(&mut self, point: FailPoint) {
        self.failpoint = Some(point);
    }

    fn lockfile(&self) -> Lockfile {
        Lockfile::new(self.home.root().join("plugins.lock"))
    }

    fn catalogs(&self) -> Catalogs {
        Catalogs::new(self.home.root().join("plugin-catalogs.json"))
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.home.root().join("plugins")
    }

    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.home.root().join("plugin-state").join(name)
    }

    fn stat_cache_path(&self) -> PathBuf {
        self.home.root().join("cache").join("digest-stat-cache.json")
    }

    fn scratch_dir(&self) -> Result<PathBuf, ManagerError> {
        let dir = self.home.root().join("cache").join(format!(".checkout-{}", ulid::Ulid::new()));
        fs::create_dir_all(dir.parent().expect("cache dir")).map_err(io_err(&dir))?;
        Ok(dir)
    }

    /// Digest a tree. `use_cache` reuses the home's stat cache; checks that decide on
    /// trust (`trust`, `verify`) read every byte instead.
    fn digest(&self, dir: &Path, use_cache: bool) -> Result<String, ManagerError> {
        let cache = use_cache.then(|| StatCache::load(&self.stat_cache_path()));
        let d = match &self.progress {
            Some(report) => tree_digest_with_progress(dir, cache.as_ref(), Some(report.as_ref()))?,
            None => tree_digest(dir, cache.as_ref())?,
        };
        if let Some(cache) = cache {
            let _ = cache.save(&self.stat_cache_path());
        }
        Ok(d.digest)
    }

    /// Where an installed plugin's files are: always `plugins/<name>` under this home,
    /// whatever a (possibly hand-edited) lockfile says, and only for a valid name.
    pub fn live_dir(&self, entry: &LockEntry) -> Result<PathBuf, ManagerError> {
        let valid = entry.name.len() >= 3
            && entry.name.len() <= 64
            && entry
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !entry.name.starts_with('-')
            && !entry.name.ends_with('-');
        if !valid {
            return Err(ManagerError::Refused(format!(
                "the lockfile names a plugin {:?}, which is not a valid plugin name",
                entry.name
            )));
        }
        Ok(self.plugins_dir().join(&entry.name))
    }

    /// Disable installed plugins whose name or namespace is a built-in (first-party)
    /// command: first-party wins. Run at start-up; returns the plugins disabled now.
    pub fn disable_first_party_collisions(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
    ) -> Result<Vec<String>, ManagerError> {
        let mut disabled = Vec::new();
        for entry in self.installed()? {
            let namespace = self.installed_manifest(&entry).ok().map(|m| m.namespace().to_owned());
            let collides =
                self.reserved.iter().any(|r| *r == entry.name || Some(r) == namespace.as_ref());
            if !collides || trust::is_disabled(ledger, &Self::subject(&entry))? {
                continue;
            }
            trust::record(
                ledger,
                &entry.name,
                "plugin.disabled",
                actor,
                json!({
                    "name": entry.name,
                    "source_type": entry.source_type,
                    "source_identity": entry.source_identity,
                    "reason": "name_collision_with_first_party",
                    "result": {"status": "name_collision_with_first_party", "message": format!("{} or its namespace {} is a built-in ooo command", entry.name, namespace.unwrap_or_default())},
                }),
            )?;
            disabled.push(entry.name);
        }
        Ok(disabled)
    }

    /// `sandbox = "require"` in the home's `config.toml`: refuse to run plugins without
    /// the full sandbox.
    pub fn sandbox_required(&self) -> bool {
        #[derive(serde::Deserialize)]
        struct Config {
            sandbox: Option<String>,
        }
        fs::read_to_string(self.home.root().join("config.toml"))
            .ok()
            .and_then(|text| toml::from_str::<Config>(&text).ok())
            .and_then(|c| c.sandbox)
            .is_some_and(|s| s == "require")
    }

    /// The home's ledger database.
    pub fn ledger_path(&self) -> PathBuf {
        self.home.ledger_db()
    }

    /// Where saved seeds are.
    pub fn seeds_dir(&self) -> PathBuf {
        self.home.root().join("seeds")
    }

    /// Where running invocations hold their locks.
    pub fn runs_dir(&self) -> PathBuf {
        self.home.root().join("cache").join("runs")
    }

    /// Every installed entry.
    pub fn installed(&self) -> Result<Vec<LockEntry>, ManagerError> {
        Ok(self.lockfile().read()?)
    }

    /// The digest of an installed tree as it is now (stat cache allowed: this runs
    /// before every invocation).
    pub fn current_digest(&self, live: &Path) -> Result<String, ManagerError> {
        self.digest(live, true)
    }

    /// Installed entry for `name`.
    pub fn entry(&self, name: &str) -> Result<LockEntry, ManagerError> {
        self.lockfile()
            .read()?
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ManagerError::NotInstalled(name.to_owned()))
    }

    /// The manifest of an installed plugin.
    /// The installed manifest, read without the schema pass (see
    /// [`manifest::load_installed`]: the digest stands for the install-time validation).
    pub fn installed_manifest(&self, entry: &LockEntry) -> Result<Manifest, ManagerError> {
        Ok(manifest::load_installed(&self.live_dir(entry)?)?.0)
    }

    /// The trust subject an installed entry stands for.
    pub fn subject(entry: &LockEntry) -> Subject {
        Subject {
            name: entry.name.clone(),
            version: entry.version.clone(),
            source_type: entry.source_type.clone(),
            source_identity: entry.source_identity.clone(),
            artifact_digest: entry.artifact_digest.clone(),
        }
    }

    // ---- fetching -------------------------------------------------------------

    fn fetch(
        &self,
        source: Source,
        name: Option<&str>,
        reference: Option<&str>,
    ) -> Result<Fetched, ManagerError> {
        let (root, git_sha, scratch) = match &source {
            Source::Local { path } => (path.clone(), None, None),
            Source::Git { url } => {
                let dest = self.scratch_dir()?;
                let checkout =
                    git::clone(source::clone_url(url), reference, &dest, self.show_progress)
                        .inspect_err(|_| drop(remove_tree(&dest)))?;
                (checkout.dir, Some(checkout.sha), Some(dest))
            }
        };
        let plugin_dir = match name {
            Some(n) if root.join("plugins").join(n).join(manifest::MANIFEST_FILE).is_file() => {
                root.join("plugins").join(n)
            }
            _ if root.join(manifest::MANIFEST_FILE).is_file() => root.clone(),
            Some(n) => {
                if let Some(s) = &scratch {
                    let _ = remove_tree(s);
                }
                return Err(ManagerError::Refused(format!(
                    "{} has no plugin {n} (looked for {0}/{1} and {0}/plugins/{n}/{1})",
                    root.display(),
                    manifest::MANIFEST_FILE
                )));
            }
            None => {
                return Err(ManagerError::Refused(format!(
                    "{} has no {}",
                    root.display(),
                    manifest::MANIFEST_FILE
                )));
            }
        };
        Ok(Fetched {
            plugin_dir,
            source,
            git_sha,
            requested_ref: reference.map(str::to_owned),
            scratch,
        })
    }

    /// Register a catalog; returns the plugins it offers and what was skipped.
    pub fn add(
        &self,
        location: &str,
        reference: Option<&str>,
    ) -> Result<(CatalogEntry, catalog::Scan), ManagerError> {
        let source = Source::parse(location)?;
        let (root, scratch) = match &source {
            Source::Local { path } => (path.clone(), None),
            Source::Git { url } => {
                let dest = self.scratch_dir()?;
                git::clone(source::clone_url(url), reference, &dest, self.show_progress)
                    .inspect_err(|_| drop(remove_tree(&dest)))?;
                (dest.clone(), Some(dest))
            }
        };
        let scan = catalog::scan(&root);
        if let Some(s) = &scratch {
            let _ = remove_tree(s);
        }
        if scan.candidates.is_empty() {
            let reasons: Vec<String> =
                scan.skipped.iter().map(|(d, r)| format!("{}: {r}", d.display())).collect();
            return Err(ManagerError::Refused(format!(
                "{location} has no valid plugin (looked for {} and plugins/*/{}){}",
                manifest::MANIFEST_FILE,
                manifest::MANIFEST_FILE,
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reasons.join("; "))
                }
            )));
        }
        let entry = CatalogEntry {
            plugins: scan.candidates.iter().map(|c| c.manifest.name.clone()).collect(),
            source_identity: source.identity(),
            source_type: scan.candidates[0].manifest.source.kind.clone(),
            location: source::without_credentials(location),
            kind: source.kind().to_owned(),
        };
        self.catalogs()
            .register(entry.clone())
            .map_err(io_err(Path::new("plugin-catalogs.json")))?;
        Ok((entry, scan))
    }

    /// Install `name`, from `from` (a git URL or an absolute directory) or from the one
    /// registered catalog that offers it.
    pub fn install(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        from: Option<&str>,
        reference: Option<&str>,
    ) -> Result<InstallReport, ManagerError> {
        let source = match from {
            Some(text) => Source::parse(text)?,
            None => {
                let offering = self
                    .catalogs()
                    .offering(name)
                    .map_err(io_err(Path::new("plugin-catalogs.json")))?;
                match offering.as_slice() {
                    [] => return Err(ManagerError::Unknown(name.to_owned())),
                    [one] => Source::parse(&one.location)?,
                    many => {
                        return Err(ManagerError::Ambiguous {
                            name: name.to_owned(),
                            candidates: many
                                .iter()
                                .map(|c| format!("{}: {}", c.kind, c.location))
                                .collect(),
                        });
                    }
                }
            }
        };
        let fetched = self.fetch(source, Some(name), reference)?;
        let result = self.install_fetched(ledger, actor, name, &fetched, "plugin.installed");
        if let Some(s) = &fetched.scratch {
            let _ = remove_tree(s);
        }
        result
    }

    /// Fetch the installed plugin's source again and install what it holds now.
    pub fn update(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
    ) -> Result<InstallReport, ManagerError> {
        let entry = self.entry(name)?;
        let location = match entry.source_kind.as_str() {
            "git" => entry.repository.clone().unwrap_or_else(|| entry.source_identity.clone()),
            _ => entry.source_identity.clone(),
        };
        let fetched =
            self.fetch(Source::parse(&location)?, Some(name), entry.requested_ref.as_deref())?;
        let result = self.install_fetched(ledger, actor, name, &fetched, "plugin.updated");
        if let Some(s) = &fetched.scratch {
            let _ = remove_tree(s);
        }
        result
    }

    fn check_names(&self, m: &Manifest, installed: &[LockEntry]) -> Result<(), ManagerError> {
        if m.source.kind == "first_party" {
            return Err(ManagerError::Refused(format!(
                "{} declares source.type \"first_party\", which is reserved for programs shipped with ooo",
                m.name
            )));
        }
        if let Some((_, problem)) =
            rules::warnings(m).into_iter().find(|(_, msg)| msg.contains("install refuses"))
        {
            return Err(ManagerError::Refused(format!("{}: {problem}", m.name)));
        }
        for word in [&m.name, &m.namespace().to_owned()] {
            if self.reserved.iter().any(|r| r == word) {
                return Err(ManagerError::Refused(format!(
                    "{word:?} is a built-in ooo command; a plugin cannot take it as its name or namespace"
                )));
            }
        }
        for other in installed.iter().filter(|e| e.name != m.name) {
            let other_namespace =
                self.installed_manifest(other).ok().map(|om| om.namespace().to_owned());
            let taken = [Some(other.name.clone()), other_namespace];
            for word in [&m.name, &m.namespace().to_owned()] {
                if taken.iter().flatten().any(|t| t == word) {
                    return Err(ManagerError::Refused(format!(
                        "{word:?} is already used by the installed plugin {}",
                        other.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn install_fetched(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        f: &Fetched,
        event_type: &str,
    ) -> Result<InstallReport, ManagerError> {
        let plugins = self.plugins_dir();
        fs::create_dir_all(&plugins).map_err(io_err(&plugins))?;
        // The whole transaction holds the lockfile lock: one install at a time per home,
        // and what a crash left behind is repaired before anything else happens.
        let lockfile = self.lockfile();
        let guard = lockfile.lock()?;
        self.recover(ledger, actor, &lockfile)?;
        // Stage a copy next to the live tree; everything below judges the copy, which is
        // exactly what will run (the source may change meanwhile).
        let staging = plugins.join(format!(".staging-{name}-{}", ulid::Ulid::new()));
        let result = (|| {
            copy_tree(&f.plugin_dir, &staging).map_err(io_err(&f.plugin_dir))?;
            let (m, manifest_bytes) = manifest::load(&staging)?;
            if m.name != name {
                return Err(ManagerError::Refused(format!(
                    "the manifest at {} is for {}, not {name}",
                    f.plugin_dir.display(),
                    m.name
                )));
            }
            let digest = self.digest(&staging, true)?;
            let entries = lockfile.read()?;
            self.check_names(&m, &entries)?;
            let previous = entries.iter().find(|e| e.name == name).cloned();
            let previous_manifest = previous.as_ref().and_then(|p| self.installed_manifest(p).ok());
            let live = plugins.join(name);
            let new_entry = LockEntry {
                name: name.to_owned(),
                version: m.version.clone(),
                source_kind: f.source.kind().to_owned(),
                repository: match &f.source {
                    Source::Git { url } => Some(source::without_credentials(url)),
                    Source::Local { .. } => None,
                },
                git_sha: f.git_sha.clone(),
                manifest_checksum: format!("sha256:{}", hex_sha256(&manifest_bytes)),
                installed_at: timestamp::now()
                    .get(..19)
                    .map(|s| format!("{s}Z"))
                    .unwrap_or_default(),
                plugin_home: live.display().to_string(),
                source_type: m.source.kind.clone(),
                source_identity: f.source.identity(),
                artifact_digest: digest.clone(),
                requested_ref: f.requested_ref.clone(),
            };
            let (added, removed) = permission_diff(previous_manifest.as_ref(), &m);
            // Unchanged only if the live files still are what the lockfile says: a
            // reinstall over tampered files must replace them.
            let unchanged = previous.as_ref().is_some_and(|p| {
                Self::subject(p) == Self::subject(&new_entry)
                    && p.git_sha == new_entry.git_sha
                    && p.requested_ref == new_entry.requested_ref
            }) && self.digest(&live, false).is_ok_and(|d| d == digest);
            let mut report = InstallReport {
                name: name.to_owned(),
                version: m.version.clone(),
                artifact_digest: digest.clone(),
                source_kind: new_entry.source_kind.clone(),
                source_identity: new_entry.source_identity.clone(),
                git_sha: new_entry.git_sha.clone(),
                previous_version: previous.as_ref().map(|p| p.version.clone()),
                previous_digest: previous.as_ref().map(|p| p.artifact_digest.clone()),
                permissions_added: added,
                permissions_removed: removed,
                changed: !unchanged,
                ledger_seq: None,
            };
            if unchanged {
                return Ok(report);
            }
            // Swap: live -> backup, staging -> live. Names carry the plugin so recovery
            // knows what a leftover belongs to.
            let backup = plugins.join(format!(".backup-{name}-{}", ulid::Ulid::new()));
            let had_live = live.exists();
            if had_live {
                fs::rename(&live, &backup).map_err(io_err(&live))?;
            } else {
                // A first install leaves an empty marker instead, so recovery knows an
                // install of this name was under way (see `recovery`).
                fs::write(&backup, b"").map_err(io_err(&backup))?;
            }
            let rollback = |lockfile_written: bool| -> Result<(), ManagerError> {
                if live.exists() {
                    remove_tree(&live).map_err(io_err(&live))?;
                }
                if had_live {
                    fs::rename(&backup, &live).map_err(io_err(&backup))?;
                } else {
                    let _ = fs::remove_file(&backup);
                }
                if lockfile_written {
                    lockfile.write(&guard, &entries)?;
                }
                Ok(())
            };
            let fail = |e: ManagerError, lockfile_written: bool| match rollback(lockfile_written) {
                Ok(()) => e,
                Err(r) => ManagerError::Refused(format!(
                    "{e}; restoring the previous install also failed: {r}"
                )),
            };
            if let Err(e) = fs::rename(&staging, &live) {
                return Err(fail(ManagerError::Io { path: live.clone(), source: e }, false));
            }
            if self.failpoint == Some(FailPoint::AfterSwap) {
                return Err(fail(
                    ManagerError::Refused("injected failure after the swap".into()),
                    false,
                ));
            }
            let mut next: Vec<LockEntry> =
                entries.iter().filter(|e| e.name != name).cloned().collect();
            next.push(new_entry.clone());
            if let Err(e) = lockfile.write(&guard, &next) {
                return Err(fail(e.into(), false));
            }
            if self.failpoint == Some(FailPoint::CrashAfterLockfile) {
                return Err(ManagerError::Refused(
                    "injected crash after the lockfile write".into(),
                ));
            }
            if self.failpoint == Some(FailPoint::AfterLockfile) {
                return Err(fail(
                    ManagerError::Refused("injected failure after the lockfile write".into()),
                    true,
                ));
            }
            let payload = json!({
                "name": name,
                "subject": Self::subject(&new_entry),
                "source_kind": new_entry.source_kind,
                "repository": new_entry.repository,
                "git_sha": new_entry.git_sha,
                "requested_ref": new_entry.requested_ref,
                "manifest_checksum": new_entry.manifest_checksum,
                "previous": previous.as_ref().map(|p| json!({"version": p.version, "artifact_digest": p.artifact_digest})),
                "permissions_added": report.permissions_added,
                "permissions_removed": report.permissions_removed,
            });
            match trust::record(ledger, name, event_type, actor, payload) {
                Ok(event) => report.ledger_seq = Some(event.seq),
                Err(e) => return Err(fail(e.into(), true)),
            }
            if had_live {
                let _ = remove_tree(&backup);
            } else {
                let _ = fs::remove_file(&backup);
            }
            Ok(report)
        })();
        let _ = remove_tree(&staging);
        drop(guard);
        result
    }

    // ---- trust ----------------------------------------------------------------

    /// Grant `scopes` to the installed plugin's exact subject (after checking its bytes).
    /// With no scopes, only re-enables a plugin that needs none.
    pub fn trust(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        scopes: &[String],
    ) -> Result<(Vec<String>, Vec<PermissionChange>), ManagerError> {
        let entry = self.entry(name)?;
        let m = self.installed_manifest(&entry)?;
        let declared: Vec<&str> = m.permissions.iter().map(|p| p.scope.as_str()).collect();
        let undeclared: Vec<&String> =
            scopes.iter().filter(|s| !declared.contains(&s.as_str())).collect();
        if !undeclared.is_empty() {
            return Err(ManagerError::Refused(format!(
                "{name} does not declare {}; it declares: {}",
                undeclared.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                if declared.is_empty() { "nothing".to_owned() } else { declared.join(", ") }
            )));
        }
        if scopes.is_empty() && !m.required_scopes().is_empty() {
            return Err(ManagerError::Refused(format!(
                "name the scopes to grant: {}",
                m.required_scopes()
                    .iter()
                    .map(|s| format!("--scope {s}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        let actual = self.digest(&self.live_dir(&entry)?, false)?;
        if actual != entry.artifact_digest {
            return Err(ManagerError::Refused(format!(
                "{name}'s installed files changed since install ({actual}, installed {}); reinstall it before trusting it",
                entry.artifact_digest
            )));
        }
        let subject = Self::subject(&entry);
        let mut granted = trust::granted_scopes(ledger, &subject)?;
        for s in scopes {
            if !granted.contains(s) {
                granted.push(s.clone());
            }
        }
        let new: Vec<PermissionChange> = scopes
            .iter()
            .filter_map(|s| m.permission(s))
            .map(|p| PermissionChange {
                scope: p.scope.clone(),
                risk: p.risk.clone(),
                required: p.required,
            })
            .collect();
        trust::record(
            ledger,
            name,
            "plugin.trusted",
            actor,
            json!({"name": name, "subject": subject, "scopes": scopes, "granted_scopes": granted}),
        )?;
        Ok((granted, new))
    }

    pub fn disable(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
    ) -> Result<(), ManagerError> {
        let entry = self.entry(name)?;
        trust::record(
            ledger,
            name,
            "plugin.disabled",
            actor,
            json!({"name": name, "source_type": entry.source_type, "source_identity": entry.source_identity}),
        )?;
        Ok(())
    }

    /// Remove the install, its lockfile entry, trust, disable record and catalog
    /// registration; plugin state only with `purge`. The ledger history stays.
    pub fn remove(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        purge: bool,
    ) -> Result<(), ManagerError> {
        let lockfile = self.lockfile();
        let guard = lockfile.lock()?;
        self.recover(ledger, actor, &lockfile)?;
        let entries = lockfile.read()?;
        let entry = entries
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .ok_or_else(|| ManagerError::NotInstalled(name.to_owned()))?;
        let live = self.live_dir(&entry)?;
        let next: Vec<LockEntry> = entries.iter().filter(|e| e.name != name).cloned().collect();
        lockfile.write(&guard, &next)?;
        // The event clears trust and the disable record; if it cannot be written, the
        // plugin stays installed exactly as it was.
        let payload = json!({"name": name, "purge": purge, "subject": Self::subject(&entry)});
        if let Err(e) = trust::record(ledger, name, "plugin.removed", actor, payload) {
            lockfile.write(&guard, &entries)?;
            return Err(e.into());
        }
        remove_tree(&live).map_err(io_err(&live))?;
        if purge {
            let state = self.state_dir(name);
            remove_tree(&state).map_err(io_err(&state))?;
        }
        self.catalogs().forget(name).map_err(io_err(Path::new("plugin-catalogs.json")))?;
        Ok(())
    }

    /// Recompute digests; a mismatch is recorded and voids the plugin's trust.
    pub fn verify(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: Option<&str>,
    ) -> Result<Vec<VerifyRow>, ManagerError> {
        let entries = self.lockfile().read()?;
        let selected: Vec<&LockEntry> = match name {
            Some(n) => vec![
                entries
                    .iter()
                    .find(|e| e.name == n)
                    .ok_or_else(|| ManagerError::NotInstalled(n.to_owned()))?,
            ],
            None => entries.iter().collect(),
        };
        let mut rows = Vec::new();
        for e in selected {
            let (actual, detail) = match self.live_dir(e).and_then(|dir| self.digest(&dir, false)) {
                Ok(d) => (Some(d), None),
                Err(err) => (None, Some(err.to_string())),
            };
            let ok = actual.as_deref() == Some(e.artifact_digest.as_str());
            if !ok {
                trust::record(
                    ledger,
                    &e.name,
                    "plugin.integrity_failed",
                    actor,
                    json!({
                        "name": e.name, "subject": Self::subject(e), "actual_digest": actual, "detail": detail,
                    }),
                )?;
            }
            rows.push(VerifyRow {
                name: e.name.clone(),
                expected: e.artifact_digest.clone(),
                actual,
                ok,
                detail,
            });
        }
        Ok(rows)
    }

    pub fn list(&self, ledger: &dyn Store) -> Result<Vec<ListRow>, ManagerError> {
        let mut rows = Vec::new();
        for e in self.lockfile().read()? {
            let required: Vec<String> = self
                .installed_manifest(&e)
                .map(|m| m.required_scopes().iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let required_refs: Vec<&str> = required.iter().map(String::as_str).collect();
            let subject = Self::subject(&e);
            let (state, missing) = trust::state(ledger, &subject, &required_refs)?;
            rows.push(ListRow {
                granted_scopes: trust::granted_scopes(ledger, &subject)?,
                name: e.name,
                version: e.version,
                source_kind: e.source_kind,
                source_identity: e.source_identity,
                artifact_digest: e.artifact_digest,
                trust_state: state,
                missing_required_scopes: missing,
            });
        }
        Ok(rows)
    }

    /// Everything known about one installed plugin.
    pub fn inspect(
        &self,
        ledger: &dyn Store,
        name: &str,
    ) -> Result<serde_json::Value, ManagerError> {
        let entry = self.entry(name)?;
        let row = self
            .list(ledger)?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| ManagerError::NotInstalled(name.to_owned()))?;
        let m = self.installed_manifest(&entry)?;
        let disabled = trust::disable(ledger, name)?.filter(|d| {
            d.source_type == entry.source_type && d.source_identity == entry.source_identity
        });
        // What the latest install or update changed (from the ledger, the record of it).
        let last_change = ledger
            .query(&ooo_core::ledger::EventQuery {
                aggregate_type: Some("plugin".into()),
                aggregate_id: Some(name.to_owned()),
                ..Default::default()
            })?
            .into_iter()
            .rev()
            .find(|e| matches!(e.event_type.as_str(), "plugin.installed" | "plugin.updated"))
            .map(|e| {
                json!({
                    "ledger_seq": e.seq,
                    "event_type": e.event_type,
                    "at": e.occurred_at,
                    "previous": e.payload.get("previous"),
                    "permissions_added": e.payload.get("permissions_added"),
                    "permissions_removed": e.payload.get("permissions_removed"),
                })
            });
        Ok(json!({
            "name": row.name,
            "version": row.version,
            "source_kind": row.source_kind,
            "source_identity": row.source_identity,
            "artifact_digest": row.artifact_digest,
            "trust_state": row.trust_state,
            "granted_scopes": row.granted_scopes,
            "missing_required_scopes": row.missing_required_scopes,
            "installed_at": entry.installed_at,
            "plugin_home": entry.plugin_home,
            "repository": entry.repository,
            "git_sha": entry.git_sha,
            "requested_ref": entry.requested_ref,
            "disabled": disabled.map(|d| json!({"reason": d.reason, "ledger_seq": d.disabled_at_seq})),
            "last_change": last_change,
            "manifest": {
                "schema_version": m.schema_version,
                "description": m.description,
                "namespace": m.namespace(),
                "commands": m.commands.iter().map(|c| json!({"name": c.name, "summary": c.summary, "risk": c.risk, "requires_confirmation": c.requires_confirmation, "permissions": c.permissions})).collect::<Vec<_>>(),
                "capabilities": m.capabilities,
                "permissions": m.permissions,
                "hooks": m.hooks.iter().map(|h| &h.name).collect::<Vec<_>>(),
            },
        }))
    }
}

fn permission_diff(
    before: Option<&Manifest>,
    after: &Manifest,
) -> (Vec<PermissionChange>, Vec<PermissionChange>) {
    let change = |p: &manifest::Permission| PermissionChange {
        scope: p.scope.clone(),
        risk: p.risk.clone(),
        required: p.required,
    };
    let Some(before) = before else { return (Vec::new(), Vec::new()) };
    let added = after
        .permissions
        .iter()
        .filter(|p| before.permission(&p.scope) != Some(*p))
        .map(change)
        .collect();
    let removed = before
        .permissions
        .iter()
        .filter(|p| after.permission(&p.scope).is_none())
        .map(change)
        .collect();
    (added, removed)
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
