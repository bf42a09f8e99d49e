//! `ooo plugin ...`: the plugin manager's verbs.

use std::path::Path;
use std::process::ExitCode;

use ooo_core::home::Home;
use ooo_plugin::digest::{StatCache, tree_digest};

use crate::cli::PluginCommand;
use crate::error::CliError;
use crate::output::piped;

pub fn run(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Digest { dir } => digest(&dir),
    }
}

/// The stat cache file under the home.
fn stat_cache_path(home: &Path) -> std::path::PathBuf {
    home.join("cache").join("digest-stat-cache.json")
}

fn digest(dir: &Path) -> Result<ExitCode, CliError> {
    // Use the home's stat cache when there is a home; never create one just to hash.
    let home = Home::locate_from_env().ok().filter(|h| h.is_dir());
    let cache = home.as_deref().map(|h| StatCache::load(&stat_cache_path(h)));
    let result = tree_digest(dir, cache.as_ref())?;
    if let (Some(home), Some(cache)) = (&home, &cache) {
        let _ = cache.save(&stat_cache_path(home)); // a cache that cannot be written only costs time
    }
    piped(|out| Ok(writeln!(out, "{}", result.digest)?))
}
