//! `debug:log`: writes a message into the log and/or lists the files of the workspace.

use std::path::Path;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::schema::schema_of;
use crate::workspace::resolve_safe_child_path;

/// Longest file content `listWorkspace: with-contents` prints, so a huge file cannot flood the log.
const MAX_LISTED_BYTES: usize = 1024 * 1024;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Input {
    /// Message to output.
    message: Option<String>,
    /// List all files in the workspace. If used with "with-contents", also the file contents are listed.
    list_workspace: Option<ListWorkspace>,
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
enum ListWorkspace {
    Flag(bool),
    Mode(ListMode),
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum ListMode {
    WithFilenames,
    WithContents,
}

pub(crate) struct DebugLog;

#[async_trait]
impl Action for DebugLog {
    fn id(&self) -> &'static str {
        "debug:log"
    }

    fn description(&self) -> &'static str {
        "Writes a message into the log and/or lists all files in the workspace."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Write a debug message",
                example: "steps:\n  - action: debug:log\n    id: write-debug-line\n    name: Write \"Hello Backstage!\" log line\n    input:\n      message: Hello Backstage!\n",
            },
            ActionExample {
                description: "List the workspace directory",
                example: "steps:\n  - action: debug:log\n    id: write-workspace-directory\n    name: List the workspace directory\n    input:\n      listWorkspace: true\n",
            },
            ActionExample {
                description: "List the workspace directory with file contents",
                example: "steps:\n  - action: debug:log\n    id: write-workspace-directory\n    name: List the workspace directory with file contents\n    input:\n      listWorkspace: with-contents\n",
            },
        ]
    }

    fn input_schema(&self) -> Value {
        schema_of::<Input>()
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::Read
    }

    fn supports_dry_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        ctx.info(&serde_json::to_string_pretty(&ctx.input).unwrap_or_default());
        if let Some(message) = input.message.as_deref().filter(|m| !m.is_empty()) {
            ctx.info(message);
        }
        let with_contents = match input.list_workspace {
            None | Some(ListWorkspace::Flag(false)) => return Ok(()),
            Some(ListWorkspace::Mode(ListMode::WithContents)) => true,
            Some(_) => false,
        };
        let root = ctx.workspace.root().to_path_buf();
        // Listing reads the disk: keep it off the async executor.
        let lines = tokio::task::spawn_blocking(move || list_workspace(&root, with_contents))
            .await
            .map_err(|e| StepError::error(format!("listing the workspace failed: {e}")))?;
        ctx.info(&format!("Workspace:\n{}", lines.join("\n")));
        Ok(())
    }
}

/// One line per file under `root`, sorted; symlinks are listed, never followed.
fn list_workspace(root: &Path, with_contents: bool) -> Vec<String> {
    let mut files = Vec::new();
    collect_files(root, root, &mut files);
    files.sort();
    files
        .iter()
        .map(|relative| {
            if !with_contents {
                return format!("  - {relative}");
            }
            // Contents are read through the containment check, so a link pointing outside the
            // workspace is skipped rather than followed.
            match resolve_safe_child_path(root, relative).ok().and_then(|path| read_prefix(&path)) {
                Some(content) => format!(" - {relative}:\n\n  {content}"),
                None => format!(" - {relative}: [skipped]"),
            }
        })
        .collect()
}

fn read_prefix(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.by_ref().take(MAX_LISTED_BYTES as u64 + 1).read_to_end(&mut bytes).ok()?;
    let truncated = bytes.len() > MAX_LISTED_BYTES;
    bytes.truncate(MAX_LISTED_BYTES);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if truncated {
        text.push_str("\n[truncated]");
    }
    Some(text)
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().into_owned());
        }
    }
}
