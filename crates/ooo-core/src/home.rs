//! The ooo home directory: where it is and what lives inside it.
//!
//! The home is `$OUROBOROS_HOME`, or `~/.ouroboros` when that is unset (the same default
//! as upstream). It is created with owner-only permissions (0700) when missing. An
//! existing home is used as it is: we never change the permissions of a directory the
//! user made. This module only resolves and prepares paths; it opens no database.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name of the environment variable that overrides the home directory.
pub const HOME_ENV: &str = "OUROBOROS_HOME";

/// Why the home directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot find the home directory: {HOME_ENV} is unset and so is HOME")]
    NoHome,
    #[error("{HOME_ENV} must be an absolute path, got {0:?}")]
    NotAbsolute(PathBuf),
    #[error("{path} exists but is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
}

/// A resolved, existing ooo home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Where the home is, from `OUROBOROS_HOME` and `HOME` as given (no file system access).
    pub fn locate(
        ouroboros_home: Option<&str>,
        user_home: Option<&str>,
    ) -> Result<PathBuf, HomeError> {
        match ouroboros_home.filter(|s| !s.is_empty()) {
            Some(dir) => {
                let path = PathBuf::from(dir);
                if path.is_absolute() { Ok(path) } else { Err(HomeError::NotAbsolute(path)) }
            }
            None => user_home
                .filter(|s| !s.is_empty())
                .map(|h| Path::new(h).join(".ouroboros"))
                .ok_or(HomeError::NoHome),
        }
    }

    /// Locate the home from the process environment.
    pub fn locate_from_env() -> Result<PathBuf, HomeError> {
        let ours = std::env::var(HOME_ENV).ok();
        let user = std::env::var("HOME").ok();
        Self::locate(ours.as_deref(), user.as_deref())
    }

    /// Use `root` as the home, creating it (mode 0700, parents as needed) when missing.
    ///
    /// Fails without touching anything when `root` is a file or cannot be written.
    pub fn prepare(root: impl Into<PathBuf>) -> Result<Self, HomeError> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(meta) if !meta.is_dir() => return Err(HomeError::NotADirectory { path: root }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&root)
                    .map_err(|source| HomeError::Create { path: root.clone(), source })?;
                // DirBuilder applies the umask; make sure the final directory is owner-only.
                fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
                    .map_err(|source| HomeError::Create { path: root.clone(), source })?;
            }
            Err(source) => return Err(HomeError::Create { path: root, source }),
        }
        Ok(Self { root })
    }

    /// The home at `root` as it is, creating nothing: for commands that only read (a
    /// missing directory is fine, they then find nothing in it). A file there is refused.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self, HomeError> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(meta) if !meta.is_dir() => Err(HomeError::NotADirectory { path: root }),
            _ => Ok(Self { root }),
        }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ledger database.
    pub fn ledger_db(&self) -> PathBuf {
        self.root.join("ledger.db")
    }

    /// The user's settings (`crate::config`).
    pub fn config_toml(&self) -> PathBuf {
        self.root.join(crate::config::CONFIG_FILE)
    }

    /// Saved seeds, one YAML file per seed (`crate::seed::SeedStore`).
    pub fn seeds_dir(&self) -> PathBuf {
        self.root.join("seeds")
    }

    /// The lockfile of installed plugins.
    pub fn plugins_lock(&self) -> PathBuf {
        self.root.join("plugins.lock")
    }

    /// The catalogs of plugins a user added.
    pub fn plugin_catalogs(&self) -> PathBuf {
        self.root.join("plugin-catalogs.json")
    }

    /// Where installed plugins live, one directory each.
    pub fn plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// The installed files of the plugin `name`.
    pub fn plugin_dir(&self, name: &str) -> PathBuf {
        self.plugins_dir().join(name)
    }

    /// The state the plugin `name` keeps between runs.
    pub fn plugin_state_dir(&self, name: &str) -> PathBuf {
        self.root.join("plugin-state").join(name)
    }

    /// Files that can be rebuilt: run locks, the digest stat cache, checkouts.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Where running plugin invocations hold their locks.
    pub fn runs_dir(&self) -> PathBuf {
        self.cache_dir().join("runs")
    }

    /// Where `ooo run --worktree` makes each execution's git worktree
    /// (`<worktrees_dir>/<execution_id>`).
    pub fn worktrees_dir(&self) -> PathBuf {
        self.root.join("worktrees")
    }

    /// Execution `id`'s own files (its workers' private `HOME` is `home` in it).
    pub fn execution_dir(&self, id: &str) -> PathBuf {
        self.root.join("runs").join(format!("exec-{id}"))
    }

    /// The lock held by the process that runs execution `id`, from its start (or
    /// resume) to its end: one owner at a time.
    pub fn execution_lock(&self, id: &str) -> PathBuf {
        self.execution_dir(id).join("lock")
    }

    /// The stat cache that lets a tree digest skip unchanged files.
    pub fn digest_stat_cache(&self) -> PathBuf {
        self.cache_dir().join("digest-stat-cache.json")
    }

    /// A checkout being fetched for an install, named by `id`.
    pub fn checkout_dir(&self, id: &str) -> PathBuf {
        self.cache_dir().join(format!("{CHECKOUT_PREFIX}{id}"))
    }
}

/// How the name of a checkout in [`Home::cache_dir`] begins.
pub const CHECKOUT_PREFIX: &str = ".checkout-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_home_wins_and_must_be_absolute() {
        assert_eq!(Home::locate(Some("/x/y"), Some("/home/u")).unwrap(), PathBuf::from("/x/y"));
        assert!(matches!(Home::locate(Some("rel"), None), Err(HomeError::NotAbsolute(_))));
        assert_eq!(
            Home::locate(Some(""), Some("/home/u")).unwrap(),
            PathBuf::from("/home/u/.ouroboros")
        );
        assert!(matches!(Home::locate(None, None), Err(HomeError::NoHome)));
    }

    #[test]
    fn prepare_creates_owner_only_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a/b/home");
        let home = Home::prepare(&root).unwrap();
        let mode = fs::metadata(home.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(home.ledger_db(), root.join("ledger.db"));
    }

    #[test]
    fn names_every_path_in_the_home() {
        let home = Home::at("/h").unwrap();
        let paths = [
            (home.seeds_dir(), "/h/seeds"),
            (home.plugins_lock(), "/h/plugins.lock"),
            (home.plugin_catalogs(), "/h/plugin-catalogs.json"),
            (home.plugin_dir("a"), "/h/plugins/a"),
            (home.plugin_state_dir("a"), "/h/plugin-state/a"),
            (home.runs_dir(), "/h/cache/runs"),
            (home.digest_stat_cache(), "/h/cache/digest-stat-cache.json"),
            (home.checkout_dir("x"), "/h/cache/.checkout-x"),
            (home.worktrees_dir(), "/h/worktrees"),
            (home.execution_dir("x"), "/h/runs/exec-x"),
            (home.execution_lock("x"), "/h/runs/exec-x/lock"),
        ];
        for (got, want) in paths {
            assert_eq!(got, PathBuf::from(want));
        }
    }

    #[test]
    fn at_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("missing")).unwrap();
        assert!(!home.root().exists());
        assert_eq!(home.config_toml(), tmp.path().join("missing/config.toml"));
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(Home::at(&file), Err(HomeError::NotADirectory { .. })));
    }

    #[test]
    fn prepare_refuses_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("home");
        fs::write(&file, b"keep me").unwrap();
        assert!(matches!(Home::prepare(&file), Err(HomeError::NotADirectory { .. })));
        assert_eq!(fs::read(&file).unwrap(), b"keep me");
    }
}
