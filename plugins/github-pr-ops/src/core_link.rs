//! The plugin's link to the ooo core: decisions are recorded through the capability
//! channel (`ledger` evidence, `provenance` of the pull request touched, `handoff` of
//! the decision document) and saved policies live in the plugin's `state`. Run outside
//! ooo there is no channel: nothing is recorded (said once on stderr) and only the
//! built-in policy or a policy file can be used.

use ooo_plugin_sdk::{Core, SdkError};
use serde_json::Value;

use crate::policy::{self, BadPolicy, Policy};

/// State keys of saved policies start with this.
const POLICY_PREFIX: &str = "policies/";

fn policy_key(name: &str) -> String {
    format!("{POLICY_PREFIX}{name}")
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Core(#[from] SdkError),
    #[error(transparent)]
    Policy(#[from] BadPolicy),
    #[error(
        "no policy named `{0}`; save one with `policy set {0} --file FILE` or pass --policy-file"
    )]
    UnknownPolicy(String),
    #[error(
        "policy `{0}` cannot be read: this run has no core channel (run it through `ooo github-pr ...`) or use --policy-file"
    )]
    NoChannelForPolicy(String),
    #[error("`{0}` is not a policy name (lower-case letters, digits, - and _)")]
    BadPolicyName(String),
    #[error("cannot read the policy file {path}: {source}")]
    PolicyFile { path: String, source: std::io::Error },
}

pub struct CoreLink {
    core: Option<Core>,
}

impl CoreLink {
    /// Connect when ooo gave us a channel; a missing channel is not an error.
    pub fn connect() -> Result<Self, SdkError> {
        match Core::connect() {
            Ok(core) => Ok(Self { core: Some(core) }),
            Err(SdkError::NoChannel) => {
                eprintln!("github-pr-ops: no core channel; decisions are not recorded");
                Ok(Self { core: None })
            }
            Err(e) => Err(e),
        }
    }

    /// Record a decision: evidence in the ledger, what was touched as provenance
    /// (`github_pull_request` `owner/repo#n`, or `github_repository` `owner/repo`), the
    /// document as the invocation's handoff.
    pub fn record(
        &mut self,
        kind: &str,
        touched: (&str, &str),
        action: &str,
        doc: &Value,
    ) -> Result<(), SdkError> {
        let Some(core) = self.core.as_mut() else {
            return Ok(());
        };
        core.ledger_append(kind, doc.clone())?;
        core.provenance_record(touched.0, touched.1, action)?;
        core.handoff_attach(kind, doc.clone())?;
        Ok(())
    }

    /// The named policy: a file when given, else a saved one, else the built-in default.
    pub fn policy(
        &mut self,
        name: Option<&str>,
        file: Option<&str>,
    ) -> Result<(String, Policy), LinkError> {
        if let Some(file) = file {
            let path = workspace_path(file);
            let text = std::fs::read_to_string(&path).map_err(|source| LinkError::PolicyFile {
                path: path.display().to_string(),
                source,
            })?;
            let name = name.map(str::to_owned).unwrap_or_else(|| {
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
            });
            return Ok((name.clone(), Policy::parse(&name, &text)?));
        }
        let name = name.unwrap_or(policy::DEFAULT);
        if !policy::valid_name(name) {
            return Err(LinkError::BadPolicyName(name.into()));
        }
        let saved = match self.core.as_mut() {
            Some(core) => core.state_get(&policy_key(name))?,
            None if name == policy::DEFAULT => Value::Null,
            None => return Err(LinkError::NoChannelForPolicy(name.into())),
        };
        match saved {
            Value::String(text) => Ok((name.into(), Policy::parse(name, &text)?)),
            _ if name == policy::DEFAULT => Ok((name.into(), Policy::default())),
            _ => Err(LinkError::UnknownPolicy(name.into())),
        }
    }

    fn core(&mut self) -> Result<&mut Core, SdkError> {
        self.core.as_mut().ok_or(SdkError::NoChannel)
    }

    /// Save a policy's TOML text (checked first) under its name.
    pub fn save_policy(&mut self, name: &str, text: &str) -> Result<Policy, LinkError> {
        if !policy::valid_name(name) {
            return Err(LinkError::BadPolicyName(name.into()));
        }
        let policy = Policy::parse(name, text)?;
        self.core()?.state_put(&policy_key(name), Value::String(text.into()))?;
        Ok(policy)
    }

    pub fn saved_policy_text(&mut self, name: &str) -> Result<Option<String>, LinkError> {
        let v = self.core()?.state_get(&policy_key(name))?;
        Ok(v.as_str().map(str::to_owned))
    }

    pub fn delete_policy(&mut self, name: &str) -> Result<(), LinkError> {
        Ok(self.core()?.state_delete(&policy_key(name))?)
    }

    pub fn policy_names(&mut self) -> Result<Vec<String>, LinkError> {
        let keys = self.core()?.state_list(POLICY_PREFIX)?;
        Ok(keys.iter().filter_map(|k| k.strip_prefix(POLICY_PREFIX)).map(str::to_owned).collect())
    }
}

/// A path the user typed, relative to where they ran `ooo` (the plugin itself runs in
/// its own directory).
pub fn workspace_path(path: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(path);
    match std::env::var_os("OUROBOROS_PLUGIN_WORKDIR") {
        Some(dir) if p.is_relative() => std::path::Path::new(&dir).join(p),
        _ => p.to_owned(),
    }
}
