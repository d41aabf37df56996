//! The catalog as actions see it ([`actions::CatalogApi`]): entities read from the shared tables,
//! locations registered through the catalog module in this process.

use std::sync::Arc;

use actions::StepError;
use async_trait::async_trait;
use serde_json::Value;
use templates::EntityRef;

use crate::{Catalog, CatalogError};

/// Reads entities from the catalog tables of the service's own database and registers
/// locations through the catalog module.
#[derive(Clone)]
pub struct StoreCatalog {
    catalog: Arc<Catalog>,
}

impl StoreCatalog {
    pub fn with_catalog(catalog: Arc<Catalog>) -> Self {
        StoreCatalog { catalog }
    }
}

#[async_trait]
impl actions::CatalogApi for StoreCatalog {
    /// In-process: the caller was authenticated by the API that created the task.
    async fn entity(&self, reference: &EntityRef, _token: Option<&str>) -> Result<Option<Value>, String> {
        let row = self
            .catalog
            .store()
            .entity_get(&reference.kind, &reference.namespace, &reference.name)
            .await
            .map_err(|e| format!("the catalog cannot be read: {e}"))?;
        row.map(|row| {
            serde_json::from_str(&row.entity).map_err(|e| format!("the stored entity {} is not JSON: {e}", row.name))
        })
        .transpose()
    }

    async fn add_location(&self, target: &str, dry_run: bool, _token: Option<&str>) -> Result<Vec<Value>, StepError> {
        match self.catalog.add_location("url", target, dry_run).await {
            Ok(added) => Ok(added.entities),
            Err(error) => Err(step_error(error)),
        }
    }
}

/// Catalog errors as the step errors Backstage's catalog client would raise.
pub(crate) fn step_error(error: CatalogError) -> StepError {
    let name = match &error {
        CatalogError::Input(_) => "InputError",
        CatalogError::NotFound(_) => "NotFoundError",
        CatalogError::Conflict(_) => "ConflictError",
        CatalogError::NotAllowed(_) => "NotAllowedError",
        CatalogError::Store(_) => "Error",
    };
    StepError::new(name, error.to_string())
}
