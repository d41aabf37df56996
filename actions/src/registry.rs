//! The registry: the one place that lists the built-in actions, with their schemas compiled once.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use templates::SchemaValidator;

use crate::action::Action;
use crate::catalog_api::{CatalogApi, EmptyCatalog};
use crate::catalog_fetch::CatalogFetch;
use crate::catalog_register::CatalogRegister;
use crate::catalog_write::CatalogWrite;
use crate::debug_log::DebugLog;
use crate::debug_wait::DebugWait;
use crate::fetch::{FetchConfig, Fetcher};
use crate::fetch_plain::FetchPlain;
use crate::fetch_plain_file::FetchPlainFile;
use crate::fetch_template::FetchTemplate;
use crate::fetch_template_file::FetchTemplateFile;
use crate::fs_delete::FsDelete;
use crate::fs_readdir::FsReaddir;
use crate::fs_rename::FsRename;
use crate::github::Github;
use crate::github::repo::GitDefaults;
use crate::github_repo_create::GithubRepoCreate;
use crate::github_repo_push::GithubRepoPush;
use crate::publish_github::PublishGithub;
use crate::publish_github_pull_request::PublishGithubPullRequest;

/// What the built-in actions need: where they may fetch from, the catalog, GitHub and the git
/// defaults (`scaffolder.defaultAuthor`, `scaffolder.defaultCommitMessage`).
#[derive(Clone)]
pub struct RegistryConfig {
    pub fetch: FetchConfig,
    pub catalog: Arc<dyn CatalogApi>,
    pub github: Arc<Github>,
    pub git: GitDefaults,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            fetch: FetchConfig { integrations: templates::Integration::defaults(), allow: Vec::new() },
            catalog: Arc::new(EmptyCatalog),
            github: Arc::new(Github::default()),
            git: GitDefaults::default(),
        }
    }
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig").field("fetch", &self.fetch).finish_non_exhaustive()
    }
}

struct Entry {
    action: Arc<dyn Action>,
    input: SchemaValidator,
}

pub struct Registry {
    actions: BTreeMap<&'static str, Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("actions", &self.actions.keys().collect::<Vec<_>>()).finish()
    }
}

/// An action as `GET /v2/actions` describes it.
pub type ActionDescription = Value;

impl Registry {
    pub fn builtin(config: &RegistryConfig) -> Self {
        let fetcher = Arc::new(Fetcher::new(config.fetch.clone()).with_github(config.github.clone()));
        let integrations = config.fetch.integrations.clone();
        let github = config.github.clone();
        let actions: Vec<Arc<dyn Action>> = vec![
            Arc::new(CatalogFetch { catalog: config.catalog.clone() }),
            Arc::new(CatalogRegister { catalog: config.catalog.clone(), integrations: integrations.clone() }),
            Arc::new(CatalogWrite),
            Arc::new(DebugLog),
            Arc::new(DebugWait),
            Arc::new(FetchPlain { fetcher: fetcher.clone() }),
            Arc::new(FetchPlainFile { fetcher: fetcher.clone() }),
            Arc::new(FetchTemplate { fetcher: fetcher.clone() }),
            Arc::new(FetchTemplateFile { fetcher }),
            Arc::new(FsDelete),
            Arc::new(FsReaddir),
            Arc::new(FsRename),
            Arc::new(GithubRepoCreate { github: github.clone(), integrations: integrations.clone() }),
            Arc::new(GithubRepoPush {
                github: github.clone(),
                integrations: integrations.clone(),
                defaults: config.git.clone(),
            }),
            Arc::new(PublishGithub {
                github: github.clone(),
                integrations: integrations.clone(),
                defaults: config.git.clone(),
            }),
            Arc::new(PublishGithubPullRequest { github, integrations, defaults: config.git.clone() }),
        ];
        Self::from_actions(actions)
    }

    /// A registry of exactly these actions (tests add their own).
    pub fn from_actions(actions: Vec<Arc<dyn Action>>) -> Self {
        let actions = actions
            .into_iter()
            .map(|action| {
                let input = SchemaValidator::compile(&action.input_schema())
                    .unwrap_or_else(|e| panic!("the input schema of {} does not compile: {e}", action.id()));
                (action.id(), Entry { action, input })
            })
            .collect();
        Registry { actions }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Action>> {
        self.actions.get(id).map(|entry| &entry.action)
    }

    /// Validates a rendered input; the errors are the npm `jsonschema` package's stack strings.
    pub fn validate_input(&self, id: &str, input: &Value) -> Result<(), Vec<String>> {
        let Some(entry) = self.actions.get(id) else {
            return Ok(());
        };
        if entry.input.is_valid(input) {
            return Ok(());
        }
        Err(entry.input.errors(input).into_iter().map(|e| e.stack).collect())
    }

    /// Every action, sorted by id, as Backstage lists them.
    pub fn describe(&self) -> Vec<ActionDescription> {
        self.actions
            .values()
            .map(|Entry { action, .. }| {
                let mut schema = serde_json::Map::new();
                schema.insert("input".to_owned(), action.input_schema());
                if let Some(output) = action.output_schema() {
                    schema.insert("output".to_owned(), output);
                }
                let mut described = json!({
                    "id": action.id(),
                    "description": action.description(),
                    "examples": action.examples().iter().map(|e| json!({"description": e.description, "example": e.example})).collect::<Vec<_>>(),
                    "schema": schema,
                });
                // Backstage leaves the key out for actions without a description.
                if action.description().is_empty() {
                    described.as_object_mut().expect("an object").shift_remove("description");
                }
                described
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_look_like_backstage() {
        let registry = Registry::builtin(&RegistryConfig::default());
        let described = registry.describe();
        let ids: Vec<&str> = described.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "catalog:fetch",
                "catalog:register",
                "catalog:write",
                "debug:log",
                "debug:wait",
                "fetch:plain",
                "fetch:plain:file",
                "fetch:template",
                "fetch:template:file",
                "fs:delete",
                "fs:readdir",
                "fs:rename",
                "github:repo:create",
                "github:repo:push",
                "publish:github",
                "publish:github:pull-request"
            ]
        );
        let log = &described[3]["schema"]["input"];
        assert_eq!(log["type"], "object");
        assert_eq!(log["additionalProperties"], false);
        assert_eq!(log["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(log["properties"]["message"], json!({"description": "Message to output.", "type": "string"}));
        let list = &log["properties"]["listWorkspace"];
        assert_eq!(list["anyOf"][0], json!({"type": "boolean"}));
        assert_eq!(list["anyOf"][1]["enum"], json!(["with-filenames", "with-contents"]));
        assert!(log.get("required").is_none_or(|r| r.as_array().is_some_and(Vec::is_empty)));
        let wait = &described[4]["schema"]["input"];
        assert_eq!(
            wait["properties"]["seconds"],
            json!({"description": "Waiting period in seconds.", "type": "number"})
        );
    }

    #[test]
    fn input_validation_uses_backstage_wording() {
        let registry = Registry::builtin(&RegistryConfig::default());
        assert!(
            registry.validate_input("debug:log", &json!({"message": "hi", "listWorkspace": "with-contents"})).is_ok()
        );
        let errors = registry.validate_input("debug:log", &json!({"message": 3, "extra": true})).unwrap_err();
        assert!(errors.contains(&"instance.message is not of a type(s) string".to_owned()), "{errors:?}");
        assert!(
            errors.contains(&"instance is not allowed to have the additional property \"extra\"".to_owned()),
            "{errors:?}"
        );
    }
}
