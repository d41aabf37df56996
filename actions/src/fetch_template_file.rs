//! `fetch:template:file`: fetches one file, renders it with the template's values and writes it.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use templates::RenderContext;

use crate::action::{Action, ActionContext, ActionExample, StepError};
use crate::fetch::Fetcher;
use crate::fetch_template::{render_error, renderer_for};
use crate::files::write_file;
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Input {
    /// Relative path or absolute URL pointing to the single file to fetch.
    url: String,
    /// Target path within the working directory to download the file as.
    target_path: String,
    /// Values to pass on to the templating engine
    values: Option<Map<String, Value>>,
    /// Enable features to maximise compatibility with templates built for fetch:cookiecutter
    cookiecutter_compat: Option<bool>,
    /// If set, replace file in targetPath instead of overwriting existing one.
    replace: Option<bool>,
    /// If set, the first newline after a block is removed (block, not variable tag).
    trim_blocks: Option<bool>,
    /// If set, leading spaces and tabs are stripped from the start of a line to a block.
    lstrip_blocks: Option<bool>,
    /// An optional token to use for authentication when reading the resources.
    token: Option<String>,
}

pub(crate) struct FetchTemplateFile {
    pub(crate) fetcher: Arc<Fetcher>,
}

#[async_trait]
impl Action for FetchTemplateFile {
    fn id(&self) -> &'static str {
        "fetch:template:file"
    }

    fn description(&self) -> &'static str {
        "Downloads single file and places it in the workspace."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Downloads a template file and fill it out with values.",
            example: "steps:\n  - action: fetch:template:file\n    id: fetch-template-file\n    name: Fetch template file\n    input:\n      url: ./skeleton.txt\n      targetPath: ./target/skeleton.txt\n      values:\n        name: test-project\n        count: 1234\n        itemList:\n          - first\n          - second\n          - third\n",
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
        ctx.info("Fetching template file content from remote URL");
        let target = ctx.workspace.resolve(&input.target_path)?;
        if std::fs::symlink_metadata(&target).is_ok() && input.replace != Some(true) {
            ctx.info(&format!("File {} already exists in workspace, not replacing.", input.target_path));
            return Ok(());
        }
        let source = self.fetcher.resolve(ctx.template_info.and_then(|t| t["baseUrl"].as_str()), &input.url)?;
        ctx.check_stop()?;
        let limits = ctx.budget.limits();
        let bytes = self.fetcher.read(&source, limits.max_bytes, input.token.as_deref()).await?;
        let values = Value::Object(input.values.clone().unwrap_or_default());
        ctx.info_with("Processing template file with input values", &values);
        let cookiecutter = input.cookiecutter_compat == Some(true);
        let renderer = renderer_for(
            &self.fetcher,
            cookiecutter,
            input.trim_blocks == Some(true),
            input.lstrip_blocks == Some(true),
            limits.max_render_bytes,
        );
        let context = RenderContext::new().with(if cookiecutter { "cookiecutter" } else { "values" }, values);
        let text = String::from_utf8_lossy(&bytes);
        let rendered = renderer.render_text(&text, &context).map_err(|e| render_error(&input.url, e))?;
        write_file(&target, rendered.as_bytes(), None, ctx.budget)?;
        ctx.info(&format!("Template file has been written to {}", target.display()));
        Ok(())
    }
}
