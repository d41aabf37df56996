//! The built-in web page as the server sees it: its files and headers, `ui-config` (sign-in),
//! page-by-page validation (the same answers `POST /v2/tasks` gives), and reading a template's
//! YAML. The page itself is tested in a real browser by `ui-tests/` (`scripts/ui-test`).

use std::sync::Arc;

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use api::{ApiConfig, AppParts, AuthConfig, Identity, Resolver, StaticToken, TokenIssuer};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use catalog::{Catalog, CatalogConfig, LocationConfig, Rule};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::db::sqlite_memory;

const TEMPLATES: &str = r#"
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: two-pages
  title: Two pages
spec:
  owner: group:test
  type: service
  parameters:
    - title: Name
      required: [name]
      properties:
        name: {title: Name, type: string, pattern: '^[a-z][a-z0-9-]*$'}
    - title: Details
      required: [size]
      properties:
        size: {title: Size, type: string, enum: [small, large]}
        tags: {type: array, items: {type: string}, minItems: 1}
  steps:
    - {id: log, name: Log, action: debug:log, input: {message: hi}}
"#;

struct Ui {
    app: Router,
    _dir: tempfile::TempDir,
}

async fn ui_with(auth: AuthConfig) -> Ui {
    let store = sqlite_memory().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("templates.yaml"), TEMPLATES).unwrap();
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
        store,
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
    Ui { app, _dir: dir }
}

fn open() -> AuthConfig {
    AuthConfig { disable_default_policy: true, ..AuthConfig::default() }
}

fn closed() -> AuthConfig {
    AuthConfig {
        static_tokens: vec![StaticToken { token: "static-token-123".to_owned(), subject: "ci".to_owned() }],
        ..AuthConfig::default()
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

async fn call(app: &Router, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = match body {
        Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

/// Every file the page loads (links in index.html, imports between modules) is served, with its
/// type, a validator for cheap revalidation, and the page under a policy without inline script.
#[tokio::test]
async fn the_page_and_every_file_it_loads_are_served_with_strict_headers() {
    let ui = ui_with(open()).await;
    let index = call(&ui.app, "GET", "/", &[], None).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.header("content-type"), "text/html; charset=utf-8");
    let policy = index.header("content-security-policy");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(index.header("x-content-type-options"), "nosniff");
    assert_eq!(index.header("referrer-policy"), "no-referrer");
    let html = String::from_utf8(index.body).unwrap();
    assert!(!html.contains("<script>") && !html.contains(" style="), "no inline script or style");

    let reference = regex::Regex::new(r#"(?:src|href)="(/ui/[^"]+)"|from '\./([a-z]+\.js)'"#).unwrap();
    let mut pending: Vec<String> =
        reference.captures_iter(&html).filter_map(|c| c.get(1).map(|m| m.as_str().to_owned())).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let answer = call(&ui.app, "GET", &path, &[], None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.header("cache-control"), "no-cache", "{path}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{path}");
        if path.ends_with(".js") {
            assert_eq!(answer.header("content-type"), "text/javascript; charset=utf-8", "{path}");
            let text = String::from_utf8(answer.body.clone()).unwrap();
            pending
                .extend(reference.captures_iter(&text).filter_map(|c| c.get(2).map(|m| format!("/ui/{}", m.as_str()))));
        }
        let etag = answer.header("etag").to_owned();
        let again = call(&ui.app, "GET", &path, &[("if-none-match", &etag)], None).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
    }
    for module in ["/ui/app.js", "/ui/api.js", "/ui/form.js", "/ui/task.js", "/ui/dryrun.js", "/ui/style.css"] {
        assert!(seen.contains(module), "{module} is loaded: {seen:?}");
    }

    let missing = call(&ui.app, "GET", "/ui/nothing.js", &[], None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["name"], "NotFoundError");
    let escape = call(&ui.app, "GET", "/ui/../Cargo.toml", &[], None).await;
    assert_eq!(escape.status, StatusCode::NOT_FOUND);
}

/// The page needs no credentials (it holds no data); the data does.
#[tokio::test]
async fn the_page_is_public_but_the_data_is_not() {
    let ui = ui_with(closed()).await;
    assert_eq!(call(&ui.app, "GET", "/", &[], None).await.status, StatusCode::OK);
    assert_eq!(call(&ui.app, "GET", "/ui/app.js", &[], None).await.status, StatusCode::OK);
    let tasks = call(&ui.app, "GET", "/api/scaffolder/v2/tasks", &[], None).await;
    assert_eq!(tasks.status, StatusCode::UNAUTHORIZED);
    let validate = call(
        &ui.app,
        "POST",
        "/api/scaffolder/v2/templates/default/template/two-pages/validate",
        &[],
        Some(json!({"values": {}})),
    )
    .await;
    assert_eq!(validate.status, StatusCode::UNAUTHORIZED);
    let parse = call(&ui.app, "POST", "/api/scaffolder/v2/parse-template", &[], Some(json!({"yaml": "a: 1"}))).await;
    assert_eq!(parse.status, StatusCode::UNAUTHORIZED);
}

/// Worker processes serve health and metrics only: no page.
#[tokio::test]
async fn a_worker_serves_no_page() {
    let app = api::health_app(sqlite_memory().await, None, None);
    assert_eq!(call(&app, "GET", "/", &[], None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "GET", "/ui/app.js", &[], None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "GET", "/api/scaffolder/v2/ui-config", &[], None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ui_config_says_whether_to_sign_in_and_who_the_token_names() {
    let open = ui_with(open()).await;
    let config = call(&open.app, "GET", "/api/scaffolder/v2/ui-config", &[], None).await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(config.header("cache-control"), "no-store");
    assert_eq!(config.json(), json!({"authRequired": false, "signIn": null, "identity": {"type": "anonymous"}}));

    let closed = ui_with(closed()).await;
    let config = call(&closed.app, "GET", "/api/scaffolder/v2/ui-config", &[], None).await.json();
    assert_eq!(config, json!({"authRequired": true, "signIn": null, "identity": null}));
    let config =
        call(&closed.app, "GET", "/api/scaffolder/v2/ui-config", &[("authorization", "Bearer static-token-123")], None)
            .await
            .json();
    assert_eq!(config["identity"], json!({"type": "service", "subject": "ci"}));
    let config = call(&closed.app, "GET", "/api/scaffolder/v2/ui-config", &[("authorization", "Bearer wrong")], None)
        .await
        .json();
    assert_eq!(config["identity"], Value::Null);
    assert_eq!(config["identityError"], "The token was refused (401 Unauthorized)");
}

/// With an OIDC provider that names a client id, the page is told where to send the user, and
/// its policy lets it exchange the code at the provider's token endpoint (and nowhere else).
#[tokio::test]
async fn with_oidc_the_page_learns_the_providers_endpoints() {
    let provider = wiremock::MockServer::start().await;
    let origin = provider.uri();
    wiremock::Mock::given(wiremock::matchers::path("/.well-known/openid-configuration"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "issuer": origin,
            "authorization_endpoint": format!("{origin}/authorize"),
            "token_endpoint": format!("{origin}/token"),
            "jwks_uri": format!("{origin}/jwks"),
        })))
        .expect(1)
        .mount(&provider)
        .await;
    let auth = AuthConfig {
        issuers: vec![TokenIssuer {
            provider: "oidc".to_owned(),
            issuer: None,
            metadata_url: Some(format!("{origin}/.well-known/openid-configuration")),
            jwks_url: None,
            audience: Some("scaffolder-ui".to_owned()),
            identity: Identity::Resolvers(vec![Resolver::EmailMatchingUserEntityProfileEmail]),
        }],
        ..AuthConfig::default()
    };
    let ui = ui_with(auth).await;
    let config = call(&ui.app, "GET", "/api/scaffolder/v2/ui-config", &[], None).await.json();
    assert_eq!(config["authRequired"], true);
    assert_eq!(
        config["signIn"],
        json!({
            "provider": "oidc",
            "authorizationEndpoint": format!("{origin}/authorize"),
            "tokenEndpoint": format!("{origin}/token"),
            "clientId": "scaffolder-ui",
            "scope": "openid profile email",
        })
    );
    // Discovered once (the mock expects exactly one read), then remembered.
    let index = call(&ui.app, "GET", "/", &[], None).await;
    let policy = index.header("content-security-policy");
    assert!(policy.contains(&format!("connect-src 'self' {origin};")), "{policy}");
}

fn validate_path(name: &str) -> String {
    format!("/api/scaffolder/v2/templates/default/template/{name}/validate")
}

/// The answers of the validation route are those of `POST /v2/tasks`, page by page.
#[tokio::test]
async fn validation_page_by_page_gives_the_errors_a_submission_gets() {
    let ui = ui_with(open()).await;
    let path = validate_path("two-pages");
    let submit = |values: Value| {
        let app = ui.app.clone();
        async move {
            call(
                &app,
                "POST",
                "/api/scaffolder/v2/tasks",
                &[],
                Some(json!({"templateRef": "template:default/two-pages", "values": values})),
            )
            .await
        }
    };

    // A value breaking the pattern: the same errors, on the first page.
    let values = json!({"name": "Not Valid"});
    let answer = call(&ui.app, "POST", &path, &[], Some(json!({"values": values, "page": 0}))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = answer.json();
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["page"], 0);
    assert_eq!(answer["errors"][0]["path"], json!(["name"]));
    assert_eq!(answer["errors"][0]["name"], "pattern");
    let submitted = submit(values).await;
    assert_eq!(submitted.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["errors"], submitted.json()["errors"], "identical to the submission's errors");

    // The first page is fine; the second is not checked until asked for.
    let values = json!({"name": "good-name"});
    let answer = call(&ui.app, "POST", &path, &[], Some(json!({"values": values, "page": 0}))).await.json();
    assert_eq!(answer, json!({"valid": true, "errors": []}));
    let answer = call(&ui.app, "POST", &path, &[], Some(json!({"values": values, "page": 1}))).await.json();
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["page"], 1);
    assert_eq!(answer["errors"][0]["name"], "required");
    assert_eq!(answer["errors"][0]["argument"], "size");
    assert_eq!(answer["errors"], submit(values.clone()).await.json()["errors"]);
    // Without `page`, every page.
    let all = call(&ui.app, "POST", &path, &[], Some(json!({"values": values}))).await.json();
    assert_eq!(all["page"], 1);

    // An earlier page that no longer passes is the one reported.
    let values = json!({"name": "BAD", "size": "small"});
    let answer = call(&ui.app, "POST", &path, &[], Some(json!({"values": values, "page": 1}))).await.json();
    assert_eq!(answer["page"], 0);

    let values = json!({"name": "good", "size": "large", "tags": ["x"]});
    let answer = call(&ui.app, "POST", &path, &[], Some(json!({"values": values, "page": 1}))).await.json();
    assert_eq!(answer["valid"], true);
    assert_eq!(submit(values).await.status, StatusCode::CREATED);

    // Bad requests are Backstage-style input errors; unknown templates are 404s.
    for (body, message) in [
        (json!({"values": {}, "page": 2}), "request/body/page 2 does not exist: the template has 2 parameter pages"),
        (json!({"values": {}, "page": -1}), "request/body/page must be a non-negative integer"),
        (json!({"page": 0}), "request/body must have required property 'values'"),
        (json!({"values": []}), "request/body/values must be object"),
    ] {
        let answer = call(&ui.app, "POST", &path, &[], Some(body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json()["error"]["message"], message, "{body}");
    }
    let answer = call(&ui.app, "POST", &validate_path("nope"), &[], Some(json!({"values": {}}))).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["error"]["message"], "Template template:default/nope not found");
}

#[tokio::test]
async fn a_templates_yaml_is_read_for_the_dry_run() {
    let ui = ui_with(open()).await;
    let path = "/api/scaffolder/v2/parse-template";
    let text = TEMPLATES.trim_start();
    let answer = call(&ui.app, "POST", path, &[], Some(json!({"yaml": text}))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let template = answer.json()["template"].clone();
    assert_eq!(template["metadata"]["name"], "two-pages");
    assert_eq!(template["spec"]["parameters"][0]["properties"]["name"]["pattern"], "^[a-z][a-z0-9-]*$");
    // What it answers is what the dry-run takes.
    let dry_run = call(
        &ui.app,
        "POST",
        "/api/scaffolder/v2/dry-run",
        &[],
        Some(json!({"template": template, "values": {"name": "x", "size": "small"}, "directoryContents": []})),
    )
    .await;
    assert_eq!(dry_run.status, StatusCode::OK, "{}", String::from_utf8_lossy(&dry_run.body));

    for (yaml, expected) in [
        ("kind: [unclosed", "Invalid template YAML"),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n",
            "Input template is not a template",
        ),
        (
            "apiVersion: scaffolder.backstage.io/v1beta2\nkind: Template\n",
            "Unsupported apiVersion field in schema entity",
        ),
    ] {
        let answer = call(&ui.app, "POST", path, &[], Some(json!({"yaml": yaml}))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{yaml}");
        let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(expected), "{yaml}: {message}");
    }
    let answer = call(&ui.app, "POST", path, &[], Some(json!({"text": "x"}))).await;
    assert_eq!(answer.json()["error"]["message"], "request/body must have required property 'yaml'");
}

#[tokio::test]
async fn the_new_routes_are_in_the_openapi_document() {
    let document = serde_json::to_value(api::openapi_document()).unwrap();
    let paths = &document["paths"];
    assert!(paths["/v2/templates/{namespace}/{kind}/{name}/validate"]["post"].is_object(), "{paths}");
    assert!(paths["/v2/parse-template"]["post"].is_object(), "{paths}");
    let ui_config = &paths["/v2/ui-config"]["get"];
    assert_eq!(ui_config["security"], json!([{}]), "needs no credentials");
    let schema = &document["components"]["schemas"]["UiConfig"];
    assert_eq!(schema["required"], json!(["authRequired"]), "{schema}");
    assert!(schema["properties"]["signIn"].is_object(), "{schema}");
}
