//! The GitHub actions against GitHub's REST API stood in by wiremock (shaped as GitHub documents
//! it) and a REAL git server over real HTTP (`git http-backend`), checked by cloning.

use std::sync::Arc;
use std::time::Duration;

use actions::{
    FetchConfig, GitDefaults, Github, GithubApp, GithubIntegration, MemorySink, Registry, RegistryConfig, RetryPolicy,
    RunOutcome, Runner, RunnerConfig, Secret, Secrets, StopSignal, TaskRun, TaskState, Workspace,
};
use serde_json::{Value, json};
use templates::TaskSpec;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::git_server::{GitServer, git};

const TOKEN: &str = "ghp_integration_token_1234";
const HOST: &str = "github.test";

struct Rig {
    api: MockServer,
    /// The catalog `catalog:register` registers into (reading GitHub through the same integration).
    store: store::Store,
    git: GitServer,
    runner: Runner,
    _parent: tempfile::TempDir,
    work: std::path::PathBuf,
    skeleton: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Rig {
        Self::with_github(|api| GithubIntegration {
            host: HOST.to_owned(),
            api_base_url: api.to_owned(),
            token: Some(Secret::new(TOKEN)),
            apps: Vec::new(),
        })
        .await
    }

    async fn with_github(integration: impl FnOnce(&str) -> GithubIntegration) -> Rig {
        let api = MockServer::start().await;
        let git = GitServer::start(TOKEN).await;
        let github = Arc::new(Github::new(
            vec![integration(&api.uri())],
            RetryPolicy { attempts: 3, max_wait: Duration::from_secs(2), base: Duration::from_millis(20) },
        ));
        let mut integrations = templates::Integration::defaults();
        integrations.push(templates::Integration::new(HOST, "github"));
        let fetch = FetchConfig { integrations: integrations.clone(), allow: Vec::new() };
        let store = crate::support::db::sqlite_memory().await;
        let catalog = catalog::Catalog::new(
            store.clone(),
            catalog::CatalogConfig {
                rules: Some(vec![catalog::Rule { allow: vec!["Component".to_owned(), "Location".to_owned()] }]),
                ..catalog::CatalogConfig::default()
            },
        )
        .with_url_reader(Arc::new(actions::UrlReader::new(fetch.clone(), github.clone())));
        let registry = Registry::builtin(&RegistryConfig {
            fetch,
            catalog: Arc::new(catalog::StoreCatalog::with_catalog(Arc::new(catalog))),
            github,
            git: GitDefaults {
                author_name: Some("Scaffolder Bot".to_owned()),
                author_email: Some("bot@acme.test".to_owned()),
                commit_message: None,
            },
        });
        let runner = Runner::new(
            Arc::new(registry),
            RunnerConfig { recovery_enabled: true, integrations, ..RunnerConfig::default() },
        );
        let parent = tempfile::tempdir().unwrap();
        let work = parent.path().join("work");
        let skeleton = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(skeleton.path().join("skeleton/src")).unwrap();
        std::fs::write(skeleton.path().join("skeleton/README.md"), "# ${{ values.name }}\n").unwrap();
        std::fs::write(skeleton.path().join("skeleton/src/index.ts"), "export const name = '${{ values.name }}';\n")
            .unwrap();
        std::fs::write(skeleton.path().join("skeleton/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(skeleton.path().join("skeleton/.gitignore"), "dist/\n").unwrap();
        std::fs::create_dir_all(skeleton.path().join("skeleton/dist")).unwrap();
        std::fs::write(skeleton.path().join("skeleton/dist/bundle.js"), "built").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(skeleton.path().join("skeleton/run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        Rig { api, store, git, runner, _parent: parent, work, skeleton }
    }

    fn spec(&self, steps: Value) -> TaskSpec {
        self.spec_at(steps, &format!("file://{}/template.yaml", self.skeleton.path().display()))
    }

    /// A spec of a template registered from `base_url`.
    fn spec_at(&self, steps: Value, base_url: &str) -> TaskSpec {
        TaskSpec::from_value(json!({
            "apiVersion": "scaffolder.backstage.io/v1beta3",
            "steps": steps,
            "output": {},
            "parameters": {"name": "app"},
            "user": {},
            "templateInfo": {
                "entityRef": "template:default/service",
                "baseUrl": base_url,
            },
        }))
        .unwrap()
    }

    async fn run(&self, spec: &TaskSpec, secrets: &Secrets, state: TaskState) -> (RunOutcome, MemorySink) {
        let workspace = Workspace::create(&self.work, "task-1").unwrap();
        self.run_in(&workspace, spec, secrets, state).await
    }

    /// Runs in a workspace the caller keeps (and can look into afterwards).
    async fn run_in(
        &self,
        workspace: &Workspace,
        spec: &TaskSpec,
        secrets: &Secrets,
        state: TaskState,
    ) -> (RunOutcome, MemorySink) {
        let sink = MemorySink::new();
        let stop = StopSignal::new();
        let outcome = self
            .runner
            .run(TaskRun {
                task_id: "task-1",
                spec,
                secrets,
                state,
                workspace,
                is_dry_run: false,
                sink: &sink,
                stop: &stop,
            })
            .await;
        (outcome, sink)
    }

    /// GitHub's answers for an organisation `acme` and a new repository `acme/app`.
    async fn mount_org_and_repo_creation(&self, clone_url: &str, expected_creations: u64) {
        Mock::given(method("GET"))
            .and(path("/users/acme"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"login": "acme", "id": 1, "type": "Organization"})),
            )
            .mount(&self.api)
            .await;
        Mock::given(method("POST"))
            .and(path("/orgs/acme/repos"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(repository_json(clone_url, 0)))
            .expect(expected_creations)
            .mount(&self.api)
            .await;
        for route in ["/repos/acme/app/topics", "/repos/acme/app/branches/main/protection"] {
            Mock::given(method("PUT"))
                .and(path(route))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
                .mount(&self.api)
                .await;
        }
    }
}

fn repository_json(clone_url: &str, size: u64) -> Value {
    json!({
        "id": 42, "name": "app", "full_name": "acme/app", "private": true,
        "html_url": "https://github.test/acme/app", "clone_url": clone_url,
        "default_branch": "main", "size": size, "created_at": "2030-01-01T00:00:00Z",
        "owner": {"login": "acme", "type": "Organization"},
        "permissions": {"admin": true, "push": true, "pull": true}
    })
}

fn publish_steps(extra: Value) -> Value {
    let mut publish = json!({
        "repoUrl": format!("{HOST}?owner=acme&repo=app"),
        "description": "The app",
        "defaultBranch": "main",
        "topics": ["TypeScript", "service"],
        "requiredApprovingReviewCount": 2,
        "requireCodeOwnerReviews": true,
    });
    for (key, value) in extra.as_object().unwrap() {
        if value.is_null() {
            publish.as_object_mut().unwrap().remove(key);
        } else {
            publish[key] = value.clone();
        }
    }
    json!([
        {"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}}},
        {"id": "publish", "name": "Publish", "action": "publish:github", "input": publish},
    ])
}

fn events_text(sink: &MemorySink) -> String {
    sink.events().iter().map(|e| e.body.to_string()).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_github_creates_pushes_and_protects() {
    let rig = Rig::new().await;
    let clone_url = rig.git.create_repository("acme", "app");
    rig.mount_org_and_repo_creation(&clone_url, 1).await;
    let spec = rig.spec(publish_steps(json!({})));
    let (outcome, sink) = rig.run(&spec, &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Completed { .. } = outcome else { panic!("{outcome:?}\n{}", events_text(&sink)) };

    // The repository, cloned back.
    let checkout = tempfile::tempdir().unwrap();
    rig.git.clone_into("acme", "app", &checkout.path().join("app"));
    let repo = checkout.path().join("app");
    assert_eq!(std::fs::read_to_string(repo.join("README.md")).unwrap(), "# app\n");
    assert_eq!(std::fs::read_to_string(repo.join("src/index.ts")).unwrap(), "export const name = 'app';\n");
    assert!(!repo.join("dist").exists(), ".gitignore'd files must not be committed");
    assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%an <%ae>|%s"]).trim(),
        "Scaffolder Bot <bot@acme.test>|initial commit"
    );
    assert!(git(&repo, &["ls-files", "-s", "run.sh"]).starts_with("100755"), "execute bits are kept");
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();

    // What GitHub was asked.
    let requests = rig.api.received_requests().await.unwrap();
    let create = requests.iter().find(|r| r.url.path() == "/orgs/acme/repos").unwrap();
    let body: Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(
        (body["name"].as_str(), body["visibility"].as_str(), body["private"].as_bool()),
        (Some("app"), Some("private"), Some(true))
    );
    assert_eq!(body["description"], "The app");
    let topics = requests.iter().find(|r| r.url.path() == "/repos/acme/app/topics").unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&topics.body).unwrap()["names"], json!(["typescript", "service"]));
    let protection = requests.iter().find(|r| r.url.path().ends_with("/protection")).unwrap();
    let protection: Value = serde_json::from_slice(&protection.body).unwrap();
    assert_eq!(protection["required_pull_request_reviews"]["required_approving_review_count"], 2);
    assert_eq!(protection["required_pull_request_reviews"]["require_code_owner_reviews"], true);

    // Outputs, and no token anywhere in the events.
    let publish = sink.events().into_iter().find(|e| e.body["stepId"] == "publish" && e.body["status"] == "completed");
    assert!(publish.is_some());
    let state = sink.last_state().unwrap();
    let saved = &state.steps["publish"].output;
    assert_eq!(saved["commitHash"], head.as_str());
    assert_eq!(saved["remoteUrl"], clone_url.as_str());
    assert_eq!(saved["repoContentsUrl"], "https://github.test/acme/app/blob/main");
    assert!(!events_text(&sink).contains(TOKEN));
    assert!(!state.to_json().contains(TOKEN));
    // git asks without credentials first, then sends the token as GitHub expects it.
    assert!(rig.git.seen_authorizations().iter().any(|a| a.starts_with("Basic ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_a_failed_push_continues_without_a_second_repository() {
    let rig = Rig::new().await;
    let clone_url = rig.git.create_repository("acme", "app");
    // One creation in all, across both attempts.
    rig.mount_org_and_repo_creation(&clone_url, 1).await;
    let spec = rig.spec(publish_steps(json!({})));

    rig.git.fail_pushes(true);
    let (first, sink) = rig.run(&spec, &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = first else { panic!("{first:?}") };
    assert!(error.message.contains("Pushing to"), "{}", error.message);
    assert!(!error.message.contains(TOKEN));
    let state = sink.last_state().expect("progress was recorded before the failure");
    assert!(state.checkpoints.keys().any(|k| k.ends_with("create.github.repo.acme.app")), "{:?}", state.checkpoints);

    rig.git.fail_pushes(false);
    let (second, sink) = rig.run(&spec, &Secrets::new(), state).await;
    assert!(matches!(second, RunOutcome::Completed { .. }), "{second:?}\n{}", events_text(&sink));
    assert!(events_text(&sink).contains("was created by an earlier attempt of this task"));
    let checkout = tempfile::tempdir().unwrap();
    rig.git.clone_into("acme", "app", &checkout.path().join("app"));
    assert_eq!(git(&checkout.path().join("app"), &["rev-list", "--count", "HEAD"]).trim(), "1");
    rig.api.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_a_crash_right_after_creation_adopts_its_own_empty_repository() {
    let rig = Rig::new().await;
    let clone_url = rig.git.create_repository("acme", "app");
    Mock::given(method("GET"))
        .and(path("/users/acme"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "acme", "type": "Organization"})))
        .mount(&rig.api)
        .await;
    // The earlier attempt's creation went through; GitHub now says the name is taken.
    Mock::given(method("POST"))
        .and(path("/orgs/acme/repos"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Repository creation failed.",
            "errors": [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}],
            "documentation_url": "https://docs.github.com/rest/repos/repos#create-an-organization-repository"
        })))
        .mount(&rig.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(repository_json(&clone_url, 0)))
        .mount(&rig.api)
        .await;
    let spec = rig.spec(publish_steps(json!({"protectDefaultBranch": false, "topics": null})));
    // What the crashed attempt had recorded: only that it was about to create the repository.
    let mut state = TaskState::default();
    state.checkpoints.insert(
        "v1.task.checkpoint.publish.create.github.repo.acme.app.started".to_owned(),
        json!({"at": 1_800_000_000u64}),
    );
    let (outcome, sink) = rig.run(&spec, &Secrets::new(), state).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}\n{}", events_text(&sink));
    assert!(events_text(&sink).contains("which an earlier attempt of this task created"));
    assert_eq!(rig.git.pushes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_someone_else_owns_is_refused_and_left_untouched() {
    let rig = Rig::new().await;
    let clone_url = rig.git.create_repository("acme", "app");
    Mock::given(method("GET"))
        .and(path("/users/acme"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "acme", "type": "Organization"})))
        .mount(&rig.api)
        .await;
    Mock::given(method("POST"))
        .and(path("/orgs/acme/repos"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Repository creation failed.",
            "errors": [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}]
        })))
        .mount(&rig.api)
        .await;
    let mut existing = repository_json(&clone_url, 5120);
    existing["created_at"] = json!("2019-05-01T10:00:00Z");
    Mock::given(method("GET"))
        .and(path("/repos/acme/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(existing))
        .mount(&rig.api)
        .await;
    let spec = rig.spec(publish_steps(json!({})));
    let (outcome, _) = rig.run(&spec, &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.name, "ConflictError");
    assert!(
        error.message.contains("Repository acme/app already exists on github.test and was not created by this task"),
        "{}",
        error.message
    );
    assert_eq!(rig.git.pushes(), 0, "nothing may be pushed into a foreign repository");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_was_refused_and_why() {
    // A bad token.
    let rig = Rig::new().await;
    Mock::given(method("GET"))
        .and(path("/users/acme"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            ),
        )
        .mount(&rig.api)
        .await;
    let (outcome, sink) = rig.run(&rig.spec(publish_steps(json!({}))), &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.name, "AuthenticationError");
    assert!(
        error.message.contains("Looking up the GitHub account acme: GitHub answered 401 Bad credentials"),
        "{}",
        error.message
    );
    assert!(!events_text(&sink).contains(TOKEN));

    // A missing organisation.
    let rig = Rig::new().await;
    Mock::given(method("GET"))
        .and(path("/users/acme"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&rig.api)
        .await;
    let (outcome, _) = rig.run(&rig.spec(publish_steps(json!({}))), &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.name, "NotFoundError");
    assert!(
        error.message.contains("404 Not Found (it does not exist, or the token cannot see it)"),
        "{}",
        error.message
    );

    // No token at all for a host.
    let rig = Rig::with_github(|api| GithubIntegration {
        host: HOST.to_owned(),
        api_base_url: api.to_owned(),
        token: None,
        apps: Vec::new(),
    })
    .await;
    let (outcome, _) = rig.run(&rig.spec(publish_steps(json!({}))), &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.message, "No token available for host: github.test, with owner acme, and repo app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_or_reported() {
    let rig = Rig::new().await;
    let clone_url = rig.git.create_repository("acme", "app");
    Mock::given(method("GET"))
        .and(path("/users/acme"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "API rate limit exceeded for installation ID 1."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&rig.api)
        .await;
    rig.mount_org_and_repo_creation(&clone_url, 1).await;
    let started = std::time::Instant::now();
    let (outcome, sink) = rig.run(&rig.spec(publish_steps(json!({}))), &Secrets::new(), TaskState::default()).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}\n{}", events_text(&sink));
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");

    // A limit that resets in an hour is not waited for.
    let rig = Rig::new().await;
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    Mock::given(method("GET"))
        .and(path("/users/acme"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .mount(&rig.api)
        .await;
    let (outcome, _) = rig.run(&rig.spec(publish_steps(json!({}))), &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.name, "RateLimitError");
    assert!(error.message.contains("is used up until 60 minutes from now"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_mints_installation_tokens_once_and_uses_them() {
    let key =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/github-app-test-key.pem")).unwrap();
    let rig = Rig::with_github(move |api| GithubIntegration {
        host: HOST.to_owned(),
        api_base_url: api.to_owned(),
        token: None,
        apps: vec![GithubApp { app_id: 321, private_key: Secret::new(key), allowed_installation_owners: Vec::new() }],
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/app/installations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 6, "account": {"login": "someone-else"}},
            {"id": 7, "account": {"login": "ACME"}}
        ])))
        .expect(1)
        .mount(&rig.api)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/7/access_tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"token": "ghs_installation_token", "expires_at": "2099-01-01T00:00:00Z"})),
        )
        .expect(1)
        .mount(&rig.api)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/git/blobs"))
        .and(header("authorization", "Bearer ghs_installation_token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "b1"})))
        .mount(&rig.api)
        .await;
    mount_pull_request_api(&rig.api, None).await;
    let steps = json!([
        {"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "./skeleton", "targetPath": "./overlay", "values": {"name": "app"}}},
        {"id": "pr1", "name": "PR", "action": "publish:github:pull-request", "input": {"repoUrl": format!("{HOST}?owner=acme&repo=app"), "branchName": "add-app", "title": "Add app", "description": "d", "sourcePath": "./overlay", "targetPath": "services/app"}},
        {"id": "pr2", "name": "PR again", "action": "publish:github:pull-request", "input": {"repoUrl": format!("{HOST}?owner=acme&repo=app"), "branchName": "add-app-2", "title": "Add app", "description": "d", "sourcePath": "./overlay"}},
    ]);
    let (outcome, sink) = rig.run(&rig.spec(steps), &Secrets::new(), TaskState::default()).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}\n{}", events_text(&sink));
    let requests = rig.api.received_requests().await.unwrap();
    let app_call = requests.iter().find(|r| r.url.path() == "/app/installations").unwrap();
    let bearer = app_call.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(bearer.starts_with("Bearer ey"), "the app authenticates with a JWT: {bearer}");
    assert!(!events_text(&sink).contains("ghs_installation_token"));
    for request in requests.iter().filter(|r| !r.url.path().starts_with("/app/")) {
        let used = request.headers.get("authorization").unwrap().to_str().unwrap();
        assert_eq!(used, "Bearer ghs_installation_token", "{}", request.url);
    }
    rig.api.verify().await;
}

/// The Git Data API and pulls endpoints for `acme/app`, base branch `main`.
async fn mount_pull_request_api(api: &MockServer, existing_pull: Option<Value>) {
    Mock::given(method("GET"))
        .and(path("/repos/acme/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(repository_json("http://unused.invalid/x.git", 10)))
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/commits/main"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": "base-sha", "commit": {"tree": {"sha": "base-tree"}}})),
        )
        .mount(api)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/git/blobs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "blob-sha"})))
        .with_priority(10)
        .mount(api)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/git/trees"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "new-tree"})))
        .mount(api)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/git/commits"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "new-commit"})))
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path_regex_ref())
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(api)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/git/refs"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"ref": "refs/heads/x", "object": {"sha": "new-commit"}})),
        )
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(existing_pull.into_iter().collect::<Vec<_>>())))
        .mount(api)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/pulls"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"number": 17, "html_url": "https://github.test/acme/app/pull/17", "base": {"ref": "main"}}),
        ))
        .mount(api)
        .await;
}

fn path_regex_ref() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex(r"^/repos/acme/app/git/ref/heads/.+$")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_carries_the_files_under_the_target_path() {
    let rig = Rig::new().await;
    mount_pull_request_api(&rig.api, None).await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/pulls/17/requested_reviewers"))
        .and(body_partial_json(json!({"reviewers": ["alice"], "team_reviewers": ["platform"]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"requested_reviewers": [{"login": "alice"}], "requested_teams": [{"slug": "platform"}]}),
        ))
        .expect(1)
        .mount(&rig.api)
        .await;
    let steps = json!([
        {"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "./skeleton", "targetPath": "./overlay", "values": {"name": "app"}}},
        {"id": "pr", "name": "PR", "action": "publish:github:pull-request", "input": {
            "repoUrl": format!("{HOST}?owner=acme&repo=app"), "branchName": "add-app", "title": "Add app",
            "description": "Adds app", "sourcePath": "./overlay", "targetPath": "./services/app", "draft": true,
            "reviewers": ["alice"], "teamReviewers": ["platform", "platform"], "filesToDelete": ["old.txt"]
        }},
    ]);
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/contents/services/app/old.txt"))
        .and(query_param("ref", "base-sha"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "file"})))
        .mount(&rig.api)
        .await;
    let (outcome, sink) = rig.run(&rig.spec(steps), &Secrets::new(), TaskState::default()).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}\n{}", events_text(&sink));
    let requests = rig.api.received_requests().await.unwrap();
    let tree: Value =
        serde_json::from_slice(&requests.iter().find(|r| r.url.path().ends_with("/git/trees")).unwrap().body).unwrap();
    assert_eq!(tree["base_tree"], "base-tree");
    let paths: Vec<&str> = tree["tree"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"services/app/README.md") && paths.contains(&"services/app/src/index.ts"), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains("dist/")), "gitignored files stay out: {paths:?}");
    let run_sh = tree["tree"].as_array().unwrap().iter().find(|e| e["path"] == "services/app/run.sh").unwrap();
    assert_eq!(run_sh["mode"], "100755");
    let deleted = tree["tree"].as_array().unwrap().iter().find(|e| e["path"] == "services/app/old.txt").unwrap();
    assert_eq!(deleted["sha"], Value::Null);
    let pull: Value = serde_json::from_slice(
        &requests.iter().find(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/acme/app/pulls").unwrap().body,
    )
    .unwrap();
    assert_eq!(
        pull,
        json!({"title": "Add app", "body": "Adds app", "head": "acme:add-app", "base": "main", "draft": true})
    );
    let commit: Value =
        serde_json::from_slice(&requests.iter().find(|r| r.url.path().ends_with("/git/commits")).unwrap().body)
            .unwrap();
    assert_eq!(commit["parents"], json!(["base-sha"]));
    assert_eq!(commit["author"], json!({"name": "Scaffolder Bot", "email": "bot@acme.test"}));
    let output = &sink.last_state().unwrap().steps["pr"].output;
    assert_eq!(
        *output,
        json!({"targetBranchName": "main", "remoteUrl": "https://github.test/acme/app/pull/17", "pullRequestNumber": 17})
    );
    rig.api.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_pull_request_is_refused_updated_or_adopted() {
    let existing = json!({"number": 9, "html_url": "https://github.test/acme/app/pull/9", "base": {"ref": "main"}});
    let steps = |update: bool| {
        json!([
            {"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "app"}}},
            {"id": "pr", "name": "PR", "action": "publish:github:pull-request", "input": {
                "repoUrl": format!("{HOST}?owner=acme&repo=app"), "branchName": "add-app", "title": "Add app", "description": "d", "update": update
            }},
        ])
    };
    // Somebody's open pull request for the branch, no `update`: refused.
    let rig = Rig::new().await;
    mount_pull_request_api(&rig.api, Some(existing.clone())).await;
    let (outcome, _) = rig.run(&rig.spec(steps(false)), &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert!(
        error.message.starts_with("Pull request creation failed; caused by ConflictError: Pull request already exists"),
        "{}",
        error.message
    );

    // With `update: true` it is updated.
    let rig = Rig::new().await;
    mount_pull_request_api(&rig.api, Some(existing.clone())).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/app/pulls/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(existing.clone()))
        .expect(1)
        .mount(&rig.api)
        .await;
    let (outcome, sink) = rig.run(&rig.spec(steps(true)), &Secrets::new(), TaskState::default()).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}");
    assert_eq!(sink.last_state().unwrap().steps["pr"].output["pullRequestNumber"], 9);
    rig.api.verify().await;

    // A retry of a task whose earlier attempt opened it: adopted, not refused.
    let rig = Rig::new().await;
    mount_pull_request_api(&rig.api, Some(existing)).await;
    let mut state = TaskState::default();
    state.checkpoints.insert("v1.task.checkpoint.pr.create.pr.acme.app.add-app.started".to_owned(), json!({"at": 1}));
    let (outcome, sink) = rig.run(&rig.spec(steps(false)), &Secrets::new(), state).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}");
    assert_eq!(sink.last_state().unwrap().steps["pr"].output["remoteUrl"], "https://github.test/acme/app/pull/9");
}

/// A repository archive as GitHub's tarball endpoint serves it: one top directory
/// `<owner>-<repo>-<sha>/` holding the tree.
fn tarball(entries: &[(&str, &[u8], u32)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, contents, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, format!("acme-templates-0a1b2c3/{name}"), *contents).unwrap();
    }
    for (name, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, format!("acme-templates-0a1b2c3/{name}"), target).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skeletons_are_read_from_github_repositories() {
    use base64::Engine;
    let rig = Rig::new().await;
    let archive = tarball(
        &[
            ("template.yaml", b"kind: Template\n", 0o644),
            ("skeleton/README.md", b"# ${{ values.name }}\n", 0o644),
            ("skeleton/bin/run.sh", b"#!/bin/sh\necho ${{ values.name }}\n", 0o755),
            ("other/secret.txt", b"not part of the skeleton", 0o644),
        ],
        &[("skeleton/inside", "README.md"), ("skeleton/outside", "../../../../etc/passwd")],
    );
    Mock::given(method("GET"))
        .and(path("/repos/acme/templates/tarball/main"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(archive).insert_header("content-type", "application/x-gzip"),
        )
        .mount(&rig.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/templates/contents/files/notes.txt"))
        .and(query_param("ref", "main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "file", "encoding": "base64", "size": 6, "name": "notes.txt", "path": "files/notes.txt",
            "content": base64::engine::general_purpose::STANDARD.encode("notes\n"),
        })))
        .mount(&rig.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/templates/contents/files/missing.txt"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&rig.api)
        .await;
    let base = format!("https://{HOST}/acme/templates/blob/main/template.yaml");
    let spec = rig.spec_at(json!([
        {"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "app"}}},
        {"id": "plain", "name": "Plain", "action": "fetch:plain", "input": {"url": format!("https://{HOST}/acme/templates/tree/main/skeleton"), "targetPath": "raw"}},
        {"id": "file", "name": "File", "action": "fetch:plain:file", "input": {"url": "./files/notes.txt", "targetPath": "notes.txt"}},
    ]), &base);
    let kept = Workspace::create(&rig.work, "task-1").unwrap();
    let (outcome, sink) = rig.run_in(&kept, &spec, &Secrets::new(), TaskState::default()).await;
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}\n{:#?}", sink.events());
    let workspace = kept.root().to_path_buf();
    assert_eq!(std::fs::read_to_string(workspace.join("README.md")).unwrap(), "# app\n");
    assert_eq!(std::fs::read_to_string(workspace.join("bin/run.sh")).unwrap(), "#!/bin/sh\necho app\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(workspace.join("bin/run.sh")).unwrap().permissions().mode() & 0o111, 0o111);
    assert_eq!(std::fs::read_to_string(workspace.join("raw/README.md")).unwrap(), "# ${{ values.name }}\n");
    assert_eq!(std::fs::read_link(workspace.join("raw/inside")).unwrap(), std::path::Path::new("README.md"));
    assert!(std::fs::symlink_metadata(workspace.join("raw/outside")).is_err(), "a link out of the skeleton is skipped");
    assert!(!workspace.join("other").exists() && !workspace.join("raw/other").exists());
    assert!(!workspace.join("template.yaml").exists());
    assert_eq!(std::fs::read_to_string(workspace.join("notes.txt")).unwrap(), "notes\n");
    let log = format!("{:?}", sink.events());
    assert!(log.contains("Skipping the symbolic link outside"), "{log}");
    assert!(!log.contains(TOKEN));
    drop(kept);

    // A directory or file that is not in the repository is a specific error.
    for (action, url) in [("fetch:plain", "./nope"), ("fetch:plain:file", "./files/missing.txt")] {
        let spec = rig.spec_at(
            json!([{"id": "f", "name": "F", "action": action, "input": {"url": url, "targetPath": "x"}}]),
            &base,
        );
        let (outcome, _) = rig.run(&spec, &Secrets::new(), TaskState::default()).await;
        let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
        assert_eq!(error.name, "NotFoundError", "{action}: {}", error.message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_repository_is_registered_in_the_catalog() {
    use base64::Engine;
    let rig = Rig::new().await;
    let clone_url = rig.git.create_repository("acme", "app");
    rig.mount_org_and_repo_creation(&clone_url, 1).await;
    let catalog_info = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: app\nspec:\n  type: service\n  lifecycle: experimental\n  owner: group:team-a\n";
    Mock::given(method("GET"))
        .and(path("/repos/acme/app/contents/catalog-info.yaml"))
        .and(query_param("ref", "main"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "file", "encoding": "base64", "size": catalog_info.len(), "name": "catalog-info.yaml",
            "path": "catalog-info.yaml", "content": base64::engine::general_purpose::STANDARD.encode(catalog_info),
        })))
        .mount(&rig.api)
        .await;
    let mut steps = publish_steps(json!({}));
    steps.as_array_mut().unwrap().push(json!({
        "id": "register", "name": "Register", "action": "catalog:register",
        "input": {"repoContentsUrl": "${{ steps.publish.output.repoContentsUrl }}", "catalogInfoPath": "/catalog-info.yaml"},
    }));
    let (outcome, sink) = rig.run(&rig.spec(steps.clone()), &Secrets::new(), TaskState::default()).await;
    let RunOutcome::Completed { .. } = outcome else { panic!("{outcome:?}\n{}", events_text(&sink)) };
    let state = sink.last_state().unwrap();
    let output = &state.steps["register"].output;
    assert_eq!(output["entityRef"], "component:default/app");
    assert_eq!(output["catalogInfoUrl"], "https://github.test/acme/app/blob/main/catalog-info.yaml");
    let stored = rig.store.entity_get("component", "default", "app").await.unwrap().expect("registered");
    let entity: Value = serde_json::from_str(&stored.entity).unwrap();
    assert_eq!(
        entity["metadata"]["annotations"]["backstage.io/managed-by-location"],
        "url:https://github.test/acme/app/blob/main/catalog-info.yaml"
    );
    assert_eq!(rig.store.location_list().await.unwrap().len(), 1);

    // An attempt that died after the catalog took the location, before `registered` was saved:
    // its intent lets the next attempt take the conflict as its own doing.
    let mut died = state.clone();
    died.steps.remove("register");
    assert!(died.checkpoints.remove("v1.task.checkpoint.register.registered").is_some(), "{:?}", died.checkpoints);
    assert!(died.checkpoints.contains_key("v1.task.checkpoint.register.registering"));
    let (outcome, sink) = rig.run(&rig.spec(steps.clone()), &Secrets::new(), died.clone()).await;
    let RunOutcome::Completed { .. } = outcome else { panic!("{outcome:?}\n{}", events_text(&sink)) };
    // Without that intent the location is someone else's: the conflict is reported.
    died.checkpoints.remove("v1.task.checkpoint.register.registering");
    let (outcome, _) = rig.run(&rig.spec(steps), &Secrets::new(), died).await;
    let RunOutcome::Failed { error } = outcome else { panic!("{outcome:?}") };
    assert_eq!(error.name, "ConflictError", "{}", error.message);
}
