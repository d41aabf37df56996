//! Dry-runs: a template run against uploaded files, with nothing kept. The API's
//! `POST /v2/dry-run` and the CLI's `scaffolder dry-run` both come here; the run itself is the
//! ordinary runner with a memory sink and `is_dry_run` set (actions that cannot dry-run are
//! skipped with example outputs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use templates::{TaskSpec, Template, UserInfo, build_task_spec};

use crate::action::StepError;
use crate::runner::{RunOutcome, Runner, Secrets, TaskRun, TaskState};
use crate::sink::{EventSink, MemorySink, SinkError, TaskEvent};
use crate::stop::StopSignal;
use crate::workspace::{Workspace, resolve_safe_child_path};

/// One uploaded file (paths relative to the template's directory, `/`-separated).
#[derive(Clone, Debug)]
pub struct DryRunFile {
    pub path: String,
    pub content: Vec<u8>,
    pub executable: bool,
}

/// Where the template's own files (skeletons, relative `url`s) come from.
#[derive(Clone, Debug)]
pub enum DryRunSource {
    /// Uploaded files, written to a directory of their own for the run (the API).
    Files(Vec<DryRunFile>),
    /// A template file on this machine; its directory is read in place (the CLI).
    TemplateFile(PathBuf),
}

/// Called with each event as it happens (the CLI prints progress with it).
pub type DryRunObserver = Arc<dyn Fn(&TaskEvent) + Send + Sync>;

pub struct DryRunRequest {
    pub template: Template,
    pub values: Value,
    pub secrets: Secrets,
    pub source: DryRunSource,
    /// Who runs it (`user.ref`, `user.entity` in templates).
    pub user: UserInfo,
    pub observer: Option<DryRunObserver>,
    /// The template's reference as steps see it (`templateInfo.entityRef`); Backstage's dry-run
    /// API always says `template:default/dry-run`.
    pub template_ref: String,
}

/// Backstage's dry-run answer.
#[derive(Clone, Debug)]
pub struct DryRunResult {
    /// `[{body: {message, stepId?, status?}}]`.
    pub log: Vec<Value>,
    /// The workspace after the run.
    pub files: Vec<DryRunFile>,
    pub output: Value,
    /// The normalised steps that ran.
    pub steps: Vec<Value>,
}

/// Runs `request` with workspaces under `working_directory`. A failing step fails the dry-run
/// (Backstage answers with the error alone). Its directories are gone when this returns.
pub async fn dry_run(
    runner: &Runner,
    working_directory: &Path,
    request: DryRunRequest,
) -> Result<DryRunResult, StepError> {
    let (result, leftovers) = dry_run_keeping_directories(runner, working_directory, request).await;
    let _ = tokio::task::spawn_blocking(move || drop(leftovers)).await;
    result
}

/// The directories of a finished dry-run; dropping this removes them (blocking: drop it off the
/// async executor). The API answers first and removes them afterwards: on ext4 mounted with
/// `discard`, unlinking files waits for the device, and the client need not wait with it.
pub struct DryRunLeftovers {
    _workspace: Option<Workspace>,
    _contents: Option<Contents>,
}

/// As [`dry_run`], but hands the run's directories back instead of removing them.
pub async fn dry_run_keeping_directories(
    runner: &Runner,
    working_directory: &Path,
    request: DryRunRequest,
) -> (Result<DryRunResult, StepError>, DryRunLeftovers) {
    let mut leftovers = DryRunLeftovers { _workspace: None, _contents: None };
    let result = run(runner, working_directory, request, &mut leftovers).await;
    (result, leftovers)
}

async fn run(
    runner: &Runner,
    working_directory: &Path,
    request: DryRunRequest,
    leftovers: &mut DryRunLeftovers,
) -> Result<DryRunResult, StepError> {
    let id = uuid::Uuid::new_v4();
    let base_url = match &request.source {
        DryRunSource::Files(files) => {
            let (parent, name, files) =
                (working_directory.to_path_buf(), format!("dry-run-content-{id}"), files.clone());
            let contents = tokio::task::spawn_blocking(move || Contents::write(&parent, &name, &files))
                .await
                .map_err(|e| StepError::error(e.to_string()))??;
            let base_url = format!("file://{}/template.yaml", contents.path.display());
            leftovers._contents = Some(contents);
            base_url
        }
        DryRunSource::TemplateFile(file) => format!("file://{}", file.display()),
    };
    let spec =
        build_task_spec(&request.template, &request.template_ref, Some(&base_url), &request.values, &request.user);
    let workspace_name = format!("dry-run-{id}");
    let directory = working_directory.to_path_buf();
    let workspace = tokio::task::spawn_blocking(move || Workspace::create(&directory, &workspace_name))
        .await
        .map_err(|e| StepError::error(e.to_string()))?
        .map_err(|e| StepError::error(format!("Could not create the dry-run workspace: {e}")))?;
    let root = workspace.root().to_path_buf();
    let workspace = &*leftovers._workspace.insert(workspace);
    let sink = ObservedSink { inner: MemorySink::new(), observer: request.observer.clone() };
    let stop = StopSignal::new();
    let task_id = format!("dry-run-{id}");
    let outcome = runner
        .run(TaskRun {
            task_id: &task_id,
            spec: &spec,
            secrets: &request.secrets,
            state: TaskState::default(),
            workspace,
            is_dry_run: true,
            sink: &sink,
            stop: &stop,
        })
        .await;
    match outcome {
        RunOutcome::Completed { output } => {
            let files = tokio::task::spawn_blocking(move || serialize_directory(&root))
                .await
                .map_err(|e| StepError::error(e.to_string()))??;
            Ok(DryRunResult {
                log: sink.inner.events().into_iter().map(|e| json!({"body": e.body})).collect(),
                files,
                output,
                steps: steps_of(&spec),
            })
        }
        RunOutcome::Failed { error } | RunOutcome::Cancelled { error } => Err(error),
        RunOutcome::Interrupted { .. } => Err(StepError::error("The dry-run was interrupted")),
    }
}

/// Keeps events in memory and shows each to the observer.
struct ObservedSink {
    inner: MemorySink,
    observer: Option<DryRunObserver>,
}

#[async_trait::async_trait]
impl EventSink for ObservedSink {
    fn emit(&self, event: TaskEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
        self.inner.emit(event);
    }

    async fn save_state(&self, state: &TaskState) -> Result<(), SinkError> {
        self.inner.save_state(state).await
    }
}

fn steps_of(spec: &TaskSpec) -> Vec<Value> {
    spec.as_value()["steps"].as_array().cloned().unwrap_or_default()
}

/// The uploaded files on disk, removed when dropped.
struct Contents {
    path: PathBuf,
}

impl Contents {
    fn write(parent: &Path, name: &str, files: &[DryRunFile]) -> Result<Contents, StepError> {
        let path = resolve_safe_child_path(parent, name)?;
        std::fs::create_dir_all(&path).map_err(|e| crate::files::io_error(e, &path))?;
        let contents = Contents { path };
        // Each uploaded path must stay inside the contents directory; the budget here is only the
        // writer's bookkeeping (the request's size was bounded where it was read).
        let mut writer = crate::files::TreeWriter::new(&contents.path);
        let unbounded = crate::files::Budget::new(crate::files::WorkspaceLimits {
            max_files: u64::MAX,
            max_bytes: u64::MAX,
            max_render_bytes: u64::MAX,
        });
        for file in files {
            let (target, existing) = writer.target(&file.path)?;
            writer.write(&target, existing, &file.content, None, &unbounded)?;
        }
        Ok(contents)
    }
}

impl Drop for Contents {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Backstage's `serializeDirectoryContents`: regular files (not under `.git`), with their
/// execute bit; links are left out unless they are broken (then their target text is the content).
pub fn serialize_directory(root: &Path) -> Result<Vec<DryRunFile>, StepError> {
    use std::os::unix::fs::PermissionsExt;
    let entries = crate::files::list_tree(root).map_err(|e| crate::files::io_error(e, root))?;
    let mut files = Vec::new();
    for entry in entries {
        if entry.relative == ".git/" || entry.relative.starts_with(".git/") {
            continue;
        }
        let path = root.join(&entry.relative);
        match entry.kind {
            crate::files::EntryKind::Directory => {}
            crate::files::EntryKind::File => {
                let metadata = std::fs::metadata(&path).map_err(|e| crate::files::io_error(e, &path))?;
                let content = std::fs::read(&path).map_err(|e| crate::files::io_error(e, &path))?;
                files.push(DryRunFile {
                    path: entry.relative,
                    content,
                    executable: metadata.permissions().mode() & 0o111 != 0,
                });
            }
            crate::files::EntryKind::Symlink => {
                if std::fs::metadata(&path).is_err() {
                    let target = std::fs::read_link(&path).map_err(|e| crate::files::io_error(e, &path))?;
                    files.push(DryRunFile {
                        path: entry.relative,
                        content: target.to_string_lossy().as_bytes().to_vec(),
                        executable: true,
                    });
                }
            }
        }
    }
    Ok(files)
}
