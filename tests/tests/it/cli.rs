//! The binary's start-up: the embedded default, configuration errors that name their key, and
//! commands that refuse what they cannot do.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::process::{Scaffolder, run_to_end};

/// `scaffolder serve` with no configuration in `dir`: SQLite in the working directory, the
/// built-in samples, no tokens on loopback. Only the port is overridden, so that tests never
/// collide on 7007, and the temporary directory (the default workspaces) is kept inside `dir`.
async fn serve_embedded(dir: &std::path::Path, env: &[(&str, &str)]) -> Scaffolder {
    let work = dir.join("tmp");
    std::fs::create_dir(&work).unwrap();
    let mut all = vec![("APP_CONFIG_backend_listen_port", "0"), ("TMPDIR", work.to_str().unwrap())];
    all.extend_from_slice(env);
    Scaffolder::start_with("serve", &["serve"], None, dir, &all).await
}

/// Posts the `hello-world` sample for `name` without pauses; returns the task id.
async fn say_hello(client: &reqwest::Client, api: &str, name: &str) -> String {
    let created: Value = client
        .post(format!("{api}/tasks"))
        .json(&json!({"templateRef": "template:default/hello-world", "values": {"name": name, "pause": 0}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().expect("created").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_runs_a_sample_template_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_embedded(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let api = server.api();
    let id = say_hello(&client, &api, "newcomer").await;
    let events: Value = eventually(Duration::from_secs(20), "the sample to finish", || async {
        let events: Value = client.get(format!("{api}/tasks/{id}/events")).send().await.ok()?.json().await.ok()?;
        let done = events.as_array()?.iter().any(|e| e["type"] == "completion");
        done.then_some(events)
    })
    .await;
    let completion = events.as_array().unwrap().iter().find(|e| e["type"] == "completion").unwrap();
    assert_eq!(
        completion["body"]["output"],
        json!({"text": [{"title": "Greeting", "content": "Said hello to newcomer."}]})
    );
    assert!(dir.path().join("scaffolder.sqlite").exists(), "the embedded database lives in the working directory");
    let templates =
        client.get(format!("{api}/templates/default/template/long-running/parameter-schema")).send().await.unwrap();
    assert_eq!(templates.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_name_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("backend:\n  database:\n    client: mysql\n", "backend.database.client"),
        ("backend:\n  listen:\n    port: seventy\n", "backend.listen.port"),
        ("scaffolder:\n  concurrentTasksLimit: [1]\n", "scaffolder.concurrentTasksLimit"),
        ("scaffolder:\n  taskTimeout: whenever\n", "scaffolder.taskTimeout"),
        ("backend: [unclosed\n", "bad.yaml"),
    ];
    for (text, key) in cases {
        std::fs::write(dir.path().join("bad.yaml"), text).unwrap();
        let (status, _, stderr) = run_to_end(&["serve", "--config", "bad.yaml"], dir.path(), &[]).await;
        assert_eq!(status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(key), "{key} named in: {stderr}");
    }
    let (status, _, stderr) = run_to_end(&["serve", "--config", "missing.yaml"], dir.path(), &[]).await;
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("missing.yaml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_process_commands_refuse_sqlite_and_migrate_works_on_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sqlite.yaml"),
        "backend:\n  database: {client: better-sqlite3, connection: ':memory:'}\n",
    )
    .unwrap();
    for command in ["api", "worker", "janitor"] {
        let (status, _, stderr) = run_to_end(&[command, "--config", "sqlite.yaml"], dir.path(), &[]).await;
        assert_eq!(status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("needs PostgreSQL"), "{command}: {stderr}");
    }
    std::fs::write(
        dir.path().join("file.yaml"),
        "backend:\n  database: {client: better-sqlite3, connection: {filename: data.sqlite}}\n",
    )
    .unwrap();
    let (status, stdout, stderr) = run_to_end(&["migrate", "--config", "file.yaml"], dir.path(), &[]).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("migrations applied"));
    assert!(dir.path().join("data.sqlite").exists());

    let db = TestDb::postgres().await;
    std::fs::write(
        dir.path().join("pg.yaml"),
        format!("backend:\n  database: {{client: pg, connection: '{}'}}\n", db.url),
    )
    .unwrap();
    let (status, _, stderr) = run_to_end(&["migrate", "--config", "pg.yaml"], dir.path(), &[]).await;
    assert!(status.success(), "{stderr}");
    let (status, stdout, stderr) = run_to_end(&["janitor", "--once", "--config", "pg.yaml"], dir.path(), &[]).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("janitor: recovered 0"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_refuses_to_listen_publicly_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, stderr) = run_to_end(
        &["serve"],
        dir.path(),
        &[("APP_CONFIG_backend_listen_host", "0.0.0.0"), ("APP_CONFIG_backend_listen_port", "0")],
    )
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("refusing to listen on 0.0.0.0 without authentication"), "{stderr}");
}

/// The samples with their example values, as the README tells a template author to run them.
#[tokio::test]
async fn the_samples_dry_run_from_the_command_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = tempfile::tempdir().unwrap();
    for (sample, expected) in [
        ("docs-site", vec!["mkdocs.yml", "catalog-info.yaml", "docs/index.md"]),
        ("typescript-service", vec!["service/package.json", "service/catalog-info.yaml", "service/Dockerfile"]),
    ] {
        let directory = root.join("examples/templates").join(sample);
        let values = directory.join("values.example.yaml");
        let output = out.path().join(sample);
        let (status, stdout, stderr) = run_to_end(
            &[
                "dry-run",
                directory.to_str().unwrap(),
                "--values",
                values.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
                "--json",
            ],
            out.path(),
            &[],
        )
        .await;
        assert!(status.success(), "{sample}: {status}\n{stderr}");
        let response: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{sample}: {e}\n{stdout}"));
        assert!(response["steps"].as_array().is_some_and(|s| !s.is_empty()), "{sample}: {response}");
        for file in expected {
            assert!(output.join(file).is_file(), "{sample}: {file} missing; stderr:\n{stderr}");
        }
    }
}

/// Issue 8: `scaffolder explain TASK_ID` says why a task is (not) running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_where_a_task_stands() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let task = store::NewTask {
            id: uuid::Uuid::now_v7(),
            spec: json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "steps": []}).to_string(),
            secrets: None,
            created_by: Some(format!("user:default/u{i}")),
            template_ref: "template:default/t".to_owned(),
        };
        store.task_insert(&task, 100).await.unwrap();
        ids.push(task.id.to_string());
    }
    assert_eq!(store.task_claim("worker-x", 1).await.unwrap().len(), 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app-config.yaml"),
        format!("backend:\n  database: {{client: pg, connection: '{}'}}\n", db.url),
    )
    .unwrap();
    let explain = |id: String| {
        let cwd = dir.path().to_path_buf();
        async move { run_to_end(&["explain", &id], &cwd, &[]).await }
    };

    let (status, out, err) = explain(ids[2].clone()).await;
    assert!(status.success(), "{err}");
    assert!(out.contains("created") && out.contains("by user:default/u2: open"), "{out}");
    assert!(out.contains("1 open task(s) were created before it"), "{out}");
    assert!(out.contains("1 worker(s) are running 1 task(s) now"), "{out}");

    let (status, out, err) = explain(ids[0].clone()).await;
    assert!(status.success(), "{err}");
    assert!(out.contains("claimed by worker-x (attempt 1)"), "{out}");
    assert!(out.contains("its worker is alive"), "{out}");

    let (status, _, err) = explain(uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("does not exist"), "{err}");
    let (status, _, err) = explain("not-a-task".to_owned()).await;
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("'not-a-task' is not a task id"), "{err}");
}

/// Issue 8: with `OTEL_EXPORTER_OTLP_ENDPOINT`, spans (task, step, action, each with the task id)
/// go to the collector over OTLP/HTTP; a stand-in collector receives them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_embedded(dir.path(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.uri())]).await;
    let client = reqwest::Client::new();
    let api = server.api();
    let id = say_hello(&client, &api, "traced").await;
    eventually(Duration::from_secs(20), "the task to finish", || async {
        let task: Value = client.get(format!("{api}/tasks/{id}")).send().await.ok()?.json().await.ok()?;
        (task["status"] == "completed").then_some(())
    })
    .await;
    // Stopping flushes what the batch exporter still holds.
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(30)).await.success());
    let received = collector.received_requests().await.unwrap_or_default();
    let bodies: Vec<u8> = received.iter().flat_map(|request| request.body.clone()).collect();
    let contains = |needle: &[u8]| bodies.windows(needle.len()).any(|window| window == needle);
    assert!(!received.is_empty(), "no OTLP request reached the collector");
    assert!(
        received.iter().all(|r| r.headers.get("content-type").is_some_and(|v| v == "application/x-protobuf")),
        "OTLP/HTTP with protobuf bodies"
    );
    for needle in [id.as_bytes(), b"task_id", b"step", b"action", b"debug:log", b"scaffolder"] {
        assert!(contains(needle), "the exported spans mention {}", String::from_utf8_lossy(needle));
    }
}
