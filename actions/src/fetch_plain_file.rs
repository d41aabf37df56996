//! `fetch:plain:file`: copies one file into the workspace as it is.

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
    /// Relative path or absolute URL pointing to the single file to fetch.
    url: String,
    /// Target path within the working directory to download the file as.
    target_path: String,
    /// An optional token to use for authentication when reading the resources.
    token: Option<String>,
}

pub(crate) struct FetchPlainFile {
    pub(crate) fetcher: Arc<Fetcher>,
}

#[async_trait]
impl Action for FetchPlainFile {
    fn id(&self) -> &'static str {
        "fetch:plain:file"
    }

    fn description(&self) -> &'static str {
        "Downloads single file and places it in the workspace."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Downloads a file and places it in the workspace.",
            example: "steps:\n  - action: fetch:plain:file\n    id: fetch-plain-file\n    name: Fetch plain file\n    input:\n      url: https://github.com/backstage/community/tree/main/backstage-community-sessions/assets/Backstage%20Community%20Sessions.png\n      targetPath: target-path\n",
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
        ctx.info("Fetching plain content from remote URL");
        let target = ctx.workspace.resolve(&input.target_path)?;
        let source = self.fetcher.resolve(ctx.template_info.and_then(|t| t["baseUrl"].as_str()), &input.url)?;
        ctx.check_stop()?;
        self.fetcher.fetch_file(&source, &target, ctx.budget, input.token.as_deref()).await
    }
}
