//! `fs:delete`: deletes files (by path or glob) from the workspace.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionExample, StepError};
use crate::fetch_template::glob_set;
use crate::files::{EntryKind, io_error, list_tree};
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// A list of files and directories that will be deleted
    files: Vec<String>,
}

pub(crate) struct FsDelete;

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

#[async_trait]
impl Action for FsDelete {
    fn id(&self) -> &'static str {
        "fs:delete"
    }

    fn description(&self) -> &'static str {
        "Deletes files and directories from the workspace"
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Delete specified files",
                example: "steps:\n  - action: fs:delete\n    id: deleteFiles\n    name: Delete files\n    input:\n      files:\n        - file1.txt\n        - file2.txt\n",
            },
            ActionExample {
                description: "Delete files with wildcard",
                example: "steps:\n  - action: fs:delete\n    id: deleteFiles\n    name: Delete files\n    input:\n      files:\n        - \"*.txt\"\n",
            },
            ActionExample {
                description: "Delete all files in workspace",
                example: "steps:\n  - action: fs:delete\n    id: deleteFiles\n    name: Delete files\n    input:\n      files:\n        - \"**\"\n",
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
        let root = ctx.workspace.root().to_path_buf();
        for pattern in &input.files {
            ctx.check_stop()?;
            // The pattern itself must stay inside the workspace before it is expanded.
            let safe = ctx.workspace.resolve(pattern)?;
            // `""` (an empty parameter) or `.` would remove the workspace directory itself.
            if safe == root {
                return Err(StepError::input(format!(
                    "Cannot delete the workspace itself ('{pattern}'); use '**' to delete every file in it"
                )));
            }
            if !is_glob(pattern) {
                match std::fs::symlink_metadata(&safe) {
                    Err(_) => continue,
                    // A link is removed itself, never what it points to.
                    Ok(metadata) if metadata.is_dir() => {
                        std::fs::remove_dir_all(&safe).map_err(|e| io_error(e, &safe))?
                    }
                    Ok(_) => std::fs::remove_file(&safe).map_err(|e| io_error(e, &safe))?,
                }
                ctx.info(&format!("File {} deleted successfully", safe.display()));
                continue;
            }
            let relative = safe.strip_prefix(&root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let patterns = glob_set(std::slice::from_ref(&relative))?;
            let entries = list_tree(&root).map_err(|e| io_error(e, &root))?;
            // Like globby's default, a glob deletes files (and links), not directories.
            for entry in entries.into_iter().filter(|e| e.kind != EntryKind::Directory && patterns.matches(&e.relative))
            {
                let path = ctx.workspace.resolve(&entry.relative)?;
                if std::fs::symlink_metadata(&path).is_ok() {
                    std::fs::remove_file(&path).map_err(|e| io_error(e, &path))?;
                    ctx.info(&format!("File {} deleted successfully", path.display()));
                }
            }
        }
        Ok(())
    }
}
