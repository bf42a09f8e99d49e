//! The user's toolchains for the verify gate: read-only, offline, credentials left out.

use super::*;
use ooo_plugin::build::without_credentials;

/// What the verify gate needs to run the user's toolchains (`cargo run`, `go test`)
/// offline: their homes and the directories on `PATH` that are not the system's,
/// read-only, and the variables that point at them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Toolchain {
    pub(super) read: Vec<PathBuf>,
    pub(super) env: Vec<(String, String)>,
}

/// Toolchain homes: `(variable, default under HOME)`.
pub(super) const TOOLCHAIN_HOMES: &[(&str, &str)] =
    &[("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")];

impl Toolchain {
    /// From the caller's environment (`var` reads one variable).
    pub(super) fn from_env(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Toolchain {
        let user_home = var("HOME").map(PathBuf::from).filter(|h| h.is_absolute());
        let homes: Vec<(&str, PathBuf)> = TOOLCHAIN_HOMES
            .iter()
            .filter_map(|(name, default)| {
                let dir = match var(name) {
                    Some(value) => PathBuf::from(value),
                    None => user_home.as_ref()?.join(default),
                };
                (dir.is_absolute() && dir.is_dir()).then_some((*name, dir))
            })
            .collect();
        let path: Vec<PathBuf> =
            var("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
        let path: Vec<PathBuf> =
            path.into_iter().filter(|d| d.is_absolute() && d.is_dir()).collect();
        // Already in every sandbox (and holding no toolchain of the user's).
        let system =
            |d: &Path| ooo_sandbox::SYSTEM_DIRS.iter().chain(&["/etc"]).any(|s| d.starts_with(s));
        // Not `/` nor HOME, nor any directory holding a toolchain home (its credentials).
        let grantable = |d: &Path| {
            d != Path::new("/")
                && Some(d) != user_home.as_deref()
                && !homes.iter().any(|(_, h)| h.starts_with(d))
        };
        let mut read = Vec::new();
        for dir in path.iter().filter(|d| !system(d) && grantable(d)) {
            if !read.contains(dir) {
                read.push(dir.clone());
            }
        }
        for dir in homes.iter().flat_map(|(_, home)| without_credentials(home)) {
            if !read.contains(&dir) {
                read.push(dir);
            }
        }
        let mut env: Vec<(String, String)> =
            homes.iter().map(|(n, h)| ((*n).to_owned(), h.display().to_string())).collect();
        // PATH: the system's and the granted directories, in the caller's order.
        let reachable: Vec<&PathBuf> =
            path.iter().filter(|d| system(d) || read.contains(*d)).collect();
        if !reachable.is_empty() {
            let joined = std::env::join_paths(reachable).unwrap_or_default();
            env.push(("PATH".into(), joined.to_string_lossy().into_owned()));
        }
        if let Some(t) = var("RUSTUP_TOOLCHAIN") {
            env.push(("RUSTUP_TOOLCHAIN".into(), t.to_string_lossy().into_owned()));
        }
        // No registry is reachable from the gate: say so rather than time out.
        env.push(("CARGO_NET_OFFLINE".into(), "true".into()));
        Toolchain { read, env }
    }
}
