//! The rules `install` applies to a manifest beyond its own validity: no `first_party`
//! source, one namespace and unique command names, no built-in command as name or
//! namespace, and no name or namespace another installed plugin holds.
//! [`Manager::install_problems`] lists every one that fails, each at its JSON pointer
//! (`ooo plugin validate`); install refuses with the first. Installing itself is in the
//! parent module.

use std::path::Path;

use super::Manager;
use crate::lockfile::LockEntry;
use crate::manifest::{Manifest, ManifestError, rules};

impl Manager {
    /// What stops `m` (read from `file`) from installing next to `installed`, in the
    /// order install checks it. A plugin of the same name is the one being replaced.
    pub fn install_problems(
        &self,
        m: &Manifest,
        installed: &[LockEntry],
        file: &Path,
    ) -> Vec<ManifestError> {
        let problem = |pointer: &str, message: String, expected: &str, found: String| {
            ManifestError::new(file, Some(pointer), message, expected, found)
        };
        let mut out = Vec::new();
        if m.source.kind == "first_party" {
            out.push(problem(
                "/source/type",
                format!(
                    "{} declares source.type \"first_party\", which is reserved for programs shipped with ooo",
                    m.name
                ),
                "local_path or plugin_home",
                "\"first_party\"".into(),
            ));
        }
        for (pointer, message) in
            rules::warnings(m).into_iter().filter(|(_, msg)| msg.contains("install refuses"))
        {
            out.push(problem(
                &pointer,
                format!("{}: {message}", m.name),
                "one namespace and distinct command names",
                "see message".into(),
            ));
        }
        let words = [("/name", m.name.as_str()), ("/commands/0/namespace", m.namespace())];
        for (pointer, word) in words {
            if self.reserved.iter().any(|r| r == word) {
                out.push(problem(
                    pointer,
                    format!(
                        "{word:?} is a built-in ooo command; a plugin cannot take it as its name or namespace"
                    ),
                    "a name that is not an ooo command",
                    format!("{word:?}"),
                ));
            }
        }
        for other in installed.iter().filter(|e| e.name != m.name) {
            let other_namespace =
                self.installed_manifest(other).ok().map(|om| om.namespace().to_owned());
            let taken = [Some(other.name.clone()), other_namespace];
            for (pointer, word) in words {
                if taken.iter().flatten().any(|t| t == word) {
                    out.push(problem(
                        pointer,
                        format!("{word:?} is already used by the installed plugin {}", other.name),
                        "a name and namespace no installed plugin uses",
                        format!("{word:?}"),
                    ));
                }
            }
        }
        out
    }
}
