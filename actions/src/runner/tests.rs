//! Runner behaviour, step by step, against an in-memory sink.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use templates::TaskSpec;

use super::*;
use crate::action::{Action, ActionContext};
use crate::sink::MemorySink;

/// Outputs its input under `echo`; fails when the input says so.
struct Echo;

#[async_trait]
impl Action for Echo {
    fn id(&self) -> &'static str {
        "test:echo"
    }
    fn description(&self) -> &'static str {
        "echo"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn output_schema(&self) -> Option<Value> {
        Some(json!({"type": "object", "properties": {"echo": {"type": "string"}, "n": {"type": "number"}}}))
    }
    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        if ctx.input.get("fail").is_some() {
            return Err(StepError::error(format!("asked to fail: {}", ctx.input["fail"])));
        }
        ctx.info(&format!("echo {}", ctx.input));
        ctx.output("echo", ctx.input.clone());
        Ok(())
    }
}

fn runner(recovery_enabled: bool) -> Runner {
    let registry = Registry::builtin(&crate::RegistryConfig::default());
    let mut actions: Vec<Arc<dyn Action>> = vec![Arc::new(Echo)];
    actions.extend(["debug:log", "debug:wait"].map(|id| registry.get(id).unwrap().clone()));
    Runner::new(Arc::new(Registry::from_actions(actions)), RunnerConfig { recovery_enabled, ..RunnerConfig::default() })
}

fn spec(steps: Value, parameters: Value, output: Value) -> TaskSpec {
    TaskSpec::from_value(json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "steps": steps,
        "output": output,
        "parameters": parameters,
        "user": {},
        "templateInfo": {"entityRef": "template:default/test"},
    }))
    .unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    workspace: Workspace,
    sink: MemorySink,
    stop: StopSignal,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::create(dir.path(), "task-1").unwrap();
        Harness { _dir: dir, workspace, sink: MemorySink::new(), stop: StopSignal::new() }
    }

    async fn run(
        &self,
        runner: &Runner,
        spec: &TaskSpec,
        secrets: &Secrets,
        state: TaskState,
        is_dry_run: bool,
    ) -> RunOutcome {
        runner
            .run(TaskRun {
                task_id: "task-1",
                spec,
                secrets,
                state,
                workspace: &self.workspace,
                is_dry_run,
                sink: &self.sink,
                stop: &self.stop,
            })
            .await
    }

    /// `(stepId, status)` of every status event, as the conformance comparison reads them.
    fn statuses(&self) -> Vec<(String, String)> {
        self.sink
            .events()
            .iter()
            .filter_map(|e| Some((e.body["stepId"].as_str()?.to_owned(), e.body["status"].as_str()?.to_owned())))
            .collect()
    }

    fn messages(&self) -> Vec<String> {
        self.sink.events().iter().map(|e| e.body["message"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test]
async fn runs_steps_in_order_and_renders_outputs() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "one", "name": "One", "action": "test:echo", "input": {"n": "${{ parameters.count }}", "s": "hi ${{ parameters.name }}"}},
            {"id": "two", "name": "Two", "action": "debug:log", "input": {"message": "from one: ${{ steps.one.output.echo.s }}"}},
        ]),
        json!({"name": "alpha", "count": 2}),
        json!({"text": [{"title": "t", "content": "${{ steps.one.output.echo.n + 1 }}"}], "n": "${{ steps.one.output.echo.n }}"}),
    );
    let outcome = h.run(&runner(false), &spec, &Secrets::new(), TaskState::default(), false).await;
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"text": [{"title": "t", "content": 3}], "n": 2}) });
    assert_eq!(
        h.statuses(),
        pairs(&[("one", "processing"), ("one", "completed"), ("two", "processing"), ("two", "completed")])
    );
    let messages = h.messages();
    assert_eq!(messages[0], "Starting up task with 2 steps");
    assert_eq!(messages[1], "Beginning step One");
    assert!(messages.contains(&"\u{1b}[32minfo\u{1b}[39m: from one: hi alpha".to_owned()), "{messages:?}");
    assert!(
        messages.contains(&"\u{1b}[32minfo\u{1b}[39m: {\n  \"message\": \"from one: hi alpha\"\n}".to_owned()),
        "{messages:?}"
    );
}

#[tokio::test]
async fn a_failure_skips_later_steps_except_status_checks() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "a", "name": "A", "action": "test:echo", "input": {"fail": "boom"}},
            {"id": "b", "name": "B", "action": "test:echo"},
            {"id": "c", "name": "C", "action": "test:echo", "if": "${{ failure() }}"},
            {"id": "d", "name": "D", "action": "nope:missing", "if": "${{ always() }}"},
            {"id": "e", "name": "E", "action": "test:echo", "if": "${{ parameters.x }}"},
        ]),
        json!({"x": true}),
        json!({}),
    );
    let outcome = h.run(&runner(false), &spec, &Secrets::new(), TaskState::default(), false).await;
    assert_eq!(outcome, RunOutcome::Failed { error: StepError::error("asked to fail: \"boom\"") });
    assert_eq!(
        h.statuses(),
        pairs(&[
            ("a", "processing"),
            ("a", "failed"),
            ("b", "skipped"),
            ("c", "processing"),
            ("c", "completed"),
            ("d", "processing"),
            ("d", "failed"),
            ("d", "failed"),
            ("e", "skipped"),
        ])
    );
    assert!(h.messages().iter().any(|m| {
        m.starts_with("Additional error occurred: Template action with ID 'nope:missing' is not registered.")
    }));
    assert_eq!(outcome.completion().unwrap().1["error"]["name"], "Error");
}

#[tokio::test]
async fn conditions_each_and_outputs() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "off", "name": "Off", "action": "test:echo", "if": false},
            {"id": "str", "name": "Str", "action": "test:echo", "if": "${{ parameters.enabled === 'no' }}"},
            {"id": "loop", "name": "Loop", "action": "test:echo", "each": "${{ parameters.items }}",
             "if": "${{ each.value != 'skip' }}", "input": {"k": "${{ each.key }}", "v": "${{ each.value }}"}},
            {"id": "map", "name": "Map", "action": "test:echo", "each": {"a": 1, "b": 2}, "input": {"k": "${{ each.key }}"}},
        ]),
        json!({"items": ["x", "skip", "y"], "enabled": "yes"}),
        json!({"loop": "${{ steps.loop.output.echo }}", "map": "${{ steps.map.output.echo }}"}),
    );
    let outcome = h.run(&runner(false), &spec, &Secrets::new(), TaskState::default(), false).await;
    assert_eq!(
        outcome,
        RunOutcome::Completed {
            output: json!({
                "loop": [{"k": "0", "v": "x"}, {"k": "2", "v": "y"}],
                "map": [{"k": "a"}, {"k": "b"}],
            })
        }
    );
    let statuses = h.statuses();
    assert_eq!(statuses[0], ("off".to_owned(), "processing".to_owned()));
    assert_eq!(statuses[1], ("off".to_owned(), "skipped".to_owned()));
    assert!(
        h.messages()
            .contains(&"\u{1b}[32minfo\u{1b}[39m: Skipping step each: {\"key\":\"1\",\"value\":\"skip\"}".to_owned())
    );
}

#[tokio::test]
async fn bad_each_and_bad_input_fail_with_backstage_messages() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "a", "name": "A", "action": "debug:log", "input": {"message": "${{ parameters.n }}"}},
            {"id": "b", "name": "B", "action": "test:echo", "each": "${{ parameters.missing }}", "if": "${{ always() }}"},
        ]),
        json!({"n": 5}),
        json!({}),
    );
    let outcome = h.run(&runner(false), &spec, &Secrets::new(), TaskState::default(), false).await;
    assert_eq!(
        outcome,
        RunOutcome::Failed {
            error: StepError::input(
                "Invalid input passed to action debug:log, instance.message is not of a type(s) string"
            )
        }
    );
    assert!(h.messages().iter().any(|m| m.contains(
        "Invalid value on action test:echo.each parameter, \"${{ parameters.missing }}\" cannot be resolved to a value"
    )));
}

#[tokio::test]
async fn secrets_are_redacted_even_through_filters() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "a", "name": "A", "action": "debug:log", "input": {"message": "token ${{ secrets.token }} / ${{ secrets.token | upper }} / ${{ secrets.token | length }}"}},
            {"id": "b", "name": "B", "action": "test:echo", "input": {"fail": "${{ secrets.token }}"}},
        ]),
        json!({}),
        json!({}),
    );
    let secrets: Secrets = [("token".to_owned(), "s3cr3t-value".to_owned())].into();
    let outcome = h.run(&runner(false), &spec, &secrets, TaskState::default(), false).await;
    // Saved state and the task output never hold a known secret either.
    let h2 = Harness::new();
    let echo = super::tests::spec(
        json!([{"id": "e", "name": "E", "action": "test:echo", "input": {"s": "${{ secrets.token }}"}}]),
        json!({}),
        json!({"leak": "${{ steps.e.output.echo.s }}"}),
    );
    let echoed = h2.run(&runner(true), &echo, &secrets, TaskState::default(), false).await;
    assert_eq!(echoed, RunOutcome::Completed { output: json!({"leak": "***"}) });
    assert_eq!(h2.sink.last_state().unwrap().steps["e"].output, json!({"echo": {"s": "***"}}));
    let everything = format!("{:?} {:?}", h.sink.events(), outcome);
    assert!(!everything.contains("s3cr3t-value"), "{everything}");
    assert!(!everything.contains("S3CR3T-VALUE"), "{everything}");
    assert!(everything.contains("***"));
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_waiting_step_and_ends_cancelled() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "wait", "name": "Wait", "action": "debug:wait", "input": {"minutes": 5}},
            {"id": "after", "name": "After", "action": "test:echo", "if": "${{ always() }}"},
        ]),
        json!({}),
        json!({}),
    );
    let runner = runner(false);
    let secrets = Secrets::new();
    let run = h.run(&runner, &spec, &secrets, TaskState::default(), false);
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        h.stop.stop(StopReason::Cancelled);
    };
    let (outcome, ()) = tokio::join!(run, cancel);
    let RunOutcome::Cancelled { error } = &outcome else { panic!("{outcome:?}") };
    assert_eq!(error.message, "Step wait (Wait) of task task-1 has been cancelled.");
    assert_eq!(
        h.statuses(),
        pairs(&[("wait", "processing"), ("wait", "cancelled"), ("wait", "failed"), ("after", "skipped")])
    );
    assert_eq!(h.sink.events()[2].kind, TaskEventKind::Cancelled);
    assert_eq!(outcome.completion().unwrap().0, "cancelled");
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_without_finishing_the_step() {
    let h = Harness::new();
    let spec = spec(
        json!([{"id": "wait", "name": "Wait", "action": "debug:wait", "input": {"seconds": 30}}]),
        json!({}),
        json!({}),
    );
    let runner = runner(true);
    let secrets = Secrets::new();
    let run = h.run(&runner, &spec, &secrets, TaskState::default(), false);
    let shutdown = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        h.stop.stop(StopReason::Shutdown);
    };
    let (outcome, ()) = tokio::join!(run, shutdown);
    assert_eq!(outcome, RunOutcome::Interrupted { reason: StopReason::Shutdown });
    assert_eq!(h.statuses(), pairs(&[("wait", "processing")]));
    assert!(h.sink.last_state().is_none(), "an unfinished step is not saved as completed");
}

#[tokio::test]
async fn recovery_skips_completed_steps_and_restores_their_outputs() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "one", "name": "One", "action": "test:echo", "input": {"s": "first"}},
            {"id": "two", "name": "Two", "action": "test:echo", "input": {"s": "${{ steps.one.output.echo.s }}-again"}},
        ]),
        json!({}),
        json!({"two": "${{ steps.two.output.echo.s }}"}),
    );
    let mut state = TaskState::default();
    state.steps.insert(
        "one".to_owned(),
        StepState { status: "completed".to_owned(), output: json!({"echo": {"s": "saved"}}) },
    );
    let outcome = h.run(&runner(true), &spec, &Secrets::new(), state, false).await;
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"two": "saved-again"}) });
    assert_eq!(h.statuses(), pairs(&[("one", "completed"), ("two", "processing"), ("two", "completed")]));
    assert!(h.messages()[1].starts_with("Task recovered - resuming from last known good state. 1 step(s)"));
    let saved = h.sink.last_state().unwrap();
    assert_eq!(saved.steps["two"].output, json!({"echo": {"s": "saved-again"}}));
}

/// Writes `README` in the workspace and nothing else, like the fetch and fs actions.
struct Builder;

#[async_trait]
impl Action for Builder {
    fn id(&self) -> &'static str {
        "test:build"
    }
    fn description(&self) -> &'static str {
        "build"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn only_builds_the_workspace(&self) -> bool {
        true
    }
    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let path = ctx.workspace.resolve("README").map_err(|e| StepError::error(e.to_string()))?;
        std::fs::write(path, "built").map_err(|e| StepError::error(e.to_string()))?;
        ctx.output("attempt", json!("this one"));
        Ok(())
    }
}

#[tokio::test]
async fn recovery_runs_again_the_steps_whose_only_effect_was_the_lost_workspace() {
    let h = Harness::new();
    let registry = Registry::from_actions(vec![Arc::new(Echo), Arc::new(Builder)]);
    let runner = Runner::new(Arc::new(registry), RunnerConfig { recovery_enabled: true, ..RunnerConfig::default() });
    let spec = spec(
        json!([
            {"id": "build", "name": "Build", "action": "test:build"},
            {"id": "publish", "name": "Publish", "action": "test:echo", "input": {"s": "published"}},
            {"id": "after", "name": "After", "action": "test:echo", "input": {"s": "${{ steps.build.output.attempt }} ${{ steps.publish.output.echo.s }}"}},
        ]),
        json!({}),
        json!({"after": "${{ steps.after.output.echo.s }}"}),
    );
    // An earlier attempt built the workspace and published; its worker (and workspace) went away.
    let mut state = TaskState::default();
    for (id, output) in [("build", json!({"attempt": "lost"})), ("publish", json!({"echo": {"s": "saved"}}))] {
        state.steps.insert(id.to_owned(), StepState { status: "completed".to_owned(), output });
    }
    let outcome = h.run(&runner, &spec, &Secrets::new(), state, false).await;
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"after": "this one saved"}) });
    assert_eq!(
        h.statuses(),
        pairs(&[
            ("build", "processing"),
            ("build", "completed"),
            ("publish", "completed"),
            ("after", "processing"),
            ("after", "completed"),
        ]),
        "the workspace step runs again, the step with an outside effect is restored"
    );
    assert_eq!(std::fs::read_to_string(h.workspace.root().join("README")).unwrap(), "built");
}

#[tokio::test]
async fn dry_run_skips_actions_without_support_with_example_outputs() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "echo", "name": "Echo", "action": "test:echo", "input": {"s": "${{ secrets.pw }}"}},
            {"id": "log", "name": "Log", "action": "debug:log", "input": {"message": "${{ steps.echo.output.echo }}"}},
        ]),
        json!({}),
        json!({"echo": "${{ steps.echo.output.echo }}", "n": "${{ steps.echo.output.n }}"}),
    );
    let secrets: Secrets = [("pw".to_owned(), "hunter22".to_owned())].into();
    let outcome = h.run(&runner(false), &spec, &secrets, TaskState::default(), true).await;
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"echo": "<example>", "n": 0}) });
    assert_eq!(
        h.statuses(),
        pairs(&[("echo", "processing"), ("echo", "skipped"), ("log", "processing"), ("log", "completed")])
    );
    assert!(h.messages().iter().any(|m| {
        m.contains("Running test:echo in dry-run mode with inputs (secrets redacted): {\n  \"s\": \"***\"\n}")
    }));
}

// ---- Step graphs and timeouts ----

/// Waits until `parties` steps have arrived: only steps that run at the same time can finish.
struct Meet(Arc<tokio::sync::Barrier>);

#[async_trait]
impl Action for Meet {
    fn id(&self) -> &'static str {
        "test:meet"
    }
    fn description(&self) -> &'static str {
        "meet"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn workspace_access(&self) -> crate::action::WorkspaceAccess {
        crate::action::WorkspaceAccess::None
    }
    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        self.0.wait().await;
        ctx.output("met", json!(true));
        Ok(())
    }
}

fn graph_runner(parties: usize) -> Runner {
    let registry = Registry::builtin(&crate::RegistryConfig::default());
    let mut actions: Vec<Arc<dyn Action>> =
        vec![Arc::new(Echo), Arc::new(Meet(Arc::new(tokio::sync::Barrier::new(parties))))];
    actions
        .extend(["debug:log", "debug:wait", "fs:readdir", "fetch:plain"].map(|id| registry.get(id).unwrap().clone()));
    Runner::new(Arc::new(Registry::from_actions(actions)), RunnerConfig::default())
}

fn graph_spec(steps: Value, output: Value) -> TaskSpec {
    TaskSpec::from_value(json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "EXPERIMENTAL_parallelSteps": true,
        "steps": steps,
        "output": output,
        "parameters": {},
        "user": {},
        "templateInfo": {"entityRef": "template:default/test"},
    }))
    .unwrap()
}

#[tokio::test]
async fn independent_steps_of_a_graph_run_at_the_same_time() {
    let h = Harness::new();
    let spec = graph_spec(
        json!([
            {"id": "a", "name": "A", "action": "test:meet"},
            {"id": "b", "name": "B", "action": "test:meet"},
            {"id": "after", "name": "After", "action": "test:echo", "input": {"both": "${{ steps.a.output.met and steps.b.output.met }}"}},
        ]),
        json!({"both": "${{ steps.after.output.echo.both }}"}),
    );
    // In spec order the first meeting would wait for the second forever.
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        h.run(&graph_runner(2), &spec, &Secrets::new(), TaskState::default(), false),
    )
    .await
    .expect("both steps ran at once");
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"both": true}) });
    let statuses = h.statuses();
    // `after` reads both outputs, so it begins only once both have finished.
    let position = |pair: (&str, &str)| statuses.iter().position(|(s, t)| s == pair.0 && t == pair.1).unwrap();
    assert!(position(("after", "processing")) > position(("a", "completed")));
    assert!(position(("after", "processing")) > position(("b", "completed")));

    // The same steps in spec order never meet: the first waits alone.
    let h = Harness::new();
    let mut sequential = spec.as_value();
    sequential.as_object_mut().unwrap().remove("EXPERIMENTAL_parallelSteps");
    let sequential = TaskSpec::from_value(sequential).unwrap();
    let runner = graph_runner(2);
    let blocked = tokio::time::timeout(
        Duration::from_millis(300),
        h.run(&runner, &sequential, &Secrets::new(), TaskState::default(), false),
    )
    .await;
    assert!(blocked.is_err(), "steps in spec order ran concurrently");
}

#[tokio::test]
async fn a_graph_orders_steps_by_workspace_access_and_depends_on() {
    let h = Harness::new();
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(source.path().join("skeleton")).unwrap();
    std::fs::write(source.path().join("skeleton/a.txt"), "a").unwrap();
    let base_url = format!("file://{}/template.yaml", source.path().display());
    let mut value = graph_spec(
        json!([
            {"id": "list", "name": "List", "action": "fs:readdir", "input": {"paths": ["."]}},
            {"id": "fetch", "name": "Fetch", "action": "fetch:plain", "input": {"url": "./skeleton"}, "dependsOn": ["log"]},
            {"id": "log", "name": "Log", "action": "debug:log", "input": {"message": "hi"}},
            {"id": "list-again", "name": "List again", "action": "fs:readdir", "input": {"paths": ["."]}},
        ]),
        json!({
            "before": "${{ steps.list.output.files | length }}",
            "after": "${{ steps['list-again'].output.files | length }}",
        }),
    )
    .as_value();
    value["templateInfo"]["baseUrl"] = json!(base_url);
    let spec = TaskSpec::from_value(value).unwrap();
    let outcome = h.run(&graph_runner(1), &spec, &Secrets::new(), TaskState::default(), false).await;
    // `fetch` waits for `log` (dependsOn) and for `list` (it writes what list reads); `list-again`
    // comes later in the spec and reads, so it waits for `fetch`.
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"before": 0, "after": 1}) });
}

#[tokio::test]
async fn a_failure_in_a_graph_lets_running_steps_finish_and_starts_only_always_steps() {
    let h = Harness::new();
    let spec = graph_spec(
        json!([
            {"id": "slow", "name": "Slow", "action": "debug:wait", "input": {"milliseconds": 300}},
            {"id": "boom", "name": "Boom", "action": "test:echo", "input": {"fail": "now"}},
            {"id": "next", "name": "Next", "action": "test:echo", "dependsOn": ["boom"]},
            {"id": "cleanup", "name": "Cleanup", "action": "test:echo", "if": "${{ always() }}", "dependsOn": ["boom"]},
        ]),
        json!({}),
    );
    let outcome = h.run(&graph_runner(1), &spec, &Secrets::new(), TaskState::default(), false).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.message, "asked to fail: \"now\"");
    let statuses = h.statuses();
    assert!(statuses.contains(&("slow".to_owned(), "completed".to_owned())), "{statuses:?}");
    assert!(statuses.contains(&("next".to_owned(), "skipped".to_owned())), "{statuses:?}");
    assert!(statuses.contains(&("cleanup".to_owned(), "completed".to_owned())), "{statuses:?}");
}

#[tokio::test]
async fn a_step_past_its_timeout_fails_with_a_clear_message() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "wait", "name": "Wait", "action": "debug:wait", "input": {"seconds": 30}, "timeout": "PT0.2S"},
            {"id": "after", "name": "After", "action": "test:echo"},
        ]),
        json!({}),
        json!({}),
    );
    let started = std::time::Instant::now();
    let outcome = h.run(&runner(false), &spec, &Secrets::new(), TaskState::default(), false).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.name, "TimeoutError");
    assert_eq!(error.message, "Step wait (Wait) did not finish within its timeout of 200ms");
    assert_eq!(h.statuses(), pairs(&[("wait", "processing"), ("wait", "failed"), ("after", "skipped")]));
}

#[tokio::test]
async fn steps_that_wait_for_each_other_fail_the_task_before_anything_runs() {
    let h = Harness::new();
    let spec = graph_spec(
        json!([
            {"id": "a", "name": "A", "action": "test:echo", "input": {"x": "${{ steps.b.output.echo }}"}},
            {"id": "b", "name": "B", "action": "test:echo", "input": {"x": "${{ steps.a.output.echo }}"}},
        ]),
        json!({}),
    );
    let outcome = h.run(&graph_runner(1), &spec, &Secrets::new(), TaskState::default(), false).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert!(error.message.contains("a → b → a"), "{}", error.message);
    assert!(h.statuses().is_empty());
}

#[tokio::test]
async fn strings_that_cannot_render_are_passed_on_and_reported() {
    let h = Harness::new();
    let spec = spec(
        json!([
            {"id": "one", "name": "One", "action": "test:echo", "input": {"s": "${{ parameters.name | nosuch }}", "ok": "${{ parameters.name }}"}},
        ]),
        json!({"name": "alpha"}),
        json!({"broken": "${{ steps.one.output.echo.ok | alsomissing }}", "fine": "${{ steps.one.output.echo.ok }}"}),
    );
    let outcome = h.run(&runner(false), &spec, &Secrets::new(), TaskState::default(), false).await;
    assert_eq!(
        outcome,
        RunOutcome::Completed {
            output: json!({"broken": "${{ steps.one.output.echo.ok | alsomissing }}", "fine": "alpha"})
        }
    );
    let events = h.sink.events();
    let step_warning = events
        .iter()
        .find(|e| e.body["stepId"] == "one" && e.body["message"].as_str().unwrap().contains("warn"))
        .expect("a warning in the step's log");
    let text = step_warning.body["message"].as_str().unwrap();
    assert!(text.contains("input.s could not be rendered") && text.contains("nosuch"), "{text}");
    let output_warning = events
        .iter()
        .find(|e| e.body.get("stepId").is_none() && e.body["message"].as_str().unwrap().contains("output.broken"))
        .expect("a warning about the output");
    assert!(output_warning.body["message"].as_str().unwrap().contains("alsomissing"));
}

/// Counts its side effect inside a checkpoint, then fails when asked to.
struct Once(Arc<std::sync::atomic::AtomicUsize>);

#[async_trait]
impl Action for Once {
    fn id(&self) -> &'static str {
        "test:once"
    }
    fn description(&self) -> &'static str {
        "once"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let counter = self.0.clone();
        let made: u64 = ctx
            .checkpoint("create.thing", || async move {
                Ok(counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as u64 + 100)
            })
            .await?;
        if ctx.input.get("fail").is_some() {
            return Err(StepError::error("failed after the side effect"));
        }
        ctx.output("made", json!(made));
        Ok(())
    }
}

#[tokio::test]
async fn a_retry_gets_the_checkpointed_result_instead_of_repeating_the_side_effect() {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let runner = Runner::new(
        Arc::new(Registry::from_actions(vec![Arc::new(Once(counter.clone()))])),
        RunnerConfig { recovery_enabled: true, ..RunnerConfig::default() },
    );
    let failing = spec(
        json!([{"id": "make", "name": "Make", "action": "test:once", "input": {"fail": true}}]),
        json!({}),
        json!({}),
    );
    let h = Harness::new();
    assert!(matches!(
        h.run(&runner, &failing, &Secrets::new(), TaskState::default(), false).await,
        RunOutcome::Failed { .. }
    ));
    let saved = h.sink.last_state().expect("the checkpoint was saved before the failure");
    assert_eq!(saved.checkpoints["v1.task.checkpoint.make.create.thing"], json!(100));

    let fixed = spec(
        json!([{"id": "make", "name": "Make", "action": "test:once"}]),
        json!({}),
        json!({"made": "${{ steps.make.output.made }}"}),
    );
    let h2 = Harness::new();
    let outcome = h2.run(&runner, &fixed, &Secrets::new(), saved, false).await;
    assert_eq!(outcome, RunOutcome::Completed { output: json!({"made": 100}) });
    assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 1, "the side effect ran again");
    // Dry-runs record nothing durable.
    let h3 = Harness::new();
    h3.run(&runner, &failing, &Secrets::new(), TaskState::default(), true).await;
    assert!(h3.sink.last_state().is_none());
}
