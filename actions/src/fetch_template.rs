//! `fetch:template`: fetches a skeleton directory, renders file contents and file and directory
//! names with the template's values, and writes the result into the workspace.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use templates::{RenderContext, RenderOptions, Renderer};

use crate::action::{Action, ActionContext, ActionExample, StepError};
use crate::fetch::Fetcher;
use crate::files::{EntryKind, Existing, TreeWriter, blocking, is_binary_bytes, link_stays_inside, list_tree};
use crate::schema::schema_of;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Input {
    /// Relative path or absolute URL pointing to the directory tree to fetch
    url: String,
    /// Target path within the working directory to download the contents to. Defaults to the working directory root.
    target_path: Option<String>,
    /// Values to pass on to the templating engine
    values: Option<Map<String, Value>>,
    /// An array of glob patterns. Any files or directories which match are copied without being processed as templates.
    copy_without_render: Option<Vec<String>>,
    /// An array of glob patterns. Contents of matched files or directories are copied without being processed, but paths are subject to rendering.
    copy_without_templating: Option<Vec<String>>,
    /// Enable features to maximise compatibility with templates built for fetch:cookiecutter
    cookiecutter_compat: Option<bool>,
    /// If set, only files with the given extension will be templated. If set to `true`, the default extension `.njk` is used.
    template_file_extension: Option<Extension>,
    /// If set, replace files in targetPath instead of skipping existing ones.
    replace: Option<bool>,
    /// If set, the first newline after a block is removed (block, not variable tag).
    trim_blocks: Option<bool>,
    /// If set, leading spaces and tabs are stripped from the start of a line to a block.
    lstrip_blocks: Option<bool>,
    /// An optional token to use for authentication when reading the resources.
    token: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
enum Extension {
    Name(String),
    Enabled(bool),
}

/// Options shared with `fetch:template:file`: how to render.
pub(crate) fn renderer_for(
    fetcher: &Fetcher,
    cookiecutter: bool,
    trim_blocks: bool,
    lstrip_blocks: bool,
    max_output: u64,
) -> Renderer {
    Renderer::with_options(&RenderOptions {
        integrations: fetcher.integrations().to_vec(),
        cookiecutter,
        trim_blocks,
        lstrip_blocks,
        max_output: max_output as usize,
    })
}

/// A skeleton render failure: Backstage reports these as `TemplateRenderError` (HTTP 500 in a
/// dry-run). Ours also name the file.
pub(crate) fn render_error(file: &str, error: templates::RenderError) -> StepError {
    StepError::new("TemplateRenderError", format!("{} (in {file})", error.message))
}

pub(crate) struct FetchTemplate {
    pub(crate) fetcher: Arc<Fetcher>,
}

#[async_trait]
impl Action for FetchTemplate {
    fn id(&self) -> &'static str {
        "fetch:template"
    }

    fn description(&self) -> &'static str {
        "Downloads a skeleton, templates variables into file and directory names and content, and places the result in the workspace, or optionally in a subdirectory specified by the `targetPath` input option."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![ActionExample {
            description: "Downloads a skeleton directory that lives alongside the template file and fill it out with values.",
            example: "steps:\n  - action: fetch:template\n    id: fetch-template\n    name: Fetch template\n    input:\n      url: ./skeleton\n      targetPath: ./target\n      values:\n        name: test-project\n        count: 1234\n        itemList:\n          - first\n          - second\n          - third\n        showDummyFile: false\n",
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
        if input.template_file_extension.as_ref().is_some_and(|e| !matches!(e, Extension::Enabled(false)))
            && (input.copy_without_templating.is_some() || input.cookiecutter_compat == Some(true))
        {
            return Err(StepError::input(
                "Fetch action input extension incompatible with copyWithoutTemplating and cookiecutterCompat",
            ));
        }
        let extension = match &input.template_file_extension {
            None | Some(Extension::Enabled(false)) => None,
            Some(Extension::Enabled(true)) => Some(".njk".to_owned()),
            Some(Extension::Name(name)) if name.is_empty() => None,
            Some(Extension::Name(name)) => Some(if name.starts_with('.') { name.clone() } else { format!(".{name}") }),
        };
        let output_dir = ctx.workspace.resolve(input.target_path.as_deref().unwrap_or("./"))?;
        if input.copy_without_render.is_some() {
            // Backstage ignores it too; saying so saves an author a puzzled afternoon.
            ctx.warn("copyWithoutRender is deprecated and ignored; use copyWithoutTemplating");
        }

        ctx.info("Fetching template content from remote URL");
        let source = self.fetcher.resolve(ctx.template_info.and_then(|t| t["baseUrl"].as_str()), &input.url)?;
        ctx.check_stop()?;
        // A skeleton in the template's own directory is read where it is; a remote one is
        // fetched into a scratch directory first. Either way, links that lead out of the
        // skeleton are skipped with a warning.
        let (template_dir, _scratch, entries) = match self.fetcher.local_tree(&source)? {
            Some(dir) => {
                let mut entries = blocking(|| list_tree(dir)).map_err(|e| crate::files::io_error(e, dir))?;
                entries.retain(|entry| {
                    let inside = entry.kind != EntryKind::Symlink || link_stays_inside(dir, &entry.relative);
                    if !inside {
                        ctx.warn(&format!(
                            "Skipping the symbolic link {}: it points outside the skeleton",
                            entry.relative
                        ));
                    }
                    inside
                });
                (dir.to_path_buf(), None, entries)
            }
            None => {
                let scratch = ctx.temporary_directory()?;
                let dir = scratch.path().join("template");
                let skipped = self.fetcher.fetch_tree(&source, &dir, ctx.budget, input.token.as_deref()).await?;
                for link in skipped {
                    ctx.warn(&format!("Skipping the symbolic link {link}: it points outside the skeleton"));
                }
                let entries = blocking(|| list_tree(&dir)).map_err(|e| crate::files::io_error(e, &dir))?;
                (dir, Some(scratch), entries)
            }
        };
        if output_dir.starts_with(&template_dir) {
            return Err(StepError::input("targetPath must not be within template path"));
        }

        ctx.info("Listing files and directories in template");
        let copy_only = glob_set(input.copy_without_templating.as_deref().unwrap_or_default())?;

        let values = Value::Object(input.values.clone().unwrap_or_default());
        ctx.info_with(&format!("Processing {} template files/directories with input values", entries.len()), &values);
        let cookiecutter = input.cookiecutter_compat == Some(true);
        let renderer = renderer_for(
            &self.fetcher,
            cookiecutter,
            input.trim_blocks == Some(true),
            input.lstrip_blocks == Some(true),
            ctx.budget.limits().max_render_bytes,
        );
        let context = RenderContext::new().with(if cookiecutter { "cookiecutter" } else { "values" }, values);
        let replace = input.replace == Some(true);
        let mut writer = TreeWriter::new(&output_dir);

        // Rendering and writing block: off the async executor's worker thread.
        blocking(|| {
            for entry in entries {
                ctx.check_stop()?;
                let location = entry.relative.as_str();
                let (render_contents, mut output_path) = match &extension {
                    Some(extension) => {
                        let matches = extname(location) == extension.as_str();
                        let stripped = if matches {
                            location[..location.len() - extension.len()].to_owned()
                        } else {
                            location.to_owned()
                        };
                        (matches, stripped)
                    }
                    None => (!copy_only.matches(location.trim_end_matches('/')), location.to_owned()),
                };
                // Paths are always rendered (names like `${{ values.name }}.md`).
                output_path = renderer.render_text(&output_path, &context).map_err(|e| render_error(location, e))?;
                if output_path.is_empty() || output_path.starts_with('/') || output_path.contains("//") {
                    continue;
                }
                let (target, existing) = writer.target(&output_path)?;
                if existing != Existing::Nothing && !replace {
                    if entry.kind == EntryKind::Directory {
                        writer.adopt_dir(&target);
                    }
                    continue;
                }
                if !render_contents && extension.is_none() {
                    ctx.info(&format!("Copying file/directory {location} without processing."));
                }
                let source_path = template_dir.join(location.trim_end_matches('/'));
                match entry.kind {
                    EntryKind::Directory => {
                        ctx.info(&format!("Writing directory {location} to template output path."));
                        writer.create_dir(&target)?;
                    }
                    EntryKind::Symlink => {
                        ctx.info(&format!(
                            "Copying file binary or symbolic link at {location}, to template output path."
                        ));
                        writer.link(&source_path, &target, existing, ctx.budget)?;
                        // The link was proven inside the skeleton where it was; a rendered name
                        // can put it at another depth, where the same relative target leads out.
                        if !link_stays_inside(&output_dir, &output_path) {
                            let _ = std::fs::remove_file(&target);
                            ctx.warn(&format!(
                                "Skipping the symbolic link {location}: written as {output_path} it would point outside the target directory"
                            ));
                        }
                    }
                    EntryKind::File => {
                        let file = Output { writer: &mut writer, target: &target, existing };
                        write_entry(ctx, &renderer, &context, location, &source_path, file, render_contents)?;
                    }
                }
            }
            Ok::<(), StepError>(())
        })?;
        ctx.info(&format!("Template result written to {}", output_dir.display()));
        Ok(())
    }
}

/// Where one file goes.
struct Output<'a> {
    writer: &'a mut TreeWriter,
    target: &'a Path,
    existing: Existing,
}

/// One skeleton file: binary files and files left untemplated are copied by the kernel; text is
/// read once (its first block tells binary from text), rendered and written.
fn write_entry(
    ctx: &ActionContext<'_>,
    renderer: &Renderer,
    context: &RenderContext,
    location: &str,
    source: &Path,
    output: Output<'_>,
    render_contents: bool,
) -> Result<(), StepError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let io = |e| crate::files::io_error(e, source);
    let mut file = std::fs::File::open(source).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    let mode = metadata.permissions().mode();
    let mut head = Vec::with_capacity(512);
    (&mut file).take(512).read_to_end(&mut head).map_err(io)?;
    if is_binary_bytes(&head) {
        ctx.info(&format!("Copying file binary or symbolic link at {location}, to template output path."));
        return output.writer.copy(source, output.target, output.existing, metadata.len(), ctx.budget);
    }
    ctx.info(&format!("Writing file {location} to template output path with mode {mode}."));
    if !render_contents {
        // Written as it is, byte for byte (Backstage writes the Buffer it read).
        return output.writer.copy(source, output.target, output.existing, metadata.len(), ctx.budget);
    }
    ctx.budget.check_room(metadata.len())?;
    let mut bytes = head;
    file.read_to_end(&mut bytes).map_err(io)?;
    // Read as UTF-8 like Node does: invalid sequences become U+FFFD.
    let text = String::from_utf8_lossy(&bytes);
    let contents = renderer.render_text(&text, context).map_err(|e| render_error(location, e))?;
    output.writer.write(output.target, output.existing, contents.as_bytes(), Some(mode), ctx.budget)
}

/// Node's `path.extname` of a `/`-separated path (trailing `/` ignored).
pub(crate) fn extname(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    match base.rfind('.') {
        Some(0) | None => "",
        Some(dot) => &base[dot..],
    }
}

/// globby-style patterns: matches a path if a positive pattern matches and no later `!pattern`
/// excludes it.
pub(crate) struct Patterns {
    include: GlobSet,
    exclude: GlobSet,
    empty: bool,
}

impl Patterns {
    pub(crate) fn matches(&self, path: &str) -> bool {
        !self.empty && self.include.is_match(path) && !self.exclude.is_match(path)
    }
}

pub(crate) fn glob_set(patterns: &[String]) -> Result<Patterns, StepError> {
    let mut include = GlobSetBuilder::new();
    let mut exclude = GlobSetBuilder::new();
    let mut any = false;
    for pattern in patterns {
        let (target, text) = match pattern.strip_prefix('!') {
            Some(negated) => (&mut exclude, negated),
            None => {
                any = true;
                (&mut include, pattern.as_str())
            }
        };
        let text = text.trim_start_matches("./");
        let glob = GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .map_err(|e| StepError::input(format!("Invalid glob pattern '{pattern}': {e}")))?;
        target.add(glob);
    }
    let build = |b: GlobSetBuilder| b.build().map_err(|e| StepError::input(format!("Invalid glob patterns: {e}")));
    Ok(Patterns { include: build(include)?, exclude: build(exclude)?, empty: !any })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extname_like_node() {
        assert_eq!(extname("a/b.njk"), ".njk");
        assert_eq!(extname("draft.njk.txt"), ".txt");
        assert_eq!(extname(".gitignore"), "");
        assert_eq!(extname("dir.njk/"), ".njk");
        assert_eq!(extname("noext"), "");
    }

    #[test]
    fn globby_patterns() {
        let p = glob_set(&["static/**".to_owned(), "*.png".to_owned(), "!static/keep.txt".to_owned()]).unwrap();
        assert!(p.matches("static/site.css"));
        assert!(p.matches("logo.png"));
        assert!(!p.matches("sub/logo.png"));
        assert!(!p.matches("static/keep.txt"));
        assert!(!glob_set(&[]).unwrap().matches("anything"));
        assert!(glob_set(&["[".to_owned()]).is_err());
    }
}
