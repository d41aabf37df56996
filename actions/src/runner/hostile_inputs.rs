//! Bad input to every built-in action: each one-step template below must fail its step with a
//! specific error (name and the part of the message that names the offending input), never
//! panic, never answer vaguely, and never write outside the workspace.

use serde_json::{Value, json};
use templates::TaskSpec;

use super::*;
use crate::sink::MemorySink;

struct Case {
    action: &'static str,
    input: Value,
    name: &'static str,
    says: &'static str,
}

fn case(action: &'static str, input: Value, name: &'static str, says: &'static str) -> Case {
    Case { action, input, name, says }
}

fn cases() -> Vec<Case> {
    vec![
        // Schema violations: missing required inputs and wrong types.
        case("fetch:plain", json!({}), "InputError", "requires property \"url\""),
        case("fetch:plain", json!({"url": 7}), "InputError", "url"),
        case("fetch:plain:file", json!({"url": "./skeleton/a.txt"}), "InputError", "targetPath"),
        case("fetch:template", json!({"url": ["./skeleton"]}), "InputError", "url"),
        case("fetch:template:file", json!({"url": "./skeleton/a.txt"}), "InputError", "targetPath"),
        case("fs:rename", json!({}), "InputError", "files"),
        case("fs:rename", json!({"files": {"from": "a", "to": "b"}}), "InputError", "files"),
        case("fs:delete", json!({"files": "a.txt"}), "InputError", "files"),
        case("fs:readdir", json!({}), "InputError", "paths"),
        case("catalog:write", json!({"entity": "not an object"}), "InputError", "entity"),
        case("catalog:fetch", json!({"entityRef": 5}), "InputError", "entityRef"),
        case("debug:log", json!({"message": {"nested": true}}), "InputError", "message"),
        case("debug:wait", json!({"minutes": "soon"}), "InputError", "minutes"),
        case("publish:github", json!({}), "InputError", "repoUrl"),
        case("github:repo:create", json!({"repoUrl": 42}), "InputError", "repoUrl"),
        case("github:repo:push", json!({}), "InputError", "repoUrl"),
        case(
            "publish:github:pull-request",
            json!({"repoUrl": "github.com?owner=a&repo=b"}),
            "InputError",
            "branchName",
        ),
        // Paths that leave the workspace.
        case("fetch:plain", json!({"url": "./skeleton", "targetPath": "../../outside"}), "NotAllowedError", "outside"),
        case(
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "/etc/passwd"}),
            "NotAllowedError",
            "/etc/passwd",
        ),
        case("fetch:template", json!({"url": "./skeleton", "targetPath": "../escape"}), "NotAllowedError", "escape"),
        case(
            "fetch:template:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "../../x.txt"}),
            "NotAllowedError",
            "x.txt",
        ),
        case("fetch:plain", json!({"url": "../../../../etc"}), "NotAllowedError", "etc"),
        case("fs:delete", json!({"files": ["../../etc/passwd"]}), "NotAllowedError", "passwd"),
        case("fs:rename", json!({"files": [{"from": "a.txt", "to": "../../b.txt"}]}), "NotAllowedError", "b.txt"),
        case("fs:readdir", json!({"paths": ["../.."]}), "NotAllowedError", ".."),
        case(
            "catalog:write",
            json!({"filePath": "../../catalog-info.yaml", "entity": {"kind": "Component"}}),
            "NotAllowedError",
            "catalog-info.yaml",
        ),
        case("fs:rename", json!({"files": [{"from": "link-out/x", "to": "y"}]}), "NotAllowedError", "link-out"),
        case(
            "fetch:plain:file",
            json!({"url": "./skeleton/a.txt", "targetPath": "link-out/a.txt"}),
            "NotAllowedError",
            "link-out",
        ),
        // URLs: other schemes, hosts that are not allowed (refused before any request).
        case("fetch:plain", json!({"url": "file:///etc/passwd"}), "InputError", "only http and https"),
        case(
            "fetch:plain:file",
            json!({"url": "ftp://example.com/a", "targetPath": "a"}),
            "InputError",
            "only http and https",
        ),
        case(
            "fetch:template",
            json!({"url": "https://not-allowed.invalid/skeleton"}),
            "NotAllowedError",
            "backend.reading.allow",
        ),
        case(
            "fetch:plain:file",
            json!({"url": "https://not-allowed.invalid/a.txt", "targetPath": "a"}),
            "NotAllowedError",
            "not-allowed.invalid",
        ),
        // Repository URLs the GitHub actions cannot use.
        case("publish:github", json!({"repoUrl": "github.com?repo=app"}), "InputError", "owner"),
        case("publish:github", json!({"repoUrl": "not a url"}), "InputError", "not a url"),
        case("github:repo:create", json!({"repoUrl": "gitlab.example?owner=a&repo=b"}), "InputError", "gitlab.example"),
        case("github:repo:push", json!({"repoUrl": "github.com?owner=a"}), "InputError", "repo"),
        case(
            "publish:github:pull-request",
            json!({"repoUrl": "github.com?repo=b", "branchName": "x", "title": "t", "description": "d"}),
            "InputError",
            "owner",
        ),
        // Others.
        case("fs:rename", json!({"files": [{"from": "a.txt", "to": "b.txt"}]}), "Error", "dest already exists"),
        case("catalog:register", json!({}), "InputError", "instance is not any of the allowed schemas"),
        case("catalog:fetch", json!({}), "Error", "Missing entity reference"),
        case("catalog:fetch", json!({"entityRef": "component:default/nobody"}), "Error", "component:default/nobody"),
    ]
}

#[tokio::test]
async fn every_action_refuses_bad_input_specifically_and_writes_nothing_outside() {
    let runner = Runner::new(Arc::new(Registry::builtin(&crate::RegistryConfig::default())), RunnerConfig::default());
    let template = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(template.path().join("skeleton")).unwrap();
    std::fs::write(template.path().join("skeleton/a.txt"), "a").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (index, case) in cases().into_iter().enumerate() {
        let parent = tempfile::tempdir().unwrap();
        let workspace = Workspace::create(parent.path(), "task").unwrap();
        std::fs::write(workspace.root().join("a.txt"), "a").unwrap();
        std::fs::write(workspace.root().join("b.txt"), "b").unwrap();
        std::os::unix::fs::symlink(outside.path(), workspace.root().join("link-out")).unwrap();
        let spec = TaskSpec::from_value(json!({
            "apiVersion": "scaffolder.backstage.io/v1beta3",
            "steps": [{"id": "step", "name": "Step", "action": case.action, "input": case.input}],
            "output": {},
            "parameters": {},
            "user": {},
            "templateInfo": {"entityRef": "template:default/t", "baseUrl": format!("file://{}/template.yaml", template.path().display())},
        }))
        .unwrap();
        let sink = MemorySink::new();
        let stop = StopSignal::new();
        let outcome = runner
            .run(TaskRun {
                task_id: "task",
                spec: &spec,
                secrets: &Secrets::new(),
                state: TaskState::default(),
                workspace: &workspace,
                is_dry_run: false,
                sink: &sink,
                stop: &stop,
            })
            .await;
        let label = format!("#{index} {} {}", case.action, case.input);
        match outcome {
            RunOutcome::Failed { error } if error.name == case.name && error.message.contains(case.says) => {}
            RunOutcome::Failed { error } => {
                failures.push(format!("{label}: got {}: {}", error.name, error.message));
            }
            other => failures.push(format!("{label}: did not fail: {other:?}")),
        }
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "{label} wrote outside the workspace");
        assert!(!parent.path().join("outside").exists() && !parent.path().join("escape").exists(), "{label}");
    }
    assert!(failures.is_empty(), "{} of the cases answered differently:\n{}", failures.len(), failures.join("\n"));
}
