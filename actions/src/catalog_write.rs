//! `catalog:write`: writes an entity as YAML (by default `catalog-info.yaml`), noting the
//! template it came from.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::action::{Action, ActionContext, ActionExample, StepError};
use crate::files::write_file;
use crate::schema::schema_of;
use crate::yaml;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Input {
    /// Defaults to catalog-info.yaml
    file_path: Option<String>,
    /// You can provide the same values used in the Entity schema.
    entity: Map<String, Value>,
}

pub(crate) struct CatalogWrite;

#[async_trait]
impl Action for CatalogWrite {
    fn id(&self) -> &'static str {
        "catalog:write"
    }

    fn description(&self) -> &'static str {
        "Writes the catalog-info.yaml for your template"
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Write a catalog yaml file",
            example: "steps:\n  - action: catalog:write\n    id: create-catalog-info-file\n    name: Create catalog file\n    input:\n      entity:\n        apiVersion: backstage.io/v1alpha1\n        kind: Component\n        metadata:\n          name: test\n          annotations: {}\n        spec:\n          type: service\n          lifecycle: production\n          owner: default/owner\n",
        }]
    }

    fn input_schema(&self) -> Value {
        schema_of::<Input>()
    }

    fn only_builds_the_workspace(&self) -> bool {
        true
    }
    fn supports_dry_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        let path = input.file_path.as_deref().unwrap_or("catalog-info.yaml");
        ctx.info(&format!("Writing {path}"));
        let mut entity = input.entity;
        if let Some(template_ref) = ctx.template_info.and_then(|t| t["entityRef"].as_str()) {
            // `{...entity, metadata: {...metadata, annotations: {...annotations, source-template}}}`:
            // existing keys keep their place, new ones go last.
            let metadata = entity.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
            if !metadata.is_object() {
                *metadata = Value::Object(Map::new());
            }
            let annotations = metadata
                .as_object_mut()
                .expect("object")
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if !annotations.is_object() {
                *annotations = Value::Object(Map::new());
            }
            annotations
                .as_object_mut()
                .expect("object")
                .insert("backstage.io/source-template".to_owned(), Value::String(template_ref.to_owned()));
        }
        let target = ctx.workspace.resolve(path)?;
        write_file(&target, yaml::stringify(&Value::Object(entity)).as_bytes(), None, ctx.budget)
    }
}
