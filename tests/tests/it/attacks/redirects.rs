//! Redirects to internal hosts (GHSA-q2x5-4xjx-c6p9): an allowed host answering with a redirect
//! to loopback, the cloud metadata address, another port, another scheme, or in a loop. Each hop
//! is checked against `backend.reading.allow` before it is requested, so the internal server
//! never hears a thing; the same holds for catalog locations read through the same reader.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Setup, Target, step};

async fn redirect(server: &MockServer, from: &str, status: u16, to: &str) {
    Mock::given(method("GET"))
        .and(path(from))
        .respond_with(ResponseTemplate::new(status).insert_header("location", to))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_hosts_that_are_not_allowed_are_refused_before_any_request() {
    let allowed = MockServer::start().await;
    let internal = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("internal-data"))
        .mount(&internal)
        .await;
    let allowed_host = allowed.address().to_string();
    let internal_port = internal.address().port();
    let inside = format!("http://127.0.0.1:{internal_port}/latest/secret");
    redirect(&allowed, "/to-internal", 302, &inside).await;
    redirect(&allowed, "/to-localhost", 301, &format!("http://localhost:{internal_port}/secret")).await;
    redirect(&allowed, "/to-decimal-ip", 302, &format!("http://2130706433:{internal_port}/secret")).await;
    redirect(&allowed, "/to-userinfo", 302, &format!("http://{allowed_host}@127.0.0.1:{internal_port}/secret")).await;
    redirect(&allowed, "/to-metadata", 302, "http://169.254.169.254/latest/meta-data/iam/security-credentials/").await;
    redirect(&allowed, "/to-file", 302, "file:///etc/passwd").await;
    redirect(&allowed, "/hop-1", 307, "/hop-2").await;
    redirect(&allowed, "/hop-2", 308, &inside).await;
    redirect(&allowed, "/loop", 302, "/loop").await;
    Mock::given(method("GET"))
        .and(path("/ok.txt"))
        .respond_with(ResponseTemplate::new(200).set_body_string("fine\n"))
        .mount(&allowed)
        .await;

    let target = Target::start(Setup { allow: vec![allowed_host.clone()], ..Setup::default() }).await;
    let base = format!("http://{allowed_host}");
    // An allowed host is read: the refusals below are about the redirects.
    let reply = target
        .dry_run(
            json!([step("fetch:plain:file", json!({"url": format!("{base}/ok.txt"), "targetPath": "ok.txt"}))]),
            &[],
            Value::Null,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.files().get("ok.txt").map(Vec::as_slice), Some(&b"fine\n"[..]));

    let cases = [
        ("fetch:plain:file", format!("{base}/to-internal"), inside.clone()),
        ("fetch:template:file", format!("{base}/to-internal"), inside.clone()),
        ("fetch:plain:file", format!("{base}/to-localhost"), format!("http://localhost:{internal_port}/secret")),
        ("fetch:plain:file", format!("{base}/to-decimal-ip"), format!("http://127.0.0.1:{internal_port}/secret")),
        ("fetch:plain:file", format!("{base}/to-userinfo"), format!("127.0.0.1:{internal_port}/secret")),
        ("fetch:plain:file", format!("{base}/to-metadata"), "http://169.254.169.254/latest/meta-data/".to_owned()),
        ("fetch:plain:file", format!("{base}/to-file"), "file:///etc/passwd".to_owned()),
        ("fetch:plain:file", format!("{base}/hop-1"), inside.clone()),
        // Asked for directly: refused before any request too.
        ("fetch:plain:file", inside.clone(), inside.clone()),
        (
            "fetch:plain:file",
            format!("http://{allowed_host}@127.0.0.1:{internal_port}/x"),
            format!("127.0.0.1:{internal_port}/x"),
        ),
        ("fetch:template:file", "http://169.254.169.254/latest/user-data".to_owned(), "169.254.169.254".to_owned()),
    ];
    for (action, url, refused) in cases {
        let reply = target
            .dry_run(json!([step(action, json!({"url": url, "targetPath": "stolen.txt"}))]), &[], Value::Null)
            .await;
        reply.assert_refused(403, "NotAllowedError", "is not allowed");
        let message = reply.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&refused), "{url}: {message}");
        assert!(!reply.text.contains("internal-data"), "{url}");
    }
    let reply = target
        .dry_run(
            json!([step("fetch:plain:file", json!({"url": format!("{base}/loop"), "targetPath": "x"}))]),
            &[],
            Value::Null,
        )
        .await;
    reply.assert_refused(500, "Error", "more than 5 redirects");

    // A catalog location read through the same reader.
    for target_url in [format!("{base}/to-internal"), format!("{base}/hop-1"), inside.clone()] {
        let reply = target.post("/api/catalog/locations", &json!({"type": "url", "target": target_url})).await;
        assert!((400..500).contains(&reply.status), "{target_url}: {}", reply.text);
        assert!(reply.json()["error"]["message"].as_str().unwrap().contains("is not allowed"), "{}", reply.text);
    }

    let heard = internal.received_requests().await.unwrap_or_default();
    assert!(heard.is_empty(), "the internal server was reached: {heard:?}");
    let asked = allowed.received_requests().await.unwrap_or_default();
    assert!(asked.iter().any(|r| r.url.path() == "/hop-2"), "the redirects were followed up to the refusal");
    target.assert_unharmed().await;
}
