//! Real processes on real PostgreSQL: the production shape (`api` + `worker`s), crashes,
//! signals, cancels that cross processes, and a database restart.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPool;

use crate::support::cluster::Cluster;
use crate::support::db::TestDb;
use crate::support::deployment::{Deployment, events_of, get_status, post, wait_for};
use crate::support::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_tasks_across_one_api_and_two_workers() {
    let db = TestDb::postgres().await;
    let deployment = Deployment::new(&db.url);
    let api = deployment.start("api", "api", 0, 10).await;
    let workers =
        [deployment.start("worker-a", "worker", 8, 10).await, deployment.start("worker-b", "worker", 8, 10).await];
    let client = reqwest::Client::new();
    let started = Instant::now();
    let ids: Vec<String> =
        futures::future::join_all(
            (0..500).map(|i| {
                let client = client.clone();
                let api = api.api();
                async move {
                    post(&client, &api, "quick", json!({"label": format!("task-{i}")})).await.expect("task accepted")
                }
            }),
        )
        .await;
    assert_eq!(ids.len(), 500);
    eventually(Duration::from_secs(180), "500 tasks to complete", || async {
        let list: Value =
            client.get(format!("{}/tasks?status=completed&limit=1", api.api())).send().await.ok()?.json().await.ok()?;
        (list["totalTasks"] == 500).then_some(())
    })
    .await;
    eprintln!("500 tasks through 1 API + 2 workers in {:?}", started.elapsed());

    let pool = PgPool::connect(&db.url).await.unwrap();
    let claimers: Vec<(String, i64)> =
        sqlx::query_as("SELECT claimed_by, count(*) FROM scaffolder.tasks GROUP BY claimed_by")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(claimers.len(), 2, "both workers ran tasks: {claimers:?}");
    let others: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scaffolder.tasks WHERE status <> 'completed' OR attempt <> 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(others, 0);
    let rows = sqlx::query("SELECT task_id::text AS task_id, id, body FROM scaffolder.task_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut per_task: HashMap<String, Vec<(i64, Value)>> = HashMap::new();
    for row in rows {
        per_task
            .entry(row.get("task_id"))
            .or_default()
            .push((row.get("id"), serde_json::from_str(row.get::<&str, _>("body")).unwrap()));
    }
    assert_eq!(per_task.len(), 500);
    for (task, events) in &per_task {
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "event ids of {task} increase");
        let mut began: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, body) in events {
            if body["status"] == "processing" {
                *began.entry(body["stepId"].as_str().unwrap()).or_default() += 1;
            }
        }
        assert_eq!(
            began,
            BTreeMap::from([("one", 1), ("three", 1), ("two", 1)]),
            "each step of {task} began exactly once"
        );
        assert_eq!(events.last().unwrap().1["message"], "Run completed with status: completed");
        assert_eq!(events.len(), 14, "{task}: start, 4 per step, completion");
    }
    drop(workers);
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_tasks_are_finished_by_another() {
    let db = TestDb::postgres().await;
    let deployment = Deployment::new(&db.url);
    let api = deployment.start("api", "api", 0, 2).await;
    let doomed = deployment.start("doomed", "worker", 4, 2).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(post(&client, &api.api(), "slow", json!({"seconds": 3})).await.unwrap());
    }
    let pool = PgPool::connect(&db.url).await.unwrap();
    eventually(Duration::from_secs(20), "the doomed worker to be running all four", || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT task_id) FROM scaffolder.task_events WHERE body LIKE '%Beginning step Wait%'",
        )
        .fetch_one(&pool)
        .await
        .ok()?;
        (waiting == 4).then_some(())
    })
    .await;
    doomed.kill9().await;
    let rescuer = deployment.start("rescuer", "worker", 4, 2).await;
    for id in &ids {
        wait_for(&client, &api.api(), id, "completed", Duration::from_secs(40)).await;
    }
    let stuck: i64 = sqlx::query_scalar("SELECT count(*) FROM scaffolder.tasks WHERE status = 'processing'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stuck, 0);
    for id in &ids {
        let events = events_of(&pool, id).await;
        assert!(events.iter().any(|(_, t, _)| t == "recovered"), "{id} was recovered");
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0));
        let before = events.iter().filter(|(_, _, b)| b["stepId"] == "before" && b["status"] == "processing").count();
        assert_eq!(before, 1, "the step finished before the crash is not repeated");
    }
    drop(rescuer);
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_sent_to_the_api_stops_a_task_on_another_process() {
    let db = TestDb::postgres().await;
    let deployment = Deployment::new(&db.url);
    let api = deployment.start("api", "api", 0, 10).await;
    let worker = deployment.start("worker", "worker", 2, 10).await;
    let client = reqwest::Client::new();
    let posted = Instant::now();
    let id = post(&client, &api.api(), "slow", json!({"seconds": 120})).await.unwrap();
    wait_for(&client, &api.api(), &id, "processing", Duration::from_secs(20)).await;
    // Posted to an API-only process, claimed by the worker elsewhere: promptly (NOTIFY), and in
    // any case within about a second (the poll); the deadline here is generous on purpose.
    assert!(posted.elapsed() < Duration::from_secs(3), "claimed {:?} after posting", posted.elapsed());
    let pool = PgPool::connect(&db.url).await.unwrap();
    eventually(Duration::from_secs(20), "the wait to begin", || async {
        events_of(&pool, &id).await.iter().any(|(_, _, b)| b["message"] == "Beginning step Wait").then_some(())
    })
    .await;
    let started = Instant::now();
    let answer: Value =
        client.post(format!("{}/tasks/{id}/cancel", api.api())).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer, json!({"status": "cancelled"}));
    wait_for(&client, &api.api(), &id, "cancelled", Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "the cancel crossed processes in {:?}", started.elapsed());
    // Watching the stream on the API process shows the cancellation and the end.
    let stream =
        client.get(format!("{}/tasks/{id}/eventstream", api.api())).send().await.unwrap().text().await.unwrap();
    assert!(stream.contains("event: cancelled\ndata: "), "{stream}");
    assert!(stream.trim_end().contains("event: completion\ndata: "));
    drop(worker);
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_running_tasks_back_within_the_grace_period() {
    let db = TestDb::postgres().await;
    let deployment = Deployment::new(&db.url);
    let api = deployment.start("api", "api", 0, 10).await;
    let mut leaving = deployment.start("leaving", "worker", 4, 10).await;
    let client = reqwest::Client::new();
    let ids = [
        post(&client, &api.api(), "slow", json!({"seconds": 3})).await.unwrap(),
        post(&client, &api.api(), "slow", json!({"seconds": 3})).await.unwrap(),
    ];
    let pool = PgPool::connect(&db.url).await.unwrap();
    eventually(Duration::from_secs(20), "both waits to begin", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT task_id) FROM scaffolder.task_events WHERE body LIKE '%Beginning step Wait%'",
        )
        .fetch_one(&pool)
        .await
        .ok()?;
        (n == 2).then_some(())
    })
    .await;
    let signalled = Instant::now();
    leaving.signal(Signal::SIGTERM);
    let status = leaving.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "clean exit: {status:?}\n{}", leaving.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "exited {:?} after SIGTERM (grace 0.8 s)",
        signalled.elapsed()
    );
    for id in &ids {
        assert_eq!(get_status(&client, &api.api(), id).await.as_deref(), Some("open"), "handed back");
        let events = events_of(&pool, id).await;
        assert_eq!(events.last().unwrap().1, "recovered");
    }
    let next = deployment.start("next", "worker", 4, 10).await;
    for id in &ids {
        wait_for(&client, &api.api(), id, "completed", Duration::from_secs(30)).await;
    }
    drop(next);
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_ride_out_a_postgres_restart_without_losing_tasks() {
    let cluster = Cluster::start();
    let deployment = Deployment::new(&cluster.url());
    let api = deployment.start("api", "api", 0, 10).await;
    let worker = deployment.start("worker", "worker", 4, 10).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(post(&client, &api.api(), "slow", json!({"seconds": 1})).await.unwrap());
    }
    // Restart while those run, then keep submitting.
    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids.len() < 20 && Instant::now() < deadline {
        match post(&client, &api.api(), "slow", json!({"seconds": 0.2})).await {
            Some(id) => ids.push(id),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(ids.len(), 20, "the API accepts tasks again after the restart");
    for id in &ids {
        wait_for(&client, &api.api(), id, "completed", Duration::from_secs(60)).await;
    }
    let health = client.get(format!("{}/healthcheck", worker.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(worker);
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_follows_the_database() {
    let cluster = Cluster::start();
    let deployment = Deployment::new(&cluster.url());
    let worker = deployment.start("worker", "worker", 2, 10).await;
    let client = reqwest::Client::new();
    let health =
        || async { client.get(format!("{}/healthcheck", worker.url)).send().await.ok().map(|r| r.status().as_u16()) };
    assert_eq!(health().await, Some(200));
    cluster.stop();
    eventually(Duration::from_secs(20), "the worker to report the database down", || async {
        (health().await == Some(503)).then_some(())
    })
    .await;
    cluster.start_again();
    eventually(Duration::from_secs(30), "the worker to report healthy again", || async {
        (health().await == Some(200)).then_some(())
    })
    .await;
    drop(worker);
}

/// The value of the first sample of `name` whose labels contain every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        (metric == name && labels.iter().all(|label| rest.contains(label))).then(|| value.parse().ok())?
    })
}

/// Issue 8's proof: `/metrics` of the API and of a worker move as tasks run (counters,
/// histograms, queue depth, the stalest heartbeat while a task runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_tasks_run() {
    let db = TestDb::postgres().await;
    let deployment = Deployment::new(&db.url);
    let api = deployment.start("api", "api", 0, 10).await;
    let worker = deployment.start("worker", "worker", 4, 10).await;
    let client = reqwest::Client::new();
    let scrape = |url: String| {
        let client = client.clone();
        async move { client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap() }
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(post(&client, &api.api(), "quick", json!({"label": format!("m{i}")})).await.expect("accepted"));
    }
    for id in &ids {
        wait_for(&client, &api.api(), id, "completed", Duration::from_secs(30)).await;
    }
    // A slow task keeps one heartbeat ageing while we look.
    let slow = post(&client, &api.api(), "slow", json!({"seconds": 30})).await.expect("accepted");
    wait_for(&client, &api.api(), &slow, "processing", Duration::from_secs(30)).await;

    let api_text = scrape(api.url.clone()).await;
    assert_eq!(
        sample(&api_text, "scaffolder_tasks_created_total", &["template=\"template:default/quick\""]),
        Some(3.0),
        "{api_text}"
    );
    assert_eq!(sample(&api_text, "scaffolder_queue_depth", &["status=\"completed\""]), Some(3.0));
    assert_eq!(sample(&api_text, "scaffolder_queue_depth", &["status=\"processing\""]), Some(1.0));
    assert!(sample(&api_text, "scaffolder_oldest_heartbeat_age_seconds", &[]).is_some_and(|age| age >= 0.0));
    assert!(
        sample(&api_text, "http_requests_total", &["method=\"POST\"", "status=\"201\""]).is_some_and(|n| n >= 4.0),
        "{api_text}"
    );

    let worker_text = scrape(worker.url.clone()).await;
    assert_eq!(sample(&worker_text, "scaffolder_task_count", &["result=\"ok\""]), Some(3.0), "{worker_text}");
    assert_eq!(sample(&worker_text, "scaffolder_task_duration_count", &["result=\"ok\""]), Some(3.0));
    assert_eq!(sample(&worker_text, "scaffolder_step_count", &["step=\"Two\"", "result=\"ok\""]), Some(3.0));
    assert!(sample(&worker_text, "scaffolder_step_duration_count", &["step=\"Two\""]).is_some_and(|n| n >= 3.0));
    assert!(sample(&worker_text, "scaffolder_tasks_claimed_total", &[]).is_some_and(|n| n >= 4.0));
    assert!(sample(&worker_text, "scaffolder_claim_duration_seconds_count", &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(sample(&worker_text, "scaffolder_worker_tasks_running", &[]), Some(1.0));
    assert!(sample(&worker_text, "scaffolder_writer_batch_size_count", &[]).is_some_and(|n| n >= 1.0));

    // The task finishes; its counters move again and nothing is left running.
    client.post(format!("{}/tasks/{slow}/cancel", api.api())).send().await.unwrap();
    wait_for(&client, &api.api(), &slow, "cancelled", Duration::from_secs(30)).await;
    let api_text = scrape(api.url.clone()).await;
    assert_eq!(sample(&api_text, "scaffolder_queue_depth", &["status=\"processing\""]), Some(0.0));
    assert_eq!(sample(&api_text, "scaffolder_oldest_heartbeat_age_seconds", &[]), Some(0.0));
    drop(worker);
    drop(api);
}
