//! The thin catalog: entities read from `catalog.locations` into the catalog tables, where
//! `templateRef` (and later users, groups and registered components) resolve.
//!
//! Layout: `api` (what actions such as `catalog:fetch` read), `rules` (the `catalog.rules` kind allow-list), `entity` (checking and annotating one
//! document), this file (reading locations, following `Location` entities).
//!
//! Invariant: a document that fails a check is reported with its file and position and never
//! stored; the documents around it still load.

mod api;
mod entity;
mod rules;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use store::{NewEntity, Store};
use thiserror::Error;
use uuid::Uuid;

pub use api::StoreCatalog;
pub use entity::EntityProblem;
pub use rules::Rule;

/// Nested `Location` entities are followed this deep, no further.
const MAX_LOCATION_DEPTH: usize = 8;

/// One entry of `catalog.locations`.
#[derive(Clone, Debug)]
pub struct LocationConfig {
    pub kind: String,
    pub target: String,
    pub rules: Option<Vec<Rule>>,
}

#[derive(Clone, Debug, Default)]
pub struct CatalogConfig {
    /// `catalog.rules`; `None` means Backstage's default (Component, API, Location).
    pub rules: Option<Vec<Rule>>,
    pub locations: Vec<LocationConfig>,
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What a load did: entities stored (as `kind:namespace/name`) and documents refused.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub problems: Vec<String>,
}

pub struct Catalog {
    store: Store,
    config: CatalogConfig,
}

impl Catalog {
    pub fn new(store: Store, config: CatalogConfig) -> Self {
        Catalog { store, config }
    }

    /// Reads every configured location. Relative `file` targets resolve against `cwd`, as in
    /// Backstage.
    pub async fn load_configured(&self, cwd: &Path) -> Result<LoadReport, CatalogError> {
        let mut report = LoadReport::default();
        for location in &self.config.locations {
            let rules = location.rules.as_deref().or(self.config.rules.as_deref());
            match location.kind.as_str() {
                "file" => {
                    let path = cwd.join(&location.target);
                    self.load_file(&path, rules, 0, &mut report).await?;
                }
                other => report.problems.push(format!(
                    "catalog.locations: location type '{other}' ({}) is not supported yet; only 'file' locations are read",
                    location.target
                )),
            }
        }
        Ok(report)
    }

    /// Reads one file location (any number of YAML documents) with the given rules.
    pub async fn load_file_location(&self, path: &Path, rules: Option<&[Rule]>) -> Result<LoadReport, CatalogError> {
        let mut report = LoadReport::default();
        self.load_file(path, rules, 0, &mut report).await?;
        Ok(report)
    }

    async fn load_file(
        &self,
        path: &Path,
        rules: Option<&[Rule]>,
        depth: usize,
        report: &mut LoadReport,
    ) -> Result<(), CatalogError> {
        let path = match std::fs::canonicalize(path) {
            Ok(path) => path,
            Err(error) => {
                report.problems.push(format!("{}: cannot read the location: {error}", path.display()));
                return Ok(());
            }
        };
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(error) => {
                report.problems.push(format!("{}: cannot read the location: {error}", path.display()));
                return Ok(());
            }
        };
        let target = format!("file:{}", path.display());
        let location_id = self.store.location_upsert("file", &path.display().to_string()).await?;
        for (index, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let value = match Value::deserialize(document) {
                Ok(Value::Null) => continue,
                Ok(value) => value,
                Err(error) => {
                    report.problems.push(format!("{} (document {}): invalid YAML: {error}", path.display(), index + 1));
                    continue;
                }
            };
            let entity = match entity::check(value, rules) {
                Ok(entity) => entity,
                Err(problem) => {
                    report.problems.push(format!("{} (document {}): {problem}", path.display(), index + 1));
                    continue;
                }
            };
            if entity.kind.eq_ignore_ascii_case("location") {
                if depth >= MAX_LOCATION_DEPTH {
                    report
                        .problems
                        .push(format!("{}: Location entities nest deeper than {MAX_LOCATION_DEPTH}", path.display()));
                    continue;
                }
                for nested in location_targets(&entity.value, &path) {
                    Box::pin(self.load_file(&nested, rules, depth + 1, report)).await?;
                }
            }
            self.store_entity(entity, &target, location_id, report).await?;
        }
        Ok(())
    }

    async fn store_entity(
        &self,
        entity: entity::Checked,
        target: &str,
        location_id: Uuid,
        report: &mut LoadReport,
    ) -> Result<(), CatalogError> {
        let entity::Checked { kind, namespace, name, mut value } = entity;
        let uid = self.store.entity_uid(&kind, &namespace, &name).await?.unwrap_or_else(Uuid::new_v4);
        let metadata = value["metadata"].as_object_mut().expect("checked");
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(annotations) = annotations {
            annotations.insert("backstage.io/managed-by-location".to_owned(), Value::String(target.to_owned()));
            annotations.insert("backstage.io/managed-by-origin-location".to_owned(), Value::String(target.to_owned()));
        }
        metadata.insert("uid".to_owned(), Value::String(uid.to_string()));
        let mut hasher = DefaultHasher::new();
        value.to_string().hash(&mut hasher);
        value["metadata"]["etag"] = Value::String(format!("{:016x}", hasher.finish()));
        let reference = format!("{}:{namespace}/{name}", kind.to_lowercase());
        self.store
            .entity_upsert(
                uid,
                &NewEntity { kind, namespace, name, entity: value.to_string(), location_id: Some(location_id) },
            )
            .await?;
        report.loaded.push(reference);
        Ok(())
    }
}

/// `spec.target` / `spec.targets` of a Location entity, resolved against its file.
fn location_targets(entity: &Value, file: &Path) -> Vec<PathBuf> {
    let spec = &entity["spec"];
    if spec["type"].as_str().is_some_and(|t| t != "file") {
        return Vec::new();
    }
    let base = file.parent().unwrap_or(Path::new("/"));
    spec["target"]
        .as_str()
        .into_iter()
        .chain(spec["targets"].as_array().into_iter().flatten().filter_map(Value::as_str))
        .map(|target| base.join(target))
        .collect()
}

#[cfg(test)]
mod tests;
