//! The lifecycle verbs: add, install, update, trust, disable, remove, verify, list and
//! inspect, over one home (`plugins.lock`, `plugins/<name>/`, `plugin-catalogs.json`,
//! `plugin-state/<name>/`) and its ledger.
//!
//! Installs are transactions: the new tree is staged and digested next to the live one,
//! built when its manifest declares a build step (`crate::build`, sandboxed), checked to
//! be runnable, swapped in by rename, then the lockfile is rewritten and
//! `plugin.installed` appended; a failure at any step puts the previous tree and lockfile
//! back, and a crash is repaired by the next operation (`recovery`). Apart from that
//! build step nothing from a plugin is executed here, and installing never grants a
//! permission.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use ooo_core::config::{Config, ConfigError};
use ooo_core::home::Home;
use ooo_core::ledger::{Actor, LedgerError, Store, timestamp};

use crate::build::{self, BuildError, Built};
use crate::catalog::{self, CatalogEntry, Catalogs};
use crate::changes::{self, FileChange};
use crate::digest::{DigestError, StatCache, tree_digest, tree_digest_with_progress};
use crate::git::{self, GitError};
use crate::lockfile::{LockEntry, Lockfile, LockfileError};
use crate::manifest::{self, Manifest, ManifestError};
use crate::runnable::{self, NotRunnable};
use crate::source::{self, Source, SourceError};
use crate::tree::{self, copy_tree, remove_tree};
use crate::trust::{self, Subject, TrustState};

mod catalogs;
mod inspect;
mod names;
mod recovery;
mod refusal;

pub use inspect::{CommandSummary, Disabled, Inspection, LastChange, ManifestSummary, Previous};
pub use refusal::Refusal;

/// How many changed files an install or update event lists (the count is always there).
const LEDGER_FILES_CHANGED: usize = 200;

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
    Build(#[from] BuildError),
    #[error("{0}")]
    NotRunnable(Box<Unrunnable>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("plugin {0} is not installed")]
    NotInstalled(String),
    #[error("--ref {reference} needs a git repository, and {} is not in one", path.display())]
    RefWithoutGit { path: PathBuf, reference: String },
    #[error("{0}")]
    ReplaceRefused(Box<Replacing>),
    #[error("{0} is not a registered catalog")]
    UnknownCatalog(String),
    #[error("plugin {0} is not in any known catalog")]
    Unknown(String),
    #[error("plugin name {name} is offered by {} catalogs: {}", candidates.len(), candidates.join("; "))]
    Ambiguous { name: String, candidates: Vec<String> },
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// A plugin whose entrypoint (or a hook's) cannot start, and where to fix it.
#[derive(Debug)]
pub struct Unrunnable {
    pub name: String,
    pub problem: NotRunnable,
    /// Where the file is (or should be) in the source, for the fix: absolute for a local
    /// directory, relative to the repository for a git source.
    pub file: String,
    /// The git repository the file is in (its URL), for a git source.
    pub repository: Option<String>,
    /// The build command, when the plugin has one.
    pub build: Option<String>,
}

impl std::fmt::Display for Unrunnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.name;
        let at = match &self.repository {
            Some(url) => format!("{} in {url}", self.file),
            None => self.file.clone(),
        };
        match &self.problem {
            NotRunnable::Missing { what, path } => {
                let after = if self.build.is_some() { " after its build" } else { "" };
                write!(f, "{name}'s {what} {path} does not exist{after} ({at})")
            }
            NotRunnable::NotExecutable { what, path } => {
                write!(f, "{name}'s {what} {path} is not executable ({at})")
            }
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ManagerError + '_ {
    move |source| ManagerError::Io { path: path.to_owned(), source }
}

/// What an install transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Install,
    Update,
    /// An update that only reports.
    DryRun,
}

/// What `install` does when it would replace an installed plugin of the same name with
/// one from another source or of a lower version.
pub enum Replace {
    /// Refuse, saying what would change (no terminal to ask on).
    Refuse,
    /// Replace it (`--force`).
    Force,
    /// Ask: replace when the answer is yes.
    Ask(Box<dyn Fn(&Replacing) -> bool>),
}

/// An installed plugin that an install would replace by something the user may not
/// expect: another source, or a lower version.
#[derive(Debug, Clone, Serialize)]
pub struct Replacing {
    pub name: String,
    pub installed_version: String,
    pub installed_source: String,
    pub new_version: String,
    pub new_source: String,
}

impl Replacing {
    pub fn other_source(&self) -> bool {
        self.installed_source != self.new_source
    }

    pub fn lower_version(&self) -> bool {
        version_key(&self.new_version) < version_key(&self.installed_version)
    }
}

impl std::fmt::Display for Replacing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lower = if self.lower_version() { ", a lower version" } else { "" };
        let other = if self.other_source() { ", another source" } else { "" };
        write!(
            f,
            "{} {} from {} is installed; this would replace it with {} from {}{lower}{other} (its trust does not carry over)",
            self.name,
            self.installed_version,
            self.installed_source,
            self.new_version,
            self.new_source
        )
    }
}

/// `1.2.3` as numbers, for ordering (a part that is not a number counts as 0).
fn version_key(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// A progress report: (what, bytes done, bytes total), `what` being `copying` or
/// `hashing`.
pub type Progress = dyn Fn(&str, u64, u64) + Sync;

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
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PermissionChange {
    pub scope: String,
    pub risk: manifest::Risk,
    pub required: bool,
}

/// What `trust` did.
#[derive(Debug, Clone, Serialize)]
pub struct Trusted {
    /// Every scope the plugin holds now.
    pub granted_scopes: Vec<String>,
    /// The scopes granted by this call (not held before).
    pub added: Vec<PermissionChange>,
    /// The scopes asked for that it held already.
    pub already_held: Vec<String>,
    /// Each scope granted by this call with every resource it opens (the consent).
    pub opened: Vec<manifest::opens::ScopeOpens>,
    /// False when nothing changed, so no event was appended.
    pub recorded: bool,
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
    /// The digest of the source tree before its build (when it has one).
    pub source_digest: Option<String>,
    /// What the build step did (when the manifest declares one).
    pub build: Option<Built>,
    pub previous_version: Option<String>,
    pub previous_digest: Option<String>,
    pub permissions_added: Vec<PermissionChange>,
    pub permissions_removed: Vec<PermissionChange>,
    /// Every declared scope of the installed manifest with the resources it opens, and
    /// what the plugin gets without a scope: what `trust` would grant, named.
    pub scopes: Vec<manifest::opens::ScopeOpens>,
    pub without_scope: Vec<manifest::opens::Resource>,
    /// The files that differ from the installed tree (all of them for a first install).
    pub files_changed: Vec<FileChange>,
    /// False when the same bytes from the same source were already installed.
    pub changed: bool,
    /// Only reported (`update --dry-run`): nothing was changed.
    pub dry_run: bool,
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
    /// The directory the source was fetched into (checkout, or the local directory).
    root: PathBuf,
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
    /// Told how long work goes while trees are copied and hashed.
    pub progress: Option<Box<Progress>>,
    /// Replacing an installed plugin from another source or with a lower version.
    pub replace: Replace,
    failpoint: Option<FailPoint>,
}

impl Manager {
    pub fn new(home: Home, reserved: Vec<String>) -> Self {
        Self {
            home,
            reserved,
            show_progress: false,
            progress: None,
            replace: Replace::Refuse,
            failpoint: None,
        }
    }

    /// Make the next install fail at `point` (for rollback tests).
    #[doc(hidden)]
    pub fn fail_at(&mut self, point: FailPoint) {
        self.failpoint = Some(point);
    }

    fn lockfile(&self) -> Lockfile {
        Lockfile::new(self.home.plugins_lock())
    }

    fn catalogs(&self) -> Catalogs {
        Catalogs::new(self.home.plugin_catalogs())
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.home.plugins_dir()
    }

    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.home.plugin_state_dir(name)
    }

    fn stat_cache_path(&self) -> PathBuf {
        self.home.digest_stat_cache()
    }

    fn scratch_dir(&self) -> Result<PathBuf, ManagerError> {
        let dir = self.home.checkout_dir(&ulid::Ulid::new().to_string());
        fs::create_dir_all(dir.parent().expect("cache dir")).map_err(io_err(&dir))?;
        Ok(dir)
    }

    /// Digest a tree. `use_cache` reuses the home's stat cache; checks that decide on
    /// trust (`trust`, `verify`) read every byte instead.
    fn digest(&self, dir: &Path, use_cache: bool) -> Result<String, ManagerError> {
        let cache = use_cache.then(|| StatCache::load(&self.stat_cache_path()));
        let d = match &self.progress {
            Some(report) => {
                let hashing = |done: u64, total: u64| report("hashing", done, total);
                tree_digest_with_progress(dir, cache.as_ref(), Some(&hashing))?
            }
            None => tree_digest(dir, cache.as_ref())?,
        };
        if let Some(cache) = cache {
            let _ = cache.save(&self.stat_cache_path());
        }
        Ok(d.digest)
    }

    /// Copy a plugin tree, reporting progress when asked to.
    fn copy(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let Some(report) = &self.progress else { return copy_tree(src, dst) };
        let total = tree::tree_bytes(src);
        let done = std::sync::atomic::AtomicU64::new(0);
        let result = tree::copy_tree_reporting(src, dst, &|bytes| {
            let now = done.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
            report("copying", now.min(total), total);
        });
        report("copying", total, total);
        result
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
            return Err(Refusal::InvalidLockedName(entry.name.clone()).into());
        }
        Ok(self.home.plugin_dir(&entry.name))
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
                ooo_core::event_types::plugin::DISABLED,
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
    /// the full sandbox. A file that cannot be read or is not valid (a syntax error
    /// anywhere, `sandbox = "required"`) is an error, never "not required".
    pub fn sandbox_mode(&self) -> Result<crate::sandbox::Mode, ManagerError> {
        Ok(crate::sandbox::mode(self.config()?.sandbox))
    }

    /// ooo's home directory.
    pub fn home_root(&self) -> &Path {
        self.home.root()
    }

    /// The home's `config.toml` (defaults when there is none).
    pub fn config(&self) -> Result<Config, ManagerError> {
        Ok(Config::load(&self.home.config_toml())?)
    }

    /// The home's ledger database.
    pub fn ledger_path(&self) -> PathBuf {
        self.home.ledger_db()
    }

    /// Where saved seeds are.
    pub fn seeds_dir(&self) -> PathBuf {
        self.home.seeds_dir()
    }

    /// Where running invocations hold their locks.
    pub fn runs_dir(&self) -> PathBuf {
        self.home.runs_dir()
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

    /// The tree of `source` at `reference`, as `(root, git_sha, scratch)`: a git URL is
    /// cloned; a local directory is used as it is, or, with a reference, cloned at that
    /// reference from the git repository it is in (a plain directory has no versions).
    fn checkout(
        &self,
        source: &Source,
        reference: Option<&str>,
    ) -> Result<(PathBuf, Option<String>, Option<PathBuf>), ManagerError> {
        let (url, subdir) = match (source, reference) {
            (Source::Local { path }, None) => return Ok((path.clone(), None, None)),
            (Source::Local { path }, Some(r)) => {
                let top = git::toplevel(path)
                    .and_then(|top| top.canonicalize().ok())
                    .filter(|top| path.starts_with(top))
                    .ok_or_else(|| ManagerError::RefWithoutGit {
                        path: path.clone(),
                        reference: r.to_owned(),
                    })?;
                let subdir = path.strip_prefix(&top).unwrap_or(Path::new("")).to_owned();
                (format!("file://{}", top.display()), subdir)
            }
            (Source::Git { url }, _) => (source::clone_url(url).to_owned(), PathBuf::new()),
        };
        let dest = self.scratch_dir()?;
        let checkout = git::clone(&url, reference, &dest, self.show_progress)
            .inspect_err(|_| drop(remove_tree(&dest)))?;
        Ok((checkout.dir.join(subdir), Some(checkout.sha), Some(dest)))
    }

    fn fetch(
        &self,
        source: Source,
        name: Option<&str>,
        reference: Option<&str>,
    ) -> Result<Fetched, ManagerError> {
        let (root, git_sha, scratch) = self.checkout(&source, reference)?;
        let plugin_dir = match name {
            Some(n) if root.join("plugins").join(n).join(manifest::MANIFEST_FILE).is_file() => {
                root.join("plugins").join(n)
            }
            _ if root.join(manifest::MANIFEST_FILE).is_file() => root.clone(),
            Some(n) => {
                if let Some(s) = &scratch {
                    let _ = remove_tree(s);
                }
                return Err(Refusal::NoSuchPlugin { root, name: n.to_owned() }.into());
            }
            None => {
                if let Some(s) = &scratch {
                    let _ = remove_tree(s);
                }
                return Err(Refusal::NoManifest { root }.into());
            }
        };
        Ok(Fetched {
            root,
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
        let (root, _, scratch) = self.checkout(&source, reference)?;
        let scan = catalog::scan(&root);
        if let Some(s) = &scratch {
            let _ = remove_tree(s);
        }
        if scan.candidates.is_empty() {
            let skipped =
                scan.skipped.iter().map(|(d, r)| format!("{}: {r}", d.display())).collect();
            return Err(Refusal::NoValidPlugin { location: location.to_owned(), skipped }.into());
        }
        let entry = CatalogEntry {
            plugins: scan.candidates.iter().map(|c| c.manifest.name.clone()).collect(),
            reference: reference.map(str::to_owned),
            offers: scan
                .candidates
                .iter()
                .map(|c| catalog::Offer {
                    name: c.manifest.name.clone(),
                    version: c.manifest.version.clone(),
                    description: c.manifest.description.clone(),
                })
                .collect(),
            source_identity: source.identity(),
            source_type: scan.candidates[0].manifest.source.kind.as_str().to_owned(),
            // Where to fetch it again: a local directory absolute, whatever the cwd was.
            location: match &source {
                Source::Local { path } => path.display().to_string(),
                Source::Git { url } => source::without_credentials(url),
            },
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
        // Installing by name from a catalog registered with `--ref` reads that version,
        // unless this install names its own.
        let mut catalog_ref = None;
        let source = match from {
            Some(text) => Source::parse(text)?,
            None => {
                let offering = self
                    .catalogs()
                    .offering(name)
                    .map_err(io_err(Path::new("plugin-catalogs.json")))?;
                match offering.as_slice() {
                    [] => return Err(ManagerError::Unknown(name.to_owned())),
                    [one] => {
                        catalog_ref.clone_from(&one.reference);
                        Source::parse(&one.location)?
                    }
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
        let reference = reference.or(catalog_ref.as_deref());
        let fetched = self.fetch(source, Some(name), reference)?;
        let result = self.install_fetched(ledger, actor, name, &fetched, Kind::Install);
        if let Some(s) = &fetched.scratch {
            let _ = remove_tree(s);
        }
        result
    }

    /// Fetch the installed plugin's source again and install what it holds now.
    /// With `reference`, move to that tag, branch or commit; with `dry_run`, report what
    /// would change (files included) and change nothing.
    pub fn update(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        reference: Option<&str>,
        dry_run: bool,
    ) -> Result<InstallReport, ManagerError> {
        let entry = self.entry(name)?;
        let location = match entry.source_kind.as_str() {
            "git" => entry.repository.clone().unwrap_or_else(|| entry.source_identity.clone()),
            _ => entry.source_identity.clone(),
        };
        let reference = reference.or(entry.requested_ref.as_deref());
        let fetched = self.fetch(Source::parse(&location)?, Some(name), reference)?;
        let kind = if dry_run { Kind::DryRun } else { Kind::Update };
        let result = self.install_fetched(ledger, actor, name, &fetched, kind);
        if let Some(s) = &fetched.scratch {
            let _ = remove_tree(s);
        }
        result
    }

    /// Go on with an install over `previous` only if it is the same source at the same or
    /// a higher version, or the user agrees (`--force`, or yes when asked).
    fn consent_to_replace(
        &self,
        previous: &LockEntry,
        m: &Manifest,
        f: &Fetched,
    ) -> Result<(), ManagerError> {
        let replacing = Replacing {
            name: m.name.clone(),
            installed_version: previous.version.clone(),
            installed_source: previous.source_identity.clone(),
            new_version: m.version.clone(),
            new_source: f.source.identity(),
        };
        if !replacing.other_source() && !replacing.lower_version() {
            return Ok(());
        }
        let agreed = match &self.replace {
            Replace::Force => true,
            Replace::Ask(ask) => ask(&replacing),
            Replace::Refuse => false,
        };
        if agreed { Ok(()) } else { Err(ManagerError::ReplaceRefused(Box::new(replacing))) }
    }

    /// The refusal for a tree that cannot start its entrypoint, naming the file in the
    /// source (where the fix is made).
    fn not_runnable(&self, m: &Manifest, f: &Fetched, problem: NotRunnable) -> ManagerError {
        let (NotRunnable::Missing { path, .. } | NotRunnable::NotExecutable { path, .. }) =
            &problem;
        let path = path.trim_start_matches("./");
        let (file, repository) = match &f.source {
            Source::Local { .. } => (f.plugin_dir.join(path).display().to_string(), None),
            Source::Git { url } => {
                let rel = f.plugin_dir.strip_prefix(&f.root).unwrap_or(Path::new(""));
                (rel.join(path).display().to_string(), Some(source::without_credentials(url)))
            }
        };
        ManagerError::NotRunnable(Box::new(Unrunnable {
            name: m.name.clone(),
            problem,
            file,
            repository,
            build: m.build().map(|b| b.command.clone()),
        }))
    }

    fn install_fetched(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        f: &Fetched,
        kind: Kind,
    ) -> Result<InstallReport, ManagerError> {
        let event_type = if kind == Kind::Install {
            ooo_core::event_types::plugin::INSTALLED
        } else {
            ooo_core::event_types::plugin::UPDATED
        };
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
        // The build's own directory; its `.staging-` name makes recovery remove it too.
        let build_work = staging.with_file_name(format!(
            "{}-build",
            staging.file_name().expect("a staging name").to_string_lossy()
        ));
        let result = (|| {
            self.copy(&f.plugin_dir, &staging).map_err(io_err(&f.plugin_dir))?;
            let (m, manifest_bytes) = manifest::load(&staging)?;
            if m.name != name {
                return Err(Refusal::WrongManifest {
                    dir: f.plugin_dir.clone(),
                    found: m.name.clone(),
                    wanted: name.to_owned(),
                }
                .into());
            }
            let source_digest = self.digest(&staging, true)?;
            let entries = lockfile.read()?;
            if let Some((_, first)) = self.install_refusals(&m, &entries).into_iter().next() {
                return Err(first.into());
            }
            let previous = entries.iter().find(|e| e.name == name).cloned();
            let previous_manifest = previous.as_ref().and_then(|p| self.installed_manifest(p).ok());
            let live = self.home.plugin_dir(name);
            let (added, removed) = permission_diff(previous_manifest.as_ref(), &m);
            if kind == Kind::Install
                && let Some(p) = &previous
            {
                self.consent_to_replace(p, &m, f)?;
            }
            // Unchanged: the same source as installed, and the live files still what the
            // lockfile says (a reinstall over tampered files must replace them). Nothing
            // is built or swapped then.
            let unchanged = previous.as_ref().is_some_and(|p| {
                p.version == m.version
                    && p.source_type == m.source.kind.as_str()
                    && p.source_identity == f.source.identity()
                    && p.git_sha == f.git_sha
                    && p.requested_ref == f.requested_ref
                    && p.source_digest.as_ref().unwrap_or(&p.artifact_digest) == &source_digest
                    && self.digest(&live, false).is_ok_and(|d| d == p.artifact_digest)
            });
            if unchanged {
                let p = previous.as_ref().expect("unchanged means installed");
                return Ok(InstallReport {
                    name: name.to_owned(),
                    version: p.version.clone(),
                    artifact_digest: p.artifact_digest.clone(),
                    source_kind: p.source_kind.clone(),
                    source_identity: p.source_identity.clone(),
                    git_sha: p.git_sha.clone(),
                    source_digest: p.source_digest.clone(),
                    build: None,
                    previous_version: Some(p.version.clone()),
                    previous_digest: Some(p.artifact_digest.clone()),
                    permissions_added: added,
                    permissions_removed: removed,
                    scopes: m.scopes_opening(),
                    without_scope: m.opened_without_scope(),
                    files_changed: Vec::new(),
                    changed: false,
                    dry_run: kind == Kind::DryRun,
                    ledger_seq: None,
                });
            }
            // A dry run never runs the new source's build: that would execute code the
            // user has not agreed to, with its network. It reports the source only.
            let dry_run = kind == Kind::DryRun;
            let built = match m.build().filter(|_| !dry_run) {
                Some(spec) => Some(
                    build::Job {
                        name,
                        spec,
                        source_root: &f.root,
                        plugin_dir: &f.plugin_dir,
                        work: &build_work,
                        sandbox_mode: self.sandbox_mode()?,
                        show_output: self.show_progress,
                    }
                    .run(&staging)?,
                ),
                None => None,
            };
            let digest = match &built {
                Some(_) => self.digest(&staging, true)?,
                None => source_digest.clone(),
            };
            if !(dry_run && m.build().is_some()) {
                runnable::check(&m, &staging)
                    .map_err(|problem| self.not_runnable(&m, f, problem))?;
            }
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
                source_type: m.source.kind.as_str().to_owned(),
                source_identity: f.source.identity(),
                artifact_digest: digest.clone(),
                requested_ref: f.requested_ref.clone(),
                source_digest: built.as_ref().map(|_| source_digest.clone()),
            };
            let mut report = InstallReport {
                name: name.to_owned(),
                version: m.version.clone(),
                artifact_digest: digest.clone(),
                source_kind: new_entry.source_kind.clone(),
                source_identity: new_entry.source_identity.clone(),
                git_sha: new_entry.git_sha.clone(),
                source_digest: new_entry.source_digest.clone(),
                build: built.clone(),
                previous_version: previous.as_ref().map(|p| p.version.clone()),
                previous_digest: previous.as_ref().map(|p| p.artifact_digest.clone()),
                permissions_added: added,
                permissions_removed: removed,
                scopes: m.scopes_opening(),
                without_scope: m.opened_without_scope(),
                files_changed: changes::between(&live, &staging).map_err(io_err(&staging))?,
                changed: true,
                dry_run: kind == Kind::DryRun,
                ledger_seq: None,
            };
            if kind == Kind::DryRun {
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
                Err(r) => {
                    Refusal::RestoreFailed { failed: Box::new(e), restoring: Box::new(r) }.into()
                }
            };
            if let Err(e) = fs::rename(&staging, &live) {
                return Err(fail(ManagerError::Io { path: live.clone(), source: e }, false));
            }
            if self.failpoint == Some(FailPoint::AfterSwap) {
                return Err(fail(Refusal::Injected("failure after the swap").into(), false));
            }
            let mut next: Vec<LockEntry> =
                entries.iter().filter(|e| e.name != name).cloned().collect();
            next.push(new_entry.clone());
            if let Err(e) = lockfile.write(&guard, &next) {
                return Err(fail(e.into(), false));
            }
            if self.failpoint == Some(FailPoint::CrashAfterLockfile) {
                return Err(Refusal::Injected("crash after the lockfile write").into());
            }
            if self.failpoint == Some(FailPoint::AfterLockfile) {
                return Err(fail(
                    Refusal::Injected("failure after the lockfile write").into(),
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
                "source_digest": new_entry.source_digest,
                "build": report.build,
                "previous": previous.as_ref().map(|p| json!({"version": p.version, "artifact_digest": p.artifact_digest})),
                "permissions_added": report.permissions_added,
                "permissions_removed": report.permissions_removed,
                // The ledger keeps a bounded list (a first install of a tree with a
                // vendored dependency folder lists thousands) and the count.
                "files_changed": report.files_changed.iter().take(LEDGER_FILES_CHANGED).collect::<Vec<_>>(),
                "files_changed_count": report.files_changed.len(),
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
        let _ = remove_tree(&build_work);
        drop(guard);
        result
    }

    // ---- trust ----------------------------------------------------------------

    /// Grant `scopes` to the installed plugin's exact subject (after checking its bytes),
    /// re-enabling it if it was disabled. With no scopes, only re-enables a plugin that
    /// needs none. Asking for what an enabled plugin already holds records nothing.
    pub fn trust(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        scopes: &[String],
    ) -> Result<Trusted, ManagerError> {
        let entry = self.entry(name)?;
        let m = self.installed_manifest(&entry)?;
        let declared: Vec<&str> = m.permissions.iter().map(|p| p.scope.as_str()).collect();
        let undeclared: Vec<&String> =
            scopes.iter().filter(|s| !declared.contains(&s.as_str())).collect();
        if !undeclared.is_empty() {
            return Err(Refusal::UndeclaredScopes {
                name: name.to_owned(),
                undeclared: undeclared.into_iter().cloned().collect(),
                declared: declared.iter().map(|s| (*s).to_owned()).collect(),
            }
            .into());
        }
        if scopes.is_empty() && !m.required_scopes().is_empty() {
            let required = m.required_scopes().iter().map(|s| s.to_string()).collect();
            return Err(Refusal::NoScopesNamed { name: name.to_owned(), required }.into());
        }
        let actual = self.digest(&self.live_dir(&entry)?, false)?;
        if actual != entry.artifact_digest {
            return Err(Refusal::TreeChanged {
                name: name.to_owned(),
                actual,
                installed: entry.artifact_digest.clone(),
            }
            .into());
        }
        let subject = Self::subject(&entry);
        let held = trust::granted_scopes(ledger, &subject)?;
        let has_grant = trust::grant(ledger, name)?.is_some_and(|g| g.subject == subject);
        let (already_held, fresh): (Vec<String>, Vec<String>) =
            scopes.iter().cloned().partition(|s| held.contains(s));
        let mut granted = held;
        granted.extend(fresh.iter().cloned());
        let added: Vec<PermissionChange> = fresh
            .iter()
            .filter_map(|s| m.permission(s))
            .map(|p| PermissionChange {
                scope: p.scope.clone(),
                risk: p.risk,
                required: p.required,
            })
            .collect();
        let unchanged = fresh.is_empty() && has_grant && !trust::is_disabled(ledger, &subject)?;
        if !unchanged {
            trust::record(
                ledger,
                name,
                ooo_core::event_types::plugin::TRUSTED,
                actor,
                json!({"name": name, "subject": subject, "scopes": scopes, "granted_scopes": granted}),
            )?;
        }
        let opened = m.scopes_opening().into_iter().filter(|o| fresh.contains(&o.scope)).collect();
        Ok(Trusted { granted_scopes: granted, added, already_held, opened, recorded: !unchanged })
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
            ooo_core::event_types::plugin::DISABLED,
            actor,
            json!({"name": name, "source_type": entry.source_type, "source_identity": entry.source_identity}),
        )?;
        Ok(())
    }

    /// Remove the install, its lockfile entry, trust and disable record; plugin state
    /// only with `purge`. The ledger history stays, and so do the catalogs (the plugin
    /// can be installed by name again). `purge` after a plain remove deletes the state
    /// that remove kept. Returns whether an installed plugin was removed (false: only
    /// its state was purged).
    pub fn remove(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        purge: bool,
    ) -> Result<bool, ManagerError> {
        let lockfile = self.lockfile();
        let guard = lockfile.lock()?;
        self.recover(ledger, actor, &lockfile)?;
        let entries = lockfile.read()?;
        let Some(entry) = entries.iter().find(|e| e.name == name).cloned() else {
            return self.purge_left_state(ledger, actor, name, purge).map(|()| false);
        };
        let live = self.live_dir(&entry)?;
        let next: Vec<LockEntry> = entries.iter().filter(|e| e.name != name).cloned().collect();
        lockfile.write(&guard, &next)?;
        // The event clears trust and the disable record; if it cannot be written, the
        // plugin stays installed exactly as it was.
        let payload = json!({"name": name, "purge": purge, "subject": Self::subject(&entry)});
        if let Err(e) =
            trust::record(ledger, name, ooo_core::event_types::plugin::REMOVED, actor, payload)
        {
            lockfile.write(&guard, &entries)?;
            return Err(e.into());
        }
        remove_tree(&live).map_err(io_err(&live))?;
        if purge {
            let state = self.state_dir(name);
            remove_tree(&state).map_err(io_err(&state))?;
        }
        Ok(true)
    }

    /// `remove --purge` of a plugin no longer installed: delete the state a plain remove
    /// kept (recorded as `plugin.removed` with `installed: false`). Anything else about
    /// a plugin that is not installed is an error.
    fn purge_left_state(
        &self,
        ledger: &mut dyn Store,
        actor: &Actor,
        name: &str,
        purge: bool,
    ) -> Result<(), ManagerError> {
        let state = self.state_dir(name);
        // `state_dir` joins the name: only a valid plugin name may reach the file system.
        let valid = self.live_dir(&LockEntry { name: name.to_owned(), ..LockEntry::default() });
        if !purge || valid.is_err() || !state.exists() {
            return Err(ManagerError::NotInstalled(name.to_owned()));
        }
        let payload = json!({"name": name, "purge": true, "installed": false});
        trust::record(ledger, name, ooo_core::event_types::plugin::REMOVED, actor, payload)?;
        remove_tree(&state).map_err(io_err(&state))
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
                    ooo_core::event_types::plugin::INTEGRITY_FAILED,
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
}

fn permission_diff(
    before: Option<&Manifest>,
    after: &Manifest,
) -> (Vec<PermissionChange>, Vec<PermissionChange>) {
    let change = |p: &manifest::Permission| PermissionChange {
        scope: p.scope.clone(),
        risk: p.risk,
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
