//! The worker pool in-process on real PostgreSQL: running, cancelling across connections,
//! shutting down with hand-back, and losing a lease.

use std::sync::Arc;
use std::time::Duration;

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use serde_json::{Value, json};
use store::{InsertOutcome, NewTask, Store, SweepConfig, TaskStatus};
use templates::{Template, UserInfo, build_task_spec};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use worker::{Worker, WorkerConfig};

use crate::support::db::TestDb;
use crate::support::{eventually, quick_template, slow_template};

fn worker_config(name: &str, work: &std::path::Path, concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        worker_id: name.to_owned(),
        concurrency,
        working_directory: work.to_path_buf(),
        heartbeat_interval: Duration::from_millis(200),
        lease_ttl: Duration::from_secs(3),
        poll_interval: Duration::from_millis(500),
        task_timeout: Duration::from_secs(300),
        shutdown_grace: Duration::from_millis(300),
    }
}

fn runner() -> Arc<Runner> {
    Arc::new(Runner::new(
        Arc::new(Registry::builtin(&RegistryConfig::default())),
        RunnerConfig { recovery_enabled: true, ..RunnerConfig::default() },
    ))
}

async fn submit(store: &Store, template_yaml: &str, values: Value) -> Uuid {
    let template = Template::from_yaml(template_yaml).unwrap();
    let spec = build_task_spec(&template, "template:default/test", None, &values, &UserInfo::default());
    let task = NewTask {
        id: Uuid::now_v7(),
        spec: spec.to_json(),
        secrets: None,
        created_by: None,
        template_ref: "template:default/test".to_owned(),
    };
    assert_eq!(store.task_insert(&task, 100_000).await.unwrap(), InsertOutcome::Inserted);
    task.id
}

async fn status(store: &Store, id: Uuid) -> TaskStatus {
    store.task_get(id).await.unwrap().unwrap().status
}

async fn wait_status(store: &Store, id: Uuid, wanted: TaskStatus, within: Duration) {
    eventually(within, &format!("task {id} to be {wanted}"), || async {
        (status(store, id).await == wanted).then_some(())
    })
    .await;
}

fn bodies(events: &[store::EventRow]) -> Vec<Value> {
    events.iter().map(|e| serde_json::from_str(&e.body).unwrap()).collect()
}

struct Running {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

fn start(store: &Store, config: WorkerConfig) -> Running {
    let stop = CancellationToken::new();
    let worker = Worker::new(store.clone(), runner(), config);
    let health = worker.health();
    let handle = tokio::spawn(worker.run(stop.clone()));
    assert!(health.is_alive());
    Running { stop, handle }
}

impl Running {
    async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle).await.expect("worker stops").unwrap();
    }
}

#[tokio::test]
async fn runs_tasks_to_completion_with_backstage_events() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let work = tempfile::tempdir().unwrap();
    let worker = start(&store, worker_config("w1", work.path(), 4));
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(submit(&store, &quick_template(), json!({"label": format!("t{i}")})).await);
    }
    for id in &ids {
        wait_status(&store, *id, TaskStatus::Completed, Duration::from_secs(30)).await;
    }
    let events = store.event_list(ids[3], None).await.unwrap();
    let bodies = bodies(&events);
    assert_eq!(bodies[0], json!({"message": "Starting up task with 3 steps"}));
    assert_eq!(bodies[1], json!({"message": "Beginning step One", "stepId": "one", "status": "processing"}));
    assert_eq!(
        bodies.last().unwrap(),
        &json!({"message": "Run completed with status: completed", "output": {"text": [{"title": "done", "content": "finished t3"}]}})
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    // A workspace goes after its task's ending is written, before its slot frees.
    worker.shutdown().await;
    assert!(std::fs::read_dir(work.path()).unwrap().next().is_none(), "workspaces are removed");
}

#[tokio::test]
async fn a_cancel_from_another_connection_stops_a_running_task() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let work = tempfile::tempdir().unwrap();
    let worker = start(&store, worker_config("w1", work.path(), 2));
    // Listening like a worker on another host: only NOTIFY (or the next heartbeat) tells it.
    let id = submit(&store, &slow_template(), json!({"seconds": 60})).await;
    wait_status(&store, id, TaskStatus::Processing, Duration::from_secs(10)).await;
    eventually(Duration::from_secs(10), "the wait step to begin", || async {
        let events = store.event_list(id, None).await.unwrap();
        events.iter().any(|e| e.body.contains("Beginning step Wait")).then_some(())
    })
    .await;
    let other = db.store().await;
    let started = std::time::Instant::now();
    other.task_cancel(id, &[]).await.unwrap();
    wait_status(&store, id, TaskStatus::Cancelled, Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "cancel took {:?}", started.elapsed());
    let events = store.event_list(id, None).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(types.contains(&"cancelled"), "{types:?}");
    assert_eq!(*types.last().unwrap(), "completion");
    let last: Value = serde_json::from_str(&events.last().unwrap().body).unwrap();
    assert_eq!(last["message"], "Run completed with status: cancelled");
    worker.shutdown().await;
}

#[tokio::test]
async fn shutdown_hands_unfinished_tasks_back_and_another_worker_resumes_them() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let work = tempfile::tempdir().unwrap();
    let first = start(&store, worker_config("first", work.path(), 4));
    let id = submit(&store, &slow_template(), json!({"seconds": 2})).await;
    eventually(Duration::from_secs(10), "the wait step to begin", || async {
        store.event_list(id, None).await.unwrap().iter().any(|e| e.body.contains("Beginning step Wait")).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    first.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    let row = store.task_get(id).await.unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Open, "handed back");
    let events = store.event_list(id, None).await.unwrap();
    assert_eq!(events.last().unwrap().event_type, "recovered");

    let second = start(&store, worker_config("second", work.path(), 4));
    wait_status(&store, id, TaskStatus::Completed, Duration::from_secs(15)).await;
    let bodies = bodies(&store.event_list(id, None).await.unwrap());
    let began = |step: &str| bodies.iter().filter(|b| b["stepId"] == step && b["status"] == "processing").count();
    assert_eq!(began("before"), 1, "the completed step is not run again");
    assert_eq!(began("wait"), 2);
    assert!(
        bodies
            .iter()
            .any(|b| b["message"] == "Skipping step before because it was already completed in a previous run")
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_loses_its_lease_writes_nothing_more() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let work = tempfile::tempdir().unwrap();
    let slow = start(&store, worker_config("loser", work.path(), 1));
    let id = submit(&store, &slow_template(), json!({"seconds": 3})).await;
    eventually(Duration::from_secs(10), "the wait step to begin", || async {
        store.event_list(id, None).await.unwrap().iter().any(|e| e.body.contains("Beginning step Wait")).then_some(())
    })
    .await;
    // The janitor decides the worker is gone (as if it had paused past its lease) and re-opens it.
    let sweep = SweepConfig {
        recovery_enabled: true,
        stale_timeout: Duration::ZERO,
        max_attempts: 5,
        task_timeout: None,
        retention: None,
    };
    assert_eq!(store.janitor_sweep(&sweep).await.unwrap().recovered, vec![id]);
    let thief = store.task_claim("thief", 1).await.unwrap();
    assert_eq!(thief[0].lease.attempt, 2);
    let before = store.event_list(id, None).await.unwrap().len();
    // Let the old worker finish whatever it still does (its wait, a hand-back on shutdown): none
    // of it may land, because every write is fenced by the lease it no longer holds.
    slow.shutdown().await;
    let after = store.event_list(id, None).await.unwrap();
    assert_eq!(after.len(), before, "{:?}", bodies(&after[before..]));
    assert_eq!(status(&store, id).await, TaskStatus::Processing, "the new owner still holds it");
}

/// A bug in an action: it panics.
struct Panics;

#[async_trait::async_trait]
impl actions::Action for Panics {
    fn id(&self) -> &'static str {
        "test:panic"
    }
    fn description(&self) -> &'static str {
        "panics"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn run(&self, ctx: &mut actions::ActionContext<'_>) -> Result<(), actions::StepError> {
        panic!("a bug, holding {}", ctx.input);
    }
}

#[tokio::test]
async fn a_step_that_panics_fails_its_task_instead_of_holding_it() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::builtin(&RegistryConfig::default());
    let actions: Vec<Arc<dyn actions::Action>> = vec![Arc::new(Panics), registry.get("debug:log").unwrap().clone()];
    let runner = Arc::new(Runner::new(Arc::new(Registry::from_actions(actions)), RunnerConfig::default()));
    let stop = CancellationToken::new();
    let handle =
        tokio::spawn(Worker::new(store.clone(), runner, worker_config("w1", work.path(), 2)).run(stop.clone()));
    let broken = submit(
        &store,
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: broken}\nspec:\n  type: service\n  owner: group:test\n  steps:\n    - {id: bug, name: Bug, action: 'test:panic', input: {value: 'hunter2'}}\n",
        json!({}),
    )
    .await;
    wait_status(&store, broken, TaskStatus::Failed, Duration::from_secs(30)).await;
    let events = store.event_list(broken, None).await.unwrap();
    let last: Value = serde_json::from_str(&events.last().unwrap().body).unwrap();
    assert_eq!(events.last().unwrap().event_type, "completion");
    assert!(last["error"]["message"].as_str().unwrap().contains("internal error"), "{last}");
    assert!(events.iter().all(|e| !e.body.contains("hunter2")), "the panic's text stays out of the events");
    // The worker goes on: its slot came back.
    let next = submit(&store, &quick_template(), json!({"label": "after"})).await;
    wait_status(&store, next, TaskStatus::Completed, Duration::from_secs(30)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), handle).await.expect("worker stops").unwrap();
    assert!(std::fs::read_dir(work.path()).unwrap().next().is_none(), "the workspace is removed");
}
