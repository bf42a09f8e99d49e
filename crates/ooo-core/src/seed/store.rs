//! Saved seeds: `seeds/<seed_id>.yaml` under the home, each announced by a
//! `seed.created` ledger event that carries its content hash.
//!
//! Seeds are immutable: saving different content under an existing id is refused (a
//! changed seed is a new seed whose `metadata.parent_seed_id` names the old one, and the
//! event links the two). Saving the same content again is a no-op. A `seeds` projection,
//! updated in the same transaction as the event, answers list and lineage queries; the
//! files are checked against the hash in the ledger when read back.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use super::document::{LoadError, content_hash, load_file, to_yaml};
use super::{MetadataDefaults, Problem, Seed};
use crate::home::Home;
use crate::ledger::{
    Actor, AggregateRef, AppendOptions, Event, EventType, LedgerError, NewEvent, Projection,
    ProjectionRows, Store,
};

/// The ledger event that records a saved seed.
pub const SEED_CREATED: &str = crate::event_types::SEED_CREATED;
/// The projection of saved seeds, keyed by seed id.
pub const PROJECTION: &str = "seeds";

#[derive(Debug, thiserror::Error)]
pub enum SeedStoreError {
    #[error(
        "seed id {0:?} cannot be stored: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidId(String),
    #[error("seed {id} is already saved with different content ({existing}); seeds are immutable")]
    Conflict { id: String, existing: String, new: String },
    #[error("no saved seed {0}")]
    NotFound(String),
    #[error(
        "saved seed {id} was changed on disk: the ledger recorded {recorded}, the file hashes to {actual}"
    )]
    Tampered { id: String, recorded: String, actual: String },
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What the `seeds` projection knows about one saved seed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StoredSeed {
    pub seed_id: String,
    pub content_hash: String,
    pub parent_seed_id: Option<String>,
    pub goal: String,
    /// Sequence number and time of the `seed.created` event.
    pub seq: u64,
    pub saved_at: String,
}

impl StoredSeed {
    fn from_row(value: &Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }
}

/// Folds `seed.created` events into the `seeds` projection.
pub struct SeedIndex;

impl Projection for SeedIndex {
    fn name(&self) -> &str {
        PROJECTION
    }

    fn event_types(&self) -> &[&str] {
        &[SEED_CREATED]
    }

    fn apply(&self, event: &Event, rows: &mut dyn ProjectionRows) -> Result<(), LedgerError> {
        if event.event_type != SEED_CREATED {
            return Ok(());
        }
        let p = &event.payload;
        let Some(id) = p.get("seed_id").and_then(Value::as_str) else {
            return Err(LedgerError::Projection {
                projection: PROJECTION.into(),
                message: format!("event {} has no seed_id", event.seq),
            });
        };
        if let Some(existing) = rows.get(id)?
            && existing.get("content_hash") != p.get("content_hash")
        {
            return Err(LedgerError::Projection {
                projection: PROJECTION.into(),
                message: format!("seed {id} is already recorded with different content"),
            });
        }
        let row = json!({
            "seed_id": id,
            "content_hash": p.get("content_hash"),
            "parent_seed_id": p.get("parent_seed_id"),
            "goal": p.get("goal"),
            "seq": event.seq,
            "saved_at": event.occurred_at,
        });
        rows.put(id, &row)
    }
}

/// The result of [`SeedStore::save`].
#[derive(Debug, Clone, PartialEq)]
pub enum SaveOutcome {
    /// Written, and recorded by the event with this sequence number.
    Created { path: PathBuf, content_hash: String, seq: u64 },
    /// The same content was already saved under this id.
    AlreadySaved { path: PathBuf, content_hash: String, seq: u64 },
    /// The same content was saved under this id, but its file was missing or changed on
    /// disk (`found`: what it held then, if it could be read as a seed); the file holds
    /// the saved content again.
    Repaired { path: PathBuf, content_hash: String, seq: u64, found: Option<String> },
}

/// The ancestry and descendants of a saved seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lineage {
    /// Oldest first; ends with the seed itself.
    pub ancestors: Vec<StoredSeed>,
    /// A parent id that is named but was never saved here, if the chain stops at one.
    pub missing_parent: Option<String>,
    /// Seeds whose parent is this seed.
    pub children: Vec<StoredSeed>,
}

/// Seeds saved under a home.
pub struct SeedStore {
    dir: PathBuf,
}

/// Is `id` safe to use as a file name?
pub fn is_storable_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && id.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// What stops `seed` from being saved (the rules `seed save` applies and `seed validate`
/// reports): a saved seed keeps its identity, so `metadata.seed_id` and
/// `metadata.created_at` must be written in the file (the seed must be loaded without
/// generated defaults), and the id must be a file-safe name.
pub fn save_problems(seed: &Seed) -> Vec<Problem> {
    let mut problems = Vec::new();
    let id = &seed.metadata.seed_id;
    if id.is_empty() {
        problems.push(Problem::new(
            "metadata.seed_id",
            "is required to save the seed (a saved seed keeps its id), for example seed_1a2b3c4d5e6f",
        ));
    } else if !is_storable_id(id) {
        problems.push(Problem::new(
            "metadata.seed_id",
            format!(
                "must be a file-safe name (letters, digits, '.', '_' or '-', starting with a letter or digit, at most 128 characters), found {id:?}"
            ),
        ));
    }
    if seed.metadata.created_at.is_empty() {
        problems.push(Problem::new(
            "metadata.created_at",
            "is required to save the seed, for example \"2026-01-01T00:00:00Z\"",
        ));
    }
    problems
}

impl SeedStore {
    pub fn new(home: &Home) -> Self {
        Self { dir: home.seeds_dir() }
    }

    /// Where the seed with this id is (or would be) saved.
    pub fn path_of(&self, id: &str) -> Result<PathBuf, SeedStoreError> {
        if !is_storable_id(id) {
            return Err(SeedStoreError::InvalidId(id.to_owned()));
        }
        Ok(self.dir.join(format!("{id}.yaml")))
    }

    /// Save `seed` and record it in the ledger (see the module docs).
    pub fn save(
        &self,
        ledger: &mut dyn Store,
        seed: &Seed,
        actor: &Actor,
    ) -> Result<SaveOutcome, SeedStoreError> {
        let id = seed.id();
        let path = self.path_of(id)?;
        let hash = content_hash(seed);
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| SeedStoreError::Io { path, source }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io_err(&self.dir))?;
        // One save at a time per home: check, write and record are one step.
        let lock_path = self.dir.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        // The ledger, not the file, says what was saved.
        if let Some(stored) = self.get(ledger, id)? {
            if stored.content_hash != hash {
                return Err(SeedStoreError::Conflict {
                    id: id.to_owned(),
                    existing: stored.content_hash,
                    new: hash,
                });
            }
            // The seed being saved is the recorded one: a file that went missing or was
            // changed on disk gets the recorded content back.
            if !path.exists() {
                write_new(&self.dir, &path, to_yaml(seed).as_bytes()).map_err(io_err(&path))?;
                let seq = stored.seq;
                return Ok(SaveOutcome::Repaired { path, content_hash: hash, seq, found: None });
            }
            let on_disk = self.read_file(id).ok().map(|s| content_hash(&s));
            if on_disk.as_deref() != Some(hash.as_str()) {
                crate::atomic::write_atomic(&path, to_yaml(seed).as_bytes())
                    .map_err(io_err(&path))?;
                let seq = stored.seq;
                return Ok(SaveOutcome::Repaired { path, content_hash: hash, seq, found: on_disk });
            }
            return Ok(SaveOutcome::AlreadySaved { path, content_hash: hash, seq: stored.seq });
        }
        if path.exists() {
            // A file without its event: an earlier save stopped in between. Record it if
            // it is this seed; never replace it otherwise.
            let existing_hash = content_hash(&self.read_file(id)?);
            if existing_hash != hash {
                return Err(SeedStoreError::Conflict {
                    id: id.to_owned(),
                    existing: existing_hash,
                    new: hash,
                });
            }
        } else {
            write_new(&self.dir, &path, to_yaml(seed).as_bytes()).map_err(io_err(&path))?;
        }
        // If recording fails the file stays; the next save of this seed records it.
        let seq = self.record(ledger, seed, &hash, actor)?;
        Ok(SaveOutcome::Created { path, content_hash: hash, seq })
    }

    fn record(
        &self,
        ledger: &mut dyn Store,
        seed: &Seed,
        hash: &str,
        actor: &Actor,
    ) -> Result<u64, SeedStoreError> {
        let parent = match &seed.metadata.parent_seed_id {
            Some(p) => self.get(ledger, p)?,
            None => None,
        };
        let payload = json!({
            "seed_id": seed.id(),
            "content_hash": hash,
            "parent_seed_id": seed.metadata.parent_seed_id,
            "parent_content_hash": parent.map(|p| p.content_hash),
            "goal": seed.goal,
            "acceptance_criteria": seed.acceptance_criteria.iter().map(|c| c.semantic_ac_key.as_str()).collect::<Vec<_>>(),
            "file": format!("seeds/{}.yaml", seed.id()),
        });
        let event = NewEvent::new(
            AggregateRef::new("seed", seed.id())?,
            EventType::parse(SEED_CREATED)?,
            actor.clone(),
            payload,
        )?;
        let stored = ledger.append(&[event], AppendOptions::default())?;
        Ok(stored[0].seq)
    }

    /// What the ledger knows about a saved seed.
    pub fn get(&self, ledger: &dyn Store, id: &str) -> Result<Option<StoredSeed>, SeedStoreError> {
        Ok(ledger.projection_get(PROJECTION, id)?.as_ref().and_then(StoredSeed::from_row))
    }

    /// Every saved seed, by id.
    pub fn list(&self, ledger: &dyn Store) -> Result<Vec<StoredSeed>, SeedStoreError> {
        Ok(ledger
            .projection_scan(PROJECTION, "")?
            .iter()
            .filter_map(|(_, v)| StoredSeed::from_row(v))
            .collect())
    }

    /// Load a saved seed, checking its file against the hash the ledger recorded.
    pub fn load(&self, ledger: &dyn Store, id: &str) -> Result<Seed, SeedStoreError> {
        let stored =
            self.get(ledger, id)?.ok_or_else(|| SeedStoreError::NotFound(id.to_owned()))?;
        let seed = self.read_file(id)?;
        let actual = content_hash(&seed);
        if actual != stored.content_hash {
            return Err(SeedStoreError::Tampered {
                id: id.to_owned(),
                recorded: stored.content_hash,
                actual,
            });
        }
        Ok(seed)
    }

    fn read_file(&self, id: &str) -> Result<Seed, SeedStoreError> {
        let path = self.path_of(id)?;
        if !path.exists() {
            return Err(SeedStoreError::NotFound(id.to_owned()));
        }
        // A saved seed always carries its id and time, so these defaults are never used.
        let defaults = MetadataDefaults { seed_id: id.to_owned(), created_at: String::new() };
        Ok(load_file(&path, &defaults)?.seed)
    }

    /// Ancestors (through `parent_seed_id`) and children of a saved seed.
    pub fn lineage(&self, ledger: &dyn Store, id: &str) -> Result<Lineage, SeedStoreError> {
        let all = self.list(ledger)?;
        let find = |id: &str| all.iter().find(|s| s.seed_id == id).cloned();
        let mut chain = vec![find(id).ok_or_else(|| SeedStoreError::NotFound(id.to_owned()))?];
        let mut missing_parent = None;
        while let Some(parent) = chain.last().and_then(|s| s.parent_seed_id.clone()) {
            if chain.iter().any(|s| s.seed_id == parent) {
                break; // a cycle; cannot happen with content-addressed saves, but never loop
            }
            match find(&parent) {
                Some(p) => chain.push(p),
                None => {
                    missing_parent = Some(parent);
                    break;
                }
            }
        }
        chain.reverse();
        let children =
            all.iter().filter(|s| s.parent_seed_id.as_deref() == Some(id)).cloned().collect();
        Ok(Lineage { ancestors: chain, missing_parent, children })
    }
}

/// Create `path` with `bytes`, owner-only, atomically and never over an existing file:
/// write a temporary file, sync it, hard-link it into place, sync the directory.
fn write_new(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".tmp-{}", ulid::Ulid::new()));
    let result = (|| {
        let mut file =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::hard_link(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storable_ids() {
        for ok in ["seed_73827177a2a3", "seed_legacy_json", "a", "A.b-c_d"] {
            assert!(is_storable_id(ok), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", &"x".repeat(129)] {
            assert!(!is_storable_id(bad), "{bad}");
        }
    }
}
