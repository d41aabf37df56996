//! `fs:rename`: moves files and directories within the workspace.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionExample, StepError};
use crate::files::io_error;
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// A list of file and directory names that will be renamed
    files: Vec<Rename>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Rename {
    /// The source location of the file to be renamed
    from: String,
    /// The destination of the new file
    to: String,
    /// Overwrite existing file or directory, default is false
    overwrite: Option<bool>,
}

pub(crate) struct FsRename;

#[async_trait]
impl Action for FsRename {
    fn id(&self) -> &'static str {
        "fs:rename"
    }

    fn description(&self) -> &'static str {
        "Renames files and directories within the workspace"
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Rename specified files ",
            example: "steps:\n  - action: fs:rename\n    id: renameFiles\n    name: Rename files\n    input:\n      files:\n        - from: file1.txt\n          to: file1Renamed.txt\n        - from: file2.txt\n          to: file2Renamed.txt\n        - from: file3.txt\n          to: file3Renamed.txt\n          overwrite: true\n",
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
        for file in &input.files {
            ctx.check_stop()?;
            if file.from.is_empty() || file.to.is_empty() {
                return Err(StepError::input("each file must have a from and to property"));
            }
            let from = ctx.workspace.resolve(&file.from)?;
            let to = ctx.workspace.resolve(&file.to)?;
            if std::fs::symlink_metadata(&from).is_err() {
                return Err(io_error(std::io::Error::from(std::io::ErrorKind::NotFound), &from));
            }
            if from == to {
                continue;
            }
            // Checked before anything is removed, as fs-extra does: an overwrite must not delete
            // what the move then refuses.
            if to.starts_with(&from) {
                return Err(StepError::error(format!(
                    "Cannot move '{}' to a subdirectory of itself, '{}'.",
                    from.display(),
                    to.display()
                )));
            }
            if let Ok(existing) = std::fs::symlink_metadata(&to) {
                if file.overwrite != Some(true) {
                    ctx.error(&format!("Failed to rename file {} to {}:", from.display(), to.display()));
                    return Err(StepError::error(format!(
                        "dest already exists. Renaming {} to {} needs overwrite: true",
                        file.from, file.to
                    )));
                }
                // Overwriting a directory that holds the source would delete the source with it.
                if from.starts_with(&to) {
                    return Err(StepError::input(format!(
                        "Cannot overwrite '{}' with '{}': it contains the source",
                        file.to, file.from
                    )));
                }
                if existing.is_dir() {
                    std::fs::remove_dir_all(&to).map_err(|e| io_error(e, &to))?;
                } else {
                    std::fs::remove_file(&to).map_err(|e| io_error(e, &to))?;
                }
            }
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_error(e, parent))?;
            }
            std::fs::rename(&from, &to).map_err(|e| io_error(e, &from))?;
            ctx.info(&format!("File {} renamed to {} successfully", from.display(), to.display()));
        }
        Ok(())
    }
}
