//! Capabilities, accesses and grants as types, parsed once from the manifest's strings.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A core primitive a principal can be granted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Seed,
    Ledger,
    State,
    Provenance,
    Runtime,
    Mcp,
    Handoff,
    Progress,
}

/// How a capability may be used.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    Execute,
    Attach,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::Seed,
        Capability::Ledger,
        Capability::State,
        Capability::Provenance,
        Capability::Runtime,
        Capability::Mcp,
        Capability::Handoff,
        Capability::Progress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Seed => "seed",
            Capability::Ledger => "ledger",
            Capability::State => "state",
            Capability::Provenance => "provenance",
            Capability::Runtime => "runtime",
            Capability::Mcp => "mcp",
            Capability::Handoff => "handoff",
            Capability::Progress => "progress",
        }
    }
}

impl Access {
    pub const ALL: [Access; 4] = [Access::Read, Access::Write, Access::Execute, Access::Attach];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
            Access::Attach => "attach",
        }
    }
}

/// A string that is not one of the enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {found:?} is not one of {}", valid.join(", "))]
pub struct ParseGrantError {
    pub what: &'static str,
    pub found: String,
    pub valid: Vec<&'static str>,
}

impl FromStr for Capability {
    type Err = ParseGrantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| ParseGrantError {
            what: "capability",
            found: s.to_owned(),
            valid: Capability::ALL.iter().map(|c| c.as_str()).collect(),
        })
    }
}

impl FromStr for Access {
    type Err = ParseGrantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Access::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| ParseGrantError {
            what: "access",
            found: s.to_owned(),
            valid: Access::ALL.iter().map(|a| a.as_str()).collect(),
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One capability with one access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub capability: Capability,
    pub access: Access,
}

impl Grant {
    pub fn new(capability: Capability, access: Access) -> Self {
        Grant { capability, access }
    }

    /// From the manifest's `name` and `access` strings.
    pub fn parse(name: &str, access: &str) -> Result<Self, ParseGrantError> {
        Ok(Grant { capability: name.parse()?, access: access.parse()? })
    }
}

impl fmt::Display for Grant {
    /// `capability:access`, the form the audit's `capabilities_used` lists.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.capability, self.access)
    }
}

/// The grants one principal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(BTreeSet<Grant>);

impl Grants {
    pub fn new(grants: impl IntoIterator<Item = Grant>) -> Self {
        Grants(grants.into_iter().collect())
    }

    /// The first grant of `capability` whose access is one of `accepted`.
    pub fn find(&self, capability: Capability, accepted: &[Access]) -> Option<Grant> {
        self.0.iter().copied().find(|g| g.capability == capability && accepted.contains(&g.access))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Grant> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_from_the_manifest_enums_and_print_as_pairs() {
        let g = Grant::parse("state", "write").unwrap();
        assert_eq!(g.to_string(), "state:write");
        let err = Grant::parse("network", "read").unwrap_err();
        assert_eq!(err.what, "capability");
        assert!(err.to_string().contains("seed, ledger, state"), "{err}");
        assert_eq!(Grant::parse("ledger", "delete").unwrap_err().what, "access");
    }

    #[test]
    fn find_needs_the_capability_and_an_accepted_access() {
        let grants = Grants::new([Grant::new(Capability::State, Access::Read)]);
        assert!(grants.find(Capability::State, &[Access::Read, Access::Write]).is_some());
        assert!(grants.find(Capability::State, &[Access::Write]).is_none());
        assert!(grants.find(Capability::Ledger, &[Access::Read]).is_none());
    }
}
