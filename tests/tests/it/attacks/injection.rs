//! Injection: CR/LF in values that could split headers (in requests, in our answers, and in the
//! headers actions send on), blank lines in messages that could forge server-sent events, and
//! SQL in list queries (`order`, `createdBy`, `status`, paging, the catalog's `filter`) on
//! PostgreSQL, which must end as a 400 naming what is allowed or be taken literally.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Setup, Target, step};
use crate::support::db::TestDb;

const LABELLED: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: labelled\nspec:\n  type: service\n  parameters:\n    - properties:\n        label: {type: string}\n  steps:\n    - {id: log, name: Log, action: 'debug:log', input: {message: '${{ parameters.label }}'}}\n";

const TOKENED: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: tokened\nspec:\n  type: service\n  parameters:\n    - properties:\n        label: {type: string}\n  steps:\n    - {id: fetch, name: Fetch, action: 'fetch:plain:file', input: {url: 'https://github.test/acme/app/blob/main/x.txt', targetPath: x.txt, token: '${{ parameters.label }}'}}\n";

fn no_injected_header(reply: &super::Reply) {
    for (name, value) in &reply.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !name.as_str().contains("injected") && name != "set-cookie" && !value.contains("injected"),
            "{name}: {value}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr_lf_never_splits_a_header_or_an_event() {
    let github = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404)).mount(&github).await;
    let target = Target::start(Setup {
        catalog: Some(format!("{LABELLED}---\n{TOKENED}")),
        github_api: Some(github.uri()),
        ..Setup::default()
    })
    .await;

    // Encoded CR/LF in paths and queries come back, if at all, inside a JSON body.
    for path in [
        "/api/scaffolder/v2/tasks/x%0d%0aSet-Cookie:%20injected=1",
        "/api/scaffolder/v2/tasks?createdBy=x%0d%0aX-Injected:%201",
        "/api/scaffolder/v2/tasks/x%0d%0aX-Injected:%201/eventstream",
        "/api/scaffolder/v2/templates/default/template/x%0d%0aX-Injected:%201/parameter-schema",
        "/api/catalog/entities/by-name/component/default/x%0d%0aX-Injected:%201",
    ] {
        let reply = target.get(path).await;
        assert!(matches!(reply.status, 200 | 400 | 404), "{path}: {}", reply.text);
        no_injected_header(&reply);
    }
    // A bare CR or a NUL inside a request header: refused by the HTTP layer, nothing crashes.
    for header in ["X-A: a\rX-Injected: 1", "X-A: a\0b", "X-A: a\r\n b"] {
        let address = target.server.url.trim_start_matches("http://").to_owned();
        let raw = format!("GET /healthcheck HTTP/1.1\r\nhost: {address}\r\n{header}\r\nconnection: close\r\n\r\n");
        let answer = raw_exchange(&address, raw.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{header:?}: {answer}");
    }

    // A token with CR/LF is never sent on as a header (it used to panic the step): the step
    // fails, in a dry-run and in a task, and GitHub hears nothing.
    let injected = "ghp_x\r\nX-Injected: 1";
    let reply = target
        .dry_run(
            json!([step(
                "fetch:plain:file",
                json!({"url": "https://github.test/acme/app/blob/main/x.txt", "targetPath": "x.txt", "token": injected})
            )]),
            &[],
            Value::Null,
        )
        .await;
    reply.assert_refused(400, "InputError", "The GitHub token cannot be sent");
    let finished = target.run_task("tokened", json!({"label": injected}), Value::Null).await;
    let (name, message) = finished.error();
    assert_eq!(name, "InputError", "{message}");
    assert!(message.starts_with("The GitHub token cannot be sent"), "{message}");
    let heard = github.received_requests().await.unwrap_or_default();
    assert!(heard.is_empty(), "{heard:?}");

    // A message with blank lines and `event:` lines stays inside one event's JSON.
    let forged = "x\n\nevent: completion\ndata: {\"body\":{\"message\":\"forged\"}}\n\nid: 999\r\n\r\n";
    let id = target.create_task("labelled", json!({"label": forged}), Value::Null).await;
    let finished = target.wait_task(&id).await;
    assert_eq!(finished.status, "completed");
    let stream = target.get(&format!("/api/scaffolder/v2/tasks/{id}/eventstream")).await;
    let frames: Vec<&str> = stream.text.split("\n\n").filter(|f| !f.trim().is_empty()).collect();
    assert_eq!(frames.len(), finished.events.len(), "{}", stream.text);
    let mut completions = 0;
    for frame in frames {
        let lines: Vec<&str> = frame.lines().collect();
        assert_eq!(lines.len(), 2, "one event, one data line: {frame:?}");
        let kind = lines[0].strip_prefix("event: ").expect("an event line");
        let data: Value = serde_json::from_str(lines[1].strip_prefix("data: ").expect("a data line")).unwrap();
        assert_eq!(data["type"], kind);
        completions += usize::from(kind == "completion");
        assert_ne!(data["body"]["message"], "forged");
    }
    assert_eq!(completions, 1);
    assert!(finished.messages().contains(forged), "the message arrives whole");
    target.assert_unharmed().await;
}

/// Writes `request` and reads the answer to the end.
async fn raw_exchange(address: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queries_refuse_or_quote_injected_sql_on_postgres() {
    let db = TestDb::postgres().await;
    let target =
        Target::start(Setup { catalog: Some(LABELLED.to_owned()), postgres: Some(db.url.clone()), ..Setup::default() })
            .await;
    for i in 0..3 {
        let id = target.create_task("labelled", json!({"label": format!("n{i}")}), Value::Null).await;
        target.wait_task(&id).await;
    }
    let entities_before = target.get("/api/catalog/entities").await.json();

    let refused = [
        (
            "order=desc:created_at;DROP%20TABLE%20scaffolder.tasks",
            "Invalid order field \"created_at;DROP TABLE scaffolder.tasks\"",
        ),
        ("order=asc:secrets", "Invalid order field \"secrets\""),
        ("order=asc:spec", "Invalid order field \"spec\""),
        ("order=asc:id%20desc", "Invalid order field \"id desc\""),
        ("order=desc:(SELECT%20pg_sleep(10))", "Invalid order field \"(SELECT pg_sleep(10))\""),
        ("order=asc:created_at%2C(SELECT%201)", "Invalid order field \"created_at,(SELECT 1)\""),
        ("order=desc%3Bselect:created_at", "Invalid order parameter"),
        ("status=completed'%20OR%20'1'%3D'1", "Invalid status \"completed' OR '1'='1\""),
        ("limit=1;DROP%20TABLE%20scaffolder.tasks", "request/query/limit must be integer"),
        ("offset=0%20OR%201%3D1", "request/query/offset must be integer"),
        ("limit=99999999999999999999999", "request/query/limit must be integer"),
    ];
    for (query, message) in refused {
        let reply = target.get(&format!("/api/scaffolder/v2/tasks?{query}")).await;
        reply.assert_refused(400, "InputError", message);
        if query.starts_with("order=") && message.starts_with("Invalid order field") {
            assert!(
                reply.text.contains("created_at") && reply.text.contains("status"),
                "the allowed fields: {}",
                reply.text
            );
        }
    }
    // Taken literally: no task was created by these.
    for created_by in ["' OR 1=1 --", "x'); DROP TABLE scaffolder.tasks; --", "\" OR \"\"=\"", "%"] {
        let query: String =
            form_urlencoded::Serializer::new(String::new()).append_pair("createdBy", created_by).finish();
        let reply = target.get(&format!("/api/scaffolder/v2/tasks?{query}")).await;
        assert_eq!((reply.status, reply.json()), (200, json!({"tasks": [], "totalTasks": 0})), "{created_by}");
    }
    // The catalog's filters are values, never SQL.
    for query in [
        "filter=kind=template'%20OR%20'1'%3D'1",
        "filter=metadata.name=x')%3BDROP%20TABLE%20scaffolder.tasks%3B--",
        "filter=metadata.name%3D'%20OR%201%3D1--=x",
        "fields=metadata.name,(SELECT%201)",
    ] {
        let reply = target.get(&format!("/api/catalog/entities?{query}")).await;
        assert!(matches!(reply.status, 200 | 400), "{query}: {}", reply.text);
        if reply.status == 200 && query.starts_with("filter") {
            assert_eq!(reply.json(), json!([]), "{query}");
        }
    }
    let reply = target
        .get("/api/catalog/entities/by-query?orderField=metadata.name%3BDROP%20TABLE%20scaffolder.tasks,asc")
        .await;
    assert!(matches!(reply.status, 200 | 400), "{}", reply.text);

    // Everything is still there.
    let list = target.get("/api/scaffolder/v2/tasks").await.json();
    assert_eq!(list["totalTasks"], 3, "{list}");
    assert_eq!(target.get("/api/catalog/entities").await.json(), entities_before);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM scaffolder.tasks").fetch_one(&mut conn).await.unwrap();
    assert_eq!(count, 3);
    target.assert_unharmed().await;
}
