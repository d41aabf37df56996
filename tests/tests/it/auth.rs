//! User tokens over real HTTP: a Backstage installation's ES256 tokens and an OIDC provider's
//! RS256 tokens, signed here with keys generated here, checked against JWKS and a discovery
//! document served by a real HTTP server; sign-in resolvers against the catalog's Users.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use api::{ApiConfig, AppParts, AuthConfig, Identity, Resolver, TokenIssuer};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use base64::Engine;
use catalog::{Catalog, CatalogConfig, LocationConfig, Rule};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::db::sqlite_memory;
use crate::support::eventually;

const CATALOG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {profile: {email: alice@example.com}, memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {profile: {email: robert@example.com}, memberOf: []}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: hello}
spec:
  type: service
  steps: [{id: log, name: Log, action: debug:log, input: {message: hi}}]
"#;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 key generated for this run, with its JWK.
fn ec_key(kid: &str) -> (EncodingKey, Value) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    let der = secret.to_pkcs8_der().unwrap();
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    (EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

/// An RS256 key (generated for this run), with its JWK.
fn rsa_key(kid: &str) -> (EncodingKey, Value) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let jwk = json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())});
    (EncodingKey::from_rsa_der(der.as_bytes()), jwk)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

struct Idp {
    base: String,
    oidc_keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<Mutex<usize>>,
}

/// The Backstage auth backend's JWKS and an OIDC provider (discovery + JWKS), over real HTTP.
async fn idp(backstage_jwk: Value, oidc_jwk: Value) -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let oidc_keys = Arc::new(Mutex::new(vec![oidc_jwk]));
    let fetches = Arc::new(Mutex::new(0));
    let discovery = json!({"issuer": format!("{base}/oidc"), "jwks_uri": format!("{base}/oidc/jwks")});
    let app = Router::new()
        .route(
            "/api/auth/.well-known/jwks.json",
            get(move || async move { axum::Json(json!({"keys": [backstage_jwk]})) }),
        )
        .route("/oidc/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
        .route(
            "/oidc/jwks",
            get({
                let keys = oidc_keys.clone();
                let fetches = fetches.clone();
                move || async move {
                    *fetches.lock().unwrap() += 1;
                    axum::Json(json!({"keys": keys.lock().unwrap().clone()}))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Idp { base, oidc_keys, fetches }
}

async fn app(idp: &Idp) -> (Router, tempfile::TempDir) {
    app_with(idp, CATALOG, |_| api::PermissionConfig::default()).await
}

/// The API over `catalog` (Users, Groups, Templates), with permissions made from its directory.
async fn app_with(
    idp: &Idp,
    catalog: &str,
    permissions: impl FnOnce(&std::path::Path) -> api::PermissionConfig,
) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catalog.yaml"), catalog).unwrap();
    let store = sqlite_memory().await;
    let catalog = Catalog::new(
        store.clone(),
        CatalogConfig {
            rules: Some(vec![Rule { allow: vec!["User".to_owned(), "Group".to_owned(), "Template".to_owned()] }]),
            locations: vec![LocationConfig {
                kind: "file".to_owned(),
                target: dir.path().join("catalog.yaml").display().to_string(),
                rules: None,
            }],
            ..CatalogConfig::default()
        },
    );
    catalog.load_configured(dir.path()).await.unwrap();
    let auth = AuthConfig {
        disable_default_policy: false,
        static_tokens: Vec::new(),
        // Short, so that the key-rotation test does not wait long for the next allowed fetch.
        key_refresh_interval: Duration::from_millis(300),
        issuers: vec![
            TokenIssuer {
                provider: "backstage".to_owned(),
                issuer: Some(format!("{}/api/auth", idp.base)),
                metadata_url: None,
                jwks_url: Some(format!("{}/api/auth/.well-known/jwks.json", idp.base)),
                audience: Some("backstage".to_owned()),
                identity: Identity::EntityRefSubject,
            },
            TokenIssuer {
                provider: "oidc".to_owned(),
                issuer: None,
                metadata_url: Some(format!("{}/oidc/.well-known/openid-configuration", idp.base)),
                jwks_url: None,
                audience: Some("client-123".to_owned()),
                identity: Identity::Resolvers(vec![
                    Resolver::EmailMatchingUserEntityProfileEmail,
                    Resolver::UsernameMatchingUserEntityName,
                ]),
            },
        ],
    };
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
        config: ApiConfig {
            permissions: permissions(dir.path()),
            techdocs: api::TechDocsConfig { publish_directory: Some(dir.path().join("site")), s3: None },
            long_poll_timeout: Duration::from_millis(200),
            ..ApiConfig::default()
        },
        worker_health: None,
        metrics: None,
    });
    (app, dir)
}

async fn call(app: &Router, method: &str, uri: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn refused(app: &Router, token: &str, reason: &str) {
    let (status, body) = call(app, "GET", "/api/scaffolder/v2/tasks", token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}: {body}");
    assert_eq!(body["error"]["name"], "AuthenticationError", "{reason}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(reason), "expected '{reason}' in: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_tokens_are_verified_against_their_issuers_keys() {
    let (backstage_key, backstage_jwk) = ec_key("bs-1");
    let (oidc_key, oidc_jwk) = rsa_key("oidc-1");
    let idp = idp(backstage_jwk, oidc_jwk).await;
    let (app, _dir) = app(&idp).await;
    let backstage_iss = format!("{}/api/auth", idp.base);
    let oidc_iss = format!("{}/oidc", idp.base);
    let backstage = |claims: Value| sign(Algorithm::ES256, "bs-1", &backstage_key, &claims);
    let oidc = |claims: Value| sign(Algorithm::RS256, "oidc-1", &oidc_key, &claims);

    // A Backstage user token: `sub` is the user; tasks it creates are owned by them.
    let token = backstage(
        json!({"iss": backstage_iss, "sub": "user:default/alice", "aud": "backstage", "iat": now(), "exp": now() + 600}),
    );
    let (status, body) = call(
        &app,
        "POST",
        "/api/scaffolder/v2/tasks",
        &token,
        Some(json!({"templateRef": "template:default/hello", "values": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, task) =
        call(&app, "GET", &format!("/api/scaffolder/v2/tasks/{}", body["id"].as_str().unwrap()), &token, None).await;
    assert_eq!(task["createdBy"], "user:default/alice");
    let (status, listed) =
        call(&app, "GET", "/api/scaffolder/v2/tasks?createdBy=user:default/alice", &token, None).await;
    assert_eq!((status, &listed["totalTasks"]), (StatusCode::OK, &json!(1)));

    // An OIDC token: the resolvers find the catalog User by e-mail, then by username.
    let base = |extra: Value| {
        let mut claims =
            json!({"iss": oidc_iss, "sub": "abc-123", "aud": "client-123", "iat": now(), "exp": now() + 600});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let (status, body) = call(
        &app,
        "POST",
        "/api/scaffolder/v2/tasks",
        &oidc(base(json!({"email": "robert@example.com"}))),
        Some(json!({"templateRef": "template:default/hello", "values": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, task) =
        call(&app, "GET", &format!("/api/scaffolder/v2/tasks/{}", body["id"].as_str().unwrap()), &token, None).await;
    assert_eq!(task["createdBy"], "user:default/bob");
    // Cognito access tokens carry `client_id` and `username` instead of `aud` and `email`.
    let mut cognito = base(json!({"client_id": "client-123", "username": "alice"}));
    cognito.as_object_mut().unwrap().remove("aud");
    let (status, _) = call(&app, "GET", "/api/scaffolder/v2/tasks", &oidc(cognito), None).await;
    assert_eq!(status, StatusCode::OK);

    // Everything else is a 401 that says why.
    refused(&app, &oidc(base(json!({"email": "mallory@example.com"}))), "unable to resolve user identity").await;
    refused(&app, &oidc(base(json!({"email": "alice@example.com", "exp": now() - 120}))), "expired").await;
    refused(&app, &oidc(base(json!({"email": "alice@example.com", "nbf": now() + 600}))), "not valid yet").await;
    refused(&app, &oidc(base(json!({"email": "alice@example.com", "aud": "someone-else"}))), "audience").await;
    refused(&app, &oidc(base(json!({"email": "alice@example.com", "iss": "https://evil.example"}))), "not trusted")
        .await;
    refused(
        &app,
        &backstage(json!({"iss": backstage_iss, "sub": "user:default/alice", "aud": "backstage"})),
        "MissingRequiredClaim",
    )
    .await;
    let good = oidc(base(json!({"email": "alice@example.com"})));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(&serde_json::to_vec(&base(json!({"email": "alice@example.com", "sub": "admin"}))).unwrap());
    refused(&app, &parts.join("."), "signature").await;
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &base(json!({"email": "alice@example.com"})),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    refused(&app, &hmac, "not accepted").await;
    let (other_key, _) = rsa_key("oidc-unknown");
    refused(
        &app,
        &sign(Algorithm::RS256, "oidc-unknown", &other_key, &base(json!({"email": "alice@example.com"}))),
        "unknown key",
    )
    .await;
    refused(
        &app,
        &backstage(json!({"iss": backstage_iss, "sub": "group:default/admins", "aud": "backstage", "exp": now() + 60})),
        "not a user",
    )
    .await;

    // The provider rotates its key: a token with the new `kid` makes us fetch the keys again.
    let fetched = *idp.fetches.lock().unwrap();
    let (rotated_key, rotated_jwk) = rsa_key("oidc-2");
    idp.oidc_keys.lock().unwrap().push(rotated_jwk);
    let rotated = sign(Algorithm::RS256, "oidc-2", &rotated_key, &base(json!({"email": "alice@example.com"})));
    // Refused until the refresh interval since the last fetch has passed; then one fetch finds it.
    eventually(Duration::from_secs(10), "the rotated key to be accepted", || async {
        let (status, _) = call(&app, "GET", "/api/scaffolder/v2/tasks", &rotated, None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(*idp.fetches.lock().unwrap(), fetched + 1);
    // Unknown keys do not make us fetch on every request.
    for _ in 0..5 {
        refused(
            &app,
            &sign(Algorithm::RS256, "oidc-unknown", &other_key, &base(json!({"email": "alice@example.com"}))),
            "unknown key",
        )
        .await;
    }
    assert!(*idp.fetches.lock().unwrap() <= fetched + 2);
}

const ORGANISATION: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec: {type: organization, children: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, parent: org, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: carol}
spec: {memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dave}
spec: {memberOf: []}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: hello}
spec:
  type: service
  steps: [{id: log, name: Log, action: debug:log, input: {message: hi}}]
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: prod}
spec:
  type: service
  steps: [{id: log, name: Log, action: debug:log, input: {message: prod}}]
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: waiter}
spec:
  type: service
  steps: [{id: wait, name: Wait, action: debug:wait, input: {seconds: 1}}]
"#;

const POLICY: &str = "\
# creators: the whole organisation, through team-a's parent
p, role:default/creator, scaffolder.task.create, create, allow
p, role:default/creator, scaffolder.action.execute, use, allow
p, role:default/creator, scaffolder.action.execute, use, deny, debug:wait
p, role:default/creator, scaffolder.template.run, use, allow
p, role:default/creator, scaffolder.template.run, use, deny, template:default/prod
p, role:default/creator, scaffolder.template.dry-run, use, allow
p, role:default/creator, scaffolder.template.parameter.read, read, allow
p, role:default/creator, scaffolder.template.step.read, read, allow
p, role:default/stepless, scaffolder.task.create, create, allow
p, role:default/stepless, scaffolder.action.execute, use, allow
p, role:default/stepless, scaffolder.template.run, use, allow
p, role:default/stepless, scaffolder.template.parameter.read, read, allow
p, role:default/reader, catalog.location.create, create, allow
p, role:default/reader, scaffolder.task.read, read, allow
p, role:default/reader, scaffolder.task.cancel, use, allow
p, role:default/reader, catalog.entity.read, read, allow
p, role:default/reader, catalog.location.read, read, allow
g, group:default/org, role:default/creator
g, user:default/carol, role:default/reader
g, user:default/dave, role:default/stepless
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_follow_the_rbac_policy_and_group_membership() {
    let (key, jwk) = ec_key("bs-1");
    let (_, oidc_jwk) = ec_key("unused");
    let idp = idp(jwk, oidc_jwk).await;
    let policy_file = std::sync::Arc::new(Mutex::new(std::path::PathBuf::new()));
    let (app, _dir) = app_with(&idp, ORGANISATION, {
        let policy_file = policy_file.clone();
        move |dir| {
            let path = dir.join("rbac-policy.csv");
            std::fs::write(&path, POLICY).unwrap();
            *policy_file.lock().unwrap() = path.clone();
            api::PermissionConfig {
                enabled: true,
                policy_file: Some(path),
                super_users: vec!["user:default/root".to_owned()],
            }
        }
    })
    .await;
    let iss = format!("{}/api/auth", idp.base);
    let token = |user: &str| {
        sign(
            Algorithm::ES256,
            "bs-1",
            &key,
            &json!({"iss": iss, "sub": format!("user:default/{user}"), "aud": "backstage", "exp": now() + 600}),
        )
    };
    let (alice, bob, carol, root) = (token("alice"), token("bob"), token("carol"), token("root"));
    let create = |template: &str| json!({"templateRef": format!("template:default/{template}"), "values": {}});
    let denied = |body: &Value, what: &str| {
        assert_eq!(body["error"]["name"], "NotAllowedError", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(what), "{body}");
    };

    // scaffolder.task.create, through a group's parent; per template; per action.
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", &alice, Some(create("hello"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let task = body["id"].as_str().unwrap().to_owned();
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", &alice, Some(create("prod"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "scaffolder.template.run on template:default/prod");
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", &alice, Some(create("waiter"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "scaffolder.action.execute on debug:wait");
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", &bob, Some(create("hello"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "scaffolder.task.create");
    let dave = token("dave");
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", &dave, Some(create("hello"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "scaffolder.template.step.read");
    let (status, _) = call(&app, "POST", "/api/scaffolder/v2/tasks", &root, Some(create("prod"))).await;
    assert_eq!(status, StatusCode::CREATED, "super-users may do anything");

    // scaffolder.task.read: one's own task always; someone else's only with the permission.
    let path = format!("/api/scaffolder/v2/tasks/{task}");
    assert_eq!(call(&app, "GET", &path, &alice, None).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", &format!("{path}/events"), &alice, None).await.0, StatusCode::OK);
    let (status, body) = call(&app, "GET", &path, &bob, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "scaffolder.task.read");
    assert_eq!(call(&app, "GET", &format!("{path}/events"), &bob, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, "GET", &path, &carol, None).await.0, StatusCode::OK);
    // Lists hold only what one may read: others' tasks are as if they did not exist.
    let (_, list) = call(&app, "GET", "/api/scaffolder/v2/tasks", &bob, None).await;
    assert_eq!(list, json!({"tasks": [], "totalTasks": 0}));
    let (_, list) = call(&app, "GET", "/api/scaffolder/v2/tasks?createdBy=user:default/alice", &bob, None).await;
    assert_eq!(list["totalTasks"], 0);
    let (_, list) = call(&app, "GET", "/api/scaffolder/v2/tasks", &alice, None).await;
    assert_eq!(list["totalTasks"], 1, "alice sees her own task, not root's");
    let (_, list) = call(&app, "GET", "/api/scaffolder/v2/tasks", &carol, None).await;
    assert_eq!(list["totalTasks"], 2);

    // scaffolder.task.cancel: not someone else's without the permission.
    let (status, body) = call(&app, "POST", &format!("{path}/cancel"), &bob, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "scaffolder.task.cancel");
    assert_eq!(call(&app, "POST", &format!("{path}/cancel"), &carol, None).await.0, StatusCode::OK);

    // Template permissions.
    let schema = "/api/scaffolder/v2/templates/default/template/hello/parameter-schema";
    assert_eq!(call(&app, "GET", schema, &alice, None).await.0, StatusCode::OK);
    assert_eq!(call(&app, "GET", schema, &carol, None).await.0, StatusCode::FORBIDDEN);
    let dry_run = json!({"template": {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": {"name": "d"},
        "spec": {"type": "service", "steps": [{"id": "log", "name": "Log", "action": "debug:log", "input": {"message": "hi"}}]}}, "values": {}, "directoryContents": []});
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/dry-run", &alice, Some(dry_run.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(call(&app, "POST", "/api/scaffolder/v2/dry-run", &carol, Some(dry_run)).await.0, StatusCode::FORBIDDEN);

    // Catalog permissions: reading lists is filtered, single reads and writes are refused.
    let (_, entities) = call(&app, "GET", "/api/catalog/entities", &alice, None).await;
    assert_eq!(entities, json!([]));
    let (_, entities) = call(&app, "GET", "/api/catalog/entities", &carol, None).await;
    assert!(entities.as_array().unwrap().len() >= 8);
    assert_eq!(
        call(&app, "GET", "/api/catalog/entities/by-name/user/default/bob", &alice, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(&app, "GET", "/api/catalog/locations", &carol, None).await.0, StatusCode::OK);
    let (status, body) = call(
        &app,
        "POST",
        "/api/catalog/locations",
        &carol,
        Some(json!({"type": "url", "target": "https://x.example/c.yaml"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "catalog.entity.create");
    let (status, body) = call(
        &app,
        "POST",
        "/api/catalog/locations",
        &alice,
        Some(json!({"type": "url", "target": "https://x.example/c.yaml"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    denied(&body, "catalog.location.create");
    assert_eq!(
        call(&app, "DELETE", "/api/catalog/entities/by-uid/3f2b1c4e-8a7d-4e6f-9b0a-1c2d3e4f5a6b", &carol, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "POST", "/api/catalog/refresh", &carol, Some(json!({"entityRef": "user:default/bob"}))).await.0,
        StatusCode::FORBIDDEN
    );

    // TechDocs needs the entity read permission.
    assert_eq!(
        call(&app, "GET", "/api/techdocs/metadata/entity/default/user/bob", &alice, None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, entity) = call(&app, "GET", "/api/techdocs/metadata/entity/default/user/bob", &carol, None).await;
    assert_eq!((status, &entity["metadata"]["name"]), (StatusCode::OK, &json!("bob")));

    // The policy file changes: it is read again.
    let path = policy_file.lock().unwrap().clone();
    std::fs::write(&path, format!("{POLICY}g, user:default/bob, role:default/creator\n")).unwrap();
    let (status, body) = call(&app, "POST", "/api/scaffolder/v2/tasks", &bob, Some(create("hello"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A broken edit keeps the last good policy.
    std::fs::write(&path, "p, nonsense\n").unwrap();
    assert_eq!(
        call(&app, "POST", "/api/scaffolder/v2/tasks", &bob, Some(create("hello"))).await.0,
        StatusCode::CREATED
    );
}
