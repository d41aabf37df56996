//! The runner: executes a task's steps with Backstage's semantics and events: in spec order, or
//! as a graph when the template opts in (`plan` decides what waits for what).
//!
//! Per step: `Beginning step`, `if`, `each`, render the input (secrets in scope), validate every
//! iteration's input against the action's schema before the first one runs, run the action,
//! `Finished step`. After a failure no new step starts except those whose `if` calls `always()`
//! or `failure()`; steps already running finish. A step's `timeout` (extension) fails it.
//! Finally `spec.output` is rendered (without secrets). The caller writes the completion event
//! from the [`RunOutcome`], because how a run ends (completion, hand-back) is the caller's write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use templates::{RenderContext, Renderer, TaskSpec, TaskStep};
use tracing::Instrument;

use crate::action::{ActionContext, StepError, StepLogger};
use crate::files::{Budget, WorkspaceLimits};
use crate::plan;
use crate::redact::Redactor;
use crate::registry::Registry;
use crate::sink::{EventSink, SinkError, TaskEvent, TaskEventKind};
use crate::stop::{StopReason, StopSignal};
use crate::workspace::Workspace;

pub type Secrets = BTreeMap<String, String>;

/// Backstage's message for a task that ran past its timeout.
const TIMED_OUT_MESSAGE: &str = "This task was marked as stale as it exceeded its timeout";

/// What earlier attempts of a task finished: completed steps (with outputs) and checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    #[serde(default)]
    pub steps: BTreeMap<String, StepState>,
    #[serde(default)]
    pub checkpoints: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub status: String,
    #[serde(default)]
    pub output: Value,
}

impl TaskState {
    pub fn from_json(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("task state serialises")
    }
}

/// `scaffolder.defaultEnvironment`: values every template can read as `environment.*`.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub parameters: Map<String, Value>,
    pub secrets: Secrets,
}

#[derive(Clone, Debug, Default)]
pub struct RunnerConfig {
    /// Resume after the steps a previous attempt completed (`scaffolder.taskRecovery.enabled`).
    pub recovery_enabled: bool,
    pub environment: Environment,
    /// `scaffolder.workspaceLimits`.
    pub limits: WorkspaceLimits,
    /// Hosts `parseRepoUrl` accepts in step inputs (Backstage's defaults when empty).
    pub integrations: Vec<templates::Integration>,
}

/// One execution of a task.
pub struct TaskRun<'a> {
    /// The task id, or `dry-run-<uuid>`; also the workspace's name.
    pub task_id: &'a str,
    pub spec: &'a TaskSpec,
    pub secrets: &'a Secrets,
    /// What earlier attempts saved.
    pub state: TaskState,
    pub workspace: &'a Workspace,
    pub is_dry_run: bool,
    pub sink: &'a dyn EventSink,
    pub stop: &'a StopSignal,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum RunOutcome {
    Completed {
        output: Value,
    },
    Failed {
        error: StepError,
    },
    Cancelled {
        error: StepError,
    },
    /// Stopped without an ending: handed back (shutdown) or taken away (lost lease).
    Interrupted {
        reason: StopReason,
    },
}

impl RunOutcome {
    /// The task status and the body of the `completion` event, as Backstage writes them; `None`
    /// for an interrupted run, which does not end the task.
    pub fn completion(&self) -> Option<(&'static str, Value)> {
        match self {
            RunOutcome::Completed { output } => {
                Some(("completed", json!({"message": "Run completed with status: completed", "output": output})))
            }
            RunOutcome::Failed { error } => Some((
                "failed",
                json!({"message": "Run completed with status: failed", "error": {"name": error.name, "message": error.message}}),
            )),
            RunOutcome::Cancelled { error } => Some((
                "cancelled",
                json!({"message": "Run completed with status: cancelled", "error": {"name": error.name, "message": error.message}}),
            )),
            RunOutcome::Interrupted { .. } => None,
        }
    }
}

/// The task's saved state, shared by the runner (completed steps) and the actions (checkpoints).
/// Every change is saved durably before the caller goes on, one save at a time, so that a later
/// save never carries less than an earlier one. Dry-runs keep it in memory only.
pub(crate) struct SavedState<'a> {
    state: tokio::sync::Mutex<TaskState>,
    sink: &'a dyn EventSink,
    persist: bool,
    /// Known secrets never reach the saved row.
    redactor: Redactor,
    /// Known secrets and every transformed form a step has revealed so far: a later step must
    /// not show what an earlier one wrote (a file listed with its contents, an output).
    learned: std::sync::Mutex<Redactor>,
}

impl SavedState<'_> {
    pub(crate) async fn update(&self, change: impl FnOnce(&mut TaskState)) -> Result<(), SinkError> {
        let mut state = self.state.lock().await;
        change(&mut state);
        if self.persist { self.sink.save_state(&state).await } else { Ok(()) }
    }

    pub(crate) async fn checkpoint(&self, key: &str) -> Option<Value> {
        self.state.lock().await.checkpoints.get(key).cloned()
    }

    pub(crate) async fn set_checkpoint(&self, key: &str, value: Value) -> Result<(), SinkError> {
        let value = self.redactor.redact_value(&value);
        self.update(|state| _ = state.checkpoints.insert(key.to_owned(), value)).await
    }
}

enum StepResult {
    Done(Map<String, Value>),
    /// Skipped in a dry-run with example outputs.
    DryRunSkipped(Map<String, Value>),
    SkippedByCondition,
    Failed(StepError),
    Stopped(StopReason),
}

pub struct Runner {
    registry: Arc<Registry>,
    renderer: Renderer,
    config: RunnerConfig,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("registry", &self.registry).finish_non_exhaustive()
    }
}

struct Iteration {
    each: Option<Value>,
    should_run: bool,
    input: Value,
}

impl Runner {
    pub fn new(registry: Arc<Registry>, config: RunnerConfig) -> Self {
        let integrations = if config.integrations.is_empty() {
            templates::Integration::defaults()
        } else {
            config.integrations.clone()
        };
        let renderer = Renderer::with_options(&templates::RenderOptions {
            integrations,
            max_output: config.limits.max_render_bytes as usize,
            ..templates::RenderOptions::default()
        });
        Runner { registry, renderer, config }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Whether the steps can be ordered at all (a graph without cycles), before anything runs.
    pub fn check(&self, spec: &TaskSpec) -> Result<(), StepError> {
        plan::plan(&spec.steps(), spec.runs_as_graph(), &self.registry).map(|_| ())
    }

    pub async fn run(&self, run: TaskRun<'_>) -> RunOutcome {
        let template = run.spec.template_info().and_then(|t| t["entityRef"].as_str()).unwrap_or_default().to_owned();
        let span = tracing::info_span!("task", task_id = run.task_id, template = %template);
        let started = Instant::now();
        let outcome = self.run_steps(&run).instrument(span).await;
        let result = match &outcome {
            RunOutcome::Completed { .. } => "ok",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Cancelled { .. } => "cancelled",
            RunOutcome::Interrupted { .. } => "interrupted",
        };
        if !run.is_dry_run {
            metrics::counter!("scaffolder_task_count", "template" => template.clone(), "result" => result).increment(1);
            metrics::histogram!("scaffolder_task_duration", "template" => template, "result" => result)
                .record(started.elapsed().as_secs_f64());
        }
        outcome
    }

    async fn run_steps(&self, run: &TaskRun<'_>) -> RunOutcome {
        let steps = run.spec.steps();
        let budget = Budget::new(self.config.limits);
        emit(run.sink, TaskEventKind::Log, json!({"message": format!("Starting up task with {} steps", steps.len())}));
        let plan = match plan::plan(&steps, run.spec.runs_as_graph(), &self.registry) {
            Ok(plan) => plan,
            Err(error) => return RunOutcome::Failed { error },
        };

        let mut context = RenderContext::new()
            .with("parameters", run.spec.parameters())
            .with("environment", json!({"parameters": self.config.environment.parameters, "secrets": {}}))
            .with("steps", json!({}))
            .with("user", run.spec.user())
            .with("context", json!({"task": {"id": run.task_id}}));
        let state = run.state.clone();
        let completed_before: Vec<String> = if self.config.recovery_enabled {
            state.steps.iter().filter(|(_, s)| s.status == "completed").map(|(id, _)| id.clone()).collect()
        } else {
            Vec::new()
        };
        if !completed_before.is_empty() {
            emit(
                run.sink,
                TaskEventKind::Log,
                json!({"message": format!("Task recovered - resuming from last known good state. {} step(s) already completed.", completed_before.len())}),
            );
        }

        // Known secret values never reach a stored row: not in saved step outputs, not in the
        // task's output (rendered without secrets, but step outputs may carry them).
        let secret_values =
            Redactor::new(run.secrets.values().chain(self.config.environment.secrets.values()).map(String::as_str));
        let saved = SavedState {
            state: tokio::sync::Mutex::new(state),
            sink: run.sink,
            persist: !run.is_dry_run,
            redactor: secret_values.clone(),
            learned: std::sync::Mutex::new(secret_values.clone()),
        };
        let template = run.spec.template_info().and_then(|t| t["entityRef"].as_str()).unwrap_or_default().to_owned();
        let mut step_outputs = Map::new();
        let mut first_error: Option<StepError> = None;
        let mut cancelled = false;
        // After a cancel or a timeout not even `always()` steps start.
        let mut stopped = false;
        let mut interrupt: Option<StopReason> = None;
        let mut started = vec![false; steps.len()];
        let mut settled = vec![false; steps.len()];
        let mut running = FuturesUnordered::new();
        loop {
            // Start (or settle without running) every step whose predecessors have settled.
            let mut progressed = interrupt.is_none();
            while progressed {
                progressed = false;
                for (index, step) in steps.iter().enumerate() {
                    if started[index] || !plan.waits_for[index].iter().all(|&j| settled[j]) || interrupt.is_some() {
                        continue;
                    }
                    started[index] = true;
                    let rebuilds = self.registry.get(step.action()).is_some_and(|a| a.only_builds_the_workspace());
                    if let Some(output) = completed_before
                        .contains(&step.id().to_owned())
                        .then(|| run.state.steps.get(step.id()).map(|s| s.output.clone()))
                        .flatten()
                        .filter(|_| !rebuilds)
                    {
                        step_outputs.insert(step.id().to_owned(), json!({"output": output}));
                        context.set("steps", Value::Object(step_outputs.clone()));
                        emit_step(
                            run.sink,
                            step,
                            &format!("Skipping step {} because it was already completed in a previous run", step.id()),
                            "completed",
                        );
                        settled[index] = true;
                        progressed = true;
                        continue;
                    }
                    if let Some(reason @ (StopReason::Shutdown | StopReason::LeaseLost)) = run.stop.reason() {
                        interrupt = Some(reason);
                        break;
                    }
                    if first_error.is_some() && (stopped || !self.runs_after_failure(step, &context)) {
                        emit_step(
                            run.sink,
                            step,
                            &format!("Skipping step {} because a previous step failed", step.id()),
                            "skipped",
                        );
                        settled[index] = true;
                        progressed = true;
                        continue;
                    }
                    let status_context = context.clone().with_status_checks(first_error.is_some());
                    let budget = &budget;
                    let saved = &saved;
                    running.push(async move {
                        let began = Instant::now();
                        let span = tracing::info_span!(
                            "step",
                            task_id = run.task_id,
                            step_id = step.id(),
                            action = step.action()
                        );
                        let result =
                            self.execute_step_in_time(run, step, &status_context, budget, saved).instrument(span).await;
                        (index, began, result)
                    });
                }
            }
            let Some((index, began, result)) = running.next().await else { break };
            settled[index] = true;
            let step = &steps[index];
            let label = match &result {
                StepResult::Done(_) => "ok",
                StepResult::DryRunSkipped(_) | StepResult::SkippedByCondition => "skipped",
                StepResult::Failed(_) => "failed",
                StepResult::Stopped(_) => "cancelled",
            };
            if !run.is_dry_run {
                metrics::counter!("scaffolder_step_count", "template" => template.clone(), "step" => step.name().to_owned(), "result" => label).increment(1);
                metrics::histogram!("scaffolder_step_duration", "template" => template.clone(), "step" => step.name().to_owned(), "result" => label)
                    .record(began.elapsed().as_secs_f64());
            }
            match result {
                StepResult::Done(output) => {
                    step_outputs.insert(step.id().to_owned(), json!({"output": output}));
                    context.set("steps", Value::Object(step_outputs.clone()));
                    if self.config.recovery_enabled && !run.is_dry_run {
                        let completed = StepState {
                            status: "completed".to_owned(),
                            output: secret_values.redact_value(&Value::Object(output)),
                        };
                        let id = step.id().to_owned();
                        match saved.update(|state| _ = state.steps.insert(id, completed)).await {
                            Ok(()) => {}
                            Err(SinkError::LeaseLost) => {
                                interrupt.get_or_insert(StopReason::LeaseLost);
                                continue;
                            }
                            Err(SinkError::Unavailable(message)) => {
                                tracing::warn!(task_id = run.task_id, %message, "could not save step state; a recovery will re-run the step");
                            }
                        }
                    }
                    emit_step(run.sink, step, &format!("Finished step {}", step.name()), "completed");
                }
                StepResult::DryRunSkipped(output) => {
                    step_outputs.insert(step.id().to_owned(), json!({"output": output}));
                    context.set("steps", Value::Object(step_outputs.clone()));
                }
                StepResult::SkippedByCondition => {
                    emit_step(
                        run.sink,
                        step,
                        &format!("Skipping step {} because its if condition was false", step.id()),
                        "skipped",
                    );
                }
                StepResult::Failed(error) => {
                    emit_step(run.sink, step, &error.stack(), "failed");
                    if first_error.is_some() {
                        emit_step(
                            run.sink,
                            step,
                            &format!("Additional error occurred: {}\n{}", error.message, error.stack()),
                            "failed",
                        );
                    } else {
                        first_error = Some(error);
                    }
                }
                StepResult::Stopped(reason) => match reason {
                    StopReason::Shutdown | StopReason::LeaseLost => {
                        interrupt.get_or_insert(reason);
                    }
                    StopReason::Cancelled => {
                        emit(
                            run.sink,
                            TaskEventKind::Cancelled,
                            json!({"message": format!("Step {} has been cancelled.", step.id()), "stepId": step.id(), "status": "cancelled"}),
                        );
                        let error = StepError::error(format!(
                            "Step {} ({}) of task {} has been cancelled.",
                            step.id(),
                            step.name(),
                            run.task_id
                        ));
                        emit_step(run.sink, step, &error.stack(), "failed");
                        first_error.get_or_insert(error);
                        cancelled = true;
                        stopped = true;
                    }
                    StopReason::TimedOut => {
                        let error = StepError::error(TIMED_OUT_MESSAGE);
                        emit_step(run.sink, step, TIMED_OUT_MESSAGE, "failed");
                        first_error.get_or_insert(error);
                        stopped = true;
                    }
                },
            }
        }
        if let Some(reason) = interrupt {
            return self.interrupted(run, reason);
        }
        if let Some(error) = first_error {
            return if cancelled { RunOutcome::Cancelled { error } } else { RunOutcome::Failed { error } };
        }
        if let Some(reason @ (StopReason::Shutdown | StopReason::LeaseLost)) = run.stop.reason() {
            return self.interrupted(run, reason);
        }
        let (output, problems) = self.render_output(run.spec, &context.with_status_checks(false));
        for problem in problems {
            let message = secret_values.redact(&problem.to_string());
            emit(run.sink, TaskEventKind::Log, json!({"message": format!("\u{1b}[33mwarn\u{1b}[39m: {message}")}));
        }
        let output = saved.learned.lock().expect("redactions").redact_value(&output);
        RunOutcome::Completed { output }
    }

    /// A step within its own `timeout` (extension), when it has one.
    async fn execute_step_in_time(
        &self,
        run: &TaskRun<'_>,
        step: &TaskStep,
        context: &RenderContext,
        budget: &Budget,
        saved: &SavedState<'_>,
    ) -> StepResult {
        let Some(limit) = step.timeout() else {
            return self.execute_step(run, step, context, budget, saved).await;
        };
        match tokio::time::timeout(limit, self.execute_step(run, step, context, budget, saved)).await {
            Ok(result) => result,
            Err(_) => StepResult::Failed(StepError::new(
                "TimeoutError",
                format!("Step {} ({}) did not finish within its timeout of {}", step.id(), step.name(), human(limit)),
            )),
        }
    }

    fn interrupted(&self, run: &TaskRun<'_>, reason: StopReason) -> RunOutcome {
        if reason == StopReason::Shutdown {
            emit(
                run.sink,
                TaskEventKind::Log,
                json!({"message": "The worker running this task is shutting down; the task will resume on another worker"}),
            );
        }
        RunOutcome::Interrupted { reason }
    }

    /// After a failure, a step runs only if its `if` is an expression that calls `always()` or
    /// `failure()` (its truth is then checked like any other condition).
    fn runs_after_failure(&self, step: &TaskStep, context: &RenderContext) -> bool {
        let Some(Value::String(condition)) = step.condition() else {
            return false;
        };
        let checks = context.clone().with_status_checks(true);
        let _ = self.renderer.render_string(condition, &checks);
        checks.take_status_check_invoked()
    }

    async fn execute_step(
        &self,
        run: &TaskRun<'_>,
        step: &TaskStep,
        context: &RenderContext,
        budget: &Budget,
        saved: &SavedState<'_>,
    ) -> StepResult {
        emit_step(run.sink, step, &format!("Beginning step {}", step.name()), "processing");
        if let Some(reason) = run.stop.reason() {
            return StepResult::Stopped(reason);
        }
        match step.condition() {
            Some(Value::Bool(false)) => return StepResult::SkippedByCondition,
            Some(Value::String(condition)) if step.each().is_none() => {
                let (rendered, problems) =
                    self.renderer.render_value_checked(&Value::String(condition.clone()), context, "if");
                if !problems.is_empty() {
                    let redactor = Redactor::new(
                        run.secrets.values().chain(self.config.environment.secrets.values()).map(String::as_str),
                    );
                    let logger = StepLogger { sink: run.sink, task_id: run.task_id, step_id: step.id(), redactor };
                    for problem in problems {
                        logger.log("warn", &problem.to_string());
                    }
                }
                if !is_truthy(rendered.as_ref()) {
                    return StepResult::SkippedByCondition;
                }
            }
            _ => {}
        }
        let Some(action) = self.registry.get(step.action()).cloned() else {
            return StepResult::Failed(StepError::not_found(format!(
                "Template action with ID '{}' is not registered. See https://backstage.io/docs/features/software-templates/builtin-actions/ on how to add a new action module.",
                step.action()
            )));
        };

        let mut redactor = saved.learned.lock().expect("redactions").clone();
        let environment_secrets = if run.is_dry_run { Secrets::new() } else { self.config.environment.secrets.clone() };
        let with_secrets = context.clone().with("secrets", json!(run.secrets)).with(
            "environment",
            json!({"parameters": self.config.environment.parameters, "secrets": environment_secrets}),
        );
        let without_secrets = context
            .clone()
            .with("secrets", json!({}))
            .with("environment", json!({"parameters": self.config.environment.parameters, "secrets": {}}));
        let has_secrets = !run.secrets.is_empty() || !environment_secrets.is_empty();

        if run.is_dry_run {
            let masked: Secrets = run.secrets.keys().map(|k| (k.clone(), "***".to_owned())).collect();
            let masked_environment: Secrets =
                self.config.environment.secrets.keys().map(|k| (k.clone(), "***".to_owned())).collect();
            let dry_context = context.clone().with("secrets", json!(masked)).with(
                "environment",
                json!({"parameters": self.config.environment.parameters, "secrets": masked_environment}),
            );
            let debug_input = step
                .input()
                .and_then(|input| self.renderer.render_value(input, &dry_context))
                .unwrap_or_else(|| json!({}));
            let logger =
                StepLogger { sink: run.sink, task_id: run.task_id, step_id: step.id(), redactor: redactor.clone() };
            logger.log(
                "info",
                &format!(
                    "Running {} in dry-run mode with inputs (secrets redacted): {}",
                    action.id(),
                    serde_json::to_string_pretty(&debug_input).unwrap_or_default()
                ),
            );
            if !action.supports_dry_run() {
                emit_step(
                    run.sink,
                    step,
                    &format!("Skipping because {} does not support dry-run", action.id()),
                    "skipped",
                );
                let output = action.output_schema().map(|schema| example_output(&schema));
                return StepResult::DryRunSkipped(match output {
                    Some(Value::Object(map)) => map,
                    _ => Map::new(),
                });
            }
        }

        // `each`: rendered once, with secrets in scope.
        let each_items: Option<Vec<(String, Value)>> = match step.each() {
            None => None,
            Some(each) => {
                let resolved = self.renderer.render_value(each, &with_secrets);
                let items = match resolved {
                    None => {
                        return StepResult::Failed(StepError::input(format!(
                            "Invalid value on action {}.each parameter, \"{}\" cannot be resolved to a value",
                            action.id(),
                            js_string(each)
                        )));
                    }
                    Some(Value::Array(items)) => {
                        items.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect::<Vec<_>>()
                    }
                    Some(Value::Object(map)) => map.into_iter().collect(),
                    Some(_) => {
                        return StepResult::Failed(StepError::input(format!(
                            "Invalid value on action {}.each parameter, must resolve to an array or object",
                            action.id()
                        )));
                    }
                };
                if has_secrets {
                    match self.renderer.render_value(each, &without_secrets) {
                        Some(plain) => {
                            redactor.add_differences(&each_value_list(&items), &plain_each_list(&items, &plain))
                        }
                        None => redactor.add_all_strings(&each_value_list(&items)),
                    }
                }
                Some(items)
            }
        };

        // Rendering blocks (up to `each`'s 100,000 iterations, each bounded by the renderer's fuel):
        // off the async executor, so that the server answers meanwhile, and stopped early by a
        // cancel, a timeout, or a render that hit a limit (runaway templates fail the step instead
        // of being passed on as written, iteration after iteration).
        let mut iterations = Vec::new();
        let mut problems: Vec<templates::RenderProblem> = Vec::new();
        crate::files::blocking(|| {
            // One allowance for every iteration: the rendered inputs are all kept until they run.
            let _budget = templates::RenderBudget::enter(self.config.limits.max_render_bytes as usize);
            for item in each_items.map(|items| items.into_iter().map(Some).collect()).unwrap_or_else(|| vec![None]) {
                if run.stop.is_stopped() || problems.iter().any(|p| p.limit) {
                    break;
                }
                let each_value = item.map(|(key, value)| json!({"key": key, "value": value}));
                let iteration_context = match &each_value {
                    Some(each) => with_secrets.clone().with("each", each.clone()),
                    None => with_secrets.clone(),
                };
                let should_run = match (&each_value, step.condition()) {
                    (Some(_), Some(condition)) => {
                        is_truthy(self.renderer.render_value(condition, &iteration_context).as_ref())
                    }
                    _ => true,
                };
                let input = match step.input() {
                    Some(raw) if should_run => {
                        let (rendered, found) = self.renderer.render_value_checked(raw, &iteration_context, "input");
                        for problem in found {
                            if !problems.contains(&problem) {
                                problems.push(problem);
                            }
                        }
                        rendered
                    }
                    Some(raw) => self.renderer.render_value(raw, &iteration_context),
                    None => None,
                }
                .unwrap_or_else(|| json!({}));
                if should_run && has_secrets && step.input().is_some() {
                    let plain_context = match &each_value {
                        Some(each) => without_secrets.clone().with("each", each.clone()),
                        None => without_secrets.clone(),
                    };
                    match step.input().and_then(|raw| self.renderer.render_value(raw, &plain_context)) {
                        Some(plain) => redactor.add_differences(&input, &plain),
                        None => redactor.add_all_strings(&input),
                    }
                }
                iterations.push(Iteration { each: each_value, should_run, input });
            }
        });
        if let Some(reason) = run.stop.reason() {
            return StepResult::Stopped(reason);
        }
        saved.learned.lock().expect("redactions").absorb(&redactor);
        if let Some(problem) = problems.iter().find(|p| p.limit) {
            return StepResult::Failed(StepError::new(
                "TemplateRenderError",
                redactor.redact(&format!("{} could not be rendered: {}", problem.path, problem.message)),
            ));
        }
        let logger = StepLogger { sink: run.sink, task_id: run.task_id, step_id: step.id(), redactor };
        // Backstage passes such strings on silently; the author at least hears about it.
        for problem in &problems {
            logger.log("warn", &problem.to_string());
        }
        // Every iteration that will run is validated before the first one runs.
        for iteration in iterations.iter().filter(|i| i.should_run) {
            if let Err(errors) = self.registry.validate_input(action.id(), &iteration.input) {
                let key = iteration
                    .each
                    .as_ref()
                    .map(|each| format!("[{}]", each["key"].as_str().unwrap_or_default()))
                    .unwrap_or_default();
                return StepResult::Failed(StepError::input(logger.redactor.redact(&format!(
                    "Invalid input passed to action {}{key}, {}",
                    action.id(),
                    errors.join(", ")
                ))));
            }
        }

        let user = run.spec.user();
        let mut outputs = Map::new();
        for iteration in iterations {
            if let Some(reason) = run.stop.reason() {
                return StepResult::Stopped(reason);
            }
            if let Some(each) = &iteration.each {
                let verb = if iteration.should_run { "Running" } else { "Skipping" };
                logger.log("info", &format!("{verb} step each: {}", each_log_value(each)));
                if !iteration.should_run {
                    continue;
                }
            }
            let mut ctx = ActionContext {
                input: iteration.input,
                task_id: run.task_id,
                step_id: step.id(),
                step_name: step.name(),
                workspace: run.workspace,
                secrets: run.secrets,
                template_info: run.spec.template_info(),
                user: &user,
                is_dry_run: run.is_dry_run,
                stop: run.stop,
                budget,
                logger: &logger,
                outputs: &mut outputs,
                each: iteration.each.is_some(),
                saved,
            };
            let action_span = tracing::info_span!("action", task_id = run.task_id, action = action.id());
            if let Err(error) = action.run(&mut ctx).instrument(action_span).await {
                // A failure caused by a stop is reported as the stop.
                if let Some(reason) = run.stop.reason() {
                    return StepResult::Stopped(reason);
                }
                return StepResult::Failed(StepError {
                    name: error.name,
                    message: logger.redactor.redact(&error.message),
                });
            }
        }
        if let Some(reason) = run.stop.reason() {
            return StepResult::Stopped(reason);
        }
        StepResult::Done(outputs)
    }

    /// `spec.output`, rendered without secrets; `links`/`text` items whose `if` is false dropped.
    fn render_output(&self, spec: &TaskSpec, context: &RenderContext) -> (Value, Vec<templates::RenderProblem>) {
        let (output, problems) = self.renderer.render_value_checked(&spec.output(), context, "output");
        let mut output = output.unwrap_or_else(|| json!({}));
        if let Value::Object(map) = &mut output {
            for key in ["links", "text"] {
                if let Some(Value::Array(items)) = map.get_mut(key) {
                    items.retain(|item| match item.get("if") {
                        Some(condition) if item.is_object() => is_truthy(Some(condition)),
                        _ => true,
                    });
                    for item in items.iter_mut() {
                        if let Value::Object(fields) = item {
                            fields.shift_remove("if");
                        }
                    }
                }
            }
        }
        (output, problems)
    }
}

/// `1h 2m 3s`, `250ms`.
fn human(duration: std::time::Duration) -> String {
    let total = duration.as_secs();
    if total == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let parts: Vec<String> = [(hours, "h"), (minutes, "m"), (seconds, "s")]
        .iter()
        .filter(|(amount, _)| *amount > 0)
        .map(|(amount, unit)| format!("{amount}{unit}"))
        .collect();
    parts.join(" ")
}

fn emit(sink: &dyn EventSink, kind: TaskEventKind, body: Value) {
    sink.emit(TaskEvent { kind, body });
}

fn emit_step(sink: &dyn EventSink, step: &TaskStep, message: &str, status: &str) {
    emit(sink, TaskEventKind::Log, json!({"message": message, "stepId": step.id(), "status": status}));
}

/// Backstage's `isTruthy`: JavaScript truthiness, except that an empty array is false.
fn is_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(_)) => true,
    }
}

/// How JavaScript prints a value inside a template literal.
fn js_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        other => other.to_string(),
    }
}

fn each_value_list(items: &[(String, Value)]) -> Value {
    Value::Array(items.iter().map(|(k, v)| json!([k, v])).collect())
}

/// The secret-free rendering of `each`, aligned with `items` for comparison.
fn plain_each_list(items: &[(String, Value)], plain: &Value) -> Value {
    Value::Array(
        items
            .iter()
            .enumerate()
            .map(|(i, (key, _))| match plain {
                Value::Array(values) => json!([key, values.get(i).cloned().unwrap_or(Value::Null)]),
                Value::Object(map) => json!([key, map.get(key).cloned().unwrap_or(Value::Null)]),
                _ => Value::Null,
            })
            .collect(),
    )
}

/// `JSON.stringify(each)` with nested values stringified, as Backstage logs iterations.
fn each_log_value(each: &Value) -> String {
    let mut out = Map::new();
    if let Value::Object(map) = each {
        for (key, value) in map {
            let printed = match value {
                Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => value.clone(),
                other => Value::String(other.to_string()),
            };
            out.insert(key.clone(), printed);
        }
    }
    Value::Object(out).to_string()
}

/// Example outputs for an action skipped in a dry-run, derived from its output schema.
pub(crate) fn example_output(schema: &Value) -> Value {
    if let Some(example) = schema.get("examples").and_then(|e| e.get(0)) {
        return example.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|properties| properties.iter().map(|(k, v)| (k.clone(), example_output(v))).collect())
                .unwrap_or_default(),
        ),
        Some("array") => Value::Array(schema.get("items").map(example_output).into_iter().collect()),
        Some("string") => json!("<example>"),
        Some("number") | Some("integer") => json!(0),
        Some("boolean") => json!(false),
        _ => json!("<unknown>"),
    }
}

#[cfg(test)]
mod bad_inputs;
#[cfg(test)]
mod tests;
