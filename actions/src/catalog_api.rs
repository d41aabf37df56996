//! How actions reach the catalog: a small trait the catalog module implements, so that this crate
//! stays free of SQL.

use async_trait::async_trait;
use serde_json::Value;
use templates::EntityRef;

use crate::action::StepError;

#[async_trait]
pub trait CatalogApi: Send + Sync {
    /// The entity with this reference, if it exists. `token` is the user's (Backstage's
    /// `secrets.backstageToken`), for a catalog reached over HTTP.
    async fn entity(&self, reference: &EntityRef, token: Option<&str>) -> Result<Option<Value>, String>;

    /// Backstage's `POST /api/catalog/locations` for a `url` target: registers it (unless
    /// `dry_run`) and returns the entities it holds. Registering a target twice is a
    /// `ConflictError`.
    async fn add_location(&self, target: &str, dry_run: bool, token: Option<&str>) -> Result<Vec<Value>, StepError>;
}

/// A catalog with nothing in it (dry-runs without a server, tests).
#[derive(Debug, Default)]
pub struct EmptyCatalog;

#[async_trait]
impl CatalogApi for EmptyCatalog {
    async fn entity(&self, _reference: &EntityRef, _token: Option<&str>) -> Result<Option<Value>, String> {
        Ok(None)
    }

    async fn add_location(&self, target: &str, _dry_run: bool, _token: Option<&str>) -> Result<Vec<Value>, StepError> {
        Err(StepError::new("NotImplementedError", format!("There is no catalog to register {target} in")))
    }
}
