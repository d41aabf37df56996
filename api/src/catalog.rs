//! Resolving `templateRef` against the catalog tables, with Backstage's errors.

use serde_json::Value;
use store::Store;
use templates::{EntityRef, Template, TemplateError};

use crate::error::ApiError;

/// A Template found in the catalog, with where it was read from.
pub struct CatalogTemplate {
    pub template: Template,
    pub entity_ref: String,
    /// `templateInfo.baseUrl`: where relative `url`s in steps resolve.
    pub base_url: Option<String>,
}

/// Backstage's `authorizeTemplate`: the kind must be Template, the entity must exist, and its
/// apiVersion must be v1beta3.
pub async fn find_template(store: &Store, reference: &EntityRef) -> Result<CatalogTemplate, ApiError> {
    if !reference.kind.eq_ignore_ascii_case("template") {
        return Err(ApiError::input("Invalid kind, only 'Template' kind is supported"));
    }
    let entity_ref = format!("template:{}/{}", reference.namespace, reference.name);
    // No entity is named with NUL, and PostgreSQL would refuse the lookup with an error.
    if entity_ref.contains('\0') {
        return Err(ApiError::not_found(format!("Template {entity_ref} not found")));
    }
    let row = store
        .entity_get("template", &reference.namespace, &reference.name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Template {entity_ref} not found")))?;
    let entity: Value = serde_json::from_str(&row.entity)
        .map_err(|e| ApiError::internal(format!("Stored entity {entity_ref} is corrupt: {e}")))?;
    let base_url = base_url(&entity);
    let template = Template::from_value(entity).map_err(|error| match error {
        TemplateError::UnsupportedApiVersion(version) => {
            ApiError::input(format!("Unsupported apiVersion field in schema entity, {version}"))
        }
        other => ApiError::input(other.to_string()),
    })?;
    Ok(CatalogTemplate {
        // Backstage's `stringifyEntityRef`: lower case throughout.
        entity_ref: format!("template:{}/{}", template.namespace(), template.name()).to_lowercase(),
        template,
        base_url,
    })
}

/// `backstage.io/source-location`, else `backstage.io/managed-by-location`, as a URL.
fn base_url(entity: &Value) -> Option<String> {
    let annotations = &entity["metadata"]["annotations"];
    let location = annotations["backstage.io/source-location"]
        .as_str()
        .or(annotations["backstage.io/managed-by-location"].as_str())?;
    let (kind, target) = location.split_once(':')?;
    match kind {
        "url" => Some(target.to_owned()),
        "file" => Some(format!("file://{target}")),
        _ => None,
    }
}
