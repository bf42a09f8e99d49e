//! The Seed primitive: the immutable specification everything in ooo is bound to.
//!
//! A seed has a goal, constraints, acceptance criteria (each with a `semantic_ac_key`),
//! an ontology, evaluation principles, exit conditions and metadata, and is compatible
//! with seeds written by upstream Ouroboros. Layout: [`raw`] (YAML/JSON text to a value,
//! size limits), [`parse`] (validation and coercions), [`model`] (the typed seed and its
//! output form), [`artifact`] (portable path rules), [`ac_key`] (criterion identity),
//! [`document`] (loading files, rendering, the content hash), [`store`] (saving seeds
//! under the home with a `seed.created` ledger event, listing, lineage) and [`diff`].

pub mod ac_key;
pub mod artifact;
pub mod diff;
pub mod document;
mod fields;
pub mod model;
pub mod parse;
pub mod raw;
pub mod store;

use std::fmt;

pub use document::{
    LoadError, content_hash, load_file, load_reader, load_str, to_json_string, to_yaml,
};
pub use model::*;
pub use parse::{Invalid, MetadataDefaults, Validated};
pub use store::{SeedStore, SeedStoreError, StoredSeed};

/// Something wrong (or, as a warning, odd) at a place in a seed document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Where: `acceptance_criteria[2].expected_artifacts[0]`; empty for the whole document.
    pub path: String,
    /// Why, phrased to follow the path: "is required", "must be a string, found a number".
    pub message: String,
}

impl Problem {
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "the seed {}", self.message)
        } else {
            write!(f, "{} {}", self.path, self.message)
        }
    }
}
