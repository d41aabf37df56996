//! Processes that share one PostgreSQL database, as in production (`api` + `worker`s), and the
//! few calls the process suites make against them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPool;

use super::process::Scaffolder;
use super::{eventually, quick_template, slow_template};

/// A directory with a config file per process and the templates they share.
pub struct Deployment {
    dir: tempfile::TempDir,
    database_url: String,
    /// More `backend:` keys for every process's config (YAML lines indented by two spaces).
    backend: String,
}

impl Deployment {
    /// The quick and slow templates of `support`.
    pub fn new(database_url: &str) -> Deployment {
        Deployment::with_templates(database_url, &[quick_template(), slow_template()], "")
    }

    /// `templates` as one catalog file; `backend` adds keys under `backend:` (lines indented by
    /// two spaces, e.g. `  reading: ...\n`) to every config.
    pub fn with_templates(database_url: &str, templates: &[String], backend: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("templates.yaml"), templates.join("---\n")).unwrap();
        Deployment { dir, database_url: database_url.to_owned(), backend: backend.to_owned() }
    }

    /// Writes a config for one process; `concurrency` 0 claims nothing.
    pub fn config(&self, name: &str, concurrency: usize, stale_seconds: u64) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {{client: pg, connection: '{}'}}\n  workingDirectory: {}\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\n{}scaffolder:\n  concurrentTasksLimit: {concurrency}\n  taskRecovery: {{enabled: true, staleTimeout: {{seconds: {stale_seconds}}}, maxAttempts: 20}}\n  shutdownGracePeriod: {{milliseconds: 800}}\ncatalog:\n  rules: [{{allow: [Template]}}]\n  locations: [{{type: file, target: templates.yaml}}]\n",
                self.database_url,
                self.dir.path().join(format!("work-{name}")).display(),
                self.backend,
            ),
        )
        .unwrap();
        path
    }

    pub fn cwd(&self) -> &Path {
        self.dir.path()
    }

    pub async fn start(&self, name: &str, command: &str, concurrency: usize, stale_seconds: u64) -> Scaffolder {
        Scaffolder::start(name, command, &self.config(name, concurrency, stale_seconds), self.cwd()).await
    }
}

/// Posts a task; its id when the API answered 201.
pub async fn post(client: &reqwest::Client, api: &str, template: &str, values: Value) -> Option<String> {
    post_with_secrets(client, api, template, values, None).await
}

pub async fn post_with_secrets(
    client: &reqwest::Client,
    api: &str,
    template: &str,
    values: Value,
    secrets: Option<Value>,
) -> Option<String> {
    let mut body = json!({"templateRef": template, "values": values});
    if let Some(secrets) = secrets {
        body["secrets"] = secrets;
    }
    let response = client.post(format!("{api}/tasks")).json(&body).send().await.ok()?;
    if response.status() != 201 {
        return None;
    }
    Some(response.json::<Value>().await.ok()?["id"].as_str()?.to_owned())
}

pub async fn get_status(client: &reqwest::Client, api: &str, id: &str) -> Option<String> {
    let task: Value = client.get(format!("{api}/tasks/{id}")).send().await.ok()?.json().await.ok()?;
    task["status"].as_str().map(str::to_owned)
}

pub async fn wait_for(client: &reqwest::Client, api: &str, id: &str, wanted: &str, within: Duration) {
    eventually(within, &format!("task {id} to be {wanted}"), || async {
        (get_status(client, api, id).await.as_deref() == Some(wanted)).then_some(())
    })
    .await;
}

/// The events of one task in order: id, type and body.
pub async fn events_of(pool: &PgPool, id: &str) -> Vec<(i64, String, Value)> {
    sqlx::query("SELECT id, event_type, body FROM scaffolder.task_events WHERE task_id = $1::uuid ORDER BY id")
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.get::<i64, _>("id"),
                row.get::<String, _>("event_type"),
                serde_json::from_str(row.get::<&str, _>("body")).unwrap(),
            )
        })
        .collect()
}
