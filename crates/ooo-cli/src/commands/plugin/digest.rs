//! `ooo plugin digest <dir>`: the canonical tree digest of a plugin directory, using the
//! home's stat cache when there is a home (never creating one).

use std::path::Path;
use std::process::ExitCode;

use ooo_core::home::Home;
use ooo_plugin::digest::{StatCache, tree_digest};

use crate::error::CliError;
use crate::output::piped;

pub fn run(dir: &Path) -> Result<ExitCode, CliError> {
    // Use the home's stat cache when there is a home; never create one just to hash.
    let stat_cache = Home::locate_from_env()
        .ok()
        .filter(|h| h.is_dir())
        .and_then(|h| Home::at(h).ok())
        .map(|h| h.digest_stat_cache());
    let cache = stat_cache.as_deref().map(StatCache::load);
    let result = tree_digest(dir, cache.as_ref())?;
    if let (Some(path), Some(cache)) = (&stat_cache, &cache) {
        let _ = cache.save(path); // a cache that cannot be written only costs time
    }
    piped(|out| Ok(writeln!(out, "{}", result.digest)?))
}
