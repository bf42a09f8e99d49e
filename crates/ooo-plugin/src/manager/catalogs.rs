//! The registered catalogs as the user manages them: list, refresh (read each source
//! again and record what it offers now), remove, and search over what they offer.
//! Registering one (`add`) and installing from one are in the parent module; the file
//! format is `crate::catalog`.

use std::path::Path;

use serde::Serialize;

use super::{Manager, ManagerError, io_err};
use crate::catalog::{CatalogEntry, Offer};
use crate::source::Source;

/// What refreshing one catalog found.
#[derive(Debug, Clone, Serialize)]
pub struct Refreshed {
    pub location: String,
    /// Plugins it offers now and did not before, and those it no longer offers.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Why it could not be read (it stays registered as it was).
    pub error: Option<String>,
}

/// A search hit: a plugin a catalog offers.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub offer: Offer,
    pub catalog: String,
    /// The version installed now, if it is.
    pub installed: Option<String>,
}

impl Manager {
    /// Every registered catalog.
    pub fn catalog_list(&self) -> Result<Vec<CatalogEntry>, ManagerError> {
        self.catalogs().entries().map_err(io_err(Path::new("plugin-catalogs.json")))
    }

    /// Does `entry` stand for what the user typed: its location, or the same source?
    fn is_catalog(entry: &CatalogEntry, typed: &str) -> bool {
        entry.location == typed
            || entry.source_identity == typed
            || Source::parse(typed).is_ok_and(|s| s.identity() == entry.source_identity)
    }

    /// Read each catalog (or the one `which` names) again and record what it offers.
    pub fn catalog_refresh(&self, which: Option<&str>) -> Result<Vec<Refreshed>, ManagerError> {
        let selected: Vec<CatalogEntry> = self
            .catalog_list()?
            .into_iter()
            .filter(|c| which.is_none_or(|w| Self::is_catalog(c, w)))
            .collect();
        if let (Some(w), true) = (which, selected.is_empty()) {
            return Err(ManagerError::UnknownCatalog(w.to_owned()));
        }
        let mut out = Vec::new();
        for before in selected {
            let refreshed = match self.add(&before.location, before.reference.as_deref()) {
                Ok((now, _)) => Refreshed {
                    location: before.location.clone(),
                    added: now
                        .plugins
                        .iter()
                        .filter(|p| !before.plugins.contains(p))
                        .cloned()
                        .collect(),
                    removed: before
                        .plugins
                        .iter()
                        .filter(|p| !now.plugins.contains(p))
                        .cloned()
                        .collect(),
                    error: None,
                },
                Err(e) => Refreshed {
                    location: before.location.clone(),
                    added: Vec::new(),
                    removed: Vec::new(),
                    error: Some(e.to_string()),
                },
            };
            out.push(refreshed);
        }
        Ok(out)
    }

    /// Unregister the catalog at `location` (installed plugins stay installed).
    pub fn catalog_remove(&self, location: &str) -> Result<Vec<CatalogEntry>, ManagerError> {
        let removed = self
            .catalogs()
            .unregister(|c| Self::is_catalog(c, location))
            .map_err(io_err(Path::new("plugin-catalogs.json")))?;
        if removed.is_empty() {
            return Err(ManagerError::UnknownCatalog(location.to_owned()));
        }
        Ok(removed)
    }

    /// Plugins the known catalogs offer whose name or description contains `word`
    /// (ignoring case), by name. Nothing is fetched: this reads what `add` and
    /// `catalog refresh` recorded.
    pub fn search(&self, word: &str) -> Result<Vec<Found>, ManagerError> {
        let word = word.to_lowercase();
        let installed = self.installed()?;
        let mut found: Vec<Found> = Vec::new();
        for catalog in self.catalog_list()? {
            for offer in catalog.offered() {
                let hit = offer.name.to_lowercase().contains(&word)
                    || offer.description.to_lowercase().contains(&word);
                if hit {
                    found.push(Found {
                        installed: installed
                            .iter()
                            .find(|e| e.name == offer.name)
                            .map(|e| e.version.clone()),
                        offer,
                        catalog: catalog.location.clone(),
                    });
                }
            }
        }
        found.sort_by(|a, b| (&a.offer.name, &a.catalog).cmp(&(&b.offer.name, &b.catalog)));
        Ok(found)
    }
}
