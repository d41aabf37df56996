//! `github:repo:create`: creates and sets up a repository (no push). Safe to retry.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::github::repo::{self, RepoSettings, Target};
use crate::github::{Github, schemas};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    repo_url: String,
    token: Option<String>,
    #[serde(flatten)]
    settings: RepoSettings,
}

pub(crate) struct GithubRepoCreate {
    pub(crate) github: Arc<Github>,
    pub(crate) integrations: Vec<templates::Integration>,
}

#[async_trait]
impl Action for GithubRepoCreate {
    fn id(&self) -> &'static str {
        "github:repo:create"
    }

    fn description(&self) -> &'static str {
        "Creates a GitHub repository."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Creates an internal repository with topics, to be pushed to by github:repo:push.",
            example: "steps:\n  - action: github:repo:create\n    id: create-repo\n    name: Create GitHub repository\n    input:\n      repoUrl: github.com?repo=repo&owner=owner\n      repoVisibility: internal\n      topics: [service]\n",
        }]
    }

    fn input_schema(&self) -> Value {
        schemas::object(schemas::REPO_CREATE, &["repoUrl"])
    }

    fn output_schema(&self) -> Option<Value> {
        Some(schemas::output(&[schemas::REMOTE_URL, schemas::REPO_CONTENTS_URL]))
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::None
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        let target = Target::parse(&input.repo_url, &self.integrations)?;
        let credentials =
            self.github.credentials(&target.host, &target.owner, &target.repo, input.token.as_deref()).await?;
        let client = self.github.client(&credentials)?;
        let key = format!("create.repo.and.topics.{}.{}", target.owner, target.repo);
        let links = repo::ensure_repository(ctx, &client, &target, &input.settings, &key).await?;
        // Like Backstage: only remoteUrl is set, although the schema also names repoContentsUrl.
        ctx.output("remoteUrl", json!(links.clone_url));
        Ok(())
    }
}
