//! `github:repo:push`: pushes the workspace (or `sourcePath`) to an existing repository and
//! protects its default branch. Safe to retry.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::github::repo::{self, GitDefaults, Protection, PushSettings, RepoLinks, Target};
use crate::github::{Github, schemas};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    repo_url: String,
    token: Option<String>,
    #[serde(flatten)]
    protection: Protection,
    #[serde(flatten)]
    push: PushSettings,
}

pub(crate) struct GithubRepoPush {
    pub(crate) github: Arc<Github>,
    pub(crate) integrations: Vec<templates::Integration>,
    pub(crate) defaults: GitDefaults,
}

#[async_trait]
impl Action for GithubRepoPush {
    fn id(&self) -> &'static str {
        "github:repo:push"
    }

    fn description(&self) -> &'static str {
        "Initializes a git repository of contents in workspace and publishes it to GitHub."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Pushes the workspace to the repository created by an earlier github:repo:create step.",
            example: "steps:\n  - action: github:repo:push\n    id: push-repo\n    name: Push to GitHub\n    input:\n      repoUrl: github.com?repo=repo&owner=owner\n      defaultBranch: main\n      protectDefaultBranch: false\n",
        }]
    }

    fn input_schema(&self) -> Value {
        schemas::object(schemas::REPO_PUSH, &["repoUrl"])
    }

    fn output_schema(&self) -> Option<Value> {
        Some(schemas::output(&[schemas::REMOTE_URL, schemas::REPO_CONTENTS_URL, schemas::COMMIT_HASH]))
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::Read
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        let target = Target::parse(&input.repo_url, &self.integrations)?;
        let source = repo::source_directory(ctx, input.push.source_path.as_deref())?;
        let credentials =
            self.github.credentials(&target.host, &target.owner, &target.repo, input.token.as_deref()).await?;
        let client = self.github.client(&credentials)?;
        let branch = input.push.default_branch.clone().unwrap_or_else(|| "main".to_owned());
        let repository = client
            .get(&format!("/repos/{}", target.full_name()))
            .await?
            .into_result(&format!("Reading repository {}", target.full_name()))?;
        let links = RepoLinks {
            clone_url: repository["clone_url"].as_str().unwrap_or_default().to_owned(),
            html_url: repository["html_url"].as_str().unwrap_or_default().to_owned(),
        };
        // Like publish:github, the commit message falls back to `scaffolder.defaultCommitMessage`.
        let key = format!("init.repo.publish.{}.{}", target.owner, target.repo);
        let hash = repo::push_and_protect(
            ctx,
            &client,
            &credentials,
            &target,
            &links,
            source,
            &branch,
            &input.push,
            &input.protection,
            &self.defaults,
            &key,
        )
        .await?;
        ctx.output("remoteUrl", json!(links.clone_url));
        ctx.output("repoContentsUrl", json!(format!("{}/blob/{branch}", links.html_url)));
        ctx.output("commitHash", json!(hash));
        Ok(())
    }
}
