//! Whether a plugin tree can start what its manifest names: the entrypoint and every
//! hook's entrypoint, when their first word is a path (`./bin/tool`, `/opt/x/run`), must
//! be an executable regular file, so `install` refuses a plugin that would only fail
//! with exit 127 or 126 at its first call. A bare program name (`python3 main.py`) is
//! looked up on `PATH` when it runs and is not checked here, nor is an entrypoint that
//! does not split into words (the manifest rules warn about it).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::manifest::{Manifest, rules};

/// Why the tree cannot start one of its programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRunnable {
    /// The file does not exist (or is not a regular file).
    Missing { what: String, path: String },
    /// It exists but has no execute bit.
    NotExecutable { what: String, path: String },
}

/// Check the entrypoint, then each hook's, of the plugin whose files are in `dir`.
pub fn check(m: &Manifest, dir: &Path) -> Result<(), NotRunnable> {
    problems(m, dir).into_iter().next().map_or(Ok(()), |(_, p)| Err(p))
}

/// Every program of the plugin in `dir` that cannot start, with the JSON pointer of the
/// manifest field that names it.
pub fn problems(m: &Manifest, dir: &Path) -> Vec<(String, NotRunnable)> {
    let hooks = m.hooks.iter().enumerate().map(|(i, h)| {
        (
            format!("/hooks/{i}/entrypoint/command"),
            format!("hook {}'s entrypoint", h.name),
            &h.entrypoint,
        )
    });
    let main = ("/entrypoint/command".to_owned(), "entrypoint".to_owned(), &m.entrypoint);
    let mut out = Vec::new();
    for (pointer, what, entrypoint) in std::iter::once(main).chain(hooks) {
        let Some(words) = rules::entrypoint_words(&entrypoint.command) else { continue };
        let first = &words[0];
        if !first.contains('/') {
            continue;
        }
        match std::fs::metadata(dir.join(first)) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {}
            Ok(meta) if meta.is_file() => {
                out.push((pointer, NotRunnable::NotExecutable { what, path: first.clone() }))
            }
            _ => out.push((pointer, NotRunnable::Missing { what, path: first.clone() })),
        }
    }
    out
}
