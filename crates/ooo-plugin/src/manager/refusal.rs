//! Why the manager refuses to do what was asked: one variant per refusal, each carrying
//! what it needs to say what is wrong and, through [`Refusal::hint`], the fix to try.
//! Failures of the things the manager uses (git, the ledger, the disk, a manifest that
//! does not load) are not here; they keep their own error types in `ManagerError`.

use std::path::PathBuf;

use crate::manifest::MANIFEST_FILE;

/// A request the manager will not carry out, and why.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the lockfile names a plugin {0:?}, which is not a valid plugin name")]
    InvalidLockedName(String),
    #[error(
        "{} has no plugin {name} (looked for {0}/{MANIFEST_FILE} and {0}/plugins/{name}/{MANIFEST_FILE})",
        root.display()
    )]
    NoSuchPlugin { root: PathBuf, name: String },
    #[error("{} has no {MANIFEST_FILE}", root.display())]
    NoManifest { root: PathBuf },
    #[error(
        "{location} has no valid plugin (looked for {MANIFEST_FILE} and plugins/*/{MANIFEST_FILE}){}",
        if skipped.is_empty() { String::new() } else { format!(": {}", skipped.join("; ")) }
    )]
    NoValidPlugin {
        location: String,
        /// `dir: reason` for each plugin directory that was skipped.
        skipped: Vec<String>,
    },
    #[error("the manifest at {} is for {found}, not {wanted}", dir.display())]
    WrongManifest { dir: PathBuf, found: String, wanted: String },
    #[error(
        "{name} declares source.type \"first_party\", which is reserved for programs shipped with ooo"
    )]
    FirstPartySource { name: String },
    #[error("{name}: {message}")]
    CommandsClash { name: String, message: String },
    #[error("{word:?} is a built-in ooo command; a plugin cannot take it as its name or namespace")]
    ReservedName { word: String },
    #[error("{word:?} is already used by the installed plugin {by}")]
    NameTaken { word: String, by: String },
    #[error("{name} does not declare {}; it declares: {}", undeclared.join(", "),
        if declared.is_empty() { "nothing".to_owned() } else { declared.join(", ") })]
    UndeclaredScopes { name: String, undeclared: Vec<String>, declared: Vec<String> },
    #[error("name the scopes to grant: {}", scope_flags(required))]
    NoScopesNamed { name: String, required: Vec<String> },
    #[error(
        "{name}'s installed files changed since install ({actual}, installed {installed}); reinstall it before trusting it"
    )]
    TreeChanged { name: String, actual: String, installed: String },
    /// An install failed, and so did putting the previous one back (the cause).
    #[error("{failed}; restoring the previous install also failed")]
    RestoreFailed {
        failed: Box<super::ManagerError>,
        #[source]
        restoring: Box<super::ManagerError>,
    },
    /// A failure injected by a test (`FailPoint`).
    #[error("injected {0}")]
    Injected(&'static str),
}

impl Refusal {
    /// The fix to try, when there is one to name.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Refusal::InvalidLockedName(_) => {
                "plugins.lock in OUROBOROS_HOME was edited by hand or damaged; remove that entry from it".to_owned()
            }
            Refusal::NoSuchPlugin { name, .. } => format!(
                "check the name; the source must hold plugins/{name}/{MANIFEST_FILE} or one {MANIFEST_FILE} at its top"
            ),
            Refusal::NoManifest { .. } => {
                format!("point at the plugin's directory, the one holding {MANIFEST_FILE}")
            }
            Refusal::NoValidPlugin { .. } => {
                "check each plugin with `ooo plugin validate <dir>`".to_owned()
            }
            Refusal::WrongManifest { found, .. } => {
                format!("install it under the name its manifest gives: {found}")
            }
            Refusal::FirstPartySource { .. } => {
                "set source.type to \"local_path\" or \"plugin_home\"".to_owned()
            }
            Refusal::CommandsClash { .. } => {
                "give every command the same namespace and a name of its own".to_owned()
            }
            Refusal::ReservedName { .. } => {
                "rename the plugin (its name and commands[].namespace) to a word ooo does not use"
                    .to_owned()
            }
            Refusal::NameTaken { by, .. } => {
                format!("rename this plugin, or remove {by} first with `ooo plugin remove {by}`")
            }
            Refusal::UndeclaredScopes { name, declared, .. } if !declared.is_empty() => {
                format!("grant only what it declares: `ooo plugin trust {name} {}`", scope_flags(declared))
            }
            Refusal::UndeclaredScopes { name, .. } => {
                format!("{name} declares no scope; run `ooo plugin trust {name}` without --scope")
            }
            Refusal::NoScopesNamed { name, required } => {
                format!("`ooo plugin trust {name} {}`", scope_flags(required))
            }
            Refusal::TreeChanged { name, .. } => format!(
                "reinstall it from a source you trust (`ooo plugin remove {name}`, then `ooo plugin install {name}`), then trust it again"
            ),
            Refusal::RestoreFailed { .. } | Refusal::Injected(_) => return None,
        })
    }
}

/// `--scope a --scope b`.
fn scope_flags(scopes: &[String]) -> String {
    scopes.iter().map(|s| format!("--scope {s}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_as_users_know_them() {
        let undeclared = Refusal::UndeclaredScopes {
            name: "greeter".into(),
            undeclared: vec!["greeter:admin".into()],
            declared: vec!["greeter:read".into(), "greeter:publish".into()],
        };
        assert_eq!(
            undeclared.to_string(),
            "greeter does not declare greeter:admin; it declares: greeter:read, greeter:publish"
        );
        assert_eq!(
            undeclared.hint().as_deref(),
            Some(
                "grant only what it declares: `ooo plugin trust greeter --scope greeter:read --scope greeter:publish`"
            )
        );
        let none = Refusal::NoValidPlugin { location: "/x".into(), skipped: vec![] };
        assert_eq!(
            none.to_string(),
            "/x has no valid plugin (looked for ouroboros.plugin.json and plugins/*/ouroboros.plugin.json)"
        );
        let some = Refusal::NoValidPlugin { location: "/x".into(), skipped: vec!["a: bad".into()] };
        assert!(some.to_string().ends_with("plugins/*/ouroboros.plugin.json): a: bad"));
        let named = Refusal::NoScopesNamed { name: "g".into(), required: vec!["g:read".into()] };
        assert_eq!(named.to_string(), "name the scopes to grant: --scope g:read");
        let missing = Refusal::NoSuchPlugin { root: "/r".into(), name: "p".into() };
        assert_eq!(
            missing.to_string(),
            "/r has no plugin p (looked for /r/ouroboros.plugin.json and /r/plugins/p/ouroboros.plugin.json)"
        );
    }

    #[test]
    fn every_user_facing_refusal_has_a_hint() {
        let taken = Refusal::NameTaken { word: "alpha".into(), by: "alpha".into() };
        assert!(taken.hint().is_some_and(|h| h.contains("ooo plugin remove alpha")));
        assert!(Refusal::Injected("x").hint().is_none());
        let none_declared = Refusal::UndeclaredScopes {
            name: "g".into(),
            undeclared: vec!["g:x".into()],
            declared: vec![],
        };
        assert!(none_declared.to_string().ends_with("it declares: nothing"));
        assert!(none_declared.hint().is_some_and(|h| h.contains("without --scope")));
    }
}
