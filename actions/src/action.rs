//! The [`Action`] trait and what an action sees while it runs.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::files::Budget;
use crate::redact::Redactor;
use crate::sink::{EventSink, TaskEvent, TaskEventKind};
use crate::stop::{StopReason, StopSignal};
use crate::workspace::{PathError, Workspace};

/// An example shown by `GET /v2/actions`.
#[derive(Clone, Copy, Debug)]
pub struct ActionExample {
    pub description: &'static str,
    /// A YAML snippet of steps using the action.
    pub example: &'static str,
}

/// How an action touches the task's workspace. In a step graph, two steps whose accesses conflict
/// (either writes, and the other reads or writes) never overlap: the later one in spec order waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceAccess {
    None,
    Read,
    Write,
}

impl WorkspaceAccess {
    pub fn conflicts_with(self, other: WorkspaceAccess) -> bool {
        use WorkspaceAccess::{None, Write};
        !(self == None || other == None) && (self == Write || other == Write)
    }
}

/// A built-in action. One implementation per file; the registry lists them.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    fn id(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn examples(&self) -> Vec<ActionExample> {
        Vec::new()
    }
    /// JSON Schema (draft-07) of the input, derived from the input type.
    fn input_schema(&self) -> Value;
    /// JSON Schema of the outputs, if the action declares them.
    fn output_schema(&self) -> Option<Value> {
        None
    }
    /// Whether the action runs for real in a dry-run (otherwise it is skipped with example
    /// outputs, as in Backstage).
    fn supports_dry_run(&self) -> bool {
        false
    }
    /// Whether the action's only effect is files in the workspace. A recovered run starts in an
    /// empty workspace (the previous attempt's went with its worker), so such a step runs again
    /// even when an earlier attempt completed it; a step with effects elsewhere is skipped and its
    /// saved outputs restored.
    fn only_builds_the_workspace(&self) -> bool {
        false
    }
    /// What the action does to the workspace (the safe assumption: it writes).
    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::Write
    }
    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError>;
}

/// A step failure: `name` is the JavaScript error name Backstage reports (`Error`, `InputError`,
/// `NotAllowedError`, `NotFoundError`, ...), which also decides a dry-run's HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    pub name: String,
    pub message: String,
}

impl StepError {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        StepError { name: name.to_owned(), message: message.into() }
    }

    /// A plain `Error`.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new("Error", message)
    }

    /// Bad input (HTTP 400 in a dry-run).
    pub fn input(message: impl Into<String>) -> Self {
        Self::new("InputError", message)
    }

    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new("NotAllowedError", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("NotFoundError", message)
    }

    /// What Backstage prints as the step's failure log line (`err.stack` without frames).
    pub fn stack(&self) -> String {
        format!("{}: {}", self.name, self.message)
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for StepError {}

impl From<PathError> for StepError {
    fn from(error: PathError) -> Self {
        match error {
            PathError::OutsideWorkspace(_) => StepError::not_allowed(error.to_string()),
            other => StepError::input(other.to_string()),
        }
    }
}

/// Writes an action's log lines as Backstage does (`<coloured level>: <message>`), redacted.
pub(crate) struct StepLogger<'a> {
    pub(crate) sink: &'a dyn EventSink,
    pub(crate) task_id: &'a str,
    pub(crate) step_id: &'a str,
    pub(crate) redactor: Redactor,
}

impl StepLogger<'_> {
    pub(crate) fn log(&self, level: &str, message: &str) {
        let colour = match level {
            "error" => "31",
            "warn" => "33",
            "debug" => "34",
            _ => "32",
        };
        let message = self.redactor.redact(message);
        tracing::debug!(task_id = self.task_id, step_id = self.step_id, level, "{message}");
        self.sink.emit(TaskEvent {
            kind: TaskEventKind::Log,
            body: serde_json::json!({
                "message": format!("\u{1b}[{colour}m{level}\u{1b}[39m: {message}"),
                "stepId": self.step_id,
            }),
        });
    }
}

/// Everything an action may use while it runs.
pub struct ActionContext<'a> {
    /// The rendered, validated input.
    pub input: Value,
    /// The workspace name: the task id (or `dry-run-<uuid>`).
    pub task_id: &'a str,
    pub step_id: &'a str,
    pub step_name: &'a str,
    pub workspace: &'a Workspace,
    pub secrets: &'a BTreeMap<String, String>,
    pub template_info: Option<&'a Value>,
    pub user: &'a Value,
    pub is_dry_run: bool,
    pub stop: &'a StopSignal,
    /// What this task may still write.
    pub budget: &'a Budget,
    pub(crate) logger: &'a StepLogger<'a>,
    pub(crate) outputs: &'a mut Map<String, Value>,
    /// Inside an `each` loop, outputs accumulate into arrays.
    pub(crate) each: bool,
    pub(crate) saved: &'a crate::runner::SavedState<'a>,
}

impl ActionContext<'_> {
    pub fn info(&self, message: &str) {
        self.logger.log("info", message);
    }

    /// A log line with metadata, as winston's `simple` format prints it: the message, then the
    /// metadata as JSON with sorted keys.
    pub fn info_with(&self, message: &str, meta: &Value) {
        match meta {
            Value::Object(map) if !map.is_empty() => {
                self.logger.log("info", &format!("{message} {}", stable_json(meta)))
            }
            _ => self.logger.log("info", message),
        }
    }

    /// A scratch directory beside the workspace, removed when the returned value is dropped.
    pub fn temporary_directory(&self) -> Result<tempfile::TempDir, StepError> {
        let parent = self.workspace.root().parent().unwrap_or(self.workspace.root());
        tempfile::Builder::new()
            .prefix(&format!("{}_step-{}-", self.task_id, self.step_id.replace('/', "_")))
            .tempdir_in(parent)
            .map_err(|e| StepError::error(format!("cannot create a temporary directory: {e}")))
    }

    pub fn warn(&self, message: &str) {
        self.logger.log("warn", message);
    }

    pub fn error(&self, message: &str) {
        self.logger.log("error", message);
    }

    /// Sets an output (appends to an array inside `each`, as Backstage does).
    pub fn output(&mut self, name: &str, value: Value) {
        if self.each {
            match self.outputs.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(value),
                other => *other = Value::Array(vec![value]),
            }
        } else {
            self.outputs.insert(name.to_owned(), value);
        }
    }

    /// Deserialises the input into the action's input type.
    pub fn input_as<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_json::from_value(self.input.clone()).map_err(|e| StepError::input(format!("Invalid input: {e}")))
    }

    /// What an earlier attempt of this step recorded under `key` (Backstage's checkpoints).
    pub async fn checkpoint_value(&self, key: &str) -> Option<Value> {
        self.saved.checkpoint(&self.checkpoint_key(key)).await
    }

    /// Records durably that the side effect `key` happened, with what a retry needs to go on
    /// from there; returns only once it is saved (or fails the step if it cannot be).
    pub async fn set_checkpoint(&self, key: &str, value: Value) -> Result<(), StepError> {
        self.saved.set_checkpoint(&self.checkpoint_key(key), value).await.map_err(|error| match error {
            crate::sink::SinkError::LeaseLost => StepError::error("this worker no longer holds the task"),
            crate::sink::SinkError::Unavailable(message) => {
                StepError::error(format!("could not record progress (checkpoint {key}): {message}"))
            }
        })
    }

    /// Runs `effect` once per task: a retry gets the recorded result instead of running it again.
    pub async fn checkpoint<T, F, Fut>(&self, key: &str, effect: F) -> Result<T, StepError>
    where
        T: serde::Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, StepError>>,
    {
        if let Some(recorded) = self.checkpoint_value(key).await
            && let Ok(value) = serde_json::from_value(recorded)
        {
            return Ok(value);
        }
        let value = effect().await?;
        let recorded = serde_json::to_value(&value).map_err(|e| StepError::error(e.to_string()))?;
        self.set_checkpoint(key, recorded).await?;
        Ok(value)
    }

    fn checkpoint_key(&self, key: &str) -> String {
        format!("v1.task.checkpoint.{}.{key}", self.step_id)
    }

    /// Call before every side effect: fails if the task was cancelled, taken away, timed out or
    /// if this worker is shutting down.
    pub fn check_stop(&self) -> Result<(), StepError> {
        match self.stop.reason() {
            None => Ok(()),
            Some(StopReason::Cancelled) => Err(StepError::error("the task was cancelled")),
            Some(StopReason::Shutdown) => Err(StepError::error("the worker is shutting down")),
            Some(StopReason::LeaseLost) => Err(StepError::error("this worker no longer holds the task")),
            Some(StopReason::TimedOut) => Err(StepError::error("the task ran out of time")),
        }
    }
}

/// JSON with object keys sorted at every level (winston's `safe-stable-stringify`).
pub(crate) fn stable_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    templates::js::stringify(&templates::js::from_json(&sorted(value)), 0).unwrap_or_default()
}
