//! "Bad input gets a clear error and loses nothing", for every built-in action: each case runs a
//! one-step template through the runner in a fresh sandbox and must fail that step with the
//! expected error name and a message naming the offending input, without panicking or hanging,
//! without changing a byte anywhere in the sandbox (the workspace, the template's directory, and
//! the `outside` directory that links in the workspace point to), and without any request: the
//! GitHub integration and one "hostile" URL point at a local listener that must never be called.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use serde_json::{Value, json};
use templates::TaskSpec;

use super::*;
use crate::github::{Github, GithubIntegration, RetryPolicy, Secret};
use crate::sink::MemorySink;
use crate::{FetchConfig, ReadingAllow, RegistryConfig};

/// Paths out of the workspace or the template, and hosts that may not be read.
const NOT_ALLOWED: &str = "NotAllowedError";
const INPUT: &str = "InputError";
const REPO: &str = "github.com?owner=acme&repo=app";

struct Case {
    action: &'static str,
    input: Value,
    name: &'static str,
    says: String,
}

fn fails(action: &'static str, input: Value, name: &'static str, says: impl Into<String>) -> Case {
    Case { action, input, name, says: says.into() }
}

/// A schema violation: the runner's `Invalid input passed to action <id>, <problems>`.
fn invalid(action: &'static str, input: Value, problem: &str) -> Case {
    fails(action, input, INPUT, format!("Invalid input passed to action {action}, {problem}"))
}

/// A path that leaves the workspace (or the template's directory), named as given.
fn escapes(action: &'static str, input: Value, path: &str) -> Case {
    fails(
        action,
        input,
        NOT_ALLOWED,
        format!("Relative path is not allowed to refer to a directory outside its parent: {path}"),
    )
}

fn not_fetchable(action: &'static str, input: Value, url: &str) -> Case {
    fails(action, input, INPUT, format!("Fetching {url} is not supported: only http and https URLs can be fetched"))
}

fn not_allowed(action: &'static str, input: Value, url: &str) -> Case {
    fails(action, input, NOT_ALLOWED, format!("Reading from '{url}' is not allowed"))
}

/// Every case. `local` is a URL on the listener that counts connections.
fn cases(local: &str) -> Vec<Case> {
    let pr = |extra: Value| {
        let mut input = json!({"repoUrl": REPO, "branchName": "b", "title": "t", "description": "d"});
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        input
    };
    vec![
        // Schema violations: missing required inputs, wrong types, misspelt names.
        invalid("fetch:plain", json!({}), "instance requires property \"url\""),
        invalid("fetch:plain", json!({"url": 7}), "instance.url is not of a type(s) string"),
        invalid(
            "fetch:plain",
            json!({"url": "./skeleton", "targetpath": "x"}),
            "instance is not allowed to have the additional property \"targetpath\"",
        ),
        invalid("fetch:plain:file", json!({"url": "./skeleton/a.txt"}), "instance requires property \"targetPath\""),
        invalid(
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": ["a"]}),
            "instance.targetPath is not of a type(s) string",
        ),
        invalid(
            "fetch:template",
            json!({"url": "./skeleton", "values": ["a"]}),
            "instance.values is not of a type(s) object",
        ),
        invalid(
            "fetch:template",
            json!({"url": "./skeleton", "copyWithoutTemplating": {"a": "b"}}),
            "instance.copyWithoutTemplating is not of a type(s) array",
        ),
        invalid(
            "fetch:template:file",
            json!({"url": "./skeleton/a.txt", "targetPath": 3}),
            "instance.targetPath is not of a type(s) string",
        ),
        invalid("fs:delete", json!({}), "instance requires property \"files\""),
        invalid("fs:delete", json!({"files": {"a.txt": true}}), "instance.files is not of a type(s) array"),
        invalid("fs:delete", json!({"files": [1]}), "instance.files[0] is not of a type(s) string"),
        invalid("fs:rename", json!({}), "instance requires property \"files\""),
        invalid(
            "fs:rename",
            json!({"files": {"from": "a.txt", "to": "c.txt"}}),
            "instance.files is not of a type(s) array",
        ),
        invalid("fs:rename", json!({"files": [{"from": "a.txt"}]}), "instance.files[0] requires property \"to\""),
        invalid("fs:readdir", json!({}), "instance requires property \"paths\""),
        invalid("fs:readdir", json!({"paths": "."}), "instance.paths is not of a type(s) array"),
        invalid("fs:readdir", json!({"paths": [""]}), "instance.paths[0] does not meet minimum length of 1"),
        invalid("catalog:write", json!({}), "instance requires property \"entity\""),
        invalid("catalog:write", json!({"entity": ["Component"]}), "instance.entity is not of a type(s) object"),
        invalid("catalog:write", json!({"entity": {}, "filePath": 1}), "instance.filePath is not of a type(s) string"),
        invalid("catalog:fetch", json!({"entityRef": 5}), "instance.entityRef is not of a type(s) string"),
        invalid("catalog:fetch", json!({"entityRefs": "component:a"}), "instance.entityRefs is not of a type(s) array"),
        invalid("debug:log", json!({"message": {"nested": true}}), "instance.message is not of a type(s) string"),
        invalid("debug:log", json!({"listWorkspace": "everything"}), "instance.listWorkspace is not any of"),
        invalid("debug:wait", json!({"minutes": "5"}), "instance.minutes is not of a type(s) number"),
        invalid("publish:github", json!({}), "instance requires property \"repoUrl\""),
        invalid("publish:github", json!({"repoUrl": 7}), "instance.repoUrl is not of a type(s) string"),
        invalid(
            "publish:github",
            json!({"repoUrl": REPO, "topics": "a,b"}),
            "instance.topics is not of a type(s) array",
        ),
        invalid(
            "publish:github",
            json!({"repoUrl": REPO, "repoVisibility": "secret"}),
            "instance.repoVisibility is not one of enum values: private,public,internal",
        ),
        invalid("github:repo:create", json!({}), "instance requires property \"repoUrl\""),
        invalid("github:repo:create", json!({"repoUrl": [REPO]}), "instance.repoUrl is not of a type(s) string"),
        invalid("github:repo:push", json!({}), "instance requires property \"repoUrl\""),
        invalid(
            "github:repo:push",
            json!({"repoUrl": REPO, "sourcePath": 1}),
            "instance.sourcePath is not of a type(s) string",
        ),
        invalid("publish:github:pull-request", json!({"repoUrl": REPO}), "instance requires property \"branchName\""),
        invalid(
            "publish:github:pull-request",
            pr(json!({"reviewers": "alice"})),
            "instance.reviewers is not of a type(s) array",
        ),
        // Left vague by the shared validator: a failed `anyOf` does not say which inputs it wants.
        invalid("catalog:register", json!({}), "instance is not any of the allowed schemas"),
        // Workspace paths that leave it: `..`, absolute, and through links placed in it.
        escapes("fetch:plain", json!({"url": "./skeleton", "targetPath": "../../etc"}), "../../etc"),
        escapes("fetch:plain", json!({"url": "./skeleton", "targetPath": "/etc"}), "/etc"),
        escapes("fetch:plain", json!({"url": "./skeleton", "targetPath": "link-out"}), "link-out"),
        escapes(
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "../../etc/passwd"}),
            "../../etc/passwd",
        ),
        escapes("fetch:plain:file", json!({"url": "./skeleton/a.txt", "targetPath": "/etc/passwd"}), "/etc/passwd"),
        escapes(
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "link-out/a.txt"}),
            "link-out/a.txt",
        ),
        escapes("fetch:plain:file", json!({"url": "./skeleton/a.txt", "targetPath": "file-link"}), "file-link"),
        escapes("fetch:plain:file", json!({"url": "./skeleton/a.txt", "targetPath": "dangling"}), "dangling"),
        escapes("fetch:template", json!({"url": "./skeleton", "targetPath": "../../etc"}), "../../etc"),
        escapes("fetch:template", json!({"url": "./skeleton", "targetPath": "/etc"}), "/etc"),
        escapes("fetch:template", json!({"url": "./skeleton", "targetPath": "link-out"}), "link-out"),
        // A file name rendered from values must not climb out either.
        escapes("fetch:template", json!({"url": "./named", "values": {"name": "../../escaped"}}), "../../escaped.txt"),
        escapes("fetch:template:file", json!({"url": "./skeleton/a.txt", "targetPath": "../../etc/x"}), "../../etc/x"),
        escapes("fetch:template:file", json!({"url": "./skeleton/a.txt", "targetPath": "/etc/passwd"}), "/etc/passwd"),
        escapes(
            "fetch:template:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "link-out/x.txt"}),
            "link-out/x.txt",
        ),
        escapes(
            "fetch:template:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "file-link", "replace": true}),
            "file-link",
        ),
        escapes("fs:delete", json!({"files": ["../../etc/passwd"]}), "../../etc/passwd"),
        escapes("fs:delete", json!({"files": ["/etc/passwd"]}), "/etc/passwd"),
        escapes("fs:delete", json!({"files": ["link-out/secret.txt"]}), "link-out/secret.txt"),
        escapes("fs:delete", json!({"files": ["link-out/*"]}), "link-out/*"),
        escapes("fs:delete", json!({"files": ["../*"]}), "../*"),
        escapes("fs:rename", json!({"files": [{"from": "../../etc/passwd", "to": "p"}]}), "../../etc/passwd"),
        escapes("fs:rename", json!({"files": [{"from": "a.txt", "to": "/etc/a.txt"}]}), "/etc/a.txt"),
        escapes("fs:rename", json!({"files": [{"from": "a.txt", "to": "link-out/a.txt"}]}), "link-out/a.txt"),
        escapes("fs:rename", json!({"files": [{"from": "link-out/secret.txt", "to": "s.txt"}]}), "link-out/secret.txt"),
        escapes("fs:rename", json!({"files": [{"from": "a.txt", "to": "dangling", "overwrite": true}]}), "dangling"),
        escapes("fs:readdir", json!({"paths": ["../.."]}), "../.."),
        escapes("fs:readdir", json!({"paths": ["/etc"]}), "/etc"),
        escapes("fs:readdir", json!({"paths": ["link-out"]}), "link-out"),
        escapes(
            "catalog:write",
            json!({"filePath": "../../catalog-info.yaml", "entity": {}}),
            "../../catalog-info.yaml",
        ),
        escapes("catalog:write", json!({"filePath": "/etc/catalog-info.yaml", "entity": {}}), "/etc/catalog-info.yaml"),
        escapes(
            "catalog:write",
            json!({"filePath": "link-out/catalog-info.yaml", "entity": {}}),
            "link-out/catalog-info.yaml",
        ),
        escapes("catalog:write", json!({"filePath": "file-link", "entity": {}}), "file-link"),
        escapes("catalog:write", json!({"filePath": "dangling", "entity": {}}), "dangling"),
        escapes("publish:github", json!({"repoUrl": REPO, "sourcePath": "/etc"}), "/etc"),
        escapes("publish:github", json!({"repoUrl": REPO, "sourcePath": "link-out"}), "link-out"),
        escapes("github:repo:push", json!({"repoUrl": REPO, "sourcePath": "link-out"}), "link-out"),
        escapes("publish:github:pull-request", pr(json!({"sourcePath": "link-out"})), "link-out"),
        fails(
            "publish:github:pull-request",
            pr(json!({"targetPath": "../x"})),
            INPUT,
            "../x points outside the repository",
        ),
        fails(
            "publish:github:pull-request",
            pr(json!({"filesToDelete": ["../../etc/passwd"]})),
            INPUT,
            "../../etc/passwd points outside the repository",
        ),
        // Template paths that leave the template's directory, directly or through a link.
        escapes("fetch:plain", json!({"url": "../../../../etc"}), "../../../../etc"),
        escapes("fetch:plain:file", json!({"url": "./leak.txt", "targetPath": "leak.txt"}), "./leak.txt"),
        escapes("fetch:template:file", json!({"url": "/etc/passwd", "targetPath": "p"}), "/etc/passwd"),
        // URLs: other schemes, and hosts that are neither integrations nor in reading.allow.
        not_fetchable("fetch:plain", json!({"url": "file:///etc/passwd"}), "file:///etc/passwd"),
        not_fetchable("fetch:plain:file", json!({"url": "ftp://x", "targetPath": "x"}), "ftp://x"),
        not_fetchable("fetch:template", json!({"url": "file:///etc"}), "file:///etc"),
        not_fetchable(
            "fetch:template:file",
            json!({"url": "data:text/plain,hi", "targetPath": "x"}),
            "data:text/plain,hi",
        ),
        not_allowed("fetch:plain", json!({"url": "https://not-allowed.invalid/x"}), "https://not-allowed.invalid/x"),
        not_allowed("fetch:plain", json!({"url": local}), local),
        not_allowed("fetch:plain:file", json!({"url": local, "targetPath": "x"}), local),
        not_allowed(
            "fetch:plain:file",
            json!({"url": "https://files.allowed.invalid@not-allowed.invalid/x", "targetPath": "x"}),
            "https://files.allowed.invalid@not-allowed.invalid/x",
        ),
        not_allowed("fetch:template", json!({"url": "https://evilallowed.invalid/x"}), "https://evilallowed.invalid/x"),
        not_allowed(
            "fetch:template:file",
            json!({"url": "https://not-allowed.invalid/x", "targetPath": "x"}),
            "https://not-allowed.invalid/x",
        ),
        // Repository URLs: refused before any request (the integration's API is the listener).
        fails(
            "publish:github",
            json!({"repoUrl": "github.com?repo=app"}),
            INPUT,
            "https://github.com?repo=app, missing owner",
        ),
        fails("publish:github", json!({"repoUrl": "not a url"}), INPUT, "got not a url, TypeError: Invalid URL"),
        fails("publish:github", json!({"repoUrl": "https://github.com/acme/app"}), INPUT, "for host https:"),
        fails(
            "publish:github",
            json!({"repoUrl": "github.com?owner=acme%2Fother&repo=app"}),
            INPUT,
            "Invalid owner 'acme/other' in repoUrl",
        ),
        fails(
            "github:repo:create",
            json!({"repoUrl": "gitlab.example?owner=a&repo=b"}),
            INPUT,
            "No matching integration configuration for host gitlab.example",
        ),
        fails(
            "github:repo:create",
            json!({"repoUrl": "gitlab.com?owner=a&repo=b"}),
            INPUT,
            "No integration for host gitlab.com",
        ),
        fails(
            "github:repo:create",
            json!({"repoUrl": "evil@github.com?owner=a&repo=b"}),
            INPUT,
            "got evil@github.com?owner=a&repo=b, TypeError: Invalid URL",
        ),
        fails("github:repo:push", json!({"repoUrl": "github.com?owner=acme"}), INPUT, "missing repo"),
        fails(
            "github:repo:push",
            json!({"repoUrl": "github.com?owner=acme&repo=../app"}),
            INPUT,
            "Invalid repo '../app' in repoUrl",
        ),
        fails("publish:github:pull-request", pr(json!({"repoUrl": "github.com?repo=app"})), INPUT, "missing owner"),
        fails(
            "publish:github:pull-request",
            pr(json!({"repoUrl": "ftp://x"})),
            INPUT,
            "No matching integration configuration for host ftp:",
        ),
        fails(
            "catalog:register",
            json!({"repoContentsUrl": "https://not-allowed.invalid/repo"}),
            INPUT,
            "No integration found for host https://not-allowed.invalid/repo",
        ),
        // Durations.
        fails(
            "debug:wait",
            json!({"minutes": 11}),
            "Error",
            "longer than the maximum threshold of 0 hours, 10 minutes",
        ),
        fails("debug:wait", json!({"milliseconds": 1e300}), "Error", "longer than the maximum threshold"),
        fails("debug:wait", json!({"seconds": -5}), INPUT, "must not be negative, got seconds: -5"),
        fails("debug:wait", json!({"minutes": 11, "seconds": -60}), INPUT, "got seconds: -60"),
        // Renames and deletions that would lose data.
        fails(
            "fs:rename",
            json!({"files": [{"from": "a.txt", "to": "b.txt"}]}),
            "Error",
            "dest already exists. Renaming a.txt to b.txt",
        ),
        fails(
            "fs:rename",
            json!({"files": [{"from": "d", "to": "d/sub", "overwrite": true}]}),
            "Error",
            "to a subdirectory of itself",
        ),
        fails(
            "fs:rename",
            json!({"files": [{"from": "d/sub/keep.txt", "to": "d", "overwrite": true}]}),
            INPUT,
            "Cannot overwrite 'd' with 'd/sub/keep.txt'",
        ),
        fails(
            "fs:rename",
            json!({"files": [{"from": "a.txt", "to": ".", "overwrite": true}]}),
            INPUT,
            "Cannot overwrite '.' with 'a.txt'",
        ),
        fails(
            "fs:rename",
            json!({"files": [{"from": "", "to": "c.txt"}]}),
            INPUT,
            "each file must have a from and to property",
        ),
        fails(
            "fs:rename",
            json!({"files": [{"from": "missing.txt", "to": "c.txt"}]}),
            "Error",
            "ENOENT: no such file or directory",
        ),
        fails("fs:delete", json!({"files": [""]}), INPUT, "Cannot delete the workspace itself ('')"),
        fails("fs:delete", json!({"files": ["d/.."]}), INPUT, "Cannot delete the workspace itself ('d/..')"),
        // Other malformed input the schemas let through.
        fails("fs:readdir", json!({"paths": ["a.txt"]}), "Error", "a.txt"),
        fails(
            "fetch:template",
            json!({"url": "./skeleton", "templateFileExtension": true, "copyWithoutTemplating": ["*"]}),
            INPUT,
            "extension incompatible with copyWithoutTemplating",
        ),
        fails(
            "fetch:template",
            json!({"url": "./skeleton", "copyWithoutTemplating": ["a["]}),
            INPUT,
            "Invalid glob pattern 'a['",
        ),
        fails("fetch:template", json!({"url": "./skeleton/a.txt"}), INPUT, "skeleton/a.txt is not a directory"),
        fails(
            "fetch:plain:file",
            json!({"url": "./missing.txt", "targetPath": "m"}),
            "Error",
            "ENOENT: no such file or directory",
        ),
        fails("catalog:fetch", json!({}), "Error", "Missing entity reference or references"),
        fails("catalog:fetch", json!({"entityRef": ""}), "Error", "Entity reference must not be empty"),
    ]
}

/// Every entry below `root`, links not followed: what it is and what it holds.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                out.insert(relative, format!("link to {}", std::fs::read_link(&path).unwrap().display()));
            } else if kind.is_dir() {
                out.insert(relative, "directory".to_owned());
                walk(root, &path, out);
            } else {
                out.insert(relative, String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A template directory, an `outside` directory, and a workspace with files and links out.
fn sandbox() -> (tempfile::TempDir, Workspace) {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let outside = root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside, keep").unwrap();
    let template = root.join("template");
    std::fs::create_dir_all(template.join("skeleton")).unwrap();
    std::fs::create_dir_all(template.join("named")).unwrap();
    std::fs::write(template.join("skeleton/a.txt"), "${{ values.name }}").unwrap();
    std::fs::write(template.join("named/${{ values.name }}.txt"), "named").unwrap();
    symlink(outside.join("secret.txt"), template.join("leak.txt")).unwrap();
    let workspace = Workspace::create(&root.join("tasks"), "task").unwrap();
    let ws = workspace.root();
    std::fs::write(ws.join("a.txt"), "a").unwrap();
    std::fs::write(ws.join("b.txt"), "b").unwrap();
    std::fs::create_dir_all(ws.join("d/sub")).unwrap();
    std::fs::write(ws.join("d/sub/keep.txt"), "keep").unwrap();
    symlink(&outside, ws.join("link-out")).unwrap();
    symlink(outside.join("secret.txt"), ws.join("file-link")).unwrap();
    symlink(outside.join("new.txt"), ws.join("dangling")).unwrap();
    (dir, workspace)
}

/// Counts the connections made to it: there must be none.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    std::thread::spawn(move || {
        for _ in socket.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, calls)
}

/// The runner of the built-in actions, with the GitHub integration's API and one allowed
/// reading host; `port` is the listener's.
fn runner(port: u16) -> Runner {
    let github = Github::new(
        vec![GithubIntegration {
            api_base_url: format!("http://127.0.0.1:{port}"),
            token: Some(Secret::new("integration-token")),
            ..GithubIntegration::for_host("github.com")
        }],
        RetryPolicy::default(),
    );
    let config = RegistryConfig {
        fetch: FetchConfig {
            integrations: templates::Integration::defaults(),
            allow: vec![ReadingAllow { host: "*.allowed.invalid".to_owned(), paths: Vec::new() }],
        },
        github: Arc::new(github),
        ..RegistryConfig::default()
    };
    Runner::new(Arc::new(Registry::builtin(&config)), RunnerConfig::default())
}

/// Runs a one-step template (step id `step`) from the sandbox's template directory; `Err` when
/// it panicked or was still running after 30 seconds.
async fn run_step(
    runner: &Runner,
    dir: &Path,
    workspace: &Workspace,
    action: &str,
    input: &Value,
) -> (Result<RunOutcome, &'static str>, MemorySink) {
    let spec = TaskSpec::from_value(json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "steps": [{"id": "step", "name": "Step", "action": action, "input": input}],
        "output": {},
        "parameters": {},
        "user": {},
        "templateInfo": {
            "entityRef": "template:default/t",
            "baseUrl": format!("file://{}/template/template.yaml", dir.canonicalize().unwrap().display()),
        },
    }))
    .unwrap();
    let sink = MemorySink::new();
    let (stop, secrets) = (StopSignal::new(), Secrets::new());
    let run = runner.run(TaskRun {
        task_id: "task",
        spec: &spec,
        secrets: &secrets,
        state: TaskState::default(),
        workspace,
        is_dry_run: false,
        sink: &sink,
        stop: &stop,
    });
    let outcome = match tokio::time::timeout(Duration::from_secs(30), AssertUnwindSafe(run).catch_unwind()).await {
        Err(_) => Err("still running after 30s"),
        Ok(Err(_)) => Err("panicked"),
        Ok(Ok(outcome)) => Ok(outcome),
    };
    (outcome, sink)
}

#[tokio::test]
async fn bad_input_fails_the_step_clearly_and_touches_nothing() {
    let (port, calls) = listener();
    let runner = runner(port);
    let local = format!("http://127.0.0.1:{port}/skeleton");
    let cases = cases(&local);
    let covered: BTreeSet<String> = cases.iter().map(|c| c.action.to_owned()).collect();
    let all: BTreeSet<String> =
        runner.registry().describe().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(covered, all, "every built-in action has bad-input cases");

    let mut problems = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let label = format!("#{index} {} {}", case.action, case.input);
        let (dir, workspace) = sandbox();
        let before = snapshot(dir.path());
        let (outcome, sink) = run_step(&runner, dir.path(), &workspace, case.action, &case.input).await;
        match outcome {
            Err(what) => problems.push(format!("{label}: {what}")),
            Ok(RunOutcome::Failed { error }) => {
                if error.name != case.name || !error.message.contains(&case.says) {
                    problems.push(format!("{label}: got {error}, wanted {}: …{}…", case.name, case.says));
                }
                let step_failed = sink.events().iter().any(|e| {
                    e.body["stepId"] == "step" && e.body["status"] == "failed" && e.body["message"] == error.stack()
                });
                if !step_failed {
                    problems.push(format!("{label}: the step itself was not reported as failed"));
                }
            }
            Ok(other) => problems.push(format!("{label}: did not fail: {other:?}")),
        }
        let after = snapshot(dir.path());
        if after != before {
            let changed: BTreeSet<&String> =
                before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
            problems.push(format!("{label}: changed the sandbox: {changed:?}"));
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a bad input led to a network request");
    assert!(problems.is_empty(), "{} of {} cases went wrong:\n{}", problems.len(), cases.len(), problems.join("\n"));
}

/// Reading steps list links that lead out of the workspace (or the skeleton), never follow them.
#[tokio::test]
async fn links_out_are_listed_not_followed() {
    let (port, calls) = listener();
    let runner = runner(port);
    let reads = [
        ("debug:log", json!({"listWorkspace": "with-contents"})),
        ("fs:readdir", json!({"paths": ["."], "recursive": true})),
        ("fetch:plain", json!({"url": ".", "targetPath": "copy"})),
        ("fetch:template", json!({"url": ".", "targetPath": "rendered", "values": {"name": "n"}})),
    ];
    for (action, input) in reads {
        let (dir, workspace) = sandbox();
        let outside = snapshot(&dir.path().join("outside"));
        let (outcome, sink) = run_step(&runner, dir.path(), &workspace, action, &input).await;
        assert!(matches!(outcome, Ok(RunOutcome::Completed { .. })), "{action}: {outcome:?}");
        let events = serde_json::to_string(&sink.events().iter().map(|e| &e.body).collect::<Vec<_>>()).unwrap();
        assert!(!events.contains("outside, keep"), "{action} printed a file outside the workspace");
        assert!(!events.contains("link-out/secret.txt"), "{action} listed inside a link out");
        let copied = snapshot(workspace.root());
        assert!(copied.keys().all(|k| !k.ends_with("leak.txt")), "{action} copied a link out of the skeleton");
        assert!(copied.values().all(|v| v != "outside, keep"), "{action} copied a file from outside");
        assert_eq!(snapshot(&dir.path().join("outside")), outside, "{action}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
