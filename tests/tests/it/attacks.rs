//! The attack suite: every advisory class of Backstage's scaffolder (reference §9) and the resource
//! bombs a template or a request can carry, driven as an attacker would, over real HTTP against a
//! real `scaffolder serve` process.
//!
//! Every test starts its own server in a scratch root laid out as
//!
//! ```text
//! <root>/outside/{secret.txt, keep.txt, empty/}   canaries: never read, changed, deleted or added to
//! <root>/work/                                     backend.workingDirectory (workspaces, dry-run uploads)
//! <root>/tmp/                                      the server's TMPDIR (scratch directories)
//! <root>/templates/                                the catalog's file location (templates, skeletons)
//! ```
//!
//! and, after each attack, asserts the specific refusal (status, Backstage's error envelope, a
//! message naming the problem, or the step's failure in the task's events), that the server is
//! still healthy (`/healthcheck` and an ordinary dry-run), and that the canaries are untouched
//! and the canary secret appears in no response, no event and no server log line.
//!
//! Layout: `paths` (traversal through every path input, and unicode tricks), `links` (symlink
//! chains and dangling links), `archives` (tarball entries with `..` or links), `redirects`
//! (SSRF), `secrets` (filters, `each`, dry-run, task responses), `bombs` (runaway templates,
//! huge and deeply nested bodies), `injection` (header and SSE injection, list query injection).

mod archives;
mod bombs;
mod injection;
mod links;
mod paths;
mod redirects;
mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::eventually;
use crate::support::process::Scaffolder;

/// The contents of `<root>/outside/secret.txt`: must never appear in anything the server says.
pub const SECRET: &str = "canary-file-secret-5e0c1b";
/// `scaffolder.defaultEnvironment.secrets.serverToken`: never available to a dry-run, and redacted
/// (also when transformed) from every task event.
pub const ENV_SECRET: &str = "canary-environment-secret-8d2f4a";

/// What a test's server is started with.
#[derive(Default)]
pub struct Setup {
    /// `templates/all.yaml`: the catalog's file location (Templates loaded at start-up).
    pub catalog: Option<String>,
    /// Files below `<root>/templates`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Symbolic links below `<root>/templates`; `{root}` in a target is the scratch root.
    pub links: Vec<(String, String)>,
    /// `backend.reading.allow` hosts (`host:port`).
    pub allow: Vec<String>,
    /// An `integrations.github` entry for host `github.test` with this `apiBaseUrl`.
    pub github_api: Option<String>,
    /// A PostgreSQL URL; the embedded SQLite file otherwise.
    pub postgres: Option<String>,
    /// `scaffolder.workspaceLimits.maxRenderBytes` (what one render may build).
    pub max_render_bytes: Option<u64>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Backstage's error envelope with this status and error name, whose message contains `part`.
    pub fn assert_refused(&self, status: u16, name: &str, part: &str) {
        assert_eq!(self.status, status, "expected {status} {name} ({part}), got: {}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["name"], name, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {body}"));
        assert!(message.contains(part), "{part:?} not in {message:?}");
        assert_eq!(body["response"]["statusCode"], status, "{body}");
        assert!(body["request"]["method"].is_string() && body["request"]["url"].is_string(), "{body}");
    }

    /// The dry-run's log messages.
    pub fn log(&self) -> Vec<String> {
        let body = self.json();
        body["log"]
            .as_array()
            .unwrap_or_else(|| panic!("no log: {body}"))
            .iter()
            .map(|entry| entry["body"]["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The dry-run's files: path → contents.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let body = self.json();
        body["directoryContents"]
            .as_array()
            .unwrap_or_else(|| panic!("no directoryContents: {body}"))
            .iter()
            .map(|file| {
                let content =
                    base64::engine::general_purpose::STANDARD.decode(file["base64Content"].as_str().unwrap()).unwrap();
                (file["path"].as_str().unwrap().to_owned(), content)
            })
            .collect()
    }
}

/// A finished task: its status and events.
pub struct Finished {
    pub status: String,
    pub events: Vec<Value>,
}

impl Finished {
    /// Every message in the events, one per line.
    pub fn messages(&self) -> String {
        self.events.iter().map(|e| e["body"]["message"].as_str().unwrap_or_default()).collect::<Vec<_>>().join("\n")
    }

    /// The completion event's error message (the task failed).
    pub fn error(&self) -> (String, String) {
        assert_eq!(self.status, "failed", "{}", self.messages());
        let completion = self.events.iter().find(|e| e["type"] == "completion").expect("a completion event");
        let error = &completion["body"]["error"];
        (
            error["name"].as_str().unwrap_or_default().to_owned(),
            error["message"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

/// A running server in its scratch root, with the canaries planted beside its working directory.
pub struct Target {
    pub server: Scaffolder,
    pub root: tempfile::TempDir,
    pub client: reqwest::Client,
    outside: BTreeMap<PathBuf, String>,
    /// Every body the server sent, searched for the secret at the end.
    seen: Mutex<Vec<String>>,
}

impl Target {
    pub async fn start(setup: Setup) -> Target {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for dir in ["outside/empty", "work", "tmp", "templates"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::write(r.join("outside/secret.txt"), SECRET).unwrap();
        std::fs::write(r.join("outside/keep.txt"), "keep me").unwrap();
        for (path, contents) in &setup.files {
            let path = r.join("templates").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        for (path, target) in &setup.links {
            let path = r.join("templates").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target.replace("{root}", &r.display().to_string()), path).unwrap();
        }
        if let Some(catalog) = &setup.catalog {
            std::fs::write(r.join("templates/all.yaml"), catalog).unwrap();
        }
        let outside = snapshot(&r.join("outside"));
        std::fs::write(r.join("app-config.yaml"), config(r, &setup)).unwrap();
        let server = Scaffolder::start_with(
            "attacked",
            &["serve"],
            Some(&r.join("app-config.yaml")),
            r,
            &[("TMPDIR", r.join("tmp").to_str().unwrap())],
        )
        .await;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Target { server, root, client, outside, seen: Mutex::new(Vec::new()) }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// `<root>/outside/<name>` as an absolute path.
    pub fn outside(&self, name: &str) -> String {
        self.path("outside").join(name).display().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    async fn record(&self, response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        self.seen.lock().unwrap().push(text.clone());
        Reply { status, headers, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        self.record(response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        let response = self.client.post(self.url(path)).json(body).send().await.unwrap();
        self.record(response).await
    }

    /// A body as it is, with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        self.record(response).await
    }

    /// `POST` of a body as raw HTTP/1.1: the head first, then the body in pieces for as long as
    /// the server reads it (it may answer and close early, as it should for a body too large),
    /// then the answer. `chunked` announces no length.
    pub async fn post_streamed(&self, path: &str, body: &[u8], chunked: bool) -> Reply {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.server.url.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let framing =
            if chunked { "transfer-encoding: chunked".to_owned() } else { format!("content-length: {}", body.len()) };
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        let body = body.to_vec();
        let sending = tokio::spawn(async move {
            for piece in body.chunks(64 << 10) {
                let framed = if chunked {
                    [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat()
                } else {
                    piece.to_vec()
                };
                if writer.write_all(&framed).await.is_err() {
                    return;
                }
            }
            if chunked {
                let _ = writer.write_all(b"0\r\n\r\n").await;
            }
        });
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        sending.abort();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, text) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {answer:?}"));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers = reqwest::header::HeaderMap::new();
        for line in head.lines().skip(1) {
            if let Some((name, value)) = line.split_once(':')
                && let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
                    reqwest::header::HeaderValue::from_str(value.trim()),
                )
            {
                headers.append(name, value);
            }
        }
        // A chunked answer: the JSON is the one chunk.
        let text = if headers.get("transfer-encoding").is_some() {
            text.split("\r\n").nth(1).unwrap_or_default().to_owned()
        } else {
            text.to_owned()
        };
        self.seen.lock().unwrap().push(text.clone());
        Reply { status, headers, text }
    }

    /// `POST /v2/dry-run` of a template with these steps and uploaded files.
    pub async fn dry_run(&self, steps: Value, files: &[(&str, &str)], secrets: Value) -> Reply {
        self.dry_run_template(template(steps, json!({})), files, secrets).await
    }

    pub async fn dry_run_template(&self, template: Value, files: &[(&str, &str)], secrets: Value) -> Reply {
        let contents: Vec<Value> = files
            .iter()
            .map(|(path, text)| {
                json!({"path": path, "base64Content": base64::engine::general_purpose::STANDARD.encode(text)})
            })
            .collect();
        let mut body = json!({"template": template, "values": {}, "directoryContents": contents});
        if !secrets.is_null() {
            body["secrets"] = secrets;
        }
        self.post("/api/scaffolder/v2/dry-run", &body).await
    }

    /// Creates a task of `template` (a name in the catalog) and waits until it has ended.
    pub async fn run_task(&self, template: &str, values: Value, secrets: Value) -> Finished {
        let id = self.create_task(template, values, secrets).await;
        self.wait_task(&id).await
    }

    pub async fn create_task(&self, template: &str, values: Value, secrets: Value) -> String {
        let mut body = json!({"templateRef": format!("template:default/{template}"), "values": values});
        if !secrets.is_null() {
            body["secrets"] = secrets;
        }
        let created = self.post("/api/scaffolder/v2/tasks", &body).await;
        assert_eq!(created.status, 201, "{}", created.text);
        created.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn wait_task(&self, id: &str) -> Finished {
        let status = eventually(Duration::from_secs(30), &format!("task {id} to end"), || async {
            let task = self.get(&format!("/api/scaffolder/v2/tasks/{id}")).await.json();
            let status = task["status"].as_str()?.to_owned();
            ["completed", "failed", "cancelled"].contains(&status.as_str()).then_some(status)
        })
        .await;
        let events = self.get(&format!("/api/scaffolder/v2/tasks/{id}/events")).await.json();
        Finished { status, events: events.as_array().cloned().unwrap_or_default() }
    }

    /// The server answers its health check and still runs an ordinary dry-run.
    pub async fn assert_healthy(&self) {
        let health = self.get("/healthcheck").await;
        assert_eq!((health.status, health.json()), (200, json!({"status": "ok"})), "{}", self.server.log());
        let steps = json!([
            {"id": "render", "name": "Render", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "still-fine"}}},
            {"id": "log", "name": "Log", "action": "debug:log", "input": {"message": "healthy"}},
        ]);
        let reply = self.dry_run(steps, &[("skeleton/hello.txt", "hello ${{ values.name }}\n")], Value::Null).await;
        assert_eq!(reply.status, 200, "an ordinary dry-run after the attack: {}", reply.text);
        assert_eq!(reply.files().get("hello.txt").map(Vec::as_slice), Some(&b"hello still-fine\n"[..]));
    }

    /// Nothing outside the working directory was read into an answer, written, deleted or added.
    pub fn assert_contained(&self) {
        let now = snapshot(&self.path("outside"));
        assert_eq!(now, self.outside, "the canary directory changed");
        let mut top: Vec<String> = std::fs::read_dir(self.root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("scaffolder.sqlite"))
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["app-config.yaml", "outside", "templates", "tmp", "work"],
            "something was created beside them"
        );
        for body in self.seen.lock().unwrap().iter() {
            assert!(!body.contains(SECRET), "the canary file's contents were served: {body}");
            assert!(!body.contains(ENV_SECRET), "the environment secret was served: {body}");
        }
        let log = self.server.log();
        assert!(!log.contains(SECRET) && !log.contains(ENV_SECRET), "a secret reached the server's log:\n{log}");
    }

    /// Both of the above, after one attack.
    pub async fn assert_unharmed(&self) {
        self.assert_healthy().await;
        self.assert_contained();
    }
}

/// The configuration file for `setup`.
fn config(root: &Path, setup: &Setup) -> String {
    let database = match &setup.postgres {
        Some(url) => format!("{{client: pg, connection: '{url}'}}"),
        None => format!("{{client: better-sqlite3, connection: {{filename: '{}/scaffolder.sqlite'}}}}", root.display()),
    };
    let allow: Vec<String> = setup.allow.iter().map(|host| format!("{{host: '{host}'}}")).collect();
    let github = setup
        .github_api
        .as_ref()
        .map(|api| format!("integrations:\n  github:\n    - {{host: github.test, apiBaseUrl: '{api}', token: ghp_attack_suite_token}}\n"))
        .unwrap_or_default();
    let locations = if setup.catalog.is_some() {
        format!("[{{type: file, target: '{}/templates/all.yaml'}}]", root.display())
    } else {
        "[]".to_owned()
    };
    format!(
        "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {database}\n  workingDirectory: '{work}'\n  \
         auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\n  reading: {{allow: [{allow}]}}\n\
         scaffolder:\n  concurrentTasksLimit: 4\n  defaultEnvironment: {{secrets: {{serverToken: {ENV_SECRET}}}}}\n{limits}\
         catalog:\n  rules: [{{allow: [Template, Component, Location]}}]\n  locations: {locations}\n{github}",
        work = root.join("work").display(),
        allow = allow.join(", "),
        limits =
            setup.max_render_bytes.map(|n| format!("  workspaceLimits: {{maxRenderBytes: {n}}}\n")).unwrap_or_default(),
    )
}

/// Every path below `dir` with what it is: file contents, `dir`, or `-> target`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            let what = if kind.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()
            };
            out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), what);
        }
    }
    out
}

/// A `scaffolder.backstage.io/v1beta3` template with these steps and output.
pub fn template(steps: Value, output: Value) -> Value {
    json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "attack"},
        "spec": {"type": "service", "parameters": [], "steps": steps, "output": output},
    })
}

/// One step.
pub fn step(action: &str, input: Value) -> Value {
    json!({"id": "attack", "name": "Attack", "action": action, "input": input})
}
