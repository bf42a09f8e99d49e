//! Failures as the user sees them: one `error:` line saying what is wrong, and a `hint:`
//! line naming the fix to try. Library errors are translated here, nowhere else.

use ooo_core::config::ConfigError;
use ooo_core::home::HomeError;
use ooo_core::ledger::LedgerError;
use ooo_core::runtime::RuntimeError;
use ooo_core::seed::{LoadError, SeedStoreError};
use ooo_plugin::build::BuildError;
use ooo_plugin::digest::DigestError;
use ooo_plugin::manager::{ManagerError, Unrunnable};
use ooo_plugin::runnable::NotRunnable;

/// A failed command.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    /// What led to it, outermost first: one `caused by:` line each.
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub code: u8,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), causes: Vec::new(), hint: None, code: 1 }
    }

    /// Add the source chain of `e` as causes (a cause its effect already spells out is
    /// not repeated).
    pub fn caused_by(mut self, e: &dyn std::error::Error) -> Self {
        let mut effect = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !effect.contains(&text) {
                self.causes.push(text.clone());
            }
            effect = text;
            next = cause.source();
        }
        self
    }

    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl From<ooo_sandbox::SandboxError> for CliError {
    fn from(e: ooo_sandbox::SandboxError) -> Self {
        CliError::new(format!("sandbox: {e}")).hint(e.hint())
    }
}

pub fn render(err: &CliError) {
    crate::output::stderr_line(&format!("error: {}", err.message));
    for cause in &err.causes {
        crate::output::stderr_line(&format!("caused by: {cause}"));
    }
    if let Some(hint) = &err.hint {
        crate::output::stderr_line(&format!("hint: {hint}"));
    }
}

impl From<HomeError> for CliError {
    fn from(e: HomeError) -> Self {
        let hint = match &e {
            HomeError::NoHome | HomeError::NotAbsolute(_) => {
                "set OUROBOROS_HOME to an absolute directory path".to_owned()
            }
            HomeError::NotADirectory { path } => {
                format!("point OUROBOROS_HOME at a directory, or move {} aside", path.display())
            }
            HomeError::Create { path, .. } => format!(
                "make {} writable by you (chmod u+rwx), or set OUROBOROS_HOME elsewhere",
                path.display()
            ),
        };
        CliError::new(e.to_string()).hint(hint)
    }
}

impl From<LedgerError> for CliError {
    fn from(e: LedgerError) -> Self {
        let hint = match &e {
            LedgerError::NoLedger { path } => Some(format!(
                "nothing has been recorded in {} yet (a command that records something, like `ooo ledger note`, creates the ledger); check that OUROBOROS_HOME names the home you mean",
                path.parent().unwrap_or(path).display()
            )),
            LedgerError::BrokenHead { path, .. } => Some(format!(
                "see every break with `ooo ledger verify`; to restore, move {0} aside (mv {0} {0}.broken) and run `ooo ledger import <export.jsonl>` with an export you trust",
                path.display()
            )),
            LedgerError::NotEmpty { path, .. } => Some(format!(
                "to replace it, move it aside first (mv {0} {0}.old), then import again",
                path.display()
            )),
            LedgerError::ImportNotFromGenesis { .. } => Some(
                "import an export of the whole ledger (`ooo ledger export` without --since)"
                    .to_owned(),
            ),
            LedgerError::ImportBroken { .. } => Some(
                "nothing was imported; see the break with `ooo ledger verify --file <export.jsonl>` and use an export you trust"
                    .to_owned(),
            ),
            LedgerError::NotADatabase { path } | LedgerError::NotALedger { path, .. } => {
                Some(format!(
                    "ooo will not overwrite it; move it aside (mv {0} {0}.bad) and run again",
                    path.display()
                ))
            }
            LedgerError::Corrupt { path, .. } => Some(format!(
                "restore {} from a backup or an export (ooo ledger export), or move it aside",
                path.display()
            )),
            LedgerError::SchemaTooNew { .. } => {
                Some("upgrade ooo to the version that wrote this ledger".to_owned())
            }
            LedgerError::CannotOpen { path, .. } | LedgerError::ReadOnly { path, .. } => {
                Some(format!(
                    "check that you can write {} and its directory, or set OUROBOROS_HOME elsewhere",
                    path.display()
                ))
            }
            LedgerError::Busy { .. } => {
                Some("another ooo process holds the ledger; wait for it and retry".to_owned())
            }
            LedgerError::MalformedRow { .. } => {
                Some("run `ooo ledger verify` to see where the ledger is damaged".to_owned())
            }
            _ => None,
        };
        let err = CliError::new(e.to_string());
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(format!("i/o error: {e}"))
    }
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Invalid { path, invalid } => {
                let mut message = format!("{} is not a valid seed:", path.display());
                for p in &invalid.problems {
                    message.push_str(&format!("\n  {p}"));
                }
                CliError::new(message)
                    .hint(format!("see every problem with `ooo seed validate {}`", path.display()))
            }
            LoadError::TooLarge { .. } => CliError::new(e.to_string()).hint(
                "a seed is a specification, not data; move bulky content into files it references",
            ),
            other => CliError::new(other.to_string()),
        }
    }
}

impl From<SeedStoreError> for CliError {
    fn from(e: SeedStoreError) -> Self {
        match e {
            SeedStoreError::Load(load) => load.into(),
            SeedStoreError::Ledger(ledger) => ledger.into(),
            SeedStoreError::Conflict { ref id, .. } => CliError::new(e.to_string()).hint(format!(
                "give the changed seed a new metadata.seed_id and set metadata.parent_seed_id: {id}"
            )),
            SeedStoreError::NotFound(_) => CliError::new(e.to_string()).hint("list saved seeds with `ooo seed list`"),
            SeedStoreError::Tampered { ref id, .. } => CliError::new(e.to_string())
                .hint(format!("the ledger's seed.created event for {id} holds the original hash; restore the file from a backup")),
            SeedStoreError::InvalidId(_) => CliError::new(e.to_string()).hint("set metadata.seed_id to a name like seed_1a2b3c4d5e6f"),
            SeedStoreError::Io { .. } => CliError::new(e.to_string()),
        }
    }
}

impl From<DigestError> for CliError {
    fn from(e: DigestError) -> Self {
        let hint = match &e {
            DigestError::EscapingSymlink { .. } => {
                "make the link point inside the plugin directory, or copy the file in"
            }
            DigestError::UnsupportedFileType { .. } => "remove it from the plugin directory",
            DigestError::NotADirectory(_) | DigestError::Io { .. } => "pass the plugin's directory",
        };
        CliError::new(e.to_string()).hint(hint)
    }
}

impl From<ManagerError> for CliError {
    fn from(e: ManagerError) -> Self {
        match e {
            ManagerError::Ledger(l) => l.into(),
            ManagerError::Config(c) => c.into(),
            ManagerError::Digest(d) => d.into(),
            ManagerError::Unknown(ref name) => CliError::new(e.to_string()).hint(format!(
                "register a catalog first (`ooo plugin add <repo-url|/abs/dir>`), or install directly with `ooo plugin install {name} --from <repo-url|/abs/dir>`"
            )),
            ManagerError::Ambiguous { ref name, .. } => {
                CliError::new(e.to_string()).hint(format!("say which: `ooo plugin install {name} --from <one of them>`"))
            }
            ManagerError::ReplaceRefused(ref r) => CliError::new(e.to_string()).hint(format!(
                "add --force to replace it, or remove it first with `ooo plugin remove {}`",
                r.name
            )),
            ManagerError::UnknownCatalog(_) => CliError::new(e.to_string()).hint("see the registered catalogs with `ooo plugin catalog list`"),
            ManagerError::NotInstalled(_) => CliError::new(e.to_string()).hint("see what is installed with `ooo plugin list`"),
            ManagerError::Manifest(_) => CliError::new(e.to_string()).hint("check it with `ooo plugin validate <dir>`"),
            ManagerError::RefWithoutGit { ref reference, .. } => CliError::new(e.to_string()).hint(format!(
                "install the directory as it is (without --ref), or check out {reference} there first"
            )),
            ManagerError::Git(_) => CliError::new(e.to_string()).hint("check the URL and that you can `git clone` it yourself"),
            ManagerError::Build(ref b) => {
                let hint = build_hint(b);
                let err = CliError::new(e.to_string());
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            }
            ManagerError::Refused(ref r) => {
                let err = CliError::new(e.to_string()).caused_by(r);
                match r.hint() {
                    Some(h) => err.hint(h),
                    None => err,
                }
            }
            ManagerError::NotRunnable(ref u) => {
                let Unrunnable { problem, file, repository, build, .. } = u.as_ref();
                let hint = match (problem, build) {
                    (NotRunnable::NotExecutable { .. }, _) if repository.is_some() => format!(
                        "make it executable in the repository (chmod +x {file}) and commit that, then install again"
                    ),
                    (NotRunnable::NotExecutable { .. }, _) => {
                        format!("chmod +x {file}, then install again")
                    }
                    (NotRunnable::Missing { path, .. }, Some(command)) => format!(
                        "its build `{command}` must write {path}: list it in x-ouroboros.build.outputs and check that the build leaves it there"
                    ),
                    (NotRunnable::Missing { path, .. }, None) => format!(
                        "build it and put it at {path} in the plugin, or declare the build in x-ouroboros.build so install runs it; then install again"
                    ),
                };
                CliError::new(e.to_string()).hint(hint)
            }
            other => CliError::new(other.to_string()),
        }
    }
}

/// The fix for a failed build step.
fn build_hint(e: &BuildError) -> Option<String> {
    match e {
        BuildError::Failed { command, .. } => Some(format!(
            "run `{command}` yourself in the plugin's directory to see all of its output (or `ooo sandbox run --write DIR --net HOST -- {command}` to see it as the build does); in ooo's sandbox it writes only its copy of the source and reaches only the hosts in x-ouroboros.build.network, through ooo's proxy (none when it lists none)"
        )),
        BuildError::Output { output, .. } => Some(format!(
            "make the build write {output} (relative to the plugin's directory), or correct x-ouroboros.build.outputs"
        )),
        BuildError::Sandbox { source, .. } => Some(source.hint().to_owned()),
        BuildError::Prepare { .. } | BuildError::OutsideRoot { .. } => None,
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        let hint = e.hint();
        CliError::new(e.to_string()).hint(hint)
    }
}

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        let err = CliError::new(format!("{}: {}", e.runtime, e.message));
        if e.hint.is_empty() { err } else { err.hint(e.hint) }
    }
}

/// An `ooo run` library error: its message and its own hint.
macro_rules! with_library_hint {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                let hint = e.hint();
                CliError::new(e.to_string()).hint(hint)
            }
        }
    )*};
}

with_library_hint!(
    ooo_run::executor::RunError,
    ooo_run::workspace::WorkspaceError,
    ooo_run::events::FoldError,
    ooo_run::events::ResumeError,
    ooo_run::lock::LockError,
    ooo_run::events::AppendError,
    ooo_run::events::OwnerError,
    ooo_core::capability::CoreError,
);

#[cfg(test)]
mod tests {
    use super::*;
    use ooo_plugin::manager::Refusal;

    #[test]
    fn a_refusal_brings_its_hint_and_its_causes_once() {
        let undeclared = ManagerError::from(Refusal::UndeclaredScopes {
            name: "g".into(),
            undeclared: vec!["g:admin".into()],
            declared: vec!["g:read".into()],
        });
        let err = CliError::from(undeclared);
        assert_eq!(err.message, "g does not declare g:admin; it declares: g:read");
        assert!(err.causes.is_empty());
        assert_eq!(
            err.hint.as_deref(),
            Some("grant only what it declares: `ooo plugin trust g --scope g:read`")
        );
        let restore = ManagerError::from(Refusal::RestoreFailed {
            failed: Box::new(ManagerError::NotInstalled("g".into())),
            restoring: Box::new(ManagerError::Io {
                path: "/h/plugins/g".into(),
                source: std::io::Error::other("disk full"),
            }),
        });
        let err = CliError::from(restore);
        assert_eq!(
            err.message,
            "plugin g is not installed; restoring the previous install also failed"
        );
        // The i/o error already names its own cause: it is not repeated.
        assert_eq!(err.causes, ["i/o error on /h/plugins/g: disk full"]);
    }
}
