//! `fetch:plain`: copies a directory tree into the workspace as it is.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionExample, StepError};
use crate::fetch::Fetcher;
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Input {
    /// Relative path or absolute URL pointing to the directory tree to fetch
    url: String,
    /// Target path within the working directory to download the contents to.
    target_path: Option<String>,
    /// An optional token to use for authentication when reading the resources.
    token: Option<String>,
}

pub(crate) struct FetchPlain {
    pub(crate) fetcher: Arc<Fetcher>,
}

#[async_trait]
impl Action for FetchPlain {
    fn id(&self) -> &'static str {
        "fetch:plain"
    }

    fn description(&self) -> &'static str {
        "Downloads content and places it in the workspace, or optionally in a subdirectory specified by the `targetPath` input option."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Downloads content and places it in the workspace.",
                example: "steps:\n  - action: fetch:plain\n    id: fetch-plain\n    name: Fetch plain\n    input:\n      url: https://github.com/backstage/community/tree/main/backstage-community-sessions/assets\n",
            },
            ActionExample {
                description: "Optionally, if you would prefer the data to be downloaded to a subdirectory in the workspace you may specify the \u{2018}targetPath\u{2019} input option.",
                example: "steps:\n  - action: fetch:plain\n    id: fetch-plain\n    name: Fetch plain\n    input:\n      url: https://github.com/backstage/community/tree/main/backstage-community-sessions/assets\n      targetPath: fetched-data\n",
            },
        ]
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
        ctx.info("Fetching plain content from remote URL");
        let target = ctx.workspace.resolve(input.target_path.as_deref().unwrap_or("./"))?;
        let source = self.fetcher.resolve(ctx.template_info.and_then(|t| t["baseUrl"].as_str()), &input.url)?;
        ctx.check_stop()?;
        for link in self.fetcher.fetch_tree(&source, &target, ctx.budget, input.token.as_deref()).await? {
            ctx.warn(&format!("Skipping the symbolic link {link}: it points outside the fetched directory"));
        }
        Ok(())
    }
}
