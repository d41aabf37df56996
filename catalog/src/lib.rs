//! The thin catalog: entities read from registered locations into the catalog tables, where
//! `templateRef`, `catalog:fetch`, users and groups resolve, and where `catalog:register` puts
//! new components.
//!
//! Layout: `reading` (a location's documents: `file` paths and URLs, nested `Location`
//! entities), `entity` (checking and annotating one document), `rules` (the `catalog.rules`
//! kind allow-list), `query` (Backstage's `filter` and `fields` for listing), `api` (what actions
//! such as `catalog:fetch` and `catalog:register` call in-process), `remote` (the same over HTTP,
//! when the catalog runs elsewhere), this file (registering, refreshing and
//! deleting locations; orphans).
//!
//! Invariants: a document that fails a check is reported with its location, document number and
//! field, and never stored; the documents around it still load. An entity belongs to the one
//! location it was first read from; another location claiming it is reported, not obeyed.

mod api;
mod entity;
mod query;
mod reading;
mod relations;
mod remote;
mod rules;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use store::{LocationRow, NewEntity, Store};
use thiserror::Error;
use uuid::Uuid;

pub use api::StoreCatalog;
pub use entity::EntityProblem;
pub use query::{EntityQuery, Filter, project_fields};
pub use reading::generated_location_ref;
pub use remote::HttpCatalog;
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
            let id = self.store.location_upsert(&location.kind, &target, true).await?;
            let row = LocationRow { id, location_type: location.kind.clone(), target, from_config: true };
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
        if kind == "file" {
            self.check_file_target(&target)?;
        }
        let existing = self.store.location_find(kind, &target).await?;
        if existing.is_some() && !dry_run {
            return Err(CatalogError::Conflict(format!("Location {kind}:{target} already exists")));
        }
        let row = match (&existing, dry_run) {
            (Some(row), _) => row.clone(),
            (None, true) => LocationRow {
                id: Uuid::new_v4(),
                location_type: kind.to_owned(),
                target: target.clone(),
                from_config: false,
            },
            (None, false) => {
                // Read first: a location that cannot be read is not registered.
                let probe = LocationRow {
                    id: Uuid::nil(),
                    location_type: kind.to_owned(),
                    target: target.clone(),
                    from_config: false,
                };
                let read = self.read(&probe, self.config.rules.as_deref()).await;
                if let Some(error) = read.fatal {
                    return Err(unreadable(error));
                }
                refuse_problems(&read.problems)?;
                let id = self.store.location_upsert(kind, &target, false).await?;
                let row =
                    LocationRow { id, location_type: kind.to_owned(), target: target.clone(), from_config: false };
                let problems = read.problems.clone();
                self.ingest(&row, read).await?;
                let entities = self.entities_of(&row).await?;
                return Ok(AddedLocation { location: row, entities, exists: false, problems });
            }
        };
        let read = self.read(&row, self.config.rules.as_deref()).await;
        if let Some(error) = read.fatal {
            return Err(unreadable(error));
        }
        refuse_problems(&read.problems)?;
        let entities = read.documents.iter().map(|d| self.prepared(d, &row, None).1).collect();
        Ok(AddedLocation { location: row, entities, exists: existing.is_some(), problems: read.problems })
    }

    /// Files may be registered through the API only inside the directories of configured `file`
    /// locations: the API must not become a way to read this machine's files.
    fn check_file_target(&self, target: &str) -> Result<(), CatalogError> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let roots: Vec<PathBuf> = self
            .config
            .locations
            .iter()
            .filter(|l| l.kind == "file")
            .filter_map(|l| std::fs::canonicalize(cwd.join(&l.target)).ok())
            .filter_map(|path| path.parent().map(Path::to_path_buf))
            .collect();
        if roots.iter().any(|root| actions::resolve_safe_child_path(root, target).is_ok()) {
            return Ok(());
        }
        Err(CatalogError::Input(format!(
            "Registered locations must be of an allowed type [\"url\"]; file locations are accepted only inside the directories of configured catalog.locations ({})",
            roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
        )))
    }

    /// Removes a location and, as in Backstage, the entities it provided (at once; orphans are
    /// what a location that is still registered stops holding).
    pub async fn delete_location(&self, id: Uuid) -> Result<(), CatalogError> {
        let Some(row) = self.store.location_get(id).await? else {
            return Err(CatalogError::NotFound(format!("Found no location with ID {id}")));
        };
        let provided = self.store.entity_list_by_location(row.id).await?;
        self.store.location_delete(row.id).await?;
        for entity in provided {
            self.store.entity_delete(entity.uid).await?;
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

    /// Every entity with its relations, in Backstage's default order (by uid).
    pub async fn entities(&self) -> Result<Vec<Value>, CatalogError> {
        let mut rows = self.store.entity_list_all().await?;
        rows.sort_by_key(|row| row.uid.to_string());
        let mut entities: Vec<Value> = rows.iter().filter_map(|row| serde_json::from_str(&row.entity).ok()).collect();
        relations::attach(&mut entities);
        Ok(entities)
    }

    /// One entity (with relations) by kind, namespace and name, case-insensitively.
    pub async fn entity_by_name(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, CatalogError> {
        let wanted = format!("{kind}:{namespace}/{name}").to_lowercase();
        Ok(self.entities().await?.into_iter().find(|e| relations::reference_of(e) == wanted))
    }

    pub async fn entity_by_uid(&self, uid: &str) -> Result<Option<Value>, CatalogError> {
        Ok(self.entities().await?.into_iter().find(|e| e["metadata"]["uid"] == uid))
    }

    /// Backstage's `POST /entities/by-refs`: in order, `None` for refs that match nothing (refs
    /// are compared exactly, in their lower-case `kind:namespace/name` form).
    pub async fn entities_by_refs(&self, refs: &[String]) -> Result<Vec<Option<Value>>, CatalogError> {
        let entities = self.entities().await?;
        Ok(refs.iter().map(|wanted| entities.iter().find(|e| relations::reference_of(e) == *wanted).cloned()).collect())
    }

    /// Deletes one entity (it comes back if its location still holds it, at the next refresh).
    pub async fn delete_entity(&self, uid: Uuid) -> Result<bool, CatalogError> {
        Ok(self.store.entity_delete(uid).await?)
    }

    /// Locations registered through the API (configured ones are not listed, as in Backstage).
    pub async fn registered_locations(&self) -> Result<Vec<LocationRow>, CatalogError> {
        Ok(self.store.location_list().await?.into_iter().filter(|l| !l.from_config).collect())
    }

    pub async fn location(&self, id: Uuid) -> Result<Option<LocationRow>, CatalogError> {
        Ok(self.store.location_get(id).await?.filter(|l| !l.from_config))
    }

    /// The registered location an entity came from.
    pub async fn location_of(&self, kind: &str, namespace: &str, name: &str) -> Result<LocationRow, CatalogError> {
        let reference = format!("{kind}:{namespace}/{name}").to_lowercase();
        let Some(row) = self.store.entity_get(kind, namespace, name).await? else {
            return Err(CatalogError::NotFound(format!("found no entity for ref {reference}")));
        };
        let location = match row.location_id {
            Some(id) => self.store.location_get(id).await?.filter(|l| !l.from_config),
            None => None,
        };
        location.ok_or_else(|| {
            let origin: Value = serde_json::from_str(&row.entity).unwrap_or_default();
            let origin = origin["metadata"]["annotations"]["backstage.io/managed-by-origin-location"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let (kind, target) = origin.split_once(':').unwrap_or(("unknown", origin.as_str()));
            CatalogError::NotFound(format!("Found no location with type {kind} and target {target}"))
        })
    }

    /// The documents a location holds (following nested `Location` entities).
    async fn read(&self, row: &LocationRow, rules: Option<&[Rule]>) -> reading::Read {
        let mut read = reading::Read::default();
        read.documents.push(reading::generated_location(&row.location_type, &row.target));
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
            read.documents.push(Document { entity: checked, source: format!("{kind}:{target}"), generated: false });
        }
    }

    /// The entity as stored (`uid` given) or as a dry-run shows it (no uid, no etag): managed-by
    /// annotations added, keys in Backstage's order.
    fn prepared(&self, document: &Document, row: &LocationRow, uid: Option<Uuid>) -> (Uuid, Value) {
        let mut value = document.entity.value.clone();
        let origin = format!("{}:{}", row.location_type, row.target);
        let Some(entity) = value.as_object_mut() else { return (Uuid::nil(), value) };
        let mut metadata = match entity.shift_remove("metadata") {
            Some(Value::Object(metadata)) => metadata,
            _ => Map::new(),
        };
        let mut annotations = match metadata.shift_remove("annotations") {
            Some(Value::Object(annotations)) => annotations,
            _ => Map::new(),
        };
        annotations.insert("backstage.io/managed-by-location".to_owned(), Value::String(document.source.clone()));
        annotations.insert("backstage.io/managed-by-origin-location".to_owned(), Value::String(origin));
        let mut ordered = Map::new();
        if let Some(namespace) = metadata.shift_remove("namespace") {
            ordered.insert("namespace".to_owned(), namespace);
        }
        ordered.insert("annotations".to_owned(), Value::Object(annotations));
        ordered.extend(metadata);
        ordered.shift_remove("uid");
        ordered.shift_remove("etag");
        let mut out = Map::new();
        out.insert("metadata".to_owned(), Value::Object(ordered));
        out.extend(std::mem::take(entity));
        out.shift_remove("relations");
        out.shift_remove("status");
        let mut value = Value::Object(out);
        let uid = match uid {
            Some(uid) => uid,
            None => {
                // A dry-run shows the generated Location entity before its namespace is filled in,
                // so Backstage lists that key last.
                if document.generated
                    && let Some(Value::Object(metadata)) = value.get_mut("metadata")
                    && let Some(namespace) = metadata.shift_remove("namespace")
                {
                    metadata.insert("namespace".to_owned(), namespace);
                }
                return (Uuid::nil(), value);
            }
        };
        value["metadata"]["uid"] = Value::String(uid.to_string());
        value["metadata"]["etag"] = Value::String(etag(&value));
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
            let (uid, value) =
                self.prepared(document, row, Some(existing.as_ref().map_or_else(Uuid::new_v4, |e| e.uid)));
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

/// A location that cannot be read is bad input to `POST /locations` (400, as Backstage's dry-run
/// answers), naming the inner error; refusals to read a host stay 403.
fn unreadable(error: CatalogError) -> CatalogError {
    match error {
        CatalogError::NotFound(message) => CatalogError::Input(format!("NotFoundError: {message}")),
        other => other,
    }
}

/// A location with invalid documents is refused whole, naming each document and field.
fn refuse_problems(problems: &[String]) -> Result<(), CatalogError> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(CatalogError::Input(format!("The location holds invalid entities: {}", problems.join("; "))))
}

/// Backstage's etag: a hex SHA-1 of the entity.
fn etag(value: &Value) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(value.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Absolute form of a `file` target given through the API or configuration.
pub(crate) fn absolute(path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) }
}

#[cfg(test)]
mod tests;
