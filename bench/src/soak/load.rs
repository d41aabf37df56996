//! The load: the soak's templates, tasks submitted at a steady rate (fast, slow, failing,
//! cancelled), event readers on some of them, and the check that each ended as its template says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::SoakArgs;

/// POSTs in flight at once; past this the server is not keeping up and ticks are skipped.
pub(super) const IN_FLIGHT: usize = 256;
/// An event reader must see its task's completion within this.
const READER_TIMEOUT: Duration = Duration::from_secs(180);
/// Cancels land right after the POST (usually while open) or while the task waits.
const CANCEL_DELAYS_MS: [u64; 3] = [0, 750, 1500];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Fast,
    Slow,
    Failing,
    Cancelled,
}

impl Kind {
    /// Of every 20 tasks: 11 fast, 3 slow, 3 failing, 3 cancelled.
    fn of(i: u64) -> Kind {
        match i % 20 {
            0..=10 => Kind::Fast,
            11..=13 => Kind::Slow,
            14..=16 => Kind::Failing,
            _ => Kind::Cancelled,
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::Fast => "template:default/soak-fast",
            Kind::Slow | Kind::Cancelled => "template:default/soak-slow",
            Kind::Failing => "template:default/soak-failing",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Fast | Kind::Slow => "completed",
            Kind::Failing => "failed",
            Kind::Cancelled => "cancelled",
        }
    }
}

/// What the load generator counts; read by the sampler.
#[derive(Default)]
pub(super) struct Load {
    pub(super) submitted: AtomicU64,
    pub(super) post_errors: AtomicU64,
    pub(super) skipped: AtomicU64,
    pub(super) cancel_errors: AtomicU64,
    pub(super) readers_started: AtomicU64,
    pub(super) readers_done: AtomicU64,
    pub(super) readers_failed: AtomicU64,
    /// POST latencies (ms) since the last sample.
    pub(super) latencies: Mutex<Vec<f64>>,
    tasks: Mutex<Vec<(String, Kind)>>,
    pub(super) errors: Mutex<Vec<String>>,
}

impl Load {
    pub(super) fn error(&self, message: String) {
        let mut errors = self.errors.lock().expect("not poisoned");
        if errors.len() < 10 {
            errors.push(message);
        }
    }

    pub(super) fn readers_active(&self) -> u64 {
        let started = self.readers_started.load(Ordering::Relaxed);
        started - self.readers_done.load(Ordering::Relaxed) - self.readers_failed.load(Ordering::Relaxed)
    }
}

/// Submits tasks at `rate` until `duration` has passed, then waits for their cancels and readers.
pub(super) async fn generate(base: String, options: SoakArgs, load: Arc<Load>, duration: Duration) {
    let client = crate::client();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    // A late tick is made up at once, so the count over the run is rate × duration.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = tokio::time::Instant::now() + duration;
    let mut jobs = JoinSet::new();
    for i in 0.. {
        if ticks.tick().await >= deadline {
            break;
        }
        while jobs.try_join_next().is_some() {}
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            load.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (client, base, load) = (client.clone(), base.clone(), load.clone());
        jobs.spawn(async move {
            let kind = Kind::of(i);
            let started = Instant::now();
            let id = match submit(&client, &base, kind, i).await {
                Ok(id) => id,
                Err(error) => {
                    load.post_errors.fetch_add(1, Ordering::Relaxed);
                    load.error(format!("POST: {error:#}"));
                    return;
                }
            };
            drop(permit);
            load.latencies.lock().expect("not poisoned").push(started.elapsed().as_secs_f64() * 1000.0);
            load.tasks.lock().expect("not poisoned").push((id.clone(), kind));
            load.submitted.fetch_add(1, Ordering::Relaxed);
            let reader = async {
                if i % 7 != 3 {
                    return;
                }
                load.readers_started.fetch_add(1, Ordering::Relaxed);
                let read = if (i / 7) % 2 == 0 {
                    tokio::time::timeout(READER_TIMEOUT, read_event_stream(&client, &base, &id)).await
                } else {
                    tokio::time::timeout(READER_TIMEOUT, long_poll_events(&client, &base, &id)).await
                };
                match read {
                    Ok(Ok(())) => load.readers_done.fetch_add(1, Ordering::Relaxed),
                    Ok(Err(error)) => {
                        load.error(format!("events of {id}: {error:#}"));
                        load.readers_failed.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => {
                        load.error(format!("events of {id}: no completion in {READER_TIMEOUT:?}"));
                        load.readers_failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            };
            let cancel = async {
                if kind != Kind::Cancelled {
                    return;
                }
                let delay = CANCEL_DELAYS_MS[(i / 20 % 3) as usize];
                tokio::time::sleep(Duration::from_millis(delay)).await;
                if let Err(error) = cancel(&client, &base, &id).await {
                    load.cancel_errors.fetch_add(1, Ordering::Relaxed);
                    load.error(format!("cancel {id}: {error:#}"));
                }
            };
            tokio::join!(reader, cancel);
        });
    }
    while jobs.join_next().await.is_some() {}
}

async fn submit(client: &reqwest::Client, base: &str, kind: Kind, i: u64) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/api/scaffolder/v2/tasks"))
        .timeout(Duration::from_secs(60))
        .json(&json!({"templateRef": kind.template(), "values": {"name": format!("soak{i}")}}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.as_u16() == 201, "POST /v2/tasks answered {status}: {body}");
    Ok(body["id"].as_str().context("no id")?.to_owned())
}

async fn cancel(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/api/scaffolder/v2/tasks/{id}/cancel"))
        .timeout(Duration::from_secs(60))
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "cancel answered {}", response.status());
    Ok(())
}

/// Reads `/eventstream` until its completion event.
async fn read_event_stream(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let response = client.get(format!("{base}/api/scaffolder/v2/tasks/{id}/eventstream")).send().await?;
    anyhow::ensure!(response.status().is_success(), "eventstream answered {}", response.status());
    let mut stream = response.bytes_stream();
    const MARKER: &[u8] = b"event: completion";
    // Only a tail is kept between chunks: enough to find the marker across a chunk boundary.
    let mut tail = Vec::new();
    while let Some(chunk) = stream.next().await {
        tail.extend_from_slice(&chunk?);
        if tail.windows(MARKER.len()).any(|window| window == MARKER) {
            return Ok(());
        }
        tail.drain(..tail.len().saturating_sub(MARKER.len()));
    }
    bail!("the event stream ended without a completion event")
}

/// Long-polls `/events?after=N` until a completion event.
async fn long_poll_events(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let mut after: Option<i64> = None;
    loop {
        let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
        let response = client.get(format!("{base}/api/scaffolder/v2/tasks/{id}/events{query}")).send().await?;
        anyhow::ensure!(response.status().is_success(), "events answered {}", response.status());
        let events: Vec<Value> = response.json().await?;
        for event in events {
            if event["type"] == "completion" {
                return Ok(());
            }
            after = after.max(event["id"].as_i64());
        }
    }
}

/// The soak's templates in one catalog file: fast, slow and failing.
pub(super) fn write_templates(root: &Path, slow_seconds: u64) -> anyhow::Result<PathBuf> {
    let dir = root.join("templates");
    let skeleton = dir.join("skeleton");
    std::fs::create_dir_all(skeleton.join("${{ values.name }}"))?;
    for i in 0..5 {
        std::fs::write(
            skeleton.join("${{ values.name }}").join(format!("file{i}.txt")),
            format!("# ${{{{ values.name }}}}, file {i}\nupper: ${{{{ values.name | upper }}}}\n"),
        )?;
    }
    std::fs::write(skeleton.join("README.md"), "# ${{ values.name }}\n")?;
    let path = dir.join("templates.yaml");
    std::fs::write(&path, TEMPLATES.replace("SLOW_SECONDS", &slow_seconds.to_string()))?;
    Ok(path)
}

const TEMPLATES: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: soak-fast
  title: Soak, fast
spec:
  owner: user:guest
  type: service
  parameters:
    - required: [name]
      properties:
        name: { type: string }
  steps:
    - id: fetch
      name: Fetch skeleton
      action: fetch:template
      input:
        url: ./skeleton
        targetPath: ./out
        values:
          name: ${{ parameters.name }}
    - id: log
      name: Log
      action: debug:log
      input:
        message: 'Rendered ${{ parameters.name }}'
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: soak-slow
  title: Soak, slow
spec:
  owner: user:guest
  type: service
  parameters:
    - required: [name]
      properties:
        name: { type: string }
  steps:
    - id: wait
      name: Wait
      action: debug:wait
      input:
        seconds: SLOW_SECONDS
    - id: log
      name: Log
      action: debug:log
      input:
        message: 'Waited for ${{ parameters.name }}'
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: soak-failing
  title: Soak, failing
spec:
  owner: user:guest
  type: service
  parameters:
    - required: [name]
      properties:
        name: { type: string }
  steps:
    - id: log
      name: Log
      action: debug:log
      input:
        message: 'About to fail for ${{ parameters.name }}'
    - id: missing
      name: Fetch what is not there
      action: fetch:plain
      input:
        url: ./no-such-directory
        targetPath: ./missing
    - id: never
      name: Not reached
      action: debug:log
      input:
        message: 'not reached'
"#;

/// Every submitted task is in the database and ended as its template says: fast and slow ones
/// completed, failing ones failed, cancelled ones cancelled.
pub(super) async fn check_outcomes(db: &mut sqlx::PgConnection, load: &Load) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM scaffolder.tasks").fetch_all(&mut *db).await?;
    let status: HashMap<String, String> = rows.into_iter().collect();
    let tasks = load.tasks.lock().expect("not poisoned");
    let mut outcomes: HashMap<(Kind, String), u64> = HashMap::new();
    let mut problems = Vec::new();
    for (id, kind) in tasks.iter() {
        let ended = status.get(id).cloned().unwrap_or_else(|| "missing".to_owned());
        *outcomes.entry((*kind, ended)).or_default() += 1;
    }
    println!("\nsoak: outcomes after the drain ({} tasks submitted, {} in the database)", tasks.len(), status.len());
    println!("| kind | expected | outcome | tasks |");
    println!("|---|---|---|---|");
    let mut rows: Vec<_> = outcomes.into_iter().collect();
    rows.sort_by_key(|((kind, ended), _)| (format!("{kind:?}"), ended.clone()));
    for ((kind, ended), count) in rows {
        println!("| {kind:?} | {} | {ended} | {count} |", kind.expected());
        if ended != kind.expected() {
            problems.push(format!("{count} {kind:?} task(s) ended {ended}, not {}", kind.expected()));
        }
    }
    if status.len() != tasks.len() {
        problems.push(format!("{} tasks in the database, {} submitted", status.len(), tasks.len()));
    }
    Ok(problems)
}
