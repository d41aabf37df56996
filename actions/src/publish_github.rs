//! `publish:github`: creates a repository, pushes the workspace (or `sourcePath`) to it and
//! protects its default branch. Safe to retry: see `github::repo`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::github::repo::{self, GitDefaults, Protection, PushSettings, RepoSettings, Target};
use crate::github::{Github, schemas};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    repo_url: String,
    token: Option<String>,
    #[serde(flatten)]
    settings: RepoSettings,
    #[serde(flatten)]
    protection: Protection,
    #[serde(flatten)]
    push: PushSettings,
}

pub(crate) struct PublishGithub {
    pub(crate) github: Arc<Github>,
    pub(crate) integrations: Vec<templates::Integration>,
    pub(crate) defaults: GitDefaults,
}

#[async_trait]
impl Action for PublishGithub {
    fn id(&self) -> &'static str {
        "publish:github"
    }

    fn description(&self) -> &'static str {
        "Initializes a git repository of contents in workspace and publishes it to GitHub."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Publishes the workspace to a new private repository with a protected main branch.",
                example: "steps:\n  - action: publish:github\n    id: publish\n    name: Publish to GitHub\n    input:\n      repoUrl: github.com?repo=repo&owner=owner\n      defaultBranch: main\n",
            },
            ActionExample {
                description: "Publishes one directory of the workspace, with topics, a team with admin access and two required reviewers.",
                example: "steps:\n  - action: publish:github\n    id: publish\n    name: Publish to GitHub\n    input:\n      repoUrl: github.com?repo=repo&owner=owner\n      sourcePath: ./service\n      access: owner/platform-team\n      topics: [service, typescript]\n      requiredApprovingReviewCount: 2\n      requireCodeOwnerReviews: true\n",
            },
        ]
    }

    fn input_schema(&self) -> Value {
        schemas::object(schemas::PUBLISH, &["repoUrl"])
    }

    fn output_schema(&self) -> Option<Value> {
        Some(schemas::output(&[schemas::REMOTE_URL, schemas::REPO_CONTENTS_URL, schemas::COMMIT_HASH]))
    }

    /// The repository is built from a copy of the files, never in the workspace itself.
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

        let key = format!("create.github.repo.{}.{}", target.owner, target.repo);
        let links = repo::ensure_repository(ctx, &client, &target, &input.settings, &key).await?;
        let push_key = format!("push.github.repo.{}.{}", target.owner, target.repo);
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
            &push_key,
        )
        .await?;

        ctx.output("commitHash", json!(hash));
        ctx.output("remoteUrl", json!(links.clone_url));
        ctx.output("repoContentsUrl", json!(format!("{}/blob/{branch}", links.html_url)));
        Ok(())
    }
}
