//! `/api/catalog`: entities, locations and refresh through the router, compared with what the real
//! Backstage catalog answered (`fixtures/wire/catalog-*.json`, see `README-github-catalog.md`).

use std::sync::Arc;

use actions::{
    FetchConfig, Github, GithubIntegration, Registry, RegistryConfig, RetryPolicy, Runner, RunnerConfig, Secret,
};
use api::{ApiConfig, AppParts, AuthConfig, StaticToken};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use catalog::{Catalog, CatalogConfig, LocationConfig, Rule};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use store::Store;
use tower::ServiceExt;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::db::{TestDb, sqlite_memory};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wire");
const HOST: &str = "github.example";

/// A wire capture: `{status, headers, body}`.
fn capture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}.json")).unwrap()).unwrap()
}

const TEMPLATES: &str = r#"
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: bench
  title: Bench
spec:
  owner: user:guest
  type: service
  steps: []
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: bench-fail
spec:
  owner: user:guest
  type: service
  steps: []
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  children: []
"#;

const GOOD: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: capture-good
  description: A valid component for the wire capture
spec:
  type: service
  lifecycle: experimental
  owner: user:guest
"#;

const BAD: &str = r#"---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: "Bad Name!"
spec:
  type: service
  lifecycle: experimental
  owner: user:guest
"#;

struct Rig {
    app: Router,
    dir: tempfile::TempDir,
    github: MockServer,
}

impl Rig {
    async fn new(store: Store) -> Rig {
        Self::with_auth(store, AuthConfig { disable_default_policy: true, ..AuthConfig::default() }).await
    }

    async fn with_auth(store: Store, auth: AuthConfig) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("templates.yaml"), TEMPLATES).unwrap();
        std::fs::write(dir.path().join("good-only.yaml"), GOOD).unwrap();
        std::fs::write(dir.path().join("catalog-info.yaml"), format!("{GOOD}{BAD}")).unwrap();
        let github = MockServer::start().await;
        let integrations = Arc::new(Github::new(
            vec![GithubIntegration {
                host: HOST.to_owned(),
                api_base_url: github.uri(),
                token: Some(Secret::new("ghp_catalog")),
                apps: Vec::new(),
            }],
            RetryPolicy::default(),
        ));
        let reader = Arc::new(actions::UrlReader::new(FetchConfig::default(), integrations));
        let catalog = Catalog::new(
            store.clone(),
            CatalogConfig {
                rules: Some(vec![Rule {
                    allow: ["Component", "Location", "Template", "Group", "User"].map(str::to_owned).to_vec(),
                }]),
                locations: vec![LocationConfig {
                    kind: "file".to_owned(),
                    target: dir.path().join("templates.yaml").display().to_string(),
                    rules: None,
                }],
                ..CatalogConfig::default()
            },
        )
        .with_url_reader(reader);
        let report = catalog.load_configured(dir.path()).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
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
            config: ApiConfig::default(),
            worker_health: None,
            metrics: None,
        });
        Rig { app, dir, github }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().canonicalize().unwrap().join(name).display().to_string()
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(body.map(|b| Body::from(b.to_owned())).unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, content_type, body)
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let text = body.map(|b| b.to_string());
        let (status, _, body) = self.send(method, uri, text.as_deref(), None).await;
        (status, body)
    }

    async fn get(&self, uri: &str) -> Value {
        let (status, body) = self.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
        body
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
}

/// The captured error body, with this run's target in place of the peer's.
fn captured_error(name: &str) -> Value {
    let captured = capture(name);
    assert!(captured["status"].as_u64().unwrap() >= 400);
    captured["body"].clone()
}

#[tokio::test]
async fn entities_are_stored_and_listed_like_backstage() {
    let rig = Rig::new(sqlite_memory().await).await;
    let entities = rig.get("/api/catalog/entities").await;
    let entities = entities.as_array().unwrap();
    // Two templates, a group and the Location entity generated for the configured file.
    assert_eq!(entities.len(), 4, "{entities:#?}");
    let captured = capture("catalog-entities")["body"].clone();
    let captured_template = captured.as_array().unwrap().iter().find(|e| e["kind"] == "Template").unwrap();
    for entity in entities {
        assert_eq!(keys(entity), ["metadata", "apiVersion", "kind", "spec", "relations"], "{entity}");
        assert_eq!(keys(&entity["metadata"])[0], "namespace");
        assert!(uuid::Uuid::parse_str(entity["metadata"]["uid"].as_str().unwrap()).is_ok());
        let etag = entity["metadata"]["etag"].as_str().unwrap();
        assert!(etag.len() == 40 && etag.chars().all(|c| c.is_ascii_hexdigit()), "{etag}");
        assert_eq!(
            entity["metadata"]["annotations"]["backstage.io/managed-by-origin-location"],
            format!("file:{}", rig.path("templates.yaml"))
        );
        assert!(entity.get("status").is_none());
    }
    // Backstage's default order: by uid.
    let uids: Vec<&str> = entities.iter().map(|e| e["metadata"]["uid"].as_str().unwrap()).collect();
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(uids, sorted);

    let bench = entities.iter().find(|e| e["metadata"]["name"] == "bench").unwrap();
    assert_eq!(
        keys(&bench["metadata"]),
        keys(&captured_template["metadata"])
            .iter()
            .filter(|k| **k != "description" && **k != "tags")
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(bench["relations"], json!([{"type": "ownedBy", "targetRef": "user:default/guest"}]));
    let location = entities.iter().find(|e| e["kind"] == "Location").unwrap();
    let generated = {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(format!("file:{}", rig.path("templates.yaml")).as_bytes());
        format!("generated-{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    assert_eq!(location["metadata"]["name"], generated);
    assert_eq!(location["spec"], json!({"type": "file", "target": rig.path("templates.yaml")}));
    assert_eq!(location["relations"], json!([]));

    // filter values are case-insensitive; fields keep the entity's own key order.
    let templates = rig.get("/api/catalog/entities?filter=kind=template").await;
    assert_eq!(templates.as_array().unwrap().len(), 2);
    let projected = rig.get("/api/catalog/entities?fields=metadata.name,kind").await;
    for entity in projected.as_array().unwrap() {
        assert_eq!(keys(entity), ["metadata", "kind"]);
        assert_eq!(keys(&entity["metadata"]), ["name"]);
    }
    let (status, body) = rig.call("GET", "/api/catalog/entities?limit=many", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["name"], "InputError");

    // by-query: Backstage's page shape; cursors walk forwards and back over the same order.
    let first = rig.get("/api/catalog/entities/by-query?limit=3").await;
    assert_eq!(keys(&first), keys(&capture("catalog-entities-by-query-limit2")["body"]));
    assert_eq!(first["totalItems"], 4);
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let next = first["pageInfo"]["nextCursor"].as_str().unwrap();
    assert!(first["pageInfo"].get("prevCursor").is_none());
    let second = rig.get(&format!("/api/catalog/entities/by-query?cursor={}", urlencode(next))).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["pageInfo"].get("nextCursor").is_none());
    assert!(second["pageInfo"]["prevCursor"].is_string());
    let walked: Vec<Value> =
        first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap()).cloned().collect();
    assert_eq!(walked, *entities);
    let everything = rig.get("/api/catalog/entities/by-query").await;
    assert_eq!(everything["pageInfo"], json!({}));
    let ordered = rig
        .get("/api/catalog/entities/by-query?filter=kind=template&orderField=metadata.name,desc&fields=kind,metadata.name")
        .await;
    assert_eq!(
        ordered["items"],
        json!([{"kind": "Template", "metadata": {"name": "bench-fail"}}, {"kind": "Template", "metadata": {"name": "bench"}}])
    );
    let (status, body) = rig.call("GET", "/api/catalog/entities/by-query?cursor=%21%21not-base64", None).await;
    assert_eq!((status, body["error"]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("Malformed cursor")));
    let garbage = base64::engine::general_purpose::STANDARD.encode("{\"offset\": -1}");
    let (status, _) =
        rig.call("GET", &format!("/api/catalog/entities/by-query?cursor={}", urlencode(&garbage)), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn single_entities_by_name_uid_and_refs() {
    let rig = Rig::new(sqlite_memory().await).await;
    let bench = rig.get("/api/catalog/entities/by-name/template/default/bench").await;
    assert_eq!(
        rig.get("/api/catalog/entities/by-name/Template/Default/BENCH").await,
        bench,
        "names are case-insensitive"
    );
    let uid = bench["metadata"]["uid"].as_str().unwrap();
    assert_eq!(rig.get(&format!("/api/catalog/entities/by-uid/{uid}")).await, bench);

    let (status, body) = rig.call("GET", "/api/catalog/entities/by-name/template/default/does-not-exist", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, captured_error("catalog-entity-by-name-missing"));
    let missing = "1b66feb4-eeec-4905-85ea-5f96c92429ad";
    let (status, body) = rig.call("GET", &format!("/api/catalog/entities/by-uid/{missing}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, captured_error("catalog-entity-by-uid-deleted"));

    // by-refs: request order, null for misses; refs are matched exactly, as Backstage does.
    let (status, body) = rig
        .call(
            "POST",
            "/api/catalog/entities/by-refs",
            Some(json!({"entityRefs": ["template:default/bench", "component:default/missing", "Template:default/bench-fail", "bench-fail", "not a ref:::"], "fields": ["kind", "metadata.name"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"items": [{"kind": "Template", "metadata": {"name": "bench"}}, null, null, null, null]}));
    let (_, body) = rig
        .call("POST", "/api/catalog/entities/by-refs", Some(json!({"entityRefs": ["template:default/bench"]})))
        .await;
    assert_eq!(body["items"][0], bench);
    let (status, body) = rig
        .call(
            "POST",
            "/api/catalog/entities/by-refs?fields=kind,metadata.name",
            Some(json!({"entityRefs": ["template:default/bench"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, captured_error("catalog-entities-by-refs-fields-query"));
    let (status, body) = rig.call("POST", "/api/catalog/entities/by-refs", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, captured_error("catalog-entities-by-refs-nobody"));
    let (status, body) =
        rig.call("POST", "/api/catalog/entities/by-refs", Some(json!({"entityRefs": "template:default/bench"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "request/body/entityRefs must be array");

    // Refresh: 200 with no body at all; unknown refs are 404, a missing ref 400.
    let (status, content_type, body) =
        rig.send("POST", "/api/catalog/refresh", Some(r#"{"entityRef":"template:default/bench"}"#), None).await;
    assert_eq!((status, content_type, body), (StatusCode::OK, None, Value::Null));
    assert_eq!(capture("catalog-refresh-template")["body"], Value::Null);
    let (status, body) =
        rig.call("POST", "/api/catalog/refresh", Some(json!({"entityRef": "component:default/missing"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, captured_error("catalog-refresh-missing"));
    let (status, body) = rig.call("POST", "/api/catalog/refresh", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, captured_error("catalog-refresh-nobody"));

    // DELETE by uid: always 204 with no body; the entity is gone until its location is read again.
    for target in ["3f2b1c4e-8a7d-4e6f-9b0a-1c2d3e4f5a6b", "not-a-uuid", uid] {
        let (status, content_type, body) =
            rig.send("DELETE", &format!("/api/catalog/entities/by-uid/{target}"), None, None).await;
        assert_eq!((status, content_type, body), (StatusCode::NO_CONTENT, None, Value::Null), "{target}");
    }
    let (status, _) = rig.call("GET", "/api/catalog/entities/by-name/template/default/bench", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) =
        rig.send("POST", "/api/catalog/refresh", Some(r#"{"entityRef":"template:default/bench-fail"}"#), None).await;
    assert_eq!(status, StatusCode::OK);
    let again = rig.get("/api/catalog/entities/by-name/template/default/bench").await;
    assert_ne!(again["metadata"]["uid"], bench["metadata"]["uid"], "it comes back with a new uid, as in Backstage");
}

async fn locations_lifecycle(store: Store) {
    let rig = Rig::new(store).await;
    // Locations from configuration are not listed, as in Backstage.
    assert_eq!(rig.get("/api/catalog/locations").await, json!([]));
    let good = rig.path("good-only.yaml");

    // A dry-run reads without registering: 201, id "type:target", the Location entity first.
    let (status, body) =
        rig.call("POST", "/api/catalog/locations?dryRun=true", Some(json!({"type": "file", "target": good}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let captured = capture("catalog-file-post-location-good-only-dryrun")["body"].clone();
    assert_eq!(keys(&body), keys(&captured));
    assert_eq!(keys(&body["location"]), keys(&captured["location"]));
    assert_eq!(body["exists"], false);
    assert_eq!(body["location"]["id"], format!("file:{good}"));
    assert_eq!(body["entities"].as_array().unwrap().len(), 2);
    for (ours, theirs) in body["entities"].as_array().unwrap().iter().zip(captured["entities"].as_array().unwrap()) {
        assert_eq!(ours["kind"], theirs["kind"]);
        assert_eq!(keys(&ours["metadata"]), keys(&theirs["metadata"]), "{ours}");
        assert_eq!(ours["spec"].as_object().unwrap().len(), theirs["spec"].as_object().unwrap().len());
    }
    assert_eq!(rig.get("/api/catalog/locations").await, json!([]));

    // Registering reads at once: the entities are there when the answer is.
    let (status, body) =
        rig.call("POST", "/api/catalog/locations", Some(json!({"type": "file", "target": good}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let captured = capture("catalog-file-post-location")["body"].clone();
    assert_eq!(keys(&body), keys(&captured));
    assert_eq!(keys(&body["location"]), keys(&captured["location"]));
    let id = body["location"]["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(body["location"]["entityRef"], format!("location:default/{}", generated_name(&format!("file:{good}"))));
    let component = rig.get("/api/catalog/entities/by-name/component/default/capture-good").await;
    assert_eq!(component["metadata"]["annotations"]["backstage.io/managed-by-location"], format!("file:{good}"));
    assert_eq!(rig.get("/api/catalog/locations").await, json!([{"data": body["location"]}]));
    assert_eq!(rig.get(&format!("/api/catalog/locations/{id}")).await, body["location"]);
    assert_eq!(rig.get("/api/catalog/locations/by-entity/component/default/capture-good").await, body["location"]);

    // A second registration conflicts; a dry-run of it says it exists.
    let (status, body) =
        rig.call("POST", "/api/catalog/locations", Some(json!({"type": "file", "target": good}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let mut expected = captured_error("catalog-post-location-url-duplicate");
    expected["error"]["message"] = json!(format!("Location file:{good} already exists"));
    assert_eq!(body, expected);
    let (status, body) =
        rig.call("POST", "/api/catalog/locations?dryRun=true", Some(json!({"type": "file", "target": good}))).await;
    assert_eq!((status, &body["exists"]), (StatusCode::CREATED, &json!(true)));

    // Bad registrations: a specific 400 (or 403) and nothing registered.
    let bad = rig.path("catalog-info.yaml");
    for dry_run in ["", "?dryRun=true"] {
        let (status, body) = rig
            .call("POST", &format!("/api/catalog/locations{dry_run}"), Some(json!({"type": "file", "target": bad})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("catalog-info.yaml (document 2)") && message.contains("Bad Name!"), "{message}");
    }
    let missing = rig.path("does-not-exist.yaml");
    let (status, body) =
        rig.call("POST", "/api/catalog/locations", Some(json!({"type": "file", "target": missing}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("NotFoundError: Unable to read file:"), "{body}");
    for (raw, message) in [
        ("{}", "request/body must have required property 'target'"),
        (r#"{"type":"file"}"#, "request/body must have required property 'target'"),
        (r#"{"type":"gitlab-magic","target":"x"}"#, "Registered locations must be of an allowed type [\"url\"]"),
        (r#"{"type":"file","target":7}"#, "request/body/target must be string"),
        ("[]", "request/body must be object"),
    ] {
        let (status, _, body) = rig.send("POST", "/api/catalog/locations", Some(raw), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}");
        assert_eq!(body["error"]["message"], message, "{raw}");
        assert_eq!(body["request"], json!({"method": "POST", "url": "/locations"}));
    }
    assert_eq!(
        capture("catalog-post-location-empty-object")["body"]["error"]["message"],
        "request/body must have required property 'target'"
    );
    let (status, _, body) = rig.send("POST", "/api/catalog/locations", Some(r#"{"type":"#), None).await;
    assert_eq!((status, &body["error"]["name"]), (StatusCode::BAD_REQUEST, &json!("InputError")));
    // The API is not a way to read this machine's files.
    for target in ["/etc/passwd".to_owned(), format!("{}/../../etc/passwd", rig.path(""))] {
        let (status, body) = rig
            .call("POST", "/api/catalog/locations?dryRun=true", Some(json!({"type": "file", "target": target})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with("Registered locations must be of an allowed type")
        );
    }
    // URLs on hosts that are neither integrations nor allowed are refused before any request.
    let (status, body) = rig
        .call(
            "POST",
            "/api/catalog/locations",
            Some(json!({"type": "url", "target": "https://elsewhere.example/c.yaml"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["name"], "NotAllowedError");
    assert_eq!(rig.get("/api/catalog/locations").await.as_array().unwrap().len(), 1);

    // Unknown and malformed ids are 404 with Backstage's message.
    let (status, body) = rig.call("GET", "/api/catalog/locations/00000000-0000-4000-8000-000000000000", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, captured_error("catalog-location-by-id-missing"));
    let (status, body) = rig.call("GET", "/api/catalog/locations/not-a-uuid", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, captured_error("catalog-location-by-id-notuuid"));
    let (status, body) = rig.call("GET", "/api/catalog/locations/by-entity/component/default/missing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, captured_error("catalog-location-by-entity-missing"));
    let (status, body) = rig.call("GET", "/api/catalog/locations/by-entity/template/default/bench", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "configured locations are not registered ones: {body}");

    // Deleting the location removes its entities at once; a second delete is 404.
    let (status, content_type, body) = rig.send("DELETE", &format!("/api/catalog/locations/{id}"), None, None).await;
    assert_eq!((status, content_type, body), (StatusCode::NO_CONTENT, None, Value::Null));
    let (status, _) = rig.call("GET", "/api/catalog/entities/by-name/component/default/capture-good", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let names: Vec<Value> = rig
        .get("/api/catalog/entities?fields=metadata.name")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].clone())
        .collect();
    assert!(!names.contains(&json!(generated_name(&format!("file:{good}")))), "{names:?}");
    let (status, body) = rig.call("DELETE", &format!("/api/catalog/locations/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], format!("Found no location with ID {id}"));
    assert_eq!(rig.get("/api/catalog/locations").await, json!([]));
}

fn generated_name(reference: &str) -> String {
    use sha1::Digest;
    format!(
        "generated-{}",
        sha1::Sha1::digest(reference.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[tokio::test]
async fn locations_are_registered_read_and_deleted_on_sqlite() {
    locations_lifecycle(sqlite_memory().await).await;
}

#[tokio::test]
async fn locations_are_registered_read_and_deleted_on_postgres() {
    let db = TestDb::postgres().await;
    locations_lifecycle(db.store().await).await;
}

/// GitHub's contents API answer for a file.
fn contents(text: &str) -> Value {
    json!({
        "type": "file",
        "encoding": "base64",
        "size": text.len(),
        "name": "catalog-info.yaml",
        "path": "catalog-info.yaml",
        "content": base64::engine::general_purpose::STANDARD.encode(text),
    })
}

#[tokio::test]
async fn url_locations_read_through_the_github_integration_and_refresh() {
    let rig = Rig::new(sqlite_memory().await).await;
    let target = format!("https://{HOST}/acme/svc/blob/main/catalog-info.yaml");
    Mock::given(method("GET"))
        .and(path("/repos/acme/svc/contents/catalog-info.yaml"))
        .and(query_param("ref", "main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contents(GOOD)))
        .mount(&rig.github)
        .await;
    let (status, body) =
        rig.call("POST", "/api/catalog/locations", Some(json!({"type": "url", "target": target}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let requests = rig.github.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].headers["authorization"], "Bearer ghp_catalog", "the integration's token is used");
    let component = rig.get("/api/catalog/entities/by-name/component/default/capture-good").await;
    assert_eq!(component["metadata"]["annotations"]["backstage.io/managed-by-location"], format!("url:{target}"));
    assert_eq!(component["spec"]["owner"], "user:guest");

    // The file changes on GitHub; a refresh of the entity reads it again.
    rig.github.reset().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/svc/contents/catalog-info.yaml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(contents(&GOOD.replace("owner: user:guest", "owner: group:team-a"))),
        )
        .mount(&rig.github)
        .await;
    let (status, _, _) =
        rig.send("POST", "/api/catalog/refresh", Some(r#"{"entityRef":"component:default/capture-good"}"#), None).await;
    assert_eq!(status, StatusCode::OK);
    let refreshed = rig.get("/api/catalog/entities/by-name/component/default/capture-good").await;
    assert_eq!(refreshed["spec"]["owner"], "group:team-a");
    assert_eq!(refreshed["metadata"]["uid"], component["metadata"]["uid"], "uids are stable across refreshes");
    assert_ne!(refreshed["metadata"]["etag"], component["metadata"]["etag"]);
    let group = rig.get("/api/catalog/entities/by-name/group/default/team-a").await;
    assert!(
        group["relations"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "ownerOf", "targetRef": "component:default/capture-good"})),
        "{group}"
    );

    // A file GitHub does not have is refused, and not registered.
    let (status, body) = rig
        .call(
            "POST",
            "/api/catalog/locations",
            Some(json!({"type": "url", "target": format!("https://{HOST}/acme/svc/blob/main/missing.yaml")})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("NotFoundError: "), "{body}");
    assert_eq!(rig.get("/api/catalog/locations").await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_catalog_needs_credentials_like_the_scaffolder() {
    let auth = AuthConfig {
        disable_default_policy: false,
        static_tokens: vec![StaticToken { token: "static-token-123".to_owned(), subject: "ci".to_owned() }],
        ..AuthConfig::default()
    };
    let rig = Rig::with_auth(sqlite_memory().await, auth).await;
    let (status, _, body) = rig.send("GET", "/api/catalog/entities", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["name"], "AuthenticationError");
    let (status, _, body) = rig.send("GET", "/api/catalog/entities", None, Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = rig.send("GET", "/api/catalog/entities", None, Some("static-token-123")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().len(), 4);
}

/// Workers whose catalog runs elsewhere (`discovery.endpoints`) register over real HTTP with the
/// user's token, and see the catalog's own errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_register_reaches_a_remote_catalog_over_http() {
    use actions::CatalogApi;
    let auth = AuthConfig {
        disable_default_policy: false,
        static_tokens: vec![StaticToken {
            token: "user-token-456".to_owned(),
            subject: "user:default/alice".to_owned(),
        }],
        ..AuthConfig::default()
    };
    let rig = Rig::with_auth(sqlite_memory().await, auth).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = rig.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let remote = catalog::HttpCatalog::new(&format!("http://{address}/api/catalog/"));
    let target = format!("https://{HOST}/acme/svc/blob/main/catalog-info.yaml");
    Mock::given(method("GET"))
        .and(path("/repos/acme/svc/contents/catalog-info.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contents(GOOD)))
        .mount(&rig.github)
        .await;

    let error = remote.add_location(&target, false, None).await.unwrap_err();
    assert_eq!(error.name, "AuthenticationError", "{}", error.message);
    let token = Some("user-token-456");
    let dry = remote.add_location(&target, true, token).await.unwrap();
    assert_eq!(dry.len(), 2, "{dry:?}");
    let registered = remote.add_location(&target, false, token).await.unwrap();
    assert_eq!(registered.iter().filter(|e| e["kind"] == "Component").count(), 1);
    let again = remote.add_location(&target, false, token).await.unwrap_err();
    assert_eq!(again.name, "ConflictError");
    assert!(again.message.contains("already exists"), "{}", again.message);

    let reference = templates::EntityRef::parse("component:default/capture-good", None, None).unwrap();
    let entity = remote.entity(&reference, token).await.unwrap().unwrap();
    assert_eq!(entity["metadata"]["name"], "capture-good");
    let missing = templates::EntityRef::parse("component:default/nobody", None, None).unwrap();
    assert_eq!(remote.entity(&missing, token).await.unwrap(), None);
    assert!(remote.entity(&reference, None).await.unwrap_err().contains("401"));

    let unreachable = catalog::HttpCatalog::new("http://127.0.0.1:9/api/catalog");
    let error = unreachable.add_location(&target, false, token).await.unwrap_err();
    assert!(
        error.message.starts_with("cannot reach the catalog at http://127.0.0.1:9/api/catalog"),
        "{}",
        error.message
    );
}
