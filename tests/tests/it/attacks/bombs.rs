//! Resource bombs: templates that loop without end, recurse, nest without end or build huge
//! strings; `each` over the largest range; request bodies that are too large or nested too deep
//! (as JSON, and as YAML read from a catalog location). Each ends in a clear refusal naming the
//! limit, and the server answers its health check while and after it runs.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Setup, Target, step};

/// `(case, template text, what the refusal says)`.
fn runaway() -> Vec<(&'static str, String, &'static str)> {
    let deep = |open: &str, close: &str, n: usize| format!("${{{{ {}1{} }}}}", open.repeat(n), close.repeat(n));
    vec![
        (
            "nested loops",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}".to_owned(),
            "too many steps",
        ),
        ("recursive macro", "{% macro f(n) %}${{ f(n) }}{% endmacro %}${{ f(1) }}".to_owned(), "recursion"),
        (
            "doubling macro",
            "{% macro f(n) %}{% if n %}${{ f(n - 1) }}${{ f(n - 1) }}{% else %}xxxxxxxx{% endif %}{% endmacro %}${{ f(60) }}"
                .to_owned(),
            "recursion limit exceeded",
        ),
        (
            "replaceAll growth",
            "${{ 'x'.repeat(10000).replaceAll('x', 'x'.repeat(10000)).replaceAll('x', 'xxxxxxxxxx').length }}".to_owned(),
            "builds more text than the limit",
        ),
        (
            "replace filter growth",
            "${{ ('x'.repeat(10000) | replace('x', 'x'.repeat(10000)) | replace('x', 'xxxxxxxxxx')) | length }}"
                .to_owned(),
            "builds more text than the limit",
        ),
        (
            "concatenation doubling",
            format!("{{% set s = 'x'.repeat(1000).repeat(1000) %}}{}${{{{ s | length }}}}", "{% set s = s ~ s + s %}".repeat(40)),
            "builds more text than the limit",
        ),
        (
            "captured doubling",
            format!(
                "{{% set s = 'x'.repeat(1000).repeat(1000) %}}{}${{{{ s | length }}}}",
                "{% set s %}${{ s }}${{ s }}{% endset %}".repeat(40)
            ),
            "builds more text than the limit",
        ),
        ("center width", "${{ 'x' | center(5000000000) | length }}".to_owned(), "builds more text than the limit"),
        ("slice count", "${{ [1] | slice(1000000000) | length }}".to_owned(), "builds more text than the limit"),
        ("batch fill", "${{ [1] | batch(1000000000, 'x') | length }}".to_owned(), "builds more text than the limit"),
        ("format doubling", format!("{{% set s = 'x'.repeat(1000).repeat(1000) %}}{}${{{{ s | length }}}}", "{% set s = '%s%s' | format(s, s) %}".repeat(40)), "is unknown"),
        ("json growth", format!("{{% set s = '\"'.repeat(1000).repeat(10) %}}{}${{{{ s | length }}}}", "{% set s = s | dump %}".repeat(40)), "builds more text than the limit"),
        ("chain doubling", format!("{{% set l = [1] %}}{}${{{{ l | join(',') | length }}}}", "{% set l = l | chain(l) %}".repeat(60)), "is unknown"),
        ("json indent", "${{ [[[1]]] | tojson(indent=1000000000) | length }}".to_owned(), "is unknown"),
        ("regex expansion", format!("${{{{ 'x'.repeat(1000).repeat(1000).replace(r/x+/, '{}') | length }}}}", "$&".repeat(100)), "builds more text than the limit"),
        ("join separator", "${{ range(100000) | join('x'.repeat(1000).repeat(1000)) | length }}".to_owned(), "builds more text than the limit"),
        ("split into characters", "${{ 'x'.repeat(1000).repeat(1000).split('').concat('x'.repeat(1000).repeat(1000).split('')) | length }}".to_owned(), "builds more text than the limit"),
        ("long sum", format!("${{{{ 1{} }}}}", " + 1".repeat(100_000)), "nests too deeply"),
        ("long attribute chain", format!("${{{{ parameters{} }}}}", ".a".repeat(100_000)), "nests too deeply"),
        ("long concatenation", format!("${{{{ 'x'{} }}}}", " ~ 'x'".repeat(100_000)), "nests too deeply"),
        ("nested parentheses", deep("(", ")", 50_000), "nests too deeply"),
        ("nested arrays", deep("[", "]", 50_000), "nests too deeply"),
        ("nested negations", format!("${{{{ {}1 }}}}", "not ".repeat(50_000)), "nests too deeply"),
        ("nested minus", format!("${{{{ {}1 }}}}", "- ".repeat(50_000)), "nests too deeply"),
        ("nested conditionals", format!("${{{{ {}1 }}}}", "1 if 1 else ".repeat(50_000)), "nests too deeply"),
        ("nested blocks", format!("{}x{}", "{% if 1 %}".repeat(20_000), "{% endif %}".repeat(20_000)), "recursion limit"),
        ("long filter chain", format!("${{{{ 'x'{} }}}}", " | upper".repeat(100_000)), "nests too deeply"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_templates_stop_at_a_limit_and_the_server_stays_up() {
    // A smaller allowance than the default 64 MiB makes the refusals quicker; they are the same.
    let target = Target::start(Setup { max_render_bytes: Some(4 << 20), ..Setup::default() }).await;
    for (case, text, limit) in runaway() {
        // In a skeleton file: the step fails, naming the file and the limit.
        let reply = target
            .dry_run(
                json!([step("fetch:template", json!({"url": "./skeleton"}))]),
                &[("skeleton/bomb.txt", &text)],
                Value::Null,
            )
            .await;
        reply.assert_refused(500, "TemplateRenderError", "(in bomb.txt)");
        assert!(reply.json()["error"]["message"].as_str().unwrap().contains(limit), "{case}: {}", reply.text);
        // In a step input: a template that runs into a limit fails the step, naming it; one
        // that is merely wrong is passed on as written (as Backstage does), with a warning.
        let reply = target.dry_run(json!([step("debug:log", json!({"message": text}))]), &[], Value::Null).await;
        if reply.status == 200 {
            let warning = reply.log().into_iter().find(|l| l.contains("could not be rendered and is used as written"));
            assert!(warning.is_some_and(|w| w.contains(limit)), "{case}: {:?}", reply.log());
        } else {
            reply.assert_refused(500, "TemplateRenderError", "input.message could not be rendered: ");
            assert!(reply.text.contains(limit), "{case}: {}", reply.text);
        }
        let health = target.get("/healthcheck").await;
        assert_eq!(health.status, 200, "{case}");
    }
    target.assert_unharmed().await;
}

/// `each` over the largest range there is, with an input that runs out of fuel: the step fails
/// at the first iteration that hits the limit (instead of passing 100,000 unrendered strings on
/// after burning 100,000 renders' worth of fuel), and the server answers its health check while
/// several such runs are rendering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_over_runaway_inputs_stops_at_the_first_limit() {
    let target = std::sync::Arc::new(Target::start(Setup::default()).await);
    let runaway = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
    let steps = json!([{"id": "each", "name": "Each", "action": "debug:log", "each": "${{ range(100000) }}", "input": {"message": runaway}}]);
    let bombs: Vec<_> = (0..3)
        .map(|_| {
            let (target, steps) = (target.clone(), steps.clone());
            tokio::spawn(async move { target.dry_run(steps, &[], Value::Null).await })
        })
        .collect();
    // Meanwhile the server answers (it would not, with its workers rendering).
    while !bombs.iter().all(|b| b.is_finished()) {
        let health = tokio::time::timeout(std::time::Duration::from_secs(20), target.get("/healthcheck")).await;
        assert_eq!(health.map(|r| r.status).ok(), Some(200), "the health check stalled during the runs");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for bomb in bombs {
        let reply = bomb.await.unwrap();
        reply.assert_refused(500, "TemplateRenderError", "input.message could not be rendered: ");
        assert!(reply.text.contains("too many steps"), "{}", reply.text);
    }
    // Inputs that each fit, but not 100,000 times over: the iterations share one allowance.
    let steps = json!([{"id": "each", "name": "Each", "action": "debug:log", "each": "${{ range(100000) }}",
        "input": {"message": "${{ 'x'.repeat(1000).repeat(1000) }}"}}]);
    let reply = target.dry_run(steps, &[], Value::Null).await;
    reply.assert_refused(500, "TemplateRenderError", "input.message could not be rendered: ");
    assert!(reply.text.contains("builds more text than the limit"), "{}", reply.text);
    target.assert_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_deeply_nested_bodies_are_refused() {
    let yaml_server = MockServer::start().await;
    let nested_yaml = format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: deep}}\nspec: {}{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let mut laughs = String::from(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: laughs}\nspec:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        laughs.push_str(&format!("  a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    Mock::given(method("GET"))
        .and(path("/nested.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(nested_yaml))
        .mount(&yaml_server)
        .await;
    Mock::given(method("GET"))
        .and(path("/laughs.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(laughs))
        .mount(&yaml_server)
        .await;
    let host = yaml_server.address().to_string();
    let target = Target::start(Setup { allow: vec![host.clone()], ..Setup::default() }).await;

    let big = format!("{{\"templateRef\":\"x\",\"values\":{{\"a\":\"{}\"}}}}", "x".repeat(11 << 20));
    for route in ["/api/scaffolder/v2/tasks", "/api/scaffolder/v2/dry-run", "/api/catalog/locations"] {
        // Announced up front, and (chunked) only counted as it streams in.
        for chunked in [false, true] {
            let reply = target.post_streamed(route, big.as_bytes(), chunked).await;
            reply.assert_refused(413, "PayloadTooLargeError", "request entity too large");
        }
    }
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let nested = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        for (route, body) in [
            ("/api/scaffolder/v2/tasks", format!("{{\"templateRef\":\"x\",\"values\":{{\"a\":{nested}}}}}")),
            (
                "/api/scaffolder/v2/dry-run",
                format!("{{\"template\":{nested},\"values\":{{}},\"directoryContents\":[]}}"),
            ),
            ("/api/catalog/locations", format!("{{\"type\":\"url\",\"target\":{nested}}}")),
        ] {
            let reply = target.post_raw(route, body).await;
            reply.assert_refused(400, "InputError", "recursion limit exceeded");
        }
    }
    for (file, message) in
        [("nested.yaml", "collections nest more than 1000 levels deep"), ("laughs.yaml", "repetition limit exceeded")]
    {
        let reply = target
            .post("/api/catalog/locations", &json!({"type": "url", "target": format!("http://{host}/{file}")}))
            .await;
        reply.assert_refused(400, "InputError", message);
    }
    target.assert_unharmed().await;
}
