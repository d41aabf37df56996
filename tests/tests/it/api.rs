//! The HTTP API through its router (no socket), compared with what Backstage answered.

use std::sync::Arc;
use std::time::Duration;

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use api::{ApiConfig, AppParts, AuthConfig, StaticToken};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use catalog::{Catalog, CatalogConfig, LocationConfig, Rule};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use store::{EventType, NewEvent, Store, TaskStatus, WriteOp};
use tower::ServiceExt;

use crate::support::db::{TestDb, sqlite_memory};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wire");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// A captured error body (the first line of an `err-*.txt` capture).
fn captured_json(name: &str) -> Value {
    serde_json::from_str(fixture(name).lines().next().unwrap()).unwrap()
}

const BASICS: &str = r#"
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: bench
  title: Bench template
  description: fetch:template of a 50-file skeleton, then debug:log
spec:
  owner: group:test
  type: service
  parameters:
    - title: Basics
      required:
        - name
      properties:
        name:
          title: Name
          type: string
        owner:
          title: Owner
          type: string
        description:
          title: Description
          type: string
  steps:
    - id: log
      name: Log
      action: debug:log
      input:
        message: Hello, ${{ parameters.name }}!
        listWorkspace: false
  output:
    text:
      - title: Result
        content: Created ${{ parameters.name }}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: secretive
spec:
  type: service
  secrets:
    schema:
      type: object
      required: [token]
      properties:
        token: {type: string, minLength: 10}
  steps:
    - {id: log, name: Log, action: debug:log, input: {message: hi}}
---
apiVersion: scaffolder.backstage.io/v1beta2
kind: Template
metadata:
  name: old-version
spec:
  type: service
  steps: []
"#;

struct Api {
    app: Router,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn api_with(store: Store, config: ApiConfig, auth: AuthConfig) -> Api {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("templates.yaml"), BASICS).unwrap();
    let catalog = Catalog::new(
        store.clone(),
        CatalogConfig {
            rules: Some(vec![Rule { allow: vec!["Template".to_owned()] }]),
            locations: vec![LocationConfig {
                kind: "file".to_owned(),
                target: "templates.yaml".to_owned(),
                rules: None,
            }],
            ..CatalogConfig::default()
        },
    );
    catalog.load_configured(dir.path()).await.unwrap();
    let catalog = Arc::new(catalog);
    let app = api::app(AppParts {
        store: store.clone(),
        runner: Arc::new(Runner::new(
            Arc::new(Registry::builtin(&RegistryConfig {
                catalog: Arc::new(catalog::StoreCatalog::with_catalog(catalog.clone())),
                ..RegistryConfig::default()
            })),
            RunnerConfig::default(),
        )),
        working_directory: dir.path().join("work"),
        catalog: Some(catalog),
        auth,
        config,
        worker_health: None,
        metrics: None,
    });
    Api { app, store, _dir: dir }
}

fn open_auth() -> AuthConfig {
    AuthConfig {
        disable_default_policy: true,
        static_tokens: vec![StaticToken { token: "static-token-123".to_owned(), subject: "ci".to_owned() }],
        ..AuthConfig::default()
    }
}

fn quick_config() -> ApiConfig {
    ApiConfig {
        long_poll_timeout: Duration::from_millis(300),
        event_poll_interval: Duration::from_millis(50),
        ..ApiConfig::default()
    }
}

async fn api() -> Api {
    api_with(sqlite_memory().await, quick_config(), open_auth()).await
}

impl Api {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, HeaderMap, Bytes) {
        self.raw(method, uri, body.map(|b| b.to_string().into_bytes()), &[]).await
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    async fn json(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.call(method, uri, body).await;
        (
            status,
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    }

    async fn create(&self, values: Value) -> String {
        let (status, body) = self
            .json(
                "POST",
                "/api/scaffolder/v2/tasks",
                Some(json!({"templateRef": "template:default/bench", "values": values})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn task_count(&self) -> i64 {
        self.store.task_list(&Default::default()).await.unwrap().1
    }

    /// Runs the task's lifecycle by hand (no worker): claim, log, complete.
    async fn finish(&self, status: TaskStatus) -> store::Lease {
        let lease = self.store.task_claim("test", 1).await.unwrap()[0].lease;
        let completion = NewEvent::new(
            EventType::Completion,
            &json!({"message": format!("Run completed with status: {status}"), "output": {}}),
        );
        let log = NewEvent::new(
            EventType::Log,
            &json!({"message": "Beginning step Log", "stepId": "log", "status": "processing"}),
        );
        self.store
            .write_batch(&[WriteOp::Complete { lease, status, events: vec![log, completion], state: None }])
            .await
            .unwrap();
        lease
    }
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[tokio::test]
async fn task_creation_and_reading_match_backstage() {
    let api = api().await;
    let request: Value = serde_json::from_str(&fixture("post-task.req.json")).unwrap();
    let (status, headers, body) = api.call("POST", "/api/scaffolder/v2/tasks", Some(request)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let created: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(keys(&created), ["id"]);
    let id = created["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());

    let (status, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let captured: Value = serde_json::from_str(&fixture("get-task-early.json")).unwrap();
    assert_eq!(
        keys(&task),
        ["id", "spec", "status", "createdAt"],
        "no heartbeat yet, no creator for an anonymous caller"
    );
    assert_eq!(keys(&task["spec"]), keys(&captured["spec"]));
    assert_eq!(task["spec"]["parameters"], captured["spec"]["parameters"]);
    assert_eq!(task["spec"]["user"], json!({}));
    assert_eq!(task["spec"]["templateInfo"]["entityRef"], "template:default/bench");
    assert!(task["spec"]["templateInfo"]["baseUrl"].as_str().unwrap().starts_with("file:///"));
    assert_eq!(
        keys(&task["spec"]["templateInfo"]["entity"]["metadata"]).first().map(String::as_str),
        Some("namespace")
    );
    assert_eq!(
        task["spec"]["steps"][0],
        json!({"id": "log", "name": "Log", "action": "debug:log", "input": {"message": "Hello, ${{ parameters.name }}!", "listWorkspace": false}})
    );
    assert_eq!(task["status"], "open");
    assert!(task["createdAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn errors_use_backstages_envelope_and_words() {
    let api = api().await;
    let (status, body) = api
        .json("POST", "/api/scaffolder/v2/tasks", Some(json!({"templateRef": "template:default/nope", "values": {}})))
        .await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, captured_json("err-unknown-template.txt")));

    let (status, body) = api
        .json(
            "POST",
            "/api/scaffolder/v2/tasks",
            Some(json!({"templateRef": "template:default/bench", "values": {"owner": "x"}})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, captured_json("err-missing-value.txt")));

    let (status, body) = api.json("GET", "/api/scaffolder/v2/tasks/00000000-0000-0000-0000-000000000000", None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, captured_json("err-unknown-task.txt")));
    let (status, body) = api.json("GET", "/api/scaffolder/v2/tasks/not-a-uuid", None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, captured_json("err-bad-task.txt")));

    let (status, _, body) =
        api.raw("GET", "/api/scaffolder/v2/tasks?limit=1", None, &[("authorization", "Bearer Illegal")]).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    let captured = captured_json("err-bad-token.txt");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["name"], captured["error"]["name"]);
    assert_eq!(body["request"], captured["request"]);
    assert_eq!(body["response"], captured["response"]);
}

#[tokio::test]
async fn bad_submissions_get_specific_messages_and_change_nothing() {
    let api = api().await;
    let existing = api.create(json!({"name": "keep"})).await;
    let cases: Vec<(Option<Vec<u8>>, StatusCode, &str)> = vec![
        (Some(b"{not json".to_vec()), StatusCode::BAD_REQUEST, "Malformed JSON in request body"),
        (Some(b"[1,2]".to_vec()), StatusCode::BAD_REQUEST, "request/body must be object"),
        (None, StatusCode::BAD_REQUEST, "request/body must have required property 'templateRef'"),
        (
            Some(br#"{"values":{}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "request/body must have required property 'templateRef'",
        ),
        (
            Some(br#"{"templateRef":7,"values":{}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "request/body/templateRef must be string",
        ),
        (
            Some(br#"{"templateRef":"bench"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "request/body must have required property 'values'",
        ),
        (
            Some(br#"{"templateRef":"bench","values":[]}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "request/body/values must be object",
        ),
        (
            Some(br#"{"templateRef":"bench","values":{"name":"x"},"secrets":{"a":1}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "request/body/secrets/a must be string",
        ),
        (
            Some(br#"{"templateRef":"component:default/bench","values":{}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "Invalid kind, only 'Template' kind is supported",
        ),
        (Some(br#"{"templateRef":"a:b:c","values":{}}"#.to_vec()), StatusCode::BAD_REQUEST, "only 'Template' kind"),
        (
            Some(br#"{"templateRef":"template:/x","values":{}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "was not on the form",
        ),
        (Some(br#"{"templateRef":"","values":{}}"#.to_vec()), StatusCode::BAD_REQUEST, "must not be empty"),
        (
            Some(br#"{"templateRef":"old-version","values":{}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "Unsupported apiVersion field in schema entity, scaffolder.backstage.io/v1beta2",
        ),
        (
            Some(
                format!("{{\"templateRef\":\"bench\",\"values\":{}{}}}", "[".repeat(200), "]".repeat(200)).into_bytes(),
            ),
            StatusCode::BAD_REQUEST,
            "recursion limit",
        ),
    ];
    for (body, expected, message) in cases {
        let (status, _, bytes) = api.raw("POST", "/api/scaffolder/v2/tasks", body.clone(), &[]).await;
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, expected, "{answer}");
        assert_eq!(answer["response"]["statusCode"], expected.as_u16());
        assert!(answer["error"]["message"].as_str().unwrap().contains(message), "{message} in {answer}");
    }
    // Oversized bodies: 413 with the envelope.
    let big = format!("{{\"templateRef\":\"bench\",\"values\":{{\"name\":\"{}\"}}}}", "x".repeat(11 * 1024 * 1024));
    let (status, _, bytes) = api.raw("POST", "/api/scaffolder/v2/tasks", Some(big.into_bytes()), &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(answer["error"]["name"], "PayloadTooLargeError");
    // Nothing was created, and the existing task is untouched.
    assert_eq!(api.task_count().await, 1);
    let (_, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{existing}"), None).await;
    assert_eq!(task["status"], "open");
}

#[tokio::test]
async fn secrets_are_validated_without_echoing_them() {
    let api = api().await;
    let (status, body) = api
        .json(
            "POST",
            "/api/scaffolder/v2/tasks",
            Some(json!({"templateRef": "secretive", "values": {}, "secrets": {"token": "short"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["property"], "secrets.token");
    assert_eq!(body["errors"][0]["instance"], json!({}));
    assert!(!body.to_string().contains("short"), "{body}");
    let (status, body) =
        api.json("POST", "/api/scaffolder/v2/tasks", Some(json!({"templateRef": "secretive", "values": {}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["message"], "secrets.token is required");
    let (status, body) = api
        .json(
            "POST",
            "/api/scaffolder/v2/tasks",
            Some(json!({"templateRef": "secretive", "values": {}, "secrets": {"token": "long-enough-token"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["id"].as_str().unwrap();
    let (_, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}"), None).await;
    assert!(!task.to_string().contains("long-enough-token"), "task responses never carry secrets");
}

#[tokio::test]
async fn listing_filters_orders_and_refuses_bad_parameters() {
    let api = api().await;
    for i in 0..3 {
        api.create(json!({"name": format!("n{i}")})).await;
    }
    api.finish(TaskStatus::Completed).await;
    let (status, list) = api.json("GET", "/api/scaffolder/v2/tasks?limit=1&order=desc:created_at", None).await;
    assert_eq!(status, StatusCode::OK);
    let captured: Value = serde_json::from_str(&fixture("list-tasks.json")).unwrap();
    assert_eq!(keys(&list), keys(&captured));
    assert_eq!(list["totalTasks"], 3);
    assert_eq!(list["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(list["tasks"][0]["spec"]["parameters"]["name"], "n2", "newest first");
    let (_, list) = api.json("GET", "/api/scaffolder/v2/tasks?status=completed&status=failed", None).await;
    assert_eq!(list["totalTasks"], 1);
    assert_eq!(list["tasks"][0]["status"], "completed");
    let (_, list) = api.json("GET", "/api/scaffolder/v2/tasks?createdBy=user:default/nobody", None).await;
    assert_eq!(list, json!({"tasks": [], "totalTasks": 0}));
    let (_, list) = api.json("GET", "/api/scaffolder/v2/tasks?order=asc:created_at&offset=1&limit=5", None).await;
    assert_eq!(list["tasks"][0]["spec"]["parameters"]["name"], "n1");

    let bad = [
        ("order=created_at", "Invalid order parameter \"created_at\", expected \"<asc or desc>:<field name>\""),
        ("order=sideways:status", "Invalid order parameter \"sideways:status\""),
        ("order=asc:spec", "Invalid order field \"spec\""),
        ("order=desc:created_at%3B%20DROP%20TABLE%20tasks", "Invalid order field \"created_at; DROP TABLE tasks\""),
        ("limit=-1", "request/query/limit must be >= 0"),
        ("limit=ten", "request/query/limit must be integer"),
        ("offset=1.5", "request/query/offset must be integer"),
        ("status=running", "Invalid status \"running\""),
    ];
    for (query, message) in bad {
        let (status, body) = api.json("GET", &format!("/api/scaffolder/v2/tasks?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["name"], "InputError");
        assert!(body["error"]["message"].as_str().unwrap().contains(message), "{query}: {body}");
    }
    assert_eq!(api.task_count().await, 3);
}

#[tokio::test]
async fn cancel_and_retry_follow_the_state_machine() {
    let api = api().await;
    // Cancelling a task that has not started ends it.
    let open = api.create(json!({"name": "a"})).await;
    let (status, body) = api.json("POST", &format!("/api/scaffolder/v2/tasks/{open}/cancel"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "cancelled"})));
    let (_, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{open}"), None).await;
    assert_eq!(task["status"], "cancelled");
    let (_, events) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{open}/events"), None).await;
    let types: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["cancelled", "completion"]);
    assert_eq!(events[0]["body"]["stepId"], "log");

    // Cancelling a finished task answers as Backstage does and changes nothing.
    let done = api.create(json!({"name": "b"})).await;
    api.finish(TaskStatus::Completed).await;
    let (_, before) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{done}/events"), None).await;
    let (status, body) = api.json("POST", &format!("/api/scaffolder/v2/tasks/{done}/cancel"), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::from_str(fixture("cancel-completed.txt").lines().next().unwrap()).unwrap())
    );
    let (_, after) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{done}/events"), None).await;
    assert_eq!(before, after);
    let (_, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{done}"), None).await;
    assert_eq!(task["status"], "completed");

    let missing = uuid::Uuid::new_v4();
    let (status, _) = api.json("POST", &format!("/api/scaffolder/v2/tasks/{missing}/cancel"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Retry: only from terminal states.
    let running = api.create(json!({"name": "c"})).await;
    api.store.task_claim("w", 1).await.unwrap();
    let (status, body) = api.json("POST", &format!("/api/scaffolder/v2/tasks/{running}/retry"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        json!({"name": "ConflictError", "message": format!("Task with taskId {running} cannot be retried")})
    );
    let (status, body) = api.json("POST", &format!("/api/scaffolder/v2/tasks/{done}/retry"), None).await;
    assert_eq!((status, body), (StatusCode::CREATED, json!({"id": done})));
    let (_, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{done}"), None).await;
    assert_eq!(task["status"], "open");
    let (_, events) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{done}/events"), None).await;
    assert_eq!(events.as_array().unwrap().last().unwrap()["type"], "recovered");
    let (status, _) = api.json("POST", &format!("/api/scaffolder/v2/tasks/{missing}/retry"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        api.json("POST", &format!("/api/scaffolder/v2/tasks/{done}/retry"), Some(json!({"secrets": [1]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn events_long_poll_and_stream() {
    let api = api().await;
    let id = api.create(json!({"name": "ev"})).await;
    // Nothing yet: the long-poll waits (here 300 ms) and answers [].
    let started = std::time::Instant::now();
    let (status, events) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}/events"), None).await;
    assert_eq!((status, events), (StatusCode::OK, json!([])));
    assert!(started.elapsed() >= Duration::from_millis(250));

    // A waiting reader is woken by a write.
    let waiting = {
        let app = api.app.clone();
        let uri = format!("/api/scaffolder/v2/tasks/{id}/events?after=0");
        tokio::spawn(async move {
            let response = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.finish(TaskStatus::Completed).await;
    let events: Value = serde_json::from_slice(&waiting.await.unwrap()).unwrap();
    let captured: Value = serde_json::from_str(&fixture("get-events.json")).unwrap();
    assert_eq!(keys(&events[0]), keys(&captured[0]));
    assert_eq!(events[0]["isTaskRecoverable"], false);
    assert_eq!(events[0]["taskId"], id.as_str());
    let last = events.as_array().unwrap().last().unwrap()["id"].as_i64().unwrap();
    // After the last id: the completion again, at once.
    let (_, again) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}/events?after={last}"), None).await;
    assert_eq!(again.as_array().unwrap().len(), 1);
    assert_eq!(again[0]["type"], "completion");
    let (status, body) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}/events?after=abc"), None).await;
    assert_eq!((status, body["error"]["name"].as_str()), (StatusCode::BAD_REQUEST, Some("InputError")));

    // SSE: Backstage's framing, and the stream ends after the completion.
    let (status, headers, body) = api.call("GET", &format!("/api/scaffolder/v2/tasks/{id}/eventstream"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    let text = String::from_utf8(body.to_vec()).unwrap();
    let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2);
    assert!(frames[0].starts_with("event: log\ndata: {\"id\":"), "{text}");
    assert!(frames[1].starts_with("event: completion\ndata: "), "{text}");
    let data: Value = serde_json::from_str(frames[1].split_once("data: ").unwrap().1).unwrap();
    assert_eq!(data["body"]["message"], "Run completed with status: completed");
    let (status, _) = api.json("GET", "/api/scaffolder/v2/tasks/nope/eventstream", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn actions_schema_and_documentation() {
    let api = api().await;
    let (status, actions) = api.json("GET", "/api/scaffolder/v2/actions", None).await;
    assert_eq!(status, StatusCode::OK);
    // Backstage 4.2.0 with the GitHub module 0.10.0, as a normal installation has it.
    let captured: Value = serde_json::from_str(&fixture("actions-with-github.json")).unwrap();
    let captured = captured["body"].as_array().unwrap();
    let builtin: Vec<Value> = serde_json::from_str(&fixture("actions.json")).unwrap();
    for action in actions.as_array().unwrap() {
        let theirs = captured.iter().find(|a| a["id"] == action["id"]).unwrap();
        assert_eq!(action.get("description"), theirs.get("description"), "{}", action["id"]);
        // The built-ins' examples are Backstage's; the GitHub actions have examples of our own.
        if builtin.iter().any(|b| b["id"] == action["id"]) {
            assert_eq!(action["examples"], theirs["examples"]);
        } else {
            assert!(!action["examples"].as_array().unwrap().is_empty(), "{}", action["id"]);
        }
        assert_eq!(action["schema"]["input"], theirs["schema"]["input"], "{}", action["id"]);
        assert_eq!(action["schema"]["output"], theirs["schema"]["output"], "{}", action["id"]);
    }
    let ids: Vec<&str> = actions.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    let (status, schema) =
        api.json("GET", "/api/scaffolder/v2/templates/default/template/bench/parameter-schema", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["title"], "Bench template");
    assert_eq!(schema["description"], "fetch:template of a 50-file skeleton, then debug:log");
    assert_eq!(schema["steps"][0]["title"], "Basics");
    assert_eq!(schema["steps"][0]["schema"]["required"], json!(["name"]));
    let (status, _) =
        api.json("GET", "/api/scaffolder/v2/templates/default/template/nope/parameter-schema", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        api.json("GET", "/api/scaffolder/v2/templates/default/component/bench/parameter-schema", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, doc) = api.json("GET", "/api/scaffolder/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v2/tasks",
        "/v2/tasks/{taskId}",
        "/v2/tasks/{taskId}/cancel",
        "/v2/tasks/{taskId}/retry",
        "/v2/tasks/{taskId}/events",
        "/v2/tasks/{taskId}/eventstream",
        "/v2/actions",
        "/v2/templates/{namespace}/{kind}/{name}/parameter-schema",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["paths"]["/v2/tasks"]["post"]["responses"].get("201").is_some());
    assert!(doc["components"]["schemas"].get("SerializedTask").is_some());
}

#[tokio::test]
async fn authentication_and_unknown_routes() {
    let locked =
        api_with(sqlite_memory().await, quick_config(), AuthConfig { disable_default_policy: false, ..open_auth() })
            .await;
    let (status, body) = locked.json("GET", "/api/scaffolder/v2/tasks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["name"], "AuthenticationError");
    let (status, _, _) =
        locked.raw("GET", "/api/scaffolder/v2/tasks", None, &[("authorization", "Bearer static-token-123")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = locked
        .raw(
            "POST",
            "/api/scaffolder/v2/tasks",
            Some(br#"{"templateRef":"bench","values":{"name":"x"}}"#.to_vec()),
            &[("authorization", "Bearer static-token-123")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, bytes) =
        locked.raw("GET", "/api/scaffolder/v2/tasks", None, &[("authorization", "Bearer static-token-123")]).await;
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(list["tasks"][0].get("createdBy").is_none(), "a service principal leaves createdBy empty");
    // Health and metrics need no token.
    let (status, body) = locked.json("GET", "/healthcheck", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = locked.json("GET", "/api/scaffolder/v2/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["name"], "NotFoundError");
    let (status, _, bytes) =
        locked.raw("DELETE", "/api/scaffolder/v2/actions", None, &[("authorization", "Bearer static-token-123")]).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["response"]["statusCode"], 405);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let api = api_with(sqlite_memory().await, ApiConfig { max_queue_depth: 1, ..quick_config() }, open_auth()).await;
    api.create(json!({"name": "first"})).await;
    let (status, headers, body) = api
        .call("POST", "/api/scaffolder/v2/tasks", Some(json!({"templateRef": "bench", "values": {"name": "second"}})))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["name"], "ServiceUnavailableError");
    assert_eq!(api.task_count().await, 1);
}

#[tokio::test]
async fn the_api_behaves_the_same_on_postgres() {
    let db = TestDb::postgres().await;
    let api = api_with(db.store().await, quick_config(), open_auth()).await;
    let id = api.create(json!({"name": "pg"})).await;
    let (_, task) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}"), None).await;
    assert_eq!(task["spec"]["parameters"], json!({"name": "pg"}));
    api.finish(TaskStatus::Failed).await;
    let (_, list) = api.json("GET", "/api/scaffolder/v2/tasks?status=failed", None).await;
    assert_eq!(list["totalTasks"], 1);
    let (status, events) = api.json("GET", &format!("/api/scaffolder/v2/tasks/{id}/events"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events.as_array().unwrap().len(), 2);
}

/// Found by `scripts/schemathesis`: PostgreSQL refuses text holding NUL, which made these 500s.
/// Names with NUL match nothing (as on SQLite); elsewhere the request is refused as input. A path
/// segment that is not UTF-8 once decoded is refused with the envelope, not axum's plain text.
#[tokio::test]
async fn nul_characters_and_undecodable_paths_are_the_callers_mistake_on_postgres() {
    let db = TestDb::postgres().await;
    let api = api_with(db.store().await, quick_config(), open_auth()).await;
    api.create(json!({"name": "pg"})).await;
    for query in ["createdBy=a%00", "createdBy=a%00&createdBy=b", "createdBy=%00&status=open"] {
        let (status, list) = api.json("GET", &format!("/api/scaffolder/v2/tasks?{query}"), None).await;
        assert_eq!((status, list), (StatusCode::OK, json!({"tasks": [], "totalTasks": 0})), "{query}");
    }
    let (status, body) =
        api.json("GET", "/api/scaffolder/v2/templates/default/template/be%00nch/parameter-schema", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["name"], "NotFoundError");
    let (status, body) = api
        .json("POST", "/api/scaffolder/v2/tasks", Some(json!({"templateRef": "bench\u{0}", "values": {"name": "x"}})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.json("GET", "/api/catalog/locations/by-entity/template/default/be%00nch", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["name"], "InputError");
    assert_eq!(api.task_count().await, 1);

    for (method, uri) in [
        ("GET", "/api/scaffolder/v2/tasks/%FF"),
        ("POST", "/api/scaffolder/v2/tasks/%FF/cancel"),
        ("GET", "/api/scaffolder/v2/templates/default/template/%C3/parameter-schema"),
    ] {
        let (status, headers, bytes) = api.raw(method, uri, None, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(headers["content-type"], "application/json", "{uri}");
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["name"], "InputError", "{uri}");
        assert_eq!(body["response"]["statusCode"], 400, "{uri}");
    }
}
