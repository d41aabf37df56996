//! The thin catalog: entities read from registered locations into the catalog tables, where
//! `templateRef`, `catalog:fetch`, users and groups resolve, and where `catalog:register` puts
//! new components.
//!
//! Layout: `reading` (a location's documents: `file` paths and URLs, nested `Location`
//! entities), `entity` (checking and annotating one document), `rules` (the `catalog.rules`
//! kind allow-list), `query` (Backstage's `filter` and `fields` for listing), `api` (what actions
//! such as `catalog:fetch` and `catalog:register` call), this file (registering, refreshing and
//! deleting locations; orphans).
//!
//! Invariants: a document that fails a check is reported with its location, document number and
//! field, and never stored; the documents around it still load. An entity belongs to the one
//! location it was first read from; another location claiming it is reported, not obeyed.

mod api;
mod entity;
mod query;
mod reading;
mod rules;

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use store::{LocationRow, NewEntity, Store};
use thiserror::Error;
use uuid::Uuid;

pub use api::StoreCatalog;
pub use entity::EntityProblem;
pub use query::{EntityQuery, Filter, project_fields};
pub use rules::Rule;

use crate::reading::{Document, Reader};

/// Nested `Location` entities are followed this deep, no further.
const MAX_LOCATION_DEPTH: usize = 8;

/// One entry of `catalog.locations`.
#[derive(Clone, Debug)]
pub struct LocationConfig {
    pub kind: String,
    pub target: String,
    pub rules: Option<Vec<Rule>>,
}

/// What happens to an entity whose location no longer holds it (`catalog.orphanStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrphanStrategy {
    /// Kept, annotated `backstage.io/orphan: 'true'` (Backstage's default).
    #[default]
    Keep,
    Delete,
}

#[derive(Clone, Debug)]
pub struct CatalogConfig {
    /// `catalog.rules`; `None` means Backstage's default (Component, API, Location).
    pub rules: Option<Vec<Rule>>,
    pub locations: Vec<LocationConfig>,
    pub orphan_strategy: OrphanStrategy,
    /// How often every registered location is read again (`catalog.processingInterval`).
    pub refresh_interval: Duration,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            rules: None,
            locations: Vec::new(),
            orphan_strategy: OrphanStrategy::Keep,
            refresh_interval: Duration::from_secs(100),
        }
    }
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotAllowed(String),
}

/// What a load did: entities stored (as `kind:namespace/name`) and documents refused.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub problems: Vec<String>,
}

/// The answer to registering a location.
#[derive(Debug)]
pub struct AddedLocation {
    pub location: LocationRow,
    /// The entities the location holds, as they are (or would be) stored.
    pub entities: Vec<Value>,
    /// Whether the location was already registered (dry-runs only).
    pub exists: bool,
    /// Documents that were refused.
    pub problems: Vec<String>,
}

pub struct Catalog {
    store: Store,
    config: CatalogConfig,
    reader: Reader,
}

impl Catalog {
    pub fn new(store: Store, config: CatalogConfig) -> Self {
        Catalog { store, config, reader: Reader::new(None) }
    }

    /// Reads `url` locations through `reader` (integrations and `backend.reading.allow`).
    pub fn with_url_reader(mut self, reader: Arc<actions::UrlReader>) -> Self {
        self.reader = Reader::new(Some(reader));
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers and reads every configured location. Relative `file` targets resolve against
    /// `cwd`, as in Backstage.
    pub async fn load_configured(&self, cwd: &Path) -> Result<LoadReport, CatalogError> {
        let mut report = LoadReport::default();
        for location in &self.config.locations {
            let rules = location.rules.as_deref().or(self.config.rules.as_deref());
            let target = match location.kind.as_str() {
                "file" => match std::fs::canonicalize(cwd.join(&location.target)) {
                    Ok(path) => path.display().to_string(),
                    Err(error) => {
                        report.problems.push(format!("{}: cannot read the location: {error}", location.target));
                        continue;
                    }
                },
                "url" => location.target.clone(),
                other => {
                    report.problems.push(format!(
                        "catalog.locations: location type '{other}' ({}) is not supported; use 'file' or 'url'",
                        location.target
                    ));
                    continue;
                }
            };
            let id = self.store.location_upsert(&location.kind, &target).await?;
            let row = LocationRow { id, location_type: location.kind.clone(), target };
            let read = self.read(&row, rules).await;
            report.problems.extend(read.problems.iter().cloned());
            report.loaded.extend(self.ingest(&row, read).await?);
        }
        Ok(report)
    }

    /// Backstage's `POST /locations`: registers `target` and reads it at once (its entities are
    /// visible by name when this returns), or with `dry_run` only reads it.
    pub async fn add_location(&self, kind: &str, target: &str, dry_run: bool) -> Result<AddedLocation, CatalogError> {
        let target = self.reader.check_target(kind, target)?;
        let existing = self.store.location_find(kind, &target).await?;
        if existing.is_some() && !dry_run {
            return Err(CatalogError::Conflict(format!("Location {kind}:{target} already exists")));
        }
        let row = match (&existing, dry_run) {
            (Some(row), _) => row.clone(),
            (None, true) => LocationRow { id: Uuid::new_v4(), location_type: kind.to_owned(), target: target.clone() },
            (None, false) => {
                // Read first: a location that cannot be read is not registered.
                let probe = LocationRow { id: Uuid::nil(), location_type: kind.to_owned(), target: target.clone() };
                let read = self.read(&probe, self.config.rules.as_deref()).await;
                if let Some(error) = read.fatal {
                    return Err(error);
                }
                let id = self.store.location_upsert(kind, &target).await?;
                let row = LocationRow { id, location_type: kind.to_owned(), target: target.clone() };
                let problems = read.problems.clone();
                self.ingest(&row, read).await?;
                let entities = self.entities_of(&row).await?;
                return Ok(AddedLocation { location: row, entities, exists: false, problems });
            }
        };
        let read = self.read(&row, self.config.rules.as_deref()).await;
        if let Some(error) = read.fatal {
            return Err(error);
        }
        let entities = read.documents.iter().map(|d| self.prepared(d, &row, None).1).collect();
        Ok(AddedLocation { location: row, entities, exists: existing.is_some(), problems: read.problems })
    }

    /// Removes a location; its entities become orphans (kept and marked, or deleted, per
    /// `catalog.orphanStrategy`).
    pub async fn delete_location(&self, id: Uuid) -> Result<(), CatalogError> {
        let Some(row) = self.store.location_get(id).await? else {
            return Err(CatalogError::NotFound(format!("Found no location with ID {id}")));
        };
        let orphans = self.store.entity_list_by_location(row.id).await?;
        self.store.location_delete(row.id).await?;
        for orphan in orphans {
            self.orphan(orphan).await?;
        }
        Ok(())
    }

    /// Reads one registered location again.
    pub async fn refresh_location(&self, id: Uuid) -> Result<LoadReport, CatalogError> {
        let Some(row) = self.store.location_get(id).await? else {
            return Err(CatalogError::NotFound(format!("Found no location with ID {id}")));
        };
        let rules = self
            .config
            .locations
            .iter()
            .find(|l| l.kind == row.location_type && row.target.ends_with(l.target.trim_start_matches("./")))
            .and_then(|l| l.rules.as_deref())
            .or(self.config.rules.as_deref());
        let read = self.read(&row, rules).await;
        let problems = read.problems.clone();
        if let Some(error) = read.fatal {
            // A location that cannot be read now keeps what it had.
            return Ok(LoadReport { loaded: Vec::new(), problems: vec![error.to_string()] });
        }
        Ok(LoadReport { loaded: self.ingest(&row, read).await?, problems })
    }

    /// Backstage's `POST /refresh`: reads the location of one entity again.
    pub async fn refresh_entity(&self, entity_ref: &str) -> Result<LoadReport, CatalogError> {
        let reference =
            templates::EntityRef::parse(entity_ref, None, None).map_err(|e| CatalogError::Input(e.to_string()))?;
        let Some(row) = self.store.entity_get(&reference.kind, &reference.namespace, &reference.name).await? else {
            return Err(CatalogError::NotFound(format!("Entity {entity_ref} not found")));
        };
        match row.location_id {
            Some(location) => self.refresh_location(location).await,
            None => Ok(LoadReport::default()),
        }
    }

    /// Every registered location, read again; problems are logged.
    pub async fn refresh_all(&self) -> Result<LoadReport, CatalogError> {
        let mut report = LoadReport::default();
        for row in self.store.location_list().await? {
            let one = self.refresh_location(row.id).await?;
            report.loaded.extend(one.loaded);
            report.problems.extend(one.problems);
        }
        Ok(report)
    }

    /// Reads every location again every `catalog.processingInterval`, until `stop`.
    pub async fn run_refresh(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let interval = self.config.refresh_interval.max(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.refresh_all().await {
                Ok(report) => {
                    for problem in report.problems {
                        tracing::warn!("catalog refresh: {problem}");
                    }
                }
                Err(error) => tracing::warn!(%error, "catalog refresh failed"),
            }
        }
    }

    /// The documents a location holds (following nested `Location` entities).
    async fn read(&self, row: &LocationRow, rules: Option<&[Rule]>) -> reading::Read {
        let mut read = reading::Read::default();
        let mut visited = HashSet::new();
        self.read_into(&row.location_type, &row.target, rules, 0, &mut visited, &mut read).await;
        read
    }

    async fn read_into(
        &self,
        kind: &str,
        target: &str,
        rules: Option<&[Rule]>,
        depth: usize,
        visited: &mut HashSet<String>,
        read: &mut reading::Read,
    ) {
        if !visited.insert(format!("{kind}:{target}")) {
            return;
        }
        let text = match self.reader.read(kind, target).await {
            Ok(text) => text,
            Err(error) if depth == 0 => {
                read.fatal = Some(error);
                return;
            }
            Err(error) => {
                read.problems.push(format!("{kind}:{target}: {error}"));
                return;
            }
        };
        for (index, document) in reading::documents(&text).into_iter().enumerate() {
            let place = format!("{kind}:{target} (document {})", index + 1);
            let value = match document {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                Err(error) => {
                    read.problems.push(format!("{place}: invalid YAML: {error}"));
                    continue;
                }
            };
            let checked = match entity::check(value, rules) {
                Ok(checked) => checked,
                Err(problem) => {
                    read.problems.push(format!("{place}: {problem}"));
                    continue;
                }
            };
            if checked.kind.eq_ignore_ascii_case("location") {
                if depth >= MAX_LOCATION_DEPTH {
                    read.problems.push(format!("{place}: Location entities nest deeper than {MAX_LOCATION_DEPTH}"));
                } else {
                    for (nested_kind, nested) in reading::location_targets(&checked.value, kind, target) {
                        Box::pin(self.read_into(&nested_kind, &nested, rules, depth + 1, visited, read)).await;
                    }
                }
            }
            read.documents.push(Document { entity: checked, source: format!("{kind}:{target}") });
        }
    }

    /// The entity as stored: managed-by annotations, uid, etag.
    fn prepared(&self, document: &Document, row: &LocationRow, uid: Option<Uuid>) -> (Uuid, Value) {
        let mut value = document.entity.value.clone();
        let uid = uid.unwrap_or_else(Uuid::new_v4);
        let metadata = value["metadata"].as_object_mut().expect("checked");
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(annotations) = annotations {
            annotations.insert("backstage.io/managed-by-location".to_owned(), Value::String(document.source.clone()));
            annotations.insert(
                "backstage.io/managed-by-origin-location".to_owned(),
                Value::String(format!("{}:{}", row.location_type, row.target)),
            );
        }
        metadata.insert("uid".to_owned(), Value::String(uid.to_string()));
        let mut hasher = DefaultHasher::new();
        value.to_string().hash(&mut hasher);
        value["metadata"]["etag"] = Value::String(format!("{:016x}", hasher.finish()));
        (uid, value)
    }

    /// Stores what was read from `row`; entities it held before and no longer does become
    /// orphans. Returns the references stored.
    async fn ingest(&self, row: &LocationRow, read: reading::Read) -> Result<Vec<String>, CatalogError> {
        let before = self.store.entity_list_by_location(row.id).await?;
        let mut stored = Vec::new();
        let mut kept = HashSet::new();
        for document in &read.documents {
            let checked = &document.entity;
            let existing = self.store.entity_get(&checked.kind, &checked.namespace, &checked.name).await?;
            if let Some(existing) = &existing
                && existing.location_id.is_some_and(|owner| owner != row.id)
            {
                tracing::warn!(
                    "catalog: {}:{}/{} from {} is already provided by another location; ignored",
                    checked.kind,
                    checked.namespace,
                    checked.name,
                    document.source
                );
                continue;
            }
            let (uid, value) = self.prepared(document, row, existing.as_ref().map(|e| e.uid));
            kept.insert(uid);
            self.store
                .entity_upsert(
                    uid,
                    &NewEntity {
                        kind: checked.kind.clone(),
                        namespace: checked.namespace.clone(),
                        name: checked.name.clone(),
                        entity: value.to_string(),
                        location_id: Some(row.id),
                    },
                )
                .await?;
            stored.push(format!("{}:{}/{}", checked.kind.to_lowercase(), checked.namespace, checked.name));
        }
        for gone in before.into_iter().filter(|e| !kept.contains(&e.uid)) {
            self.orphan(gone).await?;
        }
        Ok(stored)
    }

    async fn orphan(&self, row: store::EntityRow) -> Result<(), CatalogError> {
        match self.config.orphan_strategy {
            OrphanStrategy::Delete => {
                self.store.entity_delete(row.uid).await?;
            }
            OrphanStrategy::Keep => {
                let mut value: Value = serde_json::from_str(&row.entity).unwrap_or_default();
                if let Some(Value::Object(annotations)) = value.pointer_mut("/metadata/annotations") {
                    annotations.insert("backstage.io/orphan".to_owned(), Value::String("true".to_owned()));
                }
                self.store
                    .entity_upsert(
                        row.uid,
                        &NewEntity {
                            kind: row.kind,
                            namespace: row.namespace,
                            name: row.name,
                            entity: value.to_string(),
                            location_id: None,
                        },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn entities_of(&self, row: &LocationRow) -> Result<Vec<Value>, CatalogError> {
        Ok(self
            .store
            .entity_list_by_location(row.id)
            .await?
            .into_iter()
            .filter_map(|e| serde_json::from_str(&e.entity).ok())
            .collect())
    }
}

/// Absolute form of a `file` target given through the API or configuration.
pub(crate) fn absolute(path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) }
}

#[cfg(test)]
mod tests;
