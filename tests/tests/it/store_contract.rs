//! The queue's contract, proven on both databases: every test here runs once on a fresh
//! PostgreSQL database and once on SQLite.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use store::{
    CancelOutcome, EventType, InsertOutcome, Lease, NewEntity, NewEvent, NewTask, OrderField, RetryOutcome, Store,
    SweepConfig, TaskListQuery, TaskOrder, TaskStatus, WriteOp, WriteOutcome,
};
use uuid::Uuid;

use crate::support::db::sqlite_file;

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::support::db::TestDb::postgres().await;
                    super::$name(db.store().await).await;
                }
            )*
        }
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$name(super::sqlite_file(dir.path()).await).await;
                }
            )*
        }
    };
}

contract!(
    insert_get_and_list,
    list_filters_order_and_paging,
    queue_depth_limit,
    queue_depth_limit_counts_other_processes_tasks,
    claims_are_exclusive_and_oldest_first,
    fenced_writes_from_a_lost_lease_land_nowhere,
    completion_ends_the_task_and_drops_secrets,
    heartbeats_report_cancel_and_loss,
    cancel_semantics,
    retry_semantics,
    janitor_recovers_fails_and_prunes,
    janitor_respects_max_attempts_and_cancel_requests,
    events_after_include_the_completion,
    catalog_entities,
);

fn new_task(template: &str, created_by: Option<&str>) -> NewTask {
    NewTask {
        id: Uuid::now_v7(),
        spec: json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "steps": [{"id": "s", "name": "S", "action": "debug:log"}]}).to_string(),
        secrets: Some(json!({"token": "t0ps3cret"}).to_string()),
        created_by: created_by.map(str::to_owned),
        template_ref: template.to_owned(),
    }
}

async fn insert(store: &Store, template: &str, created_by: Option<&str>) -> Uuid {
    let task = new_task(template, created_by);
    assert_eq!(store.task_insert(&task, 1_000_000).await.unwrap(), InsertOutcome::Inserted);
    task.id
}

fn log(message: &str) -> NewEvent {
    NewEvent::new(EventType::Log, &json!({"message": message}))
}

async fn insert_get_and_list(store: Store) {
    let task = new_task("template:default/a", Some("user:default/alice"));
    store.task_insert(&task, 10).await.unwrap();
    let row = store.task_get(task.id).await.unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Open);
    assert_eq!(row.spec, task.spec, "the spec is returned byte for byte");
    assert_eq!(row.created_by.as_deref(), Some("user:default/alice"));
    assert!(row.created_at.ends_with('Z') && row.created_at.len() == 24, "{}", row.created_at);
    assert!(store.task_get(Uuid::new_v4()).await.unwrap().is_none());
    let (rows, total) = store.task_list(&TaskListQuery::default()).await.unwrap();
    assert_eq!((rows.len(), total), (1, 1));
}

async fn list_filters_order_and_paging(store: Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            insert(
                &store,
                "template:default/a",
                Some(if i % 2 == 0 { "user:default/even" } else { "user:default/odd" }),
            )
            .await,
        );
    }
    let (claimed, _) = (store.task_claim("w", 1).await.unwrap(), ());
    assert_eq!(claimed[0].lease.task_id, ids[0]);

    let (rows, total) = store
        .task_list(&TaskListQuery { created_by: vec!["user:default/even".to_owned()], ..Default::default() })
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (3, 3));
    let (rows, total) =
        store.task_list(&TaskListQuery { status: vec![TaskStatus::Processing], ..Default::default() }).await.unwrap();
    assert_eq!((rows.len(), total), (1, 1));
    let (rows, total) = store
        .task_list(&TaskListQuery {
            status: vec![TaskStatus::Open, TaskStatus::Processing],
            created_by: vec!["user:default/odd".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (2, 2));

    // Default order: newest first. Paging never repeats a task.
    let (page1, total) = store.task_list(&TaskListQuery { limit: Some(2), ..Default::default() }).await.unwrap();
    let (page2, _) =
        store.task_list(&TaskListQuery { limit: Some(2), offset: Some(2), ..Default::default() }).await.unwrap();
    let (page3, _) =
        store.task_list(&TaskListQuery { limit: Some(2), offset: Some(4), ..Default::default() }).await.unwrap();
    assert_eq!(total, 5);
    let seen: HashSet<Uuid> = page1.iter().chain(&page2).chain(&page3).map(|r| r.id).collect();
    assert_eq!(seen.len(), 5);
    let (asc, _) = store
        .task_list(&TaskListQuery {
            order: vec![TaskOrder { field: OrderField::CreatedAt, descending: false }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(asc.first().unwrap().id, ids[0]);
    let (by_status, _) = store
        .task_list(&TaskListQuery {
            order: vec![TaskOrder { field: OrderField::Status, descending: true }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_status[0].status, TaskStatus::Processing);
}

async fn queue_depth_limit(store: Store) {
    store.task_insert(&new_task("t", None), 2).await.unwrap();
    store.task_insert(&new_task("t", None), 2).await.unwrap();
    assert_eq!(store.task_insert(&new_task("t", None), 2).await.unwrap(), InsertOutcome::QueueFull);
    let (_, total) = store.task_list(&TaskListQuery::default()).await.unwrap();
    assert_eq!(total, 2, "a refused task leaves no row");
}

/// A second handle on the same database stands for another API process.
async fn queue_depth_limit_counts_other_processes_tasks(store: Store) {
    let other = store.as_another_process();
    for _ in 0..3 {
        assert_eq!(other.task_insert(&new_task("t", None), 3).await.unwrap(), InsertOutcome::Inserted);
    }
    assert_eq!(store.task_insert(&new_task("t", None), 3).await.unwrap(), InsertOutcome::QueueFull);
    assert_eq!(other.task_insert(&new_task("t", None), 3).await.unwrap(), InsertOutcome::QueueFull);
    // Far below a large limit inserts skip the count; near it they count again.
    for _ in 0..4 {
        store.task_insert(&new_task("t", None), 14).await.unwrap();
    }
    assert_eq!(store.task_insert(&new_task("t", None), 7).await.unwrap(), InsertOutcome::QueueFull);
    let (_, total) = store.task_list(&TaskListQuery::default()).await.unwrap();
    assert_eq!(total, 7);
}

async fn claims_are_exclusive_and_oldest_first(store: Store) {
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(insert(&store, "t", None).await);
    }
    // Eight claimers race; every task is claimed exactly once.
    let claimers = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.task_claim(&format!("w{i}"), 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch);
            }
        })
    });
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let unique: HashSet<Uuid> = all.iter().map(|c| c.lease.task_id).collect();
    assert_eq!((all.len(), unique.len()), (40, 40));
    assert!(all.iter().all(|c| c.lease.attempt == 1));
    assert!(
        all.iter().all(|c| c.secrets.as_deref() == Some(r#"{"token":"t0ps3cret"}"#)),
        "a claim hands the secrets to the worker"
    );
    assert!(store.task_claim("late", 5).await.unwrap().is_empty());
    assert!(store.task_claim("none", 0).await.unwrap().is_empty());

    let store2 = store.clone();
    let fresh = [insert(&store2, "t", None).await, insert(&store2, "t", None).await];
    let first = store.task_claim("w", 1).await.unwrap();
    assert_eq!(first[0].lease.task_id, fresh[0], "oldest first");
    let row = store.task_get(fresh[0]).await.unwrap().unwrap();
    assert_eq!((row.status, row.claimed_by.as_deref()), (TaskStatus::Processing, Some("w")));
    assert!(row.last_heartbeat_at.is_some());
}

async fn fenced_writes_from_a_lost_lease_land_nowhere(store: Store) {
    let id = insert(&store, "t", None).await;
    let old = store.task_claim("old", 1).await.unwrap()[0].lease;
    // The lease is taken away (here: recovered by the janitor and claimed again elsewhere).
    let sweep = SweepConfig {
        recovery_enabled: true,
        stale_timeout: Duration::ZERO,
        max_attempts: 5,
        task_timeout: None,
        retention: None,
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(store.janitor_sweep(&sweep).await.unwrap().recovered, vec![id]);
    let new = store.task_claim("new", 1).await.unwrap()[0].lease;
    assert_eq!(new.attempt, old.attempt + 1);

    let outcomes = store
        .write_batch(&[
            WriteOp::Events { lease: old, events: vec![log("zombie")] },
            WriteOp::Events { lease: new, events: vec![log("owner")] },
            WriteOp::State { lease: old, state: "{\"zombie\":true}".to_owned() },
            WriteOp::Complete {
                lease: old,
                status: TaskStatus::Completed,
                events: vec![log("zombie end")],
                state: None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![WriteOutcome::LeaseLost, WriteOutcome::Applied, WriteOutcome::LeaseLost, WriteOutcome::LeaseLost]
    );
    let events = store.event_list(id, None).await.unwrap();
    let bodies: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
    assert!(bodies.iter().all(|b| !b.contains("zombie")), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("owner")));
    assert_eq!(store.task_get(id).await.unwrap().unwrap().status, TaskStatus::Processing);
}

async fn completion_ends_the_task_and_drops_secrets(store: Store) {
    let id = insert(&store, "t", None).await;
    let lease = store.task_claim("w", 1).await.unwrap()[0].lease;
    let completion =
        NewEvent::new(EventType::Completion, &json!({"message": "Run completed with status: completed", "output": {}}));
    let outcomes = store
        .write_batch(&[
            WriteOp::Events { lease, events: vec![log("a"), log("b")] },
            WriteOp::State { lease, state: "{\"steps\":{}}".to_owned() },
            WriteOp::Complete { lease, status: TaskStatus::Completed, events: vec![completion], state: None },
            // Nothing after the end of a run lands, even in the same batch.
            WriteOp::Events { lease, events: vec![log("after the end")] },
        ])
        .await
        .unwrap();
    assert_eq!(outcomes[..3], [WriteOutcome::Applied; 3]);
    assert_eq!(outcomes[3], WriteOutcome::LeaseLost);
    let row = store.task_get(id).await.unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Completed);
    assert!(row.completed_at.is_some());
    let claimed_again = store.task_claim("w2", 1).await.unwrap();
    assert!(claimed_again.is_empty());
    // Secrets are gone from the row once the task has ended.
    let retried = store
        .task_retry(id, None, &NewEvent::new(EventType::Recovered, &json!({"recoverStrategy": "none"})))
        .await
        .unwrap();
    assert_eq!(retried, RetryOutcome::Reopened);
    let again = store.task_claim("w3", 1).await.unwrap();
    assert_eq!(again[0].secrets, None);
    assert_eq!(again[0].state.as_deref(), Some("{\"steps\":{}}"), "state survives a retry");
    let events = store.event_list(id, None).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["log", "log", "recovered"], "retry removes the old completion");
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
}

async fn heartbeats_report_cancel_and_loss(store: Store) {
    let a = insert(&store, "t", None).await;
    let b = insert(&store, "t", None).await;
    let claimed = store.task_claim("w", 2).await.unwrap();
    let leases: Vec<Lease> = claimed.iter().map(|c| c.lease).collect();
    assert_eq!(store.task_cancel(a, &[]).await.unwrap(), CancelOutcome::Requested);
    let stale = Lease { task_id: b, attempt: 99 };
    let replies = store.task_heartbeat(&[leases[0], leases[1], stale]).await.unwrap();
    let by_id =
        |id: Uuid, attempt: i32| replies.iter().find(|r| r.lease.task_id == id && r.lease.attempt == attempt).unwrap();
    assert!(by_id(a, 1).alive && by_id(a, 1).cancel_requested);
    assert!(by_id(b, 1).alive && !by_id(b, 1).cancel_requested);
    assert!(!by_id(b, 99).alive);
    assert!(store.task_heartbeat(&[]).await.unwrap().is_empty());
}

async fn cancel_semantics(store: Store) {
    // Not started: ends at once with the caller's events.
    let open = insert(&store, "t", None).await;
    let events = [
        NewEvent::new(
            EventType::Cancelled,
            &json!({"message": "Step s has been cancelled.", "stepId": "s", "status": "cancelled"}),
        ),
        NewEvent::new(EventType::Completion, &json!({"message": "Run completed with status: cancelled"})),
    ];
    assert_eq!(store.task_cancel(open, &events).await.unwrap(), CancelOutcome::CancelledBeforeStart);
    let row = store.task_get(open).await.unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Cancelled);
    assert_eq!(store.event_list(open, None).await.unwrap().len(), 2);
    assert!(store.task_claim("w", 5).await.unwrap().is_empty(), "a cancelled task is never claimed");

    // Running: flagged, status unchanged until the worker ends it.
    let running = insert(&store, "t", None).await;
    store.task_claim("w", 1).await.unwrap();
    let mut cancels = store.signals().subscribe_cancels();
    assert_eq!(store.task_cancel(running, &events).await.unwrap(), CancelOutcome::Requested);
    assert_eq!(cancels.recv().await.unwrap(), running, "the worker in this process is told at once");
    let row = store.task_get(running).await.unwrap().unwrap();
    assert_eq!((row.status, row.cancel_requested), (TaskStatus::Processing, true));
    assert!(store.event_list(running, None).await.unwrap().is_empty());

    // Finished: nothing changes.
    assert_eq!(store.task_cancel(open, &events).await.unwrap(), CancelOutcome::AlreadyFinished(TaskStatus::Cancelled));
    assert_eq!(store.event_list(open, None).await.unwrap().len(), 2);
    assert_eq!(store.task_cancel(Uuid::new_v4(), &events).await.unwrap(), CancelOutcome::NotFound);
}

async fn retry_semantics(store: Store) {
    let id = insert(&store, "t", None).await;
    let recovered = NewEvent::new(EventType::Recovered, &json!({"recoverStrategy": "none"}));
    assert_eq!(store.task_retry(id, None, &recovered).await.unwrap(), RetryOutcome::NotTerminal(TaskStatus::Open));
    let lease = store.task_claim("w", 1).await.unwrap()[0].lease;
    assert_eq!(
        store.task_retry(id, None, &recovered).await.unwrap(),
        RetryOutcome::NotTerminal(TaskStatus::Processing)
    );
    let failure = NewEvent::new(EventType::Completion, &json!({"message": "Run completed with status: failed"}));
    store
        .write_batch(&[WriteOp::Complete {
            lease,
            status: TaskStatus::Failed,
            events: vec![log("x"), failure],
            state: None,
        }])
        .await
        .unwrap();
    assert_eq!(store.task_retry(id, Some("{\"k\":\"v\"}"), &recovered).await.unwrap(), RetryOutcome::Reopened);
    let claimed = store.task_claim("w", 1).await.unwrap();
    assert_eq!(claimed[0].lease.attempt, 2);
    assert_eq!(claimed[0].secrets.as_deref(), Some("{\"k\":\"v\"}"));
    assert_eq!(store.task_retry(Uuid::new_v4(), None, &recovered).await.unwrap(), RetryOutcome::NotFound);
}

async fn janitor_recovers_fails_and_prunes(store: Store) {
    let recover = insert(&store, "t", None).await;
    store.task_claim("dead", 1).await.unwrap();
    // The worker reported step `s` as running before it died.
    let mut config = SweepConfig {
        recovery_enabled: true,
        stale_timeout: Duration::from_secs(3600),
        max_attempts: 5,
        task_timeout: None,
        retention: None,
    };
    assert!(store.janitor_sweep(&config).await.unwrap().is_empty(), "a fresh heartbeat is left alone");
    config.stale_timeout = Duration::ZERO;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = store.janitor_sweep(&config).await.unwrap();
    assert_eq!(report.recovered, vec![recover]);
    assert_eq!(store.task_get(recover).await.unwrap().unwrap().status, TaskStatus::Open);
    let events = store.event_list(recover, None).await.unwrap();
    assert_eq!(events.last().unwrap().event_type, "recovered");
    assert!(store.janitor_sweep(&config).await.unwrap().is_empty(), "idempotent");

    // Recovery disabled: the stale task fails with Backstage's message, per unfinished step.
    let lease = store.task_claim("dead", 1).await.unwrap()[0].lease;
    store
        .write_batch(&[WriteOp::Events {
            lease,
            events: vec![NewEvent::new(
                EventType::Log,
                &json!({"message": "Beginning step S", "stepId": "s", "status": "processing"}),
            )],
        }])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    config.recovery_enabled = false;
    let report = store.janitor_sweep(&config).await.unwrap();
    assert_eq!(report.failed_stale, vec![recover]);
    let events = store.event_list(recover, None).await.unwrap();
    let last_two: Vec<serde_json::Value> =
        events[events.len() - 2..].iter().map(|e| serde_json::from_str(&e.body).unwrap()).collect();
    assert_eq!(last_two[0], json!({"message": store::STALE_MESSAGE, "stepId": "s", "status": "failed"}));
    assert_eq!(last_two[1]["message"], store::STALE_MESSAGE);
    assert_eq!(events.last().unwrap().event_type, "completion");

    // Timeout: a task alive but running too long fails.
    let long = insert(&store, "t", None).await;
    store.task_claim("busy", 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let timeouts = SweepConfig {
        recovery_enabled: true,
        stale_timeout: Duration::from_secs(3600),
        max_attempts: 5,
        task_timeout: Some(Duration::ZERO),
        retention: None,
    };
    assert_eq!(store.janitor_sweep(&timeouts).await.unwrap().timed_out, vec![long]);
    assert_eq!(store.task_get(long).await.unwrap().unwrap().status, TaskStatus::Failed);

    // Retention: finished tasks older than the limit go, with their events.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let keep = insert(&store, "t", None).await;
    let prune = SweepConfig {
        recovery_enabled: true,
        stale_timeout: Duration::from_secs(3600),
        max_attempts: 5,
        task_timeout: None,
        retention: Some(Duration::ZERO),
    };
    assert_eq!(store.janitor_sweep(&prune).await.unwrap().pruned, 2);
    assert!(store.task_get(recover).await.unwrap().is_none());
    assert!(store.event_list(recover, None).await.unwrap().is_empty());
    assert!(store.task_get(keep).await.unwrap().is_some(), "unfinished tasks are never pruned");
}

async fn janitor_respects_max_attempts_and_cancel_requests(store: Store) {
    let config = SweepConfig {
        recovery_enabled: true,
        stale_timeout: Duration::ZERO,
        max_attempts: 2,
        task_timeout: None,
        retention: None,
    };
    let poison = insert(&store, "t", None).await;
    for attempt in 1..=2 {
        let claimed = store.task_claim("w", 1).await.unwrap();
        assert_eq!(claimed[0].lease.attempt, attempt);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let report = store.janitor_sweep(&config).await.unwrap();
        if attempt < 2 {
            assert_eq!(report.recovered, vec![poison]);
        } else {
            assert_eq!(report.failed_stale, vec![poison], "a task that keeps losing its worker stops being retried");
        }
    }
    let cancelled = insert(&store, "t", None).await;
    store.task_claim("w", 1).await.unwrap();
    store.task_cancel(cancelled, &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(store.janitor_sweep(&config).await.unwrap().cancelled, vec![cancelled]);
    let row = store.task_get(cancelled).await.unwrap().unwrap();
    assert_eq!(row.status, TaskStatus::Cancelled);
}

async fn events_after_include_the_completion(store: Store) {
    let id = insert(&store, "t", None).await;
    let lease = store.task_claim("w", 1).await.unwrap()[0].lease;
    let completion = NewEvent::new(EventType::Completion, &json!({"message": "done"}));
    store.write_batch(&[WriteOp::Events { lease, events: vec![log("a"), log("b")] }]).await.unwrap();
    store
        .write_batch(&[WriteOp::Complete {
            lease,
            status: TaskStatus::Completed,
            events: vec![completion],
            state: None,
        }])
        .await
        .unwrap();
    let all = store.event_list(id, None).await.unwrap();
    assert_eq!(all.len(), 3);
    let last = all.last().unwrap().id;
    let after_first = store.event_list(id, Some(all[0].id)).await.unwrap();
    assert_eq!(after_first.len(), 2);
    let after_last = store.event_list(id, Some(last)).await.unwrap();
    assert_eq!(after_last.len(), 1, "the completion is always included");
    assert_eq!(after_last[0].event_type, "completion");
    assert!(store.event_list(Uuid::new_v4(), None).await.unwrap().is_empty());
}

async fn catalog_entities(store: Store) {
    let location = store.location_upsert("file", "/t/template.yaml", true).await.unwrap();
    assert_eq!(store.location_upsert("file", "/t/template.yaml", false).await.unwrap(), location);
    let uid = Uuid::new_v4();
    let entity = NewEntity {
        kind: "Template".to_owned(),
        namespace: "default".to_owned(),
        name: "Hello".to_owned(),
        entity: "{\"kind\":\"Template\"}".to_owned(),
        location_id: Some(location),
    };
    store.entity_upsert(uid, &entity).await.unwrap();
    assert_eq!(store.entity_uid("template", "DEFAULT", "hello").await.unwrap(), Some(uid));
    let row = store.entity_get("TEMPLATE", "default", "hello").await.unwrap().unwrap();
    assert_eq!((row.uid, row.name.as_str()), (uid, "Hello"));
    store
        .entity_upsert(uid, &NewEntity { entity: "{\"kind\":\"Template\",\"v\":2}".to_owned(), ..entity })
        .await
        .unwrap();
    assert!(store.entity_get("template", "default", "hello").await.unwrap().unwrap().entity.contains("\"v\":2"));
    assert_eq!(store.entity_list_by_kind("template").await.unwrap().len(), 1);
    assert!(store.entity_get("template", "default", "other").await.unwrap().is_none());
}

/// Workers on other hosts learn of a new task through `NOTIFY scaffolder_tasks`, which is sent
/// after the insert commits (not inside it: see `store::enqueue`), once for a burst of inserts.
#[tokio::test]
async fn on_postgres_inserts_are_announced_to_other_processes() {
    let db = crate::support::db::TestDb::postgres().await;
    let store = db.store().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener.listen("scaffolder_tasks").await.unwrap();
    futures::future::join_all((0..50).map(|_| insert(&store, "t", None))).await;
    let first = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await;
    assert!(first.expect("no NOTIFY within 10 s of an insert").is_ok());
    // The burst costs far fewer notifications than inserts (each one holds PostgreSQL's
    // notification lock until it is on disk), and every insert is covered by one sent after it.
    let mut received = 1;
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await {
        received += 1;
    }
    assert!(received < 50, "{received} notifications for 50 inserts");
    insert(&store, "t", None).await;
    let late = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await;
    assert!(late.expect("an insert after a quiet spell is announced too").is_ok());
}
