//! How actions reach the catalog: a small trait the catalog module implements, so that this crate
//! stays free of SQL.

use async_trait::async_trait;
use serde_json::Value;
use templates::EntityRef;

#[async_trait]
pub trait CatalogApi: Send + Sync {
    /// The entity with this reference, if it exists.
    async fn entity(&self, reference: &EntityRef) -> Result<Option<Value>, String>;
}

/// A catalog with nothing in it (dry-runs without a server, tests).
#[derive(Debug, Default)]
pub struct EmptyCatalog;

#[async_trait]
impl CatalogApi for EmptyCatalog {
    async fn entity(&self, _reference: &EntityRef) -> Result<Option<Value>, String> {
        Ok(None)
    }
}
