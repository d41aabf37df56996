//! `catalog:register`: registers a repository's catalog file as a location in the catalog and
//! says which entity it holds.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::catalog_api::CatalogApi;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    catalog_info_url: Option<String>,
    repo_contents_url: Option<String>,
    catalog_info_path: Option<String>,
    optional: Option<bool>,
}

pub(crate) struct CatalogRegister {
    pub(crate) catalog: Arc<dyn CatalogApi>,
    pub(crate) integrations: Vec<templates::Integration>,
}

#[async_trait]
impl Action for CatalogRegister {
    fn id(&self) -> &'static str {
        "catalog:register"
    }

    fn description(&self) -> &'static str {
        "Registers entities from a catalog descriptor file in the workspace into the software catalog."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Register with the catalog",
            example: "steps:\n  - action: catalog:register\n    id: register-with-catalog\n    name: Register with the catalog\n    input:\n      catalogInfoUrl: http://github.com/backstage/backstage/blob/master/catalog-info.yaml\n",
        }]
    }

    fn input_schema(&self) -> Value {
        let optional = json!({"type": "boolean", "description": "Permit the registered location to optionally exist. Default: false"});
        json!({
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "catalogInfoUrl": {"type": "string", "description": "An absolute URL pointing to the catalog info file location"},
                        "optional": optional,
                    },
                    "required": ["catalogInfoUrl"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "repoContentsUrl": {"type": "string", "description": "An absolute URL pointing to the root of a repository directory tree"},
                        "catalogInfoPath": {"type": "string", "description": "A relative path from the repo root pointing to the catalog info file, defaults to /catalog-info.yaml"},
                        "optional": optional,
                    },
                    "required": ["repoContentsUrl"],
                    "additionalProperties": false
                }
            ],
            "$schema": "http://json-schema.org/draft-07/schema#"
        })
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::None
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        let optional = input.optional.unwrap_or(false);
        let url = match (&input.catalog_info_url, &input.repo_contents_url) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => resolve_url(
                base,
                input.catalog_info_path.as_deref().unwrap_or("/catalog-info.yaml"),
                &self.integrations,
            )?,
            (None, None) => return Err(StepError::input("catalog:register needs catalogInfoUrl or repoContentsUrl")),
        };
        let token = ctx.secrets.get("backstageToken").map(String::as_str);
        ctx.info(&format!("Registering {url} in the catalog"));
        ctx.check_stop()?;
        // The intent is recorded first: an attempt that dies after the catalog registered the
        // location but before `registered` was saved leaves it, so the next attempt's conflict is
        // known to be its own doing.
        let earlier = ctx.checkpoint_value("registered").await.is_some()
            || ctx.checkpoint_value("registering").await.is_some_and(|v| v == json!(url));
        if !earlier {
            ctx.set_checkpoint("registering", json!(url)).await?;
        }
        match self.catalog.add_location(&url, false, token).await {
            Ok(_) => {}
            // Registered by an earlier attempt of this task: the entities are there.
            Err(error) if error.name == "ConflictError" && earlier => {}
            Err(error) if !optional => return Err(error),
            Err(_) => {}
        }
        let _ = ctx.set_checkpoint("registered", json!(url)).await;
        match self.catalog.add_location(&url, true, token).await {
            Ok(entities) => {
                let named = |e: &&Value| !e["metadata"]["name"].as_str().unwrap_or_default().starts_with("generated-");
                let chosen = entities
                    .iter()
                    .find(|e| named(e) && e["kind"] == "Component")
                    .or_else(|| entities.iter().find(named))
                    .or_else(|| entities.first());
                if let Some(entity) = chosen {
                    let reference = format!(
                        "{}:{}/{}",
                        entity["kind"].as_str().unwrap_or_default(),
                        entity["metadata"]["namespace"].as_str().unwrap_or("default"),
                        entity["metadata"]["name"].as_str().unwrap_or_default()
                    )
                    .to_lowercase();
                    ctx.output("entityRef", json!(reference));
                }
            }
            Err(error) if !optional => return Err(error),
            Err(_) => {}
        }
        ctx.output("catalogInfoUrl", json!(url));
        Ok(())
    }
}

/// Backstage's `resolveUrl({base, url})` for repository URLs: a path starting with `/` is taken
/// from the repository root (`https://host/owner/repo/blob/ref`), anything else from `base`.
pub(crate) fn resolve_url(base: &str, url: &str, integrations: &[templates::Integration]) -> Result<String, StepError> {
    if url.contains("://") {
        return Ok(url.to_owned());
    }
    let host = base.split_once("://").map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let Some(host) = host.filter(|h| integrations.iter().any(|i| i.host.eq_ignore_ascii_case(h))) else {
        return Err(StepError::input(format!("No integration found for host {base}")));
    };
    let (scheme, rest) = base.split_once("://").expect("checked above");
    let base_path = rest.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = base_path.split('/').filter(|s| !s.is_empty()).collect();
    // host, owner, repo, blob|tree, ref: the repository root.
    let root_len =
        if segments.len() >= 5 && matches!(segments[3], "blob" | "tree") { 5 } else { segments.len().min(3) };
    let mut path: Vec<&str> = if url.starts_with('/') {
        segments[..root_len].to_vec()
    } else {
        // `new URL(url, base)`: relative to the base's directory.
        let mut directory = segments.clone();
        if !base_path.ends_with('/') && directory.len() > 1 {
            directory.pop();
        }
        directory
    };
    for part in url.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if path.len() > 1 {
                    path.pop();
                }
            }
            other => path.push(other),
        }
    }
    let _ = host;
    Ok(format!("{scheme}://{}", path.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_like_backstage() {
        let integrations = templates::Integration::defaults();
        let base = "https://github.com/acme/app/blob/main";
        assert_eq!(
            resolve_url(base, "/catalog-info.yaml", &integrations).unwrap(),
            "https://github.com/acme/app/blob/main/catalog-info.yaml"
        );
        assert_eq!(
            resolve_url(&format!("{base}/sub"), "/x/c.yaml", &integrations).unwrap(),
            "https://github.com/acme/app/blob/main/x/c.yaml"
        );
        assert_eq!(
            resolve_url(&format!("{base}/sub/"), "c.yaml", &integrations).unwrap(),
            "https://github.com/acme/app/blob/main/sub/c.yaml"
        );
        assert_eq!(
            resolve_url(&format!("{base}/sub"), "c.yaml", &integrations).unwrap(),
            "https://github.com/acme/app/blob/main/c.yaml"
        );
        assert_eq!(
            resolve_url("https://elsewhere.example/x", "/c.yaml", &integrations).unwrap_err().message,
            "No integration found for host https://elsewhere.example/x"
        );
    }
}
