//! `/api/techdocs` over a local publish directory: sites, content types, ETags, metadata, and
//! paths that try to leave an entity's site.

use std::sync::Arc;

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use api::{ApiConfig, AppParts, AuthConfig};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::db::sqlite_memory;

async fn get(app: &Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn sites_are_served_from_the_publish_directory_and_stay_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site/default/component/web");
    std::fs::create_dir_all(site.join("assets")).unwrap();
    std::fs::create_dir_all(site.join("guide")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>Web</h1>").unwrap();
    std::fs::write(site.join("guide/index.html"), "<h1>Guide</h1>").unwrap();
    std::fs::write(site.join("assets/app.css"), "body{}").unwrap();
    std::fs::write(
        site.join("techdocs_metadata.json"),
        r#"{"site_name":"web","site_description":"Web docs","etag":"abc","build_timestamp":1}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("site/secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("site/secret.txt"), site.join("leak.txt")).unwrap();
    std::fs::write(
        dir.path().join("catalog.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: web, annotations: {backstage.io/techdocs-ref: dir:.}}\nspec: {type: website, owner: team-a, lifecycle: production}\n",
    )
    .unwrap();
    let store = sqlite_memory().await;
    let catalog = catalog::Catalog::new(
        store.clone(),
        catalog::CatalogConfig {
            locations: vec![catalog::LocationConfig {
                kind: "file".to_owned(),
                target: dir.path().join("catalog.yaml").display().to_string(),
                rules: None,
            }],
            ..catalog::CatalogConfig::default()
        },
    );
    catalog.load_configured(dir.path()).await.unwrap();
    let app = api::app(AppParts {
        store: store.clone(),
        runner: Arc::new(Runner::new(Arc::new(Registry::builtin(&RegistryConfig::default())), RunnerConfig::default())),
        working_directory: dir.path().join("work"),
        catalog: Some(Arc::new(catalog)),
        auth: AuthConfig { disable_default_policy: true, ..AuthConfig::default() },
        config: ApiConfig {
            techdocs: api::TechDocsConfig { publish_directory: Some(dir.path().join("site")), s3: None },
            ..ApiConfig::default()
        },
        worker_health: None,
        metrics: None,
    });
    let base = "/api/techdocs/static/docs/default/Component/web";

    let (status, headers, body) = get(&app, &format!("{base}/index.html"), &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"<h1>Web</h1>".as_slice()));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, headers, body) = get(&app, &format!("{base}/index.html"), &[("if-none-match", &etag)]).await;
    assert_eq!(
        (status, body.is_empty(), headers["etag"].to_str().unwrap()),
        (StatusCode::NOT_MODIFIED, true, etag.as_str())
    );
    assert_eq!(get(&app, &format!("{base}/"), &[]).await.2, b"<h1>Web</h1>");
    assert_eq!(get(&app, &format!("{base}/guide/"), &[]).await.2, b"<h1>Guide</h1>");
    let (_, headers, _) = get(&app, &format!("{base}/assets/app.css"), &[]).await;
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");

    for escape in ["leak.txt", "..%2F..%2F..%2Fsecret.txt", "../../../secret.txt", "%2Fetc%2Fpasswd", "nope.html"] {
        let (status, _, body) = get(&app, &format!("{base}/{escape}"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{escape}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["name"], "NotFoundError", "{escape}");
        assert!(!body.to_string().contains("secret\""), "{escape}");
    }
    let (status, _, _) = get(&app, "/api/techdocs/static/docs/default/component/..%2F..%2Fsite/secret.txt", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = get(&app, "/api/techdocs/metadata/techdocs/default/component/web", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["site_name"], "web");
    let (status, _, body) = get(&app, "/api/techdocs/metadata/entity/default/component/web", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let entity: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(entity["metadata"]["annotations"]["backstage.io/techdocs-ref"], json!("dir:."));
    for missing in
        ["/api/techdocs/metadata/techdocs/default/component/api", "/api/techdocs/metadata/entity/default/component/api"]
    {
        let (status, _, body) = get(&app, missing, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["request"]["url"],
            missing.trim_start_matches("/api/techdocs")
        );
    }
}

/// A real S3-compatible server: moto in server mode (`scripts/test` installs it and exports
/// `SCAFFOLDER_TEST_PYTHON`).
struct Moto {
    child: std::process::Child,
    endpoint: String,
    python: String,
}

impl Moto {
    fn start() -> Moto {
        let python = std::env::var("SCAFFOLDER_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} -m moto.server: {e} (run the suite with ./scripts/test, which installs moto)")
            });
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "moto did not start on {endpoint}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto { child, endpoint, python }
    }

    /// Creates `bucket` and puts `objects` with boto3 (as an operator's publisher would).
    fn put(&self, bucket: &str, objects: &[(&str, &str)]) {
        let puts: String = objects
            .iter()
            .map(|(key, body)| format!("s3.put_object(Bucket={bucket:?}, Key={key:?}, Body={body:?}.encode())\n"))
            .collect();
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url={:?}, region_name='eu-west-1', aws_access_key_id='AKIDTEST', aws_secret_access_key='secret-test')\ns3.create_bucket(Bucket={bucket:?}, CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})\n{puts}",
            self.endpoint
        );
        let status = std::process::Command::new(&self.python).args(["-c", &script]).status().unwrap();
        assert!(status.success(), "uploading to moto failed");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sites_are_served_from_an_s3_compatible_bucket() {
    let moto = Moto::start();
    moto.put(
        "techdocs",
        &[
            ("sites/default/component/web/index.html", "<h1>Web on S3</h1>"),
            ("sites/default/component/web/assets/site.js", "console.log(1)"),
            ("sites/default/component/web/techdocs_metadata.json", r#"{"site_name":"web"}"#),
            ("sites/default/component/other/secret.html", "other entity"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_memory().await;
    let s3 = api::S3Config {
        bucket: "techdocs".to_owned(),
        region: "eu-west-1".to_owned(),
        endpoint: Some(moto.endpoint.clone()),
        path_style: true,
        root_path: "sites/".to_owned(),
        access_key_id: "AKIDTEST".to_owned(),
        secret_access_key: "secret-test".to_owned(),
        session_token: None,
    };
    let app = api::app(AppParts {
        store: store.clone(),
        runner: Arc::new(Runner::new(Arc::new(Registry::builtin(&RegistryConfig::default())), RunnerConfig::default())),
        working_directory: dir.path().join("work"),
        catalog: None,
        auth: AuthConfig { disable_default_policy: true, ..AuthConfig::default() },
        config: ApiConfig {
            techdocs: api::TechDocsConfig { publish_directory: None, s3: Some(s3) },
            ..ApiConfig::default()
        },
        worker_health: None,
        metrics: None,
    });
    let base = "/api/techdocs/static/docs/default/component/web";
    let (status, headers, body) = get(&app, &format!("{base}/"), &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"<h1>Web on S3</h1>".as_slice()));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(get(&app, &format!("{base}/index.html"), &[("if-none-match", &etag)]).await.0, StatusCode::NOT_MODIFIED);
    let (status, headers, _) = get(&app, &format!("{base}/assets/site.js"), &[]).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    let (status, _, body) = get(&app, "/api/techdocs/metadata/techdocs/default/component/web", &[]).await;
    assert_eq!(
        (status, serde_json::from_slice::<Value>(&body).unwrap()),
        (StatusCode::OK, json!({"site_name": "web"}))
    );
    for escape in
        ["..%2Fother%2Fsecret.html", "assets%2F..%2F..%2Fother%2Fsecret.html", "missing.html", "assets//site.js"]
    {
        assert_eq!(get(&app, &format!("{base}/{escape}"), &[]).await.0, StatusCode::NOT_FOUND, "{escape}");
    }
}
