//! Path traversal through every action input that names a path (and every `url` that names a
//! local file), through uploaded file names and catalog file locations; then unicode tricks that
//! look like traversal but must stay literal names inside the workspace.

use serde_json::{Value, json};

use super::{Setup, Target, step};

/// The upload every case starts from: one skeleton file, copied into the workspace first.
const SKELETON: &[(&str, &str)] = &[("skeleton/a.txt", "inside\n")];

fn prepare() -> Value {
    json!({"id": "prepare", "name": "Prepare", "action": "fetch:template", "input": {"url": "./skeleton"}})
}

/// `(case, action, input)`: `{out}` is `<root>/outside` as an absolute path. Workspaces are
/// `<root>/work/<name>` and uploads `<root>/work/dry-run-content-<id>`, so `../../outside` reaches
/// the canaries from either.
fn cases() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "fetch:template targetPath ..",
            "fetch:template",
            json!({"url": "./skeleton", "targetPath": "../../outside/empty"}),
        ),
        (
            "fetch:template targetPath absolute",
            "fetch:template",
            json!({"url": "./skeleton", "targetPath": "{out}/empty"}),
        ),
        (
            "fetch:template targetPath a/../../..",
            "fetch:template",
            json!({"url": "./skeleton", "targetPath": "a/../../../outside/empty"}),
        ),
        ("fetch:plain targetPath ..", "fetch:plain", json!({"url": "./skeleton", "targetPath": "../../outside/empty"})),
        ("fetch:plain targetPath absolute", "fetch:plain", json!({"url": "./skeleton", "targetPath": "{out}/empty"})),
        (
            "fetch:plain:file targetPath ..",
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "../../outside/empty/pwned.txt"}),
        ),
        (
            "fetch:plain:file targetPath absolute",
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "{out}/keep.txt"}),
        ),
        (
            "fetch:template:file targetPath ..",
            "fetch:template:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "../../outside/empty/pwned.txt"}),
        ),
        (
            "fetch:template:file targetPath absolute",
            "fetch:template:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "{out}/keep.txt", "replace": true}),
        ),
        ("fetch:plain url ..", "fetch:plain", json!({"url": "../../outside", "targetPath": "stolen"})),
        ("fetch:plain url absolute path", "fetch:plain", json!({"url": "{out}", "targetPath": "stolen"})),
        (
            "fetch:plain:file url ..",
            "fetch:plain:file",
            json!({"url": "../../outside/secret.txt", "targetPath": "stolen.txt"}),
        ),
        (
            "fetch:plain:file url absolute path",
            "fetch:plain:file",
            json!({"url": "{out}/secret.txt", "targetPath": "stolen.txt"}),
        ),
        ("fetch:template url ..", "fetch:template", json!({"url": "../../outside", "targetPath": "stolen"})),
        (
            "fetch:template:file url ..",
            "fetch:template:file",
            json!({"url": "../../outside/secret.txt", "targetPath": "stolen.txt"}),
        ),
        ("fs:delete ..", "fs:delete", json!({"files": ["../../outside/keep.txt"]})),
        ("fs:delete absolute", "fs:delete", json!({"files": ["{out}/keep.txt"]})),
        ("fs:delete glob ..", "fs:delete", json!({"files": ["../../outside/*"]})),
        ("fs:delete glob **/..", "fs:delete", json!({"files": ["**/../../../outside/*.txt"]})),
        ("fs:delete after a harmless entry", "fs:delete", json!({"files": ["a.txt", "../../outside/keep.txt"]})),
        (
            "fs:rename from outside",
            "fs:rename",
            json!({"files": [{"from": "../../outside/secret.txt", "to": "stolen.txt"}]}),
        ),
        ("fs:rename from absolute", "fs:rename", json!({"files": [{"from": "{out}/secret.txt", "to": "stolen.txt"}]})),
        (
            "fs:rename to outside",
            "fs:rename",
            json!({"files": [{"from": "a.txt", "to": "../../outside/empty/pwned.txt"}]}),
        ),
        (
            "fs:rename to absolute, overwriting",
            "fs:rename",
            json!({"files": [{"from": "a.txt", "to": "{out}/keep.txt", "overwrite": true}]}),
        ),
        ("fs:readdir ..", "fs:readdir", json!({"paths": ["../../outside"]})),
        ("fs:readdir absolute", "fs:readdir", json!({"paths": ["{out}"], "recursive": true})),
        (
            "catalog:write filePath ..",
            "catalog:write",
            json!({"filePath": "../../outside/empty/catalog-info.yaml", "entity": {"kind": "Component"}}),
        ),
        (
            "catalog:write filePath absolute",
            "catalog:write",
            json!({"filePath": "{out}/keep.txt", "entity": {"kind": "Component"}}),
        ),
    ]
}

/// Replaces `{out}` in every string of `input`.
fn with_outside(input: &Value, out: &str) -> Value {
    match input {
        Value::String(s) => Value::String(s.replace("{out}", out)),
        Value::Array(items) => Value::Array(items.iter().map(|i| with_outside(i, out)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), with_outside(v, out))).collect()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_through_every_path_input_is_refused() {
    let target = Target::start(Setup::default()).await;
    let out = target.outside("").trim_end_matches('/').to_owned();
    for (case, action, input) in cases() {
        let input = with_outside(&input, &out);
        let named: Vec<String> = collect_paths(&input);
        let reply = target.dry_run(json!([prepare(), step(action, input.clone())]), SKELETON, Value::Null).await;
        assert_eq!(reply.status, 403, "{case}: {}", reply.text);
        let body = reply.json();
        assert_eq!(body["error"]["name"], "NotAllowedError", "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Relative path is not allowed to refer to a directory outside its parent: ")
                && named.iter().any(|p| message.ends_with(p.as_str())),
            "{case}: the message names the path: {message}"
        );
        assert_eq!(body["response"]["statusCode"], 403);
        target.assert_contained();
    }
    target.assert_unharmed().await;
}

fn collect_paths(input: &Value) -> Vec<String> {
    match input {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(collect_paths).collect(),
        Value::Object(map) => map.values().flat_map(collect_paths).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_naming_other_schemes_are_refused() {
    let target = Target::start(Setup::default()).await;
    let secret = target.outside("secret.txt");
    for (action, url) in [
        ("fetch:plain:file", format!("file://{secret}")),
        ("fetch:template:file", format!("file://{secret}")),
        ("fetch:plain", "file:///etc".to_owned()),
        ("fetch:plain:file", "ftp://127.0.0.1/secret".to_owned()),
        ("fetch:plain:file", "jar:file:///etc/passwd!/x".to_owned()),
    ] {
        let reply = target
            .dry_run(json!([step(action, json!({"url": url, "targetPath": "stolen.txt"}))]), &[], Value::Null)
            .await;
        reply.assert_refused(400, "InputError", "only http and https URLs can be fetched");
    }
    target.assert_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_file_names_and_catalog_locations_cannot_escape() {
    let target = Target::start(Setup { catalog: Some(String::new()), ..Setup::default() }).await;
    let out = target.outside("empty/pwned.txt");
    for path in ["../../outside/empty/pwned.txt", out.as_str(), "skeleton/../../../outside/empty/pwned.txt"] {
        let steps = json!([{"id": "log", "name": "Log", "action": "debug:log", "input": {"message": "hi"}}]);
        let reply = target.dry_run(steps, &[(path, "pwned")], Value::Null).await;
        reply.assert_refused(403, "NotAllowedError", path);
        target.assert_contained();
    }
    let reply = target.dry_run(json!([]), &[("a\u{0}b", "x")], Value::Null).await;
    reply.assert_refused(400, "InputError", "NUL");

    // `file` locations from the API must lie inside the configured directories: the canary is
    // neither read into an error nor registered.
    let secret = target.outside("secret.txt");
    let before = target.get("/api/catalog/locations").await.json();
    for location in [secret.as_str(), "../outside/secret.txt", "../../../../../../../etc/passwd"] {
        let reply = target.post("/api/catalog/locations", &json!({"type": "file", "target": location})).await;
        assert!(matches!(reply.status, 400 | 403 | 404), "{location}: {}", reply.text);
        assert!(reply.json()["error"]["message"].is_string(), "{}", reply.text);
    }
    assert_eq!(target.get("/api/catalog/locations").await.json(), before, "nothing was registered");
    target.assert_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_tricks_stay_literal_names_inside_the_workspace() {
    let target = Target::start(Setup::default()).await;
    // Each looks like a way out to someone; to the file system each is an ordinary name.
    let literal = [
        "\u{202e}txt.exe",
        "\u{ff0e}\u{ff0e}\u{ff0f}\u{ff0e}\u{ff0e}\u{ff0f}outside/empty/pwned.txt",
        "%2e%2e%2f%2e%2e%2foutside%2fempty%2fpwned.txt",
        "%2e%2e/%2e%2e/outside/empty/pwned.txt",
        "..\\..\\outside\\empty\\pwned.txt",
        "\u{2025}/\u{2025}/outside/empty/pwned.txt",
        ".\u{200b}./.\u{200b}./outside/empty/pwned.txt",
        "\u{fe52}\u{fe52}/\u{fe52}\u{fe52}/outside/empty/pwned.txt",
    ];
    for path in literal {
        let reply = target
            .dry_run(
                json!([step("fetch:plain:file", json!({"url": "./skeleton/a.txt", "targetPath": path}))]),
                SKELETON,
                Value::Null,
            )
            .await;
        assert_eq!(reply.status, 200, "{path:?}: {}", reply.text);
        let files = reply.files();
        assert_eq!(files.get(path).map(Vec::as_slice), Some(&b"inside\n"[..]), "{path:?} in {:?}", files.keys());
        target.assert_contained();
    }
    // A NUL byte cannot name a file at all.
    for input in [json!({"url": "./skeleton/a.txt", "targetPath": "a\u{0}/../../outside/x"})] {
        let reply = target.dry_run(json!([step("fetch:plain:file", input)]), SKELETON, Value::Null).await;
        reply.assert_refused(400, "InputError", "Path contains a NUL byte");
    }
    // Overlong UTF-8 for `.` (0xC0 0xAE) is not UTF-8: the body is refused before anything runs.
    let mut body = br#"{"template":{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"x"},"spec":{"steps":[{"id":"a","action":"fetch:plain:file","input":{"url":"./skeleton/a.txt","targetPath":""#.to_vec();
    body.extend_from_slice(b"\xc0\xae\xc0\xae/\xc0\xae\xc0\xae/outside/empty/pwned.txt");
    body.extend_from_slice(br#""}}]}},"values":{},"directoryContents":[]}"#);
    let reply = target.post_raw("/api/scaffolder/v2/dry-run", body).await;
    reply.assert_refused(400, "InputError", "Malformed JSON in request body");
    target.assert_unharmed().await;
}

/// On Unix a backslash is part of a name. A skeleton file named `..\..\..\outside\secret.txt`
/// must be copied as that one file, never read as a path that leaves the skeleton (nor may the
/// workspace listing of a dry-run read such a name as a path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslashes_in_file_names_are_not_separators() {
    let target = Target::start(Setup::default()).await;
    let sneaky = "..\\..\\..\\outside\\secret.txt";
    let uploads = [("skeleton/ok.txt", "ok\n"), ("skeleton/..\\..\\..\\outside\\secret.txt", "decoy\n")];
    for (action, target_path) in [("fetch:template", "x/y/z"), ("fetch:plain", "x/y/z")] {
        let reply = target
            .dry_run(
                json!([step(action, json!({"url": "./skeleton", "targetPath": target_path}))]),
                &uploads,
                Value::Null,
            )
            .await;
        assert_eq!(reply.status, 200, "{action}: {}", reply.text);
        let files = reply.files();
        assert_eq!(
            files.get(&format!("x/y/z/{sneaky}")).map(Vec::as_slice),
            Some(&b"decoy\n"[..]),
            "{action}: {:?}",
            files.keys()
        );
        assert!(!files.contains_key("outside/secret.txt"), "{action}: {:?}", files.keys());
        target.assert_contained();
    }
    // A name written by an earlier step is listed as itself, not followed as a path.
    let reply = target
        .dry_run(
            json!([step(
                "fetch:plain:file",
                json!({"url": "./skeleton/ok.txt", "targetPath": "..\\..\\outside\\secret.txt"})
            )]),
            &uploads,
            Value::Null,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.files().get("..\\..\\outside\\secret.txt").map(Vec::as_slice), Some(&b"ok\n"[..]));
    target.assert_unharmed().await;
}
