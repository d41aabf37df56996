//! `catalog:fetch`: reads entities from the catalog by reference.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use templates::EntityRef;

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::catalog_api::CatalogApi;
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Input {
    /// Entity reference of the entity to get
    entity_ref: Option<String>,
    /// Entity references of the entities to get
    entity_refs: Option<Vec<String>>,
    /// Allow the entity or entities to optionally exist. Default: false
    optional: Option<bool>,
    /// The default kind
    default_kind: Option<String>,
    /// The default namespace
    default_namespace: Option<String>,
}

pub(crate) struct CatalogFetch {
    pub(crate) catalog: Arc<dyn CatalogApi>,
}

impl CatalogFetch {
    async fn lookup(&self, reference: &str, input: &Input, token: Option<&str>) -> Result<Option<Value>, StepError> {
        let parsed = EntityRef::parse(reference, input.default_kind.as_deref(), input.default_namespace.as_deref())
            .map_err(|e| StepError::error(e.to_string()))?;
        self.catalog
            .entity(&parsed, token)
            .await
            .map_err(|e| StepError::error(format!("Could not read the catalog: {e}")))
    }
}

#[async_trait]
impl Action for CatalogFetch {
    fn id(&self) -> &'static str {
        "catalog:fetch"
    }

    fn description(&self) -> &'static str {
        "Returns entity or entities from the catalog by entity reference(s)"
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Fetch entity by reference",
                example: "steps:\n  - action: catalog:fetch\n    id: fetch\n    name: Fetch catalog entity\n    input:\n      entityRef: component:default/name\n",
            },
            ActionExample {
                description: "Fetch multiple entities by reference",
                example: "steps:\n  - action: catalog:fetch\n    id: fetchMultiple\n    name: Fetch catalog entities\n    input:\n      entityRefs:\n        - component:default/name\n",
            },
        ]
    }

    fn input_schema(&self) -> Value {
        schema_of::<Input>()
    }

    fn output_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "properties": {
                "entity": {"description": "Object containing same values used in the Entity schema. Only when used with `entityRef` parameter."},
                "entities": {"type": "array"},
            },
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#",
        }))
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::None
    }

    fn supports_dry_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        let optional = input.optional == Some(true);
        let token = ctx.secrets.get("backstageToken").cloned();
        if input.entity_ref.is_none() && input.entity_refs.is_none() {
            return if optional { Ok(()) } else { Err(StepError::error("Missing entity reference or references")) };
        }
        if let Some(reference) = &input.entity_ref {
            let entity = self.lookup(reference, &input, token.as_deref()).await?;
            if entity.is_none() && !optional {
                return Err(StepError::error(format!("Entity {reference} not found")));
            }
            ctx.output("entity", entity.unwrap_or(Value::Null));
        }
        if let Some(references) = &input.entity_refs {
            let mut entities = Vec::new();
            for reference in references {
                let entity = self.lookup(reference, &input, token.as_deref()).await?;
                if entity.is_none() && !optional {
                    return Err(StepError::error(format!("Entity {reference} not found")));
                }
                entities.push(entity.unwrap_or(Value::Null));
            }
            ctx.output("entities", Value::Array(entities));
        }
        Ok(())
    }
}
