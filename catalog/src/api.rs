//! The catalog as actions see it ([`actions::CatalogApi`]), read from the shared tables.

use async_trait::async_trait;
use serde_json::Value;
use store::Store;
use templates::EntityRef;

/// Reads entities from the catalog tables of the service's own database.
#[derive(Clone)]
pub struct StoreCatalog {
    store: Store,
}

impl StoreCatalog {
    pub fn new(store: Store) -> Self {
        StoreCatalog { store }
    }
}

#[async_trait]
impl actions::CatalogApi for StoreCatalog {
    async fn entity(&self, reference: &EntityRef) -> Result<Option<Value>, String> {
        let row = self
            .store
            .entity_get(&reference.kind, &reference.namespace, &reference.name)
            .await
            .map_err(|e| format!("the catalog cannot be read: {e}"))?;
        row.map(|row| {
            serde_json::from_str(&row.entity).map_err(|e| format!("the stored entity {} is not JSON: {e}", row.name))
        })
        .transpose()
    }
}
