//! The rules `install` applies to a manifest beyond its own validity: no `first_party`
//! source, one namespace and unique command names, no built-in command as name or
//! namespace, and no name or namespace another installed plugin holds.
//! [`Manager::install_problems`] lists every one that fails, each at its JSON pointer
//! (`ooo plugin validate`); install refuses with the first, as a typed [`Refusal`].
//! Installing itself is in the parent module.

use std::path::Path;

use super::{Manager, Refusal};
use crate::lockfile::LockEntry;
use crate::manifest::{Manifest, ManifestError, SourceType, rules};

impl Manager {
    /// What stops `m` (read from `file`) from installing next to `installed`, in the
    /// order install checks it, each at its JSON pointer (for `ooo plugin validate`).
    pub fn install_problems(
        &self,
        m: &Manifest,
        installed: &[LockEntry],
        file: &Path,
    ) -> Vec<ManifestError> {
        self.install_refusals(m, installed)
            .into_iter()
            .map(|(pointer, refusal)| {
                let (expected, found) = match &refusal {
                    Refusal::FirstPartySource { .. } => {
                        ("local_path or plugin_home", "\"first_party\"".to_owned())
                    }
                    Refusal::CommandsClash { .. } => {
                        ("one namespace and distinct command names", "see message".to_owned())
                    }
                    Refusal::ReservedName { word } => {
                        ("a name that is not an ooo command", format!("{word:?}"))
                    }
                    Refusal::NameTaken { word, .. } => {
                        ("a name and namespace no installed plugin uses", format!("{word:?}"))
                    }
                    _ => ("", String::new()),
                };
                ManifestError::new(file, Some(&pointer), refusal.to_string(), expected, found)
            })
            .collect()
    }

    /// The same as typed refusals: `(JSON pointer, refusal)`. A plugin of the same name
    /// is the one being replaced. Install refuses with the first.
    pub(super) fn install_refusals(
        &self,
        m: &Manifest,
        installed: &[LockEntry],
    ) -> Vec<(String, Refusal)> {
        let mut out = Vec::new();
        if m.source.kind == SourceType::FirstParty {
            out.push((
                "/source/type".to_owned(),
                Refusal::FirstPartySource { name: m.name.clone() },
            ));
        }
        for (pointer, message) in
            rules::warnings(m).into_iter().filter(|(_, msg)| msg.contains("install refuses"))
        {
            out.push((pointer, Refusal::CommandsClash { name: m.name.clone(), message }));
        }
        let words = [("/name", m.name.as_str()), ("/commands/0/namespace", m.namespace())];
        for (pointer, word) in words {
            if self.reserved.iter().any(|r| r == word) {
                out.push((pointer.to_owned(), Refusal::ReservedName { word: word.to_owned() }));
            }
        }
        for other in installed.iter().filter(|e| e.name != m.name) {
            let other_namespace =
                self.installed_manifest(other).ok().map(|om| om.namespace().to_owned());
            let taken = [Some(other.name.clone()), other_namespace];
            for (pointer, word) in words {
                if taken.iter().flatten().any(|t| t == word) {
                    out.push((
                        pointer.to_owned(),
                        Refusal::NameTaken { word: word.to_owned(), by: other.name.clone() },
                    ));
                }
            }
        }
        out
    }
}
