//! `fs:readdir`: lists files and folders of workspace directories.

use std::path::Path;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::files::io_error;
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    paths: Vec<NonEmpty>,
    #[serde(default)]
    #[schemars(default)]
    recursive: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
struct NonEmpty(#[schemars(length(min = 1))] String);

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct Content {
    /// Name of the file or directory
    name: String,
    /// path to the file or directory relative to the workspace
    path: String,
    /// full path to the file or directory
    full_path: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Output {
    files: Vec<Content>,
    folders: Vec<Content>,
}

pub(crate) struct FsReaddir;

#[async_trait]
impl Action for FsReaddir {
    fn id(&self) -> &'static str {
        "fs:readdir"
    }

    fn description(&self) -> &'static str {
        "Reads files and directories from the workspace"
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Read complete content of workspace",
                example: "steps:\n  - action: fs:readdir\n    id: read-workdir\n    name: Read workspace directory\n    input:\n      paths:\n        - .\n",
            },
            ActionExample {
                description: "Get content of the docs folder",
                example: "steps:\n  - action: fs:readdir\n    id: read-workdir\n    name: Read workspace directory\n    input:\n      paths:\n        - docs\n      recursive: true\n",
            },
            ActionExample {
                description: "Get content of multiple folders",
                example: "steps:\n  - action: fs:readdir\n    id: read-workdir\n    name: Read workspace directory\n    input:\n      paths:\n        - foo\n        - bar\n      recursive: true\n",
            },
        ]
    }

    fn input_schema(&self) -> Value {
        schema_of::<Input>()
    }

    fn output_schema(&self) -> Option<Value> {
        Some(schema_of::<Output>())
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::Read
    }

    fn supports_dry_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        let root = ctx.workspace.root().to_path_buf();
        let mut output = Output { files: Vec::new(), folders: Vec::new() };
        for NonEmpty(path) in &input.paths {
            let directory = ctx.workspace.resolve(path)?;
            collect(&root, &directory, input.recursive, &mut output)?;
        }
        ctx.output("files", json!(output.files));
        ctx.output("folders", json!(output.folders));
        Ok(())
    }
}

fn collect(root: &Path, directory: &Path, recursive: bool, output: &mut Output) -> Result<(), StepError> {
    let mut entries: Vec<_> = std::fs::read_dir(directory).map_err(|e| io_error(e, directory))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let full_path = entry.path();
        let content = Content {
            name: entry.file_name().to_string_lossy().into_owned(),
            path: full_path.strip_prefix(root).unwrap_or(&full_path).to_string_lossy().into_owned(),
            full_path: full_path.to_string_lossy().into_owned(),
        };
        // Links are listed as files and never followed.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            output.folders.push(content);
            if recursive {
                collect(root, &full_path, true, output)?;
            }
        } else {
            output.files.push(content);
        }
    }
    Ok(())
}
